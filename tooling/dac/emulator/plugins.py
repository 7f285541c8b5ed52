"""Tabular plugins (`evaluate name(...)`) and the operators whose result depends on the data itself.

Most plugins here read their input once into Python (`fetch`), compute the documented result
exactly, and hand back a temporary table (`table_from_rows`). bag_unpack and pivot only look at
the data to learn the output columns, then stay in SQL.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..kql.lexer import Token
from ..kql.names import name_text, path_name
from ..kql.syntax import Node
from .engine import DUCK_TYPES, EmulatorError, kql_type_of, quote_name

if TYPE_CHECKING:
    from .compiler import Compiler

Columns = list[tuple[str, str]]
Plugin = Callable[["Compiler", Node, str], str]


# ----------------------------------------------------------------- data in and out of Python
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
    connection.execute(f"CREATE OR REPLACE TEMP TABLE {quote_name(name)} ({definition})")
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


def _arguments(call: Node) -> tuple[list[Node], dict[str, Node]]:
    items = list(call["arguments"]["items"] or [])
    positional = [a for a in items if a.kind != "Assignment"]
    named = {name_text(a["name"]).lower(): a["value"] for a in items if a.kind == "Assignment"}
    return positional, named


def _column(compiler: Compiler, node: Node, columns: Columns, what: str) -> str:
    name = path_name(node) if node.kind == "Name" else None
    if name is None or name not in [n for n, _ in columns]:
        raise compiler.unsupported(f"{what} that is not a column of the input", node)
    return name


def _schema(node: Node) -> Node | None:
    return next((c for c in node.children if isinstance(c, Node) and c.kind == "Schema"), None)


# ----------------------------------------------------------------- bag_unpack
_JSON_KINDS = {"BIGINT": "long", "UBIGINT": "long", "DOUBLE": "real", "VARCHAR": "string", "BOOLEAN": "bool"}


def _json_cast(member: str, kind: str) -> str:
    if kind == "string":
        return f"json_extract_string({member}, '$')"
    if kind == "dynamic":
        return member
    return f"CAST({member} AS {DUCK_TYPES[kind]})"


def bag_unpack(compiler: Compiler, node: Node, call: Node, sql: str) -> str:
    columns = compiler.columns(sql)
    positional, named = _arguments(call)
    if not positional:
        raise EmulatorError("EMU006", "bag_unpack needs the column to unpack", call.first_token().start)
    column = _column(compiler, positional[0], columns, "bag_unpack of an expression")
    options = [scalar_value(compiler, a) for a in positional[1:]]
    prefix = str(options[0]) if len(options) > 0 and options[0] is not None else ""
    conflict = str(options[1]) if len(options) > 1 else "error"
    ignored = options[2] if len(options) > 2 else None
    if "outputcolumnprefix" in named:
        prefix = str(scalar_value(compiler, named["outputcolumnprefix"]))
    if "columnsconflict" in named:
        conflict = str(scalar_value(compiler, named["columnsconflict"]))
    if "ignoredproperties" in named:
        ignored = scalar_value(compiler, named["ignoredproperties"])
    ignored_keys = {str(k) for k in (ignored or [])}
    if conflict not in ("error", "replace_source", "keep_source"):
        raise EmulatorError("EMU006", f"bag_unpack: unknown columnsConflict '{conflict}'", call.first_token().start)
    bag = quote_name(column)
    member = f"json_extract({bag}, '$.\"' || replace(__key, '\"', '\\\"') || '\"')"
    keys_sql = (f"SELECT __key, list(DISTINCT json_type({member})) FROM (SELECT {bag}, unnest(json_keys({bag})) "
                f"AS __key FROM ({sql}) AS {compiler.alias()} WHERE json_type({bag}) = 'OBJECT') AS "
                f"{compiler.alias()} GROUP BY __key")  # fmt: skip
    slots: dict[str, str] = {}
    for key, json_kinds in compiler.engine.connection.execute(keys_sql).fetchall():
        if key in ignored_keys:
            continue
        kinds = {_JSON_KINDS.get(k, "dynamic") for k in json_kinds if k != "NULL"}
        slots[key] = kinds.pop() if len(kinds) == 1 else "dynamic"
    schema = _schema(node)
    keep_input = True
    if schema is not None:  # the declared schema decides the columns and their types
        declared = compiler.declared(schema)
        keep_input = any(isinstance(t, Token) and t.text == "*" for t in schema.children)
        slots = {name.removeprefix(prefix): kind for name, kind in declared}
    source_names = [n for n, _ in columns if n != column] if keep_input else []
    new_columns = {prefix + key: key for key in sorted(slots)}
    selects: list[str] = []
    for name in source_names:
        if name in new_columns:
            if conflict == "error":
                raise EmulatorError("EMU006", f"bag_unpack: the column '{name}' already exists "
                                    "(use columnsConflict)", call.first_token().start)  # fmt: skip
            if conflict == "replace_source":
                key = new_columns.pop(name)
                selects.append(f"{_json_cast(_member(bag, key), slots[key])} AS {quote_name(name)}")
                continue
            new_columns.pop(name)
        selects.append(quote_name(name))
    for name, key in new_columns.items():
        selects.append(f"{_json_cast(_member(bag, key), slots[key])} AS {quote_name(name)}")
    if not selects:
        raise compiler.unsupported("bag_unpack giving no columns", call)
    return f"SELECT {', '.join(selects)} FROM ({sql}) AS {compiler.alias()}"


def _member(bag: str, key: str) -> str:
    path = '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"json_extract({bag}, '{path.replace(chr(39), chr(39) * 2)}')"


# ----------------------------------------------------------------- pivot
_PIVOT_AGGREGATES = ("min", "max", "take_any", "any", "sum", "dcount", "avg", "count", "make_list", "make_set")


def pivot(compiler: Compiler, node: Node, call: Node, sql: str) -> str:
    columns = compiler.columns(sql)
    positional, _ = _arguments(call)
    if not positional:
        raise EmulatorError("EMU006", "pivot needs the column to rotate", call.first_token().start)
    if _schema(node) is not None:
        raise compiler.unsupported("pivot with an output schema", node)
    pivot_column = _column(compiler, positional[0], columns, "pivot of an expression")
    rest = positional[1:]
    aggregate: Node | None = None
    if rest and rest[0].kind == "Call":
        aggregate, rest = rest[0], rest[1:]
    function = name_text(aggregate["callee"]) if aggregate is not None else "count"
    if function not in _PIVOT_AGGREGATES:
        raise compiler.unsupported(f"pivot with the aggregate '{function}'", aggregate or call)
    arguments = list(aggregate["arguments"]["items"] or []) if aggregate is not None else []
    used = {t.text for a in arguments for t in a.tokens()}
    if rest:
        groups = [_column(compiler, g, columns, "a pivot key") for g in rest]
    else:  # all columns but the rotated one and those the aggregate reads
        groups = [n for n, _ in columns if n != pivot_column and n not in used]
    value_sql = compiler.aggregate_sql(function, arguments, columns, aggregate or call)
    group_list = ", ".join(quote_name(g) for g in groups)
    label = f"kql_str({quote_name(pivot_column)})" if dict(columns)[pivot_column] != "dynamic" else (
        f"kql_json_str({quote_name(pivot_column)})")  # fmt: skip
    values = distinct_in_order(compiler, label, sql)
    inner_groups = ", ".join([quote_name(g) for g in groups] + ["__pivot"])
    inner = (f"SELECT {group_list + ', ' if groups else ''}{label} AS __pivot, {value_sql} AS __value "
             f"FROM ({sql}) AS {compiler.alias()} GROUP BY {inner_groups}")  # fmt: skip
    empty = "0" if function in ("count", "dcount") else ("'[]'" if function.startswith("make_") else "NULL")
    cells = [
        f"coalesce(any_value(__value) FILTER (WHERE __pivot = {_literal(v)}), {empty}) AS {quote_name(v)}"
        for v in values
    ]
    group_by = f" GROUP BY {group_list}" if groups else ""
    selects = ", ".join([quote_name(g) for g in groups] + cells) or "count(*) AS __none"
    return f"SELECT {selects} FROM ({inner}) AS {compiler.alias()}{group_by}"


def distinct_in_order(compiler: Compiler, value_sql: str, sql: str) -> list[Any]:
    """The distinct values of an expression over sql, in the order they first appear."""
    numbered = f"SELECT *, row_number() OVER () AS __n FROM ({sql}) AS {compiler.alias()}"
    grouped = f"SELECT {value_sql} AS __value, min(__n) AS __first FROM ({numbered}) AS {compiler.alias()}"
    ordered = f"{grouped} GROUP BY __value ORDER BY __first"
    return [row[0] for row in compiler.engine.connection.execute(ordered).fetchall()]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# ----------------------------------------------------------------- time-window plugins
def _time_arguments(compiler: Compiler, call: Node, sql: str, count: int, name: str):
    columns = compiler.columns(sql)
    positional, _ = _arguments(call)
    if len(positional) < count:
        raise EmulatorError("EMU006", f"{name} needs {count} arguments", call.first_token().start)
    id_column = _column(compiler, positional[0], columns, f"{name} of an expression")
    time_column = _column(compiler, positional[1], columns, f"{name} of an expression")
    constants = [scalar_value(compiler, a) for a in positional[2:count]]
    dimensions = [_column(compiler, d, columns, f"a {name} dimension") for d in positional[count:]]
    if dict(columns)[time_column] != "datetime" or any(
        not isinstance(c, dt.datetime | dt.timedelta | int | float) for c in constants
    ):
        raise compiler.unsupported(f"{name} on a timeline that is not datetime", call)
    return columns, id_column, time_column, constants, dimensions


def _bin_start(value: dt.datetime, start: dt.datetime, step: dt.timedelta) -> dt.datetime:
    return start + step * math.floor((value - start) / step)


def _grouped(columns: Columns, rows: list[list[Any]], dimensions: list[str]) -> dict[tuple, list[list[Any]]]:
    positions = [[n for n, _ in columns].index(d) for d in dimensions]
    groups: dict[tuple, list[list[Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row[p] for p in positions), []).append(row)
    return groups


def _steps(start: dt.datetime, end: dt.datetime, step: dt.timedelta) -> list[dt.datetime]:
    result, current = [], start
    while current <= end:
        result.append(current)
        current += step
    return result


def sliding_window_counts(compiler: Compiler, node: Node, call: Node, sql: str) -> str:
    """Per bin t: count and distinct count of ids in the bins (t - lookback, t]."""
    columns, id_column, time_column, constants, dimensions = _time_arguments(
        compiler, call, sql, 6, "sliding_window_counts"
    )
    start, end, lookback, step = constants
    if not all(isinstance(v, dt.timedelta) for v in (lookback, step)) or step <= dt.timedelta(0):
        raise compiler.unsupported("sliding_window_counts with this bin or lookback", call)
    names = [n for n, _ in columns]
    source_columns, rows = fetch(compiler, f"SELECT {', '.join(quote_name(n) for n in names)} FROM ({sql}) AS x")
    id_at, time_at = names.index(id_column), names.index(time_column)
    bins_back = max(1, lookback // step)  # the lookback rounds down to whole bins
    output: list[list[Any]] = []
    for key, members in _grouped(source_columns, rows, dimensions).items():
        by_bin: dict[dt.datetime, list[Any]] = {}
        for row in members:
            if row[time_at] is not None:
                by_bin.setdefault(_bin_start(row[time_at], start, step), []).append(row[id_at])
        for moment in _steps(start, end, step):
            window = [i for b in range(bins_back) for i in by_bin.get(moment - step * b, [])]
            output.append([moment, *key, len(window), len({json.dumps(i, default=str) for i in window})])
    kinds = dict(columns)
    schema = [(time_column, "datetime"), *[(d, kinds[d]) for d in dimensions], ("Count", "long"), ("dcount", "long")]
    return table_from_rows(compiler, schema, output)


def activity_counts_metrics(compiler: Compiler, node: Node, call: Node, sql: str) -> str:
    """Per window: count, dcount, ids new since start, ids seen since start."""
    columns, id_column, time_column, constants, dimensions = _time_arguments(
        compiler, call, sql, 5, "activity_counts_metrics"
    )
    start, end, window = constants
    if not isinstance(window, dt.timedelta) or window <= dt.timedelta(0):
        raise compiler.unsupported("activity_counts_metrics with this window", call)
    names = [n for n, _ in columns]
    source_columns, rows = fetch(compiler, f"SELECT {', '.join(quote_name(n) for n in names)} FROM ({sql}) AS x")
    id_at, time_at = names.index(id_column), names.index(time_column)
    output: list[list[Any]] = []
    for key, members in _grouped(source_columns, rows, dimensions).items():
        by_bin: dict[dt.datetime, list[Any]] = {}
        for row in members:
            if row[time_at] is not None and start <= row[time_at] < end + window:
                by_bin.setdefault(_bin_start(row[time_at], start, window), []).append(row[id_at])
        seen: set[str] = set()
        for moment in _steps(start, end, window):
            ids = [json.dumps(i, default=str) for i in by_bin.get(moment, [])]
            new = set(ids) - seen
            seen |= set(ids)
            output.append([moment, *key, len(ids), len(set(ids)), len(new), len(seen)])
    kinds = dict(columns)
    schema = [(time_column, "datetime"), *[(d, kinds[d]) for d in dimensions], ("count", "long"),
              ("dcount", "long"), ("new_dcount", "long"), ("aggregated_dcount", "long")]  # fmt: skip
    return table_from_rows(compiler, schema, output)


def active_users_count(compiler: Compiler, node: Node, call: Node, sql: str) -> str:
    """Per bin: distinct ids seen in the bin at a moment when they were active, i.e. seen in at least
    ActivePeriods distinct periods of the lookback (moment - LookbackWindow, moment]. Empty bins are left out."""
    columns, id_column, time_column, constants, dimensions = _time_arguments(
        compiler, call, sql, 8, "active_users_count"
    )
    start, end, lookback, period, active_periods, step = constants
    if not all(isinstance(v, dt.timedelta) for v in (lookback, period, step)) or step <= dt.timedelta(0):
        raise compiler.unsupported("active_users_count with this lookback, period or bin", call)
    names = [n for n, _ in columns]
    source_columns, rows = fetch(compiler, f"SELECT {', '.join(quote_name(n) for n in names)} FROM ({sql}) AS x")
    id_at, time_at = names.index(id_column), names.index(time_column)
    epoch = dt.datetime(1970, 1, 1)
    output: list[list[Any]] = []
    for key, members in _grouped(source_columns, rows, dimensions).items():
        seen_at: dict[str, list[dt.datetime]] = {}
        for row in members:
            if row[time_at] is not None:
                seen_at.setdefault(json.dumps(row[id_at], default=str), []).append(row[time_at])
        active: dict[dt.datetime, set[str]] = {}
        for user, moments in seen_at.items():
            for moment in moments:
                if not start <= moment <= end:
                    continue
                periods = {_bin_start(m, epoch, period) for m in moments if moment - lookback < m <= moment}
                if len(periods) >= active_periods:
                    active.setdefault(_bin_start(moment, start, step), set()).add(user)
        for moment in sorted(active):
            output.append([moment, *key, len(active[moment])])
    kinds = dict(columns)
    schema = [(time_column, "datetime"), *[(d, kinds[d]) for d in dimensions], ("dcount", "long")]
    return table_from_rows(compiler, schema, output)


def rolling_percentile(compiler: Compiler, node: Node, call: Node, sql: str) -> str:
    """Per bin of the index column and dimensions: the nearest-rank percentile of the values in
    this bin and the BinsToLookback - 1 bins before it."""
    columns = compiler.columns(sql)
    positional, _ = _arguments(call)
    if len(positional) < 5:
        raise EmulatorError("EMU006", "rolling_percentile needs 5 arguments", call.first_token().start)
    value_column = _column(compiler, positional[0], columns, "rolling_percentile of an expression")
    index_column = _column(compiler, positional[2], columns, "rolling_percentile of an expression")
    percent, step, lookback = (scalar_value(compiler, a) for a in (positional[1], positional[3], positional[4]))
    dimensions = [_column(compiler, d, columns, "a rolling_percentile dimension") for d in positional[5:]]
    kinds = dict(columns)
    if kinds[index_column] != "datetime" or not isinstance(step, dt.timedelta) or kinds[value_column] not in (
        "long", "int", "real"
    ):  # fmt: skip
        raise compiler.unsupported("rolling_percentile on this index or value type", call)
    names = [n for n, _ in columns]
    source_columns, rows = fetch(compiler, f"SELECT {', '.join(quote_name(n) for n in names)} FROM ({sql}) AS x")
    value_at, index_at = names.index(value_column), names.index(index_column)
    epoch = dt.datetime(1970, 1, 1)
    output: list[list[Any]] = []
    for key, members in _grouped(source_columns, rows, dimensions).items():
        by_bin: dict[dt.datetime, list[float]] = {}
        for row in members:
            if row[index_at] is not None and row[value_at] is not None:
                by_bin.setdefault(_bin_start(row[index_at], epoch, step), []).append(row[value_at])
        if not by_bin:
            continue
        for moment in _steps(min(by_bin), max(by_bin), step):
            window = sorted(v for b in range(int(lookback)) for v in by_bin.get(moment - step * b, []))
            output.append([moment, *key, _nearest_rank(window, float(percent)) if window else None])
    name = f"rolling_{int(lookback)}_percentile_{value_column}_{_number_text(percent)}"
    schema = [(index_column, "datetime"), *[(d, kinds[d]) for d in dimensions], (name, kinds[value_column])]
    return table_from_rows(compiler, schema, output)


def _nearest_rank(ordered: list[float], percent: float) -> float:
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _number_text(value: Any) -> str:
    return str(int(value)) if float(value).is_integer() else str(value).replace(".", "_")


PLUGINS: dict[str, Callable[[Compiler, Node, Node, str], str]] = {
    "bag_unpack": bag_unpack,
    "pivot": pivot,
    "sliding_window_counts": sliding_window_counts,
    "activity_counts_metrics": activity_counts_metrics,
    "active_users_count": active_users_count,
    "rolling_percentile": rolling_percentile,
}


# ----------------------------------------------------------------- mv-expand and mv-apply
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
            from ..kql.types import normalize_type

            kind = normalize_type(name_text(next(c for c in typed.children if isinstance(c, Node))))
            if kind not in DUCK_TYPES or kind == "unknown":
                raise compiler.unsupported(f"mv-expand to typeof({kind})", typed)
        if expression.kind == "Assignment":
            name, value, replaces = name_text(expression["name"]), expression["value"], None
        else:
            name, value = path_name(expression) or f"Column{number + 1}", expression
            replaces = name if expression.kind == "Name" and name in names else None
        sql, value_kind = compiler.expr(value, columns)
        if value_kind != "dynamic":
            sql = f"to_json({sql})"
        member = f"json_extract({sql}, '$.\"' || replace(k, '\"', '\\\"') || '\"')"
        pair = f"json_object(k, {member})" if bag_mode == "bag" else f"json_array(k, {member})"
        # arrays give their elements; a property bag one single-property bag (or [key, value]) per slot
        array = (f"CASE json_type({sql}) WHEN 'ARRAY' THEN CAST({sql} AS JSON[]) WHEN 'OBJECT' THEN "
                 f"list_transform(json_keys({sql}), lambda k: {pair}) ELSE [CAST({sql} AS JSON)] END")  # fmt: skip
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
    return f"SELECT {', '.join(quote_name(n) for n in order)} FROM ({rows}) AS {compiler.alias()}"


def mv_apply(compiler: Compiler, node: Node, sql: str) -> str:
    """Each row's expansion is a sub-table the sub-query runs on (a LATERAL join); the row's other
    columns are added in front of the sub-query's result."""
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
    typed = _expanded_rows(compiler, expansions, index, [], sql)
    compiler.engine.connection.execute(f"CREATE OR REPLACE TEMP TABLE {quote_name(placeholder)} AS {typed} LIMIT 0")
    stand_in = f"SELECT * FROM {quote_name(placeholder)}"
    inner = stand_in
    for operator in operators:
        inner = compiler.operator(operator, inner)
    correlated = _expanded_rows(compiler, expansions, index, [], None)
    inner = inner.replace(stand_in, f"SELECT * FROM ({correlated}) AS {compiler.alias()}")
    outer = compiler.alias()
    numbered = f"SELECT *, row_number() OVER () AS __rid FROM ({sql}) AS {compiler.alias()}"
    selects = ", ".join([f"{outer}.{quote_name(k)}" for k in keep] + [f"{quote_name('__sub')}.*"])
    return f"SELECT {selects} FROM ({numbered}) AS {outer}, LATERAL ({inner}) AS __sub ORDER BY {outer}.__rid"


