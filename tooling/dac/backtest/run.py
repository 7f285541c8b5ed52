"""Running the backtest: the target's detections, each rule's wrapped query once, the counts read back."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from ..checks.parameters import check_target as check_target_parameters
from ..deploy.plan import selected
from ..diagnostics import Severity, display_path
from ..model.detection import Detection
from ..model.project import Project, Target
from ..rules import duration_minutes, entity_entries, is_nrt
from ..tenant import TenantQueryClient, TenantQueryError
from ..validation import validate
from ..variants import build_variants
from .model import SENTINEL_ALERTS_PER_RUN, BacktestReport, RuleBacktest, Trigger, count_alerts, read_counts
from .wrap import Wrapped, timespan_literal, wrap

HUNTING_MAX_DAYS = 30  # Advanced Hunting holds 30 days of data
SERVICE_MAX_ROWS = {"defender": 100_000, "sentinel": 500_000}
_SINCE = re.compile(r"^([1-9][0-9]*)([mhd])$")


class BacktestError(Exception):
    """The backtest cannot start: a bad --since, a window beyond the service's data, bad target parameters."""


def parse_since(text: str) -> dt.timedelta:
    """'7d', '12h', '90m' -> a timedelta."""
    match = _SINCE.match(text.strip())
    if not match:
        raise BacktestError(f"--since {text!r} is not a duration: write a whole number of minutes, hours or days, "
                            "e.g. 90m, 12h, 7d")  # fmt: skip
    amount, unit = int(match.group(1)), match.group(2)
    units = {"m": "minutes", "h": "hours", "d": "days"}
    return dt.timedelta(**{units[unit]: amount})


def check_since(target: Target, since: dt.timedelta) -> None:
    if target.platform == "defender" and since > dt.timedelta(days=HUNTING_MAX_DAYS):
        raise BacktestError(
            f"--since {_human(since)}: Advanced Hunting holds only the last {HUNTING_MAX_DAYS} days of data; "
            f"target '{target.name}' is a Defender target, use at most {HUNTING_MAX_DAYS}d"
        )


def trigger_for(platform: str, data: dict) -> Trigger:
    """The trigger as the platform applies it (docs/backtest.md#alerts)."""
    schedule = data.get("schedule") or {}
    nrt = is_nrt(schedule.get("frequency", "1h"))
    if platform == "defender" or nrt:  # every result row is an alert
        return Trigger(per_row=True, scheduled=not nrt)
    trigger = data.get("trigger") or {}
    per_result = (data.get("alert") or {}).get("grouping") == "per-result"
    suppression = data.get("suppression") or {}
    minutes = duration_minutes(suppression["duration"]) if suppression.get("enabled") and suppression.get(
        "duration") else 0  # fmt: skip
    return Trigger(per_row=per_result, operator=str(trigger.get("operator", "gt")),
                   threshold=int(trigger.get("threshold", 0)), suppression_minutes=minutes,
                   cap=SENTINEL_ALERTS_PER_RUN if per_result else None)  # fmt: skip


def entity_columns(data: dict) -> list[str]:
    return [str(entity["column"]) for _i, _path, entity in entity_entries(data.get("alert") or {})]


