"""Jinja2 parameters in query text, rendered in a sandbox with strict undefined.

`{{ name }}` takes the detection's `parameters` (deployment targets may override them). Values
become KQL: lists and mappings as `dynamic([...])`, booleans `true`/`false`, None `null`,
numbers as written, strings as they are (so they can name tables or columns); the `kql` filter
quotes a string as a KQL string literal: `where DeviceName == {{ device | kql }}`.
"""

from __future__ import annotations

import json
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment


class ParameterError(Exception):
    def __init__(self, message: str, line: int = 1):
        super().__init__(message)
        self.line = line


def kql_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, list | tuple | dict):
        return f"dynamic({json.dumps(value, ensure_ascii=False)})"
    return json.dumps(str(value), ensure_ascii=False)


def _finalize(value: Any) -> Any:
    if isinstance(value, str):
        return value
    return kql_literal(value)


_ENVIRONMENT = SandboxedEnvironment(
    undefined=StrictUndefined, autoescape=False, finalize=_finalize, keep_trailing_newline=True
)
_ENVIRONMENT.filters["kql"] = kql_literal


def uses_parameters(text: str) -> bool:
    return "{{" in text or "{%" in text or "{#" in text


def render_parameters(text: str, parameters: dict[str, Any]) -> str:
    if not uses_parameters(text):
        return text
    try:
        return _ENVIRONMENT.from_string(text).render(**parameters)
    except TemplateError as exc:
        line = getattr(exc, "lineno", None) or 1
        raise ParameterError(f"query parameters: {exc.message or exc}", line) from None
