"""Deployer acceptance: plan, deploy, prune, drift and pull against the local fake Graph/ARM server.

Everything goes through the real code path: dac.yml targets, detection files, the rule bodies, the
requests-based clients and a real HTTP server on 127.0.0.1 (tests/fakeapi.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dac.deploy.apply import apply_plan
from dac.deploy.auth import StaticTokenCredential
from dac.deploy.connect import client_for
from dac.deploy.plan import plan_target
from dac.model.project import find_project
from fakeapi import FakeApi

TOKEN = "FAKE-TOKEN-d4c-3f9a1b7e2c5d8f0a6b4e-never-print-me"
SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"
TENANT = "99999999-8888-7777-6666-555555555555"
RESOURCE_GROUP, WORKSPACE = "rg-sec", "law-sec"
COUNT = 60
PLATFORMS = ("defender", "sentinel")
TARGETS = {"defender": "xdr", "sentinel": "sentinel"}

DETECTION = """\
id: {id}
name: Connection to port {port}
description: |
  A process made an outbound connection to remote port {port}.
kind: detection
status: stable
severity: medium
authors: [dac tests]
created: 2026-11-01
modified: 2026-11-01
version: 1.0.0
tags: [network]
mitre:
  tactics: [command-and-control]
  techniques: [T1571]
query:
  dialect: defender
  text: |
    DeviceNetworkEvents
    | where RemotePort == {port}
    | project Timestamp, ReportId, DeviceId, DeviceName, RemoteIP, RemotePort
schedule: {{frequency: 1h, lookback: 1h}}
trigger: {{operator: gt, threshold: 0}}
alert:
  title: "Connection to port {port} from {{{{DeviceName}}}}"
  entities:
    - {{type: host, column: DeviceName}}
    - {{type: ip, column: RemoteIP}}
