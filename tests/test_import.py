"""`dac import markdown`: the seed documents become the committed detections."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import ROOT, run_dac
from dac.model.yamlsource import load_yaml_text

COMMITTED = ROOT / "detections" / "network"


def without_id_and_schema_line(text: str) -> str:
    """The file minus what differs between imports (id, $schema path) and curation added afterwards
    (warnings a detection silences on purpose, with their comment, and the tests)."""
    lines = text.splitlines()
    assert lines[0].startswith("# yaml-language-server: $schema=")
    assert re.fullmatch(r"id: [0-9a-f-]{36}", lines[1])
    body = lines[2:]
    if "tests:" in body:  # tests are written after import, by people
        body = body[: body.index("tests:")]
    kept = [line for line in body if not line.startswith("suppress: ")]
    return "\n".join(
        line
        for i, line in enumerate(kept)
        if not (line.startswith("# ") and i + 1 < len(kept) and kept[i + 1].startswith("query:"))
    )


def test_import_reproduces_the_seed_detections(shared: Path, tmp_path: Path):
    seeds = sorted(str(p) for p in (shared / "seeds").glob("*.txt"))
    result = run_dac("import", "markdown", *seeds, "--out", str(tmp_path / "x"), "--date", "2026-11-22")
    assert result.returncode == 0, result.stderr
    produced = sorted(p.name for p in (tmp_path / "x").iterdir())
    assert len(produced) == 5 and set(produced) <= {p.name for p in COMMITTED.glob("*.yml")}
    for name in produced:
        expected = without_id_and_schema_line((COMMITTED / name).read_text())
        assert without_id_and_schema_line((tmp_path / "x" / name).read_text()) == expected, name
    # the imported files are valid detections (their schema line points at this project's schema)
    assert run_dac("validate", str(tmp_path / "x")).returncode == 0


def test_sentinel_blocks_that_the_renderer_reproduces_are_not_kept():
    # The seeds' Sentinel blocks are either identical (000), absent (004) or differ only in
    # Timestamp -> TimeGenerated, which dac's renderer does: no detection needs an override (the
    # seeds' rule derivatives name their platforms in `variants`, but none writes a query text).
    kept = {
        p.name: any("text" in (variant or {}) for variant in (load_yaml_text(p.read_text(), p.name).data.get(
            "variants") or {}).values())
        for p in COMMITTED.glob("*.yml")
    }  # fmt: skip
    assert kept == dict.fromkeys(kept, False) and len(kept) == 10


def test_a_sentinel_block_the_renderer_cannot_produce_is_kept(tmp_path: Path):
    doc = tmp_path / "q.md"
    doc.write_text(
        "# Logons\n\n## Defender XDR\n```kql\nDeviceLogonEvents\n| where Timestamp > ago(1d)\n```\n"
        "## Sentinel\n```kql\nSigninLogs\n| where TimeGenerated > ago(1d)\n```\n"
    )
    assert run_dac("import", "markdown", str(doc), "--out", str(tmp_path / "out"), cwd=tmp_path).returncode == 0
    data = load_yaml_text((tmp_path / "out" / "logons.yml").read_text(), "x").data
    assert data["variants"]["sentinel"]["text"] == "SigninLogs\n| where TimeGenerated > ago(1d)\n"


def test_metadata_from_the_documents():
    port_scan = load_yaml_text((COMMITTED / "detecting-port-scanning-on-internet-facing-devices.yml").read_text(), "p")
    assert port_scan.data["mitre"] == {"tactics": ["discovery"], "techniques": ["T1049"]}
    assert port_scan.data["authors"] == ["Steven Lim"]
    assert port_scan.data["created"] == "2024-10-16"


def test_a_failing_document_writes_nothing(tmp_path: Path):
    good = tmp_path / "good.md"
    good.write_text("# Good\n\n## Defender XDR\n```kql\nDeviceEvents\n| take 1\n```\n")
    bad = tmp_path / "bad.md"
    bad.write_text("# Bad\n\nNo query in here.\n")
    out = tmp_path / "out"
    result = run_dac("import", "markdown", str(good), str(bad), "--out", str(out), cwd=tmp_path)
    assert result.returncode == 2
    assert re.match(r"^.*bad\.md:\d+:\d+: error DAC502: cannot import: ", result.stderr)
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_a_single_document_imports_into_a_project(tmp_path: Path):
    (tmp_path / "dac.yml").write_text("detections: detections\n")
    doc = tmp_path / "q.md"
    doc.write_text("# Rare parent\n\n#### Description\nFinds things.\n\n## Defender XDR\n```\nDeviceEvents\n```\n")
    result = run_dac(
        "import", "markdown", str(doc), "--out", "detections/endpoint", "--date", "2025-01-31", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    written = (tmp_path / "detections" / "endpoint" / "rare-parent.yml").read_text()
    assert "created: 2025-01-31\n" in written
    assert "description: |\n  Finds things.\n" in written
    assert run_dac("validate", cwd=tmp_path).returncode == 0
