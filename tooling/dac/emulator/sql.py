"""KQL types as DuckDB types and back, and the quoting of names and strings in the SQL the emulator writes."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from typing import Any

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


# Joins a row's columns for `search` and `where * has`; not alphanumeric, so it bounds terms as a column's
# edge does.
SEARCH_SEPARATOR = "\x01"


def searched_texts(columns: list[tuple[str, str]], term: str) -> list[str]:
    """The columns of a row a term is looked for in (search, `where * has`), each as text: all but `$table`;
    a term with a letter cannot be in a number's, a date's or a bool's text, so those columns are skipped."""
    textual = ("string", "dynamic", "guid", "unknown") if re.search(r"[A-Za-z]", term) else None
    return [f"CAST({quote_name(name)} AS VARCHAR)" for name, kind in columns
            if name != "$table" and (textual is None or kind in textual)]  # fmt: skip


def joined_texts(texts: list[str]) -> str:
    """One text of a row's searched columns (searched_texts), joined with SEARCH_SEPARATOR."""
    return f"concat_ws({sql_string(SEARCH_SEPARATOR)}, {', '.join(texts)})"


def text_contains(text: str, term: str) -> str:
    """Whether the SQL text holds `term` as a substring, case-insensitively (contains)."""
    return f"{text} ILIKE {contains_pattern(term)} ESCAPE '\\'"


def text_has(text: str, term: str) -> str:
    """Whether the SQL text holds `term` as a term (has); the cheap substring test runs first."""
    return f"({text_contains(text, term)} AND kql_has({text}, {sql_string(term)}))"


def string_literal_value(sql: str) -> str | None:
    """The text of a SQL string literal ('it''s' -> it's), or None for any other SQL."""
    if len(sql) >= 2 and sql[0] == sql[-1] == "'" and "'" not in sql[1:-1].replace("''", ""):
        return sql[1:-1].replace("''", "'")
    return None


# What json_literal_value gives for SQL that is not a dynamic literal.
NOT_CONSTANT: Any = object()
_JSON_LITERAL = re.compile(r"CAST\('((?:[^']|'')*)' AS JSON\)")


def json_literal_value(sql: str) -> Any:
    """The value of a compiled dynamic literal (`CAST('<JSON text>' AS JSON)`, also through a let), read in
    Python rather than by a query; NOT_CONSTANT for any other SQL or text that is not JSON."""
    match = _JSON_LITERAL.fullmatch(sql.strip())
    if not match:
        return NOT_CONSTANT
    try:
        return json.loads(match.group(1).replace("''", "'"))
    except ValueError:
        return NOT_CONSTANT


def nonnull(sql: str, kind: str, nullable: bool) -> str:
    """Strings are never null in KQL: rows an outer join or union filled in get ""."""
    return f"coalesce({sql}, '')" if nullable and kind == "string" else sql


_COLUMN = re.compile(r'"(?:[^"]|"")*"')


def is_column(sql: str) -> bool:
    """Whether the SQL is one quoted column name."""
    return _COLUMN.fullmatch(sql) is not None


# SQL that costs nothing to repeat: a column, a number, a string literal, or a cast of a number.
_CHEAP = re.compile(r"""\s*(?:"(?:[^"]|"")*"|'(?:[^']|'')*'|-?[0-9]+(?:\.[0-9]+)?|CAST\(-?[0-9]+ AS BIGINT\))\s*""")
_LAMBDA_NAMES = itertools.count(1)


def lambda_name(prefix: str) -> str:
    """A lambda parameter name no other in the process has: a lambda written inside another's body must not
    take the name of a parameter it may read."""
    return f"{prefix}{next(_LAMBDA_NAMES)}"


def bound_once(values: list[str], body: Callable[[list[str]], str]) -> str:
    """`body` of the values, each value that is an expression computed once and read through a lambda
    parameter: a value that `body` names several times is otherwise copied into the SQL as many times, and
    DuckDB plans every copy (a KQL call nested in another's arguments multiplies them)."""
    names: list[str] = []
    bindings: list[tuple[str, str]] = []
    for value in values:
        if _CHEAP.fullmatch(value):
            names.append(value)
        else:
            name = lambda_name("_kql_b")
            bindings.append((name, value))
            names.append(name)
    sql = body(names)
    for name, value in reversed(bindings):
        sql = f"list_transform([{value}], lambda {name}: {sql})[1]"
    return sql


def json_str(sql: str) -> str:
    """A dynamic value as tostring() gives it (session.py's kql_json_text): a column is read in place, any
    other expression through kql_json_str, which evaluates it once. A member or element read
    (json_extract(x, path)) is json_extract_string(x, path): json_extract hands on its value re-serialised, and
    json_extract_string gives the same text (strings unquoted, JSON null as null) in one step, which DuckDB
    plans in a fraction of the macro's time."""
    if is_column(sql):
        return f"kql_json_text({sql})"
    arguments = call_arguments(sql, "json_extract")
    if arguments is not None and len(arguments) == 2:
        return f"coalesce(json_extract_string({arguments[0]}, {arguments[1]}), '')"
    return f"kql_json_str({sql})"


_OPENING = "([{"
_CLOSING = ")]}"


def call_arguments(sql: str, function: str) -> list[str] | None:
    """The arguments of SQL that is one call of `function` as a whole (`json_extract(a, 'p')` -> ['a', "'p'"]),
    or None for any other SQL. Quoted strings and names, and nested brackets, are skipped over."""
    if not (sql.startswith(function + "(") and sql.endswith(")")):
        return None
    arguments: list[str] = []
    depth = 0
    quote = ""
    start = len(function) + 1
    for index in range(start, len(sql) - 1):
        character = sql[index]
        if quote:
            if character == quote:  # a doubled quote closes and opens again
                quote = ""
        elif character in "'\"":
            quote = character
        elif character in _OPENING:
            depth += 1
        elif character in _CLOSING:
            depth -= 1
            if depth < 0:  # the call closed before the end: the SQL is more than the call
                return None
        elif character == "," and depth == 0:
            arguments.append(sql[start:index].strip())
            start = index + 1
    if quote or depth:
        return None
    arguments.append(sql[start:-1].strip())
    return arguments
