"""Malformed detection files: one clear, positioned message each, exit code 1, no traceback."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from conftest import ROOT, run_dac

BAD = ROOT / "tests" / "bad_inputs"

# file -> (code, line, column) of the single diagnostic it must produce
EXPECTED = {
    "alias-bomb.yml": ("DAC106", 2, 14),
    "authors-not-a-list.yml": ("DAC203", 7, 10),
    "bad-frequency.yml": ("DAC205", 17, 23),
    "bad-uuid.yml": ("DAC205", 2, 5),
    "deep-nesting.yml": ("DAC106", 16, 73),
    "detection-without-schedule.yml": ("DAC201", 2, 1),
    "duplicate-key.yml": ("DAC108", 16, 1),
    "empty-authors.yml": ("DAC206", 7, 10),
    "empty.yml": ("DAC101", 1, 1),
    "impossible-date.yml": ("DAC205", 8, 10),
    "missing-name.yml": ("DAC201", 2, 1),
    "missing-query.yml": ("DAC201", 2, 1),
    "modified-before-created.yml": ("DAC310", 9, 11),
    "not-utf8.yml": ("DAC102", 3, 17),
    "nul-character.yml": ("DAC104", 3, 16),
    "only-comments.yml": ("DAC101", 1, 1),
    "python-tag.yml": ("DAC107", 3, 7),
    "recursive-alias.yml": ("DAC106", 16, 9),
    "reference-not-a-url.yml": ("DAC205", 11, 14),
    "tab-indentation.yml": ("DAC105", 12, 1),
    "tags-wrong-type.yml": ("DAC203", 11, 7),
    "technique-outside-tactics.yml": ("DAC404", 18, 16),
    "test-table-wrong-type.yml": ("DAC203", 19, 28),
    "threshold-out-of-range.yml": ("DAC206", 18, 36),
    "top-level-list.yml": ("DAC200", 2, 1),
    "two-documents.yml": ("DAC104", 16, 1),
    "unclosed-bracket.yml": ("DAC104", 7, 10),
    "unknown-kind.yml": ("DAC204", 5, 7),
    "unknown-nested-key.yml": ("DAC202", 16, 3),
    "unknown-tactic.yml": ("DAC401", 17, 13),
    "unknown-technique.yml": ("DAC402", 18, 16),
    "unknown-top-level-key.yml": ("DAC202", 11, 1),
    "utf16.yml": ("DAC102", 1, 1),
    "version-is-a-number.yml": ("DAC203", 10, 10),
}

DIAGNOSTIC_LINE = re.compile(r"^(?P<path>[^:\n]+):(?P<line>\d+):(?P<col>\d+): (error|warning) (?P<code>DAC\d{3}): .+$")


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()
    }


def test_every_bad_file_is_listed():
    assert sorted(p.name for p in BAD.iterdir()) == sorted(EXPECTED)
    assert len(EXPECTED) >= 25


def assert_one_clear_message(result, path: str, code: str, line: int, column: int) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    messages = [m for m in result.stdout.splitlines() if DIAGNOSTIC_LINE.match(m)]
    assert len(messages) == 1, result.stdout
    match = DIAGNOSTIC_LINE.match(messages[0])
    assert (match["path"], match["code"], int(match["line"]), int(match["col"])) == (path, code, line, column)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_file_yields_one_positioned_message(name: str):
    before = snapshot(ROOT / "tests") | snapshot(ROOT / "detections")
    result = run_dac("validate", f"tests/bad_inputs/{name}")
    assert_one_clear_message(result, f"tests/bad_inputs/{name}", *EXPECTED[name])
    assert snapshot(ROOT / "tests") | snapshot(ROOT / "detections") == before


def test_five_megabyte_file(tmp_path: Path):
    big = tmp_path / "big.yml"
    big.write_text("# yaml-language-server: $schema=x\n" + "x-padding: " + "a" * (5 * 1024 * 1024) + "\n")
    result = run_dac("validate", str(big), cwd=tmp_path)
    assert_one_clear_message(result, "big.yml", "DAC103", 1, 1)
    assert "5.00 MiB" in result.stdout


def test_all_bad_files_at_once_report_each_file_once():
    result = run_dac("validate", "--format", "json", "tests/bad_inputs")
    assert result.returncode == 1
    import json

    diagnostics = json.loads(result.stdout)["diagnostics"]
    assert sorted(Path(d["path"]).name for d in diagnostics) == sorted(EXPECTED)
