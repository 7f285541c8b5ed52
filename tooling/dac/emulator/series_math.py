"""The arithmetic of KQL's series_* functions on plain Python values (parsed dynamic arrays).

A series is a list of JSON values; an element that is not a number (null, a string, a bool) is
"non-numeric" and gives null where the reference says so. Integers stay integers where KQL keeps
the element type (abs, sign, add, subtract, multiply, the fill functions); everything else is a
real. Where the reference leaves a case open, `Unsupported` is raised with what the emulator
cannot decide, so that the query fails instead of giving an answer Kusto might not give.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

Number = int | float


class Unsupported(ValueError):
    """A case of a series function the reference does not pin down."""

    def __init__(self, what: str):
        super().__init__(f"the emulator does not support {what}")


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _real(function: Callable[[float], float]) -> Callable[[Number], float]:
    """A math function with .NET's answers where Python raises: NaN off the domain, inf on overflow."""

    def apply(value: Number) -> float:
        try:
            return function(float(value))
        except ValueError:
            return math.nan
        except OverflowError:
            return math.inf

    return apply


def _log(value: float) -> float:
    if value == 0:
        return -math.inf
    return math.log(value) if value > 0 else math.nan


def _sign(value: Number) -> Number:
    result = (value > 0) - (value < 0)
    return result if isinstance(value, int) else float(result)


UNARY: dict[str, Callable[[Number], Number]] = {
    "abs": abs,
    "sign": _sign,
    "acos": _real(math.acos),
    "asin": _real(math.asin),
    "atan": _real(math.atan),
    "cos": _real(math.cos),
    "sin": _real(math.sin),
    "tan": _real(math.tan),
    "exp": _real(math.exp),
    "log": _real(_log),
    "ceiling": _real(lambda v: float(math.ceil(v)) if math.isfinite(v) else v),
    "floor": _real(lambda v: float(math.floor(v)) if math.isfinite(v) else v),
}


def unary(name: str, series: Any) -> list[Any] | None:
    """series_abs(), series_cos(), ...: element-wise, a non-numeric element gives null."""
    if not isinstance(series, list):
        return None
    function = UNARY[name]
    return [function(value) if is_number(value) else None for value in series]


def _checked_long(value: int) -> int:
    if not -(2**63) <= value < 2**63:
        raise Unsupported("a series element outside the range of long")
    return value


def _divide(left: Number, right: Number) -> float:
    if right == 0:  # the rules of real division: 2/0 is +inf, 0/0 is NaN
        return math.nan if left == 0 or math.isnan(left) else math.copysign(math.inf, left) * math.copysign(1, right)
    return left / right


def _power(base: Number, exponent: Number) -> float:
    base, exponent = float(base), float(exponent)
    if base == 0 and exponent < 0:
        return math.inf
    try:
        return math.pow(base, exponent)
    except ValueError:
        return math.nan
    except OverflowError:
        odd = exponent.is_integer() and int(exponent) % 2 == 1
        return -math.inf if base < 0 and odd else math.inf


def _keeping_longs(operation: Callable[[Number, Number], Number]) -> Callable[[Number, Number], Number]:
    def apply(left: Number, right: Number) -> Number:
        if isinstance(left, int) and isinstance(right, int):
            return _checked_long(int(operation(left, right)))
        return float(operation(float(left), float(right)))

    return apply


BINARY: dict[str, Callable[[Number, Number], Any]] = {
    "add": _keeping_longs(lambda a, b: a + b),
    "subtract": _keeping_longs(lambda a, b: a - b),
    "multiply": _keeping_longs(lambda a, b: a * b),
    "divide": _divide,
    "pow": _power,
    "equals": lambda a, b: a == b,
    "not_equals": lambda a, b: a != b,
    "greater": lambda a, b: a > b,
    "greater_equals": lambda a, b: a >= b,
    "less": lambda a, b: a < b,
    "less_equals": lambda a, b: a <= b,
}


def _aligned(left: Any, right: Any, what: str) -> tuple[list[Any], list[Any]]:
    """Two series of one length: a number stands for itself at every position (scalar broadcast)."""
    if isinstance(left, list) and isinstance(right, list):
        return left, right
    if isinstance(left, list) and is_number(right):
        return left, [right] * len(left)
    if isinstance(right, list) and is_number(left):
        return [left] * len(right), right
    raise Unsupported(f"{what} without a dynamic array argument")


def binary(name: str, left: Any, right: Any) -> list[Any] | None:
    """series_add(), series_greater(), ...: element-wise; a missing or non-numeric element gives null."""
    if left is None or right is None:
        return None
    first, second = _aligned(left, right, f"series_{name}()")
    function = BINARY[name]
    result = []
    for index in range(max(len(first), len(second))):
        a = first[index] if index < len(first) else None
        b = second[index] if index < len(second) else None
        result.append(function(a, b) if is_number(a) and is_number(b) else None)
    return result


# ----------------------------------------------------------------- reductions
def _all_numbers(series: Any, what: str) -> list[Number] | None:
    if series is None:
        return None
    if not isinstance(series, list):
        raise Unsupported(f"{what} on a value that is not an array")
    if not all(is_number(value) for value in series):
        raise Unsupported(f"{what} on an array with non-numeric elements")
    return series


