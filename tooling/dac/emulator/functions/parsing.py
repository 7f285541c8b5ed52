"""parse_url, parse_xml and parse_urlquery: text parsed into a dynamic value, in Python.

parse_url and parse_xml run as DuckDB Python UDFs. Each accepts only the inputs whose Kusto answer is
known (the reference page, or outputs Kusto printed in microsoft/Kusto-Query-Language issue #112 for
parse_url); any other value makes the query fail on that row (EMU002) instead of guessing.
parse_urlquery is one of the UDFs of udfs.py. The parsers that compile to SQL (parse_csv, parse_path,
parse_version, parse_ipv4) are with the string functions, in strings.py.
"""

from __future__ import annotations

import json
import re
import urllib.parse
import xml.dom
import xml.dom.minidom
import xml.parsers.expat
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ...kql.syntax import Node
from .registry import Columns, argument_text, check_arity, register
from .udfs import Refused, Udf, ensure_udfs

if TYPE_CHECKING:
    from ..interface import Compiler


class _Unsupported(ValueError):
    """Raised inside a UDF for a value whose Kusto answer is not known; reported as EMU002 (errors.py)."""

    def __init__(self, what: str):
        super().__init__(f"the emulator does not support {what}")


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
        raise _Unsupported("parse_url() of a text that is not scheme://host... (Kusto's answer is undocumented)")
    if "%" in text or "+" in text:
        raise _Unsupported("parse_url() of a URL with %-escapes or '+' (whether Kusto decodes them is undocumented)")
    parameters: dict[str, str] = {}
    query = match.group("query")
    if query:
        for pair in query.split("&"):
            name, equals, value = pair.partition("=")
            if not equals or not name:
                raise _Unsupported("parse_url() of a query part that is not name=value pairs")
            if name in parameters:
                raise _Unsupported("parse_url() of a query parameter given twice")
            parameters[name] = value
    names = sorted(parameters)
    if names != sorted(parameters, key=str.casefold):
        raise _Unsupported("parse_url() of query parameter names whose order depends on letter case")
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
    check_arity(node, arguments, 1, 1)
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
        raise _Unsupported("parse_xml() of XML with a DOCTYPE")
    try:
        document = xml.dom.minidom.parseString(text)
    except (xml.parsers.expat.ExpatError, ValueError):
        return None  # not well-formed: null (reference page)
    root = document.documentElement
    return json.dumps({_xml_name(root.tagName): _xml_value(root)}, ensure_ascii=False)


def _xml_name(name: str) -> str:
    if ":" in name:
        raise _Unsupported("parse_xml() of namespace-prefixed names")
    return name


