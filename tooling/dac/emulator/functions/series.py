"""series_* functions: element-wise arithmetic, fills, filters and statistics on dynamic arrays.

The arithmetic lives in ../series_math.py; here every call becomes one Python UDF call on the
connection, `kql_series(name, arguments)`, whose arguments are the KQL arguments packed into one
JSON array (a dynamic stays as it is, a scalar becomes its JSON value), and whose result is JSON
text (or a DOUBLE for the functions that return a real). A case the reference leaves open raises
in the UDF, so the query fails with the emulator's message instead of returning a guess.

Not emulated (the reference does not give their algorithms exactly): series_periods_detect,
series_periods_validate, series_outliers, series_decompose*, series_fit_2lines, series_fit_poly,
series_fft/ifft, and series_seasonal with an automatically detected period. series_stats and
series_fit_line, which give several columns, are their _dynamic forms taken apart (operators.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from duckdb import sqltypes

from ...kql.names import name_text
from ...kql.syntax import Node
from .. import series_math
from ..errors import EmulatorError, offset_of
from .dynamic import ensure_dynamic_macros, to_json
from .registry import register

if TYPE_CHECKING:
    from ..interface import Compiler

Columns = list[tuple[str, str]]


def _unary(name: str) -> Callable[..., Any]:
    return lambda series: series_math.unary(name, series)


def _binary(name: str) -> Callable[..., Any]:
    return lambda left, right: series_math.binary(name, left, right)


# KQL name -> (Python function on the parsed arguments, fewest and most arguments, KQL result type)
_SERIES: dict[str, tuple[Callable[..., Any], int, int, str]] = {
    **{f"series_{name}": (_unary(name), 1, 1, "dynamic") for name in series_math.UNARY},
    **{f"series_{name}": (_binary(name), 2, 2, "dynamic") for name in series_math.BINARY},
    "series_sum": (series_math.series_sum, 1, 1, "real"),
    "series_product": (series_math.series_product, 1, 1, "real"),
    "series_magnitude": (series_math.series_magnitude, 1, 1, "real"),
    "series_dot_product": (series_math.dot_product, 2, 2, "real"),
    "series_cosine_similarity": (series_math.cosine_similarity, 2, 4, "real"),
    "series_pearson_correlation": (series_math.pearson_correlation, 2, 2, "real"),
    "series_stats_dynamic": (series_math.stats, 1, 2, "dynamic"),
    "series_fit_line_dynamic": (series_math.fit_line, 1, 1, "dynamic"),
    "series_fill_forward": (series_math.fill_forward, 1, 2, "dynamic"),
    "series_fill_backward": (series_math.fill_backward, 1, 2, "dynamic"),
    "series_fill_const": (series_math.fill_const, 2, 3, "dynamic"),
    "series_fill_linear": (series_math.fill_linear, 1, 4, "dynamic"),
    "series_iir": (series_math.iir, 3, 3, "dynamic"),
    "series_fir": (series_math.fir, 2, 4, "dynamic"),
    "series_seasonal": (series_math.seasonal, 1, 2, "dynamic"),
}


def _call(name: str, arguments_json: str) -> Any:
    function = _SERIES[name][0]
    return function(*json.loads(arguments_json))


def _as_json(name: str, arguments_json: str) -> str | None:
    result = _call(name, arguments_json)
    return None if result is None else json.dumps(result)


def _as_real(name: str, arguments_json: str) -> float | None:
    result = _call(name, arguments_json)
    return None if result is None else float(result)


def _ensure_udfs(compiler: Compiler) -> None:
    engine = compiler.engine
    if getattr(engine, "_series_udfs", None) is engine.connection:
        return
    text = sqltypes.VARCHAR
    # special null handling: the functions return null (a missing series, an empty dot product)
    options = {"null_handling": "special", "side_effects": False}
    engine.connection.create_function("kql_series", _as_json, [text, text], text, **options)
    engine.connection.create_function("kql_series_real", _as_real, [text, text], sqltypes.DOUBLE, **options)
    engine._series_udfs = engine.connection  # type: ignore[attr-defined]


def _handler(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    return series_call(compiler, name_text(node["callee"]), arguments, columns, node)


def series_call(compiler: Compiler, name: str, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    """The SQL and type of the series function `name` called with `arguments` at `node`."""
    _, fewest, most, kind = _SERIES[name]
    if not fewest <= len(arguments) <= most:
        raise EmulatorError("EMU006", f"wrong number of arguments for '{name}'", offset_of(node))
    if name == "series_seasonal":
        _check_period(compiler, arguments)
    ensure_dynamic_macros(compiler)
    _ensure_udfs(compiler)
    packed = []
    for argument in arguments:
        sql, argument_kind = compiler.expr(argument, columns)
        packed.append(to_json(compiler, sql, argument_kind, argument))
    call = f"'{name}', CAST(json_array({', '.join(packed)}) AS VARCHAR)"
    if kind == "real":
        return f"kql_series_real({call})", "real"
    return f"CAST(kql_series({call}) AS JSON)", "dynamic"


def _check_period(compiler: Compiler, arguments: list[Node]) -> None:
    """series_seasonal() detects the period itself when none (or -1) is given: not emulated."""
    if len(arguments) < 2:
        raise compiler.unsupported("series_seasonal() without a period (period detection)", arguments[0])


for _name in _SERIES:
    register(_name)(_handler)
