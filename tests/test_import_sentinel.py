"""`dac import sentinel`: Azure-Sentinel YAML and portal ARM exports -> detections, and back.

The sample rules here are written for these tests (the formats follow the Azure-Sentinel analytic
rule YAML and the ARM alertRules documentation)."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

from conftest import run_dac
from dac.importers.sentinel import import_sentinel
from dac.model.yamlsource import load_yaml_text
from dac.rules import content_hash, iso_duration, sentinel_rule, strip_marker, unmarked

DAY = dt.date(2025, 3, 4)

SCHEDULED_YAML = """\
id: 3f2a6c1e-9b7d-4e2a-8c51-0d4e6f7a8b90
name: Repeated sign-in failures for one account
description: |
  'Many failed sign-ins for one account in a short time.'
severity: Medium
requiredDataConnectors:
  - connectorId: AzureActiveDirectory
    dataTypes:
      - SigninLogs
queryFrequency: 1h
queryPeriod: 1d
triggerOperator: gt
triggerThreshold: 2
status: Available
tactics:
  - CredentialAccess
  - PreAttack
relevantTechniques:
  - T1110.003
  - T1110
query: |
  SigninLogs
  | where ResultType != "0"
  | summarize Failures = count() by UserPrincipalName, UserId, IPAddress
  | where Failures > 10
entityMappings:
  - entityType: Account
    fieldMappings:
      - identifier: FullName
        columnName: UserPrincipalName
      - identifier: AadUserId
        columnName: UserId
  - entityType: IP
    fieldMappings:
      - identifier: Address
        columnName: IPAddress
customDetails:
  FailureCount: Failures
alertDetailsOverride:
  alertDisplayNameFormat: "Sign-in failures for {{UserPrincipalName}}"
  alertDescriptionFormat: "{{Failures}} failures from {{IPAddress}}"
eventGroupingSettings:
  aggregationKind: AlertPerResult
incidentConfiguration:
  createIncident: true
  groupingConfiguration:
    enabled: true
    reopenClosedIncident: true
    lookbackDuration: 2h
    matchingMethod: Selected
    groupByEntities:
      - Account
    groupByAlertDetails:
      - DisplayName
    groupByCustomDetails:
      - FailureCount
suppressionDuration: PT1H
suppressionEnabled: true
version: 1.2.0
kind: Scheduled
tags:
  - Brute Force
metadata:
  author:
    name: Jane Analyst
"""

NRT_YAML = """\
id: 5D1C2B3A-4E5F-4A6B-9C7D-8E9F0A1B2C3D
name: Audit log cleared
description: The security audit log was cleared.
severity: High
requiredDataConnectors:
  - connectorId: SecurityEvents
    dataTypes: [SecurityEvent]
tactics: [DefenseEvasion]
relevantTechniques: [T1070.001]
query: |
  SecurityEvent
  | where EventID == 1102
  | project TimeGenerated, Computer, Account
entityMappings:
  - entityType: Host
    fieldMappings:
      - identifier: FullName
        columnName: Computer
version: 1.0
kind: NRT
"""

HUNTING_YAML = """\
id: 8a7b6c5d-4e3f-4a2b-8c1d-0e9f8a7b6c5d
name: Rare processes on hosts
description: Processes seen on only one host in the last week.
requiredDataConnectors:
  - connectorId: SecurityEvents
    dataTypes: [SecurityEvent]
tactics: [Execution]
relevantTechniques: [T1059]
query: |
  SecurityEvent
  | where TimeGenerated > ago(7d)
  | where EventID == 4688
  | summarize Hosts = dcount(Computer) by NewProcessName
  | where Hosts == 1
