"""Deployable rule bodies: Graph detectionRule and ARM alertRules, checked against schemas/api/."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from conftest import ROOT
from dac.rules import (
    SENTINEL_IDENTIFIERS,
    body_is_current,
    content_hash,
    defender_entity,
    defender_rule,
    iso_duration,
    read_marker,
    sentinel_entity,
    sentinel_rule,
    strip_marker,
    unmarked,
)

DETECTION_ID = "3f2a9c4e-8b1d-4c6e-a5f7-2d9e0b1c4a68"
QUERY = """DeviceNetworkEvents
| where InitiatingProcessFileName =~ "WinSCP.exe"
| where RemoteIPType == "Public"
| project Timestamp, ReportId, DeviceId, DeviceName, RemoteIP, RemoteUrl, InitiatingProcessFileName,
    InitiatingProcessAccountSid
"""


def sample() -> dict[str, Any]:
    """A kind: detection file's data, as dac loads it."""
    return {
        "id": DETECTION_ID,
        "name": "WinSCP connection to a public address",
        "description": "WinSCP, or a renamed copy, connected to a public IP address.\n",
        "kind": "detection",
        "status": "test",
        "severity": "medium",
        "authors": ["Jane Doe"],
        "created": "2025-01-15",
        "modified": "2025-02-03",
        "version": "1.1.0",
        "mitre": {
            "tactics": ["exfiltration", "command-and-control"],
            "techniques": ["T1048", "T1071.001", "T1048.003"],
        },
        "query": {"dialect": "defender", "text": QUERY},
        "schedule": {"frequency": "1h", "lookback": "2h"},
        "trigger": {"operator": "gt", "threshold": 0},
        "alert": {
            "title": "WinSCP connection from {{DeviceName}} to {{RemoteIP}}",
            "description": "WinSCP on {{DeviceName}} connected to {{RemoteIP}}.",
            "recommended_actions": "Ask the device owner whether the transfer was approved.",
            "entities": [
                {"type": "host", "column": "DeviceName"},
                {"type": "ip", "column": "RemoteIP", "identifier": "Address"},
                {"type": "account", "column": "InitiatingProcessAccountSid"},
                {"type": "device", "column": "DeviceId", "identifier": "DeviceId"},
            ],
            "custom_details": {"RemoteUrl": "RemoteUrl", "ProcessName": "InitiatingProcessFileName"},
        },
    }


