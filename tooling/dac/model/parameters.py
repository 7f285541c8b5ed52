"""What a detection's query parameters are, without the template engine: whether a detection declares
`parameters` (only then is its query a Jinja2 template, see templating.py) and the error a template
gives. Kept apart so that repositories without templates never load Jinja2."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ParameterError(Exception):
    """A query template that cannot be rendered; `line` and `column` are 1-based, in the query text."""

    def __init__(self, message: str, line: int = 1, column: int = 1):
        super().__init__(message)
        self.line = line
        self.column = column


def declares_parameters(data: Mapping[str, Any]) -> bool:
    """Whether a detection's query is a template: it has a `parameters` mapping (possibly empty)."""
    return isinstance(data.get("parameters"), dict)
