"""Updates that converge: what a detection no longer has is removed from the live rule by one deploy.

Graph's update merges the PATCH into the rule and clears a value only on an explicit null (the fake
follows that, tests/fakeapi.py); ARM's PUT replaces the properties whole. Each removal must reach the
live rule, and the next plan must be clean.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from fakeapi import FakeApi
from test_deploy import DETECTION, PLATFORMS, TARGETS, api, make_plan, plan_and_apply, run_cli, write_project

__all__ = ["api"]  # the fixture, imported for pytest

RULE_ID = str(uuid.UUID(int=1))
RICH = DETECTION.replace(
    "  entities:\n",
    "  recommended_actions: |\n    Isolate the device.\n"
    "  custom_details:\n    Port: RemotePort\n    Remote: RemoteIP\n"
    "  entities:\n",
)


def first_file(root: Path) -> Path:
    return root / "detections" / "network" / "port-1000.yml"


def edit(root: Path, old: str, new: str) -> None:
    path = first_file(root)
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new), encoding="utf-8")


def live(api: FakeApi, platform: str) -> dict:
    if platform == "defender":
        return api.defender_rules[RULE_ID]
    return api.sentinel_rules()[RULE_ID]["properties"]


def deploy_and_check_clean(root: Path, platform: str) -> None:
    _, outcomes = plan_and_apply(root, platform)
    assert all(outcome.ok for outcome in outcomes), [o.message for o in outcomes]
    plan = make_plan(root, platform)
    assert [(a.kind, a.id) for a in plan.actions if a.kind != "unchanged"] == []
    assert run_cli(root, "drift", "--target", TARGETS[platform]).returncode == 0


@pytest.fixture
def project(tmp_path: Path, api: FakeApi) -> Path:
    write_project(tmp_path, api, count=2)
    first_file(tmp_path).write_text(RICH.format(id=RULE_ID, port=1000), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("platform", PLATFORMS)
def test_removed_recommended_action_custom_detail_and_entity_reach_the_live_rule(
    project: Path, api: FakeApi, platform: str
) -> None:
    plan_and_apply(project, platform)
    before = live(api, platform)
    if platform == "defender":
        template = before["detectionAction"]["alertTemplate"]
        assert template["recommendedActions"] and len(template["customDetails"]) == 2
        assert len(template["entityMappings"]) == 2
    edit(project, "  recommended_actions: |\n    Isolate the device.\n", "")
    deploy_and_check_clean(project, platform)
    edit(project, "    Remote: RemoteIP\n", "")
    deploy_and_check_clean(project, platform)
    edit(project, "    - {type: ip, column: RemoteIP}\n", "")
    deploy_and_check_clean(project, platform)
    after = live(api, platform)
    if platform == "defender":
        template = after["detectionAction"]["alertTemplate"]
        assert not template.get("recommendedActions")
        assert {key: value for key, value in template["customDetails"].items() if value} == {"Port": "RemotePort"}
        mapped = [column for items in (template.get("entityMappings") or {}).values() if items
                  for item in items for column in item.values() if column]  # fmt: skip
        assert mapped == ["DeviceName"]
    else:
        assert after["customDetails"] == {"Port": "RemotePort"}
        columns = [f["columnName"] for m in after["entityMappings"] for f in m["fieldMappings"]]
        assert columns == ["DeviceName"]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_switching_to_near_real_time_reaches_the_live_rule(project: Path, api: FakeApi, platform: str) -> None:
    plan_and_apply(project, platform)
    edit(project, "schedule: {frequency: 1h, lookback: 1h}", "schedule: {frequency: 0, lookback: 1h}")
    deploy_and_check_clean(project, platform)
    if platform == "defender":
        schedule = api.defender_rules[RULE_ID]["schedule"]
        assert schedule["frequency"] == "PT0S" and schedule.get("lookback") is None
    else:
        assert api.sentinel_rules()[RULE_ID]["kind"] == "NRT"
