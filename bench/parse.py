#!/usr/bin/env python3
"""Measure the KQL parser over a corpus of real queries.

Usage: python bench/parse.py [CORPUS.jsonl] [--show N]

CORPUS defaults to ../shared/corpus/queries-dev.jsonl: one JSON object per line with `id`,
`query` and `official_syntax_errors` (what Microsoft's parser reports; empty means valid).
Prints the share of valid queries we parse without a syntax error, the share of invalid ones
we flag, round-trip and exception counts, and parse time per query (median, p90, max) from a
second pass, after a warm-up pass.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tooling"))

from dac.kql import parse

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "queries-dev.jsonl"


def measure(rows: list[dict]) -> dict:
    valid = invalid = valid_clean = invalid_flagged = not_round_trip = exceptions = 0
    misses: list[tuple[str, str]] = []
    for row in rows:
        query = row["query"]
        try:
            result = parse(query)
        except Exception as exc:  # the harness counts them; the test suite forbids them
            exceptions += 1
            misses.append((row["id"], f"exception {type(exc).__name__}: {exc}"))
            continue
        if result.tree.text() != query:
            not_round_trip += 1
            misses.append((row["id"], "does not round-trip"))
        if row.get("official_syntax_errors"):
            invalid += 1
            invalid_flagged += bool(result.diagnostics)
            if not result.diagnostics:
                misses.append((row["id"], "invalid query not flagged: " + row["official_syntax_errors"][0]["message"]))
        else:
            valid += 1
            valid_clean += not result.diagnostics
            if result.diagnostics:
                misses.append((row["id"], "valid query flagged: " + result.diagnostics[0].message))
    return {
        "queries": len(rows),
        "valid": valid,
        "valid_parsed_clean": valid_clean,
        "invalid": invalid,
        "invalid_flagged": invalid_flagged,
        "not_round_trip": not_round_trip,
        "exceptions": exceptions,
        "misses": misses,
    }


def timings(rows: list[dict]) -> list[float]:
    for row in rows:  # warm-up: imports, regex caches
        parse(row["query"])
    result = []
    for row in rows:
        start = time.perf_counter()
        parse(row["query"])
        result.append((time.perf_counter() - start) * 1000)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--show", type=int, default=10, help="how many misses to list")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    report = measure(rows)
    times = sorted(timings(rows))
    valid_rate = 100 * report["valid_parsed_clean"] / max(report["valid"], 1)
    invalid_rate = 100 * report["invalid_flagged"] / max(report["invalid"], 1)
    print(f"corpus: {args.corpus} ({report['queries']} queries)")
    clean, valid = report["valid_parsed_clean"], report["valid"]
    print(f"valid queries parsed with no syntax error: {clean}/{valid} = {valid_rate:.2f}%")
    print(f"invalid queries flagged: {report['invalid_flagged']}/{report['invalid']} = {invalid_rate:.2f}%")
    print(f"round-trip failures: {report['not_round_trip']}, exceptions: {report['exceptions']}")
    p90 = times[int(len(times) * 0.9)]
    print(
        f"parse time per query (ms): median {statistics.median(times):.3f}, p90 {p90:.3f}, "
        f"max {times[-1]:.3f}, total {sum(times):.0f}"
    )
    for query_id, reason in report["misses"][: args.show]:
        print(f"  {query_id}: {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
