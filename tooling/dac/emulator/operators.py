"""The tabular operators that compile to SQL directly: where, extend, project (and project-away,
-keep, -reorder, -rename, -by-names), take, sort, top, count, distinct, summarize, join and lookup,
union, search and top-nested. Each takes (compiler, node, SQL of its input) and returns the SQL of
its output; compiler.py dispatches the pipe steps to them and to the operators of their own modules
(parse_operators, mv_expand, make_series, loose_operators, plugins' evaluate, pass_through).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ..kql.binder import column_name
from ..kql.binder_operators import (
    expression_name,
    named_argument,
    series_columns,
    sorted_array_name,
    sorted_arrays_names,
    unique_name,
)
from ..kql.lexer import Token
from ..kql.names import name_text
from ..kql.syntax import Node, operands
from .aggregates import RecordField, aggregate, arg_row, arg_row_call, arg_row_sql
from .aggregates import aggregate_sql as sql_of_aggregate  # top_nested has a local aggregate_sql
from .errors import EmulatorError
from .functions.columns import existing_column_name
from .functions.dynamic import sorted_arrays
from .functions.series import series_call
from .python_data import scalar_value
from .session import CASE_TWIN, case_twin_names
from .sql import call_arguments, nonnull, quote_name

if TYPE_CHECKING:
    from .interface import Columns, Compiler

# A `where` whose SQL has more AND/OR than this gives DuckDB one condition, not one filter per operand.
_SEPARATE_CONJUNCTS = 64


# ----------------------------------------------------------------- filters and columns
def where(compiler: Compiler, node: Node, sql: str) -> str:
    columns = compiler.columns(sql)
    # A row passes `where A and B` exactly when A and B are both true, so the conjuncts go to DuckDB
    # one by one: it can then push the cheap ones into the scan and run them first.
    conditions = [compiler.expr(part, columns)[0] for part in _conjuncts(node["predicate"])]
    # A where on a table or on another where is one SELECT: each level of `SELECT *` costs DuckDB's planner
    # about half a millisecond per 70 columns, more than running a test's rows. Filters commute, and DuckDB
    # combines and reorders them across subqueries anyway; ones that number rows are left in place.
    earlier = compiler.filters.get(sql)
    table = _PLAIN_TABLE.fullmatch(sql)
    if earlier is not None and not _numbers_rows(earlier[1] + conditions):
        source, conditions = earlier[0], earlier[1] + conditions
    elif table is not None:
        source = f"{table.group(1)} AS {compiler.alias()}"
    else:
        source = f"({sql}) AS {compiler.alias()}"
    result = f"SELECT * FROM {source} WHERE {filter_condition(' AND '.join(f'({c})' for c in conditions))}"
    compiler.filters[result] = (source, conditions)
    return result


def source(compiler: Compiler, sql: str) -> str:
    """What an operator reads its input `sql` from, after FROM: `(sql) AS _tN`; for a where (see where)
    its own FROM item and WHERE clause, so that the operator and the filter are one SELECT (the
    operator's list, grouping, window, DISTINCT, ORDER BY and LIMIT all apply after WHERE, as they would
    to the subquery). Only for operators whose FROM item is last before such clauses."""
    earlier = compiler.filters.get(sql)
    if earlier is None:
        return f"({sql}) AS {compiler.alias()}"
    item, conditions = earlier
    return f"{item} WHERE {filter_condition(' AND '.join(f'({c})' for c in conditions))}"


# The SQL of a whole table or view, which a where reads without a subquery.
_PLAIN_TABLE = re.compile(r'SELECT \* FROM ("(?:[^"]|"")+")')


def _numbers_rows(conditions: list[str]) -> bool:
    return any(" OVER " in condition or "OVER (" in condition for condition in conditions)


def _conjuncts(predicate: Node) -> list[Node]:
    """The operands of a chain of `and` (through parentheses), or the predicate itself; by a loop, as a
    chain nests as deep as it is long."""
    result: list[Node] = []
    pending = [predicate]
    while pending:
        node = pending.pop()
        inner = [c for c in node.children if isinstance(c, Node)] if node.kind == "Parenthesized" else []
        if len(inner) == 1:
            pending.append(inner[0])
        elif node.kind == "BinaryExpression" and node["op"].text == "and":
            pending += [node["right"], node["left"]]  # the left one is taken first
        else:
            result.append(node)
    return result


def filter_condition(condition: str) -> str:
    """A WHERE condition as DuckDB plans it fast. DuckDB splits a filter into conjuncts (also through NOT
    of an OR) and plans them pairwise: 2,000 take seconds and gigabytes. Inside a function a long condition
    stays one expression; a null counts as false in WHERE either way."""
    if condition.count(" AND ") + condition.count(" OR ") > _SEPARATE_CONJUNCTS:
        return f"coalesce({condition}, false)"
    return condition


def extend(compiler: Compiler, node: Node, sql: str) -> str:
    return _extend_items(compiler, list_items(node), sql, node)


def _extend_items(compiler: Compiler, items: list[Node], sql: str, node: Node) -> str:
    columns = compiler.columns(sql)
    split = _first_reader_of_a_new_name(items, {name for name, _ in columns})
    if split is not None:  # `extend y = 1, z = y + 1`: the items up to z first, then z and the rest on them
        earlier, later = items[:split], items[split:]
        redefined = {name for item in earlier for name in _assigned_names(item)} & {name for name, _ in columns}
        if any(redefined & _read_names(item) for item in later):
            # a later item reads the input's column, not the earlier item's new value of it (Microsoft's binder)
            raise compiler.unsupported("an extend whose later item reads a column an earlier item redefines", node)
        return _extend_items(compiler, later, _extend_items(compiler, earlier, sql, node), node)
    output: dict[str, tuple[str, str]] = {  # KQL name -> (SQL of the value, its type), input order first
        name.rstrip(CASE_TWIN): (quote_name(name), kind) for name, kind in columns
    }
    counter = [0]
    for item in items:
        for name, value, kind in several_columns(compiler, item, columns) or [named(compiler, item, columns, counter)]:
            output[name] = (value, kind)  # a name the input has is replaced in place
    return _select(compiler, output, f" FROM {source(compiler, sql)}", read=sql)


def _assigned_names(item: Node) -> list[str]:
    """The names `a = ...` or `(a, b) = ...` gives its columns; [] for an unnamed item."""
    if item.kind != "Assignment":
        return []
    if item["name"] is not None:
        return [name_text(item["name"])]
    target = next(c for c in item.children if isinstance(c, Node))
    return [name_text(c) for c in target.children if isinstance(c, Node) and c.kind == "Name"]


def _read_names(item: Node) -> set[str]:
    """The words an item's value reads (a superset of the columns it reads: function names too)."""
    value = item["value"] if item.kind == "Assignment" else item
    return {token.text.strip("[]'\"") for token in value.tokens()}


