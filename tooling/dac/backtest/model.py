"""What a backtest found, per rule and for the whole target; alerts computed from the counts."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

SENTINEL_ALERTS_PER_RUN = 150  # Sentinel's cap of alerts per run for one alert per result
_OPERATORS = {"gt": lambda c, t: c > t, "lt": lambda c, t: c < t, "eq": lambda c, t: c == t,
              "ne": lambda c, t: c != t}  # fmt: skip
_KUSTO_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?Z?$")


@dataclass
class Trigger:
    """When one run alerts and how many alerts it raises."""

    per_row: bool  # Defender, near-real-time, or Sentinel's alert per result
    operator: str = "gt"
    threshold: int = 0
    scheduled: bool = True  # False: near-real-time, every row alerts as it arrives
    suppression_minutes: int = 0  # Sentinel: no runs for this long after one that alerted
    cap: int | None = None  # alerts per run at most

    def fires(self, rows: int) -> bool:
        return bool(_OPERATORS[self.operator](rows, self.threshold))

    def alerts(self, rows: int) -> int:
        if not self.fires(rows):
            return 0
        if not self.per_row:
            return 1
        return min(rows, self.cap) if self.cap is not None else rows


@dataclass
class RuleBacktest:
    """One rule's counts over the window, or the error that kept it from running."""

    id: str
    name: str
    file: str
    query: str = ""  # the wrapped query sent
    frequency_minutes: int = 0
    time_column: str | None = None
    entity_columns: list[str] = field(default_factory=list)
    total: int = 0
    per_window: dict[dt.datetime, int] = field(default_factory=dict)
    per_day: dict[dt.date, int] = field(default_factory=dict)
    untimed: int = 0  # result rows without a time value
    entities: dict[str, int] = field(default_factory=dict)  # column -> distinct values
    runs: int = 0  # schedule windows in the backtest window
    runs_alerting: int = 0
    alerts: int = 0
    alerts_per_day: dict[dt.date, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    over_budget: bool = False

    @property
    def zero_results(self) -> bool:
        return self.error is None and self.total == 0

    @property
    def flags(self) -> list[str]:
        if self.error is not None:
            return ["error"]
        return [flag for flag, on in (("over-budget", self.over_budget), ("zero-results", self.zero_results)) if on]


@dataclass
class BacktestReport:
    target: str
    platform: str
    service: str
    start: dt.datetime
    end: dt.datetime
    max_alerts_per_day: int
    rules: list[RuleBacktest] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (detection, why)

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86400

    def average_per_day(self, rule: RuleBacktest) -> float:
        return rule.alerts / self.days if self.days > 0 else float(rule.alerts)

    @property
    def over_budget(self) -> list[RuleBacktest]:
        return [r for r in self.rules if r.over_budget]

    @property
    def zero_results(self) -> list[RuleBacktest]:
        return [r for r in self.rules if r.zero_results]

    @property
    def failed(self) -> list[RuleBacktest]:
        return [r for r in self.rules if r.error is not None]


def kusto_time(text: Any) -> dt.datetime | None:
    """A datetime as the services print it (tostring: `2025-01-02T03:00:00Z`, with up to 7 fraction
    digits), or None for an empty value."""
    if isinstance(text, dt.datetime):
        return text if text.tzinfo else text.replace(tzinfo=dt.UTC)
    match = _KUSTO_TIME.match(str(text or "").strip())
    if not match:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    micro = int((match.group(7) or "0")[:6].ljust(6, "0"))
    return dt.datetime(year, month, day, hour, minute, second, micro, tzinfo=dt.UTC)


def read_counts(rule: RuleBacktest, rows: list[dict[str, Any]]) -> None:
    """Fill a rule's counts from the wrapped query's answer (Kind, Key, Value rows)."""
    for row in rows:
        kind, key, value = str(row.get("Kind") or ""), row.get("Key"), int(row.get("Value") or 0)
        if kind == "total":
            rule.total = value
        elif kind == "entity":
            rule.entities[str(key)] = value
        elif kind in ("window", "day"):
            when = kusto_time(key)
            if when is None:
                if kind == "day":
                    rule.untimed += value
            elif kind == "window":
                rule.per_window[when] = rule.per_window.get(when, 0) + value
            else:
                rule.per_day[when.date()] = rule.per_day.get(when.date(), 0) + value


def window_starts(start: dt.datetime, end: dt.datetime, minutes: int) -> list[dt.datetime]:
    """The schedule windows of `minutes` (aligned like KQL's bin) that overlap [start, end); the one still
    open at `end` counts, as its run is about to happen."""
    step = dt.timedelta(minutes=minutes)
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    current = epoch + ((start - epoch) // step) * step
    starts = []
    while current < end:
        starts.append(current)
        current += step
    return starts


def count_alerts(rule: RuleBacktest, trigger: Trigger, start: dt.datetime, end: dt.datetime) -> None:
    """The alerts the rule's trigger would have raised, per run, from the rows per window."""
    if not trigger.scheduled or rule.frequency_minutes <= 0:  # every result row alerts
        rule.alerts = rule.total
        rule.runs = 0
        rule.alerts_per_day = dict(rule.per_day)
        if rule.untimed:
            rule.notes.append(f"{rule.untimed} result row(s) without a time value are not counted per day")
        return
    if rule.time_column is None:  # one run over everything: an estimate from the total
        rule.runs = 1
        rule.alerts = trigger.alerts(rule.total)
        rule.runs_alerting = int(trigger.fires(rule.total))
        return
    step = dt.timedelta(minutes=rule.frequency_minutes)
    suppressed_until: dt.datetime | None = None
    starts = window_starts(start, end, rule.frequency_minutes)
    rule.runs = len(starts)
    for window in starts:
        run_time = window + step
        if suppressed_until is not None and run_time < suppressed_until:
            continue
        raised = trigger.alerts(rule.per_window.get(window, 0))
        if raised:
            rule.runs_alerting += 1
            rule.alerts += raised
            day = window.date()
            rule.alerts_per_day[day] = rule.alerts_per_day.get(day, 0) + raised
            if trigger.suppression_minutes:
                suppressed_until = run_time + dt.timedelta(minutes=trigger.suppression_minutes)
    # rows outside the enumerated windows (clock differences at the edges) still count
    known = set(starts)
    outside = sum(count for window, count in rule.per_window.items() if window not in known)
    if outside:
        rule.notes.append(f"{outside} result row(s) fall outside the window's runs")
