"""`dac backtest` against tests/fake_tenant_query.py, with the real clients (requests through ApiSession for
Advanced Hunting, azure-monitor-query for Log Analytics), and the counting query on the emulator."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from dac.backtest import BacktestError, RuleBacktest, Trigger, parse_since, run_backtest, wrap
from dac.backtest.model import count_alerts, kusto_time
from dac.deploy.auth import StaticTokenCredential
from dac.emulator import Emulator
from dac.kql import parse
from dac.kql.types import RowSchema
from dac.model.project import find_project
from dac.model.tables import environment
from dac.tenant.connect import query_client_for
from fake_tenant_query import FakeTenantQuery, Reply, graph_error

TOKEN = "FAKE-TOKEN-b4c7-91e2d0a5f3c8-never-print-me"
TENANT = "99999999-8888-7777-6666-555555555555"
SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"
COLUMNS = [("Kind", "string"), ("Key", "string"), ("Value", "long")]
PORTS = {"noisy": 1001, "quiet": 1002, "normal": 1003}

DETECTION = """\
id: {id}
name: Connection to port {port}
description: A process made an outbound connection to remote port {port}.
kind: {kind}
status: stable
severity: medium
authors: [dac tests]
created: 2026-11-01
modified: 2026-11-01
version: 1.0.0
mitre: {{tactics: [command-and-control], techniques: [T1571]}}
query:
  dialect: defender
  text: |
    DeviceNetworkEvents
    | where Timestamp > ago(1h)
    | where RemotePort == {port}
    | project Timestamp, ReportId, DeviceId, DeviceName, RemoteIP, RemotePort
"""
RULE_PART = """\
schedule: {frequency: 1h, lookback: 1h}
trigger: {operator: gt, threshold: 0}
alert:
  title: "Connection from {{DeviceName}}"
  entities:
    - {type: host, column: DeviceName}
    - {type: ip, column: RemoteIP}
"""


@pytest.fixture
def fake() -> Iterator[FakeTenantQuery]:
    with FakeTenantQuery(graph_token=TOKEN, loganalytics_token=TOKEN, retry_after=1) as server:
        yield server
        assert server.errors == []


def write_project(root: Path, fake: FakeTenantQuery, hunting: bool = False) -> None:
    (root / "dac.yml").write_text(textwrap.dedent(f"""\
        detections: detections
        targets:
          - name: xdr
            platform: defender
            tenant_id: {TENANT}
            api: {{graph: "{fake.graph_base}"}}
          - name: sentinel
            platform: sentinel
            tenant_id: {TENANT}
            subscription_id: {SUBSCRIPTION}
            resource_group: rg-sec
            workspace: law-sec
            api: {{loganalytics: "{fake.loganalytics_base}"}}
            select: {{kind: [detection, hunting]}}
        """), encoding="utf-8")  # fmt: skip
    folder = root / "detections"
    folder.mkdir()
    for index, port in enumerate(PORTS.values()):
        text = DETECTION.format(id=uuid.UUID(int=index + 1), port=port, kind="detection") + RULE_PART
        if port == PORTS["noisy"]:  # Sentinel: one alert per result row (Defender alerts on every row anyway)
            text += "  grouping: per-result\n"
        (folder / f"port-{port}.yml").write_text(text, encoding="utf-8")
    if hunting:
        text = DETECTION.format(id=uuid.UUID(int=99), port=2000, kind="hunting")
        (folder / "hunt.yml").write_text(text, encoding="utf-8")


def hour(offset: int) -> dt.datetime:
    """The start of the hour `offset` hours before the current one."""
    now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    return now - dt.timedelta(hours=offset)


def kusto(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def counts(windows: dict[dt.datetime, int], entities: dict[str, int]) -> list[list]:
    """The wrapped query's answer for these rows per window."""
    days: dict[dt.datetime, int] = {}
    for start, rows in windows.items():
        day = start.replace(hour=0)
        days[day] = days.get(day, 0) + rows
    answer = [["total", "", sum(windows.values())]]
    answer += [["window", kusto(start), rows] for start, rows in windows.items()]
    answer += [["day", kusto(day), rows] for day, rows in days.items()]
    answer += [["entity", name, value] for name, value in entities.items()]
    return answer


NOISY = {hour(3): 40, hour(30): 25, hour(50): 20}  # 85 alerts in 7 days: 12.1 a day on Defender
NORMAL = {hour(5): 2, hour(6): 1}


