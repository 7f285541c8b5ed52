"""Aggregate functions (summarize, and pivot, top-nested and make-series): KQL aggregate -> SQL.

`aggregate` compiles one item of a summarize (arg_max/arg_min give several columns, take_anyif is
named after its expression); `aggregate_sql` the SQL of one aggregate call. buildschema and make_bag
merge the values in Python (DuckDB UDFs, see functions/udfs.py); where Kusto's answer is not
documented (the variance of fewer than two values, a bag key with two values) the query fails
instead of guessing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..kql import functions as catalog
from ..kql import parse
from ..kql.binder_operators import column_name, named_argument
from ..kql.names import aggregate_name, name_text, path_name, subject_name
from ..kql.syntax import Node
from .errors import EmulatorError, offset_of
from .functions.udfs import Refused, Udf, ensure_udfs
from .sql import DUCK_TYPES, quote_name

if TYPE_CHECKING:
    from .interface import Columns, Compiler


class RecordField(str):
    """The SQL of one field of a record aggregate, `{record}['v{index}']` (arg_max(T, *), take_any(*)),
    with the aggregate kept apart: summarize computes each record once and reads its fields in an outer
    SELECT, so the SQL grows with the columns, not with their square (a 229-column table gave 1.3 MB)."""

    record: str
    field: str
    source: str  # the SQL of the value the field holds (its type is the field's)

    def __new__(cls, record: str, index: int, source: str) -> RecordField:
        field = f"['v{index}']"
        value = super().__new__(cls, record + field)
        value.record, value.field, value.source = record, field, source
        return value


def record_fields(record_sql: str, sources: list[str]) -> list[RecordField]:
    return [RecordField(record_sql, index, source) for index, source in enumerate(sources)]


def aggregate(
    compiler: Compiler, item: Node, columns: Columns, counter: list[int], groups: list[str]
) -> list[tuple[str, str]]:
    name = None
    call = item
    target = next((c for c in item.children if isinstance(c, Node)), None) if item.kind == "Assignment" else None
    if target is not None and target.kind == "NameTuple":
        # (Name1, Name2, ...) = Aggregation: the names of the aggregation's columns, in order (summarize docs)
        names = [name_text(c) for c in target.children if isinstance(c, Node) and c.kind == "Name"]
        plain = aggregate(compiler, item["value"], columns, counter, groups)
        if len(names) != len(plain):
            raise compiler.unsupported(f"{len(names)} names for an aggregation of {len(plain)} columns", item)
        return [(new_name, sql) for new_name, (_, sql) in zip(names, plain, strict=True)]
    if item.kind == "Assignment":
        name, call = name_text(item["name"]), item["value"]
    plain = call.kind == "Call" and call["callee"].kind == "Name" and _is_aggregate(name_text(call["callee"]))
    if not plain and any(n.kind == "Call" and n["callee"].kind == "Name" and _is_aggregate(
            name_text(n["callee"])) for n in call.walk()):  # fmt: skip
        # unnamed: Microsoft's binder's name (tostring(make_set(X)) is set_X, sum(X) * 2 ColumnN)
        name = name or column_name(call, counter, aggregate=True)
        return [(name, scalar_of_aggregates(compiler, call, columns))]
    if call.kind != "Call" or call["callee"].kind != "Name":
        raise compiler.unsupported("aggregates that are not a function call", call)
    function = name_text(call["callee"])
    arguments = call["arguments"]["items"] or []
    if function in ("arg_max", "arg_min", "argmax", "argmin"):
        row = arg_row(compiler, function, arguments, columns, groups)
        result = [(name or row.name, f"{'max' if row.which == 'arg_max' else 'min'}({row.order})")]
        if row.wanted:
            # One row, all its columns ("returns a row in the group that maximizes ExprToMaximize"): one
            # aggregate of a struct of the columns, not one per column (the same aggregate repeated is
            # computed once). A null in that row stays null (arg_max of a column alone skips nulls);
            # rows whose ExprToMaximize is null are ignored, and of tied rows the first in input order
            # is kept (one thread, session.py), as arg_max of each column kept it. A summarize of this
            # aggregate alone is a window instead (operators.summarize, arg_row_sql).
            record = "struct_pack(" + ", ".join(f"v{i} := {sql}" for i, (_, sql) in enumerate(row.wanted)) + ")"
            fields = record_fields(f"{row.which}({record}, {row.order})", [sql for _, sql in row.wanted])
            result += [(n, field) for (n, _), field in zip(row.wanted, fields, strict=True)]
        return result
    if function in ("take_anyif", "anyif"):
        return take_anyif(compiler, function, arguments, columns, call, name)
    if function in ("take_any", "any") and (len(arguments) > 1 or any(a.kind == "Star" for a in arguments)):
        return take_any_record(compiler, function, arguments, columns, groups, name)
    if function == "take_any" and len(arguments) == 1 and name is None:  # take_any(A) is A (the binder's name)
        name = subject_name(arguments[0]) or "any_arg0"
    sql = aggregate_sql(compiler, function, arguments, columns, call)
    calls = getattr(compiler.engine, "kql_calls", None)
    if calls is not None:  # the engine probes it to place a type mismatch (engine.py)
        calls.append((offset_of(call), function, sql, list(columns)))
    return [(name or aggregate_name(function, arguments), sql)]


@dataclass
class ArgRow:
    """arg_max/arg_min(ExprToMaximize, ExprToReturn, ...) compiled: `which` is arg_max or arg_min, `order`
    the SQL of ExprToMaximize and `kind` its type, `name` its column's name, `wanted` the other columns."""

    which: str
    order: str
    kind: str
    name: str
    wanted: list[tuple[str, str]]


