"""Miscellaneous scalar functions: todatetime of strings, assert, beta distribution, format_bytes,
gzip, punycode, URL query parsing, column_names_of and bin_auto.

Where a function needs Python (parsing, codecs, special functions), it is a DuckDB Python UDF
registered once per connection (`_ensure_udfs`). Anything whose Kusto answer is not documented
well enough to reproduce exactly raises an error on that row (EMU002) instead of guessing.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import gzip
import json
import math
import re
import urllib.parse
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ...kql.names import name_text
from ...kql.syntax import Node
from ..engine import EmulatorError
from . import register

if TYPE_CHECKING:
    from ..compiler import Compiler

Columns = list[tuple[str, str]]


class _Refused(ValueError):
    """Raised inside a UDF where Kusto's answer is unknown: the query fails instead of answering."""


def _offset(node: Node) -> int:
    token = node.first_token()
    return token.start if token is not None else 0


def _arity(node: Node, arguments: list[Node], low: int, high: int) -> None:
    if not low <= len(arguments) <= high:
        name = name_text(node["callee"])
        raise EmulatorError("EMU006", f"wrong number of arguments for '{name}'", _offset(node))


def _string_sql(compiler: Compiler, argument: Node, columns: Columns) -> str:
    sql, kind = compiler.expr(argument, columns)
    return compiler.as_string(sql, kind)


# --------------------------------------------------------------------------- todatetime
_MONTHS = {name: index for index, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}  # fmt: skip
_RFC = re.compile(
    r"(?:[A-Za-z]+,\s*)?(\d{1,2})[ -]([A-Za-z]{3})[ -](\d{2}|\d{4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*(GMT|UTC|Z))?"
)
_OFFSET = re.compile(r"(.*\d)\s*([+-])(\d{2}):?(\d{2})")


def parse_kql_datetime(text: str) -> dt.datetime | None:
    """A string as todatetime() reads it: ISO 8601 (with Z or an offset), month-day-year and
    RFC 822/850; an empty string is null; another text refuses (Kusto's set of formats is larger)."""
    from ..compiler import parse_datetime

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
            raise _Refused(f"todatetime() of '{text[:40]}', a format the emulator does not read") from None
        day, month, year, hour, minute, second, _ = rfc.groups()
        full_year = int(year) + (2000 if len(year) == 2 else 0)  # RFC 822 two-digit years: 20xx
        value = dt.datetime(full_year, _MONTHS[month.lower()], int(day), int(hour), int(minute), int(second or 0))
    if getattr(value, "extra_ticks", 0):
        raise _Refused("todatetime() of a time with 100 ns ticks")
    return value - offset


def _todatetime_udf(text: str) -> dt.datetime | None:
    return parse_kql_datetime(text)


