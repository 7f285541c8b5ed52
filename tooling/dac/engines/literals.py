"""Python values of a KQL type written as KQL literals, and typed rows as a `datatable`.

What the Kusto engine sends instead of ingesting: every value exactly as its column's type reads it
(KQL's scalar data type pages): strings in double quotes with backslash escapes (a string is never
null: null is ""), `long(1)`, `int(1)`, `real(1.5)` / `real(nan)` / `real(+inf)`, `bool(true)`,
`datetime(2024-12-02T11:00:00.1234567Z)`, `timespan(1.02:03:04.5000000)` (a negative one as
`timespan(-00:00:01.5000000)`), `guid(...)`, `decimal(...)`, `dynamic(<JSON>)`, and null as `long(null)`, ...
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

# Names KQL reserves or that are not plain identifiers are quoted: ['name'].
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEYWORDS = frozenset({
    "and", "or", "not", "let", "set", "by", "on", "in", "has", "with", "of", "to", "true", "false", "null", "where",
    "project", "extend", "summarize", "join", "union", "datatable", "range", "print", "as", "kind", "between",
    "contains", "startswith", "endswith", "matches", "materialize", "view", "declare", "typeof", "title", "from",
    "step", "bool", "boolean", "int", "long", "real", "double", "string", "datetime", "date", "timespan", "time",
    "dynamic", "guid", "uuid", "decimal", "table", "toscalar", "database", "cluster", "externaldata",
})  # fmt: skip
_STRING_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def name_literal(name: str) -> str:
    """A column or table name as KQL reads it: plain when it can be, else ['name']."""
    if _PLAIN_NAME.fullmatch(name) and name.lower() not in _KEYWORDS:
        return name
    return "['" + name.replace("\\", "\\\\").replace("'", "\\'") + "']"


def string_literal(value: str) -> str:
    return '"' + "".join(_STRING_ESCAPES.get(character, character) for character in value) + '"'


def literal(value: Any, kql_type: str) -> str:
    """`value` (a Python value of `kql_type`, as fixtures type them) as a KQL literal of that type."""
    if kql_type == "string":
        return string_literal("" if value is None else str(value))
    if value is None:
        return f"{kql_type}(null)"
    writer = _WRITERS.get(kql_type)
    if writer is None:
        raise ValueError(f"no KQL literal for the type {kql_type!r}")
    return writer(value)


def _real(value: Any) -> str:
    number = float(value)
    if math.isnan(number):
        return "real(nan)"
    if math.isinf(number):
        return "real(+inf)" if number > 0 else "real(-inf)"
    return f"real({number!r})"


def _decimal(value: Any) -> str:
    number = value if isinstance(value, Decimal) else Decimal(repr(float(value)) if isinstance(value, float) else value)
    if not number.is_finite():
        raise ValueError(f"{value!r} cannot be a decimal")
    return f"decimal({number})"


def datetime_text(value: dt.datetime) -> str:
    """ISO 8601 UTC with all seven fractional digits (the seventh from the emulator's DatetimeTicks)."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    ticks = getattr(value, "extra_ticks", 0)
    return f"{value:%Y-%m-%dT%H:%M:%S}.{value.microsecond:06d}{ticks}Z"


def timespan_text(value: dt.timedelta) -> str:
    """[d.]hh:mm:ss.fffffff of the absolute value."""
    total = abs(value)
    seconds = total.seconds
    text = f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}.{total.microseconds:06d}0"
    return f"{total.days}.{text}" if total.days else text


def _timespan(value: dt.timedelta) -> str:
    return f"timespan({'-' if value < dt.timedelta(0) else ''}{timespan_text(value)})"


def _dynamic(value: Any) -> str:
    # JSON as Kusto's dynamic literal reads it; non-ASCII stays as it is (a \\u escape is JSON's, not KQL's).
    return f"dynamic({json.dumps(value, ensure_ascii=False, allow_nan=False, default=_json_default)})"


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return datetime_text(value)
    if isinstance(value, dt.timedelta):
        return ("-" if value < dt.timedelta(0) else "") + timespan_text(value)
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _bool(value: Any) -> str:
    return "bool(true)" if value else "bool(false)"


_WRITERS = {
    "long": lambda value: f"long({int(value)})",
    "int": lambda value: f"int({int(value)})",
    "real": _real,
    "decimal": _decimal,
    "bool": _bool,
    "datetime": lambda value: f"datetime({datetime_text(value)})",
    "timespan": _timespan,
    "guid": lambda value: f"guid({str(value).lower()})",
    "dynamic": _dynamic,
}


def datatable(columns: Mapping[str, str], rows: Sequence[Mapping[str, Any]]) -> str:
    """`datatable(Name: type, ...) [values, ...]` of `rows` ({column: value}; a column a row leaves out is
    null, "" for a string), with every column of `columns`, in order."""
    schema = ", ".join(f"{name_literal(name)}: {kind}" for name, kind in columns.items())
    lines = [", ".join(literal(row.get(name), kind) for name, kind in columns.items()) for row in rows]
    body = ",\n    ".join(lines)
    return f"datatable({schema}) [\n    {body}\n]" if lines else f"datatable({schema}) []"
