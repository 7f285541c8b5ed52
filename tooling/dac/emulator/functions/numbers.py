"""Number functions computed in Python: the beta distribution (beta_cdf, beta_inv) and format_bytes.

They run as DuckDB Python UDFs (see udfs.py). Anything whose Kusto answer is not documented well
enough to reproduce exactly raises an error on that row (EMU002) instead of guessing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from ...kql.syntax import Node
from .registry import Columns, argument_text, check_arity, register
from .udfs import Refused, Udf, ensure_udfs

if TYPE_CHECKING:
    from ..interface import Compiler


# --------------------------------------------------------------------------- beta distribution
def _continued_fraction(x: float, a: float, b: float) -> float:
    """The continued fraction of the regularized incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 10_000):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= d * c
        if abs(d * c - 1.0) < 1e-16:
            return result
    raise Refused("beta_cdf(): the series did not converge")


def regularized_beta(x: float, a: float, b: float) -> float:
    """I_x(a, b), the cumulative beta distribution."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _continued_fraction(x, a, b) / a
    log_back = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + b * math.log1p(-x) + a * math.log(x)
    return 1.0 - math.exp(log_back) * _continued_fraction(1.0 - x, b, a) / b


def _beta_cdf_udf(x: float, a: float, b: float) -> float:
    if math.isnan(x) or math.isnan(a) or math.isnan(b) or x < 0 or x > 1 or a < 0 or b < 0:
        return math.nan  # documented: x outside [0, 1] and negative shapes give NaN
    if a == 0 or b == 0:
        raise Refused("beta_cdf() with a shape of zero")
    return regularized_beta(x, a, b)


def _beta_inv_udf(p: float, a: float, b: float) -> float | None:
    if math.isnan(p) or math.isnan(a) or math.isnan(b):
        return math.nan
    if a < 0 or b < 0:
        return math.nan  # documented: a negative shape gives NaN
    if p < 0 or p > 1:
        return None  # documented: p outside [0, 1] gives null
    if a == 0 or b == 0 or p in (0.0, 1.0):
        raise Refused("beta_inv() at the edge of its domain")
    low, high = 0.0, 1.0
    for _ in range(200):  # bisection to the last bit of a double
        middle = (low + high) / 2
        if middle in (low, high):
            break
        if regularized_beta(middle, a, b) < p:
            low = middle
        else:
            high = middle
    return high if abs(regularized_beta(high, a, b) - p) <= abs(regularized_beta(low, a, b) - p) else low


def _beta(name: str, udf: str) -> Callable:
    def handler(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
        check_arity(node, arguments, 3, 3)
        values = []
        for argument in arguments:
            sql, kind = compiler.expr(argument, columns)
            if kind not in ("int", "long", "real", "decimal", "unknown"):
                raise compiler.unsupported(f"{name}() of a {kind} value", argument)
            values.append(f"CAST({sql} AS DOUBLE)")
        ensure_udfs(compiler, _UDFS)
        first, alpha, beta = values
        # documented NaN cases, in SQL: DuckDB turns a NaN a Python UDF returns into null
        nan = f"isnan({first}) OR isnan({alpha}) OR isnan({beta}) OR {alpha} < 0 OR {beta} < 0"
        if name == "beta_cdf":
            nan += f" OR {first} < 0 OR {first} > 1"
        return f"(CASE WHEN {nan} THEN CAST('NaN' AS DOUBLE) ELSE {udf}({', '.join(values)}) END)", "real"

    return handler


register("beta_cdf")(_beta("beta_cdf", "kqlm_beta_cdf"))
register("beta_inv")(_beta("beta_inv", "kqlm_beta_inv"))


# --------------------------------------------------------------------------- format_bytes
_UNITS = ("Bytes", "KB", "MB", "GB", "TB", "PB", "EB")


def format_bytes(size: float, precision: int, units: str) -> str:
    """The documented cases: 1024-based units, auto-selected as the largest not above the size."""
    if math.isnan(size) or math.isinf(size) or size < 0 or precision < 0 or precision > 15:
        raise Refused("format_bytes() of a negative or non-finite size, or an unusual precision")
    if units:
        matches = [u for u in _UNITS if u.lower() == units.lower()]
        if not matches:
            raise Refused(f"format_bytes() with the unit '{units}'")
        power = _UNITS.index(matches[0])
    else:
        power = 0
        while power + 1 < len(_UNITS) and size >= 1024 ** (power + 1):
            power += 1
    scaled = size / 1024**power
    shifted = scaled * 10**precision
    if shifted - math.floor(shifted) == 0.5:
        raise Refused("format_bytes() of a value halfway between two roundings")
    text = f"{scaled:.{precision}f}"
    if precision and text.endswith("0"):  # whether Kusto keeps trailing zeros is not documented
        raise Refused("format_bytes() whose rounded value ends in 0")
    return f"{text} {_UNITS[power]}"


@register("format_bytes")
def _format_bytes(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    check_arity(node, arguments, 1, 3)
    size, _ = compiler.expr(arguments[0], columns)
    precision = compiler.expr(arguments[1], columns)[0] if len(arguments) > 1 else "0"
    units = argument_text(compiler, arguments[2], columns) if len(arguments) > 2 else "''"
    ensure_udfs(compiler, _UDFS)
    return f"kqlm_format_bytes(CAST({size} AS DOUBLE), CAST({precision} AS BIGINT), {units})", "string"


_UDFS: list[Udf] = [
    ("kqlm_beta_cdf", _beta_cdf_udf, ["DOUBLE", "DOUBLE", "DOUBLE"], "DOUBLE"),
    ("kqlm_beta_inv", _beta_inv_udf, ["DOUBLE", "DOUBLE", "DOUBLE"], "DOUBLE"),
    ("kqlm_format_bytes", format_bytes, ["DOUBLE", "BIGINT", "VARCHAR"], "VARCHAR"),
]
