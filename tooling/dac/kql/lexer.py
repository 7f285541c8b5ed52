"""KQL lexer: text -> tokens that keep every byte (leading and trailing trivia).

Each token owns the trivia (whitespace and `//` comments) before it on its own line and
elsewhere (`leading`), and the trivia after it up to and including the end of its line
(`trailing`), so `"".join(t.leading + t.text + t.trailing for t in tokens) == text`.
The last token is always EOF, which carries the trivia at the end of the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum


class T(IntEnum):
    """Token kinds. Words are all IDENT: KQL keywords are contextual, the parser decides."""

    IDENT = 1
    STRING = 2
    NUMBER = 3  # int, long, real, hex
    TIMESPAN = 4  # 1d, 5m, 100ms, 1tick
    TYPED_LITERAL = 5  # datetime(...), timespan(...), guid(...), int(null), ...
    PUNCT = 6  # operators and brackets; the text says which
    BANG_WORD = 7  # !has, !contains, !in, !in~, !between, ...
    BAD = 8  # a character KQL does not use, or an unterminated string
    EOF = 9


@dataclass(slots=True)
class Token:
    kind: T
    text: str
    start: int  # offset of `text` in the source
    leading: str = ""
    trailing: str = ""
    # set when the lexer already knows the token is wrong (unterminated string, stray character)
    error: str | None = None
    # True for tokens the parser invented during recovery; they have no text
    missing: bool = False

    @property
    def end(self) -> int:
        return self.start + len(self.text)

    def full(self) -> str:
        return self.leading + self.text + self.trailing

    def is_word(self, *words: str) -> bool:
        return self.kind is T.IDENT and self.text in words

    def is_punct(self, *texts: str) -> bool:
        return self.kind is T.PUNCT and self.text in texts

    def __repr__(self) -> str:
        return f"Token({self.kind.name}, {self.text!r}, {self.start})"


# Words with hyphens that are one token (query operators and a few plugin-style names).
HYPHENATED = frozenset(
    {
        "mv-expand", "mv-apply", "project-away", "project-keep", "project-rename", "project-reorder",
        "project-smart", "project-by-names", "parse-where", "parse-kv", "make-series", "make-graph", "top-nested",
        "top-hitters", "graph-match", "graph-merge", "graph-to-table", "graph-shortest-paths",
        "graph-mark-components", "sample-distinct", "execute-show-command", "granny-asc", "granny-desc",
    }
)  # fmt: skip

# `datetime(2024-01-01 10:00)` holds text that is not KQL tokens: the whole literal is one token.
TYPED_LITERAL_WORDS = frozenset(
    {"datetime", "date", "timespan", "time", "guid", "int", "long", "real", "double", "decimal", "bool", "boolean"}
)

_STRING_OPERATORS = (
    "has_cs|hasprefix_cs|hasprefix|hassuffix_cs|hassuffix|has|contains_cs|contains|"
    "startswith_cs|startswith|endswith_cs|endswith|in|between"
)

_TIMESPAN_UNITS = (
    "days|day|d|hours|hour|hrs|hr|h|minutes|minute|min|m|seconds|second|sec|s|milliseconds|millisecond|milli|ms|"
    "microseconds|microsecond|micro|nanoseconds|nanosecond|nano|ticks|tick"
)

_TOKEN = re.compile(
    r"""
    (?P<multiline>```.*?```|~~~.*?~~~)
  | (?P<string>[hH]?"(?:[^"\\\n]|\\.)*"|[hH]?'(?:[^'\\\n]|\\.)*')
  | (?P<number>(?:0[xX][0-9a-fA-F]+|\d+(?:\.(?!\.)\d*)?(?:[eE][+-]?\d+)?)(?P<unit>(?:"""
    + _TIMESPAN_UNITS
    + r""")(?![A-Za-z0-9_]))?(?![A-Za-z0-9_]))
  | (?P<bang>!(?:in~|(?:"""
    + _STRING_OPERATORS
    + r""")(?![A-Za-z0-9_])))
  | (?P<ident>[A-Za-z_$][A-Za-z0-9_]*|\d+[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>==|!=|<>|<=|>=|=~|!~|=>|\.\.|<\||[|()\[\]{},;:.=<>+\-*/%?@!~#])
    """,
    re.VERBOSE | re.DOTALL,
)
# Verbatim strings (@"...") double their quote instead of using backslashes.
_VERBATIM = re.compile(r"""[hH]?@(?:"(?:[^"\n]|"")*"|'(?:[^'\n]|'')*')""")
# Unicode spaces (no-break, narrow no-break, ...) are whitespace too: pasted queries carry them.
# Escapes a regular string may use; anything else after a backslash is an error in Kusto.
_BAD_ESCAPE = re.compile(r"""(?<!\\)(?:\\\\)*(\\[^\\'"ntr0abfvux])""")
_TRIVIA = re.compile(r"(?:[\s\ufeff\u200b]+|//[^\n]*)*")
_LINE_TRIVIA = re.compile(r"(?:[^\S\n]+|[\ufeff\u200b]+|//[^\n]*)*\n?")
_TYPED_BODY = re.compile(r"\s*\([^()\n]*\)")
# One part more than the longest hyphenated word has: a longer run is no such word either, and the match
# stays short (unbounded, `a-b-c-...` of 1 MB would rescan the rest of the run at every word).
_HYPHEN_TAIL = re.compile(rf"(?:-[A-Za-z]+){{1,{max(word.count('-') for word in HYPHENATED) + 1}}}")


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    append = tokens.append
    position = 0
    length = len(text)
    leading = _TRIVIA.match(text, 0)
    pending = leading.group() if leading else ""
    position = leading.end() if leading else 0
    while position < length:
        start = position
        char = text[position]
        match = None
        kind = T.PUNCT
        error = None
        if char == "@" or (char in "hH" and position + 1 < length and text[position + 1] == "@"):
            match = _VERBATIM.match(text, position)
            if match:
                kind = T.STRING
        if match is None:
            match = _TOKEN.match(text, position)
            if match is None:
                end, kind, error = _bad(text, position)
            else:
                group = match.lastgroup
                end = match.end()
                if group == "ident":
                    kind = T.IDENT
                    word = match.group()
                    if word in TYPED_LITERAL_WORDS:
                        body = _TYPED_BODY.match(text, end)
                        if body:
                            kind, end = T.TYPED_LITERAL, body.end()
                    elif end < length and text[end] == "-":
                        tail = _HYPHEN_TAIL.match(text, end)
                        if tail and (word + tail.group()) in HYPHENATED:
                            end = tail.end()
                    elif word == "in" and end < length and text[end] == "~":
                        end += 1
                elif group == "multiline":
                    kind = T.STRING
                elif group == "string":
                    kind = T.STRING
                    bad_escape = _BAD_ESCAPE.search(match.group())
                    if bad_escape:
                        error = (
                            f"unknown escape sequence '{bad_escape.group(1)}' in a string (write '\\\\' or use @'...')"
                        )
                elif group == "number":
                    kind = T.TIMESPAN if match.group("unit") else T.NUMBER
                elif group == "bang":
                    kind = T.BANG_WORD
                elif group == "punct":
                    kind = T.PUNCT
                    if match.group() == "#":
                        kind, error = T.BAD, "unexpected character '#'"
        else:
            end = match.end()
        token_text = text[start:end]
        trailing = _LINE_TRIVIA.match(text, end)
        trailing_text = trailing.group() if trailing else ""
        position = end + len(trailing_text)
        append(Token(kind, token_text, start, pending, trailing_text, error))
        rest = _TRIVIA.match(text, position)
        pending = rest.group() if rest else ""
        position += len(pending)
    append(Token(T.EOF, "", length, pending))
    return tokens


def _bad(text: str, position: int) -> tuple[int, T, str]:
    """A token the regular grammar refused: unterminated strings, stray characters."""
    char = text[position]
    if text.startswith("```", position) or text.startswith("~~~", position):
        return len(text), T.BAD, "multi-line string is never closed (missing ```)"
    quote_at = position + 1 if char in "hH@" else position
    if quote_at < len(text) and text[quote_at] == "@":
        quote_at += 1
    if quote_at < len(text) and text[quote_at] in "\"'":
        newline = text.find("\n", position)
        end = len(text) if newline < 0 else newline
        return end, T.BAD, f"string is never closed (missing {text[quote_at]})"
    shown = char if char.isprintable() else f"U+{ord(char):04X}"
    return position + 1, T.BAD, f"unexpected character '{shown}'"
