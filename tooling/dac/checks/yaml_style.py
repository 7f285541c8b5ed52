"""Checks on how the YAML is written: a multi-line query without `|` that YAML folds into one line.

YAML joins the lines of a plain scalar (and of a `>` block) with spaces. A query written under
`text:` without `|` therefore loads as one long line: it still runs, but a `//` comment in it
now runs to the end of the query and swallows everything after it, and positions in findings no
longer match the file. PyYAML cannot tell; only the scalar's style in the source can.
"""

from __future__ import annotations

import itertools

from ..diagnostics import Diagnostic, warning
from ..model.detection import DIALECTS, Detection
from ..model.yamlsource import JsonPath, ScalarStyle

FOLDED_STYLES = (None, ">")  # PyYAML's style: None for plain scalars, ">" for folded blocks


def query_paths(detection: Detection) -> list[JsonPath]:
    paths: list[JsonPath] = [("query", "text")]
    variants = detection.data.get("variants") or {}
    paths += [("variants", dialect, "text") for dialect in DIALECTS if "text" in (variants.get(dialect) or {})]
    return paths


def check(detection: Detection) -> list[Diagnostic]:
    diagnostics = []
    for path in query_paths(detection):
        style = detection.source.scalar_styles.get(path)
        if style is None or style.style not in FOLDED_STYLES:
            continue
        lines = _content_lines(detection.source.text, style)
        if not any(joined for _, _, joined in lines):  # one line, or blank lines kept every break
            continue
        how = "has no `|`" if style.style is None else "uses `>`"
        swallowing = _swallowing_comment(lines)
        if swallowing is not None:
            message = (
                f"the query spans several lines but `text:` {how}: YAML folded it into one line, so the `//` "
                f"comment on line {swallowing} swallows everything after it; write `text: |`"
            )
        else:
            message = (
                f"the query spans several lines but `text:` {how}: YAML folded it into one line; it still runs, "
                "but the rule shows it as one line and findings in it point at the wrong place; write `text: |`"
            )
        diagnostics.append(
            warning(
                detection.display,
                detection.key_position(path),
                "DAC109",
                message,
                "with `|` every line of the query stays a line; indent the query under `text: |`",
            )
        )
    return diagnostics


def _content_lines(text: str, style: ScalarStyle) -> list[tuple[int, str, bool]]:
    """(line number, text, joined to the previous line) for each non-empty line of the scalar."""
    source = text.splitlines()
    if style.style == ">":
        first = style.start.line + 1  # the line after the `>` indicator
        last = style.end.line - 1 if style.end.column == 1 else style.end.line
    else:
        first, last = style.start.line, style.end.line
    result: list[tuple[int, str, bool]] = []
    block_indent: int | None = None
    previous_blank = True
    previous_more_indented = False
    for number in range(first, min(last, len(source)) + 1):
        line = source[number - 1]
        if style.style is None and number == last:  # a plain scalar ends where its text does
            line = line[: style.end.column - 1]
        if number == style.start.line:
            line = line[style.start.column - 1 :]
        if not line.strip():
            previous_blank = True
            continue
        indent = len(line) - len(line.lstrip(" "))
        if block_indent is None:
            block_indent = indent
        more_indented = style.style == ">" and indent > block_indent
        # YAML joins two lines with a space unless a blank line separates them or (in a `>` block)
        # one of them is more indented than the block.
        joined = bool(result) and not previous_blank and not more_indented and not previous_more_indented
        result.append((number, line.strip(), joined))
        previous_blank = False
        previous_more_indented = more_indented
    return result


def _swallowing_comment(lines: list[tuple[int, str, bool]]) -> int | None:
    """Line number of the first `//` comment that the folding joins with the line after it."""
    for (number, text, _), (_, _, next_joined) in itertools.pairwise(lines):
        if next_joined and _comment_start(text) is not None:
            return number
    return None


def _comment_start(line: str) -> int | None:
    """Index of a KQL `//` comment in one line, outside string literals."""
    quote = ""
    verbatim = False
    index = 0
    while index < len(line):
        char = line[index]
        if quote:
            if char == "\\" and not verbatim:
                index += 1
            elif char == quote:
                if verbatim and line[index + 1 : index + 2] == quote:
                    index += 1
                else:
                    quote = ""
        elif char in "'\"":
            quote = char
            verbatim = line[index - 1 : index] == "@"
        elif line.startswith("//", index):
            return index
        index += 1
    return None
