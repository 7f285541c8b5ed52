"""The test runner (dac.testing) with a fake engine: which runs happen, what the engine gets,
every expectation (count, rows, exact, ordered, columns) with typed comparison, errors with their
positions, and the JSON and JUnit shapes. The end-to-end tests at the bottom use the real emulator
through the `dac test` and `dac kql run` commands."""

from __future__ import annotations

import datetime as dt
import json
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import detection_head, make_project
from dac.cli.emulator import kql_run_command
from dac.cli.emulator import test_command as dac_test_command
from dac.emulator import EmulatorError, QueryResult
from dac.model.detection import Detection, load_detection
from dac.reports.json import json_document
from dac.reports.junit import junit_xml
from dac.reports.text import summary_line
from dac.testing import (
    ERROR,
    FAILED_STATUS,
    PASSED,
    TestResult,
    json_equal,
    planned,
    run_detection_tests,
    summarize,
)

HEAD = detection_head()
QUERY = """\
query:
  dialect: defender
  text: |
    DeviceNetworkEvents
    | where Timestamp > ago(1d)
    | project Timestamp, DeviceName, RemoteIP
"""
QUERY_LINE = HEAD.count("\n") + 4  # the line of `DeviceNetworkEvents` in the file


def _detection(tmp_path: Path, tests: str, query: str = QUERY, extra: str = "") -> Detection:
    file = tmp_path / "det.yml"
    file.write_text(HEAD + query + extra + "tests:\n" + textwrap.indent(textwrap.dedent(tests), "  "))
    loaded = load_detection(file, "det.yml")
    assert loaded.detection is not None, [d.format() for d in loaded.diagnostics]
    return loaded.detection


class FakeEngine:
    def __init__(self, result, environment, now, externaldata):
        self.result, self.environment, self.now, self.externaldata = result, environment, now, externaldata
        self.tables: dict[str, list[dict]] = {}
        self.text: str | None = None

    def load_table(self, name, rows):
        self.tables[name] = rows

    def run(self, text):
        self.text = text
        result = self.result(self) if callable(self.result) else self.result
        if isinstance(result, Exception):
            raise result
        return result


class Factory:
    """Makes FakeEngines that answer `result` (a QueryResult, an exception, or a function of the engine)."""

    def __init__(self, result):
        self.result = result
        self.engines: list[FakeEngine] = []

    def __call__(self, environment, *, now, externaldata, limits=None):
        engine = FakeEngine(self.result, environment, now, externaldata)
        engine.limits = limits
        self.engines.append(engine)
        return engine


RESULT = QueryResult(
    [("Timestamp", "datetime"), ("DeviceName", "string"), ("RemoteIP", "string")],
    [
        [dt.datetime(2024, 12, 2, 11), "ws1", "8.8.8.8"],
        [dt.datetime(2024, 12, 2, 11, 30), "ws2", "1.1.1.1"],
        [dt.datetime(2024, 12, 2, 11, 30), "ws2", "1.1.1.1"],
    ],
)


def _run(tmp_path, tests, result=RESULT, **options):
    factory = Factory(result)
    detection = _detection(tmp_path, tests, **{k: options.pop(k) for k in ("query", "extra") if k in options})
    results = run_detection_tests(detection, engine_factory=factory, **options)
    return results, factory


def _where(result: TestResult) -> list[tuple[str, int, int]]:
    return [(d.code, d.line, d.column) for d in result.diagnostics]


# --------------------------------------------------------------------------------------- runs


def test_each_test_runs_in_each_enabled_dialect(tmp_path):
    results, factory = _run(tmp_path, "- name: t\n  expect: {count: 3}\n")
    assert [(r.test, r.dialect, r.status) for r in results] == [("t", "defender", PASSED), ("t", "sentinel", PASSED)]
    assert factory.engines[0].text.count("Timestamp") == 2
    assert "TimeGenerated" in factory.engines[1].text and "Timestamp" not in factory.engines[1].text


