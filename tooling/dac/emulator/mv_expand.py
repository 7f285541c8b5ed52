"""The mv-expand and mv-apply operators: each row once per element of its array (or property of its
bag) columns; mv-apply runs a sub-query on each row's expansion.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..kql.lexer import Token
from ..kql.names import expanded_name, name_text
from ..kql.syntax import Node
from ..kql.types import normalize_type
from .sql import DUCK_TYPES, kql_type_of, quote_name

if TYPE_CHECKING:
    from .interface import Columns, Compiler


class _Expansion:
    """One expanded column: its name, the SQL list it comes from, its element type."""

    def __init__(self, name: str, array: str, kind: str, replaces: str | None):
        self.name, self.array, self.kind, self.replaces = name, array, kind, replaces


def _expansions(compiler: Compiler, node: Node, columns: Columns) -> tuple[list[_Expansion], str | None]:
    """The expanded columns of mv-expand / mv-apply, and the item index column if any."""
    parameters: dict[str, str] = {}
    for child in node.children:
        if isinstance(child, Node) and child.kind == "Parameter":
            tokens = [t.text for t in child.tokens()]
            parameters[tokens[0].lower()] = tokens[-1]
    bag_mode = parameters.get("bagexpansion", parameters.get("kind", "bag")).lower()
    if bag_mode not in ("bag", "array"):
        raise compiler.unsupported(f"mv-expand kind={bag_mode}", node)
    limit = None
    for index, child in enumerate(node.children):
        if isinstance(child, Token) and child.text == "limit":
            limit, _ = compiler.expr(node.children[index + 1], columns)
    names = [n for n, _ in columns]
    expansions: list[_Expansion] = []
    for number, item in enumerate(c for c in node.children if isinstance(c, Node) and c.kind == "ExpandItem"):
        expression = item.children[0]
        typed = next((c for c in item.children[1:] if isinstance(c, Node) and c.kind == "TypeOf"), None)
        kind = "dynamic"
        if typed is not None:
            kind = normalize_type(name_text(next(c for c in typed.children if isinstance(c, Node))))
            if kind not in DUCK_TYPES or kind == "unknown":
                raise compiler.unsupported(f"mv-expand to typeof({kind})", typed)
        if expression.kind == "Assignment":
            name, value, replaces = name_text(expression["name"]), expression["value"], None
        else:  # Kusto's name: a column keeps its name, parse_json(Col) and todynamic(Col) expand into Col
            name, value = expanded_name(expression) or f"Column{number + 1}", expression
            replaces = name if name in names else None
        sql, value_kind = compiler.expr(value, columns)
        if value_kind != "dynamic":
            sql = f"to_json({sql})"
        member = f"json_extract({sql}, '$.\"' || replace(k, '\"', '\\\"') || '\"')"
        pair = f"json_object(k, {member})" if bag_mode == "bag" else f"json_array(k, {member})"
        # arrays give their elements; a property bag one single-property bag (or [key, value]) per slot. JSON
        # text that begins with [ is an array: cast without asking json_type first.
        array = (f"CASE WHEN starts_with(CAST({sql} AS VARCHAR), '[') THEN CAST({sql} AS JSON[]) "
                 f"ELSE CASE json_type({sql}) WHEN 'ARRAY' THEN CAST({sql} AS JSON[]) WHEN 'OBJECT' THEN "
                 f"list_transform(json_keys({sql}), lambda k: {pair}) ELSE [CAST({sql} AS JSON)] END END")  # fmt: skip
        if limit is not None:
            array = f"list_slice({array}, 1, {limit})"
        expansions.append(_Expansion(name, array, kind, replaces))
    if not expansions:
        raise compiler.unsupported("mv-expand without columns", node)
    return expansions, parameters.get("with_itemindex")


def _expanded_rows(compiler: Compiler, expansions: list[_Expansion], index: str | None, keep: list[str],
                   source: str | None) -> str:  # fmt: skip
    """SELECT keep..., the expanded columns (typed), the index; source None: correlated (no FROM)."""
    unnests = [f"unnest({e.array}) AS {quote_name('__x' + str(n))}" for n, e in enumerate(expansions)]
    if index is not None:  # the longest list sets the number of rows; unnest pads the others with null
        longest = "greatest(" + ", ".join(f"len({e.array})" for e in expansions) + ")"
        unnests.append(f"unnest(range(0, {longest})) AS __index")
    inner = ", ".join([quote_name(k) for k in keep] + unnests)
    inner_sql = f"SELECT {inner}" + (f" FROM ({source}) AS {compiler.alias()}" if source is not None else "")
    selects = [quote_name(k) for k in keep]
    for number, expansion in enumerate(expansions):
        value = quote_name("__x" + str(number))
        if expansion.kind != "dynamic":
            value = compiler.from_dynamic(value, expansion.kind)
        selects.append(f"{value} AS {quote_name(expansion.name)}")
    if index is not None:
        selects.append(f"__index AS {quote_name(index)}")
    return f"SELECT {', '.join(selects)} FROM ({inner_sql}) AS {compiler.alias()}"


def mv_expand(compiler: Compiler, node: Node, sql: str) -> str:
    columns = compiler.columns(sql)
    expansions, index = _expansions(compiler, node, columns)
    names = [n for n, _ in columns]
    expanded = {e.name for e in expansions}
    keep = [n for n in names if n not in expanded]
    rows = _expanded_rows(compiler, expansions, index, keep, sql)
    # the expanded columns stay where the source had them; new ones and the index come last
    order = [n for n in names] + [e.name for e in expansions if e.name not in names]
    if index is not None and index not in order:
        order.append(index)
    result = f"SELECT {', '.join(quote_name(n) for n in order)} FROM ({rows}) AS {compiler.alias()}"
    if index is None or index not in names:
        # the columns are known without asking DuckDB: the source's, the expanded ones of their element type
        # (as DuckDB stores it: a guid is text), the item index a BIGINT from range()
        kinds = dict(columns)
        kinds.update((e.name, kql_type_of(DUCK_TYPES.get(e.kind, "VARCHAR"))) for e in expansions)
        if index is not None:
            kinds[index] = "long"
        compiler.known_columns[result] = [(name, kinds[name]) for name in order]
    return result


def mv_apply(compiler: Compiler, node: Node, sql: str) -> str:
    """Each row's expansion is a sub-table the sub-query runs on (a LATERAL join); the row's other
    columns are added in front of the sub-query's result. The sub-table carries the row's other columns
    too: Microsoft's binder (kqlcheck --result) lets the sub-query read them (extend v=b[e] binds) and a
    sub-query column of the same name takes the row's column's place (extend b=1 gives b:long first)."""
    columns = compiler.columns(sql)
    expansions, index = _expansions(compiler, node, columns)
    subquery = node.children[-1]
    operators = [c for c in subquery.children if isinstance(c, Node)]
    if subquery.kind != "SubQuery" or any(o.kind == "Pipe" for o in operators):
        raise compiler.unsupported("this mv-apply sub-query", subquery)
    replaced = {e.replaces for e in expansions if e.replaces}
    keep = [n for n, _ in columns if n not in replaced]
    # The sub-query is compiled against a placeholder table with the sub-table's columns (DESCRIBE
    # cannot see a correlated query); the placeholder is then swapped for the correlated sub-table.
    placeholder = f"mv_apply_{compiler.counter}"
    compiler.counter += 1
    carried = [k for k in keep if k not in {e.name for e in expansions} and k != index]
    typed = _expanded_rows(compiler, expansions, index, carried, sql)
    compiler.engine.create_temporary("TABLE", placeholder, f"AS {typed} LIMIT 0")
    stand_in = f"SELECT * FROM {quote_name(placeholder)}"
    inner = stand_in
    for operator in operators:
        inner = compiler.operator(operator, inner)
    produced = [n for n, _ in compiler.columns(inner)]
    correlated = _expanded_rows(compiler, expansions, index, carried, None)
    # the placeholder is a FROM item, alone or with the alias of a where that reads it (operators.where)
    inner = inner.replace(f"{stand_in} AS ", f"SELECT * FROM ({correlated}) AS ")
    inner = inner.replace(stand_in, f"SELECT * FROM ({correlated}) AS {compiler.alias()}")
    outer = compiler.alias()
    numbered = f"SELECT *, row_number() OVER () AS __rid FROM ({sql}) AS {compiler.alias()}"
    selects = ", ".join(
        [f"__sub.{quote_name(k)}" if k in produced else f"{outer}.{quote_name(k)}" for k in keep]
        + [f"__sub.{quote_name(n)}" for n in produced if n not in keep]
    )
    return f"SELECT {selects} FROM ({numbered}) AS {outer}, LATERAL ({inner}) AS __sub ORDER BY {outer}.__rid"
