"""`dac schemas pull` against local servers with the real clients: ARM tables and saved searches on
tests/fakeapi.py (requests through ApiSession), getschema through Log Analytics on tests/fake_tenant_query.py
(azure-monitor-query), Graph getHuntingSchema and runHuntingQuery on the same fake."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dac.cli import main
from dac.model.tables import environment, load_custom_functions, shipped_tables
from dac.schemas_sources import WorkspaceFunction, getschema_union, invocation, kql_type, split_parameters
from fake_tenant_query import HUNTING_TYPES, FakeTenantQuery, Reply, Request, graph_error, logs_error
from fakeapi import FakeApi

TOKEN = "FAKE-TOKEN-5c1e-schemas-pull-never-print-me"
TENANT = "99999999-8888-7777-6666-555555555555"
SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"
APP_COLUMNS = [("UserName_s", "string"), ("Action_s", "string"), ("Bytes_d", "real"), ("Props_d", "dynamic"),
               ("Ok_b", "boolean"), ("When_t", "dateTime")]  # fmt: skip
GETSCHEMA = [("ColumnName", "string"), ("ColumnOrdinal", "int"), ("DataType", "string"), ("ColumnType", "string")]
PARSER_ROWS = [["TimeGenerated", 0, "System.DateTime", "datetime"], ["User", 1, "System.String", "string"],
               ["Bytes", 2, "System.Int64", "long"], ["Allowed", 3, "System.SByte", "bool"]]  # fmt: skip
ARM_TYPES = {"bool": "boolean", "datetime": "dateTime"}

SENTINEL_DETECTION = """\
id: 3f1c9a52-7a8e-4b1d-9a3e-{suffix}
name: {name}
description: Reads the workspace's own data.
kind: hunting
status: experimental
authors: [dac tests]
created: 2026-11-01
modified: 2026-11-01
version: 1.0.0
query:
  dialect: sentinel
  text: |
{query}
variants:
  defender: {{enabled: false}}
