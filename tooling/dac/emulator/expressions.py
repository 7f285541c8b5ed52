"""KQL scalar expressions -> DuckDB SQL: literals, names, operators (comparison, string, arithmetic,
`in`, `has_any`, `between`), property and element access, and calls (the let functions' and those
of functions/). Each compiles to (sql, KQL type).

ExpressionCompiler is a part of compiler.Compiler: what it uses of the rest of the compiler (let
values and functions, tabular subqueries, a relation's columns) is what interface.Compiler offers.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import duckdb

from ..kql.lexer import T, Token
from ..kql.names import name_text, string_literal, string_value
from ..kql.operator_types import BOOL_LITERALS
from ..kql.syntax import Node
from .errors import EmulatorError, offset_of
from .functions import FUNCTIONS
from .functions.dynamic import sorted_array_at
from .functions.udfs import Refused, Udf, ensure_udfs
from .literals import parse_datetime, parse_timespan, timespan_ticks
from .session import CASE_TWIN
from .sql import (
    DUCK_TYPES,
    NOT_CONSTANT,
    SEARCH_SEPARATOR,
    call_arguments,
    contains_pattern,
    joined_texts,
    json_literal_value,
    json_str,
    quote_name,
    searched_texts,
    sql_string,
    string_literal_value,
    text_contains,
    text_has,
)
from .ticks import DATETIME_NS

if TYPE_CHECKING:
    from .interface import Columns


def _interval(delta: dt.timedelta) -> str:
    return f"to_microseconds(CAST({round(delta / dt.timedelta(microseconds=1))} AS BIGINT))"


def _timestamp(value: dt.datetime) -> str:
    return f"TIMESTAMP '{value.isoformat(sep=' ')}'"


# An integer literal as the compiler writes it: 3, CAST(3 AS BIGINT), and negated, (-CAST(1 AS BIGINT)).
_INTEGER = r"-?[0-9]+|CAST\(-?[0-9]+ AS (?:BIGINT|INTEGER)\)"
_CONSTANT_INDEX = re.compile(rf"({_INTEGER})|\(-({_INTEGER})\)")


def _constant_index(sql: str) -> int | None:
    match = _CONSTANT_INDEX.fullmatch(sql)
    if match is None:
        return None
    digits = re.search(r"-?[0-9]+", match[1] or match[2])
    assert digits is not None
    return int(digits[0]) if match[1] else -int(digits[0])


def _member_step(name: str) -> str:
    """The JSON path step to a member: ."name", with a double quote in the name escaped."""
    return '."' + name.replace('"', '\\"') + '"'


def json_read(base: str, step: str) -> str:
    """The dynamic value at `step` (a JSON path step: ."name", [2], [#-1]) of `base`. A read of a read with a
    constant path is one read with both steps (x.a.b[0] is json_extract(x, '$."a"."b"[0]')): the same value,
    and one call for DuckDB to plan rather than one per step."""
    arguments = call_arguments(base, "json_extract")
    if arguments is not None and len(arguments) == 2:
        path = string_literal_value(arguments[1])
        if path is not None and path.startswith("$"):
            return f"json_extract({arguments[0]}, {sql_string(path + step)})"
    return f"json_extract({base}, {sql_string('$' + step)})"


class ExpressionCompiler:
    """Compiles scalar expressions; mixed into compiler.Compiler."""

    def expr(self, node: Node, columns: Columns) -> tuple[str, str]:
        if node.kind in _CHAIN_LINKS:
            return self.chain(node, columns)
        method = _EXPRESSIONS.get(node.kind)
        if method is None:
            raise self.unsupported(f"the expression '{node.text().strip()[:40]}'", node)
        return self.bounded(method(self, node, columns), node)

    def bounded(self, value: tuple[str, str], node: Node) -> tuple[str, str]:
        """Some translations repeat an operand (a comparison with a value that may be null names it three
        times): nested, the SQL would grow exponentially. Past _MAX_SQL characters it is refused."""
        if len(value[0]) > _MAX_SQL:
            raise self.unsupported(
                f"this expression: its SQL would pass {_MAX_SQL // 1_000_000} MB (operands repeated by nested "
                "comparisons, property accesses or let values)",
                node,
            )
        return value

    def e_literal(self, node: Node, columns: Columns) -> tuple[str, str]:
        literal = node["literal"]
        tokens = [t for t in node.children if isinstance(t, Token)]
        if literal == "string":
            return sql_string("".join(string_value(t.text) for t in tokens)), "string"
        if literal == "number":
            text = tokens[0].text
            if text.lower().startswith("0x"):
                return f"CAST({int(text, 16)} AS BIGINT)", "long"
            if any(c in text for c in ".eE"):
                return f"CAST({text} AS DOUBLE)", "real"
            return f"CAST({text} AS BIGINT)", "long"
        if literal == "timespan":
            return self.timespan_literal(tokens[0].text, node), "timespan"
        if literal == "typed_literal":
            return self.typed_literal(tokens[0], node)
        if literal == "dynamic":
            value = self.json_value(next(c for c in node.children if isinstance(c, Node)))
            text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)  # compact, as tostring() prints it
            return f"CAST({sql_string(text)} AS JSON)", "dynamic"
        raise self.unsupported("this literal", node)

    def typed_literal(self, token: Token, node: Node) -> tuple[str, str]:
        word, _, rest = token.text.partition("(")
        word, inner = word.strip(), rest.rsplit(")", 1)[0].strip()
        kind = {"date": "datetime", "time": "timespan", "double": "real", "boolean": "bool"}.get(word, word)
        if inner == "null":
            return f"CAST(NULL AS {DUCK_TYPES.get(kind, 'VARCHAR')})", kind
        try:
            if kind == "datetime":
                value = parse_datetime(inner)
                if getattr(value, "extra_ticks", 0):  # a seventh fractional digit (ticks.py)
                    return f"TIMESTAMP_NS '{value.isoformat(sep=' ')}'", DATETIME_NS
                return _timestamp(value), "datetime"
            if kind == "timespan":
                if re.fullmatch(r"\d+(\.\d+)?[a-z]+", inner):
                    return self.timespan_literal(inner, node), "timespan"
                match = re.fullmatch(r"(-?)(?:(\d+)\.)?(\d+):(\d+):(\d+(?:\.\d+)?)", inner)
                if match:  # [-][d.]hh:mm:ss[.fffffff], as .NET reads a TimeSpan (Microsoft's parser takes the sign)
                    sign, days, hours, minutes, seconds = match.groups()
                    if "." in seconds and seconds.split(".")[1][6:].strip("0"):
                        raise self.unsupported(_SUB_MICROSECOND, node)
                    delta = dt.timedelta(
                        days=int(days or 0), hours=int(hours), minutes=int(minutes), seconds=float(seconds)
                    )
                    return _interval(-delta if sign else delta), "timespan"
            if kind in ("int", "long"):
                return f"CAST({int(inner)} AS {DUCK_TYPES[kind]})", kind
            if kind in ("real", "decimal"):
                return f"CAST({float(inner)} AS DOUBLE)", "real"
            if kind == "bool":
                return ("true" if inner.lower() == "true" else "false"), "bool"
            if kind == "guid":
                return sql_string(inner.lower()), "guid"
        except ValueError:
            pass
        raise EmulatorError("EMU006", f"cannot read the literal {token.text}", token.start)

    def timespan_literal(self, text: str, node: Node) -> str:
        """`1.5h`, `3tick`: exact in ticks; the emulator's intervals hold microseconds, so a literal
        with a 100 ns remainder is refused rather than rounded."""
        ticks = timespan_ticks(text)
        if ticks is None:
            return _interval(parse_timespan(text))
        if ticks % 10:
            raise self.unsupported(_SUB_MICROSECOND, node)
        return f"to_microseconds(CAST({ticks // 10} AS BIGINT))"

    def json_typed(self, token: Token, node: Node) -> Any:
        """A typed literal inside dynamic(): numbers and bools as JSON values, a datetime as the string
        tostring() gives, guids as strings; the rest (timespans) is refused."""
        word, _, rest = token.text.partition("(")
        inner = rest.rsplit(")", 1)[0].strip()
        word = word.strip()
        if inner == "null":
            return None
        try:
            if word in ("datetime", "date"):
                value = parse_datetime(inner)
                return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond:06d}" + (
                    f"{getattr(value, 'extra_ticks', 0)}Z")  # fmt: skip
            if word in ("int", "long"):
                return int(inner)
            if word in ("real", "double"):
                return float(inner)
            if word in ("bool", "boolean") and inner.lower() in ("true", "false"):
                return inner.lower() == "true"
            if word == "guid":
                return inner.lower()
        except ValueError:
            pass
        raise self.unsupported(f"'{token.text}' inside dynamic()", node)

    def json_value(self, node: Node) -> Any:
        if node.kind == "JsonContainer":
            opener = node.children[0].text
            values = [c for c in node.children if isinstance(c, Node)]
            if opener == "[":
                return [self.json_value(v) for v in values]
            keys = [string_value(t.text) for t in node.children if isinstance(t, Token) and t.kind is T.STRING]
            return {k: self.json_value(v) for k, v in zip(keys, values, strict=True)}
        if node.kind == "Literal" and node["literal"] == "dynamic":  # dynamic({...}) nested in a dynamic
            return self.json_value(next(c for c in node.children if isinstance(c, Node)))
        tokens = [t for t in node.tokens()]
        text = "".join(t.text for t in tokens)
        if tokens and tokens[0].kind is T.STRING:
            return "".join(string_value(t.text) for t in tokens)
        if len(tokens) == 1 and tokens[0].kind is T.TYPED_LITERAL:
            return self.json_typed(tokens[0], node)
        if text in ("true", "false"):
            return text == "true"
        if text == "null":
            return None
        try:
            return int(text)
        except ValueError:
            try:
                return float(text)
            except ValueError:
                raise self.unsupported(f"'{text}' inside dynamic()", node) from None

    def e_name(self, node: Node, columns: Columns) -> tuple[str, str]:
        name = name_text(node)
        for column, type_ in columns:
            if column.rstrip(CASE_TWIN) == name:  # CASE_TWIN: see session.py (names differing in case)
                return quote_name(column), type_
        if name in self.scalars:
            return self.scalars[name]
        if self.callable_bare(name) and not self.is_tabular(node):
            return self.inline(name, [], node, columns, tabular=False)
        if name in BOOL_LITERALS:  # true, True, TRUE, ... (the spellings Microsoft's binder reads as bool)
            return name.lower(), "bool"
        if name == "null":
            return "NULL", "unknown"
        if self.row_named_columns:
            # Kusto names the columns of bag_unpack and pivot after the values in the rows: with none that
            # gives this name, Kusto too fails to resolve it. A test must give such rows.
            raise EmulatorError(
                "EMU007",
                f"unknown name '{name}': evaluate bag_unpack and pivot make their columns from the rows, and no "
                f"row of this test makes '{name}' (give the test rows that do)",
                offset_of(node),
            )
        raise EmulatorError("EMU003", f"unknown name '{name}' in the emulator", offset_of(node))

    def e_parenthesized(self, node: Node, columns: Columns) -> tuple[str, str]:
        inner = next(c for c in node.children if isinstance(c, Node))
        if self.is_tabular(inner):
            return self.scalar_subquery(inner)
        sql, kind = self.expr(inner, columns)
        return f"({sql})", kind

    def is_scalar_value(self, node: Node) -> bool:
        """Whether toscalar()'s argument is a scalar expression rather than a table: a literal, a let scalar, or
        a call of a built-in scalar function or of a let function whose body ends in a scalar
        ("toscalar(expression)": a scalar is its own value)."""
        if node.kind == "Literal":
            return True
        if node.kind == "Name":
            return name_text(node) in self.scalars
        if node.kind == "Call" and node["callee"].kind == "Name":
            name = name_text(node["callee"])
            return (name in self.functions or name in FUNCTIONS) and not self.is_tabular(node)
        return False

    def scalar_subquery(self, node: Node) -> tuple[str, str]:
        sql = self.tabular(node)
        columns = self.columns(sql)
        return f"(SELECT {quote_name(columns[0][0])} FROM ({sql}) AS {self.alias()} LIMIT 1)", columns[0][1]

    def e_unary(self, node: Node, columns: Columns) -> tuple[str, str]:
        sql, kind = self.expr(node["operand"], columns)
        return (f"(-{sql})" if node["op"].text == "-" else sql), kind

    def e_member(self, node: Node, columns: Columns) -> tuple[str, str]:
        base, kind = self.expr(node["target"], columns)
        if kind != "dynamic":
            base = f"kql_parse_json({base})" if kind == "string" else base
        return json_read(base, _member_step(name_text(node["member"]))), "dynamic"

    def e_element(self, node: Node, columns: Columns) -> tuple[str, str]:
        several = sorted_array_at(self, node["target"], node["index"], columns)
        if several is not None:  # array_sort_asc(a, b)[1]: one of the arrays, not an element
            return several, "dynamic"
        base, kind = self.expr(node["target"], columns)
        if kind == "string":
            base = f"kql_parse_json({base})"
        index, index_kind = self.expr(node["index"], columns)
        key = string_literal_value(index)
        if index_kind == "string" and key is not None:
            return json_read(base, _member_step(key)), "dynamic"
        number = _constant_index(index)
        if index_kind in ("long", "int") and number is not None:
            return json_read(base, f"[#{number}]" if number < 0 else f"[{number}]"), "dynamic"
        if index_kind == "string":
            return f"json_extract({base}, '$.\"' || {index} || '\"')", "dynamic"
        return (f"json_extract({base}, CASE WHEN {index} < 0 THEN '$[#' || {index} || ']' "
                f"ELSE '$[' || {index} || ']' END)"), "dynamic"  # fmt: skip

    def as_string(self, sql: str, kind: str) -> str:
        if kind == "dynamic":
            return json_str(sql)
        if kind == "string":
            return sql
        if kind in ("datetime", DATETIME_NS):  # tostring(datetime): ISO 8601 with seven fractional digits
            digits = "%f'), 26) || '0Z'" if kind == "datetime" else "%n'), 27) || 'Z'"
            return f"coalesce(left(strftime({sql}, '%Y-%m-%dT%H:%M:%S.{digits}, '')"
        if kind in ("real", "decimal"):  # not DuckDB's rendering of a double: see real_text
            ensure_udfs(self, _UDFS)
            return f"coalesce(kqlm_real_text(CAST({sql} AS DOUBLE)), '')"
        return f"kql_str({sql})"

    def chain(self, node: Node, columns: Columns) -> tuple[str, str]:
        """Binary, `in` and `between` operators nest on the left as deep as a chain (`a or b or c ...`) is
        long: compile the innermost left operand, then each operator outwards, in a loop. A run of one of
        `and`/`or` becomes one flat SQL conjunction, a long run of `+`/`-` (or of `*`/`/`/`%`) a fold:
        DuckDB refuses SQL expressions nested deeper than 1000."""
        links: list[Node] = []
        while node.kind in _CHAIN_LINKS:
            links.append(node)
            node = node["left"]
        links.reverse()  # innermost first: the order of evaluation
        index = 0
        if node.kind == "Star" and links:  # `* has "x"`: the first operator applies to every column
            value, index = self.any_column(links[0], columns), 1
        else:
            value = self.expr(node, columns)
        while index < len(links):
            run = _run(links, index)
            group = _group(links[index])
            if group in ("and", "or"):
                value = self.logical(group, value, run, columns)
            elif group in _FOLDABLE and len(run) > _FOLD_AFTER:
                value = self.fold(value, run, columns)
            else:
                for link in run:
                    value = self.bounded(_CHAIN_LINKS[link.kind](self, link, *value, columns), link)
            index += len(run)
        return self.bounded(value, links[-1])

    def any_column(self, node: Node, columns: Columns) -> tuple[str, str]:
        """`* has "term"`: "the rows in which the word appears in any column" (where-operator), which the
        search page states is what `search "term"` does; `* contains "text"` the same with a substring.
        The row's columns are joined with a separator no term holds, as search joins them."""
        op = node["op"].text if node.kind == "BinaryExpression" else ""
        term = string_literal(node["right"]) if op in ("has", "contains") else None
        if term is None or SEARCH_SEPARATOR in term:
            raise self.unsupported('\'*\' other than in `* has "term"` or `* contains "text"`', node)
        texts = searched_texts(columns, term)
        if not texts:
            return "false", "bool"
        joined = joined_texts(texts)
        return (f"({text_contains(joined, term)})" if op == "contains" else text_has(joined, term)), "bool"

    def logical(self, op: str, left: tuple[str, str], run: list[Node], columns: Columns) -> tuple[str, str]:
        """`a or b or c`: one flat `(coalesce(a, false) OR ...)`; a null bool counts as false in and/or
        (logical operators docs)."""
        terms = [left[0], *(self.expr(link["right"], columns)[0] for link in run)]
        return "(" + f" {op.upper()} ".join(f"coalesce({term}, false)" for term in terms) + ")", "bool"

    def fold(self, left: tuple[str, str], run: list[Node], columns: Columns) -> tuple[str, str]:
        """A long run of arithmetic (`1 + 2 - 3 + ... 10000`) as list_reduce over the right operands: the
        same operations in the same order, without SQL nesting one level per operator. The first step is
        written out; after it every step must keep the running value's type, as it does when all right
        operands have one type (else the run is refused)."""
        ops = [link["op"].text for link in run]
        rights = [self.expr(link["right"], columns) for link in run]
        kinds = {kind for _, kind in rights}
        first, kind = self.arithmetic(ops[0], *left, *rights[0])
        distinct = sorted(set(ops[1:]))
        steps = [self.arithmetic(op, "_kql_acc", kind, "_kql_x.v", rights[0][1]) for op in distinct]
        if len(kinds) > 1 or any(step_kind != kind for _, step_kind in steps):
            raise self.unsupported(
                f"a chain of more than {_FOLD_AFTER} arithmetic operators whose operands are not all of one type",
                run[0]["op"],
            )
        pairs = zip(ops[1:], rights[1:], strict=True)
        items = ", ".join(f"{{'o': {distinct.index(op)}, 'v': {right}}}" for op, (right, _) in pairs)
        step = "CASE _kql_x.o " + " ".join(f"WHEN {i} THEN {sql}" for i, (sql, _) in enumerate(steps)) + " END"
        return f"list_reduce([{items}], lambda _kql_acc, _kql_x: {step}, {first})", kind

    def binary(self, node: Node, left: str, left_kind: str, columns: Columns) -> tuple[str, str]:
        """One binary operator, its left operand compiled (see chain)."""
        op = node["op"].text
        right, right_kind = self.expr(node["right"], columns)
        if op in _COMPARISONS and _string_and_number(left_kind, right_kind):
            if op in ("==", "!=", "<>", "=") and {left_kind, right_kind} <= {"string", "long", "int"}:
                return _string_equals_integer(op, left, left_kind, right, right_kind), "bool"
            raise self.unsupported(_mixed_comparison(op, left_kind, right_kind), node["op"])
        if op in ("==", "!=", "<>", "="):
            left, right = self.comparable(left, left_kind, right, right_kind)
            # two nulls give null; null and a value are unequal, on either side (null values docs)
            equal = op in ("==", "=")
            unequal = "false" if equal else "true"
            if _is_literal(node["right"]):  # a literal is never null
                return f"coalesce({left} {'=' if equal else '<>'} {right}, {unequal})", "bool"
            return (f"(CASE WHEN {left} IS NULL AND {right} IS NULL THEN NULL WHEN {left} IS NULL OR {right} IS NULL "
                    f"THEN {unequal} ELSE {left} {'=' if equal else '<>'} {right} END)"), "bool"  # fmt: skip
        if op in ("<", "<=", ">", ">="):
            left, right = self.comparable(left, left_kind, right, right_kind)
            return f"({left} {op} {right})", "bool"
        if op in ("=~", "!~"):
            sql = f"(lower({self.as_string(left, left_kind)}) = lower({self.as_string(right, right_kind)}))"
            return (sql if op == "=~" else f"(NOT {sql})"), "bool"
        string_ops = _STRING_OPERATORS.get(op.lstrip("!"))
        if string_ops is not None:
            sql = string_ops(self.as_string(left, left_kind), self.as_string(right, right_kind))
            return (f"(NOT {sql})" if op.startswith("!") else sql), "bool"
        if op == "matches":
            return f"regexp_matches({self.as_string(left, left_kind)}, {right})", "bool"
        if op in ("+", "-", "*", "/", "%"):
            return self.arithmetic(op, left, left_kind, right, right_kind)
        raise self.unsupported(f"the operator '{op}'", node["op"])

    def comparable(self, left: str, left_kind: str, right: str, right_kind: str) -> tuple[str, str]:
        if left_kind == "dynamic" and right_kind != "dynamic":
            left = self.from_dynamic(left, right_kind)
        elif right_kind == "dynamic" and left_kind != "dynamic":
            right = self.from_dynamic(right, left_kind)
        elif left_kind == "string" and right_kind in ("long", "int", "real"):
            left = f"TRY_CAST({left} AS DOUBLE)"
        elif right_kind == "string" and left_kind in ("long", "int", "real"):
            right = f"TRY_CAST({right} AS DOUBLE)"
        return left, right

    def from_dynamic(self, sql: str, kind: str) -> str:
        if kind in ("string", "guid", "unknown"):
            return json_str(sql)
        return f"TRY_CAST({json_str(sql)} AS {DUCK_TYPES.get(kind, 'VARCHAR')})"

    def arithmetic(self, op: str, left: str, left_kind: str, right: str, right_kind: str) -> tuple[str, str]:
        if DATETIME_NS in (left_kind, right_kind):  # DuckDB would round the 100 ns tick away (ticks.py)
            raise self.unsupported("arithmetic on a datetime with 100 ns ticks (as endofday() gives)", None)
        integers = ("long", "int")
        if op == "/" and left_kind in integers and right_kind in integers:
            return f"({left} // {right})", "long"  # KQL divides longs as longs
        if left_kind == "datetime" and right_kind == "datetime" and op == "-":
            return f"({left} - {right})", "timespan"
        if left_kind == "timespan" and right_kind == "timespan" and op == "/":  # a ratio: 2d / 1d == 2.0
            divisor = f"epoch_us({right})"
            refuse = "error('the emulator does not support dividing by a zero timespan')"
            ratio = f"CAST(epoch_us({left}) AS DOUBLE) / {divisor}"
            return f"(CASE WHEN {divisor} = 0 THEN {refuse} ELSE {ratio} END)", "real"
        kind = left_kind if left_kind in ("datetime", "timespan") else right_kind if right_kind in (
            "datetime", "timespan") else ("real" if "real" in (left_kind, right_kind) else left_kind)  # fmt: skip
        return f"({left} {op} {right})", kind

    def in_list(self, node: Node, left: str, left_kind: str, columns: Columns) -> tuple[str, str]:
        """`in`, `!in`, `in~`, `has_any`, ... with the left operand compiled (see chain)."""
        op = node["op"].text
        items = (
            [c for c in node["right"].children if isinstance(c, Node)]
            if node["right"].kind == "ExpressionList"
            else [node["right"]]
        )
        negate = op.startswith("!")
        base = op.lstrip("!")
        left_text = self.as_string(left, left_kind)
        if base in ("has_any", "has_all"):
            sql = self.terms_check(left_text, items, columns, base)
            return (f"(NOT {sql})" if negate else sql), "bool"
        insensitive = base == "in~"
        # each scalar item compiled once (an IOC list may hold 10,000 of them)
        compiled = [None if self.is_tabular(item) else self.expr(item, columns) for item in items]
        if not insensitive and _mixed_integers(left_kind, compiled):
            return _in_integers(op, left, left_kind, [c for c in compiled if c is not None]), "bool"
        values = []
        listed: list[str] = []  # each item's SQL while all are scalars of the left operand's type
        textual = False  # a dynamic item's values are compared as text, with the left operand as text
        listed_items = 0  # the items whose values are all in `listed`
        for item, scalar in zip(items, compiled, strict=True):
            if scalar is None:
                sub = self.tabular(item)
                first, first_kind = self.columns(sub)[0]
                alias = self.alias()
                if first_kind == "dynamic":  # each row's value, its arrays flattened
                    textual = True
                    values.append(_flattened(f"{alias}.{quote_name(first)}", insensitive, f"({sub}) AS {alias}"))
                    continue
                column = f"lower(kql_str({quote_name(first)}))" if insensitive else quote_name(first)
                values.append(f"SELECT {column} FROM ({sub}) AS {alias}")
                continue
            sql, kind = scalar
            if not insensitive and _string_and_number(left_kind, kind):
                raise self.unsupported(_mixed_comparison(op, left_kind, kind), item)
            if kind == "dynamic":
                textual = True
                strings = self.constant_terms(item, columns)  # a constant array of strings: the IOC list
                if strings is None:
                    values.append(_flattened(sql, insensitive))
                    continue
                texts = [f"lower({sql_string(text)})" if insensitive else sql_string(text) for text in strings]
                values += [f"SELECT {text}" for text in texts]
                listed_items += 1
                listed += texts
            else:
                value = f"lower({self.as_string(sql, kind)})" if insensitive else sql
                values.append(f"SELECT {value}")
                if insensitive or kind == left_kind:
                    listed_items += 1
                    listed.append(value)
        target = f"lower({left_text})" if insensitive else (left_text if textual else left)
        # A plain value list means the same as the union of one-row selects (nulls included) and DuckDB
        # plans it far faster: an IOC list of 10,000 values takes a fraction of a second, not many.
        choices = ", ".join(listed) if listed_items == len(items) else " UNION ALL ".join(values)
        sql = f"({target} IN ({choices}))"
        return (f"(NOT coalesce({sql}, false))" if negate else sql), "bool"

    def terms_check(self, left_text: str, items: list[Node], columns: Columns, mode: str) -> str:
        """`has_any` / `has_all` of a list: kql_has of each needle, with the string literals (the common
        case, a list of IOC terms) compiled together. has_any: one lower() and one regular expression per
        row for all of them (_has_any_of), not one of each per term. has_all: each literal's kql_has is
        guarded by a plain substring test of the same lowered text (implied by it, and many times cheaper
        than the regular expression, which then runs only where the term occurs)."""
        literals: list[str] = []
        checks = []
        for item in items:
            needle = string_literal(item)
            if needle is not None:
                literals.append(needle)
                continue
            constant = self.constant_terms(item, columns)
            if constant is not None:  # a dynamic array of strings known when compiling: literals too
                literals += constant
                continue
            checks.append(self.term_check(left_text, item, columns, mode))
        if mode == "has_any":
            if len(literals) == 1:
                checks.insert(0, f"kql_has({left_text}, {sql_string(literals[0])})")
            elif literals:
                checks.insert(0, _has_any_of(left_text, literals))
            return "(" + " OR ".join(checks) + ")" if checks else "false"
        lowered = f"lower(coalesce({left_text}, ''))"
        literal_checks = [
            f"(contains({lowered}, lower({sql_string(needle)})) AND kql_has({left_text}, {sql_string(needle)}))"
            for needle in dict.fromkeys(literals)
            if needle != ""  # every text has the empty term
        ]
        checks = literal_checks + checks
        return "(" + " AND ".join(checks) + ")" if checks else "true"

    def constant_terms(self, item: Node, columns: Columns) -> list[str] | None:
        """The strings of a has_any/has_all needle that is a constant dynamic array (`dynamic([...])`, or a
        let name bound to one: the IOC list of many detections), evaluated once while compiling; None for
        anything else, which term_check tests row by row. Only a non-empty array of strings qualifies:
        term_check's answer for an empty array, a null or a non-string element is kept as it is."""
        if self.is_tabular(item) or (item.kind == "Name" and name_text(item) in self.tables):
            return None
        sql, kind = self.expr(item, columns)
        if kind != "dynamic":
            return None
        value = json_literal_value(sql)  # a literal is read here: a query per IOC list costs a millisecond
        if value is NOT_CONSTANT:
            try:  # a value that reads a column does not bind without a FROM: not a constant
                row = self.engine.connection.execute(f"SELECT CAST({sql} AS VARCHAR)").fetchone()
            except duckdb.Error:
                return None
            try:
                value = json.loads(row[0]) if row and row[0] is not None else None
            except ValueError:
                return None
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            return None
        return value

    def term_check(self, left_text: str, item: Node, columns: Columns, mode: str) -> str:
        if self.is_tabular(item) or (item.kind == "Name" and name_text(item) in self.tables):
            sub = self.tabular(item)
            first = self.columns(sub)[0][0]
            quantifier = "EXISTS" if mode == "has_any" else "NOT EXISTS"
            test = f"kql_has({left_text}, kql_str({quote_name(first)}))"
            if mode == "has_all":
                test = f"NOT ({test})"
            return f"{quantifier} (SELECT 1 FROM ({sub}) AS {self.alias()} WHERE {test})"
        sql, kind = self.expr(item, columns)
        if kind == "dynamic":
            aggregate = "list_bool_or" if mode == "has_any" else "list_bool_and"
            each = f"list_transform(from_json({sql}, '[\"VARCHAR\"]'), lambda x: kql_has({left_text}, x))"
            return f"coalesce({aggregate}({each}), false)"
        return f"kql_has({left_text}, {self.as_string(sql, kind)})"

    def between(self, node: Node, value: str, kind: str, columns: Columns) -> tuple[str, str]:
        """`between` and `!between` with the left operand compiled (see chain). The right end may be a
        timespan when the value and the left end are datetimes: the range ends that long after the left
        end (between page, rightRange)."""
        low, low_kind = self.expr(node["right"]["low"], columns)
        high, high_kind = self.expr(node["right"]["high"], columns)
        if high_kind == "timespan" and low_kind != "timespan":
            if kind != "datetime" or low_kind != "datetime":
                raise self.unsupported(
                    "between with a timespan right end where the value and the left end are not both datetimes",
                    node["right"]["high"],
                )
            high = f"({low} + {high})"
        sql = f"({value} BETWEEN {low} AND {high})"
        return (f"(NOT {sql})" if node["op"].text.startswith("!") else sql), "bool"

    def e_call(self, node: Node, columns: Columns) -> tuple[str, str]:
        callee = node["callee"]
        if callee.kind != "Name":
            raise self.unsupported("calls on expressions", node)
        name = name_text(callee)
        arguments = node["arguments"]["items"] or []
        if name == "toscalar":
            if arguments and self.is_scalar_value(arguments[0]):  # toscalar(array_length(a)): the value itself
                return self.expr(arguments[0], columns)
            return self.scalar_subquery(arguments[0])
        if name in self.functions:
            if self.is_tabular(node):
                raise self.unsupported(f"the tabular function '{name}' used as a value", callee)
            return self.call_function(node, columns, tabular=False)
        handler = FUNCTIONS.get(name)
        if handler is None:
            raise self.unsupported(f"the function '{name}'", callee)
        sql, kind = handler(self, arguments, columns, node)
        calls = getattr(self.engine, "kql_calls", None)
        if calls is not None:  # inner calls first: the engine probes them to place a type mismatch
            calls.append((offset_of(node), name, sql, list(columns)))
        return sql, kind

    def e_typeof(self, node: Node, columns: Columns) -> tuple[str, str]:
        raise self.unsupported("typeof() outside extractjson/mv-expand", node)


_SUB_MICROSECOND = "a timespan with a part below a microsecond (100 ns ticks; the emulator holds microseconds)"
_COMPARISONS = frozenset({"==", "!=", "<>", "=", "<", "<=", ">", ">="})
_NUMBERS = frozenset({"long", "int", "real", "decimal"})


def _string_and_number(left_kind: str, right_kind: str) -> bool:
    return (left_kind == "string" and right_kind in _NUMBERS) or (right_kind == "string" and left_kind in _NUMBERS)


def _mixed_integers(left_kind: str, compiled: list[tuple[str, str] | None]) -> bool:
    """Whether an `in` list compares a string with integers: all items scalars (none tabular), the left
    operand and the items all strings, ints or longs, and at least one pair mixed."""
    allowed = {"string", "int", "long"}
    kinds = [c[1] for c in compiled if c is not None]
    if len(kinds) != len(compiled) or left_kind not in allowed or not set(kinds) <= allowed:
        return False
    return any(_string_and_number(left_kind, kind) for kind in kinds)


def _in_integers(op: str, left: str, left_kind: str, items: list[tuple[str, str]]) -> str:
    """`in` / `!in` of a string among integers (or an integer among strings): true when the left side
    "equals to one of the elements" (in operator page), so the OR of the item equalities, each string
    with integer one under _string_equals_integer's rule (a row where its two readings differ stops the
    query). A list, not OR: every item is compared, so no short-circuit skips a disagreement."""
    equalities = [
        _string_equals_integer("==", left, left_kind, sql, kind)
        if _string_and_number(left_kind, kind)
        else f"coalesce({left} = {sql}, false)"
        for sql, kind in items
    ]
    sql = f"list_bool_or([{', '.join(equalities)}])"
    return f"(NOT {sql})" if op.startswith("!") else sql


def _mixed_comparison(op: str, left_kind: str, right_kind: str) -> str:
    """A string compared with a number: Microsoft's binder rejects the ordering operators ("The operator '<'
    is not defined for the operand types string and long") and what Kusto does with == and != is not
    documented (reports show "Cannot compare values of types string and long"): refused either way."""
    return (
        f"comparing values of types {left_kind} and {right_kind} with '{op}' (what Kusto does is not "
        "documented; convert one side: toint(), tolong(), todouble() or tostring())"
    )


def _string_equals_integer(op: str, left: str, left_kind: str, right: str, right_kind: str) -> str:
    """`s == n` for a string and an integer. Microsoft's binder accepts it and published rules rely on it
    (`ResultType == 0` on SigninLogs' string column), but the reference does not say whether Kusto compares
    the text with the integer's digits or the string's number with the integer. A row where both readings
    agree ("0" == 0 is true, "abc" == 0 is false under either) has a certain answer; a row where they differ
    ("00", "+0", " 0") stops the query (EMU002) instead of guessing."""
    text, number = (left, right) if left_kind == "string" else (right, left)
    text = f"coalesce({text}, '')"  # a KQL string is never null: empty
    as_text = f"({text} = CAST({number} AS VARCHAR))"
    as_number = f"coalesce(TRY_CAST({text} AS BIGINT) = {number}, false)"
    equal = op in ("==", "=")
    message = sql_string(
        f"the emulator cannot reproduce '{op}' between a string and a number for a text that is not the "
        "number's digits (Kusto's answer is not documented); convert one side with tostring() or tolong()"
    )
    answer = as_text if equal else f"(NOT {as_text})"
    return (f"(CASE WHEN {number} IS NULL THEN {'false' if equal else 'true'} "
            f"WHEN {as_text} IS DISTINCT FROM {as_number} THEN error({message}) ELSE {answer} END)")  # fmt: skip


def real_text(value: float) -> str:
    """tostring() of a real, exact by construction: the shortest decimal that reads back as the same double
    (Python's repr; real is .NET's System.Double, whose shortest round-trip text has the same digits). Only
    where the two notations agree: a fractional part, plain notation (1e-4 <= |value| < 1e15). Whole reals
    ("1" or "1.0"), exponents, NaN and infinities: the text Kusto prints is not documented, refused."""
    if math.isfinite(value) and value != int(value) and 1e-4 <= abs(value) < 1e15:
        text = repr(value)
        if re.fullmatch(r"-?[0-9]+\.[0-9]*[1-9]", text):
            return text
    raise Refused(f"tostring() of the real {value!r} (Kusto's text for it is not documented)")


_UDFS: list[Udf] = [("kqlm_real_text", real_text, ["DOUBLE"], "VARCHAR")]


def _is_literal(node: Node) -> bool:
    if node.kind != "Literal":
        return False
    return node["literal"] in ("string", "number", "timespan") or (
        node["literal"] == "typed_literal" and "null" not in node.text()
    )


def _flattened(dynamic: str, insensitive: bool, source: str = "") -> str:
    """The values of a dynamic `in` operand as text, its arrays flattened to any depth (in-operator.md:
    "Nested arrays are flattened into a single list of values", x in (dynamic([1,[2,3]])) is x in (1,2,3)); a
    value that is not an array is itself one value. `source`: the rows the dynamic comes from (the first
    column of a tabular operand, such as a let of `summarize make_set(...)`)."""
    text = "json_extract_string(_kql_leaf.value, '$')"
    rows = f"{source}, " if source else ""
    leaves = "_kql_leaf.type <> 'ARRAY' AND regexp_full_match(_kql_leaf.fullkey, '\\$(\\[[0-9]+\\])*')"
    value = f"lower({text})" if insensitive else text
    return f"SELECT {value} FROM {rows}json_tree(CAST({dynamic} AS JSON)) AS _kql_leaf WHERE {leaves}"


def _has_any_of(text: str, needles: list[str]) -> str:
    """`has_any` of several string literals: one lower() and one regular expression per row (per 10,000
    terms), not one of each per term. The test is kql_has's for each needle: its lowered, escaped text,
    with the term boundary before it where it begins with a letter or digit and after it where it ends
    with one. The needles are grouped by those two conditions, each group one alternation between its
    boundaries: `(?:^|[^0-9A-Za-z])(?:a|b)(?:$|[^0-9A-Za-z])` matches where `a` or `b` does. The pattern
    is built in SQL from constants (lower() and regexp_escape() as kql_has applies them), so DuckDB folds
    it to one constant regular expression."""
    if "" in needles:  # every text has the empty term
        return "true"
    tests = []
    unique = list(dict.fromkeys(needles))
    for start in range(0, len(unique), 10_000):
        groups: dict[tuple[bool, bool], list[str]] = {}
        for needle in unique[start : start + 10_000]:
            groups.setdefault((_term_char(needle[0]), _term_char(needle[-1])), []).append(needle)
        parts = []
        for (bounded_start, bounded_end), group in groups.items():
            before = _TERM_START if bounded_start else ""
            after = _TERM_END if bounded_end else ""
            if all(_plain_ascii(needle) for needle in group):  # escaped here, as regexp_escape(lower()) would
                terms = sql_string("|".join(_escaped(needle.lower()) for needle in group))
            else:
                listed = ", ".join(sql_string(needle) for needle in group)
                terms = f"array_to_string(list_transform([{listed}], lambda _kql_n: regexp_escape(lower(_kql_n))), '|')"
            parts.append(f"'{before}(?:' || {terms} || '){after}'")
        pattern = " || '|' || ".join(parts)
        tests.append(f"regexp_matches(lower(coalesce({text}, '')), '(?:' || {pattern} || ')')")
    return "(" + " OR ".join(tests) + ")"


def _plain_ascii(text: str) -> bool:
    """Printable ASCII: text whose lower() and regexp_escape() Python gives as DuckDB does."""
    return all(" " <= character <= "~" for character in text)


def _escaped(text: str) -> str:
    """regexp_escape() (RE2's QuoteMeta) of printable ASCII: a backslash before all but letters, digits and _."""
    return "".join(c if c.isalnum() or c == "_" else "\\" + c for c in text)


def _term_pattern(needle: str, case_sensitive: bool) -> str:
    """kql_has's (kql_has_cs's) regular expression for a non-empty printable-ASCII needle, built here: DuckDB
    folds the macro's pattern from constants too, but planning that costs twice the test itself."""
    text = _escaped(needle if case_sensitive else needle.lower())
    return (_TERM_START if _term_char(needle[0]) else "") + text + (_TERM_END if _term_char(needle[-1]) else "")


# kql_term_start / kql_term_end (session.py): the term boundaries, and what needs them.
_TERM_START = "(?:^|[^0-9A-Za-z])"
_TERM_END = "(?:$|[^0-9A-Za-z])"


def _term_char(char: str) -> bool:
    """A character of a term: an ASCII letter or digit (as kql_term_start's class [0-9A-Za-z])."""
    return char.isascii() and char.isalnum()


def _has(text: str, needle: str, case_sensitive: bool) -> str:
    """kql_has (kql_has_cs) of the text; for a literal needle behind a LIKE of it (ILIKE for has), which
    every row that has the term passes and DuckDB runs many times faster than the regular expression."""
    test = f"kql_has{'_cs' if case_sensitive else ''}({text}, {needle})"
    literal = string_literal_value(needle)
    if not literal:
        return test
    if _plain_ascii(literal):
        hay = f"coalesce({text}, '')" if case_sensitive else f"lower(coalesce({text}, ''))"
        test = f"regexp_matches({hay}, {sql_string(_term_pattern(literal, case_sensitive))})"
    return f"({text} {'LIKE' if case_sensitive else 'ILIKE'} {contains_pattern(literal)} ESCAPE '\\' AND {test})"


_STRING_OPERATORS: dict[str, Callable[[str, str], str]] = {
    "has": lambda a, b: _has(a, b, case_sensitive=False),
    "has_cs": lambda a, b: _has(a, b, case_sensitive=True),
    "hasprefix": lambda a, b: f"kql_hasprefix({a}, {b})",
    "hassuffix": lambda a, b: f"kql_hassuffix({a}, {b})",
    "hasprefix_cs": lambda a, b: f"kql_hasprefix_cs({a}, {b})",
    "hassuffix_cs": lambda a, b: f"kql_hassuffix_cs({a}, {b})",
    "contains": lambda a, b: f"contains(lower({a}), lower({b}))",
    "contains_cs": lambda a, b: f"contains({a}, {b})",
    "startswith": lambda a, b: f"starts_with(lower({a}), lower({b}))",
    "startswith_cs": lambda a, b: f"starts_with({a}, {b})",
    "endswith": lambda a, b: f"ends_with(lower({a}), lower({b}))",
    "endswith_cs": lambda a, b: f"ends_with({a}, {b})",
}


# Operators whose left operand may be the same kind of node, compiled by ExpressionCompiler.chain given
# that operand's SQL and kind.
_CHAIN_LINKS: dict[str, Callable[[ExpressionCompiler, Node, str, str, Columns], tuple[str, str]]] = {
    "BinaryExpression": ExpressionCompiler.binary,
    "InExpression": ExpressionCompiler.in_list,
    "BetweenExpression": ExpressionCompiler.between,
}
# A run of one of these operators longer than _FOLD_AFTER is compiled as a fold (ExpressionCompiler.fold);
# shorter runs stay nested, as ordinary queries always were.
_FOLDABLE = frozenset({"+-", "*/%"})
_FOLD_AFTER = 200
# The most SQL text one expression may compile to (see ExpressionCompiler.bounded).
_MAX_SQL = 32_000_000


def _group(link: Node) -> str:
    """What joins links into one run: the same `and` or `or`, or operators of one arithmetic precedence."""
    if link.kind != "BinaryExpression":
        return link.kind
    op = link["op"].text
    return "+-" if op in ("+", "-") else "*/%" if op in ("*", "/", "%") else op


def _run(links: list[Node], start: int) -> list[Node]:
    """links[start:] up to the first of another group: `a or b or c and d` -> the two `or`s."""
    group = _group(links[start])
    end = start + 1
    while end < len(links) and _group(links[end]) == group:
        end += 1
    return links[start:end]


_EXPRESSIONS: dict[str, Callable[[ExpressionCompiler, Node, Columns], tuple[str, str]]] = {
    "Literal": ExpressionCompiler.e_literal,
    "Name": ExpressionCompiler.e_name,
    "Parenthesized": ExpressionCompiler.e_parenthesized,
    "UnaryExpression": ExpressionCompiler.e_unary,
    "MemberAccess": ExpressionCompiler.e_member,
    "ElementAccess": ExpressionCompiler.e_element,
    "Call": ExpressionCompiler.e_call,
    "TypeOf": ExpressionCompiler.e_typeof,
}
