"""Datetimes with 100 ns ticks, which KQL has and a DuckDB TIMESTAMP (microseconds) does not.

A few KQL results always need the seventh fractional digit: endofday() and its kin end 100 ns
before the next period, make_datetime() and datetime literals may carry it. The emulator holds
those as a DuckDB TIMESTAMP_NS with the KQL type "datetime_ns", which no function accepts: DuckDB
would round it back to microseconds in arithmetic and in its date functions, a wrong answer.
Comparisons, sorting, grouping and results are exact (DuckDB compares a TIMESTAMP with a
TIMESTAMP_NS at nanosecond precision), so those work, and everything else is refused (EMU001).
Results come back as `DatetimeTicks`, a datetime that also carries the tick digit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

DATETIME_NS = "datetime_ns"
_EPOCH = dt.datetime(1970, 1, 1)


class DatetimeTicks(dt.datetime):
    """A datetime plus `extra_ticks` (0-9): the 100 ns digit after the microseconds."""

    extra_ticks: int = 0

    @classmethod
    def from_epoch_ns(cls, nanoseconds: int) -> DatetimeTicks:
        micro, rest = divmod(nanoseconds, 1000)
        plain = _EPOCH + dt.timedelta(microseconds=micro)
        value = cls(*plain.timetuple()[:6], plain.microsecond)
        value.extra_ticks = rest // 100
        return value

    def isoformat(self, sep: str = "T", timespec: str = "auto") -> str:
        if timespec != "auto":
            return super().isoformat(sep, timespec)
        return super().isoformat(sep, "microseconds") + str(self.extra_ticks)

    def __str__(self) -> str:
        return self.isoformat(" ")

    def __repr__(self) -> str:
        return f"DatetimeTicks({self.isoformat()})"


def public_kind(kind: str) -> str:
    """The KQL type a result column reports: a datetime, whatever its precision here."""
    return "datetime" if kind == DATETIME_NS else kind


def ticks_columns(
    sql: str, described: list[tuple[str, str]]
) -> tuple[str, Callable[[list[tuple[str, str]], list[Sequence[Any]]], tuple[list[tuple[str, str]], list[Any]]]]:
    """Select nanosecond datetimes as their epoch_ns (DuckDB hands them out cut to microseconds) and
    give back a reader that turns those numbers into DatetimeTicks."""
    names = {name for name, kind in described if kind == DATETIME_NS}
    if not names:
        return sql, lambda columns, rows: (columns, rows)
    selects = [f"epoch_ns({_q(n)}) AS {_q(n)}" if n in names else _q(n) for n, _ in described]
    wrapped = f"SELECT {', '.join(selects)} FROM ({sql}) AS _ticks"

    def read(columns: list[tuple[str, str]], rows: list[Sequence[Any]]) -> tuple[list[tuple[str, str]], list[Any]]:
        positions = [index for index, (name, _) in enumerate(columns) if name in names]
        columns = [(name, "datetime") if name in names else (name, kind) for name, kind in columns]
        converted = [list(row) for row in rows]
        for row in converted:
            for index in positions:
                if row[index] is not None:
                    row[index] = DatetimeTicks.from_epoch_ns(row[index])
        return columns, converted

    return wrapped, read


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
