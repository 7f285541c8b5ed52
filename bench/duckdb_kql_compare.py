#!/usr/bin/env python3
"""Every KQL shape of bench/emulator.py on duckdb-kql (PyPI), against dac's emulator.

duckdb-kql is not a dependency of dac: run this in a separate virtual environment, e.g.
  python3 -m venv /tmp/duckdb-kql-venv
  /tmp/duckdb-kql-venv/bin/pip install -c constraints.txt 'duckdb-kql[duckdb]' -e .
  /tmp/duckdb-kql-venv/bin/python bench/duckdb_kql_compare.py [--rows 1000000] [--repeat 3] [--only SUBSTRING]
(duckdb-kql 1.1.2 asks for duckdb>=2.0.0, which dac's pin in constraints.txt satisfies.)

The shapes are bench/emulator.py's, imported from it (`kql_shapes()`): (a) where + summarize by two
keys, (b) has + dcount, (c) the seed hunting query, and (d)-(n) has_any (d' from a let-bound dynamic),
has_all, arg_max(*), innerunique join, in~, contains of a list, dcount by key, bin + summarize,
make_set by key, mv-expand, parse. `--only` keeps the shapes whose title contains SUBSTRING.

Both engines run on the same DuckDB connection and the same generated DeviceNetworkEvents table, with
the same clock (duckdb-kql's query_now is the emulator's pinned now, so ago() agrees); each time is the
median of --repeat runs after a warm-up run, translation included on both sides (the emulator's result
converted to Python, duckdb-kql's fetched with fetchall()). For each shape it prints both medians, the
ratio emulator / duckdb-kql and both row counts, so that a different answer shows; a shape duckdb-kql
cannot run is reported with the first line of its error. A table of all shapes closes the output.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tooling"))

import duckdb

from dac.emulator import Emulator
from dac.model.tables import environment
from emulator import NOW, bench_limits, generate, kql_shapes, timed


def first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:200] if lines else ''}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="", help="run only the shapes whose title contains this")
    args = parser.parse_args()
    try:
        import duckdb_kql
        import duckdb_kql.engine
    except ImportError:
        print("duckdb-kql is not installed in this environment (see this script's docstring)", file=sys.stderr)
        return 2
    engine = Emulator(environment("defender"), now=NOW, limits=bench_limits(args.rows))
    generate(engine, args.rows)
    version = getattr(duckdb_kql, "__version__", "?")
    print(f"{args.rows} rows; duckdb-kql {version}; DuckDB {duckdb.__version__}", flush=True)

    def theirs(kql: str) -> list:
        # duckdb_kql.query() less its `SET TimeZone='UTC'`, which the emulator's connection has already
        # and, its configuration locked, refuses: the schema read, the translation, the run.
        sql = duckdb_kql.to_sql(kql, schema=duckdb_kql.engine.schema(engine.connection), query_now=NOW)
        return engine.connection.sql(str(sql)).fetchall()

    results = []
    for title, kql in kql_shapes():
        if args.only not in title:
            continue
        ours_rows = len(engine.run(kql).rows)
        ours = timed(lambda kql=kql: engine.run(kql), args.repeat)
        try:
            theirs_rows = len(theirs(kql))
            their_time = timed(lambda kql=kql: theirs(kql), args.repeat)
        except Exception as exc:  # any failure of the other engine is a result to report, not a crash
            error = first_line(exc)
            print(f"{title}: emulator {ours:.3f} s ({ours_rows} rows); duckdb-kql failed: {error}", flush=True)
            results.append((title, ours, ours_rows, None, None, error))
            continue
        print(f"{title}: emulator {ours:.3f} s ({ours_rows} rows), duckdb-kql {their_time:.3f} s "
              f"({theirs_rows} rows), emulator / duckdb-kql = {ours / their_time:.2f}", flush=True)  # fmt: skip
        results.append((title, ours, ours_rows, their_time, theirs_rows, None))
    print("\n| shape | emulator s | duckdb-kql s | emulator / duckdb-kql | emulator rows | duckdb-kql rows |")
    print("|---|---:|---:|---:|---:|---:|")
    for title, ours, ours_rows, their_time, theirs_rows, error in results:
        if error is not None:
            print(f"| {title} | {ours:.3f} | failed: {error.replace('|', '/')} | | {ours_rows} | |")
        else:
            ratio = ours / their_time
            print(f"| {title} | {ours:.3f} | {their_time:.3f} | {ratio:.2f} | {ours_rows} | {theirs_rows} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
