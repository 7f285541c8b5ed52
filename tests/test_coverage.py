"""`dac coverage`: which detections cover which ATT&CK technique, as a Navigator layer and a markdown matrix."""

from __future__ import annotations

import json
from pathlib import Path

from jsonschema import Draft202012Validator

from conftest import detection_text, make_project, run_dac
from dac.coverage import coverage, technique_coverage
from dac.model.attack import load_catalog
from dac.model.detection import load_detection

# What the Navigator needs to open a layer (layer format 4.5), written from its specification.
NAVIGATOR_LAYER_SCHEMA = {
    "type": "object",
    "required": ["name", "domain", "versions", "techniques"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "domain": {"enum": ["enterprise-attack", "mobile-attack", "ics-attack"]},
        "description": {"type": "string"},
        "versions": {
            "type": "object",
            "required": ["layer", "navigator"],
            "properties": {
                "layer": {"const": "4.5"},
                "navigator": {"type": "string", "pattern": r"^\d+\.\d+\.\d+$"},
                "attack": {"type": "string", "pattern": r"^\d+$"},
            },
        },
        "sorting": {"enum": [0, 1, 2, 3]},
        "techniques": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["techniqueID"],
                "properties": {
                    "techniqueID": {"type": "string", "pattern": r"^T\d{4}(\.\d{3})?$"},
                    "score": {"type": "number"},
                    "comment": {"type": "string"},
                    "enabled": {"type": "boolean"},
                    "showSubtechniques": {"type": "boolean"},
                    "metadata": {
                        "type": "array",
                        "items": {"type": "object", "required": ["name", "value"],
                                  "properties": {"name": {"type": "string"}, "value": {"type": "string"}}},
                    },
                },
            },
        },
        "gradient": {
            "type": "object",
            "required": ["colors", "minValue", "maxValue"],
            "properties": {
                "colors": {"type": "array", "minItems": 2, "items": {"type": "string", "pattern": "^#[0-9a-fA-F]{6}$"}},
                "minValue": {"type": "number"},
                "maxValue": {"type": "number"},
            },
        },
        "legendItems": {
            "type": "array",
            "items": {"type": "object", "required": ["label", "color"]},
        },
        "layout": {
            "type": "object",
            "properties": {
                "layout": {"enum": ["side", "flat", "mini"]},
                "aggregateFunction": {"enum": ["average", "min", "max", "sum"]},
                "expandedSubtechniques": {"enum": ["none", "all", "annotated"]},
            },
        },
    },
}  # fmt: skip


def _mitre(tactics: list[str], techniques: list[str]) -> str:
    return f"mitre:\n  tactics: [{', '.join(tactics)}]\n  techniques: [{', '.join(techniques)}]\n"


def _detections(root: Path) -> Path:
    """Four detections: two count for T1059.001, one for T1048, one is deprecated, one names an unknown id."""
    make_project(root)
    folder = root / "detections" / "execution"
    folder.mkdir()
    files = {
        "powershell.yml": ("11111111-1111-4111-8111-111111111111", "PowerShell | pipes", ["execution"],
                           ["T1059.001"], "test"),
        "exfil.yml": ("22222222-2222-4222-8222-222222222222", "Exfil over PowerShell", ["execution", "exfiltration"],
                      ["T1059.001", "T1048"], "stable"),
        "old.yml": ("33333333-3333-4333-8333-333333333333", "Old exfiltration", ["exfiltration"], ["T1048"],
                    "deprecated"),
        "future.yml": ("44444444-4444-4444-8444-444444444444", "Future technique", ["execution"], ["T1999"],
                       "experimental"),
    }  # fmt: skip
    for name, (id_, title, tactics, techniques, status) in files.items():
        text = detection_text(id_, title, schema_line=None, mitre=_mitre(tactics, techniques))
        (folder / name).write_text(text.replace("status: test", f"status: {status}"))
    return root


def _loaded(root: Path):
    return [load_detection(f).detection for f in sorted((root / "detections").rglob("*.yml"))]


def test_technique_coverage_counts_every_status_but_deprecated(tmp_path: Path):
    found = technique_coverage(_loaded(_detections(tmp_path)))
    assert list(found) == ["T1048", "T1059.001", "T1999"]  # by id
    assert [d.name for d in found["T1059.001"]] == ["Exfil over PowerShell", "PowerShell | pipes"]  # by name
    assert [d.name for d in found["T1048"]] == ["Exfil over PowerShell"]
    assert [d.name for d in technique_coverage(_loaded(tmp_path), statuses=["deprecated"])["T1048"]] == [
        "Old exfiltration"
    ]
    assert technique_coverage(_loaded(tmp_path), kinds=["detection"]) == {}