def arg_row(compiler: Compiler, function: str, arguments: list[Node], columns: Columns, groups: list[str]) -> ArgRow:
    first_name, first = named_argument(arguments[0])
    order_sql, order_kind = compiler.expr(first, columns)
    which = "arg_max" if "max" in function else "arg_min"
    # Microsoft's binder (kqlcheck --result): `L = arg_max(T, *) by K` is K, L, the other columns; `N = e`
    # names its column N; `*` repeats neither the by-columns nor the columns the arguments before it read
    named = set(groups) | {first_name, path_name(first)}
    wanted: list[tuple[str, str]] = []
    for argument in arguments[1:]:
        if argument.kind == "Star":
            wanted += [(n, quote_name(n)) for n, _ in columns if n not in named]
            continue
        label, value_node = named_argument(argument)
        value, _ = compiler.expr(value_node, columns)
        wanted.append((label, value))
        named |= {label, path_name(value_node)}
    return ArgRow(which, order_sql, order_kind, first_name, wanted)


def arg_row_call(item: Node) -> tuple[str | None, str, list[Node]] | None:
    """(the name it is given, the function, its arguments) when a summarize item is an arg_max/arg_min call,
    plain or `Name = arg_max(...)`; None otherwise."""
    name = None
    call = item
    if item.kind == "Assignment":
        target = next((c for c in item.children if isinstance(c, Node)), None)
        if target is None or target.kind == "NameTuple":
            return None
        name, call = name_text(item["name"]), item["value"]
    if call.kind != "Call" or call["callee"].kind != "Name":
        return None
    function = name_text(call["callee"])
    arguments = call["arguments"]["items"] or []
    if function not in ("arg_max", "arg_min", "argmax", "argmin") or not arguments:
        return None
    return name, function, arguments


def arg_row_sql(row: ArgRow, group_exprs: list[str]) -> tuple[str, list[str]]:
    """A summarize of one arg_max/arg_min by keys as a window over the input: (the selected ExprToMaximize
    and ExprToReturn values, by position as ArgRow's columns; the QUALIFY clause). The row kept per group is
    the one the aggregate keeps: the greatest (least) non-null ExprToMaximize, of tied rows the first in
    input order (the window's sort keeps input order with one thread, session.py; tests pin it); a group
    where ExprToMaximize is null in every row gives nulls. Much cheaper than the aggregate of a struct:
    DuckDB sorts the rows once by key and ExprToMaximize."""
    direction = "DESC" if row.which == "arg_max" else "ASC"
    present = f"({row.order}) IS NOT NULL"
    values = [row.order] + [f"CASE WHEN {present} THEN {sql} END" for _, sql in row.wanted]
    window = f"PARTITION BY {', '.join(group_exprs)} ORDER BY {row.order} {direction} NULLS LAST"
    return f" QUALIFY row_number() OVER ({window}) = 1", values


