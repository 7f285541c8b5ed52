"""EmulatorError, the offset in the query text it names, and how a failure of DuckDB becomes one.

The codes (EMU001 a construct refused before running, EMU002 a failure while running, ... EMU008 to
EMU010 the limits of a run, see engine.py) are listed in docs/testing.md.
"""

from __future__ import annotations

import re

import duckdb

from ..kql.lexer import Token
from ..kql.syntax import Node

TIMEOUT = "EMU008"
OUT_OF_MEMORY = "EMU009"
TOO_MANY_ROWS = "EMU010"
LIMIT_CODES = frozenset({TIMEOUT, OUT_OF_MEMORY, TOO_MANY_ROWS})


class EmulatorError(Exception):
    """A construct the emulator cannot run exactly, or a runtime failure, at an offset in the query."""

    def __init__(self, code: str, message: str, offset: int = 0):
        super().__init__(message)
        self.code = code
        self.message = message
        self.offset = offset


def offset_of(node: Node | Token | None) -> int:
    if isinstance(node, Token):
        return node.start
    token = node.first_token() if node is not None else None
    return token.start if token is not None else 0


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


# A runtime function (Python UDF) that meets a case it cannot answer exactly says so with this text.
_UDF_REFUSAL = re.compile(r"(the emulator does not support .*)")


def query_failure(exc: Exception) -> EmulatorError:
    """EMU002: the query failed while running; a function's refusal of a row's value is named as such
    (EMU001 is for what the compiler refuses before running)."""
    if isinstance(exc, duckdb.OutOfMemoryException):  # Emulator.run names the limit
        return EmulatorError(OUT_OF_MEMORY, "the query needed more memory than the limit")
    line = _first_line(exc)
    refusal = _UDF_REFUSAL.search(line)
    if refusal:
        return EmulatorError("EMU002", f"{refusal.group(1)} (for a value met while running the query)")
    return EmulatorError("EMU002", f"the query failed in the emulator: {line}")