def _first_reader_of_a_new_name(items: list[Node], input_names: set[str]) -> int | None:
    """The position of the first item that reads a column an earlier item of the same list made (and the
    input does not have), or None."""
    made: set[str] = set()
    for position, item in enumerate(items):
        if made & _read_names(item):
            return position
        made.update(name for name in _assigned_names(item) if name not in input_names)
    return None


def project(compiler: Compiler, node: Node, sql: str | None) -> str:
    items = list_items(node)
    columns = compiler.columns(sql) if sql is not None else []
    if _first_reader_of_a_new_name(items, {name for name, _ in columns}) is not None:
        return _project_after_extend(compiler, node, items, sql)
    counter = [0]
    output: dict[str, tuple[str, str]] = {}
    for position, item in enumerate(items):
        several = several_columns(compiler, item, columns)
        if several:
            output.update((name, (value, kind)) for name, value, kind in several)
            continue
        name, value, kind = named(compiler, item, columns, counter)
        if node.kind == "Print" and item.kind != "Assignment":
            name = f"print_{position}"  # print's unnamed columns are print_0, print_1, ... (a let name too)
        elif name in output and item.kind not in ("Assignment", "Name"):
            # a repeated generated name gets a numeric suffix (strlen_x, strlen_x1) as Microsoft's binder gives
            # it; a name written twice is an error there ("already declared"), which validation reports
            name = unique_name(name, output)
        output[name] = (value, kind)
    if not output:
        return f"SELECT *{f' FROM {source(compiler, sql)}' if sql is not None else ''}"
    if sql is None:
        return _select(compiler, output, "")
    return _select(compiler, output, f" FROM {source(compiler, sql)}", read=sql)


def _project_after_extend(compiler: Compiler, node: Node, items: list[Node], sql: str | None) -> str:
    """`project y = 1, z = y + 1` (and print): the assignments as an extend, whose later items read the
    earlier ones' columns, then the listed columns in order. Only for lists of `name = value` and plain
    columns, whose output names are their own."""
    if any(item.kind not in ("Assignment", "Name") or (item.kind == "Assignment" and item["name"] is None)
           for item in items):  # fmt: skip
        raise compiler.unsupported("a project whose item reads another's column, with unnamed items", node)
    base = sql if sql is not None else "SELECT 1 AS __kql_print"
    extended = _extend_items(compiler, [item for item in items if item.kind == "Assignment"], base, node)
    kinds = dict(compiler.columns(extended))
    names = [name_text(item["name"] if item.kind == "Assignment" else item) for item in items]
    output = {name: (quote_name(name), kinds.get(name, "unknown")) for name in names}
    return _select(compiler, output, f" FROM {source(compiler, extended)}", read=extended)


