"""column_ifexists, replace (the old argument order), parse_url, parse_xml, take_anyif and ingestion_time.

parse_url and parse_xml run as DuckDB Python UDFs. Each accepts only the inputs whose Kusto answer is
known (the reference page, or outputs Kusto printed in microsoft/Kusto-Query-Language issue #112 for
parse_url); any other value makes the query fail on that row (EMU002) instead of guessing.
"""

from __future__ import annotations

import json
import re
import xml.dom
import xml.dom.minidom
import xml.parsers.expat
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ...kql.lexer import Token
from ...kql.names import name_text, path_name, string_value
from ...kql.syntax import Node
from ..engine import EmulatorError
from . import FUNCTIONS, register

if TYPE_CHECKING:
    from ..compiler import Compiler

Columns = list[tuple[str, str]]


class _Refused(ValueError):
    """Raised inside a UDF for a value whose Kusto answer is not known; engine.py reports it as EMU002."""

    def __init__(self, what: str):
        super().__init__(f"the emulator does not support {what}")


def _offset(node: Node) -> int:
    token = node.first_token()
    return token.start if token is not None else 0


def _arity(node: Node, arguments: list[Node], count: int) -> None:
    if len(arguments) != count:
        name = name_text(node["callee"])
        raise EmulatorError("EMU006", f"wrong number of arguments for '{name}'", _offset(node))


# --------------------------------------------------------------------------- column_ifexists
def constant_string(compiler: Compiler, node: Node) -> str | None:
    """A string literal, or a let name bound to one (Kusto requires a constant here)."""
    if node.kind == "Literal" and node["literal"] == "string":
        return "".join(string_value(t.text) for t in node.children if isinstance(t, Token))
    if node.kind == "Name" and name_text(node) in compiler.scalars:
        sql, kind = compiler.scalars[name_text(node)]
        match = re.fullmatch(r"\(?'((?:[^']|'')*)'\)?", sql)
        if kind == "string" and match:
            return match.group(1).replace("''", "'")
    return None


