"""A test run's tables narrowed to the columns its query can see (emulator/narrowing.py) give the same
answer as the whole platform tables: the same columns in the same order, of the same types, and the
same rows. Each case runs a query both ways, on an emulator that narrows (one query per load, as the
test runner uses it) and on one that creates the whole tables; the corpus case does so for real
queries (skipped when ../shared is absent).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path

import pytest

from dac.emulator import Emulator, EmulatorError
from dac.emulator import engine as engine_module
from dac.emulator.narrowing import Narrowing, narrowed_columns
from dac.model.tables import environment

NOW = dt.datetime(2024, 6, 1, 12)
HOUR_AGO = dt.datetime(2024, 6, 1, 11)
ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "queries-dev.jsonl"

PROCESSES = [
    {"Timestamp": HOUR_AGO, "DeviceId": "d1", "DeviceName": "pc-1", "FileName": "cmd.exe", "ProcessId": 10},
    {"Timestamp": HOUR_AGO, "DeviceId": "d1", "DeviceName": "pc-1", "FileName": "powershell.exe", "ProcessId": 11},
    {"Timestamp": NOW, "DeviceId": "d2", "DeviceName": "pc-2", "FileName": "cmd.exe", "ProcessId": 12},
]
CONNECTIONS = [
    {"Timestamp": HOUR_AGO, "DeviceId": "d1", "RemoteIP": "10.0.0.1", "RemotePort": 443},
    {"Timestamp": HOUR_AGO, "DeviceId": "d3", "RemoteIP": "10.0.0.2", "RemotePort": 80},
]
TABLES = {"DeviceProcessEvents": PROCESSES, "DeviceNetworkEvents": CONNECTIONS}


def both_ways(query: str, tables: dict | None = None, dialect: str = "defender") -> tuple[Emulator, object, object]:
    """(the narrowing emulator after the run, its result, the whole tables' result)."""
    results = []
    narrowing = None
    for one_query in (True, False):
        engine = Emulator(environment(dialect), now=NOW, one_query=one_query)
        try:
            for name, rows in (TABLES if tables is None else tables).items():
                engine.load_table(name, rows)
            try:
                result = engine.run(query)
                results.append((result.columns, [list(row) for row in result.rows]))
            except EmulatorError as exc:  # a refusal is an answer too: the same both ways
                results.append((exc.code, exc.message))
            if one_query:
                narrowing = engine
        finally:
            engine.close()
    return narrowing, results[0], results[1]


def assert_same(query: str, tables: dict | None = None, dialect: str = "defender") -> Emulator:
    engine, narrowed, whole = both_ways(query, tables, dialect)
    assert narrowed == whole
    return engine


def test_a_filter_narrows_the_table_and_the_result_keeps_every_column_in_its_place():
    engine = assert_same('DeviceProcessEvents | where FileName =~ "CMD.EXE"')
    # the table held the named, given and time columns only; the result has all of the platform's
    assert engine.narrowing is not None and engine.narrowing.dropped
    assert {name for name, _ in engine.stored["DeviceProcessEvents"]} == {
        "Timestamp", "DeviceId", "DeviceName", "FileName", "ProcessId"
    }  # fmt: skip
    _, (columns, rows), _ = both_ways('DeviceProcessEvents | where FileName =~ "CMD.EXE"')
    assert [name for name, _ in columns] == list(environment("defender").tables["DeviceProcessEvents"])
    names = [name for name, _ in columns]
    first = dict(zip(names, rows[0], strict=True))
    # a string no fixture gives is "", anything else null (the KQL reference: strings are never null)
    assert first["FolderPath"] == "" and first["FileSize"] is None and first["ProcessId"] == 10


def test_a_projection_needs_no_widening():
    engine = assert_same("DeviceProcessEvents | summarize n = count() by DeviceName | order by DeviceName asc")
    assert engine.narrowing is not None and not engine.narrowing.dropped


@pytest.mark.parametrize(
    "query",
    [
        # join: columns of both sides passed through, those of the right renamed (DeviceId1, Timestamp1)
        "DeviceProcessEvents | join kind=inner DeviceNetworkEvents on DeviceId",
        # leftouter: the right side of an unmatched row is null ("" for strings) in every column
        "DeviceProcessEvents | join kind=leftouter (DeviceNetworkEvents | where RemotePort == 443) on DeviceId",
        "DeviceProcessEvents | summarize arg_max(Timestamp, *) by DeviceId",
        "DeviceProcessEvents | distinct * | count",
        "DeviceProcessEvents | distinct *",
        "union DeviceProcessEvents, DeviceNetworkEvents | where DeviceId == 'd1'",
        "union withsource=Source DeviceProcessEvents, DeviceNetworkEvents | project-away Timestamp",
        "DeviceProcessEvents | project-keep Logon*",  # LogonId and LogonID: named by no one, kept by kqlcheck
        "DeviceProcessEvents | project-away DeviceName | take 1",
        "DeviceProcessEvents | where * has 'powershell'",  # refused by the emulator, the same way
        "DeviceProcessEvents | extend Packed = pack_all() | project Packed",
        "DeviceProcessEvents | getschema | count",
        "DeviceProcessEvents | extend v = column_ifexists('FolderPath', 'none') | project v",
        "DeviceProcessEvents | mv-expand AdditionalFields | count",
        "DeviceProcessEvents | lookup (DeviceNetworkEvents | project DeviceId, RemoteIP) on DeviceId",
    ],
)
def test_shapes_that_pass_rows_through_or_look_at_the_columns_answer_as_on_the_whole_tables(query):
    assert_same(query)


def test_columns_whose_names_differ_only_in_case_stay_together():
    # DeviceProcessEvents has LogonId and LogonID; a fixture gives the second only, the query names it
    tables = {"DeviceProcessEvents": [{"Timestamp": HOUR_AGO, "LogonID": 7}]}
    engine = assert_same("DeviceProcessEvents | project LogonID", tables)
    assert engine.narrowing is not None
    assert {"LogonId", "LogonID"} <= set(engine.narrowing.tables["DeviceProcessEvents"])


def test_queries_that_look_at_the_column_set_are_not_narrowed():
    env = environment("defender")
    given = {"DeviceProcessEvents": {"Timestamp", "FileName"}}
    for query in (
        "DeviceProcessEvents | extend p = pack_all()",
        "DeviceProcessEvents | getschema",
        "DeviceProcessEvents | extend v = column_ifexists('X', 1)",
        "DeviceProcessEvents | evaluate bag_unpack(AdditionalFields)",
        "search 'x'",
    ):
        assert narrowed_columns(query, env, given) is None, query


def test_the_columns_kept_are_the_named_the_given_and_the_time_columns():
    env = environment("sentinel")
    narrowing = narrowed_columns(
        "SecurityEvent | where EventID == 4688 | project Computer, ['Account']",
        env,
        {"SecurityEvent": {"CommandLine"}},
    )
    assert narrowing is not None
    assert set(narrowing.tables["SecurityEvent"]) == {"EventID", "Computer", "Account", "CommandLine", "TimeGenerated"}
    assert narrowing.output == [("Computer", "string"), ("Account", "string")] and not narrowing.dropped


def test_a_result_not_shaped_as_the_binder_foresaw_is_run_again_on_the_whole_tables(monkeypatch):
    real = narrowed_columns

    def misleading(query_text, environment_, given):
        found = real(query_text, environment_, given)
        assert found is not None and found.dropped
        # a binder that foresaw one column too few: the narrowed result cannot be widened to it
        return Narrowing(found.tables, found.output[1:], found.dropped)

    monkeypatch.setattr(engine_module, "narrowed_columns", misleading)
    engine, narrowed, whole = both_ways("DeviceProcessEvents | where FileName == 'cmd.exe'")
    assert narrowed == whole
    assert engine.narrowing is None  # the run was made again on the whole tables
    assert len(engine.stored["DeviceProcessEvents"]) == len(environment("defender").tables["DeviceProcessEvents"])


def test_a_narrowed_run_that_fails_is_run_again_on_the_whole_tables(monkeypatch):
    real = narrowed_columns

    def too_narrow(query_text, environment_, given):
        found = real(query_text, environment_, given)
        assert found is not None
        # FileName left out: the narrowed query cannot compile, the whole tables answer
        tables = {
            "DeviceProcessEvents": {k: v for k, v in found.tables["DeviceProcessEvents"].items() if k != "FileName"}
        }
        return Narrowing(tables, found.output, found.dropped)

    monkeypatch.setattr(engine_module, "narrowed_columns", too_narrow)
    engine, narrowed, whole = both_ways("DeviceProcessEvents | where FileName == 'cmd.exe' | project DeviceName")
    assert narrowed == whole == ([("DeviceName", "string")], [["pc-1"], ["pc-2"]])
    assert engine.narrowing is None


def test_each_run_of_a_reused_emulator_narrows_for_its_own_query():
    engine = Emulator(environment("defender"), now=NOW, one_query=True)
    try:
        engine.load_table("DeviceProcessEvents", PROCESSES)
        assert engine.run("DeviceProcessEvents | where FileName == 'cmd.exe' | count").rows == [(2,)]
        # the same load, another query naming another column: the rows are there for it too
        assert [list(r) for r in engine.run("DeviceProcessEvents | summarize max(ProcessId)").rows] == [[12]]
        assert engine.reuse(environment("defender"), now=NOW)
        engine.load_table("DeviceProcessEvents", PROCESSES[:1])
        assert [list(r) for r in engine.run("DeviceProcessEvents | project DeviceName").rows] == [["pc-1"]]
    finally:
        engine.close()


def _corpus_cases(limit: int) -> list[tuple[str, str, str]]:
    """(dialect, query, table) of the first corpus queries bench/suite.py would time."""
    spec = importlib.util.spec_from_file_location("suite_bench", ROOT / "bench" / "suite.py")
    assert spec is not None and spec.loader is not None
    suite = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(suite)
    return [(dialect, query, table) for _, dialect, query, table in suite.candidates(CORPUS, limit)]


@pytest.mark.skipif(not CORPUS.is_file(), reason="../shared/corpus is not available")
def test_real_queries_answer_the_same_on_narrowed_tables():
    """Corpus queries on three rows of their table: narrowed and whole runs agree, error for error."""
    compared = narrowed_runs = 0
    engines = {flag: Emulator(environment("defender"), now=NOW, one_query=flag) for flag in (True, False)}
    try:
        for dialect, query, table in _corpus_cases(150):
            time_column = "Timestamp" if dialect == "defender" else "TimeGenerated"
            answers = []
            for flag, engine in engines.items():
                assert engine.reuse(environment(dialect), now=NOW)
                engine.load_table(table, [{time_column: HOUR_AGO} for _ in range(3)])
                try:
                    result = engine.run(query)
                    answers.append((result.columns, [list(row) for row in result.rows]))
                except EmulatorError as exc:
                    answers.append((exc.code, exc.message))
                if flag and engine.narrowing is not None:
                    narrowed_runs += 1
            assert answers[0] == answers[1], query
            compared += 1
    finally:
        for engine in engines.values():
            engine.close()
    assert compared >= 100
    assert narrowed_runs >= compared // 2  # most real queries narrow
