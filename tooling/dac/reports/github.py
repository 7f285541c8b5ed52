"""GitHub Actions workflow commands: one `::error`/`::warning` annotation per diagnostic."""

from __future__ import annotations

from collections.abc import Iterable

from ..diagnostics import Diagnostic


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(diagnostic: Diagnostic) -> str:
    message = "\n".join([diagnostic.message, *diagnostic.notes])
    properties = ",".join(
        [
            f"file={_escape_property(diagnostic.path)}",
            f"line={diagnostic.line}",
            f"col={diagnostic.column}",
            f"title={_escape_property(diagnostic.code)}",
        ]
    )
    return f"::{diagnostic.severity} {properties}::{_escape_data(message)}"


def render(diagnostics: Iterable[Diagnostic]) -> list[str]:
    return [annotation(d) for d in diagnostics]
