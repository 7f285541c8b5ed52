"""Names and literal values read off the syntax tree, as Kusto spells them: what a Name node says,
the value of a string literal, the column name of a path (`a.b` -> a_b) or of an aggregate
(`dcount(X)` -> dcount_X). Public: the binder, the emulator and the test runner share these."""

from __future__ import annotations

import re

from .lexer import T, Token
from .syntax import Node


def name_text(node: Node | None) -> str:
    """The name a Name node spells (`x`, `['x y']`)."""
    if node is None:
        return ""
    children = node.children
    if len(children) == 1 and isinstance(children[0], Token):  # the common case: one identifier or string
        token = children[0]
        if token.missing:
            return ""
        return string_value(token.text) if token.kind is T.STRING else token.text
    tokens = [t for t in node.tokens() if not t.missing]
    for token in tokens:
        if token.kind is T.STRING:
            return string_value(token.text)
    return tokens[0].text if tokens else ""


def string_value(text: str) -> str:
    """The value of a simple string literal (enough for names and watchlist aliases)."""
    body = text.lstrip("hH")
    verbatim = body.startswith("@")
    body = body.lstrip("@")
    if body.startswith("```"):
        return body[3:-3]
    quote = body[:1]
    inner = body[1:-1] if len(body) >= 2 else ""
    if verbatim:
        return inner.replace(quote * 2, quote)
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m.group(1), m.group(1)), inner)


def string_literal(node: Node) -> str | None:
    if node.kind == "Literal" and node["literal"] == "string":
        return "".join(string_value(t.text) for t in node.children if isinstance(t, Token))
    return None


def path_name(node: Node) -> str:
    """Kusto's column name for a column or property path: `A` -> A, `a.b` -> a_b, `a['b']` -> a_b."""
    if node.kind == "Name":
        return name_text(node)
    if node.kind == "MemberAccess":
        base = path_name(node["target"])
        return f"{base}_{name_text(node['member'])}" if base else ""
    if node.kind == "ElementAccess":
        base = path_name(node["target"])
        key = string_literal(node["index"]) if node["index"] is not None else None
        return f"{base}_{key}" if base and key else ""
    return ""


AGGREGATE_PREFIX = {
    "count": "count_", "countif": "countif_", "dcount": "dcount_", "dcountif": "dcountif_", "make_set": "set_",
    "makeset": "set_", "make_list": "list_", "makelist": "list_", "make_bag": "bag_", "make_set_if": "set_",
    "make_list_if": "list_", "make_bag_if": "bag_", "take_any": "any_", "any": "any_", "take_anyif": "anyif_",
    "anyif": "anyif_", "count_distinct": "count_distinct_", "count_distinctif": "count_distinctif_",
    "buildschema": "schema_",
}  # fmt: skip


def aggregate_name(function: str, arguments: list[Node]) -> str:
    """count() -> count_, dcount(X) -> dcount_X, make_set(X) -> set_X, max(X) -> max_X."""
    prefix = AGGREGATE_PREFIX.get(function, f"{function}_")
    if function == "countif" or (function == "count" and not arguments):
        return prefix
    if function in ("covariance", "covariancep", "covarianceif") and len(arguments) >= 2:  # covariance_x_y
        return prefix + subject_name(arguments[0]) + "_" + subject_name(arguments[1])
    return prefix + (subject_name(arguments[0]) if arguments else "")


def subject_name(node: Node) -> str:
    """The column name an expression contributes to an aggregate's name: A, a_b, tostring(a.b) -> a_b."""
    path = path_name(node)
    if path:
        return path
    callee = name_text(node["callee"]) if node.kind == "Call" and node["callee"].kind == "Name" else ""
    # the conversions keep the column's name (make_set(tostring(A)) is set_A); tolower/toupper do not (set_)
    if callee.startswith("to") and callee not in ("tolower", "toupper"):
        arguments = node["arguments"]["items"] or []
        if len(arguments) == 1:
            return path_name(arguments[0])
    return ""


def expanded_name(node: Node) -> str:
    """The column mv-expand expands an unnamed expression into, or "" (then Column1, ...): a column or path
    keeps its name, and so does a call of one argument (parse_json(Col), todynamic(Col) -> Col, which
    replaces Col in place; Microsoft's binder, kqlcheck --result)."""
    name = subject_name(node)
    if name or node.kind != "Call":
        return name
    arguments = node["arguments"]["items"] or []
    return path_name(arguments[0]) if len(arguments) == 1 else ""
