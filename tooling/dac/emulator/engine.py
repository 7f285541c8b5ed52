"""The emulator: a Session (session.py: DuckDB with KQL's functions as SQL macros, and the fixture
tables) and the runner that compiles a query (compiler.py) and converts the result back to KQL values.

Every run has limits (QueryLimits): a time limit (a watchdog thread interrupts the connection),
DuckDB's memory limit with no spilling to disk, and a cap on the rows fetched into Python.
Exceeding one is an EmulatorError (EMU008 time, EMU009 memory, EMU010 rows) whose message names
the limit and how to change it; the connection stays usable afterwards.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from ..kql.binder import Environment
from .errors import (
    LIMIT_CODES,
    OUT_OF_MEMORY,
    TIMEOUT,
    TOO_MANY_ROWS,
    TYPE_HINT,
    EmulatorError,
    debug_detail,
    query_failure,
)
from .narrowing import Narrowing, narrowed_columns
from .session import CASE_TWIN, Session
from .sql import DUCK_TYPES, kql_type_of, quote_name
from .ticks import DATETIME_NS, public_kind, ticks_columns
from .watchdog import Watchdog

# The public names, the limit codes and EmulatorError among them (dac.testing imports those from here).
__all__ = [
    "DEFAULT_MEMORY_LIMIT",
    "DEFAULT_TIMEOUT",
    "LIMIT_CODES",
    "MAX_RESULT_ROWS",
    "OUT_OF_MEMORY",
    "TIMEOUT",
    "TOO_MANY_ROWS",
    "Emulator",
    "EmulatorError",
    "QueryLimits",
    "QueryResult",
    "address_space_limit",
    "format_seconds",
    "format_size",
    "json_or_text",
    "limit_error",
]

# The defaults of dac.yml's `limits:` (project.py holds the same two numbers).
DEFAULT_TIMEOUT = 60.0  # seconds
DEFAULT_MEMORY_LIMIT = 2 * 1024**3  # bytes: a 7 GiB CI runner keeps room for Python and the rest
MAX_RESULT_ROWS = 500_000  # as Kusto, which truncates a result at 500,000 records


@dataclass(frozen=True)
class QueryLimits:
    """What one query run may use.

    `timeout`: seconds from the start of `run` (compiling included) to the last row fetched;
    `memory_limit`: bytes DuckDB may hold (nothing spills to disk); `max_rows`: the most rows a
    result may have. The hints end the messages: how the user changes the limit.
    """

    timeout: float = DEFAULT_TIMEOUT
    memory_limit: int = DEFAULT_MEMORY_LIMIT
    max_rows: int = MAX_RESULT_ROWS
    timeout_hint: str = "set limits.query_timeout in dac.yml"
    memory_hint: str = "set limits.memory_limit in dac.yml"


@dataclass
class QueryResult:
    columns: list[tuple[str, str]]
    rows: list[Sequence[Any]]  # tuples, or lists where values were converted


class Emulator(Session):
    def __init__(
        self,
        environment: Environment,
        *,
        now: dt.datetime | None = None,
        externaldata: dict[str, Path] | None = None,
        limits: QueryLimits | None = None,
        one_query: bool = False,
    ):
        self.limits = limits or QueryLimits()
        super().__init__(environment, now=now, externaldata=externaldata, memory_limit=self.limits.memory_limit)
        # One query per load (a test run): tables are created when the query is known, with only the columns
        # it can see (narrowing.py). Otherwise (dac kql run, many queries on one load) as they are loaded.
        self.one_query = one_query
        self.pending: dict[str, tuple[dict[str, str], list[dict[str, Any]]]] = {}
        self.narrowing: Narrowing | None = None
        self._watchdog: Watchdog | None = None

    def reuse(
        self,
        environment: Environment,
        *,
        now: dt.datetime | None = None,
        externaldata: dict[str, Path] | None = None,
        limits: QueryLimits | None = None,
    ) -> bool:
        """Ready this emulator for another test, as a new one with these arguments would be; False (and
        nothing changed) when it cannot be: DuckDB's memory limit is fixed for the connection's life."""
        wanted = limits or QueryLimits()
        if wanted.memory_limit != self.limits.memory_limit:
            return False
        self.reset(environment, now=now, externaldata=externaldata)
        self.pending.clear()
        self.narrowing = None
        self.limits = wanted
        return True

    # ----------------------------------------------------------------- tables
    def load_table(self, name: str, rows: list[dict[str, Any]]) -> None:
        columns = self.table_columns(name)
        if not columns and rows:
            columns = {column: _guess_type(value) for column, value in rows[0].items()}
        if self.one_query:
            self.pending[name] = (columns, rows)
        else:
            self._create(name, columns, rows)

    def _create(self, name: str, columns: dict[str, str], rows: list[dict[str, Any]]) -> None:
        try:
            self.create_table(name, columns, rows)
        except (duckdb.OutOfMemoryException, MemoryError):
            raise self.limit_error(OUT_OF_MEMORY, f"loading the table {name} ({len(rows):,} rows)") from None

    def _create_pending(self, query_text: str) -> None:
        """Create the loaded tables, narrowed to the columns this query can see where that cannot change
        its answer (narrowing.py); the platform tables it reads without fixture rows are narrowed too
        (ensure_table). The rows stay until the next test, should the run need the whole tables after all."""
        # A column a fixture gives: one with a value other than the table's default (a string's is "")
        given = {
            name: {
                column
                for row in rows
                for column, value in row.items()
                if value is not None and (value != "" or columns.get(column) != "string")
            }
            for name, (columns, rows) in self.pending.items()
        }
        try:
            self.narrowing = narrowed_columns(query_text, self.environment, given)
        except Exception:  # narrowing only saves time: whatever fails in it, the whole tables answer
            self.narrowing = None
        self.narrowed = self.narrowing.tables if self.narrowing is not None else {}
        self._create_loaded()

    def _create_loaded(self) -> None:
        """Create the tables of the loaded rows, with this run's columns (self.narrowed, or the whole ones)."""
        for name, (columns, rows) in self.pending.items():
            self._create(name, self.narrowed.get(name, columns), rows)

    def _widened(self, result: QueryResult) -> QueryResult | None:
        """The result of a narrowed run with the columns it passed through and the tables lacked put back
        (narrowing.py), each holding its default in every row; None when the result is not the one the
        binder foresaw (the run is then made again on the whole tables)."""
        narrowing = self.narrowing
        assert narrowing is not None
        if not narrowing.dropped:
            return result
        wanted = [(name, kind) for name, kind in narrowing.output if name not in narrowing.dropped]
        if [name for name, _ in result.columns] != [name for name, _ in wanted]:
            return None
        position = {name: index for index, (name, _) in enumerate(result.columns)}
        columns: list[tuple[str, str]] = []
        sources: list[int | str | None] = []  # a result column's index, or the default of a dropped one
        for name, kind in narrowing.output:
            if name in narrowing.dropped:
                public = public_kind(kql_type_of(DUCK_TYPES.get(kind, "VARCHAR")))
                columns.append((name, public))
                sources.append("" if public == "string" else None)
            else:
                columns.append(result.columns[position[name]])
                sources.append(position[name])
        rows = [[row[s] if type(s) is int else s for s in sources] for row in result.rows]
        return QueryResult(columns, rows)

    # ----------------------------------------------------------------- queries
    def run(self, query_text: str) -> QueryResult:
        """The query's result, within self.limits (EMU008, EMU009, EMU010 otherwise)."""
        if self.one_query:
            self._create_pending(query_text)
        with self._time_limit() as expired:
            try:
                return self._run(query_text) if self.narrowing is None else self._run_narrowed(query_text, expired)
            except (duckdb.Error, EmulatorError, MemoryError) as exc:
                if expired.is_set():  # whatever broke after the deadline broke because of it
                    raise self.limit_error(TIMEOUT) from None
                if isinstance(exc, MemoryError) or (isinstance(exc, EmulatorError) and exc.code == OUT_OF_MEMORY):
                    raise self.limit_error(OUT_OF_MEMORY) from None
                if isinstance(exc, duckdb.Error):  # from a step of the compiler that ran SQL
                    raise query_failure(exc) from None
                raise

    def _run_narrowed(self, query_text: str, expired: threading.Event) -> QueryResult:
        """The run on narrowed tables, its result widened again; should it fail or not give the columns the
        binder foresaw, the run is made again on the whole tables (so narrowing never changes an answer)."""
        try:
            widened = self._widened(self._run(query_text))
        except (duckdb.InterruptException, duckdb.OutOfMemoryException, MemoryError):
            raise
        except (duckdb.Error, EmulatorError) as exc:
            if expired.is_set() or (isinstance(exc, EmulatorError) and exc.code in LIMIT_CODES):
                raise
            widened = None
        if widened is not None:
            return widened
        self.narrowing, self.narrowed = None, {}
        for name in sorted(self.loaded - set(self.pending)):  # empty platform tables the query read
            self.create_table(name, self.table_columns(name), [])
        self._create_loaded()
        return self._run(query_text)

    def limit_error(self, code: str, what: str = "the query") -> EmulatorError:
        return limit_error(self.limits, code, what)

    def _placed(self, error: EmulatorError) -> EmulatorError:
        """A type mismatch DuckDB met somewhere in the query, placed at the innermost function call that
        DuckDB cannot bind on its own (its arguments typed as the columns it reads), named in KQL words."""
        if not error.is_type_mismatch:
            return error
        for offset, name, sql, columns in self.kql_calls:
            row = ", ".join(f"CAST(NULL AS {DUCK_TYPES.get(kind, 'VARCHAR')}) AS {quote_name(column)}"
                            for column, kind in columns) or "1 AS _kql_none"  # fmt: skip
            try:
                self.connection.execute(f"DESCRIBE SELECT {sql} FROM (SELECT {row}) AS _kql_probe").fetchall()
            except duckdb.Error as exc:
                probe = query_failure(exc)
                if probe.is_type_mismatch:
                    message = f"the emulator cannot run {name}() on arguments of these types {TYPE_HINT}"
                    return EmulatorError("EMU002", debug_detail(message, error.engine_text), offset)
        return error

    def _time_limit(self) -> AbstractContextManager[threading.Event]:
        """The run's time limit (watchdog.py): the event is set once it has passed."""
        if self._watchdog is None:
            self._watchdog = Watchdog(self.connection.interrupt)
        return self._watchdog.limit(self.limits.timeout)

    def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.close()
            self._watchdog = None
        super().close()

    def _run(self, query_text: str) -> QueryResult:
        # Imported on the first run, not with the package: what only needs fixtures.py or the limits
        # does not load the compiler and the function modules.
        from .compiler import compile_query

        self.kql_calls: list[tuple[int, str, str, list[tuple[str, str]]]] = []
        self.drop_stale()
        try:
            sql, known = compile_query(self, query_text)
        except EmulatorError as error:
            raise self._placed(error) from None
        unwrapped = self._few_rows() or (known is not None and len(known) > _WRAPPED_COLUMNS)
        if known is None or (unwrapped and not any(kind == DATETIME_NS for _, kind in known)):
            # Run the query as it is (no DESCRIBE of unknown columns, no wrapping SELECT of every column of a
            # wide result: for a wide query either costs as much as a test's run) and make its null strings
            # empty in Python. Only a result with 100 ns datetimes, which DuckDB hands out cut to
            # microseconds, runs again to read them (ticks_columns). A narrow known result of a run on more
            # rows than a test's fixtures (the large ones are aggregates) has its strings made non-null in
            # SQL, cheaper per row than Python, though the wrapping SELECT costs DuckDB's planner a tenth of
            # a millisecond.
            description, rows = self._fetch(sql)
            described = [(column[0], kql_type_of(str(column[1]))) for column in description]
            if not any(kind == DATETIME_NS for _, kind in described):
                columns = [(name.replace(CASE_TWIN, ""), kind) for name, kind in described]
                return QueryResult(columns, _convert(rows, [kind for _, kind in columns], strings=True))
        else:
            described = known
        if any(kind == "string" for _, kind in described):  # KQL strings are never null
            selects = [
                f"coalesce({quote_name(n)}, '') AS {quote_name(n)}" if kind == "string" else quote_name(n)
                for n, kind in described
            ]
            sql = f"SELECT {', '.join(selects)} FROM ({sql}) AS _result"
        sql, read_ticks = ticks_columns(sql, described)
        description, rows = self._fetch(sql)
        columns = [
            (column[0].replace(CASE_TWIN, ""), public_kind(kql_type_of(str(column[1])))) for column in description
        ]
        columns, rows = read_ticks(columns, rows)
        return QueryResult(columns, _convert(rows, [kind for _, kind in columns]))

    def _few_rows(self) -> bool:
        """Whether this run's tables are a test's fixtures of at most _FEW_ROWS rows in all (then so small is
        any result that making its null strings empty in Python costs less than planning a SELECT that
        does it)."""
        return self.one_query and sum(len(rows) for _, rows in self.pending.values()) <= _FEW_ROWS

    def _fetch(self, sql: str) -> tuple[Any, list[tuple]]:
        """The description and rows of a query, at most max_rows of them (EMU010 past that)."""
        try:
            relation = self.connection.execute(sql)
            description = relation.description
            rows = relation.fetchmany(self.limits.max_rows + 1)  # the result streams: fetching runs it
        except duckdb.Error as exc:  # a type mismatch is met here when no DESCRIBE met it first
            raise self._placed(query_failure(exc)) from None
        if len(rows) > self.limits.max_rows:
            raise self.limit_error(TOO_MANY_ROWS)
        return description, rows


