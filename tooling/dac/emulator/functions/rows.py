"""The functions of the serialized row order: row_number, row_cumsum, row_rank_min, row_rank_dense,
prev and next, and `serialized`, which runs the extend, project or where that calls them.

The input is numbered in its order (__row); the functions become window functions over that order
(some in stages of hidden columns, see _RowContext), and the output keeps it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ...kql.names import name_text
from ...kql.syntax import Node
from ..errors import EmulatorError
from ..sql import quote_name, sql_string
from .registry import FUNCTIONS

if TYPE_CHECKING:
    from ..interface import Compiler

Columns = list[tuple[str, str]]

ROW_FUNCTIONS = ("row_cumsum", "row_rank_min", "row_rank_dense", "row_number", "prev", "next")


def uses_row_functions(node: Node) -> bool:
    tokens = list(node.tokens())
    return any(t.text in ROW_FUNCTIONS and i + 1 < len(tokens) and tokens[i + 1].text == "("
               for i, t in enumerate(tokens))  # fmt: skip


class _RowContext:
    """Hidden columns, computed in stages over the numbered input, that the row functions read."""

    def __init__(self) -> None:
        self.stages: list[list[tuple[str, str]]] = [[], [], [], []]
        self.count = 0

    def add(self, stage: int, sql: str) -> str:
        self.count += 1
        name = f"__w{self.count}"
        self.stages[stage].append((name, sql))
        return quote_name(name)


def serialized(compiler: Compiler, node: Node, sql: str, handler: Callable[[Compiler, Node, str], str]) -> str:
    """Run an extend / project / where that calls row functions: the input is numbered in its order
    (__row), the functions become window functions over that order, and the output keeps it."""
    if node.kind not in ("Extend", "Project", "Where", "Serialize"):
        raise compiler.unsupported(f"row functions (row_number, prev, ...) in '{node.first_token().text}'", node)
    placeholder = f"row_source_{compiler.counter}"
    compiler.counter += 1
    numbered = f"SELECT *, row_number() OVER () AS __row FROM ({sql}) AS {compiler.alias()}"
    compiler.engine.create_temporary("VIEW", placeholder, f"AS {numbered}")
    stand_in = f"SELECT * FROM {quote_name(placeholder)}"
    saved = compiler.__dict__.get("row_context")
    context = compiler.__dict__["row_context"] = _RowContext()
    try:
        result = handler(compiler, node, stand_in)
    finally:
        compiler.__dict__["row_context"] = saved
    staged = numbered
    for stage in context.stages:
        if stage:
            added = ", ".join(f"{expression} AS {quote_name(name)}" for name, expression in stage)
            staged = f"SELECT *, {added} FROM ({staged}) AS {compiler.alias()}"
    if node.kind == "Project":  # keep the row number next to the projected columns, to order by it
        if not result.startswith("SELECT "):
            raise compiler.unsupported("row functions in this project", node)
        result = "SELECT __row, " + result[len("SELECT ") :]
    result = result.replace(stand_in, f"SELECT * FROM ({staged}) AS {compiler.alias()}")
    return f"SELECT * EXCLUDE (__row) FROM ({result}) AS {compiler.alias()} ORDER BY __row"


def _row_context(compiler: Compiler, node: Node) -> _RowContext:
    context = compiler.__dict__.get("row_context")
    if context is None:
        raise compiler.unsupported(f"'{name_text(node['callee'])}' outside extend, project or where", node)
    return context


def _restart_group(compiler: Compiler, context: _RowContext, restart: Node | None, columns: Columns) -> str:
    """PARTITION BY the number of restarts so far ('' when the function never restarts)."""
    if restart is None:
        return ""
    restart_sql, _ = compiler.expr(restart, columns)
    flag = context.add(0, f"coalesce({restart_sql}, false)")
    group = context.add(1, f"sum(CASE WHEN {flag} THEN 1 ELSE 0 END) OVER (ORDER BY __row ROWS UNBOUNDED PRECEDING)")
    return f"PARTITION BY {group} "


def _prev_next(window: str) -> Callable:
    def handler(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
        _row_context(compiler, node)
        if not arguments:
            raise EmulatorError("EMU006", f"{window} needs a column", node.first_token().start)
        value, kind = compiler.expr(arguments[0], columns)
        offset = compiler.expr(arguments[1], columns)[0] if len(arguments) > 1 else "1"
        default = compiler.expr(arguments[2], columns)[0] if len(arguments) > 2 else "NULL"
        return f"{window}({value}, {offset}, {default}) OVER (ORDER BY __row)", kind

    return handler


def _row_number(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    context = _row_context(compiler, node)
    start = compiler.expr(arguments[0], columns)[0] if arguments else "1"
    group = _restart_group(compiler, context, arguments[1] if len(arguments) > 1 else None, columns)
    return f"(row_number() OVER ({group}ORDER BY __row) + {start} - 1)", "long"


def _row_cumsum(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    context = _row_context(compiler, node)
    value, kind = compiler.expr(arguments[0], columns)
    if kind not in ("long", "int", "real", "decimal"):
        raise compiler.unsupported(f"row_cumsum of a {kind}", node)
    group = _restart_group(compiler, context, arguments[1] if len(arguments) > 1 else None, columns)
    duck = "DOUBLE" if kind in ("real", "decimal") else "BIGINT"
    total = f"sum({value}) OVER ({group}ORDER BY __row ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
    return f"CAST({total} AS {duck})", "real" if duck == "DOUBLE" else "long"


def _row_rank(dense: bool) -> Callable:
    """The rank moves on where the value differs from the previous row's (serialized order): to the row
    number (row_rank_min) or by one (row_rank_dense). A value that comes back after others would need
    KQL's undocumented tie handling, so the query fails there instead of guessing."""

    def handler(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
        context = _row_context(compiler, node)
        value, _ = compiler.expr(arguments[0], columns)
        group = _restart_group(compiler, context, arguments[1] if len(arguments) > 1 else None, columns)
        window = f"OVER ({group}ORDER BY __row)"
        number = context.add(2, f"row_number() {window}")
        changed = context.add(2, f"(row_number() {window} = 1 OR {value} IS DISTINCT FROM lag({value}) {window})")
        running = f"OVER ({group}ORDER BY __row ROWS UNBOUNDED PRECEDING)"
        rank_min = context.add(3, f"max(CASE WHEN {changed} THEN {number} END) {running}")
        dense_rank = context.add(3, f"sum(CASE WHEN {changed} THEN 1 ELSE 0 END) {running}")
        partition = f"{group.removesuffix(' ')}, {value}" if group else f"PARTITION BY {value}"
        first_seen = context.add(3, f"min({number}) OVER ({partition})")
        result = dense_rank if dense else rank_min
        message = "row_rank: a value comes back after other values; KQL's ranks are not documented for that"
        return (f"CAST(CASE WHEN {rank_min} = {first_seen} THEN {result} ELSE error({sql_string(message)}) END "
                f"AS BIGINT)"), "long"  # fmt: skip

    return handler


def register_row_functions() -> None:
    FUNCTIONS.setdefault("prev", _prev_next("lag"))
    FUNCTIONS.setdefault("next", _prev_next("lead"))
    FUNCTIONS["row_number"] = _row_number
    FUNCTIONS["row_cumsum"] = _row_cumsum
    FUNCTIONS["row_rank_min"] = _row_rank(dense=False)
    FUNCTIONS["row_rank_dense"] = _row_rank(dense=True)


register_row_functions()
