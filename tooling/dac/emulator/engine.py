"""The emulator: a DuckDB connection with KQL's functions as SQL macros, fixture tables, and a
runner that compiles a query (compiler.py) and converts the result back to KQL values."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
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
        self._create_table(name, columns, rows)

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
        quoted = _q(name)
        self.connection.execute(f"DROP TABLE IF EXISTS {quoted}")
        definition = ", ".join(f"{_q(column)} {DUCK_TYPES.get(kind, 'VARCHAR')}" for column, kind in columns.items())
        self.connection.execute(f"CREATE TABLE {quoted} ({definition or 'dummy VARCHAR'})")
        if rows and columns:
            placeholders = ", ".join(_placeholder(kind) for kind in columns.values())
            values = [[_to_duck(row.get(column), kind) for column, kind in columns.items()] for row in rows]
            self.connection.executemany(f"INSERT INTO {quoted} VALUES ({placeholders})", values)
        self.loaded.add(name)

    # ----------------------------------------------------------------- queries
    def run(self, query_text: str) -> QueryResult:
        from .compiler import compile_query

        sql = compile_query(self, query_text)
        described = self.describe(sql)
        if any(kind == "string" for _, kind in described):  # KQL strings are never null
            selects = [f"coalesce({_q(n)}, '') AS {_q(n)}" if kind == "string" else _q(n) for n, kind in described]
            sql = f"SELECT {', '.join(selects)} FROM ({sql}) AS _result"
        sql, read_ticks = ticks_columns(sql, described)
        try:
            relation = self.connection.execute(sql)
            description = relation.description
            rows = relation.fetchall()
        except duckdb.Error as exc:
            raise _query_failure(exc) from None
        columns = [(column[0], public_kind(kql_type_of(str(column[1])))) for column in description]
        columns, rows = read_ticks(columns, rows)
        return QueryResult(columns, _convert(rows, [kind for _, kind in columns]))

    def describe(self, sql: str) -> list[tuple[str, str]]:
        try:
            described = self.connection.execute(f"DESCRIBE {sql}").fetchall()
        except duckdb.Error as exc:
            raise _query_failure(exc) from None
        return [(row[0], kql_type_of(row[1])) for row in described]


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _q(name: str) -> str:
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
    line = _first_line(exc)
    refusal = _UDF_REFUSAL.search(line)
    if refusal:
        return EmulatorError("EMU002", f"{refusal.group(1)} (for a value met while running the query)")
    return EmulatorError("EMU002", f"the query failed in the emulator: {line}")