# ----------------------------------------------------------------- operators the parser leaves unstructured
_DOTNET_TYPES = {
    "string": "System.String", "long": "System.Int64", "int": "System.Int32", "real": "System.Double",
    "bool": "System.Boolean", "datetime": "System.DateTime", "timespan": "System.TimeSpan",
    "dynamic": "System.Object", "guid": "System.Guid", "decimal": "System.Data.SqlTypes.SqlDecimal",
}  # fmt: skip


def getschema(compiler: Compiler, node: Node, sql: str) -> str:
    rows = [[name, ordinal, _DOTNET_TYPES.get(kind, "System.Object"), kind]
            for ordinal, (name, kind) in enumerate(compiler.columns(sql))]  # fmt: skip
    schema = [("ColumnName", "string"), ("ColumnOrdinal", "int"), ("DataType", "string"), ("ColumnType", "string")]
    return table_from_rows(compiler, schema, rows)


def _body_tokens(node: Node) -> list[Token]:
    return [t for t in node.tokens()][1:]


def _sub_pipeline(compiler: Compiler, text: str, source_sql: str, anchor: Node) -> str:
    """Compile 'operators' (the text of a sub-query) over source_sql."""
    from ..kql import parse

    name = f"__subquery_source_{compiler.counter}"
    compiler.counter += 1
    result = parse(f"{name} | {text}")
    if result.diagnostics:
        raise compiler.unsupported(f"this sub-query ({result.diagnostics[0].message})", anchor)
    compiler.tables[name] = source_sql
    try:
        return compiler.tabular(result.tree["statements"][0])
    finally:
        del compiler.tables[name]


