"""String, regular expression, encoding, hashing, IPv4 and IPv6 functions (gzip and punycode, which
need Python, are in encoding.py; parse_url, parse_xml and parse_urlquery in parsing.py).

Everything compiles to DuckDB SQL (RE2 regular expressions, like Kusto's). Where the KQL reference
leaves a case open, the SQL raises a runtime error naming it (DuckDB `error()`), and where an
argument shape cannot be emulated at all the compiler refuses the query (EMU001): a wrong answer
would be worse than either. Helper macros (prefix `kqls_`) are created on the engine's connection
the first time a query needs them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from ...kql.syntax import Node
from ..errors import EmulatorError
from ..session import IPV4_ADDRESS
from ..sql import NOT_CONSTANT, bound_once, json_literal_value
from . import replacements
from .registry import FUNCTIONS, Handler, simple, with_kinds
from .registry import register as register_function
from .udfs import Refused, ensure_udfs

if TYPE_CHECKING:
    from ..interface import Compiler

Columns = list[tuple[str, str]]

# ----------------------------------------------------------------- helpers


def _sql(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _error(message: str) -> str:
    return f"error({_sql('the emulator cannot reproduce Kusto exactly here: ' + message)})"


def _const_string(sql: str) -> str | None:
    """The value of a compiled string literal (also through `let`), else None."""
    match = re.fullmatch(r"'((?:[^']|'')*)'", sql.strip())
    return match.group(1).replace("''", "'") if match else None


def _offset(node: Node) -> int:
    token = node.first_token()
    return token.start if token is not None else 0


def _arity(node: Node, arguments: list[Node], low: int, high: int, name: str) -> None:
    if not low <= len(arguments) <= high:
        raise EmulatorError("EMU006", f"wrong number of arguments for '{name}'", _offset(node))


def _text(compiler: Compiler, sql: str, kind: str, node: Node, what: str) -> str:
    """The value as tostring() would render it, for the kinds whose rendering is exact here."""
    if kind == "datetime":  # tostring(datetime) is ISO 8601 with seven fractional digits
        return f"coalesce(strftime({sql}, '%Y-%m-%dT%H:%M:%S.%f') || '0Z', '')"
    if kind in ("string", "guid", "unknown", "long", "int", "bool", "dynamic"):
        return compiler.as_string(sql, kind)
    raise compiler.unsupported(f"{what} of a {kind} value", node)


def _compiled(compiler: Compiler, arguments: list[Node], columns: Columns) -> list[tuple[str, str]]:
    return [compiler.expr(a, columns) for a in arguments]


def _ensure_macros(compiler: Compiler, sql: str) -> None:
    """Create the macros `sql` names that this connection lacks, each after the ones its body names: only
    what a query uses (creating all 58 costs 40 ms; a query uses a family of them)."""
    engine = compiler.engine
    created: set[str] = engine.__dict__.setdefault("_kql_string_macros", set())
    named = dict.fromkeys(_MACRO_NAME.findall(sql))  # a string literal may hold such a word too
    pending = [name for name in named if name in _MACRO_BY_NAME and name not in created]
    for name in _in_creation_order(pending):
        if name not in created:
            engine.connection.execute(_MACRO_BY_NAME[name])
            created.add(name)


def _in_creation_order(names: list[str]) -> list[str]:
    """`names` and the macros their bodies name, each after those it names (no macro names itself)."""
    order: list[str] = []
    done: set[str] = set()
    stack = [(name, False) for name in reversed(names)]
    while stack:  # depth first, by a loop
        name, expanded = stack.pop()
        if name in done:
            continue
        if expanded:
            done.add(name)
            order.append(name)
            continue
        stack.append((name, True))
        stack += [(used, False) for used in _MACRO_USES[name] if used not in done]
    return order


def register(*names: str) -> Callable[[Handler], Handler]:
    """registry.register for this module's functions: the string macros their SQL names are created when a
    query first uses them."""

    def decorate(handler: Handler) -> Handler:
        def with_macros(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
            sql, kind = handler(compiler, arguments, columns, node)
            _ensure_macros(compiler, sql)
            return sql, kind

        return register_function(*names)(with_macros)

    return decorate


# A canonical IPv4 octet (no leading zeros), and one that also allows leading zeros, whose
# reading Kusto does not document.
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_LOOSE_OCTET = r"(0[0-9]{1,2}|25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
# ASCII characters that are not letters or digits: the documented IPv4 delimiters.
_DELIMITER = r"[\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]"


_P1 = "CAST('11400714785074694791' AS UBIGINT)"
_P2 = "CAST('14029467366897019727' AS UBIGINT)"
_P3 = "CAST('1609587929392839161' AS UBIGINT)"
_P4 = "CAST('9650029242287828579' AS UBIGINT)"
_P5 = "CAST('2870177450012600261' AS UBIGINT)"

_MACROS = [
    # ---- IPv4 ('a.b.c.d' or 'a.b.c.d/n'): the prefix length (32 without '/'), the address as a number
    "CREATE OR REPLACE TEMP MACRO kqls_ip4_pfx(s) AS CASE WHEN s IS NULL THEN NULL WHEN NOT contains(s, '/') "
    "THEN 32 WHEN regexp_full_match(s, '[^/]*/[0-9]{1,2}') AND CAST(split_part(s, '/', 2) AS BIGINT) <= 32 "
    "THEN CAST(split_part(s, '/', 2) AS BIGINT) ELSE NULL END",
    "CREATE OR REPLACE TEMP MACRO kqls_ip4_num(s) AS CASE WHEN kqls_ip4_pfx(s) IS NULL THEN NULL "
    "ELSE kql_ipv4(split_part(s, '/', 1)) END",
    "CREATE OR REPLACE TEMP MACRO kqls_mask(v, p) AS (v // (CAST(1 AS BIGINT) << CAST(32 - p AS INTEGER))) "
    "* (CAST(1 AS BIGINT) << CAST(32 - p AS INTEGER))",
    "CREATE OR REPLACE TEMP MACRO kqls_ip4_str(v) AS CAST(v // 16777216 AS VARCHAR) || '.' || "
    "CAST((v // 65536) % 256 AS VARCHAR) || '.' || CAST((v // 256) % 256 AS VARCHAR) || '.' || "
    "CAST(v % 256 AS VARCHAR)",
    # each address's number and prefix bound once (as kqls_ip6_cmp does): written out at each use, one call
    # expanded to some forty regular expressions for DuckDB to plan
    "CREATE OR REPLACE TEMP MACRO kqls_ip4_cmp(a, b, m) AS list_transform([struct_pack(an := kqls_ip4_num(a), "
    "bn := kqls_ip4_num(b), ap := kqls_ip4_pfx(a), bp := kqls_ip4_pfx(b))], lambda r4: CASE WHEN m IS NULL "
    "OR r4['an'] IS NULL OR r4['bn'] IS NULL THEN NULL WHEN m < 0 OR m > 32 THEN "
    + _error("an IPv4 prefix mask outside 0..32")
    + " ELSE CAST(sign(kqls_mask(r4['an'], least(r4['ap'], r4['bp'], m)) "
    "- kqls_mask(r4['bn'], least(r4['ap'], r4['bp'], m))) AS BIGINT) END)[1]",
    # ip in range c; an address carrying its own '/n' is not documented for these functions
    "CREATE OR REPLACE TEMP MACRO kqls_ip4_in(ip, c) AS CASE WHEN contains(ip, '/') THEN "
    + _error("an IPv4 address with a prefix where a plain address is expected")
    + " WHEN kqls_ip4_num(c) IS NULL THEN "
    + _error("an IPv4 range that does not parse")
    + " ELSE kqls_mask(kqls_ip4_num(ip), kqls_ip4_pfx(c)) = kqls_mask(kqls_ip4_num(c), kqls_ip4_pfx(c)) END",
    "CREATE OR REPLACE TEMP MACRO kqls_ip4_any(ip, ranges) AS CASE WHEN kqls_ip4_num(ip) IS NULL THEN NULL "
    "ELSE coalesce(list_bool_or(list_transform(ranges, lambda c: kqls_ip4_in(ip, c))), false) END",
    # ---- IPv6. An IPv4 address (also written '::a.b.c.d' or '::ffff:a.b.c.d') is the mapped
    # address ::ffff:a.b.c.d and its '/n' counts 96 + n bits (the reference's examples).
    "CREATE OR REPLACE TEMP MACRO kqls_ip6_side(p) AS CASE WHEN p = '' THEN CAST([] AS VARCHAR[]) "
    "ELSE string_split(p, ':') END",
    # The three IPv4 forms are told apart by patterns alone (ipv6_range reads them the same way): a
    # kql_ipv4() per form tried made every IPv6 function several milliseconds slower to plan.
    "CREATE OR REPLACE TEMP MACRO kqls_ip6_form(a) AS CASE WHEN a IS NULL THEN NULL "
    f"WHEN regexp_full_match(a, '{IPV4_ADDRESS}') THEN 'v4' "
    f"WHEN regexp_full_match(a, '::[fF][fF][fF][fF]:{IPV4_ADDRESS}') THEN 'mapped' "
    f"WHEN regexp_full_match(a, '::{IPV4_ADDRESS}') THEN 'compat' "
    "WHEN contains(a, ':') AND (contains(a, '.') OR contains(a, '%')) THEN "
    + _error("an IPv6 address with an embedded IPv4 address or a zone")
    + " "
    "WHEN regexp_full_match(a, '[0-9A-Fa-f]{1,4}(:[0-9A-Fa-f]{1,4}){7}') THEN 'v6' "
    "WHEN regexp_full_match(a, '([0-9A-Fa-f]{1,4}(:[0-9A-Fa-f]{1,4}){0,6})?::"
    "([0-9A-Fa-f]{1,4}(:[0-9A-Fa-f]{1,4}){0,6})?') "
    "AND len(kqls_ip6_side(split_part(a, '::', 1))) "
    "+ len(kqls_ip6_side(split_part(a, '::', 2))) <= 7 THEN 'v6' ELSE NULL END",
    "CREATE OR REPLACE TEMP MACRO kqls_ip6_groups(a) AS CASE WHEN contains(a, '::') THEN list_concat("
    "kqls_ip6_side(split_part(a, '::', 1)), list_transform(range(8 - len(kqls_ip6_side(split_part(a, '::', 1))) "
    "- len(kqls_ip6_side(split_part(a, '::', 2)))), lambda z: '0'), kqls_ip6_side(split_part(a, '::', 2))) "
    "ELSE string_split(a, ':') END",
    "CREATE OR REPLACE TEMP MACRO kqls_ip6_value(a, f) AS CASE WHEN f IN ('v4', 'mapped', 'compat') THEN "
    "CAST(281470681743360 + kql_ipv4(CASE f WHEN 'v4' THEN a WHEN 'mapped' THEN substring(a, 8) "
    "ELSE substring(a, 3) END) AS UHUGEINT) "
    "WHEN f = 'v6' THEN list_reduce(kqls_ip6_groups(a), lambda acc, g: acc * 65536 + CAST('0x' || g AS UHUGEINT), "
    "CAST(0 AS UHUGEINT)) ELSE NULL END",
    # A macro's argument is copied into its body at every use: each value the ip6 macros need more than once
    # (the form of an address, its number, a range's prefix) is bound once through a one-element
    # list_transform, or one ipv6 function would expand to thousands of nodes (300 ms to plan).
    "CREATE OR REPLACE TEMP MACRO kqls_ip6_pfx_f(s, f6) AS CASE WHEN f6 IS NULL THEN NULL "
    "WHEN NOT contains(s, '/') THEN 128 "
    "WHEN NOT regexp_full_match(s, '[^/]+/[0-9]{1,3}') THEN NULL "
    "WHEN f6 = 'mapped' THEN " + _error("a prefix on an address written ::ffff:a.b.c.d") + " "
    "WHEN f6 IN ('v4', 'compat') THEN CASE WHEN CAST(split_part(s, '/', 2) AS INTEGER) <= 32 "
    "THEN 96 + CAST(split_part(s, '/', 2) AS INTEGER) ELSE NULL END "
    "WHEN CAST(split_part(s, '/', 2) AS INTEGER) <= 128 THEN CAST(split_part(s, '/', 2) AS INTEGER) ELSE NULL END",
    "CREATE OR REPLACE TEMP MACRO kqls_ip6_pfx(s) AS list_transform([kqls_ip6_form(split_part(s, '/', 1))], "
    "lambda f6: kqls_ip6_pfx_f(s, f6))[1]",
    "CREATE OR REPLACE TEMP MACRO kqls_ip6_num(s) AS list_transform([split_part(s, '/', 1)], lambda a6: "
    "list_transform([kqls_ip6_form(a6)], lambda f6n: CASE WHEN kqls_ip6_pfx_f(s, f6n) IS NULL THEN NULL "
    "ELSE kqls_ip6_value(a6, f6n) END)[1])[1]",
    "CREATE OR REPLACE TEMP MACRO kqls_mask6(v, p) AS CASE WHEN p = 0 THEN CAST(0 AS UHUGEINT) "
    "ELSE list_transform([CAST(1 AS UHUGEINT) << CAST(128 - p AS UHUGEINT)], lambda unit: (v // unit) * unit)[1] END",
    "CREATE OR REPLACE TEMP MACRO kqls_ip6_str(v) AS array_to_string(list_transform(range(7, -1, -1), "
    "lambda i: lpad(lower(hex((v >> CAST(16 * i AS UHUGEINT)) % 65536)), 4, '0')), ':')",
    "CREATE OR REPLACE TEMP MACRO kqls_ip6_cmp(a, b, m) AS CASE WHEN m IS NULL THEN NULL ELSE list_transform("
    "[struct_pack(an := kqls_ip6_num(a), bn := kqls_ip6_num(b), ap := kqls_ip6_pfx(a), bp := kqls_ip6_pfx(b))], "
    "lambda r6: CASE WHEN r6['an'] IS NULL OR r6['bn'] IS NULL THEN NULL WHEN m < 0 OR m > 128 THEN "
    + _error("an IPv6 prefix mask outside 0..128")
    + " ELSE list_transform([least(r6['ap'], r6['bp'], m)], lambda p6: list_transform("
    "[[kqls_mask6(r6['an'], p6), kqls_mask6(r6['bn'], p6)]], lambda xy: CASE WHEN xy[1] < xy[2] "
    "THEN -1 WHEN xy[1] > xy[2] THEN 1 ELSE 0 END)[1])[1] END)[1] END",
    # ip (whose number is ipn) in the range c: c's form found once, its prefix and number from it
    "CREATE OR REPLACE TEMP MACRO kqls_ip6_in_n(ip, ipn, c) AS CASE WHEN contains(ip, '/') THEN "
    + _error("an IPv6 address with a prefix where a plain address is expected")
    + " ELSE list_transform([kqls_ip6_form(split_part(c, '/', 1))], lambda fc: "
    "list_transform([kqls_ip6_pfx_f(c, fc)], lambda cp: CASE WHEN cp IS NULL THEN "
    + _error("an IPv6 range that does not parse")
    + " ELSE kqls_mask6(ipn, cp) = kqls_mask6(kqls_ip6_value(split_part(c, '/', 1), fc), cp) END)[1])[1] END",
    "CREATE OR REPLACE TEMP MACRO kqls_ip6_in(ip, c) AS kqls_ip6_in_n(ip, kqls_ip6_num(ip), c)",
    "CREATE OR REPLACE TEMP MACRO kqls_ip6_any(ip, ranges) AS list_transform([kqls_ip6_num(ip)], lambda ipn: "
    "CASE WHEN ipn IS NULL THEN NULL "
    "ELSE coalesce(list_bool_or(list_transform(ranges, lambda c: kqls_ip6_in_n(ip, ipn, c))), false) END)[1]",
    # ---- has_ipv4 / has_ipv4_prefix: the address must appear delimited by non-alphanumerics
    "CREATE OR REPLACE TEMP MACRO kqls_has_ip4(t, ip) AS CASE "
    f"WHEN ip IS NULL OR NOT regexp_full_match(ip, '{_LOOSE_OCTET}(\\.{_LOOSE_OCTET}){{3}}') THEN false "
    f"WHEN NOT regexp_full_match(ip, '{_OCTET}(\\.{_OCTET}){{3}}') THEN "
    + _error("an IPv4 address with leading zeros")
    + f" WHEN regexp_matches(t, '(^|{_DELIMITER})' || regexp_escape(ip) || '($|{_DELIMITER})') THEN true "
    "WHEN regexp_matches(t, '(^|[^[:alnum:]])' || regexp_escape(ip) || '($|[^[:alnum:]])') THEN "
    + _error("an IPv4 address next to a non-ASCII character")
    + " ELSE false END",
    "CREATE OR REPLACE TEMP MACRO kqls_ip4_rest(p, octet) AS CASE WHEN length(p) - length(replace(p, '.', '')) "
    "= 3 AND NOT ends_with(p, '.') THEN '' ELSE octet || repeat('\\.' || octet, "
    "CAST(3 - (length(p) - length(replace(p, '.', ''))) AS BIGINT)) END",
    "CREATE OR REPLACE TEMP MACRO kqls_has_ip4_prefix(t, p) AS CASE "
    f"WHEN p IS NULL OR NOT regexp_full_match(p, '({_LOOSE_OCTET}\\.){{1,3}}|{_LOOSE_OCTET}(\\.{_LOOSE_OCTET}){{3}}') "
    "THEN false "
    f"WHEN NOT regexp_full_match(p, '({_OCTET}\\.){{1,3}}|{_OCTET}(\\.{_OCTET}){{3}}') THEN "
    + _error("an IPv4 prefix with leading zeros")
    + f" WHEN regexp_matches(t, '(^|{_DELIMITER})' || regexp_escape(p) || kqls_ip4_rest(p, '{_OCTET}') "
    f"|| '($|{_DELIMITER})') THEN true "
    f"WHEN regexp_matches(t, '(^|[^[:alnum:]])' || regexp_escape(p) || kqls_ip4_rest(p, '{_LOOSE_OCTET}') "
    "|| '($|[^[:alnum:]])') THEN "
    + _error("an IPv4 address with leading zeros or next to a non-ASCII character")
    + " ELSE false END",
    # ---- indexof(): occurrences found one after the other, each within `length` characters of
    # where its search starts. Whether the next search starts one character after the previous
    # match or after its end is not documented: both are computed and must agree.
    "CREATE OR REPLACE TEMP MACRO kqls_indexof_step(positions, start, ln, occurrence, advance) AS "
    "list_reduce(range(occurrence), lambda acc, k: CASE WHEN NOT acc.ok THEN acc "
    "WHEN list_filter(positions, lambda p: p >= acc.base)[1] IS NULL THEN {'base': acc.base, 'res': -1, 'ok': false} "
    "WHEN ln <> -1 AND list_filter(positions, lambda p: p >= acc.base)[1] + advance.m > acc.base + ln "
    "THEN {'base': acc.base, 'res': -1, 'ok': false} "
    "ELSE {'base': list_filter(positions, lambda p: p >= acc.base)[1] + advance.step, "
    "'res': list_filter(positions, lambda p: p >= acc.base)[1], 'ok': true} END, "
    "{'base': start, 'res': -1, 'ok': true})",
    "CREATE OR REPLACE TEMP MACRO kqls_indexof_at(s, m, start, ln, occurrence) AS CASE "
    "WHEN start < 0 OR start > length(s) THEN "
    + _error("indexof() with a start outside the string")
    + " WHEN len(list_filter(range(start, length(s) - length(m) + 1), "
    "lambda p: substring(s, p + 1, length(m)) = m)) < occurrence THEN -1 "
    "WHEN kqls_indexof_step(list_filter(range(start, length(s) - length(m) + 1), "
    "lambda p: substring(s, p + 1, length(m)) = m), start, ln, occurrence, {'m': length(m), 'step': 1}).res "
    "IS NOT DISTINCT FROM kqls_indexof_step(list_filter(range(start, length(s) - length(m) + 1), "
    "lambda p: substring(s, p + 1, length(m)) = m), start, ln, occurrence, {'m': length(m), 'step': length(m)}).res "
    "THEN kqls_indexof_step(list_filter(range(start, length(s) - length(m) + 1), "
    "lambda p: substring(s, p + 1, length(m)) = m), start, ln, occurrence, {'m': length(m), 'step': 1}).res "
    "ELSE " + _error("indexof() with an occurrence whose search window depends on how Kusto advances") + " END",
    "CREATE OR REPLACE TEMP MACRO kqls_indexof(s, m, st, ln, occurrence) AS CASE "
    "WHEN st IS NULL OR ln IS NULL OR occurrence IS NULL THEN NULL "
    "WHEN occurrence < 0 OR ln < -1 THEN NULL "
    "WHEN occurrence = 0 THEN " + _error("indexof() with occurrence 0") + " "
    "WHEN m = '' THEN " + _error("indexof() of an empty string") + " "
    "ELSE CAST(kqls_indexof_at(s, m, CASE WHEN st < 0 THEN length(s) + st ELSE st END, ln, occurrence) AS BIGINT) "
    "END",
    # ---- parse_csv(): one record; fields are "quoted" (with "" for a quote) or plain
    "CREATE OR REPLACE TEMP MACRO kqls_csv_fields(r) AS list_transform("
    'regexp_extract_all(\',\' || r, \',("(?:[^"]|"")*"|[^,"\\r\\n]*)\', 1), lambda f: CASE '
    "WHEN starts_with(f, '\"') THEN replace(substring(f, 2, length(f) - 2), '\"\"', '\"') ELSE f END)",
    "CREATE OR REPLACE TEMP MACRO kqls_parse_csv(s) AS CASE "
    "WHEN s = '' OR contains(s, chr(13)) THEN "
    + _error("parse_csv() of an empty text or one with carriage returns")
    + ' WHEN regexp_matches(s, \'^(?:"(?:[^"]|"")*"|[^,"\\n]*)(?:,(?:"(?:[^"]|"")*"|[^,"\\n]*))*(?:\\n|$)\') '
    "THEN to_json(kqls_csv_fields(regexp_extract(s, "
    '\'^((?:"(?:[^"]|"")*"|[^,"\\n]*)(?:,(?:"(?:[^"]|"")*"|[^,"\\n]*))*)(?:\\n|$)\', 1))) '
    "ELSE " + _error("parse_csv() of a record with a stray quote") + " END",
    # ---- parse_path(): the documented path shapes, anything else is refused at run time
    "CREATE OR REPLACE TEMP MACRO kqls_path_parts(rest) AS regexp_extract(rest, "
    '\'^([A-Za-z]:)?(\\\\\\\\|[\\\\/])?((?:[^\\\\/:*?"<>|]+[\\\\/])*[^\\\\/:*?"<>|]+)[\\\\/]'
    '([^\\\\/:*?"<>|.][^\\\\/:*?"<>|]*\\.[^\\\\/:*?"<>|.]+)(?::([^\\\\/:*?"<>|]+))?$\', '
    "['drive', 'lead', 'dirs', 'file', 'stream'])",
    "CREATE OR REPLACE TEMP MACRO kqls_path_object(scheme, x) AS CASE "
    "WHEN x.dirs = '' OR (x.drive <> '' AND x.lead NOT IN ('\\', '/')) OR (scheme <> '' AND x.drive = '') THEN "
    + _error("parse_path() of a path shape the reference does not document")
    + " ELSE json_object('Scheme', scheme, 'RootPath', x.drive, 'DirectoryPath', x.drive || x.lead || x.dirs, "
    "'DirectoryName', regexp_extract(x.dirs, '([^\\\\/]+)$', 1), 'Filename', x.file, "
    "'Extension', regexp_extract(x.file, '\\.([^.]+)$', 1), 'AlternateDataStreamName', x.stream) END",
    "CREATE OR REPLACE TEMP MACRO kqls_parse_path(s) AS CASE "
    "WHEN regexp_matches(s, '^[A-Za-z][A-Za-z0-9+.-]*://') THEN "
    "kqls_path_object(regexp_extract(s, '^([A-Za-z][A-Za-z0-9+.-]*)://', 1), "
    "kqls_path_parts(regexp_replace(s, '^[A-Za-z][A-Za-z0-9+.-]*://', ''))) "
    "ELSE kqls_path_object('', kqls_path_parts(s)) END",
    # ---- parse_version(): one to four dot-separated parts of up to eight digits
    "CREATE OR REPLACE TEMP MACRO kqls_version_part(v, k) AS coalesce(TRY_CAST(split_part(v, '.', k) AS HUGEINT), 0)",
    "CREATE OR REPLACE TEMP MACRO kqls_parse_version(v) AS CASE "
    "WHEN regexp_full_match(v, '[0-9]{1,8}(\\.[0-9]{1,8}){0,3}') THEN CAST(kqls_version_part(v, 1) * "
    "CAST('1000000000000000000000000' AS HUGEINT) + kqls_version_part(v, 2) * CAST('10000000000000000' AS HUGEINT) "
    "+ kqls_version_part(v, 3) * CAST(100000000 AS HUGEINT) + kqls_version_part(v, 4) AS DECIMAL(38, 0)) "
    "WHEN regexp_full_match(trim(v), '[0-9]{1,8}(\\.[0-9]{1,8}){0,3}') THEN "
    + _error("parse_version() of a version with surrounding spaces")
    + " ELSE NULL END",
    # ---- .NET HttpUtility.UrlEncode: letters, digits and -_.!*() kept, ' ' -> '+', else %xx of UTF-8
    "CREATE OR REPLACE TEMP MACRO kqls_url_encode(s) AS CASE WHEN contains(s, '''') THEN "
    + _error("url_encode() of an apostrophe (.NET versions differ)")
    + " ELSE array_to_string(list_transform(string_split(s, ''), lambda c: CASE "
    "WHEN regexp_full_match(c, '[A-Za-z0-9_.!*()-]') THEN c WHEN c = ' ' THEN '+' "
    "ELSE lower(regexp_replace(hex(encode(c)), '(..)', '%\\1', 'g')) END), '') END",
    "CREATE OR REPLACE TEMP MACRO kqls_url_decode(s) AS CASE WHEN regexp_matches(s, '%[uU][0-9A-Fa-f]{4}') THEN "
    + _error("url_decode() of a %uXXXX escape")
    + " WHEN try(url_decode(replace(s, '+', ' '))) IS NULL THEN "
    + _error("url_decode() of bytes that are not UTF-8")
    + " ELSE url_decode(replace(s, '+', ' ')) END",
    # ---- base64: .NET ignores white space; invalid input is null
    "CREATE OR REPLACE TEMP MACRO kqls_b64(s) AS try(from_base64(regexp_replace(s, '[ \\t\\r\\n]', '', 'g')))",
    "CREATE OR REPLACE TEMP MACRO kqls_blob_bytes(b) AS list_transform(range(0, octet_length(b)), "
    "lambda i: CAST(('0x' || substring(hex(b), 2 * i + 1, 2)) AS BIGINT))",
    # .NET Guid(byte[]): the first three fields are stored little-endian
    "CREATE OR REPLACE TEMP MACRO kqls_guid_swap(h) AS substring(h, 7, 2) || substring(h, 5, 2) || "
    "substring(h, 3, 2) || substring(h, 1, 2) || substring(h, 11, 2) || substring(h, 9, 2) || "
    "substring(h, 15, 2) || substring(h, 13, 2) || substring(h, 17, 16)",
    "CREATE OR REPLACE TEMP MACRO kqls_guid_text(x) AS substring(x, 1, 8) || '-' || substring(x, 9, 4) || '-' || "
    "substring(x, 13, 4) || '-' || substring(x, 17, 4) || '-' || substring(x, 21, 12)",
    "CREATE OR REPLACE TEMP MACRO kqls_b64_guid(s) AS CASE WHEN octet_length(kqls_b64(s)) = 16 THEN "
    "kqls_guid_text(lower(kqls_guid_swap(hex(kqls_b64(s))))) ELSE NULL END",
    "CREATE OR REPLACE TEMP MACRO kqls_guid_b64(g) AS CASE WHEN regexp_full_match(g, "
    "'[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}') THEN "
    "to_base64(unhex(kqls_guid_swap(replace(g, '-', '')))) ELSE NULL END",
    "CREATE OR REPLACE TEMP MACRO kqls_bytes_b64(a) AS CASE WHEN a IS NULL OR json_type(a) <> 'ARRAY' THEN NULL "
    "WHEN NOT coalesce(list_bool_and(list_transform(CAST(a AS JSON[]), lambda x: json_type(x) IN ('UBIGINT', "
    "'BIGINT') AND TRY_CAST(CAST(x AS VARCHAR) AS BIGINT) BETWEEN 0 AND 255)), true) THEN "
    + _error("base64_encode_fromarray() of values that are not bytes")
    + " ELSE to_base64(unhex(array_to_string(list_transform(CAST(a AS JSON[]), "
    "lambda x: lpad(hex(CAST(CAST(x AS VARCHAR) AS BIGINT)), 2, '0')), ''))) END",
    # ---- xxHash64 (seed 0) of a hex string of bytes, in unsigned 64-bit arithmetic. Intermediate
    # values are bound with list_transform([v], lambda x: ...)[1] so that no expression is repeated.
    "CREATE OR REPLACE TEMP MACRO kqls_u64(x) AS CAST(x % CAST('18446744073709551616' AS UHUGEINT) AS UBIGINT)",
    "CREATE OR REPLACE TEMP MACRO kqls_mul(a, b) AS kqls_u64(CAST(a AS UHUGEINT) * CAST(b AS UHUGEINT))",
    "CREATE OR REPLACE TEMP MACRO kqls_add(a, b) AS kqls_u64(CAST(a AS UHUGEINT) + CAST(b AS UHUGEINT))",
    "CREATE OR REPLACE TEMP MACRO kqls_rotl(x, r) AS list_transform([CAST(x AS UBIGINT)], "
    "lambda rx: ((rx % (CAST(1 AS UBIGINT) << (64 - r))) << r) | (rx >> (64 - r)))[1]",
    "CREATE OR REPLACE TEMP MACRO kqls_rd(h, i, k) AS CAST('0x' || array_to_string(list_transform("
    "range(k - 1, -1, -1), lambda b: substring(h, 2 * (i + b) + 1, 2)), '') AS UBIGINT)",
    f"CREATE OR REPLACE TEMP MACRO kqls_xround(acc, inp) AS kqls_mul(kqls_rotl(kqls_add(acc, kqls_mul(inp, {_P2})), "
    f"31), {_P1})",
    f"CREATE OR REPLACE TEMP MACRO kqls_xmerge(acc, val) AS kqls_add(kqls_mul(xor(acc, kqls_xround(0, val)), {_P1}), "
    f"{_P4})",
    "CREATE OR REPLACE TEMP MACRO kqls_xstripes(h, n) AS list_reduce(range(n // 32), lambda sv, k: {"
    "'v1': kqls_xround(sv.v1, kqls_rd(h, 32 * k, 8)), 'v2': kqls_xround(sv.v2, kqls_rd(h, 32 * k + 8, 8)), "
    "'v3': kqls_xround(sv.v3, kqls_rd(h, 32 * k + 16, 8)), 'v4': kqls_xround(sv.v4, kqls_rd(h, 32 * k + 24, 8))}, "
    "{'v1': CAST('6983438078262162902' AS UBIGINT), 'v2': " + _P2 + ", 'v3': CAST(0 AS UBIGINT), "
    "'v4': CAST('7046029288634856825' AS UBIGINT)})",
    "CREATE OR REPLACE TEMP MACRO kqls_xlarge(sv) AS kqls_xmerge(kqls_xmerge(kqls_xmerge(kqls_xmerge("
    "kqls_add(kqls_add(kqls_add(kqls_rotl(sv.v1, 1), kqls_rotl(sv.v2, 7)), kqls_rotl(sv.v3, 12)), "
    "kqls_rotl(sv.v4, 18)), sv.v1), sv.v2), sv.v3), sv.v4)",
    "CREATE OR REPLACE TEMP MACRO kqls_xhead(h, n) AS kqls_add(CASE WHEN n >= 32 THEN "
    f"list_transform([kqls_xstripes(h, n)], lambda sv: kqls_xlarge(sv))[1] ELSE {_P5} END, n)",
    "CREATE OR REPLACE TEMP MACRO kqls_xwords(h, n, acc) AS list_reduce(range((n % 32) // 8), lambda wa, j: "
    f"kqls_add(kqls_mul(kqls_rotl(xor(wa, kqls_xround(0, kqls_rd(h, (n // 32) * 32 + 8 * j, 8))), 27), {_P1}), "
    f"{_P4}), acc)",
    "CREATE OR REPLACE TEMP MACRO kqls_xfour(h, n, acc) AS list_transform([acc], lambda fa: CASE WHEN n % 8 >= 4 "
    f"THEN kqls_add(kqls_mul(kqls_rotl(xor(fa, kqls_mul(kqls_rd(h, n - n % 8, 4), {_P1})), 23), {_P2}), {_P3}) "
    "ELSE fa END)[1]",
    "CREATE OR REPLACE TEMP MACRO kqls_xbytes(h, n, acc) AS list_reduce(range(n - n % 4, n), lambda ba, j: "
    f"kqls_mul(kqls_rotl(xor(ba, kqls_mul(kqls_rd(h, j, 1), {_P5})), 11), {_P1}), acc)",
    "CREATE OR REPLACE TEMP MACRO kqls_xavalanche(x) AS list_transform([x], lambda a0: list_transform("
    f"[kqls_mul(xor(a0, a0 >> 33), {_P2})], lambda a1: list_transform([kqls_mul(xor(a1, a1 >> 29), {_P3})], "
    "lambda a2: xor(a2, a2 >> 32))[1])[1])[1]",
    "CREATE OR REPLACE TEMP MACRO kqls_xxh64(h) AS list_transform([h], lambda xh: list_transform([length(xh) // 2], "
    "lambda xn: list_transform([kqls_xavalanche(kqls_xbytes(xh, xn, kqls_xfour(xh, xn, kqls_xwords(xh, xn, "
    "kqls_xhead(xh, xn)))))], lambda xu: CAST(CAST(xu AS HUGEINT) - CASE WHEN xu >= CAST('9223372036854775808' AS "
    "UBIGINT) THEN CAST('18446744073709551616' AS HUGEINT) ELSE 0 END AS BIGINT))[1])[1])[1]",
    # ---- regex_quote(): where RE2's QuoteMeta and .NET's Regex.Escape agree
    "CREATE OR REPLACE TEMP MACRO kqls_regex_quote(s) AS CASE WHEN regexp_matches(s, "
    "'[^A-Za-z0-9_\\\\*+?|{\\[()^$.# \\x{80}-\\x{10FFFF}]') THEN "
    + _error("regex_quote() of characters RE2 and .NET escape differently")
    + " ELSE regexp_replace(s, '([\\\\*+?|{\\[()^$.# ])', '\\\\\\1', 'g') END",
]
_MACRO_NAME = re.compile(r"\bkqls_\w+")
_MACRO_BY_NAME = {_MACRO_NAME.findall(macro)[0]: macro for macro in _MACROS}  # each names itself first
_MACRO_USES = {
    name: [used for used in dict.fromkeys(_MACRO_NAME.findall(macro.split(" AS ", 1)[1])) if used != name]
    for name, macro in _MACRO_BY_NAME.items()
}


# ----------------------------------------------------------------- plain string functions


@with_kinds
def _string_size(compiler: Compiler, texts: list[str], kinds: list[str]) -> str:
    return f"CAST(strlen({compiler.as_string(texts[0], kinds[0])}) AS BIGINT)"


@with_kinds
def _isascii(compiler: Compiler, texts: list[str], kinds: list[str]) -> str:
    return f"(NOT regexp_matches({compiler.as_string(texts[0], kinds[0])}, '[^\\x{{00}}-\\x{{7F}}]'))"


register("string_size")(simple(_string_size, "long"))
register("isascii")(simple(_isascii, "bool"))


def _trim_sql(regex: str, source: str, leading: bool, trailing: bool) -> str:
    """Kusto removes the leading/trailing match; whether a match repeated back to back is removed
    once or entirely is not documented, so both readings are computed and must agree."""
    once, repeated = source, source
    if leading:
        once = f"regexp_replace({once}, '^(?:' || {regex} || ')', '')"
        repeated = f"regexp_replace({repeated}, '^(?:' || {regex} || ')+', '')"
    if trailing:
        once = f"regexp_replace({once}, '(?:' || {regex} || ')$', '')"
        repeated = f"regexp_replace({repeated}, '(?:' || {regex} || ')+$', '')"
    return f"(CASE WHEN {once} = {repeated} THEN {once} ELSE {_error('a trim whose regex matches repeatedly')} END)"


def _trim_handler(leading: bool, trailing: bool, name: str):
    def handler(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
        _arity(node, arguments, 2, 2, name)
        (regex, regex_kind), (source, source_kind) = _compiled(compiler, arguments, columns)
        regex = _text(compiler, regex, regex_kind, arguments[0], name)
        source = _text(compiler, source, source_kind, arguments[1], name)
        return _trim_sql(regex, source, leading, trailing), "string"

    return handler


register("trim")(_trim_handler(True, True, "trim"))
register("trim_start")(_trim_handler(True, False, "trim_start"))
register("trim_end")(_trim_handler(False, True, "trim_end"))


@register("indexof")
def _indexof(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    _arity(node, arguments, 2, 5, "indexof")
    compiled = _compiled(compiler, arguments, columns)
    source = _text(compiler, *compiled[0], arguments[0], "indexof")
    lookup = _text(compiler, *compiled[1], arguments[1], "indexof")
    numbers = []
    for (sql, kind), argument in zip(compiled[2:], arguments[2:], strict=True):
        if kind not in ("long", "int", "unknown"):
            raise compiler.unsupported(f"indexof() with a {kind} position", argument)
        numbers.append(f"CAST({sql} AS BIGINT)")
    start, length, occurrence = _indexof_defaults(numbers)
    return f"kqls_indexof({source}, {lookup}, {start}, {length}, {occurrence})", "long"


def _indexof_defaults(numbers: list[str]) -> list[str]:
    defaults = ["CAST(0 AS BIGINT)", "CAST(-1 AS BIGINT)", "CAST(1 AS BIGINT)"]
    return numbers + defaults[len(numbers) :]


@register("countof")
def _countof(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    _arity(node, arguments, 2, 3, "countof")
    compiled = _compiled(compiler, arguments, columns)
    source = _text(compiler, *compiled[0], arguments[0], "countof")
    search = _text(compiler, *compiled[1], arguments[1], "countof")
    kind = "normal"
    if len(arguments) == 3:
        value = _const_string(compiled[2][0])
        if value not in ("normal", "regex"):
            raise compiler.unsupported("countof() whose kind is not the literal 'normal' or 'regex'", arguments[2])
        kind = value
    if kind == "regex":
        matches = f"regexp_extract_all({source}, {search}, 0)"
        empty_match = _error("countof() of a regex matching empty text")
        count = f"CAST(len({matches}) AS BIGINT)"
        return f"(CASE WHEN list_contains({matches}, '') THEN {empty_match} ELSE {count} END)", "long"
    # Plain matches may overlap: count every position where the search text starts.
    count = (f"len(list_filter(range(0, length({source})), "
             f"lambda p: substring({source}, p + 1, length({search})) = {search}))")  # fmt: skip
    empty = _error("countof() of an empty string")
    return f"(CASE WHEN {search} = '' THEN {empty} ELSE CAST({count} AS BIGINT) END)", "long"


@register("strcat_array")
def _strcat_array(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    _arity(node, arguments, 2, 2, "strcat_array")
    (array, array_kind), (delimiter, delimiter_kind) = _compiled(compiler, arguments, columns)
    if array_kind != "dynamic":
        raise compiler.unsupported(f"strcat_array() of a {array_kind} value", arguments[0])
    delimiter = _text(compiler, delimiter, delimiter_kind, arguments[1], "strcat_array")
    element = _json_element_text("x")
    not_array = _error("strcat_array() of a value that is not an array")

    def body(values: list[str]) -> str:
        array = values[0]
        return (f"(CASE WHEN {array} IS NULL OR json_type({array}) = 'NULL' THEN '' "
                f"WHEN json_type({array}) <> 'ARRAY' THEN {not_array} ELSE array_to_string("
                f"list_transform(CAST({array} AS JSON[]), lambda x: {element}), {delimiter}) END)")  # fmt: skip

    return bound_once([array], body), "string"


def _json_element_text(x: str) -> str:
    """tostring() of a dynamic element; reals whose rendering differs between JSON and Kusto are refused."""
    return (f"CASE WHEN {x} IS NULL OR json_type({x}) = 'NULL' THEN '' WHEN json_type({x}) = 'VARCHAR' "
            f"THEN json_extract_string({x}, '$') WHEN json_type({x}) = 'DOUBLE' AND NOT regexp_full_match("
            f"CAST({x} AS VARCHAR), '-?[0-9]+\\.[0-9]*[1-9]') THEN {_error('a real number inside an array')} "
            f"ELSE CAST(json({x}) AS VARCHAR) END")  # fmt: skip


def _translate(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    _arity(node, arguments, 3, 3, "translate")
    compiled = _compiled(compiler, arguments, columns)
    search, replacement, source = (
        _text(compiler, sql, kind, argument, "translate")
        for (sql, kind), argument in zip(compiled, arguments, strict=True)
    )
    # A shorter replacement list repeats its last character; an empty one deletes the characters.
    padded = f"rpad({replacement}, CAST(length({search}) AS INTEGER), right({replacement}, 1))"
    duplicate = f"len(list_distinct(string_split({search}, ''))) <> length({search})"
    return (f"(CASE WHEN {duplicate} THEN {_error('translate() with a repeated search character')} "
            f"WHEN {replacement} = '' THEN translate({source}, {search}, '') "
            f"ELSE translate({source}, {search}, {padded}) END)"), "string"  # fmt: skip


register("translate")(_translate)


@register("tohex")
def _tohex(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    _arity(node, arguments, 1, 2, "tohex")
    compiled = _compiled(compiler, arguments, columns)
    value, kind = compiled[0]
    if kind == "long":
        digits = f"lower(hex(CAST({value} AS BIGINT)))"
    elif kind == "int":  # a negative int is its 32-bit two's complement
        digits = (f"lower(hex(CASE WHEN {value} < 0 THEN CAST({value} AS BIGINT) + 4294967296 "
                  f"ELSE CAST({value} AS BIGINT) END))")  # fmt: skip
    else:
        raise compiler.unsupported(f"tohex() of a {kind} value", arguments[0])
    if len(arguments) == 1:
        return f"(CASE WHEN {value} IS NULL THEN NULL ELSE {digits} END)", "string"
    width, width_kind = compiled[1]
    if width_kind not in ("long", "int"):
        raise compiler.unsupported(f"tohex() with a {width_kind} length", arguments[1])
    return (f"(CASE WHEN {value} IS NULL THEN NULL WHEN {width} < 1 THEN {_error('tohex() with a length below 1')} "
            f"WHEN length({digits}) >= least({width}, 16) THEN {digits} "
            f"ELSE lpad({digits}, CAST(least({width}, 16) AS INTEGER), '0') END)"), "string"  # fmt: skip


# ----------------------------------------------------------------- regular expressions


def _capture_groups(regex: str) -> list[str | None]:
    """The capture groups of an RE2 regex in order, each with its name (or None)."""
    groups: list[str | None] = []
    i, n, in_class = 0, len(regex), False
    while i < n:
        c = regex[i]
        if c == "\\":
            if regex.startswith("\\Q", i):
                end = regex.find("\\E", i + 2)
                i = n if end < 0 else end + 2
            else:
                i += 2
            continue
        if in_class:
            if regex.startswith("[:", i):
                end = regex.find(":]", i + 2)
                i = n if end < 0 else end + 2
                continue
            if c == "]":
                in_class = False
            i += 1
            continue
        if c == "[":
            in_class = True
            i += 1
            if regex.startswith("^", i):
                i += 1
            if regex.startswith("]", i):
                i += 1
            continue
        if c == "(":
            named = re.match(r"\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>", regex[i:])
            if named:
                groups.append(named.group(1))
            elif not regex.startswith("(?", i):
                groups.append(None)
        i += 1
    return groups


@register("extract_all", "extractall")
def _extract_all(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    _arity(node, arguments, 2, 3, "extract_all")
    compiled = _compiled(compiler, arguments, columns)
    regex = _const_string(compiled[0][0])
    if regex is None:
        raise compiler.unsupported("extract_all() with a regex that is not a string literal", arguments[0])
    names = _capture_groups(regex)
    if not 1 <= len(names) <= 16:
        raise EmulatorError("EMU006", "extract_all(): the regex must have between 1 and 16 capture groups",
                            _offset(arguments[0]))  # fmt: skip
    wanted = list(range(1, len(names) + 1))
    if len(arguments) == 3:
        groups = json_literal_value(compiled[1][0])
        if not isinstance(groups, list) or not groups:
            raise compiler.unsupported("extract_all() whose capture groups are not a literal array", arguments[1])
        wanted = []
        for group in groups:
            if isinstance(group, str) and group in names:
                wanted.append(names.index(group) + 1)
            elif isinstance(group, int) and not isinstance(group, bool) and 1 <= group <= len(names):
                wanted.append(group)
            else:
                raise EmulatorError("EMU006", f"extract_all(): no capture group {json.dumps(group)} in the regex",
                                    _offset(arguments[1]))  # fmt: skip
    source = _text(compiler, *compiled[-1], arguments[-1], "extract_all")
    pattern = _sql(regex)
    whole = f"regexp_extract_all({source}, {pattern}, 0)"
    lists = [f"regexp_extract_all({source}, {pattern}, {g})" for g in wanted]
    if len(lists) == 1:
        value = lists[0]
    else:
        value = f"list_transform(range(1, len({lists[0]}) + 1), lambda i: [{', '.join(f'{g}[i]' for g in lists)}])"
    unmatched = " OR ".join(f"list_contains(list_transform({g}, lambda v: v IS NULL), true)" for g in lists)
    return (f"(CASE WHEN len({whole}) = 0 THEN NULL "
            f"WHEN list_contains({whole}, '') THEN {_error('extract_all() of a regex matching empty text')} "
            f"WHEN {unmatched} THEN {_error('extract_all() with a capture group that did not take part in a match')} "
            f"ELSE to_json({value}) END)"), "dynamic"  # fmt: skip


@register("replace_regex")
def _replace_regex(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # Kusto and DuckDB both rewrite with RE2's GlobalReplace: \0..\9 refer to the groups.
    _arity(node, arguments, 3, 3, "replace_regex")
    source, regex, rewrite = (
        _text(compiler, sql, kind, argument, "replace_regex")
        for (sql, kind), argument in zip(_compiled(compiler, arguments, columns), arguments, strict=True)
    )
    return f"regexp_replace({source}, {regex}, {rewrite}, 'g')", "string"


@register("replace")
def _replace(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    """replace(regex, rewrite, text): the deprecated form of replace_regex(text, regex, rewrite); its
    parameters are (regex, rewrite, source) in Microsoft's own function table (Kusto.Language)."""
    _arity(node, arguments, 3, 3, "replace")
    regex, rewrite, text = arguments
    return FUNCTIONS["replace_regex"](compiler, [text, regex, rewrite], columns, node)