def _select(
    compiler: Compiler, output: dict[str, tuple[str, str]], source: str, distinct: bool = False, read: str | None = None
) -> str:
    """SELECT of the output columns, names differing only in case kept apart by their twin marks
    (session.case_twin_names; expressions.e_name finds them, results drop the marks). Their types are
    known here when every one is a type DuckDB stores as such, the compiler's or, for those it is not sure
    of, DuckDB's for the expressions alone over the rows of `read` (the input): then nothing asks DuckDB to
    plan the whole query for them."""
    stored = case_twin_names(list(output))
    selects = []
    for (value, _), name in zip(output.values(), stored, strict=True):
        selects.append(value if value == quote_name(name) else f"{value} AS {quote_name(name)}")
    sql = f"SELECT {'DISTINCT ' if distinct else ''}{', '.join(selects)}{source}"
    kinds = [kind for _, kind in output.values()]
    values = [value for value, _ in output.values()]
    if all(kind in STORED_KINDS for kind in kinds):
        compiler.known_columns[sql] = list(zip(stored, kinds, strict=True))
    elif read is not None:
        unsure = {index: values[index] for index, kind in enumerate(kinds) if kind not in STORED_KINDS}
        compiler.defer_kinds(sql, read, list(zip(stored, kinds, strict=True)), unsure)
    return sql


# The types whose DuckDB column DESCRIBE gives back as the same KQL type (guid is text, decimal a double;
# "unknown" is a type the compiler is not sure of)
STORED_KINDS = frozenset({"string", "long", "int", "real", "bool", "datetime", "timespan", "dynamic"})


def list_items(node: Node) -> list[Node]:
    """The items of the operator's list (extend's assignments, project's columns, ...)."""
    lists = [c for c in node.children if isinstance(c, Node) and c.kind == "List"]
    return list(lists[0]["items"] or []) if lists else []


# The series functions that give several columns, emulated as their _dynamic form taken apart.
_TAKEN_APART = {"series_stats": "series_stats_dynamic", "series_fit_line": "series_fit_line_dynamic"}
_JSON_CASTS = {"real": "DOUBLE", "long": "BIGINT"}


def several_columns(compiler: Compiler, item: Node, columns: Columns) -> list[tuple[str, str, str]] | None:
    """The columns of series_stats(y) / series_fit_line(y) (an item of extend or project), or None for
    another item. Named as Microsoft's binder names them (kql.binder_operators.series_columns): each
    output is `function_y_output` unless `(a, b, ...) =` or `a =` names the first ones."""
    value, names = item, []
    if item.kind == "Assignment":
        value = item["value"]
        target = next(c for c in item.children if isinstance(c, Node))
        names = ([name_text(c) for c in target.children if isinstance(c, Node) and c.kind == "Name"]
                 if target.kind == "NameTuple" else [name_text(item["name"])])  # fmt: skip
    sorted_names = sorted_arrays_names(value)
    if sorted_names is not None:
        return _sorted_columns(compiler, item, value, names, sorted_names, columns)
    if value.kind != "Call" or value["callee"].kind != "Name" or name_text(value["callee"]) not in _TAKEN_APART:
        return None
    outputs = series_columns(value)
    if outputs is None:
        raise compiler.unsupported(f"{name_text(value['callee'])}() of an expression without a name", value)
    if len(names) > len(outputs):
        raise compiler.unsupported(f"{len(names)} names for {len(outputs)} columns", item)
    arguments = list(value["arguments"]["items"] or [])
    bag, _ = series_call(compiler, _TAKEN_APART[name_text(value["callee"])], arguments, columns, value)
    result = []
    for index, (default, kind) in enumerate(outputs):
        field = f"json_extract({bag}, '$.{_output_field(value, default)}')"
        sql = f"CAST({field} AS {_JSON_CASTS[kind]})" if kind in _JSON_CASTS else field
        result.append((names[index] if index < len(names) else default, sql, kind))
    return result


def _sorted_columns(compiler: Compiler, item: Node, call: Node, names: list[str], defaults: list[str],
                    columns: Columns) -> list[tuple[str, str, str]]:  # fmt: skip
    """array_sort_asc(a, b, ...) of several arrays as columns: `(x, y) =` names the first ones; unnamed, each
    takes the binder's name (a_sorted, ...), suffixed where the input has it already (a_sorted1)."""
    if item.kind == "Assignment" and item["name"] is not None:  # `x = array_sort_asc(a, b)`: which array is x?
        raise compiler.unsupported(f"one name for the arrays {name_text(call['callee'])}() returns", item)
    arrays = sorted_arrays(compiler, call, columns)
    if len(names) > len(arrays):
        raise compiler.unsupported(f"{len(names)} names for {len(arrays)} arrays", item)
    if not names:
        defaults = sorted_arrays_names(call, [name for name, _ in columns]) or defaults
    return [(names[i] if i < len(names) else defaults[i], sql, "dynamic") for i, sql in enumerate(arrays)]


def _output_field(call: Node, column: str) -> str:
    """series_stats_y_min_idx -> min_idx: the output's name after the function's and the series'."""
    arguments = call["arguments"]["items"] or []
    prefix = f"{name_text(call['callee'])}_{expression_name(arguments[0])}_"
    return column.removeprefix(prefix)


