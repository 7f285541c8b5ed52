"""The binder: follows the row schema through a parsed query and reports what cannot exist.

It resolves tables per dialect, `let` names, functions and columns; infers scalar types; and
reports unknown tables, columns and functions, wrong argument counts and clear type errors.
It never guesses: where a column set depends on data (bag_unpack, pivot, an unknown source) the
schema becomes *open* and unknown names are no longer errors. It also yields the output schema.

This module holds `bind` and the Binder, which binds statements (let, declare, function bodies),
decides what is tabular, binds table names, tabular calls and let function expansions, and combines
the mixins that bind the rest: binder_operators.py (each query operator) and binder_expressions.py
(scalar expressions and function calls). Environment, BindResult and the scopes are in symbols.py.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from . import functions as catalog
from .binder_expressions import ExpressionBinder
from .binder_operators import OperatorBinder, add_columns, column_name
from .lexer import T, Token
from .names import name_text, string_literal
from .parser import MAX_NESTING, ParseResult
from .symbols import BindResult, Environment, Scope, Symbol
from .syntax import KqlDiagnostic, Node
from .types import LONG, UNKNOWN, RowSchema, normalize_type

__all__ = ["BindResult", "Binder", "Environment", "bind", "column_name"]


def bind(result: ParseResult, environment: Environment) -> BindResult:
    binder = Binder(environment)
    output = binder.bind_query(result.tree)
    return BindResult(binder.diagnostics, output, binder.tables_read)


class Binder(OperatorBinder, ExpressionBinder):
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
        scope = Scope()
        output: RowSchema | None = None
        for statement in tree["statements"] or []:
            output = self.bind_statement(statement, scope)
        return output

    def bind_statement(self, statement: Node, scope: Scope) -> RowSchema | None:
        if statement.kind == "LetStatement":
            self.bind_let(statement, scope)
            return None
        if statement.kind in ("SetStatement", "OtherStatement"):
            return None
        if statement.kind == "DeclareStatement":
            for name, type_ in self._declared_parameters(statement):
                scope.define(name, Symbol("scalar", type_))
            return None
        if self.is_tabular(statement, scope):
            return self.bind_tabular(statement, scope)
        self.bind_scalar(statement, None, scope)
        return None

    def _declared_parameters(self, statement: Node) -> list[tuple[str, str]]:
        parameters = next((c for c in statement.children if isinstance(c, Node) and c.kind == "ParameterList"), None)
        return [(name, type_) for name, type_, _ in self._parameters(parameters)] if parameters else []

    def bind_let(self, statement: Node, scope: Scope) -> None:
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
            scope.define(name, Symbol("function", declaration=value, scope=visible, reach=reach))
            return
        if self.is_tabular(value, scope):
            scope.define(name, Symbol("table", schema=self.bind_tabular(value, scope)))
        else:
            scope.define(name, Symbol("scalar", self.bind_scalar(value, None, scope), value=string_literal(value)))

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

    def check_function_body(self, declaration: Node, scope: Scope) -> RowSchema | None:
        """Bind a function body once with its declared parameters, to report errors inside it."""
        inner = Scope(scope)
        parameters = next(c for c in declaration.children if isinstance(c, Node) and c.kind == "ParameterList")
        for name, type_, schema in self._parameters(parameters):
            inner.define(name, Symbol("table", schema=schema) if schema else Symbol("scalar", type_))
        output = None
        for statement in declaration["statements"] or []:
            output = self.bind_statement(statement, inner)
        return output

    # ----------------------------------------------------------------- tabular or scalar?
    def is_tabular(self, node: Node, scope: Scope) -> bool:
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

    def _function_is_tabular(self, call: Node, symbol: Symbol) -> bool:
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
                self.root.expansions[key] = (symbol, self._body_is_tabular(declaration, Scope(symbol.scope)))
            finally:
                self.offset = outer
        return self.root.expansions[key][1]

    def _body_is_tabular(self, declaration: Node, inner: Scope) -> bool:
        statements = declaration["statements"] or []
        last = statements[-1]
        parameters = next(c for c in declaration.children if isinstance(c, Node) and c.kind == "ParameterList")
        for name, type_, schema in self._parameters(parameters):
            inner.define(name, Symbol("table", schema=schema) if schema else Symbol("scalar", type_))
        for statement in statements[:-1]:
            if statement.kind == "LetStatement":
                value = statement["value"]
                kind = "table" if value.kind != "FunctionDeclaration" and self.is_tabular(value, inner) else "scalar"
                inner.define(name_text(statement["name"]), Symbol(kind, schema=RowSchema.unknown()))
        return self.is_tabular(last, inner)

    # ----------------------------------------------------------------- tabular expressions
    def bind_tabular(self, node: Node, scope: Scope) -> RowSchema:
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

    def bind_table_name(self, node: Node, scope: Scope) -> RowSchema:
        name = name_text(node)
        symbol = scope.lookup(name)
        if symbol is not None:
            if symbol.kind == "table" and symbol.schema is not None:
                return symbol.schema.copy()
            if symbol.kind == "function":
                return self.bind_bare_function(node, symbol, scope)
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

    def bind_bare_function(self, node: Node, symbol: Symbol, scope: Scope) -> RowSchema:
        """A let function named without parentheses (`let F = () { T }; F | ...`): Kusto calls it when no
        parameter needs a value, so its output is the body's."""
        declaration = symbol.declaration
        parameters = next((c for c in declaration.children if isinstance(c, Node) and c.kind == "ParameterList"), None)
        if declaration is None or parameters is None or not all(self._parameter_defaults(parameters)):
            return RowSchema.unknown()
        call = Node("Call", [node], callee=node, arguments=Node("List", [], items=[]), depth=node["depth"])
        return self.bind_user_function(call, symbol, scope, None)

    def bind_tabular_call(self, node: Node, scope: Scope, piped: RowSchema | None) -> RowSchema:
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
        if name == "table" and arguments:  # table('T'), table(name) with name a known string: the table T
            table = self.constant_string(arguments[0], scope)
            if table is not None and scope.lookup(table) is None and table in self.env.tables:
                self.tables_read.add(table)
                return RowSchema(dict(self.env.tables[table]))
        if name == "materialize" and arguments:
            return (
                self.bind_tabular(arguments[0], scope)
                if self.is_tabular(arguments[0], scope)
                else (RowSchema.unknown())
            )
        for argument in arguments:
            self.bind_argument(argument, None, scope)
        if name in self.env.function_tables:
            return add_columns(piped, self.env.function_tables[name])
        info = catalog.lookup(name, self.env.dialect)
        if info is None and not (catalog.is_asim_parser(name) and self.env.dialect == "sentinel"):
            self.report_unknown_function(name, callee, scope)
        elif info is not None:
            self.check_arity(info, len(arguments), callee)
        return RowSchema.unknown()

    @staticmethod
    def constant_string(node: Node, scope: Scope) -> str | None:
        """The string `node` is when that is known without data: a string literal, or a scalar let or a
        parameter bound to one."""
        literal = string_literal(node)
        if literal is not None or node.kind != "Name":
            return literal
        symbol = scope.lookup(name_text(node))
        return symbol.value if symbol is not None and symbol.kind == "scalar" else None

    def expansion(self, call: Node, symbol: Symbol) -> int | None:
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

    def bind_user_function(self, node: Node, symbol: Symbol, scope: Scope, piped: RowSchema | None) -> RowSchema:
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
        inner = Scope(symbol.scope)
        values = ([piped] if piped is not None else []) + list(arguments)
        signature: list[Any] = [id(symbol)]  # not the depth: `expansion` checked that all of it fits
        for index, (name, type_, schema) in enumerate(parameters):
            value = values[index] if index < len(values) else None
            if schema is not None:
                if isinstance(value, RowSchema):
                    schema = value
                elif value is not None and self.is_tabular(value, scope):
                    schema = self.bind_tabular(value, scope)
                inner.define(name, Symbol("table", schema=schema))
                signature.append((tuple(schema.columns.items()), schema.open))
            else:
                constant = None
                if isinstance(value, Node):
                    self.bind_argument(value, None, scope)
                    constant = self.constant_string(value, scope)
                inner.define(name, Symbol("scalar", type_, value=constant))
                signature.append((type_, constant))
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
