"""KQL literal text as Python values: timespans (`1.5h`, `30d`) and datetimes (ISO 8601, month-day-year,
`2025, 6, 14`), for the compiler's literals and todatetime()."""

from __future__ import annotations

import datetime as dt
import re
from fractions import Fraction

from .ticks import DatetimeTicks


def timespan_ticks(text: str) -> int | None:
    """The exact number of 100 ns ticks of a timespan literal such as `1.5h` or `3tick`, None for another
    form or a value that is not a whole number of ticks (KQL's rounding of it is not documented)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([a-z]+)", text)
    seconds = _UNIT_TICKS.get(match.group(2)) if match else None
    if match is None or seconds is None:
        return None
    ticks = Fraction(match.group(1)) * seconds
    return int(ticks) if ticks.denominator == 1 else None


def parse_timespan(text: str) -> dt.timedelta:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([a-z]+)", text)
    if not match:
        raise ValueError(text)
    number, unit = float(match.group(1)), match.group(2)
    seconds = {
        "d": 86400, "day": 86400, "days": 86400, "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
        "m": 60, "min": 60, "minute": 60, "minutes": 60, "s": 1, "sec": 1, "second": 1, "seconds": 1,
        "ms": 0.001, "milli": 0.001, "millisecond": 0.001, "milliseconds": 0.001, "microsecond": 1e-6,
        "microseconds": 1e-6, "micro": 1e-6, "tick": 1e-7, "ticks": 1e-7,
    }.get(unit)  # fmt: skip
    if seconds is None:
        raise ValueError(text)
    return dt.timedelta(seconds=number * seconds)


def parse_datetime(text: str) -> dt.datetime:
    cleaned = re.sub(r"\s*-\s*", "-", text.strip().strip("'\"")).replace("Z", "").replace("z", "")
    us_date = re.fullmatch(r"(\d{1,2})-(\d{1,2})-(\d{4})", cleaned)
    if us_date:  # datetime('12-02-2022') is month-day-year
        return dt.datetime(int(us_date.group(3)), int(us_date.group(1)), int(us_date.group(2)))
    listed = re.fullmatch(r"(\d{4}),\s*(\d{1,2}),\s*(\d{1,2})", cleaned)
    if listed:  # datetime(2025, 6, 14)
        return dt.datetime(*(int(part) for part in listed.groups()))
    iso = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?", cleaned)
    if iso:
        *parts, fraction = iso.groups()
        digits = (fraction or "").ljust(7, "0")
        if digits[7:].strip("0"):  # below a tick: KQL's rounding is not documented
            raise ValueError(text)
        value = dt.datetime(*(int(part or 0) for part in parts), microsecond=int(digits[:6]))
        if digits[6] == "0":
            return value
        ticked = DatetimeTicks(*value.timetuple()[:6], value.microsecond)
        ticked.extra_ticks = int(digits[6])
        return ticked
    raise ValueError(text)


# Ticks (100 ns) per unit of a timespan literal (timespan data type page).
_UNIT_TICKS = {
    **dict.fromkeys(("d", "day", "days"), 864_000_000_000),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 36_000_000_000),
    **dict.fromkeys(("m", "min", "minute", "minutes"), 600_000_000),
    **dict.fromkeys(("s", "sec", "second", "seconds"), 10_000_000),
    **dict.fromkeys(("ms", "milli", "millisecond", "milliseconds"), 10_000),
    **dict.fromkeys(("micro", "microsecond", "microseconds"), 10),
    **dict.fromkeys(("tick", "ticks"), 1),
}