@register("todatetime", "todate")
def _todatetime(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    _arity(node, arguments, 1, 1)
    sql, kind = compiler.expr(arguments[0], columns)
    if kind in ("datetime", "datetime_ns"):
        return sql, kind
    if kind not in ("string", "dynamic", "unknown"):
        raise compiler.unsupported(f"todatetime() of a {kind} value", node)
    ensure_udfs(compiler)
    return f"kqlm_todatetime({compiler.as_string(sql, kind)})", "datetime"


# --------------------------------------------------------------------------- assert
@register("assert")
def _assert(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    _arity(node, arguments, 2, 2)
    condition, _ = compiler.expr(arguments[0], columns)
    message = _string_sql(compiler, arguments[1], columns)
    # Kusto stops the query with the message when the condition is false
    return f"(CASE WHEN {condition} THEN true ELSE error('assert() failed: ' || {message}) END)", "bool"


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
    raise _Refused("beta_cdf(): the series did not converge")


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
        raise _Refused("beta_cdf() with a shape of zero")
    return regularized_beta(x, a, b)


def _beta_inv_udf(p: float, a: float, b: float) -> float | None:
    if math.isnan(p) or math.isnan(a) or math.isnan(b):
        return math.nan
    if a < 0 or b < 0:
        return math.nan  # documented: a negative shape gives NaN
    if p < 0 or p > 1:
        return None  # documented: p outside [0, 1] gives null
    if a == 0 or b == 0 or p in (0.0, 1.0):
        raise _Refused("beta_inv() at the edge of its domain")
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
        _arity(node, arguments, 3, 3)
        values = []
        for argument in arguments:
            sql, kind = compiler.expr(argument, columns)
            if kind not in ("int", "long", "real", "decimal", "unknown"):
                raise compiler.unsupported(f"{name}() of a {kind} value", argument)
            values.append(f"CAST({sql} AS DOUBLE)")
        ensure_udfs(compiler)
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
        raise _Refused("format_bytes() of a negative or non-finite size, or an unusual precision")
    if units:
        matches = [u for u in _UNITS if u.lower() == units.lower()]
        if not matches:
            raise _Refused(f"format_bytes() with the unit '{units}'")
        power = _UNITS.index(matches[0])
    else:
        power = 0
        while power + 1 < len(_UNITS) and size >= 1024 ** (power + 1):
            power += 1
    scaled = size / 1024**power
    shifted = scaled * 10**precision
    if shifted - math.floor(shifted) == 0.5:
        raise _Refused("format_bytes() of a value halfway between two roundings")
    text = f"{scaled:.{precision}f}"
    if precision and text.endswith("0"):  # whether Kusto keeps trailing zeros is not documented
        raise _Refused("format_bytes() whose rounded value ends in 0")
    return f"{text} {_UNITS[power]}"


@register("format_bytes")
def _format_bytes(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    _arity(node, arguments, 1, 3)
    size, _ = compiler.expr(arguments[0], columns)
    precision = compiler.expr(arguments[1], columns)[0] if len(arguments) > 1 else "0"
    units = _string_sql(compiler, arguments[2], columns) if len(arguments) > 2 else "''"
    ensure_udfs(compiler)
    return f"kqlm_format_bytes(CAST({size} AS DOUBLE), CAST({precision} AS BIGINT), {units})", "string"


# --------------------------------------------------------------------------- gzip
def gzip_decompress(text: str) -> str | None:
    """Base64 -> gzip -> UTF-8; anything that is not such a string gives null (documented)."""
    try:
        return gzip.decompress(base64.b64decode(text, validate=True)).decode("utf-8")
    except (binascii.Error, OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError):
        return None


@register("gzip_decompress_from_base64_string")
def _gzip_decompress(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    _arity(node, arguments, 1, 1)
    ensure_udfs(compiler)
    return f"kqlm_gzip_decompress({_string_sql(compiler, arguments[0], columns)})", "string"


# gzip_compress_to_base64_string is not registered: the bytes depend on Kusto's deflate encoder and
# its choice of blocks (the documented example is a stored block where zlib picks a fixed-Huffman
# one), so the emulator cannot produce Kusto's string.


# --------------------------------------------------------------------------- punycode
def punycode_encode(text: str) -> str:
    return text.encode("punycode").decode("ascii")


def punycode_decode(text: str) -> str | None:
    try:
        return text.encode("ascii").decode("punycode")
    except (UnicodeError, ValueError):
        return None


def punycode_domain_decode(text: str) -> str | None:
    labels = []
    for label in text.split("."):
        if label[:4].lower() == "xn--":
            decoded = punycode_decode(label[4:])
            if decoded is None:
                return None
            labels.append(decoded)
        else:
            labels.append(label)
    return ".".join(labels)


def punycode_domain_encode(text: str) -> str:
    return ".".join("xn--" + punycode_encode(label) if not label.isascii() else label for label in text.split("."))


def _string_udf(name: str, udf: str) -> Callable:
    def handler(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
        _arity(node, arguments, 1, 1)
        ensure_udfs(compiler)
        return f"{udf}({_string_sql(compiler, arguments[0], columns)})", "string"

    return handler


register("punycode_from_string")(_string_udf("punycode_from_string", "kqlm_punycode_from"))
register("punycode_to_string")(_string_udf("punycode_to_string", "kqlm_punycode_to"))
register("punycode_domain_from_string")(_string_udf("punycode_domain_from_string", "kqlm_punycode_domain_from"))
register("punycode_domain_to_string")(_string_udf("punycode_domain_to_string", "kqlm_punycode_domain_to"))


# --------------------------------------------------------------------------- URL queries
def parse_urlquery(text: str) -> str:
    """{"Query Parameters": {name: value}} with %-escapes decoded; a name given twice refuses."""
    parameters: dict[str, str] = {}
    for pair in text.lstrip("?").split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        name, value = urllib.parse.unquote(name), urllib.parse.unquote(value)
        if name in parameters:
            raise _Refused("parse_urlquery() of a parameter given twice")
        parameters[name] = value
    return json.dumps({"Query Parameters": parameters})


@register("parse_urlquery")
def _parse_urlquery(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    _arity(node, arguments, 1, 1)
    ensure_udfs(compiler)
    return f"CAST(kqlm_parse_urlquery({_string_sql(compiler, arguments[0], columns)}) AS JSON)", "dynamic"


# --------------------------------------------------------------------------- column_names_of, bin_auto
@register("column_names_of")
def _column_names_of(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    _arity(node, arguments, 1, 1)
    names = [name for name, _ in compiler.columns(compiler.tabular(arguments[0]))]
    return f"CAST({_sql_string(json.dumps(names))} AS JSON)", "dynamic"


@register("bin_auto")
def _bin_auto(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    """bin_at(value, query_bin_auto_size, query_bin_auto_at), both from `set` statements."""
    _arity(node, arguments, 1, 1)
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
    from . import FUNCTIONS

    return FUNCTIONS[name]


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# --------------------------------------------------------------------------- aggregate helpers
def buildschema(values_json: str) -> str:
    """buildschema(): the union of the types of all values, nested bags as objects, arrays as
    {"`indexer`": element schema}; a slot with several types lists them in order first seen."""
    schema: list[Any] = []
    for value in json.loads(values_json):
        _merge_schema(schema, value)
    return json.dumps(_render_schema(schema))


def _merge_schema(slot: list[Any], value: Any) -> None:
    if value is None:
        return
    if isinstance(value, dict):
        bag = next((s for s in slot if isinstance(s, dict) and "`indexer`" not in s), None)
        if bag is None:
            bag = {}
            slot.append(bag)
        for key, item in value.items():
            _merge_schema(bag.setdefault(key, []), item)
        return
    if isinstance(value, list):
        array = next((s for s in slot if isinstance(s, dict) and "`indexer`" in s), None)
        if array is None:
            array = {"`indexer`": []}
            slot.append(array)
        for item in value:
            _merge_schema(array["`indexer`"], item)
        return
    if isinstance(value, bool):
        name = "bool"
    elif isinstance(value, int):
        name = "long"
    elif isinstance(value, float):
        name = "double"
    else:
        name = "string"
    if name not in slot:
        slot.append(name)


def _render_schema(slot: list[Any]) -> Any:
    rendered = [{k: _render_schema(v) for k, v in s.items()} if isinstance(s, dict) else s for s in slot]
    return rendered[0] if len(rendered) == 1 else rendered


def make_bag(values_json: str) -> str:
    """make_bag(): the properties of all bags; a key with two different values refuses (Kusto picks
    an arbitrary one); values that are not bags are ignored (documented)."""
    merged: dict[str, Any] = {}
    for value in json.loads(values_json):
        if not isinstance(value, dict):
            continue
        for key, item in value.items():
            if key in merged and merged[key] != item:
                raise _Refused(f"make_bag() of the key '{key}' with different values (Kusto keeps any one)")
            merged[key] = item
    return json.dumps(merged)


# --------------------------------------------------------------------------- UDF registration
def _guarded(function: Callable) -> Callable:
    @functools.wraps(function)  # DuckDB reads the parameter count from the signature
    def call(*args: Any) -> Any:
        if any(arg is None for arg in args):  # null in, null out (the UDFs see nulls: they may return null)
            return None
        try:
            return function(*args)
        except _Refused as exc:
            raise ValueError(f"the emulator cannot reproduce Kusto exactly here: {exc}") from None

    return call


_UDFS: list[tuple[str, Callable, list[str], str]] = [
    ("kqlm_todatetime", _todatetime_udf, ["VARCHAR"], "TIMESTAMP"),
    ("kqlm_beta_cdf", _beta_cdf_udf, ["DOUBLE", "DOUBLE", "DOUBLE"], "DOUBLE"),
    ("kqlm_beta_inv", _beta_inv_udf, ["DOUBLE", "DOUBLE", "DOUBLE"], "DOUBLE"),
    ("kqlm_format_bytes", format_bytes, ["DOUBLE", "BIGINT", "VARCHAR"], "VARCHAR"),
    ("kqlm_gzip_decompress", gzip_decompress, ["VARCHAR"], "VARCHAR"),
    ("kqlm_punycode_from", punycode_encode, ["VARCHAR"], "VARCHAR"),
    ("kqlm_punycode_to", punycode_decode, ["VARCHAR"], "VARCHAR"),
    ("kqlm_punycode_domain_from", punycode_domain_decode, ["VARCHAR"], "VARCHAR"),
    ("kqlm_punycode_domain_to", punycode_domain_encode, ["VARCHAR"], "VARCHAR"),
    ("kqlm_parse_urlquery", parse_urlquery, ["VARCHAR"], "VARCHAR"),
    ("kqlm_buildschema", buildschema, ["VARCHAR"], "VARCHAR"),
    ("kqlm_make_bag", make_bag, ["VARCHAR"], "VARCHAR"),
]


def ensure_udfs(compiler: Compiler) -> None:
    engine = compiler.engine
    if getattr(engine, "_kql_misc_udfs", False):
        return
    for name, function, parameters, result in _UDFS:
        engine.connection.create_function(
            name,
            _guarded(function),
            parameters,
            result,
            null_handling="special",  # type: ignore[arg-type]
        )
    engine._kql_misc_udfs = True  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- aggregates
_REFUSE_FEW = "error('the emulator cannot reproduce Kusto exactly here: {name}() of fewer than {least} values')"


def _spread(name: str, sql_function: str, value: str, condition: str | None, least: int) -> str:
    """variance/stdev and kin over the rows where `condition` holds; too few values refuse
    (what Kusto returns for them is not documented)."""
    kept = f"CASE WHEN {condition} THEN {value} END" if condition else value
    counted = f"count({kept})"
    refuse = _REFUSE_FEW.format(name=name, least=least)
    return f"(CASE WHEN {counted} < {least} THEN {refuse} ELSE {sql_function}(CAST({kept} AS DOUBLE)) END)"


_SPREADS = {
    "variance": ("var_samp", 2), "variancep": ("var_pop", 1), "stdev": ("stddev_samp", 2),
    "stdevp": ("stddev_pop", 1),
}  # fmt: skip


def aggregate_sql(compiler: Compiler, function: str, arguments: list[Node], columns: Columns, call: Node) -> str | None:
    """SQL for the aggregates this module adds to Compiler.aggregate_sql, else None."""
    compiled = [compiler.expr(a, columns) for a in arguments if a.kind != "Star"]
    values = [sql for sql, _ in compiled]
    base = function[:-2] if function.endswith("if") and function[:-2] in _SPREADS else function
    if base in _SPREADS:
        sql_function, least = _SPREADS[base]
        condition = values[1] if base != function else None
        return _spread(function, sql_function, values[0], condition, least)
    if function in ("covariance", "covarianceif", "covariancep"):
        condition = values[2] if function == "covarianceif" else None
        x, y = (f"CASE WHEN {condition} THEN {v} END" if condition else v for v in values[:2])
        pairs = f"count(CASE WHEN ({x}) IS NOT NULL AND ({y}) IS NOT NULL THEN 1 END)"
        least = 1 if function == "covariancep" else 2
        sql_function = "covar_pop" if function == "covariancep" else "covar_samp"
        refuse = _REFUSE_FEW.format(name=function, least=least)
        return (f"(CASE WHEN {pairs} < {least} THEN {refuse} "
                f"ELSE {sql_function}(CAST({y} AS DOUBLE), CAST({x} AS DOUBLE)) END)")  # fmt: skip
    if function in ("binary_all_and", "binary_all_or", "binary_all_xor"):
        if compiled[0][1] not in ("long", "int"):
            raise compiler.unsupported(f"{function}() of a {compiled[0][1]} value", call)
        return f"bit_{function.rsplit('_', 1)[1]}(CAST({values[0]} AS BIGINT))"
    if function in ("make_bag", "make_bag_if"):
        size_at = 2 if function == "make_bag_if" else 1
        if len(values) > size_at:
            raise compiler.unsupported(f"{function}() with a maximum size", call)
        condition = f" AND ({values[1]})" if function == "make_bag_if" else ""
        listed = f"to_json(list({values[0]}) FILTER (WHERE {values[0]} IS NOT NULL{condition}))"
        ensure_udfs(compiler)
        return f"CAST(kqlm_make_bag(coalesce(CAST({listed} AS VARCHAR), '[]')) AS JSON)"
    if function == "buildschema":
        listed = f"to_json(list({values[0]}) FILTER (WHERE {values[0]} IS NOT NULL))"
        ensure_udfs(compiler)
        return f"CAST(kqlm_buildschema(coalesce(CAST({listed} AS VARCHAR), '[]')) AS JSON)"
    return None
