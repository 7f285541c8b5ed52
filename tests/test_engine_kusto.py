"""The Kusto engine (dac.engines) against tests/fake_kusto.py, a local Kusto REST v2 query endpoint that
azure-kusto-data talks to over 127.0.0.1: one query per test run (the fixture lets plus the rendered
query, `now` as query_now), results read back as the emulator's, the protocol round trip (the fake
answering with the emulator's own results) agreeing with the emulator on every seed test, errors as
diagnostics; the KQL literals; the choice of engine on the command line and in dac.yml."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conftest import ROOT, detection_head, make_project
from dac.cli import main
from dac.emulator import Emulator
from dac.emulator.fixtures import parse_datetime
from dac.emulator.ticks import DatetimeTicks
from dac.engines import EngineSettings, engine_factory
from dac.engines.kusto_results import query_result
from dac.engines.literals import datatable, literal, name_literal, string_literal
from dac.kql import parse
from dac.kql.binder import Environment
from dac.model.detection import discover, load_detection
from dac.model.project import find_project
from dac.testing import ERROR, PASSED, planned, run_detection_tests
from dac.variants import build_variants
from fake_kusto import FakeKusto

KQLCHECK = Path(os.environ.get("DAC_KQLCHECK_DIR") or ROOT.parent / "shared" / "tools" / "kqlcheck")


@pytest.fixture
def kusto() -> Any:
    with FakeKusto() as fake:
        yield fake


def _settings(fake: FakeKusto) -> EngineSettings:
    return EngineSettings("kusto", fake.url, "NetDefaultDB", "none")


def _seed_detections() -> list[Any]:
    loaded = [load_detection(file) for file in discover([ROOT / "detections"])]
    detections = [result.detection for result in loaded if result.detection is not None]
    assert detections, "no seed detections"
    return detections


class _Recorder:
    """Wraps an engine factory and keeps every result its engines return."""

    def __init__(self, factory: Any) -> None:
        self.factory, self.results = factory, []

    def __call__(self, environment: Environment, **options: Any) -> Any:
        engine, recorder = self.factory(environment, **options), self

        class Recording:
            def load_table(self, name: str, rows: list[dict[str, Any]]) -> None:
                engine.load_table(name, rows)

            def run(self, text: str) -> Any:
                result = engine.run(text)
                recorder.results.append(result)
                return result

            def close(self) -> None:
                engine.close()

        return Recording()


# --------------------------------------------------------------------------------------- seed tests


def test_each_seed_test_run_sends_one_query_of_fixture_lets_and_the_rendered_query(kusto: FakeKusto) -> None:
    kusto.use_emulator()
    project = find_project(ROOT)
    factory = engine_factory(_settings(kusto))
    runs = 0
    for detection in _seed_detections():
        sent: list[int] = []

        def count(_: Any, sent: list[int] = sent) -> None:
            sent.append(len(kusto.queries))

        results = run_detection_tests(detection, project.tables_dir, engine_factory=factory, on_result=count)
        assert [r.status for r in results] == [PASSED] * len(results), [r.message for r in results]
        assert len(results) == len(planned(detection))
        before = runs
        for number, result in enumerate(results):
            assert sent[number] == before + number + 1, "exactly one query per test run"
            query = kusto.queries[before + number]
            test = detection.data["tests"][result.index]
            assert query.database == "NetDefaultDB"
            assert query.options["query_now"] == _kusto_now(test["now"])
            assert query.options["servertimeout"] == "0:01:00"
            variants = build_variants(detection, project.tables_dir, test.get("parameters"))
            rendered = next(v.text for v in variants if v.dialect == result.dialect)
            spans = [(tokens[0].start, tokens[-1].start + len(tokens[-1].text))
                     for node in parse(rendered).tree.walk() if node.kind == "ExternalData"
                     for tokens in [list(node.tokens())]]  # fmt: skip
            if spans:  # each externaldata inlined as the datatable of its local file, the rest as rendered
                assert "externaldata" not in query.text
                (first, _), (_, last) = spans[0], spans[-1]
                assert query.text.endswith(rendered[last:])
                assert rendered[:first] + "datatable(" in query.text
                lets = query.text[: query.text.index(rendered[:first] + "datatable(")]
            else:
                assert query.text.endswith(rendered)
                lets = query.text[: len(query.text) - len(rendered)]
            assert all(line.startswith(("let ", "    ", "]")) for line in lets.splitlines()), lets
            for table in test.get("tables") or {}:
                assert f"let {table} = datatable(" in query.text
        runs += len(results)
    assert len(kusto.queries) == runs > 0


def _kusto_now(text: Any) -> str:
    value = parse_datetime(str(text))
    return f"{value:%Y-%m-%dT%H:%M:%S}.{value.microsecond:06d}0Z"


def test_round_trip_agrees_with_the_emulator_on_every_seed_test(kusto: FakeKusto) -> None:
    """The fake answers with the emulator's own results: through the Kusto protocol the values come back
    as the emulator gives them (types, nulls, datetimes, dynamic)."""
    kusto.use_emulator()
    project = find_project(ROOT)
    through_kusto = _Recorder(engine_factory(_settings(kusto)))
    direct = _Recorder(lambda environment, **options: Emulator(environment, **options))
    compared = 0
    for detection in _seed_detections():
        ours = run_detection_tests(detection, project.tables_dir, engine_factory=direct)
        theirs = run_detection_tests(detection, project.tables_dir, engine_factory=through_kusto)
        assert [(r.test, r.dialect, r.status) for r in ours] == [(r.test, r.dialect, r.status) for r in theirs]
    assert len(direct.results) == len(through_kusto.results) > 0
    for mine, sent in zip(direct.results, through_kusto.results, strict=True):
        assert sent.columns == mine.columns
        assert [list(row) for row in sent.rows] == [list(row) for row in mine.rows]
        compared += len(mine.rows)
    assert compared > 0  # some seed tests return rows


# --------------------------------------------------------------------------------------- canned answers

DETECTION = (
    detection_head("SSH out", "6f1c2b7e-3d4a-4e5f-8a9b-0c1d2e3f4a5b")
    + """\
