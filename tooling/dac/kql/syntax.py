"""The lossless syntax tree: nodes hold tokens and other nodes in source order.

Printing a tree (`node.text()`) concatenates each token's leading trivia, text and trailing
trivia, so an untouched tree prints the input byte for byte. Named fields point into
`children` for the consumers (binder, renderer, emulator) that need structure.
"""

from __future__ import annotations

from collections.abc import Container, Iterator
from dataclasses import dataclass
from typing import Any

from .lexer import Token

Element = "Node | Token"


class Node:
    __slots__ = ("children", "fields", "kind")

    def __init__(self, kind: str, children: list[Any], **fields: Any):
        self.kind = kind
        self.children = children
        self.fields = fields

    def __getitem__(self, name: str) -> Any:
        return self.fields.get(name)

    def tokens(self) -> Iterator[Token]:
        """All tokens under this node, in source order (iterative: deep trees are fine)."""
        stack: list[Any] = [iter(self.children)]
        while stack:
            for child in stack[-1]:
                if isinstance(child, Token):
                    yield child
                else:
                    stack.append(iter(child.children))
                    break
            else:
                stack.pop()

    def walk(self) -> Iterator[Node]:
        """This node and every node below it, parents before children."""
        stack: list[Node] = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed([c for c in node.children if isinstance(c, Node)]))

    def text(self) -> str:
        return "".join(token.leading + token.text + token.trailing for token in self.tokens())

    def first_token(self) -> Token | None:
        return next(self.tokens(), None)

    def __repr__(self) -> str:
        return f"Node({self.kind})"


def operands(node: Node, operators: Container[str]) -> list[Node]:
    """The operands of a chain of binary `operators` in source order (`a and b and c` -> [a, b, c]),
    else [node]. A loop: the parser nests a chain on the left as deep as it is long."""
    result: list[Node] = []
    pending = [node]
    while pending:
        current = pending.pop()
        if current.kind == "BinaryExpression" and current["op"].text in operators:
            pending += [current["right"], current["left"]]  # the left one is taken first
        else:
            result.append(current)
    return result


@dataclass(frozen=True, slots=True)
class KqlDiagnostic:
    code: str
    message: str
    start: int  # offset in the query text
    end: int
    severity: str = "error"  # error | warning


SyntaxDiagnostic = KqlDiagnostic  # the parser's findings; the binder adds semantic ones


class LineIndex:
    """Offset -> 1-based (line, column) for one text."""

    def __init__(self, text: str):
        self.starts = [0]
        position = text.find("\n")
        while position >= 0:
            self.starts.append(position + 1)
            position = text.find("\n", position + 1)

    def position(self, offset: int) -> tuple[int, int]:
        import bisect

        line = bisect.bisect_right(self.starts, offset) - 1
        return line + 1, offset - self.starts[line] + 1
