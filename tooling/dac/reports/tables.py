"""KQL values and rows as text: one value as a table cell or JSON, and the small ASCII tables of
expected and actual rows that a failed test's message shows (drawn with rich, no colour)."""

from __future__ import annotations

import datetime as dt
import io
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from ..emulator.fixtures import format_datetime, format_string, format_timespan

MAX_SHOWN_ROWS = 20
MAX_SHOWN_COLUMNS = 8
MAX_CELL = 60


def rows_text(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"


def display_value(value: Any, kql_type: str, null: str = "null") -> str:
    """A result value as one table cell."""
    if value is None:
        return "" if kql_type == "string" else null
    if isinstance(value, dt.datetime):
        return format_datetime(value)
    if isinstance(value, dt.timedelta):
        return format_timespan(value)
    if kql_type == "dynamic" or isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return format_string(value)


def json_value(value: Any, kql_type: str) -> Any:
    """A result value for JSON output: datetimes ISO 8601 with Z, timespans d.hh:mm:ss, dynamic as JSON."""
    if value is None:
        return "" if kql_type == "string" else None
    if isinstance(value, dt.datetime):
        return format_datetime(value)
    if isinstance(value, dt.timedelta):
        return format_timespan(value)
    if isinstance(value, float) and not math.isfinite(value):
        return format_string(value)
    if kql_type == "dynamic":
        return json.loads(json.dumps(value, default=str))
    if isinstance(value, (str, int, float, bool, dict, list)):
        return value
    return str(value)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 3] + "..."


def brief(row: Mapping[str, Any]) -> str:
    inner = ", ".join(f"{k}: {_clip(display_value(v, 'dynamic' if isinstance(v, (dict, list)) else ''))}"
                      for k, v in row.items())  # fmt: skip
    return "{" + inner + "}"


def table_text(title: str, headers: list[str], rows: Iterable[list[str]], note: str | None = None) -> str:
    table = Table(box=box.ASCII)
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*(_clip(cell) for cell in row))
    buffer = io.StringIO()
    Console(file=buffer, width=240, color_system=None, highlight=False, emoji=False, markup=False).print(table)
    lines = [title, *(line.rstrip() for line in buffer.getvalue().splitlines())]
    return "\n".join([*lines, note] if note else lines)


def expected_table(
    rows: list[Mapping[str, Any]], problems: list[tuple[tuple[Any, ...], str]], matched: bool = True
) -> str:
    columns = list(dict.fromkeys(c for row in rows for c in row))
    missing = {path[1] for path, _ in problems if len(path) == 2}
    body = [
        [
            f"[{n}]",
            ("MISSING" if n in missing else "ok") if matched else "",
            *(_cell(row[c]) if c in row else "" for c in columns),
        ]
        for n, row in enumerate(rows)
    ]
    return table_text("expected (expect.rows):", ["#", "", *columns], body)


def _cell(value: Any) -> str:
    return display_value(value, "dynamic" if isinstance(value, (dict, list)) else "")


def result_table(result: Any, columns: list[str]) -> str:
    positions = {name: i for i, (name, _) in enumerate(result.columns)}
    types = dict(result.columns)
    shown = columns[:MAX_SHOWN_COLUMNS]
    body = [[str(n + 1), *(display_value(row[positions[c]], types[c]) for c in shown)] for n, row in
            enumerate(result.rows[:MAX_SHOWN_ROWS])]  # fmt: skip
    notes = []
    if len(result.rows) > MAX_SHOWN_ROWS:
        notes.append(f"{len(result.rows) - MAX_SHOWN_ROWS} more rows not shown")
    if len(columns) > MAX_SHOWN_COLUMNS:
        notes.append(f"{len(columns) - MAX_SHOWN_COLUMNS} more columns not shown")
    title = f"actual ({rows_text(len(result.rows))}):"
    return table_text(title, ["#", *shown], body, "; ".join(notes) or None)