def can(fake: FakeTenantQuery) -> None:
    fake.answer(f"RemotePort == {PORTS['noisy']}", COLUMNS, counts(NOISY, {"DeviceName": 7, "RemoteIP": 30}))
    fake.answer(f"RemotePort == {PORTS['normal']}", COLUMNS, counts(NORMAL, {"DeviceName": 2, "RemoteIP": 3}))
    # the quiet rule gets the default: no rows at all (a service answers a `total` of 0; both must work)


def run_dac(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DAC_ACCESS_TOKEN": TOKEN, "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "dac", *args], cwd=root, env=env, capture_output=True, text=True,
                          timeout=120)  # fmt: skip


# ------------------------------------------------------------------------------------ the counting query


def test_wrapped_query_widens_ago_and_counts_per_window_day_and_entity():
    query = "let recent = 1h;\nDeviceNetworkEvents\n| where Timestamp > ago(recent) // trailing comment"
    output = RowSchema({"Timestamp": "datetime", "DeviceName": "string", "Remote IP": "string"})
    entities = ["DeviceName", "Remote IP", "Gone"]
    wrapped = wrap(query + ";\n", platform="defender", output=output, entity_columns=entities, frequency_minutes=60,
                   since="7d")  # fmt: skip
    assert "ago((recent) + 7d) // trailing comment\n}" in wrapped.text
    assert "bin(Timestamp, 1h)" in wrapped.text and "bin(Timestamp, 1d)" in wrapped.text
    assert "tostring(['Remote IP'])" in wrapped.text and "Key = 'Remote IP'" in wrapped.text
    assert wrapped.entity_columns == ["DeviceName", "Remote IP"]  # a column the query does not return is left out
    assert parse(wrapped.text).diagnostics == []


def test_wrapped_query_runs_on_the_emulator_with_the_counts_it_promises():
    now = dt.datetime(2024, 12, 2, 12, tzinfo=dt.UTC)
    query = "DeviceNetworkEvents\n| where Timestamp > ago(1h)\n| project Timestamp, DeviceName, RemoteIP"
    output = RowSchema({"Timestamp": "datetime", "DeviceName": "string", "RemoteIP": "string"})
    wrapped = wrap(query, platform="defender", output=output, entity_columns=["DeviceName", "RemoteIP"],
                   frequency_minutes=60, since="7d")  # fmt: skip
    emulator = Emulator(environment("defender", None), now=now)
    rows = [(dt.datetime(2024, 12, 2, 11, 5), "a", "10.0.0.1"), (dt.datetime(2024, 12, 2, 11, 6), "a", "10.0.0.2"),
            (dt.datetime(2024, 11, 30, 3), "b", ""), (dt.datetime(2024, 11, 20, 3), "c", "10.0.0.3")]  # fmt: skip
    emulator.load_table("DeviceNetworkEvents", [{"Timestamp": t.replace(tzinfo=dt.UTC), "DeviceName": d,
                                                 "RemoteIP": ip} for t, d, ip in rows])  # fmt: skip
    result = emulator.run(wrapped.text)
    rule = RuleBacktest("id", "name", "file", frequency_minutes=60, time_column="Timestamp")
    from dac.backtest.model import read_counts

    read_counts(rule, [dict(zip([c for c, _ in result.columns], row, strict=True)) for row in result.rows])
    assert rule.total == 3  # the row of 11-20 is older than 7d + 1h
    assert rule.per_window == {dt.datetime(2024, 12, 2, 11, tzinfo=dt.UTC): 2,
                               dt.datetime(2024, 11, 30, 3, tzinfo=dt.UTC): 1}  # fmt: skip
    assert rule.per_day == {dt.date(2024, 12, 2): 2, dt.date(2024, 11, 30): 1}
    assert rule.entities == {"DeviceName": 2, "RemoteIP": 2}


def test_service_time_formats():
    assert kusto_time("2025-01-02T03:00:00Z") == dt.datetime(2025, 1, 2, 3, tzinfo=dt.UTC)
    assert kusto_time("2025-01-02T03:00:00.1234567Z") == dt.datetime(2025, 1, 2, 3, 0, 0, 123456, tzinfo=dt.UTC)
    assert kusto_time("") is None


# ------------------------------------------------------------------------------------ alerts from counts

START, END = dt.datetime(2025, 1, 1, tzinfo=dt.UTC), dt.datetime(2025, 1, 2, tzinfo=dt.UTC)


def alerts(trigger: Trigger, windows: dict[int, int]) -> RuleBacktest:
    rule = RuleBacktest("id", "n", "f", frequency_minutes=60, time_column="TimeGenerated")
    rule.per_window = {START + dt.timedelta(hours=h): rows for h, rows in windows.items()}
    rule.total = sum(windows.values())
    count_alerts(rule, trigger, START, END)
    return rule


