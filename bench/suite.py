#!/usr/bin/env python3
"""`dac check` on a repository of N detections, against what the same tests cost in plain DuckDB.

Usage: python bench/suite.py [--n 300] [--jobs J] [--repeat R] [--corpus FILE] [--keep DIR]

Generates a project (dac init) with N detections, one test each, from real queries of
../shared/corpus/queries-dev.jsonl, Defender and Sentinel alike: queries that dac's binder binds
clean and that read one platform table, each enabled in its own dialect only. Each test gives
that table three rows (the time column an hour before the test's `now`) and expects the row count
the emulator gives while generating; queries the emulator refuses on such rows are skipped, so
every test passes.

Then times, as whole processes (GNU time), each of the first three R times in turn (default 3), keeping
the least CPU and wall time of each (and the largest peak memory):
  floor               a Python process that, per test, creates a table, inserts three rows and runs
                      a filtered aggregate in plain DuckDB (what a tiny test needs at the least), on a
                      table of three columns
  floor, real tables  the same loop on each test's own platform table, with all its columns, as a
                      test needs it (DuckDB's cost of a statement grows with the table's width: an
                      insert of three rows takes about 0.4 ms into 3 columns and 1.8 ms into 71)
  dac check --jobs 1  CPU seconds (user + system), wall seconds and peak resident memory
  dac check           wall seconds with --jobs J (default: dac's own, the machine's cores)
and the ratio of dac's CPU time to the floor's. Goals (issue 17): CPU at most 4x
the floor at N=300; wall time of N=1,000 on 2 cores under 30 s; peak RSS under 400 MB.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tooling"))

from dac.diagnostics import Severity
from dac.emulator import Emulator, EmulatorError, QueryLimits
from dac.kqlcheck import analyse
from dac.model.tables import environment

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "queries-dev.jsonl"
NOW = "2024-06-01T12:00:00Z"
TIME_COLUMNS = {"defender": "Timestamp", "sentinel": "TimeGenerated"}

FLOOR = """
import duckdb, sys
connection = duckdb.connect(":memory:")
for index in range(int(sys.argv[1])):
    connection.execute("CREATE TABLE t (Timestamp TIMESTAMP, DeviceName VARCHAR, ActionType VARCHAR)")
    connection.execute("INSERT INTO t VALUES (now(), 'a', 'x'), (now(), 'b', 'y'), (now(), 'c', 'x')")
    connection.execute("SELECT DeviceName, count(*) FROM t WHERE ActionType = 'x' GROUP BY DeviceName").fetchall()
    connection.execute("DROP TABLE t")
"""


FLOOR_REAL_TABLES = r"""
import duckdb, json, sys
connection = duckdb.connect(":memory:")
for columns, time_column in json.load(open(sys.argv[1])):
    definition = ", ".join(f'"{name}" {duck}' for name, duck in columns)
    text = next(name for name, duck in columns if duck == "VARCHAR")
    filled = f'"{time_column}", "{text}"' if time_column in dict(columns) else f'"{text}"'
    values = ", ".join(f"({'now(), ' if ',' in filled else ''}'{value}')" for value in "aba")
    connection.execute(f"CREATE TABLE t ({definition})")
    connection.execute(f"INSERT INTO t ({filled}) VALUES {values}")
    connection.execute(f'SELECT "{text}", count(*) FROM t WHERE "{text}" = \'a\' GROUP BY 1').fetchall()
    connection.execute("DROP TABLE t")
"""


def table_shapes(folder: Path) -> Path:
    """A JSON file of each generated test's table: its columns (name, DuckDB type) and time column."""
    import yaml

    from dac.emulator.sql import DUCK_TYPES

    shapes = []
    for file in sorted((folder / "detections").glob("generated-*.yml")):
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
        dialect = data["query"]["dialect"]
        table = next(iter(data["tests"][0]["tables"]))
        seen: set[str] = set()
        columns = []
        for name, kind in environment(dialect).tables[table].items():
            if name.lower() not in seen:  # DuckDB names are case-insensitive
                seen.add(name.lower())
                columns.append((name, DUCK_TYPES.get(kind, "VARCHAR")))
        shapes.append((columns, TIME_COLUMNS[dialect]))
    path = folder / "table-shapes.json"
    path.write_text(json.dumps(shapes), encoding="utf-8")
    return path


