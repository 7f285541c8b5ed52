"""Scalar expressions for the binder: ExpressionBinder, the mixin of Binder that infers the type of each
scalar expression (one `s_*` method per node kind, looked up in _SCALAR; chains of binary, `in` and
`between` operators bound in a loop), reports operands of the wrong type, and checks calls against the
function catalog (unknown functions, argument counts)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import functions as catalog
from . import operator_types as optypes
from .lexer import Token
from .names import name_text, string_literal
from .symbols import Scope
from .syntax import Node
from .types import (
    BOOL,
    DYNAMIC,
    GUID,
    LONG,
    NUMERIC,
    REAL,
    STRING,
    TIMESPAN,
    UNKNOWN,
    RowSchema,
    branch_type,
    normalize_type,
    wider_numeric,
)  # fmt: skip

# Operand types the string operators (has, contains, ...) accept; anything else is KS106 in Kusto.
_STRING_LIKE = (STRING, DYNAMIC, UNKNOWN, GUID)
_STRING_OPERATORS = frozenset(
    {"has", "!has", "has_cs", "!has_cs", "hasprefix", "!hasprefix", "hasprefix_cs", "!hasprefix_cs", "hassuffix",
     "!hassuffix", "hassuffix_cs", "!hassuffix_cs", "contains", "!contains", "contains_cs", "!contains_cs",
     "startswith", "!startswith", "startswith_cs", "!startswith_cs", "endswith", "!endswith", "endswith_cs",
     "!endswith_cs", "matches", "like", "notlike", "likecs", "notlikecs", "notcontains", "notcontainscs", "containscs"}
)  # fmt: skip
_COMPARISONS = frozenset({"==", "!=", "<>", "<", "<=", ">", ">=", "=~", "!~", "="})


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


class ExpressionBinder:
    """Binder's scalar methods; the state, reporting and tabular binding they use (self.env, self.report,
    self.is_tabular, self.bind_tabular, ...) are Binder's."""

    # ----------------------------------------------------------------- scalar expressions
    def bind_argument(self, node: Node, schema: RowSchema | None, scope: Scope) -> str:
        if node.kind == "Assignment":
            return self.bind_scalar(node["value"], schema, scope)
        if node.kind == "Star":
            return UNKNOWN
        if self.is_tabular(node, scope):
            self.bind_tabular(node, scope)
            return UNKNOWN
        return self.bind_scalar(node, schema, scope)

    def bind_scalar(self, node: Node, schema: RowSchema | None, scope: Scope) -> str:
        if node.kind in _CHAIN_LINKS:
            return self.bind_chain(node, schema, scope)
        method = _SCALAR.get(node.kind)
        if method is None:
            for child in node.children:
                if isinstance(child, Node):
                    self.bind_scalar(child, schema, scope)
            return UNKNOWN
        return method(self, node, schema, scope)

    def check_predicate(self, type_: str, owner: str, node: Node) -> None:
        """A predicate (of countif, iff, case, not, ...) must be bool; Kusto refuses even dynamic there (KS107)."""
        if type_ not in (BOOL, UNKNOWN):
            self.report("KQL210", f"the condition of '{owner}' must be a bool, not {type_}", node)

    def check_parameters(self, operator: Node) -> None:
        """An operator's `kind=...` and `hint.x=...` against the values Kusto accepts (KQL214)."""
        head = operator.children[0] if operator.children else None
        if not isinstance(head, Token):
            return
        name_of_operator = head.text
        choices = optypes.PARAMETER_VALUES.get(name_of_operator, {})
        seen: set[str] = set()
        for child in operator.children:
            if not isinstance(child, Node) or child.kind != "Parameter":
                continue
            tokens = [t for t in child.tokens() if t.text.strip()]
            if len(tokens) < 2:
                continue
            equals = next((i for i, t in enumerate(tokens) if t.text == "="), None)
            if equals is None:
                continue
            name = "".join(t.text for t in tokens[:equals])
            if name in seen:
                self.report("KQL214", f"'{name}' is given twice in '{name_of_operator}'", child)
            seen.add(name)
            if name_of_operator == "join" and name.startswith("hint.") and name[5:] not in optypes.JOIN_HINTS:
                known = ", ".join(f"hint.{hint}" for hint in optypes.JOIN_HINTS)
                self.report("KQL214", f"unknown join hint '{name}'; join takes {known}", child)
            allowed = choices.get(name)
            value = tokens[equals + 1 :]
            if allowed and len(value) == 1 and value[0].text not in allowed:
                self.report("KQL214", f"unknown {name_of_operator} {name} '{value[0].text}'; expected one of: "
                            f"{', '.join(allowed)}", value[0])  # fmt: skip

    def s_literal(self, node: Node, schema: RowSchema | None, scope: Scope) -> str:
        return _literal_type(node)

    def s_name(self, node: Node, schema: RowSchema | None, scope: Scope) -> str:
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
        if schema is not None and schema.open and name not in optypes.BOOL_LITERALS and name != "null":
            self.note_column(node)  # most likely a column we cannot see
        if name in optypes.BOOL_LITERALS:
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

    def s_parenthesized(self, node: Node, schema: RowSchema | None, scope: Scope) -> str:
        inner = [c for c in node.children if isinstance(c, Node)]
        if not inner:
            return UNKNOWN
        if self.is_tabular(inner[0], scope):
            self.bind_tabular(inner[0], scope)
            return UNKNOWN
        return self.bind_scalar(inner[0], schema, scope)

    def s_pipe(self, node: Node, schema: RowSchema | None, scope: Scope) -> str:
        self.bind_tabular(node, scope)
        return UNKNOWN

    def s_unary(self, node: Node, schema: RowSchema | None, scope: Scope) -> str:
        operand = self.bind_scalar(node["operand"], schema, scope)
        sign = node["op"]
        if sign.text == "-" and operand != UNKNOWN and not optypes.negation_accepts(operand):
            self.report("KQL211", f"'-' is not defined for {operand}", sign)
            return UNKNOWN
        return operand

    def s_member(self, node: Node, schema: RowSchema | None, scope: Scope) -> str:
        side, _name = side_reference(node)
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

    def s_element(self, node: Node, schema: RowSchema | None, scope: Scope) -> str:
        self.bind_scalar(node["target"], schema, scope)
        self.bind_scalar(node["index"], schema, scope)
        return DYNAMIC

    def bind_chain(self, node: Node, schema: RowSchema | None, scope: Scope) -> str:
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

    def s_in(self, node: Node, left: str, schema: RowSchema | None, scope: Scope) -> str:
        operator = node["op"].text
        if operator.startswith("has_") and left not in _STRING_LIKE:
            self.report("KQL211", f"'{operator}' works on strings, not {left}", node["op"])
        elif operator in optypes.CASELESS_IN and left not in (STRING, DYNAMIC, UNKNOWN):
            self.report("KQL211", f"'{operator}' works on strings (or dynamic), not {left}", node["op"])
        right = node["right"]
        warned = False
        for child in right.children:
            if isinstance(child, Node):
                type_ = self.bind_argument(child, schema, scope)
                if not warned and operator in ("in", "!in"):
                    warned = self.warn_mixed_equality(operator, left, type_, node["op"])
        return BOOL

    def warn_mixed_equality(self, operator: str, left: str, right: str, at: Token) -> bool:
        """KQL304: `==`, `!=`, `in` between a string and a value of another type. Kusto's binder accepts it,
        but the reference does not say how the engine compares the two (`ResultType == 0` on a string
        column): say so rather than let a test pass or fail on a guess."""
        if not optypes.mixed_equality(left, right):
            return False
        self.report("KQL304", f"'{operator}' compares {left} with {right}: Kusto's binder accepts it, but the KQL "
                    "reference does not say how the two are compared; convert one side so both have one type "
                    "(e.g. tostring(), toint(), tolong())", at, "warning")  # fmt: skip
        return True

    def s_between(self, node: Node, left: str, schema: RowSchema | None, scope: Scope) -> str:
        reported = False
        for bound, upper in ((node["right"]["low"], False), (node["right"]["high"], True)):
            if bound is None:  # None after a syntax error (the operand was skipped)
                continue
            type_ = self.bind_scalar(bound, schema, scope)
            if reported or UNKNOWN in (left, type_) or optypes.between_accepts(left, type_, upper=upper):
                continue
            reported = True
            self.report("KQL211", f"'between' is not defined for {left} between {type_} bounds", node["op"])
        return BOOL

    def s_binary(self, node: Node, left: str, schema: RowSchema | None, scope: Scope) -> str:
        operator = node["op"].text
        right = self.bind_scalar(node["right"], schema, scope)
        if operator in ("and", "or"):
            for type_ in (left, right):
                if type_ != UNKNOWN and not optypes.logical_operand_accepts(type_):
                    self.report("KQL211", f"'{operator}' needs bool operands, not {type_}", node["op"])
                    break
            return BOOL
        if operator in _COMPARISONS:
            if operator in ("==", "!=", "<>"):
                self.warn_mixed_equality(operator, left, right, node["op"])
            if UNKNOWN not in (left, right) and (
                (operator in optypes.ORDERING and not optypes.ordering_accepts(left, right))
                or (operator in optypes.CASELESS_EQUALITY and not optypes.caseless_equality_accepts(left, right))
            ):
                self.report("KQL211", f"'{operator}' is not defined for {left} and {right}{_hint(left, right)}",
                            node["op"])  # fmt: skip
            return BOOL
        if operator in _STRING_OPERATORS:
            if left not in _STRING_LIKE:
                self.report("KQL211", f"'{operator}' works on strings, not {left}", node["op"])
            return BOOL
        if operator == ":":
            return BOOL
        return _arithmetic(operator, left, right, self, node)

    def s_call(self, node: Node, schema: RowSchema | None, scope: Scope) -> str:
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
        for position in optypes.predicate_positions(name, len(arguments)):
            self.check_predicate(argument_types[position], name, arguments[position])
        if name == "column_ifexists" and len(argument_types) >= 2:
            column = string_literal(arguments[0])
            if column is not None and schema is not None and column in schema.columns:
                return schema.columns[column]
            return argument_types[1]
        if name in ("extractjson", "extract_json") and len(arguments) >= 3 and arguments[2].kind == "TypeOf":
            inner = [c for c in arguments[2].children if isinstance(c, Node)]
            return normalize_type(name_text(inner[0])) if inner else UNKNOWN
        return branch_type(name, argument_types) or _result_type(info.returns, argument_types)

    def s_typeof(self, node: Node, schema: RowSchema | None, scope: Scope) -> str:
        return UNKNOWN

    def s_star(self, node: Node, schema: RowSchema | None, scope: Scope) -> str:
        return UNKNOWN

    def s_tabular_in_scalar(self, node: Node, schema: RowSchema | None, scope: Scope) -> str:
        self.bind_tabular(node, scope)
        return UNKNOWN

    # ----------------------------------------------------------------- functions
    def report_unknown_function(self, name: str, node: Node, scope: Scope) -> None:
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