def _is_aggregate(function: str) -> bool:
    info = catalog.lookup(function)
    return info is None or info.kind == "aggregate"  # an unknown name is left to the aggregate's refusal


def scalar_of_aggregates(compiler: Compiler, expression: Node, columns: Columns) -> str:
    """A scalar expression over aggregates (the binary_all_and page: summarize result =
    toupper(tohex(binary_all_and(num)))): each aggregate call becomes a name bound to its SQL, then the
    expression is compiled as usual."""
    bound: list[str] = []

    def text(node: Node) -> str:
        if node.kind == "Call" and node["callee"].kind == "Name" and _is_aggregate(name_text(node["callee"])):
            function, arguments = name_text(node["callee"]), list(node["arguments"]["items"] or [])
            info = catalog.lookup(function)
            returns = info.returns if info is not None else "unknown"
            if re.fullmatch(r"\$\d+", returns) and int(returns[1:]) <= len(arguments):
                kind = compiler.expr(arguments[int(returns[1:]) - 1], columns)[1]
            elif returns in DUCK_TYPES and returns != "unknown":
                kind = returns
            elif function in ("sum", "sumif") and arguments:
                summed = compiler.expr(arguments[0], columns)[1]
                if summed not in _SUM_KINDS:
                    raise compiler.unsupported(f"{function}() of a {summed} value inside an expression", node)
                kind = _SUM_KINDS[summed]
            else:
                raise compiler.unsupported(f"{function}() inside an expression", node)
            name = f"__aggregate_{compiler.counter}"
            compiler.counter += 1
            compiler.scalars[name] = (f"({aggregate_sql(compiler, function, arguments, columns, node)})", kind)
            bound.append(name)
            tokens = list(node.tokens())
            return tokens[0].leading + name + tokens[-1].trailing
        return "".join(c.leading + c.text + c.trailing if not isinstance(c, Node) else text(c) for c in node.children)

    try:
        rewritten = text(expression)
        if not bound:
            raise compiler.unsupported("a summarize column without an aggregate", expression)
        result = parse(rewritten)
        if result.diagnostics or len(result.tree["statements"] or []) != 1:
            raise compiler.unsupported("this expression over aggregates", expression)
        return compiler.expr(result.tree["statements"][0], columns)[0]
    finally:
        for name in bound:
            del compiler.scalars[name]


# sum()'s type by its argument's, as Microsoft's binder gives it (kqlcheck --result: sum of an int is a
# long; of a long, a real or a timespan, the same type). Decimals are summed as doubles here: not typed.
_SUM_KINDS = {"int": "long", "long": "long", "real": "real", "timespan": "timespan"}