def dac_command() -> list[str]:
    script = Path(sys.executable).with_name("dac")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dac"]


def candidates(corpus: Path, limit: int | None = None) -> list[tuple[str, str, str, str]]:
    """(id, dialect, query, table) of corpus queries that bind clean and read one platform table (the first
    `limit` of them; tests/test_emulator_narrowing.py takes some)."""
    found: list[tuple[str, str, str, str]] = []
    for line in corpus.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        dialect = row.get("dialect")
        if dialect not in TIME_COLUMNS:
            continue
        diagnostics, bound = analyse(row["query"], dialect)
        if bound is None or any(d.severity == Severity.ERROR for d in diagnostics):
            continue
        tables = sorted(bound.tables & set(environment(dialect).tables))
        if len(tables) == 1:
            found.append((row["id"], dialect, row["query"], tables[0]))
        if limit is not None and len(found) >= limit:
            break
    return found


def rows_on_three_rows(dialect: str, query: str, table: str) -> int | None:
    """How many rows the query returns on the test's three rows, or None when the emulator refuses it."""
    import datetime as dt

    engine = Emulator(environment(dialect), now=dt.datetime(2024, 6, 1, 12), limits=QueryLimits(timeout=5))
    try:
        when = dt.datetime(2024, 6, 1, 11)
        engine.load_table(table, [{TIME_COLUMNS[dialect]: when} for _ in range(3)])
        return len(engine.run(query).rows)
    except EmulatorError:
        return None
    finally:
        engine.close()


def detection_yaml(dialect: str, query: str, table: str, number: int, count: int) -> str:
    time_column = TIME_COLUMNS[dialect]
    body = textwrap.indent(query.rstrip() + "\n", "    ")
    return (
        f"id: {uuid.UUID(int=number + 1)}\n"
        f"name: Generated detection {number:04d}\n"
        "description: A corpus query, for timing dac check.\n"
        "kind: hunting\nstatus: test\nauthors: [dac bench]\ncreated: 2024-01-01\nmodified: 2024-01-01\n"
        "version: 1.0.0\n"
        f"query:\n  dialect: {dialect}\n  text: |2\n{body}"
        f"variants:\n  {'sentinel' if dialect == 'defender' else 'defender'}: {{enabled: false}}\n"
        "tests:\n"
        "  - name: three rows\n"
        f"    now: {NOW}\n"
        "    tables:\n"
        f"      {table}:\n"
        + "".join(f"        - {{{time_column}: 2024-06-01T11:00:00Z}}\n" for _ in range(3))
        + f"    expect:\n      count: {count}\n"
    )


def generate(folder: Path, count: int, corpus: Path) -> int:
    init = [*dac_command(), "init", str(folder), "--install", "dac"]  # the workflows are not used here
    subprocess.run(init, check=True, stdout=subprocess.DEVNULL)
    target = folder / "detections"
    for old in target.rglob("*.yml"):
        old.unlink()
    written = 0
    pool = candidates(corpus)
    while written < count and pool:
        for _id, dialect, query, table in list(pool):
            if written >= count:
                break
            rows = rows_on_three_rows(dialect, query, table)
            if rows is None:
                pool.remove((_id, dialect, query, table))
                continue
            (target / f"generated-{written:04d}.yml").write_text(
                detection_yaml(dialect, query, table, written, rows), encoding="utf-8"
            )
            written += 1
    return written


