"""Datetime, timespan, math, conversion and bitwise functions, with KQL's semantics.

The emulator holds a datetime as a DuckDB TIMESTAMP and a timespan as an INTERVAL, both to the
microsecond (KQL counts 100 ns ticks), a long as BIGINT and a real as DOUBLE. Where KQL's result
needs a precision or a rule the emulator cannot reproduce exactly, the function refuses instead of
guessing: at compile time (EMU001) when the deciding arguments are constants, else with a run-time
error (EMU002) on the row that needs it, via `_checked`.

Argument types follow Kusto.Language's signatures (e.g. sign() and pow() return real, dayofmonth()
returns int, round() and ceiling() keep the type of their argument).

todatetime() of a string reads it in Python (a UDF, see udfs.py); bin_auto() bins with the sizes that
`set` statements give.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import re
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from typing import TYPE_CHECKING

import duckdb

from ...kql.names import name_text
from ...kql.syntax import Node
from ..errors import EmulatorError
from ..literals import parse_datetime
from ..ticks import DATETIME_NS
from .registry import FUNCTIONS, Handler, check_arity, register
from .udfs import Refused, Udf, ensure_udfs

if TYPE_CHECKING:
    from ..interface import Compiler

Columns = list[tuple[str, str]]
Arg = tuple[str, str]  # (sql, KQL type)

INTEGERS = ("int", "long")
NUMBERS = ("int", "long", "real", "decimal")
_NULLS = ("unknown",)  # an untyped null literal goes with any type

_US_PER = {"day": 86_400_000_000, "hour": 3_600_000_000, "minute": 60_000_000, "second": 1_000_000,
           "millisecond": 1_000, "microsecond": 1}  # fmt: skip
_DAY = _US_PER["day"]
_MIN_US = -62_135_596_800_000_000  # 0001-01-01 00:00:00, KQL's smallest datetime
_MAX_US = 253_402_300_799_999_999  # 9999-12-31 23:59:59.999999, the largest the emulator holds
_MIN_TS = "TIMESTAMP '0001-01-01 00:00:00'"
_MAX_TS = "TIMESTAMP '9999-12-31 23:59:59.999999'"


# --------------------------------------------------------------------------- helpers
def _function_name(node: Node) -> str:
    return name_text(node["callee"])


def _offset(node: Node) -> int:
    token = node.first_token()
    return token.start if token is not None else 0


def _compile(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node, *counts: int) -> list[Arg]:
    if len(arguments) not in counts:
        raise EmulatorError("EMU006", f"wrong number of arguments for '{_function_name(node)}'", _offset(node))
    return [compiler.expr(argument, columns) for argument in arguments]


def _require(compiler: Compiler, node: Node, arg: Arg, kinds: tuple[str, ...], what: str = "argument") -> None:
    if arg[1] not in kinds + _NULLS:
        raise compiler.unsupported(f"{_function_name(node)}() with a {arg[1]} {what}", node)


_NOT_CONSTANT = object()


def _constant(compiler: Compiler, sql: str) -> object:
    """The value of an expression that needs no row (a literal, a let of one), else _NOT_CONSTANT."""
    try:
        rows = compiler.engine.connection.execute(f"SELECT {sql}").fetchall()  # all: DuckDB 2 wants it finished
    except duckdb.Error:
        return _NOT_CONSTANT
    return rows[0][0] if rows else _NOT_CONSTANT


def _string_constant(compiler: Compiler, node: Node, arg: Arg, what: str) -> str:
    value = _constant(compiler, arg[0]) if arg[1] == "string" else _NOT_CONSTANT
    if not isinstance(value, str):
        raise compiler.unsupported(f"{_function_name(node)}() with a {what} that is not a constant string", node)
    return value


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _checked(compiler: Compiler, node: Node, ok: str, value: str, what: str) -> str:
    """`value` where `ok` holds; where it does not, KQL's answer is unknown or not representable here:
    refuse at compile time if `ok` is constant, else raise a DuckDB error on that row."""
    constant = _constant(compiler, ok)
    if constant is False:
        raise compiler.unsupported(what, node)
    if constant is not _NOT_CONSTANT:
        return value
    message = _quote(f"the emulator does not support {what}")
    return f"(CASE WHEN NOT ({ok}) THEN error({message}) ELSE {value} END)"


def _double(sql: str) -> str:
    return f"CAST({sql} AS DOUBLE)"


def _bigint(sql: str) -> str:
    return f"CAST({sql} AS BIGINT)"


def _fmod(a: str, b: str) -> str:
    """a mod b, with the sign of b (floor semantics), for BIGINT a and b > 0."""
    return f"((({a}) % ({b}) + ({b})) % ({b}))"


def _us(sql: str) -> str:
    """Microseconds since 1970 of a TIMESTAMP, or the length in microseconds of an INTERVAL."""
    return f"epoch_us({sql})"


def _datetime_from_us(us: str) -> str:
    return f"(CASE WHEN ({us}) BETWEEN {_MIN_US} AND {_MAX_US} THEN make_timestamp(CAST({us} AS BIGINT)) END)"


def _in_range(timestamp: str) -> str:
    """A TIMESTAMP kept only inside KQL's datetime range (years 1 to 9999), else null."""
    return f"(CASE WHEN ({timestamp}) BETWEEN {_MIN_TS} AND {_MAX_TS} THEN {timestamp} END)"


def _timespan_from_us(us: str) -> str:
    return f"to_microseconds(CAST({us} AS BIGINT))"


def _ticks_to_us(compiler: Compiler, node: Node, ticks: str, what: str) -> str:
    """Microseconds from a DOUBLE count of 100 ns ticks (null far outside any datetime), refusing a count
    that is not a whole number of microseconds: KQL's rounding of it is unknown or not representable here."""
    ok = f"(abs({ticks}) >= 9e18 OR ({ticks} = round({ticks}) AND round({ticks}) % 10 = 0)) IS NOT FALSE"
    value = f"(CASE WHEN abs({ticks}) < 9e18 THEN CAST(round({ticks}) AS BIGINT) // 10 END)"
    return _checked(compiler, node, ok, value, what)


def _widest(kinds: list[str]) -> str:
    kinds = [k for k in kinds if k not in _NULLS]
    if any(k in ("real", "decimal") for k in kinds):
        return "real"
    return "int" if kinds and all(k == "int" for k in kinds) else "long"


def _cast_kind(sql: str, kind: str) -> str:
    return {"int": f"CAST({sql} AS INTEGER)", "long": _bigint(sql), "real": _double(sql)}.get(kind, sql)


# --------------------------------------------------------------------------- bin, floor, bin_at
_EPOCH_FROM_YEAR_ONE_US = str(719_162 * 86_400_000_000)  # 0001-01-01 to 1970-01-01 in microseconds


def _binned(compiler: Compiler, node: Node, value: Arg, size: Arg, fixed: Arg | None) -> tuple[str, str]:
    """bin(value, size) when fixed is None (aligned on 0 / 0001-01-01), else bin_at(value, size, fixed)."""
    name = _function_name(node)
    (v, vkind), (s, skind) = value, size
    if vkind in ("datetime", "timespan"):
        _require(compiler, node, size, ("timespan",), "bin size for a datetime or timespan")
        if fixed is not None:
            _require(compiler, node, fixed, (vkind,), "fixed point")
        size_us = _us(s)
        constant_size = _constant(compiler, size_us)
        if constant_size == 0:
            raise compiler.unsupported(f"{name}() with a zero bin size", node)
        if fixed is None and vkind == "datetime" and type(constant_size) is int and constant_size > 0:
            # The common bin(Timestamp, 1h): a datetime inside KQL's range is at or after 0001-01-01, so one
            # modulo floors it, and the floor stays in range (a third less work per row than the general form).
            floored = f"make_timestamp({_us(v)} - ({_us(v)} + {_EPOCH_FROM_YEAR_ONE_US}) % {constant_size})"
            return f"(CASE WHEN ({v}) BETWEEN {_MIN_TS} AND {_MAX_TS} THEN {floored} END)", vkind
        # Kusto bins datetimes on ticks since 0001-01-01, not since 1970 (it matters for 7d, 15d, ...).
        origin = _EPOCH_FROM_YEAR_ONE_US if fixed is None and vkind == "datetime" else "0"
        shifted = f"({_us(v)} + {origin})" if fixed is None else f"({_us(v)} - {_us(fixed[0])})"
        floored = f"({shifted} - {_fmod(shifted, size_us)})"
        total = f"({floored} - {origin})" if fixed is None else f"({floored} + {_us(fixed[0])})"
        result = _datetime_from_us(total) if vkind == "datetime" else _timespan_from_us(total)
        return f"(CASE WHEN {size_us} > 0 THEN {result} END)", vkind
    _require(compiler, node, value, NUMBERS, "value")
    _require(compiler, node, size, NUMBERS, "bin size")
    if fixed is not None:
        _require(compiler, node, fixed, NUMBERS, "fixed point")
    kinds = [vkind, skind] + ([fixed[1]] if fixed is not None else [])
    kind = _widest(kinds)
    if _constant(compiler, f"({s}) = 0") is True:
        raise compiler.unsupported(f"{name}() with a zero bin size", node)
    if kind in INTEGERS:
        size_sql = _bigint(s)
        shifted = _bigint(v) if fixed is None else f"({_bigint(v)} - {_bigint(fixed[0])})"
        floored = f"({shifted} - {_fmod(shifted, size_sql)})"
        total = floored if fixed is None else f"({floored} + {_bigint(fixed[0])})"
    else:
        size_sql = _double(s)
        shifted = _double(v) if fixed is None else f"({_double(v)} - {_double(fixed[0])})"
        floored = f"(floor({shifted} / {size_sql}) * {size_sql})"
        total = floored if fixed is None else f"({floored} + {_double(fixed[0])})"
    return f"(CASE WHEN {size_sql} > 0 THEN {_cast_kind(total, kind)} END)", kind