def aggregate_sql(compiler: Compiler, function: str, arguments: list[Node], columns: Columns, call: Node) -> str:
    values = [compiler.expr(a, columns)[0] for a in arguments if a.kind != "Star"]
    if function == "count":  # count(expr) counts rows like count() (summarize docs)
        return "count(*)"
    if function == "countif":
        return f"coalesce(count_if({values[0]}), 0)"  # DuckDB's count_if of no row is null
    if function in ("dcount", "count_distinct"):
        return f"count(DISTINCT {values[0]})"
    if function in ("dcountif", "count_distinctif"):
        return f"count(DISTINCT CASE WHEN {values[1]} THEN {values[0]} END)"
    if function in ("sum", "min", "max", "avg", "sumif", "minif", "maxif", "avgif"):
        base = function[:-2] if function.endswith("if") else function
        kept = f"CASE WHEN {values[1]} THEN {values[0]} END" if base != function else values[0]
        if base == "sum":  # no value (an empty input, or only nulls): 0, the documented default
            kind = compiler.expr(arguments[0], columns)[1]
            if kind == "timespan":  # DuckDB sums no INTERVAL: sum the microseconds
                return f"to_microseconds(CAST(coalesce(sum(epoch_us({kept})), 0) AS BIGINT))"
            return f"coalesce(sum({kept}), {_ZEROS.get(kind, '0')})"
        if base == "avg":  # no value: NaN, the summarize page's example ("dividing by 0")
            return f"(CASE WHEN count({kept}) = 0 THEN CAST('NaN' AS DOUBLE) ELSE avg({kept}) END)"
        return f"{base}({kept})"  # min, max: null, the default of "all others"
    if function in ("any", "take_any") and values:
        return f"any_value({values[0]})"
    if function in ("make_set", "makeset", "make_list", "makelist", "make_set_if", "make_list_if"):
        value = values[0]
        condition = f" AND ({values[1]})" if function.endswith("_if") else ""
        size_at = 2 if function.endswith("_if") else 1
        cap = _max_size(compiler, function, arguments[size_at] if len(arguments) > size_at else None, call)
        if compiler.expr(arguments[0], columns)[1] == "dynamic":  # arrays add their elements (make_set docs)
            elements = f"CASE WHEN json_type({value}) = 'ARRAY' THEN CAST({value} AS JSON[]) ELSE [{value}] END"
            listed = f"flatten(list({elements}) FILTER (WHERE {value} IS NOT NULL{condition}))"
        else:
            listed = f"list({value}) FILTER (WHERE {value} IS NOT NULL{condition})"
        if "set" in function:  # distinct values, in the order first seen (the macro binds its list once)
            listed = f"kql_first_seen({listed})"
        # At most `cap` elements; which ones the reference leaves undefined (so is the order): the first in
        # input order, as the order of the elements here.
        return f"coalesce(to_json(list_slice({listed}, 1, {cap})), '[]')"
    added = _more_aggregate_sql(compiler, function, arguments, columns, call)  # variance, stdev, make_bag, ...
    if added is not None:
        return added
    raise compiler.unsupported(f"the aggregate '{function}'", call)


# sum()'s 0 in the type of the values summed
_ZEROS = {"real": "CAST(0 AS DOUBLE)", "decimal": "CAST(0 AS DOUBLE)"}
# make_list/make_set's default and largest maxSize; the deprecated makelist/makeset default to 128 (their pages)
_MAX_LIST = 1_048_576
_LEGACY_LIST = 128


def _max_size(compiler: Compiler, function: str, argument: Node | None, call: Node) -> int:
    """The most elements make_list/make_set (and kin) return: the constant maxSize argument, else the
    documented default."""
    if argument is None:
        return _LEGACY_LIST if function in ("makelist", "makeset") else _MAX_LIST
    sql, _ = compiler.expr(argument, [])
    match = re.fullmatch(r"CAST\((-?\d+) AS (?:BIGINT|INTEGER)\)", sql)
    if match is None:
        raise compiler.unsupported(f"{function}() with a maximum size that is not a constant integer", argument)
    size = int(match.group(1))
    if not 1 <= size <= _MAX_LIST:  # the pages give no meaning to these
        raise compiler.unsupported(f"{function}() with a maximum size outside 1 to {_MAX_LIST:,}", argument)
    return size


def take_any_record(compiler: Compiler, function: str, arguments: list[Node], columns: Columns, groups: list[str],
                    name: str | None) -> list[tuple[str, str]]:  # fmt: skip
    """take_any(e1, e2, ...) / take_any(*): one record of the group, a column per expression, all from that
    record (take_any reference: "returns the value of one or more expressions over each such record"); the
    first record in table order. Names as Microsoft's binder gives them (kqlcheck --result): take_any names a
    column after it (A) and an expression any_argN (N its position), any prefixes any_ (any_A, any_argN);
    `*` is every column not grouped by and not named before."""
    explicit = {subject_name(a) for a in arguments if a.kind != "Star"}
    wanted: list[tuple[str, str]] = []
    for index, argument in enumerate(arguments):
        if argument.kind == "Star":
            wanted += [(n if function == "take_any" else f"any_{n}", quote_name(n))
                       for n, _ in columns if n not in groups and n not in explicit]  # fmt: skip
            continue
        value, _ = compiler.expr(argument, columns)
        path = subject_name(argument)
        label = path if path and function == "take_any" else f"any_{path}" if path else f"any_arg{index}"
        wanted.append((label, value))
    if not wanted:
        raise compiler.unsupported(f"{function}(*) of an input with no column but the grouped ones", None)
    if name is not None:
        wanted[0] = (name, wanted[0][1])
    record = "struct_pack(" + ", ".join(f"v{i} := {sql}" for i, (_, sql) in enumerate(wanted)) + ")"
    fields = record_fields(f"first({record})", [sql for _, sql in wanted])
    return [(label, field) for (label, _), field in zip(wanted, fields, strict=True)]


