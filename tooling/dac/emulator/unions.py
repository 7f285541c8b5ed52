"""union and search: the operators that read many tables at once.

`union *` and `search` without `in` read every table of the database, about 900 in Sentinel. The
tables a test gave no rows contribute columns and no rows, so they are not read: their columns come
from the platform schema and one typed, empty SELECT stands for all of them. The result's columns are
computed here, by the binder's rule for union (kql.binder_operators.union_columns), not asked of DuckDB.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..kql.binder_operators import union_columns
from ..kql.lexer import T, Token
from ..kql.names import string_value
from ..kql.syntax import Node, operands
from .errors import EmulatorError
from .operators import filter_condition
from .session import CASE_TWIN, case_twin_names
from .sql import (
    DUCK_TYPES,
    SEARCH_SEPARATOR,
    joined_texts,
    quote_name,
    searched_texts,
    sql_string,
    text_has,
)

if TYPE_CHECKING:
    from .interface import Columns, Compiler


@dataclass
class _Part:
    """One input of a union: its name (for withsource), its columns, and its SQL (None: no rows)."""

    name: str
    columns: Columns
    sql: str | None


# ----------------------------------------------------------------- union
def union(compiler: Compiler, node: Node, sql: str | None) -> str:
    """union [kind=outer] [withsource=C] [isfuzzy=true] T1, T2*, (...): columns by name; a column with
    different types in different parts becomes one column per type, named Column_type."""
    parts: list[_Part] = [_Part("", compiler.columns(sql), sql)] if sql is not None else []
    withsource, fuzzy = None, False
    for child in node.children[1:]:
        if not isinstance(child, Node):
            continue
        if child.kind == "Parameter":
            tokens = [t for t in child.tokens() if not t.missing]
            word = tokens[0].text.lower()
            if word in ("withsource", "with_source"):
                withsource = tokens[-1].text if tokens[-1].kind is T.IDENT else string_value(tokens[-1].text)
            elif word == "kind" and tokens[2].text == "inner":
                raise compiler.unsupported("union kind=inner", child)
            elif word == "isfuzzy":
                fuzzy = tokens[-1].text.lower() == "true"
            continue
        if child.kind == "NamePattern" and "*" in child.text():
            pattern = re.compile(".*".join(re.escape(p) for p in child.text().strip().split("*")) + "$")
            parts.extend(_tables_matching(compiler, pattern))
            continue
        try:
            part_sql = compiler.tabular(child)
        except EmulatorError as error:
            if fuzzy and error.code == "EMU003":  # isfuzzy: a table that does not exist is left out
                continue
            raise
        parts.append(_Part(child.text().strip(), compiler.columns(part_sql), part_sql))
    if not parts:
        raise EmulatorError("EMU003", "union: none of the tables exists", node.first_token().start)
    return _union_sql(compiler, parts, withsource)


def _tables_matching(compiler: Compiler, pattern: re.Pattern[str]) -> list[_Part]:
    """The tables and views a wildcard names, in name order (as Kusto's binder orders them)."""
    views = compiler.__dict__.get("views", set())
    engine = compiler.engine
    parts = []
    for name in sorted(views | set(engine.environment.tables) | {n for n in engine.loaded if ":" not in n}):
        if not pattern.match(name):
            continue
        if name in views:
            parts.append(_Part(name, compiler.columns(compiler.tables[name]), compiler.tables[name]))
        elif engine.has_rows(name):
            parts.append(_Part(name, engine.stored_columns(name), f"SELECT * FROM {quote_name(name)}"))
        else:  # no rows: its columns, from the schema, without creating the table
            parts.append(_Part(name, engine.stored_columns(name), None))
    return parts


def _union_sql(compiler: Compiler, parts: list[_Part], withsource: str | None) -> str:
    # The binder's rule for the result's columns: a column of several types is one column per type (x_long,
    # x_string), except one two inputs gave with one type already (see union_columns)
    output = union_columns([dict(_kql_names(part.columns)) for part in parts])
    result: dict[str, str] = {withsource: "string"} if withsource else {}
    for part in parts:
        for name, kind in _kql_names(part.columns):
            if not (name in output and output[name] != kind):
                final = name if name in output else f"{name}_{kind}"
                result.setdefault(final, output.get(final, kind))
    # The result's columns in Kusto's order: withsource, then each name where it first came (Column_type
    # pairs where the column first came).
    order = {name: index for index, name in enumerate([withsource, *output] if withsource else output)}
    columns = sorted(result.items(), key=lambda column: order.get(column[0], len(order)))
    plain = _stored_names([name for name, _ in columns])
    stored = {name: quote_name(text) for name, text in plain.items()}
    selects = []
    for part in parts:
        if part.sql is None:
            continue
        renamed = [f"{sql_string(part.name)} AS {stored[withsource]}"] if withsource else []
        for column, kind in part.columns:
            name = column.replace(CASE_TWIN, "")
            if name in output and output[name] != kind:
                # The binder keeps the column of the first two inputs' type (see union_columns); where a
                # later input's values of another type go, the reference does not say. A null is null in
                # either column, so the refusal waits for a row with a value.
                what = f"union of '{name}' as {output[name]} in two inputs and {kind} in a later one, for a value"
                refusal = sql_string(f"the emulator does not support {what}")
                duck = DUCK_TYPES.get(output[name], "VARCHAR")
                value = f"CASE WHEN {quote_name(column)} IS NULL THEN NULL ELSE error({refusal}) END"
                renamed.append(f"CAST({value} AS {duck}) AS {stored[name]}")
                continue
            renamed.append(f"{quote_name(column)} AS {stored[name if name in output else f'{name}_{kind}']}")
        selects.append(f"SELECT {', '.join(renamed)} FROM ({part.sql}) AS {compiler.alias()}")
    # First a typed SELECT with no rows and every column: it fixes the columns' order and types, and stands
    # for the inputs without rows.
    typed = ", ".join(f"CAST(NULL AS {DUCK_TYPES.get(kind, 'VARCHAR')}) AS {stored[name]}" for name, kind in columns)
    joined = " UNION ALL BY NAME ".join(
        f"SELECT * FROM ({s}) AS {compiler.alias()}" for s in [f"SELECT {typed} WHERE false", *selects]
    )
    strings = [
        f"coalesce({stored[name]}, '') AS {stored[name]}" if kind == "string" else stored[name]
        for name, kind in columns
    ]
    sql = f"SELECT {', '.join(strings)} FROM ({joined}) AS {compiler.alias()}"
    compiler.known_columns[sql] = [(plain[name], kind) for name, kind in columns]
    return sql


def _kql_names(columns: Columns) -> Columns:
    return [(name.replace(CASE_TWIN, ""), kind) for name, kind in columns]


def _stored_names(names: list[str]) -> dict[str, str]:
    """The SQL name of each result column: DuckDB's names are case-insensitive, so a column whose name
    differs from an earlier one's only in case gets CASE_TWIN marks (session.case_twin_names; engine.py
    gives it back its name)."""
    return dict(zip(names, case_twin_names(names), strict=True))


# ----------------------------------------------------------------- search
def search(compiler: Compiler, node: Node, sql: str | None) -> str:
    tables = next((c for c in node.children if isinstance(c, Node) and c.kind == "Tables"), None)
    if tables is not None:
        parts = []
        for child in tables.children:
            if isinstance(child, Node):
                part_sql = compiler.tabular(child)
                parts.append(_Part(child.text().strip(), compiler.columns(part_sql), part_sql))
        source = _union_sql(compiler, parts, "$table")
    elif sql is not None:
        source = sql
    else:
        # search without `in`: "all tables in the database" (search reference): every platform table (those
        # the test gave no rows have none) and every table the test gave. Names with ':' hold test data.
        source = _union_sql(compiler, _tables_matching(compiler, re.compile(".*")), "$table")
    columns = compiler.columns(source)
    result = _search_rows(compiler, node, source, columns)
    compiler.known_columns[result] = columns  # search keeps its input's columns
    return result


def _search_rows(compiler: Compiler, node: Node, source: str, columns: Columns) -> str:
    predicates = [c for c in node.children if isinstance(c, Node) and c.kind not in ("Tables", "Parameter")]
    if not predicates and any(isinstance(c, Token) and c.text == "*" for c in node.children):
        return f"SELECT * FROM ({source}) AS {compiler.alias()}"  # search *: every row (search reference)
    if not predicates:
        raise compiler.unsupported("search without a predicate", node)
    predicate = predicates[-1]
    outer_texts = compiler.search_texts
    compiler.search_texts = {}  # concatenation SQL -> its helper column
    try:
        condition = filter_condition(search_predicate(compiler, predicate, columns))
        helpers = ", ".join(f"{text} AS {name}" for text, name in compiler.search_texts.items())
        hidden = ", ".join(compiler.search_texts.values())
    finally:
        compiler.search_texts = outer_texts
    if not helpers:
        return f"SELECT * FROM ({source}) AS {compiler.alias()} WHERE {condition}"
    # Each row's searched columns joined once, with a separator no term contains, instead of one regex
    # per column and term: a term is in some column exactly when it is in the joined text.
    return (f"SELECT * EXCLUDE ({hidden}) FROM (SELECT *, {helpers} FROM ({source}) AS {compiler.alias()}) "
            f"AS {compiler.alias()} WHERE {condition}")  # fmt: skip


def search_predicate(compiler: Compiler, node: Node, columns: Columns) -> str:
    """`and`/`or` of terms; a run of one of them is one flat SQL conjunction (see chain)."""
    if node.kind == "BinaryExpression" and node["op"].text in ("and", "or"):
        op = node["op"].text
        parts = [search_predicate(compiler, part, columns) for part in operands(node, (op,))]
        return "(" + f" {op.upper()} ".join(parts) + ")"
    return search_term(compiler, node, columns)


def search_term(compiler: Compiler, node: Node, columns: Columns) -> str:
    if node.kind == "Literal" and node["literal"] == "string":
        term = "".join(string_value(t.text) for t in node.children if isinstance(t, Token))
        if "*" in term:
            raise compiler.unsupported("wildcards in search terms", node)
        # any column holding the term
        texts = searched_texts(columns, term)
        if not texts:
            return "false"
        if SEARCH_SEPARATOR not in term:
            joined = joined_texts(texts)
            name = compiler.search_texts.setdefault(joined, f'"__search{len(compiler.search_texts)}"')
            texts = [name]
        return "(" + " OR ".join(text_has(t, term) for t in texts) + ")"
    if node.kind == "BinaryExpression" and node["op"].text == ":":
        column, _ = compiler.expr(node["left"], columns)
        value, _ = compiler.expr(node["right"], columns)
        return f"kql_has(CAST({column} AS VARCHAR), {value})"
    sql, _ = compiler.expr(node, columns)
    return sql
