"""The registry of the emulator's scalar functions, FUNCTIONS (KQL name -> handler), and what the
handlers are built from.

A handler takes (compiler, arguments, columns, call node) and returns (sql, kql type). The
helpers `simple` (compile the arguments, then format SQL) and `with_kinds` (the SQL builder
also sees the argument types) cover most functions. The family modules of this package register
their handlers here when the package is imported (see __init__.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ...kql.names import name_text
from ...kql.syntax import Node
from ..errors import EmulatorError, offset_of

if TYPE_CHECKING:
    from ..interface import Compiler

Columns = list[tuple[str, str]]
Handler = Callable[["Compiler", list[Node], Columns, Node], tuple[str, str]]
FUNCTIONS: dict[str, Handler] = {}


def register(*names: str) -> Callable[[Handler], Handler]:
    def decorate(handler: Handler) -> Handler:
        for name in names:
            FUNCTIONS[name] = handler
        return handler

    return decorate


def simple(sql: Callable[..., str], kind: str | Callable[..., str]) -> Callable:
    """A function whose arguments are compiled first: sql(*argument_sql), result kind (or from kinds)."""

    def handler(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
        compiled = [compiler.expr(a, columns) for a in arguments]
        texts = [s for s, _ in compiled]
        kinds = [k for _, k in compiled]
        try:
            text = sql(*texts) if not getattr(sql, "wants_kinds", False) else sql(compiler, texts, kinds)
        except EmulatorError as error:  # a refusal without a place: the call's
            if error.offset == 0:
                error.offset = offset_of(node)
            raise
        except TypeError:
            raise EmulatorError("EMU006", f"wrong number of arguments for '{name_text(node['callee'])}'",
                                offset_of(node)) from None  # fmt: skip
        return text, (kind(kinds) if callable(kind) else kind)

    return handler


def with_kinds(function: Callable) -> Callable:
    function.wants_kinds = True  # type: ignore[attr-defined]
    return function


def check_arity(node: Node, arguments: list[Node], low: int, high: int) -> None:
    if not low <= len(arguments) <= high:
        name = name_text(node["callee"])
        raise EmulatorError("EMU006", f"wrong number of arguments for '{name}'", offset_of(node))


def argument_text(compiler: Compiler, argument: Node, columns: Columns) -> str:
    sql, kind = compiler.expr(argument, columns)
    return compiler.as_string(sql, kind)