def nrt(data: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(data)
    data["schedule"] = {"frequency": 0, "lookback": "1h"}
    return data


def validator(name: str) -> Draft202012Validator:
    schema = json.loads((ROOT / "schemas" / "api" / f"{name}.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def assert_valid(name: str, body: dict[str, Any]) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator(name).iter_errors(body)]
    assert errors == []


def dumped(body: dict[str, Any]) -> str:
    return json.dumps(body, indent=2, sort_keys=True)


# -- schemas -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["defender-detection-rule", "sentinel-alert-rule"])
def test_api_schemas_are_draft_2020_12_and_name_their_sources(name):
    schema = json.loads((ROOT / "schemas" / "api" / f"{name}.schema.json").read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    assert "https://learn.microsoft.com/" in schema["description"]


def test_sentinel_schema_identifiers_match_the_code():
    schema = json.loads((ROOT / "schemas" / "api" / "sentinel-alert-rule.schema.json").read_text())
    rules = schema["$defs"]["entityMapping"]["allOf"]
    from_schema = {
        rule["if"]["properties"]["entityType"]["const"]: tuple(
            rule["then"]["properties"]["fieldMappings"]["items"]["properties"]["identifier"]["enum"]
        )
        for rule in rules
    }
    assert from_schema == SENTINEL_IDENTIFIERS


def test_schemas_reject_a_broken_body():
    body = sentinel_rule(sample(), QUERY)
    body["properties"]["severity"] = "Critical"
    body["properties"]["triggerOperator"] = "gt"
    assert len(list(validator("sentinel-alert-rule").iter_errors(body))) >= 1
    rule = defender_rule(sample(), QUERY)
    rule["schedule"]["frequency"] = "PT2H"
    del rule["detectionAction"]["alertTemplate"]["severity"]
    assert len(list(validator("defender-detection-rule").iter_errors(rule))) >= 2


# -- Defender --------------------------------------------------------------------------------------


def test_defender_body_validates_and_carries_the_detection():
    body = defender_rule(sample(), QUERY)
    assert_valid("defender-detection-rule", body)
    assert body["id"] == DETECTION_ID
    assert body["displayName"] == "WinSCP connection to a public address"
    assert body["status"] == "enabled"
    assert body["queryCondition"] == {"queryText": QUERY}
    assert body["schedule"] == {"frequency": "PT1H", "lookback": "PT2H"}
    template = body["detectionAction"]["alertTemplate"]
    assert template["title"] == "WinSCP connection from {{DeviceName}} to {{RemoteIP}}"
    assert template["severity"] == "medium"
    assert template["recommendedActions"].startswith("Ask the device owner")
    assert template["customDetails"] == {"RemoteUrl": "RemoteUrl", "ProcessName": "InitiatingProcessFileName"}
    assert template["entityMappings"] == {
        "hosts": [{"nameColumn": "DeviceName"}, {"deviceIdColumn": "DeviceId"}],
        "ips": [{"addressColumn": "RemoteIP"}],
        "accounts": [{"sidColumn": "InitiatingProcessAccountSid"}],
    }
    assert template["tactics"] == [
        {"tactic": "Exfiltration", "techniques": [{"technique": "T1048", "subTechniques": ["T1048.003"]}]},
        {"tactic": "CommandAndControl", "techniques": [{"technique": "T1071", "subTechniques": ["T1071.001"]}]},
    ]
    assert body["detectionAction"]["organizationalScope"] is None
    # deprecated properties are not written
    assert "isEnabled" not in body and "period" not in body["schedule"]
    assert not {"category", "mitreTechniques", "impactedAssets"} & set(template)


def test_defender_nrt_and_deprecated():
    data = nrt(sample())
    data["status"] = "deprecated"
    body = defender_rule(data, QUERY)
    assert_valid("defender-detection-rule", body)
    assert body["schedule"] == {"frequency": "PT0S"}
    assert body["status"] == "disabled"


@pytest.mark.parametrize(("frequency", "expected"), [("1h", "PT1H"), ("3h", "PT3H"), ("12h", "PT12H"), ("24h", "P1D")])
def test_defender_frequencies(frequency, expected):
    data = sample()
    data["schedule"] = {"frequency": frequency, "lookback": frequency}
    body = defender_rule(data, QUERY)
    assert body["schedule"]["frequency"] == expected
    assert_valid("defender-detection-rule", body)


# -- Sentinel --------------------------------------------------------------------------------------


def test_sentinel_scheduled_body_validates():
    body = sentinel_rule(sample(), QUERY)
    assert_valid("sentinel-alert-rule", body)
    assert body["kind"] == "Scheduled"
    props = body["properties"]
    assert props["displayName"] == "WinSCP connection to a public address"
    assert props["severity"] == "Medium"
    assert props["enabled"] is True
    assert props["query"] == QUERY
    assert (props["queryFrequency"], props["queryPeriod"]) == ("PT1H", "PT2H")
    assert (props["triggerOperator"], props["triggerThreshold"]) == ("GreaterThan", 0)
    assert (props["suppressionDuration"], props["suppressionEnabled"]) == ("PT5H", False)
    assert props["tactics"] == ["Exfiltration", "CommandAndControl"]
    assert props["techniques"] == ["T1048", "T1071"]
    # ScheduledAlertRuleProperties has subTechniques too ("The sub-techniques of the alert rule")
    assert props["subTechniques"] == [t for t in sample()["mitre"]["techniques"] if "." in t]
    assert props["entityMappings"] == [
        {"entityType": "Host", "fieldMappings": [{"identifier": "HostName", "columnName": "DeviceName"}]},
        {"entityType": "IP", "fieldMappings": [{"identifier": "Address", "columnName": "RemoteIP"}]},
        {
            "entityType": "Account",
            "fieldMappings": [{"identifier": "Sid", "columnName": "InitiatingProcessAccountSid"}],
        },
        {"entityType": "Host", "fieldMappings": [{"identifier": "HostName", "columnName": "DeviceId"}]},
    ]
    assert props["customDetails"] == {"RemoteUrl": "RemoteUrl", "ProcessName": "InitiatingProcessFileName"}
    assert props["alertDetailsOverride"] == {
        "alertDisplayNameFormat": "WinSCP connection from {{DeviceName}} to {{RemoteIP}}",
        "alertDescriptionFormat": "WinSCP on {{DeviceName}} connected to {{RemoteIP}}.",
    }
    assert props["eventGroupingSettings"] == {"aggregationKind": "SingleAlert"}
    assert props["incidentConfiguration"]["createIncident"] is True
    assert props["incidentConfiguration"]["groupingConfiguration"]["enabled"] is False


def test_sentinel_nrt_body():
    body = sentinel_rule(nrt(sample()), QUERY)
    assert_valid("sentinel-alert-rule", body)
    assert body["kind"] == "NRT"
    props = body["properties"]
    assert not {"queryFrequency", "queryPeriod", "triggerOperator", "triggerThreshold"} & set(props)
    assert props["techniques"] == ["T1048", "T1071"]
    assert props["subTechniques"] == ["T1071.001", "T1048.003"]


@pytest.mark.parametrize(
    ("operator", "expected"), [("gt", "GreaterThan"), ("lt", "LessThan"), ("eq", "Equal"), ("ne", "NotEqual")]
)
def test_sentinel_trigger_operators(operator, expected):
    data = sample()
    data["trigger"] = {"operator": operator, "threshold": 7}
    props = sentinel_rule(data, QUERY)["properties"]
    assert (props["triggerOperator"], props["triggerThreshold"]) == (expected, 7)


def test_sentinel_without_mitre_entities_or_placeholders():
    data = sample()
    del data["mitre"]
    data["alert"] = {"title": data["name"]}
    body = sentinel_rule(data, QUERY)
    assert_valid("sentinel-alert-rule", body)
    props = body["properties"]
    assert props["tactics"] == [] and props["techniques"] == []
    assert "entityMappings" not in props and "customDetails" not in props
    # the alert description is the rule's, without the ownership marker
    assert props["alertDetailsOverride"] == {"alertDescriptionFormat": data["description"].strip()}
    assert defender_rule(data, QUERY)["detectionAction"]["alertTemplate"]["tactics"] == []


def test_sentinel_deprecated_is_disabled():
    data = sample()
    data["status"] = "deprecated"
    assert sentinel_rule(data, QUERY)["properties"]["enabled"] is False


# -- determinism and ownership ---------------------------------------------------------------------


@pytest.mark.parametrize("build", [defender_rule, sentinel_rule])
def test_bodies_are_deterministic(build):
    first = dumped(build(sample(), QUERY))
    reordered = dict(reversed(list(copy.deepcopy(sample()).items())))
    reordered["alert"]["custom_details"] = dict(reversed(list(reordered["alert"]["custom_details"].items())))
    assert dumped(build(sample(), QUERY)) == first
    assert dumped(build(reordered, QUERY)) == first


@pytest.mark.parametrize(
    ("build", "holder"), [(defender_rule, lambda b: b), (sentinel_rule, lambda b: b["properties"])]
)
def test_ownership_marker(build, holder):
    body = build(sample(), QUERY)
    description = holder(body)["description"]
    last_line = description.splitlines()[-1]
    marker = read_marker(description)
    assert marker is not None
    assert last_line == f"[dac id={DETECTION_ID} hash={marker.hash}]"
    assert description.startswith("WinSCP, or a renamed copy, connected to a public IP address.\n\n[dac id=")
    assert strip_marker(description) == "WinSCP, or a renamed copy, connected to a public IP address."
    # the hash covers the body without the marker
    assert marker.hash == content_hash(unmarked(body))
    assert body_is_current(body)
    # a change anywhere changes the hash; a portal edit makes the live body stale
    other = build(sample(), QUERY + "| take 10\n")
    assert read_marker(holder(other)["description"]).hash != marker.hash
    edited = copy.deepcopy(body)
    holder(edited)["displayName"] = "Renamed in the portal"
    assert not body_is_current(edited)


def test_marker_absent_on_foreign_rules():
    assert read_marker("A rule someone made in the portal") is None
    assert read_marker(None) is None
    assert strip_marker("plain") == "plain"


# -- helpers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5m", "PT5M"),
        ("1h", "PT1H"),
        ("90m", "PT1H30M"),
        ("24h", "P1D"),
        ("36h", "P1DT12H"),
        ("1d", "P1D"),
        ("14d", "P14D"),
        ("0", "PT0S"),
        (0, "PT0S"),
    ],
)
def test_iso_duration(value, expected):
    assert iso_duration(value) == expected


def test_iso_duration_rejects_other_text():
    with pytest.raises(ValueError):
        iso_duration("1w")


def test_entity_targets():
    assert sentinel_entity({"type": "account", "column": "AccountObjectId"}).field == "AadUserId"
    assert sentinel_entity({"type": "account", "column": "AccountUpn"}).field == "FullName"
    assert defender_entity({"type": "account", "column": "AccountUpn"}).field == "upnColumn"
    assert defender_entity({"type": "user", "column": "x", "identifier": "AadUserId"}).field == "aadUserIdColumn"
    assert defender_entity({"type": "mailbox", "column": "RecipientEmailAddress"}).kind == "mailboxes"
    assert defender_entity({"type": "filehash", "column": "SHA256"}).field == "sha256Column"
    # Defender maps processes by hash only; IoT devices and malware have no Defender mapping
    assert defender_entity({"type": "process", "column": "ProcessCommandLine"}) is None
    assert defender_entity({"type": "process", "column": "InitiatingProcessSHA1"}).field == "sha1Column"
    assert defender_entity({"type": "iotdevice", "column": "x"}) is None
    assert sentinel_entity({"type": "iotdevice", "column": "x"}) is None
    # an identifier one platform lacks falls back to the default, marked inexact
    target = sentinel_entity({"type": "host", "column": "DeviceId", "identifier": "DeviceId"})
    assert (target.kind, target.field, target.exact) == ("Host", "HostName", False)


def test_an_entity_of_several_identifiers_is_one_entity_on_both_platforms():
    data = sample()
    data["alert"]["entities"] = [
        {"type": "account", "identifiers": {"Name": "AccountName", "Sid": "AccountSid"}},
        {"type": "host", "column": "DeviceName"},
    ]
    sentinel = sentinel_rule(data, QUERY)
    assert_valid("sentinel-alert-rule", sentinel)
    # Sentinel: an entity mapping holds "fieldMappings", one per identifier of the one entity
    assert sentinel["properties"]["entityMappings"] == [
        {"entityType": "Account", "fieldMappings": [{"identifier": "Name", "columnName": "AccountName"},
                                                    {"identifier": "Sid", "columnName": "AccountSid"}]},
        {"entityType": "Host", "fieldMappings": [{"identifier": "HostName", "columnName": "DeviceName"}]},
    ]  # fmt: skip
    defender = defender_rule(data, QUERY)
    assert_valid("defender-detection-rule", defender)
    # Defender: one entity is one item of its collection, each identifier one *Column property of it
    mappings = defender["detectionAction"]["alertTemplate"]["entityMappings"]
    assert mappings["accounts"] == [{"nameColumn": "AccountName", "sidColumn": "AccountSid"}]
    assert mappings["hosts"] == [{"nameColumn": "DeviceName"}]