def timed(command: list[str], cwd: Path) -> tuple[float, float, float, int]:
    """(CPU seconds, wall seconds, peak RSS in MB, exit code) of a whole process, by GNU time: its own
    figures, not the largest of every child this script ran (which resource.RUSAGE_CHILDREN gives)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as figures:
        wrapped = ["/usr/bin/time", "-o", figures.name, "-f", "%e %U %S %M", *command]
        completed = subprocess.run(wrapped, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
        if completed.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(command)} failed ({completed.returncode}): {completed.stderr.decode()[-800:]}")
        wall, user, system, peak_kb = figures.read().split()[-4:]
    return float(user) + float(system), float(wall), int(peak_kb) / 1024, completed.returncode


def fastest(results: list[tuple[float, float, float, int]]) -> tuple[float, float, float, int]:
    """The least CPU and wall time of the runs, the largest peak memory and exit code (memory is no faster)."""
    return (
        min(r[0] for r in results),
        min(r[1] for r in results),
        max(r[2] for r in results),
        max(r[3] for r in results),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="detections (default 300)")
    parser.add_argument("--jobs", type=int, help="dac check --jobs (default: dac's own default)")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--keep", type=Path, help="generate into this folder and keep it")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each timed command, the fastest kept (3)")
    options = parser.parse_args()
    folder = options.keep or Path(tempfile.mkdtemp(prefix="dac-suite-"))
    try:
        if options.keep and options.keep.exists():
            shutil.rmtree(options.keep)
        count = generate(folder, options.n, options.corpus)
        print(f"{count} detections with one test each in {folder}")
        # dac's modules byte-compiled, as an installed package's are (pip compiles them; an editable install
        # writes them on first import unless PYTHONDONTWRITEBYTECODE is set): not compiling 100 modules
        # from source in every timed run
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "tooling" / "dac")], check=True)
        shapes = str(table_shapes(folder))
        # The floors and dac check --jobs 1 are timed in turn, --repeat times, and each keeps its fastest run:
        # a busy neighbour on a shared machine slows single runs by up to a fifth, not the three alike.
        # CPU and memory of one process (--jobs 1): worker processes are not dac check's children to the
        # kernel's accounting; wall time with the jobs asked for (dac's default: the machine's cores)
        runs: dict[str, list[tuple[float, float, float, int]]] = {"floor": [], "real": [], "serial": []}
        for _ in range(max(1, options.repeat)):
            runs["floor"].append(timed([sys.executable, "-c", FLOOR, str(count)], folder))
            runs["real"].append(timed([sys.executable, "-c", FLOOR_REAL_TABLES, shapes], folder))
            runs["serial"].append(timed([*dac_command(), "check", "--format", "json", "--jobs", "1"], folder))
        floor, floor_real, serial = (fastest(runs[name]) for name in ("floor", "real", "serial"))
        if floor[3] or floor_real[3]:
            raise SystemExit("a floor loop failed")
        check = [*dac_command(), "check", "--format", "json"]
        if options.jobs is not None:
            check += ["--jobs", str(options.jobs)]
        parallel = timed(check, folder)
        if serial[3] != 0:
            print("warning: dac check reported findings (exit 1)")
        print(f"{'':22} {'CPU s':>8} {'wall s':>8} {'peak MB':>8}")
        jobs = f"--jobs {options.jobs}" if options.jobs is not None else "default jobs"
        rows = (("floor", floor), ("floor, real tables", floor_real), ("dac check --jobs 1", serial))
        for label, (cpu, wall, rss, _) in rows:
            print(f"{label:22} {cpu:8.2f} {wall:8.2f} {rss:8.0f}")
        print(f"{'dac check ' + jobs:22} {'':>8} {parallel[1]:8.2f}")
        print(f"dac check CPU / floor on the real tables' CPU: {serial[0] / floor_real[0]:.2f}x")
        print(f"dac check CPU / floor CPU: {serial[0] / floor[0]:.2f}x (goal at N=300: at most 4x); "
              f"{serial[0] / count * 1000:.1f} CPU-ms per detection")  # fmt: skip
    finally:
        if not options.keep:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