query:
  dialect: defender
  text: |
    DeviceNetworkEvents
    | where RemotePort == 22 and Timestamp > ago(1h)
    | project DeviceName, RemotePort, Timestamp, AdditionalFields
tests:
  - name: finds ssh
    dialects: [defender]
    now: 2024-12-02T12:00:00Z
    tables:
      DeviceNetworkEvents:
        - {DeviceName: "ws\\"1", RemotePort: 22, Timestamp: 2024-12-02T11:30:00Z, AdditionalFields: {a: [1, null]}}
    expect:
      rows:
        - {DeviceName: "ws\\"1", RemotePort: 22, Timestamp: 2024-12-02T11:30:00Z, AdditionalFields: {a: [1, null]}}
"""
)
COLUMNS = [("DeviceName", "string"), ("RemotePort", "int"), ("Timestamp", "datetime"), ("AdditionalFields", "string")]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    make_project(tmp_path)
    (tmp_path / "detections" / "ssh.yml").write_text(DETECTION)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_canned_results_pass_and_fail_as_the_emulators_would(project: Path, kusto: FakeKusto) -> None:
    options = ["--engine", "kusto", "--cluster", kusto.url, "--database", "db1", "-j", "1"]
    kusto.answer(COLUMNS, [['ws"1', 22, dt.datetime(2024, 12, 2, 11, 30), '{"a":[1,null]}']])
    passed = _run("test", *options)
    assert passed.exit_code == 0, passed.output
    assert "1 passed" in passed.output
    kusto.answer(COLUMNS, [['ws"1', 22, dt.datetime(2024, 12, 2, 11, 31), '{"a":[1,null]}']])
    failed = _run("test", *options, "--format", "json")
    assert failed.exit_code == 1
    document = json.loads(failed.output)
    assert document["summary"]["failed"] == 1
    assert "DAC709" in json.dumps(document)
    emulator = _run("test", "--format", "json")  # the same test data on the emulator passes
    assert json.loads(emulator.output)["summary"]["passed"] == 1
    assert [q.database for q in kusto.queries] == ["db1", "db1"]
    text = kusto.queries[0].text
    assert text.endswith("DeviceNetworkEvents\n| where RemotePort == 22 and Timestamp > ago(1h)\n"
                         "| project DeviceName, RemotePort, Timestamp, AdditionalFields\n")  # fmt: skip
    assert 'datetime(2024-12-02T11:30:00.0000000Z), "", "ws\\"1"' in text
    assert '"{\\"a\\":[1,null]}"' in text  # AdditionalFields is a string column in Defender
    assert kusto.queries[0].options["query_now"] == "2024-12-02T12:00:00.0000000Z"


def test_service_errors_are_a_diagnostic_on_the_test(project: Path, kusto: FakeKusto) -> None:
    kusto.fail_next(400, "General_BadRequest", "Semantic error: SEM0100: 'where' operator: Failed to resolve "
                    "scalar expression named 'RemotePortz'")  # fmt: skip
    result = _run("test", "--engine", "kusto", "--cluster", kusto.url, "--database", "db", "--format", "json")
    assert result.exit_code == 1
    [test] = json.loads(result.output)["tests"]
    assert test["status"] == ERROR
    assert "DAC710" in json.dumps(json.loads(result.output))
    assert "SEM0100" in test["message"] and "HTTP 400" in test["message"]
    assert "Traceback" not in result.output


def test_an_unreachable_cluster_is_a_diagnostic_not_a_traceback(project: Path) -> None:
    with FakeKusto() as closed:
        url = closed.url  # nothing listens there once it is closed
    result = _run("test", "--engine", "kusto", "--cluster", url, "--database", "db")
    assert result.exit_code == 1
    assert "DAC710" in result.output and "the Kusto engine at" in result.output
    assert "Traceback" not in result.output


def test_a_token_never_reaches_the_output(project: Path, kusto: FakeKusto, monkeypatch: pytest.MonkeyPatch) -> None:
    token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.c2VjcmV0LXRva2VuLXZhbHVl.signature"
    monkeypatch.setenv("DAC_ACCESS_TOKEN", token)
    (project / "dac.yml").write_text(f"detections: detections\nengines:\n  kusto:\n    cluster: {kusto.url}\n"
                                     "    database: db\n    auth: azure\n")  # fmt: skip
    kusto.fail_next(401, "Unauthorized", f"the token {token} is not valid here")
    result = _run("test", "--engine", "kusto", "--format", "json")
    assert result.exit_code == 1
    assert token not in result.output
    assert kusto.queries and kusto.queries[0].authorization == f"Bearer {token}"


def test_platform_data_the_kusto_engine_cannot_supply_is_refused(project: Path, kusto: FakeKusto) -> None:
    text = DETECTION.replace("    expect:", "    file_profiles:\n      - {SHA1: abc, GlobalPrevalence: 3}\n    expect:")
    (project / "detections" / "ssh.yml").write_text(text)
    result = _run("test", "--engine", "kusto", "--cluster", kusto.url, "--database", "db")
    assert result.exit_code == 1
    assert "DAC711" in result.output and "file profiles" in result.output
    assert kusto.queries == []


def test_kql_run_on_the_kusto_engine(project: Path, kusto: FakeKusto) -> None:
    kusto.use_emulator()
    (project / "q.kql").write_text("print n = 1, t = now(), s = dynamic({'k': 'v'})")
    result = _run("kql", "run", "q.kql", "--engine", "kusto", "--cluster", kusto.url, "--database", "db",
                  "--now", "2024-05-01T10:00:00Z", "--format", "json")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["rows"] == [[1, "2024-05-01T10:00:00Z", {"k": "v"}]]
    assert kusto.queries[0].options["query_now"] == "2024-05-01T10:00:00.0000000Z"
    kusto.fail_next(400, "General_BadRequest", "Syntax error: SYN0002: A recognition error occurred.")
    failed = _run("kql", "run", "q.kql", "--engine", "kusto", "--cluster", kusto.url, "--database", "db")
    assert failed.exit_code == 1
    assert "q.kql:1:1: error DAC710" in failed.output and "SYN0002" in failed.output


# --------------------------------------------------------------------------------------- choosing the engine


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--engine", "kusto"], "--engine kusto needs --cluster URL and --database DB"),
        (["--engine", "kusto", "--cluster", "http://localhost:8080"], "--engine kusto needs --database DB"),
        (["--cluster", "http://localhost:8080"], "add --engine kusto"),
        (["--engine", "emulator", "--database", "db"], "add --engine kusto"),
        (["--engine", "kusto", "--cluster", "localhost:8080", "--database", "d"], "is not an http:// or https:// URL"),
    ],
)
@pytest.mark.parametrize("command", [["test"], ["check"], ["kql", "run", "q.kql"]])
def test_engine_options_that_do_not_add_up_are_usage_errors(
    project: Path, command: list[str], args: list[str], message: str
) -> None:
    (project / "q.kql").write_text("print 1")
    result = _run(*command, *args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_without_the_kusto_extra_the_engine_says_how_to_install_it(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("dac.engines.settings.kusto_installed", lambda: False)
    result = _run("test", "--engine", "kusto", "--cluster", "http://localhost:8080", "--database", "db")
    assert result.exit_code == 2
    assert "pip install 'dac[kusto]'" in result.output


@pytest.mark.parametrize(
    ("engines", "where", "message"),
    [
        (
            "  kusto:\n    cluster: localhost\n    database: d\n",
            "dac.yml:4:14",
            "engines.kusto.cluster: 'localhost' must",
        ),
        (
            "  kusto:\n    cluster: https://c.kusto.windows.net\n    database: d\n    auth: none\n",
            "dac.yml:6:11",
            "auth none is for a local Kusto emulator container",
        ),
        (
            "  kusto:\n    cluster: http://localhost:8080\n    databse: d\n",
            "dac.yml:5:5",
            "unknown key 'databse' in engines.kusto (did you mean 'database'?)",
        ),
        ("  kusto:\n    cluster: http://localhost:8080\n", "dac.yml:4:5", "missing required key 'database'"),
        ("  kusto:\n    cluster: http://x\n    database: d\n    auth: aad\n", "dac.yml:6:11", "is not one of"),
        ("  kustoo: {}\n", "dac.yml:3:3", "did you mean 'kusto'"),
    ],
)
def test_engines_in_dac_yml_are_checked_with_positions(project: Path, engines: str, where: str, message: str) -> None:
    (project / "dac.yml").write_text("detections: detections\nengines:\n" + engines)
    result = _run("test", "--engine", "kusto")
    assert result.exit_code == 2
    assert where in result.output and "DAC120" in result.output
    assert message in result.output


def test_engines_in_dac_yml_choose_the_cluster_and_the_command_line_overrides_it(
    project: Path, kusto: FakeKusto
) -> None:
    (project / "dac.yml").write_text(f"detections: detections\nengines:\n  kusto:\n    cluster: {kusto.url}/\n"
                                     "    database: fromconfig\n")  # fmt: skip
    kusto.use_emulator()
    assert _run("test", "--engine", "kusto").exit_code == 0
    assert _run("check", "--engine", "kusto", "--database", "fromcli").exit_code == 0
    assert _run("test").exit_code == 0  # the default stays the emulator: no query sent
    assert [q.database for q in kusto.queries] == ["fromconfig", "fromcli"]
    assert kusto.queries[0].authorization is None  # an http:// cluster: no authentication by default


# --------------------------------------------------------------------------------------- literals

TYPED = {"s": "string", "l": "long", "i": "int", "r": "real", "b": "bool", "d": "datetime", "t": "timespan",
         "g": "guid", "y": "dynamic", "m": "decimal"}  # fmt: skip
ROWS = [
    {"s": 'a"b\\c\nd\te\r', "l": -(2**63), "i": -5, "r": 1.5e300, "b": True, "d": dt.datetime(2024, 1, 2, 3, 4, 5, 6),
     "t": dt.timedelta(days=1, hours=2, minutes=3, seconds=4, microseconds=500000),
     "g": "0B9F5C2E-3D41-4C8E-9A57-6F1D2E7B8A90", "y": {"k": ["é", None, True, 1.5], "q\"": {}},
     "m": Decimal("-1.25")},
    {"s": None, "l": None, "i": None, "r": None, "b": None, "d": None, "t": None, "g": None, "y": None, "m": None},
    {"s": "ü", "l": 0, "i": 2**31 - 1, "r": float("nan"), "b": False, "d": dt.datetime(1970, 1, 1),
     "t": -dt.timedelta(seconds=1.5), "y": "text", "r2": 1},
    {"r": float("inf")},
    {"r": float("-inf"), "y": [1, 2]},
]  # fmt: skip


def test_literals_are_exact_kql() -> None:
    assert literal(None, "long") == "long(null)"
    assert literal(None, "dynamic") == "dynamic(null)"
    assert literal(None, "string") == '""'  # a string is never null
    assert literal('say "hi"\\\n', "string") == '"say \\"hi\\"\\\\\\n"'
    assert literal(3, "int") == "int(3)"
    assert literal(True, "bool") == "bool(true)"
    assert literal(float("nan"), "real") == "real(nan)"
    assert literal(float("-inf"), "real") == "real(-inf)"
    assert literal(0.1, "real") == "real(0.1)"
    assert literal(dt.datetime(2024, 12, 2, 11, 0, 0, 120000), "datetime") == "datetime(2024-12-02T11:00:00.1200000Z)"
    ticked = DatetimeTicks(2024, 1, 1, 0, 0, 0, 123456)
    ticked.extra_ticks = 7
    assert literal(ticked, "datetime") == "datetime(2024-01-01T00:00:00.1234567Z)"
    assert literal(dt.timedelta(days=2, seconds=1), "timespan") == "timespan(2.00:00:01.0000000)"
    assert literal(-dt.timedelta(minutes=5), "timespan") == "timespan(-00:05:00.0000000)"
    assert literal("0B9F5C2E-3D41-4C8E-9A57-6F1D2E7B8A90", "guid") == "guid(0b9f5c2e-3d41-4c8e-9a57-6f1d2e7b8a90)"
    assert literal({"a": [1, "é"]}, "dynamic") == 'dynamic({"a": [1, "é"]})'
    assert literal(Decimal("1.50"), "decimal") == "decimal(1.50)"
    assert name_literal("Timestamp") == "Timestamp"
    assert name_literal("where") == "['where']"
    assert name_literal("my column's") == "['my column\\'s']"
    assert string_literal("") == '""'


def _kqlcheck() -> Path | None:
    script = KQLCHECK / "check.js"
    if (
        shutil.which("node")
        and script.is_file()
        and (KQLCHECK / "node_modules" / "@kusto" / "language-service-next").is_dir()
    ):
        return script
    return None


@pytest.mark.skipif(_kqlcheck() is None, reason="kqlcheck (node + @kusto/language-service-next) not installed")
def test_microsofts_parser_accepts_the_datatables() -> None:
    columns = {**TYPED, "r2": "real", "where": "string", "a b": "long"}
    queries = [f"let T = {datatable(columns, ROWS)};\nT", f"{datatable({'x': 'long'}, [])}",
               f"let ['where'] = {datatable(TYPED, ROWS[:1])}; ['where'] | project s, y"]  # fmt: skip
    stdin = "".join(json.dumps({"id": number, "query": query}) + "\n" for number, query in enumerate(queries))
    done = subprocess.run(["node", str(_kqlcheck()), "--result"], input=stdin, capture_output=True, text=True,
                          timeout=120, check=True)  # fmt: skip
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    for answer in answers:
        assert answer["syntax_errors"] == [] and answer["semantic_errors"] == [], answer
    assert answers[0]["result"] == [[name, kind] for name, kind in columns.items()]


def test_the_emulator_reads_the_datatables_back_as_they_were_written() -> None:
    columns = {name: kind for name, kind in TYPED.items() if name not in ("r", "g", "m")}  # see below
    emulator = Emulator(Environment("defender", {}))
    try:
        result = emulator.run(datatable(columns, ROWS))
    finally:
        emulator.close()
    assert result.columns == list(columns.items())
    first, nulls, third = (dict(zip(columns, row, strict=True)) for row in result.rows[:3])
    assert first == {key: ROWS[0][key] for key in columns}
    assert nulls == {"s": "", **{key: None for key in columns if key != "s"}}
    assert third["t"] == -dt.timedelta(seconds=1.5) and third["y"] == "text" and third["s"] == "ü"
    # (the emulator's datatable types guid as string, decimal as real and takes no real(nan): not checked here)


# --------------------------------------------------------------------------------------- reading results


def test_results_read_as_the_emulators_values() -> None:
    columns = [("s", "string"), ("l", "long"), ("r", "real"), ("d", "datetime"), ("t", "timespan"), ("y", "dynamic"),
               ("g", "guid"), ("m", "decimal"), ("b", "bool"), ("i", "Int32")]  # fmt: skip
    rows = [
        [None, 5, "NaN", "2024-01-01T00:00:00.1234567Z", "-1.02:03:04.5000000", {"a": None},
         "0B9F5C2E-3D41-4C8E-9A57-6F1D2E7B8A90", "1.25", True, 3],
        ["x", None, "-Infinity", "2024-01-01T00:00:00Z", "00:00:01", "text", None, None, None, None],
    ]  # fmt: skip
    result = query_result(columns, rows)
    assert result.columns[-1] == ("i", "int")
    first, second = result.rows
    assert first[0] == "" and first[1] == 5 and first[2] != first[2]  # NaN
    assert first[3] == dt.datetime(2024, 1, 1, 0, 0, 0, 123456) and first[3].extra_ticks == 7
    assert first[3].tzinfo is None
    assert first[4] == -dt.timedelta(days=1, hours=2, minutes=3, seconds=4.5)
    assert first[5] == {"a": None} and first[6] == "0b9f5c2e-3d41-4c8e-9a57-6f1d2e7b8a90"
    assert first[7] == 1.25 and first[8] is True and first[9] == 3
    assert second[2] == float("-inf") and second[3] == dt.datetime(2024, 1, 1) and second[4] == dt.timedelta(seconds=1)
    assert second[5] == "text" and second[6:] == [None, None, None, None]