def test_dialects_are_narrowed_by_the_test_the_caller_and_the_variants(tmp_path):
    tests = "- name: a\n  dialects: [sentinel]\n  expect: {count: 3}\n- name: b\n  expect: {count: 3}\n"
    results, _ = _run(tmp_path, tests)
    assert [(r.test, r.dialect) for r in results] == [("a", "sentinel"), ("b", "defender"), ("b", "sentinel")]
    results, _ = _run(tmp_path, tests, dialect="defender")
    assert [(r.test, r.dialect) for r in results] == [("b", "defender")]
    results, _ = _run(tmp_path, tests, extra="variants:\n  sentinel: {enabled: false}\n")
    assert [(r.test, r.dialect) for r in results] == [("b", "defender")]


def test_planned_matches_the_runs(tmp_path):
    detection = _detection(tmp_path, "- name: a\n  dialects: [defender]\n  expect: {count: 0}\n")
    assert [(i, d) for i, _, d in planned(detection)] == [(0, "defender")]
    assert planned(detection, "sentinel") == []


def test_engine_gets_now_externaldata_and_typed_tables_per_dialect(tmp_path):
    (tmp_path / "list.csv").write_text("a\n")
    tests = """\
    - name: t
      now: 2024-12-02T12:00:00Z
      externaldata: {"https://example.org/list.csv": list.csv}
      tables:
        DeviceNetworkEvents:
          - {Timestamp: 2024-12-02T11:00:00Z, DeviceName: ws1, RemotePort: 22}
      expect: {count: 3}
    """
    results, factory = _run(tmp_path, tests)
    assert {r.status for r in results} == {PASSED}
    defender, sentinel = factory.engines
    assert defender.now == dt.datetime(2024, 12, 2, 12)
    assert defender.externaldata == {"https://example.org/list.csv": tmp_path / "list.csv"}
    assert defender.environment.dialect == "defender" and sentinel.environment.dialect == "sentinel"
    assert defender.tables["DeviceNetworkEvents"][0]["Timestamp"] == dt.datetime(2024, 12, 2, 11)
    assert sentinel.tables["DeviceNetworkEvents"][0]["TimeGenerated"] == dt.datetime(2024, 12, 2, 11)
    assert defender.tables["DeviceNetworkEvents"][0]["RemotePort"] == 22


def test_test_parameters_change_the_query(tmp_path):
    query = QUERY.replace("| project", "| where DeviceName != '{{ skip }}'\n    | project")
    tests = "- name: a\n  expect: {count: 3}\n- name: b\n  parameters: {skip: ws9}\n  expect: {count: 3}\n"
    results, factory = _run(tmp_path, tests, query=query, extra="parameters: {skip: ws0}\n", dialect="defender")
    assert [r.status for r in results] == [PASSED, PASSED]
    assert "'ws0'" in factory.engines[0].text and "'ws9'" in factory.engines[1].text


# --------------------------------------------------------------------------------------- expectations


def test_count(tmp_path):
    results, _ = _run(tmp_path, "- name: t\n  expect:\n    count: 1\n", dialect="defender")
    (result,) = results
    assert result.status == FAILED_STATUS
    assert _where(result) == [("DAC709", QUERY_LINE + 6, 14)]
    assert "expected 1 row, the query returned 3" in result.message
    assert "actual (3 rows):" in result.details and "ws2" in result.details


def test_rows_match_distinct_result_rows(tmp_path):
    two = "- name: t\n  expect:\n    rows: [{DeviceName: ws2}, {DeviceName: ws2}]\n"
    assert _run(tmp_path, two, dialect="defender")[0][0].status == PASSED
    three = "- name: t\n  expect:\n    rows: [{DeviceName: ws1}, {DeviceName: ws1}]\n"
    (result,) = _run(tmp_path, three, dialect="defender")[0]
    assert result.status == FAILED_STATUS
    assert _where(result) == [("DAC709", QUERY_LINE + 6, 33)]
    assert "expect.rows[1] {DeviceName: ws1} matches no result row" in result.message
    assert "MISSING" in result.details


