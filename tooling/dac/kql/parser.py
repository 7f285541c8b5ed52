"""Hand-written recursive-descent parser for KQL, with error recovery.

`parse(text)` never raises for bad input: it returns a tree that still prints the input byte
for byte (skipped tokens sit in `Error` nodes, invented tokens have no text) and a list of
diagnostics. Expressions use precedence climbing; query operators are parsed by one method
each, looked up by name in OPERATORS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .lexer import T, Token, tokenize
from .syntax import LineIndex, Node, SyntaxDiagnostic

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
}  # fmt: skip
# Operators whose right side is a parenthesised list: x in ("a", "b"), x has_any (T)
LIST_OPERATORS = frozenset({"in", "in~", "!in", "!in~", "has_any", "has_all", "has_any_cs", "has_all_cs"})
BETWEEN_OPERATORS = frozenset({"between", "!between"})

TYPE_NAMES = frozenset(
    {"string", "int", "long", "real", "double", "bool", "boolean", "datetime", "date", "timespan", "time",
     "dynamic", "guid", "uniqueid", "decimal", "int64", "int32", "float"}
)  # fmt: skip

# Words that end an operator's clause and never start an expression there.
CLAUSE_WORDS = frozenset({"by", "on", "with", "to", "step", "from", "of", "limit", "as", "asc", "desc", "nulls"})

# Query operators with a syntax this parser reads loosely (balanced tokens up to the next '|').
LOOSE_OPERATORS = frozenset(
    {"scan", "partition", "fork", "facet", "consume", "project-smart", "make-graph", "graph-match",
     "graph-merge", "graph-to-table", "graph-shortest-paths", "graph-mark-components", "assert-schema",
     "execute-show-command", "macro-expand", "top-hitters", "reduce", "getschema"}
)  # fmt: skip

_CLOSERS = {"(": ")", "[": "]", "{": "}"}

# How deep brackets, calls, unary operators, property accesses, operands of a tighter-binding
# operator, dynamic() values, sub-queries and function bodies may nest (KQL010 past it). Every
# consumer of the tree (parser, binder, renderer, emulator compiler, DuckDB's own parser) recurses
# once per level: at 64 levels the deepest of them (this parser, on `toscalar(print x = ...)`) needs
# about 600 of Python's default 1000 frames, which leaves 300 and more to a CLI or test stack above
# (test_kql_fuzz runs every consumer at the limit from 300 frames deep). Chains of one precedence
# (`a or b or ...`) do not nest: consumers walk them with a loop, so they may be any length.
MAX_NESTING = 64


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
    tokens = tokenize(text)
    parser = Parser(tokens)
    tree = parser.parse_query()
    return ParseResult(text, tree, parser.diagnostics)


class Parser:
    def __init__(self, tokens: list[Token]):
        self.tokens = tokens
        self.i = 0
        self.diagnostics: list[SyntaxDiagnostic] = []
        self._reported: set[int] = set()
        self.in_search = False
        self.depth = 0  # open nesting levels, see MAX_NESTING
        self.deepest = 0  # the most levels open at once so far (within the innermost function body)
        self._too_deep_reported = False
        for token in tokens:
            if token.error:
                self.report("KQL001", token.error, token)

    # ----------------------------------------------------------------- token helpers
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def peek(self, ahead: int = 1) -> Token:
        index = min(self.i + ahead, len(self.tokens) - 1)
        return self.tokens[index]

    def advance(self) -> Token:
        token = self.tokens[self.i]
        if token.kind is not T.EOF:
            self.i += 1
        return token

    def at_word(self, *words: str) -> bool:
        token = self.tokens[self.i]
        return token.kind is T.IDENT and token.text in words

    def at_punct(self, *texts: str) -> bool:
        token = self.tokens[self.i]
        return token.kind is T.PUNCT and token.text in texts

    def at_eof(self) -> bool:
        return self.tokens[self.i].kind is T.EOF

    def report(self, code: str, message: str, token: Token) -> None:
        # One diagnostic per place: recovery must not pile up messages at the same token.
        if token.start in self._reported:
            return
        self._reported.add(token.start)
        end = token.end if token.text else token.start
        self.diagnostics.append(SyntaxDiagnostic(code, message, token.start, end))

    def missing(self, kind: T = T.PUNCT) -> Token:
        return Token(kind, "", self.tok.start, missing=True)

    def describe(self, token: Token) -> str:
        if token.kind is T.EOF:
            return "the end of the query"
        if token.kind is T.STRING:
            return "a string"
        text = token.text if len(token.text) <= 30 else token.text[:27] + "..."
        return f"'{text}'"

    def expect_punct(self, text: str, context: str = "", opened: Token | None = None) -> Token:
        if self.at_punct(text):
            return self.advance()
        if opened is not None:
            line, column = self.line_col(opened.start)
            message = f"expected '{text}' to close '{opened.text}' opened at {line}:{column}"
        else:
            message = f"expected '{text}'" + (f" {context}" if context else "")
        self.report("KQL002", f"{message}, found {self.describe(self.tok)}", self.tok)
        return self.missing()

    def expect_word(self, word: str, context: str = "") -> Token:
        if self.at_word(word):
            return self.advance()
        suffix = f" {context}" if context else ""
        self.report("KQL002", f"expected '{word}'{suffix}, found {self.describe(self.tok)}", self.tok)
        return self.missing(T.IDENT)

    _line_index: LineIndex | None = None

    def line_col(self, offset: int) -> tuple[int, int]:
        if self._line_index is None:
            self._line_index = LineIndex("".join(t.full() for t in self.tokens))
        return self._line_index.position(offset)

    def skip_until(self, stop: Callable[[], bool], kind: str = "Error") -> Node | None:
        """Consume tokens (balancing brackets) until `stop()` holds at depth 0 or the text ends."""
        skipped: list[Token] = []
        depth: list[str] = []
        while not self.at_eof():
            token = self.tok
            if not depth and stop():
                break
            if token.kind is T.PUNCT:
                if token.text in _CLOSERS:
                    depth.append(_CLOSERS[token.text])
                elif depth and token.text == depth[-1]:
                    depth.pop()
                elif token.text in (")", "]", "}"):
                    if not depth:
                        break
                elif token.text == ";" and not depth:
                    break
            skipped.append(self.advance())
        return Node(kind, skipped) if skipped else None

    def at_operator_end(self) -> bool:
        token = self.tok
        return token.kind is T.EOF or (token.kind is T.PUNCT and token.text in ("|", ";", ")", "]", "}"))

    # ----------------------------------------------------------------- nesting
    def nest(self) -> bool:
        """Open one nesting level; False when that would pass MAX_NESTING (the caller then calls too_deep)."""
        if self.depth >= MAX_NESTING:
            return False
        self.depth += 1
        self.deepest = max(self.deepest, self.depth)
        return True

    def too_deep(self) -> Node:
        """KQL010 at the construct that would nest too deep, which is skipped (brackets balanced, by a loop,
        up to the next '|' or the enclosing closer): one diagnostic per query, however deep the text goes."""
        if not self._too_deep_reported:
            self._too_deep_reported = True
            self.report(
                "KQL010",
                f"expression nested deeper than {MAX_NESTING} levels; dac supports up to {MAX_NESTING} "
                "(brackets, calls, unary operators, property accesses and operands of tighter operators each count)",
                self.tok,
            )
        skipped = self.skip_until(lambda: self.at_punct("|"))
        return skipped or Node("MissingExpression", [])

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

    # ----------------------------------------------------------------- tabular expressions
    def parse_pipe_expression(self) -> Node:
        if self.at_punct("|"):
            self.report("KQL007", "the query starts with '|': a pipe needs a table or expression before it", self.tok)
            source: Node = Node("MissingSource", [])
        else:
            source = self.parse_source()
        if not self.at_punct("|"):
            return source
        children: list = [source]
        operators: list[Node] = []
        while self.at_punct("|"):
            pipe = self.advance()
            operator = self.parse_operator()
            children.extend([pipe, operator])
            operators.append(operator)
        return Node("Pipe", children, source=source, operators=operators)

    def parse_source(self) -> Node:
        token = self.tok
        if token.kind is T.IDENT:
            word = token.text
            next_token = self.peek()
            if word == "union" and not next_token.is_punct("="):
                return self.op_union()
            if word == "print" and not next_token.is_punct("=", "("):
                return self.op_print()
            if word == "range" and next_token.kind is T.IDENT and self.peek(2).is_word("from"):
                return self.op_range()
            if word == "search" and not next_token.is_punct("=", "("):
                return self.op_search()
            if word == "find" and not next_token.is_punct("=", "("):
                return self.op_find()
            if word == "evaluate" and next_token.kind is T.IDENT:
                return self.op_evaluate()
        return self.parse_expression()

    def parse_operator(self) -> Node:
        token = self.tok
        if token.kind is not T.IDENT:
            self.report("KQL004", f"expected a query operator after '|', found {self.describe(token)}", token)
            error = self.skip_until(self.at_operator_end)
            return error or Node("MissingOperator", [])
        handler = OPERATORS.get(token.text)
        if handler is None:
            if token.text in LOOSE_OPERATORS:
                return self.op_loose()
            self.report("KQL005", f"unknown query operator '{token.text}'", token)
            error = self.skip_until(self.at_operator_end)
            return error or Node("MissingOperator", [])
        node = handler(self)
        if not self.at_operator_end():
            self.report(
                "KQL004",
                f"unexpected {self.describe(self.tok)} in '{token.text}': expected ',', '|' or the end of the operator",
                self.tok,
            )
            error = self.skip_until(self.at_operator_end)
            if error is not None:
                node.children.append(error)
        return node

    # ----------------------------------------------------------------- operator helpers
    def parse_params(self, names: frozenset[str]) -> list:
        """Operator properties before the operands: kind=inner, hint.strategy=shuffle, withsource=T."""
        children: list = []
        while self.tok.kind is T.IDENT:
            word = self.tok.text
            if word in names and self.peek().is_punct("="):
                parts = [self.advance(), self.advance()]
            elif (
                word == "hint"
                and self.peek().is_punct(".")
                and self.peek(2).kind is T.IDENT
                and self.peek(3).is_punct("=")
            ):
                parts = [self.advance(), self.advance(), self.advance(), self.advance()]
            else:
                break
            value = self.tok
            if value.kind in (T.IDENT, T.STRING, T.NUMBER, T.TIMESPAN, T.TYPED_LITERAL):
                parts.append(self.advance())
            elif value.is_punct("[") and self.peek().kind is T.STRING:
                parts.append(self.parse_name())
            elif value.is_punct("-") and self.peek().kind is T.NUMBER:
                parts.extend([self.advance(), self.advance()])
            else:
                self.report("KQL006", f"expected a value for '{word}', found {self.describe(value)}", value)
            children.append(Node("Parameter", parts))
        return children

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

    def parse_expression_list(self, *, assignments: bool = False, stop_words: frozenset[str] = CLAUSE_WORDS) -> Node:
        """expr, expr, ... (with `Name = expr` and `(A, B) = expr` when `assignments`)."""
        children: list = []
        items: list[Node] = []
        while True:
            if self.at_operator_end() or (self.tok.kind is T.IDENT and self.tok.text in stop_words and items):
                after = " after ','" if items else ""
                self.report(
                    "KQL006",
                    f"expected an expression{after}, found {self.describe(self.tok)}",
                    self.tok,
                )
                break
            item = self.parse_assignment() if assignments else self.parse_sort_expression(plain=True)
            children.append(item)
            items.append(item)
            if self.at_punct(","):
                children.append(self.advance())
                continue
            break
        return Node("List", children, items=items)

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

    def parse_sort_expression(self, plain: bool = False) -> Node:
        expression = self.parse_expression()
        if plain:
            return expression
        children: list = [expression]
        if self.at_word("asc", "desc", "granny-asc", "granny-desc"):
            children.append(self.advance())
        if self.at_word("nulls") and self.peek().is_word("first", "last"):
            children.extend([self.advance(), self.advance()])
        return Node("SortExpression", children) if len(children) > 1 else expression

    def parse_sort_list(self) -> Node:
        children: list = []
        while True:
            children.append(self.parse_sort_expression())
            if self.at_punct(","):
                children.append(self.advance())
                continue
            break
        return Node("List", children)

    # ----------------------------------------------------------------- operators
    def op_where(self) -> Node:
        head = self.advance()
        predicate = self.parse_expression()
        return Node("Where", [head, predicate], predicate=predicate)

    def op_extend(self) -> Node:
        head = self.advance()
        if head.text == "project" and self.at_operator_end():  # `project` alone is valid (and useless)
            return Node("Project", [head], columns=Node("List", [], items=[]))
        columns = self.parse_expression_list(assignments=True)
        return Node("Extend" if head.text == "extend" else "Project", [head, columns], columns=columns)

    def op_project_by_names(self) -> Node:
        """project-by-names "Name", "C*", dynamic([...]), column_names_of(T): columns chosen by string values."""
        head = self.advance()
        return Node("ProjectByNames", [head, self.parse_expression_list(assignments=False)])

    def op_serialize(self) -> Node:
        head = self.advance()
        if self.at_operator_end():
            return Node("Serialize", [head])
        return Node("Serialize", [head, self.parse_expression_list(assignments=True)])

    def op_print(self) -> Node:
        head = self.advance()
        if self.at_operator_end():
            return Node("Print", [head])
        return Node("Print", [head, self.parse_expression_list(assignments=True)])

    def op_name_patterns(self) -> Node:
        head = self.advance()
        children: list = [head]
        while not self.at_operator_end():
            children.append(self.parse_name_pattern())
            if head.text == "project-reorder" and self.at_word("asc", "desc", "granny-asc", "granny-desc"):
                children.append(self.advance())
            if self.at_punct(","):
                children.append(self.advance())
                if self.at_operator_end():
                    self.report(
                        "KQL006", f"expected a column name after ',', found {self.describe(self.tok)}", self.tok
                    )
                continue
            break
        return Node("ProjectNames", children, operator=head.text)

    def op_project_rename(self) -> Node:
        head = self.advance()
        return Node("ProjectRename", [head, self.parse_expression_list(assignments=True)])

    def op_summarize(self) -> Node:
        head = self.advance()
        children: list = [head, *self.parse_params(frozenset())]
        if not self.at_word("by") and not self.at_operator_end():
            children.append(self.parse_expression_list(assignments=True, stop_words=frozenset({"by"})))
        if self.at_word("by"):
            children.append(self.advance())
            children.append(self.parse_expression_list(assignments=True, stop_words=frozenset()))
        return Node("Summarize", children)

    def op_sort(self) -> Node:
        head = self.advance()
        by = self.expect_word("by", f"after '{head.text}'")
        return Node("Sort", [head, by, self.parse_sort_list()])

    def op_top(self) -> Node:
        head = self.advance()
        count = self.parse_expression()
        by = self.expect_word("by", "after the number of rows in 'top'")
        return Node("Top", [head, count, by, self.parse_sort_expression()])

    def op_take(self) -> Node:
        head = self.advance()
        return Node("Take", [head, self.parse_expression()])

    def op_count(self) -> Node:
        head = self.advance()
        if self.at_word("as"):
            return Node("Count", [head, self.advance(), self.parse_name()])
        return Node("Count", [head])

    def op_distinct(self) -> Node:
        head = self.advance()
        children: list = [head, *self.parse_params(frozenset())]
        if self.at_punct("*"):
            children.append(self.advance())
        else:
            children.append(self.parse_expression_list())
        return Node("Distinct", children)

    def op_join(self) -> Node:
        head = self.advance()
        children: list = [head, *self.parse_params(frozenset({"kind", "hint", "withsource"}))]
        right = self.parse_join_right()
        children.append(right)
        if self.at_word("on"):
            children.append(self.advance())
            children.append(self.parse_expression_list(stop_words=frozenset()))
        elif self.at_word("where") and head.text == "join":
            children.append(self.advance())
            children.append(self.parse_expression())
        elif head.text == "lookup":  # a join without `on` is the binder's to report; lookup's grammar needs it
            self.report("KQL002", f"expected 'on' and the lookup columns, found {self.describe(self.tok)}", self.tok)
        return Node("Join" if head.text == "join" else "Lookup", children, right=right)

    def parse_join_right(self) -> Node:
        if self.at_punct("("):
            return self.parse_primary()
        return self.parse_unary()

    def op_union(self) -> Node:
        head = self.advance()
        children: list = [head, *self.parse_params(frozenset({"kind", "withsource", "isfuzzy", "hint"}))]
        while True:
            if self.at_punct("("):
                children.append(self.parse_primary())
            elif self.tok.kind is T.IDENT and self.peek().is_punct("(", "."):
                children.append(self.parse_unary())
            else:
                children.append(self.parse_name_pattern())
            if self.at_punct(","):
                children.append(self.advance())
                continue
            break
        return Node("Union", children)

    def op_mv_expand(self) -> Node:
        head = self.advance()
        children: list = [head, *self.parse_params(frozenset({"kind", "bagexpansion", "with_itemindex", "hint"}))]
        children.extend(self.parse_expand_items())
        if self.at_word("limit"):
            children.extend([self.advance(), self.parse_expression()])
        return Node("MvExpand", children)

    def parse_expand_items(self) -> list:
        children: list = []
        while True:
            item = [self.parse_assignment()]
            if self.at_word("to") and self.peek().is_word("typeof"):
                item.extend([self.advance(), self.parse_unary()])
            children.append(Node("ExpandItem", item))
            if self.at_punct(","):
                children.append(self.advance())
                continue
            return children

    def op_mv_apply(self) -> Node:
        head = self.advance()
        children: list = [head, *self.parse_params(frozenset({"kind", "with_itemindex", "hint"}))]
        children.extend(self.parse_expand_items())
        if self.at_word("limit"):
            children.extend([self.advance(), self.parse_expression()])
        if self.at_word("id"):  # legacy: mv-apply ... id=...
            children.extend(self.parse_params(frozenset({"id"})))
        on = self.expect_word("on", "before the sub-query of 'mv-apply'")
        children.append(on)
        children.append(self.parse_subquery())
        return Node("MvApply", children)

    def parse_subquery(self) -> Node:
        """( operators... ) where the rows come from the enclosing operator (mv-apply, partition)."""
        if not self.nest():
            return self.too_deep()
        subquery = self._subquery()
        self.depth -= 1
        return subquery

    def _subquery(self) -> Node:
        open_paren = self.expect_punct("(")
        children: list = [open_paren]
        if self.tok.kind is T.IDENT and (self.tok.text in OPERATORS or self.tok.text in LOOSE_OPERATORS):
            children.append(self.parse_operator())
            while self.at_punct("|"):
                children.extend([self.advance(), self.parse_operator()])
        elif self.at_punct(")"):
            self.report("KQL006", "expected a query operator inside the sub-query '( )'", self.tok)
        else:
            children.append(self.parse_pipe_expression())
        children.append(self.expect_punct(")", opened=open_paren if not open_paren.missing else None))
        return Node("SubQuery", children)

    def op_parse(self) -> Node:
        head = self.advance()
        children: list = [head, *self.parse_params(frozenset({"kind", "flags", "hint"}))]
        children.append(self.parse_expression())
        children.append(self.expect_word("with", f"after the source expression of '{head.text}'"))
        pattern: list = []
        while not self.at_operator_end():
            token = self.tok
            if token.kind is T.STRING or token.is_punct("*"):
                pattern.append(self.advance())
            elif token.kind is T.IDENT or token.is_punct("["):
                pattern.append(self.parse_name())
                if self.at_punct(":"):
                    pattern.extend([self.advance(), self.parse_type()])
                if self.tok is token:  # a malformed name consumed nothing: stop rather than loop
                    break
            elif token.is_punct(","):
                pattern.append(self.advance())
            else:
                break
        if not pattern:
            self.report("KQL006", f"expected the '{head.text}' pattern, found {self.describe(self.tok)}", self.tok)
        children.append(Node("ParsePattern", pattern))
        return Node("Parse", children)

    def op_parse_kv(self) -> Node:
        head = self.advance()
        children: list = [head, self.parse_expression()]
        children.append(self.expect_word("as", "after the source expression of 'parse-kv'"))
        children.append(self.parse_schema())
        if self.at_word("with"):
            children.append(self.advance())
            children.append(self.parse_property_list())
        return Node("ParseKv", children)

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

    def op_make_series(self) -> Node:
        head = self.advance()
        children: list = [head, *self.parse_params(frozenset({"kind", "hint"}))]
        while True:
            children.append(self.parse_assignment())
            if self.at_word("default") and self.peek().is_punct("="):
                children.extend([self.advance(), self.advance(), self.parse_expression()])
            if self.at_punct(","):
                children.append(self.advance())
                continue
            break
        children.append(self.expect_word("on", "before the axis column of 'make-series'"))
        children.append(self.parse_unary())
        if self.at_word("in") and self.peek().is_word("range"):
            children.extend([self.advance(), self.parse_expression()])
        else:
            for word in ("from", "to"):
                if self.at_word(word):
                    children.extend([self.advance(), self.parse_expression()])
            children.append(self.expect_word("step", "in 'make-series'"))
            children.append(self.parse_expression())
        if self.at_word("by"):
            children.extend([self.advance(), self.parse_expression_list(assignments=True, stop_words=frozenset())])
        return Node("MakeSeries", children)

    def op_render(self) -> Node:
        head = self.advance()
        children: list = [head, self.parse_name()]
        if self.at_word("with"):
            children.extend([self.advance(), self.parse_property_list()])
        # legacy forms on the same line: render x title="...", render piechart by col
        legacy: list[Token] = []
        while not self.at_operator_end() and not self._starts_line(self.tok):
            legacy.append(self.advance())
        if legacy:
            children.append(Node("Legacy", legacy))
        return Node("Render", children)

    def op_evaluate(self) -> Node:
        head = self.advance()
        children: list = [head, *self.parse_params(frozenset())]
        children.append(self.parse_unary())
        if self.at_punct(":") and self.peek().is_punct("("):  # evaluate pivot(x) : (a:string, ...)
            children.extend([self.advance(), self.parse_schema(allow_star=True)])
        return Node("Evaluate", children)

    def op_invoke(self) -> Node:
        head = self.advance()
        target = self.parse_unary()
        if target.kind != "Call":
            self.report(
                "KQL002",
                f"expected a function call after 'invoke', such as f(), found {self.describe(self.tok)}",
                self.tok,
            )
        return Node("Invoke", [head, target])

    def op_as(self) -> Node:
        head = self.advance()
        children: list = [head, *self.parse_params(frozenset())]
        children.append(self.parse_name())
        return Node("As", children)

    def op_search(self) -> Node:
        head = self.advance()
        children: list = [head, *self.parse_params(frozenset({"kind"}))]
        if self.at_word("in") and self.peek().is_punct("("):
            children.append(self.advance())
            children.append(self.parse_table_list())
        if self.at_punct("*") and self.at_operator_end_after(1):
            children.append(self.advance())
        else:
            self.in_search = True
            try:
                children.append(self.parse_expression())
            finally:
                self.in_search = False
        return Node("Search", children)

    def _starts_line(self, token: Token) -> bool:
        previous = self.tokens[self.i - 1] if self.i > 0 else None
        return "\n" in token.leading or (previous is not None and previous.trailing.endswith("\n"))

    def at_operator_end_after(self, ahead: int) -> bool:
        token = self.peek(ahead)
        return token.kind is T.EOF or token.is_punct("|", ";", ")")

    def op_find(self) -> Node:
        """find [withsource=C] [in (T, ...)] where predicate [project-smart | project a, b]"""
        head = self.advance()
        children: list = [head, *self.parse_params(frozenset({"withsource", "datascope", "hint"}))]
        if self.at_word("in") and self.peek().is_punct("("):
            children.append(self.advance())
            children.append(self.parse_table_list())
        children.append(self.expect_word("where", "in 'find'"))
        children.append(self.parse_expression())
        if self.at_word("project-smart"):
            children.append(self.advance())
        elif self.at_word("project"):
            children.extend([self.advance(), self.parse_expression_list()])
        return Node("Find", children)

    def parse_table_list(self) -> Node:
        open_paren = self.advance()
        tables: list = [open_paren]
        while not self.at_punct(")") and not self.at_eof():
            tables.append(self.parse_name_pattern() if not self.peek().is_punct("(", ".") else self.parse_unary())
            if self.at_punct(","):
                tables.append(self.advance())
            else:
                break
        tables.append(self.expect_punct(")", opened=open_paren))
        return Node("Tables", tables)

    def op_sample(self) -> Node:
        head = self.advance()
        children: list = [head, self.parse_expression()]
        if head.text == "sample-distinct":
            children.extend([self.expect_word("of", "in 'sample-distinct'"), self.parse_expression()])
        return Node("Sample", children)

    def op_range(self) -> Node:
        head = self.advance()
        children: list = [head, self.parse_name()]
        for word in ("from", "to", "step"):
            children.append(self.expect_word(word, "in 'range'"))
            children.append(self.parse_expression())
        return Node("Range", children)

    def op_top_nested(self) -> Node:
        head = self.advance()
        children: list = [head]
        while True:
            if not self.at_word("of"):
                children.append(self.parse_expression())
            children.append(self.expect_word("of", "in 'top-nested'"))
            children.append(self.parse_assignment())
            if self.at_word("with"):
                children.extend([self.advance(), self.advance(), self.expect_punct("="), self.parse_expression()])
            children.append(self.expect_word("by", "in 'top-nested'"))
            children.append(self.parse_sort_expression())
            if self.at_punct(",") and self.peek().is_word("top-nested"):
                children.extend([self.advance(), self.advance()])
                continue
            break
        return Node("TopNested", children)

    def op_loose(self) -> Node:
        head = self.advance()
        rest = self.skip_until(lambda: self.at_punct("|", ";"), "Body")
        return Node("LooseOperator", [head, *([rest] if rest else [])], operator=head.text)

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


OPERATORS: dict[str, Callable[[Parser], Node]] = {
    "where": Parser.op_where,
    "filter": Parser.op_where,
    "extend": Parser.op_extend,
    "project": Parser.op_extend,
    "project-away": Parser.op_name_patterns,
    "project-keep": Parser.op_name_patterns,
    "project-reorder": Parser.op_name_patterns,
    "project-rename": Parser.op_project_rename,
    "project-by-names": Parser.op_project_by_names,
    "summarize": Parser.op_summarize,
    "sort": Parser.op_sort,
    "order": Parser.op_sort,
    "top": Parser.op_top,
    "take": Parser.op_take,
    "limit": Parser.op_take,
    "count": Parser.op_count,
    "distinct": Parser.op_distinct,
    "join": Parser.op_join,
    "lookup": Parser.op_join,
    "union": Parser.op_union,
    "mv-expand": Parser.op_mv_expand,
    "mvexpand": Parser.op_mv_expand,
    "mv-apply": Parser.op_mv_apply,
    "parse": Parser.op_parse,
    "parse-where": Parser.op_parse,
    "parse-kv": Parser.op_parse_kv,
    "make-series": Parser.op_make_series,
    "render": Parser.op_render,
    "evaluate": Parser.op_evaluate,
    "invoke": Parser.op_invoke,
    "as": Parser.op_as,
    "serialize": Parser.op_serialize,
    "search": Parser.op_search,
    "find": Parser.op_find,
    "top-nested": Parser.op_top_nested,
    "print": Parser.op_print,
    "sample": Parser.op_sample,
    "sample-distinct": Parser.op_sample,
}
