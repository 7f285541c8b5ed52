"""The binder: follows the row schema through a parsed query and reports what cannot exist.

It resolves tables per dialect, `let` names, functions and columns; infers scalar types; and
reports unknown tables, columns and functions, wrong argument counts and clear type errors.
It never guesses: where a column set depends on data (bag_unpack, pivot, an unknown source) the
schema becomes *open* and unknown names are no longer errors. It also yields the output schema.
"""

from __future__ import annotations

import bisect
import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from . import functions as catalog
from .lexer import T, Token
from .names import AGGREGATE_PREFIX, aggregate_name, name_text, path_name, string_literal, string_value, subject_name
from .parser import MAX_NESTING, ParseResult
from .syntax import KqlDiagnostic, Node, operands
from .types import (
    BOOL,
    DATETIME,
    DYNAMIC,
    GUID,
    LONG,
    NUMERIC,
    REAL,
    STRING,
    TIMESPAN,
    UNKNOWN,
    RowSchema,
    normalize_type,
    wider_numeric,
)  # fmt: skip

# Operand types the string operators (has, contains, ...) accept; anything else is KS106 in Kusto.
_STRING_LIKE = (STRING, DYNAMIC, UNKNOWN, GUID)
_STRING_OPERATORS = frozenset(
    {"has", "!has", "has_cs", "!has_cs", "hasprefix", "!hasprefix", "hasprefix_cs", "!hasprefix_cs", "hassuffix",
     "!hassuffix", "hassuffix_cs", "!hassuffix_cs", "contains", "!contains", "contains_cs", "!contains_cs",
     "startswith", "!startswith", "startswith_cs", "!startswith_cs", "endswith", "!endswith", "endswith_cs",
     "!endswith_cs", "matches", "like", "notlike", "likecs", "notlikecs", "notcontains", "notcontainscs"}
)  # fmt: skip
_COMPARISONS = frozenset({"==", "!=", "<>", "<", "<=", ">", ">=", "=~", "!~", "="})


@dataclass
class Environment:
    """What a query can refer to in one dialect."""

    dialect: str
    tables: dict[str, dict[str, str]]
    # Columns that tabular platform functions (_GetWatchlist, FileProfile, ...) return or add, by name.
    function_tables: dict[str, RowSchema] = field(default_factory=dict)
    # Tables of the other platform, so that a message can say "exists in Sentinel but not in Defender".
    other_dialect_tables: frozenset[str] = frozenset()


@dataclass
class BindResult:
    diagnostics: list[KqlDiagnostic]
    output: RowSchema | None  # the schema of the query's result, when the query ends in a table
    tables: set[str]  # tables the query reads


@dataclass
class _Symbol:
    kind: str  # scalar | table | function
    type: str = UNKNOWN
    schema: RowSchema | None = None
    declaration: Node | None = None
    scope: _Scope | None = None  # a function's: the names declared before it, which its body sees
    reach: int = 0  # a function's: how many levels its body nests below a call, with the calls it makes


class _Scope:
    """The names of one scope (and, through `parent`, of the scopes around it).

    Each name keeps every symbol it was bound to and when, so that a snapshot (what a let function's body
    sees: the names declared before the function) is taken in constant time however many lets there are."""

    def __init__(self, parent: _Scope | None = None):
        self.parent = parent
        self._bindings: dict[str, list[tuple[int, _Symbol]]] = {}
        self._clock = [0]  # shared with this scope's snapshots
        self._until: int | None = None  # a snapshot sees the bindings made up to this time

    def define(self, name: str, symbol: _Symbol) -> None:
        if self._until is not None:
            raise ValueError("a snapshot of a scope is read-only")
        self._clock[0] += 1
        self._bindings.setdefault(name, []).append((self._clock[0], symbol))

    def local(self, name: str) -> _Symbol | None:
        """The symbol `name` has in this scope itself (not around it)."""
        bindings = self._bindings.get(name)
        if not bindings:
            return None
        if self._until is None:
            return bindings[-1][1]
        index = bisect.bisect_right(bindings, self._until, key=lambda binding: binding[0])
        return bindings[index - 1][1] if index else None

    def lookup(self, name: str) -> _Symbol | None:
        scope: _Scope | None = self
        while scope is not None:
            symbol = scope.local(name)
            if symbol is not None:
                return symbol
            scope = scope.parent
        return None

    def snapshot(self) -> _Scope:
        """The names visible now: what is declared later in this scope does not show in the snapshot."""
        copy = _Scope(self.parent)
        copy._bindings, copy._clock = self._bindings, self._clock
        copy._until = self._clock[0] if self._until is None else self._until
        return copy

    def names(self) -> set[str]:
        names: set[str] = set()
        scope: _Scope | None = self
        while scope is not None:
            names.update(name for name in scope._bindings if scope.local(name) is not None)
            scope = scope.parent
        return names


def bind(result: ParseResult, environment: Environment) -> BindResult:
    binder = Binder(environment)
    output = binder.bind_query(result.tree)
    return BindResult(binder.diagnostics, output, binder.tables_read)


def _literal_type(node: Node) -> str:
    token = node.children[0]
    literal = node["literal"]
    if literal == "string":
        return STRING
    if literal == "dynamic":
        return DYNAMIC
    if literal == "timespan":
        return TIMESPAN
    if literal == "number":
        text = token.text
        if text.lower().startswith("0x"):
            return LONG
        return REAL if any(c in text for c in ".eE") else LONG
    if literal == "typed_literal":
        word = token.text.split("(", 1)[0].strip()
        return normalize_type(word)
    return UNKNOWN


