"""The emulator: a DuckDB connection with KQL's functions as SQL macros, fixture tables, and a
runner that compiles a query (compiler.py) and converts the result back to KQL values.

Every run has limits (QueryLimits): a time limit (a watchdog thread interrupts the connection),
DuckDB's memory limit with no spilling to disk, and a cap on the rows fetched into Python.
Exceeding one is an EmulatorError (EMU008 time, EMU009 memory, EMU010 rows) whose message names
the limit and how to change it; the connection stays usable afterwards.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from ..kql.binder import Environment
from .geo import register_geo
from .geo_cells import register_geo_cells
from .geo_shapes import register_geo_shapes
from .ticks import DATETIME_NS, public_kind, ticks_columns

DUCK_TYPES = {
    "string": "VARCHAR", "long": "BIGINT", "int": "INTEGER", "real": "DOUBLE", "decimal": "DOUBLE",
    "bool": "BOOLEAN", "datetime": "TIMESTAMP", "timespan": "INTERVAL", "dynamic": "JSON", "guid": "VARCHAR",
    "unknown": "VARCHAR",
}  # fmt: skip


def kql_type_of(duck_type: str) -> str:
    duck = duck_type.upper()
    if duck == "JSON" or duck.endswith("[]") or duck.startswith(("STRUCT", "MAP")):
        return "dynamic"
    if duck == "TIMESTAMP_NS":  # a datetime with 100 ns ticks (endofday() etc.), see ticks.py
        return DATETIME_NS
    for prefix, kql in (
        ("VARCHAR", "string"), ("BIGINT", "long"), ("HUGEINT", "long"), ("UBIGINT", "long"), ("INTEGER", "int"),
        ("SMALLINT", "int"), ("TINYINT", "int"), ("DOUBLE", "real"), ("FLOAT", "real"), ("DECIMAL", "real"),
        ("BOOLEAN", "bool"), ("TIMESTAMP", "datetime"), ("DATE", "datetime"), ("INTERVAL", "timespan"),
        ("UUID", "guid"), ("NULL", "string"),
    ):  # fmt: skip
        if duck.startswith(prefix):
            return kql
    return "dynamic"


TIMEOUT = "EMU008"
OUT_OF_MEMORY = "EMU009"
TOO_MANY_ROWS = "EMU010"
LIMIT_CODES = frozenset({TIMEOUT, OUT_OF_MEMORY, TOO_MANY_ROWS})

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


class EmulatorError(Exception):
    """A construct the emulator cannot run exactly, or a runtime failure, at an offset in the query."""

    def __init__(self, code: str, message: str, offset: int = 0):
        super().__init__(message)
        self.code = code
        self.message = message
        self.offset = offset


@dataclass
class QueryResult:
    columns: list[tuple[str, str]]
    rows: list[Sequence[Any]]  # tuples, or lists where values were converted


# KQL functions that are plain SQL expressions; compiler.py calls them by name.
_MACROS = [
    "CREATE MACRO kql_str(x) AS coalesce(CAST(x AS VARCHAR), '')",
    # distinct elements of a list in the order they first appear (make_set)
    "CREATE MACRO kql_first_seen(l) AS list_filter(l, lambda x, i: list_position(l, x) = i)",
    # KQL term match (has): the needle is a whole run of letters/digits, case-insensitively.
    "CREATE MACRO kql_has(hay, needle) AS "
    "needle = '' OR regexp_matches(lower(coalesce(hay, '')), '(^|[^[:alnum:]])' || regexp_escape(lower(needle)) "
    "|| '($|[^[:alnum:]])')",
    "CREATE MACRO kql_has_cs(hay, needle) AS "
    "needle = '' OR regexp_matches(coalesce(hay, ''), '(^|[^[:alnum:]])' || regexp_escape(needle) "
    "|| '($|[^[:alnum:]])')",
    "CREATE MACRO kql_hasprefix(hay, needle) AS "
    "regexp_matches(lower(coalesce(hay, '')), '(^|[^[:alnum:]])' || regexp_escape(lower(needle)))",
    "CREATE MACRO kql_hassuffix(hay, needle) AS "
    "regexp_matches(lower(coalesce(hay, '')), regexp_escape(lower(needle)) || '($|[^[:alnum:]])')",
    # dynamic -> string the way tostring() does it: strings unquoted, null -> "". The argument goes
    # through a one-element list so that it is evaluated once, not once per branch of the CASE.
    "CREATE MACRO kql_json_str(j) AS list_transform([j], lambda v: CASE WHEN v IS NULL THEN '' "
    "WHEN json_type(v) = 'VARCHAR' THEN json_extract_string(v, '$') WHEN json_type(v) = 'NULL' THEN '' "
    "ELSE CAST(v AS VARCHAR) END)[1]",
    "CREATE MACRO kql_parse_json(s) AS CASE WHEN s IS NULL THEN NULL WHEN json_valid(s) THEN CAST(s AS JSON) "
    "ELSE to_json(s) END",
    "CREATE MACRO kql_ipv4(ip) AS CASE WHEN regexp_full_match(coalesce(ip, ''), "
    "'(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){3}') THEN "
    "CAST(split_part(ip, '.', 1) AS BIGINT) * 16777216 + CAST(split_part(ip, '.', 2) AS BIGINT) * 65536 "
    "+ CAST(split_part(ip, '.', 3) AS BIGINT) * 256 + CAST(split_part(ip, '.', 4) AS BIGINT) ELSE NULL END",
    # CIDR 'a.b.c.d/n' (or a bare address) -> first and last address as numbers
    "CREATE MACRO kql_cidr_prefix(c) AS CASE WHEN contains(c, '/') THEN CAST(split_part(c, '/', 2) AS BIGINT) "
    "ELSE 32 END",
    "CREATE MACRO kql_cidr_start(c) AS kql_ipv4(split_part(c, '/', 1)) // CAST(pow(2, 32 - kql_cidr_prefix(c)) "
    "AS BIGINT) * CAST(pow(2, 32 - kql_cidr_prefix(c)) AS BIGINT)",
    "CREATE MACRO kql_cidr_end(c) AS kql_cidr_start(c) + CAST(pow(2, 32 - kql_cidr_prefix(c)) AS BIGINT) - 1",
    "CREATE MACRO kql_ipv4_is_private(ip) AS CASE WHEN kql_ipv4(split_part(ip, '/', 1)) IS NULL THEN NULL ELSE "
    "(kql_ipv4(split_part(ip, '/', 1)) BETWEEN 167772160 AND 184549375 "
    "OR kql_ipv4(split_part(ip, '/', 1)) BETWEEN 2886729728 AND 2887778303 "
    "OR kql_ipv4(split_part(ip, '/', 1)) BETWEEN 3232235520 AND 3232301055) END",
    "CREATE MACRO kql_ipv4_in_range(ip, c) AS kql_ipv4(ip) BETWEEN kql_cidr_start(c) AND kql_cidr_end(c)",
]


class Emulator:
    def __init__(
        self,
        environment: Environment,
        *,
        now: dt.datetime | None = None,
        externaldata: dict[str, Path] | None = None,
        limits: QueryLimits | None = None,
    ):
        self.environment = environment
        self.limits = limits or QueryLimits()
        pinned = now or dt.datetime.now(dt.UTC)  # naive UTC, like the fixture values
        self.now = pinned.astimezone(dt.UTC).replace(tzinfo=None) if pinned.tzinfo else pinned
        self.externaldata = dict(externaldata or {})
        self.connection = duckdb.connect(":memory:")
        self.connection.execute("SET TimeZone = 'UTC'")
        # One thread: rows reach make_list()/make_set() and results in table order, so a test gives
        # the same answer on every run and every machine.
        self.connection.execute("SET threads = 1")
        # Limits: DuckDB's memory limit, and no spilling to disk (in-memory DuckDB would write to
        # ./.tmp, inside the project, up to 90% of the free disk): beyond the limit a query fails.
        self.connection.execute(f"SET memory_limit = '{int(self.limits.memory_limit)}B'")
        self.connection.execute("SET temp_directory = ''")
        self.connection.execute("SET enable_progress_bar = false")  # it would print to the terminal
        # The emulator reads nothing itself (fixtures and externaldata files come in through Python, after
        # the project's path checks) and never uses the network: no file access and no extension downloads
        # from SQL, whatever a query compiles to; then the settings are locked.
        self.connection.execute("SET autoinstall_known_extensions = false")
        self.connection.execute("SET enable_external_access = false")
        self.connection.execute("SET lock_configuration = true")
        for macro in _MACROS:
            self.connection.execute(macro)
        register_geo(self.connection)
        register_geo_shapes(self.connection)
        register_geo_cells(self.connection)
        self.loaded: set[str] = set()

    # ----------------------------------------------------------------- tables
    def table_columns(self, name: str) -> dict[str, str]:
        return self.environment.tables.get(name, {})

    def load_table(self, name: str, rows: list[dict[str, Any]]) -> None:
        columns = self.table_columns(name)
        if not columns and rows:
            columns = {column: _guess_type(value) for column, value in rows[0].items()}
        try:
            self._create_table(name, columns, rows)
        except (duckdb.OutOfMemoryException, MemoryError):
            raise self.limit_error(OUT_OF_MEMORY, f"loading the table {name} ({len(rows):,} rows)") from None

    def ensure_table(self, name: str) -> bool:
        """Create an empty table for a platform table the query reads and no fixture gave."""
        if name in self.loaded:
            return True
        if name not in self.environment.tables:
            return False
        self._create_table(name, self.table_columns(name), [])
        return True

    def close(self) -> None:
        self.connection.close()

    def _create_table(self, name: str, columns: dict[str, str], rows: list[dict[str, Any]]) -> None:
        # DuckDB names are case-insensitive; a few platform tables list the same column twice in
        # different case (LogonId/LogonID): the first spelling is kept.
        seen: set[str] = set()
        columns = {c: k for c, k in columns.items() if not (c.lower() in seen or seen.add(c.lower()))}
        quoted = quote_name(name)
        self.connection.execute(f"DROP TABLE IF EXISTS {quoted}")
        definition = ", ".join(
            f"{quote_name(column)} {DUCK_TYPES.get(kind, 'VARCHAR')}" for column, kind in columns.items()
        )
        self.connection.execute(f"CREATE TABLE {quoted} ({definition or 'dummy VARCHAR'})")
        if rows and columns:
            self._insert(quoted, columns, rows)
        self.loaded.add(name)

    def _insert(self, quoted: str, columns: dict[str, str], rows: list[dict[str, Any]]) -> None:
        """All rows in one statement, a list parameter per column (executemany takes minutes for 100,000
        rows); a column that holds only its default ("" or null) is a constant."""
        selects: list[str] = []
        lists: list[list[Any]] = []
        for column, kind in columns.items():
            raw = [row.get(column) for row in rows]
            duck = DUCK_TYPES.get(kind, "VARCHAR")
            if kind == "string" and raw.count(None) + raw.count("") == len(raw):
                selects.append("''")
                continue
            if kind != "string" and raw.count(None) == len(raw):
                selects.append(f"CAST(NULL AS {duck})")
                continue
            if kind == "string":
                lists.append(["" if v is None else v if type(v) is str else str(v) for v in raw])
            elif kind in ("dynamic", "datetime"):
                lists.append([_to_duck(value, kind) for value in raw])
            else:
                lists.append(raw)
            element = f"unnest(${len(lists)}::{'VARCHAR' if duck == 'JSON' else duck}[])"
            selects.append(f"CAST({element} AS JSON)" if duck == "JSON" else element)
        source = f"range({len(rows)})" if not lists else "(SELECT 1)"
        try:
            self.connection.execute(f"INSERT INTO {quoted} SELECT {', '.join(selects)} FROM {source}", lists)
        except (duckdb.InterruptException, duckdb.OutOfMemoryException):
            raise
        except duckdb.Error:  # a value the list conversion refuses: row by row, as before
            placeholders = ", ".join(_placeholder(kind) for kind in columns.values())
            values = [[_to_duck(row.get(column), kind) for column, kind in columns.items()] for row in rows]
            self.connection.executemany(f"INSERT INTO {quoted} VALUES ({placeholders})", values)

    # ----------------------------------------------------------------- queries
    def run(self, query_text: str) -> QueryResult:
        """The query's result, within self.limits (EMU008, EMU009, EMU010 otherwise)."""
        with self._time_limit() as expired:
            try:
                return self._run(query_text)
            except (duckdb.Error, EmulatorError, MemoryError) as exc:
                if expired.is_set():  # whatever broke after the deadline broke because of it
                    raise self.limit_error(TIMEOUT) from None
                if isinstance(exc, MemoryError) or (isinstance(exc, EmulatorError) and exc.code == OUT_OF_MEMORY):
                    raise self.limit_error(OUT_OF_MEMORY) from None
                if isinstance(exc, duckdb.Error):  # from a step of the compiler that ran SQL
                    raise _query_failure(exc) from None
                raise

    def limit_error(self, code: str, what: str = "the query") -> EmulatorError:
        return limit_error(self.limits, code, what)

    @contextmanager
    def _time_limit(self) -> Iterator[threading.Event]:
        """A watchdog thread interrupts the connection once the time limit has passed, and again every
        50 ms until the run ends (a step that swallowed an interrupt, or began after it, stops too).
        The thread is always ended before this returns, so no interrupt reaches a later query."""
        expired, finished = threading.Event(), threading.Event()

        def watch() -> None:
            if finished.wait(self.limits.timeout):
                return
            expired.set()
            while True:
                self.connection.interrupt()
                if finished.wait(0.05):
                    return

        watchdog = threading.Thread(target=watch, name="dac-query-time-limit", daemon=True)
        watchdog.start()
        try:
            yield expired
        finally:
            finished.set()
            watchdog.join()

    def _run(self, query_text: str) -> QueryResult:
        from .compiler import compile_query

        sql = compile_query(self, query_text)
        described = self.describe(sql)
        if any(kind == "string" for _, kind in described):  # KQL strings are never null
            selects = [
                f"coalesce({quote_name(n)}, '') AS {quote_name(n)}" if kind == "string" else quote_name(n)
                for n, kind in described
            ]
            sql = f"SELECT {', '.join(selects)} FROM ({sql}) AS _result"
        sql, read_ticks = ticks_columns(sql, described)
        try:
            relation = self.connection.execute(sql)
            description = relation.description
            rows = relation.fetchmany(self.limits.max_rows + 1)  # the result streams: fetching runs it
        except duckdb.Error as exc:
            raise _query_failure(exc) from None
        if len(rows) > self.limits.max_rows:
            raise self.limit_error(TOO_MANY_ROWS)
        columns = [(column[0], public_kind(kql_type_of(str(column[1])))) for column in description]
        columns, rows = read_ticks(columns, rows)
        return QueryResult(columns, _convert(rows, [kind for _, kind in columns]))

    def describe(self, sql: str) -> list[tuple[str, str]]:
        try:
            described = self.connection.execute(f"DESCRIBE {sql}").fetchall()
        except duckdb.Error as exc:
            raise _query_failure(exc) from None
        return [(row[0], kql_type_of(row[1])) for row in described]


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


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def quote_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _placeholder(kind: str) -> str:
    return "CAST(? AS JSON)" if kind == "dynamic" else "?"


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