def series_sum(series: Any) -> float | None:
    values = _all_numbers(series, "series_sum()")
    if values is None:
        return None
    total = 0.0
    for value in values:
        total += value
    return total


def series_product(series: Any) -> float | None:
    values = _all_numbers(series, "series_product()")
    if values is None:
        return None
    product = 1.0
    for value in values:
        product *= value
    return product


def series_magnitude(series: Any) -> float | None:
    values = _all_numbers(series, "series_magnitude()")
    if values is None:
        return None
    total = 0.0
    for value in values:
        total += value * value
    return math.sqrt(total)


def dot_product(left: Any, right: Any) -> float | None:
    """Truncated to the shorter series; pairs with a non-numeric element are skipped; empty gives null."""
    if left is None or right is None:
        return None
    first, second = _aligned(left, right, "series_dot_product()")
    if not first or not second:
        return None
    total = 0.0
    for a, b in zip(first, second, strict=False):
        if is_number(a) and is_number(b):
            total += a * b
    return total


def cosine_similarity(left: Any, right: Any, magnitude1: Any = None, magnitude2: Any = None) -> float | None:
    if left is None or right is None:
        return None
    first, second = _aligned(left, right, "series_cosine_similarity()")
    if not first or not second:
        return None
    plain = len(first) == len(second) and all(is_number(v) for v in first + second)
    if not plain and (magnitude1 is None or magnitude2 is None):
        # which elements the magnitudes then cover is not documented
        raise Unsupported("series_cosine_similarity() of series of different lengths or with non-numeric elements")
    dot = dot_product(first, second)
    norm1 = float(magnitude1) if magnitude1 is not None else math.sqrt(sum_of_squares(first))
    norm2 = float(magnitude2) if magnitude2 is not None else math.sqrt(sum_of_squares(second))
    return _divide(dot or 0.0, norm1 * norm2)


def sum_of_squares(values: list[Number]) -> float:
    total = 0.0
    for value in values:
        total += value * value
    return total


def pearson_correlation(left: Any, right: Any) -> float | None:
    if not isinstance(left, list) or not isinstance(right, list) or len(left) != len(right) or not left:
        return None
    if not all(is_number(v) for v in left + right):
        return None
    count = len(left)
    mean_x = sum(left) / count
    mean_y = sum(right) / count
    covariance = sum((x - mean_x) * (y - mean_y) for x, y in zip(left, right, strict=True))
    spread = math.sqrt(sum((x - mean_x) ** 2 for x in left) * sum((y - mean_y) ** 2 for y in right))
    return _divide(covariance, spread)


def stats(series: Any, ignore_nonfinite: bool = False) -> dict[str, Number] | None:
    """series_stats_dynamic(): min/max (first index), avg, sample variance and stdev, sum, len."""
    if series is None:
        return None
    if not isinstance(series, list):
        raise Unsupported("series_stats_dynamic() on a value that is not an array")
    if not all(is_number(v) and math.isfinite(v) for v in series):
        raise Unsupported("series_stats_dynamic() on an array with non-finite or non-numeric elements")
    if len(series) < 2:
        raise Unsupported("series_stats_dynamic() on an array of fewer than two elements")
    values = [float(v) for v in series]
    low, high = min(values), max(values)
    total = 0.0
    for value in values:
        total += value
    count = len(values)
    mean = total / count
    variance = sum((value - mean) ** 2 for value in values) / (count - 1)
    return {
        "min": low, "min_idx": values.index(low), "max": high, "max_idx": values.index(high), "avg": mean,
        "stdev": math.sqrt(variance), "variance": variance, "sum": total, "len": count,
    }  # fmt: skip


def fit_line(series: Any) -> dict[str, Any] | None:
    """series_fit_line_dynamic(): least squares of the values against x = 1..n. The reference's example
    (y = [2, 5, 6, 8, 11, 15, 17, 18, 25, 26, 30, 30]: rsquare 0.982, slope 2.730, variance 98.628,
    rvariance 1.686, interception -1.666, line_fit starting 1.064) fixes the rest: variance is the sample
    variance of the values, rvariance the residuals' sum of squares over n - 1."""
    if series is None:
        return None
    if not isinstance(series, list):
        raise Unsupported("series_fit_line() on a value that is not an array")
    if not all(is_number(v) and math.isfinite(v) for v in series):
        raise Unsupported("series_fit_line() on an array with non-finite or non-numeric elements")
    if len(series) < 2:
        raise Unsupported("series_fit_line() on an array of fewer than two elements")
    values = [float(v) for v in series]
    count = len(values)
    xs = range(1, count + 1)
    mean_x, mean_y = (count + 1) / 2, sum(values) / count
    spread_x = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, values, strict=True)) / spread_x
    interception = mean_y - slope * mean_x
    line = [slope * x + interception for x in xs]
    residual = sum((y - f) ** 2 for y, f in zip(values, line, strict=True))
    total = sum((y - mean_y) ** 2 for y in values)
    if total == 0:  # a constant series: the reference does not say what rsquare is then
        raise Unsupported("series_fit_line() of a constant series (its rsquare is undocumented)")
    return {
        "rsquare": 1 - residual / total, "slope": slope, "variance": total / (count - 1),
        "rvariance": residual / (count - 1), "interception": interception, "line_fit": line,
    }  # fmt: skip


