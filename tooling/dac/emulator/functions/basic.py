"""The functions every query uses, registered first: conversions (tostring, toint, ...), conditionals
(iff, case, coalesce, not, assert), and the basic string, datetime, JSON and IPv4 functions. A family
module registered after this one may replace one of them with a fuller version of its own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

from ...kql.names import name_text
from ...kql.syntax import Node
from ...kql.types import branch_type
from ..sql import DUCK_TYPES
from ..ticks import DATETIME_NS, public_kind
from .registry import FUNCTIONS, Columns, Handler, argument_text, check_arity, register, simple, with_kinds

if TYPE_CHECKING:
    from ..interface import Compiler


def timestamp_sql(value: dt.datetime) -> str:
    return f"TIMESTAMP '{value.isoformat(sep=' ')}'"


@with_kinds
def _tostring(compiler: Compiler, texts: list[str], kinds: list[str]) -> str:
    return compiler.as_string(texts[0], kinds[0])


@with_kinds
def _isempty(compiler: Compiler, texts: list[str], kinds: list[str]) -> str:
    if kinds[0] in ("string", "dynamic"):
        return f"({compiler.as_string(texts[0], kinds[0])} = '')"
    return f"({texts[0]} IS NULL)"


@with_kinds
def _parse_json(compiler: Compiler, texts: list[str], kinds: list[str]) -> str:
    return texts[0] if kinds[0] == "dynamic" else f"kql_parse_json({compiler.as_string(texts[0], kinds[0])})"


@with_kinds
def _to_number(compiler: Compiler, texts: list[str], kinds: list[str], duck: str = "BIGINT") -> str:
    value = compiler.as_string(texts[0], kinds[0]) if kinds[0] == "dynamic" else texts[0]
    if duck in ("BIGINT", "INTEGER"):
        return _to_integer(compiler, value, "string" if kinds[0] == "dynamic" else kinds[0], duck)
    if duck == "DOUBLE" and kinds[0] in ("string", "dynamic"):
        return _to_real(value)
    return f"TRY_CAST({value} AS {duck})"


def _to_real(value: str) -> str:
    """todouble()/toreal() of a text: a number written with digits, a point and an exponent converts; a text
    that is no number is null (the pages: "If conversion isn't successful, the result is null"). Texts DuckDB
    reads in other ways (" 1", "inf", "nan") are refused: how Kusto parses them is not documented."""
    refuse = "error('the emulator does not support todouble() of a number written in another form than digits')"
    number = "[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?"
    return (f"list_transform([{value}], lambda _kql_s: CASE WHEN _kql_s IS NULL THEN NULL "
            f"WHEN regexp_full_match(_kql_s, '{number}') THEN TRY_CAST(_kql_s AS DOUBLE) "
            f"WHEN TRY_CAST(_kql_s AS DOUBLE) IS NULL THEN NULL ELSE {refuse} END)[1]")  # fmt: skip


def _to_integer(compiler: Compiler, value: str, kind: str, duck: str) -> str:
    """toint()/tolong(): "If the input includes a decimal value, the result truncate to only the integer
    portion" (toint page; tolong's is silent, the same rule is applied); a failed conversion is null. DuckDB's
    cast rounds, so reals are truncated first and decimal strings cut at the point, digit by digit."""
    name = "toint" if duck == "INTEGER" else "tolong"
    if kind in ("real", "decimal"):
        return f"TRY_CAST(trunc({value}) AS {duck})"
    if kind in ("datetime", "timespan", DATETIME_NS):  # Kusto's ticks: not on the conversion pages
        raise compiler.unsupported(f"{name}() of a {public_kind(kind)}", None)
    if kind != "string":
        return f"TRY_CAST({value} AS {duck})"
    refuse = f"error('the emulator does not support {name}() of a number written in another form than digits')"
    whole = "CASE WHEN split_part(_kql_s, '.', 1) IN ('', '+', '-') THEN '0' ELSE split_part(_kql_s, '.', 1) END"
    return (f"list_transform([{value}], lambda _kql_s: CASE WHEN _kql_s IS NULL THEN NULL "
            f"WHEN regexp_full_match(_kql_s, '[+-]?[0-9]+') THEN TRY_CAST(_kql_s AS {duck}) "
            f"WHEN regexp_full_match(_kql_s, '[+-]?([0-9]+[.][0-9]*|[.][0-9]+)') THEN TRY_CAST({whole} AS {duck}) "
            f"WHEN TRY_CAST(_kql_s AS DOUBLE) IS NULL THEN NULL ELSE {refuse} END)[1]")  # fmt: skip


@with_kinds
def _ago(compiler: Compiler, texts: list[str], kinds: list[str]) -> str:
    return f"({timestamp_sql(compiler.engine.now)} - {texts[0]})"


@with_kinds
def _now(compiler: Compiler, texts: list[str], kinds: list[str]) -> str:
    now = timestamp_sql(compiler.engine.now)
    return f"({now} + {texts[0]})" if texts else now


@with_kinds
def _bin(compiler: Compiler, texts: list[str], kinds: list[str]) -> str:
    if kinds[0] == "datetime":
        return f"time_bucket({texts[1]}, {texts[0]}, TIMESTAMP '1970-01-01')"
    return f"(floor({texts[0]} / {texts[1]}) * {texts[1]})"


@with_kinds
def _strcat(compiler: Compiler, texts: list[str], kinds: list[str]) -> str:
    return "concat(" + ", ".join(compiler.as_string(t, k) for t, k in zip(texts, kinds, strict=True)) + ")"


@with_kinds
def _iff(compiler: Compiler, texts: list[str], kinds: list[str]) -> str:
    texts = _branches_as_string(compiler, "iff", texts, kinds)
    return f"(CASE WHEN {texts[0]} THEN {texts[1]} ELSE {texts[2]} END)"


@with_kinds
def _case(compiler: Compiler, texts: list[str], kinds: list[str]) -> str:
    texts = _branches_as_string(compiler, "case", texts, kinds)
    pairs = " ".join(f"WHEN {texts[i]} THEN {texts[i + 1]}" for i in range(0, len(texts) - 1, 2))
    return f"(CASE {pairs} ELSE {texts[-1]} END)"


def _branches_as_string(compiler: Compiler, name: str, texts: list[str], kinds: list[str]) -> list[str]:
    """Microsoft's binder types iff(c, dynamic, string) as string (kql.types.branch_type): the dynamic
    branches become strings the way tostring() makes them."""
    if branch_type(name, kinds) != "string":
        return texts
    values = set(range(1, len(texts), 2)) | {len(texts) - 1} if name == "case" else {1, 2}
    pairs = enumerate(zip(texts, kinds, strict=True))
    return [compiler.as_string(t, k) if i in values and k == "dynamic" else t for i, (t, k) in pairs]


def _branch_kind(name: str) -> Callable[[list[str]], str]:
    """The result kind: string where _branches_as_string converts, else the first value's (as before)."""

    def kind(kinds: list[str]) -> str:
        if branch_type(name, kinds) == "string":
            return "string"
        return kinds[1] if len(kinds) > 1 else "unknown"

    return kind


