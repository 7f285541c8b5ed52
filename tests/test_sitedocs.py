"""`dac docs`: a markdown page per detection, an index and a coverage page, from sandboxed templates."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import ROOT, detection_text, make_project, run_dac
from dac.reports.site import fence

RULE = ROOT / "detections" / "network" / "winscp-connections-to-public-addresses.yml"
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _project(root: Path) -> Path:
    """A hunting query under execution/ (with a `|` in its name) and a scheduled rule under network/."""
    make_project(root)
    (root / "detections" / "execution").mkdir()
    (root / "detections" / "network").mkdir()
    mitre = "mitre:\n  tactics: [execution]\n  techniques: [T1059.001]\n"
    hunting = detection_text(name="PowerShell | download cradles", schema_line=None, mitre=mitre)
    (root / "detections" / "execution" / "cradles.yml").write_text(hunting)
    (root / "detections" / "network" / "winscp.yml").write_text(RULE.read_text())
    return root


def _local_links(page: Path) -> list[str]:
    return [target for target in LINK.findall(page.read_text()) if not target.startswith(("http://", "https://"))]


def test_pages_index_and_coverage_with_links_that_resolve(tmp_path: Path):
    root = _project(tmp_path)
    result = run_dac("docs", "--out", "site", cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    site = root / "site"
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.md"))
    assert pages == ["coverage.md", "execution/cradles.md", "index.md", "network/winscp.md"]
    for page in site.rglob("*.md"):
        for target in _local_links(page):
            assert (page.parent / target).resolve().is_file(), f"{page}: broken link {target}"

    rule = (site / "network" / "winscp.md").read_text()
    assert rule.startswith("# WinSCP connections to public IP addresses\n")
    assert "| Severity | medium |" in rule and "| Schedule | every 1h, looking back 1h |" in rule
    assert "[T1048](https://attack.mitre.org/techniques/T1048/) Exfiltration Over Alternative Protocol" in rule
    assert "### Microsoft Sentinel\n\n```kql\nDeviceNetworkEvents" in rule
    assert "| project TimeGenerated, ReportId" in rule  # the rendered Sentinel query, not the source
    assert "| WinSCP checking for updates on winscp.net stays quiet | defender, sentinel |" in rule
    assert "](../../detections/network/winscp.yml)" in rule

    hunting = (site / "execution" / "cradles.md").read_text()
    assert "## Rule" not in hunting and "No tests." in hunting

    index = (site / "index.md").read_text()
    assert "## execution" in index and "## network" in index
    assert "| [PowerShell \\| download cradles](execution/cradles.md) | hunting | - | test | Execution |" in index
    assert "[ATT&CK coverage](coverage.md)" in index
    coverage = (site / "coverage.md").read_text()
    assert "[WinSCP connections to public IP addresses](network/winscp.md)" in coverage


def test_a_custom_template_overrides_the_built_in_one_by_name(tmp_path: Path):
    root = _project(tmp_path)
    templates = root / "doc-templates"
    templates.mkdir()
    (templates / "detection.md.j2").write_text(
        "# {{ detection.name }} ({{ detection.severity or 'hunting' }})\n"
        "{% for q in queries %}{{ q.dialect }}\n{% endfor %}"
    )
    result = run_dac("docs", "--out", "site", "--templates", "doc-templates", cwd=root)
    assert result.returncode == 0, result.stderr
    assert (root / "site" / "network" / "winscp.md").read_text() == (
        "# WinSCP connections to public IP addresses (medium)\ndefender\nsentinel\n"
    )
    assert (root / "site" / "index.md").read_text().startswith("# Detections\n")  # still the built-in index


def test_an_undefined_variable_is_a_usage_error_naming_the_line(tmp_path: Path):
    root = _project(tmp_path)
    (root / "t").mkdir()
    (root / "t" / "index.md.j2").write_text("# Index\n{{ count }} detections\n{{ areas_by_name }}\n")
    result = run_dac("docs", "--out", "site", "--templates", "t", cwd=root)
    assert result.returncode == 2
    assert "index.md.j2:3: template error: 'areas_by_name' is undefined" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (root / "site").exists()  # nothing is written when a template fails


def test_the_sandbox_refuses_unsafe_attributes(tmp_path: Path):
    root = _project(tmp_path)
    (root / "t").mkdir()
    (root / "t" / "detection.md.j2").write_text("{{ ''.__class__.__mro__ }}\n")
    result = run_dac("docs", "--out", "site", "--templates", "t", cwd=root)
    assert result.returncode == 2
    assert result.stderr.startswith("dac: error: ")
    assert "access to attribute '__class__' of 'str' object is unsafe" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_template_syntax_error_is_a_usage_error(tmp_path: Path):
    root = _project(tmp_path)
    (root / "t").mkdir()
    (root / "t" / "detection.md.j2").write_text("ok\n{% if %}\n")
    result = run_dac("docs", "--out", "site", "--templates", "t", cwd=root)
    assert result.returncode == 2 and "detection.md.j2:2: template error:" in result.stderr


def test_detections_with_errors_are_reported_and_skipped_and_nothing_is_deleted(tmp_path: Path):
    root = _project(tmp_path)
    (root / "detections" / "network" / "broken.yml").write_text(
        detection_text("5d0b6a39-8f0e-4a2b-9a51-1c0e6f6e2b12", extra="severity: urgent\n")
    )
    stale = root / "site" / "network" / "removed-detection.md"
    stale.parent.mkdir(parents=True)
    stale.write_text("# an old page\n")
    result = run_dac("docs", "--out", "site", cwd=root)
    assert result.returncode == 1
    assert "detections/network/broken.yml:" in result.stdout and "DAC204" in result.stdout
    assert "1 with errors not documented" in result.stderr
    assert not (root / "site" / "network" / "broken.md").exists()
    assert (root / "site" / "network" / "winscp.md").is_file()
    assert stale.read_text() == "# an old page\n"


def test_fence_is_longer_than_any_backtick_run_in_the_query():
    assert fence("T | where x == 1") == "```"
    assert fence("print '````'") == "`````"
