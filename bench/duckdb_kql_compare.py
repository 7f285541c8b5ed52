#!/usr/bin/env python3
"""The three queries of bench/emulator.py on duckdb-kql (PyPI), against dac's emulator.

duckdb-kql is not a dependency of dac: run this in a separate virtual environment, e.g.
  python3 -m venv /tmp/duckdb-kql-venv
  /tmp/duckdb-kql-venv/bin/pip install 'duckdb-kql[duckdb]' -e .
  /tmp/duckdb-kql-venv/bin/python bench/duckdb_kql_compare.py [--rows 1000000] [--repeat 3]

Both run on the same DuckDB connection and the same generated DeviceNetworkEvents table; each
time is the median of --repeat runs after a warm-up run. A query duckdb-kql cannot run is reported
with its error. Row counts are printed so that a different answer shows.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tooling"))

from dac.emulator import Emulator
from dac.model.detection import load_detection
from dac.model.tables import environment
from emulator import NOW, QUERY_A, QUERY_B, ROOT, generate, timed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    try:
        import duckdb_kql
    except ImportError:
        print("duckdb-kql is not installed in this environment (see this script's docstring)", file=sys.stderr)
        return 2
    engine = Emulator(environment("defender"), now=NOW)
    generate(engine, args.rows)
    seed = load_detection(ROOT / "detections/network/rare-or-low-prevalent-outgoing-successful-ipv4-connections.yml")
    query_c = seed.detection.data["query"]["text"]
    version = getattr(duckdb_kql, "__version__", "?")
    print(f"{args.rows} rows; duckdb-kql {version}")
    for title, kql in (("(a)", QUERY_A), ("(b)", QUERY_B), ("(c)", query_c)):
        ours_rows = len(engine.run(kql).rows)
        ours = timed(lambda kql=kql: engine.run(kql), args.repeat)
        try:
            theirs_rows = len(duckdb_kql.query(engine.connection, kql).fetchall())
            theirs = timed(lambda kql=kql: duckdb_kql.query(engine.connection, kql).fetchall(), args.repeat)
        except Exception as exc:  # any failure of the other engine is a result to report, not a crash
            print(f"{title}: dac {ours * 1000:.0f} ms ({ours_rows} rows); duckdb-kql failed: "
                  f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")  # fmt: skip
            continue
        print(f"{title}: dac {ours * 1000:.0f} ms ({ours_rows} rows), duckdb-kql {theirs * 1000:.0f} ms "
              f"({theirs_rows} rows), dac / duckdb-kql = {ours / theirs:.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
