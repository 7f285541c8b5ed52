"""Human output: `path:line:col: severity CODE: message`, notes below, colour on a terminal."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.text import Text

from ..diagnostics import Diagnostic, Severity

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow"}


def diagnostic_text(diagnostic: Diagnostic) -> Text:
    # Text objects, not markup: messages may hold '[' and ']' (KQL, field paths).
    text = Text()
    text.append(f"{diagnostic.path}:{diagnostic.line}:{diagnostic.column}", style="bold")
    text.append(": ")
    text.append(str(diagnostic.severity), style=_STYLE[diagnostic.severity])
    text.append(f" {diagnostic.code}", style="dim")
    text.append(f": {diagnostic.message}")
    for note in diagnostic.notes:
        text.append(f"\n    = {note}", style="cyan")
    return text


def print_diagnostics(console: Console, diagnostics: Iterable[Diagnostic]) -> None:
    if console.color_system is None and not console.record:
        # No colour (a log, a pipe, CI): the same text written as it is. rich's rendering costs about a
        # millisecond a line, as much as a small test's run, and a large repository prints thousands.
        console.file.write("".join(f"{diagnostic_text(d).plain}\n" for d in diagnostics))
        return
    for diagnostic in diagnostics:
        console.print(diagnostic_text(diagnostic), soft_wrap=True, highlight=False)


def summary_line(summary: Mapping[str, Any]) -> str:
    """The one line `dac test` and `dac check` end with: counts of tests by outcome, and the dialects."""
    noun = "test" if summary["tests"] == 1 else "tests"
    line = (
        f"{summary['tests']} {noun}: {summary['passed']} passed, {summary['failed']} failed, {summary['errors']} errors"
    )
    if summary["dialects"]:
        line += f" (in {', '.join(summary['dialects'])})"
    if summary.get("invalid_detections"):
        count = summary["invalid_detections"]
        line += f"; {count} invalid detection{'s' if count != 1 else ''} not run"
    return line


def slowest_lines(results: Sequence[Any], count: int) -> list[str]:
    """`--durations N`: a header, then the N slowest test runs (0: all), slowest first, as
    `1.23s  detection / test [dialect]` (runs that took as long keep their order)."""
    ranked = sorted(results, key=lambda r: -r.duration)
    shown = ranked if count == 0 else ranked[:count]
    header = "slowest test runs:" if count == 0 else f"slowest {len(shown)} test run{'s' if len(shown) != 1 else ''}:"
    return [header, *(f"{r.duration:8.2f}s  {r.detection} / {r.test} [{r.dialect}]" for r in shown)]