def test_rows_matching_is_not_fooled_by_order(tmp_path):
    # A greedy match would give ws2's first row to the first expectation and fail the second.
    result = QueryResult([("A", "long"), ("B", "long")], [[1, 2], [1, 3]])
    tests = "- name: t\n  expect:\n    rows: [{A: 1}, {A: 1, B: 2}]\n"
    assert _run(tmp_path, tests, result=result, dialect="defender")[0][0].status == PASSED


def test_exact_is_the_whole_result_as_a_multiset(tmp_path):
    rows = "[{DeviceName: ws2}, {DeviceName: ws1}, {DeviceName: ws2}]"
    ok = f"- name: t\n  expect:\n    exact: true\n    rows: {rows}\n"
    assert _run(tmp_path, ok, dialect="defender")[0][0].status == PASSED
    short = "- name: t\n  expect:\n    exact: true\n    rows: [{DeviceName: ws2}, {DeviceName: ws1}]\n"
    (result,) = _run(tmp_path, short, dialect="defender")[0]
    assert result.status == FAILED_STATUS
    assert "the query returned 3 rows, rows lists 2" in result.message
    empty = "- name: t\n  expect: {exact: true}\n"
    assert _run(tmp_path, empty, dialect="defender")[0][0].status == FAILED_STATUS


def test_ordered(tmp_path):
    ok = "- name: t\n  expect:\n    ordered: true\n    rows: [{DeviceName: ws1}, {DeviceName: ws2}]\n"
    assert _run(tmp_path, ok, dialect="defender")[0][0].status == PASSED
    wrong = "- name: t\n  expect:\n    ordered: true\n    rows: [{DeviceName: ws2}, {DeviceName: ws1}]\n"
    (result,) = _run(tmp_path, wrong, dialect="defender")[0]
    assert result.status == FAILED_STATUS
    assert "expect.rows[1] {DeviceName: ws1} matches no result row after the rows before it" in result.message
    rows = "[{DeviceName: ws1}, {DeviceName: ws1}, {}]"
    exact = f"- name: t\n  expect:\n    ordered: true\n    exact: true\n    rows: {rows}\n"
    (result,) = _run(tmp_path, exact, dialect="defender")[0]
    assert "expect.rows[1] {DeviceName: ws1} is not result row 2" in result.message


def test_columns(tmp_path):
    ok = "- name: t\n  expect:\n    columns: [Timestamp, DeviceName, RemoteIP]\n"
    assert _run(tmp_path, ok, dialect="defender")[0][0].status == PASSED
    wrong = "- name: t\n  expect:\n    columns: [Timestamp, RemoteIP, Extra]\n"
    (result,) = _run(tmp_path, wrong, dialect="defender")[0]
    assert result.status == FAILED_STATUS
    assert "missing Extra; not expected DeviceName" in result.message
    assert "columns (expect.columns vs the result):" in result.details


def test_unknown_expected_column_names_it_and_the_actual_columns(tmp_path):
    tests = "- name: t\n  expect:\n    rows: [{DeviceNam: ws1}]\n"
    (result,) = _run(tmp_path, tests, dialect="defender")[0]
    assert result.status == FAILED_STATUS
    assert _where(result) == [("DAC709", QUERY_LINE + 6, 15)]
    assert "no column 'DeviceNam'" in result.message
    assert result.diagnostics[0].notes == ("the result's columns: Timestamp, DeviceName, RemoteIP",)


