"""Expressions for the KQL parser: ExpressionParser, the mixin of Parser that reads scalar expressions by
precedence climbing (binary operators, `in` and `between` lists, unary operators, member and element
access, calls), literals (strings, numbers, dynamic() JSON, datatable, externaldata) and the pieces that
operators and statements are built from: names, types, schemas, assignments and property lists."""

from __future__ import annotations

from .lexer import T, Token
from .parser_core import ParserCore
from .syntax import Node

# Binary operators by precedence (higher binds tighter).
_OR, _AND, _COMPARE, _ADD, _MUL = 1, 2, 3, 4, 5
# `=` compares too: Kusto accepts `where x = 1` (assignments are recognised before expressions).
PUNCT_BINARY = {
    "==": _COMPARE, "!=": _COMPARE, "<>": _COMPARE, "<": _COMPARE, "<=": _COMPARE, ">": _COMPARE,
    ">=": _COMPARE, "=": _COMPARE, "=~": _COMPARE, "!~": _COMPARE,
    "+": _ADD, "-": _ADD, "*": _MUL, "/": _MUL, "%": _MUL,
}  # fmt: skip
WORD_BINARY = {
    "or": _OR, "and": _AND,
    "has": _COMPARE, "has_cs": _COMPARE, "hasprefix": _COMPARE, "hasprefix_cs": _COMPARE,
    "hassuffix": _COMPARE, "hassuffix_cs": _COMPARE, "contains": _COMPARE, "contains_cs": _COMPARE,
    "startswith": _COMPARE, "startswith_cs": _COMPARE, "endswith": _COMPARE, "endswith_cs": _COMPARE,
    "like": _COMPARE, "notlike": _COMPARE, "likecs": _COMPARE, "notlikecs": _COMPARE,
    "matches": _COMPARE, "notcontains": _COMPARE, "notcontainscs": _COMPARE,
    # `containscs` is the case-sensitive contains Kusto.Language also reads (beside contains_cs); `!containscs`
    # is not KQL.
    "containscs": _COMPARE,
}  # fmt: skip
# Operators whose right side is a parenthesised list: x in ("a", "b"), x has_any (T)
LIST_OPERATORS = frozenset({"in", "in~", "!in", "!in~", "has_any", "has_all", "has_any_cs", "has_all_cs"})
BETWEEN_OPERATORS = frozenset({"between", "!between"})

TYPE_NAMES = frozenset(
    {"string", "int", "long", "real", "double", "bool", "boolean", "datetime", "date", "timespan", "time",
     "dynamic", "guid", "uniqueid", "decimal", "int64", "int32", "float"}
)  # fmt: skip