def partition(compiler: Compiler, node: Node, sql: str) -> str:
    """partition by Column (sub-query): the sub-query runs on the rows of each value, results appended."""
    tokens = _body_tokens(node)
    words = [t.text for t in tokens]
    if "by" not in words or "(" not in words or words[-1] != ")":
        raise compiler.unsupported("this form of partition (only 'by Column ( operators )')", node)
    by = words.index("by")
    opening = words.index("(", by)
    if opening != by + 2:
        raise compiler.unsupported("partition by an expression", node)
    column = words[by + 1]
    columns = compiler.columns(sql)
    if column not in [n for n, _ in columns]:
        raise EmulatorError("EMU003", f"unknown column '{column}' in partition", tokens[by + 1].start)
    inner = "".join(t.leading + t.text + t.trailing for t in tokens[opening + 1 : -1]).strip()
    if inner.startswith("|") or not inner or inner.split()[0] in ("{",):
        raise compiler.unsupported("this partition sub-query", node)
    values = distinct_in_order(compiler, quote_name(column), sql)
    if len(values) > 1000:
        raise compiler.unsupported("partition into more than 1000 parts", node)
    parts = []
    for value in values:
        marker = f"__partition_value_{compiler.counter}"
        compiler.counter += 1
        compiler.engine.connection.execute(
            f"CREATE OR REPLACE TEMP TABLE {quote_name(marker)} AS SELECT ? AS v", [value]
        )
        value_sql = f"(SELECT v FROM {quote_name(marker)})"
        part = f"SELECT * FROM ({sql}) AS p WHERE {quote_name(column)} IS NOT DISTINCT FROM {value_sql}"
        parts.append(_sub_pipeline(compiler, inner, part, node))
    if not parts:
        return f"SELECT * FROM ({sql}) AS {compiler.alias()} WHERE false"
    return " UNION ALL BY NAME ".join(f"SELECT * FROM ({p}) AS {compiler.alias()}" for p in parts)