@pytest.mark.parametrize(
    ("kql_type", "actual", "expected", "equal"),
    [
        ("datetime", dt.datetime(2024, 12, 2, 11), "2024-12-02T11:00:00Z", True),
        ("datetime", dt.datetime(2024, 12, 2, 11), "2024-12-02 12:00+01:00", True),
        ("datetime", dt.datetime(2024, 12, 2, 11, 0, 0, 1), "2024-12-02T11:00:00Z", False),
        ("real", 0.1 + 0.2, 0.3, True),
        ("real", 0.3001, 0.3, False),
        ("long", 3, "3", True),
        ("long", 3, 4, False),
        ("bool", True, "true", True),
        ("timespan", dt.timedelta(hours=1), "01:00:00", True),
        ("timespan", dt.timedelta(hours=1), "1h", True),
        ("dynamic", {"a": [1, {"b": True}], "c": None}, {"c": None, "a": [1, {"b": True}]}, True),
        ("dynamic", {"a": 1}, '{"a": 1}', True),
        ("dynamic", {"a": True}, {"a": 1}, False),
        ("dynamic", "text", "text", True),
        ("guid", "abcdef00-1111-2222-3333-444455556666", "ABCDEF00-1111-2222-3333-444455556666", True),
        ("string", "WS1", "ws1", False),
        ("string", "22", 22, True),
        ("long", None, None, True),
        ("string", "", None, True),
    ],
)
def test_values_compare_by_the_result_column_type(tmp_path, kql_type, actual, expected, equal):
    result = QueryResult([("X", kql_type)], [[actual]])
    tests = f"- name: t\n  expect:\n    rows: [{{X: {json.dumps(expected)}}}]\n"
    (outcome,) = _run(tmp_path, tests, result=result, dialect="defender")[0]
    assert outcome.status == (PASSED if equal else FAILED_STATUS), outcome.message


def test_json_equality_keeps_booleans_apart_from_numbers():
    assert json_equal({"a": [1, 2.0]}, {"a": [1.0, 2]})
    assert not json_equal(True, 1) and not json_equal([0], [False])


def test_dac708_expected_value_not_of_the_column_type(tmp_path):
    tests = "- name: t\n  expect:\n    rows: [{Timestamp: soon}]\n"
    (result,) = _run(tmp_path, tests, dialect="defender")[0]
    assert result.status == ERROR
    assert _where(result) == [("DAC708", QUERY_LINE + 6, 26)]


# --------------------------------------------------------------------------------------- errors


def test_emulator_error_is_positioned_in_the_yaml_query(tmp_path):
    results, _ = _run(tmp_path, "- name: t\n  expect: {count: 0}\n", result=EmulatorError("EMU001", "no project", 0))
    assert [r.status for r in results] == [ERROR, ERROR]
    assert _where(results[0]) == [("EMU001", QUERY_LINE, 5)]
    assert results[0].message == "no project"

    def at_project(engine):  # the offset of `project` differs between the dialects' texts
        return EmulatorError("EMU001", "no project", engine.text.index("project"))

    results, _ = _run(tmp_path, "- name: t\n  expect: {count: 0}\n", result=at_project)
    assert _where(results[0]) == _where(results[1]) == [("EMU001", QUERY_LINE + 2, 7)]


def test_fixture_now_and_externaldata_errors(tmp_path):
    tests = """\
    - name: bad table
      tables: {DeviceNetworkEvent: []}
      expect: {count: 0}
    - name: bad now
      now: 2024-02-30
      expect: {count: 0}
    - name: no file
      externaldata: {"https://x": nope.csv}
      expect: {count: 0}
    """
    results, _ = _run(tmp_path, tests, dialect="defender")
    assert [r.status for r in results] == [ERROR, ERROR, ERROR]
    assert [_where(r)[0][0] for r in results] == ["DAC701", "DAC707", "DAC704"]


def test_a_crash_in_the_engine_is_an_error_of_that_test_only(tmp_path):
    results, _ = _run(tmp_path, "- name: t\n  expect: {count: 0}\n", result=ZeroDivisionError("boom"))
    assert [r.status for r in results] == [ERROR, ERROR]
    assert results[0].diagnostics[0].code == "DAC700" and "ZeroDivisionError" in results[0].message


# --------------------------------------------------------------------------------------- reports


def _results() -> list[TestResult]:
    detection, file = "Sample detection", "det.yml"
    failed = TestResult(detection, file, "t2", 1, "defender", FAILED_STATUS, "expect.count: expected 1 row")
    from dac.diagnostics import Position, error

    failed.diagnostics = [error(file, Position(20, 12), "DAC709", failed.message)]
    failed.details = "actual (3 rows):\n+---+"
    return [
        TestResult(detection, file, "t1", 0, "defender", PASSED, duration=0.0123),
        TestResult(detection, file, "t1", 0, "sentinel", PASSED, duration=0.0004),
        failed,
        TestResult("Other", "other.yml", "x", 0, "sentinel", ERROR, "the emulator does not support 'foo'"),
    ]


