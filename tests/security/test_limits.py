"""Every query run has a time and a memory limit (issue 14): a runaway test query ends at its limit with
a positioned error naming the test (EMU008 time, EMU009 memory, EMU010 rows), and the other tests run.

End to end through `dac check`, `dac test` and `dac kql run`, and on the Emulator API: the watchdog
interrupts DuckDB while it computes, while a Python function (UDF) runs and while rows are fetched, it
never interrupts a later run (one thread per emulator, for all its runs, that ends with the emulator), and
the connection stays usable."""

from __future__ import annotations

import json
import sys
import threading
import time

import click
import pytest

from attack import AttackProject, detection, position_of
from dac.cli.emulator import _timeout_seconds
from dac.emulator import Emulator, EmulatorError
from dac.emulator.engine import (
    DEFAULT_MEMORY_LIMIT,
    DEFAULT_TIMEOUT,
    QueryLimits,
    address_space_limit,
    format_size,
)
from dac.model.project import DEFAULT_MEMORY_LIMIT as PROJECT_MEMORY_LIMIT
from dac.model.project import DEFAULT_QUERY_TIMEOUT as PROJECT_QUERY_TIMEOUT
from dac.model.project import ProjectError, find_project, parse_duration, parse_size
from dac.model.tables import environment

ROWS = 100_000
# Runs for minutes without a limit: a cross join of two 100,000-row tables is 10^10 rows.
CROSS_JOIN = "Big1_CL\n| extend k = 1\n| join kind=inner (Big2_CL | extend k = 1) on k\n| count"
RANGE_JOIN = (
    "range x from 1 to 100000 step 1\n| extend k = 1\n"
    "| join kind=inner (range y from 1 to 100000 step 1 | extend k = 1) on k\n| summarize count()"
)
TIMEOUT_HINT = "(set limits.query_timeout in dac.yml or timeout: on the test)"
TABLE = {"columns": [{"name": "Id", "type": "long"}, {"name": "Name", "type": "string"}]}


def _detection(number: int, name: str, query: str, tests: str) -> str:
    return detection(tests, query, name).replace(
        "0b9f5c2e-3d41-4c8e-9a57-6f1d2e7b8a90", f"0b9f5c2e-3d41-4c8e-9a57-6f1d2e7b8a{number:02d}"
    )


def _project(project: AttackProject, limits: str) -> None:
    """dac.yml with `limits`, two custom tables of three columns (in both dialects)."""
    project.write("dac.yml", f"detections: detections\ntables: tables\nlimits:\n{limits}")
    for name in ("Big1_CL", "Big2_CL"):
        project.write(f"tables/{name}.json", json.dumps({"name": name, **TABLE}))


def _big_fixtures(project: AttackProject) -> None:
    """detections/big1.csv and detections/big2.csv: 100,000 rows each (CSV: typing them is the faster)."""
    for number in (1, 2):
        with open(project.root / "detections" / f"big{number}.csv", "w", encoding="utf-8") as csv:
            csv.write("Id,Name\n")
            csv.writelines(f"{i},n{i}\n" for i in range(ROWS))


def _value_position(text: str, key: str) -> str:
    """line:col of the value of `key: value` (the first `key`)."""
    line, column = position_of(text, f"{key}:").split(":")
    return f"{line}:{int(column) + len(key) + 2}"


def _assert_clean(project: AttackProject, result) -> str:
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert not (project.root / ".tmp").exists(), "DuckDB spilled into the project"
    project.assert_no_leak(result)
    return output


# --------------------------------------------------------------------------------------- dac check, dac test