def named(compiler: Compiler, item: Node, columns: Columns, counter: list[int]) -> tuple[str, str, str]:
    """(name, SQL, type) of an item of extend, project or print; the type is "unknown" unless the form of
    the expression fixes the type DuckDB gives its SQL (see _sure_kind)."""
    if item.kind == "Assignment":
        if item["name"] is None:
            raise compiler.unsupported("tuple assignments", item)
        sql, kind = compiler.expr(item["value"], columns)
        return name_text(item["name"]), sql, _sure_kind(item["value"], kind, columns)
    sql, kind = compiler.expr(item, columns)
    name = existing_column_name(compiler, item, columns) or column_name(item, counter)
    if sorted_array_name(item) is not None and any(name == n for n, _ in columns):
        name = unique_name(name, [n for n, _ in columns])  # array_sort_asc(a, b)[1] is b_sorted1 when taken
    while name == f"Column{counter[0]}" and any(name == n for n, _ in columns):
        name = column_name(item, counter)  # a ColumnN the input has is skipped, as in the binder
    return name, sql, _sure_kind(item, kind, columns)


def _sure_kind(node: Node, kind: str, columns: Columns) -> str:
    """`kind` where the expression's form fixes DuckDB's type of its SQL, else "unknown" (then DuckDB is
    asked): a column's own type, a string or bool literal, a comparison or string predicate (bool), a
    function that returns text (string). DAC_CHECK_COLUMNS=1 checks these against DESCRIBE."""
    while node.kind == "Parenthesized":
        inner = [c for c in node.children if isinstance(c, Node)]
        if len(inner) != 1:
            return "unknown"
        node = inner[0]
    if node.kind == "Name":  # an input column (a let value's type is the compiler's guess)
        return kind if _column_kind(columns, name_text(node)) is not None else "unknown"
    if node.kind == "Literal" and node["literal"] in ("string", "bool"):
        return kind if kind in ("string", "bool") else "unknown"
    if node.kind == "BinaryExpression" and kind == "bool" and node["op"].text.lower() in _PREDICATES:
        return kind
    if node.kind == "Call" and node["callee"].kind == "Name" and kind == "string":
        return kind if name_text(node["callee"]) in _TEXT_FUNCTIONS | _BRANCHES else "unknown"
    if node.kind == "Call" and node["callee"].kind == "Name":
        function = name_text(node["callee"])
        return (
            kind if kind in _SURE_CALLS.get(function, ()) or (function in _BRANCHES and kind == "bool") else "unknown"
        )
    if node.kind in ("MemberAccess", "ElementAccess") and kind == "dynamic":  # a path into a dynamic value: JSON
        return kind
    return "unknown"


# Functions whose SQL has the DuckDB type of the KQL type the compiler gives them, for those types:
# DAC_CHECK_COLUMNS=1 (the corpus oracle test) compares every such column with DESCRIBE.
_DYNAMIC = ("dynamic",)
_SURE_CALLS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("parse_json", "todynamic", "pack", "pack_array", "bag_pack", "pack_all", "split",
                     "extract_all", "parse_xml", "parse_url", "parse_path", "array_concat", "set_union",
                     "set_intersect", "set_difference", "array_slice", "bag_merge", "zip", "array_sort_asc",
                     "array_sort_desc", "bag_keys", "parse_command_line", "bag_remove_keys", "pack_dictionary",
                     "geo_info_from_ip_address"), _DYNAMIC),
    **dict.fromkeys(("array_length", "strlen", "countof", "tolong", "datetime_diff", "indexof"), ("long",)),
    **dict.fromkeys(("now", "ago", "todatetime", "datetime_add", "startofday", "startofweek", "startofmonth",
                     "startofyear", "make_datetime", "unixtime_seconds_todatetime",
                     "unixtime_milliseconds_todatetime"), ("datetime",)),
    **dict.fromkeys(("bin", "floor"), ("datetime", "long", "real", "timespan")),
    **dict.fromkeys(("isempty", "isnotempty", "isnull", "isnotnull", "not", "ipv4_is_private",
                     "ipv4_is_in_range", "ipv6_is_in_range", "array_index_of"), ("bool",)),
    **dict.fromkeys(("toreal", "todouble", "round"), ("real",)),
    **dict.fromkeys(("tobool", "toboolean"), ("bool",)),
    **dict.fromkeys(("datetime_local_to_utc", "datetime_utc_to_local"), ("datetime",)),
}  # fmt: skip
_BRANCHES = frozenset({"iff", "iif", "case", "coalesce"})  # their type is their branches' (string, bool)


def _column_kind(columns: Columns, name: str) -> str | None:
    """The type of the input column `name` (whatever twin marks it is stored with), or None."""
    return next((kind for column, kind in columns if column.rstrip(CASE_TWIN) == name), None)


_PREDICATES = frozenset(
    {"==", "!=", "<>", "<", "<=", ">", ">=", "=~", "!~", "and", "or", "has", "!has", "has_cs", "!has_cs",
     "contains", "!contains", "contains_cs", "!contains_cs", "startswith", "!startswith", "endswith",
     "!endswith", "hasprefix", "!hasprefix", "hassuffix", "!hassuffix", "in", "!in", "in~", "!in~",
     "has_any", "has_all", "matches regex"}
)  # fmt: skip
_TEXT_FUNCTIONS = frozenset(
    {"tostring", "strcat", "strcat_delim", "tolower", "toupper", "trim", "trim_start", "trim_end",
     "replace_string", "replace_regex", "substring", "extract", "format_datetime", "format_timespan",
     "url_decode", "url_encode", "base64_decode_tostring", "base64_encode_tostring", "reverse", "strrep",
     "extractjson", "extract_json"}
)  # fmt: skip