"""

FUSION_YAML = """\
id: 0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d
name: Multistage attack
description: Microsoft's correlation engine.
kind: Fusion
severity: High
"""

ARM_SCHEDULED = {
    "displayName": "Key vault secret read by a new caller",
    "description": "A caller read many key vault secrets.",
    "severity": "Low",
    "enabled": True,
    "query": 'AzureDiagnostics\n| where OperationName == "SecretGet"\n'
    "| summarize Reads = count() by CallerIPAddress, Resource\n| where Reads > 20",
    "queryFrequency": "PT3H",
    "queryPeriod": "P2D",
    "triggerOperator": "GreaterThan",
    "triggerThreshold": 0,
    "suppressionDuration": "PT5H",
    "suppressionEnabled": False,
    "tactics": ["CredentialAccess"],
    "techniques": ["T1555"],
    "subTechniques": ["T1555.006"],
    "entityMappings": [
        {"entityType": "IP", "fieldMappings": [{"identifier": "Address", "columnName": "CallerIPAddress"}]},
        {"entityType": "AzureResource", "fieldMappings": [{"identifier": "ResourceId", "columnName": "Resource"}]},
    ],
    "customDetails": {"Reads": "Reads"},
    "alertDetailsOverride": {"alertSeverityColumnName": "Sev", "alertTacticsColumnName": "Tactic"},
    "eventGroupingSettings": {"aggregationKind": "SingleAlert"},
    "incidentConfiguration": {
        "createIncident": False,
        "groupingConfiguration": {
            "enabled": True,
            "reopenClosedIncident": False,
            "lookbackDuration": "P1D",
            "matchingMethod": "AnyAlert",
            "groupByEntities": [],
            "groupByAlertDetails": [],
            "groupByCustomDetails": [],
        },
    },
}
ARM_NRT = {
    "displayName": "Role assigned to a guest",
    "description": "",
    "severity": "Medium",
    "enabled": False,
    "query": 'AuditLogs\n| where OperationName == "Add member to role"\n'
    "| extend Target = tostring(TargetResources[0].userPrincipalName)",
    "suppressionDuration": "PT10M",
    "suppressionEnabled": False,
    "tactics": ["Persistence", "PrivilegeEscalation"],
    "techniques": ["T1098"],
    "subTechniques": [],
    "entityMappings": [
        {"entityType": "Account", "fieldMappings": [{"identifier": "FullName", "columnName": "Target"}]}
    ],
    "alertDetailsOverride": {"alertDisplayNameFormat": "Guest {{Target}} got a role"},
    "eventGroupingSettings": {"aggregationKind": "AlertPerResult"},
    "incidentConfiguration": {"createIncident": True},
}
SCHEDULED_GUID = "9a3c6e1d-2b4f-4c8a-9d7e-1f2a3b4c5d6e"
NRT_GUID = "7b8c9d0e-1f2a-4b3c-8d4e-5f6a7b8c9d0e"


def arm_template() -> dict[str, Any]:
    def resource(kind: str, guid: str, properties: dict[str, Any], type_: str) -> dict[str, Any]:
        return {
            "id": f"[concat(resourceId('Microsoft.OperationalInsights/workspaces/providers', parameters('workspace'), "
            f"'Microsoft.SecurityInsights'),'/alertRules/{guid}')]",
            "name": f"[concat(parameters('workspace'),'/Microsoft.SecurityInsights/{guid}')]",
            "type": type_,
            "kind": kind,
            "apiVersion": "2023-12-01-preview",
            "properties": copy.deepcopy(properties),
        }

    return {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {"workspace": {"type": "String"}},
        "resources": [
            resource("Scheduled", SCHEDULED_GUID, ARM_SCHEDULED,
                     "Microsoft.OperationalInsights/workspaces/providers/alertRules"),
            resource("NRT", NRT_GUID, ARM_NRT, "Microsoft.SecurityInsights/alertRules"),
            resource("Fusion", "2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f", {"enabled": True, "alertRuleTemplateName": "x"},
                     "Microsoft.OperationalInsights/workspaces/providers/alertRules"),
            {"type": "Microsoft.OperationalInsights/workspaces/providers/metadata", "name": "x", "properties": {}},
        ],
    }  # fmt: skip


def write_inputs(folder: Path) -> Path:
    (folder / "rules" / "more").mkdir(parents=True)
    (folder / "rules" / "scheduled.yaml").write_text(SCHEDULED_YAML)
    (folder / "rules" / "more" / "nrt.yml").write_text(NRT_YAML)
    (folder / "rules" / "hunting.yaml").write_text(HUNTING_YAML)
    (folder / "rules" / "fusion.yaml").write_text(FUSION_YAML)
    (folder / "rules" / "export.json").write_text(json.dumps(arm_template(), indent=2))
    (folder / "rules" / "notes.txt").write_text("not a rule")  # other suffixes are not read
    return folder / "rules"


def imported(tmp_path: Path) -> dict[str, dict[str, Any]]:
    items = import_sentinel([write_inputs(tmp_path)], DAY)
    return {item.data["name"]: item.data for item in items if item.data}


def rendered(data: dict[str, Any]) -> dict[str, Any]:
    return sentinel_rule(data, data["query"]["text"])


# --------------------------------------------------------------------------------------- CLI
def test_folder_import_writes_valid_detections_and_skips_fusion(tmp_path: Path):
    rules = write_inputs(tmp_path)
    out = tmp_path / "out"
    result = run_dac("import", "sentinel", str(rules), "--out", str(out), "--date", "2025-03-04", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "fusion.yaml: skipped: Multistage attack is a Fusion rule, not a query rule" in result.stdout
    assert "resources[2]" in result.stdout and "is a Fusion rule" in result.stdout
    assert "warning: tactic 'PreAttack' is not an ATT&CK Enterprise tactic; dropped" in result.stderr
    assert "5 imported, 2 skipped, 0 failed" in result.stdout
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "audit-log-cleared.yml", "key-vault-secret-read-by-a-new-caller.yml", "rare-processes-on-hosts.yml",
        "repeated-sign-in-failures-for-one-account.yml", "role-assigned-to-a-guest.yml",
    ]  # fmt: skip
    check = run_dac("validate", str(out), cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "5 valid, 0 errors" in check.stderr

    # a second import never overwrites: the same ids are already there, so nothing is written
    again = run_dac("import", "sentinel", str(rules / "scheduled.yaml"), "--out", str(out), cwd=tmp_path)
    assert again.returncode == 1
    assert (
        "scheduled.yaml: error: a detection with id 3f2a6c1e-9b7d-4e2a-8c51-0d4e6f7a8b90 already exists" in again.stderr
    )
    assert len(list(out.iterdir())) == 5


def test_a_taken_file_name_gets_a_new_one(tmp_path: Path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "audit-log-cleared.yml").write_text("someone else's file\n")
    source = tmp_path / "nrt.yml"
    source.write_text(NRT_YAML)
    result = run_dac("import", "sentinel", str(source), "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (out / "audit-log-cleared.yml").read_text() == "someone else's file\n"
    assert (out / "audit-log-cleared-2.yml").exists()


def test_bad_input_is_reported_per_item_and_nothing_is_written_for_it(tmp_path: Path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "broken.yaml").write_text("id: x\nname: [unclosed\n")
    (tmp_path / "in" / "unknown.yaml").write_text("id: 1d2c3b4a-0000-4000-8000-000000000001\nname: X\nkind: Magic\n")
    (tmp_path / "in" / "noquery.yaml").write_text(
        "id: 1d2c3b4a-0000-4000-8000-000000000002\nname: No query\nkind: Scheduled\nseverity: Low\n"
    )
    (tmp_path / "in" / "list.yaml").write_text("- a\n- b\n")
    (tmp_path / "in" / "shape.yaml").write_text(
        "id: 1d2c3b4a-0000-4000-8000-000000000003\nname: Shape\nkind: Scheduled\nquery: T\nentityMappings: [5]\n"
    )
    (tmp_path / "in" / "bad.json").write_text('{"resources": [\n  {"type": }\n]}')
    (tmp_path / "in" / "nothing.json").write_text('{"resources": []}')
    (tmp_path / "in" / "ok.yaml").write_text(HUNTING_YAML)
    result = run_dac("import", "sentinel", str(tmp_path / "in"), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    err = result.stderr
    assert "broken.yaml:2:" in err and ": error: DAC" in err
    assert "unknown.yaml: error: unknown rule kind 'Magic'" in err
    assert "noquery.yaml: error: the rule has no query" in err
    assert "list.yaml: error: not a Sentinel analytic rule or hunting query" in err
    assert "bad.json:2:12: error: invalid JSON" in err
    assert "nothing.json: error: no alert rules found" in err
    assert "shape.yaml: error: entityMappings[0] must be {entityType, fieldMappings:" in err
    assert "1 imported, 0 skipped, 7 failed" in err
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["rare-processes-on-hosts.yml"]


def test_help_describes_the_commands():
    assert "sentinel" in run_dac("import", "--help").stdout
    text = run_dac("import", "sentinel", "--help").stdout
    assert "Azure-Sentinel" in text and "ARM" in text and "skipped" in text
    assert "Graph" in run_dac("import", "defender", "--help").stdout


# --------------------------------------------------------------------------------------- mapping
def test_yaml_fields_map_to_the_detection(tmp_path: Path):
    data = imported(tmp_path)["Repeated sign-in failures for one account"]
    assert data["id"] == "3f2a6c1e-9b7d-4e2a-8c51-0d4e6f7a8b90"
    assert data["description"] == "Many failed sign-ins for one account in a short time.\n"  # quotes dropped
    assert (data["kind"], data["status"], data["severity"], data["version"]) == (
        "detection",
        "stable",
        "medium",
        "1.2.0",
    )
    assert data["authors"] == ["Jane Analyst"] and data["created"] == data["modified"] == "2025-03-04"
    assert data["tags"] == ["connector-azure-active-directory", "brute-force"]
    assert data["mitre"] == {"tactics": ["credential-access"], "techniques": ["T1110.003", "T1110"]}
    assert data["query"]["dialect"] == "sentinel" and data["variants"] == {"defender": {"enabled": False}}
    assert data["schedule"] == {"frequency": "1h", "lookback": "1d"}
    assert data["trigger"] == {"operator": "gt", "threshold": 2}
    assert data["alert"] == {
        "title": "Sign-in failures for {{UserPrincipalName}}",
        "description": "{{Failures}} failures from {{IPAddress}}\n",
        "entities": [
            {"type": "account", "identifiers": {"FullName": "UserPrincipalName", "AadUserId": "UserId"}},
            {"type": "ip", "column": "IPAddress", "identifier": "Address"},
        ],
        "custom_details": {"FailureCount": "Failures"},
        "grouping": "per-result",
    }
    assert data["incident"] == {"grouping": {
        "enabled": True, "reopen_closed": True, "lookback": "2h", "matching": "selected",
        "by_entities": ["Account"], "by_alert_details": ["DisplayName"], "by_custom_details": ["FailureCount"],
    }}  # fmt: skip
    assert data["suppression"] == {"enabled": True, "duration": "1h"}


def test_nrt_hunting_and_arm_map(tmp_path: Path):
    data = imported(tmp_path)
    nrt = data["Audit log cleared"]
    assert nrt["id"] == "5d1c2b3a-4e5f-4a6b-9c7d-8e9f0a1b2c3d"  # lowercased
    assert nrt["schedule"] == {"frequency": "0", "lookback": "5m"} and nrt["version"] == "1.0.0"
    assert nrt["status"] == "experimental" and nrt["authors"] == ["unknown"]
    assert "incident" not in nrt and "suppression" not in nrt and "grouping" not in nrt["alert"]
    hunting = data["Rare processes on hosts"]
    assert hunting["kind"] == "hunting" and "alert" not in hunting and "schedule" not in hunting
    assert hunting["tags"] == ["connector-security-events"]
    assert hunting["mitre"] == {"tactics": ["execution"], "techniques": ["T1059"]}
    scheduled = data["Key vault secret read by a new caller"]
    assert scheduled["id"] == SCHEDULED_GUID and scheduled["status"] == "stable"
    assert scheduled["alert"]["severity_column"] == "Sev" and scheduled["alert"]["tactics_column"] == "Tactic"
    assert scheduled["incident"] == {"create": False, "grouping": {"enabled": True, "lookback": "24h",
                                                                   "matching": "any-alert"}}  # fmt: skip
    guest = data["Role assigned to a guest"]
    assert guest["id"] == NRT_GUID and guest["status"] == "deprecated"  # disabled: renders enabled false
    assert guest["description"] == "Role assigned to a guest\n" and guest["suppression"] == {"duration": "10m"}


# --------------------------------------------------------------------------------------- round trip
COMPARED = (
    "query",
    "queryFrequency",
    "queryPeriod",
    "triggerOperator",
    "triggerThreshold",
    "severity",
    "enabled",
    "entityMappings",
    "customDetails",
    "eventGroupingSettings",
    "suppressionDuration",
    "suppressionEnabled",
)
INCIDENT_DEFAULTS = {"enabled": False, "reopenClosedIncident": False, "lookbackDuration": "PT5H",
                     "matchingMethod": "AllEntities", "groupByEntities": [], "groupByAlertDetails": [],
                     "groupByCustomDetails": []}  # fmt: skip


def assert_round_trip(original: dict[str, Any], kind: str, body: dict[str, Any]) -> None:
    """The rendered body against the original's ARM properties, documented normalisations aside: the
    query ends with a newline, the description carries the marker, durations are canonical, ATT&CK
    lists compare as sets, an incident configuration without grouping gets the default grouping,
    an alert without a description override gets the rule's description as one."""
    props = body["properties"]
    assert body["kind"] == kind
    expected = {**original, "query": original["query"].rstrip("\n") + "\n"}
    for key in COMPARED:
        if key in expected:
            assert props.get(key) == expected[key], key
    if kind == "NRT":
        assert "queryFrequency" not in props and "triggerOperator" not in props
    assert strip_marker(props["description"]).strip() == (original["description"].strip() or original["displayName"])
    assert set(props["tactics"]) == set(original["tactics"])
    assert set(props["techniques"]) == set(original["techniques"])
    assert set(props["subTechniques"]) == set(original.get("subTechniques") or [])
    incident = copy.deepcopy(original["incidentConfiguration"])
    incident["groupingConfiguration"] = {**INCIDENT_DEFAULTS, **(incident.get("groupingConfiguration") or {})}
    assert props["incidentConfiguration"] == incident
    override = dict(original.get("alertDetailsOverride") or {})
    override.setdefault("alertDescriptionFormat", strip_marker(props["description"]).strip())
    assert props["alertDetailsOverride"] == override
    assert props.get("entityMappings") == original.get("entityMappings")


