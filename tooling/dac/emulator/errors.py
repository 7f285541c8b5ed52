"""EmulatorError, the offset in the query text it names, and how a failure of DuckDB becomes one.

The codes (EMU001 a construct refused before running, EMU002 a failure while running, ... EMU008 to
EMU010 the limits of a run, see engine.py) are listed in docs/testing.md.
"""

from __future__ import annotations

import os
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

    def __init__(self, code: str, message: str, offset: int = 0, engine_text: str = ""):
        super().__init__(message)
        self.code = code
        self.message = message
        self.offset = offset
        self.engine_text = engine_text  # DuckDB's own words, for locating the failure; never the message

    @property
    def is_type_mismatch(self) -> bool:
        """A DuckDB failure to bind a function or operator to its arguments' types."""
        return bool(self.engine_text) and _TYPE_MISMATCH.search(self.engine_text) is not None


def offset_of(node: Node | Token | None) -> int:
    if isinstance(node, Token):
        return node.start
    token = node.first_token() if node is not None else None
    return token.start if token is not None else 0


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


# The emulator's own refusals and failures, raised in SQL (error('...')) or in a Python UDF: their text is
# ours, in KQL words, and reaches the user with DuckDB's prefix ("Invalid Input Error: ") taken off.
_OWN_MESSAGE = re.compile(
    r"((?:the emulator (?:does not support|cannot reproduce) |assert\(\) failed|range: |a graph must be ).*)"
)
_UDF_REFUSAL = re.compile(r"(the emulator does not support .*)")
# DuckDB's kinds of error, in the words a KQL user reads. Its own text never is the message (it names SQL
# functions and types the query does not have); DAC_DEBUG=1 appends it, for whoever debugs the emulator.
_TYPE_MISMATCH = re.compile(r"No function matches|Cannot mix|Cannot compare|explicit cast|Binder Error")
TYPE_HINT = "(check the types of the arguments, or convert them: tostring(), toint(), todatetime(), ...)"
_DUCKDB_ERRORS: list[tuple[re.Pattern[str], str]] = [
    (_TYPE_MISMATCH, f"the emulator cannot run this query: a function or operator is given a value of a type it "
                     f"does not take {TYPE_HINT}"),
    (re.compile(r"Conversion Error|Could not convert|Overflow|Out of Range"),
     "the emulator met a value it cannot convert or hold while running the query (a number out of range, or a "
     "text that is not of the type needed)"),
    (re.compile(r"Division by zero|division by zero"), "the emulator met a division by zero while running the query"),
    (re.compile(r"Interrupt"), "the query was interrupted"),
]  # fmt: skip
_CATCH_ALL = "the emulator could not run this query (an internal error; set DAC_DEBUG=1 to see the engine's details)"


def query_failure(exc: Exception) -> EmulatorError:
    """EMU002: the query failed while running. The emulator's own refusals keep their words; any other
    failure of DuckDB is named in KQL words, never with DuckDB's text (kept only under DAC_DEBUG)."""
    if isinstance(exc, duckdb.OutOfMemoryException):  # Emulator.run names the limit
        return EmulatorError(OUT_OF_MEMORY, "the query needed more memory than the limit")
    line = _first_line(exc)
    refusal = _UDF_REFUSAL.search(line)
    if refusal:
        return EmulatorError("EMU002", f"{refusal.group(1)} (for a value met while running the query)")
    own = _OWN_MESSAGE.search(line)
    if own:
        return EmulatorError("EMU002", own.group(1))
    message = next((words for pattern, words in _DUCKDB_ERRORS if pattern.search(line)), _CATCH_ALL)
    return EmulatorError("EMU002", debug_detail(message, line), engine_text=line)


def debug_detail(message: str, engine_text: str) -> str:
    """The message, and DuckDB's own text after it when DAC_DEBUG is set."""
    return f"{message} [engine: {engine_text}]" if os.environ.get("DAC_DEBUG") and engine_text else message