def take_anyif(compiler: Compiler, function: str, arguments: list[Node], columns: Columns,
               call: Node, name: str | None) -> list[tuple[str, str]]:  # fmt: skip
    """take_anyif(expr, predicate): the value of the first row (in table order) where the predicate
    holds, preferring a non-empty one as the page says Kusto tries to; null when no row qualifies.
    Named after the expression (anyif_ + it for the deprecated anyif), as Kusto.Language names it."""
    if len(arguments) != 2:
        raise EmulatorError("EMU006", f"wrong number of arguments for '{function}'", offset_of(call))
    value, kind = compiler.expr(arguments[0], columns)
    predicate, _ = compiler.expr(arguments[1], columns)
    chosen = f"CASE WHEN coalesce({predicate}, false) THEN {value} END"
    if kind in ("string", "dynamic"):
        empty = f"{compiler.as_string(chosen, kind)} = ''"
        sql = f"coalesce(any_value({chosen}) FILTER (WHERE NOT ({empty})), any_value({chosen}))"
    else:
        sql = f"any_value({chosen})"
    if name is None:
        subject = path_name(arguments[0])
        if not subject:
            raise compiler.unsupported(f"{function}() of an expression without a name (name it: X = ...)", call)
        name = subject if function == "take_anyif" else f"anyif_{subject}"
    return [(name, sql)]


# --------------------------------------------------------------------------- variance, stdev, covariance, ...
_REFUSE_FEW = "error('the emulator cannot reproduce Kusto exactly here: {name}() of fewer than {least} values')"


def _spread(name: str, sql_function: str, value: str, condition: str | None, least: int) -> str:
    """variance/stdev and kin over the rows where `condition` holds. No value at all gives the summarize
    page's default (0 for variance, varianceif, stdev, stdevif; null for the others); one value too few
    refuses (what Kusto returns for it is not documented)."""
    kept = f"CASE WHEN {condition} THEN {value} END" if condition else value
    counted = f"count({kept})"
    refuse = _REFUSE_FEW.format(name=name, least=least)
    default = "CAST(0 AS DOUBLE)" if name in _ZERO_SPREADS else "CAST(NULL AS DOUBLE)"
    return (f"(CASE WHEN {counted} = 0 THEN {default} WHEN {counted} < {least} THEN {refuse} "
            f"ELSE {sql_function}(CAST({kept} AS DOUBLE)) END)")  # fmt: skip


# The summarize page's "Default values of aggregations": these give 0 over no value.
_ZERO_SPREADS = frozenset({"variance", "varianceif", "stdev", "stdevif"})
_SPREADS = {
    "variance": ("var_samp", 2), "variancep": ("var_pop", 1), "stdev": ("stddev_samp", 2),
    "stdevp": ("stddev_pop", 1),
}  # fmt: skip