def side_reference(node: Node) -> tuple[str | None, str]:
    """`$left.X` -> ("$left", "X")."""
    if node.kind == "MemberAccess":
        target = node["target"]
        if target.kind == "Name" and name_text(target) in ("$left", "$right"):
            return name_text(target), name_text(node["member"])
    return None, ""


def _result_type(rule: str, argument_types: list[str]) -> str:
    if rule.startswith("$"):
        if rule == "$numeric":
            return wider_numeric(*argument_types) if argument_types else UNKNOWN
        index = int(rule[1:]) - 1
        return argument_types[index] if 0 <= index < len(argument_types) else UNKNOWN
    return normalize_type(rule) if rule != UNKNOWN else UNKNOWN


def _arithmetic(operator: str, left: str, right: str, binder: ExpressionBinder, node: Node) -> str:
    if UNKNOWN in (left, right):
        return UNKNOWN
    result = optypes.arithmetic_result(operator, left, right)
    if result is None:
        binder.report("KQL211", f"'{operator}' is not defined for {left} and {right}{_hint(left, right)}", node["op"])
        return UNKNOWN
    return result


def _hint(left: str, right: str) -> str:
    """Kusto does not convert a string to a number for an operator: say how to."""
    if STRING in (left, right) and ({left, right} & set(NUMERIC)):
        return "; convert one side first, e.g. toint() or tostring()"
    return ""