def test_summary():
    summary = summarize(_results(), invalid=1)
    assert summary == {
        "tests": 4, "passed": 2, "failed": 1, "errors": 1,
        "dialects": ["defender", "sentinel"], "invalid_detections": 1,
    }  # fmt: skip
    assert summary_line(summary) == (
        "4 tests: 2 passed, 1 failed, 1 errors (in defender, sentinel); 1 invalid detection not run"
    )


def test_json_shape():
    document = json.loads(json_document(_results(), summarize(_results())))
    assert set(document) == {"tests", "summary", "diagnostics"}
    first = document["tests"][0]
    assert {"detection", "file", "test", "dialect", "status", "message"} <= set(first)
    assert first["detection"] == "Sample detection" and first["status"] == "passed" and first["duration"] == 0.012
    assert document["tests"][2]["diagnostics"][0]["code"] == "DAC709"


def test_junit_shape_and_determinism():
    from dac.diagnostics import Position, error

    invalid = {"bad.yml": ("Bad", [error("bad.yml", Position(3, 1), "DAC201", "missing name")])}
    text = junit_xml(_results(), invalid)
    assert text == junit_xml(_results(), invalid)
    root = ET.fromstring(text)
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("5", "1", "2")
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["Sample detection", "Other", "Bad"]
    cases = suites[0].findall("testcase")
    assert [c.get("name") for c in cases] == ["t1 [defender]", "t1 [sentinel]", "t2 [defender]"]
    assert cases[0].get("time") == "0.012" and suites[0].get("time") == "0.013"
    failure = cases[2].find("failure")
    assert failure.get("message") == "expect.count: expected 1 row" and failure.get("type") == "DAC709"
    assert "det.yml:20:12: error DAC709" in failure.text and "actual (3 rows)" in failure.text
    assert suites[1].find("testcase/error") is not None
    assert suites[2].find("testcase").get("name") == "validation"


# --------------------------------------------------------------------------------------- end to end


DETECTION = (
    HEAD
    + """\
query:
  dialect: defender
  text: |
    DeviceNetworkEvents
    | where Timestamp > ago(1d)
    | where RemoteIPType == "Public"
    | project Timestamp, DeviceName, RemoteIP, RemotePort
tests:
  - name: public addresses are reported
    now: 2024-12-02T12:00:00Z
    tables:
      DeviceNetworkEvents:
        - {Timestamp: 2024-12-02T11:00:00Z, DeviceName: ws1, RemoteIP: 8.8.8.8, RemoteIPType: Public, RemotePort: 22}
        - {Timestamp: 2024-12-02T11:00:00Z, DeviceName: ws2, RemoteIP: 10.0.0.1, RemoteIPType: Private}
        - {Timestamp: 2024-11-02T11:00:00Z, DeviceName: ws3, RemoteIP: 8.8.4.4, RemoteIPType: Public}
    expect:
      count: 1
      rows: [{DeviceName: ws1, RemoteIP: 8.8.8.8, RemotePort: 22, Timestamp: 2024-12-02T11:00:00Z}]
  - name: a wrong expectation
    now: 2024-12-02T12:00:00Z
    tables:
      DeviceNetworkEvents: events.jsonl
    expect:
      rows: [{DeviceName: ws9}]
"""
)


def _invoke(command, args, cwd: Path, stdin: str | None = None):
    import os

    previous = Path.cwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(command, args, input=stdin, env={"NO_COLOR": "1", "COLUMNS": "200"})
    finally:
        os.chdir(previous)


@pytest.fixture
def project(tmp_path):
    make_project(tmp_path)
    (tmp_path / "detections" / "sample.yml").write_text(DETECTION)
    (tmp_path / "detections" / "events.jsonl").write_text(
        '{"TimeGenerated": "2024-12-02T11:30:00Z", "DeviceName": "ws4", "RemoteIPType": "Public"}\n'
    )
    return tmp_path