# Known result columns up to which the strings are made non-null in SQL rather than in Python (see _run),
# unless the run's fixtures hold at most _FEW_ROWS rows.
_WRAPPED_COLUMNS = 24
_FEW_ROWS = 10_000


def limit_error(limits: QueryLimits, code: str, what: str = "the query") -> EmulatorError:
    """The error for a limit that `what` exceeded (EMU008, EMU009, EMU010): it names the limit and how
    to change it."""
    if code == TIMEOUT:
        message = f"{what} ran longer than the time limit of {format_seconds(limits.timeout)}"
        return EmulatorError(code, f"{message} ({limits.timeout_hint})")
    if code == OUT_OF_MEMORY:
        message = f"{what} needed more memory than the limit of {format_size(limits.memory_limit)}"
        return EmulatorError(code, f"{message} ({limits.memory_hint})")
    return EmulatorError(
        code,
        f"{what} returned more than {limits.max_rows:,} rows, the most a run fetches (Kusto too stops at "
        "500,000 by default); narrow it with where, summarize or take",
    )


def format_seconds(seconds: float) -> str:
    """60 -> '60 s', 1.5 -> '1.5 s'."""
    return f"{seconds:g} s"


def format_size(size: int) -> str:
    """Bytes in the largest unit that writes them whole: 2147483648 -> '2 GiB', 500000000 -> '500 MB'."""
    for factor, unit in ((1024**3, "GiB"), (10**9, "GB"), (1024**2, "MiB"), (10**6, "MB"), (1024, "KiB"), (1000, "KB")):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} bytes"


