"""Platform rules (DAC6xx): each fires on a minimal bad detection and not on a good one."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from dac.checks.platform import check
from dac.model.detection import Detection, load_detection

GOOD_OUTPUT = {
    "Timestamp": "datetime",
    "TimeGenerated": "datetime",
    "ReportId": "long",
    "DeviceId": "string",
    "DeviceName": "string",
    "RemoteIP": "string",
    "RemoteUrl": "string",
    "InitiatingProcessFileName": "string",
}
TABLES = {"DeviceNetworkEvents"}
QUERY = (
    "DeviceNetworkEvents\n"
    '| where RemoteIPType == "Public"\n'
    "| project Timestamp, ReportId, DeviceId, DeviceName, RemoteIP, RemoteUrl, InitiatingProcessFileName\n"
)


def base() -> dict[str, Any]:
    return {
        "id": "3f2a9c4e-8b1d-4c6e-a5f7-2d9e0b1c4a68",
        "name": "WinSCP connection to a public address",
        "description": "WinSCP connected to a public address.",
        "kind": "detection",
        "status": "test",
        "severity": "medium",
        "authors": ["Jane Doe"],
        "created": "2025-01-15",
        "modified": "2025-02-03",
        "version": "1.1.0",
        "mitre": {"tactics": ["exfiltration"], "techniques": ["T1048"]},
        "query": {"dialect": "defender", "text": QUERY},
        "schedule": {"frequency": "1h", "lookback": "1h"},
        "trigger": {"operator": "gt", "threshold": 0},
        "alert": {
            "title": "WinSCP connection from {{DeviceName}} to {{RemoteIP}}",
            "description": "WinSCP on {{DeviceName}} connected to {{RemoteIP}}.",
            "entities": [{"type": "host", "column": "DeviceName"}, {"type": "ip", "column": "RemoteIP"}],
            "custom_details": {"RemoteUrl": "RemoteUrl", "ProcessName": "InitiatingProcessFileName"},
        },
    }


def load(tmp_path: Path, data: dict[str, Any]) -> Detection:
    file = tmp_path / "detection.yml"
    file.write_text(yaml.safe_dump(data, sort_keys=False, width=200))
    result = load_detection(file, "detection.yml")
    assert result.detection is not None, [d.format() for d in result.diagnostics]
    return result.detection


def run(
    tmp_path: Path,
    data: dict[str, Any],
    dialect: str,
    *,
    query: str | None = None,
    output: dict[str, str] | None = GOOD_OUTPUT,
    tables: set[str] = TABLES,
):
    detection = load(tmp_path, data)
    return detection, check(detection, dialect, query if query is not None else data["query"]["text"], output, tables)


def codes(diagnostics) -> list[str]:
    return sorted(d.code for d in diagnostics)


def with_(**changes: Any) -> dict[str, Any]:
    """base() with nested changes: with_(schedule={"frequency": "2h"}) merges into schedule."""
    data = copy.deepcopy(base())
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key].update(value)
        else:
            data[key] = value
    return data


@pytest.mark.parametrize("dialect", ["defender", "sentinel"])
def test_good_detection_is_clean(tmp_path, dialect):
    _, diagnostics = run(tmp_path, base(), dialect)
    assert diagnostics == []


@pytest.mark.parametrize("dialect", ["defender", "sentinel"])
def test_good_nrt_detection_is_clean(tmp_path, dialect):
    _, diagnostics = run(tmp_path, with_(schedule={"frequency": 0}), dialect)
    assert diagnostics == []


def test_hunting_queries_are_not_checked(tmp_path):
    data = with_(kind="hunting", schedule={"frequency": "2h"})
    for dialect in ("defender", "sentinel"):
        assert run(tmp_path, data, dialect, output={})[1] == []


def test_unknown_output_skips_column_checks(tmp_path):
    data = with_(alert={"custom_details": {"X": "NotAColumn"}})
    for dialect in ("defender", "sentinel"):
        assert run(tmp_path, data, dialect, output=None)[1] == []


# -- Defender ---------------------------------------------------------------------------------------


def test_dac601_time_column(tmp_path):
    output = {k: v for k, v in GOOD_OUTPUT.items() if k not in ("Timestamp", "TimeGenerated")}
    detection, diagnostics = run(tmp_path, base(), "defender", output=output)
    assert codes(diagnostics) == ["DAC601"]
    assert diagnostics[0].position == detection.position(("query", "text"))
    # TimeGenerated does only when every table read is a Sentinel table
    only_generated = {**output, "TimeGenerated": "datetime"}
    assert codes(run(tmp_path, base(), "defender", output=only_generated)[1]) == ["DAC601"]
    assert run(tmp_path, base(), "defender", output=only_generated, tables={"SigninLogs"})[1] == []


def test_dac601_points_at_the_variant_text(tmp_path):
    data = with_(variants={"defender": {"text": "DeviceNetworkEvents | project ReportId, DeviceName, RemoteIP"}})
    output = {"ReportId": "long", "DeviceName": "string", "RemoteIP": "string"}
    detection, diagnostics = run(tmp_path, data, "defender", output=output)
    assert "DAC601" in codes(diagnostics)
    first = next(d for d in diagnostics if d.code == "DAC601")
    assert first.position == detection.position(("variants", "defender", "text"))


def test_dac602_report_id(tmp_path):
    output = {k: v for k, v in GOOD_OUTPUT.items() if k != "ReportId"}
    assert codes(run(tmp_path, base(), "defender", output=output)[1]) == ["DAC602"]


def test_dac603_entity_column(tmp_path):
    output = {"Timestamp": "datetime", "ReportId": "long", "RemoteUrl": "string", "InitiatingProcessFileName": "s"}
    data = with_(alert={"title": "WinSCP", "description": "WinSCP"})
    detection, diagnostics = run(tmp_path, data, "defender", output=output)
    assert codes(diagnostics) == ["DAC603", "DAC621", "DAC621"]
    dac603 = next(d for d in diagnostics if d.code == "DAC603")
    assert dac603.position == detection.position(("alert", "entities"))
    # no entities at all: points at the alert
    data["alert"].pop("entities")
    assert "DAC603" in codes(run(tmp_path, data, "defender")[1])


def test_dac604_frequency(tmp_path):
    detection, diagnostics = run(tmp_path, with_(schedule={"frequency": "2h", "lookback": "2h"}), "defender")
    assert codes(diagnostics) == ["DAC604"]
    assert diagnostics[0].position == detection.position(("schedule", "frequency"))
    for good in ("3h", "12h", "24h"):
        assert run(tmp_path, with_(schedule={"frequency": good, "lookback": good}), "defender")[1] == []
    # Sentinel has no such restriction
    assert run(tmp_path, with_(schedule={"frequency": "2h", "lookback": "2h"}), "sentinel")[1] == []


def test_dac605_nrt_one_table(tmp_path):
    data = with_(schedule={"frequency": 0})
    diagnostics = run(tmp_path, data, "defender", tables={"DeviceNetworkEvents", "DeviceProcessEvents"})[1]
    assert codes(diagnostics) == ["DAC605"]
    # only NRT rules are restricted
    assert run(tmp_path, base(), "defender", tables={"DeviceNetworkEvents", "DeviceProcessEvents"})[1] == []


@pytest.mark.parametrize("word", ["join", "union", "externaldata"])
def test_dac606_nrt_operators(tmp_path, word):
    query = {
        "join": QUERY + "| join kind=inner (DeviceInfo) on DeviceId\n",
        "union": "union DeviceNetworkEvents, DeviceNetworkEvents\n" + QUERY.split("\n", 1)[1],
        "externaldata": 'let ips = externaldata (ip: string) [@"https://example.org/x.csv"];\n' + QUERY,
    }[word]
    data = with_(schedule={"frequency": 0}, query={"text": query})
    diagnostics = run(tmp_path, data, "defender")[1]
    assert codes(diagnostics) == ["DAC606"]
    assert word in diagnostics[0].message
    assert run(tmp_path, with_(query={"text": query}), "defender")[1] == []


def test_dac606_ignores_property_names(tmp_path):
    query = QUERY + "| extend x = parse_json(AdditionalFields).join\n"
    assert run(tmp_path, with_(schedule={"frequency": 0}, query={"text": query}), "defender")[1] == []


def test_dac607_nrt_comments(tmp_path):
    commented = "// WinSCP to public addresses\n" + QUERY
    diagnostics = run(tmp_path, with_(schedule={"frequency": 0}, query={"text": commented}), "defender")[1]
    assert codes(diagnostics) == ["DAC607"]
    # // inside a string is not a comment
    in_string = QUERY + '| where RemoteUrl != "https://winscp.net"\n'
    assert run(tmp_path, with_(schedule={"frequency": 0}, query={"text": in_string}), "defender")[1] == []


def test_dac608_nrt_table(tmp_path):
    data = with_(schedule={"frequency": 0})
    diagnostics = run(tmp_path, data, "defender", tables={"DeviceTvmSoftwareInventory"})[1]
    assert codes(diagnostics) == ["DAC608"]
    assert "DeviceTvmSoftwareInventory" in diagnostics[0].message


def test_dac609_lookback_shorter_than_frequency(tmp_path):
    detection, diagnostics = run(tmp_path, with_(schedule={"frequency": "3h", "lookback": "1h"}), "defender")
    assert "DAC609" in codes(diagnostics)
    assert next(d for d in diagnostics if d.code == "DAC609").position == detection.position(("schedule", "lookback"))


# -- Sentinel ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("frequency", ["1m", "4m", "15d"])
def test_dac610_frequency_range(tmp_path, frequency):
    detection, diagnostics = run(tmp_path, with_(schedule={"frequency": frequency, "lookback": "14d"}), "sentinel")
    assert "DAC610" in codes(diagnostics)
    assert next(d for d in diagnostics if d.code == "DAC610").position == detection.position(("schedule", "frequency"))
    assert run(tmp_path, with_(schedule={"frequency": "5m", "lookback": "14d"}), "sentinel")[1] == []


@pytest.mark.parametrize("lookback", ["4m", "15d"])
def test_dac611_lookback_range(tmp_path, lookback):
    diagnostics = run(tmp_path, with_(schedule={"frequency": "5m", "lookback": lookback}), "sentinel")[1]
    assert "DAC611" in codes(diagnostics)


def test_dac612_frequency_after_lookback(tmp_path):
    diagnostics = run(tmp_path, with_(schedule={"frequency": "2h", "lookback": "1h"}), "sentinel")[1]
    assert codes(diagnostics) == ["DAC612"]


def test_dac613_query_length(tmp_path):
    long_query = QUERY + "| where RemoteUrl != " + '"' + "x" * 10_000 + '"\n'
    assert codes(run(tmp_path, base(), "sentinel", query=long_query)[1]) == ["DAC613"]
    exactly = "T" + " " * (10_000 - 1)
    assert "DAC613" not in codes(run(tmp_path, base(), "sentinel", query=exactly)[1])


@pytest.mark.parametrize("query", ["search *", "union * | where TimeGenerated > ago(1h)"])
def test_dac614_search_or_union_star(tmp_path, query):
    assert codes(run(tmp_path, base(), "sentinel", query=query)[1]) == ["DAC614"]


def test_dac615_threshold(tmp_path):
    detection = load(tmp_path, base())
    detection.data["trigger"]["threshold"] = 20_000  # the schema would reject it in a file
    diagnostics = check(detection, "sentinel", QUERY, GOOD_OUTPUT, TABLES)
    assert codes(diagnostics) == ["DAC615"]
    assert diagnostics[0].position == detection.position(("trigger", "threshold"))


def test_dac616_placeholders_per_field(tmp_path):
    title = "{{DeviceName}} {{RemoteIP}} {{RemoteUrl}} {{DeviceId}}"
    detection, diagnostics = run(tmp_path, with_(alert={"title": title}), "sentinel")
    assert codes(diagnostics) == ["DAC616"]
    assert diagnostics[0].position == detection.position(("alert", "title"))
    # three in the title and three in the description are fine
    three = "{{DeviceName}} {{RemoteIP}} {{RemoteUrl}}"
    assert run(tmp_path, with_(alert={"title": three, "description": three}), "sentinel")[1] == []


def test_dac617_custom_detail_count(tmp_path):
    details = {f"Detail{i}": "RemoteUrl" for i in range(21)}
    assert codes(run(tmp_path, with_(alert={"custom_details": details}), "sentinel")[1]) == ["DAC617"]
    details.pop("Detail0")
    assert run(tmp_path, with_(alert={"custom_details": details}), "sentinel")[1] == []


def test_dac618_custom_detail_key(tmp_path):
    data = with_(alert={"custom_details": {"Remote-Url": "RemoteUrl", "1st": "RemoteUrl", "_ok": "RemoteUrl"}})
    detection, diagnostics = run(tmp_path, data, "sentinel")
    assert codes(diagnostics) == ["DAC618", "DAC618"]
    assert diagnostics[0].position == detection.key_position(("alert", "custom_details", "Remote-Url"))


def test_dac619_entity_mapping_count(tmp_path):
    entities = [{"type": "ip", "column": "RemoteIP"} for _ in range(11)]
    assert codes(run(tmp_path, with_(alert={"entities": entities}), "sentinel")[1]) == ["DAC619"]
    assert run(tmp_path, with_(alert={"entities": entities[:10]}), "sentinel")[1] == []


# -- both -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["defender", "sentinel"])
def test_dac620_placeholder_column(tmp_path, dialect):
    data = with_(alert={"description": "Seen on {{HostName}}"})
    detection, diagnostics = run(tmp_path, data, dialect)
    assert codes(diagnostics) == ["DAC620"]
    assert diagnostics[0].position == detection.position(("alert", "description"))


@pytest.mark.parametrize("dialect", ["defender", "sentinel"])
def test_dac621_entity_column(tmp_path, dialect):
    data = with_(alert={"entities": [{"type": "host", "column": "DeviceName"}, {"type": "ip", "column": "RemoteIp"}]})
    detection, diagnostics = run(tmp_path, data, dialect)
    assert codes(diagnostics) == ["DAC621"]
    assert diagnostics[0].position == detection.position(("alert", "entities", 1, "column"))
    assert "did you mean RemoteIP?" in diagnostics[0].notes


@pytest.mark.parametrize("dialect", ["defender", "sentinel"])
def test_dac622_custom_detail_column(tmp_path, dialect):
    data = with_(alert={"custom_details": {"Url": "RequestUrl"}})
    detection, diagnostics = run(tmp_path, data, dialect)
    assert codes(diagnostics) == ["DAC622"]
    assert diagnostics[0].position == detection.position(("alert", "custom_details", "Url"))


def test_dac623_entity_without_platform_equivalent(tmp_path):
    data = with_(
        alert={
            "entities": [
                {"type": "host", "column": "DeviceName"},
                {"type": "iotdevice", "column": "DeviceId"},
                {"type": "process", "column": "InitiatingProcessFileName"},
            ]
        }
    )
    detection, defender = run(tmp_path, data, "defender")
    assert codes(defender) == ["DAC623", "DAC623"]
    assert all(d.severity == "warning" for d in defender)
    assert defender[0].position == detection.position(("alert", "entities", 1, "type"))
    sentinel = run(tmp_path, data, "sentinel")[1]
    assert codes(sentinel) == ["DAC623"]  # Sentinel maps processes, not IoT devices


def test_dac624_unknown_identifier(tmp_path):
    data = with_(alert={"entities": [{"type": "host", "column": "DeviceName", "identifier": "Colour"}]})
    detection, diagnostics = run(tmp_path, data, "defender")
    assert codes(diagnostics) == ["DAC624"]
    assert diagnostics[0].position == detection.position(("alert", "entities", 0, "identifier"))
    # reported once per detection, by the first enabled dialect
    assert run(tmp_path, data, "sentinel")[1] == []


def test_dac625_trigger_cannot_be_expressed(tmp_path):
    data = with_(trigger={"operator": "gt", "threshold": 5})
    diagnostics = run(tmp_path, data, "defender")[1]
    assert codes(diagnostics) == ["DAC625"]
    assert diagnostics[0].severity == "warning"
    assert run(tmp_path, data, "sentinel")[1] == []
    nrt = with_(trigger={"operator": "gt", "threshold": 5}, schedule={"frequency": 0})
    assert codes(run(tmp_path, nrt, "sentinel")[1]) == ["DAC625"]


def test_dac626_identifier_missing_on_one_platform(tmp_path):
    data = with_(alert={"entities": [{"type": "host", "column": "DeviceId", "identifier": "DeviceId"}]})
    assert run(tmp_path, data, "defender")[1] == []
    diagnostics = run(tmp_path, data, "sentinel")[1]
    assert codes(diagnostics) == ["DAC626"]
    assert "HostName" in diagnostics[0].message


def test_check_variant_uses_the_bound_query(tmp_path):
    from dac.checks.platform import check_variant
    from dac.variants import build_variants

    data = with_(schedule={"frequency": "2h", "lookback": "2h"}, alert={"custom_details": {"Url": "RequestUrl"}})
    detection = load(tmp_path, data)
    found = {dialect: [] for dialect in ("defender", "sentinel")}
    for variant in build_variants(detection):
        found[variant.dialect] = codes(check_variant(detection, variant))
    assert found == {"defender": ["DAC604", "DAC622"], "sentinel": ["DAC622"]}