def test_arm_template_rules_round_trip(tmp_path: Path):
    data = imported(tmp_path)
    assert_round_trip(ARM_SCHEDULED, "Scheduled", rendered(data["Key vault secret read by a new caller"]))
    assert_round_trip(ARM_NRT, "NRT", rendered(data["Role assigned to a guest"]))


def test_yaml_scheduled_rule_round_trips(tmp_path: Path):
    body = rendered(imported(tmp_path)["Repeated sign-in failures for one account"])
    original = {
        "displayName": "Repeated sign-in failures for one account",
        "description": "Many failed sign-ins for one account in a short time.",
        "severity": "Medium",
        "enabled": True,
        "query": load_yaml_text(SCHEDULED_YAML, "x").data["query"],
        "queryFrequency": iso_duration("1h"),
        "queryPeriod": iso_duration("1d"),
        "triggerOperator": "GreaterThan",
        "triggerThreshold": 2,
        "suppressionDuration": "PT1H",
        "suppressionEnabled": True,
        "tactics": ["CredentialAccess"],  # PreAttack is not an ATT&CK Enterprise tactic: dropped
        "techniques": ["T1110"],
        "subTechniques": ["T1110.003"],
        "entityMappings": [
            {"entityType": "Account", "fieldMappings": [{"identifier": "FullName", "columnName": "UserPrincipalName"},
                                                        {"identifier": "AadUserId", "columnName": "UserId"}]},
            {"entityType": "IP", "fieldMappings": [{"identifier": "Address", "columnName": "IPAddress"}]},
        ],
        "customDetails": {"FailureCount": "Failures"},
        "alertDetailsOverride": {"alertDisplayNameFormat": "Sign-in failures for {{UserPrincipalName}}",
                                 "alertDescriptionFormat": "{{Failures}} failures from {{IPAddress}}"},
        "eventGroupingSettings": {"aggregationKind": "AlertPerResult"},
        "incidentConfiguration": {"createIncident": True, "groupingConfiguration": {
            "enabled": True, "reopenClosedIncident": True, "lookbackDuration": "PT2H", "matchingMethod": "Selected",
            "groupByEntities": ["Account"], "groupByAlertDetails": ["DisplayName"],
            "groupByCustomDetails": ["FailureCount"]}},
    }  # fmt: skip
    assert_round_trip(original, "Scheduled", body)