@register("regex_quote")
def _regex_quote(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    _arity(node, arguments, 1, 1, "regex_quote")
    (value, kind) = compiler.expr(arguments[0], columns)
    return f"kqls_regex_quote({_text(compiler, value, kind, arguments[0], 'regex_quote')})", "string"


@register("replace_strings")
def _replace_strings(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    """Literal arrays (the common case) compile to nested string_split/array_to_string: the text split
    on the first lookup, the pieces processed with the remaining lookups, joined with the first rewrite
    (replacements.py has the rules). Arrays computed per row go through a Python UDF with the same rules."""
    _arity(node, arguments, 3, 3, "replace_strings")
    compiled = _compiled(compiler, arguments, columns)
    source = _text(compiler, *compiled[0], arguments[0], "replace_strings")
    lookups, rewrites = json_literal_value(compiled[1][0]), json_literal_value(compiled[2][0])
    if lookups is NOT_CONSTANT or rewrites is NOT_CONSTANT:
        if any(kind != "dynamic" for _sql_text, kind in compiled[1:]):
            raise compiler.unsupported("replace_strings() whose lookups or rewrites are not dynamic arrays", node)
        ensure_udfs(compiler, replacements.UDFS)
        arrays = [f"coalesce(CAST({sql} AS VARCHAR), 'null')" for sql, _kind in compiled[1:]]
        return f"kqlm_replace_strings({source}, {arrays[0]}, {arrays[1]})", "string"
    try:
        pairs = replacements.replacement_pairs(lookups, rewrites)
    except Refused as refused:
        raise compiler.unsupported(str(refused), node) from None

    def build(text: str, depth: int) -> str:
        if depth == len(pairs):
            return text
        lookup, rewrite = pairs[depth]
        piece = f"p{depth}"
        inner = build(piece, depth + 1)
        return f"array_to_string(list_transform(string_split({text}, {_sql(lookup)}), lambda {piece}: {inner}), " + (
            f"{_sql(rewrite)})"
        )

    return build(source, 0), "string"


# ----------------------------------------------------------------- encodings


@register("base64_encode_tostring", "base64_encodestring")
def _base64_encode(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    _arity(node, arguments, 1, 1, "base64_encode_tostring")
    value, kind = compiler.expr(arguments[0], columns)
    return f"to_base64(encode({_text(compiler, value, kind, arguments[0], 'base64_encode_tostring')}))", "string"


def _string_argument(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node, name: str) -> str:
    _arity(node, arguments, 1, 1, name)
    value, kind = compiler.expr(arguments[0], columns)
    return _text(compiler, value, kind, arguments[0], name)


@register("base64_decode_tostring", "base64_decodestring")
def _base64_decode(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # Not base64, or not UTF-8 once decoded: null, which a string shows as "".
    text = _string_argument(compiler, arguments, columns, node, "base64_decode_tostring")
    return f"coalesce(try(decode(kqls_b64({text}))), '')", "string"


@register("base64_decode_toarray")
def _base64_toarray(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    text = _string_argument(compiler, arguments, columns, node, "base64_decode_toarray")
    return f"to_json(kqls_blob_bytes(kqls_b64({text})))", "dynamic"


@register("base64_decode_toguid")
def _base64_toguid(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # .NET Guid(byte[]): the first three fields are little-endian.
    text = _string_argument(compiler, arguments, columns, node, "base64_decode_toguid")
    return f"kqls_b64_guid({text})", "guid"


@register("base64_encode_fromguid")
def _base64_fromguid(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    _arity(node, arguments, 1, 1, "base64_encode_fromguid")
    value, kind = compiler.expr(arguments[0], columns)
    if kind != "guid":
        raise EmulatorError("EMU006", "base64_encode_fromguid() expects a guid", _offset(arguments[0]))
    return f"coalesce(kqls_guid_b64({value}), '')", "string"


@register("base64_encode_fromarray")
def _base64_fromarray(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    _arity(node, arguments, 1, 1, "base64_encode_fromarray")
    value, kind = compiler.expr(arguments[0], columns)
    if kind != "dynamic":
        raise compiler.unsupported(f"base64_encode_fromarray() of a {kind} value", arguments[0])
    return f"coalesce(kqls_bytes_b64({value}), '')", "string"


@register("url_encode")
def _url_encode(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    return f"kqls_url_encode({_string_argument(compiler, arguments, columns, node, 'url_encode')})", "string"


@register("url_decode")
def _url_decode(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    return f"kqls_url_decode({_string_argument(compiler, arguments, columns, node, 'url_decode')})", "string"


@register("unicode_codepoints_from_string")
def _codepoints_from(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    text = _string_argument(compiler, arguments, columns, node, "unicode_codepoints_from_string")
    # Characters beyond the Basic Multilingual Plane are two UTF-16 units in Kusto: not reproduced.
    sql = (f"(CASE WHEN regexp_matches({text}, '[\\x{{10000}}-\\x{{10FFFF}}]') THEN "
           f"{_error('code points beyond U+FFFF')} WHEN {text} = '' THEN CAST('[]' AS JSON) ELSE "
           f"to_json(list_transform(string_split({text}, ''), lambda c: CAST(unicode(c) AS BIGINT))) END)")  # fmt: skip
    return sql, "dynamic"


@register("unicode_codepoints_to_string", "make_string")
def _codepoints_to(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    if not arguments:
        raise EmulatorError("EMU006", "wrong number of arguments for 'unicode_codepoints_to_string'", _offset(node))
    compiled = _compiled(compiler, arguments, columns)
    if len(compiled) == 1 and compiled[0][1] == "dynamic":
        values = f"list_transform(CAST({compiled[0][0]} AS JSON[]), lambda x: TRY_CAST(CAST(x AS VARCHAR) AS BIGINT))"
    else:
        for (_, kind), argument in zip(compiled, arguments, strict=True):
            if kind not in ("long", "int"):
                raise compiler.unsupported(f"unicode_codepoints_to_string() of a {kind} value", argument)
        values = "[" + ", ".join(f"CAST({sql} AS BIGINT)" for sql, _ in compiled) + "]"
    valid = (f"list_bool_and(list_transform({values}, "
             f"lambda c: c BETWEEN 0 AND 1114111 AND NOT c BETWEEN 55296 AND 57343))")  # fmt: skip
    sql = (f"(CASE WHEN NOT coalesce({valid}, true) THEN {_error('a value that is not a Unicode code point')} "
           f"ELSE array_to_string(list_transform({values}, lambda c: chr(CAST(c AS INTEGER))), '') END)")  # fmt: skip
    return sql, "string"


# ----------------------------------------------------------------- parsing


@register("parse_csv")
def _parse_csv(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    return f"kqls_parse_csv({_string_argument(compiler, arguments, columns, node, 'parse_csv')})", "dynamic"


@register("parse_path")
def _parse_path(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    return f"kqls_parse_path({_string_argument(compiler, arguments, columns, node, 'parse_path')})", "dynamic"


@register("parse_version")
def _parse_version(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    return f"kqls_parse_version({_string_argument(compiler, arguments, columns, node, 'parse_version')})", "decimal"


# ----------------------------------------------------------------- hashes


def _hash_source(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node, name: str) -> str:
    value, kind = compiler.expr(arguments[0], columns)
    if kind == "dynamic":
        raise compiler.unsupported(f"{name}() of a dynamic value", arguments[0])
    return _text(compiler, value, kind, arguments[0], f"{name}()")


def _digest(function: str, name: str):
    def handler(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
        # The hash of the value's string form (documented: hash_sha256(datetime(2020-01-01)) is the
        # SHA-256 of "2020-01-01T00:00:00.0000000Z").
        _arity(node, arguments, 1, 1, name)
        return f"{function}({_hash_source(compiler, arguments, columns, node, name)})", "string"

    return handler


def _xxhash64(name: str):
    def handler(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
        # xxHash64 with seed 0 of the UTF-8 bytes of a string, or of a datetime's ticks as 8 bytes
        # little-endian (both checked against the documented values); other kinds are not documented.
        _arity(node, arguments, 1, 2, name)
        compiled = _compiled(compiler, arguments, columns)
        value, kind = compiled[0]
        if kind in ("string", "unknown"):
            data = f"hex(encode({compiler.as_string(value, kind)}))"
        elif kind == "datetime":
            ticks = f"lpad(hex(epoch_us({value}) * 10 + 621355968000000000), 16, '0')"
            data = f"list_transform([{ticks}], lambda t: array_to_string(list_transform(range(7, -1, -1), " + (
                "lambda b: substring(t, 2 * b + 1, 2)), ''))[1]"
            )
        else:
            raise compiler.unsupported(f"{name}() of a {kind} value", arguments[0])
        digest = f"kqls_xxh64({data})"
        if kind == "datetime":
            digest = f"(CASE WHEN {value} IS NULL THEN NULL ELSE {digest} END)"
        if len(compiled) == 1:
            return digest, "long"
        modulo, modulo_kind = compiled[1]
        if modulo_kind not in ("long", "int"):
            raise compiler.unsupported(f"{name}() with a {modulo_kind} modulo", arguments[1])
        # The documented range 0..mod-1 does not say how a negative hash is reduced.
        below_one, negative = _error(name + "() with a modulo below 1"), _error(name + "() of a negative hash, modulo")
        return (f"list_transform([{digest}], lambda hv: CASE WHEN {modulo} <= 0 THEN {below_one} "
                f"WHEN hv < 0 THEN {negative} ELSE hv % {modulo} END)[1]"), "long"  # fmt: skip

    return handler


register("hash")(_xxhash64("hash"))
register("hash_xxhash64")(_xxhash64("hash_xxhash64"))
register("hash_sha256")(_digest("sha256", "hash_sha256"))
register("hash_sha1")(_digest("sha1", "hash_sha1"))
register("hash_md5")(_digest("md5", "hash_md5"))


# ----------------------------------------------------------------- IPv4


def _ip_text(compiler: Compiler, sql: str, kind: str, node: Node, name: str) -> str:
    if kind not in ("string", "unknown", "dynamic"):
        raise compiler.unsupported(f"{name}() of a {kind} value", node)
    return compiler.as_string(sql, kind)


def _ip_list(compiler: Compiler, compiled: list[tuple[str, str]], arguments: list[Node], name: str) -> str:
    """The addresses/ranges of a function taking either several strings or one dynamic array."""
    if len(compiled) == 1 and compiled[0][1] == "dynamic":
        return f"coalesce(from_json({compiled[0][0]}, '[\"VARCHAR\"]'), [])"
    texts = [_ip_text(compiler, s, k, a, name) for (s, k), a in zip(compiled, arguments, strict=True)]
    return "[" + ", ".join(texts) + "]"


def _ip_mask(
    compiler: Compiler, compiled: list[tuple[str, str]], arguments: list[Node], name: str, version: int = 4
) -> str:
    """The optional third argument, a prefix length (default: the whole address), as SQL."""
    duck_type, default = ("BIGINT", 32) if version == 4 else ("INTEGER", 128)
    if len(compiled) < 3:
        return f"CAST({default} AS {duck_type})"
    sql, kind = compiled[2]
    if kind not in ("long", "int"):
        raise compiler.unsupported(f"{name}() with a {kind} prefix mask", arguments[2])
    return f"CAST({sql} AS {duck_type})"


@register("ipv4_compare")
def _ipv4_compare(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    _arity(node, arguments, 2, 3, "ipv4_compare")
    compiled = _compiled(compiler, arguments, columns)
    a, b = (_ip_text(compiler, s, k, n, "ipv4_compare") for (s, k), n in zip(compiled[:2], arguments, strict=False))
    return f"kqls_ip4_cmp({a}, {b}, {_ip_mask(compiler, compiled, arguments, 'ipv4_compare')})", "long"


@register("ipv4_is_match")
def _ipv4_is_match(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    _arity(node, arguments, 2, 3, "ipv4_is_match")
    compiled = _compiled(compiler, arguments, columns)
    a, b = (_ip_text(compiler, s, k, n, "ipv4_is_match") for (s, k), n in zip(compiled[:2], arguments, strict=False))
    return f"(kqls_ip4_cmp({a}, {b}, {_ip_mask(compiler, compiled, arguments, 'ipv4_is_match')}) = 0)", "bool"


@register("ipv4_netmask_suffix")
def _ipv4_netmask_suffix(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    _arity(node, arguments, 1, 1, "ipv4_netmask_suffix")
    ip = _ip_text(compiler, *compiler.expr(arguments[0], columns), arguments[0], "ipv4_netmask_suffix")
    return f"(CASE WHEN kqls_ip4_num({ip}) IS NULL THEN NULL ELSE CAST(kqls_ip4_pfx({ip}) AS INTEGER) END)", "int"


def _format_ipv4(with_mask: bool):
    name = "format_ipv4_mask" if with_mask else "format_ipv4"

    def handler(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
        _arity(node, arguments, 1, 2, name)
        compiled = _compiled(compiler, arguments, columns)
        value, kind = compiled[0]
        if kind in ("long", "int"):  # a number is the address in big-endian order
            address = f"(CASE WHEN {value} BETWEEN 0 AND 4294967295 THEN CAST({value} AS BIGINT) END)"
            own = "CAST(32 AS BIGINT)"
        elif kind in ("string", "unknown"):
            address = f"(CASE WHEN regexp_full_match({value}, '[0-9]+') THEN {_error(name + '() of digits')} " + (
                f"ELSE kqls_ip4_num({value}) END)"
            )
            own = f"kqls_ip4_pfx({value})"
        else:
            raise compiler.unsupported(f"{name}() of a {kind} value", arguments[0])
        prefix = "CAST(32 AS BIGINT)"
        if len(compiled) == 2:
            if compiled[1][1] not in ("long", "int"):
                raise compiler.unsupported(f"{name}() with a {compiled[1][1]} prefix", arguments[1])
            prefix = f"CAST({compiled[1][0]} AS BIGINT)"
        combined = f"least({own}, {prefix})"
        text = f"kqls_ip4_str(kqls_mask({address}, {combined}))"
        if with_mask:
            text = f"{text} || '/' || CAST({combined} AS VARCHAR)"
        # "If conversion isn't successful, the result will be an empty string" (a -1 prefix is one).
        return (f"(CASE WHEN {address} IS NULL OR {own} IS NULL OR {prefix} IS NULL OR {prefix} < 0 "
                f"OR {prefix} > 32 THEN '' ELSE {text} END)"), "string"  # fmt: skip

    return handler


register("format_ipv4")(_format_ipv4(False))
register("format_ipv4_mask")(_format_ipv4(True))


@register("ipv4_is_in_any_range")
def _ipv4_in_any_range(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    if len(arguments) < 2:
        raise EmulatorError("EMU006", "wrong number of arguments for 'ipv4_is_in_any_range'", _offset(node))
    compiled = _compiled(compiler, arguments, columns)
    ip = _ip_text(compiler, *compiled[0], arguments[0], "ipv4_is_in_any_range")
    constant = _constant_ranges(compiled[1:], ipv4_range)
    if constant is not None:
        return _ipv4_in_constant_ranges(ip, constant), "bool"
    ranges = _ip_list(compiler, compiled[1:], arguments[1:], "ipv4_is_in_any_range")
    return f"kqls_ip4_any({ip}, {ranges})", "bool"


_IPV4_ADDRESS = re.compile(IPV4_ADDRESS)


def ipv4_range(text: str) -> tuple[int, int] | None:
    """The first and last address (as numbers) of an IPv4 range 'a.b.c.d/n' or 'a.b.c.d', read as the
    kqls_ip4_pfx and kqls_ip4_num macros read it; None where they give null."""
    address, slash, prefix_text = text.partition("/")
    prefix = 32
    if slash:
        if not re.fullmatch(r"[0-9]{1,2}", prefix_text) or int(prefix_text) > 32:
            return None
        prefix = int(prefix_text)
    number = _ipv4_number(address)
    return None if number is None else _network(number, prefix, 32)


def _ipv4_number(text: str) -> int | None:
    """A dotted IPv4 address as a number, as kql_ipv4 reads it; None where it gives null."""
    if not _IPV4_ADDRESS.fullmatch(text):
        return None
    number = 0
    for octet in text.split("."):
        number = number * 256 + int(octet)
    return number


def _network(number: int, prefix: int, width: int) -> tuple[int, int]:
    """The first and last address of the `prefix`-bit network of a `width`-bit address."""
    size = 1 << (width - prefix)
    first = number // size * size
    return first, first + size - 1


def _constant_ranges(
    compiled: list[tuple[str, str]], read: Callable[[str], tuple[int, int] | None]
) -> list[tuple[int, int]] | None:
    """The ranges of ipv4/ipv6_is_in_any_range as numbers (`read`: ipv4_range or ipv6_range) when they are
    constants that all parse: string literals, or one dynamic array literal of strings (also through a let:
    the IOC list); None otherwise (the macro then reads them row by row, and a range that does not parse
    is its error)."""
    texts: list[str | None]
    if len(compiled) == 1 and compiled[0][1] == "dynamic":
        value = json_literal_value(compiled[0][0])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return None
        texts = list(value)
    else:
        texts = [_const_string(sql) if kind == "string" else None for sql, kind in compiled]
    ranges = [read(text) if text is not None else None for text in texts]
    if not ranges or any(r is None for r in ranges):
        return None
    return [r for r in ranges if r is not None]


def _ipv4_in_constant_ranges(ip: str, ranges: list[tuple[int, int]]) -> str:
    """kqls_ip4_any(ip, ranges) with the ranges already numbers: null for an address that does not parse,
    the same error for one with a prefix, and otherwise one comparison per range. DuckDB plans this in a
    quarter of the macro's time (each range no longer parsed in SQL)."""
    tests = " OR ".join(f"_kql_n BETWEEN {first} AND {last}" for first, last in ranges)
    prefixed = _error("an IPv4 address with a prefix where a plain address is expected")
    return (f"(CASE WHEN contains({ip}, '/') THEN CASE WHEN kqls_ip4_num({ip}) IS NULL THEN NULL ELSE {prefixed} END "
            f"ELSE list_transform([kql_ipv4({ip})], lambda _kql_n: {tests})[1] END)")  # fmt: skip


def _has_ipv4(macro: str, name: str, many: bool):
    def handler(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
        if len(arguments) < 2 or (not many and len(arguments) != 2):
            raise EmulatorError("EMU006", f"wrong number of arguments for '{name}'", _offset(node))
        compiled = _compiled(compiler, arguments, columns)
        text = _text(compiler, *compiled[0], arguments[0], name)
        if not many:
            ip = _ip_text(compiler, *compiled[1], arguments[1], name)
            return f"{macro}({text}, {ip})", "bool"
        ips = _ip_list(compiler, compiled[1:], arguments[1:], name)
        return f"coalesce(list_bool_or(list_transform({ips}, lambda ip: {macro}({text}, ip))), false)", "bool"

    return handler


register("has_ipv4")(_has_ipv4("kqls_has_ip4", "has_ipv4", False))
register("has_any_ipv4")(_has_ipv4("kqls_has_ip4", "has_any_ipv4", True))
register("has_ipv4_prefix")(_has_ipv4("kqls_has_ip4_prefix", "has_ipv4_prefix", False))
register("has_any_ipv4_prefix")(_has_ipv4("kqls_has_ip4_prefix", "has_any_ipv4_prefix", True))


@register("parse_ipv4")
def _parse_ipv4(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # "The value may include net-mask using IP-prefix notation": '192.168.1.1/24' -> 3232235776.
    _arity(node, arguments, 1, 1, "parse_ipv4")
    ip = _ip_text(compiler, *compiler.expr(arguments[0], columns), arguments[0], "parse_ipv4")
    return f"kqls_mask(kqls_ip4_num({ip}), kqls_ip4_pfx({ip}))", "long"


@register("parse_ipv4_mask")
def _parse_ipv4_mask(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    _arity(node, arguments, 2, 2, "parse_ipv4_mask")
    compiled = _compiled(compiler, arguments, columns)
    ip = _ip_text(compiler, *compiled[0], arguments[0], "parse_ipv4_mask")
    prefix = _ip_mask(compiler, [*compiled, compiled[1]], [*arguments, arguments[1]], "parse_ipv4_mask")
    return (f"(CASE WHEN {prefix} < 0 OR {prefix} > 32 THEN NULL "
            f"ELSE kqls_mask(kqls_ip4_num({ip}), least(kqls_ip4_pfx({ip}), {prefix})) END)"), "long"  # fmt: skip


# ----------------------------------------------------------------- more string functions


@register("substring")
def _substring(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    """Zero-based start, negative from the end (substring("123456", -2, 2) is "56"); a length
    running past the end stops there. A start outside the string is not documented."""
    _arity(node, arguments, 2, 3, "substring")
    compiled = _compiled(compiler, arguments, columns)
    source = _text(compiler, *compiled[0], arguments[0], "substring")
    for (_, kind), argument in zip(compiled[1:], arguments[1:], strict=True):
        if kind not in ("long", "int"):
            raise compiler.unsupported(f"substring() with a {kind} position", argument)
    outside = _error("substring() with a start outside the string or a negative length")

    def body(values: list[str]) -> str:
        source, start = values[0], values[1]
        length = values[2] if len(values) == 3 else f"length({source})"
        first = f"(CASE WHEN {start} < 0 THEN length({source}) + {start} ELSE {start} END)"
        return (f"(CASE WHEN {start} IS NULL OR {length} IS NULL THEN '' "
                f"WHEN {first} < 0 OR {first} > length({source}) OR {length} < 0 THEN {outside} "
                f"ELSE substring({source}, {first} + 1, {length}) END)")  # fmt: skip

    return bound_once([source, *(f"CAST({sql} AS BIGINT)" for sql, _ in compiled[1:])], body), "string"


@register("strrep")
def _strrep(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    _arity(node, arguments, 2, 3, "strrep")
    compiled = _compiled(compiler, arguments, columns)
    value = _text(compiler, *compiled[0], arguments[0], "strrep")
    count, count_kind = compiled[1]
    if count_kind not in ("long", "int"):
        raise compiler.unsupported(f"strrep() with a {count_kind} multiplier", arguments[1])
    delimiter = _text(compiler, *compiled[2], arguments[2], "strrep") if len(compiled) == 3 else "''"
    # The reference gives both 67108864 and 1024 as the largest multiplier: only 1..1024 is reproduced.
    outside = _error("strrep() with a multiplier outside 1..1024")
    return (f"(CASE WHEN {count} IS NULL THEN '' WHEN {count} < 1 OR {count} > 1024 THEN {outside} "
            f"ELSE repeat({value} || {delimiter}, CAST({count} - 1 AS BIGINT)) || {value} END)"), "string"  # fmt: skip


@register("reverse")
def _reverse(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    _arity(node, arguments, 1, 1, "reverse")
    text = _text(compiler, *compiler.expr(arguments[0], columns), arguments[0], "reverse")
    # Kusto reverses UTF-16 units: the same as code points inside the Basic Multilingual Plane.
    return (f"(CASE WHEN regexp_matches({text}, '[\\x{{10000}}-\\x{{10FFFF}}]') THEN "
            f"{_error('reverse() of characters beyond U+FFFF')} "
            f"ELSE array_to_string(list_reverse(string_split({text}, '')), '') END)"), "string"  # fmt: skip


@register("strcat_delim")
def _strcat_delim(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    _arity(node, arguments, 3, 65, "strcat_delim")
    texts = [
        _text(compiler, sql, kind, argument, "strcat_delim")
        for (sql, kind), argument in zip(_compiled(compiler, arguments, columns), arguments, strict=True)
    ]
    return f"concat_ws({', '.join(texts)})", "string"


@register("has_any_index")
def _has_any_index(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # The position of the first array item that the source has (the `has` term match), else -1.
    _arity(node, arguments, 2, 2, "has_any_index")
    (source, source_kind), (values, values_kind) = _compiled(compiler, arguments, columns)
    if values_kind != "dynamic":
        raise compiler.unsupported(f"has_any_index() of a {values_kind} lookup", arguments[1])
    source = _text(compiler, source, source_kind, arguments[0], "has_any_index")
    element = _json_element_text("x")
    found = f"list_position(list_transform(CAST({values} AS JSON[]), lambda x: kql_has({source}, {element})), true)"
    return f"CAST(coalesce({found} - 1, -1) AS BIGINT)", "long"


@register("to_utf8")
def _to_utf8(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    text = _string_argument(compiler, arguments, columns, node, "to_utf8")
    return f"to_json(kqls_blob_bytes(encode({text})))", "dynamic"


# ----------------------------------------------------------------- IPv6


@register("ipv6_compare")
def _ipv6_compare(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    _arity(node, arguments, 2, 3, "ipv6_compare")
    compiled = _compiled(compiler, arguments, columns)
    a, b = (_ip_text(compiler, s, k, n, "ipv6_compare") for (s, k), n in zip(compiled[:2], arguments, strict=False))
    mask = _ip_mask(compiler, compiled, arguments, "ipv6_compare", 6)
    return f"CAST(kqls_ip6_cmp({a}, {b}, {mask}) AS BIGINT)", "long"


@register("ipv6_is_match")
def _ipv6_is_match(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    _arity(node, arguments, 2, 3, "ipv6_is_match")
    compiled = _compiled(compiler, arguments, columns)
    a, b = (_ip_text(compiler, s, k, n, "ipv6_is_match") for (s, k), n in zip(compiled[:2], arguments, strict=False))
    return f"(kqls_ip6_cmp({a}, {b}, {_ip_mask(compiler, compiled, arguments, 'ipv6_is_match', 6)}) = 0)", "bool"


def _parse_ipv6(with_mask: bool):
    name = "parse_ipv6_mask" if with_mask else "parse_ipv6"

    def handler(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
        # The canonical form: eight groups of four lowercase hex digits, masked by the prefix.
        _arity(node, arguments, 2 if with_mask else 1, 2 if with_mask else 1, name)
        compiled = _compiled(compiler, arguments, columns)
        ip = _ip_text(compiler, *compiled[0], arguments[0], name)
        prefix = f"kqls_ip6_pfx({ip})"
        invalid = f"kqls_ip6_num({ip}) IS NULL"
        if with_mask:
            if compiled[1][1] not in ("long", "int"):
                raise compiler.unsupported(f"{name}() with a {compiled[1][1]} prefix", arguments[1])
            mask = f"CAST({compiled[1][0]} AS INTEGER)"
            invalid += f" OR {mask} IS NULL OR {mask} < 0 OR {mask} > 128"
            prefix = f"least({prefix}, {mask})"
        text = f"kqls_ip6_str(kqls_mask6(kqls_ip6_num({ip}), {prefix}))"
        return f"(CASE WHEN {invalid} THEN '' ELSE {text} END)", "string"

    return handler


register("parse_ipv6")(_parse_ipv6(False))
register("parse_ipv6_mask")(_parse_ipv6(True))


@register("ipv6_is_in_range")
def _ipv6_in_range(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    _arity(node, arguments, 2, 2, "ipv6_is_in_range")
    compiled = _compiled(compiler, arguments, columns)
    ip, cidr = (_ip_text(compiler, s, k, n, "ipv6_is_in_range") for (s, k), n in zip(compiled, arguments, strict=True))
    constant = _constant_ranges(compiled[1:], ipv6_range)
    if constant is not None:
        return _ipv6_in_constant_ranges(ip, constant), "bool"
    return f"kqls_ip6_any({ip}, [{cidr}])", "bool"


@register("ipv6_is_in_any_range")
def _ipv6_in_any_range(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    if len(arguments) < 2:
        raise EmulatorError("EMU006", "wrong number of arguments for 'ipv6_is_in_any_range'", _offset(node))
    compiled = _compiled(compiler, arguments, columns)
    ip = _ip_text(compiler, *compiled[0], arguments[0], "ipv6_is_in_any_range")
    constant = _constant_ranges(compiled[1:], ipv6_range)
    if constant is not None:
        return _ipv6_in_constant_ranges(ip, constant), "bool"
    return f"kqls_ip6_any({ip}, {_ip_list(compiler, compiled[1:], arguments[1:], 'ipv6_is_in_any_range')})", "bool"


_IPV6_GROUP = "[0-9A-Fa-f]{1,4}"
_IPV6_FULL = re.compile(f"{_IPV6_GROUP}(:{_IPV6_GROUP}){{7}}")
_IPV6_SHORT = re.compile(f"({_IPV6_GROUP}(:{_IPV6_GROUP}){{0,6}})?::({_IPV6_GROUP}(:{_IPV6_GROUP}){{0,6}})?")
_IPV4_MAPPED = 281470681743360  # ::ffff:0.0.0.0


def ipv6_range(text: str) -> tuple[int, int] | None:
    """The first and last address (as 128-bit numbers) of an IPv6 range, read as the kqls_ip6_form,
    kqls_ip6_pfx_f and kqls_ip6_value macros read it: an IPv4 address (also '::ffff:a.b.c.d' and
    '::a.b.c.d') is the mapped ::ffff:a.b.c.d and its '/n' counts 96 + n bits. None where they give null
    or an error (the macro path then keeps its answer and its error)."""
    address = text.split("/", 1)[0]
    ipv4 = _ipv4_number(address)
    if ipv4 is not None:
        form = "v4"
    elif address[:7].lower() == "::ffff:" and (ipv4 := _ipv4_number(address[7:])) is not None:
        form = "mapped"
    elif address.startswith("::") and (ipv4 := _ipv4_number(address[2:])) is not None:
        form = "compat"
    elif ":" in address and ("." in address or "%" in address):
        return None  # the macro's error
    elif _is_ipv6_groups(address):
        form = "v6"
    else:
        return None
    prefix = 128
    if "/" in text:
        if not re.fullmatch(r"[^/]+/[0-9]{1,3}", text) or form == "mapped":  # mapped with a prefix: an error
            return None
        bits = int(text.split("/")[1])
        if form in ("v4", "compat"):
            if bits > 32:
                return None
            bits += 96
        elif bits > 128:
            return None
        prefix = bits
    if ipv4 is not None:
        number = _IPV4_MAPPED + ipv4
    else:
        groups = address.split(":")
        if "::" in address:
            before, after = _ipv6_side(address, 0), _ipv6_side(address, 1)
            groups = [*before, *["0"] * (8 - len(before) - len(after)), *after]
        number = 0
        for group in groups:
            number = number * 65536 + int(group, 16)
    return _network(number, prefix, 128)


def _is_ipv6_groups(address: str) -> bool:
    """Eight groups of hex digits, or fewer around one '::' (kqls_ip6_form's 'v6')."""
    if _IPV6_FULL.fullmatch(address):
        return True
    return bool(_IPV6_SHORT.fullmatch(address)) and len(_ipv6_side(address, 0)) + len(_ipv6_side(address, 1)) <= 7


def _ipv6_side(address: str, index: int) -> list[str]:
    """kqls_ip6_side(split_part(address, '::', index + 1)): the groups on one side of '::'."""
    parts = address.split("::")
    side = parts[index] if index < len(parts) else ""
    return side.split(":") if side else []


def _ipv6_in_constant_ranges(ip: str, ranges: list[tuple[int, int]]) -> str:
    """kqls_ip6_any(ip, ranges) with the ranges already numbers: null for an address that does not parse,
    the macro's error for one with a prefix, else one comparison per range (the macro parses each range
    again for every row: ~90 ms to plan one ipv6_is_in_range)."""
    tests = " OR ".join(
        f"_kql_n6 BETWEEN CAST('{first}' AS UHUGEINT) AND CAST('{last}' AS UHUGEINT)" for first, last in ranges
    )
    prefixed = _error("an IPv6 address with a prefix where a plain address is expected")
    return (f"list_transform([{ip}], lambda _kql_a6: list_transform([kqls_ip6_num(_kql_a6)], lambda _kql_n6: "
            f"CASE WHEN _kql_n6 IS NULL THEN NULL WHEN contains(_kql_a6, '/') THEN {prefixed} "
            f"ELSE {tests} END)[1])[1]")  # fmt: skip