# ----------------------------------------------------------------- fills
def _missing(value: Any, placeholder: Any) -> bool:
    if placeholder is None:
        return value is None
    return is_number(value) and is_number(placeholder) and value == placeholder


def fill_forward(series: Any, placeholder: Any = None) -> list[Any] | None:
    if not isinstance(series, list):
        return None
    result, last = [], None
    for value in series:
        if _missing(value, placeholder):
            result.append(last if last is not None else value)
        else:
            result.append(value)
            last = value
    return result


def fill_backward(series: Any, placeholder: Any = None) -> list[Any] | None:
    filled = fill_forward(list(reversed(series)), placeholder) if isinstance(series, list) else None
    return list(reversed(filled)) if filled is not None else None


def fill_const(series: Any, constant: Any, placeholder: Any = None) -> list[Any] | None:
    if not isinstance(series, list):
        return None
    return [constant if _missing(value, placeholder) else value for value in series]


def fill_linear(series: Any, placeholder: Any = None, fill_edges: bool = True, constant: Any = 0) -> list[Any] | None:
    """Linear interpolation between known values; an array of integers gets truncated values (the page's example)."""
    if not isinstance(series, list):
        return None
    known = [index for index, value in enumerate(series) if not _missing(value, placeholder)]
    if not known:
        return [constant for _ in series]
    if not all(is_number(series[index]) for index in known):
        raise Unsupported("series_fill_linear() on an array with non-numeric elements")
    integers = all(isinstance(series[index], int) for index in known)
    result = list(series)
    for left, right in itertools.pairwise(known):
        low, high = series[left], series[right]
        for index in range(left + 1, right):
            value = low + (high - low) * (index - left) / (right - left)
            result[index] = int(value) if integers else float(value)
    if fill_edges:
        for index in range(known[0]):
            result[index] = series[known[0]]
        for index in range(known[-1] + 1, len(series)):
            result[index] = series[known[-1]]
    return result


# ----------------------------------------------------------------- filters
def _numbers_for_filter(series: Any, what: str) -> list[float] | None:
    if series is None:
        return None
    if not isinstance(series, list) or not all(is_number(v) for v in series):
        raise Unsupported(f"{what} on a value that is not an array of numbers")
    return [float(v) for v in series]


def iir(series: Any, numerators: Any, denominators: Any) -> list[float] | None:
    """y[i] = (b0*x[i] + b1*x[i-1] + ... - a1*y[i-1] - a2*y[i-2] - ...) / a0."""
    values = _numbers_for_filter(series, "series_iir()")
    b = _numbers_for_filter(numerators, "series_iir() coefficients")
    a = _numbers_for_filter(denominators, "series_iir() coefficients")
    if values is None or b is None or a is None:
        return None
    if not a or a[0] == 0 or not b:
        raise Unsupported("series_iir() with no coefficients or a zero first denominator")
    output: list[float] = []
    for i in range(len(values)):
        total = 0.0
        for j, coefficient in enumerate(b):
            if i - j >= 0:
                total += coefficient * values[i - j]
        for j in range(1, len(a)):
            if i - j >= 0:
                total -= a[j] * output[i - j]
        output.append(total / a[0])
    return output


def fir(series: Any, coefficients: Any, normalize: bool | None = None, center: bool = False) -> list[float] | None:
    """A convolution with zeros outside the series; normalize divides by the coefficients' sum."""
    values = _numbers_for_filter(series, "series_fir()")
    taps = _numbers_for_filter(coefficients, "series_fir() coefficients")
    if values is None or taps is None:
        return None
    negative = any(t < 0 for t in taps)
    if normalize is None:
        normalize = not negative
    if normalize and negative:
        return None  # the page: normalizing a filter with negative values gives null
    if not taps:
        raise Unsupported("series_fir() without coefficients")
    if center and len(taps) % 2 == 0:
        raise Unsupported("series_fir() centred on a filter of even length")
    scale = 1.0
    if normalize:
        scale = sum(taps)
        if scale == 0:
            return None
    shift = (len(taps) - 1) // 2 if center else 0
    output = []
    for i in range(len(values)):
        total = 0.0
        for j, tap in enumerate(taps):
            k = i + shift - j
            if 0 <= k < len(values):
                total += tap * values[k]
        output.append(total / scale if normalize else total)
    return output


def seasonal(series: Any, period: Any = -1) -> list[float] | None:
    """The median of the values at the same phase of every period (a given period only)."""
    if series is None:
        return None
    if not is_number(period) or period <= 0 or period != int(period):
        raise Unsupported("series_seasonal() without a positive period (period detection is not emulated)")
    values = _numbers_for_filter(series, "series_seasonal()")
    assert values is not None
    step = int(period)
    medians = [_median(values[phase::step]) for phase in range(min(step, len(values)))]
    return [medians[index % step] for index in range(len(values))]


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2
