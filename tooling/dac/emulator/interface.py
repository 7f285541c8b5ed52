"""The compiler as the rest of the emulator sees it: the `Compiler` protocol that function handlers,
operators and plugins are written against (compiler.Compiler implements it), so that none of them
imports the compiler, which imports them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..kql.lexer import Token
    from ..kql.syntax import Node
    from .errors import EmulatorError
    from .session import Session

Columns = list[tuple[str, str]]  # (name, KQL type) of a relation's columns, in order


class Compiler(Protocol):
    """What compiling one query offers: its session and state, and the compilation of the parts."""

    engine: Session  # the DuckDB session the query runs on
    counter: int  # for unique names of temporary tables and views
    scalars: dict[str, tuple[str, str]]  # let name -> (sql, type)
    tables: dict[str, str]  # let name -> SQL of the relation
    functions: dict[str, Node]  # let name -> FunctionDeclaration
    options: dict[str, Node]  # set name = value
    search_texts: dict[str, str]  # within one `search`: joined columns SQL -> helper column
    row_named_columns: bool  # whether bag_unpack or pivot named columns after the rows' values
    known_columns: dict[str, Columns]  # SQL -> its columns, where known without asking DuckDB
    filters: dict[str, tuple[str, list[str]]]  # SQL of a where -> (its FROM item, its conditions): see where

    def unsupported(self, what: str, node: Node | Token | None) -> EmulatorError:
        """EMU001 "the emulator does not support `what`" at the node's offset (for the caller to raise)."""
        ...

    def alias(self) -> str:
        """A fresh alias for a subquery."""
        ...

    def columns(self, sql: str) -> Columns:
        """The columns of a relation: known_columns, else from DuckDB."""
        ...

    def defer_kinds(self, sql: str, read: str, columns: Columns, unsure: dict[int, str], grouped: bool = False) -> None:
        """`sql`'s columns, those at the positions of `unsure` typed as those expressions over `read`'s rows,
        told when they are first asked."""
        ...

    def expression_kinds(self, sql: str, expressions: list[str], grouped: bool = False) -> list[str] | None:
        """The types of SQL expressions over the rows of `sql`, from DuckDB without planning `sql`; None when
        they cannot be told so."""
        ...

    def let(self, statement: Node) -> None: ...

    def declare_function(self, name: str, declaration: Node) -> None: ...

    def call_function(self, node: Node, columns: Columns, tabular: bool) -> Any:
        """A call of a let function, inlined: the SQL of its table, or (sql, type) of its value."""
        ...

    def is_tabular(self, node: Node) -> bool: ...

    def tabular(self, node: Node) -> str:
        """The SQL of a tabular expression."""
        ...

    def declared(self, schema: Node | None) -> Columns:
        """The columns a schema `(Name: type, ...)` declares."""
        ...

    def operator(self, node: Node, sql: str) -> str:
        """The SQL of one pipe step over the relation `sql`."""
        ...

    def expr(self, node: Node, columns: Columns) -> tuple[str, str]:
        """(sql, KQL type) of a scalar expression over the columns."""
        ...

    def json_value(self, node: Node) -> Any:
        """The Python value of a dynamic literal's content."""
        ...

    def as_string(self, sql: str, kind: str) -> str:
        """The SQL of a value as tostring() gives it."""
        ...

    def from_dynamic(self, sql: str, kind: str) -> str:
        """The SQL of a dynamic value as a value of the kind."""
        ...
