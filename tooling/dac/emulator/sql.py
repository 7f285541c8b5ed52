"""KQL types as DuckDB types and back, and the quoting of names and strings in the SQL the emulator writes."""

from __future__ import annotations

import re

from .ticks import DATETIME_NS

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


def quote_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_string(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def contains_pattern(text: str) -> str:
    """A LIKE pattern (ESCAPE '\\') that matches text containing `text`."""
    return sql_string("%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")


def string_literal_value(sql: str) -> str | None:
    """The text of a SQL string literal ('it''s' -> it's), or None for any other SQL."""
    if len(sql) >= 2 and sql[0] == sql[-1] == "'" and "'" not in sql[1:-1].replace("''", ""):
        return sql[1:-1].replace("''", "'")
    return None


def nonnull(sql: str, kind: str, nullable: bool) -> str:
    """Strings are never null in KQL: rows an outer join or union filled in get ""."""
    return f"coalesce({sql}, '')" if nullable and kind == "string" else sql


_COLUMN = re.compile(r'"(?:[^"]|"")*"')


def json_str(sql: str) -> str:
    """A dynamic value as tostring() gives it (session.py's kql_json_text): a column is read in place, any
    other expression through kql_json_str, which evaluates it once."""
    return f"kql_json_text({sql})" if _COLUMN.fullmatch(sql) else f"kql_json_str({sql})"
