"""Query data in and out of Python, for the plugins and operators computed there: run SQL and fetch
its rows (`fetch`), hand rows back as a temporary table (`table_from_rows`), the value of a constant
argument (`scalar_value`), the distinct values of an expression in order (`distinct_in_order`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..kql.syntax import Node
from .sql import DUCK_TYPES, kql_type_of, quote_name

if TYPE_CHECKING:
    from .interface import Columns, Compiler


def fetch(compiler: Compiler, sql: str) -> tuple[Columns, list[list[Any]]]:
    """Run SQL; dynamic values come back as Python objects."""
    relation = compiler.engine.connection.execute(sql)
    columns = [(str(d[0]), kql_type_of(str(d[1]))) for d in relation.description]
    rows = [list(row) for row in relation.fetchall()]
    for index, (_, kind) in enumerate(columns):
        if kind == "dynamic":
            for row in rows:
                if isinstance(row[index], str):
                    row[index] = json.loads(row[index])
    return columns, rows


def table_from_rows(compiler: Compiler, columns: Columns, rows: list[list[Any]]) -> str:
    """A temporary table holding rows (in this order); returns the SELECT that reads it."""
    name = f"plugin_{compiler.counter}"
    compiler.counter += 1
    connection = compiler.engine.connection
    definition = ", ".join(f"{quote_name(n)} {DUCK_TYPES.get(k, 'VARCHAR')}" for n, k in columns)
    compiler.engine.create_temporary("TABLE", name, f"({definition})")
    if rows:
        marks = ", ".join("CAST(? AS JSON)" if k == "dynamic" else "?" for _, k in columns)
        values = [
            [json.dumps(v) if k == "dynamic" and v is not None else v for v, (_, k) in zip(row, columns, strict=True)]
            for row in rows
        ]
        connection.executemany(f"INSERT INTO {quote_name(name)} VALUES ({marks})", values)
    return f"SELECT * FROM {quote_name(name)}"


def scalar_value(compiler: Compiler, node: Node) -> Any:
    """A constant argument (literal or let value) computed once."""
    sql, kind = compiler.expr(node, [])
    value = compiler.engine.connection.execute(f"SELECT {sql}").fetchall()[0][0]
    if kind == "dynamic" and isinstance(value, str):
        return json.loads(value)
    return value


def distinct_in_order(compiler: Compiler, value_sql: str, sql: str) -> list[Any]:
    """The distinct values of an expression over sql, in the order they first appear."""
    numbered = f"SELECT *, row_number() OVER () AS __n FROM ({sql}) AS {compiler.alias()}"
    grouped = f"SELECT {value_sql} AS __value, min(__n) AS __first FROM ({numbered}) AS {compiler.alias()}"
    ordered = f"{grouped} GROUP BY __value ORDER BY __first"
    return [row[0] for row in compiler.engine.connection.execute(ordered).fetchall()]