def test_runaway_queries_stop_at_their_limits_and_the_other_tests_still_run(attack_project: AttackProject):
    _project(attack_project, "  query_timeout: 2s\n")
    _big_fixtures(attack_project)
    join = _detection(1, "Cross join", CROSS_JOIN, """
  - name: every pair of two big tables
    dialects: [defender]
    tables: {Big1_CL: big1.csv, Big2_CL: big2.csv}
    expect: {count: 1}
""")  # fmt: skip
    ranges = _detection(2, "Range join", RANGE_JOIN, """
  - name: ten billion numbers
    dialects: [defender]
    timeout: 1s
    expect: {count: 1}
""")  # fmt: skip
    normal = _detection(3, "Normal", "Big1_CL\n| where Id == 3", """
  - name: one row matches
    dialects: [defender]
    tables: {Big1_CL: [{Id: 3, Name: a}, {Id: 4, Name: b}]}
    expect: {count: 1, rows: [{Name: a}]}
""")  # fmt: skip
    attack_project.write("detections/join.yml", join)
    attack_project.write("detections/range.yml", ranges)
    attack_project.write("detections/normal.yml", normal)

    started = time.monotonic()
    result = attack_project.dac("check", timeout=120)
    elapsed = time.monotonic() - started

    output = _assert_clean(attack_project, result)
    assert result.returncode == 1, output
    assert elapsed < 40, f"dac check took {elapsed:.0f} s"
    where = position_of(join, "name: every pair")
    assert (
        f"detections/join.yml:{where}: error EMU008: test 'every pair of two big tables' [defender]: "
        f"the query ran longer than the time limit of 2 s {TIMEOUT_HINT}"
    ) in output, output
    where = _value_position(ranges, "timeout")  # the test's own limit: positioned at it
    assert (
        f"detections/range.yml:{where}: error EMU008: test 'ten billion numbers' [defender]: "
        f"the query ran longer than the time limit of 1 s {TIMEOUT_HINT}"
    ) in output, output
    assert "3 tests: 1 passed, 0 failed, 2 errors" in output, output

    # dac test too (without the big fixtures, whose typing takes seconds)
    result = attack_project.dac("test", "--format", "json", "detections/range.yml", "detections/normal.yml")
    output = _assert_clean(attack_project, result)
    assert result.returncode == 1, output
    statuses = {t["test"]: (t["status"], [d["code"] for d in t.get("diagnostics", [])])
                for t in json.loads(result.stdout)["tests"]}  # fmt: skip
    assert statuses == {"ten billion numbers": ("error", ["EMU008"]), "one row matches": ("passed", [])}


def test_a_ten_billion_row_range_stops_at_the_time_limit():
    engine = _engine(timeout=1)
    try:
        assert _times_out(engine, "range x from 1 to 1e10 step 1\n| count", 1) < 5
    finally:
        engine.close()


def test_memory_limits_end_the_test_with_a_clear_error(attack_project: AttackProject):
    _project(attack_project, "  memory_limit: 16MiB\n")
    text = _detection(1, "Memory", "range x from 1 to 1000000 step 1\n| summarize by x\n| count", """
  - name: a million groups
    dialects: [defender]
    expect: {count: 1}
""")  # fmt: skip
    attack_project.write("detections/memory.yml", text)
    normal = _detection(2, "Normal", "Big1_CL\n| where Id == 3", """
  - name: one row matches
    dialects: [defender]
    tables: {Big1_CL: [{Id: 3, Name: a}]}
    expect: {count: 1}
""")  # fmt: skip
    attack_project.write("detections/normal.yml", normal)
    if sys.platform.startswith("linux"):  # one value of 16 GB: beyond DuckDB's view, stopped by the address cap
        huge = _detection(3, "Huge value", "print n = array_length(repeat(1, 2000000000))", """
  - name: a list of two billion
    dialects: [defender]
    expect: {count: 1}
""")  # fmt: skip
        attack_project.write("detections/huge.yml", huge)

    result = attack_project.dac("check", timeout=120)
    output = _assert_clean(attack_project, result)
    assert result.returncode == 1, output
    message = "the query needed more memory than the limit of 16 MiB (set limits.memory_limit in dac.yml)"
    where = position_of(text, "name: a million")
    assert f"detections/memory.yml:{where}: error EMU009: test 'a million groups' [defender]: {message}" in output
    if sys.platform.startswith("linux"):
        where = position_of(huge, "name: a list")
        assert f"detections/huge.yml:{where}: error EMU009: test 'a list of two billion' [defender]: {message}" in (
            output
        )
        assert "3 tests: 1 passed, 0 failed, 2 errors" in output, output
    else:
        assert "2 tests: 1 passed, 0 failed, 1 errors" in output, output


# --------------------------------------------------------------------------------------- dac kql run, dac.yml


def test_kql_run_timeout_option(attack_project: AttackProject):
    attack_project.write("q.kql", RANGE_JOIN + "\n")
    started = time.monotonic()
    result = attack_project.dac("kql", "run", "q.kql", "--timeout", "1", "--format", "json", timeout=60)
    assert time.monotonic() - started < 30
    _assert_clean(attack_project, result)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "q.kql:1:1: error EMU008: the query ran longer than the time limit of 1 s "
        "(set limits.query_timeout in dac.yml or --timeout)\n"
    )