"""


@pytest.fixture
def api() -> Iterator[FakeApi]:
    with FakeApi(graph_token=TOKEN, arm_token=TOKEN, page_size=25, subscription=SUBSCRIPTION,
                 resource_group=RESOURCE_GROUP, workspace=WORKSPACE, slow_seconds=3.0) as fake:  # fmt: skip
        yield fake
        assert fake.errors == []


def write_project(root: Path, api: FakeApi, count: int = COUNT) -> list[Path]:
    (root / "dac.yml").write_text(textwrap.dedent(f"""\
        detections: detections
        targets:
          - name: xdr
            platform: defender
            tenant_id: {TENANT}
            api: {{graph: "{api.graph_base}"}}
            concurrency: 6
          - name: sentinel
            platform: sentinel
            tenant_id: {TENANT}
            subscription_id: {SUBSCRIPTION}
            resource_group: {RESOURCE_GROUP}
            workspace: {WORKSPACE}
            api: {{arm: "{api.arm_base}"}}
            concurrency: 6
        """), encoding="utf-8")  # fmt: skip
    folder = root / "detections" / "network"
    folder.mkdir(parents=True)
    files = []
    for index in range(count):
        port = 1000 + index
        path = folder / f"port-{port}.yml"
        path.write_text(DETECTION.format(id=uuid.UUID(int=index + 1), port=port), encoding="utf-8")
        files.append(path)
    return files


def seed_unowned(api: FakeApi) -> None:
    """Five rules made in the portals: no dac marker, so dac must never touch them."""
    for index in range(5):
        api.put_defender_rule({
            "id": f"portal-{index}", "displayName": f"Portal rule {index}", "description": "made by hand",
            "status": "enabled", "queryCondition": {"queryText": "DeviceProcessEvents\n| where FileName == 'x.exe'"},
            "schedule": {"frequency": "PT1H"},
            "detectionAction": {"alertTemplate": {"title": f"Portal {index}", "severity": "low", "description": "x",
                                                  "tactics": [], "entityMappings": {"hosts": [
                                                      {"nameColumn": "DeviceName"}]}},
                                "organizationalScope": None},
        })  # fmt: skip
        api.put_sentinel_rule(None, None, None, f"portal-{index}", "Scheduled", {
            "displayName": f"Portal rule {index}", "description": "made by hand", "severity": "Low",
            "enabled": True, "query": "SecurityEvent\n| where EventID == 4625", "queryFrequency": "PT1H",
            "queryPeriod": "PT1H", "triggerOperator": "GreaterThan", "triggerThreshold": 0,
            "suppressionDuration": "PT5H", "suppressionEnabled": False, "tactics": [], "techniques": [],
        })  # fmt: skip


def live_rules(api: FakeApi, platform: str) -> dict:
    return dict(api.defender_rules) if platform == "defender" else dict(api.sentinel_rules())


def session_options(sleeps: list[float] | None = None) -> dict:
    return {"sleep": (sleeps if sleeps is not None else []).append, "connect_timeout": 2.0, "read_timeout": 1.5}


def plan_and_apply(root: Path, platform: str, prune: bool = False, **options):
    project = find_project(root)
    target = project.target(TARGETS[platform])
    client = client_for(target, StaticTokenCredential(TOKEN), **(options or session_options()))
    plan = plan_target(project, target, client)
    outcomes = apply_plan(plan, client, prune=prune)
    return plan, outcomes


def make_plan(root: Path, platform: str):
    project = find_project(root)
    target = project.target(TARGETS[platform])
    return plan_target(project, target, client_for(target, StaticTokenCredential(TOKEN), **session_options()))


def run_cli(root: Path, *args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    environment = {**os.environ, "DAC_ACCESS_TOKEN": TOKEN, "NO_COLOR": "1", **(env or {})}
    environment.pop("ACTIONS_ID_TOKEN_REQUEST_URL", None)
    return subprocess.run([sys.executable, "-m", "dac", *args], cwd=root, env=environment, capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip


@pytest.mark.parametrize("platform", PLATFORMS)
def test_sixty_detections_deploy_then_only_real_changes_show(tmp_path: Path, api: FakeApi, platform: str) -> None:
    files = write_project(tmp_path, api)
    seed_unowned(api)
    unowned_before = {k: v for k, v in live_rules(api, platform).items() if "portal" in k}

    plan, outcomes = plan_and_apply(tmp_path, platform)
    assert plan.counts()["create"] == COUNT and all(o.ok for o in outcomes)
    assert len(live_rules(api, platform)) == COUNT + 5

    api.clear_log()
    second = make_plan(tmp_path, platform)
    assert not second.has_changes and second.counts()["unchanged"] == COUNT and second.counts()["unmanaged"] == 5
    assert api.count("GET") == len(api.calls)  # planning only lists ...
    assert api.count("GET") == (COUNT + 5 + 24) // 25  # ... one paged list, no per-rule GETs

    # one query changed: exactly one update, with the query as its only changed field
    files[7].write_text(
        files[7]
        .read_text()
        .replace("| where RemotePort == 1007", "| where RemotePort == 1007 and RemoteIPType == 'Public'")
    )
    plan, outcomes = plan_and_apply(tmp_path, platform)
    assert [a.kind for a in plan.actions if a.kind != "unchanged"] == ["update"]
    query_field = "queryCondition.queryText" if platform == "defender" else "properties.query"
    changed = {c.path for c in plan.of("update")[0].changes}
    assert query_field in changed and changed <= {query_field, "description", "properties.description"}
    assert all(o.ok for o in outcomes) and not make_plan(tmp_path, platform).has_changes

    # one file deleted: one would-delete; no deletion without --prune, exactly that one with it
    deleted_id = str(uuid.UUID(int=3 + 1))
    files[3].unlink()
    plan, outcomes = plan_and_apply(tmp_path, platform)
    assert [(a.kind, a.id) for a in plan.actions if a.kind != "unchanged"] == [("delete", deleted_id)]
    assert outcomes == [] and api.count("DELETE") == 0 and deleted_id in {k.lower() for k in live_rules(api, platform)}
    plan, outcomes = plan_and_apply(tmp_path, platform, prune=True)
    assert [o.action.id for o in outcomes] == [deleted_id] and all(o.ok for o in outcomes)
    assert api.count("DELETE") == 1 and len(live_rules(api, platform)) == COUNT - 1 + 5

    # the five rules dac does not own were never changed
    assert {k: v for k, v in live_rules(api, platform).items() if "portal" in k} == unowned_before
    assert not any(call.method != "GET" and "portal" in call.path for call in api.calls)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_deploy_with_one_request_in_five_failing_converges_without_duplicates(
    tmp_path: Path, api: FakeApi, platform: str
) -> None:
    write_project(tmp_path, api)
    seed_unowned(api)
    api.set_faults(0.2, ["429", "500", "drop", "write_then_fail"], seed=11, retry_after=0)
    sleeps: list[float] = []
    for _attempt in range(3):  # a failed rule is retried by rerunning the deploy
        _plan, outcomes = plan_and_apply(tmp_path, platform, **session_options(sleeps))
        if all(o.ok for o in outcomes):
            break
    api.clear_faults()
    assert any(call.fault for call in api.calls), "the faults were injected"
    final = make_plan(tmp_path, platform)
    assert not final.has_changes and final.counts()["unchanged"] == COUNT
    rules = live_rules(api, platform)
    names = [(r.get("properties") or r)["displayName"] for r in rules.values()]
    assert len(rules) == COUNT + 5 and len(names) == len(set(names))


def test_a_deploy_killed_halfway_converges_on_the_next_run(tmp_path: Path, api: FakeApi) -> None:
    write_project(tmp_path, api)
    api.set_faults(0.05, ["slow"], seed=3)  # slow answers keep the run going long enough to kill it
    process = subprocess.Popen([sys.executable, "-m", "dac", "deploy", "--target", "xdr", "--yes"], cwd=tmp_path,
                               env={**os.environ, "DAC_ACCESS_TOKEN": TOKEN}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 60
    while api.count("POST") < 20 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    api.clear_faults()
    partial = len(api.defender_rules)
    assert 0 < partial < COUNT, "the run was killed halfway"

    rerun = run_cli(tmp_path, "deploy", "--target", "xdr", "--yes")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert len(api.defender_rules) == COUNT
    assert not make_plan(tmp_path, "defender").has_changes


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_portal_edit_is_drift_and_a_deploy_restores_it(tmp_path: Path, api: FakeApi, platform: str) -> None:
    write_project(tmp_path, api, count=3)
    plan_and_apply(tmp_path, platform)
    rule_id = str(uuid.UUID(int=2))
    if platform == "defender":
        api.edit_defender_rule(rule_id, {"queryCondition": {"queryText": "DeviceNetworkEvents | take 1"}})
    else:
        api.edit_sentinel_rule(None, None, None, rule_id, {"query": "DeviceNetworkEvents | take 1"})

    drift = run_cli(tmp_path, "drift", "--target", TARGETS[platform])
    assert drift.returncode == 1 and rule_id in drift.stdout and "1 drifted" in drift.stdout
    plan = make_plan(tmp_path, platform)
    assert [(a.kind, a.id) for a in plan.actions if a.kind != "unchanged"] == [("drifted", rule_id)]

    deploy = run_cli(tmp_path, "deploy", "--target", TARGETS[platform], "--yes")
    assert deploy.returncode == 0 and "restored" in deploy.stdout
    assert run_cli(tmp_path, "drift", "--target", TARGETS[platform]).returncode == 0


@pytest.mark.parametrize("platform", PLATFORMS)
def test_pull_writes_detections_that_validate(tmp_path: Path, api: FakeApi, platform: str) -> None:
    write_project(tmp_path, api, count=4)
    seed_unowned(api)
    plan_and_apply(tmp_path, platform)
    elsewhere = tmp_path.parent / f"{tmp_path.name}-adopted"  # another repository: ids would clash here
    out = elsewhere / "detections"
    pulled = run_cli(tmp_path, "pull", "--target", TARGETS[platform], "--out", str(out))
    assert pulled.returncode == 0, pulled.stderr
    files = sorted(out.glob("*.yml"))
    assert len(files) == 4 + 5
    validated = run_cli(elsewhere, "validate", "--fail-on", "warning")
    assert validated.returncode == 0, validated.stdout + validated.stderr
    # a rule dac deployed comes back with its detection id
    assert any(f"id: {uuid.UUID(int=1)}" in f.read_text() for f in files)


def test_no_token_appears_in_any_output(tmp_path: Path, api: FakeApi) -> None:
    write_project(tmp_path, api, count=3)
    seed_unowned(api)
    outputs = []
    api.set_faults(0.3, ["429", "500"], seed=5, retry_after=0)
    for args in (["plan", "--target", "xdr", "-vv"], ["plan", "--target", "sentinel", "--format", "json", "-vv"],
                 ["deploy", "--target", "xdr", "--yes", "-vv"], ["deploy", "--target", "sentinel", "--yes", "-vv"],
                 ["drift", "--target", "xdr", "-vv"], ["plan", "--target", "xdr", "--format", "markdown", "-vv"],
                 ["pull", "--target", "sentinel", "--out", str(tmp_path / "p"), "-vv"]):  # fmt: skip
        result = run_cli(tmp_path, *args)
        outputs.append(result.stdout + result.stderr)
    api.clear_faults()
    # a refused token: the API error is shown, the token is not
    api.graph_token = "another-token"
    refused = run_cli(tmp_path, "plan", "--target", "xdr", "-vv")
    assert refused.returncode == 1 and "401" in refused.stderr
    outputs.append(refused.stdout + refused.stderr)
    assert any("GET" in output for output in outputs), "the -vv logs were produced"
    for output in outputs:
        assert TOKEN not in output and "d4c-3f9a1b7e2c5d8f0a6b4e" not in output


def test_invalid_detections_stop_the_plan_before_any_request(tmp_path: Path, api: FakeApi) -> None:
    files = write_project(tmp_path, api, count=2)
    files[0].write_text(files[0].read_text().replace("severity: medium", "severity: urgent"))
    result = run_cli(tmp_path, "plan", "--target", "xdr")
    assert result.returncode == 1 and "DAC2" in result.stderr and "fix them before" in result.stderr
    assert api.calls == []


def test_an_unknown_target_is_a_usage_error(tmp_path: Path, api: FakeApi) -> None:
    write_project(tmp_path, api, count=1)
    result = run_cli(tmp_path, "plan", "--target", "nope")
    assert result.returncode == 2 and "no target named 'nope'" in result.stderr and "xdr, sentinel" in result.stderr
