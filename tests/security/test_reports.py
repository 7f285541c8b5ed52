"""Machine-readable results are complete: a failing test is a finding in json, sarif and github output,
so a tool never sees a failing run with an empty report."""

from __future__ import annotations

import json

from attack import AttackProject, detection

FAILING = """
  - name: expects a row that is not there
    now: 2024-12-02T12:00:00Z
    tables:
      DeviceNetworkEvents:
        - {Timestamp: 2024-12-02T11:00:00Z, DeviceName: ws1, RemoteIP: 8.8.8.8}
    expect:
      count: 5
"""


def _failing_project(project: AttackProject) -> None:
    project.write("detections/failing.yml", detection(FAILING))


def test_json_output_of_check_holds_the_failed_tests(attack_project: AttackProject):
    _failing_project(attack_project)
    result = attack_project.dac("check", "--format", "json")
    assert result.returncode == 1
    document = json.loads(result.stdout)
    failed = [d for d in document["diagnostics"] if d["code"] == "DAC709"]
    assert len(failed) == 2  # one per dialect, at the expectation that does not hold
    text = (attack_project.root / "detections/failing.yml").read_text()
    line = text[: text.index("count: 5")].count("\n") + 1
    assert {(d["path"], d["line"]) for d in failed} == {("detections/failing.yml", line)}
    assert {t["status"] for t in document["tests"]} == {"failed"}
    assert document["summary"]["tests"]["failed"] == 2
    assert document["summary"]["errors"] == 0  # the file itself is valid


def test_sarif_output_of_check_holds_the_failed_tests(attack_project: AttackProject):
    _failing_project(attack_project)
    result = attack_project.dac("check", "--format", "sarif")
    assert result.returncode == 1
    results = json.loads(result.stdout)["runs"][0]["results"]
    assert any(r["ruleId"] == "DAC709" for r in results)


def test_github_output_of_check_holds_the_failed_tests(attack_project: AttackProject):
    _failing_project(attack_project)
    result = attack_project.dac("check", "--format", "github")
    assert result.returncode == 1
    annotations = [line for line in result.stdout.splitlines() if line.startswith("::error") and "DAC709" in line]
    assert annotations and "file=detections/failing.yml" in annotations[0]
