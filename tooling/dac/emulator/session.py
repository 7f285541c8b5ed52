"""The DuckDB session a query is compiled against and runs on: one in-memory connection set up once
(UTC, one thread, the memory limit, no file or network access) with KQL's basic functions as SQL
macros (the geo data and UDFs of geo/ from a query's first call of a geo function on), and the
tables: fixture rows, and empty platform tables for those a query reads without fixture rows. The
compiler asks it for a query's columns (`describe`); engine.py's Emulator is a Session that runs queries.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb

from ..kql.binder import Environment
from .errors import query_failure
from .sql import DUCK_TYPES, kql_type_of, quote_name

# A dotted IPv4 address as kql_ipv4 reads it (RE2 and Python's re read it alike: strings.ipv4_range).
IPV4_ADDRESS = r"(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){3}"

# KQL functions that are plain SQL expressions; the compiler calls them by name.
_MACROS = [
    "CREATE MACRO kql_str(x) AS coalesce(CAST(x AS VARCHAR), '')",
    # The distinct elements of a list in the order they first appear (make_set, set_union and kin). Up to
    # 1,024 elements, those found first at their own position (list_position: O(n^2), vectorised); longer
    # lists sorted by (value, position), the first of each run of equal values kept, then sorted back by
    # position (O(n log n), but slower below some thousand elements: 8,000 lists of 50 take 59 ms the first
    # way and 104 ms the second; 80 lists of 5,000 take 629 ms and 198 ms, and 2 of 50,000 1.5 s and 0.07 s).
    "CREATE MACRO kql_first_seen(l) AS list_transform([l], lambda __fs_l: CASE WHEN len(__fs_l) <= 1024 "
    "THEN list_filter(__fs_l, lambda __fs_x, __fs_i: list_position(__fs_l, __fs_x) = __fs_i) "
    "ELSE list_transform([list_sort(list_transform(__fs_l, lambda __fs_x, __fs_i: {'v': __fs_x, 'i': __fs_i}))], "
    "lambda __fs_s: list_transform(list_sort(list_transform(list_filter(__fs_s, lambda __fs_e, __fs_j: "
    "__fs_j = 1 OR __fs_s[__fs_j - 1]['v'] IS DISTINCT FROM __fs_e['v']), "
    "lambda __fs_e: {'i': __fs_e['i'], 'v': __fs_e['v']})), lambda __fs_e: __fs_e['v']))[1] END)[1]",
    # KQL term match (has and kin; string operators page, "What is a term?"): terms are maximal runs of ASCII
    # letters and digits. The needle must not continue a term of the text: where the needle begins (ends)
    # with a letter or digit, the text must not have one just before (after) it; a needle's end that is
    # another character is itself a term boundary. The classes are spelled out, not [:alnum:], so that
    # no regex flavour decides what a letter is.
    "CREATE MACRO kql_term_start(needle) AS "
    "CASE WHEN regexp_matches(needle, '^[0-9A-Za-z]') THEN '(?:^|[^0-9A-Za-z])' ELSE '' END",
    "CREATE MACRO kql_term_end(needle) AS "
    "CASE WHEN regexp_matches(needle, '[0-9A-Za-z]$') THEN '(?:$|[^0-9A-Za-z])' ELSE '' END",
    "CREATE MACRO kql_has(hay, needle) AS "
    "needle = '' OR regexp_matches(lower(coalesce(hay, '')), kql_term_start(needle) || regexp_escape(lower(needle)) "
    "|| kql_term_end(needle))",
    "CREATE MACRO kql_has_cs(hay, needle) AS "
    "needle = '' OR regexp_matches(coalesce(hay, ''), kql_term_start(needle) || regexp_escape(needle) "
    "|| kql_term_end(needle))",
    "CREATE MACRO kql_hasprefix(hay, needle) AS "
    "regexp_matches(lower(coalesce(hay, '')), kql_term_start(needle) || regexp_escape(lower(needle)))",
    "CREATE MACRO kql_hassuffix(hay, needle) AS "
    "regexp_matches(lower(coalesce(hay, '')), regexp_escape(lower(needle)) || kql_term_end(needle))",
    "CREATE MACRO kql_hasprefix_cs(hay, needle) AS "
    "regexp_matches(coalesce(hay, ''), kql_term_start(needle) || regexp_escape(needle))",
    "CREATE MACRO kql_hassuffix_cs(hay, needle) AS "
    "regexp_matches(coalesce(hay, ''), regexp_escape(needle) || kql_term_end(needle))",
    # dynamic -> string the way tostring() does it: strings unquoted, null -> "". kql_json_text reads its
    # argument up to five times: for a column (sql.json_str); kql_json_str passes any other expression
    # through a one-element list so that it is evaluated once (a lambda per row costs more than a column).
    # JSON text that begins with a quote is a string: unquoted without asking json_type first.
    "CREATE MACRO kql_json_text(v) AS CASE WHEN starts_with(CAST(v AS VARCHAR), '\"') THEN json_extract_string(v, '$') "
    "ELSE coalesce(CASE json_type(v) WHEN 'VARCHAR' THEN json_extract_string(v, '$') WHEN 'NULL' THEN '' "
    "ELSE CAST(v AS VARCHAR) END, '') END",
    "CREATE MACRO kql_json_str(j) AS list_transform([j], lambda v: kql_json_text(v))[1]",
    # text -> dynamic (parse_json): JSON text as its value, other text as a JSON string. TRY_CAST fails
    # exactly where json_valid is false (the same reader), and parses the text once, not twice.
    "CREATE MACRO kql_parse_json(s) AS coalesce(TRY_CAST(s AS JSON), to_json(s))",
    # parse_json() of text: '' is null; an expression (not a column) is bound once through a one-element list
    "CREATE MACRO kql_parse_json_text(s) AS list_transform([s], lambda t: CASE WHEN t = '' THEN NULL "
    "ELSE kql_parse_json(t) END)[1]",
    "CREATE MACRO kql_ipv4(ip) AS CASE WHEN regexp_full_match(coalesce(ip, ''), "
    f"'{IPV4_ADDRESS}') THEN "
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


# Appended to the stored name of a column whose name differs from an earlier column's only in case.
CASE_TWIN = "\u2060"


class Session:
    def __init__(
        self,
        environment: Environment,
        *,
        now: dt.datetime | None = None,
        externaldata: dict[str, Path] | None = None,
        memory_limit: int,
    ):
        self.environment = environment
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
        self.connection.execute(f"SET memory_limit = '{int(memory_limit)}B'")
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
        self.geo: set[str] = set()  # the geo families registered: on a query's first call of one (ensure_geo)
        self.loaded: set[str] = set()
        self.stored: dict[str, list[tuple[str, str]]] = {}  # created table -> its columns as stored
        self.filled: set[str] = set()  # the created tables that have rows
        # Tables of earlier tests, kept for later tests of the same name and columns (a CREATE of a wide
        # table costs more than a test's rows). `stale`: the last test's, by their columns, with whether they
        # hold rows; before a query runs (drop_stale) they become `idle`: tables that no query of this test
        # sees (the compiler reads only the tables the test loaded or ensure_table made), taken again by
        # create_table or ensure_table, which empties one that holds rows or replaces it.
        self.stale: dict[str, tuple[list[tuple[str, str]], bool]] = {}
        self.idle: dict[str, tuple[list[tuple[str, str]], bool]] = {}
        self.temporary: dict[str, str] = {}  # temporary table or view made for a query -> TABLE or VIEW
        # The columns of this run's tables, where fewer than the platform's are created (see engine.py).
        self.narrowed: dict[str, dict[str, str]] = {}

    def ensure_geo(self, family: str) -> None:
        """Register a family of geo functions on a query's first call of one of them: "ip" (the IP ranges
        table of geo_info_from_ip_address), "shapes" or "cells" (Python UDFs). Most queries call none, and
        registering them costs as much as a few test runs (a Python UDF loads numpy into DuckDB's module)."""
        if family in self.geo:
            return
        if family == "ip":
            from .geo.ip import register_geo

            register_geo(self.connection)
        elif family == "shapes":
            from .geo.shapes import register_geo_shapes

            register_geo_shapes(self.connection)
        else:
            from .geo.cells import register_geo_cells

            register_geo_cells(self.connection)
        self.geo.add(family)

    # ----------------------------------------------------------------- tables
    def table_columns(self, name: str) -> dict[str, str]:
        """The columns a table of this run is created with: the platform's, or this run's narrowed set."""
        narrowed = self.narrowed.get(name)
        return narrowed if narrowed is not None else self.environment.tables.get(name, {})

    def has_rows(self, name: str) -> bool:
        return name in self.filled

    def stored_columns(self, name: str) -> list[tuple[str, str]]:
        """A table's columns as DuckDB holds them (see create_table) and DESCRIBE would give them (a guid
        column is text there), without creating the table or asking DuckDB."""
        columns = self.stored[name] if name in self.stored else _with_case_twins(self.table_columns(name)).items()
        return [(column, kql_type_of(DUCK_TYPES.get(kind, "VARCHAR"))) for column, kind in columns]

    def ensure_table(self, name: str) -> bool:
        """Create an empty table for a platform table the query reads and no fixture gave."""
        if name in self.loaded:
            return True
        if name not in self.environment.tables:
            return False
        self.create_table(name, self.table_columns(name), [])
        return True

    def _signature(self, columns: dict[str, str]) -> list[tuple[str, str]]:
        return list(columns.items()) if columns else [("dummy", "string")]

    def close(self) -> None:
        self.connection.close()

    def reset(self, environment: Environment, *, now: dt.datetime | None, externaldata: dict[str, Path] | None) -> None:
        """Ready the session for another test on the same connection: the last one's tables and temporary
        tables and views dropped, its settings replaced; the functions, macros and settings of the
        connection stay (registering them is most of what a new connection costs). The tables stay for
        reuse until the next query (self.stale)."""
        self.stale.update((name, (self.stored[name], name in self.filled)) for name in self.loaded)
        for name, kind in reversed(self.temporary.items()):
            self.connection.execute(f"DROP {kind} IF EXISTS temp.{quote_name(name)}")
        self.temporary.clear()
        self.environment = environment
        pinned = now or dt.datetime.now(dt.UTC)
        self.now = pinned.astimezone(dt.UTC).replace(tzinfo=None) if pinned.tzinfo else pinned
        self.externaldata = dict(externaldata or {})
        self.loaded.clear()
        self.stored.clear()
        self.filled.clear()
        self.narrowed = {}

    def create_temporary(self, kind: str, name: str, body: str, parameters: list[Any] | None = None) -> None:
        """CREATE OR REPLACE TEMP `kind` (TABLE or VIEW) `name` `body`: a relation of one query, which reset
        drops (the session keeps their names: listing DuckDB's catalog costs a millisecond a run)."""
        self.connection.execute(f"CREATE OR REPLACE TEMP {kind} {quote_name(name)} {body}", parameters)
        self.temporary.pop(name, None)  # a name made again moves to the end: dropped before what it reads
        self.temporary[name] = kind

    def create_table(self, name: str, columns: dict[str, str], rows: list[dict[str, Any]]) -> None:
        # DuckDB names are case-insensitive; a few platform tables list the same column twice in
        # different case (LogonId/LogonID): the later spelling is stored with CASE_TWIN appended, so that the
        # table keeps all its columns (Kusto's result has both) and results give it back its name (engine.py).
        # A query's reference to it still reads the first spelling, as DuckDB resolves names.
        stored = _with_case_twins(columns)
        if list(stored) != list(columns):
            twins = {column: twin for column, twin in zip(columns, stored, strict=True) if column != twin}
            rows = [{**row, **{twin: row.get(column) for column, twin in twins.items()}} for row in rows]
        columns = stored
        quoted = quote_name(name)
        signature = self._signature(columns)
        kept, full = self.stale.pop(name, None) or self.idle.pop(name, None) or (None, False)
        if rows and columns:
            # One statement makes the table with its rows (a DROP, a CREATE and an INSERT cost twice as much).
            # Its string columns have no default then: nothing inserts into it later (a later run that takes
            # it empties it, or replaces it the same way).
            self._create_filled(quoted, columns, rows)
        elif kept == signature:
            if full:
                self.connection.execute(f"DELETE FROM {quoted}")
        else:
            self.connection.execute(f"CREATE OR REPLACE TABLE {quoted} ({_definition(columns) or 'dummy VARCHAR'})")
        self.loaded.add(name)
        self.stored[name] = signature
        if rows:
            self.filled.add(name)
        else:
            self.filled.discard(name)

    def drop_stale(self) -> None:
        """The tables the last test had and this one did not load again become idle (see reset): emptied
        only when a later run takes one again (create_table)."""
        self.idle.update(self.stale)
        self.stale.clear()

    def _create_filled(self, quoted: str, columns: dict[str, str], rows: list[dict[str, Any]]) -> None:
        """CREATE OR REPLACE the table as a SELECT of its rows: a list parameter per column (executemany
        takes minutes for 100,000 rows); a column that holds only its default ("" or null) is that constant."""
        selects: list[str] = []
        lists: list[list[Any]] = []
        for column, kind in columns.items():
            raw = [row.get(column) for row in rows]
            duck = DUCK_TYPES.get(kind, "VARCHAR")
            name = quote_name(column)
            if kind == "string" and raw.count(None) + raw.count("") == len(raw):
                selects.append(f"CAST('' AS VARCHAR) AS {name}")
                continue
            if kind != "string" and raw.count(None) == len(raw):
                selects.append(f"CAST(NULL AS {duck}) AS {name}")
                continue
            if kind == "string":
                lists.append(["" if v is None else v if type(v) is str else str(v) for v in raw])
            elif kind in ("dynamic", "datetime"):
                lists.append([_to_duck(value, kind) for value in raw])
            else:
                lists.append(raw)
            element = f"unnest(${len(lists)}::{'VARCHAR' if duck == 'JSON' else duck}[])"
            selects.append(f"{f'CAST({element} AS JSON)' if duck == 'JSON' else element} AS {name}")
        source = f"range({len(rows)})" if not lists else "(SELECT 1)"
        try:
            self.connection.execute(
                f"CREATE OR REPLACE TABLE {quoted} AS SELECT {', '.join(selects)} FROM {source}", lists
            )
        except (duckdb.InterruptException, duckdb.OutOfMemoryException):
            raise
        except duckdb.Error:  # a value the list conversion refuses: row by row, as before
            self.connection.execute(f"CREATE OR REPLACE TABLE {quoted} ({_definition(columns)})")
            placeholders = ", ".join(_placeholder(kind) for kind in columns.values())
            values = [[_to_duck(row.get(column), kind) for column, kind in columns.items()] for row in rows]
            self.connection.executemany(f"INSERT INTO {quoted} VALUES ({placeholders})", values)

    def view_types(self, view: str) -> list[tuple[str, str]]:
        """A view's columns with their DuckDB types as DESCRIBE gives them, read from the catalog (the view's
        query is not bound again)."""
        described = self.connection.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? AND database_name = 'temp' "
            "ORDER BY column_index",
            [view],
        ).fetchall()
        return [(name, str(duck)) for name, duck in described]

    def describe_types(self, sql: str) -> list[tuple[str, str]]:
        """The columns of a query with their DuckDB types (sql.kql_type_of reads them as KQL types)."""
        try:
            described = self.connection.execute(f"DESCRIBE {sql}").fetchall()
        except duckdb.Error as exc:
            raise query_failure(exc) from None
        return [(row[0], str(row[1])) for row in described]


