"""Dynamic (JSON), array, bag and pack functions.

A KQL dynamic value is a DuckDB JSON value here: arrays are turned into JSON[] lists (a JSON
null element becomes a SQL NULL), bags into MAP(VARCHAR, JSON) (keys keep their order), and
back with to_json. Scalars packed into a dynamic take KQL's JSON form: long/int stay integers,
real stays a real (2.0 prints as 2.0), datetime is "2007-01-01T00:00:00.0000000Z" and timespan
"1.02:03:04.5000000" (range-function.md, pack-array-function.md).

Where the reference leaves a case open (a non-array where an array is expected, mixed-type
sort orders, ...), the SQL raises a runtime error (EMU002) instead of guessing an answer.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ...kql.names import name_text, string_value
from ...kql.syntax import Node
from ..errors import EmulatorError, offset_of
from ..sql import is_column, json_str, lambda_name, quote_name
from .registry import register

if TYPE_CHECKING:
    from ..interface import Compiler

Columns = list[tuple[str, str]]

_NUMERIC = "('UBIGINT', 'BIGINT', 'HUGEINT', 'DOUBLE')"
_INTEGERS = ("long", "int")
_NUMBERS = ("long", "int", "real", "decimal")
_MAX_RANGE = 1_048_576  # range(): "a maximum of 1,048,576 (2^20) results"

# Helpers as SQL macros, created on the engine's connection the first time a function here runs.
# Lambda parameters have names no column can have, so a column reference in an argument is never
# captured by a lambda.
_MACROS = [
    # datetime as KQL serialises it into a dynamic: ISO 8601 with 7 fractional digits and Z
    "CREATE OR REPLACE TEMP MACRO kql_dyn_datetime(t) AS strftime(t, '%Y-%m-%dT%H:%M:%S.%f') || '0Z'",
    # timespan as KQL prints it: [-][d.]hh:mm:ss[.fffffff]
    "CREATE OR REPLACE TEMP MACRO kql_dyn_timespan(v) AS list_transform([epoch_us(v)], lambda __kdm_u: "
    "CASE WHEN __kdm_u < 0 THEN '-' ELSE '' END "
    "|| CASE WHEN abs(__kdm_u) >= 86400000000 THEN CAST(abs(__kdm_u) // 86400000000 AS VARCHAR) || '.' ELSE '' END "
    "|| lpad(CAST(abs(__kdm_u) // 3600000000 % 24 AS VARCHAR), 2, '0') "
    "|| ':' || lpad(CAST(abs(__kdm_u) // 60000000 % 60 AS VARCHAR), 2, '0') "
    "|| ':' || lpad(CAST(abs(__kdm_u) // 1000000 % 60 AS VARCHAR), 2, '0') "
    "|| CASE WHEN abs(__kdm_u) % 1000000 <> 0 THEN '.' || lpad(CAST(abs(__kdm_u) % 1000000 AS VARCHAR), 6, '0') "
    "|| '0' ELSE '' END)[1]",
    # the JSON type of a dynamic value; NULL and JSON null are both 'NULL'
    "CREATE OR REPLACE TEMP MACRO kql_dyn_type(x) AS coalesce(json_type(CAST(x AS JSON)), 'NULL')",
    # dynamic -> JSON[] when it is an array, else NULL
    "CREATE OR REPLACE TEMP MACRO kql_dyn_list(x) AS TRY_CAST(CAST(x AS JSON) AS JSON[])",
    # dynamic -> JSON[]; null stays null, anything else that is not an array is an error
    "CREATE OR REPLACE TEMP MACRO kql_dyn_array(x, fn) AS CASE WHEN kql_dyn_type(x) = 'NULL' THEN NULL "
    "WHEN kql_dyn_type(x) = 'ARRAY' THEN TRY_CAST(CAST(x AS JSON) AS JSON[]) ELSE error('the emulator does not "
    "support ' || fn || ' on a value that is not an array') END",
    # dynamic -> JSON[]; null is an error too (the reference does not say what it gives)
    "CREATE OR REPLACE TEMP MACRO kql_dyn_array_strict(x, fn) AS CASE WHEN kql_dyn_type(x) = 'ARRAY' "
    "THEN TRY_CAST(CAST(x AS JSON) AS JSON[]) ELSE error('the emulator does not support ' || fn "
    "|| ' on a value that is not an array') END",
    # dynamic -> MAP(VARCHAR, JSON) when it is a property bag, else NULL
    "CREATE OR REPLACE TEMP MACRO kql_dyn_bag(x) AS CASE WHEN kql_dyn_type(x) = 'OBJECT' "
    "THEN TRY_CAST(CAST(x AS JSON) AS MAP(VARCHAR, JSON)) END",
    # list with duplicates removed, first occurrences kept in order (session.py: kql_first_seen)
    "CREATE OR REPLACE TEMP MACRO kql_dyn_distinct(l) AS kql_first_seen(l)",
    # property bag from a key list and a value list (keys must be unique)
    "CREATE OR REPLACE TEMP MACRO kql_dyn_object(k, v) AS to_json(map(k, v))",
]


def _var() -> str:
    """A fresh lambda parameter name."""
    return lambda_name("__kd")


def ensure_dynamic_macros(compiler: Compiler) -> None:
    engine = compiler.engine
    if getattr(engine, "_dynamic_macros", None) is engine.connection:
        return
    for macro in _MACROS:
        engine.connection.execute(macro)
    engine._dynamic_macros = engine.connection  # type: ignore[attr-defined]


def _fail(message: str) -> str:
    return "error(" + _sql_string("the emulator does not support " + message) + ")"


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _arity(node: Node, arguments: list[Node], low: int, high: int | None = None) -> None:
    high = low if high is None else high
    if not low <= len(arguments) <= high:
        name = name_text(node["callee"])
        raise EmulatorError("EMU006", f"wrong number of arguments for '{name}'", offset_of(node))


def _compile(compiler: Compiler, argument: Node, columns: Columns) -> tuple[str, str]:
    ensure_dynamic_macros(compiler)
    return compiler.expr(argument, columns)


def to_json(compiler: Compiler, sql: str, kind: str, node: Node | None = None) -> str:
    """A KQL scalar as the JSON value a dynamic holds for it."""
    if kind == "dynamic":
        return f"CAST({sql} AS JSON)"
    if kind in ("string", "guid"):
        return f"to_json(CAST({sql} AS VARCHAR))"
    if kind in _INTEGERS:
        return f"to_json(CAST({sql} AS BIGINT))"
    if kind in ("real", "decimal"):
        return f"to_json(CAST({sql} AS DOUBLE))"
    if kind == "bool":
        return f"to_json(CAST({sql} AS BOOLEAN))"
    if kind == "datetime":
        return f"to_json(kql_dyn_datetime({sql}))"
    if kind == "timespan":
        return f"to_json(kql_dyn_timespan({sql}))"
    if kind == "unknown" and sql == "NULL":
        return "CAST(NULL AS JSON)"
    raise compiler.unsupported(f"a value of type {kind} inside a dynamic value", node)


def _argument_json(compiler: Compiler, argument: Node, columns: Columns) -> str:
    sql, kind = _compile(compiler, argument, columns)
    return to_json(compiler, sql, kind, argument)


def _integer(compiler: Compiler, argument: Node, columns: Columns, what: str) -> str:
    sql, kind = _compile(compiler, argument, columns)
    if kind in _INTEGERS:
        return f"CAST({sql} AS BIGINT)"
    if kind == "dynamic":
        return f"TRY_CAST({json_str(sql)} AS BIGINT)"
    raise compiler.unsupported(f"{what} of type {kind}", argument)


def _dynamic(compiler: Compiler, argument: Node, columns: Columns, what: str) -> str:
    sql, kind = _compile(compiler, argument, columns)
    if kind != "dynamic":
        raise compiler.unsupported(f"{what} of type {kind} (a dynamic value is expected)", argument)
    return sql


def _array(compiler: Compiler, argument: Node, columns: Columns, function: str, strict: bool = False) -> str:
    sql = _dynamic(compiler, argument, columns, f"{function}() of a value")
    macro = "kql_dyn_array_strict" if strict else "kql_dyn_array"
    return f"{macro}({sql}, {_sql_string(function + '()')})"


def _let(value: str, body: Any) -> str:
    """`body(name)` with `name` bound to the value of `value` (evaluated once)."""
    name = _var()
    return f"list_transform([{value}], lambda {name}: {body(name)})[1]"


def _constant(compiler: Compiler, node: Node) -> tuple[bool, Any]:
    """The value of a string or dynamic literal argument: (True, value), else (False, None)."""
    while node.kind == "Parenthesized":
        inner = [c for c in node.children if isinstance(c, Node)]
        if len(inner) != 1:
            return False, None
        node = inner[0]
    if node.kind != "Literal":
        return False, None
    if node["literal"] == "string":
        return True, "".join(string_value(t.text) for t in node.children if not isinstance(t, Node))
    if node["literal"] == "dynamic":
        return True, compiler.json_value(next(c for c in node.children if isinstance(c, Node)))
    return False, None


def _matches(element: str, value: str, kind: str, compiler: Compiler, node: Node) -> str:
    """SQL: the JSON array element equals the KQL scalar value (same type, same value)."""
    if kind in ("string", "guid"):
        return f"(json_type({element}) = 'VARCHAR' AND json_extract_string({element}, '$') = {value})"
    if kind in _NUMBERS:
        return (f"(json_type({element}) IN {_NUMERIC} AND CASE WHEN json_type({element}) = 'DOUBLE' "
                f"THEN TRY_CAST({element} AS DOUBLE) = {value} "
                f"ELSE TRY_CAST({element} AS HUGEINT) = {value} END)")  # fmt: skip
    if kind == "bool":
        return f"(json_type({element}) = 'BOOLEAN' AND TRY_CAST({element} AS BOOLEAN) = {value})"
    if kind == "datetime":
        return f"(json_type({element}) = 'VARCHAR' AND json_extract_string({element}, '$') = kql_dyn_datetime({value}))"
    if kind == "timespan":
        return f"(json_type({element}) = 'VARCHAR' AND json_extract_string({element}, '$') = kql_dyn_timespan({value}))"
    if kind == "dynamic":
        return f"(CAST({element} AS VARCHAR) = CAST(json(CAST({value} AS JSON)) AS VARCHAR))"
    raise compiler.unsupported(f"looking up a value of type {kind} in an array", node)


# ----------------------------------------------------------------- packing


@register("pack_array")
def _pack_array(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # pack-array-function.md: [x, y, z]; pack_array(*) packs all columns
    if not arguments:
        _arity(node, arguments, 1, 64)
    values = []
    for argument in arguments:
        if argument.kind == "Star":
            ensure_dynamic_macros(compiler)
            values += [to_json(compiler, quote_name(name), kind, argument) for name, kind in columns]
        else:
            values.append(_argument_json(compiler, argument, columns))
    return f"json_array({', '.join(values)})", "dynamic"


def _bag_key(compiler: Compiler, argument: Node, columns: Columns) -> str:
    sql, kind = _compile(compiler, argument, columns)
    if kind == "string":
        return sql
    if kind == "dynamic":
        not_string = _fail("a property bag key that is not a string")
        return f"CASE WHEN kql_dyn_type({sql}) = 'VARCHAR' THEN {json_str(sql)} ELSE {not_string} END"
    raise compiler.unsupported(f"a property bag key of type {kind}", argument)


@register("bag_pack", "pack", "pack_dictionary")
def _bag_pack(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # pack-function.md: bag_pack("Level", "Information", "ProcessID", 1234) -> {"Level":..., "ProcessID":1234}
    if len(arguments) % 2:
        raise EmulatorError("EMU006", f"'{name_text(node['callee'])}' takes key/value pairs", offset_of(node))
    if not arguments:
        return "json_object()", "dynamic"
    keys = [_bag_key(compiler, arguments[i], columns) for i in range(0, len(arguments), 2)]
    values = [_argument_json(compiler, arguments[i], columns) for i in range(1, len(arguments), 2)]
    return f"kql_dyn_object([{', '.join(keys)}], [{', '.join(values)}])", "dynamic"


@register("bag_pack_columns")
def _bag_pack_columns(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # bag-pack-columns-function.md: the column name is the property name
    _arity(node, arguments, 1, 1000)
    keys, values = [], []
    for argument in arguments:
        if argument.kind != "Name":
            raise compiler.unsupported("bag_pack_columns() of something other than a column", argument)
        keys.append(_sql_string(name_text(argument)))
        values.append(_argument_json(compiler, argument, columns))
    return f"kql_dyn_object([{', '.join(keys)}], [{', '.join(values)}])", "dynamic"


@register("pack_all")
def _pack_all(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # pack-all-function.md: every column of the row; pack_all(true) leaves out null and empty ones
    _arity(node, arguments, 0, 1)
    ensure_dynamic_macros(compiler)
    if not columns:
        return "json_object()", "dynamic"
    entries = [
        f"{{'k': {_sql_string(name)}, 'v': {to_json(compiler, quote_name(name), kind, node)}}}"
        for name, kind in columns
    ]
    listed = f"[{', '.join(entries)}]"
    if arguments:
        ignore, kind = compiler.expr(arguments[0], columns)
        if kind != "bool":
            raise compiler.unsupported(f"pack_all() with an argument of type {kind}", arguments[0])
        entry = _var()
        keep = f"NOT (kql_dyn_type({entry}.v) = 'NULL' OR CAST({entry}.v AS VARCHAR) = '\"\"')"
        listed = f"CASE WHEN {ignore} THEN list_filter({listed}, lambda {entry}: {keep}) ELSE {listed} END"
    entry = _var()
    keys = f"list_transform({listed}, lambda {entry}: {entry}.k)"
    entry2 = _var()
    values = f"list_transform({listed}, lambda {entry2}: {entry2}.v)"
    return f"kql_dyn_object({keys}, {values})", "dynamic"


# ----------------------------------------------------------------- property bags


@register("bag_keys")
def _bag_keys(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # bag-keys-function.md: keys of a bag, [] for {}, null for anything that is not a bag
    _arity(node, arguments, 1)
    bag = _dynamic(compiler, arguments[0], columns, "bag_keys() of a value")
    return f"CASE WHEN kql_dyn_type({bag}) = 'OBJECT' THEN to_json(json_keys(CAST({bag} AS JSON))) END", "dynamic"


@register("bag_merge")
def _bag_merge(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # bag-merge-function.md: all properties; for a key in several bags the leftmost bag's value wins
    _arity(node, arguments, 2, 64)
    bags = []
    for argument in arguments:
        sql = _dynamic(compiler, argument, columns, "bag_merge() of a value")
        bags.append(f"CASE WHEN kql_dyn_type({sql}) = 'OBJECT' THEN kql_dyn_bag({sql}) "
                    f"ELSE {_fail('bag_merge() of a value that is not a property bag')} END")  # fmt: skip

    def merged(names: list[str]) -> str:
        keys = f"kql_dyn_distinct(list_concat({', '.join(f'map_keys({n})' for n in names)}))"
        key = _var()
        pick = " ".join(f"WHEN list_contains(map_keys({n}), {key}) THEN {n}[{key}]" for n in names)
        return f"kql_dyn_object({keys}, list_transform({keys}, lambda {key}: CASE {pick} END))"

    return _let_all(bags, merged), "dynamic"


def _let_all(values: list[str], body: Any) -> str:
    """`body(names)` with each name bound to one of the values."""
    names: list[str] = []

    def build(index: int) -> str:
        if index == len(values):
            return body(names)
        return _let(values[index], lambda name: (names.append(name), build(index + 1))[1])

    return build(0)


_PATH_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*'((?:[^'\\]|\\.)*)'\s*\]|\[\s*\"((?:[^\"\\]|\\.)*)\"\s*\]")


def _key_path(key: str) -> list[str] | None:
    """A key argument as a list of property names: 'a' -> [a], '$.a.b' / "$['a']['b']" -> [a, b]."""
    if not key.startswith("$"):
        return [key]
    parts, position = [], 1
    while position < len(key):
        match = _PATH_PART.match(key, position)
        if match is None:
            return None  # array indexing, wildcards and the like
        parts.append(next(g for g in match.groups() if g is not None))
        position = match.end()
    return parts or None


def _literal_keys(compiler: Compiler, argument: Node, many: bool) -> list[list[str]] | None:
    known, value = _constant(compiler, argument)
    if not known:
        return None
    values = value if many else [value]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise compiler.unsupported("these keys (a string or an array of strings is expected)", argument)
    paths = [_key_path(v) for v in values]
    if any(p is None for p in paths):
        raise compiler.unsupported("a JSONPath key with array indexing or wildcards", argument)
    return paths  # type: ignore[return-value]


def _runtime_key(key: str) -> str:
    """A key computed at run time is a root-level name; a JSONPath one is refused when it occurs."""
    return f"CASE WHEN starts_with({key}, '$') THEN {_fail('a JSONPath key that is not a constant')} ELSE {key} END"


@register("bag_has_key")
def _bag_has_key(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # bag-has-key-function.md: bag_has_key(bag, 'key2') / bag_has_key(bag, '$.key2.prop1')
    _arity(node, arguments, 2)
    bag = _dynamic(compiler, arguments[0], columns, "bag_has_key() of a value")
    paths = _literal_keys(compiler, arguments[1], many=False)
    if paths is None:
        key, kind = compiler.expr(arguments[1], columns)
        if kind != "string":
            raise compiler.unsupported(f"bag_has_key() with a key of type {kind}", arguments[1])
        return (f"coalesce(kql_dyn_type({bag}) = 'OBJECT' AND list_contains(json_keys(CAST({bag} AS JSON)), "
                f"{_runtime_key(key)}), false)"), "bool"  # fmt: skip
    current, checks = f"CAST({bag} AS JSON)", []
    for part in paths[0]:
        checks.append(f"kql_dyn_type({current}) = 'OBJECT'")
        checks.append(f"list_contains(json_keys({current}), {_sql_string(part)})")
        current = f"kql_dyn_bag({current})[{_sql_string(part)}]"
    return f"coalesce(({' AND '.join(checks)}), false)", "bool"


@register("bag_remove_keys")
def _bag_remove_keys(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # bag-remove-keys-function.md: root keys, or nested ones in JSONPath notation ('$.key2.prop1')
    _arity(node, arguments, 2)
    bag = _dynamic(compiler, arguments[0], columns, "bag_remove_keys() of a value")
    paths = _literal_keys(compiler, arguments[1], many=True)
    guard = (f"CASE WHEN kql_dyn_type({bag}) = 'NULL' THEN NULL WHEN kql_dyn_type({bag}) <> 'OBJECT' "
             f"THEN {_fail('bag_remove_keys() of a value that is not a property bag')} ELSE ")  # fmt: skip
    if paths is None:
        keys = _array(compiler, arguments[1], columns, "bag_remove_keys", strict=True)
        key = _var()
        names = (
            f"list_transform({keys}, lambda {key}: {_runtime_key(f'json_extract_string({key}, {chr(39)}${chr(39)})')})"
        )

        def removed(m: str) -> str:
            k = _var()
            kept = f"list_filter(map_keys({m}), lambda {k}: NOT list_contains({names}, {k}))"
            k2 = _var()
            return f"kql_dyn_object({kept}, list_transform({kept}, lambda {k2}: {m}[{k2}]))"

        return guard + _let(f"kql_dyn_bag({bag})", removed) + " END", "dynamic"
    return guard + _remove_paths(f"CAST({bag} AS JSON)", paths) + " END", "dynamic"


def _remove_paths(json_sql: str, paths: list[list[str]]) -> str:
    root = sorted({p[0] for p in paths if len(p) == 1})
    nested: dict[str, list[list[str]]] = {}
    for path in paths:
        if len(path) > 1 and path[0] not in root:
            nested.setdefault(path[0], []).append(path[1:])

    def body(m: str) -> str:
        k = _var()
        removed = ", ".join(_sql_string(r) for r in root)
        kept = f"list_filter(map_keys({m}), lambda {k}: NOT list_contains([{removed}]::VARCHAR[], {k}))"
        k2 = _var()
        cases = " ".join(
            f"WHEN {k2} = {_sql_string(name)} THEN CASE WHEN kql_dyn_type({m}[{k2}]) = 'OBJECT' "
            f"THEN {_remove_paths(f'{m}[{k2}]', sub)} ELSE {m}[{k2}] END"
            for name, sub in nested.items()
        )
        value = f"CASE {cases} ELSE {m}[{k2}] END" if cases else f"{m}[{k2}]"
        return f"kql_dyn_object({kept}, list_transform({kept}, lambda {k2}: {value}))"

    return _let(f"kql_dyn_bag({json_sql})", body)


@register("bag_set_key")
def _bag_set_key(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # bag-set-key-function.md: sets (or overrides) the key, '$.a.b' creates the inner bags;
    # a value that is not a property bag gives null
    _arity(node, arguments, 3)
    bag = _dynamic(compiler, arguments[0], columns, "bag_set_key() of a value")
    value = _argument_json(compiler, arguments[2], columns)
    paths = _literal_keys(compiler, arguments[1], many=False)
    if paths is None:
        key, kind = compiler.expr(arguments[1], columns)
        if kind != "string":
            raise compiler.unsupported(f"bag_set_key() with a key of type {kind}", arguments[1])
        path_sql = [_runtime_key(key)]
    else:
        path_sql = [_sql_string(p) for p in paths[0]]
    return (
        f"CASE WHEN kql_dyn_type({bag}) = 'OBJECT' THEN {_set_path(f'CAST({bag} AS JSON)', path_sql, value)} END",
        "dynamic",
    )


def _set_path(json_sql: str, path: list[str], value: str) -> str:
    def body(m: str) -> str:
        key = path[0]
        if len(path) == 1:
            new = value
        else:
            inner = (f"CASE WHEN NOT list_contains(map_keys({m}), {key}) THEN CAST('{{}}' AS JSON) "
                     f"WHEN kql_dyn_type({m}[{key}]) = 'OBJECT' THEN {m}[{key}] "
                     f"ELSE {_fail('bag_set_key() through a value that is not a property bag')} END")  # fmt: skip
            new = _set_path(inner, path[1:], value)
        keys = f"list_concat(map_keys({m}), CASE WHEN list_contains(map_keys({m}), {key}) THEN [] ELSE [{key}] END)"
        k = _var()
        values = f"list_transform({keys}, lambda {k}: CASE WHEN {k} = {key} THEN {new} ELSE {m}[{k}] END)"
        return f"kql_dyn_object({keys}, {values})"

    return _let(f"kql_dyn_bag({json_sql})", body)


@register("bag_zip")
def _bag_zip(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # bag-zip.md: keys that are not strings are skipped, missing values are null, extra values ignored,
    # values that are not an array give null values, keys that are not an array give null
    _arity(node, arguments, 2)
    keys = _dynamic(compiler, arguments[0], columns, "bag_zip() of a value")
    values = _dynamic(compiler, arguments[1], columns, "bag_zip() of a value")

    def body(names: list[str]) -> str:
        k, v = names
        entry, index = _var(), _var()
        pairs = (f"list_filter(list_transform({k}, lambda {entry}, {index}: {{'k': CASE WHEN json_type({entry}) = "
                 f"'VARCHAR' THEN json_extract_string({entry}, '$') END, 'v': {v}[{index}]}}), "
                 f"lambda {entry}: {entry}.k IS NOT NULL)")  # fmt: skip
        p1, p2 = _var(), _var()
        return _let(
            pairs,
            lambda p: (
                f"kql_dyn_object(list_transform({p}, lambda {p1}: {p1}.k), list_transform({p}, lambda {p2}: {p2}.v))"
            ),
        )

    return _let_all([f"kql_dyn_list({keys})", f"kql_dyn_list({values})"], body), "dynamic"


# ----------------------------------------------------------------- arrays


@register("array_length", "arraylength")
def _array_length(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # array-length-function.md: the number of elements, null when the value is not an array
    _arity(node, arguments, 1)
    value = _dynamic(compiler, arguments[0], columns, "array_length() of a value")
    return f"CASE WHEN kql_dyn_type({value}) = 'ARRAY' THEN json_array_length(CAST({value} AS JSON)) END", "long"


@register("array_concat")
def _array_concat(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # array-concat-function.md: [1,2,4] + [1,2] -> [1,2,4,1,2]
    _arity(node, arguments, 1, 64)
    lists = [_array(compiler, a, columns, "array_concat", strict=True) for a in arguments]
    return f"to_json(list_concat({', '.join(lists)}))" if len(lists) > 1 else f"to_json({lists[0]})", "dynamic"


@register("array_reverse")
def _array_reverse(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # array-reverse-function.md: ["this","is","an","example"] -> ["example","an","is","this"]
    _arity(node, arguments, 1)
    return f"to_json(list_reverse({_array(compiler, arguments[0], columns, 'array_reverse')}))", "dynamic"


def _rotate(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node, sign: int) -> tuple[str, str]:
    _arity(node, arguments, 2)
    name = "array_rotate_left" if sign > 0 else "array_rotate_right"
    array = _array(compiler, arguments[0], columns, name)
    count = _integer(compiler, arguments[1], columns, f"{name}() by a count")
    element, index = _var(), _var()

    def body(names: list[str]) -> str:
        items, shift = names
        length = f"len({items})"
        source = f"((({index} - 1 + {sign} * {shift}) % {length} + {length}) % {length}) + 1"
        return f"to_json(list_transform({items}, lambda {element}, {index}: {items}[{source}]))"

    return _let_all([array, count], body), "dynamic"


@register("array_rotate_left")
def _array_rotate_left(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # array-rotate-left-function.md: [1,2,3,4,5] by 2 -> [3,4,5,1,2]; by -2 -> [4,5,1,2,3]
    return _rotate(compiler, arguments, columns, node, 1)


@register("array_rotate_right")
def _array_rotate_right(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # array-rotate-right-function.md: [1,2,3,4,5] by 2 -> [4,5,1,2,3]; by -2 -> [3,4,5,1,2]
    return _rotate(compiler, arguments, columns, node, -1)


def _shift(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node, sign: int) -> tuple[str, str]:
    _arity(node, arguments, 2, 3)
    name = "array_shift_left" if sign > 0 else "array_shift_right"
    array = _array(compiler, arguments[0], columns, name)
    count = _integer(compiler, arguments[1], columns, f"{name}() by a count")
    default = _argument_json(compiler, arguments[2], columns) if len(arguments) > 2 else None
    element, index = _var(), _var()

    def body(names: list[str]) -> str:
        items, shift = names
        source = f"{index} + {sign} * {shift}"
        fill = default
        if fill is None:  # "null or an empty string depending on the type of elements"
            e = _var()
            strings = f"list_bool_or(list_transform({items}, lambda {e}: json_type({e}) = 'VARCHAR'))"
            fill = (f"CASE WHEN coalesce({strings}, false) THEN "
                    f"{_fail(f'{name}() of an array of strings without a default value')} END")  # fmt: skip
        shifted = f"CASE WHEN {source} BETWEEN 1 AND len({items}) THEN {items}[{source}] ELSE {fill} END"
        return f"to_json(list_transform({items}, lambda {element}, {index}: {shifted}))"

    return _let_all([array, count], body), "dynamic"


@register("array_shift_left")
def _array_shift_left(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # array-shift-left-function.md: [1,2,3,4,5] by 2 -> [3,4,5,null,null]; with -1 -> [3,4,5,-1,-1]
    return _shift(compiler, arguments, columns, node, 1)


@register("array_shift_right")
def _array_shift_right(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # array-shift-right-function.md: [1,2,3,4,5] by 2 -> [null,null,1,2,3]
    return _shift(compiler, arguments, columns, node, -1)


@register("array_slice")
def _array_slice(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # array-slice-function.md: inclusive [start..end], negative indices count from the end,
    # out-of-bounds indices are ignored
    _arity(node, arguments, 3)
    array = _array(compiler, arguments[0], columns, "array_slice")
    start = _integer(compiler, arguments[1], columns, "array_slice() from an index")
    end = _integer(compiler, arguments[2], columns, "array_slice() to an index")

    def body(names: list[str]) -> str:
        items, first, last = names
        length = f"len({items})"
        first = f"greatest(CASE WHEN {first} < 0 THEN {length} + {first} ELSE {first} END, 0)"
        last = f"least(CASE WHEN {last} < 0 THEN {length} + {last} ELSE {last} END, {length} - 1)"
        return (f"to_json(CASE WHEN {items} IS NULL THEN NULL WHEN {first} > {last} THEN []::JSON[] "
                f"ELSE list_slice({items}, {first} + 1, {last} + 1) END)")  # fmt: skip

    return _let_all([array, start, end], body), "dynamic"


@register("array_split")
def _array_split(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # array-split-function.md: [1,2,3,4,5] at [1,3] -> [[1],[2,3],[4,5]]; negative indices count from the end
    _arity(node, arguments, 2)
    array = _array(compiler, arguments[0], columns, "array_split")
    sql, kind = compiler.expr(arguments[1], columns)
    if kind in _INTEGERS:
        indices = f"[CAST({sql} AS BIGINT)]"
    elif kind == "dynamic":
        e = _var()
        indices = (f"list_transform(kql_dyn_array_strict({sql}, 'array_split()'), lambda {e}: CASE WHEN "
                   f"json_type({e}) IN ('UBIGINT', 'BIGINT') THEN TRY_CAST({e} AS BIGINT) ELSE "
                   f"{_fail('array_split() at an index that is not an integer')} END)")  # fmt: skip
    else:
        raise compiler.unsupported(f"array_split() at an index of type {kind}", arguments[1])

    def body(names: list[str]) -> str:
        items, raw = names
        length = f"len({items})"
        i = _var()
        absolute = f"list_transform({raw}, lambda {i}: CASE WHEN {i} < 0 THEN {length} + {i} ELSE {i} END)"

        def cut(bounds: str) -> str:
            k, a = _var(), _var()
            ordered = (f"list_bool_and(list_transform(list_zip({bounds}[1:-2], {bounds}[2:]), "
                       f"lambda {a}: {a}[1] <= {a}[2]))")  # fmt: skip
            pieces = (f"list_transform(range(1, len({bounds})), lambda {k}: "
                      f"list_slice({items}, {bounds}[{k}] + 1, {bounds}[{k} + 1]))")  # fmt: skip
            wrong = _fail("array_split() at indices out of order or out of the array")
            return f"CASE WHEN {items} IS NULL THEN NULL WHEN NOT {ordered} THEN {wrong} ELSE to_json({pieces}) END"

        return _let(f"list_concat([0], {absolute}, [{length}])", cut)

    return _let_all([array, indices], body), "dynamic"


@register("array_sum")
def _array_sum(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # array-sum-function.md: [1,2,3,4] -> 10 (a real); null if an element is not numeric
    _arity(node, arguments, 1)
    array = _array(compiler, arguments[0], columns, "array_sum")

    def body(items: str) -> str:
        e1, e2, e3 = _var(), _var(), _var()
        has_null = f"list_bool_or(list_transform({items}, lambda {e1}: {e1} IS NULL))"
        numeric = f"list_bool_and(list_transform({items}, lambda {e2}: json_type({e2}) IN {_NUMERIC}))"
        total = f"list_sum(list_transform({items}, lambda {e3}: TRY_CAST({e3} AS DOUBLE)))"
        return (f"CASE WHEN {items} IS NULL THEN NULL "
                f"WHEN len({items}) = 0 THEN {_fail('array_sum() of an empty array')} "
                f"WHEN {has_null} THEN {_fail('array_sum() of an array with nulls')} "
                f"WHEN {numeric} THEN {total} END")  # fmt: skip

    return _let(array, body), "real"


@register("array_iff", "array_iif")
def _array_iff(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # array-iff-function.md: element-wise iff; numbers are true when not 0, other conditions give null,
    # when_true / when_false may be arrays (missing elements are null) or scalars
    _arity(node, arguments, 3)
    condition = _array(compiler, arguments[0], columns, "array_iff")
    branches = []
    for argument in arguments[1:]:
        sql, kind = _compile(compiler, argument, columns)
        branches.append((sql, kind, to_json(compiler, sql, kind, argument)))
    c, i = _var(), _var()

    def pick(sql: str, kind: str, json_sql: str) -> str:
        if kind != "dynamic":
            return json_sql
        return f"CASE WHEN kql_dyn_type({sql}) = 'ARRAY' THEN kql_dyn_list({sql})[{i}] ELSE CAST({sql} AS JSON) END"

    when_true, when_false = pick(*branches[0]), pick(*branches[1])
    truth = (f"CASE WHEN json_type({c}) = 'BOOLEAN' THEN TRY_CAST({c} AS BOOLEAN) "
             f"WHEN json_type({c}) IN {_NUMERIC} THEN TRY_CAST({c} AS DOUBLE) <> 0 END")  # fmt: skip
    element = f"CASE WHEN {truth} THEN {when_true} WHEN NOT {truth} THEN {when_false} END"
    return f"to_json(list_transform({condition}, lambda {c}, {i}: {element}))", "dynamic"


@register("array_index_of")
def _array_index_of(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # array-index-of-function.md: zero-based position or -1; start < 0 counts from the end,
    # length -1 is unlimited; null for occurrence < 0 or length < -1
    _arity(node, arguments, 2, 5)
    array = _array(compiler, arguments[0], columns, "array_index_of")
    value, kind = _compile(compiler, arguments[1], columns)
    start = _integer(compiler, arguments[2], columns, "array_index_of() from a start") if len(arguments) > 2 else "0"
    length = _integer(compiler, arguments[3], columns, "array_index_of() a length") if len(arguments) > 3 else "-1"
    occurrence = (
        _integer(compiler, arguments[4], columns, "array_index_of() an occurrence") if len(arguments) > 4 else "1"
    )

    def body(names: list[str]) -> str:
        items, wanted, first, count, nth = names
        e, i, p = _var(), _var(), _var()
        origin = f"CASE WHEN {first} < 0 THEN len({items}) + {first} ELSE {first} END"
        inside = f"{i} - 1 >= {origin} AND ({count} = -1 OR {i} - 1 < {origin} + {count})"
        hit = _matches(e, wanted, kind, compiler, arguments[1])
        found = (f"list_filter(list_transform({items}, lambda {e}, {i}: CASE WHEN {inside} AND coalesce({hit}, false) "
                 f"THEN {i} - 1 END), lambda {p}: {p} IS NOT NULL)")  # fmt: skip
        return (f"CASE WHEN {items} IS NULL OR {wanted} IS NULL THEN NULL WHEN {nth} < 0 OR {count} < -1 THEN NULL "
                f"WHEN {nth} = 0 THEN {_fail('array_index_of() of occurrence 0')} "
                f"WHEN {origin} < 0 THEN {_fail('array_index_of() from a start before the array')} "
                f"ELSE coalesce({found}[{nth}], -1) END")  # fmt: skip

    return _let_all([array, value, start, length, occurrence], body), "long"


def _sorted_arrays(
    compiler: Compiler, arguments: list[Node], columns: Columns, node: Node, descending: bool
) -> list[str]:
    """The arrays array_sort_asc/desc returns: the first sorted (numbers before strings; nulls last unless
    nulls_last is false), each other one in the order the first's elements moved to, or null where its
    length differs from the first's (array-sort-asc-function.md, "Returns")."""
    name = "array_sort_desc" if descending else "array_sort_asc"
    _arity(node, arguments, 1, 65)
    nulls_last = "true"
    arrays = list(arguments)
    if len(arrays) > 1:
        sql, kind = _compile(compiler, arrays[-1], columns)
        if kind == "bool":
            nulls_last, arrays = sql, arrays[:-1]
    lists = [_array(compiler, array, columns, name) for array in arrays]
    e, i, t = _var(), _var(), _var()
    null_rank = (
        f"CASE WHEN {nulls_last} THEN 3 ELSE 0 END" if not descending else f"CASE WHEN {nulls_last} THEN 0 ELSE 3 END"
    )
    other = _fail(f"{name}() of booleans, arrays or property bags (their order is not documented)")
    rank = (f"CASE WHEN {e} IS NULL THEN {null_rank} WHEN json_type({e}) IN {_NUMERIC} THEN 1 "
            f"WHEN json_type({e}) = 'VARCHAR' THEN 2 ELSE {other} END")  # fmt: skip
    # 'i' keeps equal elements in their order (negated for a descending sort); 'p' is the element's position
    key = (f"{{'r': {rank}, 'n': CASE WHEN json_type({e}) IN {_NUMERIC} THEN TRY_CAST({e} AS DOUBLE) END, "
           f"'s': CASE WHEN json_type({e}) = 'VARCHAR' THEN json_extract_string({e}, '$') END, "
           f"'i': {'-' if descending else ''}{i}, 'p': {i}, 'v': {e}}}")  # fmt: skip
    order = ", 'DESC'" if descending else ""

    def checked(items: str, result: str) -> str:
        if not descending:
            return result
        x, y = _var(), _var()
        numbers = f"list_bool_or(list_transform({items}, lambda {x}: json_type({x}) IN {_NUMERIC}))"
        strings = f"list_bool_or(list_transform({items}, lambda {y}: json_type({y}) = 'VARCHAR'))"
        mixed = _fail(f"{name}() of numbers mixed with strings (the descending order of types is not documented)")
        return f"CASE WHEN coalesce({numbers} AND {strings}, false) THEN {mixed} ELSE {result} END"

    def keyed(items: str) -> str:
        return f"list_sort(list_transform({items}, lambda {e}, {i}: {key}){order})"

    def first(items: str) -> str:
        return checked(items, f"to_json(list_transform({keyed(items)}, lambda {t}: {t}.v))")

    def follower(names: list[str]) -> str:
        items, other_items = names
        moved = f"to_json(list_transform({keyed(items)}, lambda {t}: {other_items}[{t}.p]))"
        return checked(items, f"CASE WHEN len({other_items}) = len({items}) THEN {moved} END")

    return [_let(lists[0], first)] + [_let_all([lists[0], other_list], follower) for other_list in lists[1:]]