class Binder:
    def __init__(self, environment: Environment):
        self.env = environment
        self.diagnostics: list[KqlDiagnostic] = []
        self.tables_read: set[str] = set()
        # Name tokens that refer to or declare a column: the renderer renames among these only.
        self.column_tokens: list[Token] = []
        # Name tokens of string columns used with `.property`: the renderer wraps them in parse_json().
        self.string_member_targets: list[Token] = []
        self._reported: set[tuple[int, str]] = set()
        # A function body bound at a call nests from the call's depth on: its nodes' depths in the text
        # plus `offset` (see expansion). `root` is the binder whose diagnostics the user sees.
        self.offset = 0
        self.root = self
        self.reached = 0  # the deepest level function expansions reached (with offset), see bind_let
        # Function bodies already expanded, by function and arguments' types (see bind_user_function);
        # the symbol is kept with each entry so that its id is not reused while the entry exists.
        self.expansions: dict[tuple[Any, ...], tuple[Any, ...]] = {}

    # ----------------------------------------------------------------- reporting
    def note_column(self, node: Node | None) -> None:
        if node is None:
            return
        token = next((t for t in node.tokens() if t.kind in (T.IDENT, T.STRING) and not t.missing), None)
        if token is not None:
            self.column_tokens.append(token)

    def report(self, code: str, message: str, node: Node | Token, severity: str = "error") -> None:
        if isinstance(node, Token):
            start, end = node.start, node.end
        else:
            tokens = [t for t in node.tokens() if not t.missing]
            if not tokens:
                return
            start, end = tokens[0].start, tokens[-1].end
        if (start, code) in self._reported:
            return
        self._reported.add((start, code))
        self.diagnostics.append(KqlDiagnostic(code, message, start, end, severity))

    @staticmethod
    def _suggest(name: str, candidates: Iterable[str]) -> str:
        pool = sorted(set(candidates))
        close = difflib.get_close_matches(name, pool, n=1, cutoff=0.75)
        if not close:
            folded = {c.lower(): c for c in pool}
            if name.lower() in folded:
                close = [folded[name.lower()]]
        return f"; did you mean '{close[0]}'?" if close else ""

    # ----------------------------------------------------------------- statements
    def bind_query(self, tree: Node) -> RowSchema | None:
        scope = _Scope()
        output: RowSchema | None = None
        for statement in tree["statements"] or []:
            output = self.bind_statement(statement, scope)
        return output

    def bind_statement(self, statement: Node, scope: _Scope) -> RowSchema | None:
        if statement.kind == "LetStatement":
            self.bind_let(statement, scope)
            return None
        if statement.kind in ("SetStatement", "OtherStatement"):
            return None
        if statement.kind == "DeclareStatement":
            for name, type_ in self._declared_parameters(statement):
                scope.define(name, _Symbol("scalar", type_))
            return None
        if self.is_tabular(statement, scope):
            return self.bind_tabular(statement, scope)
        self.bind_scalar(statement, None, scope)
        return None

    def _declared_parameters(self, statement: Node) -> list[tuple[str, str]]:
        parameters = next((c for c in statement.children if isinstance(c, Node) and c.kind == "ParameterList"), None)
        return [(name, type_) for name, type_, _ in self._parameters(parameters)] if parameters else []

    def bind_let(self, statement: Node, scope: _Scope) -> None:
        name = name_text(statement["name"])
        value: Node = statement["value"]
        if value.kind == "FunctionDeclaration":
            # The body sees what was declared before, not the function itself: Kusto has no recursion.
            visible = scope.snapshot()
            outer, self.reached = self.reached, 0
            self.check_function_body(value, visible)
            declared = value["depth"] or 0
            reach = max((value["deepest"] or declared) - declared, self.reached - declared - self.offset)
            self.reached = max(outer, self.reached)
            scope.define(name, _Symbol("function", declaration=value, scope=visible, reach=reach))
            return
        if self.is_tabular(value, scope):
            scope.define(name, _Symbol("table", schema=self.bind_tabular(value, scope)))
        else:
            scope.define(name, _Symbol("scalar", self.bind_scalar(value, None, scope)))

    def _parameters(self, parameter_list: Node) -> list[tuple[str, str, RowSchema | None]]:
        """(name, scalar type, tabular schema) for each declared parameter."""
        result = []
        children = [c for c in parameter_list.children if isinstance(c, Node)]
        index = 0
        while index < len(children):
            child = children[index]
            if child.kind == "Name":
                name = name_text(child)
                following = children[index + 1] if index + 1 < len(children) else None
                if following is not None and following.kind == "Schema":
                    columns = {
                        name_text(c["name"]): normalize_type(name_text(c.children[-1])) for c in following["columns"]
                    }
                    open_schema = any(isinstance(t, Token) and t.text == "*" for t in following.children)
                    result.append((name, UNKNOWN, RowSchema(columns, open=open_schema)))
                    index += 2
                    continue
                if following is not None and following.kind == "Type":
                    result.append((name, normalize_type(name_text(following)), None))
                    index += 2
                    continue
                result.append((name, UNKNOWN, None))
            index += 1
        return result

    def check_function_body(self, declaration: Node, scope: _Scope) -> RowSchema | None:
        """Bind a function body once with its declared parameters, to report errors inside it."""
        inner = _Scope(scope)
        parameters = next(c for c in declaration.children if isinstance(c, Node) and c.kind == "ParameterList")
        for name, type_, schema in self._parameters(parameters):
            inner.define(name, _Symbol("table", schema=schema) if schema else _Symbol("scalar", type_))
        output = None
        for statement in declaration["statements"] or []:
            output = self.bind_statement(statement, inner)
        return output

    # ----------------------------------------------------------------- tabular or scalar?
    def is_tabular(self, node: Node, scope: _Scope) -> bool:
        kind = node.kind
        if kind in ("Pipe", "DataTable", "ExternalData", "Union", "Range", "Print", "Search", "Find", "Evaluate"):
            return True
        if kind == "Parenthesized":
            inner = [c for c in node.children if isinstance(c, Node)]
            return bool(inner) and self.is_tabular(inner[0], scope)
        if kind == "Name":
            name = name_text(node)
            symbol = scope.lookup(name)
            if symbol is not None:
                return symbol.kind == "table"
            return name in self.env.tables
        if kind == "Call":
            callee = node["callee"]
            if callee.kind == "Name":
                name = name_text(callee)
                symbol = scope.lookup(name)
                if symbol is not None and symbol.kind == "function":
                    return self._function_is_tabular(node, symbol)
                if name in ("materialize", "view", "cluster", "database", "table"):
                    return True
                info = catalog.lookup(name, self.env.dialect)
                return (
                    (info is not None and info.kind == "tabular")
                    or name in self.env.function_tables
                    or (catalog.is_asim_parser(name) and self.env.dialect == "sentinel")
                )
            if callee.kind == "MemberAccess":  # cluster('x').database('y').table('T')
                return True
        if kind == "MemberAccess":
            target = node["target"]
            return target.kind == "Call" and name_text(target["callee"]) in ("database", "cluster")
        return False

    def _function_is_tabular(self, call: Node, symbol: _Symbol) -> bool:
        declaration = symbol.declaration
        if declaration is None:
            return False
        statements = declaration["statements"] or []
        offset = self.expansion(call, symbol)
        if not statements or offset is None:
            return False
        key = ("tabular", id(symbol))  # as in bind_user_function: each function's body once
        if key not in self.root.expansions:
            outer, self.offset = self.offset, offset
            try:
                self.root.expansions[key] = (symbol, self._body_is_tabular(declaration, _Scope(symbol.scope)))
            finally:
                self.offset = outer
        return self.root.expansions[key][1]

    def _body_is_tabular(self, declaration: Node, inner: _Scope) -> bool:
        statements = declaration["statements"] or []
        last = statements[-1]
        parameters = next(c for c in declaration.children if isinstance(c, Node) and c.kind == "ParameterList")
        for name, type_, schema in self._parameters(parameters):
            inner.define(name, _Symbol("table", schema=schema) if schema else _Symbol("scalar", type_))
        for statement in statements[:-1]:
            if statement.kind == "LetStatement":
                value = statement["value"]
                kind = "table" if value.kind != "FunctionDeclaration" and self.is_tabular(value, inner) else "scalar"
                inner.define(name_text(statement["name"]), _Symbol(kind, schema=RowSchema.unknown()))
        return self.is_tabular(last, inner)

    # ----------------------------------------------------------------- tabular expressions
    def bind_tabular(self, node: Node, scope: _Scope) -> RowSchema:
        kind = node.kind
        if kind == "Pipe":
            schema = (
                self.bind_tabular(node["source"], scope)
                if node["source"].kind != "MissingSource"
                else (RowSchema.unknown())
            )
            for operator in node["operators"] or []:
                schema = self.bind_operator(operator, schema, scope)
            return schema
        if kind == "Parenthesized":
            inner = [c for c in node.children if isinstance(c, Node)]
            return self.bind_tabular(inner[0], scope) if inner else RowSchema.unknown()
        if kind in ("Name", "NamePattern"):
            return self.bind_table_name(node, scope)
        if kind in ("DataTable", "ExternalData"):
            for child in node.children:
                if isinstance(child, Node) and child.kind not in ("Schema", "Properties"):
                    self.bind_scalar(child, None, scope)
            return self._schema_of(node["schema"])
        if kind == "Call":
            return self.bind_tabular_call(node, scope, None)
        if kind == "Union":
            return self.op_union(node, None, scope)
        if kind == "Range":
            expressions = [c for c in node.children if isinstance(c, Node) and c.kind != "Name"]
            column_type = self.bind_scalar(expressions[0], None, scope) if expressions else LONG
            for expression in expressions[1:]:
                self.bind_scalar(expression, None, scope)
            return RowSchema({name_text(node.children[1]): column_type})
        if kind == "Print":
            return self.op_extend(node, RowSchema(), scope, project=True)
        if kind == "Search":
            return self.op_search(node, None, scope)
        if kind == "Evaluate":
            return self.op_evaluate(node, RowSchema(), scope)
        if kind == "MemberAccess":  # cluster('c').database('d').T, workspace('w').T, arg('').Resources
            root = node
            while root.kind == "MemberAccess":
                root = root["target"]
            while root.kind == "Call" and root["callee"].kind == "MemberAccess":
                root = root["callee"]["target"]
            if root.kind == "Call" and root["callee"].kind == "Name":
                name = name_text(root["callee"])
                if catalog.lookup(name, self.env.dialect) is None and scope.lookup(name) is None:
                    self.report_unknown_function(name, root["callee"], scope)
            return RowSchema.unknown()
        return RowSchema.unknown()

    def bind_table_name(self, node: Node, scope: _Scope) -> RowSchema:
        name = name_text(node)
        symbol = scope.lookup(name)
        if symbol is not None:
            if symbol.kind == "table" and symbol.schema is not None:
                return symbol.schema.copy()
            if symbol.kind == "function":
                return RowSchema.unknown()
            self.report("KQL205", f"'{name}' is a scalar value, not a table", node)
            return RowSchema.unknown()
        columns = self.env.tables.get(name)
        if columns is not None:
            self.tables_read.add(name)
            return RowSchema(dict(columns))
        other = "sentinel" if self.env.dialect == "defender" else "defender"
        suggestion = self._suggest(name, list(self.env.tables) + list(scope.names()))
        if name in self.env.other_dialect_tables:
            self.report(
                "KQL201", f"table '{name}' exists in {other.title()} but not in {self.env.dialect.title()}", node
            )
        else:
            self.report("KQL201", f"unknown table '{name}'{suggestion}", node)
        return RowSchema.unknown()

    def bind_tabular_call(self, node: Node, scope: _Scope, piped: RowSchema | None) -> RowSchema:
        callee = node["callee"]
        arguments = node["arguments"]["items"] or []
        if callee.kind != "Name":
            for argument in arguments:
                self.bind_argument(argument, None, scope)
            return RowSchema.unknown()
        name = name_text(callee)
        symbol = scope.lookup(name)
        if symbol is not None and symbol.kind == "function":
            return self.bind_user_function(node, symbol, scope, piped)
        if name == "materialize" and arguments:
            return (
                self.bind_tabular(arguments[0], scope)
                if self.is_tabular(arguments[0], scope)
                else (RowSchema.unknown())
            )
        for argument in arguments:
            self.bind_argument(argument, None, scope)
        if name in self.env.function_tables:
            return _add_columns(piped, self.env.function_tables[name])
        info = catalog.lookup(name, self.env.dialect)
        if info is None and not (catalog.is_asim_parser(name) and self.env.dialect == "sentinel"):
            self.report_unknown_function(name, callee, scope)
        elif info is not None:
            self.check_arity(info, len(arguments), callee)
        return RowSchema.unknown()

    def expansion(self, call: Node, symbol: _Symbol) -> int | None:
        """What to add to the depths of `symbol`'s body to expand it at `call`; None, after KQL010, when
        the body with the functions it calls in turn (symbol.reach, measured at the let) would nest deeper
        than MAX_NESTING: functions calling functions stack their nesting, and the binder recurses through
        it as through nested text."""
        start = (call["depth"] or 0) + self.offset + 1
        self.reached = max(self.reached, start + symbol.reach)  # a function calling this one is as deep
        if start + symbol.reach <= MAX_NESTING:
            return start - (symbol.declaration["depth"] or 0)
        if not any(d.code == "KQL010" for d in self.root.diagnostics):  # once: a chain would repeat it
            self.root.report(
                "KQL010",
                f"'{name_text(call['callee'])}' calls let functions that nest deeper than {MAX_NESTING} levels "
                f"when expanded; dac supports up to {MAX_NESTING}",
                call["callee"],
            )
        return None

    def bind_user_function(self, node: Node, symbol: _Symbol, scope: _Scope, piped: RowSchema | None) -> RowSchema:
        arguments = node["arguments"]["items"] or []
        declaration = symbol.declaration
        offset = self.expansion(node, symbol)
        if offset is None:
            return RowSchema.unknown()
        parameters_node = next(c for c in declaration.children if isinstance(c, Node) and c.kind == "ParameterList")
        parameters = self._parameters(parameters_node)
        given = len(arguments) + (1 if piped is not None else 0)
        required = sum(1 for child in self._parameter_defaults(parameters_node) if not child)
        if given < required or given > len(parameters):
            expected = f"{required}" if required == len(parameters) else f"{required} to {len(parameters)}"
            self.report("KQL204", f"'{name_text(node['callee'])}' takes {expected} arguments, got {given}",
                        node["callee"])  # fmt: skip
        inner = _Scope(symbol.scope)
        values = ([piped] if piped is not None else []) + list(arguments)
        signature: list[Any] = [id(symbol)]  # not the depth: `expansion` checked that all of it fits
        for index, (name, type_, schema) in enumerate(parameters):
            value = values[index] if index < len(values) else None
            if schema is not None:
                if isinstance(value, RowSchema):
                    schema = value
                elif value is not None and self.is_tabular(value, scope):
                    schema = self.bind_tabular(value, scope)
                inner.define(name, _Symbol("table", schema=schema))
                signature.append((tuple(schema.columns.items()), schema.open))
            else:
                if isinstance(value, Node):
                    self.bind_argument(value, None, scope)
                inner.define(name, _Symbol("scalar", type_))
                signature.append(type_)
        # Bind the body silently with the actual arguments (errors inside were reported at the let), once
        # per function and parameter types: a chain of functions, or one calling another twice, stays linear.
        key = tuple(signature)
        if key not in self.root.expansions:
            quiet = Binder(self.env)
            quiet.offset, quiet.root = offset, self.root
            output = None
            for statement in declaration["statements"] or []:
                output = quiet.bind_statement(statement, inner)
            self.root.expansions[key] = (symbol, output or RowSchema.unknown(), quiet.tables_read)
        _, output, tables = self.root.expansions[key]
        self.tables_read |= tables
        return output.copy()

    @staticmethod
    def _parameter_defaults(parameters_node: Node) -> list[bool]:
        """For each parameter, whether it has a default value."""
        defaults: list[bool] = []
        children = parameters_node.children
        for index, child in enumerate(children):
            if isinstance(child, Node) and child.kind == "Name":
                has_default = False
                for following in children[index + 1 :]:
                    if isinstance(following, Node) and following.kind == "Name":
                        break
                    if isinstance(following, Token) and following.text == "=":
                        has_default = True
                        break
                defaults.append(has_default)
        return defaults

    def _schema_of(self, schema_node: Node | None) -> RowSchema:
        if schema_node is None:
            return RowSchema.unknown()
        columns = {}
        for column in schema_node["columns"] or []:
            columns[name_text(column["name"])] = normalize_type(name_text(column.children[-1]))
        return RowSchema(columns)

    # ----------------------------------------------------------------- operators
    def bind_operator(self, operator: Node, schema: RowSchema, scope: _Scope) -> RowSchema:
        handler = _OPERATORS.get(operator.kind)
        if handler is None:
            return RowSchema.unknown() if operator.kind in ("LooseOperator", "Error", "TopNested") else schema
        return handler(self, operator, schema, scope)

    def op_where(self, node: Node, schema: RowSchema, scope: _Scope) -> RowSchema:
        predicate = node["predicate"]
        kind = self.bind_scalar(predicate, schema, scope)
        if kind not in (BOOL, UNKNOWN, DYNAMIC) and predicate.kind != "MissingExpression":
            self.report("KQL210", f"the condition of 'where' must be a bool, not {kind}", predicate)
        return schema

    def op_extend(self, node: Node, schema: RowSchema, scope: _Scope, project: bool = False) -> RowSchema:
        result = RowSchema({}, schema.open) if project else schema.copy()
        lists = [c for c in node.children if isinstance(c, Node) and c.kind == "List"]
        counter = [0]
        for item in (lists[0]["items"] if lists else []) or []:
            for name, type_ in self.bind_column_item(item, schema, scope, counter):
                result.columns.pop(name, None) if not project else None
                result.columns[name] = type_
        return result

    def op_project(self, node: Node, schema: RowSchema, scope: _Scope) -> RowSchema:
        return self.op_extend(node, schema, scope, project=True)

    def bind_column_item(
        self, item: Node, schema: RowSchema, scope: _Scope, counter: list[int], aggregate: bool = False
    ) -> list[tuple[str, str]]:
        """Columns one item of extend/project/summarize produces: `A = expr`, `(A, B) = expr`, `expr`."""
        if item.kind == "Assignment":
            value = item["value"]
            if aggregate and item["name"] is not None and value.kind == "Call" and value["callee"].kind == "Name":
                special = self.aggregate_columns(value, schema, scope)
                if special:  # Latest = arg_max(Time, *): the first column takes the name
                    return [(name_text(item["name"]), special[0][1]), *special]
            type_ = self.bind_scalar(value, schema, scope)
            if item["name"] is not None:
                self.note_column(item["name"])
                return [(name_text(item["name"]), type_)]
            tuple_node = item.children[0]
            names = [name_text(c) for c in tuple_node.children if isinstance(c, Node) and c.kind == "Name"]
            return [(name, UNKNOWN) for name in names]
        if aggregate and item.kind == "Call" and item["callee"].kind == "Name":
            special = self.aggregate_columns(item, schema, scope)
            if special is not None:
                return special
        type_ = self.bind_scalar(item, schema, scope)
        name = self.column_name(item, counter, aggregate)
        return [(name, type_)]

    def column_name(self, expression: Node, counter: list[int], aggregate: bool = False) -> str:
        return column_name(expression, counter, aggregate)

    def aggregate_columns(self, call: Node, schema: RowSchema, scope: _Scope) -> list[tuple[str, str]] | None:
        function = name_text(call["callee"])
        arguments = call["arguments"]["items"] or []
        if function in ("arg_max", "arg_min", "argmax", "argmin") and arguments:
            for argument in arguments:
                if argument.kind != "Star":
                    self.bind_scalar(argument, schema, scope)
            self.check_arity_by_name(function, len(arguments), call["callee"])
            first = arguments[0]
            columns = [(path_name(first) or "Column1", self.bind_scalar(first, schema, scope))]
            if any(a.kind == "Star" for a in arguments):
                # arg_max(T, *) keeps every column; `Latest = arg_max(T, *)` adds Latest and keeps T too
                columns += schema.items()
                return [*columns, ("*", UNKNOWN)] if schema.open else columns
            for argument in arguments[1:]:
                columns.append((path_name(argument) or "Column1", self.bind_scalar(argument, schema, scope)))
            return columns
        if function in ("take_any", "any", "take_anyif", "anyif") and arguments:
            # take_any(A, B) names its columns A, B; any(A, B) names them any_A, any_B; (*) takes every column
            prefix = "" if function.startswith("take_") else AGGREGATE_PREFIX[function]
            subjects = arguments[:1] if function.endswith("if") else arguments
            for argument in arguments[len(subjects) :]:
                self.bind_scalar(argument, schema, scope)
            columns = []
            for argument in subjects:
                if argument.kind == "Star":
                    columns += [(prefix + name, type_) for name, type_ in schema.items()]
                    if schema.open:
                        columns.append(("*", UNKNOWN))
                    continue
                columns.append((prefix + subject_name(argument), self.bind_scalar(argument, schema, scope)))
            return columns
        if function == "percentiles" and len(arguments) >= 2:
            self.bind_scalar(arguments[0], schema, scope)
            base = path_name(arguments[0]) or "Column1"
            names = []
            for argument in arguments[1:]:
                text = argument.text().strip().replace(".", "_")
                names.append((f"percentile_{base}_{text}", self.bind_scalar(arguments[0], schema, scope)))
            return names
        return None

    def op_project_names(self, node: Node, schema: RowSchema, scope: _Scope) -> RowSchema:
        operator = node["operator"]
        patterns = [c for c in node.children if isinstance(c, Node)]
        if operator == "project-away":
            result = schema.copy()
            for pattern in patterns:
                matched = self.match_columns(pattern, schema)
                for name in matched:
                    result.columns.pop(name, None)
            return result
        if operator == "project-keep":
            keep: list[str] = []
            for pattern in patterns:
                keep.extend(self.match_columns(pattern, schema))
            return RowSchema({n: schema.columns[n] for n in schema.columns if n in keep}, schema.open)
        ordered: list[str] = []
        for pattern in patterns:
            ordered.extend(n for n in self.match_columns(pattern, schema) if n not in ordered)
        rest = [n for n in schema.columns if n not in ordered]
        return RowSchema({n: schema.columns[n] for n in ordered + rest}, schema.open)

    def match_columns(self, pattern: Node, schema: RowSchema) -> list[str]:
        text = "".join(t.text for t in pattern.tokens()) if pattern.kind == "NamePattern" else name_text(pattern)
        if "*" in text:
            regex = re.compile("^" + ".*".join(re.escape(part) for part in text.split("*")) + "$")
            return [n for n in schema.columns if regex.match(n)]
        if text in schema.columns:
            self.note_column(pattern)
            return [text]
        if schema.open and text:
            self.note_column(pattern)
        if not schema.open and text:
            self.report("KQL202", f"unknown column '{text}'{self._suggest(text, schema.columns)}", pattern)
        return []

    def op_project_rename(self, node: Node, schema: RowSchema, scope: _Scope) -> RowSchema:
        result = schema.copy()
        lists = [c for c in node.children if isinstance(c, Node) and c.kind == "List"]
        for item in (lists[0]["items"] if lists else []) or []:
            if item.kind != "Assignment" or item["name"] is None:
                continue
            new, old = name_text(item["name"]), item["value"]
            old_name = name_text(old) if old.kind == "Name" else ""
            self.note_column(item["name"])
            if old_name in result.columns or result.open:
                self.note_column(old)
            if old_name in result.columns:  # the renamed column keeps its place
                result.columns = {(new if name == old_name else name): t for name, t in result.columns.items()}
                continue
            if not result.open:
                self.report("KQL202", f"unknown column '{old_name}'{self._suggest(old_name, result.columns)}", old)
            result.columns[new] = UNKNOWN
        return result

    def op_summarize(self, node: Node, schema: RowSchema, scope: _Scope) -> RowSchema:
        lists = [c for c in node.children if isinstance(c, Node) and c.kind == "List"]
        has_by = any(isinstance(c, Token) and c.text == "by" for c in node.children)
        aggregates = lists[0] if lists and not (has_by and len(lists) == 1 and self._by_first(node)) else None
        groups = lists[-1] if has_by and lists else None
        if aggregates is groups:
            aggregates = None
        result = RowSchema({}, schema.open)
        counter = [0]
        for item in (groups["items"] if groups else []) or []:
            for name, type_ in self.bind_column_item(item, schema, scope, counter):
                result.columns[name] = type_
        for item in (aggregates["items"] if aggregates else []) or []:
            for name, type_ in self.bind_column_item(item, schema, scope, counter, aggregate=True):
                if name == "*":
                    result.open = True
                    continue
                result.columns.setdefault(name, type_)
        return result

    @staticmethod
    def _by_first(node: Node) -> bool:
        """True when `summarize by ...` has no aggregates."""
        for child in node.children[1:]:
            if isinstance(child, Token) and child.text == "by":
                return True
            if isinstance(child, Node) and child.kind == "List":
                return False
        return False

    def op_passthrough(self, node: Node, schema: RowSchema, scope: _Scope) -> RowSchema:
        for child in node.children:
            if isinstance(child, Node):
                self.bind_expressions_in(child, schema, scope)
        return schema

    def bind_expressions_in(self, node: Node, schema: RowSchema, scope: _Scope) -> None:
        if node.kind == "List":
            for item in node["items"] or []:
                self.bind_scalar(item, schema, scope)
        elif node.kind in ("Parameter", "Legacy", "Name", "Properties"):
            return
        else:
            self.bind_scalar(node, schema, scope)

    def op_serialize(self, node: Node, schema: RowSchema, scope: _Scope) -> RowSchema:
        return self.op_extend(node, schema, scope)

    def op_count(self, node: Node, schema: RowSchema, scope: _Scope) -> RowSchema:
        names = [c for c in node.children if isinstance(c, Node) and c.kind == "Name"]
        return RowSchema({name_text(names[0]) if names else "Count": LONG})

    def op_distinct(self, node: Node, schema: RowSchema, scope: _Scope) -> RowSchema:
        if any(isinstance(c, Token) and c.text == "*" for c in node.children):
            return schema
        lists = [c for c in node.children if isinstance(c, Node) and c.kind == "List"]
        result = RowSchema({}, schema.open)
        counter = [0]
        for item in (lists[0]["items"] if lists else []) or []:
            for name, type_ in self.bind_column_item(item, schema, scope, counter):
                result.columns[name] = type_
        return result

    def op_top(self, node: Node, schema: RowSchema, scope: _Scope) -> RowSchema:
        for child in node.children[1:]:
            if isinstance(child, Node):
                expression = child.children[0] if child.kind == "SortExpression" else child
                self.bind_scalar(expression, schema, scope)
        return schema

    def op_sort(self, node: Node, schema: RowSchema, scope: _Scope) -> RowSchema:
        for child in node.children:
            if isinstance(child, Node) and child.kind == "List":
                for item in child.children:
                    if isinstance(item, Node):
                        expression = item.children[0] if item.kind == "SortExpression" else item
                        self.bind_scalar(expression, schema, scope)
        return schema

    def op_join(self, node: Node, schema: RowSchema, scope: _Scope) -> RowSchema:
        right_node = node["right"]
        right = (
            self.bind_tabular(right_node, scope)
            if self.is_tabular(right_node, scope) or (right_node.kind in ("Name", "Parenthesized"))
            else RowSchema.unknown()
        )
        kind = "innerunique"
        for child in node.children:
            if isinstance(child, Node) and child.kind == "Parameter":
                tokens = [t for t in child.tokens()]
                if tokens and tokens[0].text == "kind" and len(tokens) >= 3:
                    kind = tokens[2].text.lower()
        lookup = node.kind == "Lookup"
        keys: set[str] = set()
        conditions = [c for c in node.children if isinstance(c, Node) and c.kind == "List"]
        for condition in (conditions[0]["items"] if conditions else []) or []:
            keys |= self.bind_join_condition(condition, schema, right, scope)
        where = [c for c in node.children[node.children.index(right_node) + 1 :] if isinstance(c, Node)]
        if not conditions and where:
            both = RowSchema({**schema.columns, **right.columns}, schema.open or right.open)
            self.bind_scalar(where[-1], both, scope)
        if kind in ("leftsemi", "leftanti", "anti", "leftantisemi", "semi"):
            return schema
        if kind in ("rightsemi", "rightanti", "rightantisemi"):
            return right
        result = schema.copy()
        result.open = schema.open or right.open
        for name, type_ in right.columns.items():
            if lookup and name in keys:
                continue
            if name in result.columns:
                result.columns[name + "1"] = type_
            else:
                result.columns[name] = type_
        return result

    def bind_join_condition(self, condition: Node, left: RowSchema, right: RowSchema, scope: _Scope) -> set[str]:
        """Check `Key`, `$left.A == $right.B` (and `and` of those); return the shared key names."""
        keys: set[str] = set()
        for part in operands(condition, ("and",)):
            keys |= self.bind_join_key(part, left, right, scope)
        return keys

    def bind_join_key(self, condition: Node, left: RowSchema, right: RowSchema, scope: _Scope) -> set[str]:
        if condition.kind == "Name":
            name = name_text(condition)
            self.note_column(condition)
            for side, schema in (("left", left), ("right", right)):
                if name not in schema.columns and not schema.open:
                    suggestion = self._suggest(name, schema.columns)
                    self.report("KQL202", f"unknown column '{name}' on the {side} side of the join{suggestion}",
                                condition)  # fmt: skip
            return {name}
        if condition.kind == "BinaryExpression":
            keys: set[str] = set()
            for side_node in (condition["left"], condition["right"]):
                side, name = _side_reference(side_node)
                if side is None:
                    self.bind_scalar(side_node, RowSchema({**left.columns, **right.columns}, True), scope)
                    continue
                schema = left if side == "$left" else right
                self.note_column(side_node["member"])
                if name not in schema.columns and not schema.open:
                    where = "left" if side == "$left" else "right"
                    suggestion = self._suggest(name, schema.columns)
                    self.report("KQL202", f"unknown column '{name}' on the {where} side of the join{suggestion}",
                                side_node)  # fmt: skip
                if side == "$right":
                    keys.add(name)
            return keys
        self.bind_scalar(condition, RowSchema({**left.columns, **right.columns}, True), scope)
        return set()

    def op_union(self, node: Node, schema: RowSchema | None, scope: _Scope) -> RowSchema:
        result = schema.copy() if schema is not None else RowSchema()
        withsource = None
        for child in node.children[1:]:
            if not isinstance(child, Node):
                continue
            if child.kind == "Parameter":
                tokens = [t for t in child.tokens() if not t.missing]
                if tokens and tokens[0].text == "withsource" and len(tokens) >= 3:
                    withsource = string_value(tokens[-2].text) if tokens[-1].text == "]" else tokens[2].text
                continue
            if child.kind == "NamePattern" and any(t.text == "*" for t in child.tokens()):
                pattern = "".join(t.text for t in child.tokens())
                regex = re.compile("^" + ".*".join(re.escape(p) for p in pattern.split("*")) + "$")
                matched = [t for t in self.env.tables if regex.match(t)]
                if not matched:
                    result.open = True
                for table in matched:
                    self.tables_read.add(table)
                    for name, type_ in self.env.tables[table].items():
                        result.columns.setdefault(name, type_)
                continue
            part = self.bind_tabular(child, scope)
            result.open = result.open or part.open
            for name, type_ in part.columns.items():
                result.columns.setdefault(name, type_)
        if withsource:
            result.columns = {withsource: STRING, **result.columns}
        return result

    def op_union_operator(self, node: Node, schema: RowSchema, scope: _Scope) -> RowSchema:
        return self.op_union(node, schema, scope)

    def op_mv_expand(self, node: Node, schema: RowSchema, scope: _Scope) -> RowSchema:
        result = schema.copy()
        for child in node.children[1:]:
            if not isinstance(child, Node):
                continue
            if child.kind == "Parameter":
                tokens = [t for t in child.tokens() if not t.missing]
                if tokens and tokens[0].text == "with_itemindex" and len(tokens) >= 3:
                    result.columns[tokens[2].text] = LONG
                continue
            if child.kind != "ExpandItem":
                if child.kind not in ("Name",):
                    self.bind_scalar(child, schema, scope)
                continue
            item = child.children[0]
            to_type = DYNAMIC
            if len(child.children) > 2:
                type_node = child.children[2]
                inner = [c for c in type_node.children if isinstance(c, Node)]
                if inner:
                    to_type = normalize_type(name_text(inner[0]))
            if item.kind == "Assignment" and item["name"] is not None:
                self.bind_scalar(item["value"], schema, scope)
                result.columns[name_text(item["name"])] = to_type
            else:
                item_type = self.bind_scalar(item, schema, scope)
                if item_type not in (DYNAMIC, UNKNOWN):
                    self.report("KQL213", f"mv-expand needs a dynamic array or bag; '{item.text().strip()}' is "
                                f"{item_type} (wrap it in parse_json())", item)  # fmt: skip
                name = subject_name(item) or _expanded_call_name(item) or "Column1"
                result.columns[name] = to_type
        return result

    def op_mv_apply(self, node: Node, schema: RowSchema, scope: _Scope) -> RowSchema:
        expanded = self.op_mv_expand(
            Node("MvExpand", [c for c in node.children if not (isinstance(c, Node) and c.kind == "SubQuery")]),
            schema,
            scope,
        )
        subquery = next((c for c in node.children if isinstance(c, Node) and c.kind == "SubQuery"), None)
        if subquery is None:
            return expanded
        # The sub-query sees each row's expanded values; its output replaces the expanded columns,
        # and the row's other columns stay.
        applied = self.bind_subquery(subquery, expanded, scope)
        item_columns = [name for name in expanded.columns if name not in schema.columns or name in applied.columns]
        result = RowSchema({n: t for n, t in schema.columns.items() if n not in item_columns}, schema.open)
        result.open = result.open or applied.open
        result.columns.update(applied.columns)
        return result

    def bind_subquery(self, subquery: Node, schema: RowSchema, scope: _Scope) -> RowSchema:
        result = schema
        for child in subquery.children:
            if isinstance(child, Node):
                if child.kind == "Pipe" or child.kind == "Name":
                    result = self.bind_tabular(child, scope) if child.kind == "Pipe" else result
                else:
                    result = self.bind_operator(child, result, scope)
        return result

    def op_parse(self, node: Node, schema: RowSchema, scope: _Scope) -> RowSchema:
        result = schema.copy()
        source_done = False
        for child in node.children[1:]:
            if not isinstance(child, Node) or child.kind == "Parameter":
                continue
            if not source_done:
                type_ = self.bind_scalar(child, schema, scope)
                if type_ not in (STRING, DYNAMIC, UNKNOWN):
                    self.report("KQL211", f"'parse' reads a string, not {type_}", child)
                source_done = True
                continue
            if child.kind == "ParsePattern":
                parts = child.children
                for index, part in enumerate(parts):
                    if isinstance(part, Node) and part.kind == "Name":
                        type_ = STRING
                        if (
                            index + 2 < len(parts)
                            and isinstance(parts[index + 1], Token)
                            and parts[index + 1].text == ":"
                        ):
                            type_ = normalize_type(name_text(parts[index + 2]))
                        result.columns[name_text(part)] = type_
        return result

    def op_parse_kv(self, node: Node, schema: RowSchema, scope: _Scope) -> RowSchema:
        result = schema.copy()
        expressions = [c for c in node.children if isinstance(c, Node)]
        if expressions:
            self.bind_scalar(expressions[0], schema, scope)
        for child in expressions:
            if child.kind == "Schema":
                result.columns.update(self._schema_of(child).columns)
        return result

    def op_make_series(self, node: Node, schema: RowSchema, scope: _Scope) -> RowSchema:
        result = RowSchema({}, schema.open)
        aggregates: list[tuple[str, str]] = []
        counter = [0]
        children = node.children
        index = 1
        section = "aggregates"
        by_columns: list[tuple[str, str]] = []
        axis = None
        while index < len(children):
            child = children[index]
            if isinstance(child, Token):
                word = child.text
                if word == "on":
                    section = "axis"
                elif word in ("from", "to", "step", "in"):
                    section = "range"
                elif word == "by":
                    section = "by"
                elif word == "default":
                    section = "default"
                index += 1
                continue
            if child.kind == "Parameter":
                index += 1
                continue
            if section == "aggregates":
                for name, _ in self.bind_column_item(child, schema, scope, counter, aggregate=True):
                    aggregates.append((name, DYNAMIC))
            elif section == "axis":
                self.bind_scalar(child, schema, scope)
                axis = path_name(child) or "Column1"
                section = "after-axis"
            elif section == "by":
                if child.kind == "List":
                    for item in child["items"] or []:
                        by_columns.extend(self.bind_column_item(item, schema, scope, counter))
            else:
                self.bind_scalar(child, schema, scope)
                if section == "default":
                    section = "aggregates"
            index += 1
        for name, type_ in by_columns:
            result.columns[name] = type_
        for name, type_ in aggregates:
            result.columns[name] = type_
        if axis:
            result.columns[axis] = DYNAMIC
        return result

    def op_evaluate(self, node: Node, schema: RowSchema, scope: _Scope) -> RowSchema:
        calls = [c for c in node.children if isinstance(c, Node) and c.kind == "Call"]
        declared = next((c for c in node.children if isinstance(c, Node) and c.kind == "Schema"), None)
        if not calls:
            return RowSchema.unknown()
        call = calls[0]
        name = name_text(call["callee"])
        arguments = call["arguments"]["items"] or []
        info = catalog.lookup(name, self.env.dialect)
        if info is None or info.kind != "plugin":
            self.report(
                "KQL203", f"unknown plugin '{name}'{self._suggest(name, catalog.plugin_names())}", call["callee"]
            )
            return RowSchema.unknown()
        self.check_arity(info, len(arguments), call["callee"])
        if name == "ipv4_lookup" and arguments:
            lookup_table = arguments[0]
            lookup = (
                self.bind_tabular(lookup_table, scope)
                if self.is_tabular(lookup_table, scope)
                else (RowSchema.unknown())
            )
            if len(arguments) > 1:
                self.bind_scalar(arguments[1], schema, scope)
            if len(arguments) > 2:
                self.bind_scalar(arguments[2], lookup, scope)
            result = schema.copy()
            result.open = schema.open or lookup.open
            for column, type_ in lookup.columns.items():
                result.columns.setdefault(column, type_)
            return result
        for argument in arguments:
            if argument.kind != "Assignment":
                self.bind_argument(argument, schema, scope)
        if declared is not None:
            return self._schema_of(declared)
        return RowSchema.unknown()

    def op_invoke(self, node: Node, schema: RowSchema, scope: _Scope) -> RowSchema:
        call = next((c for c in node.children if isinstance(c, Node) and c.kind == "Call"), None)
        if call is None:
            return RowSchema.unknown()
        callee = call["callee"]
        name = name_text(callee) if callee.kind == "Name" else ""
        symbol = scope.lookup(name)
        if symbol is not None and symbol.kind == "function":
            return self.bind_user_function(call, symbol, scope, schema)
        for argument in call["arguments"]["items"] or []:
            self.bind_argument(argument, schema, scope)
        if name in self.env.function_tables:
            return _add_columns(schema, self.env.function_tables[name])
        info = catalog.lookup(name, self.env.dialect)
        if info is None:
            self.report_unknown_function(name, callee, scope)
        return RowSchema({**schema.columns}, open=True)

    def op_as(self, node: Node, schema: RowSchema, scope: _Scope) -> RowSchema:
        names = [c for c in node.children if isinstance(c, Node) and c.kind == "Name"]
        if names:
            scope.define(name_text(names[-1]), _Symbol("table", schema=schema.copy()))
        return schema

    def op_search(self, node: Node, schema: RowSchema | None, scope: _Scope) -> RowSchema:
        tables = next((c for c in node.children if isinstance(c, Node) and c.kind == "Tables"), None)
        if tables is not None:
            source = RowSchema()
            for child in tables.children:
                if isinstance(child, Node):
                    part = (
                        self.bind_tabular(child, scope)
                        if child.kind != "NamePattern"
                        else (self.op_union(Node("Union", [Token(T.IDENT, "union", 0), child]), None, scope))
                    )
                    source.open = source.open or part.open
                    for name, type_ in part.columns.items():
                        source.columns.setdefault(name, type_)
        elif schema is not None:
            source = schema
        else:
            source = RowSchema.unknown()
        predicate = [c for c in node.children if isinstance(c, Node) and c.kind not in ("Tables", "Parameter")]
        if predicate:
            self.bind_search_predicate(predicate[-1], source, scope)
        return RowSchema({"$table": STRING, **source.columns}, source.open)

    def bind_search_predicate(self, node: Node, schema: RowSchema, scope: _Scope) -> None:
        """Search terms are bare strings; `Column:"value"` names a column."""
        if node.kind == "BinaryExpression" and node["op"].text in ("and", "or"):
            for part in operands(node, ("and", "or")):
                self.bind_search_predicate(part, schema, scope)
            return
        if node.kind == "BinaryExpression" and node["op"].text == ":":
            left = node["left"]
            if left.kind == "Name" and name_text(left) not in schema.columns and not schema.open:
                self.report("KQL202", f"unknown column '{name_text(left)}'", left)
            return
        if node.kind == "Literal":
            return
        self.bind_scalar(node, RowSchema(schema.columns, True), scope)

    def op_sample(self, node: Node, schema: RowSchema, scope: _Scope) -> RowSchema:
        expressions = [c for c in node.children if isinstance(c, Node)]
        for expression in expressions:
            self.bind_scalar(expression, schema, scope)
        if len(expressions) > 1:  # sample-distinct N of Column
            return RowSchema({path_name(expressions[1]) or "Column1": self.bind_scalar(expressions[1], schema, scope)})
        return schema

    def op_render(self, node: Node, schema: RowSchema, scope: _Scope) -> RowSchema:
        return schema

    # ----------------------------------------------------------------- scalar expressions
    def bind_argument(self, node: Node, schema: RowSchema | None, scope: _Scope) -> str:
        if node.kind == "Assignment":
            return self.bind_scalar(node["value"], schema, scope)
        if node.kind == "Star":
            return UNKNOWN
        if self.is_tabular(node, scope):
            self.bind_tabular(node, scope)
            return UNKNOWN
        return self.bind_scalar(node, schema, scope)

    def bind_scalar(self, node: Node, schema: RowSchema | None, scope: _Scope) -> str:
        if node.kind in _CHAIN_LINKS:
            return self.bind_chain(node, schema, scope)
        method = _SCALAR.get(node.kind)
        if method is None:
            for child in node.children:
                if isinstance(child, Node):
                    self.bind_scalar(child, schema, scope)
            return UNKNOWN
        return method(self, node, schema, scope)

    def s_literal(self, node: Node, schema: RowSchema | None, scope: _Scope) -> str:
        return _literal_type(node)

    def s_name(self, node: Node, schema: RowSchema | None, scope: _Scope) -> str:
        name = name_text(node)
        if not name:
            return UNKNOWN
        if schema is not None and name in schema.columns:
            self.note_column(node)
            return schema.columns[name]
        symbol = scope.lookup(name)
        if symbol is not None:
            if symbol.kind == "scalar":
                return symbol.type
            return UNKNOWN  # a table or function name used as a value (e.g. `in (T)`)
        if schema is not None and schema.open and name not in ("true", "false", "null"):
            self.note_column(node)  # most likely a column we cannot see
        if name in ("true", "false"):
            return BOOL
        if name == "null":
            return UNKNOWN
        if name in self.env.tables:
            return UNKNOWN
        if schema is not None and schema.open:
            return UNKNOWN
        candidates = list(schema.columns) if schema is not None else []
        candidates += [n for n in scope.names()]
        where = "column or name" if schema is not None else "name"
        self.report("KQL202", f"unknown {where} '{name}'{self._suggest(name, candidates)}", node)
        return UNKNOWN

    def s_parenthesized(self, node: Node, schema: RowSchema | None, scope: _Scope) -> str:
        inner = [c for c in node.children if isinstance(c, Node)]
        if not inner:
            return UNKNOWN
        if self.is_tabular(inner[0], scope):
            self.bind_tabular(inner[0], scope)
            return UNKNOWN
        return self.bind_scalar(inner[0], schema, scope)

    def s_pipe(self, node: Node, schema: RowSchema | None, scope: _Scope) -> str:
        self.bind_tabular(node, scope)
        return UNKNOWN

    def s_unary(self, node: Node, schema: RowSchema | None, scope: _Scope) -> str:
        return self.bind_scalar(node["operand"], schema, scope)

    def s_member(self, node: Node, schema: RowSchema | None, scope: _Scope) -> str:
        side, _name = _side_reference(node)
        if side is not None:
            return UNKNOWN
        target = node["target"]
        if target.kind == "Call" and name_text(target["callee"]) in ("cluster", "database"):
            return UNKNOWN
        target_type = self.bind_scalar(target, schema, scope)
        if target_type in (DYNAMIC, UNKNOWN):
            return DYNAMIC
        member = name_text(node["member"])
        if target.kind == "Name" and target_type == STRING:
            self.string_member_targets.append(target.first_token())
        hint = f"; parse it first: parse_json({target.text().strip()}).{member}" if target_type == STRING else ""
        self.report("KQL212", f"'{target.text().strip()}' is {target_type}, not dynamic: it has no property "
                    f"'{member}'{hint}", node["member"])  # fmt: skip
        return UNKNOWN

    def s_element(self, node: Node, schema: RowSchema | None, scope: _Scope) -> str:
        self.bind_scalar(node["target"], schema, scope)
        self.bind_scalar(node["index"], schema, scope)
        return DYNAMIC

    def bind_chain(self, node: Node, schema: RowSchema | None, scope: _Scope) -> str:
        """`a or b or c ...` nests on the left as deep as the chain is long: bind the innermost left
        operand, then each operator outwards with its right operand, in a loop (same order as recursion)."""
        links: list[Node] = []
        while node.kind in _CHAIN_LINKS:
            links.append(node)
            node = node["left"]
        type_ = self.bind_scalar(node, schema, scope)
        for link in reversed(links):
            type_ = _CHAIN_LINKS[link.kind](self, link, type_, schema, scope)
        return type_

    def s_in(self, node: Node, left: str, schema: RowSchema | None, scope: _Scope) -> str:
        operator = node["op"].text
        if operator.startswith("has_") and left not in _STRING_LIKE:
            self.report("KQL211", f"'{operator}' works on strings, not {left}", node["op"])
        right = node["right"]
        for child in right.children:
            if isinstance(child, Node):
                self.bind_argument(child, schema, scope)
        return BOOL

    def s_between(self, node: Node, left: str, schema: RowSchema | None, scope: _Scope) -> str:
        for bound in (node["right"]["low"], node["right"]["high"]):
            if bound is not None:  # None after a syntax error (the operand was skipped)
                self.bind_scalar(bound, schema, scope)
        return BOOL

    def s_binary(self, node: Node, left: str, schema: RowSchema | None, scope: _Scope) -> str:
        operator = node["op"].text
        right = self.bind_scalar(node["right"], schema, scope)
        if operator in ("and", "or"):
            return BOOL
        if operator in _COMPARISONS:
            return BOOL
        if operator in _STRING_OPERATORS:
            if left not in _STRING_LIKE:
                self.report("KQL211", f"'{operator}' works on strings, not {left}", node["op"])
            return BOOL
        if operator == ":":
            return BOOL
        return _arithmetic(operator, left, right, self, node)

    def s_call(self, node: Node, schema: RowSchema | None, scope: _Scope) -> str:
        callee = node["callee"]
        arguments = node["arguments"]["items"] or []
        if callee.kind != "Name":
            self.bind_scalar(callee, schema, scope)
            for argument in arguments:
                self.bind_argument(argument, schema, scope)
            return UNKNOWN
        name = name_text(callee)
        symbol = scope.lookup(name)
        if symbol is not None and symbol.kind == "function":
            if self._function_is_tabular(node, symbol):
                self.bind_user_function(node, symbol, scope, None)
                return UNKNOWN
            for argument in arguments:
                self.bind_argument(argument, schema, scope)
            return UNKNOWN
        if name in ("materialize", "toscalar", "view"):
            for argument in arguments:
                self.bind_argument(argument, schema, scope)
            return UNKNOWN
        info = catalog.lookup(name, self.env.dialect)
        argument_types = [self.bind_argument(a, schema, scope) for a in arguments]
        if info is None:
            if name in self.env.function_tables or (catalog.is_asim_parser(name) and self.env.dialect == "sentinel"):
                return UNKNOWN
            self.report_unknown_function(name, callee, scope)
            return UNKNOWN
        self.check_arity(info, len(arguments), callee)
        if name == "column_ifexists" and len(argument_types) >= 2:
            column = string_literal(arguments[0])
            if column is not None and schema is not None and column in schema.columns:
                return schema.columns[column]
            return argument_types[1]
        if name in ("extractjson", "extract_json") and len(arguments) >= 3 and arguments[2].kind == "TypeOf":
            inner = [c for c in arguments[2].children if isinstance(c, Node)]
            return normalize_type(name_text(inner[0])) if inner else UNKNOWN
        return _result_type(info.returns, argument_types)

    def s_typeof(self, node: Node, schema: RowSchema | None, scope: _Scope) -> str:
        return UNKNOWN

    def s_star(self, node: Node, schema: RowSchema | None, scope: _Scope) -> str:
        return UNKNOWN

    def s_tabular_in_scalar(self, node: Node, schema: RowSchema | None, scope: _Scope) -> str:
        self.bind_tabular(node, scope)
        return UNKNOWN

    # ----------------------------------------------------------------- functions
    def report_unknown_function(self, name: str, node: Node, scope: _Scope) -> None:
        other = "sentinel" if self.env.dialect == "defender" else "defender"
        if catalog.lookup(name, other) is not None or (other == "sentinel" and catalog.is_asim_parser(name)):
            self.report("KQL203", f"function '{name}' exists in {other.title()} but not in {self.env.dialect.title()}",
                        node)  # fmt: skip
            return
        suggestion = self._suggest(name, list(catalog.names(self.env.dialect)) + list(scope.names()))
        self.report("KQL203", f"unknown function '{name}'{suggestion}", node)

    def check_arity(self, info: Any, count: int, node: Node) -> None:
        maximum = info.max_args
        if count < info.min_args or (maximum is not None and count > maximum):
            if maximum is None:
                expected = f"at least {info.min_args}"
            elif maximum == info.min_args:
                expected = str(maximum)
            else:
                expected = f"{info.min_args} to {maximum}"
            noun = "argument" if expected == "1" else "arguments"
            self.report("KQL204", f"'{info.name}' takes {expected} {noun}, got {count}", node)

    def check_arity_by_name(self, name: str, count: int, node: Node) -> None:
        info = catalog.lookup(name, self.env.dialect)
        if info is not None:
            self.check_arity(info, count, node)