"""
TESTS = """\
    tests:
      - name: one row
        now: 2026-11-01T12:00:00Z
        tables:
          {table}:
            - {{TimeGenerated: 2026-11-01T11:00:00Z, {row}}}
        expect:
          count: 1
          rows: [{{TimeGenerated: 2026-11-01T11:00:00Z}}]
    """
APP_ROW = "UserName_s: bob, Action_s: delete, Ok_b: true, Bytes_d: 1.5, Props_d: {path: /x}"
DEFENDER_DETECTION = SENTINEL_DETECTION.replace("dialect: sentinel", "dialect: defender").replace(
    "defender: {{enabled: false}}", "sentinel: {{enabled: false}}"
)


@pytest.fixture
def arm() -> Iterator[FakeApi]:
    with FakeApi(arm_token=TOKEN, subscription=SUBSCRIPTION, resource_group="rg-sec", workspace="law-sec") as api:
        yield api
        assert api.errors == []


@pytest.fixture
def query() -> Iterator[FakeTenantQuery]:
    with FakeTenantQuery(graph_token=TOKEN, loganalytics_token=TOKEN, arm_token=TOKEN) as fake:
        yield fake
        assert fake.errors == []


@pytest.fixture
def project(tmp_path: Path, arm: FakeApi, query: FakeTenantQuery, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "dac.yml").write_text(textwrap.dedent(f"""\
        detections: detections
        tables: tables
        targets:
          - name: law
            platform: sentinel
            tenant_id: {TENANT}
            subscription_id: {SUBSCRIPTION}
            resource_group: rg-sec
            workspace: law-sec
            api: {{arm: "{arm.arm_base}", loganalytics: "{query.loganalytics_base}"}}
          - name: xdr
            platform: defender
            tenant_id: {TENANT}
            api: {{graph: "{query.graph_base}"}}
        """), encoding="utf-8")  # fmt: skip
    (tmp_path / "detections").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DAC_ACCESS_TOKEN", TOKEN)
    return tmp_path


def seed_sentinel(arm: FakeApi, query: FakeTenantQuery) -> None:
    arm.put_workspace_table("MyApp_CL", APP_COLUMNS)
    signin = [(name, ARM_TYPES.get(type_, type_)) for name, type_ in shipped_tables("sentinel")["SigninLogs"].items()]
    arm.put_workspace_table("SigninLogs", [], standard_columns=signin, table_type="Microsoft")
    security = [(name, ARM_TYPES.get(t, t)) for name, t in shipped_tables("sentinel")["SecurityEvent"].items()]
    arm.put_workspace_table("SecurityEvent", [("Extra_s", "string")], standard_columns=security, table_type="Microsoft")
    arm.put_workspace_table("MyApp_SRCH", [("x", "string")], table_type="SearchResults")
    arm.put_saved_search("parser1", {"category": "Functions", "displayName": "MyApp parser", "query": "MyApp_CL",
                                     "functionAlias": "MyAppParser", "version": 2})  # fmt: skip
    defaults = "since:timespan = 1d, names:dynamic = dynamic(['a', 'b'])"
    arm.put_saved_search("param1", {"category": "Functions", "displayName": "with defaults", "query": "print 1",
                                    "functionAlias": "RecentApp", "functionParameters": defaults})  # fmt: skip
    arm.put_saved_search("args1", {"category": "Functions", "displayName": "needs arguments", "query": "T",
                                   "functionAlias": "NeedsArgs",
                                   "functionParameters": "T:(*), user:string"})  # fmt: skip
    arm.put_saved_search("scalar1", {"category": "Functions", "displayName": "scalar", "query": "1",
                                     "functionAlias": "ScalarFn"})  # fmt: skip
    arm.put_saved_search("evil1", {"category": "Functions", "displayName": "injection", "query": "1",
                                   "functionAlias": "x | take 1; print"})  # fmt: skip
    arm.put_saved_search("hunt1", {"category": "Hunting Queries", "displayName": "a hunting query",
                                   "query": "SigninLogs | take 1"})  # fmt: skip
    query.answer("MyAppParser | getschema", GETSCHEMA, PARSER_ROWS, service="loganalytics")
    query.answer("RecentApp() | getschema", GETSCHEMA, PARSER_ROWS[:2], service="loganalytics")

    def refuse_scalar(request: Request) -> Reply:
        text = (request.body or {}).get("query", "")
        if text.startswith("ScalarFn"):
            return logs_error(400, "BadArgumentError", "The request had some invalid properties",
                              {"code": "SemanticError", "message": "getschema expects a tabular input"})  # fmt: skip
        return query._logs(request)

    query.add_route("POST", r"^/v1(?P<resource>/subscriptions/.+)/query$", refuse_scalar, token=TOKEN,
                    service="loganalytics", first=True)  # fmt: skip


def hunting_schema(tables: dict[str, list[tuple[str, str]]], functions: dict[str, list[tuple[str, str]]]) -> dict:
    def columns(pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
        return [{"name": n, "dataType": HUNTING_TYPES.get(t, t), "description": ""} for n, t in pairs]

    built_in = [{"huntingFunctionId": 1, "name": "FileProfile", "path": "Built-in",
                 "outputColumns": columns([("SHA1", "string")])}]  # fmt: skip
    saved = [{"huntingFunctionId": 100 + i, "name": name, "path": "Shared", "inputParameters": [],
              "outputColumns": columns(pairs)} for i, (name, pairs) in enumerate(functions.items())]  # fmt: skip
    return {
        "tables": [{"name": name, "description": "", "columns": columns(pairs)} for name, pairs in tables.items()],
        "functions": {"builtInFunctions": built_in, "savedFunctions": saved},
    }


def serve_hunting_schema(query: FakeTenantQuery, answer: dict | None) -> None:
    def handler(_request: Request) -> Reply:
        if answer is None:
            return graph_error(404, "BadRequest", "Resource not found for the segment 'getHuntingSchema'.")
        return Reply(200, {"@odata.context": "https://graph.microsoft.com/beta/$metadata#microsoft.graph.security."
                           "huntingSchemaResult", **answer})  # fmt: skip

    query.add_route("GET", r"^/beta/security/getHuntingSchema$", handler, token=TOKEN, service="graph")


def pull(*args: str) -> Any:
    return CliRunner().invoke(main, ["schemas", "pull", *args], catch_exceptions=False)


def detection(folder: Path, name: str, text: str, template: str = SENTINEL_DETECTION, tests: str = "") -> None:
    body = textwrap.indent(text.strip() + "\n", "    ")
    suffix = f"{abs(hash(name)) % 10**12:012d}"
    content = template.format(suffix=suffix, name=name, query=body.rstrip()) + textwrap.dedent(tests)
    (folder / "detections" / f"{name}.yml").write_text(content, encoding="utf-8")


def validate(folder: Path) -> Any:
    return CliRunner().invoke(main, ["validate", str(folder / "detections")], catch_exceptions=False)


def read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------------- Sentinel


def test_sentinel_tables_and_functions_are_written_and_validate(project: Path, arm: FakeApi, query: FakeTenantQuery):
    seed_sentinel(arm, query)
    detection(project, "custom-log", 'MyApp_CL\n| where Action_s == "delete" and Ok_b\n| project TimeGenerated, '
              "UserName_s, Bytes_d, Props_d.path", tests=TESTS.format(table="MyApp_CL", row=APP_ROW))  # fmt: skip
    detection(project, "parser-bare", 'MyAppParser\n| where User == "x" and Allowed\n| summarize sum(Bytes) by User')
    detection(project, "parser-call", "MyAppParser()\n| where Bytes > 10\n| project TimeGenerated, User",
              tests=TESTS.format(table="MyAppParser", row="User: bob, Bytes: 20"))  # fmt: skip
    detection(project, "function-defaults", "RecentApp(2d)\n| project User")
    assert validate(project).exit_code == 1  # before the pull: unknown table and functions

    result = pull("--target", "law")
    assert result.exit_code == 0, result.output
    tables = project / "tables"
    app = read(tables / "sentinel" / "MyApp_CL.json")
    assert app["generated"]["by"] == "dac schemas pull" and app["generated"]["target"] == "law"
    assert app["name"] == "MyApp_CL" and app["dialect"] == "sentinel" and "kind" not in app
    assert [(c["name"], c["type"]) for c in app["columns"]] == [
        ("TenantId", "guid"), ("TimeGenerated", "datetime"), ("Type", "string"), ("UserName_s", "string"),
        ("Action_s", "string"), ("Bytes_d", "real"), ("Props_d", "dynamic"), ("Ok_b", "bool"), ("When_t", "datetime"),
    ]  # fmt: skip
    parser = read(tables / "sentinel" / "functions" / "MyAppParser.json")
    assert parser["kind"] == "function"
    assert [(c["name"], c["type"]) for c in parser["columns"]] == [
        ("TimeGenerated", "datetime"),
        ("User", "string"),
        ("Bytes", "long"),
        ("Allowed", "bool"),
    ]
    assert [c["name"] for c in read(tables / "sentinel" / "functions" / "RecentApp.json")["columns"]] == [
        "TimeGenerated",
        "User",
    ]
    # a Microsoft table as dac ships it is not written; one with an added column is
    assert not (tables / "sentinel" / "SigninLogs.json").exists()
    assert read(tables / "sentinel" / "SecurityEvent.json")["columns"][-1] == {"name": "Extra_s", "type": "string"}
    assert sorted(p.name for p in (tables / "sentinel").rglob("*.json")) == [
        "MyAppParser.json",
        "MyApp_CL.json",
        "RecentApp.json",
        "SecurityEvent.json",
    ]
    texts = [q.text for q in query.queries_of("loganalytics")]
    assert sorted(texts) == ["MyAppParser | getschema", "RecentApp() | getschema", "ScalarFn | getschema"]
    assert {q.resource for q in query.queries_of("loganalytics")} == {
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-sec/providers/Microsoft.OperationalInsights/workspaces/law-sec"
    }
    assert arm.count("GET", r"/workspaces/law-sec/tables$") == 1
    out = result.output
    assert "written   tables/sentinel/MyApp_CL.json (table MyApp_CL)" in out
    assert "skipped   function NeedsArgs: its parameters need arguments (T:(*), user:string)" in out
    assert "skipped   function ScalarFn: getschema failed" in out and "getschema expects a tabular input" in out
    assert "skipped   table MyApp_SRCH: a SearchResults table" in out
    assert "skipped   function x | take 1; print: the alias is not a plain identifier" in out
    assert "Summary: 4 written, 1 same as shipped, 4 not pulled" in out

    outcome = validate(project)
    assert outcome.exit_code == 0, outcome.output
    tested = CliRunner().invoke(main, ["test", str(project / "detections")], catch_exceptions=False)
    assert tested.exit_code == 0 and "2 tests: 2 passed" in tested.output, tested.output
    env = environment("sentinel", tables)
    assert env.tables["MyApp_CL"]["Ok_b"] == "bool" and "MyAppParser" in env.function_tables
    assert "MyApp_CL" not in environment("defender", tables).tables  # written for Sentinel only
    assert set(load_custom_functions(tables)["sentinel"]) == {"MyAppParser", "RecentApp"}


def test_a_second_pull_rewrites_its_own_files_only_when_the_tenant_changed(
    project: Path, arm: FakeApi, query: FakeTenantQuery
):
    seed_sentinel(arm, query)
    assert pull("--target", "law").exit_code == 0
    file = project / "tables" / "sentinel" / "MyApp_CL.json"
    first = file.read_bytes()
    again = pull("--target", "law", "-v")
    assert again.exit_code == 0 and "unchanged tables/sentinel/MyApp_CL.json" in again.output
    assert "shipped   table SigninLogs: same columns as the schema dac ships" in again.output
    assert file.read_bytes() == first  # deterministic: the same tenant gives the same bytes
    arm.put_workspace_table("MyApp_CL", [*APP_COLUMNS, ("Region_s", "string")])
    third = pull("--target", "law")
    assert "updated   tables/sentinel/MyApp_CL.json (table MyApp_CL)" in third.output
    assert read(file)["columns"][-1] == {"name": "Region_s", "type": "string"}
    # --all writes the tables dac ships as they are too
    assert pull("--target", "law", "--all").exit_code == 0
    assert (project / "tables" / "sentinel" / "SigninLogs.json").is_file()


def test_output_is_the_same_bytes_in_two_projects(tmp_path: Path, arm: FakeApi, query: FakeTenantQuery, project: Path):
    seed_sentinel(arm, query)
    arm.table_page_size = 2  # paged listing: the same files
    assert pull("--target", "law").exit_code == 0
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "dac.yml").write_text((project / "dac.yml").read_text(encoding="utf-8"), encoding="utf-8")
    os.chdir(copy)
    arm.table_page_size = None
    assert pull("--target", "law").exit_code == 0
    first = {p.relative_to(project / "tables"): p.read_bytes() for p in (project / "tables").rglob("*.json")}
    second = {p.relative_to(copy / "tables"): p.read_bytes() for p in (copy / "tables").rglob("*.json")}
    assert first == second and len(first) == 4


def test_hand_written_files_are_kept_without_force_and_overwritten_with_it(
    project: Path, arm: FakeApi, query: FakeTenantQuery
):
    seed_sentinel(arm, query)
    mine = project / "tables" / "mine.json"
    mine.parent.mkdir()
    hand = {"name": "MyApp_CL", "dialect": "sentinel", "columns": [{"name": "Msg_s", "type": "string"}]}
    mine.write_text(json.dumps(hand, indent=2) + "\n", encoding="utf-8")
    parser = project / "tables" / "sentinel" / "functions" / "MyAppParser.json"
    parser.parent.mkdir(parents=True)
    parser.write_text('{"name": "MyAppParser", "kind": "function", "columns": []}\n', encoding="utf-8")
    before = mine.read_bytes(), parser.read_bytes()

    result = pull("--target", "law")
    assert result.exit_code == 0
    assert "kept      tables/mine.json (table MyApp_CL): hand-written (--force overwrites it)" in result.output
    assert "kept      tables/sentinel/functions/MyAppParser.json (function MyAppParser)" in result.output
    assert (mine.read_bytes(), parser.read_bytes()) == before
    assert not (project / "tables" / "sentinel" / "MyApp_CL.json").exists()  # the name stays declared once

    forced = pull("--target", "law", "--force")
    assert forced.exit_code == 0
    assert "updated   tables/mine.json (table MyApp_CL): hand-written, overwritten (--force)" in forced.output
    assert read(mine)["generated"]["by"] == "dac schemas pull" and len(read(mine)["columns"]) == 9
    assert read(parser)["kind"] == "function" and len(read(parser)["columns"]) == 4
    assert not (project / "tables" / "sentinel" / "MyApp_CL.json").exists()
    # now generated: a later pull without --force rewrites it
    arm.put_workspace_table("MyApp_CL", APP_COLUMNS[:1])
    assert "updated   tables/mine.json" in pull("--target", "law").output


def test_a_hand_written_file_added_after_a_pull_replaces_the_generated_one(
    project: Path, arm: FakeApi, query: FakeTenantQuery
):
    seed_sentinel(arm, query)
    assert pull("--target", "law").exit_code == 0
    generated = project / "tables" / "sentinel" / "MyApp_CL.json"
    mine = project / "tables" / "custom" / "app.json"
    mine.parent.mkdir()
    mine.write_text('{"name": "MyApp_CL", "columns": [{"name": "Msg_s", "type": "string"}]}\n', encoding="utf-8")
    result = pull("--target", "law")
    assert (
        "kept      tables/custom/app.json (table MyApp_CL): hand-written (--force overwrites it); the generated "
        "MyApp_CL.json it replaces was removed" in result.output
    )
    assert not generated.exists() and environment("sentinel", project / "tables").tables["MyApp_CL"] == {
        "Msg_s": "string"
    }
    forced = pull("--target", "law", "--force")
    assert "updated   tables/custom/app.json" in forced.output and not generated.exists()
    assert read(mine)["dialect"] == "sentinel"


def test_tables_gone_from_the_tenant_are_stale_and_pruned_on_request(
    project: Path, arm: FakeApi, query: FakeTenantQuery
):
    seed_sentinel(arm, query)
    assert pull("--target", "law").exit_code == 0
    file = project / "tables" / "sentinel" / "MyApp_CL.json"
    del arm.workspace_tables()["myapp_cl"]
    result = pull("--target", "law")
    assert "stale     tables/sentinel/MyApp_CL.json (table MyApp_CL): no longer in the tenant" in result.output
    assert file.is_file()
    pruned = pull("--target", "law", "--prune")
    assert "removed   tables/sentinel/MyApp_CL.json" in pruned.output and not file.exists()


def test_hostile_table_names_never_become_paths(project: Path, arm: FakeApi, query: FakeTenantQuery):
    seed_sentinel(arm, query)
    for name in ("../../escape", "..", "a/b", "CON", "x" * 300, "tab\tle", "..\\up", "\x1b[31mred"):
        arm.put_workspace_table(name, [("Msg_s", "string")])
    arm.put_workspace_table("Twin_CL", [("A_s", "string")])
    arm.put_workspace_table("twin_cl", [("B_s", "string")])  # the fake keys names case-blind: replaces Twin_CL
    arm.workspace_tables()["other"] = {**arm.workspace_tables()["twin_cl"], "name": "TWIN_CL"}
    (project / "tables").mkdir()
    outside = project.parent / "escape.json"
    result = pull("--target", "law")
    assert result.exit_code == 1, result.output
    written = sorted(p.relative_to(project).as_posix() for p in project.rglob("*.json"))
    assert written == [f"tables/sentinel/{n}.json" for n in ("MyApp_CL", "SecurityEvent", "functions/MyAppParser",
                                                             "functions/RecentApp", "twin_cl")] or written == sorted(
        f"tables/sentinel/{n}.json" for n in ("MyApp_CL", "SecurityEvent", "functions/MyAppParser",
                                               "functions/RecentApp", "TWIN_CL"))  # fmt: skip
    assert not outside.exists() and not (project / "escape.json").exists()
    assert "failed    table ../../escape: not written: the name holds characters other than" in result.output
    assert "failed    table CON: not written: the name is reserved for a device on Windows" in result.output
    assert "its file name clashes with" in result.output
    assert "\x1b" not in result.output and "table \\x1b[31mred: not written" in result.output  # no escape codes
    assert "x" * 77 + "..." in result.output and "x" * 81 not in result.output
    assert validate(project).exit_code == 0  # what was written loads


def test_a_symlinked_platform_folder_out_of_the_project_is_refused(
    project: Path, arm: FakeApi, query: FakeTenantQuery, tmp_path: Path
):
    seed_sentinel(arm, query)
    elsewhere = tmp_path.parent / f"{tmp_path.name}-elsewhere"
    elsewhere.mkdir()
    (project / "tables").mkdir()
    (project / "tables" / "sentinel").symlink_to(elsewhere, target_is_directory=True)
    result = pull("--target", "law")
    assert result.exit_code in (1, 2)
    assert list(elsewhere.iterdir()) == []


# ---------------------------------------------------------------------------------------------- Defender


def test_defender_tables_and_saved_functions_from_get_hunting_schema(project: Path, query: FakeTenantQuery):
    shipped = shipped_tables("defender")["DeviceProcessEvents"]
    serve_hunting_schema(query, hunting_schema(
        {"DeviceProcessEvents": list(shipped.items()),
         "DeviceBrandNewEvents": [("Timestamp", "datetime"), ("DeviceName", "string"), ("Score", "int"),
                                  ("Details", "dynamic")]},
        {"MyHuntFunc": [("DeviceId", "string"), ("Risk", "real")]},
    ))  # fmt: skip
    detection(project, "new-table", 'DeviceBrandNewEvents\n| where Score > 3\n| project Timestamp, DeviceName, '
              "Details.kind", DEFENDER_DETECTION)  # fmt: skip
    detection(project, "saved-function", "MyHuntFunc\n| where Risk > 0.5", DEFENDER_DETECTION)
    assert validate(project).exit_code == 1

    result = pull("--target", "xdr")
    assert result.exit_code == 0, result.output
    folder = project / "tables" / "defender"
    new = read(folder / "DeviceBrandNewEvents.json")
    assert new["dialect"] == "defender" and new["generated"]["source"] == "Advanced Hunting table"
    assert [(c["name"], c["type"]) for c in new["columns"]] == [
        ("Timestamp", "datetime"),
        ("DeviceName", "string"),
        ("Score", "int"),
        ("Details", "dynamic"),
    ]
    assert read(folder / "functions" / "MyHuntFunc.json")["kind"] == "function"
    assert not (folder / "DeviceProcessEvents.json").exists()  # as shipped
    assert not (folder / "functions" / "FileProfile.json").exists()  # built-in functions are dac's own
    assert query.queries == []  # one GET, no hunting query
    assert "Summary: 2 written, 1 same as shipped" in result.output
    assert validate(project).exit_code == 0


def test_defender_without_get_hunting_schema_asks_getschema_in_one_hunting_query(project: Path, query: FakeTenantQuery):
    serve_hunting_schema(query, None)
    rows = [["DeviceEvents", "Timestamp", 0, "datetime", "System.DateTime"],
            ["DeviceEvents", "NewColumn", 1, "string", "System.String"],
            ["DeviceInfo", "Timestamp", 0, "datetime", "System.DateTime"]]  # fmt: skip
    columns = [("TableName", "string"), ("ColumnName", "string"), ("ColumnOrdinal", "int"), ("ColumnType", "string"),
               ("DataType", "string")]  # fmt: skip
    query.answer("getschema", columns, rows, service="hunting")
    result = pull("--target", "xdr")
    assert result.exit_code == 0, result.output
    assert "note: Graph has no getHuntingSchema here" in result.output
    (sent,) = query.queries_of("hunting")
    assert sent.text.startswith("union isfuzzy=true (AADSignInEventsBeta | getschema")
    assert '(DeviceEvents | getschema | extend TableName = "DeviceEvents")' in sent.text
    assert [(c["name"], c["type"]) for c in read(project / "tables" / "defender" / "DeviceEvents.json")["columns"]] == [
        ("Timestamp", "datetime"),
        ("NewColumn", "string"),
    ]


# ---------------------------------------------------------------------------------------------- bad input


def test_unknown_target_and_missing_tables_folder_are_usage_errors(project: Path):
    result = pull("--target", "nope")
    assert result.exit_code == 2 and "no target named 'nope'" in result.output
    config = project / "dac.yml"
    config.write_text(config.read_text(encoding="utf-8").replace("tables: tables\n", ""), encoding="utf-8")
    result = pull("--target", "law")
    assert result.exit_code == 2 and "names no `tables:` folder" in result.output
    config.write_text("tables: ../outside\n" + config.read_text(encoding="utf-8"), encoding="utf-8")
    result = pull("--target", "law")
    assert result.exit_code == 2 and "leaves the project" in result.output


def test_service_errors_are_one_message_and_never_show_the_token(project: Path, arm: FakeApi, query: FakeTenantQuery):
    seed_sentinel(arm, query)
    env = {**os.environ, "DAC_ACCESS_TOKEN": TOKEN + "-wrong", "NO_COLOR": "1"}
    done = subprocess.run([sys.executable, "-m", "dac", "schemas", "pull", "--target", "law"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 1
    assert "dac: error: listing the workspace's tables failed" in done.stderr and "HTTP 401" in done.stderr
    assert "Traceback" not in done.stderr and TOKEN not in done.stdout + done.stderr
    env["DAC_ACCESS_TOKEN"] = TOKEN
    done = subprocess.run([sys.executable, "-m", "dac", "schemas", "pull", "--target", "law"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert TOKEN not in done.stdout + done.stderr


def test_throttling_and_dropped_connections_are_survived(project: Path, arm: FakeApi, query: FakeTenantQuery):
    seed_sentinel(arm, query)
    arm.fail_next(1, "429", method="GET", path=r"/tables$", retry_after=0)
    arm.fail_next(1, "drop", method="GET", path=r"/savedSearches$")
    query.fail_next(1, "429", service="loganalytics")
    query.fail_next(1, "drop", service="loganalytics")
    result = pull("--target", "law")
    assert result.exit_code == 0, result.output
    assert "Summary: 4 written" in result.output
    assert arm.count("GET", r"/tables$") == 2 and arm.count("GET", r"/savedSearches$") == 2
    assert len(query.queries_of("loganalytics")) == 5  # 3 functions, 2 of their queries sent twice


def test_help_names_the_command():
    result = CliRunner().invoke(main, ["schemas", "pull", "--help"])
    assert result.exit_code == 0 and "--force" in result.output and "getschema" in result.output


# ---------------------------------------------------------------------------------------------- pieces


def test_function_parameters_and_types():
    assert split_parameters("a:string = 'x,y', b:dynamic = dynamic([1, 2]), T:(*)") == [
        "a:string = 'x,y'",
        "b:dynamic = dynamic([1, 2])",
        "T:(*)",
    ]
    assert invocation(WorkspaceFunction("F", "")) == "F"
    assert invocation(WorkspaceFunction("F", "a:int = 1")) == "F()"
    assert invocation(WorkspaceFunction("F", "a:int = 1, b:string")) is None
    assert [kql_type(t) for t in ("dateTime", "boolean", "Int64", "Object", "System.SByte", "Double", "weird")] == [
        "datetime",
        "bool",
        "long",
        "dynamic",
        "bool",
        "real",
        "weird",
    ]
    assert "evil" not in getschema_union(["Good", "x | evil"])