def sorted_arrays(compiler: Compiler, call: Node, columns: Columns) -> list[str]:
    """The SQL of each array `array_sort_asc(a, b, ...)` / array_sort_desc returns (the caller has checked the
    call's function)."""
    function = name_text(call["callee"])
    return _sorted_arrays(compiler, list(call["arguments"]["items"] or []), columns, call, function.endswith("desc"))


def sorted_array_at(compiler: Compiler, call: Node, index: Node, columns: Columns) -> str | None:
    """`array_sort_asc(a, b, ...)[k]` (array_sort_desc too): the k-th of the arrays it returns, as the
    reference's example `array_sort_asc(timestamps, commands)[1]` reads the commands in the timestamps'
    order. None where the call sorts one array (then [k] is an element of it) or is not such a call."""
    if call.kind != "Call" or call["callee"].kind != "Name":
        return None
    function = name_text(call["callee"])
    if function not in ("array_sort_asc", "array_sort_desc"):
        return None
    arrays = sorted_arrays(compiler, call, columns)
    if len(arrays) == 1:
        return None
    text = index.text().strip()
    if not text.isdigit() or int(text) >= len(arrays):
        raise compiler.unsupported(f"{function}() of several arrays read at an index other than 0 to {len(arrays) - 1}",
                                   index)  # fmt: skip
    return arrays[int(text)]