class ExpressionParser(ParserCore):
    """Parser's expression methods; `parse_source` and `parse_operator` (for `x | operator` arguments) are
    OperatorParser's."""

    # ----------------------------------------------------------------- expressions
    def parse_pipe_argument(self) -> Node:
        """An expression that may continue with '| operator' (arguments of materialize, in, ...)."""
        expression = self.parse_source()
        if not self.at_punct("|"):
            return expression
        children: list = [expression]
        operators: list[Node] = []
        while self.at_punct("|"):
            children.append(self.advance())
            operator = self.parse_operator()
            children.append(operator)
            operators.append(operator)
        return Node("Pipe", children, source=expression, operators=operators)

    def parse_expression(self, min_precedence: int = _OR) -> Node:
        left = self.parse_unary()
        while True:
            token = self.tok
            precedence = 0
            if token.kind is T.PUNCT:
                precedence = PUNCT_BINARY.get(token.text, 0)
            elif token.kind is T.IDENT:
                if token.text in LIST_OPERATORS or token.text in BETWEEN_OPERATORS:
                    precedence = _COMPARE
                else:
                    precedence = WORD_BINARY.get(token.text, 0)
            elif token.kind is T.BANG_WORD:
                precedence = _COMPARE
            if token.is_punct(":") and self.in_search:  # search Column:"value"
                precedence = _COMPARE
            if precedence < min_precedence or precedence == 0:
                return left
            operator = self.advance()
            text = operator.text
            if text in LIST_OPERATORS:
                right = self.parse_list_operand(operator)
                left = Node("InExpression", [left, operator, right], left=left, op=operator, right=right)
                continue
            if text in BETWEEN_OPERATORS:
                right = self.parse_between_operand()
                left = Node("BetweenExpression", [left, operator, right], left=left, op=operator, right=right)
                continue
            children = [left, operator]
            if text == "matches":
                children.append(self.expect_word("regex", "after 'matches'"))
            # The right operand nests (the left one of a chain does not: this loop builds it).
            if self.nest():
                right = self.parse_expression(precedence + 1)
                self.depth -= 1
            else:
                right = self.too_deep()
            children.append(right)
            left = Node("BinaryExpression", children, left=left, op=operator, right=right)

    def parse_list_operand(self, operator: Token) -> Node:
        if not self.at_punct("("):
            # `x in T` is not KQL, but `has_any` also takes a dynamic array or a let name
            if operator.text.startswith("has_") and self.tok.kind is T.IDENT:
                return self.parse_unary()
            self.report("KQL002", f"expected '(' after '{operator.text}', found {self.describe(self.tok)}", self.tok)
            return Node("MissingExpression", [])
        if not self.nest():
            return self.too_deep()
        values = self._list_values(operator)
        self.depth -= 1
        return values

    def _list_values(self, operator: Token) -> Node:
        open_paren = self.advance()
        children: list = [open_paren]
        if self.at_punct(")"):
            self.report("KQL006", f"expected at least one value inside '{operator.text} ( )'", self.tok)
        while not self.at_punct(")") and not self.at_eof():
            children.append(self.parse_pipe_argument())
            if self.at_punct(","):
                children.append(self.advance())
                if self.at_punct(")"):
                    self.report("KQL006", "expected a value after ',', found ')'", self.tok)
            else:
                break
        children.append(self.expect_punct(")", opened=open_paren))
        return Node("ExpressionList", children)

    def parse_between_operand(self) -> Node:
        if not self.nest():
            return self.too_deep()
        between = self._between_operand()
        self.depth -= 1
        return between

    def _between_operand(self) -> Node:
        open_paren = self.expect_punct("(", "after 'between'")
        low = self.parse_expression()
        dots = self.expect_punct("..", "between the bounds of 'between'")
        high = self.parse_expression()
        close = self.expect_punct(")", opened=open_paren if not open_paren.missing else None)
        return Node("Range", [open_paren, low, dots, high, close], low=low, high=high)

    def parse_unary(self) -> Node:
        if self.at_punct("-", "+"):
            if not self.nest():
                return self.too_deep()
            operator = self.advance()
            operand = self.parse_unary()
            self.depth -= 1
            return Node("UnaryExpression", [operator, operand], op=operator, operand=operand)
        return self.parse_postfix(self.parse_primary())

    def parse_postfix(self, node: Node) -> Node:
        """x.a, x["a"], x[0], x.f(): a loop, but consumers recurse once per access, so each one nests."""
        outer = self.depth
        node = self._postfix(node)
        self.depth = outer
        return node

    def _postfix(self, node: Node) -> Node:
        while self._continues_postfix(node):
            if not self.nest():
                return Node("Error", [node, *self.too_deep().children])
            token = self.tok
            if token.is_punct("."):
                dot = self.advance()
                if self.tok.kind is T.IDENT:
                    member = Node("Name", [self.advance()])
                elif self.at_punct("[") and self.peek().kind is T.STRING:
                    member = self.parse_name()
                elif self.at_punct("["):  # x.[0] is x[0]
                    open_bracket = self.advance()
                    index = self.parse_expression()
                    close = self.expect_punct("]", opened=open_bracket)
                    node = Node("ElementAccess", [node, dot, open_bracket, index, close], target=node, index=index)
                    continue
                else:
                    self.report("KQL006", f"expected a name after '.', found {self.describe(self.tok)}", self.tok)
                    member = Node("Name", [self.missing(T.IDENT)])
                node = Node("MemberAccess", [node, dot, member], target=node, member=member)
            elif token.is_punct("["):
                open_bracket = self.advance()
                index = self.parse_expression()
                close = self.expect_punct("]", opened=open_bracket)
                node = Node("ElementAccess", [node, open_bracket, index, close], target=node, index=index)
            else:
                node = self.parse_call(node)
        return node

    def _continues_postfix(self, node: Node) -> bool:
        """`.name`, `[index]` right after the value (no space), or `(arguments)` after `x.f`."""
        token = self.tok
        if token.kind is not T.PUNCT:
            return False
        if token.text == "[":
            return not token.leading
        return token.text == "." or (token.text == "(" and node.kind == "MemberAccess")

    def parse_call(self, callee: Node) -> Node:
        """callee(arguments): the arguments nest one level (read here, not in a helper: one frame less per level)."""
        if not self.nest():
            return Node("Error", [callee, *self.too_deep().children])
        open_paren = self.advance()
        children: list = [open_paren]
        items: list[Node] = []
        while not self.at_punct(")") and not self.at_eof():
            start = self.i
            if self.at_punct("*") and self.peek().is_punct(",", ")"):
                item: Node = Node("Star", [self.advance()])
            elif self.tok.kind is T.IDENT and self.peek().is_punct("=") and not self.peek(2).is_punct("="):
                item = self.parse_assignment()
            else:
                item = self.parse_pipe_argument()
            children.append(item)
            items.append(item)
            if self.at_punct(","):
                children.append(self.advance())
                if self.at_punct(")"):
                    self.report("KQL006", "expected an argument after ',', found ')'", self.tok)
                continue
            if self.i == start:
                break
            if not self.at_punct(")"):
                break
        children.append(self.expect_punct(")", opened=open_paren))
        self.depth -= 1
        arguments = Node("Arguments", children, items=items)
        return Node("Call", [callee, arguments], callee=callee, arguments=arguments, depth=self.depth)

    def parse_primary(self) -> Node:
        token = self.tok
        kind = token.kind
        if kind is T.IDENT:
            word = token.text
            following = self.peek()
            if following.is_punct("("):
                if word == "dynamic":
                    return self.parse_dynamic()
                if word == "datatable":
                    return self.parse_datatable()
                if word == "externaldata":
                    return self.parse_externaldata()
                if word in ("typeof",):
                    head = self.advance()
                    open_paren = self.advance()
                    inner = (
                        self.parse_type() if self.tok.kind is T.IDENT
                        else Node("Empty", []) if self.at_punct(")") else self.parse_expression()
                    )  # fmt: skip
                    close = self.expect_punct(")", opened=open_paren)
                    return Node("TypeOf", [head, open_paren, inner, close])
                name = Node("Name", [self.advance()])
                return self.parse_call(name)
            if word == "externaldata":
                return self.parse_externaldata()
            return Node("Name", [self.advance()])
        if kind is T.STRING:
            parts = [self.advance()]
            while self.tok.kind is T.STRING:  # adjacent strings concatenate
                parts.append(self.advance())
            return Node("Literal", parts, literal="string")
        if kind in (T.NUMBER, T.TIMESPAN, T.TYPED_LITERAL):
            return Node("Literal", [self.advance()], literal=kind.name.lower())
        if kind is T.PUNCT:
            if token.text == "(":
                if not self.nest():
                    return self.too_deep()
                open_paren = self.advance()
                items: list = [open_paren]
                count = 0
                while not self.at_punct(")") and not self.at_eof():
                    items.append(self.parse_pipe_argument())
                    count += 1
                    if self.at_punct(","):
                        items.append(self.advance())
                        continue
                    break
                if count == 0:
                    self.report("KQL006", "expected an expression inside '( )'", self.tok)
                items.append(self.expect_punct(")", opened=open_paren))
                self.depth -= 1
                return Node("Parenthesized" if count == 1 else "Tuple", items)
            if token.text == "[" and self.peek().kind is T.STRING:
                return self.parse_name()
            if token.text == "*":
                return Node("Star", [self.advance()])
        if kind is T.BAD:
            return Node("Error", [self.advance()])
        self.report("KQL006", f"expected an expression, found {self.describe(token)}", token)
        return Node("MissingExpression", [])

    def parse_dynamic(self) -> Node:
        if not self.nest():
            return self.too_deep()
        head = self.advance()
        open_paren = self.advance()
        value = self.parse_json_value()
        close = self.expect_punct(")", opened=open_paren)
        self.depth -= 1
        return Node("Literal", [head, open_paren, value, close], literal="dynamic")

    def parse_json_value(self) -> Node:
        token = self.tok
        if token.is_punct("["):
            return self.parse_json_container("[", "]", keyed=False)
        if token.is_punct("{"):
            return self.parse_json_container("{", "}", keyed=True)
        if token.kind is T.STRING:
            parts = [self.advance()]
            while self.tok.kind is T.STRING:  # adjacent strings concatenate, as in expressions
                parts.append(self.advance())
            return Node("JsonValue", parts)
        if token.kind in (T.NUMBER, T.TIMESPAN, T.TYPED_LITERAL) or token.is_word("true", "false", "null"):
            return Node("JsonValue", [self.advance()])
        if token.is_punct("-", "+") and self.peek().kind is T.NUMBER:
            return Node("JsonValue", [self.advance(), self.advance()])
        if token.kind is T.IDENT and token.text in ("dynamic", "datetime", "timespan", "guid"):
            return self.parse_expression()
        self.report("KQL009", f"expected a JSON value in dynamic(), found {self.describe(token)}", token)
        return Node("MissingExpression", [])

    def parse_json_container(self, opener: str, closer: str, keyed: bool) -> Node:
        if not self.nest():
            return self.too_deep()
        open_token = self.advance()
        children: list = [open_token]
        while not self.at_punct(closer) and not self.at_eof():
            start = self.i
            if keyed:
                key = self.tok
                if key.kind is T.STRING:
                    children.append(self.advance())
                else:
                    self.report("KQL009", f"expected a property name, found {self.describe(key)}", key)
                children.append(self.expect_punct(":", "after a property name"))
            children.append(self.parse_json_value())
            if self.at_punct(","):
                children.append(self.advance())
                if self.at_punct(closer):
                    self.report("KQL009", f"expected a value after ',' in dynamic(), found '{closer}'", self.tok)
                continue
            if self.i == start or not self.at_punct(closer):
                break
        children.append(self.expect_punct(closer, opened=open_token))
        self.depth -= 1
        return Node("JsonContainer", children)

    def parse_datatable(self) -> Node:
        head = self.advance()
        schema = self.parse_schema()
        return Node("DataTable", [head, schema, *self.parse_bracketed_values("the rows of datatable")], schema=schema)

    def parse_externaldata(self) -> Node:
        head = self.advance()
        schema = self.parse_schema()
        children: list = [head, schema, *self.parse_bracketed_values("the URLs of externaldata")]
        if self.at_word("with"):
            children.extend([self.advance(), self.parse_property_list()])
        return Node("ExternalData", children, schema=schema)

    def parse_bracketed_values(self, what: str) -> list:
        """[ value, value, ... ] (a trailing comma is allowed, as in Kusto)."""
        if not self.nest():
            return [self.too_deep()]
        open_bracket = self.expect_punct("[", f"before {what}")
        children: list = [open_bracket]
        while not self.at_punct("]") and not self.at_eof():
            start = self.i
            children.append(self.parse_expression())
            if self.at_punct(","):
                children.append(self.advance())
                continue
            if self.i == start or not self.at_punct("]"):
                break
        children.append(self.expect_punct("]", opened=open_bracket if not open_bracket.missing else None))
        self.depth -= 1
        return children

    # ----------------------------------------------------------------- names, types, schemas, assignments
    def parse_name(self) -> Node:
        """A plain or bracketed name: Name, ['name with spaces'], ["x"]."""
        token = self.tok
        if token.kind is T.IDENT:
            return Node("Name", [self.advance()])
        if token.is_punct("[") and self.peek().kind is T.STRING:
            open_bracket = self.advance()
            string = self.advance()
            close = self.expect_punct("]", opened=open_bracket)
            return Node("Name", [open_bracket, string, close])
        self.report("KQL006", f"expected a name, found {self.describe(token)}", token)
        return Node("Name", [self.missing(T.IDENT)])

    def parse_name_pattern(self) -> Node:
        """Column names with wildcards for project-away/keep/reorder and union: Init*, *Id, *."""
        parts: list = []
        while True:
            token = self.tok
            if token.kind is T.IDENT or token.is_punct("*") or (parts and token.kind is T.NUMBER):
                if parts and (parts[-1].trailing or token.leading):
                    break
                parts.append(self.advance())
            elif token.is_punct("[") and not parts and self.peek().kind is T.STRING:
                return self.parse_name()
            else:
                break
        if not parts:
            self.report("KQL006", f"expected a column name, found {self.describe(self.tok)}", self.tok)
            return Node("Name", [self.missing(T.IDENT)])
        return Node("NamePattern", parts)

    def parse_type(self) -> Node:
        token = self.tok
        if token.kind is T.IDENT:  # whether the name is a known type is the binder's question
            return Node("Type", [self.advance()])
        if token.kind is T.TYPED_LITERAL:  # `int(...)` cannot be a type; report and move on
            self.report("KQL008", f"expected a type name, found {self.describe(token)}", token)
            return Node("Type", [self.advance()])
        self.report("KQL006", f"expected a type name, found {self.describe(token)}", token)
        return Node("Type", [self.missing(T.IDENT)])

    def parse_declared_type(self) -> Node:
        """A type in a column or parameter declaration, where Kusto's grammar knows the type names."""
        token = self.tok
        if token.kind is T.IDENT and token.text not in TYPE_NAMES:
            self.report("KQL008", f"unknown type '{token.text}'", token)
        return self.parse_type()

    def parse_schema(self, allow_star: bool = False) -> Node:
        """(name:type, ...) of datatable, externaldata and tabular parameters."""
        open_paren = self.expect_punct("(")
        children: list = [open_paren]
        columns: list[Node] = []
        while not self.at_punct(")") and not self.at_eof():
            if allow_star and self.at_punct("*"):
                children.append(self.advance())
                if not self.at_punct(")"):
                    self.report("KQL002", f"expected ')' after '*', found {self.describe(self.tok)}", self.tok)
            else:
                name = self.parse_name()
                colon = self.expect_punct(":", "between a column name and its type")
                column = Node("ColumnDeclaration", [name, colon, self.parse_declared_type()], name=name)
                children.append(column)
                columns.append(column)
            if self.at_punct(","):
                children.append(self.advance())
            else:
                break
        children.append(self.expect_punct(")", opened=open_paren if not open_paren.missing else None))
        return Node("Schema", children, columns=columns)

    def parse_assignment(self) -> Node:
        token = self.tok
        if token.kind is T.IDENT and self.peek().is_punct("="):
            name = self.parse_name()
            equals = self.advance()
            value = self.parse_expression()
            return Node("Assignment", [name, equals, value], name=name, value=value)
        if (
            token.is_punct("[")
            and self.peek().kind is T.STRING
            and self.peek(2).is_punct("]")
            and self.peek(3).is_punct("=")
        ):
            name = self.parse_name()
            equals = self.advance()
            value = self.parse_expression()
            return Node("Assignment", [name, equals, value], name=name, value=value)
        if token.is_punct("(") and self._tuple_assignment_ahead():
            open_paren = self.advance()
            names: list = [open_paren]
            while not self.at_punct(")") and not self.at_eof():
                names.append(self.parse_name())
                if self.at_punct(","):
                    names.append(self.advance())
                else:
                    break
            names.append(self.expect_punct(")", opened=open_paren))
            equals = self.expect_punct("=")
            value = self.parse_expression()
            return Node("Assignment", [Node("NameTuple", names), equals, value], value=value)
        return self.parse_expression()

    def _tuple_assignment_ahead(self) -> bool:
        index = self.i + 1
        while index < len(self.tokens):
            token = self.tokens[index]
            if token.kind is T.IDENT or token.is_punct(","):
                index += 1
                continue
            return token.is_punct(")") and self.tokens[min(index + 1, len(self.tokens) - 1)].is_punct("=")
        return False

    def parse_property_list(self) -> Node:
        """( name = value, ... ) of render, externaldata and parse-kv."""
        open_paren = self.expect_punct("(")
        children: list = [open_paren]
        while not self.at_punct(")") and not self.at_eof():
            start = self.i
            children.append(self.parse_assignment())
            if self.at_punct(","):
                children.append(self.advance())
            elif not self.at_punct(")") or self.i == start:
                break
        children.append(self.expect_punct(")", opened=open_paren if not open_paren.missing else None))
        return Node("Properties", children)