def test_yaml_nrt_rule_round_trips(tmp_path: Path):
    body = rendered(imported(tmp_path)["Audit log cleared"])
    original = {
        "displayName": "Audit log cleared", "description": "The security audit log was cleared.",
        "severity": "High", "query": load_yaml_text(NRT_YAML, "x").data["query"],
        "tactics": ["DefenseEvasion"], "techniques": ["T1070"], "subTechniques": ["T1070.001"],
        "entityMappings": [{"entityType": "Host", "fieldMappings": [{"identifier": "FullName",
                                                                      "columnName": "Computer"}]}],
        "incidentConfiguration": {"createIncident": True},
        "suppressionDuration": "PT5H", "suppressionEnabled": False,
        "eventGroupingSettings": {"aggregationKind": "SingleAlert"},
    }  # fmt: skip
    assert_round_trip(original, "NRT", body)


# --------------------------------------------------------------------------------------- rendering stays
EXISTING = {
    "id": "11111111-2222-4333-8444-555555555555", "name": "Sample rule", "description": "Finds things.\n",
    "kind": "detection", "status": "stable", "severity": "high",
    "mitre": {"tactics": ["credential-access"], "techniques": ["T1110", "T1110.003"]},
    "schedule": {"frequency": "1h", "lookback": "1d"}, "trigger": {"operator": "gt", "threshold": 3},
    "alert": {"title": "Failures for {{UserPrincipalName}}",
              "entities": [{"type": "account", "column": "UserPrincipalName"},
                           {"type": "ip", "identifiers": {"Address": "IPAddress"}}],
              "custom_details": {"Count": "Failures"}},
}  # fmt: skip
# The body (and marker hash) dac rendered for EXISTING before incident, suppression and alert
# grouping existed: deployed rules' markers depend on it never changing.
EXISTING_BODY = """{
  "kind": "Scheduled",
  "properties": {
    "alertDetailsOverride": {
      "alertDescriptionFormat": "Finds things.",
      "alertDisplayNameFormat": "Failures for {{UserPrincipalName}}"
    },
    "customDetails": {
      "Count": "Failures"
    },
    "description": "Finds things.\\n\\n[dac id=11111111-2222-4333-8444-555555555555 hash=36db48f7e1d4]",
    "displayName": "Sample rule",
    "enabled": true,
    "entityMappings": [
      {
        "entityType": "Account",
        "fieldMappings": [
          {
            "columnName": "UserPrincipalName",
            "identifier": "FullName"
          }
        ]
      },
      {
        "entityType": "IP",
        "fieldMappings": [
          {
            "columnName": "IPAddress",
            "identifier": "Address"
          }
        ]
      }
    ],
    "eventGroupingSettings": {
      "aggregationKind": "SingleAlert"
    },
    "incidentConfiguration": {
      "createIncident": true,
      "groupingConfiguration": {
        "enabled": false,
        "groupByAlertDetails": [],
        "groupByCustomDetails": [],
        "groupByEntities": [],
        "lookbackDuration": "PT5H",
        "matchingMethod": "AllEntities",
        "reopenClosedIncident": false
      }
    },
    "query": "T | take 1\\n",
    "queryFrequency": "PT1H",
    "queryPeriod": "P1D",
    "severity": "High",
    "subTechniques": [
      "T1110.003"
    ],
    "suppressionDuration": "PT5H",
    "suppressionEnabled": false,
    "tactics": [
      "CredentialAccess"
    ],
    "techniques": [
      "T1110"
    ],
    "triggerOperator": "GreaterThan",
    "triggerThreshold": 3
  }
}"""