def _sort(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node, descending: bool) -> tuple[str, str]:
    arrays = _sorted_arrays(compiler, arguments, columns, node, descending)
    if len(arrays) > 1:
        name = "array_sort_desc" if descending else "array_sort_asc"
        raise compiler.unsupported(f"{name}() of several arrays (one result column per array)", node)
    return arrays[0], "dynamic"


@register("array_sort_asc")
def _array_sort_asc(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # array-sort-asc-function.md: numbers before strings; nulls last unless nulls_last is false
    return _sort(compiler, arguments, columns, node, descending=False)


@register("array_sort_desc")
def _array_sort_desc(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # array-sort-desc-function.md: ["yellow","green","blue",null,null]; with false the nulls come first
    return _sort(compiler, arguments, columns, node, descending=True)


@register("zip")
def _zip(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # zip-function.md: [[1,2],[3,4],[5,6]]; a shorter array gives null elements
    _arity(node, arguments, 2, 16)
    arrays = [_array(compiler, a, columns, "zip", strict=True) for a in arguments]

    def body(names: list[str]) -> str:
        k = _var()
        longest = f"greatest({', '.join(f'len({n})' for n in names)})"
        tuple_ = f"json_array({', '.join(f'{n}[{k}]' for n in names)})"
        return f"to_json(list_transform(range(1, {longest} + 1), lambda {k}: {tuple_}))"

    return _let_all(arrays, body), "dynamic"


@register("repeat")
def _repeat(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # repeat-function.md: repeat(1, 3) -> [1,1,1]; count 0 -> []; count < 0 -> null
    _arity(node, arguments, 2)
    sql, kind = _compile(compiler, arguments[0], columns)
    if kind == "dynamic":
        raise compiler.unsupported("repeat() of a dynamic value", arguments[0])
    value = to_json(compiler, sql, kind, arguments[0])
    count = _integer(compiler, arguments[1], columns, "repeat() a count")
    k = _var()
    return (f"CASE WHEN {count} < 0 THEN NULL ELSE to_json(list_transform(range(0, {count}), "
            f"lambda {k}: {value})) END"), "dynamic"  # fmt: skip


@register("range")
def _range(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # range-function.md: range(1, 8, 3) -> [1,4,7]; step 1 by default (1h for datetime and timespan);
    # datetimes print as "2007-01-01T00:00:00.0000000Z"; at most 2^20 elements
    _arity(node, arguments, 2, 3)
    compiled = [_compile(compiler, a, columns) for a in arguments]
    kinds = [k for _, k in compiled]
    start, stop = compiled[0][0], compiled[1][0]
    k = _var()
    if kinds[0] in ("datetime", "timespan"):
        if kinds[1] != kinds[0] or (len(kinds) > 2 and kinds[2] != "timespan"):
            raise compiler.unsupported(f"range() of {', '.join(kinds)}", node)
        step = compiled[2][0] if len(compiled) > 2 else "INTERVAL 1 HOUR"
        count = f"floor((epoch_us({stop}) - epoch_us({start})) / CAST(epoch_us({step}) AS DOUBLE)) + 1"
        zero = f"epoch_us({step}) = 0"
        fmt = "kql_dyn_datetime" if kinds[0] == "datetime" else "kql_dyn_timespan"
        element = f"to_json({fmt}({start} + {k} * {step}))"
    elif all(kind in _NUMBERS for kind in kinds):
        real = any(kind in ("real", "decimal") for kind in kinds)
        duck = "DOUBLE" if real else "BIGINT"
        step = compiled[2][0] if len(compiled) > 2 else "1"
        count = f"floor((CAST({stop} AS DOUBLE) - {start}) / CAST({step} AS DOUBLE)) + 1"
        zero = f"{step} = 0"
        element = f"to_json(CAST({start} AS {duck}) + {k} * CAST({step} AS {duck}))"
    else:
        raise compiler.unsupported(f"range() of {', '.join(kinds)}", node)
    n = _var()
    body = (f"CASE WHEN {zero} THEN {_fail('range() with a step of 0')} WHEN {n} < 1 THEN "
            f"{_fail('range() whose stop comes before its start')} ELSE to_json(list_transform(range(0, "
            f"least({n}, {_MAX_RANGE})), lambda {k}: {element})) END")  # fmt: skip
    return (f"CASE WHEN ({start}) IS NULL OR ({stop}) IS NULL THEN NULL ELSE "
            f"list_transform([CAST({count} AS BIGINT)], lambda {n}: {body})[1] END"), "dynamic"  # fmt: skip


# ----------------------------------------------------------------- sets


def _sets(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node, name: str) -> list[str]:
    _arity(node, arguments, 2, 64)
    return [_array(compiler, a, columns, name, strict=True) for a in arguments]


@register("set_union")
def _set_union(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # set-union-function.md: [1,2,1,4] | [1,2] | [8] -> [1,2,4,8] (first occurrences, in order)
    lists = _sets(compiler, arguments, columns, node, "set_union")
    return f"to_json(kql_dyn_distinct(list_concat({', '.join(lists)})))", "dynamic"


def _members(first: str, others: list[str], keep_present: bool) -> str:
    def body(names: list[str]) -> str:
        e = _var()
        test = " AND ".join(f"list_position({n}, {e}) IS {'NOT ' if keep_present else ''}NULL" for n in names[1:])
        return f"to_json(list_filter(kql_dyn_distinct({names[0]}), lambda {e}: {test}))"

    return _let_all([first, *others], body)


@register("set_intersect")
def _set_intersect(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # set-intersect-function.md: [1,2,1,4] & [1,2] & [8,1] -> [1]
    lists = _sets(compiler, arguments, columns, node, "set_intersect")
    return _members(lists[0], lists[1:], keep_present=True), "dynamic"


@register("set_difference")
def _set_difference(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # set-difference-function.md: [1,2,1,4] \ [1,2] \ [1,2,8] -> [4]
    lists = _sets(compiler, arguments, columns, node, "set_difference")
    return _members(lists[0], lists[1:], keep_present=False), "dynamic"


@register("set_has_element")
def _set_has_element(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # set-has-element-function.md: set_has_element(["this","is","an","example"], "example") -> true
    _arity(node, arguments, 2)
    array = _array(compiler, arguments[0], columns, "set_has_element")
    value, kind = _compile(compiler, arguments[1], columns)

    def body(names: list[str]) -> str:
        items, wanted = names
        e = _var()
        hit = _matches(e, wanted, kind, compiler, arguments[1])
        found = f"list_bool_or(list_transform({items}, lambda {e}: coalesce({hit}, false)))"
        return f"CASE WHEN {items} IS NULL OR {wanted} IS NULL THEN NULL ELSE coalesce({found}, false) END"

    return _let_all([array, value], body), "bool"


@register("jaccard_index")
def _jaccard_index(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # jaccard-index-function.md: |[1,2,3] & [1,2,3,4]| / |[1,2,3] | [1,2,3,4]| = 0.75; duplicates ignored
    _arity(node, arguments, 2)
    lists = [f"kql_dyn_distinct({_array(compiler, a, columns, 'jaccard_index', strict=True)})" for a in arguments]

    def body(names: list[str]) -> str:
        a, b = names
        e = _var()
        common = f"len(list_filter({a}, lambda {e}: list_position({b}, {e}) IS NOT NULL))"
        union = f"(len({a}) + len({b}) - {common})"
        return (f"CASE WHEN {union} = 0 THEN {_fail('jaccard_index() of two empty sets')} "
                f"ELSE CAST({common} AS DOUBLE) / {union} END")  # fmt: skip

    return _let_all(lists, body), "real"


# ----------------------------------------------------------------- conversions and types


def _parse_json_handler(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # parse-json-function.md: a dynamic is used as is, a JSON string is parsed, any other string is
    # kept as a string value; gettype-function.md: parse_json('') is null
    _arity(node, arguments, 1)
    sql, kind = _compile(compiler, arguments[0], columns)
    if kind == "dynamic":
        return sql, "dynamic"
    if kind != "string":  # a typed scalar is held as is (a datetime keeps KQL's JSON form)
        return to_json(compiler, sql, kind, arguments[0]), "dynamic"
    if is_column(sql):
        return f"CASE WHEN {sql} = '' THEN NULL ELSE kql_parse_json({sql}) END", "dynamic"
    # Any other text is read once: written out, each parse_json(tostring(parse_json(...))) would double it.
    return f"kql_parse_json_text({sql})", "dynamic"


register("parse_json", "parsejson", "todynamic", "toobject")(_parse_json_handler)


@register("dynamic_to_json")
def _dynamic_to_json(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # dynamic-to-json-function.md: canonical JSON, property bags with their keys sorted, at every level;
    # a value that is not dynamic is tostring()'d
    _arity(node, arguments, 1)
    sql, kind = _compile(compiler, arguments[0], columns)
    if kind != "dynamic":
        return compiler.as_string(sql, kind), "string"
    # a dynamic string on its own: quoted as inside an array, or tostring()'d? The page does not say.
    string = _fail("dynamic_to_json() of a dynamic string (quoted or not is not documented)")
    return (f"CASE kql_dyn_type({sql}) WHEN 'NULL' THEN '' WHEN 'VARCHAR' THEN {string} "
            f"ELSE {_canonical(sql)} END"), "string"  # fmt: skip


def _canonical(value: str) -> str:
    """SQL text of the JSON value with every bag's keys sorted, at every level, built from json_tree:
    each node's sort path is its ancestors' keys (bags) or indices (arrays); a container also closes
    after all its descendants."""
    nodes, paths, events, parent, child, node = (_var() for _ in range(6))
    step = (f"{{'t': 0, 'k': CASE WHEN {parent}.type = 'OBJECT' THEN {child}.key END, "
            f"'i': CASE WHEN {parent}.type = 'ARRAY' THEN CAST({child}.key AS BIGINT) END}}")  # fmt: skip
    last = f"{paths}.path[-1]"
    text = (f"CASE WHEN {node}.parent IS NOT NULL AND row_number() OVER (PARTITION BY {node}.parent "
            f"ORDER BY {last}) > 1 THEN ',' ELSE '' END "
            f"|| CASE WHEN {last}.k IS NOT NULL THEN CAST(to_json({last}.k) AS VARCHAR) || ':' ELSE '' END "
            f"|| CASE {node}.type WHEN 'OBJECT' THEN '{{' WHEN 'ARRAY' THEN '[' "
            f"ELSE CAST({node}.value AS VARCHAR) END")  # fmt: skip
    return (f"(WITH RECURSIVE {nodes} AS (SELECT * FROM json_tree(CAST({value} AS JSON))), "
            f"{paths} AS (SELECT id, []::STRUCT(t INTEGER, k VARCHAR, i BIGINT)[] AS path FROM {nodes} "
            f"WHERE parent IS NULL UNION ALL SELECT {child}.id, list_append({paths}.path, {step}) "
            f"FROM {paths} JOIN {nodes} AS {child} ON {child}.parent = {paths}.id "
            f"JOIN {nodes} AS {parent} ON {parent}.id = {paths}.id), "
            f"{events} AS (SELECT {paths}.path AS s, {text} AS txt FROM {nodes} AS {node} JOIN {paths} "
            f"ON {paths}.id = {node}.id UNION ALL SELECT list_append({paths}.path, {{'t': 1, 'k': NULL, 'i': NULL}}), "
            f"CASE {node}.type WHEN 'OBJECT' THEN '}}' ELSE ']' END FROM {nodes} AS {node} JOIN {paths} "
            f"ON {paths}.id = {node}.id WHERE {node}.type IN ('OBJECT', 'ARRAY')) "
            f"SELECT string_agg(txt, '' ORDER BY s) FROM {events})")  # fmt: skip


_STATIC_TYPES = {
    "string": "string", "long": "long", "int": "int", "real": "real", "decimal": "decimal", "bool": "bool",
    "datetime": "datetime", "timespan": "timespan", "guid": "guid",
}  # fmt: skip
_JSON_SOURCES = {"parse_json", "parsejson", "todynamic", "toobject"}


def _parsed_json(node: Node) -> bool:
    """The value comes straight from JSON text: parse_json(...), dynamic(...), or a part of one."""
    if node.kind == "Parenthesized":
        inner = [c for c in node.children if isinstance(c, Node)]
        return len(inner) == 1 and _parsed_json(inner[0])
    if node.kind in ("MemberAccess", "ElementAccess"):
        return _parsed_json(node["target"])
    if node.kind == "Literal":
        return node["literal"] == "dynamic"
    return node.kind == "Call" and node["callee"].kind == "Name" and name_text(node["callee"]) in _JSON_SOURCES


@register("gettype")
def _gettype(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # gettype-function.md: "string", "long", "bool", "datetime", "timespan", "real", "guid";
    # parse_json('1') -> "int", ' {"abc":1} ' -> "dictionary", '[1, 2, 3]' -> "array", '' -> "null"
    _arity(node, arguments, 1)
    sql, kind = _compile(compiler, arguments[0], columns)
    if kind in _STATIC_TYPES:
        return _sql_string(_STATIC_TYPES[kind]), "string"
    if kind != "dynamic":
        raise compiler.unsupported(f"gettype() of a value of type {kind}", arguments[0])
    if not _parsed_json(arguments[0]):
        # a dynamic built from KQL values keeps their types (long, datetime, ...), which JSON text loses
        raise compiler.unsupported("gettype() of a dynamic value that does not come straight from JSON", arguments[0])
    value = f"CAST({sql} AS JSON)"
    # "Kusto will parse strings as strongly-typed values if they can be parsed as such" (dynamic.md):
    # a string that could be a number, datetime, timespan or guid is refused
    ambiguous = (f"regexp_matches(json_extract_string({value}, '$'), "
                 r"'^\s*[-+]?[0-9.]|^\s*[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-|^\s*[A-Za-z]{3},? ')")  # fmt: skip
    return (f"CASE kql_dyn_type({value}) WHEN 'NULL' THEN 'null' WHEN 'OBJECT' THEN 'dictionary' "
            f"WHEN 'ARRAY' THEN 'array' WHEN 'BOOLEAN' THEN 'bool' WHEN 'DOUBLE' THEN 'real' "
            f"WHEN 'VARCHAR' THEN CASE WHEN {ambiguous} "
            f"THEN {_fail('gettype() of a string that Kusto may parse as another type')} "
            f"ELSE 'string' END "
            f"ELSE CASE WHEN TRY_CAST({value} AS HUGEINT) BETWEEN -2147483648 AND 2147483647 THEN 'int' "
            f"WHEN TRY_CAST({value} AS HUGEINT) BETWEEN -9223372036854775808 AND 9223372036854775807 THEN 'long' "
            f"ELSE {_fail('gettype() of a number this large')} END END"), "string"  # fmt: skip


@register("estimate_data_size")
def _estimate_data_size(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # estimate-data-size-function.md: a long is 8 bytes, a string its length ((8 + 10) x 10 = 180);
    # other types' sizes are not documented
    _arity(node, arguments, 1, 1000)
    parts = []
    for argument in arguments:
        if argument.kind == "Star":
            selected = [(quote_name(name), kind) for name, kind in columns]
        else:
            selected = [compiler.expr(argument, columns)]
        for sql, kind in selected:
            if kind == "long":
                parts.append(f"CASE WHEN {sql} IS NULL THEN {_fail('estimate_data_size() of a null')} ELSE 8 END")
            elif kind == "string":
                parts.append(f"CASE WHEN strlen({sql}) = length({sql}) THEN length({sql}) "
                             f"ELSE {_fail('estimate_data_size() of a string that is not ASCII')} END")  # fmt: skip
            else:
                raise compiler.unsupported(
                    f"estimate_data_size() of a {kind} value (its size is not documented)", argument
                )
    return f"CAST({' + '.join(parts) or '0'} AS BIGINT)", "long"
