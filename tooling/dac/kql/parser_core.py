"""The base of the KQL parser: ParserCore, the token cursor that Parser and its mixins share (look-ahead,
expected tokens, syntax diagnostics, recovery by skipping balanced tokens), and the nesting limit
MAX_NESTING with the methods that keep to it (`nest`, `too_deep`)."""

from __future__ import annotations

from collections.abc import Callable

from .lexer import T, Token
from .syntax import LineIndex, Node, SyntaxDiagnostic

_CLOSERS = {"(": ")", "[": "]", "{": "}"}

# How deep brackets, calls, unary operators, property accesses, operands of a tighter-binding
# operator, dynamic() values, sub-queries and function bodies may nest (KQL010 past it). Every
# consumer of the tree (parser, binder, renderer, emulator compiler, DuckDB's own parser) recurses
# once per level: at 64 levels the deepest of them (this parser, on `toscalar(print x = ...)`) needs
# about 600 of Python's default 1000 frames, which leaves 300 and more to a CLI or test stack above
# (test_kql_fuzz runs every consumer at the limit from 300 frames deep). Chains of one precedence
# (`a or b or ...`) do not nest: consumers walk them with a loop, so they may be any length.
MAX_NESTING = 64


class ParserCore:
    """The tokens, the position in them and the diagnostics so far; Parser is built on it."""

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