@register("column_ifexists", "columnifexists")
def _column_ifexists(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    """The column when the input has it (names are case-sensitive), else the default value."""
    _arity(node, arguments, 2)
    name = constant_string(compiler, arguments[0])
    if name is None:
        raise compiler.unsupported("column_ifexists() whose column name is not a constant string", arguments[0])
    default_sql, default_kind = compiler.expr(arguments[1], columns)
    for column, kind in columns:
        if column == name:
            # Kusto types the result as the default value's type; a column of another type would need
            # a conversion whose rules are not documented.
            if kind != default_kind and default_kind != "unknown":
                raise compiler.unsupported(f"column_ifexists() of a {kind} column with a {default_kind} default",
                                           node)  # fmt: skip
            return _quote(name), kind
    return default_sql, default_kind


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def existing_column_name(compiler: Compiler, item: Node, columns: Columns) -> str | None:
    """Kusto names an unnamed column_ifexists(name, ...) after the column when the input has it."""
    if item.kind != "Call" or item["callee"].kind != "Name":
        return None
    if name_text(item["callee"]) not in ("column_ifexists", "columnifexists"):
        return None
    arguments = item["arguments"]["items"] or []
    name = constant_string(compiler, arguments[0]) if arguments else None
    return name if name is not None and any(column == name for column, _ in columns) else None


# --------------------------------------------------------------------------- replace
@register("replace")
def _replace(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    """replace(regex, rewrite, text): the deprecated form of replace_regex(text, regex, rewrite); its
    parameters are (regex, rewrite, source) in Microsoft's own function table (Kusto.Language)."""
    _arity(node, arguments, 3)
    regex, rewrite, text = arguments
    return FUNCTIONS["replace_regex"](compiler, [text, regex, rewrite], columns, node)


# --------------------------------------------------------------------------- ingestion_time
@register("ingestion_time")
def _ingestion_time(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    raise compiler.unsupported("ingestion_time(): fixture rows have no ingestion time", node)


# --------------------------------------------------------------------------- parse_url
# scheme://[user:password@]host[:port][/path][?query][#fragment], with the parts Kusto is known to
# split this way. A user without a password, IPv6 hosts, %-escapes and '+' are refused: Kusto's
# answers for them are undocumented or known to be odd (issue #112: the user stays in Host).
_URL = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://"
    r"(?:(?P<user>[^:@/?#\[\]]+):(?P<password>[^:@/?#\[\]]+)@)?"
    r"(?P<host>[^:@/?#\[\]]+)"
    r"(?::(?P<port>[0-9]+))?"
    r"(?P<path>/[^?#]*)?"
    r"(?:\?(?P<query>[^#]*))?"
    r"(?:#(?P<fragment>.*))?",
    re.DOTALL,
)


def parse_url(text: str) -> str:
    """The parse_url() bag; keys in Kusto's order, the path with its leading '/' (as Kusto prints it in
    issue #112; the reference page's example drops it), query parameters sorted by name (issue #112)."""
    match = _URL.fullmatch(text)
    if match is None:
        raise _Refused("parse_url() of a text that is not scheme://host... (Kusto's answer is undocumented)")
    if "%" in text or "+" in text:
        raise _Refused("parse_url() of a URL with %-escapes or '+' (whether Kusto decodes them is undocumented)")
    parameters: dict[str, str] = {}
    query = match.group("query")
    if query:
        for pair in query.split("&"):
            name, equals, value = pair.partition("=")
            if not equals or not name:
                raise _Refused("parse_url() of a query part that is not name=value pairs")
            if name in parameters:
                raise _Refused("parse_url() of a query parameter given twice")
            parameters[name] = value
    names = sorted(parameters)
    if names != sorted(parameters, key=str.casefold):
        raise _Refused("parse_url() of query parameter names whose order depends on letter case")
    bag = {
        "Scheme": match.group("scheme"),
        "Host": match.group("host"),
        "Port": match.group("port") or "",
        "Path": match.group("path") or "",
        "Username": match.group("user") or "",
        "Password": match.group("password") or "",
        "Query Parameters": {name: parameters[name] for name in names},
        "Fragment": match.group("fragment") or "",
    }
    return json.dumps(bag, ensure_ascii=False)


@register("parse_url", "parseurl")
def _parse_url(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    _arity(node, arguments, 1)
    _ensure_udfs(compiler)
    sql, kind = compiler.expr(arguments[0], columns)
    return f"CAST(kqlc_parse_url({compiler.as_string(sql, kind)}) AS JSON)", "dynamic"


# --------------------------------------------------------------------------- parse_xml
_XML_LIMIT = 1_048_576  # bytes; longer input gives null (reference page)
# Text that the page's example shows converted to a JSON number, while its table keeps text as a
# string: for such text (and true/false) Kusto's answer is ambiguous, so it is refused.
_TYPED_LOOKING = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|true|false", re.IGNORECASE)


def parse_xml(text: str) -> str | None:
    """XML -> JSON as the reference page's table shows: {"root": value}; an element with neither
    attributes nor child elements is its text (null when empty); otherwise attributes as "@name",
    text as "#text" and children by name (repeated children as an array)."""
    if len(text.encode("utf-8")) > _XML_LIMIT:
        return None
    if re.search(r"<!DOCTYPE", text, re.IGNORECASE):
        raise _Refused("parse_xml() of XML with a DOCTYPE")
    try:
        document = xml.dom.minidom.parseString(text)
    except (xml.parsers.expat.ExpatError, ValueError):
        return None  # not well-formed: null (reference page)
    root = document.documentElement
    return json.dumps({_xml_name(root.tagName): _xml_value(root)}, ensure_ascii=False)


def _xml_name(name: str) -> str:
    if ":" in name:
        raise _Refused("parse_xml() of namespace-prefixed names")
    return name


def _xml_text(value: str) -> str:
    if value != value.strip():
        raise _Refused("parse_xml() of text with leading or trailing white space")
    if _TYPED_LOOKING.fullmatch(value):
        raise _Refused("parse_xml() of text that looks like a number or a bool (the reference page disagrees "
                       "with itself on whether it stays a string)")  # fmt: skip
    return value


def _xml_value(element: Any) -> Any:
    """One element's JSON value; the parts in document order, attributes first."""
    parts: list[tuple[str, Any]] = [
        ("@" + _xml_name(name), _xml_text(value)) for name, value in element.attributes.items()
    ]
    has_elements = any(n.nodeType == xml.dom.Node.ELEMENT_NODE for n in element.childNodes)
    for child in element.childNodes:
        if child.nodeType == xml.dom.Node.CDATA_SECTION_NODE:
            raise _Refused("parse_xml() of CDATA sections")
        if child.nodeType == xml.dom.Node.TEXT_NODE:
            if child.data.strip():
                # next to child elements the text is trimmed (the page's `<e> text <a>text</a> </e>` row)
                parts.append(("#text", _xml_text(child.data.strip() if has_elements else child.data)))
            elif not has_elements:
                raise _Refused("parse_xml() of an element holding only white space")
        elif child.nodeType == xml.dom.Node.ELEMENT_NODE:
            parts.append((_xml_name(child.tagName), _xml_value(child)))
        elif child.nodeType == xml.dom.Node.ENTITY_REFERENCE_NODE:
            raise _Refused("parse_xml() of entity references")
        # comments and processing instructions are skipped (reference page)
    if len(parts) == 1 and parts[0][0] == "#text" and not element.attributes.length:
        return parts[0][1]  # <e>text</e> -> "text"
    if not parts:
        return None  # <e/> -> null
    result: dict[str, Any] = {}
    previous = None
    for key, value in parts:
        if key == "#text" and key in result:
            raise _Refused("parse_xml() of an element with text in several places")
        if key in result and key != previous:
            raise _Refused("parse_xml() of an element whose repeated children are not next to each other")
        if key in result:
            existing = result[key]
            result[key] = (
                _Repeated([*existing, value]) if isinstance(existing, _Repeated) else _Repeated([existing, value])
            )
        else:
            result[key] = value
        previous = key
    return {key: list(value) if isinstance(value, _Repeated) else value for key, value in result.items()}


class _Repeated(list):
    """The values of a child element seen more than once (a JSON array in the result)."""


@register("parse_xml")
def _parse_xml(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    _arity(node, arguments, 1)
    _ensure_udfs(compiler)
    sql, kind = compiler.expr(arguments[0], columns)
    return f"CAST(kqlc_parse_xml({compiler.as_string(sql, kind)}) AS JSON)", "dynamic"


# --------------------------------------------------------------------------- UDFs
def _null_safe(function: Callable[[str], str | None]) -> Callable[[str | None], str | None]:
    def call(text: str | None) -> str | None:
        return None if text is None else function(text)

    return call


def _ensure_udfs(compiler: Compiler) -> None:
    engine = compiler.engine
    if getattr(engine, "_kql_coverage_udfs", False):
        return
    for name, function in (("kqlc_parse_url", parse_url), ("kqlc_parse_xml", parse_xml)):
        engine.connection.create_function(
            name,
            _null_safe(function),
            ["VARCHAR"],
            "VARCHAR",
            null_handling="special",  # type: ignore[arg-type]
        )
    engine._kql_coverage_udfs = True  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- take_anyif
def take_anyif(compiler: Compiler, function: str, arguments: list[Node], columns: Columns,
               call: Node, name: str | None) -> list[tuple[str, str]]:  # fmt: skip
    """take_anyif(expr, predicate): the value of the first row (in table order) where the predicate
    holds, preferring a non-empty one as the page says Kusto tries to; null when no row qualifies.
    Named after the expression (anyif_ + it for the deprecated anyif), as Kusto.Language names it."""
    if len(arguments) != 2:
        raise EmulatorError("EMU006", f"wrong number of arguments for '{function}'", _offset(call))
    value, kind = compiler.expr(arguments[0], columns)
    predicate, _ = compiler.expr(arguments[1], columns)
    chosen = f"CASE WHEN coalesce({predicate}, false) THEN {value} END"
    if kind in ("string", "dynamic"):
        empty = f"{compiler.as_string(chosen, kind)} = ''"
        sql = f"coalesce(any_value({chosen}) FILTER (WHERE NOT ({empty})), any_value({chosen}))"
    else:
        sql = f"any_value({chosen})"
    if name is None:
        subject = path_name(arguments[0])
        if not subject:
            raise compiler.unsupported(f"{function}() of an expression without a name (name it: X = ...)", call)
        name = subject if function == "take_anyif" else f"anyif_{subject}"
    return [(name, sql)]