@register("bin", "floor")
def _bin(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    value, size = _compile(compiler, arguments, columns, node, 2)
    return _binned(compiler, node, value, size, None)


@register("bin_at")
def _bin_at(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    value, size, fixed = _compile(compiler, arguments, columns, node, 3)
    return _binned(compiler, node, value, size, fixed)


@register("bin_auto")
def _bin_auto(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    """bin_at(value, query_bin_auto_size, query_bin_auto_at), both from `set` statements."""
    check_arity(node, arguments, 1, 1)
    options: dict[str, Node] = getattr(compiler, "options", {})
    size = options.get("query_bin_auto_size")
    if size is None:
        raise compiler.unsupported("bin_auto() without 'set query_bin_auto_size'", node)
    handler = _lookup("bin_at")
    fixed = options.get("query_bin_auto_at")
    if fixed is None:
        value_kind = compiler.expr(arguments[0], columns)[1]
        if value_kind != "datetime":
            raise compiler.unsupported("bin_auto() of a number without 'set query_bin_auto_at'", node)
        return _lookup("bin")(compiler, [arguments[0], size], columns, node)
    return handler(compiler, [arguments[0], size, fixed], columns, node)


def _lookup(name: str) -> Callable:
    return FUNCTIONS[name]


# --------------------------------------------------------------------------- rounding
@register("round")
def _round(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    args = _compile(compiler, arguments, columns, node, 1, 2)
    (x, kind) = args[0]
    _require(compiler, node, args[0], NUMBERS)
    precision = 0
    if len(args) == 2:
        constant = _constant(compiler, args[1][0]) if args[1][1] in INTEGERS else _NOT_CONSTANT
        if not isinstance(constant, int) or isinstance(constant, bool) or abs(constant) > 15:
            raise compiler.unsupported("round() with a precision that is not a constant integer from -15 to 15", node)
        precision = constant
    if kind in INTEGERS:
        if precision >= 0:
            return x, kind
        # Half away from zero in exact integer arithmetic: sign(x) * ((|x| + step/2) // step * step).
        step = 10**-precision
        magnitude = f"abs(CAST({x} AS HUGEINT))"
        value = f"(sign(CAST({x} AS HUGEINT)) * (({magnitude} + {step // 2}) // {step} * {step}))"
        return _cast_kind(value, kind), kind
    # Reals round half away from zero on the shortest decimal that prints the value (what Kusto shows,
    # 2.15 and not 2.149999...), in Python's decimal module: the same answer whatever DuckDB's float
    # rounding does from one version to the next.
    ensure_round_udf(compiler)
    return f"kqlm_round({_double(x)}, {precision})", "real"


def round_half_away(value: float, precision: int) -> float:
    """`value` rounded to `precision` decimal digits (negative: tens, hundreds...), half away from zero,
    on its shortest round-trip decimal form."""
    if not math.isfinite(value):
        return value
    digits = Decimal(repr(value))
    exponent = digits.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -precision:
        return value  # no digit beyond the precision: nothing to round
    with localcontext(Context(prec=1000)):
        rounded = digits.quantize(Decimal(1).scaleb(-precision), rounding=ROUND_HALF_UP)
    return float(rounded) + 0.0  # + 0.0 turns -0.0 into 0.0


def ensure_round_udf(compiler: Compiler) -> None:
    engine = compiler.engine
    if getattr(engine, "_kql_round_udf", False):
        return
    engine.connection.create_function("kqlm_round", round_half_away, ["DOUBLE", "BIGINT"], "DOUBLE")
    engine._kql_round_udf = True  # type: ignore[attr-defined]


@register("ceiling")
def _ceiling(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    (arg,) = _compile(compiler, arguments, columns, node, 1)
    _require(compiler, node, arg, NUMBERS)
    if arg[1] in INTEGERS:
        return arg
    return f"ceil({_double(arg[0])})", "real"


# --------------------------------------------------------------------------- real functions
def _real_function(template: str, arity: int = 1, null_when: str | None = None) -> Handler:
    """A function of reals returning a real; `null_when` (on {0}, {1}) gives KQL's null cases."""

    def handler(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
        args = _compile(compiler, arguments, columns, node, arity)
        for arg in args:
            _require(compiler, node, arg, NUMBERS)
        values = [_double(sql) for sql, _ in args]
        sql = template.format(*values)
        if null_when:
            sql = f"(CASE WHEN {null_when.format(*values)} THEN NULL ELSE {sql} END)"
        return sql, "real"

    return handler


for _name, _template, _arity, _null_when in (
    ("sqrt", "sqrt({0})", 1, "{0} < 0"),
    ("log", "ln({0})", 1, "{0} < 0"),
    ("log2", "log2({0})", 1, "{0} < 0"),
    ("log10", "log10({0})", 1, "{0} < 0"),
    ("exp", "exp({0})", 1, None),
    ("exp2", "pow(2.0, {0})", 1, None),
    ("exp10", "pow(10.0, {0})", 1, None),
    ("pow", "pow({0}, {1})", 2, None),
    ("sin", "sin({0})", 1, None),
    ("cos", "cos({0})", 1, None),
    ("tan", "tan({0})", 1, None),
    ("cot", "cot({0})", 1, None),
    ("asin", "asin({0})", 1, "{0} < -1 OR {0} > 1"),
    ("acos", "acos({0})", 1, "{0} < -1 OR {0} > 1"),
    ("atan", "atan({0})", 1, None),
    ("atan2", "atan2({0}, {1})", 2, None),
    ("gamma", "gamma({0})", 1, None),
    ("loggamma", "lgamma({0})", 1, None),
):
    register(_name)(_real_function(_template, _arity, _null_when))


@register("pi")
def _pi(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    _compile(compiler, arguments, columns, node, 0)
    return "pi()", "real"


@register("sign")
def _sign(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    (arg,) = _compile(compiler, arguments, columns, node, 1)
    _require(compiler, node, arg, NUMBERS)
    value = _double(arg[0])
    return _checked(compiler, node, f"NOT isnan({value})", f"CAST(sign({value}) AS DOUBLE)", "sign() of NaN"), "real"


@register("abs")
def _abs(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    (arg,) = _compile(compiler, arguments, columns, node, 1)
    _require(compiler, node, arg, (*NUMBERS, "timespan"))
    if arg[1] == "timespan":
        return _timespan_from_us(f"abs({_us(arg[0])})"), "timespan"
    if arg[1] in INTEGERS:
        return f"abs({_bigint(arg[0])})", "long"
    return f"abs({_double(arg[0])})", "real"


def _float_test(function: str) -> Handler:
    def handler(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
        (arg,) = _compile(compiler, arguments, columns, node, 1)
        _require(compiler, node, arg, NUMBERS)
        return f"{function}({_double(arg[0])})", "bool"

    return handler


for _name in ("isfinite", "isinf", "isnan"):
    register(_name)(_float_test(_name))


def _extreme(function: str) -> Handler:
    def handler(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
        name = _function_name(node)
        if not 2 <= len(arguments) <= 64:
            raise EmulatorError("EMU006", f"wrong number of arguments for '{name}'", _offset(node))
        args = [compiler.expr(argument, columns) for argument in arguments]
        kinds = {kind for _, kind in args} - set(_NULLS)
        if kinds <= set(NUMBERS):
            kind = _widest(list(kinds))
            return f"{function}({', '.join(_cast_kind(sql, kind) for sql, _ in args)})", kind
        if len(kinds) == 1 and next(iter(kinds)) in ("datetime", "timespan", "bool"):
            return f"{function}({', '.join(sql for sql, _ in args)})", next(iter(kinds))
        raise compiler.unsupported(f"{name}() of {', '.join(sorted(kinds))} values", node)

    return handler


register("max_of")(_extreme("greatest"))
register("min_of")(_extreme("least"))


# --------------------------------------------------------------------------- bitwise
def _bitwise(template: str, arity: int) -> Handler:
    def handler(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
        args = _compile(compiler, arguments, columns, node, arity)
        for arg in args:
            _require(compiler, node, arg, INTEGERS)
        return template.format(*(_bigint(sql) for sql, _ in args)), "long"

    return handler


for _name, _template, _arity in (
    ("binary_and", "({0} & {1})", 2),
    ("binary_or", "({0} | {1})", 2),
    ("binary_xor", "xor({0}, {1})", 2),
    ("binary_not", "(~{0})", 1),
    ("bitset_count_ones", "CAST(bit_count({0}) AS BIGINT)", 1),
    ("binary_shift_right", "(CASE WHEN {1} >= 0 THEN {0} >> ({1} % 64) END)", 2),
    # C#'s long << n: the bits shifted past bit 63 are lost (done in HUGEINT, then wrapped to 64 bits).
    ("binary_shift_left",
     "(CASE WHEN {1} >= 0 THEN CAST((((CAST({0} AS HUGEINT) * (CAST(1 AS HUGEINT) << ({1} % 64))) "
     "% 18446744073709551616 + 18446744073709551616) % 18446744073709551616 + 9223372036854775808) "
     "% 18446744073709551616 - 9223372036854775808 AS BIGINT) END)", 2),
):  # fmt: skip
    register(_name)(_bitwise(_template, _arity))


# --------------------------------------------------------------------------- calendar parts
def _datetime_part_function(template: str, kind: str = "int") -> Handler:
    def handler(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
        (arg,) = _compile(compiler, arguments, columns, node, 1)
        _require(compiler, node, arg, ("datetime",))
        return template.format(arg[0]), kind

    return handler


for _names, _template in (
    (("dayofmonth",), "CAST(day({0}) AS INTEGER)"),
    (("dayofyear",), "CAST(dayofyear({0}) AS INTEGER)"),
    (("hourofday",), "CAST(hour({0}) AS INTEGER)"),
    (("week_of_year",), "CAST(weekofyear({0}) AS INTEGER)"),  # ISO 8601, as KQL's week_of_year
    (("getmonth", "monthofyear"), "CAST(month({0}) AS INTEGER)"),
    (("getyear",), "CAST(year({0}) AS INTEGER)"),
):
    register(*_names)(_datetime_part_function(_template))

# days since the preceding Sunday, as a timespan (DuckDB's dayofweek counts from Sunday = 0)
register("dayofweek")(
    _datetime_part_function(f"to_microseconds(CAST(dayofweek({{0}}) AS BIGINT) * {_DAY})", "timespan")
)


def _part(compiler: Compiler, node: Node, arg: Arg, allowed: tuple[str, ...]) -> str:
    part = _string_constant(compiler, node, arg, "part").strip().lower()
    if part not in allowed:
        raise compiler.unsupported(f"{_function_name(node)}() with the part '{part}'", node)
    return part


_DATETIME_PARTS = ("year", "quarter", "month", "week_of_year", "day", "dayofyear", "hour", "minute", "second",
                   "millisecond", "microsecond", "nanosecond")  # fmt: skip
_DIFF_PARTS = ("year", "quarter", "month", "week", "day", "hour", "minute", "second", "millisecond", "microsecond",
               "nanosecond")  # fmt: skip


@register("datetime_part", "datepart")
def _datetime_part(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    part_arg, date = _compile(compiler, arguments, columns, node, 2)
    part = _part(compiler, node, part_arg, _DATETIME_PARTS)
    _require(compiler, node, date, ("datetime",))
    d = date[0]
    fraction = _fmod(_us(d), "1000000")  # microseconds within the second
    sql = {
        "year": f"year({d})", "quarter": f"quarter({d})", "month": f"month({d})", "week_of_year": f"weekofyear({d})",
        "day": f"day({d})", "dayofyear": f"dayofyear({d})", "hour": f"hour({d})", "minute": f"minute({d})",
        "second": f"second({d})", "millisecond": f"({fraction} // 1000)", "microsecond": fraction,
        "nanosecond": f"({fraction} * 1000)",
    }[part]  # fmt: skip
    return f"CAST({sql} AS INTEGER)", "int"


@register("datetime_diff")
def _datetime_diff(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    """The number of period boundaries crossed from datetime2 to datetime1 (weeks start on Sunday)."""
    part_arg, first, second = _compile(compiler, arguments, columns, node, 3)
    part = _part(compiler, node, part_arg, _DIFF_PARTS)
    _require(compiler, node, first, ("datetime",))
    _require(compiler, node, second, ("datetime",))
    a, b = first[0], second[0]

    def index(d: str) -> str:
        if part == "year":
            return f"year({d})"
        if part == "quarter":
            return f"(year({d}) * 4 + quarter({d}))"
        if part == "month":
            return f"(year({d}) * 12 + month({d}))"
        if part == "week":  # 1970-01-01 was a Thursday: shift so that weeks start on Sunday
            shifted = f"({_us(d)} + {4 * _DAY})"
            return f"(({shifted} - {_fmod(shifted, str(7 * _DAY))}) // {7 * _DAY})"
        if part == "nanosecond":
            return f"({_us(d)} * 1000)"
        unit = str(_US_PER[part])
        return f"(({_us(d)} - {_fmod(_us(d), unit)}) // {unit})"

    return f"CAST({index(a)} - {index(b)} AS BIGINT)", "long"


@register("datetime_add")
def _datetime_add(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    part_arg, amount, date = _compile(compiler, arguments, columns, node, 3)
    part = _part(compiler, node, part_arg, _DIFF_PARTS)
    _require(compiler, node, amount, INTEGERS, "amount")
    _require(compiler, node, date, ("datetime",))
    n, d = _bigint(amount[0]), date[0]
    months = {"year": 12, "quarter": 3, "month": 1}.get(part)
    if months is not None:  # calendar months: the day is clamped to the month's last (Jan 31 + 1 month = Feb 28)
        return _in_range(f"({d} + to_months({n} * {months}))"), "datetime"
    if part == "week":
        return _datetime_from_us(f"({_us(d)} + {n} * {7 * _DAY})"), "datetime"
    if part == "nanosecond":
        what = "datetime_add() of nanoseconds that are not whole microseconds"
        micros = _checked(compiler, node, f"{n} % 1000 = 0", f"({n} // 1000)", what)
        return _datetime_from_us(f"({_us(d)} + {micros})"), "datetime"
    return _datetime_from_us(f"({_us(d)} + {n} * {_US_PER[part]})"), "datetime"


# --------------------------------------------------------------------------- start/end of periods
def _period_start(period: str, d: str, offset: str) -> str:
    """The start of the period holding d, moved by `offset` periods, as a TIMESTAMP (unchecked range)."""
    if period == "day":
        return f"(date_trunc('day', {d}) + to_microseconds({offset} * {_DAY}))"
    if period == "week":  # weeks start on Sunday
        return f"(date_trunc('day', {d}) + to_microseconds(({offset} * 7 - dayofweek({d})) * {_DAY}))"
    months = 12 if period == "year" else 1
    return f"(date_trunc('{period}', {d}) + to_months({offset} * {months}))"


def _period_function(period: str, end: bool) -> Handler:
    def handler(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
        args = _compile(compiler, arguments, columns, node, 1, 2)
        _require(compiler, node, args[0], ("datetime",))
        offset = "CAST(0 AS BIGINT)"
        if len(args) == 2:
            _require(compiler, node, args[1], INTEGERS, "offset")
            offset = _bigint(args[1][0])
        if not end:
            return _in_range(_period_start(period, args[0][0], offset)), "datetime"
        # the last instant of the period, 100 ns (one tick) before the next one: a nanosecond datetime
        # (ticks.py); past 2262, where DuckDB has none, the query fails instead of answering wrongly
        following = _period_start(period, args[0][0], f"({offset} + 1)")
        return f"make_timestamp_ns({_us(following)} * 1000 - 100)", DATETIME_NS

    return handler


for _period in ("day", "week", "month", "year"):
    register(f"startof{_period}")(_period_function(_period, False))
    register(f"endof{_period}")(_period_function(_period, True))


# --------------------------------------------------------------------------- constructors
@register("make_datetime")
def _make_datetime(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    if len(arguments) == 1:
        raise compiler.unsupported("make_datetime() of a single value", node)
    args = _compile(compiler, arguments, columns, node, 3, 5, 6)
    for arg in args[:5]:
        _require(compiler, node, arg, INTEGERS)
    _require(compiler, node, args[-1], NUMBERS)
    year, month, day = (_bigint(sql) for sql, _ in args[:3])
    hour, minute = (_bigint(sql) for sql, _ in args[3:5]) if len(args) >= 5 else ("0", "0")
    valid = [f"{year} BETWEEN 1 AND 9999", f"{month} BETWEEN 1 AND 12", f"{hour} BETWEEN 0 AND 23",
             f"{minute} BETWEEN 0 AND 59"]  # fmt: skip
    micros, extra_ticks = "0", 0
    if len(args) == 6:
        second, kind = args[5]
        ticks = f"({_double(second)} * 10000000.0)"
        constant_ticks = _constant(compiler, ticks)
        if kind in INTEGERS:
            micros = f"({_bigint(second)} * 1000000)"
        elif isinstance(constant_ticks, float) and constant_ticks == round(constant_ticks) and constant_ticks % 10:
            # constant seconds with a 100 ns digit: a nanosecond datetime (ticks.py)
            micros, extra_ticks = str(int(constant_ticks) // 10), int(constant_ticks) % 10
        else:
            what = "make_datetime() with seconds that are not whole microseconds"
            micros = _ticks_to_us(compiler, node, ticks, what)
        valid.append(f"{_double(second)} >= 0 AND {_double(second)} < 60")
    date = f"try(make_timestamp({year}, {month}, {day}, 0, 0, 0.0))"
    total = f"({_us(date)} + {hour} * {_DAY // 24} + {minute} * 60000000 + {micros})"
    if extra_ticks:
        return f"(CASE WHEN {' AND '.join(valid)} THEN make_timestamp_ns({total} * 1000 + {extra_ticks * 100}) END)", (
            DATETIME_NS)  # fmt: skip
    return f"(CASE WHEN {' AND '.join(valid)} THEN {_datetime_from_us(total)} END)", "datetime"


@register("make_timespan")
def _make_timespan(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    if len(arguments) == 1:
        raise compiler.unsupported("make_timespan() of a single value", node)
    args = _compile(compiler, arguments, columns, node, 2, 3, 4)
    days = _bigint(args[0][0]) if len(args) == 4 else "0"
    rest = args[1:] if len(args) == 4 else args
    for arg in args[:-1] if len(args) >= 3 else args:
        _require(compiler, node, arg, INTEGERS)
    hour, minute = _bigint(rest[0][0]), _bigint(rest[1][0])
    ranges = [f"{hour} BETWEEN 0 AND 23", f"{minute} BETWEEN 0 AND 59"]
    micros = "0"
    if len(rest) == 3:
        second, kind = rest[2]
        _require(compiler, node, rest[2], NUMBERS)
        if kind in INTEGERS:
            micros = f"({_bigint(second)} * 1000000)"
        else:
            what = "make_timespan() with seconds that are not whole microseconds"
            micros = _ticks_to_us(compiler, node, f"({_double(second)} * 10000000.0)", what)
        ranges.append(f"{_double(second)} >= 0 AND {_double(second)} < 60")
    if len(args) == 4:
        ranges.append(f"{days} >= 0")
    what = "make_timespan() with a part outside its documented range"
    total = f"((({days} * 24 + {hour}) * 60 + {minute}) * 60000000 + {micros})"
    return _checked(compiler, node, " AND ".join(ranges), _timespan_from_us(total), what), "timespan"


def _unixtime(ticks_per_unit: int) -> Handler:
    """unixtime_*_todatetime: a number of seconds / ms / us / ns since 1970 (10^7 / 10^4 / 10 / 0.01 ticks)."""

    def handler(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
        (arg,) = _compile(compiler, arguments, columns, node, 1)
        _require(compiler, node, arg, NUMBERS)
        name = _function_name(node)
        if arg[1] in INTEGERS:
            value = _bigint(arg[0])
            if ticks_per_unit >= 10:  # far outside any datetime: null, not an overflow
                limit = 9 * 10**18 // ticks_per_unit
                micros = f"(CASE WHEN abs({value}) < {limit} THEN {value} * {ticks_per_unit // 10} END)"
            else:
                what = f"{name}() of nanoseconds that are not whole microseconds"
                micros = _checked(compiler, node, f"{value} % 1000 = 0", f"({value} // 1000)", what)
        else:
            scale = f"* {ticks_per_unit}.0" if ticks_per_unit else "/ 100.0"
            ticks = f"({_double(arg[0])} {scale})"
            micros = _ticks_to_us(compiler, node, ticks, f"{name}() of a time that is not whole microseconds")
        return _datetime_from_us(micros), "datetime"

    return handler


register("unixtime_seconds_todatetime")(_unixtime(10_000_000))
register("unixtime_milliseconds_todatetime")(_unixtime(10_000))
register("unixtime_microseconds_todatetime")(_unixtime(10))
register("unixtime_nanoseconds_todatetime")(_unixtime(0))


# [-][d.]hh:mm[:ss[.fffffff]], .NET's TimeSpan text (what tostring() of a timespan prints)
_CLOCK = r"^\s*(-)?(?:(\d+)\.)?(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,7}))?)?\s*$"


@register("totimespan", "totime")
def _totimespan(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    (arg,) = _compile(compiler, arguments, columns, node, 1)
    if arg[1] == "timespan":
        return arg
    _require(compiler, node, arg, ("string",))
    text = arg[0]
    group = {name: f"regexp_extract({text}, {_quote(_CLOCK)}, {index})"
             for index, name in enumerate(("sign", "days", "hours", "minutes", "seconds", "fraction"), 1)}  # fmt: skip
    number = {name: f"CAST(coalesce(nullif({group[name]}, ''), '0') AS BIGINT)"
              for name in ("days", "hours", "minutes", "seconds")}  # fmt: skip
    fraction = f"CAST(rpad(coalesce(nullif({group['fraction']}, ''), '0'), 7, '0') AS BIGINT)"
    total = (f"((({number['days']} * 24 + {number['hours']}) * 60 + {number['minutes']}) * 60 + {number['seconds']})"
             f" * 1000000 + {fraction} // 10")  # fmt: skip
    signed = f"(CASE WHEN {group['sign']} = '-' THEN -1 ELSE 1 END) * ({total})"
    clock = f"regexp_matches({text}, {_quote(_CLOCK)})"
    ok = (f"NOT regexp_matches({text}, '[0-9]') OR ({clock} AND {number['hours']} <= 23 AND {number['minutes']} <= 59 "
          f"AND {number['seconds']} <= 59 AND {fraction} % 10 = 0)")  # fmt: skip
    # a string without a digit is no timespan in any notation: null, as documented
    value = f"(CASE WHEN NOT regexp_matches({text}, '[0-9]') THEN NULL ELSE {_timespan_from_us(signed)} END)"
    what = "totimespan() of a string with digits other than [-][d.]hh:mm[:ss[.ffffff]]"
    return _checked(compiler, node, f"({ok}) IS NOT FALSE", value, what), "timespan"


# --------------------------------------------------------------------------- todatetime of strings
_MONTHS = {name: index for index, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}  # fmt: skip
_RFC = re.compile(
    r"(?:[A-Za-z]+,\s*)?(\d{1,2})[ -]([A-Za-z]{3})[ -](\d{2}|\d{4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*(GMT|UTC|Z))?"
)
_OFFSET = re.compile(r"(.*\d)\s*([+-])(\d{2}):?(\d{2})")


def parse_kql_datetime(text: str) -> dt.datetime | None:
    """A string as todatetime() reads it: ISO 8601 (with Z or an offset), month-day-year and
    RFC 822/850; an empty string is null; another text refuses (Kusto's set of formats is larger)."""
    cleaned = text.strip()
    if cleaned == "":
        return None
    offset = dt.timedelta(0)
    with_offset = _OFFSET.fullmatch(cleaned)
    if with_offset and ":" in with_offset.group(1):  # a time followed by +hh:mm / -hhmm
        cleaned = with_offset.group(1)
        sign = 1 if with_offset.group(2) == "+" else -1
        offset = sign * dt.timedelta(hours=int(with_offset.group(3)), minutes=int(with_offset.group(4)))
    try:
        value = parse_datetime(cleaned)
    except ValueError:
        rfc = _RFC.fullmatch(cleaned)
        if not rfc or rfc.group(2).lower() not in _MONTHS:
            raise Refused(f"todatetime() of '{text[:40]}', a format the emulator does not read") from None
        day, month, year, hour, minute, second, _ = rfc.groups()
        full_year = int(year) + (2000 if len(year) == 2 else 0)  # RFC 822 two-digit years: 20xx
        value = dt.datetime(full_year, _MONTHS[month.lower()], int(day), int(hour), int(minute), int(second or 0))
    if getattr(value, "extra_ticks", 0):
        raise Refused("todatetime() of a time with 100 ns ticks")
    return value - offset


def _todatetime_udf(text: str) -> dt.datetime | None:
    return parse_kql_datetime(text)


@register("todatetime", "todate")
def _todatetime(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    check_arity(node, arguments, 1, 1)
    sql, kind = compiler.expr(arguments[0], columns)
    if kind in ("datetime", "datetime_ns"):
        return sql, kind
    if kind not in ("string", "dynamic", "unknown"):
        raise compiler.unsupported(f"todatetime() of a {kind} value", node)
    ensure_udfs(compiler, _UDFS)
    return f"kqlm_todatetime({compiler.as_string(sql, kind)})", "datetime"


_UDFS: list[Udf] = [("kqlm_todatetime", _todatetime_udf, ["VARCHAR"], "TIMESTAMP")]


# --------------------------------------------------------------------------- formatting
_DELIMITERS = " /-:,._[]"
_FORMAT_TOKEN = re.compile(r"d+|f+|F+|h+|H+|m+|M+|s+|y+|t+|.", re.S)


def _padded(sql: str, width: int) -> str:
    return f"printf('%0{width}d', {sql})" if width > 1 else f"CAST({sql} AS VARCHAR)"


def _numbers(letter: str, sql: str, widths: tuple[int, ...]) -> dict[str, str]:
    return {letter * width: _padded(sql, width) for width in widths}


def _format(compiler: Compiler, node: Node, fmt: str, elements: dict[str, str], micros: str) -> str:
    """SQL concatenating the format's elements (a token -> SQL map), delimiters and fractions of a second."""
    name = _function_name(node)
    if len(fmt) < 2:  # one letter alone is a .NET standard format, not these custom elements
        raise compiler.unsupported(f"{name}() with the format '{fmt}'", node)
    parts, previous = [], ""
    for token in _FORMAT_TOKEN.findall(fmt):
        if token in _DELIMITERS:
            parts.append(_quote(token))
        elif token[0] in "fF" and len(token) <= 7:
            # .NET: f.. the first n of the 7 tick digits; F.. the same without trailing zeros (nothing for 0)
            digits = f"substr(printf('%07d', {micros} * 10), 1, {len(token)})"
            if token[0] == "F" and previous == ".":
                raise compiler.unsupported(f"{name}() with '.F' (whether the '.' is dropped is not documented)", node)
            parts.append(digits if token[0] == "f" else f"rtrim({digits}, '0')")
        elif token in elements:
            parts.append(elements[token])
        else:
            raise compiler.unsupported(f"{name}() with the format element '{token}'", node)
        previous = token
    return " || ".join(parts)


@register("format_datetime")
def _format_datetime(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    date, fmt_arg = _compile(compiler, arguments, columns, node, 2)
    _require(compiler, node, date, ("datetime",))
    fmt = _string_constant(compiler, node, fmt_arg, "format")
    d = date[0]
    elements = {
        **_numbers("d", f"day({d})", (1, 2)), **_numbers("M", f"month({d})", (1, 2)),
        **_numbers("H", f"hour({d})", (1, 2)), **_numbers("h", f"((hour({d}) + 11) % 12 + 1)", (1, 2)),
        **_numbers("m", f"minute({d})", (1, 2)), **_numbers("s", f"second({d})", (1, 2)),
        **_numbers("y", f"(year({d}) % 100)", (1, 2)), "yyyy": _padded(f"year({d})", 4),
        "tt": f"(CASE WHEN hour({d}) < 12 THEN 'AM' ELSE 'PM' END)",
    }  # fmt: skip
    text = _format(compiler, node, fmt, elements, _fmod(_us(d), "1000000"))
    return f"(CASE WHEN {d} IS NULL THEN '' ELSE {text} END)", "string"


@register("format_timespan")
def _format_timespan(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    span, fmt_arg = _compile(compiler, arguments, columns, node, 2)
    _require(compiler, node, span, ("timespan",))
    fmt = _string_constant(compiler, node, fmt_arg, "format")
    u = _us(span[0])
    hours = f"(({u} // 3600000000) % 24)"
    elements = {
        **_numbers("d", f"({u} // {_DAY})", tuple(range(1, 9))), **_numbers("H", hours, (1, 2)),
        **_numbers("h", hours, (1, 2)), **_numbers("m", f"(({u} // 60000000) % 60)", (1, 2)),
        **_numbers("s", f"(({u} // 1000000) % 60)", (1, 2)),
    }  # fmt: skip
    text = _format(compiler, node, fmt, elements, f"({u} % 1000000)")
    value = _checked(compiler, node, f"{u} >= 0", text, "format_timespan() of a negative timespan")
    return f"(CASE WHEN {span[0]} IS NULL THEN '' ELSE {value} END)", "string"


# --------------------------------------------------------------------------- time zones (DuckDB's ICU)
def _timezone(compiler: Compiler, node: Node, arg: Arg) -> str:
    _require(compiler, node, arg, ("string",), "time zone")
    zone = _constant(compiler, arg[0])
    if isinstance(zone, str):
        try:
            compiler.engine.connection.execute(f"SELECT timezone({_quote(zone)}, TIMESTAMPTZ '2000-01-01 00:00:00')")
        except duckdb.Error:
            raise compiler.unsupported(f"the time zone '{zone}'", node) from None
    return arg[0]


@register("datetime_utc_to_local")
def _utc_to_local(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    date, zone_arg = _compile(compiler, arguments, columns, node, 2)
    _require(compiler, node, date, ("datetime",))
    zone = _timezone(compiler, node, zone_arg)
    return _in_range(f"timezone({zone}, CAST({date[0]} AS TIMESTAMPTZ))"), "datetime"


_LOCAL_TO_UTC_MACROS = [
    # the wall-clock time in zone z of the UTC instant u, and the UTC instant wall time l would be at offset o
    "CREATE MACRO kql_tz_local(u, z) AS timezone(z, CAST(u AS TIMESTAMPTZ))",
    "CREATE MACRO kql_tz_candidate(l, z, u) AS l - (kql_tz_local(u, z) - u)",
    # local wall time l in zone z -> UTC. The offsets a day before and after ICU's answer give the one or two
    # instants that may show l; one that does is the answer; none (a skipped hour) or two (a repeated hour)
    # is a time the documentation resolves differently from ICU: refused.
    "CREATE MACRO kql_local_to_utc(l, z) AS (SELECT CASE "
    "WHEN l IS NULL OR z IS NULL THEN NULL "
    "WHEN kql_tz_local(c1, z) = l AND (c1 = c2 OR kql_tz_local(c2, z) <> l) THEN c1 "
    "WHEN kql_tz_local(c2, z) = l AND kql_tz_local(c1, z) <> l THEN c2 "
    "ELSE error('the emulator does not support datetime_local_to_utc() of a local time skipped or repeated "
    "by a daylight saving change') END "
    "FROM (SELECT kql_tz_candidate(l, z, u - INTERVAL 1 DAY) AS c1, kql_tz_candidate(l, z, u + INTERVAL 1 DAY) "
    "AS c2 FROM (SELECT CAST(timezone(z, l) AS TIMESTAMP) AS u)))",
]


def _ensure_macros(compiler: Compiler, macros: list[str]) -> None:
    for macro in macros:
        with contextlib.suppress(duckdb.CatalogException):  # made by an earlier query on this connection
            compiler.engine.connection.execute(macro)


@register("datetime_local_to_utc")
def _local_to_utc(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    date, zone_arg = _compile(compiler, arguments, columns, node, 2)
    _require(compiler, node, date, ("datetime",))
    zone = _timezone(compiler, node, zone_arg)
    _ensure_macros(compiler, _LOCAL_TO_UTC_MACROS)
    return _in_range(f"kql_local_to_utc({date[0]}, {zone})"), "datetime"


# --------------------------------------------------------------------------- unit conversions
# From UnitsNet 4.x (the unit lists of the KQL documentation are exactly those of UnitsNet between the
# commits "Add Length.DataMile" and "Add Mach speed unit", 2022): per quantity, the base unit, and per
# unit the C# double expressions to the base unit and from it. UnitsNet converts from -> base -> to,
# directly when one side is the base unit, and returns the value unchanged when from == to.
_UNITS: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {
    "angle": ("Degree", {
        "Arcminute": ("{x} / 60", "{x} * 60"),
        "Arcsecond": ("{x} / 3600", "{x} * 3600"),
        "Centiradian": ("({x} * 180 / Math.PI) * 1e-2d", "({x} / 180 * Math.PI) / 1e-2d"),
        "Deciradian": ("({x} * 180 / Math.PI) * 1e-1d", "({x} / 180 * Math.PI) / 1e-1d"),
        "Gradian": ("{x} * 0.9", "{x} / 0.9"),
        "Microdegree": ("({x}) * 1e-6d", "({x}) / 1e-6d"),
        "Microradian": ("({x} * 180 / Math.PI) * 1e-6d", "({x} / 180 * Math.PI) / 1e-6d"),
        "Millidegree": ("({x}) * 1e-3d", "({x}) / 1e-3d"),
        "Milliradian": ("({x} * 180 / Math.PI) * 1e-3d", "({x} / 180 * Math.PI) / 1e-3d"),
        "Nanodegree": ("({x}) * 1e-9d", "({x}) / 1e-9d"),
        "Nanoradian": ("({x} * 180 / Math.PI) * 1e-9d", "({x} / 180 * Math.PI) / 1e-9d"),
        "NatoMil": ("{x} * 9 / 160", "{x} * 160 / 9"),
        "Radian": ("{x} * 180 / Math.PI", "{x} / 180 * Math.PI"),
        "Revolution": ("{x} * 360", "{x} / 360"),
        "Tilt": ("Math.Asin({x}) * 180 / Math.PI", "Math.Sin({x} / 180 * Math.PI)"),
    }),
    "energy": ("Joule", {
        "BritishThermalUnit": ("{x} * 1055.05585262", "{x} / 1055.05585262"),
        "Calorie": ("{x} * 4.184", "{x} / 4.184"),
        "DecathermEc": ("({x} * 1.05505585262e8) * 1e1d", "({x} / 1.05505585262e8) / 1e1d"),
        "DecathermImperial": ("({x} * 1.05505585257348e8) * 1e1d", "({x} / 1.05505585257348e8) / 1e1d"),
        "DecathermUs": ("({x} * 1.054804e8) * 1e1d", "({x} / 1.054804e8) / 1e1d"),
        "ElectronVolt": ("{x} * 1.602176565e-19", "{x} / 1.602176565e-19"),
        "Erg": ("{x} * 1e-7", "{x} / 1e-7"),
        "FootPound": ("{x} * 1.355817948", "{x} / 1.355817948"),
        "GigabritishThermalUnit": ("({x} * 1055.05585262) * 1e9d", "({x} / 1055.05585262) / 1e9d"),
        "GigaelectronVolt": ("({x} * 1.602176565e-19) * 1e9d", "({x} / 1.602176565e-19) / 1e9d"),
        "Gigajoule": ("({x}) * 1e9d", "({x}) / 1e9d"),
        "GigawattDay": ("({x} * 24 * 3600d) * 1e9d", "({x} / (24 * 3600d)) / 1e9d"),
        "GigawattHour": ("({x} * 3600d) * 1e9d", "({x} / 3600d) / 1e9d"),
        "HorsepowerHour": ("{x} * 2.6845195377e6", "{x} / 2.6845195377e6"),
        "KilobritishThermalUnit": ("({x} * 1055.05585262) * 1e3d", "({x} / 1055.05585262) / 1e3d"),
        "Kilocalorie": ("({x} * 4.184) * 1e3d", "({x} / 4.184) / 1e3d"),
        "KiloelectronVolt": ("({x} * 1.602176565e-19) * 1e3d", "({x} / 1.602176565e-19) / 1e3d"),
        "Kilojoule": ("({x}) * 1e3d", "({x}) / 1e3d"),
        "KilowattDay": ("({x} * 24 * 3600d) * 1e3d", "({x} / (24 * 3600d)) / 1e3d"),
        "KilowattHour": ("({x} * 3600d) * 1e3d", "({x} / 3600d) / 1e3d"),
        "MegabritishThermalUnit": ("({x} * 1055.05585262) * 1e6d", "({x} / 1055.05585262) / 1e6d"),
        "Megacalorie": ("({x} * 4.184) * 1e6d", "({x} / 4.184) / 1e6d"),
        "MegaelectronVolt": ("({x} * 1.602176565e-19) * 1e6d", "({x} / 1.602176565e-19) / 1e6d"),
        "Megajoule": ("({x}) * 1e6d", "({x}) / 1e6d"),
        "MegawattDay": ("({x} * 24 * 3600d) * 1e6d", "({x} / (24 * 3600d)) / 1e6d"),
        "MegawattHour": ("({x} * 3600d) * 1e6d", "({x} / 3600d) / 1e6d"),
        "Millijoule": ("({x}) * 1e-3d", "({x}) / 1e-3d"),
        "TeraelectronVolt": ("({x} * 1.602176565e-19) * 1e12d", "({x} / 1.602176565e-19) / 1e12d"),
        "TerawattDay": ("({x} * 24 * 3600d) * 1e12d", "({x} / (24 * 3600d)) / 1e12d"),
        "TerawattHour": ("({x} * 3600d) * 1e12d", "({x} / 3600d) / 1e12d"),
        "ThermEc": ("{x} * 1.05505585262e8", "{x} / 1.05505585262e8"),
        "ThermImperial": ("{x} * 1.05505585257348e8", "{x} / 1.05505585257348e8"),
        "ThermUs": ("{x} * 1.054804e8", "{x} / 1.054804e8"),
        "WattDay": ("{x} * 24 * 3600d", "{x} / (24 * 3600d)"),
        "WattHour": ("{x} * 3600d", "{x} / 3600d"),
    }),
    "force": ("Newton", {
        "Decanewton": ("({x}) * 1e1d", "({x}) / 1e1d"),
        "Dyn": ("{x} / 1e5", "{x} * 1e5"),
        "KiloPond": ("{x} * 9.80665002864", "{x} / 9.80665002864"),
        "KilogramForce": ("{x} * 9.80665002864", "{x} / 9.80665002864"),
        "Kilonewton": ("({x}) * 1e3d", "({x}) / 1e3d"),
        "KilopoundForce": (
            "({x} * 4.4482216152605095551842641431421) * 1e3d", "({x} / 4.4482216152605095551842641431421) / 1e3d"),
        "Meganewton": ("({x}) * 1e6d", "({x}) / 1e6d"),
        "Micronewton": ("({x}) * 1e-6d", "({x}) / 1e-6d"),
        "Millinewton": ("({x}) * 1e-3d", "({x}) / 1e-3d"),
        "OunceForce": ("{x} * 2.780138509537812e-1", "{x} / 2.780138509537812e-1"),
        "PoundForce": ("{x} * 4.4482216152605095551842641431421", "{x} / 4.4482216152605095551842641431421"),
        "Poundal": ("{x} * 0.13825502798973041652092282466083", "{x} / 0.13825502798973041652092282466083"),
        "ShortTonForce": ("{x} * 8.896443230521e3", "{x} / 8.896443230521e3"),
        "TonneForce": ("{x} * 9.80665002864e3", "{x} / 9.80665002864e3"),
    }),
    "length": ("Meter", {
        "Angstrom": ("{x} * 1e-10", "{x} / 1e-10"),
        "AstronomicalUnit": ("{x} * 1.4959787070e11", "{x} / 1.4959787070e11"),
        "Centimeter": ("({x}) * 1e-2d", "({x}) / 1e-2d"),
        "Chain": ("{x} * 20.1168", "{x} / 20.1168"),
        "DataMile": ("{x} * 1828.8", "{x} / 1828.8"),
        "Decameter": ("({x}) * 1e1d", "({x}) / 1e1d"),
        "Decimeter": ("({x}) * 1e-1d", "({x}) / 1e-1d"),
        "DtpPica": ("{x} / 236.220472441", "{x} * 236.220472441"),
        "DtpPoint": ("({x} / 72) * 2.54e-2", "({x} / 2.54e-2) * 72"),
        "Fathom": ("{x} * 1.8288", "{x} / 1.8288"),
        "Foot": ("{x} * 0.3048", "{x} / 0.3048"),
        "Hand": ("{x} * 1.016e-1", "{x} / 1.016e-1"),
        "Hectometer": ("({x}) * 1e2d", "({x}) / 1e2d"),
        "Inch": ("{x} * 2.54e-2", "{x} / 2.54e-2"),
        "KilolightYear": ("({x} * 9.46073047258e15) * 1e3d", "({x} / 9.46073047258e15) / 1e3d"),
        "Kilometer": ("({x}) * 1e3d", "({x}) / 1e3d"),
        "Kiloparsec": ("({x} * 3.08567758128e16) * 1e3d", "({x} / 3.08567758128e16) / 1e3d"),
        "LightYear": ("{x} * 9.46073047258e15", "{x} / 9.46073047258e15"),
        "MegalightYear": ("({x} * 9.46073047258e15) * 1e6d", "({x} / 9.46073047258e15) / 1e6d"),
        "Megaparsec": ("({x} * 3.08567758128e16) * 1e6d", "({x} / 3.08567758128e16) / 1e6d"),
        "Microinch": ("{x} * 2.54e-8", "{x} / 2.54e-8"),
        "Micrometer": ("({x}) * 1e-6d", "({x}) / 1e-6d"),
        "Mil": ("{x} * 2.54e-5", "{x} / 2.54e-5"),
        "Mile": ("{x} * 1609.34", "{x} / 1609.34"),
        "Millimeter": ("({x}) * 1e-3d", "({x}) / 1e-3d"),
        "Nanometer": ("({x}) * 1e-9d", "({x}) / 1e-9d"),
        "NauticalMile": ("{x} * 1852", "{x} / 1852"),
        "Parsec": ("{x} * 3.08567758128e16", "{x} / 3.08567758128e16"),
        "PrinterPica": ("{x} / 237.106301584", "{x} * 237.106301584"),
        "PrinterPoint": ("({x} / 72.27) * 2.54e-2", "({x} / 2.54e-2) * 72.27"),
        "Shackle": ("{x} * 27.432", "{x} / 27.432"),
        "SolarRadius": ("{x} * 6.95510000E+08", "{x} / 6.95510000E+08"),
        "Twip": ("{x} / 56692.913385826", "{x} * 56692.913385826"),
        "UsSurveyFoot": ("{x} * 1200 / 3937", "{x} * 3937 / 1200"),
        "Yard": ("{x} * 0.9144", "{x} / 0.9144"),
    }),
    "mass": ("Kilogram", {
        "Centigram": ("({x} / 1e3) * 1e-2d", "({x} * 1e3) / 1e-2d"),
        "Decagram": ("({x} / 1e3) * 1e1d", "({x} * 1e3) / 1e1d"),
        "Decigram": ("({x} / 1e3) * 1e-1d", "({x} * 1e3) / 1e-1d"),
        "EarthMass": ("{x} * 5.9722E+24", "{x} / 5.9722E+24"),
        "Grain": ("{x} / 15432.358352941431", "{x} * 15432.358352941431"),
        "Gram": ("{x} / 1e3", "{x} * 1e3"),
        "Hectogram": ("({x} / 1e3) * 1e2d", "({x} * 1e3) / 1e2d"),
        "Kilopound": ("({x} * 0.45359237) * 1e3d", "({x} / 0.45359237) / 1e3d"),
        "Kilotonne": ("({x} * 1e3) * 1e3d", "({x} / 1e3) / 1e3d"),
        "LongHundredweight": ("{x} / 0.01968413055222121", "{x} * 0.01968413055222121"),
        "LongTon": ("{x} * 1.0160469088e3", "{x} / 1.0160469088e3"),
        "Megapound": ("({x} * 0.45359237) * 1e6d", "({x} / 0.45359237) / 1e6d"),
        "Megatonne": ("({x} * 1e3) * 1e6d", "({x} / 1e3) / 1e6d"),
        "Microgram": ("({x} / 1e3) * 1e-6d", "({x} * 1e3) / 1e-6d"),
        "Milligram": ("({x} / 1e3) * 1e-3d", "({x} * 1e3) / 1e-3d"),
        "Nanogram": ("({x} / 1e3) * 1e-9d", "({x} * 1e3) / 1e-9d"),
        "Ounce": ("{x} / 35.2739619", "{x} * 35.2739619"),
        "Pound": ("{x} * 0.45359237", "{x} / 0.45359237"),
        "ShortHundredweight": ("{x} / 0.022046226218487758", "{x} * 0.022046226218487758"),
        "ShortTon": ("{x} * 9.0718474e2", "{x} / 9.0718474e2"),
        "Slug": ("{x} / 6.852176556196105e-2", "{x} * 6.852176556196105e-2"),
        "SolarMass": ("{x} * 1.98947e30", "{x} / 1.98947e30"),
        "Stone": ("{x} / 0.1574731728702698", "{x} * 0.1574731728702698"),
        "Tonne": ("{x} * 1e3", "{x} / 1e3"),
    }),
    "speed": ("MeterPerSecond", {
        "CentimeterPerHour": ("({x} / 3600) * 1e-2d", "({x} * 3600) / 1e-2d"),
        "CentimeterPerMinute": ("({x} / 60) * 1e-2d", "({x} * 60) / 1e-2d"),
        "CentimeterPerSecond": ("({x}) * 1e-2d", "({x}) / 1e-2d"),
        "DecimeterPerMinute": ("({x} / 60) * 1e-1d", "({x} * 60) / 1e-1d"),
        "DecimeterPerSecond": ("({x}) * 1e-1d", "({x}) / 1e-1d"),
        "FootPerHour": ("{x} * 0.3048 / 3600", "{x} / 0.3048 * 3600"),
        "FootPerMinute": ("{x} * 0.3048 / 60", "{x} / 0.3048 * 60"),
        "FootPerSecond": ("{x} * 0.3048", "{x} / 0.3048"),
        "InchPerHour": ("({x} / 3600) * 2.54e-2", "({x} / 2.54e-2) * 3600"),
        "InchPerMinute": ("({x} / 60) * 2.54e-2", "({x} / 2.54e-2) * 60"),
        "InchPerSecond": ("{x} * 2.54e-2", "{x} / 2.54e-2"),
        "KilometerPerHour": ("({x} / 3600) * 1e3d", "({x} * 3600) / 1e3d"),
        "KilometerPerMinute": ("({x} / 60) * 1e3d", "({x} * 60) / 1e3d"),
        "KilometerPerSecond": ("({x}) * 1e3d", "({x}) / 1e3d"),
        "Knot": ("{x} * 0.514444", "{x} / 0.514444"),
        "MeterPerHour": ("{x} / 3600", "{x} * 3600"),
        "MeterPerMinute": ("{x} / 60", "{x} * 60"),
        "MicrometerPerMinute": ("({x} / 60) * 1e-6d", "({x} * 60) / 1e-6d"),
        "MicrometerPerSecond": ("({x}) * 1e-6d", "({x}) / 1e-6d"),
        "MilePerHour": ("{x} * 0.44704", "{x} / 0.44704"),
        "MillimeterPerHour": ("({x} / 3600) * 1e-3d", "({x} * 3600) / 1e-3d"),
        "MillimeterPerMinute": ("({x} / 60) * 1e-3d", "({x} * 60) / 1e-3d"),
        "MillimeterPerSecond": ("({x}) * 1e-3d", "({x}) / 1e-3d"),
        "NanometerPerMinute": ("({x} / 60) * 1e-9d", "({x} * 60) / 1e-9d"),
        "NanometerPerSecond": ("({x}) * 1e-9d", "({x}) / 1e-9d"),
        "UsSurveyFootPerHour": ("({x} * 1200 / 3937) / 3600", "({x} * 3937 / 1200) * 3600"),
        "UsSurveyFootPerMinute": ("({x} * 1200 / 3937) / 60", "({x} * 3937 / 1200) * 60"),
        "UsSurveyFootPerSecond": ("{x} * 1200 / 3937", "{x} * 3937 / 1200"),
        "YardPerHour": ("{x} * 0.9144 / 3600", "{x} / 0.9144 * 3600"),
        "YardPerMinute": ("{x} * 0.9144 / 60", "{x} / 0.9144 * 60"),
        "YardPerSecond": ("{x} * 0.9144", "{x} / 0.9144"),
    }),
    "volume": ("CubicMeter", {
        "AcreFoot": ("{x} / 0.000810714", "{x} * 0.000810714"),
        "AuTablespoon": ("{x} * 2e-5", "{x} / 2e-5"),
        "BoardFoot": ("{x} * 2.3597372158e-3", "{x} / 2.3597372158e-3"),
        "Centiliter": ("({x} / 1e3) * 1e-2d", "({x} * 1e3) / 1e-2d"),
        "CubicCentimeter": ("{x} / 1e6", "{x} * 1e6"),
        "CubicDecimeter": ("{x} / 1e3", "{x} * 1e3"),
        "CubicFoot": ("{x} * 2.8316846592e-2", "{x} / 2.8316846592e-2"),
        "CubicHectometer": ("{x} * 1e6", "{x} / 1e6"),
        "CubicInch": ("{x} * 1.6387 * 1e-5", "{x} / (1.6387 * 1e-5)"),
        "CubicKilometer": ("{x} * 1e9", "{x} / 1e9"),
        "CubicMicrometer": ("{x} / 1e18", "{x} * 1e18"),
        "CubicMile": ("{x} * 4.16818182544058e9", "{x} / 4.16818182544058e9"),
        "CubicMillimeter": ("{x} / 1e9", "{x} * 1e9"),
        "CubicYard": ("{x} * 0.764554858", "{x} / 0.764554858"),
        "Decaliter": ("({x} / 1e3) * 1e1d", "({x} * 1e3) / 1e1d"),
        "DecausGallon": ("({x} * 0.00378541) * 1e1d", "({x} / 0.00378541) / 1e1d"),
        "Deciliter": ("({x} / 1e3) * 1e-1d", "({x} * 1e3) / 1e-1d"),
        "DeciusGallon": ("({x} * 0.00378541) * 1e-1d", "({x} / 0.00378541) / 1e-1d"),
        "HectocubicFoot": ("({x} * 2.8316846592e-2) * 1e2d", "({x} / 2.8316846592e-2) / 1e2d"),
        "HectocubicMeter": ("({x}) * 1e2d", "({x}) / 1e2d"),
        "Hectoliter": ("({x} / 1e3) * 1e2d", "({x} * 1e3) / 1e2d"),
        "HectousGallon": ("({x} * 0.00378541) * 1e2d", "({x} / 0.00378541) / 1e2d"),
        "ImperialBeerBarrel": ("{x} * 0.16365924", "{x} / 0.16365924"),
        "ImperialGallon": ("{x} * 0.00454609000000181429905810072407", "{x} / 0.00454609000000181429905810072407"),
        "ImperialOunce": ("{x} * 2.8413062499962901241875439064617e-5", "{x} / 2.8413062499962901241875439064617e-5"),
        "ImperialPint": ("{x} * 5.6826125e-4", "{x} / 5.6826125e-4"),
        "KilocubicFoot": ("({x} * 2.8316846592e-2) * 1e3d", "({x} / 2.8316846592e-2) / 1e3d"),
        "KilocubicMeter": ("({x}) * 1e3d", "({x}) / 1e3d"),
        "KiloimperialGallon": (
            "({x} * 0.00454609000000181429905810072407) * 1e3d", "({x} / 0.00454609000000181429905810072407) / 1e3d"),
        "Kiloliter": ("({x} / 1e3) * 1e3d", "({x} * 1e3) / 1e3d"),
        "KilousGallon": ("({x} * 0.00378541) * 1e3d", "({x} / 0.00378541) / 1e3d"),
        "Liter": ("{x} / 1e3", "{x} * 1e3"),
        "MegacubicFoot": ("({x} * 2.8316846592e-2) * 1e6d", "({x} / 2.8316846592e-2) / 1e6d"),
        "MegaimperialGallon": (
            "({x} * 0.00454609000000181429905810072407) * 1e6d", "({x} / 0.00454609000000181429905810072407) / 1e6d"),
        "Megaliter": ("({x} / 1e3) * 1e6d", "({x} * 1e3) / 1e6d"),
        "MegausGallon": ("({x} * 0.00378541) * 1e6d", "({x} / 0.00378541) / 1e6d"),
        "MetricCup": ("{x} * 0.00025", "{x} / 0.00025"),
        "MetricTeaspoon": ("{x} * 0.5e-5", "{x} / 0.5e-5"),
        "Microliter": ("({x} / 1e3) * 1e-6d", "({x} * 1e3) / 1e-6d"),
        "Milliliter": ("({x} / 1e3) * 1e-3d", "({x} * 1e3) / 1e-3d"),
        "OilBarrel": ("{x} * 0.158987294928", "{x} / 0.158987294928"),
        "UkTablespoon": ("{x} * 1.5e-5", "{x} / 1.5e-5"),
        "UsBeerBarrel": ("{x} * 0.1173477658", "{x} / 0.1173477658"),
        "UsCustomaryCup": ("{x} * 0.0002365882365", "{x} / 0.0002365882365"),
        "UsGallon": ("{x} * 0.00378541", "{x} / 0.00378541"),
        "UsLegalCup": ("{x} * 0.00024", "{x} / 0.00024"),
        "UsOunce": ("{x} * 2.957352956253760505068307980135e-5", "{x} / 2.957352956253760505068307980135e-5"),
        "UsPint": ("{x} * 4.73176473e-4", "{x} / 4.73176473e-4"),
        "UsQuart": ("{x} * 9.46352946e-4", "{x} / 9.46352946e-4"),
        "UsTablespoon": ("{x} * 1.478676478125e-5", "{x} / 1.478676478125e-5"),
        "UsTeaspoon": ("{x} * 4.92892159375e-6", "{x} / 4.92892159375e-6"),
    }),
    "temperature": ("Kelvin", {
        "DegreeCelsius": ("{x} + 273.15", "{x} - 273.15"),
        "DegreeDelisle": ("{x} * -2 / 3 + 373.15", "({x} - 373.15) * -3 / 2"),
        "DegreeFahrenheit": ("{x} * 5 / 9 + 459.67 * 5 / 9", "({x} - 459.67 * 5 / 9) * 9 / 5"),
        "DegreeNewton": ("{x} * 100 / 33 + 273.15", "({x} - 273.15) * 33 / 100"),
        "DegreeRankine": ("{x} * 5 / 9", "{x} * 9 / 5"),
        "DegreeReaumur": ("{x} * 5 / 4 + 273.15", "({x} - 273.15) * 4 / 5"),
        "DegreeRoemer": ("{x} * 40 / 21 + 273.15 - 7.5 * 40d / 21", "({x} - (273.15 - 7.5 * 40d / 21)) * 21 / 40"),
        "MillidegreeCelsius": ("{x} / 1000 + 273.15", "({x} - 273.15) * 1000"),
        "SolarTemperature": ("{x} * 5778", "{x} / 5778"),
    }),
}  # fmt: skip


def _unit_sql(expression: str, value: str) -> str:
    """A UnitsNet C# double expression as DuckDB SQL: every literal read as a double, like C# does."""
    sql = expression.replace("Math.PI", "pi()").replace("Math.Asin", "asin").replace("Math.Sin", "sin")
    sql = re.sub(r"(?<![\w.])(\d+(?:\.\d+)?(?:e-?\d+)?)d?\b", lambda m: f"CAST('{m.group(1)}' AS DOUBLE)", sql)
    return "(" + sql.replace("{x}", value) + ")"


def _convert(quantity: str) -> Handler:
    base, units = _UNITS[quantity]

    def handler(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
        value, source, target = _compile(compiler, arguments, columns, node, 3)
        _require(compiler, node, value, NUMBERS)
        names = [_string_constant(compiler, node, arg, "unit") for arg in (source, target)]
        known = {base, *units}
        for name in names:
            if name not in known and name.lower() in {unit.lower() for unit in known}:
                raise compiler.unsupported(f"{_function_name(node)}() with the unit '{name}' in another case", node)
        if any(name not in known for name in names):
            return "CAST(NULL AS DOUBLE)", "real"  # documented: invalid units return null
        sql = _double(value[0])
        if names[0] == names[1]:
            return sql, "real"
        if names[0] != base:
            sql = _unit_sql(units[names[0]][0], sql)
        if names[1] != base:
            sql = _unit_sql(units[names[1]][1], sql)
        return sql, "real"

    return handler


for _quantity in _UNITS:
    register(f"convert_{_quantity}")(_convert(_quantity))
