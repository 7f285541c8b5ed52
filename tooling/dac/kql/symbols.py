"""What the binder binds against and returns, and the names it keeps: the Environment a query is bound
in (one dialect's tables), the BindResult it yields, and the Symbol and Scope of the names that `let`,
`as`, `declare` and function parameters bring into a query."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from .syntax import KqlDiagnostic, Node
from .types import UNKNOWN, RowSchema


@dataclass
class Environment:
    """What a query can refer to in one dialect."""

    dialect: str
    tables: dict[str, dict[str, str]]
    # Columns that tabular platform functions (_GetWatchlist, FileProfile, ...) return or add, by name.
    function_tables: dict[str, RowSchema] = field(default_factory=dict)
    # Tables of the other platform, so that a message can say "exists in Sentinel but not in Defender".
    other_dialect_tables: frozenset[str] = frozenset()


@dataclass
class BindResult:
    diagnostics: list[KqlDiagnostic]
    output: RowSchema | None  # the schema of the query's result, when the query ends in a table
    tables: set[str]  # tables the query reads


@dataclass
class Symbol:
    kind: str  # scalar | table | function
    type: str = UNKNOWN
    schema: RowSchema | None = None
    declaration: Node | None = None
    scope: Scope | None = None  # a function's: the names declared before it, which its body sees
    reach: int = 0  # a function's: how many levels its body nests below a call, with the calls it makes
    value: str | None = None  # a scalar's, when it is a known string (a literal): table(name) reads that table


class Scope:
    """The names of one scope (and, through `parent`, of the scopes around it).

    Each name keeps every symbol it was bound to and when, so that a snapshot (what a let function's body
    sees: the names declared before the function) is taken in constant time however many lets there are."""

    def __init__(self, parent: Scope | None = None):
        self.parent = parent
        self._bindings: dict[str, list[tuple[int, Symbol]]] = {}
        self._clock = [0]  # shared with this scope's snapshots
        self._until: int | None = None  # a snapshot sees the bindings made up to this time

    def define(self, name: str, symbol: Symbol) -> None:
        if self._until is not None:
            raise ValueError("a snapshot of a scope is read-only")
        self._clock[0] += 1
        self._bindings.setdefault(name, []).append((self._clock[0], symbol))

    def local(self, name: str) -> Symbol | None:
        """The symbol `name` has in this scope itself (not around it)."""
        bindings = self._bindings.get(name)
        if not bindings:
            return None
        if self._until is None:
            return bindings[-1][1]
        index = bisect.bisect_right(bindings, self._until, key=lambda binding: binding[0])
        return bindings[index - 1][1] if index else None

    def lookup(self, name: str) -> Symbol | None:
        scope: Scope | None = self
        while scope is not None:
            symbol = scope.local(name)
            if symbol is not None:
                return symbol
            scope = scope.parent
        return None

    def snapshot(self) -> Scope:
        """The names visible now: what is declared later in this scope does not show in the snapshot."""
        copy = Scope(self.parent)
        copy._bindings, copy._clock = self._bindings, self._clock
        copy._until = self._clock[0] if self._until is None else self._until
        return copy

    def names(self) -> set[str]:
        names: set[str] = set()
        scope: Scope | None = self
        while scope is not None:
            names.update(name for name in scope._bindings if scope.local(name) is not None)
            scope = scope.parent
        return names
