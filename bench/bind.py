#!/usr/bin/env python3
"""Measure parse + bind time per query over a corpus, each query against its dialect's schemas.

Usage: python bench/bind.py [CORPUS.jsonl]

CORPUS defaults to ../shared/corpus/queries-dev.jsonl. Queries whose dialect is unknown are
bound against the Defender schemas. One warm-up pass, then a timed pass; prints median, p90,
max and total milliseconds, and how many queries the binder reported errors for.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tooling"))

from dac.kql import parse
from dac.kql.binder import bind
from dac.model.tables import environment

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "queries-dev.jsonl"


def main() -> int:
    corpus = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_CORPUS
    rows = [json.loads(line) for line in corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    environments = {dialect: environment(dialect) for dialect in ("defender", "sentinel")}

    def run(row: dict) -> int:
        dialect = row.get("dialect") if row.get("dialect") in environments else "defender"
        return len(bind(parse(row["query"]), environments[dialect]).diagnostics)

    for row in rows:  # warm-up
        run(row)
    times, with_errors = [], 0
    for row in rows:
        start = time.perf_counter()
        with_errors += run(row) > 0
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    print(f"corpus: {corpus} ({len(rows)} queries); binder reported errors for {with_errors}")
    print(
        f"parse + bind per query (ms): median {statistics.median(times):.3f}, "
        f"p90 {times[int(len(times) * 0.9)]:.3f}, max {times[-1]:.3f}, total {sum(times):.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
