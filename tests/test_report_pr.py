"""`dac report pr --base REF`: a real git repository with a base and a head commit.

Base: rundll32 (changed later), encoded-powershell (removed later), certutil (left alone).
Head: rundll32 with a new query line, version and technique; encoded-powershell deleted;
mshta added with a passing test and a failing one.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import commit, git, run_dac

ID_RUNDLL = "11111111-1111-4111-8111-111111111111"
ID_POWERSHELL = "22222222-2222-4222-8222-222222222222"
ID_CERTUTIL = "33333333-3333-4333-8333-333333333333"
ID_MSHTA = "44444444-4444-4444-8444-444444444444"

TEST_ROWS = """\
tests:
  - name: {file} started by a user is found
    now: 2024-06-01T12:00:00Z
    tables:
      DeviceProcessEvents:
        - {{Timestamp: 2024-06-01T11:00:00Z, DeviceName: pc1, FileName: {file}, ProcessCommandLine: x}}
    expect:
      count: {count}
"""


def detection(id_: str, name: str, file: str, *, version: str = "1.0.0", modified: str = "2024-01-01",
              techniques: str = "T1218", extra_where: str = "", expected: int = 1) -> str:  # fmt: skip
    lines = [
        "# yaml-language-server: $schema=../schemas/detection.schema.json",
        f"id: {id_}",
        f"name: {name}",
        "description: A detection written for the report tests.",
        "kind: hunting",
        "status: experimental",
        "authors: [tester]",
        "created: 2024-01-01",
        f"modified: {modified}",
        f"version: {version}",
        "mitre:",
        "  tactics: [defense-evasion, execution]",
        f"  techniques: [{techniques}]",
        "query:",
        "  dialect: defender",
        "  text: |",
        "    DeviceProcessEvents",
        "    | where Timestamp > ago(1d)",
        f"    | where FileName =~ '{file}'",
    ]
    if extra_where:
        lines.append(f"    {extra_where}")
    lines.append("    | project Timestamp, DeviceName, ProcessCommandLine")
    return "\n".join(lines) + "\n" + TEST_ROWS.format(file=file, count=expected)


@pytest.fixture
def pull_request(repo: Path) -> Path:
    """The repository with the base commit tagged `base` and the head changes committed on top."""
    folder = repo / "detections"
    (folder / "rundll32.yml").write_text(detection(ID_RUNDLL, "Rundll32 without arguments", "rundll32.exe"))
    (folder / "powershell.yml").write_text(detection(ID_POWERSHELL, "Encoded PowerShell", "powershell.exe",
                                                     techniques="T1059.001"))  # fmt: skip
    (folder / "certutil.yml").write_text(detection(ID_CERTUTIL, "Certutil download", "certutil.exe",
                                                   techniques="T1105"))  # fmt: skip
    commit(repo, "base")
    git(repo, "tag", "base")
    (folder / "rundll32.yml").write_text(
        detection(ID_RUNDLL, "Rundll32 without arguments", "rundll32.exe", version="1.1.0", modified="2024-02-01",
                  techniques="T1218, T1218.011", extra_where="| where ProcessCommandLine !has ','")
    )  # fmt: skip
    (folder / "powershell.yml").unlink()
    mshta = detection(ID_MSHTA, "Mshta started", "mshta.exe", techniques="T1218.005")
    mshta += TEST_ROWS.format(file="mshta.exe", count=2).replace("tests:\n", "").replace("is found", "is found twice")
    (folder / "mshta.yml").write_text(mshta)
    commit(repo, "head")
    return repo


def report(repo: Path, *args: str) -> str:
    result = run_dac("report", "pr", "--base", "base", *args, cwd=repo)
    assert result.returncode == 0, result.stderr
    return result.stdout


def section(markdown: str, title: str) -> str:
    """The text of one `### title (n)` section, up to the next `###`."""
    match = re.search(rf"^### {title}.*?(?=^### |\Z)", markdown, re.S | re.M)
    assert match, f"no section {title!r} in:\n{markdown}"
    return match.group(0)


def test_sections_and_counts(pull_request: Path) -> None:
    markdown = report(pull_request)
    assert markdown.startswith("<!-- dac:pr-report -->\n## dac: detection review\n")
    assert "**1 added, 1 changed, 1 removed** · 1 unchanged" in markdown
    assert "tests of changed detections: 4/6 passed" in markdown  # mshta: 2 of 4, rundll32: 2 of 2
    assert markdown.count("| 🆕 added |") == 1 and markdown.count("| ✏️ changed |") == 1
    assert markdown.count("| 🗑️ removed |") == 1

    added = section(markdown, r"Added \(1\)")
    assert "Mshta started" in added and "`detections/mshta.yml`" in added
    assert "**Tests:** 2 of 4 passed" in added
    assert "❌ mshta.exe started by a user is found twice (defender): failed" in added
    assert "<summary>Defender query</summary>" in added and "<summary>Sentinel query</summary>" in added
    assert "| where TimeGenerated > ago(1d)" in added  # the rendered Sentinel variant

    changed = section(markdown, r"Changed \(1\)")
    assert "Rundll32 without arguments" in changed
    assert "Changed: `modified`, `version`, `mitre`, `query`" in changed
    assert "**Findings:** none" in changed and "**Tests:** 2 of 2 passed" in changed
    assert "<summary>Defender query diff (+1 −0)</summary>" in changed
    assert "+| where ProcessCommandLine !has ','" in changed
    assert "Sentinel query diff" in changed

    removed = section(markdown, r"Removed \(1\)")
    assert "Encoded PowerShell" in removed and ID_POWERSHELL in removed
    assert "Certutil" not in markdown.split("### ATT&CK coverage")[0]  # unchanged: only counted

    coverage = section(markdown, "ATT&CK coverage")
    assert "Techniques with at least one detection: 3 → 4 (2 newly covered, 1 no longer covered)." in coverage
    assert "| [T1218.005](https://attack.mitre.org/techniques/T1218/005/) | Mshta |" in coverage
    assert re.search(r"\| \[T1059\.001\]\(.*?\) \| PowerShell \| execution \| 1 \| 🔴 0 \|", coverage)
    assert "T1105" not in coverage  # unchanged coverage is not listed


def test_findings_of_a_changed_file_include_the_base_checks(pull_request: Path) -> None:
    folder = pull_request / "detections"
    text = (folder / "rundll32.yml").read_text().replace("version: 1.1.0", "version: 1.0.0")
    (folder / "rundll32.yml").write_text(text)
    changed = section(report(pull_request), r"Changed \(1\)")
    assert "error `DAC304`" in changed  # the query changed but the version did not move
    assert "**Tests:** not run: the detection has errors" in changed


def test_a_moved_file_is_one_changed_detection(pull_request: Path) -> None:
    git(pull_request, "mv", "detections/rundll32.yml", "detections/proxy-execution.yml")
    markdown = report(pull_request)
    assert "**1 added, 1 changed, 1 removed**" in markdown
    changed = section(markdown, r"Changed \(1\)")
    assert "moved from `detections/rundll32.yml`" in changed and "Changed: `file`," in changed


def test_a_broken_head_file_is_reported_with_its_finding(pull_request: Path) -> None:
    (pull_request / "detections" / "broken.yml").write_text("id: [unclosed\n")
    markdown = report(pull_request)
    assert "**2 added, 1 changed, 1 removed**" in markdown
    added = section(markdown, r"Added \(2\)")
    assert "`detections/broken.yml`" in added and "error `DAC104`: invalid YAML" in added


def test_out_file_and_the_length_limit(pull_request: Path) -> None:
    full = report(pull_request)
    result = run_dac("report", "pr", "--base", "base", "--out", "out/report.md", "--max-chars", "3000",
                     cwd=pull_request)  # fmt: skip
    assert result.returncode == 0, result.stderr
    short = (pull_request / "out" / "report.md").read_text()
    assert len(short) <= 3000 < len(full)
    assert "to fit in a pull-request comment" in short
    assert "| 🆕 added |" in short  # the summary table stays


def test_no_changes(pull_request: Path) -> None:
    markdown = run_dac("report", "pr", "--base", "HEAD", cwd=pull_request).stdout
    assert "**0 added, 0 changed, 0 removed** · 3 unchanged" in markdown
    assert "###  Added" not in markdown and "Techniques with at least one detection: 4 → 4" in markdown


def test_unknown_base_is_a_usage_error(pull_request: Path) -> None:
    result = run_dac("report", "pr", "--base", "no-such-ref", cwd=pull_request)
    assert result.returncode == 2
    assert result.stderr.strip() == "dac: error: unknown git ref 'no-such-ref'"
    assert "Traceback" not in result.stderr
