"""Aggregate functions (summarize, and pivot, top-nested and make-series): KQL aggregate -> SQL.

`aggregate` compiles one item of a summarize (arg_max/arg_min give several columns, take_anyif is
named after its expression); `aggregate_sql` the SQL of one aggregate call. buildschema and make_bag
merge the values in Python (DuckDB UDFs, see functions/udfs.py); where Kusto's answer is not
documented (the variance of fewer than two values, a bag key with two values) the query fails
instead of guessing.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..kql.names import aggregate_name, name_text, path_name
from ..kql.syntax import Node
from .errors import EmulatorError, offset_of
from .functions.udfs import Refused, Udf, ensure_udfs
from .sql import quote_name

if TYPE_CHECKING:
    from .interface import Columns, Compiler


def aggregate(
    compiler: Compiler, item: Node, columns: Columns, counter: list[int], groups: list[str]
) -> list[tuple[str, str]]:
    name = None
    call = item
    if item.kind == "Assignment":
        name, call = name_text(item["name"]), item["value"]
    if call.kind != "Call" or call["callee"].kind != "Name":
        raise compiler.unsupported("aggregates that are not a function call", call)
    function = name_text(call["callee"])
    arguments = call["arguments"]["items"] or []
    if function in ("arg_max", "arg_min", "argmax", "argmin"):
        order_sql, _ = compiler.expr(arguments[0], columns)
        which = "arg_max" if "max" in function else "arg_min"
        first_name = name or (path_name(arguments[0]) or "Column1")
        result = [(first_name, f"{'max' if which == 'arg_max' else 'min'}({order_sql})")]
        if name and path_name(arguments[0]):
            result.append((path_name(arguments[0]), f"{'max' if which == 'arg_max' else 'min'}({order_sql})"))
        wanted: list[tuple[str, str]] = []
        for argument in arguments[1:]:
            if argument.kind == "Star":
                wanted += [(n, quote_name(n)) for n, _ in columns if n not in groups]
            else:
                value, _ = compiler.expr(argument, columns)
                wanted.append((path_name(argument) or "Column1", value))
        result += [(n, f"{which}({v}, {order_sql})") for n, v in wanted]
        return result
    if function in ("take_anyif", "anyif"):
        return take_anyif(compiler, function, arguments, columns, call, name)
    sql = aggregate_sql(compiler, function, arguments, columns, call)
    return [(name or aggregate_name(function, arguments), sql)]


def aggregate_sql(compiler: Compiler, function: str, arguments: list[Node], columns: Columns, call: Node) -> str:
    values = [compiler.expr(a, columns)[0] for a in arguments if a.kind != "Star"]
    if function == "count":  # count(expr) counts rows like count() (summarize docs)
        return "count(*)"
    if function == "countif":
        return f"count_if({values[0]})"
    if function in ("dcount", "count_distinct"):
        return f"count(DISTINCT {values[0]})"
    if function in ("dcountif", "count_distinctif"):
        return f"count(DISTINCT CASE WHEN {values[1]} THEN {values[0]} END)"
    if function in ("sum", "min", "max", "avg"):
        return f"{function}({values[0]})"
    if function in ("sumif", "minif", "maxif", "avgif"):
        return f"{function[:-2]}(CASE WHEN {values[1]} THEN {values[0]} END)"
    if function in ("any", "take_any") and values:
        return f"any_value({values[0]})"
    if function in ("make_set", "makeset", "make_list", "makelist", "make_set_if", "make_list_if"):
        value = values[0]
        condition = f" AND ({values[1]})" if function.endswith("_if") else ""
        if compiler.expr(arguments[0], columns)[1] == "dynamic":  # arrays add their elements (make_set docs)
            elements = f"CASE WHEN json_type({value}) = 'ARRAY' THEN CAST({value} AS JSON[]) ELSE [{value}] END"
            listed = f"flatten(list({elements}) FILTER (WHERE {value} IS NOT NULL{condition}))"
        else:
            listed = f"list({value}) FILTER (WHERE {value} IS NOT NULL{condition})"
        if "set" in function:  # distinct values, in the order first seen
            listed = f"kql_first_seen({listed})"
        return f"coalesce(to_json({listed}), '[]')"
    added = _more_aggregate_sql(compiler, function, arguments, columns, call)  # variance, stdev, make_bag, ...
    if added is not None:
        return added
    raise compiler.unsupported(f"the aggregate '{function}'", call)


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
    """variance/stdev and kin over the rows where `condition` holds; too few values refuse
    (what Kusto returns for them is not documented)."""
    kept = f"CASE WHEN {condition} THEN {value} END" if condition else value
    counted = f"count({kept})"
    refuse = _REFUSE_FEW.format(name=name, least=least)
    return f"(CASE WHEN {counted} < {least} THEN {refuse} ELSE {sql_function}(CAST({kept} AS DOUBLE)) END)"


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
        return f"CAST(kqlm_make_bag(coalesce(CAST({listed} AS VARCHAR), '[]')) AS JSON)"
    if function == "buildschema":
        listed = f"to_json(list({values[0]}) FILTER (WHERE {values[0]} IS NOT NULL))"
        ensure_udfs(compiler, _UDFS)
        return f"CAST(kqlm_buildschema(coalesce(CAST({listed} AS VARCHAR), '[]')) AS JSON)"
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