def _xml_text(value: str) -> str:
    if value != value.strip():
        raise _Unsupported("parse_xml() of text with leading or trailing white space")
    if _TYPED_LOOKING.fullmatch(value):
        raise _Unsupported("parse_xml() of text that looks like a number or a bool (the reference page disagrees "
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
            raise _Unsupported("parse_xml() of CDATA sections")
        if child.nodeType == xml.dom.Node.TEXT_NODE:
            if child.data.strip():
                # next to child elements the text is trimmed (the page's `<e> text <a>text</a> </e>` row)
                parts.append(("#text", _xml_text(child.data.strip() if has_elements else child.data)))
            elif not has_elements:
                raise _Unsupported("parse_xml() of an element holding only white space")
        elif child.nodeType == xml.dom.Node.ELEMENT_NODE:
            parts.append((_xml_name(child.tagName), _xml_value(child)))
        elif child.nodeType == xml.dom.Node.ENTITY_REFERENCE_NODE:
            raise _Unsupported("parse_xml() of entity references")
        # comments and processing instructions are skipped (reference page)
    if len(parts) == 1 and parts[0][0] == "#text" and not element.attributes.length:
        return parts[0][1]  # <e>text</e> -> "text"
    if not parts:
        return None  # <e/> -> null
    result: dict[str, Any] = {}
    previous = None
    for key, value in parts:
        if key == "#text" and key in result:
            raise _Unsupported("parse_xml() of an element with text in several places")
        if key in result and key != previous:
            raise _Unsupported("parse_xml() of an element whose repeated children are not next to each other")
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
    check_arity(node, arguments, 1, 1)
    _ensure_udfs(compiler)
    sql, kind = compiler.expr(arguments[0], columns)
    return f"CAST(kqlc_parse_xml({compiler.as_string(sql, kind)}) AS JSON)", "dynamic"


# --------------------------------------------------------------------------- UDFs of parse_url and parse_xml
def _null_safe(function: Callable[[str], str | None]) -> Callable[[str | None], str | None]:
    def call(text: str | None) -> str | None:
        return None if text is None else function(text)

    return call


def _ensure_udfs(compiler: Compiler) -> None:
    engine = compiler.engine
    if getattr(engine, "_kql_parsing_udfs", False):
        return
    for name, function in (("kqlc_parse_url", parse_url), ("kqlc_parse_xml", parse_xml)):
        engine.connection.create_function(
            name,
            _null_safe(function),
            ["VARCHAR"],
            "VARCHAR",
            null_handling="special",  # type: ignore[arg-type]
        )
    engine._kql_parsing_udfs = True  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- parse_urlquery
def parse_urlquery(text: str) -> str:
    """{"Query Parameters": {name: value}} with %-escapes decoded; a name given twice refuses."""
    parameters: dict[str, str] = {}
    for pair in text.lstrip("?").split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        name, value = urllib.parse.unquote(name), urllib.parse.unquote(value)
        if name in parameters:
            raise Refused("parse_urlquery() of a parameter given twice")
        parameters[name] = value
    return json.dumps({"Query Parameters": parameters})


@register("parse_urlquery")
def _parse_urlquery(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    check_arity(node, arguments, 1, 1)
    ensure_udfs(compiler, _UDFS)
    return f"CAST(kqlm_parse_urlquery({argument_text(compiler, arguments[0], columns)}) AS JSON)", "dynamic"


_UDFS: list[Udf] = [("kqlm_parse_urlquery", parse_urlquery, ["VARCHAR"], "VARCHAR")]


# --------------------------------------------------------------------------- parse_command_line
def parse_command_line(text: str, parser: str) -> str:
    """The arguments of a Windows command line as CommandLineToArgvW splits them (the only parser_type,
    "windows", of the parse_command_line() reference), by the rules its documentation states:
    whitespace outside quotation marks separates arguments; leading whitespace makes the first argument
    an empty string; trailing whitespace is ignored; 2n backslashes before a quotation mark give n
    backslashes and the mark opens or closes a quoted part, 2n+1 give n backslashes and a literal mark;
    other backslashes are literal. The program name (the first argument) ends at whitespace, or when it
    starts with a quotation mark, at the next one. What the documentation leaves open is refused: an
    empty line (the function gives the caller's executable path), a quotation mark right after one that
    closes a quoted part, text right after a quoted program name."""
    if parser != "windows":
        raise Refused(f"parse_command_line() with the parser type '{parser}' (only \"windows\" is documented)")
    if not text.strip(" \t"):
        raise Refused("parse_command_line() of an empty command line")
    arguments: list[str] = []
    position = 0
    if text[0] in " \t":
        arguments.append("")  # leading whitespace: the first argument is an empty string
    elif text[0] == '"':
        end = text.find('"', 1)
        if end < 0:
            end = len(text)
        arguments.append(text[1:end])
        position = end + 1
        if position < len(text) and text[position] not in " \t":
            raise Refused("parse_command_line() of text right after a quoted program name")
    else:
        end = position
        while end < len(text) and text[end] not in " \t":
            end += 1
        arguments.append(text[:end])
        position = end
    while True:
        while position < len(text) and text[position] in " \t":
            position += 1
        if position >= len(text):
            break
        current: list[str] = []
        quoted = False
        while position < len(text) and (quoted or text[position] not in " \t"):
            character = text[position]
            if character == "\\":
                run = position
                while run < len(text) and text[run] == "\\":
                    run += 1
                count = run - position
                if run < len(text) and text[run] == '"':
                    current.append("\\" * (count // 2))
                    if count % 2:
                        current.append('"')
                        position = run + 1
                    else:
                        position = run  # the mark opens or closes a quoted part, below
                else:
                    current.append("\\" * count)
                    position = run
                continue
            if character == '"':
                if quoted and position + 1 < len(text) and text[position + 1] == '"':
                    raise Refused('parse_command_line() of "" inside a quoted part')
                quoted = not quoted
                position += 1
                continue
            current.append(character)
            position += 1
        arguments.append("".join(current))
    return json.dumps(arguments)


@register("parse_command_line")
def _parse_command_line(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    check_arity(node, arguments, 2, 2)
    ensure_udfs(compiler, _UDFS)
    line = argument_text(compiler, arguments[0], columns)
    parser = argument_text(compiler, arguments[1], columns)
    return f"CAST(kqlm_parse_command_line({line}, {parser}) AS JSON)", "dynamic"


_UDFS.append(("kqlm_parse_command_line", parse_command_line, ["VARCHAR", "VARCHAR"], "VARCHAR"))
