"""Operators that pass their rows through: serialize, as and render.

The emulator's rows already keep their order from step to step (one thread, ordered subqueries), so
`serialize` only has to run its optional assignments, which may call row_number(), prev(), next()
(Compiler.operator hands them to `serialized` of functions/rows.py like an extend). `as` names the
rows for the rest of the statement; `render` is only a hint for the client that shows the result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..kql.names import name_text
from ..kql.syntax import Node
from .operators import extend, list_items
from .sql import quote_name

if TYPE_CHECKING:
    from .interface import Compiler


def serialize(compiler: Compiler, node: Node, sql: str) -> str:
    """serialize [Name = expr, ...]: the rows unchanged, plus the assigned columns as extend adds them."""
    if not list_items(node):
        return sql
    return extend(compiler, node, sql)


def as_operator(compiler: Compiler, node: Node, sql: str) -> str:
    """T | as [hint.materialized=true] Name: the rows unchanged; Name refers to them later in the query.

    Without the hint Kusto evaluates the named rows again where they are used (the `as` page's example
    shows two different `sample` rows), which a view does too; with it they are computed once.
    """
    names = [c for c in node.children if isinstance(c, Node) and c.kind == "Name"]
    if not names:
        raise compiler.unsupported("'as' without a name", node)
    name = name_text(names[-1])
    materialized = any(
        isinstance(c, Node)
        and c.kind == "Parameter"
        and "".join(t.text for t in c.tokens()).lower().replace(" ", "") == "hint.materialized=true"
        for c in node.children
    )
    kind = "TABLE" if materialized else "VIEW"
    relation = f"as_{kind.lower()}_{compiler.counter}"  # one name per kind: CREATE OR REPLACE keeps the kind
    compiler.counter += 1
    compiler.engine.create_temporary(kind, relation, f"AS {sql}")
    compiler.tables[name] = f"SELECT * FROM {quote_name(relation)}"
    return compiler.tables[name] if materialized else sql


def render(compiler: Compiler, node: Node, sql: str) -> str:
    """render Kind [with (...)]: a visualization hint; the result's rows and columns are unchanged."""
    return sql
