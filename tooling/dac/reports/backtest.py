"""A backtest as text (people), JSON (tools) and markdown (job summaries)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from ..backtest import BacktestReport, RuleBacktest
from ..backtest.wrap import timespan_literal

MARKS = {"error": "ERROR", "over-budget": "OVER BUDGET", "zero-results": "ZERO RESULTS"}


def _time(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%MZ")


def _window(report: BacktestReport) -> str:
    minutes = int((report.end - report.start).total_seconds() // 60)
    return f"{_time(report.start)} .. {_time(report.end)} ({timespan_literal(minutes)})"


def _every(rule: RuleBacktest) -> str:
    return "near-real-time" if rule.frequency_minutes <= 0 else f"every {timespan_literal(rule.frequency_minutes)}"


def _peak(rule: RuleBacktest) -> tuple[str, int] | None:
    if not rule.alerts_per_day:
        return None
    day, count = max(rule.alerts_per_day.items(), key=lambda item: (item[1], item[0]))
    return day.isoformat(), count


def summary_line(report: BacktestReport) -> str:
    counts = [f"{len(report.rules)} rule(s)", f"{len(report.over_budget)} over the noise budget",
              f"{len(report.zero_results)} with zero results", f"{len(report.failed)} failed"]  # fmt: skip
    return f"backtest of target {report.target}: " + ", ".join(counts)


def _rule_lines(report: BacktestReport, rule: RuleBacktest) -> list[str]:
    marks = [MARKS[flag] for flag in rule.flags] or ["ok"]
    lines = [f"{' / '.join(marks)}: {rule.name} ({rule.id or 'no id'}) {rule.file}"]
    if rule.error is not None:
        return [*lines, f"    {rule.error}"]
    peak = _peak(rule)
    detail = (f"    results {rule.total}, alerts {rule.alerts} ({report.average_per_day(rule):.1f}/day"
              + (f", peak {peak[1]} on {peak[0]}" if peak else "") + ")")  # fmt: skip
    if rule.frequency_minutes > 0 and rule.time_column is not None:
        detail += f", runs alerting {rule.runs_alerting}/{rule.runs} ({_every(rule)})"
    lines.append(detail)
    if rule.per_day:
        days = ", ".join(f"{day.isoformat()} {count}" for day, count in sorted(rule.per_day.items()))
        lines.append(f"    results per day: {days}")
    if rule.entities:
        lines.append("    distinct values: " + ", ".join(f"{name} {count}" for name, count in rule.entities.items()))
    lines += [f"    note: {note}" for note in rule.notes]
    return lines


def text(report: BacktestReport) -> str:
    lines = [f"backtest of target {report.target} ({report.service}), {_window(report)}, "
             f"noise budget {report.max_alerts_per_day} alerts/day"]  # fmt: skip
    for rule in report.rules:
        lines += _rule_lines(report, rule)
    lines += [f"skipped {name}: {why}" for name, why in report.skipped]
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"


def _rule_json(report: BacktestReport, rule: RuleBacktest) -> dict[str, Any]:
    return {
        "id": rule.id, "name": rule.name, "file": rule.file, "flags": rule.flags, "error": rule.error,
        "frequency_minutes": rule.frequency_minutes, "time_column": rule.time_column,
        "results": rule.total, "alerts": rule.alerts, "alerts_per_day_average": round(report.average_per_day(rule), 3),
        "runs": rule.runs, "runs_alerting": rule.runs_alerting,
        "alerts_per_day": {day.isoformat(): n for day, n in sorted(rule.alerts_per_day.items())},
        "results_per_day": {day.isoformat(): n for day, n in sorted(rule.per_day.items())},
        "results_per_window": {_time(start): n for start, n in sorted(rule.per_window.items())},
        "results_without_time": rule.untimed, "distinct_entity_values": dict(rule.entities),
        "notes": list(rule.notes), "query": rule.query,
    }  # fmt: skip


def as_json(report: BacktestReport) -> str:
    payload = {
        "target": report.target, "platform": report.platform, "service": report.service,
        "start": report.start.isoformat(), "end": report.end.isoformat(),
        "max_alerts_per_day": report.max_alerts_per_day,
        "rules": [_rule_json(report, rule) for rule in report.rules],
        "skipped": [{"file": name, "reason": why} for name, why in report.skipped],
        "summary": {"rules": len(report.rules), "over_budget": len(report.over_budget),
                    "zero_results": len(report.zero_results), "failed": len(report.failed)},
    }  # fmt: skip
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown(report: BacktestReport) -> str:
    lines = [f"### Backtest: target `{report.target}` ({report.service})", "",
             f"{_window(report)}, noise budget {report.max_alerts_per_day} alerts/day. {summary_line(report)}.", "",
             "| | rule | results | alerts | alerts/day | peak day | runs alerting | distinct entity values |",
             "|---|---|---:|---:|---:|---|---:|---|"]  # fmt: skip
    for rule in report.rules:
        mark = ", ".join(MARKS[flag] for flag in rule.flags) or "ok"
        if rule.error is not None:
            lines.append(f"| {mark} | {_cell(rule.name)} | | | | | | {_cell(rule.error)} |")
            continue
        peak = _peak(rule)
        runs = f"{rule.runs_alerting}/{rule.runs}" if rule.runs else ""
        entities = ", ".join(f"{name} {count}" for name, count in rule.entities.items())
        lines.append(f"| {mark} | {_cell(rule.name)} | {rule.total} | {rule.alerts} | "
                     f"{report.average_per_day(rule):.1f} | {f'{peak[0]} ({peak[1]})' if peak else ''} | {runs} | "
                     f"{_cell(entities)} |")  # fmt: skip
    notes = [(rule, note) for rule in report.rules for note in rule.notes]
    if notes or report.skipped:
        lines += ["", "<details><summary>Notes</summary>", ""]
        lines += [f"- {_cell(rule.name)}: {_cell(note)}" for rule, note in notes]
        lines += [f"- skipped {_cell(name)}: {_cell(why)}" for name, why in report.skipped]
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"
