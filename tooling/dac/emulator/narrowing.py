"""Which columns of a test's tables a query can see: the rest are left out of the tables the emulator
creates for one test run (DuckDB's cost of planning a query and of an insert grows with the width of
its tables: SecurityEvent has over 200 columns, a test gives two or three).

Narrowing must never change an answer. A column that no fixture row gives holds only its default in
every row ("" or null), so leaving it out changes no value a query computes from named columns; what
it can change is the shape of the result (a row passed through whole) and what looks at the set of
columns itself. So a table is narrowed to the columns the query names anywhere (any name or string
in its text, which covers `['x']`, `$left.x` and column_ifexists' literal), the columns the fixture
gives and both time columns (ingestion_time reads them), and only when
- nothing in the query looks at the column set (pack_all, getschema, column_ifexists, evaluate
  plugins, find, search: OBSERVERS), and
- the binder, bound once on the whole tables and once on the narrowed ones, reports the same
  findings (none of them an error) and the same result columns, in the same order and of the same
  types, but for columns the query does not name: those a result passes through from the tables
  (no project, summarize or the like). The emulator puts them back into the result, in their place,
  with the default every row of theirs holds (engine.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..kql.binder import Binder
from ..kql.lexer import T
from ..kql.names import string_value
from ..kql.parser import parse
from ..kql.symbols import Environment

# Names in a query that make its answer depend on which columns exist, not only on their values.
OBSERVERS = frozenset(
    {
        "pack_all",
        "getschema",
        "column_ifexists",
        "columnifexists",
        "column_names_of",
        "evaluate",
        "find",
        "search",
        "buildschema",
    }
)
# ingestion_time() reads the row's time column; Sentinel tables may have both (fixtures.py).
TIME_COLUMNS = ("Timestamp", "TimeGenerated")


@dataclass(frozen=True)
class Narrowing:
    """How one run's tables are narrowed: `tables`, the columns to create per table (in the table's
    order); `output`, the result's columns on the whole tables (the binder's, in order); `dropped`, those
    of them the narrowed run lacks: columns passed through from the tables that no fixture gives and the
    query does not name, so they hold their default ("" or null) in every row of the whole run's result."""

    tables: dict[str, dict[str, str]]
    output: list[tuple[str, str]]
    dropped: frozenset[str]


def narrowed_columns(query_text: str, environment: Environment, given: Mapping[str, Iterable[str]]) -> Narrowing | None:
    """How to narrow the tables the query reads, or None when the whole tables must be created.
    `given`: the columns each fixture gives."""
    parsed = parse(query_text)
    if parsed.diagnostics:
        return None
    names: set[str] = set()
    for token in parsed.tree.tokens():
        if token.kind is T.STRING:
            names.add(string_value(token.text))
        elif token.text in OBSERVERS:
            return None
        else:
            names.add(token.text)
    whole = Binder(environment)
    output = whole.bind_query(parsed.tree)
    if output is None or output.open or any(d.severity == "error" for d in whole.diagnostics):
        return None
    names.update(TIME_COLUMNS)
    narrowed: dict[str, dict[str, str]] = {}
    for table in whole.tables_read:
        columns = environment.tables.get(table)
        if columns is None:
            continue
        # A kept column keeps the columns whose names differ from its only in case (LogonId, LogonID): DuckDB
        # resolves names without case, and which of them a name reads depends on all of them (session.py).
        kept = {name.lower() for name in names | set(given.get(table, ()))}
        narrowed[table] = {column: kind for column, kind in columns.items() if column.lower() in kept}
    if not narrowed:
        return None
    tables = {**environment.tables, **narrowed}
    narrow = Binder(
        Environment(environment.dialect, tables, environment.function_tables, environment.other_dialect_tables)
    )
    narrow_output = narrow.bind_query(parsed.tree)
    if not narrow_output or narrow_output.open or not narrow_output.columns or _findings(narrow) != _findings(whole):
        return None
    # The narrowed result must be the whole one less columns the query never names (whose values are then
    # defaults): a column it computes or names keeps its name, type and place.
    dropped = frozenset(output.columns) - frozenset(narrow_output.columns)
    if dropped & names or [item for item in output.items() if item[0] not in dropped] != narrow_output.items():
        return None
    return Narrowing(narrowed, output.items(), dropped)


def _findings(binder: Binder) -> list[tuple[str, int, int, str]]:
    return [(d.code, d.start, d.end, d.severity) for d in binder.diagnostics]