def project_names(compiler: Compiler, node: Node, sql: str) -> str:
    columns = compiler.columns(sql)
    names = [name for name, _ in columns]
    operator = node["operator"]
    patterns = [c for c in node.children if isinstance(c, Node)]
    matched: list[str] = []
    order = [t.text for t in node.children if isinstance(t, Token) and t.text in ("asc", "desc")]
    for pattern in patterns:
        text = "".join(t.text for t in pattern.tokens()) if pattern.kind == "NamePattern" else name_text(pattern)
        regex = re.compile("^" + ".*".join(re.escape(p) for p in text.split("*")) + "$")
        found = [n for n in names if regex.match(n) and n not in matched]
        if order:  # project-reorder a* asc: the matched columns sorted by name
            found.sort(reverse=order[0] == "desc")
        matched += found
    if operator == "project-away":
        keep = [n for n in names if n not in matched]
    elif operator == "project-keep":
        keep = [n for n in names if n in matched]
    else:
        keep = matched + [n for n in names if n not in matched]
    return _kept(compiler, keep, columns, sql)


def _kept(compiler: Compiler, keep: list[str], columns: Columns, sql: str) -> str:
    """SELECT of some of the input's columns, unchanged: their names and types are the input's."""
    result = f"SELECT {', '.join(quote_name(n) for n in keep)} FROM {source(compiler, sql)}"
    kinds = dict(columns)
    compiler.known_columns[result] = [(name, kinds[name]) for name in keep]
    return result


def project_rename(compiler: Compiler, node: Node, sql: str) -> str:
    columns = compiler.columns(sql)
    renames = {}
    for item in list_items(node):
        if item.kind == "Assignment" and item["name"] is not None:
            renames[name_text(item["value"])] = name_text(item["name"])
    select = [f"{quote_name(n)} AS {quote_name(renames.get(n, n))}" for n, _ in columns]
    result = f"SELECT {', '.join(select)} FROM {source(compiler, sql)}"
    renamed = [(renames.get(n, n), kind) for n, kind in columns]
    if len({n.lower() for n, _ in renamed}) == len(renamed):  # the input's types under the new names
        compiler.known_columns[result] = renamed
    return result


def project_by_names(compiler: Compiler, node: Node, sql: str) -> str:
    """project-by-names: columns named by strings (with * wildcards), string arrays, column_names_of(T)."""
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
    return _kept(compiler, chosen, columns, sql)


# ----------------------------------------------------------------- order and size
def take(compiler: Compiler, node: Node, sql: str) -> str:
    count, _ = compiler.expr(next(c for c in node.children if isinstance(c, Node)), [])
    return f"SELECT * FROM {source(compiler, sql)} LIMIT {count}"


def order(compiler: Compiler, items: list[Node], columns: Columns) -> str:
    parts = []
    for item in items:
        expression, direction, nulls = item, "DESC", None
        if item.kind == "SortExpression":
            expression = item.children[0]
            words = [t.text for t in item.children[1:] if isinstance(t, Token)]
            if "asc" in words:
                direction = "ASC"
            if "nulls" in words:
                nulls = words[words.index("nulls") + 1].upper()
        sql, _ = compiler.expr(expression, columns)
        nulls = nulls or ("LAST" if direction == "DESC" else "FIRST")
        parts.append(f"{sql} {direction} NULLS {nulls}")
    return ", ".join(parts)


def sort(compiler: Compiler, node: Node, sql: str) -> str:
    columns = compiler.columns(sql)
    items = [c for c in node.children[-1].children if isinstance(c, Node)]
    # ties keep their input order, as the reference pages show them
    numbered = f"SELECT *, row_number() OVER () AS __sort_n FROM {source(compiler, sql)}"
    return (f"SELECT * EXCLUDE (__sort_n) FROM ({numbered}) AS {compiler.alias()} "
            f"ORDER BY {order(compiler, items, columns)}, __sort_n")  # fmt: skip


def top(compiler: Compiler, node: Node, sql: str) -> str:
    columns = compiler.columns(sql)
    parts = [c for c in node.children if isinstance(c, Node)]
    count, _ = compiler.expr(parts[0], columns)
    return f"SELECT * FROM {source(compiler, sql)} ORDER BY {order(compiler, [parts[-1]], columns)} LIMIT {count}"


def count(compiler: Compiler, node: Node, sql: str) -> str:
    return f"SELECT count(*) AS {quote_name('Count')} FROM {source(compiler, sql)}"


def distinct(compiler: Compiler, node: Node, sql: str) -> str:
    if any(isinstance(c, Token) and c.text == "*" for c in node.children):
        return f"SELECT DISTINCT * FROM {source(compiler, sql)}"
    columns = compiler.columns(sql)
    counter = [0]
    output: dict[str, tuple[str, str]] = {}
    for item in list_items(node):
        name, value, kind = named(compiler, item, columns, counter)
        output[name] = (value, kind)
    return _select(compiler, output, f" FROM {source(compiler, sql)}", distinct=True, read=sql)