def column_name(expression: Node, counter: list[int], aggregate: bool = False) -> str:
    """Kusto's name for an unnamed expression column (the emulator names its columns with it too)."""
    path = path_name(expression)
    if path:
        return path
    if expression.kind == "Call" and expression["callee"].kind == "Name":
        function = name_text(expression["callee"])
        arguments = expression["arguments"]["items"] or []
        if aggregate:
            return aggregate_name(function, arguments)
        inner = path_name(arguments[0]) if arguments else ""
        if inner and (function.startswith("to") or function in _NAME_KEEPING_FUNCTIONS):
            return inner
    counter[0] += 1
    return f"Column{counter[0]}"


def _add_columns(base: RowSchema | None, added: RowSchema) -> RowSchema:
    columns = dict(base.columns) if base is not None else {}
    for name, type_ in added.columns.items():
        columns.setdefault(name, type_)
    return RowSchema(columns, added.open or (base.open if base is not None else False))


def _side_reference(node: Node) -> tuple[str | None, str]:
    """`$left.X` -> ("$left", "X")."""
    if node.kind == "MemberAccess":
        target = node["target"]
        if target.kind == "Name" and name_text(target) in ("$left", "$right"):
            return name_text(target), name_text(node["member"])
    return None, ""


# Functions whose result column takes the name of their first argument: `by bin(Timestamp, 1h)` is Timestamp.
_NAME_KEEPING_FUNCTIONS = frozenset(
    {"bin", "bin_at", "bin_auto", "floor", "startofday", "startofweek", "startofmonth", "startofyear", "endofday",
     "endofweek", "endofmonth", "endofyear", "datetime_utc_to_local", "datetime_local_to_utc"}
)  # fmt: skip