def test_kql_run_refuses_a_bad_timeout(attack_project: AttackProject):
    attack_project.write("fast.kql", "print x = 1\n")
    result = attack_project.dac("kql", "run", "fast.kql", "--timeout", "soon")
    assert result.returncode == 2
    assert "--timeout" in result.stderr and "Traceback" not in result.stderr
    assert [_timeout_seconds(None, None, value) for value in ("1", "0.5", "90s", "2m", "1h")] == [  # type: ignore[arg-type]
        1.0, 0.5, 90.0, 120.0, 3600.0
    ]  # fmt: skip
    for value in ("0", "-1", "5d", "1.5s", ""):
        with pytest.raises(click.BadParameter):
            _timeout_seconds(None, None, value)  # type: ignore[arg-type]


def test_a_bad_limit_in_dac_yml_is_an_input_error(attack_project: AttackProject, tmp_path):
    attack_project.write("dac.yml", "detections: detections\nlimits: {query_timeout: 60}\n")
    result = attack_project.dac("check")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "DAC120" in result.stderr and "limits.query_timeout" in result.stderr and "Traceback" not in result.stderr
    for limits in ("{query_timeout: 1.5s}", "{query_timeout: 0s}", "{memory_limit: 2}", "{memory_limit: 2TB}",
                   "{memory_limit: 2 GiB}", "{cpu: 1}", "[60s]"):  # fmt: skip
        (tmp_path / "dac.yml").write_text(f"limits: {limits}\n", encoding="utf-8")
        with pytest.raises(ProjectError) as caught:
            find_project(tmp_path)
        assert caught.value.diagnostic.code == "DAC120" and "limits" in caught.value.diagnostic.message, limits


def test_limits_in_dac_yml_reach_the_project(tmp_path):
    (tmp_path / "dac.yml").write_text("limits:\n  query_timeout: 2m\n  memory_limit: 512MiB\n", encoding="utf-8")
    project = find_project(tmp_path)
    assert (project.query_timeout, project.memory_limit) == (120.0, 512 * 1024**2)
    (tmp_path / "dac.yml").write_text("detections: detections\n", encoding="utf-8")
    project = find_project(tmp_path)
    assert (project.query_timeout, project.memory_limit) == (60.0, 2 * 1024**3)
    assert (PROJECT_QUERY_TIMEOUT, PROJECT_MEMORY_LIMIT) == (DEFAULT_TIMEOUT, DEFAULT_MEMORY_LIMIT)


def test_durations_and_sizes():
    assert [parse_duration(t) for t in ("45s", "2m", "1h")] == [45.0, 120.0, 3600.0]
    assert [parse_size(t) for t in ("2GiB", "64MiB", "1GB", "500MB", "8KiB")] == [2 * 1024**3, 64 * 1024**2, 10**9,
                                                                                   5 * 10**8, 8192]  # fmt: skip
    sizes = [format_size(n) for n in (2 * 1024**3, 64 * 1024**2, 10**9, 1234)]
    assert sizes == ["2 GiB", "64 MiB", "1 GB", "1234 bytes"]


# --------------------------------------------------------------------------------------- the Emulator API


def _engine(dialect: str = "defender", **limits) -> Emulator:
    return Emulator(environment(dialect), limits=QueryLimits(**limits))


def _watchdogs() -> int:
    return sum(thread.name == "dac-query-time-limit" for thread in threading.enumerate())


def _times_out(engine: Emulator, query: str, limit: float) -> float:
    started = time.monotonic()
    with pytest.raises(EmulatorError) as caught:
        engine.run(query)
    elapsed = time.monotonic() - started
    assert caught.value.code == "EMU008"
    assert caught.value.message == (
        f"the query ran longer than the time limit of {limit:g} s (set limits.query_timeout in dac.yml)"
    )
    assert engine.run("print x = 1").rows == [(1,)]  # the connection is usable afterwards: no late interrupt
    return elapsed


@pytest.mark.parametrize(
    "query",
    [
        RANGE_JOIN,
        # geo_point_to_s2cell is a Python function inside DuckDB: called once per chunk of rows
        RANGE_JOIN.replace("| summarize count()", "| summarize dcount(geo_point_to_s2cell(toreal(x % 90), 0.0, 8))"),
        # few rows, but each comes out of the cross join: the result streams while it is fetched
        RANGE_JOIN.replace("| summarize count()", "| where x == y and x % 1000 == 0\n| project x"),
    ],
    ids=["while-duckdb-computes", "in-python-functions", "while-fetching-rows"],
)
def test_the_time_limit_interrupts_a_query(query: str):
    before = _watchdogs()
    engine = _engine(timeout=0.5)
    try:
        assert _times_out(engine, query, 0.5) < 5
    finally:
        engine.close()
    assert _watchdogs() == before  # the emulator's watchdog thread ends with it


