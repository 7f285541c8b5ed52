"""Tabular plugins (`evaluate name(...)`): bag_unpack, pivot, the time-window plugins
(sliding_window_counts, activity_counts_metrics, active_users_count, rolling_percentile) and
ipv4_lookup; the geo lookups are with the geo functions (functions/geo_shapes.py).

The time-window plugins read their input once into Python (`fetch`), compute the documented result
exactly, and hand back a temporary table (`table_from_rows`, see python_data.py). bag_unpack and
pivot only look at the data to learn the output columns, then stay in SQL.
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
from .aggregates import aggregate_sql
from .errors import EmulatorError
from .functions.geo_shapes import LOOKUP_PLUGINS
from .python_data import distinct_in_order, fetch, scalar_value, table_from_rows
from .sql import DUCK_TYPES, json_str, nonnull, quote_name, sql_string

if TYPE_CHECKING:
    from .interface import Columns, Compiler


def evaluate(compiler: Compiler, node: Node, sql: str) -> str:
    """evaluate name(...): the plugin's rows, from the rows of `sql` (ipv4_lookup is written out here)."""
    call = next((c for c in node.children if isinstance(c, Node) and c.kind == "Call"), None)
    name = name_text(call["callee"]) if call is not None else ""
    if call is not None and name in PLUGINS:
        return PLUGINS[name](compiler, node, call, sql)
    if call is not None and name in LOOKUP_PLUGINS:
        return LOOKUP_PLUGINS[name](compiler, node, call, sql)
    if name != "ipv4_lookup":
        raise compiler.unsupported(f"the plugin '{name or '?'}'", call or node)
    arguments = call["arguments"]["items"] or []
    positional = [a for a in arguments if a.kind != "Assignment"]
    options = {name_text(a["name"]): a["value"].text().strip() for a in arguments if a.kind == "Assignment"}
    lookup_sql = compiler.tabular(positional[0])
    left_columns, lookup_columns = compiler.columns(sql), compiler.columns(lookup_sql)
    left, right = compiler.alias(), compiler.alias()
    ip_sql, _ = compiler.expr(positional[1], left_columns)
    ip_sql = ip_sql.replace(quote_name(path_name(positional[1])), f"{left}.{quote_name(path_name(positional[1]))}", 1)
    range_column = quote_name(path_name(positional[2]))
    keep_unmatched = options.get("return_unmatched", "false").lower() == "true"
    selects = [f"{left}.{quote_name(n)} AS {quote_name(n)}" for n, _ in left_columns]
    names = {n for n, _ in left_columns}
    for name, type_ in lookup_columns:
        target, suffix = name, 1
        while target in names:
            target, suffix = f"{name}{suffix}", suffix + 1
        names.add(target)
        selects.append(f"{nonnull(f'{right}.{quote_name(name)}', type_, True)} AS {quote_name(target)}")
    join = "LEFT JOIN" if keep_unmatched else "JOIN"
    # Addresses and ranges as numbers once, so that DuckDB can run a range join.
    numbered = f"SELECT *, row_number() OVER () AS __rid FROM ({sql}) AS {compiler.alias()}"
    numbered = f"SELECT *, kql_ipv4({ip_sql.replace(f'{left}.', '')}) AS __ipn FROM ({numbered}) AS {compiler.alias()}"
    ranges = (f"SELECT *, kql_cidr_start({range_column}) AS __first, kql_cidr_end({range_column}) AS __last, "
              f"kql_cidr_prefix({range_column}) AS __prefix FROM ({lookup_sql}) AS {compiler.alias()}")  # fmt: skip
    return (
        f"SELECT {', '.join(selects)} FROM ({numbered}) AS {left} {join} ({ranges}) AS {right} "
        f"ON {left}.__ipn BETWEEN {right}.__first AND {right}.__last "
        f"QUALIFY row_number() OVER (PARTITION BY {left}.__rid ORDER BY {right}.__prefix DESC NULLS LAST) = 1"
    )


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
    if schema is None:
        compiler.row_named_columns = True
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
    if not selects and dict(columns).get(column) != "dynamic":
        raise compiler.unsupported("bag_unpack of a column that is not dynamic", call)
    if not selects:
        raise EmulatorError("EMU007", "bag_unpack makes no columns here: its input has neither other columns "
                            "nor property bags with keys (give the test rows that have them, or declare the "
                            "output schema: evaluate bag_unpack(...) : (Name: type, ...))",
                            call.first_token().start)  # fmt: skip
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
    compiler.row_named_columns = True
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
    value_sql = aggregate_sql(compiler, function, arguments, columns, aggregate or call)
    group_list = ", ".join(quote_name(g) for g in groups)
    label = f"kql_str({quote_name(pivot_column)})" if dict(columns)[pivot_column] != "dynamic" else (
        json_str(quote_name(pivot_column)))  # fmt: skip
    values = distinct_in_order(compiler, label, sql)
    inner_groups = ", ".join([quote_name(g) for g in groups] + ["__pivot"])
    inner = (f"SELECT {group_list + ', ' if groups else ''}{label} AS __pivot, {value_sql} AS __value "
             f"FROM ({sql}) AS {compiler.alias()} GROUP BY {inner_groups}")  # fmt: skip
    empty = "0" if function in ("count", "dcount") else ("'[]'" if function.startswith("make_") else "NULL")
    cells = [
        f"coalesce(any_value(__value) FILTER (WHERE __pivot = {sql_string(v)}), {empty}) AS {quote_name(v)}"
        for v in values
    ]
    group_by = f" GROUP BY {group_list}" if groups else ""
    selects = ", ".join([quote_name(g) for g in groups] + cells) or "count(*) AS __none"
    return f"SELECT {selects} FROM ({inner}) AS {compiler.alias()}{group_by}"


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
    # Count and dcount, as the reference's example output shows them (Microsoft's binder says Dcount; the
    # example is the engine's own output, so it wins: docs/emulator-semantics.md)
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