class _Step:
    def __init__(self, name: str, output: str, condition: str, assignments: list[tuple[str, str]]):
        self.name, self.output, self.condition, self.assignments = name, output, condition, assignments
        self.sql = ""


def _split_top(tokens: list[Token], separator: str) -> list[list[Token]]:
    """Split tokens at separator where no bracket is open."""
    parts: list[list[Token]] = [[]]
    depth = 0
    for token in tokens:
        if token.text in ("(", "[", "{"):
            depth += 1
        elif token.text in (")", "]", "}"):
            depth -= 1
        if depth == 0 and token.text == separator:
            parts.append([])
        else:
            parts[-1].append(token)
    return [p for p in parts if p]


def _closing(tokens: list[Token], opening: int) -> int:
    depth = 0
    for index in range(opening, len(tokens)):
        if tokens[index].text in ("(", "[", "{"):
            depth += 1
        elif tokens[index].text in (")", "]", "}"):
            depth -= 1
            if depth == 0:
                return index
    return len(tokens) - 1


def _state_text(tokens: list[Token], steps: set[str]) -> str:
    """Expression text with `step.Column` turned into the state column `__state_step__Column`."""
    out, index = [], 0
    while index < len(tokens):
        token = tokens[index]
        if token.text in steps and index + 2 < len(tokens) and tokens[index + 1].text == ".":
            out.append(f" __state_{token.text}__{tokens[index + 2].text} ")
            index += 3
            continue
        out.append(token.leading + token.text + token.trailing)
        index += 1
    return "".join(out)


