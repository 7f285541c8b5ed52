"""Adoption and pull against the fake Graph/ARM server, through the command line.

- Rules made in the portals are pulled into another repository, moved into detections/ and deployed:
  each is taken over in place (same id, one rule, dac's marker written) and the next plan is clean.
- A pulled Sentinel workspace with rules that are not query rules (Fusion, incident creation) validates;
  those rules are named as skipped. A Defender rule of the old schema (mitreTechniques, impactedAssets)
  keeps its ATT&CK mapping and entities.
- Names are compared without case; `api.graph` on Graph v1.0 is refused with the reason.
- The repository's hunting queries deploy to a Sentinel target that takes `kind: hunting`.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
import yaml

from dac.rules import read_marker
from fakeapi import FakeApi
from test_deploy import DETECTION, TARGETS, TENANT, api, make_plan, run_cli, write_project

__all__ = ["api"]  # the fixture, imported for pytest

ROOT = Path(__file__).resolve().parents[1]
DEFENDER_IDS = ("1017", "1018")  # Graph's own ids for rules made in the portal are not dac UUIDs
SENTINEL_IDS = ("6b3a5c2e-0d4f-4a7b-9e1c-2f8d7a6b5c4d", "Portal-Made-Rule")


def seed_portal_rules(api: FakeApi) -> None:
    for index, rule_id in enumerate(DEFENDER_IDS):
        api.put_defender_rule({
            "id": rule_id, "displayName": f"Portal rule {index}", "description": "made by hand",
            "status": "enabled",
            "queryCondition": {"queryText": "DeviceProcessEvents\n| where FileName =~ 'psexec.exe'\n"
                                            "| project Timestamp, ReportId, DeviceId, DeviceName"},
            "schedule": {"frequency": "PT1H", "lookback": "PT1H"},
            "detectionAction": {"alertTemplate": {
                "title": f"Portal {index}", "severity": "low", "description": "x", "recommendedActions": "Look.",
                "tactics": [{"tactic": "lateralMovement", "techniques": [{"technique": "T1570"}]}],
                "entityMappings": {"hosts": [{"deviceIdColumn": "DeviceId", "nameColumn": "DeviceName"}]}},
                "organizationalScope": None},
        })  # fmt: skip
    for index, rule_id in enumerate(SENTINEL_IDS):
        api.put_sentinel_rule(None, None, None, rule_id, "Scheduled", {
            "displayName": f"Portal rule {index}", "description": "made by hand", "severity": "Low",
            "enabled": True, "query": "SecurityEvent\n| where EventID == 4625", "queryFrequency": "PT1H",
            "queryPeriod": "PT1H", "triggerOperator": "GreaterThan", "triggerThreshold": 0,
            "suppressionDuration": "PT5H", "suppressionEnabled": False, "tactics": ["CredentialAccess"],
            "techniques": ["T1110"], "subTechniques": ["T1110.001"],
            "entityMappings": [{"entityType": "Account", "fieldMappings": [
                {"identifier": "Name", "columnName": "TargetUserName"},
                {"identifier": "Sid", "columnName": "TargetUserSid"}]},
                {"entityType": "Host", "fieldMappings": [{"identifier": "HostName", "columnName": "Computer"}]}],
        })  # fmt: skip


def empty_project(root: Path, api: FakeApi) -> None:
    write_project(root, api, count=0)


def test_pulled_rules_moved_into_detections_are_adopted_in_place(tmp_path: Path, api: FakeApi) -> None:
    seed_portal_rules(api)
    before = {"defender": set(api.defender_rules), "sentinel": set(api.sentinel_rules())}
    repository = tmp_path / "second"
    repository.mkdir()
    empty_project(repository, api)
    for platform in ("defender", "sentinel"):
        pulled = run_cli(repository, "pull", "--target", TARGETS[platform], "--out", f"pulled/{platform}")
        assert pulled.returncode == 0, pulled.stderr
        (repository / "detections" / platform).mkdir()
        for file in (repository / "pulled" / platform).glob("*.yml"):
            assert "\nadopt: " in file.read_text(encoding="utf-8")
            shutil.move(file, repository / "detections" / platform / file.name)
    validated = run_cli(repository, "validate")
    assert validated.returncode == 0, validated.stdout + validated.stderr

    for platform in ("defender", "sentinel"):
        plan = make_plan(repository, platform)
        assert sorted(a.kind for a in plan.actions) == ["adopt", "adopt"], [(a.kind, a.reason) for a in plan.actions]
        deployed = run_cli(repository, "deploy", "--target", TARGETS[platform], "--yes")
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        assert "adopted" in deployed.stdout
        after = make_plan(repository, platform)
        assert not after.has_changes and after.counts()["unchanged"] == 2, [(a.kind, a.reason) for a in after.actions]
        assert run_cli(repository, "drift", "--target", TARGETS[platform]).returncode == 0

    # same ids, one rule each, and dac's marker (naming the adopted rule) on each
    assert set(api.defender_rules) == before["defender"]
    assert set(api.sentinel_rules()) == before["sentinel"]
    for rule_id in DEFENDER_IDS:
        marker = read_marker(api.defender_rules[rule_id]["description"])
        assert marker is not None and marker.applies_to(rule_id)
    for rule_id in SENTINEL_IDS:
        marker = read_marker(api.sentinel_rules()[rule_id.lower()]["properties"]["description"])
        assert marker is not None and marker.applies_to(rule_id)
    # the Sentinel rule kept its sub-technique and its account of two identifiers
    properties = api.sentinel_rules()[SENTINEL_IDS[0]]["properties"]
    assert properties["subTechniques"] == ["T1110.001"]
    account = [m for m in properties["entityMappings"] if m["entityType"] == "Account"]
    assert account == [
        {
            "entityType": "Account",
            "fieldMappings": [
                {"identifier": "Name", "columnName": "TargetUserName"},
                {"identifier": "Sid", "columnName": "TargetUserSid"},
            ],
        }
    ]


def test_adopt_of_a_rule_that_does_not_exist_is_a_conflict(tmp_path: Path, api: FakeApi) -> None:
    write_project(tmp_path, api, count=1)
    path = next((tmp_path / "detections").rglob("*.yml"))
    path.write_text(path.read_text(encoding="utf-8").replace("tags: [network]", "tags: [network]\nadopt: '4242'"),
                    encoding="utf-8")  # fmt: skip
    plan = make_plan(tmp_path, "defender")
    assert [(a.kind, a.id) for a in plan.actions] == [("conflict", "4242")]
    assert "no rule 4242" in plan.actions[0].reason


def test_pull_skips_rules_that_are_not_query_rules(tmp_path: Path, api: FakeApi) -> None:
    seed_portal_rules(api)
    api.put_sentinel_rule(None, None, None, "BuiltInFusionAlertRule", "Fusion",
                          {"alertRuleTemplateName": "f71aba3d-28fb-450b-b192-4e76a83015c8", "enabled": True,
                           "displayName": "Advanced Multistage Attack Detection", "severity": "High"})  # fmt: skip
    api.put_sentinel_rule(None, None, None, "incident-creation", "MicrosoftSecurityIncidentCreation",
                          {"displayName": "Create incidents from Defender for Cloud", "enabled": True,
                           "productFilter": "Azure Security Center"})  # fmt: skip
    empty_project(tmp_path, api)
    pulled = run_cli(tmp_path, "pull", "--target", "sentinel", "--out", "detections/pulled")
    assert pulled.returncode == 0, pulled.stderr
    assert "skipped BuiltInFusionAlertRule: a Fusion rule is not a query rule" in pulled.stdout
    assert "skipped incident-creation: a MicrosoftSecurityIncidentCreation rule" in pulled.stdout
    assert len(list((tmp_path / "detections" / "pulled").glob("*.yml"))) == 2
    validated = run_cli(tmp_path, "validate")
    assert validated.returncode == 0, validated.stdout + validated.stderr


def test_pull_maps_the_old_defender_schema(tmp_path: Path, api: FakeApi) -> None:
    api.put_defender_rule({
        "id": "77", "displayName": "Old rule", "description": "from 2023", "isEnabled": True,
        "queryCondition": {"queryText": "DeviceProcessEvents\n| project Timestamp, ReportId, DeviceId, AccountSid"},
        "schedule": {"period": "1H"},
        "detectionAction": {"alertTemplate": {
            "title": "Old rule", "severity": "medium", "category": "Execution", "description": "x",
            "mitreTechniques": ["T1059", "T1059.001"],
            "impactedAssets": [
                {"@odata.type": "#microsoft.graph.security.impactedDeviceAsset", "identifier": "deviceId"},
                {"@odata.type": "#microsoft.graph.security.impactedUserAsset", "identifier": "accountSid"}]}},
    })  # fmt: skip
    empty_project(tmp_path, api)
    pulled = run_cli(tmp_path, "pull", "--target", "xdr", "--out", "detections/pulled")
    assert pulled.returncode == 0, pulled.stderr
    data = yaml.safe_load(next((tmp_path / "detections" / "pulled").glob("*.yml")).read_text(encoding="utf-8"))
    assert data["mitre"] == {"tactics": ["execution"], "techniques": ["T1059", "T1059.001"]}
    assert data["alert"]["entities"] == [
        {"type": "device", "column": "DeviceId"},
        {"type": "user", "column": "AccountSid"},
    ]
    assert data["adopt"] == "77"
    validated = run_cli(tmp_path, "validate")
    assert validated.returncode == 0, validated.stdout + validated.stderr


@pytest.mark.parametrize("platform", ["defender", "sentinel"])
def test_a_portal_rule_named_alike_but_for_case_is_a_conflict(tmp_path: Path, api: FakeApi, platform: str) -> None:
    write_project(tmp_path, api, count=1)
    if platform == "defender":
        api.put_defender_rule({"id": "5", "displayName": "CONNECTION TO PORT 1000", "description": "by hand"})
    else:
        api.put_sentinel_rule(None, None, None, "by-hand", "Scheduled",
                              {"displayName": "connection to port 1000", "description": "by hand"})  # fmt: skip
    plan = make_plan(tmp_path, platform)
    assert [a.kind for a in plan.actions] == ["conflict"]


def test_graph_v1_is_refused_at_config_time(tmp_path: Path) -> None:
    (tmp_path / "detections").mkdir()
    (tmp_path / "dac.yml").write_text(textwrap.dedent(f"""\
        targets:
          - name: xdr
            platform: defender
            tenant_id: {TENANT}
            api: {{graph: "https://graph.microsoft.com/v1.0"}}
        """), encoding="utf-8")  # fmt: skip
    result = run_cli(tmp_path, "plan", "--target", "xdr")
    assert result.returncode == 2
    assert "dac.yml:5:" in result.stderr + result.stdout and "v1.0" in result.stderr + result.stdout


def test_seed_hunting_queries_deploy_as_saved_searches(tmp_path: Path, api: FakeApi) -> None:
    write_project(tmp_path, api, count=0)
    config = tmp_path / "dac.yml"
    takes = "select: {kind: [hunting], status: [experimental, test, stable]}"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("  - name: sentinel\n", f"  - name: sentinel\n    {takes}\n"), encoding="utf-8")
    for file in (ROOT / "detections").rglob("*.yml"):
        if "\nkind: hunting" in file.read_text(encoding="utf-8"):
            shutil.copy(file, tmp_path / "detections" / file.name)
    deployed = run_cli(tmp_path, "deploy", "--target", "sentinel", "--yes")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert len(api.hunting_queries()) == 5
    assert not make_plan(tmp_path, "sentinel").has_changes


__all__ += ["DETECTION"]


def test_dac_adopt_writes_adopting_detections_for_the_named_rules(tmp_path: Path, api: FakeApi) -> None:
    seed_portal_rules(api)
    empty_project(tmp_path, api)
    result = run_cli(tmp_path, "adopt", "--target", "sentinel", SENTINEL_IDS[1], "no-such-rule")
    assert result.returncode == 1 and "no-such-rule: no such rule in target sentinel" in result.stderr
    files = list((tmp_path / "detections" / "adopted").glob("*.yml"))
    assert len(files) == 1 and yaml.safe_load(files[0].read_text(encoding="utf-8"))["adopt"] == SENTINEL_IDS[1]
    plan = make_plan(tmp_path, "sentinel")
    assert [(a.kind, a.id) for a in plan.actions] == [("adopt", SENTINEL_IDS[1])]
    assert run_cli(tmp_path, "deploy", "--target", "sentinel", "--yes").returncode == 0
    again = run_cli(tmp_path, "adopt", "--target", "sentinel", SENTINEL_IDS[1])
    assert again.returncode == 1 and "dac owns it already" in again.stderr
