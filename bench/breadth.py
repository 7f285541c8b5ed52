#!/usr/bin/env python3
"""How much of the real corpus the emulator runs: every query the binder binds clean, on empty tables.

Usage: python bench/breadth.py [CORPUS.jsonl] [--timeout SECONDS] [--show N] [--jsonl OUT]

CORPUS defaults to ../shared/corpus/queries-dev.jsonl. For each query whose dialect is defender or
sentinel and that dac's binder binds with no error (kqlcheck.analyse against the dialect's shipped
tables), the query runs on an emulator of that dialect with no rows in any table, within a time
limit. Each query either runs, is refused for data a test must supply (EMU007: an `externaldata` URL
that is not mapped, `_GetWatchlist` without a watchlist fixture, `FileProfile` without a FileProfile
fixture, Azure Resource Graph's `arg("")` tables without rows, a column that only bag_unpack or pivot
could make from rows), or is refused for something else. Prints per dialect the three counts and the refusal
reasons grouped by code and construct, most frequent first. Exits 1 when fewer than 95% of the
queries that do not need test data run.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import re
import signal
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tooling"))

from dac.diagnostics import Severity
from dac.emulator import Emulator, EmulatorError, QueryLimits
from dac.kqlcheck import analyse
from dac.model.tables import environment

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "queries-dev.jsonl"
DIALECTS = ("defender", "sentinel")
NOW = dt.datetime(2024, 1, 1)
TARGET = 0.95

# The refusal for data only a test can supply (the emulator never reads the network or a workspace).
NEEDS_TEST_DATA = "EMU007"


class _PythonTimeout(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _PythonTimeout


def reason_of(exc: EmulatorError) -> str:
    """The refusal's code and construct: the message with the query's own literals blanked, so that
    refusals of the same construct group together."""
    message = exc.message.split(" (for a value met")[0]
    message = re.sub(r"externaldata URL '[^']*'", "externaldata URL '…'", message)
    message = re.sub(r"'([A-Za-z_][\w.]*)\([^']*' as a table", r"'\1(…)' as a table", message)
    message = re.sub(r"(_GetWatchlist\(|no watchlist )'[^']*'", r"\1'…'", message)
    message = re.sub(r"'([^'\n]{0,40})[^']*'", _shorten, message)
    message = re.sub(r'"[^"]*"', '"…"', message)
    message = re.sub(r"\b\d+(\.\d+)?\b", "N", message)
    return f"{exc.code}: {message[:160]}"


def _shorten(match: re.Match[str]) -> str:
    return f"'{match.group(1)}…'" if len(match.group(0)) > 42 else match.group(0)


def classify(engine: Emulator, query: str, timeout: float) -> tuple[str, str]:
    """("run", "") or ("data" | "other", reason)."""
    signal.alarm(int(timeout) + 5)  # a step computed in Python that the watchdog cannot interrupt
    try:
        engine.run(query)
    except EmulatorError as exc:
        reason = reason_of(exc)
        return ("data" if exc.code == NEEDS_TEST_DATA else "other"), reason
    except _PythonTimeout:
        return "other", "EMU008: the query ran longer than the time limit (in Python)"
    except Exception as exc:  # a crash is a finding too: it is named by its type
        return "other", f"crash: {type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"
    finally:
        signal.alarm(0)
    return "run", ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per query (default 10)")
    parser.add_argument("--show", type=int, default=25, help="refusal reasons shown per dialect (default 25)")
    parser.add_argument("--jsonl", type=Path, help="write one line per query: id, dialect, outcome, reason")
    parser.add_argument("--ids", type=Path, help="only the queries whose ids a file lists, one a line")
    args = parser.parse_args()

    signal.signal(signal.SIGALRM, _alarm)
    rows = [json.loads(line) for line in args.corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    if args.ids:
        wanted = set(args.ids.read_text(encoding="utf-8").split())
        rows = [row for row in rows if row["id"] in wanted]
    limits = QueryLimits(timeout=args.timeout)
    records: list[dict[str, Any]] = []
    worst = 1.0
    for dialect in DIALECTS:
        engine = Emulator(environment(dialect), now=NOW, limits=limits)
        counts: collections.Counter[str] = collections.Counter()
        reasons: dict[str, collections.Counter[str]] = {"data": collections.Counter(), "other": collections.Counter()}
        examples: dict[str, str] = {}
        unbound = 0
        try:
            for row in rows:
                if row.get("dialect") != dialect:
                    continue
                diagnostics, _ = analyse(row["query"], dialect)
                if any(d.severity == Severity.ERROR for d in diagnostics):
                    unbound += 1
                    continue
                outcome, reason = classify(engine, row["query"], args.timeout)
                counts[outcome] += 1
                if reason:
                    reasons[outcome][reason] += 1
                    examples.setdefault(reason, row["id"])
                records.append({"id": row["id"], "dialect": dialect, "outcome": outcome, "reason": reason})
        finally:
            engine.close()
        bound = sum(counts.values())
        eligible = bound - counts["data"]
        share = counts["run"] / eligible if eligible else 1.0
        worst = min(worst, share)
        print(f"== {dialect}: {bound} queries bind clean ({unbound} with binder errors skipped)")
        print(
            f"   run {counts['run']} ({share:.1%} of the {eligible} that need no test data), "
            f"refused needing test data {counts['data']}, refused other {counts['other']}"
        )
        for kind, title in (("other", "refused (other)"), ("data", "refused (needs test data)")):
            if not reasons[kind]:
                continue
            print(f"   {title}:")
            for reason, count in reasons[kind].most_common(args.show):
                print(f"     {count:4d}  {reason}  [e.g. {examples[reason]}]")
    if args.jsonl:
        args.jsonl.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    print(f"lowest share run: {worst:.1%} (target {TARGET:.0%})")
    return 0 if worst >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