# ----------------------------------------------------------------- aggregation
def summarize(compiler: Compiler, node: Node, sql: str) -> str:
    columns = compiler.columns(sql)
    lists = [c for c in node.children if isinstance(c, Node) and c.kind == "List"]
    has_by = any(isinstance(c, Token) and c.text == "by" for c in node.children)
    by_first = has_by and all(
        not (isinstance(c, Node) and c.kind == "List") for c in node.children[1 : _index_of_by(node)]
    )
    aggregates = [] if by_first or not lists else list(lists[0]["items"] or [])
    groups = list(lists[-1]["items"] or []) if has_by and lists else []
    counter = [0]
    group_selects, group_exprs, group_names = [], [], []
    kinds: list[str] = []  # the output's types, where sure (see _sure_kind, _sure_aggregate_kind)
    for item in groups:
        name, value, kind = named(compiler, item, columns, counter)
        name = unique_name(name, group_names) if name in group_names else name
        group_selects.append(f"{value} AS {quote_name(name)}")
        group_exprs.append(value)
        group_names.append(name)
        kinds.append(kind)
    aggregate_values: list[str] = []
    aggregate_names: list[str] = []
    taken = set(group_names)
    for item in aggregates:
        outputs = aggregate(compiler, item, columns, counter, group_names)
        if len(outputs) == 1:
            sures = [_sure_aggregate_kind(item, columns)]
        else:  # arg_max/arg_min(T, ...) and take_any(...): each column read off the input keeps its type
            sures = [_sure_output_kind(value, columns) for _, value in outputs]
        for (name, value), sure in zip(outputs, sures, strict=True):
            # a name already taken gets the smallest free numeric suffix (max_X, max_X1), as in the binder
            name = unique_name(name, taken) if name in taken else name
            taken.add(name)
            aggregate_values.append(value)
            aggregate_names.append(name)
            kinds.append(sure)
    pairs = zip(aggregate_values, aggregate_names, strict=True)
    aggregate_selects = [f"{value} AS {quote_name(name)}" for value, name in pairs]
    arg_call = arg_row_call(aggregates[0]) if len(aggregates) == 1 and group_exprs else None
    if arg_call is not None:  # `summarize arg_max(T, *) by K` alone: a window, not an aggregate (arg_row_sql)
        _, function, arguments = arg_call
        row = arg_row(compiler, function, arguments, columns, group_names)
        if row.wanted and row.kind != "dynamic":
            qualify, values = arg_row_sql(row, group_exprs)
            pairs = zip(values, aggregate_names, strict=True)
            selects = group_selects + [f"{value} AS {quote_name(name)}" for value, name in pairs]
            result = f"SELECT {', '.join(selects)} FROM {source(compiler, sql)}{qualify}"
            # The window keeps each value as it is (CASE WHEN ... THEN value END): input columns keep their type
            returned = [_column_kind(columns, name) or "unknown" if value == quote_name(name) else "unknown"
                        for name, value in row.wanted]  # fmt: skip
            ordered = _sure_kind(named_argument(arguments[0])[1], row.kind, columns)
            row_kinds = [*kinds[: len(group_names)], ordered, *returned]
            if len(row_kinds) == len(aggregate_names) + len(group_names):
                _remember(compiler, result, group_names + aggregate_names, row_kinds)
            return result
    group_by = f" GROUP BY {', '.join(group_exprs)}" if group_exprs else ""
    if any(isinstance(value, RecordField) for value in aggregate_values):
        result = _summarize_records(compiler, sql, group_selects, group_names, aggregate_values, aggregate_names,
                                    group_by)  # fmt: skip
    else:
        select = ", ".join(group_selects + aggregate_selects)
        result = f"SELECT {select} FROM {source(compiler, sql)}{group_by}"
        # the types it is unsure of: DuckDB's for the keys and aggregates alone, when asked (defer_kinds)
        _remember(compiler, result, group_names + aggregate_names, kinds, sql, group_exprs + aggregate_values)
        return result
    _remember(compiler, result, group_names + aggregate_names, kinds)
    return result


def _remember(
    compiler: Compiler,
    sql: str,
    names: list[str],
    kinds: list[str],
    read: str | None = None,
    values: list[str] | None = None,
) -> None:
    """The columns of `sql` where no two names differ only in case (DuckDB's twins): known when every type is
    sure, else, given the input `read` and the grouping's `values`, told by DuckDB when asked."""
    if len({n.lower() for n in names}) != len(names):
        return
    if all(kind in STORED_KINDS for kind in kinds):
        compiler.known_columns[sql] = list(zip(names, kinds, strict=True))
    elif read is not None and values is not None:
        unsure = {index: values[index] for index, kind in enumerate(kinds) if kind not in STORED_KINDS}
        compiler.defer_kinds(sql, read, list(zip(names, kinds, strict=True)), unsure, grouped=True)