def test_dac_test_end_to_end(project):
    result = _invoke(dac_test_command, [], project)
    assert result.exit_code == 1, result.output
    assert "4 tests: 2 passed, 2 failed, 0 errors (in defender, sentinel)" in result.stdout
    assert "FAILED Sample detection: a wrong expectation [defender]" in result.stdout
    line = DETECTION.splitlines().index("      rows: [{DeviceName: ws9}]") + 1
    assert f"detections/sample.yml:{line}:14: error DAC709:" in result.stdout
    assert "ws4" in result.stdout  # the actual rows are shown


def test_dac_test_json_and_junit(project):
    result = _invoke(dac_test_command, ["--format", "json", "--junit", "out/junit.xml"], project)
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert [(t["test"], t["dialect"], t["status"]) for t in document["tests"]] == [
        ("public addresses are reported", "defender", "passed"),
        ("public addresses are reported", "sentinel", "passed"),
        ("a wrong expectation", "defender", "failed"),
        ("a wrong expectation", "sentinel", "failed"),
    ]
    assert document["summary"]["passed"] == 2
    root = ET.parse(project / "out" / "junit.xml").getroot()
    assert (root.get("tests"), root.get("failures")) == ("4", "2")


def test_dac_test_passes_with_exit_0_and_skips_invalid_detections(project):
    (project / "detections" / "sample.yml").write_text(DETECTION.replace("{DeviceName: ws9}", "{DeviceName: ws4}"))
    result = _invoke(dac_test_command, ["--dialect", "sentinel"], project)
    assert result.exit_code == 0, result.output
    assert "2 tests: 2 passed, 0 failed, 0 errors (in sentinel)" in result.stdout
    (project / "detections" / "broken.yml").write_text(DETECTION.replace("name: Sample detection\n", ""))
    result = _invoke(dac_test_command, ["--dialect", "sentinel"], project)
    assert result.exit_code == 1
    assert "DAC201" in result.stdout and "1 invalid detection not run" in result.stdout


def test_kql_run(tmp_path):
    make_project(tmp_path)
    query = 'datatable(Name:string, N:long, T:datetime)["a", 1, datetime(2024-12-02 11:00)]\n| extend S = 90m'
    result = _invoke(kql_run_command, ["-", "--format", "json"], tmp_path, stdin=query)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "columns": [
            {"name": "Name", "type": "string"}, {"name": "N", "type": "long"},
            {"name": "T", "type": "datetime"}, {"name": "S", "type": "timespan"},
        ],
        "rows": [["a", 1, "2024-12-02T11:00:00Z", "01:30:00"]],
    }  # fmt: skip
    result = _invoke(kql_run_command, ["-"], tmp_path, stdin=query)
    assert result.exit_code == 0 and "1 row" in result.stdout and "2024-12-02T11:00:00Z" in result.stdout


def test_kql_run_with_data_and_errors(tmp_path):
    make_project(tmp_path)
    (tmp_path / "data.yml").write_text("DeviceNetworkEvents:\n  - {Timestamp: 2024-12-02, DeviceName: ws1}\n")
    query = "DeviceNetworkEvents\n| where Timestamp > ago(1d)\n| project DeviceName"
    args = ["-", "--data", "data.yml", "--now", "2024-12-02T12:00:00Z", "--format", "json"]
    result = _invoke(kql_run_command, args, tmp_path, stdin=query)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows"] == [["ws1"]]

    result = _invoke(kql_run_command, ["-"], tmp_path, stdin="print x = \n| where")
    assert result.exit_code == 1 and result.stderr.startswith("<stdin>:")
    (tmp_path / "q.kql").write_text("print x = 1\n| evaluate no_such_plugin()")
    result = _invoke(kql_run_command, ["q.kql"], tmp_path)
    assert result.exit_code == 1 and result.stderr.startswith("q.kql:2:")
    (tmp_path / "bad.yml").write_text("DeviceNetworkEvents:\n  - {DeviceNam: ws1}\n")
    result = _invoke(kql_run_command, ["q.kql", "--data", "bad.yml"], tmp_path)
    assert result.exit_code == 2 and "bad.yml:2:6: error DAC702" in result.stderr