# Column defaults of created empty tables: a string column holds "" (KQL strings are never null).
_DEFAULTS = {"string": " DEFAULT ''"}


def _definition(columns: dict[str, str]) -> str:
    """The column list of a CREATE TABLE: each column's DuckDB type, strings defaulting to "" (an insert
    names only the columns it fills)."""
    return ", ".join(
        f"{quote_name(column)} {DUCK_TYPES.get(kind, 'VARCHAR')}{_DEFAULTS.get(kind, '')}"
        for column, kind in columns.items()
    )


def case_twin_names(names: Iterable[str]) -> list[str]:
    """The names as stored: CASE_TWIN appended once for each earlier name that differs only in case
    (TlsVersion, Tlsversion, TLSVersion are TlsVersion, Tlsversion + one mark, TLSVersion + two)."""
    seen: dict[str, int] = {}
    stored = []
    for name in names:
        earlier = seen.get(name.lower(), 0)
        stored.append(name + CASE_TWIN * earlier)
        seen[name.lower()] = earlier + 1
    return stored


def _with_case_twins(columns: dict[str, str]) -> dict[str, str]:
    """The columns with their stored names (case_twin_names)."""
    return dict(zip(case_twin_names(columns), columns.values(), strict=True))


def _placeholder(kind: str) -> str:
    return "CAST(? AS JSON)" if kind == "dynamic" else "?"


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
