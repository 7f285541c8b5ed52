"""The operators the parser leaves unstructured (a LooseOperator node, its text as tokens): getschema,
partition and scan.

partition runs its sub-query on the rows of each value; scan runs the documented state machine
record by record in Python, each condition and assignment evaluated by DuckDB.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..kql import parse
from ..kql.lexer import Token
from ..kql.syntax import Node
from ..kql.types import normalize_type
from .errors import EmulatorError
from .python_data import distinct_in_order, fetch, scalar_value, table_from_rows
from .sql import DUCK_TYPES, quote_name

if TYPE_CHECKING:
    from .interface import Columns, Compiler


def loose_operator(compiler: Compiler, node: Node, sql: str) -> str:
    handler = LOOSE_OPERATORS.get(node["operator"])
    if handler is None:
        raise compiler.unsupported(f"the '{node['operator']}' operator", node)
    return handler(compiler, node, sql)


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


def sub_pipeline(compiler: Compiler, text: str, source_sql: str, anchor: Node, what: str = "this sub-query") -> str:
    """Compile 'operators' (the text of a sub-query) over source_sql."""
    name = f"__subquery_source_{compiler.counter}"
    compiler.counter += 1
    result = parse(f"{name} | {text}")
    if result.diagnostics:
        raise compiler.unsupported(f"{what} ({result.diagnostics[0].message})", anchor)
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
        compiler.engine.create_temporary("TABLE", marker, "AS SELECT ? AS v", [value])
        value_sql = f"(SELECT v FROM {quote_name(marker)})"
        part = f"SELECT * FROM ({sql}) AS p WHERE {quote_name(column)} IS NOT DISTINCT FROM {value_sql}"
        parts.append(sub_pipeline(compiler, inner, part, node))
    if not parts:
        return f"SELECT * FROM ({sql}) AS {compiler.alias()} WHERE false"
    return " UNION ALL BY NAME ".join(f"SELECT * FROM ({p}) AS {compiler.alias()}" for p in parts)


class _Step:
    def __init__(self, name: str, output: str, condition: str, assignments: list[tuple[str, str]]):
        self.name, self.output, self.condition, self.assignments = name, output, condition, assignments
        self.sql = ""


def split_top(tokens: list[Token], words: set[str]) -> list[tuple[str, list[Token]]]:
    """The tokens cut before each of `words` met where no bracket is open: [(word or '', tokens after it)]."""
    parts: list[tuple[str, list[Token]]] = [("", [])]
    depth = 0
    for token in tokens:
        if token.text in ("(", "[", "{"):
            depth += 1
        elif token.text in (")", "]", "}"):
            depth -= 1
        if depth == 0 and token.text in words:
            parts.append((token.text, []))
        else:
            parts[-1][1].append(token)
    return parts


def _split_top(tokens: list[Token], separator: str) -> list[list[Token]]:
    """Split tokens at separator where no bracket is open (empty parts dropped)."""
    return [part for _, part in split_top(tokens, {separator}) if part]


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
    tokens = _body_tokens(node)
    words = [t.text for t in tokens]
    match_id = None
    position = 0
    if words[:2] == ["with_match_id", "="]:
        match_id, position = words[2], 3
    declared: list[tuple[str, str, Any]] = []
    if position < len(words) and words[position] == "declare":
        end = _closing(tokens, position + 1)
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