def _more_aggregate_sql(
    compiler: Compiler, function: str, arguments: list[Node], columns: Columns, call: Node
) -> str | None:
    """SQL for the aggregates beyond aggregate_sql's own (variance, stdev, covariance, binary_all_*, make_bag,
    buildschema), else None."""
    compiled = [compiler.expr(a, columns) for a in arguments if a.kind != "Star"]
    values = [sql for sql, _ in compiled]
    base = function[:-2] if function.endswith("if") and function[:-2] in _SPREADS else function
    if base in _SPREADS:
        sql_function, least = _SPREADS[base]
        condition = values[1] if base != function else None
        return _spread(function, sql_function, values[0], condition, least)
    if function in ("covariance", "covarianceif", "covariancep"):
        condition = values[2] if function == "covarianceif" else None
        x, y = (f"CASE WHEN {condition} THEN {v} END" if condition else v for v in values[:2])
        pairs = f"count(CASE WHEN ({x}) IS NOT NULL AND ({y}) IS NOT NULL THEN 1 END)"
        least = 1 if function == "covariancep" else 2
        sql_function = "covar_pop" if function == "covariancep" else "covar_samp"
        refuse = _REFUSE_FEW.format(name=function, least=least)
        return (f"(CASE WHEN {pairs} < {least} THEN {refuse} "
                f"ELSE {sql_function}(CAST({y} AS DOUBLE), CAST({x} AS DOUBLE)) END)")  # fmt: skip
    if function in ("binary_all_and", "binary_all_or", "binary_all_xor"):
        if compiled[0][1] not in ("long", "int"):
            raise compiler.unsupported(f"{function}() of a {compiled[0][1]} value", call)
        return f"bit_{function.rsplit('_', 1)[1]}(CAST({values[0]} AS BIGINT))"
    if function in ("make_bag", "make_bag_if"):
        size_at = 2 if function == "make_bag_if" else 1
        if len(values) > size_at:
            raise compiler.unsupported(f"{function}() with a maximum size", call)
        condition = f" AND ({values[1]})" if function == "make_bag_if" else ""
        listed = f"to_json(list({values[0]}) FILTER (WHERE {values[0]} IS NOT NULL{condition}))"
        ensure_udfs(compiler, _UDFS)
        # no value: the summarize page's default for make_bag and make_bag_if, an empty array ([])
        return f"coalesce(CAST(kqlm_make_bag(CAST({listed} AS VARCHAR)) AS JSON), CAST('[]' AS JSON))"
    if function == "buildschema":  # no value: null (the summarize page's example, and "all others")
        listed = f"to_json(list({values[0]}) FILTER (WHERE {values[0]} IS NOT NULL))"
        ensure_udfs(compiler, _UDFS)
        return f"CAST(kqlm_buildschema(CAST({listed} AS VARCHAR)) AS JSON)"
    return None


# --------------------------------------------------------------------------- buildschema, make_bag
def buildschema(values_json: str) -> str:
    """buildschema(): the union of the types of all values, nested bags as objects, arrays as
    {"`indexer`": element schema}; a slot with several types lists them in order first seen."""
    schema: list[Any] = []
    for value in json.loads(values_json):
        _merge_schema(schema, value)
    return json.dumps(_render_schema(schema))


def _merge_schema(slot: list[Any], value: Any) -> None:
    if value is None:
        return
    if isinstance(value, dict):
        bag = next((s for s in slot if isinstance(s, dict) and "`indexer`" not in s), None)
        if bag is None:
            bag = {}
            slot.append(bag)
        for key, item in value.items():
            _merge_schema(bag.setdefault(key, []), item)
        return
    if isinstance(value, list):
        array = next((s for s in slot if isinstance(s, dict) and "`indexer`" in s), None)
        if array is None:
            array = {"`indexer`": []}
            slot.append(array)
        for item in value:
            _merge_schema(array["`indexer`"], item)
        return
    if isinstance(value, bool):
        name = "bool"
    elif isinstance(value, int):
        name = "long"
    elif isinstance(value, float):
        name = "double"
    else:
        name = "string"
    if name not in slot:
        slot.append(name)


def _render_schema(slot: list[Any]) -> Any:
    rendered = [{k: _render_schema(v) for k, v in s.items()} if isinstance(s, dict) else s for s in slot]
    return rendered[0] if len(rendered) == 1 else rendered


def make_bag(values_json: str) -> str:
    """make_bag(): the properties of all bags; a key with two different values refuses (Kusto picks
    an arbitrary one); values that are not bags are ignored (documented)."""
    merged: dict[str, Any] = {}
    for value in json.loads(values_json):
        if not isinstance(value, dict):
            continue
        for key, item in value.items():
            if key in merged and merged[key] != item:
                raise Refused(f"make_bag() of the key '{key}' with different values (Kusto keeps any one)")
            merged[key] = item
    return json.dumps(merged)


_UDFS: list[Udf] = [
    ("kqlm_buildschema", buildschema, ["VARCHAR"], "VARCHAR"),
    ("kqlm_make_bag", make_bag, ["VARCHAR"], "VARCHAR"),
]
