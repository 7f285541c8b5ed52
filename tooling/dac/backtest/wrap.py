"""The rule's query, wrapped so that the service answers with counts instead of rows.

One query per rule and target. The rule's query (as rendered for the target) becomes a function whose
rows are materialized once; a union of small summaries over them is the answer, one row per count,
columns `Kind`, `Key`, `Value`:

- `total`: the number of result rows;
- `window`: result rows per schedule window, `Key` the window's start (`bin(<time column>,
  <frequency>)`); not for near-real-time rules, which alert on every row;
- `day`: result rows per day (`bin(<time column>, 1d)`);
- `entity`: the number of distinct non-empty values of each entity column, `Key` the column.

A run of the rule sees the `lookback` before it; the backtest runs once over the whole window. So
every `ago(X)` in the rule's query becomes `ago((X) + <since>)`: a lower bound such as
`Timestamp > ago(1h)` then takes in the rows of every run in the window, and a baseline such as
`between (ago(14d) .. ago(1h))` ends where the earliest run's recent window begins. `now()` is left
alone (a note says so). The rows are then put in windows by the rule's time column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..kql import parse
from ..kql.names import name_text
from ..kql.types import RowSchema

ROWS = "DacBacktestRows"
RULE = "DacBacktestRule"
TIME_COLUMNS = {"defender": ("Timestamp", "TimeGenerated"), "sentinel": ("TimeGenerated", "Timestamp")}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TIMESPAN = re.compile(r"^(\d+(?:\.\d+)?)(d|h|m|s|ms)$")
_UNIT_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


@dataclass
class Wrapped:
    """The query sent to the service, and what went into it."""

    text: str
    time_column: str | None
    entity_columns: list[str]
    frequency_minutes: int  # 0: near-real-time
    longest_ago_seconds: float = 0.0  # the longest literal ago() of the rule's query (a baseline)
    notes: list[str] = field(default_factory=list)


def timespan_literal(minutes: int) -> str:
    """Whole minutes as a KQL timespan literal: 1440 -> 1d, 60 -> 1h, 5 -> 5m."""
    if minutes % 1440 == 0:
        return f"{minutes // 1440}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"


def kql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quote_name(name: str) -> str:
    """A column name as KQL text: bare when it is an identifier, else ['...']."""
    if _IDENTIFIER.match(name):
        return name
    return "[" + kql_string(name) + "]"


def time_column(platform: str, output: RowSchema | None) -> str | None:
    """The column the rule's rows are put in windows by: the platform's own time column when the query
    returns it, else the first datetime column of its output."""
    if output is None:
        return None
    for name in TIME_COLUMNS.get(platform, ()):
        if output.get(name) == "datetime":
            return name
    return next((name for name, kind in output.items() if kind == "datetime"), None)


def shift_ago(text: str, since: str) -> tuple[str, int, float, bool]:
    """`text` with every ago(X) made ago((X) + since); (new text, calls changed, the longest literal X in
    seconds, whether now() is called)."""
    parsed = parse(text)
    edits: list[tuple[int, int, str]] = []
    longest = 0.0
    uses_now = False
    for node in parsed.tree.walk():
        if node.kind != "Call":
            continue
        callee = name_text(node["callee"])
        items = node["arguments"]["items"] if node["arguments"] is not None else []
        if callee == "now" and not items:
            uses_now = True
        if callee != "ago" or len(items) != 1:
            continue
        tokens = [t for t in items[0].tokens() if not t.missing]
        if not tokens:
            continue
        start, end = tokens[0].start, tokens[-1].end
        argument = text[start:end]
        literal = _TIMESPAN.match(argument.strip())
        if literal:
            longest = max(longest, float(literal.group(1)) * _UNIT_SECONDS[literal.group(2)])
        edits.append((start, end, f"({argument}) + {since}"))
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text, len(edits), longest, uses_now


def wrap(
    query: str,
    *,
    platform: str,
    output: RowSchema | None,
    entity_columns: list[str],
    frequency_minutes: int,
    since: str,
) -> Wrapped:
    """The counting query for a rule's query (see the module docstring); `since` is a KQL timespan
    literal such as `7d`."""
    body, shifted, longest, uses_now = shift_ago(query.strip().rstrip(";").rstrip(), since)
    column = time_column(platform, output)
    known = [c for c in dict.fromkeys(entity_columns) if output is None or output.open or c in output.columns]
    notes = []
    if shifted:
        notes.append(f"{shifted} ago() call(s) widened by {since} to cover every run in the window")
    if uses_now:
        notes.append("the query calls now(): filters written with now() see the latest run only")
    if column is None:
        notes.append("the query returns no datetime column: no counts per window or per day")
    legs = [f"({ROWS} | summarize Value = count() | extend Kind = 'total', Key = '')"]
    if column is not None:
        time = quote_name(column)
        if frequency_minutes > 0:
            step = timespan_literal(frequency_minutes)
            legs.append(
                f"({ROWS} | summarize Value = count() by Key = tostring(bin({time}, {step})) | extend Kind = 'window')"
            )
        legs.append(f"({ROWS} | summarize Value = count() by Key = tostring(bin({time}, 1d)) | extend Kind = 'day')")
    for name in known:
        value = f"tostring({quote_name(name)})"
        legs.append(f"({ROWS} | where isnotempty({value}) | summarize by DacValue = {value} | count"
                    f" | project Value = Count, Kind = 'entity', Key = {kql_string(name)})")  # fmt: skip
    # A function body may hold the rule's own let statements; the newline before `}` ends a trailing comment.
    text = (
        f"let {RULE} = () {{\n{body}\n}};\n"
        f"let {ROWS} = materialize({RULE}());\n"
        "union\n    " + ",\n    ".join(legs) + "\n| project Kind, Key, Value"
    )
    return Wrapped(text, column, known, frequency_minutes, longest, notes)
