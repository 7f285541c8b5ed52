"""The seeds' scheduled-rule derivatives (issue 21): each of the five seed hunting queries ships as a
`kind: detection` beside it, rendered and planned for every platform that can run it, and a platform
that cannot says why (`variants.<dialect>.reason`) in dac validate, dac render and dac plan."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from conftest import ROOT, run_dac
from dac.model.detection import load_detection

NETWORK = ROOT / "detections" / "network"
# rule file -> (seed hunting query beside it, the platforms it runs on)
RULES = {
    "winscp-connections-to-public-addresses.yml": (
        "devicenetworkevents-from-winscp-with-enriched-ip-information.yml", ("defender", "sentinel")),
    "rare-process-with-outgoing-connections-on-non-web-ports.yml": (
        "rare-or-low-prevalent-outgoing-successful-ipv4-connections.yml", ("defender",)),
    "public-inbound-connection-accepted-by-a-compromised-device.yml": (
        "public-inbound-connections-to-a-compromised-device.yml", ("defender", "sentinel")),
    "inbound-connection-from-an-ipsum-listed-address.yml": (
        "threat-hunting-for-inbound-connections-from-malicious-ips.yml", ("defender", "sentinel")),
    "port-scan-of-an-internet-facing-device.yml": (
        "detecting-port-scanning-on-internet-facing-devices.yml", ("defender", "sentinel")),
}  # fmt: skip
RARE = "rare-process-with-outgoing-connections-on-non-web-ports.yml"
SENTINEL_REASON = "a Sentinel scheduled rule looks back at most 14 days"


def detection(name: str):
    return load_detection(NETWORK / name).detection


def test_every_seed_hunting_query_has_a_rule_beside_it():
    hunts = sorted(p.name for p in NETWORK.glob("*.yml") if detection(p.name).kind == "hunting")
    assert sorted(seed for seed, _ in RULES.values()) == hunts
    for name, (_, platforms) in RULES.items():
        rule = detection(name)
        assert rule.kind == "detection", name
        assert tuple(rule.enabled_dialects()) == platforms, name
        assert "Derived from the hunting query" in rule.data["description"], name
        for dialect, reason in rule.disabled_dialects().items():
            assert reason, f"{name}: {dialect} is turned off without a reason"


@pytest.mark.parametrize("name", sorted(RULES))
def test_tests_alert_and_stay_quiet_in_every_enabled_dialect(name: str):
    """At least one test expects an alert and one a near miss, and every test runs in each platform."""
    rule = detection(name)
    tests = rule.data["tests"]
    assert any(t["expect"].get("count", 0) > 0 for t in tests), name
    assert any(t["expect"].get("count") == 0 for t in tests), name
    assert all("dialects" not in t for t in tests), name
    result = run_dac("test", str(NETWORK / name), "--format", "json")
    assert result.returncode == 0, result.stdout
    runs = json.loads(result.stdout)["tests"]
    assert {r["dialect"] for r in runs} == set(RULES[name][1])
    assert len(runs) == len(tests) * len(RULES[name][1])
    assert all(r["status"] == "passed" for r in runs), runs


def test_a_disabled_platform_gives_its_reason_in_validate_and_render(tmp_path: Path):
    validated = run_dac("validate", str(NETWORK / RARE))
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert f"detections/network/{RARE}: sentinel disabled: " in validated.stderr
    assert SENTINEL_REASON in validated.stderr

    rendered = run_dac("render", str(NETWORK / RARE), "--out", str(tmp_path))
    assert rendered.returncode == 0, rendered.stderr
    assert f"detections/network/{RARE}: sentinel not rendered: " in rendered.stderr
    assert SENTINEL_REASON in rendered.stderr
    rule_id = detection(RARE).id
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == [
        f"defender/{rule_id}.json",
        f"defender/{rule_id}.kql",
    ]


def test_render_writes_a_valid_body_per_enabled_platform(tmp_path: Path):
    from jsonschema import Draft202012Validator

    schemas = {
        dialect: Draft202012Validator(json.loads((ROOT / "schemas" / "api" / f"{file}.schema.json").read_text()))
        for dialect, file in (("defender", "defender-detection-rule"), ("sentinel", "sentinel-alert-rule"))
    }
    result = run_dac("render", *(str(NETWORK / name) for name in RULES), "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    for name, (_, platforms) in RULES.items():
        rule = detection(name)
        for dialect in ("defender", "sentinel"):
            body_file = tmp_path / dialect / f"{rule.id}.json"
            assert body_file.is_file() == (dialect in platforms), (name, dialect)
            if dialect not in platforms:
                continue
            body = json.loads(body_file.read_text())
            assert [e.message for e in schemas[dialect].iter_errors(body)] == [], (name, dialect)
            query = body["queryCondition"]["queryText"] if dialect == "defender" else body["properties"]["query"]
            assert query == (tmp_path / dialect / f"{rule.id}.kql").read_text()
    rare = json.loads((tmp_path / "defender" / f"{detection(RARE).id}.json").read_text())
    assert rare["schedule"] == {"frequency": "P1D", "lookback": "P30D"}


def _project(root: Path, graph: str, arm: str) -> Path:
    shutil.copytree(ROOT / "schemas", root / "schemas")
    folder = root / "detections" / "network"
    folder.mkdir(parents=True)
    shutil.copytree(NETWORK / "fixtures", folder / "fixtures")
    for name in RULES:
        shutil.copy(NETWORK / name, folder / name)
    (root / "dac.yml").write_text(textwrap.dedent(f"""\
        detections: detections
        targets:
          - name: xdr
            platform: defender
            tenant_id: 99999999-8888-7777-6666-555555555555
            select: {{status: [experimental]}}
            api: {{graph: "{graph}"}}
          - name: sentinel
            platform: sentinel
            tenant_id: 99999999-8888-7777-6666-555555555555
            subscription_id: 11111111-2222-3333-4444-555555555555
            resource_group: rg-sec
            workspace: law-sec
            select: {{status: [experimental]}}
            api: {{arm: "{arm}"}}
        """))  # fmt: skip
    return root


@pytest.mark.parametrize("platform", ["defender", "sentinel"])
def test_plan_against_the_test_api_shows_the_rules_as_creates(tmp_path: Path, platform: str):
    from fakeapi import FakeApi
    from test_deploy import RESOURCE_GROUP, SUBSCRIPTION, TOKEN, WORKSPACE, run_cli

    target = {"defender": "xdr", "sentinel": "sentinel"}[platform]
    expected = sorted(detection(name).id for name, (_, platforms) in RULES.items() if platform in platforms)
    with FakeApi(graph_token=TOKEN, arm_token=TOKEN, subscription=SUBSCRIPTION, resource_group=RESOURCE_GROUP,
                 workspace=WORKSPACE) as api:  # fmt: skip
        root = _project(tmp_path, api.graph_base, api.arm_base)
        result = run_cli(root, "plan", "--target", target, "--format", "json")
        assert result.returncode == 0, result.stdout + result.stderr
        document = json.loads(result.stdout)
        assert sorted(a["id"] for a in document["actions"] if a["action"] == "create") == expected
        assert document["counts"]["create"] == len(expected) and len(document["actions"]) == len(expected)
        disabled = document["disabled"]
        text = run_cli(root, "plan", "--target", target)
        assert text.returncode == 0, text.stderr
        assert api.errors == []
    if platform == "defender":
        assert disabled == []
        assert f"target xdr (defender): {len(expected)} to create" in text.stdout
    else:
        rare = detection(RARE)
        assert [(d["id"], d["file"]) for d in disabled] == [(rare.id, f"detections/network/{RARE}")]
        assert SENTINEL_REASON in disabled[0]["reason"]
        assert f"  not for sentinel: {rare.name} ({rare.id})" in text.stdout
        assert SENTINEL_REASON in text.stdout
        assert f"target sentinel (sentinel): {len(expected)} to create" in text.stdout