@contextmanager
def address_space_limit(memory_limit: int) -> Iterator[None]:
    """On Linux, while the block runs, cap the process's address space (the soft RLIMIT_AS; restored
    after) at its present size + `memory_limit` + max(`memory_limit`, 1 GiB).

    DuckDB's memory limit covers its buffers, not one huge value (a list of 10^9 elements) nor the
    Python side: without this a query could take all the machine's memory and the whole run be
    killed. With it, such an allocation fails: an OutOfMemoryException or MemoryError, reported as
    EMU009. Elsewhere (macOS, Windows) this does nothing.
    """
    try:
        import resource
    except ImportError:  # Windows
        yield
        return
    if not sys.platform.startswith("linux"):
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            present = int(statm.read().split()[0]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        yield
        return
    cap = present + memory_limit + max(memory_limit, 1024**3)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    if soft != resource.RLIM_INFINITY and soft <= cap:  # already as tight
        yield
        return
    try:
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    except (ValueError, OSError):
        yield
        return
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _guess_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "long"
    if isinstance(value, float):
        return "real"
    if isinstance(value, dt.datetime):
        return "datetime"
    if isinstance(value, dt.timedelta):
        return "timespan"
    if isinstance(value, dict | list):
        return "dynamic"
    return "string"


def _convert(rows: list[tuple], kinds: list[str], strings: bool = False) -> list[Any]:
    """DuckDB rows -> KQL values; only strings (never null) and dynamic (JSON text) need work, strings
    only when the SQL did not make them non-null already (`strings`). Rows stay tuples unless a dynamic
    or guid value is converted (then lists)."""
    texts = {index for index, kind in enumerate(kinds) if kind == "string"} if strings else set()
    if texts and any(row[index] is None for row in rows for index in texts):
        rows = [
            tuple("" if value is None and index in texts else value for index, value in enumerate(row)) for row in rows
        ]
    positions = [index for index, kind in enumerate(kinds) if kind in ("dynamic", "guid")]
    if not positions:
        return rows
    converted = [list(row) for row in rows]
    for index in positions:
        for row in converted:
            row[index] = _from_duck(row[index], kinds[index])
    return converted


def json_or_text(value: Any) -> Any:
    """A dynamic value from its JSON text; text that is not JSON stays a string."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _from_duck(value: Any, kind: str) -> Any:
    if kind == "string":
        return "" if value is None else str(value)
    if value is None:
        return None
    if kind == "dynamic":
        return json_or_text(value)
    if kind == "guid":
        return str(value)
    return value
