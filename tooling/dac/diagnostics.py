"""Findings with a position, a severity and a stable code.

Every message that reaches a user is a Diagnostic: ``path:line:col: severity CODE: message``.
The codes are documented in docs/diagnostics.md; tests assert on codes, not on wording.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class InputError(Exception):
    """A usage or input problem outside any detection file (one message, exit code 2)."""


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, order=True)
class Position:
    """1-based line and column inside a file."""

    line: int = 1
    column: int = 1


@dataclass(frozen=True)
class Diagnostic:
    path: str
    position: Position
    severity: Severity
    code: str
    message: str
    # Optional extra lines (a hint, a "did you mean"); shown under the message in text output.
    notes: tuple[str, ...] = field(default=())

    @property
    def line(self) -> int:
        return self.position.line

    @property
    def column(self) -> int:
        return self.position.column

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.path, self.line, self.column, self.code)

    def format(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.severity} {self.code}: {self.message}"

    def as_dict(self) -> dict[str, object]:
        result: dict[str, object] = {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "severity": str(self.severity),
            "code": self.code,
            "message": self.message,
        }
        if self.notes:
            result["notes"] = list(self.notes)
        return result


def error(path: str, position: Position, code: str, message: str, *notes: str) -> Diagnostic:
    return Diagnostic(path, position, Severity.ERROR, code, message, tuple(notes))


def warning(path: str, position: Position, code: str, message: str, *notes: str) -> Diagnostic:
    return Diagnostic(path, position, Severity.WARNING, code, message, tuple(notes))


def display_path(path: Path) -> str:
    """Paths as the user would type them: relative to the current folder when inside it."""
    try:
        relative = os.path.relpath(path, Path.cwd())
    except ValueError:  # another drive on Windows
        return path.as_posix()
    return Path(path if relative.startswith("..") else relative).as_posix()