def _summarize_records(compiler: Compiler, sql: str, group_selects: list[str], group_names: list[str],
                       values: list[str], names: list[str], group_by: str) -> str:  # fmt: skip
    """A summarize with record aggregates (RecordField): the grouping computes each record once, under
    a name no KQL column has, and an outer SELECT reads the fields and keeps the output's order."""
    records: dict[str, str] = {}
    inner = list(group_selects)
    outer = [quote_name(name) for name in group_names]
    for value, name in zip(values, names, strict=True):
        if isinstance(value, RecordField):
            if value.record not in records:
                records[value.record] = f"{_RECORD_PREFIX}{len(records)}"
                inner.append(f"{value.record} AS {quote_name(records[value.record])}")
            outer.append(f"{quote_name(records[value.record])}{value.field} AS {quote_name(name)}")
        else:
            inner.append(f"{value} AS {quote_name(name)}")
            outer.append(quote_name(name))
    grouped = f"SELECT {', '.join(inner)} FROM {source(compiler, sql)}{group_by}"
    return f"SELECT {', '.join(outer)} FROM ({grouped}) AS {compiler.alias()}"


# A name KQL cannot give a column (a space and a control character): the records' names in _summarize_records.
_RECORD_PREFIX = "_record\x01 "


# Aggregates whose DuckDB type is fixed: the counts are BIGINT (long).
_COUNTS = frozenset({"count", "countif", "dcount", "dcountif", "count_distinct", "count_distinctif"})


def _sure_aggregate_kind(item: Node, columns: Columns) -> str:
    """The type of a summarize item's one column where its form fixes DuckDB's type: a count is long,
    min()/max() of a column has the column's type; else "unknown"."""
    call = item["value"] if item.kind == "Assignment" and item["name"] is not None else item
    if call.kind != "Call" or call["callee"].kind != "Name":
        return "unknown"
    function, arguments = name_text(call["callee"]), list(call["arguments"]["items"] or [])
    if function in _COUNTS:
        return "long"
    if function in _LISTS:  # coalesce(to_json(list ...), '[]'): JSON (aggregates.aggregate_sql)
        return "dynamic"
    if function in ("min", "max", "any", "take_any") and len(arguments) == 1 and arguments[0].kind == "Name":
        return _column_kind(columns, name_text(arguments[0])) or "unknown"
    return "unknown"


_LISTS = frozenset({"make_set", "makeset", "make_list", "makelist", "make_set_if", "make_list_if"})


def _sure_output_kind(value: str, columns: Columns) -> str:
    """The type of one column of a many-column aggregate where it is an input column read as it is: a record
    field holding the column (arg_max's and take_any's returned columns), or max()/min() of the column
    (arg_max's ExprToMaximize); else "unknown". Not for dynamic columns, whose max() DuckDB may retype."""
    if isinstance(value, RecordField):
        source = value.source
    else:
        read = call_arguments(value, "max") or call_arguments(value, "min")
        source = read[0] if read and len(read) == 1 else None
    kind = next((kind for column, kind in columns if quote_name(column) == source), None)
    return kind if kind is not None and kind != "dynamic" else "unknown"


def _index_of_by(node: Node) -> int:
    for index, child in enumerate(node.children):
        if isinstance(child, Token) and child.text == "by":
            return index
    return len(node.children)