def _extractjson(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    path, _ = compiler.expr(arguments[0], columns)
    text, kind = compiler.expr(arguments[1], columns)
    source = f"CAST({text} AS VARCHAR)" if kind == "dynamic" else text
    result_kind = "string"
    if len(arguments) > 2 and arguments[2].kind == "TypeOf":
        from ...kql.types import normalize_type

        inner = [c for c in arguments[2].children if isinstance(c, Node)]
        result_kind = normalize_type(name_text(inner[0])) if inner else "string"
    value = f"json_extract_string(CASE WHEN json_valid({source}) THEN {source} END, {path})"
    if result_kind == "string":
        return f"coalesce({value}, '')", "string"
    return f"TRY_CAST({value} AS {DUCK_TYPES.get(result_kind, 'VARCHAR')})", result_kind


def _geo(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    compiler.engine.ensure_geo("ip")
    ip, kind = compiler.expr(arguments[0], columns)
    return f"CAST(kql_geo_info({compiler.as_string(ip, kind)}) AS JSON)", "dynamic"


def _not(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    value, _ = compiler.expr(arguments[0], columns)
    return f"(NOT {value})", "bool"


def _split(source: str, delimiter: str, index: str | None = None) -> str:
    """split(source, delimiter [, requestedIndex]): with an index, the array holds the substring at that
    zero-based index "if it exists" (split() reference), so an index past the end gives []; what a
    negative index does is not documented."""
    parts = f"string_split({source}, {delimiter})"
    if index is None:
        return f"to_json({parts})"
    return (
        f"(CASE WHEN ({index}) < 0 THEN error('the emulator does not support split() with a negative requestedIndex')"
        f" WHEN ({index}) < len({parts}) THEN to_json([{parts}[({index}) + 1]])"
        f" ELSE to_json([]::VARCHAR[]) END)"
    )


_BUILTINS: dict[str, Handler] = {
    "tostring": simple(_tostring, "string"),
    "tolower": simple(lambda a: f"lower({a})", "string"),
    "toupper": simple(lambda a: f"upper({a})", "string"),
    "strlen": simple(lambda a: f"length({a})", "long"),
    "isempty": simple(_isempty, "bool"),
    "isnotempty": simple(with_kinds(lambda c, t, k: f"(NOT {_isempty(c, t, k)})"), "bool"),
    # isnotempty() reference: "Deprecated aliases: notempty()"
    "notempty": simple(with_kinds(lambda c, t, k: f"(NOT {_isempty(c, t, k)})"), "bool"),
    "isnull": simple(lambda a: f"({a} IS NULL)", "bool"),
    "isnotnull": simple(lambda a: f"({a} IS NOT NULL)", "bool"),
    "parse_json": simple(_parse_json, "dynamic"),
    "parsejson": simple(_parse_json, "dynamic"),
    "todynamic": simple(_parse_json, "dynamic"),
    "toint": simple(with_kinds(lambda c, t, k: _to_number(c, t, k, "INTEGER")), "int"),
    "tolong": simple(_to_number, "long"),
    "toreal": simple(with_kinds(lambda c, t, k: _to_number(c, t, k, "DOUBLE")), "real"),
    "todouble": simple(with_kinds(lambda c, t, k: _to_number(c, t, k, "DOUBLE")), "real"),
    "todatetime": simple(with_kinds(lambda c, t, k: _to_number(c, t, k, "TIMESTAMP")), "datetime"),
    "tobool": simple(with_kinds(lambda c, t, k: _to_number(c, t, k, "BOOLEAN")), "bool"),
    # the tobool page: "The tobool() and toboolean() functions are equivalent"
    "toboolean": simple(with_kinds(lambda c, t, k: _to_number(c, t, k, "BOOLEAN")), "bool"),
    "ago": simple(_ago, "datetime"),
    "now": simple(_now, "datetime"),
    "bin": simple(_bin, lambda kinds: kinds[0]),
    "floor": simple(_bin, lambda kinds: kinds[0]),
    "startofday": simple(lambda a: f"date_trunc('day', {a})", "datetime"),
    "strcat": simple(_strcat, "string"),
    "iff": simple(_iff, _branch_kind("iff")),
    "iif": simple(_iff, _branch_kind("iif")),
    "case": simple(_case, _branch_kind("case")),
    "coalesce": simple(lambda *a: f"coalesce({', '.join(a)})", lambda kinds: kinds[0]),
    "extract": simple(
        lambda regex, group, text: f"regexp_extract({text}, {regex}, CAST({group} AS INTEGER))", "string"
    ),
    "ipv4_is_private": simple(lambda ip: f"kql_ipv4_is_private({ip})", "bool"),
    "ipv4_is_in_range": simple(lambda ip, cidr: f"kql_ipv4_in_range({ip}, {cidr})", "bool"),
    "extractjson": _extractjson,
    "extract_json": _extractjson,
    "geo_info_from_ip_address": _geo,
    "not": _not,
    "array_length": simple(lambda a: f"json_array_length({a})", "long"),
    "split": simple(_split, "dynamic"),
    "trim": simple(
        lambda r, s: f"regexp_replace(regexp_replace({s}, '^(' || {r} || ')+', ''), '(' || {r} || ')+$', '')", "string"
    ),
    "replace_string": simple(lambda s, a, b: f"replace({s}, {a}, {b})", "string"),
    "abs": simple(lambda a: f"abs({a})", lambda kinds: kinds[0]),
    "datetime_diff": simple(lambda part, a, b: f"date_diff({part}, {b}, {a})", "long"),
}


FUNCTIONS.update(_BUILTINS)


@register("assert")
def _assert(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    check_arity(node, arguments, 2, 2)
    condition, _ = compiler.expr(arguments[0], columns)
    message = argument_text(compiler, arguments[1], columns)
    # Kusto stops the query with the message when the condition is false
    return f"(CASE WHEN {condition} THEN true ELSE error('assert() failed: ' || {message}) END)", "bool"