def test_sentinel_threshold_single_alert_per_run():
    rule = alerts(Trigger(per_row=False, operator="gt", threshold=2), {1: 3, 2: 2, 5: 10})
    assert (rule.runs, rule.runs_alerting, rule.alerts) == (24, 2, 2)


def test_sentinel_alert_per_result_is_capped_per_run():
    rule = alerts(Trigger(per_row=True, operator="gt", threshold=0, cap=150), {1: 3, 2: 400})
    assert rule.alerts == 153


def test_operator_lt_alerts_on_empty_windows():
    rule = alerts(Trigger(per_row=False, operator="lt", threshold=1), {1: 3})
    assert rule.alerts == 23  # every run without rows


def test_suppression_skips_runs_after_an_alert():
    rule = alerts(Trigger(per_row=False, operator="gt", threshold=0, suppression_minutes=180), {1: 1, 2: 1, 4: 1, 5: 1})
    # the run after window 1 alerts at 02:00; runs before 05:00 are suppressed (windows 2 and 3), window 4 alerts
    assert rule.alerts == 2


def test_defender_alerts_on_every_row():
    rule = alerts(Trigger(per_row=True), {1: 3, 2: 4})
    assert rule.alerts == 7 and rule.alerts_per_day == {dt.date(2025, 1, 1): 7}


def test_since_parsing():
    assert parse_since("90m") == dt.timedelta(minutes=90)
    with pytest.raises(BacktestError, match="not a duration"):
        parse_since("7 days")


# ------------------------------------------------------------------------------------ the command


@pytest.mark.parametrize("target", ["xdr", "sentinel"])
def test_one_call_per_rule_counts_as_canned_and_flags(tmp_path, fake, target):
    write_project(tmp_path, fake, hunting=True)
    can(fake)
    result = run_dac(tmp_path, "backtest", "--target", target, "--format", "json", "-vv")
    assert result.returncode == 1, result.stderr  # the noisy rule is over the budget
    service = "hunting" if target == "xdr" else "loganalytics"
    sent = fake.queries_of(service)
    assert len(sent) == 3 and len(fake.queries) == 3  # one per detection; the hunting query is skipped
    assert sorted(f"RemotePort == {port}" in q.text for q in sent for port in PORTS.values()).count(True) == 3
    assert all("ago((1h) + 7d)" in q.text for q in sent)
    assert {q.timespan for q in sent} <= {"P7DT1H", "PT608400.0S", "PT608400S"}  # the window + the lookback
    report = json.loads(result.stdout)
    rules = {rule["name"].rsplit(" ", 1)[1]: rule for rule in report["rules"]}
    noisy, quiet, normal = rules["1001"], rules["1002"], rules["1003"]
    assert noisy["flags"] == ["over-budget"] and noisy["results"] == 85 and noisy["alerts"] == 85
    assert noisy["results_per_window"] == {start.strftime("%Y-%m-%dT%H:%MZ"): n for start, n in sorted(NOISY.items())}
    per_day: dict[str, int] = {}
    for start, rows in NOISY.items():
        per_day[start.date().isoformat()] = per_day.get(start.date().isoformat(), 0) + rows
    assert noisy["results_per_day"] == dict(sorted(per_day.items()))
    assert noisy["distinct_entity_values"] == {"DeviceName": 7, "RemoteIP": 30}
    assert quiet["flags"] == ["zero-results"] and quiet["results"] == 0
    assert normal["flags"] == []
    # Sentinel: one alert per run with rows (2 runs); Defender: one per row (3 rows)
    assert normal["alerts"] == (2 if target == "sentinel" else 3)
    hunting = [{"file": "detections/hunt.yml", "reason": "kind hunting: no schedule or trigger to backtest"}]
    assert report["skipped"] == (hunting if target == "sentinel" else [])  # Defender targets take no hunting kind
    # -vv: each wrapped query, as sent, on stderr
    for query in sent:
        assert query.text in result.stderr
    assert TOKEN not in result.stdout + result.stderr