def _result_type(rule: str, argument_types: list[str]) -> str:
    if rule.startswith("$"):
        if rule == "$numeric":
            return wider_numeric(*argument_types) if argument_types else UNKNOWN
        index = int(rule[1:]) - 1
        return argument_types[index] if 0 <= index < len(argument_types) else UNKNOWN
    return normalize_type(rule) if rule != UNKNOWN else UNKNOWN


def _arithmetic(operator: str, left: str, right: str, binder: Binder, node: Node) -> str:
    if UNKNOWN in (left, right) or DYNAMIC in (left, right):
        return UNKNOWN
    if left in NUMERIC and right in NUMERIC:
        return REAL if operator == "/" and REAL in (left, right) else wider_numeric(left, right)
    if operator in ("+", "-"):
        if left == DATETIME and right == TIMESPAN:
            return DATETIME
        if left == TIMESPAN and right == DATETIME and operator == "+":
            return DATETIME
        if left == DATETIME and right == DATETIME and operator == "-":
            return TIMESPAN
        if left == TIMESPAN and right == TIMESPAN:
            return TIMESPAN
    if operator in ("*", "/") and TIMESPAN in (left, right) and (left in NUMERIC or right in NUMERIC):
        return TIMESPAN
    if operator == "/" and left == TIMESPAN and right == TIMESPAN:
        return REAL
    if operator == "%" and left == TIMESPAN and right == TIMESPAN:
        return TIMESPAN
    binder.report("KQL211", f"'{operator}' is not defined for {left} and {right}", node["op"])
    return UNKNOWN