def test_per_tactic_counts_techniques_with_their_sub_techniques(tmp_path: Path):
    measured = coverage(_loaded(_detections(tmp_path)))
    catalog = load_catalog()
    by_tactic = {entry.tactic.shortname: entry for entry in measured.tactics()}
    execution = by_tactic["execution"]
    assert execution.covered == ("T1059",)  # through its sub-technique T1059.001
    assert execution.named == ("T1059.001",)
    assert execution.total == sum(
        1 for t in catalog.techniques.values() if "." not in t.id and t.status == "active" and "execution" in t.tactics
    )
    assert [d.name for d in execution.detections] == ["Exfil over PowerShell", "PowerShell | pipes"]
    assert by_tactic["exfiltration"].covered == ("T1048",)
    assert by_tactic["impact"].covered == () and by_tactic["impact"].detections == ()
    assert measured.unknown == ["T1999"]


def test_navigator_layer(tmp_path: Path):
    root = _detections(tmp_path)
    result = run_dac("coverage", "--format", "navigator", cwd=root)
    assert result.returncode == 0, result.stderr
    layer = json.loads(result.stdout)
    assert list(Draft202012Validator(NAVIGATOR_LAYER_SCHEMA).iter_errors(layer)) == []
    assert layer["versions"]["layer"] == "4.5" and layer["versions"]["attack"] == "18"
    assert layer["domain"] == "enterprise-attack"
    techniques = {t["techniqueID"]: t for t in layer["techniques"]}
    assert list(techniques) == ["T1048", "T1059", "T1059.001"]  # T1999 is not in ATT&CK: left out
    assert {t: entry["score"] for t, entry in techniques.items()} == {"T1048": 1, "T1059": 0, "T1059.001": 2}
    assert techniques["T1059"]["showSubtechniques"] is True and techniques["T1048"]["showSubtechniques"] is False
    assert [m["value"] for m in techniques["T1059.001"]["metadata"]] == [
        "Exfil over PowerShell (detections/execution/exfil.yml)",
        "PowerShell | pipes (detections/execution/powershell.yml)",
    ]
    assert layer["gradient"]["minValue"] == 0 and layer["gradient"]["maxValue"] == 2
    assert "T1999" in layer["description"]
    assert run_dac("coverage", "--format", "navigator", cwd=root).stdout == result.stdout  # deterministic


def test_markdown_matrix(tmp_path: Path):
    root = _detections(tmp_path)
    catalog = load_catalog()
    result = run_dac("coverage", cwd=root)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    execution_total = sum(
        1 for t in catalog.techniques.values() if "." not in t.id and t.status == "active" and "execution" in t.tactics
    )
    assert f"| [Execution](https://attack.mitre.org/tactics/TA0002/) | 1 / {execution_total} | 2 |" in lines
    assert "| [Exfiltration](https://attack.mitre.org/tactics/TA0010/) | 1 / 9 | 1 |" in lines
    assert "| [Impact](https://attack.mitre.org/tactics/TA0040/) | 0 / 15 | 0 |" in lines
    row = next(line for line in lines if line.startswith("| [T1059.001]"))
    assert "(sub-technique of T1059)" in row
    assert "[PowerShell \\| pipes](detections/execution/powershell.yml)" in row  # escaped, relative link
    assert any(line.startswith("Not in the ATT&CK catalog: `T1999` ([Future technique]") for line in lines)
    assert "Old exfiltration" not in result.stdout


def test_out_file_links_relative_to_it_and_bad_files_exit_1(tmp_path: Path):
    root = _detections(tmp_path)
    (root / "detections" / "broken.yml").write_text("id: [\n")
    result = run_dac("coverage", "--out", "reports/coverage.md", cwd=root)
    assert result.returncode == 1
    assert "detections/broken.yml:" in result.stderr and "DAC104" in result.stderr
    assert result.stdout == ""
    text = (root / "reports" / "coverage.md").read_text()
    assert "](../detections/execution/powershell.yml)" in text


def test_no_detections_folder_is_a_usage_error(tmp_path: Path):
    (tmp_path / "dac.yml").write_text("detections: nowhere\n")
    result = run_dac("coverage", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("dac: error: no detections folder")
