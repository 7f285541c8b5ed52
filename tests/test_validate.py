"""`dac validate` and `dac check` end to end: formats, exit codes, repository and ATT&CK checks."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import ROOT, detection_text, make_project, run_dac


def diagnostics_of(result) -> list[dict]:
    return json.loads(result.stdout)["diagnostics"]


def test_repository_detections_are_valid():
    result = run_dac("validate", "detections/", "--format", "json")
    assert result.returncode == 0, result.stdout
    document = json.loads(result.stdout)
    assert document["diagnostics"] == []
    assert document["summary"] == {"files": 10, "valid": 10, "errors": 0, "warnings": 0}


def test_check_prints_a_summary_over_the_detections_folder():
    result = run_dac("check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "dac check passed: 10 files checked: 10 valid, 0 errors, 0 warnings" in result.stdout
    assert "Detecting Port Scanning On Internet Facing Devices" in result.stdout


def test_every_detection_file_starts_with_the_schema_line():
    for file in sorted((ROOT / "detections").rglob("*.yml")):
        assert file.read_text().startswith("# yaml-language-server: $schema=../../schemas/detection.schema.json\n")


def test_github_annotations(tmp_path: Path):
    make_project(tmp_path)
    (tmp_path / "detections" / "a.yml").write_text(detection_text(extra="severity: urgent\n"))
    result = run_dac("validate", "--format", "github", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "::error file=detections/a.yml,line=16,col=11,title=DAC204::severity: the string 'urgent' is not one of: "
        "informational, low, medium, high"
    ]


def test_deprecated_technique_is_a_warning_naming_the_replacement(tmp_path: Path):
    make_project(tmp_path)
    mitre = "mitre:\n  tactics: [persistence]\n  techniques: [T1004]\n"
    (tmp_path / "detections" / "a.yml").write_text(detection_text(mitre=mitre))
    result = run_dac("validate", "--format", "json", cwd=tmp_path)
    assert result.returncode == 0
    [warning] = diagnostics_of(result)
    assert (warning["code"], warning["severity"], warning["line"]) == ("DAC403", "warning", 13)
    assert "use T1547.004 'Winlogon Helper DLL' instead" in warning["message"]
    assert run_dac("validate", "--fail-on", "warning", cwd=tmp_path).returncode == 1


def test_revoked_technique_without_successor_links_attack(tmp_path: Path):
    make_project(tmp_path)
    mitre = "mitre:\n  tactics: [command-and-control]\n  techniques: [T1065]\n"
    (tmp_path / "detections" / "a.yml").write_text(detection_text(mitre=mitre))
    [warning] = diagnostics_of(run_dac("validate", "--format", "json", cwd=tmp_path))
    assert warning["code"] == "DAC403"
    assert "https://attack.mitre.org/techniques/T1065/" in warning["message"]


def test_subtechnique_and_tactic_spelling(tmp_path: Path):
    make_project(tmp_path)
    good = "mitre:\n  tactics: [execution]\n  techniques: [T1059.001]\n"
    bad = "mitre:\n  tactics: [CommandAndControl]\n"
    (tmp_path / "detections" / "good.yml").write_text(detection_text(mitre=good))
    (tmp_path / "detections" / "bad.yml").write_text(detection_text("5d0b6a39-8f0e-4a2b-9a51-1c0e6f6e2b12", mitre=bad))
    result = run_dac("validate", "--format", "json", cwd=tmp_path)
    [finding] = diagnostics_of(result)
    assert (finding["path"], finding["code"]) == ("detections/bad.yml", "DAC205")
    assert finding["notes"] == ["did you mean 'command-and-control'?"]


def test_duplicate_ids_across_the_repository(tmp_path: Path):
    make_project(tmp_path)
    (tmp_path / "detections" / "one.yml").write_text(detection_text(name="One"))
    (tmp_path / "detections" / "sub").mkdir()
    schema_line = "# yaml-language-server: $schema=../../schemas/detection.schema.json"
    (tmp_path / "detections" / "sub" / "two.yml").write_text(detection_text(name="Two", schema_line=schema_line))
    both = diagnostics_of(run_dac("validate", "--format", "json", cwd=tmp_path))
    assert sorted((d["path"], d["code"], d["line"]) for d in both) == [
        ("detections/one.yml", "DAC301", 2),
        ("detections/sub/two.yml", "DAC301", 2),
    ]
    # checking one file still sees the rest of the repository
    one = diagnostics_of(run_dac("validate", "detections/one.yml", "--format", "json", cwd=tmp_path))
    assert [(d["code"], d["message"]) for d in one] == [
        ("DAC301", "id 5d0b6a39-8f0e-4a2b-9a51-1c0e6f6e2b11 is also used by detections/sub/two.yml")
    ]


def test_schema_comment_missing_or_dangling(tmp_path: Path):
    make_project(tmp_path)
    (tmp_path / "detections" / "none.yml").write_text(detection_text(schema_line=None))
    (tmp_path / "detections" / "dangling.yml").write_text(
        detection_text("5d0b6a39-8f0e-4a2b-9a51-1c0e6f6e2b12", schema_line="# yaml-language-server: $schema=nope.json")
    )
    found = diagnostics_of(run_dac("validate", "--format", "json", cwd=tmp_path))
    assert sorted((d["path"], d["code"], d["severity"]) for d in found) == [
        ("detections/dangling.yml", "DAC312", "warning"),
        ("detections/none.yml", "DAC311", "warning"),
    ]


def test_usage_errors_exit_2(tmp_path: Path):
    missing = run_dac("validate", "no/such/path")
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    (tmp_path / "dac.yml").write_text("detections: [a]\n")
    bad_config = run_dac("validate", cwd=tmp_path)
    assert bad_config.returncode == 2
    assert "dac.yml:1:13: error DAC120" in bad_config.stderr
    (tmp_path / "dac.yml").write_text("detections: elsewhere\n")
    no_folder = run_dac("check", cwd=tmp_path)
    assert no_folder.returncode == 2 and "no detections folder" in no_folder.stderr
    for result in (missing, bad_config, no_folder):
        assert "Traceback" not in result.stderr


def test_help_lists_the_commands():
    result = run_dac("--help")
    for command in ("check", "validate", "new", "import"):
        assert f"  {command} " in result.stdout


def test_parameter_name_points_at_the_bad_key(tmp_path: Path):
    make_project(tmp_path)
    (tmp_path / "detections" / "a.yml").write_text(detection_text(extra="parameters:\n  good: 1\n  bad-name: 2\n"))
    [finding] = diagnostics_of(run_dac("validate", "--format", "json", cwd=tmp_path))
    assert (finding["code"], finding["line"], finding["column"]) == ("DAC205", 18, 3)
    assert "'bad-name' is not a valid parameter name" in finding["message"]


def test_nrt_frequency_may_be_written_as_a_number(tmp_path: Path):
    make_project(tmp_path)
    rule = detection_text().replace("kind: hunting", "kind: detection") + (
        "severity: low\nschedule: {frequency: 0, lookback: 1h}\ntrigger: {operator: gt, threshold: 0}\n"
        "alert: {title: NRT rule, entities: [{type: host, column: DeviceName}]}\n"
    )
    (tmp_path / "detections" / "a.yml").write_text(rule)
    assert run_dac("validate", cwd=tmp_path).returncode == 0
    (tmp_path / "detections" / "a.yml").write_text(rule.replace("frequency: 0", "frequency: 5"))
    [finding] = diagnostics_of(run_dac("validate", "--format", "json", cwd=tmp_path))
    assert finding["code"] == "DAC206" and finding["message"].startswith("schedule.frequency: 5 is above")


def test_an_empty_dac_yml_means_defaults(tmp_path: Path):
    make_project(tmp_path)
    (tmp_path / "dac.yml").write_text("# nothing configured\n")
    (tmp_path / "detections" / "a.yml").write_text(detection_text())
    assert run_dac("check", cwd=tmp_path).returncode == 0


def test_a_query_folded_by_yaml_is_a_warning_at_its_text_key(tmp_path: Path):
    make_project(tmp_path)
    folded = detection_text().replace(
        "  text: |\n    DeviceProcessEvents | where Timestamp > ago(1d)\n",
        "  text:\n    DeviceProcessEvents | where Timestamp > ago(1d) // recent only\n",
    )
    (tmp_path / "detections" / "a.yml").write_text(folded)
    result = run_dac("validate", "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stdout  # a warning does not fail by default
    [finding] = [d for d in diagnostics_of(result) if d["code"] == "DAC109"]
    assert (finding["severity"], finding["line"], finding["column"]) == ("warning", 13, 3)
    assert "the `//` comment on line 14 swallows everything after it; write `text: |`" in finding["message"]


def test_a_blank_line_keeps_a_folded_comment_from_swallowing(tmp_path: Path):
    make_project(tmp_path)
    folded = detection_text().replace(
        "  text: |\n    DeviceProcessEvents | where Timestamp > ago(1d)\n",
        "  text:\n    DeviceProcessEvents // recent only\n\n    | where Timestamp > ago(1d)\n",
    )
    (tmp_path / "detections" / "a.yml").write_text(folded)
    [finding] = diagnostics_of(run_dac("validate", "--format", "json", cwd=tmp_path))
    assert finding["code"] == "DAC109"
    assert "swallows" not in finding["message"] and "it still runs" in finding["message"]
    # blank lines between all the lines: YAML keeps every line break, nothing is folded
    kept = folded.replace("ago(1d)\n    | take 10", "ago(1d)\n\n    | take 10")
    (tmp_path / "detections" / "a.yml").write_text(kept)
    assert diagnostics_of(run_dac("validate", "--format", "json", cwd=tmp_path)) == []


def test_dac_yml_unknown_key_points_at_the_key(tmp_path: Path):
    make_project(tmp_path)
    (tmp_path / "dac.yml").write_text("detections: detections\ntarget:\n  - name: x\n")
    result = run_dac("validate", cwd=tmp_path)
    assert result.returncode == 2
    assert "dac.yml:2:1: error DAC120: unknown key 'target' (did you mean 'targets'?)" in result.stderr
    assert "Traceback" not in result.stderr