def scan(compiler: Compiler, node: Node, sql: str) -> str:
    """scan [with_match_id=Id] [declare (...)] with (step ...;): the documented state machine, run
    record by record in Python; each condition and assignment is evaluated by DuckDB."""
    from ..kql import parse

    tokens = _body_tokens(node)
    words = [t.text for t in tokens]
    match_id = None
    position = 0
    if words[:2] == ["with_match_id", "="]:
        match_id, position = words[2], 3
    declared: list[tuple[str, str, Any]] = []
    if position < len(words) and words[position] == "declare":
        end = _closing(tokens, position + 1)
        from ..kql.types import normalize_type

        for part in _split_top(tokens[position + 2 : end], ","):
            texts = [t.text for t in part]
            kind = normalize_type(texts[2])
            default = None
            if "=" in texts:
                value = "".join(t.leading + t.text + t.trailing for t in part[texts.index("=") + 1 :])
                default = scalar_value(compiler, _print_item(compiler, parse, value, node))
            declared.append((texts[0], kind, default))
        position = end + 1
    if position >= len(words) or words[position] != "with" or words[position + 1] != "(":
        raise compiler.unsupported("this form of scan", node)
    end = _closing(tokens, position + 1)
    raw_steps = _split_top(tokens[position + 2 : end], ";")
    names = {p[1].text for p in raw_steps if len(p) > 1 and p[0].text == "step"}
    steps: list[_Step] = []
    for part in raw_steps:
        texts = [t.text for t in part]
        if texts[0] != "step" or ":" not in texts:
            raise compiler.unsupported("this scan step", node)
        colon = texts.index(":")
        output = texts[texts.index("output") + 2].lower() if "output" in texts[:colon] else "all"
        if output not in ("all", "none"):
            raise compiler.unsupported(f"scan steps with output={output}", node)
        arrow = texts.index("=>") if "=>" in texts else len(texts)
        assignments = []
        for assignment in _split_top(part[arrow + 1 :], ","):
            if len(assignment) < 3 or assignment[1].text != "=":
                raise compiler.unsupported("this scan assignment", node)
            assignments.append((assignment[0].text, _state_text(assignment[2:], names)))
        steps.append(_Step(texts[1], output, _state_text(part[colon + 1 : arrow], names), assignments))
    columns = compiler.columns(sql)
    input_names = [n for n, _ in columns]
    declared_kinds = {n: k for n, k, _ in declared}
    defaults = {n: d for n, _, d in declared}
    all_columns = columns + [(n, k) for n, k, _ in declared if n not in input_names]
    state_columns = [(f"__state_{s.name}__{n}", k) for s in steps for n, k in all_columns]
    frame_columns = columns + state_columns
    frame = ", ".join(f"CAST(? AS {DUCK_TYPES.get(k, 'VARCHAR')}) AS {quote_name(n)}" for n, k in frame_columns)
    for step in steps:
        expressions = [step.condition] + [text for _, text in step.assignments]
        compiled = []
        for text in expressions:
            expression_sql, _ = compiler.expr(_print_item(compiler, parse, text, node), frame_columns)
            compiled.append(expression_sql)
        for name, _ in step.assignments:
            if name not in declared_kinds:
                raise compiler.unsupported(f"scan assigning '{name}', which is not declared", node)
        step.sql = f"SELECT {', '.join(compiled)} FROM (SELECT {frame}) AS r"
    _, rows = fetch(compiler, f"SELECT {', '.join(quote_name(n) for n in input_names)} FROM ({sql}) AS s")
    connection = compiler.engine.connection

    def evaluate(step: _Step, record: dict[str, Any], state: dict[str, dict[str, Any]] | None) -> list[Any]:
        values = [_bindable(record[n], k) for n, k in columns]
        for other in steps:
            known = (state or {}).get(other.name)
            for n, k in all_columns:
                value = known.get(n) if known is not None else defaults.get(n)
                values.append(_bindable(value, k))
        return list(connection.execute(step.sql, values).fetchall()[0])

    states: list[dict[str, dict[str, Any]] | None] = [None] * len(steps)
    sequence_ids: list[int | None] = [None] * len(steps)
    next_id = 0
    output: list[list[Any]] = []
    for row in rows:
        record = dict(zip(input_names, row, strict=True))
        for index in range(len(steps) - 1, -1, -1):
            step = steps[index]
            matched = False
            if index > 0 and states[index - 1] is not None:  # check 1: the sequence moves on to this step
                result = evaluate(step, record, states[index - 1])
                if result[0]:
                    extended = _extend(record, declared, step, result)
                    states[index] = {**states[index - 1], step.name: extended}
                    sequence_ids[index] = sequence_ids[index - 1]
                    states[index - 1], sequence_ids[index - 1] = None, None
                    matched = True
                    if step.output == "all":
                        output.append(_output_row(extended, all_columns, match_id, sequence_ids[index]))
            if not matched and (index == 0 or states[index] is not None):  # check 2: stay on this step
                result = evaluate(step, record, states[index])
                if result[0]:
                    extended = _extend(record, declared, step, result)
                    if (index == 0 and states[0] is None) or index == 0:
                        sequence_ids[0] = next_id if states[0] is None else sequence_ids[0]
                        if states[0] is None:
                            next_id += 1
                    states[index] = {**(states[index] or {}), step.name: extended}
                    if step.output == "all":
                        output.append(_output_row(extended, all_columns, match_id, sequence_ids[index]))
    schema = list(all_columns) + ([(match_id, "long")] if match_id else [])
    return table_from_rows(compiler, schema, output)


def _print_item(compiler: Compiler, parse: Callable, text: str, anchor: Node) -> Node:
    result = parse(f"print {text}")
    if result.diagnostics:
        raise compiler.unsupported(f"the expression '{text.strip()[:40]}'", anchor)
    items = next(c for c in result.tree["statements"][0].children if isinstance(c, Node) and c.kind == "List")
    return items["items"][0]


def _bindable(value: Any, kind: str) -> Any:
    return json.dumps(value) if kind == "dynamic" and value is not None else value


def _extend(record: dict[str, Any], declared: list[tuple[str, str, Any]], step: _Step, result: list[Any]):
    extended = dict(record)
    for name, _, default in declared:
        extended[name] = default
    for (name, _), value in zip(step.assignments, result[1:], strict=True):
        extended[name] = json.loads(value) if isinstance(value, str) and _is_dynamic(declared, name) else value
    return extended


def _is_dynamic(declared: list[tuple[str, str, Any]], name: str) -> bool:
    return any(n == name and k == "dynamic" for n, k, _ in declared)


def _output_row(extended: dict[str, Any], columns: Columns, match_id: str | None, sequence: int | None) -> list:
    row = [extended.get(n) for n, _ in columns]
    return [*row, sequence] if match_id else row


LOOSE_OPERATORS: dict[str, Callable[[Compiler, Node, str], str]] = {
    "getschema": getschema,
    "partition": partition,
    "scan": scan,
}


# ----------------------------------------------------------------- views and union
def define_view(compiler: Compiler, name: str, declaration: Node) -> None:
    """let name = view () { ... }: a table for the rest of the query, which union's wildcards also see."""
    from .compiler import function_parameters

    if function_parameters(declaration):
        compiler.declare_function(name, declaration)  # a view with parameters is called like a function
        return
    statements = declaration["statements"] or []
    if not statements:
        raise EmulatorError("EMU005", f"the view '{name}' has an empty body", declaration.first_token().start)
    saved = (dict(compiler.scalars), dict(compiler.tables), dict(compiler.functions))
    try:
        for statement in statements[:-1]:
            if statement.kind == "LetStatement":
                compiler.let(statement)
        body = compiler.tabular(statements[-1])
    finally:
        compiler.scalars, compiler.tables, compiler.functions = saved
    compiler.tables[name] = body
    views = compiler.__dict__.setdefault("views", set())
    views.add(name)