def _human(delta: dt.timedelta) -> str:
    return timespan_literal(int(delta.total_seconds() // 60))


def run_backtest(
    project: Project,
    target: Target,
    client: TenantQueryClient,
    *,
    paths: Sequence[Path] = (),
    since: dt.timedelta = dt.timedelta(days=7),
    max_alerts_per_day: int = 10,
    now: dt.datetime | None = None,
    on_rule: Callable[[RuleBacktest], None] | None = None,
) -> BacktestReport:
    """Each detection the target selects, its query run once on the tenant's data over [now - since,
    now]; a rule that fails is reported with its error and the others still run."""
    check_since(target, since)
    end = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    report = BacktestReport(target.name, target.platform, client.service, end - since, end, max_alerts_per_day)
    validation = validate(list(paths) or [project.detections_dir], project)
    unknown = check_target_parameters(project, target, validation.detections)
    if unknown:
        raise BacktestError(f"target '{target.name}' sets parameter(s) that no detection declares: "
                            + "; ".join(d.message for d in unknown))  # fmt: skip
    errors: dict[str, list[str]] = {}
    for diagnostic in validation.diagnostics:
        if diagnostic.severity is Severity.ERROR:
            errors.setdefault(diagnostic.path, []).append(f"{diagnostic.code} {diagnostic.message}")
    for result in validation.results:
        if result.detection is None:
            rule = RuleBacktest("", result.display, result.display, error=_invalid(errors.get(result.display, [])))
            _finish(report, rule, on_rule)
    for detection in sorted(validation.detections, key=lambda d: d.id):
        if not selected(detection, target, project):
            continue
        if detection.kind != "detection":
            report.skipped.append((detection.display, f"kind {detection.kind}: no schedule or trigger to backtest"))
            continue
        rule = RuleBacktest(detection.id, detection.name, display_path(detection.file))
        problems = errors.get(detection.display)
        if problems:
            rule.error = _invalid(problems)
        else:
            _run_rule(project, target, client, detection, rule, report, since)
        _finish(report, rule, on_rule)
    return report


def _invalid(problems: list[str]) -> str:
    first = problems[0] if problems else "it does not load"
    return f"invalid detection ({len(problems) or 1} error(s)), not run: {first}"


def _finish(report: BacktestReport, rule: RuleBacktest, on_rule: Callable[[RuleBacktest], None] | None) -> None:
    if rule.error is None:
        rule.over_budget = report.average_per_day(rule) > report.max_alerts_per_day
    report.rules.append(rule)
    if on_rule is not None:
        on_rule(rule)


def _run_rule(project: Project, target: Target, client: TenantQueryClient, detection: Detection,
              rule: RuleBacktest, report: BacktestReport, since: dt.timedelta) -> None:  # fmt: skip
    variants = build_variants(detection, project.tables_dir, target.parameters)
    variant = next(v for v in variants if v.dialect == target.platform)
    problems = [d for d in variant.diagnostics if d.severity == "error"]
    if variant.parameter_error is not None or problems:
        detail = str(variant.parameter_error or problems[0].message)
        rule.error = f"the {target.platform} query with target '{target.name}' parameters is not valid: {detail}"
        return
    data = detection.data
    schedule = data.get("schedule") or {}
    frequency = 0 if is_nrt(schedule.get("frequency", "1h")) else duration_minutes(schedule.get("frequency", "1h"))
    wrapped = wrap(variant.text, platform=target.platform, output=variant.output, entity_columns=entity_columns(data),
                   frequency_minutes=frequency, since=_human(since))  # fmt: skip
    rule.query, rule.frequency_minutes = wrapped.text, frequency
    rule.time_column, rule.entity_columns = wrapped.time_column, wrapped.entity_columns
    rule.notes.extend(wrapped.notes)
    try:
        result = client.query(wrapped.text, _service_timespan(target, since, schedule, wrapped, rule))
    except TenantQueryError as exc:
        rule.error = str(exc)
        return
    if len(result.rows) >= SERVICE_MAX_ROWS.get(target.platform, 100_000):
        rule.notes.append("the answer reached the service's row limit: counts may be cut short")
    if "Kind" not in result.names or "Value" not in result.names:
        rule.error = f"{client.service} answered without the Kind and Value columns ({', '.join(result.names)})"
        return
    read_counts(rule, result.rows_as_dicts())
    count_alerts(rule, trigger_for(target.platform, data), report.start, report.end)


def _service_timespan(target: Target, since: dt.timedelta, schedule: dict, wrapped: Wrapped,
                      rule: RuleBacktest) -> dt.timedelta:  # fmt: skip
    """The data the service lets the query see: the window, plus the first run's lookback or the query's
    longest literal ago() (a baseline), whichever is longer; at most 30 days for Advanced Hunting."""
    lookback = (
        dt.timedelta(minutes=duration_minutes(schedule["lookback"])) if schedule.get("lookback") else dt.timedelta()
    )
    extra = max(lookback, dt.timedelta(seconds=wrapped.longest_ago_seconds))
    span = since + extra
    limit = dt.timedelta(days=HUNTING_MAX_DAYS)
    if target.platform == "defender" and span > limit:
        rule.notes.append(f"the service sees at most {HUNTING_MAX_DAYS} days: the rule's lookback or baseline "
                          "before the window is cut short")  # fmt: skip
        span = limit
    return span