def test_text_and_markdown_reports(tmp_path, fake):
    write_project(tmp_path, fake)
    can(fake)
    text = run_dac(tmp_path, "backtest", "--target", "xdr", "--max-alerts-per-day", "20")
    assert text.returncode == 0, text.stderr  # 12.1 alerts a day is within a budget of 20; zero results do not fail
    assert "ZERO RESULTS: Connection to port 1002" in text.stdout
    assert "ok: Connection to port 1001" in text.stdout and "results 85, alerts 85 (12.1/day" in text.stdout
    assert "3 rule(s), 0 over the noise budget, 1 with zero results, 0 failed" in text.stdout
    markdown = run_dac(tmp_path, "backtest", "--target", "xdr", "--format", "markdown")
    assert markdown.returncode == 1
    assert "| OVER BUDGET | Connection to port 1001 | 85 | 85 | 12.1 |" in markdown.stdout
    assert "| ZERO RESULTS | Connection to port 1002 | 0 | 0 | 0.0 |" in markdown.stdout


def test_paths_limit_the_rules(tmp_path, fake):
    write_project(tmp_path, fake)
    result = run_dac(tmp_path, "backtest", "--target", "xdr", "detections/port-1003.yml")
    assert result.returncode == 0, result.stderr
    assert len(fake.queries) == 1 and "RemotePort == 1003" in fake.queries[0].text


@pytest.mark.parametrize("target", ["xdr", "sentinel"])
def test_faults_are_survived(tmp_path, fake, target):
    write_project(tmp_path, fake)
    can(fake)
    for kind in ("429", "500", "drop"):
        fake.fail_next(1, kind)
    project = find_project(tmp_path)
    waits: list[float] = []
    client = query_client_for(project.target(target), StaticTokenCredential(TOKEN), sleep=waits.append)
    report = run_backtest(project, project.target(target), client)
    assert [rule.error for rule in report.rules] == [None, None, None]
    assert [call.fault for call in fake.calls[:3]] == ["429", "500", "drop"]
    assert len(fake.calls) == 6 and waits[0] == 1  # the 429's Retry-After
    assert report.rules[0].total == 85


def test_faults_through_the_command_and_no_token_in_output(tmp_path, fake):
    write_project(tmp_path, fake)
    can(fake)
    for kind in ("429", "500", "drop"):
        fake.fail_next(1, kind)
    result = run_dac(tmp_path, "backtest", "--target", "xdr", "-vv")
    assert "3 rule(s), 1 over the noise budget, 1 with zero results, 0 failed" in result.stdout, result.stderr
    assert "retrying" in result.stderr
    assert TOKEN not in result.stdout + result.stderr


def test_a_failing_query_is_reported_and_the_others_run(tmp_path, fake):
    write_project(tmp_path, fake)
    fake.add_route("POST", r"^/beta/security/runHuntingQuery$", lambda r: graph_error(
        400, "BadRequest", "Query could not be parsed") if "1002" in r.body["Query"] else Reply(
        200, {"schema": [{"name": n, "type": "String"} for n, _ in COLUMNS], "results": [
            {"Kind": "total", "Key": "", "Value": 0}]}), token=TOKEN, service="hunting", first=True)  # fmt: skip
    result = run_dac(tmp_path, "backtest", "--target", "xdr")
    assert result.returncode == 1
    assert "ERROR: Connection to port 1002" in result.stdout
    assert "HTTP 400" in result.stdout and "Query could not be parsed" in result.stdout
    assert "3 rule(s), 0 over the noise budget, 2 with zero results, 1 failed" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "xdr", "--since", "7x"], "--since '7x' is not a duration"),
        (["--target", "xdr", "--since", "31d"], "Advanced Hunting holds only the last 30 days"),
        (["--target", "nowhere"], "no target named 'nowhere' (targets: xdr, sentinel)"),
    ],
)
def test_usage_errors_exit_2_without_a_query(tmp_path, fake, args, message):
    write_project(tmp_path, fake)
    result = run_dac(tmp_path, "backtest", *args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert fake.queries == []


def test_sentinel_may_look_back_further_than_30_days(tmp_path, fake):
    write_project(tmp_path, fake)
    result = run_dac(tmp_path, "backtest", "--target", "sentinel", "--since", "60d")
    assert result.returncode == 0, result.stderr
    assert len(fake.queries) == 3 and all("ago((1h) + 60d)" in q.text for q in fake.queries)


def test_without_the_extra_a_sentinel_backtest_says_how_to_install_it(tmp_path, fake, monkeypatch):
    from dac.cli import main

    write_project(tmp_path, fake)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DAC_ACCESS_TOKEN", TOKEN)
    monkeypatch.setitem(sys.modules, "azure.monitor.query", None)
    result = CliRunner().invoke(main, ["backtest", "--target", "sentinel"])
    assert result.exit_code == 2
    assert "pip install 'dac[backtest]'" in result.output