def union(compiler: Compiler, node: Node, sql: str | None) -> str:
    """union [kind=outer] [withsource=C] [isfuzzy=true] T1, T2*, (...): columns by name; a column with
    different types in different parts becomes one column per type, named Column_type."""
    import re

    from ..kql.lexer import T
    from ..kql.names import string_value

    parts: list[tuple[str, str]] = [("", sql)] if sql is not None else []
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
            views = compiler.__dict__.get("views", set())
            candidates = sorted(views | set(compiler.engine.environment.tables))
            for name in candidates:
                if pattern.match(name) and (name in views or compiler.engine.ensure_table(name)):
                    parts.append(
                        (name, compiler.tables[name] if name in views else f"SELECT * FROM {quote_name(name)}")
                    )
            continue
        try:
            parts.append((child.text().strip(), compiler.tabular(child)))
        except EmulatorError as error:
            if not (fuzzy and error.code == "EMU003"):  # isfuzzy: a table that does not exist is left out
                raise
    if not parts:
        raise EmulatorError("EMU003", "union: none of the tables exists", node.first_token().start)
    described = [compiler.columns(part) for _, part in parts]
    kinds: dict[str, set[str]] = {}
    for columns in described:
        for name, kind in columns:
            kinds.setdefault(name, set()).add(kind)
    selects = []
    for (name, part), columns in zip(parts, described, strict=True):
        renamed = [f"{quote_name(n)} AS {quote_name(f'{n}_{k}' if len(kinds[n]) > 1 else n)}" for n, k in columns]
        if withsource:
            renamed.insert(0, f"{_literal(name)} AS {quote_name(withsource)}")
        selects.append(f"SELECT {', '.join(renamed)} FROM ({part}) AS {compiler.alias()}")
    joined = " UNION ALL BY NAME ".join(f"SELECT * FROM ({s}) AS {compiler.alias()}" for s in selects)
    columns = compiler.columns(joined)
    strings = [
        f"coalesce({quote_name(n)}, '') AS {quote_name(n)}" if t == "string" else quote_name(n) for n, t in columns
    ]
    return f"SELECT {', '.join(strings)} FROM ({joined}) AS {compiler.alias()}"


# ----------------------------------------------------------------- text -> datetime (parse, parse-kv)
def datetime_from_text(text_sql: str) -> str:
    """ISO 8601 (with Z or an offset, which is applied) and US month/day/year, as KQL reads them."""
    text = f"trim({text_sql})"
    us_formats = "['%m/%d/%Y %H:%M:%S', '%m/%d/%Y %H:%M:%S.%f', '%m/%d/%Y %H:%M', '%m/%d/%Y']"
    return (f"(CASE WHEN regexp_matches({text}, '\\d[T ]\\d\\d:\\d\\d(:\\d\\d(\\.\\d+)?)?[+-]\\d\\d:\\d\\d$') "
            f"THEN CAST(TRY_CAST({text} AS TIMESTAMPTZ) AS TIMESTAMP) "
            f"ELSE coalesce(TRY_CAST({text} AS TIMESTAMP), try_strptime({text}, {us_formats})) END)")  # fmt: skip


