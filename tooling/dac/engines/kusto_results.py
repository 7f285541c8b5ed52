"""A Kusto result table (the v2 JSON rows the service sent) as the emulator's QueryResult: the same KQL
type names and the same Python value kinds per type, so that one expectation check serves both.

Read from the raw JSON values rather than azure-kusto-data's conversions: those keep six fractional
digits of a datetime (the seventh, 100 ns, is kept here as the emulator keeps it) and give datetimes
with a time zone where the emulator's are naive UTC.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from ..emulator.engine import QueryResult
from ..emulator.ticks import DatetimeTicks

# Kusto's column type names (v2 ColumnType; v1 and .NET DataType names too) -> dac's KQL type names.
KQL_TYPES = {
    "string": "string", "long": "long", "int": "int", "real": "real", "double": "real", "decimal": "decimal",
    "bool": "bool", "boolean": "bool", "datetime": "datetime", "date": "datetime", "timespan": "timespan",
    "time": "timespan", "dynamic": "dynamic", "guid": "guid", "uuid": "guid", "uniqueid": "guid",
    "int64": "long", "int32": "int", "sbyte": "bool", "object": "dynamic", "sqldecimal": "decimal",
}  # fmt: skip

_DATETIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,7})\d*)?(?:Z|[+-]00:?00)?")
_TIMESPAN = re.compile(r"(-)?(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,7})\d*)?")


class ResultFormatError(ValueError):
    """A value the service sent that is not of its column's type."""


def kql_type(kusto_type: str) -> str:
    return KQL_TYPES.get(kusto_type.lower(), kusto_type.lower())


def query_result(columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]) -> QueryResult:
    """(name, Kusto type) columns and raw JSON rows -> a QueryResult."""
    kinds = [kql_type(kind) for _, kind in columns]
    converted = [[value_of(raw, kind) for raw, kind in zip(row, kinds, strict=True)] for row in rows]
    return QueryResult([(name, kind) for (name, _), kind in zip(columns, kinds, strict=True)], converted)


def value_of(raw: Any, kind: str) -> Any:
    """One JSON value of a column of `kind`, as the emulator gives such a value."""
    if kind == "string":
        return "" if raw is None else raw if isinstance(raw, str) else str(raw)
    if raw is None or kind == "dynamic":
        return raw
    reader = _READERS.get(kind)
    if reader is None:
        return raw
    try:
        return reader(raw)
    except (TypeError, ValueError, InvalidOperation, OverflowError):
        raise ResultFormatError(f"the service sent {raw!r} for a {kind} value") from None


def parse_datetime(text: str) -> dt.datetime:
    match = _DATETIME.fullmatch(text.strip())
    if match is None:
        raise ValueError(text)
    *parts, fraction = match.groups()
    digits = (fraction or "").ljust(7, "0")
    value = dt.datetime(*(int(part) for part in parts), microsecond=int(digits[:6]))
    if digits[6] == "0":
        return value
    ticked = DatetimeTicks(*value.timetuple()[:6], value.microsecond)
    ticked.extra_ticks = int(digits[6])
    return ticked


def parse_timespan(raw: Any) -> dt.timedelta:
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):  # ticks
        return dt.timedelta(microseconds=raw / 10)
    match = _TIMESPAN.fullmatch(str(raw).strip())
    if match is None:
        raise ValueError(raw)
    sign, days, hours, minutes, seconds, fraction = match.groups()
    span = dt.timedelta(days=int(days or 0), hours=int(hours), minutes=int(minutes), seconds=int(seconds),
                        microseconds=int((fraction or "").ljust(7, "0")[:6]))  # fmt: skip
    return -span if sign else span


def _whole(raw: Any) -> int:
    if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
        raise ValueError(raw)
    return int(raw)


def _bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str) and raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise ValueError(raw)


_READERS = {
    "long": _whole,
    "int": _whole,
    "real": float,  # "NaN", "Infinity" and "-Infinity" come as strings
    "decimal": lambda raw: float(Decimal(str(raw))),  # the emulator's decimals are reals
    "bool": _bool,
    "datetime": lambda raw: parse_datetime(str(raw)),
    "timespan": parse_timespan,
    "guid": lambda raw: str(raw).lower(),
}