def top_nested(compiler: Compiler, node: Node, sql: str) -> str:
    """Each level groups by its expression inside the groups the previous level kept, aggregates,
    and keeps the top N groups per parent by the aggregate (desc unless asc)."""
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
        aggregate_sql = sql_of_aggregate(compiler, name_text(call["callee"]), list(call["arguments"]["items"] or []),
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


# ----------------------------------------------------------------- joins and unions
def join(compiler: Compiler, node: Node, sql: str) -> str:
    left_columns = compiler.columns(sql)
    right_sql = compiler.tabular(node["right"])
    right_columns = compiler.columns(right_sql)
    kind = "innerunique"
    for child in node.children:
        if isinstance(child, Node) and child.kind == "Parameter":
            tokens = list(child.tokens())
            if tokens[0].text == "kind":
                kind = tokens[2].text.lower()
    conditions = [c for c in node.children if isinstance(c, Node) and c.kind == "List"]
    if not conditions:
        raise compiler.unsupported("join without 'on' keys", node)
    pairs: list[tuple[str, str]] = []
    for condition in conditions[0]["items"] or []:
        pairs += join_keys(compiler, condition)
    lookup = node.kind == "Lookup"
    if lookup and kind == "innerunique":
        kind = "leftouter"
    left_alias, right_alias = compiler.alias(), compiler.alias()
    on = " AND ".join(f"{left_alias}.{quote_name(l)} = {right_alias}.{quote_name(r)}" for l, r in pairs)  # noqa: E741
    left_source = sql
    if kind == "innerunique":  # Kusto de-duplicates the left side on the join keys
        left_source = first_per_key(compiler, sql, left_columns, [l for l, _ in pairs])  # noqa: E741
        kind = "inner"
    # The output's columns are the sides' columns, with their types (a string filled in by an outer join is
    # coalesced to "", still text): known here, not asked of DuckDB by the next operator.
    if kind in ("leftsemi", "leftanti", "semi", "anti", "leftantisemi"):
        negate = "NOT " if "anti" in kind else ""
        result = (f"SELECT {left_alias}.* FROM ({left_source}) AS {left_alias} WHERE {negate}EXISTS "
                  f"(SELECT 1 FROM ({right_sql}) AS {right_alias} WHERE {on})")  # fmt: skip
        compiler.known_columns[result] = left_columns
        return result
    if kind in ("rightsemi", "rightanti", "rightantisemi"):
        negate = "NOT " if "anti" in kind else ""
        result = (f"SELECT {right_alias}.* FROM ({right_sql}) AS {right_alias} WHERE {negate}EXISTS "
                  f"(SELECT 1 FROM ({left_source}) AS {left_alias} WHERE {on})")  # fmt: skip
        compiler.known_columns[result] = right_columns
        return result
    sql_kind = {
        "inner": "JOIN",
        "leftouter": "LEFT JOIN",
        "rightouter": "RIGHT JOIN",
        "fullouter": "FULL JOIN",
    }.get(kind)
    if sql_kind is None:
        raise compiler.unsupported(f"join kind={kind}", node)
    left_nullable = kind in ("rightouter", "fullouter")
    right_nullable = kind in ("leftouter", "fullouter")
    values: list[tuple[str, str]] = []  # (SQL of the value, the column's KQL name)
    kinds: list[str] = []
    for name, type_ in left_columns:
        values.append((nonnull(f"{left_alias}.{quote_name(name)}", type_, left_nullable), name.rstrip(CASE_TWIN)))
        kinds.append(type_)
    taken = {kql for _, kql in values}
    right_names = {name.rstrip(CASE_TWIN) for name, _ in right_columns}
    right_keys = {r for _, r in pairs}
    for name, type_ in right_columns:
        if lookup and name in right_keys:
            continue
        kql = name.rstrip(CASE_TWIN)
        # a name the left side has gets the smallest suffix free on both sides (binder: unique_name)
        target = unique_name(kql, taken | right_names) if kql in taken else kql
        taken.add(target)
        values.append((nonnull(f"{right_alias}.{quote_name(name)}", type_, right_nullable), target))
        kinds.append(type_)
    # names differing only in case stay apart in DuckDB by their twin marks (session.case_twin_names)
    stored = case_twin_names([kql for _, kql in values])
    selects = [f"{value} AS {quote_name(name)}" for (value, _), name in zip(values, stored, strict=True)]
    result = (f"SELECT {', '.join(selects)} FROM ({left_source}) AS {left_alias} {sql_kind} ({right_sql}) "
              f"AS {right_alias} ON {on}")  # fmt: skip
    compiler.known_columns[result] = list(zip(stored, kinds, strict=True))
    return result


def first_per_key(compiler: Compiler, sql: str, columns: Columns, keys: list[str]) -> str:
    """One row of `sql` per distinct value of the keys, the first in input order (innerunique's left side,
    join-operator page: one left row per key, which one not documented). A grouping by the keys with
    first() of a struct of the other columns: DuckDB keeps the keys and one struct per key, not a sort
    of whole rows (with one thread, session.py, first() is the first row in input order). The columns
    keep their order."""
    grouped = set(keys)
    others = [name for name, _ in columns if name not in grouped]
    group_by = ", ".join(quote_name(key) for key in dict.fromkeys(keys))
    if not others:
        return f"SELECT DISTINCT {group_by} FROM {source(compiler, sql)}"
    record = "first(struct_pack(" + ", ".join(f"v{i} := {quote_name(n)}" for i, n in enumerate(others)) + "))"
    position = {name: i for i, name in enumerate(others)}
    record_name = quote_name(f"{_RECORD_PREFIX}0")
    # the struct once per key and its fields read outside: SQL linear in the columns (see _summarize_records)
    firsts = f"SELECT {group_by}, {record} AS {record_name} FROM {source(compiler, sql)} GROUP BY {group_by}"
    selects = [
        quote_name(name) if name in grouped else f"{record_name}['v{position[name]}'] AS {quote_name(name)}"
        for name, _ in columns
    ]
    return f"SELECT {', '.join(selects)} FROM ({firsts}) AS {compiler.alias()}"


def join_keys(compiler: Compiler, condition: Node) -> list[tuple[str, str]]:
    return [pair for part in operands(condition, ("and",)) for pair in join_key(compiler, part)]


def join_key(compiler: Compiler, condition: Node) -> list[tuple[str, str]]:
    if condition.kind == "Name":
        name = name_text(condition)
        return [(name, name)]
    if condition.kind == "BinaryExpression":
        op = condition["op"].text
        if op == "==":
            sides = {}
            for side in (condition["left"], condition["right"]):
                if side.kind == "MemberAccess" and name_text(side["target"]) in ("$left", "$right"):
                    sides[name_text(side["target"])] = name_text(side["member"])
            if len(sides) == 2:
                return [(sides["$left"], sides["$right"])]
    raise compiler.unsupported("this join condition (use Key or $left.A == $right.B)", condition)