def _to_duck(value: Any, kind: str) -> Any:
    if kind == "string":
        return "" if value is None else str(value)
    if value is None:
        return None
    if kind == "dynamic":
        return json.dumps(value)
    if kind == "datetime" and isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _convert(rows: list[tuple], kinds: list[str]) -> list[list[Any]]:
    """DuckDB rows -> KQL values; only strings (never null) and dynamic (JSON text) need work."""
    positions = [index for index, kind in enumerate(kinds) if kind in ("dynamic", "guid")]
    if not positions:  # strings were made non-null in SQL: nothing left to convert
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


# A runtime function (Python UDF) that meets a case it cannot answer exactly says so with this text.
_UDF_REFUSAL = re.compile(r"(the emulator does not support .*)")


def _query_failure(exc: Exception) -> EmulatorError:
    """EMU002: the query failed while running; a function's refusal of a row's value is named as such
    (EMU001 is for what the compiler refuses before running)."""
    if isinstance(exc, duckdb.OutOfMemoryException):  # Emulator.run names the limit
        return EmulatorError(OUT_OF_MEMORY, "the query needed more memory than the limit")
    line = _first_line(exc)
    refusal = _UDF_REFUSAL.search(line)
    if refusal:
        return EmulatorError("EMU002", f"{refusal.group(1)} (for a value met while running the query)")
    return EmulatorError("EMU002", f"the query failed in the emulator: {line}")