def test_a_detection_without_the_new_fields_renders_byte_identical():
    assert json.dumps(sentinel_rule(EXISTING, "T | take 1\n"), indent=2, sort_keys=True) == EXISTING_BODY
    nrt = {
        "id": "11111111-2222-4333-8444-666666666666",
        "name": "NRT rule",
        "description": "x",
        "kind": "detection",
        "status": "deprecated",
        "schedule": {"frequency": "0", "lookback": "5m"},
        "alert": {"title": "NRT rule"},
    }
    assert "hash=6dc199cdb60f]" in sentinel_rule(nrt, "T | take 1\n")["properties"]["description"]


def test_the_defaults_written_out_render_the_same_body():
    explicit = copy.deepcopy(EXISTING)
    explicit["alert"]["grouping"] = "single"
    explicit["incident"] = {"create": True, "grouping": {"enabled": False, "reopen_closed": False, "lookback": "5h",
                                                         "matching": "all-entities"}}  # fmt: skip
    explicit["suppression"] = {"enabled": False, "duration": "5h"}
    assert json.dumps(sentinel_rule(explicit, "T | take 1\n"), indent=2, sort_keys=True) == EXISTING_BODY


def test_new_fields_render_into_the_arm_body():
    data = copy.deepcopy(EXISTING)
    data["alert"].update({"grouping": "per-result", "severity_column": "Sev", "tactics_column": "Tac"})
    data["incident"] = {
        "create": False,
        "grouping": {
            "enabled": True,
            "lookback": "2d",
            "matching": "selected",
            "by_entities": ["Host"],
            "by_custom_details": ["Count"],
        },
    }
    data["suppression"] = {"enabled": True, "duration": "90m"}
    props = sentinel_rule(data, "T")["properties"]
    assert props["eventGroupingSettings"] == {"aggregationKind": "AlertPerResult"}
    assert props["alertDetailsOverride"]["alertSeverityColumnName"] == "Sev"
    assert props["alertDetailsOverride"]["alertTacticsColumnName"] == "Tac"
    assert props["incidentConfiguration"] == {"createIncident": False, "groupingConfiguration": {
        "enabled": True, "reopenClosedIncident": False, "lookbackDuration": "P2D", "matchingMethod": "Selected",
        "groupByEntities": ["Host"], "groupByAlertDetails": [], "groupByCustomDetails": ["Count"]}}  # fmt: skip
    assert (props["suppressionEnabled"], props["suppressionDuration"]) == (True, "PT1H30M")
    assert content_hash(unmarked({"kind": "Scheduled", "properties": props})) != "36db48f7e1d4"
