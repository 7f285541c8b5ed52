"""`dac new` scaffolds a valid detection with a fresh id."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import make_project, run_dac


def test_new_detection_is_valid_and_unique(tmp_path: Path):
    make_project(tmp_path)
    first = run_dac("new", "Suspicious LSASS access", "--author", "Ada", cwd=tmp_path)
    second = run_dac("new", "Suspicious LSASS access", "--kind", "hunting", "--dir", "detections/x", cwd=tmp_path)
    third = run_dac("new", "Suspicious LSASS access", cwd=tmp_path)
    assert [r.returncode for r in (first, second, third)] == [0, 0, 0]
    assert "created detections/suspicious-lsass-access.yml (id " in first.stdout
    assert "created detections/suspicious-lsass-access-2.yml" in third.stdout
    text = (tmp_path / "detections" / "suspicious-lsass-access.yml").read_text()
    assert text.startswith("# yaml-language-server: $schema=../schemas/detection.schema.json\n")
    assert "authors: [Ada]" in text and "kind: detection" in text and "schedule:" in text
    hunting = (tmp_path / "detections" / "x" / "suspicious-lsass-access.yml").read_text()
    assert "kind: hunting" in hunting and "schedule:" not in hunting
    ids = re.findall(r"\(id ([0-9a-f-]{36})\)", first.stdout + second.stdout + third.stdout)
    assert len(set(ids)) == 3
    report = json.loads(run_dac("validate", "--format", "json", cwd=tmp_path).stdout)
    assert report["diagnostics"] == [] and report["summary"]["valid"] == 3


def test_new_rejects_an_empty_name(tmp_path: Path):
    result = run_dac("new", "  ", cwd=make_project(tmp_path))
    assert result.returncode == 2 and "NAME must not be empty" in result.stderr
