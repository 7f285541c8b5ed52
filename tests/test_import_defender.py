"""`dac import defender`: Graph detectionRule JSON -> detections (the mapping `dac pull` uses, without
`adopt:`). The sample rules are written for these tests, in the shape the Graph API documents."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from conftest import run_dac
from dac.importers.defender import import_defender
from dac.importers.rulefiles import stable_id
from dac.rules import defender_rule, strip_marker

DAY = dt.date(2025, 3, 4)


def graph_rule(rule_id: str, name: str, query: str, **template: Any) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.security.detectionRule",
        "id": rule_id,
        "displayName": name,
        "isEnabled": True,
        "status": "enabled",
        "createdBy": "analyst@contoso.example",
        "createdDateTime": "2024-11-02T10:00:00Z",
        "lastModifiedDateTime": "2025-01-15T08:30:00Z",
        "queryCondition": {"queryText": query, "lastModifiedDateTime": None},
        "schedule": {"period": "1H", "frequency": "PT1H", "nextRunDateTime": "2025-01-15T09:30:00Z"},
        "detectionAction": {
            "alertTemplate": {
                "title": name,
                "description": "Raised by a custom detection.",
                "severity": "medium",
                "category": "Execution",
                "recommendedActions": None,
                "mitreTechniques": [],
                "impactedAssets": [],
                **template,
            },
            "organizationalScope": None,
            "responseActions": [],
        },
    }


ENCODED = graph_rule(
    "7506", "Encoded PowerShell",
    "DeviceProcessEvents\n| where FileName =~ \"powershell.exe\" and ProcessCommandLine has \"-enc\"\n"
    "| project Timestamp, ReportId, DeviceId, DeviceName, AccountName, ProcessCommandLine",
    severity="high",
    tactics=[{"tactic": "Execution", "techniques": [{"technique": "T1059", "subTechniques": ["T1059.001"]}]}],
    entityMappings={"hosts": [{"deviceIdColumn": "DeviceId", "nameColumn": "DeviceName"}],
                    "accounts": [{"nameColumn": "AccountName"}]},
    customDetails={"CommandLine": "ProcessCommandLine"},
)  # fmt: skip
LOGONS = graph_rule(
    "7507", "Logons from many devices",
    "DeviceLogonEvents\n| where ActionType == \"LogonSuccess\"\n"
    "| summarize arg_max(Timestamp, ReportId, DeviceId), Devices = dcount(DeviceName) by AccountName\n"
    "| where Devices > 10",
    tactics=[{"tactic": "LateralMovement", "techniques": [{"technique": "T1021"}]}],
    entityMappings={"hosts": [{"deviceIdColumn": "DeviceId"}], "accounts": [{"nameColumn": "AccountName"}]},
)  # fmt: skip
MARKED = graph_rule(
    "7508", "Rule dac deployed", "DeviceEvents\n| project Timestamp, ReportId, DeviceId",
    entityMappings={"hosts": [{"deviceIdColumn": "DeviceId"}]},
)  # fmt: skip
MARKED["description"] = "Deployed before.\n\n[dac id=2b4c6d8e-0a1b-4c3d-8e5f-6a7b8c9d0e1f hash=0123456789ab]"


def write_inputs(folder: Path) -> Path:
    rules = folder / "rules"
    (rules / "nested").mkdir(parents=True)
    (rules / "encoded.json").write_text(json.dumps(ENCODED, indent=2))
    (rules / "nested" / "list.json").write_text(json.dumps({"value": [LOGONS, MARKED]}))
    return rules


def test_import_writes_valid_detections_without_adopt(tmp_path: Path):
    rules = write_inputs(tmp_path)
    out = tmp_path / "out"
    result = run_dac("import", "defender", str(rules), "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 imported, 0 skipped, 0 failed" in result.stdout
    assert "list.json: value[0] ('Logons from many devices') ->" in result.stdout
    files = sorted(p.name for p in out.iterdir())
    assert files == ["encoded-powershell.yml", "logons-from-many-devices.yml", "rule-dac-deployed.yml"]
    assert not any("adopt:" in (out / name).read_text() for name in files)
    check = run_dac("validate", str(out), cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr


def test_mapping_is_the_pull_mapping(tmp_path: Path):
    items = import_defender([write_inputs(tmp_path)], DAY)
    data = {item.data["name"]: item.data for item in items}
    encoded = data["Encoded PowerShell"]
    assert encoded["id"] == stable_id_of("7506")  # Graph ids are numbers: a stable UUID derived from them
    assert encoded["query"]["dialect"] == "defender" and encoded["variants"] == {"sentinel": {"enabled": False}}
    assert (encoded["severity"], encoded["status"], encoded["authors"]) == (
        "high",
        "stable",
        ["analyst@contoso.example"],
    )
    assert (encoded["created"], encoded["modified"]) == ("2024-11-02", "2025-01-15")
    assert encoded["mitre"] == {"tactics": ["execution"], "techniques": ["T1059", "T1059.001"]}
    assert encoded["schedule"]["frequency"] == "1h"
    assert encoded["alert"]["entities"] == [
        {"type": "host", "identifiers": {"DeviceId": "DeviceId", "HostName": "DeviceName"}},
        {"type": "account", "column": "AccountName", "identifier": "Name"},
    ]
    assert encoded["alert"]["custom_details"] == {"CommandLine": "ProcessCommandLine"}
    assert data["Rule dac deployed"]["id"] == "2b4c6d8e-0a1b-4c3d-8e5f-6a7b8c9d0e1f"  # from the marker
    assert data["Logons from many devices"]["mitre"]["tactics"] == ["lateral-movement"]

    # and it renders back to the rule's content
    body = defender_rule(encoded, encoded["query"]["text"])
    template = body["detectionAction"]["alertTemplate"]
    assert body["queryCondition"]["queryText"].rstrip("\n") == ENCODED["queryCondition"]["queryText"]
    assert body["schedule"]["frequency"] == "PT1H" and template["severity"] == "high"
    assert template["tactics"] == ENCODED["detectionAction"]["alertTemplate"]["tactics"]
    assert template["entityMappings"] == ENCODED["detectionAction"]["alertTemplate"]["entityMappings"]
    assert strip_marker(body["description"]).strip() == "Encoded PowerShell"


def stable_id_of(rule_id: str) -> str:
    from dac.deploy.defender import live_rule
    from dac.deploy.pull import to_detection

    return to_detection(live_rule({"id": rule_id, "displayName": "x", "queryCondition": {"queryText": "x"}}),
                        "defender")["id"]  # fmt: skip


def test_bad_input_is_reported_and_not_written(tmp_path: Path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "broken.json").write_text('{\n  "id": 1,,\n}')
    (tmp_path / "in" / "noquery.json").write_text(json.dumps({"id": "1", "displayName": "No query"}))
    (tmp_path / "in" / "strings.json").write_text(json.dumps({"value": ["a rule?"]}))
    (tmp_path / "in" / "ok.json").write_text(json.dumps(LOGONS))
    result = run_dac("import", "defender", str(tmp_path / "in"), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "broken.json:2:11: error: invalid JSON" in result.stderr
    assert "noquery.json: error: the rule has no queryCondition.queryText" in result.stderr
    assert "strings.json: value[0]: error: not a Defender detection rule" in result.stderr
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["logons-from-many-devices.yml"]


def test_a_rule_without_id_gets_a_stable_one():
    rule = {k: v for k, v in LOGONS.items() if k != "id"}
    first = import_defender_rule(rule)
    assert (
        first["id"]
        == import_defender_rule(rule)["id"]
        == stable_id_of(stable_id("Logons from many devices", LOGONS["queryCondition"]["queryText"]))
    )


def import_defender_rule(rule: dict[str, Any]) -> dict[str, Any]:
    from dac.importers.defender import convert

    return convert(rule, DAY, [])