_SCALAR: dict[str, Callable[[ExpressionBinder, Node, RowSchema | None, Scope], str]] = {
    "Literal": ExpressionBinder.s_literal,
    "Name": ExpressionBinder.s_name,
    "Parenthesized": ExpressionBinder.s_parenthesized,
    "Pipe": ExpressionBinder.s_pipe,
    "UnaryExpression": ExpressionBinder.s_unary,
    "MemberAccess": ExpressionBinder.s_member,
    "ElementAccess": ExpressionBinder.s_element,
    "Call": ExpressionBinder.s_call,
    "TypeOf": ExpressionBinder.s_typeof,
    "Star": ExpressionBinder.s_star,
    "DataTable": ExpressionBinder.s_tabular_in_scalar,
    "ExternalData": ExpressionBinder.s_tabular_in_scalar,
    "Union": ExpressionBinder.s_tabular_in_scalar,
    "Range": ExpressionBinder.s_tabular_in_scalar,
    "Print": ExpressionBinder.s_tabular_in_scalar,
    "Search": ExpressionBinder.s_tabular_in_scalar,
    "Evaluate": ExpressionBinder.s_tabular_in_scalar,
    "MissingExpression": ExpressionBinder.s_star,
    "Error": ExpressionBinder.s_star,
}


# Operators whose left operand may be the same kind of node: bound by ExpressionBinder.bind_chain, given the left type.
_CHAIN_LINKS: dict[str, Callable[[ExpressionBinder, Node, str, RowSchema | None, Scope], str]] = {
    "BinaryExpression": ExpressionBinder.s_binary,
    "InExpression": ExpressionBinder.s_in,
    "BetweenExpression": ExpressionBinder.s_between,
}
