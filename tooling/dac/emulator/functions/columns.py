"""Functions of the input's columns and rows: column_ifexists, column_names_of and ingestion_time."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from ...kql.lexer import Token
from ...kql.names import name_text, string_value
from ...kql.syntax import Node
from ..sql import sql_string
from .registry import Columns, check_arity, register

if TYPE_CHECKING:
    from ..interface import Compiler


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
    check_arity(node, arguments, 2, 2)
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


# --------------------------------------------------------------------------- column_names_of
@register("column_names_of")
def _column_names_of(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    check_arity(node, arguments, 1, 1)
    names = [name for name, _ in compiler.columns(compiler.tabular(arguments[0]))]
    return f"CAST({sql_string(json.dumps(names))} AS JSON)", "dynamic"


# --------------------------------------------------------------------------- ingestion_time
@register("ingestion_time")
def _ingestion_time(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    """A fixture row has no ingestion time of its own (Kusto keeps it in the hidden $IngestionTime
    column, which a query cannot name): the emulator takes the row's TimeGenerated (Log Analytics) or
    Timestamp (Defender) instead, the time a test sets (docs/testing.md). Without either, refused:
    Kusto's answer depends on the table's IngestionTime policy."""
    check_arity(node, arguments, 0, 0)
    kinds = dict(columns)
    for column in ("TimeGenerated", "Timestamp"):
        if kinds.get(column) == "datetime":
            return _quote(column), "datetime"
    raise compiler.unsupported(
        "ingestion_time(): fixture rows have no ingestion time, and this input has no TimeGenerated or "
        "Timestamp column to stand for it",
        node,
    )
