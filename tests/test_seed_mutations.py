"""Mutation test: each seed detection's tests fail when the query loses its key condition.

For every detection, removing the line that carries its key condition must make `dac test`
fail (its near-miss test then alerts); the unmutated detection passes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import ROOT, run_dac

KEY_CONDITIONS = {
    "detecting-port-scanning-on-internet-facing-devices.yml": "| where IsInternetFacing",
    "devicenetworkevents-from-winscp-with-enriched-ip-information.yml": (
        '| where RemoteUrl !endswith ".WinSCP-project.org"'
    ),
    "public-inbound-connections-to-a-compromised-device.yml": "| where DeviceName == CompromisedDevice",
    "rare-or-low-prevalent-outgoing-successful-ipv4-connections.yml": "| where isempty(ExcludedNet)",
    "threat-hunting-for-inbound-connections-from-malicious-ips.yml": "| where RemoteIP in (MaliciousIP)",
    "winscp-connections-to-public-addresses.yml": '| where RemoteUrl !endswith ".winscp.net"',
    "inbound-connection-from-an-ipsum-listed-address.yml": "| where RemoteIP in (MaliciousIP)",
    "port-scan-of-an-internet-facing-device.yml": "| where IsInternetFacing",
    "public-inbound-connection-accepted-by-a-compromised-device.yml": "| where DeviceName == CompromisedDevice",
    "rare-process-with-outgoing-connections-on-non-web-ports.yml": "| where DeviceCount < 4",
}

# Conditions the scheduled-rule derivatives (kind: detection) of the seeds carry besides their key
# condition: the hunt's threshold or filter they keep, or the one the derivation added. Each has a
# test that fails without it.
RULE_CONDITIONS = [
    ("port-scan-of-an-internet-facing-device.yml", "| where Connections >= 3"),
    ("public-inbound-connection-accepted-by-a-compromised-device.yml", "| where RemoteIPIsPrivate == 0"),
    ("public-inbound-connection-accepted-by-a-compromised-device.yml", "| where Timestamp > ago(SearchWindow)"),
    ("rare-process-with-outgoing-connections-on-non-web-ports.yml", "| where Timestamp > ago(30d)"),
    ("winscp-connections-to-public-addresses.yml", '| where RemoteUrl !endswith ".WinSCP-project.org"'),
    ("winscp-connections-to-public-addresses.yml", '| where RemoteIPType == "Public"'),
]


def test_every_detection_has_a_key_condition_listed():
    assert sorted(KEY_CONDITIONS) == sorted(p.name for p in (ROOT / "detections" / "network").glob("*.yml"))


def project_with(tmp_path: Path, name: str, mutate: bool, condition: str | None = None) -> Path:
    shutil.copytree(ROOT / "schemas", tmp_path / "schemas")
    (tmp_path / "dac.yml").write_text("detections: detections\n")
    folder = tmp_path / "detections" / "network"
    folder.mkdir(parents=True)
    shutil.copytree(ROOT / "detections" / "network" / "fixtures", folder / "fixtures")
    lines = (ROOT / "detections" / "network" / name).read_text().splitlines(keepends=True)
    if mutate:
        condition = condition or KEY_CONDITIONS[name]
        matching = [line for line in lines if line.strip() == condition]
        assert len(matching) == 1, f"{name}: the key condition must be one whole query line"
        lines.remove(matching[0])
    (folder / name).write_text("".join(lines))
    return tmp_path


@pytest.mark.parametrize("name", sorted(KEY_CONDITIONS))
def test_tests_fail_without_the_key_condition(tmp_path: Path, name: str):
    intact = run_dac("test", "--format", "json", cwd=project_with(tmp_path / "intact", name, mutate=False))
    assert intact.returncode == 0, intact.stdout
    mutated = run_dac("test", "--format", "json", cwd=project_with(tmp_path / "mutated", name, mutate=True))
    assert mutated.returncode == 1
    statuses = [test["status"] for test in json.loads(mutated.stdout)["tests"]]
    assert "failed" in statuses, statuses


@pytest.mark.parametrize(("name", "condition"), RULE_CONDITIONS)
def test_rule_tests_fail_without_each_condition(tmp_path: Path, name: str, condition: str):
    mutated = run_dac("test", "--format", "json", cwd=project_with(tmp_path, name, mutate=True, condition=condition))
    assert mutated.returncode == 1, mutated.stdout
    statuses = [test["status"] for test in json.loads(mutated.stdout)["tests"]]
    assert "failed" in statuses, statuses
