"""The parse, parse-where and parse-kv operators: columns extracted from a text by a pattern (parse)
or as key=value pairs (parse-kv), typed as declared.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from ..kql.lexer import T, Token
from ..kql.names import name_text, string_value
from ..kql.syntax import Node
from ..kql.types import normalize_type
from .operators import STORED_KINDS
from .python_data import scalar_value
from .sql import DUCK_TYPES, quote_name, sql_string

if TYPE_CHECKING:
    from .interface import Compiler


# ----------------------------------------------------------------- parse, parse-where
def parse(compiler: Compiler, node: Node, sql: str) -> str:
    """parse [kind=simple|regex] Source with "text" Name:type * ... (and parse-where).

    The pattern becomes one RE2 expression: literals escaped (regex kind: as written),
    `*` skips text, a column captures text; the last column takes the rest of the string.
    Values that do not convert to the column's type become null; with parse-where, rows that
    do not match are dropped.
    """
    columns = compiler.columns(sql)
    parameters = {}
    for child in node.children:
        if isinstance(child, Node) and child.kind == "Parameter":
            tokens = [t.text for t in child.tokens()]
            parameters[tokens[0]] = tokens[-1]
    kind = parameters.get("kind", "simple").lower()
    if kind not in ("simple", "regex") or ("flags" in parameters and kind != "regex"):
        raise compiler.unsupported(f"parse kind={kind}" + (" with flags" if "flags" in parameters else ""), node)
    flags = _regex_flags(compiler, node, parameters.get("flags", ""))
    source_node = next(c for c in node.children if isinstance(c, Node) and c.kind not in ("Parameter",))
    source, source_kind = compiler.expr(source_node, columns)
    source = compiler.as_string(source, source_kind)
    pattern = next(c for c in node.children if isinstance(c, Node) and c.kind == "ParsePattern")
    parts = [p for p in pattern.children if not (isinstance(p, Token) and p.text == ",")]
    regex, captures = "", []
    index = 0
    while index < len(parts):
        part = parts[index]
        if isinstance(part, Token) and part.kind is T.STRING:
            text = string_value(part.text)
            if kind == "regex":
                try:
                    regex += non_capturing(text)
                except ValueError:
                    raise compiler.unsupported("named groups in a parse regex", part) from None
            else:
                regex += re.escape(text)
        elif isinstance(part, Token) and part.text == "*":
            regex += ".*?"
        elif isinstance(part, Node) and part.kind == "Name":
            type_ = "string"
            if index + 2 < len(parts) and isinstance(parts[index + 1], Token) and parts[index + 1].text == ":":
                type_ = normalize_type(name_text(parts[index + 2]))
                index += 2
            captures.append((name_text(part), type_))
            group = _PARSE_GROUPS.get(type_)
            if group is None:
                raise compiler.unsupported(f"parse into a {type_} column", part)
            if kind == "regex" and group == "(.*?)":  # regex mode is greedy unless flags=U (parse docs)
                group = "(.*)"
            if "U" in flags and group != "(.*)":
                _ungreedy_typed_column(compiler, parts, index, part)
            regex += group
        else:
            raise compiler.unsupported("this parse pattern", part if isinstance(part, Node) else node)
        index += 1
    if captures and captures[-1][1] == "string" and regex.endswith("(.*?)"):
        regex = regex[: -len("(.*?)")] + "(.*)"
    if "U" in flags and regex.endswith("(.*)"):
        # ungreedy, the last column would take nothing; whether Kusto then anchors the end is not documented
        raise compiler.unsupported("parse kind=regex flags=U that ends with a string column", node)
    anchored = "^" + regex + ("$" if not regex.endswith((".*?", "(.*)")) else "")
    if flags:  # RE2's own flags (the parse page's U, s and i are RE2's; the regex syntax page lists them)
        anchored = f"(?{flags}){anchored}"
    pattern_sql = sql_string(anchored)
    names = [name for name, _ in columns]
    selects = [quote_name(n) for n in names if n not in {c for c, _ in captures}]
    for number, (name, type_) in enumerate(captures, start=1):
        value = f"regexp_extract({source}, {pattern_sql}, {number})"
        if number > 9:  # DuckDB numbers groups 0-9 only; its list-of-names form reaches the later ones
            listed = ", ".join(f"'g{n}'" for n in range(1, number + 1))
            value = f"regexp_extract({source}, {pattern_sql}, [{listed}])['g{number}']"
        matched = f"regexp_matches({source}, {pattern_sql})"
        if type_ == "string":
            selects.append(f"CASE WHEN {matched} THEN {value} ELSE '' END AS {quote_name(name)}")
        else:
            cast = f"TRY_CAST({value} AS {DUCK_TYPES.get(type_, 'VARCHAR')})"
            if type_ == "datetime":
                cast = datetime_from_text(value)
            selects.append(f"CASE WHEN {matched} THEN {cast} END AS {quote_name(name)}")
    where = f" WHERE regexp_matches({source}, {pattern_sql})" if node.first_token().text == "parse-where" else ""
    result = f"SELECT {', '.join(selects)} FROM ({sql}) AS {compiler.alias()}{where}"
    captured = {c for c, _ in captures}
    known = [(name, kind) for name, kind in columns if name not in captured] + captures
    # each capture is text or TRY_CAST to its type; names that differ only in case are left to DESCRIBE
    if all(kind in STORED_KINDS for _, kind in known) and len({n.lower() for n, _ in known}) == len(known):
        compiler.known_columns[result] = known
    return result


def _regex_flags(compiler: Compiler, node: Node, text: str) -> str:
    """The flags of `parse kind=regex flags=...` that are emulated: U (ungreedy), s (`.` matches a new line) and
    i (case-insensitive), applied to the whole generated regex as RE2 applies them. m is refused: with it,
    ^ and $ match at line ends, and whether Kusto anchors the generated regex with them is not documented."""
    unknown = sorted(set(text) - set("Usi"))
    if unknown:
        raise compiler.unsupported(f"parse kind=regex with the flag {unknown[0]!r} (U, s and i are emulated)", node)
    return "".join(sorted(set(text), key="Usi".index))


def _ungreedy_typed_column(compiler: Compiler, parts: list[Any], index: int, column: Node) -> None:
    """Under flags=U a typed column's digits are matched lazily; that takes all of them only where what follows
    cannot continue them: the end of the pattern (anchored), or a text that starts with a plain character no
    number holds. Anything else (a `*`, a regex that may match digits) could split the number, and how Kusto's
    own regex for a typed column reads under U is not documented."""
    rest = parts[index + 1 :]  # index: the column's type name, the last of its parts
    if not rest:
        return
    following = rest[0]
    if isinstance(following, Token) and following.kind is T.STRING:
        text = string_value(following.text)
        if text and not text[0].isalnum() and text[0] not in "+-._\\.[](){}|?*^$":
            return
    raise compiler.unsupported("parse kind=regex flags=U with a typed column that a pattern part may continue", column)


# What a typed parse column matches (simple and regex kinds alike); dates are not attempted.
_PARSE_GROUPS = {
    "string": "(.*?)", "long": "(-?[0-9]+)", "int": "(-?[0-9]+)",
    "real": "(-?[0-9]+(?:\\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)", "bool": "(true|false|True|False)",
    "datetime": "(.*?)",
}  # fmt: skip


# ----------------------------------------------------------------- text -> datetime (parse, parse-kv)
def datetime_from_text(text_sql: str) -> str:
    """ISO 8601 (with Z or an offset, which is applied) and US month/day/year, as KQL reads them."""
    text = f"trim({text_sql})"
    us_formats = "['%m/%d/%Y %H:%M:%S', '%m/%d/%Y %H:%M:%S.%f', '%m/%d/%Y %H:%M', '%m/%d/%Y']"
    return (f"(CASE WHEN regexp_matches({text}, '\\d[T ]\\d\\d:\\d\\d(:\\d\\d(\\.\\d+)?)?[+-]\\d\\d:\\d\\d$') "
            f"THEN CAST(TRY_CAST({text} AS TIMESTAMPTZ) AS TIMESTAMP) "
            f"ELSE coalesce(TRY_CAST({text} AS TIMESTAMP), try_strptime({text}, {us_formats})) END)")  # fmt: skip


def non_capturing(regex: str) -> str:
    """A user's regex inside a parse pattern: its own groups must not shift the columns' group numbers."""
    out, index, in_class = [], 0, False
    while index < len(regex):
        char = regex[index]
        if char == "\\":
            out.append(regex[index : index + 2])
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(" and not regex.startswith("(?", index):
            out.append("(?:")
            index += 1
            continue
        elif regex.startswith("(?P<", index) or regex.startswith("(?<", index):
            raise ValueError("named groups")
        out.append(char)
        index += 1
    return "".join(out)


# ----------------------------------------------------------------- parse-kv
def split_key_values(text: str | None, pair: str, kv: str, quotes: str, escapes: str) -> str | None:
    """The key=value pairs of text (later keys do not replace earlier ones), as a JSON object.

    A key or value may be quoted (inside quotes an escape character keeps the next character);
    an unquoted value ends at the pair delimiter; a word without the key-value delimiter is skipped."""
    if text is None:
        return None
    found: dict[str, str] = {}
    position = 0

    def read(start: int, stops: tuple[str, ...]) -> tuple[str, int]:
        if start < len(text) and text[start] in quotes:
            closing, index, chars = text[start], start + 1, []
            while index < len(text) and text[index] != closing:
                if text[index] in escapes and index + 1 < len(text):
                    index += 1
                chars.append(text[index])
                index += 1
            return "".join(chars), index + 1
        ends = [i for i in (text.find(s, start) for s in stops if s) if i >= 0]
        end = min(ends) if ends else len(text)
        return text[start:end], end

    while position < len(text):
        if text.startswith(pair, position):
            position += len(pair)
            continue
        key, position = read(position, (kv, pair))
        if text.startswith(kv, position):
            value, position = read(position + len(kv), (pair,))
            found.setdefault(key, value)
    return json.dumps(found)


def parse_kv(compiler: Compiler, node: Node, sql: str) -> str:
    columns = compiler.columns(sql)
    source_node = next(c for c in node.children[1:] if isinstance(c, Node))
    source, kind = compiler.expr(source_node, columns)
    source = compiler.as_string(source, kind)
    keys = compiler.declared(_schema(node))
    properties: dict[str, Any] = {}
    for child in node.children:
        if isinstance(child, Node) and child.kind == "Properties":
            for item in child.children:
                if isinstance(item, Node) and item.kind == "Assignment":
                    properties[name_text(item["name"]).lower()] = scalar_value(compiler, item["value"])
    if "regex" in properties or str(properties.get("greedy", "false")).lower() == "true":
        raise compiler.unsupported("parse-kv with regex= or greedy=true", node)
    if "pair_delimiter" not in properties or "kv_delimiter" not in properties:
        raise compiler.unsupported("parse-kv without pair_delimiter and kv_delimiter", node)
    connection = compiler.engine.connection
    if not compiler.engine.__dict__.get("parse_kv_registered"):
        connection.create_function("kql_parse_kv", split_key_values, ["VARCHAR"] * 5, "VARCHAR",
                                   null_handling="special", side_effects=False)  # fmt: skip
        compiler.engine.__dict__["parse_kv_registered"] = True
    arguments = ", ".join(sql_string(str(properties.get(p, ""))) for p in ("pair_delimiter", "kv_delimiter", "quote",
                                                                             "escape"))  # fmt: skip
    pairs = f"kql_parse_kv({source}, {arguments})"
    key_names = {n for n, _ in keys}
    selects = [quote_name(n) for n, _ in columns if n not in key_names]
    for name, key_kind in keys:
        value = f"json_extract_string(__kv, {sql_string(_json_path(name))})"
        if key_kind == "string":
            typed = f"coalesce({value}, '')"
        elif key_kind == "datetime":
            typed = datetime_from_text(value)
        elif key_kind == "dynamic":
            typed = f"kql_parse_json({value})"
        else:
            typed = f"TRY_CAST({value} AS {DUCK_TYPES.get(key_kind, 'VARCHAR')})"
        selects.append(f"{typed} AS {quote_name(name)}")
    inner = f"SELECT *, {pairs} AS __kv FROM ({sql}) AS {compiler.alias()}"
    return f"SELECT {', '.join(selects)} FROM ({inner}) AS {compiler.alias()}"


def _json_path(key: str) -> str:
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _schema(node: Node) -> Node | None:
    return next((c for c in node.children if isinstance(c, Node) and c.kind == "Schema"), None)