def test_a_run_within_its_limit_is_never_interrupted_later():
    before = _watchdogs()
    engine = _engine(timeout=0.3)
    try:
        assert engine.run("print x = 1").rows == [(1,)]
        time.sleep(0.5)  # past the first run's deadline: the run has ended, nothing interrupts
        assert engine.run("range x from 1 to 200000 step 1 | summarize count()").rows == [(200000,)]
        for _ in range(20):
            assert engine.run("print x = 1").rows == [(1,)]
        assert _watchdogs() == before + 1  # one thread watches all the runs of an emulator
    finally:
        engine.close()
    assert _watchdogs() == before


def test_a_run_after_one_that_timed_out_gets_its_whole_time():
    engine = _engine(timeout=0.5)
    try:
        _times_out(engine, RANGE_JOIN, 0.5)
        started = time.monotonic()
        assert engine.run("range x from 1 to 3000000 step 1 | summarize count()").rows == [(3000000,)]
        assert time.monotonic() - started < 0.5  # a fresh deadline, and no interrupt left from the last run
    finally:
        engine.close()


def test_an_emulator_never_closed_does_not_keep_its_watchdog():
    before = _watchdogs()
    engine = _engine(timeout=5)
    engine.run("print x = 1")
    assert _watchdogs() == before + 1
    del engine
    deadline = time.monotonic() + 5
    while _watchdogs() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _watchdogs() == before


def test_the_memory_limit_ends_a_query_with_a_clear_error():
    engine = _engine(memory_limit=16 * 1024**2)
    try:
        with pytest.raises(EmulatorError) as caught:
            engine.run("range x from 1 to 1000000 step 1 | summarize by x | count")
        assert caught.value.code == "EMU009"
        assert caught.value.message == (
            "the query needed more memory than the limit of 16 MiB (set limits.memory_limit in dac.yml)"
        )
        assert engine.run("print x = 1").rows == [(1,)]
        settings = engine.connection.execute(
            "SELECT current_setting('memory_limit'), current_setting('temp_directory')"
        ).fetchall()
        assert settings == [("16.0 MiB", "")]  # nothing spills to disk
    finally:
        engine.close()


def test_a_result_has_at_most_max_rows():
    engine = _engine(max_rows=1000)
    try:
        assert len(engine.run("range x from 1 to 1000 step 1").rows) == 1000
        with pytest.raises(EmulatorError) as caught:
            engine.run("range x from 1 to 1001 step 1")
        assert caught.value.code == "EMU010"
        assert caught.value.message.startswith("the query returned more than 1,000 rows")
        assert engine.run("print x = 1").rows == [(1,)]
    finally:
        engine.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is enforced on Linux")
def test_the_address_space_limit_is_set_and_restored():
    import resource

    before = resource.getrlimit(resource.RLIMIT_AS)
    with address_space_limit(64 * 1024**2):
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        assert soft != resource.RLIM_INFINITY and hard == before[1]
        engine = _engine(memory_limit=64 * 1024**2)
        try:  # one list of 2*10^9 values is no buffer DuckDB counts: the address space stops it
            with pytest.raises(EmulatorError) as caught:
                engine.run("print n = array_length(repeat(1, 2000000000))")
            assert caught.value.code == "EMU009"
        finally:
            engine.close()
    assert resource.getrlimit(resource.RLIMIT_AS) == before


def test_big_tables_load_fast_and_exactly():
    count = ROWS // 2
    rows = [{"DeviceName": f"ws{i}", "RemotePort": i, "AdditionalFields": {"n": i} if i % 2 else None}
            for i in range(count)]  # fmt: skip
    engine = _engine("sentinel")  # where AdditionalFields is dynamic
    try:
        started = time.monotonic()
        engine.load_table("DeviceNetworkEvents", rows)
        assert time.monotonic() - started < 10  # row by row (executemany) it took minutes
        result = engine.run(
            "DeviceNetworkEvents | summarize n = count(), total = sum(RemotePort), "
            "no_fields = countif(isnull(AdditionalFields)), no_ip = countif(RemoteIP == ''), "
            "no_time = countif(isnull(Timestamp)), first = take_any(DeviceName) by odd = RemotePort % 2 == 1"
            " | order by odd asc"
        )
        half = count // 2
        assert [list(row) for row in result.rows] == [
            [False, half, sum(range(0, count, 2)), half, half, half, "ws0"],
            [True, half, sum(range(1, count, 2)), 0, half, half, "ws1"],
        ]
        assert engine.run("DeviceNetworkEvents | where RemotePort == 7 | project AdditionalFields").rows == [[{"n": 7}]]
    finally:
        engine.close()