def non_capturing(regex: str) -> str:
    """A user's regex inside a parse pattern: its own groups must not shift the columns' group numbers."""
    out, index, in_class = [], 0, False
    while index < len(regex):
        char = regex[index]
        if char == "\\":
            out.append(regex[index : index + 2])
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(" and not regex.startswith("(?", index):
            out.append("(?:")
            index += 1
            continue
        elif regex.startswith("(?P<", index) or regex.startswith("(?<", index):
            raise ValueError("named groups")
        out.append(char)
        index += 1
    return "".join(out)


# ----------------------------------------------------------------- functions of the serialized row order
ROW_FUNCTIONS = ("row_cumsum", "row_rank_min", "row_rank_dense", "row_number", "prev", "next")


def uses_row_functions(node: Node) -> bool:
    tokens = list(node.tokens())
    return any(t.text in ROW_FUNCTIONS and i + 1 < len(tokens) and tokens[i + 1].text == "("
               for i, t in enumerate(tokens))  # fmt: skip


class _RowContext:
    """Hidden columns, computed in stages over the numbered input, that the row functions read."""

    def __init__(self) -> None:
        self.stages: list[list[tuple[str, str]]] = [[], [], [], []]
        self.count = 0

    def add(self, stage: int, sql: str) -> str:
        self.count += 1
        name = f"__w{self.count}"
        self.stages[stage].append((name, sql))
        return quote_name(name)


def serialized(compiler: Compiler, node: Node, sql: str, handler: Callable[[Compiler, Node, str], str]) -> str:
    """Run an extend / project / where that calls row functions: the input is numbered in its order
    (__row), the functions become window functions over that order, and the output keeps it."""
    if node.kind not in ("Extend", "Project", "Where", "Serialize"):
        raise compiler.unsupported(f"row functions (row_number, prev, ...) in '{node.first_token().text}'", node)
    placeholder = f"row_source_{compiler.counter}"
    compiler.counter += 1
    numbered = f"SELECT *, row_number() OVER () AS __row FROM ({sql}) AS {compiler.alias()}"
    compiler.engine.connection.execute(f"CREATE OR REPLACE TEMP VIEW {quote_name(placeholder)} AS {numbered}")
    stand_in = f"SELECT * FROM {quote_name(placeholder)}"
    saved = compiler.__dict__.get("row_context")
    context = compiler.__dict__["row_context"] = _RowContext()
    try:
        result = handler(compiler, node, stand_in)
    finally:
        compiler.__dict__["row_context"] = saved
    staged = numbered
    for stage in context.stages:
        if stage:
            added = ", ".join(f"{expression} AS {quote_name(name)}" for name, expression in stage)
            staged = f"SELECT *, {added} FROM ({staged}) AS {compiler.alias()}"
    if node.kind == "Project":  # keep the row number next to the projected columns, to order by it
        if not result.startswith("SELECT "):
            raise compiler.unsupported("row functions in this project", node)
        result = "SELECT __row, " + result[len("SELECT ") :]
    result = result.replace(stand_in, f"SELECT * FROM ({staged}) AS {compiler.alias()}")
    return f"SELECT * EXCLUDE (__row) FROM ({result}) AS {compiler.alias()} ORDER BY __row"


def _row_context(compiler: Compiler, node: Node) -> _RowContext:
    context = compiler.__dict__.get("row_context")
    if context is None:
        raise compiler.unsupported(f"'{name_text(node['callee'])}' outside extend, project or where", node)
    return context


def _restart_group(compiler: Compiler, context: _RowContext, restart: Node | None, columns: Columns) -> str:
    """PARTITION BY the number of restarts so far ('' when the function never restarts)."""
    if restart is None:
        return ""
    restart_sql, _ = compiler.expr(restart, columns)
    flag = context.add(0, f"coalesce({restart_sql}, false)")
    group = context.add(1, f"sum(CASE WHEN {flag} THEN 1 ELSE 0 END) OVER (ORDER BY __row ROWS UNBOUNDED PRECEDING)")
    return f"PARTITION BY {group} "


def _prev_next(window: str) -> Callable:
    def handler(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
        _row_context(compiler, node)
        if not arguments:
            raise EmulatorError("EMU006", f"{window} needs a column", node.first_token().start)
        value, kind = compiler.expr(arguments[0], columns)
        offset = compiler.expr(arguments[1], columns)[0] if len(arguments) > 1 else "1"
        default = compiler.expr(arguments[2], columns)[0] if len(arguments) > 2 else "NULL"
        return f"{window}({value}, {offset}, {default}) OVER (ORDER BY __row)", kind

    return handler


def _row_number(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    context = _row_context(compiler, node)
    start = compiler.expr(arguments[0], columns)[0] if arguments else "1"
    group = _restart_group(compiler, context, arguments[1] if len(arguments) > 1 else None, columns)
    return f"(row_number() OVER ({group}ORDER BY __row) + {start} - 1)", "long"


def _row_cumsum(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    context = _row_context(compiler, node)
    value, kind = compiler.expr(arguments[0], columns)
    if kind not in ("long", "int", "real", "decimal"):
        raise compiler.unsupported(f"row_cumsum of a {kind}", node)
    group = _restart_group(compiler, context, arguments[1] if len(arguments) > 1 else None, columns)
    duck = "DOUBLE" if kind in ("real", "decimal") else "BIGINT"
    total = f"sum({value}) OVER ({group}ORDER BY __row ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
    return f"CAST({total} AS {duck})", "real" if duck == "DOUBLE" else "long"


def _row_rank(dense: bool) -> Callable:
    """The rank moves on where the value differs from the previous row's (serialized order): to the row
    number (row_rank_min) or by one (row_rank_dense). A value that comes back after others would need
    KQL's undocumented tie handling, so the query fails there instead of guessing."""

    def handler(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
        context = _row_context(compiler, node)
        value, _ = compiler.expr(arguments[0], columns)
        group = _restart_group(compiler, context, arguments[1] if len(arguments) > 1 else None, columns)
        window = f"OVER ({group}ORDER BY __row)"
        number = context.add(2, f"row_number() {window}")
        changed = context.add(2, f"(row_number() {window} = 1 OR {value} IS DISTINCT FROM lag({value}) {window})")
        running = f"OVER ({group}ORDER BY __row ROWS UNBOUNDED PRECEDING)"
        rank_min = context.add(3, f"max(CASE WHEN {changed} THEN {number} END) {running}")
        dense_rank = context.add(3, f"sum(CASE WHEN {changed} THEN 1 ELSE 0 END) {running}")
        partition = f"{group.removesuffix(' ')}, {value}" if group else f"PARTITION BY {value}"
        first_seen = context.add(3, f"min({number}) OVER ({partition})")
        result = dense_rank if dense else rank_min
        message = "row_rank: a value comes back after other values; KQL's ranks are not documented for that"
        return (f"CAST(CASE WHEN {rank_min} = {first_seen} THEN {result} ELSE error({_literal(message)}) END "
                f"AS BIGINT)"), "long"  # fmt: skip

    return handler


def register_row_functions() -> None:
    from .functions import FUNCTIONS

    FUNCTIONS.setdefault("prev", _prev_next("lag"))
    FUNCTIONS.setdefault("next", _prev_next("lead"))
    FUNCTIONS["row_number"] = _row_number
    FUNCTIONS["row_cumsum"] = _row_cumsum
    FUNCTIONS["row_rank_min"] = _row_rank(dense=False)
    FUNCTIONS["row_rank_dense"] = _row_rank(dense=True)


register_row_functions()


# ----------------------------------------------------------------- project-by-names
def project_by_names(compiler: Compiler, node: Node, sql: str) -> str:
    """project-by-names: columns named by strings (with * wildcards), string arrays, column_names_of(T)."""
    import re

    columns = compiler.columns(sql)
    names = [n for n, _ in columns]
    lists = [c for c in node.children if isinstance(c, Node) and c.kind == "List"]
    patterns: list[str] = []
    for item in lists[0]["items"] or [] if lists else []:
        if item.kind == "Call" and item["callee"].kind == "Name" and name_text(item["callee"]) == "column_names_of":
            arguments = item["arguments"]["items"] or []
            patterns += [n for n, _ in compiler.columns(compiler.tabular(arguments[0]))]
            continue
        value = scalar_value(compiler, item)
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(v, str) for v in values):
            raise EmulatorError("EMU006", "project-by-names takes strings", item.first_token().start)
        patterns += values
    chosen: list[str] = []
    for pattern in patterns:
        regex = re.compile("".join(".*" if part == "*" else re.escape(part) for part in re.split(r"(\*)", pattern)))
        chosen += [n for n in names if regex.fullmatch(n) and n not in chosen]
    if not chosen:
        raise EmulatorError("EMU006", "project-by-names chose no column", node.first_token().start)
    return f"SELECT {', '.join(quote_name(n) for n in chosen)} FROM ({sql}) AS {compiler.alias()}"


def invoke(compiler: Compiler, node: Node, sql: str) -> str:
    """T | invoke F(a, b): F(T, a, b) for a let function whose first parameter is a table."""
    from .compiler import function_parameters

    call = next((c for c in node.children if isinstance(c, Node) and c.kind == "Call"), None)
    name = name_text(call["callee"]) if call is not None and call["callee"].kind == "Name" else ""
    declaration = compiler.functions.get(name)
    if declaration is None:
        raise compiler.unsupported(f"invoke of '{name or '?'}'", call or node)
    parameters = function_parameters(declaration)
    if not parameters or not parameters[0][1]:
        raise EmulatorError("EMU006", f"'{name}' does not take a table first", call.first_token().start)
    source = f"__invoke_source_{compiler.counter}"
    compiler.counter += 1
    compiler.tables[source] = sql
    from ..kql.lexer import T as TokenKind

    stand_in = Node("Name", [Token(TokenKind.IDENT, source, call.first_token().start)])
    arguments = call["arguments"]
    with_source = Node("Arguments", arguments.children, items=[stand_in, *(arguments["items"] or [])])
    rewritten = Node("Call", [call["callee"], with_source], callee=call["callee"], arguments=with_source)
    try:
        return compiler.call_function(rewritten, [], tabular=True)
    finally:
        del compiler.tables[source]


# ----------------------------------------------------------------- parse-kv
def split_key_values(text: str | None, pair: str, kv: str, quotes: str, escapes: str) -> str | None:
    """The key=value pairs of text (later keys do not replace earlier ones), as a JSON object.

    A key or value may be quoted (inside quotes an escape character keeps the next character);
    an unquoted value ends at the pair delimiter; a word without the key-value delimiter is skipped."""
    if text is None:
        return None
    found: dict[str, str] = {}
    position = 0

    def read(start: int, stops: tuple[str, ...]) -> tuple[str, int]:
        if start < len(text) and text[start] in quotes:
            closing, index, chars = text[start], start + 1, []
            while index < len(text) and text[index] != closing:
                if text[index] in escapes and index + 1 < len(text):
                    index += 1
                chars.append(text[index])
                index += 1
            return "".join(chars), index + 1
        ends = [i for i in (text.find(s, start) for s in stops if s) if i >= 0]
        end = min(ends) if ends else len(text)
        return text[start:end], end

    while position < len(text):
        if text.startswith(pair, position):
            position += len(pair)
            continue
        key, position = read(position, (kv, pair))
        if text.startswith(kv, position):
            value, position = read(position + len(kv), (pair,))
            found.setdefault(key, value)
    return json.dumps(found)


def parse_kv(compiler: Compiler, node: Node, sql: str) -> str:
    columns = compiler.columns(sql)
    source_node = next(c for c in node.children[1:] if isinstance(c, Node))
    source, kind = compiler.expr(source_node, columns)
    source = compiler.as_string(source, kind)
    keys = compiler.declared(_schema(node))
    properties: dict[str, Any] = {}
    for child in node.children:
        if isinstance(child, Node) and child.kind == "Properties":
            for item in child.children:
                if isinstance(item, Node) and item.kind == "Assignment":
                    properties[name_text(item["name"]).lower()] = scalar_value(compiler, item["value"])
    if "regex" in properties or str(properties.get("greedy", "false")).lower() == "true":
        raise compiler.unsupported("parse-kv with regex= or greedy=true", node)
    if "pair_delimiter" not in properties or "kv_delimiter" not in properties:
        raise compiler.unsupported("parse-kv without pair_delimiter and kv_delimiter", node)
    connection = compiler.engine.connection
    if not compiler.engine.__dict__.get("parse_kv_registered"):
        connection.create_function("kql_parse_kv", split_key_values, ["VARCHAR"] * 5, "VARCHAR",
                                   null_handling="special", side_effects=False)  # fmt: skip
        compiler.engine.__dict__["parse_kv_registered"] = True
    arguments = ", ".join(_literal(str(properties.get(p, ""))) for p in ("pair_delimiter", "kv_delimiter", "quote",
                                                                          "escape"))  # fmt: skip
    pairs = f"kql_parse_kv({source}, {arguments})"
    key_names = {n for n, _ in keys}
    selects = [quote_name(n) for n, _ in columns if n not in key_names]
    for name, key_kind in keys:
        value = f"json_extract_string(__kv, {_literal(_json_path(name))})"
        if key_kind == "string":
            typed = f"coalesce({value}, '')"
        elif key_kind == "datetime":
            typed = datetime_from_text(value)
        elif key_kind == "dynamic":
            typed = f"kql_parse_json({value})"
        else:
            typed = f"TRY_CAST({value} AS {DUCK_TYPES.get(key_kind, 'VARCHAR')})"
        selects.append(f"{typed} AS {quote_name(name)}")
    inner = f"SELECT *, {pairs} AS __kv FROM ({sql}) AS {compiler.alias()}"
    return f"SELECT {', '.join(selects)} FROM ({inner}) AS {compiler.alias()}"


def _json_path(key: str) -> str:
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ----------------------------------------------------------------- top-nested
def top_nested(compiler: Compiler, node: Node, sql: str) -> str:
    """Each level groups by its expression inside the groups the previous level kept, aggregates,
    and keeps the top N groups per parent by the aggregate (desc unless asc)."""
    from ..kql.binder import column_name

    columns = compiler.columns(sql)
    levels: list[list[Any]] = [[]]
    for child in node.children[1:]:
        if isinstance(child, Token) and child.text == "top-nested":
            levels.append([])
        elif not (isinstance(child, Token) and child.text == ","):
            levels[-1].append(child)
    counter = [0]
    computed, specs = [], []
    for number, parts in enumerate(levels, start=1):
        words = [p.text if isinstance(p, Token) else None for p in parts]
        if "with" in words:
            raise compiler.unsupported("top-nested ... with others", node)
        of = words.index("of")
        count_sql = compiler.expr(parts[0], columns)[0] if of == 1 else None
        expression = parts[of + 1]
        if expression.kind == "Assignment":
            name, value_node = name_text(expression["name"]), expression["value"]
        else:
            name, value_node = column_name(expression, counter), expression
        value_sql, _ = compiler.expr(value_node, columns)
        ordering = parts[words.index("by") + 1]
        direction = "DESC"
        aggregation = ordering
        if ordering.kind == "SortExpression":
            aggregation = ordering.children[0]
            if any(isinstance(t, Token) and t.text == "asc" for t in ordering.children[1:]):
                direction = "ASC"
        if aggregation.kind == "Assignment":
            aggregate_name, call = name_text(aggregation["name"]), aggregation["value"]
        elif aggregation.kind == "BinaryExpression" and aggregation["op"].text == "=":  # by Name = aggregate
            aggregate_name, call = name_text(aggregation["left"]), aggregation["right"]
        else:
            aggregate_name, call = f"aggregated_{name}", aggregation
        if call.kind != "Call" or call["callee"].kind != "Name":
            raise compiler.unsupported("a top-nested aggregation that is not a function call", call)
        aggregate_sql = compiler.aggregate_sql(name_text(call["callee"]), list(call["arguments"]["items"] or []),
                                               columns, call)  # fmt: skip
        computed.append(f"{value_sql} AS {quote_name(f'__level{number}')}")
        specs.append((name, aggregate_name, aggregate_sql, count_sql, direction))
    source = f"SELECT *, {', '.join(computed)} FROM ({sql}) AS {compiler.alias()}"
    kept = None
    outputs: list[str] = []
    for number, (name, aggregate_name, aggregate_sql, count_sql, direction) in enumerate(specs, start=1):
        keys = [quote_name(f"__level{k}") for k in range(1, number + 1)]
        parents = keys[:-1]
        aggregate_column = quote_name(f"__aggregate{number}")
        rows = f"SELECT {', '.join(keys)}, {aggregate_sql} AS {aggregate_column} FROM ({source}) AS s " \
               f"GROUP BY {', '.join(keys)}"  # fmt: skip
        if kept is not None:
            on = " AND ".join(f"r.{k} IS NOT DISTINCT FROM p.{k}" for k in parents)
            aggregate = quote_name(f"__aggregate{number}")
            rows = f"SELECT p.*, r.{keys[-1]}, r.{aggregate} FROM ({kept}) AS p JOIN ({rows}) AS r ON {on}"
        if count_sql is not None:
            partition = f"PARTITION BY {', '.join(parents)} " if parents else ""
            rank = (
                f"row_number() OVER ({partition}ORDER BY {quote_name(f'__aggregate{number}')} {direction} NULLS LAST)"
            )
            rows = f"SELECT * FROM ({rows}) AS {compiler.alias()} QUALIFY {rank} <= {count_sql}"
        kept = rows
        outputs += [
            f"{keys[-1]} AS {quote_name(name)}",
            f"{quote_name(f'__aggregate{number}')} AS {quote_name(aggregate_name)}",
        ]
    return f"SELECT {', '.join(outputs)} FROM ({kept}) AS {compiler.alias()}"