_OPERATORS: dict[str, Callable[[Binder, Node, RowSchema, _Scope], RowSchema]] = {
    "Where": Binder.op_where,
    "Extend": Binder.op_extend,
    "Project": Binder.op_project,
    "ProjectNames": Binder.op_project_names,
    "ProjectRename": Binder.op_project_rename,
    "Summarize": Binder.op_summarize,
    "Sort": Binder.op_sort,
    "Top": Binder.op_top,
    "Take": Binder.op_passthrough,
    "Count": Binder.op_count,
    "Distinct": Binder.op_distinct,
    "Join": Binder.op_join,
    "Lookup": Binder.op_join,
    "Union": Binder.op_union_operator,
    "MvExpand": Binder.op_mv_expand,
    "MvApply": Binder.op_mv_apply,
    "Parse": Binder.op_parse,
    "ParseKv": Binder.op_parse_kv,
    "MakeSeries": Binder.op_make_series,
    "Render": Binder.op_render,
    "Evaluate": Binder.op_evaluate,
    "Invoke": Binder.op_invoke,
    "As": Binder.op_as,
    "Serialize": Binder.op_serialize,
    "Search": Binder.op_search,
    "Sample": Binder.op_sample,
}

_SCALAR: dict[str, Callable[[Binder, Node, RowSchema | None, _Scope], str]] = {
    "Literal": Binder.s_literal,
    "Name": Binder.s_name,
    "Parenthesized": Binder.s_parenthesized,
    "Pipe": Binder.s_pipe,
    "UnaryExpression": Binder.s_unary,
    "MemberAccess": Binder.s_member,
    "ElementAccess": Binder.s_element,
    "Call": Binder.s_call,
    "TypeOf": Binder.s_typeof,
    "Star": Binder.s_star,
    "DataTable": Binder.s_tabular_in_scalar,
    "ExternalData": Binder.s_tabular_in_scalar,
    "Union": Binder.s_tabular_in_scalar,
    "Range": Binder.s_tabular_in_scalar,
    "Print": Binder.s_tabular_in_scalar,
    "Search": Binder.s_tabular_in_scalar,
    "Evaluate": Binder.s_tabular_in_scalar,
    "MissingExpression": Binder.s_star,
    "Error": Binder.s_star,
}


# Operators whose left operand may be the same kind of node: bound by Binder.bind_chain, given the left type.
_CHAIN_LINKS: dict[str, Callable[[Binder, Node, str, RowSchema | None, _Scope], str]] = {
    "BinaryExpression": Binder.s_binary,
    "InExpression": Binder.s_in,
    "BetweenExpression": Binder.s_between,
}


def _expanded_call_name(node: Node) -> str:
    """mv-expand parse_json(Col) expands into a column named Col."""
    if node.kind == "Call":
        arguments = node["arguments"]["items"] or []
        if len(arguments) == 1:
            return path_name(arguments[0])
    return ""
