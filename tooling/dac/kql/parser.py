"""Hand-written recursive-descent parser for KQL, with error recovery.

`parse(text)` never raises for bad input: it returns a tree that still prints the input byte
for byte (skipped tokens sit in `Error` nodes, invented tokens have no text) and a list of
diagnostics. Expressions use precedence climbing; query operators are parsed by one method
each, looked up by name in OPERATORS.

This module holds `parse`, ParseResult, expansion_offset and the Parser, which reads statements
(let, set, declare, function declarations) and combines the mixins that read the rest:
parser_expressions.py (expressions and literals) and parser_operators.py (pipes and query
operators), both over parser_core.py (the token cursor, diagnostics and MAX_NESTING).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from .lexer import T, Token, tokenize
from .parser_core import MAX_NESTING
from .parser_expressions import ExpressionParser
from .parser_operators import OperatorParser
from .syntax import LineIndex, Node, SyntaxDiagnostic


def expansion_offset(call: Node, declaration: Node, offset: int) -> int | None:
    """What to add to the depths of a let function's body when `call` (whose depths carry `offset`) expands
    it: the body then nests from one level inside the call. None when that goes deeper than MAX_NESTING:
    functions calling functions stack their nesting, and consumers recurse through it as through text."""
    start = (call["depth"] or 0) + offset + 1
    declared = declaration["depth"] or 0
    if start + (declaration["deepest"] or declared) - declared > MAX_NESTING:
        return None
    return start - declared


@dataclass
class ParseResult:
    text: str
    tree: Node
    diagnostics: list[SyntaxDiagnostic] = field(default_factory=list)

    def positions(self) -> LineIndex:
        return LineIndex(self.text)


def parse(text: str) -> ParseResult:
    tree, diagnostics = _parsed(text)
    return ParseResult(text, tree, list(diagnostics))


@functools.lru_cache(maxsize=1024)
def _parsed(text: str) -> tuple[Node, tuple[SyntaxDiagnostic, ...]]:
    # One query is parsed by validation, rendering, the test runner and the emulator in turn: the tree
    # is shared (nothing changes a Node after parsing), each caller gets its own list of diagnostics.
    # dac check validates every detection before it runs their tests: the cache holds a repository's
    # queries (a tree takes some 40 KB), so that a test run does not parse its query again.
    tokens = tokenize(text)
    parser = Parser(tokens)
    tree = parser.parse_query()
    return tree, tuple(parser.diagnostics)


class Parser(OperatorParser, ExpressionParser):
    # ----------------------------------------------------------------- statements
    def parse_query(self) -> Node:
        children: list = []
        statements: list[Node] = []
        while not self.at_eof():
            start = self.i
            statement = self.parse_statement()
            children.append(statement)
            statements.append(statement)
            if self.at_punct(";"):
                children.append(self.advance())
                while self.at_punct(";"):
                    self.report("KQL004", "unexpected ';': an empty statement between two ';'", self.tok)
                    children.append(self.advance())
                continue
            if self.at_eof():
                break
            if statement.kind == "LetStatement" or statement.kind in ("SetStatement", "DeclareStatement"):
                self.report("KQL002", f"expected ';' after the {self._statement_word(statement)} statement, "
                            f"found {self.describe(self.tok)}", self.tok)  # fmt: skip
            else:
                self.report(
                    "KQL004", f"unexpected {self.describe(self.tok)}: expected '|', ';' or the end of the query",
                    self.tok,
                )  # fmt: skip
            error = self.skip_until(lambda: self.at_punct(";"))
            if error is None and self.i == start:
                children.append(Node("Error", [self.advance()]))
            elif error is not None:
                children.append(error)
        children.append(self.advance() if self.at_eof() else self.tok)
        return Node("Query", children, statements=statements)

    @staticmethod
    def _statement_word(statement: Node) -> str:
        return {"LetStatement": "let", "SetStatement": "set", "DeclareStatement": "declare"}.get(statement.kind, "")

    def parse_statement(self) -> Node:
        if self.at_word("let") and not self.peek().is_punct("|", ".", "("):
            return self.parse_let()
        if self.at_word("set") and not self.peek().is_punct("|", ".", "(", ";") and self.peek().kind is not T.EOF:
            return self.parse_set()
        if self.at_word("declare") and self.peek().is_word("query_parameters", "pattern"):
            return self.parse_declare()
        if self.at_word("alias", "restrict", "pattern") and self.peek().kind is T.IDENT:
            head = self.advance()
            rest = self.skip_until(lambda: self.at_punct(";"), "Body")
            return Node("OtherStatement", [head, *([rest] if rest else [])])
        return self.parse_pipe_expression()

    def parse_let(self) -> Node:
        let = self.advance()
        name = self.parse_name()
        equals = self.expect_punct("=", "after the let name")
        if self.at_word("view") and self.peek().is_punct("("):
            view = self.advance()
            value = self.parse_function_declaration()
            value.children.insert(0, view)
        elif self.at_punct("(") and self._looks_like_function():
            value = self.parse_function_declaration()
        else:
            value = self.parse_pipe_expression()
        return Node("LetStatement", [let, name, equals, value], name=name, value=value)

    def _looks_like_function(self) -> bool:
        """After '(' : ')' '{' or 'name :' or '*' ')' means a parameter list, not an expression."""
        first, second = self.peek(1), self.peek(2)
        if first.is_punct(")"):
            return second.is_punct("{")
        if first.kind is T.IDENT or first.is_punct("["):
            if second.is_punct(":"):
                return True
            if first.is_punct("["):
                return self.peek(3).is_punct("]") and self.peek(4).is_punct(":")
        return False

    def parse_function_declaration(self) -> Node:
        """The declaration records its depth and the deepest level inside it: a call expands the body at
        the call's depth, and the binder and the emulator keep that within MAX_NESTING too."""
        if not self.nest():
            return self.too_deep()
        outer_deepest, self.deepest = self.deepest, self.depth
        declaration = self._function_declaration()
        declaration.fields.update(depth=self.depth, deepest=self.deepest)
        self.deepest = max(outer_deepest, self.deepest)
        self.depth -= 1
        return declaration

    def _function_declaration(self) -> Node:
        parameters = self.parse_parameter_list()
        open_brace = self.expect_punct("{", "to start the function body")
        body: list = []
        statements: list[Node] = []
        while not self.at_punct("}") and not self.at_eof():
            start = self.i
            statement = self.parse_statement()
            body.append(statement)
            statements.append(statement)
            while self.at_punct(";"):
                body.append(self.advance())
            if self.i == start:
                error = self.skip_until(lambda: self.at_punct("}", ";"))
                if error is None:
                    break
                body.append(error)
            elif not self.at_punct("}") and body and not (isinstance(body[-1], Token) and body[-1].text == ";"):
                self.report("KQL002", f"expected ';' or '}}', found {self.describe(self.tok)}", self.tok)
                error = self.skip_until(lambda: self.at_punct("}", ";"))
                if error is None:
                    break
                body.append(error)
        close = self.expect_punct("}", opened=open_brace if not open_brace.missing else None)
        return Node("FunctionDeclaration", [parameters, open_brace, *body, close], statements=statements)

    def parse_parameter_list(self) -> Node:
        """(name:type [= default], T:(col:type, ...), T:(*))"""
        open_paren = self.expect_punct("(")
        children: list = [open_paren]
        while not self.at_punct(")") and not self.at_eof():
            start = self.i
            name = self.parse_name()
            children.append(name)
            if self.at_punct(":"):
                children.append(self.advance())
                if self.at_punct("("):
                    children.append(self.parse_schema(allow_star=True))
                else:
                    children.append(self.parse_declared_type())
            if self.at_punct("="):
                children.append(self.advance())
                children.append(self.parse_expression())
            if self.at_punct(","):
                children.append(self.advance())
            elif not self.at_punct(")"):
                break
            if self.i == start:
                break
        children.append(self.expect_punct(")", opened=open_paren if not open_paren.missing else None))
        return Node("ParameterList", children)

    def parse_set(self) -> Node:
        head = self.advance()
        children: list = [head, self.parse_name()]
        if self.at_punct("="):
            children.append(self.advance())
            children.append(self.parse_expression())
        return Node("SetStatement", children)

    def parse_declare(self) -> Node:
        head = self.advance()
        kind = self.advance()
        return Node("DeclareStatement", [head, kind, self.parse_parameter_list()])
