"""`dac validate --base REF`: ids never change or get reused, versions move forward (DAC302-DAC306).

Each test builds a real git repository in tmp_path, commits a base and changes the working tree.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import commit, git, run_dac

ID_A = "11111111-1111-4111-8111-111111111111"
ID_B = "22222222-2222-4222-8222-222222222222"
ID_C = "33333333-3333-4333-8333-333333333333"
QUERY_A = (
    "DeviceProcessEvents | where Timestamp > ago(1d)\n| where FileName =~ 'rundll32.exe'\n"
    "| project Timestamp, DeviceName, ReportId"
)
VARIANT = "variants:\n  sentinel:\n    text: DeviceProcessEvents | where TimeGenerated > ago({}d)\n"
QUERY_B = (
    "EmailEvents | where Timestamp > ago(1d)\n| where ThreatTypes has 'Phish'\n"
    "| summarize count() by RecipientEmailAddress"
)


def detection_yaml(
    id_: str,
    name: str,
    *,
    version: str = "1.0.0",
    modified: str = "2024-01-01",
    query: str = QUERY_A,
    dialect: str = "defender",
    severity: str | None = None,
    threshold: int = 0,
    extra: str = "",
) -> str:
    """A small valid detection; with `severity` it is a `kind: detection` with an alert shape."""
    lines = [
        "# yaml-language-server: $schema=../schemas/detection.schema.json",
        f"id: {id_}",
        f"name: {name}",
        "description: A detection written for the history tests.",
        f"kind: {'detection' if severity else 'hunting'}",
        "status: experimental",
        "authors: [tester]",
        "created: 2024-01-01",
        f"modified: {modified}",
        f"version: {version}",
    ]
    if severity:
        lines += [
            f"severity: {severity}",
            "schedule: {frequency: 1h, lookback: 1h}",
            f"trigger: {{operator: gt, threshold: {threshold}}}",
            "alert: {title: Something happened, entities: [{type: host, column: DeviceName}]}",
        ]
    lines += ["query:", f"  dialect: {dialect}", "  text: |", *(f"    {line}" for line in query.splitlines())]
    return "\n".join(lines) + "\n" + extra


def write(repo: Path, name: str, text: str) -> None:
    (repo / "detections" / name).write_text(text)


def line_of(repo: Path, name: str, key: str) -> int:
    lines = (repo / "detections" / name).read_text().splitlines()
    return next(number for number, line in enumerate(lines, 1) if line.startswith(f"{key}:"))


def findings(repo: Path, ref: str = "HEAD") -> set[tuple[str, str, int]]:
    """(code, path, line) of each diagnostic; the exit code must be 1 exactly when one is an error."""
    result = run_dac("validate", "--base", ref, "--format", "json", cwd=repo)
    assert "Traceback" not in result.stderr
    diagnostics = json.loads(result.stdout)["diagnostics"]
    errors = any(d["severity"] == "error" for d in diagnostics)
    assert result.returncode == (1 if errors else 0), (result.stdout, result.stderr)
    # Only the history rules: other checks (platform rules on the sample rules) are tested elsewhere.
    return {(d["code"], d["path"], d["line"]) for d in diagnostics if d["code"].startswith("DAC30")}


def based(repo: Path, **files: str) -> None:
    """Commit `files` (name -> text) as the base."""
    for name, text in files.items():
        write(repo, name + ".yml", text)
    commit(repo, "base")


def test_nothing_changed_is_clean(repo: Path) -> None:
    extra = VARIANT.format(1) + "parameters:\n  limit: 5\n"
    based(repo, a=detection_yaml(ID_A, "Rundll32", extra=extra), b=detection_yaml(ID_B, "Phish", severity="low"))
    assert findings(repo) == set()


def test_bumped_version_and_modified_is_clean(repo: Path) -> None:
    based(repo, a=detection_yaml(ID_A, "Rundll32", severity="low"))
    write(repo, "a.yml", detection_yaml(ID_A, "Rundll32", version="1.1.0", modified="2024-02-01",
                                        query=QUERY_A + "\n| take 10", severity="high"))  # fmt: skip
    assert findings(repo) == set()


CHANGES = {  # (base, head) keyword arguments of detection_yaml
    "query text": ({}, {"query": QUERY_A + "\n| take 10"}),
    "dialect": ({}, {"dialect": "sentinel"}),
    "variant added": ({}, {"extra": VARIANT.format(1)}),
    "variant text": ({"extra": VARIANT.format(1)}, {"extra": VARIANT.format(2)}),
    "parameters": ({"extra": "parameters:\n  limit: 5\n"}, {"extra": "parameters:\n  limit: 6\n"}),
    "severity": ({}, {"severity": "high"}),
    "trigger": ({}, {"threshold": 3}),
    "platform turned off": ({}, {"extra": "variants:\n  sentinel: {enabled: false}\n"}),
    "hunting became a rule": ({"severity": None}, {}),
}


@pytest.mark.parametrize(("before", "after"), CHANGES.values(), ids=CHANGES.keys())
def test_change_without_bump_is_dac304_and_dac306(repo: Path, before: dict, after: dict) -> None:
    based(repo, a=detection_yaml(ID_A, "Rundll32", **{"severity": "low", **before}))
    write(repo, "a.yml", detection_yaml(ID_A, "Rundll32", **{"severity": "low", **after}))
    assert findings(repo) == {
        ("DAC304", "detections/a.yml", line_of(repo, "a.yml", "version")),
        ("DAC306", "detections/a.yml", line_of(repo, "a.yml", "modified")),
    }


def test_alert_only_change_message_names_the_alert(repo: Path) -> None:
    based(repo, a=detection_yaml(ID_A, "Rundll32", severity="low"))
    write(repo, "a.yml", detection_yaml(ID_A, "Rundll32", severity="medium", modified="2024-03-01"))
    result = run_dac("validate", "--base", "HEAD", "--format", "json", cwd=repo)
    assert result.returncode == 1
    [diagnostic] = json.loads(result.stdout)["diagnostics"]
    assert (diagnostic["code"], diagnostic["severity"]) == ("DAC304", "error")
    assert "alert changed" in diagnostic["message"] and "query" not in diagnostic["message"]


def test_bump_without_modified_is_only_the_dac306_warning(repo: Path) -> None:
    based(repo, a=detection_yaml(ID_A, "Rundll32"))
    write(repo, "a.yml", detection_yaml(ID_A, "Rundll32", version="1.0.1", query=QUERY_A + "\n| take 10"))
    assert findings(repo) == {("DAC306", "detections/a.yml", line_of(repo, "a.yml", "modified"))}


def test_version_going_down_is_dac305(repo: Path) -> None:
    based(repo, a=detection_yaml(ID_A, "Rundll32", version="2.0.0"))
    write(repo, "a.yml", detection_yaml(ID_A, "Rundll32", version="1.9.9"))
    assert findings(repo) == {("DAC305", "detections/a.yml", line_of(repo, "a.yml", "version"))}


def test_changed_id_is_dac302(repo: Path) -> None:
    based(repo, a=detection_yaml(ID_A, "Rundll32"))
    write(repo, "a.yml", detection_yaml(ID_B, "Rundll32", query=QUERY_A + "\n| take 10"))  # no version check after
    assert findings(repo) == {("DAC302", "detections/a.yml", line_of(repo, "a.yml", "id"))}


def test_reusing_the_id_of_a_deleted_different_detection_is_dac303(repo: Path) -> None:
    based(repo, a=detection_yaml(ID_A, "Rundll32"))
    (repo / "detections" / "a.yml").unlink()
    write(repo, "new.yml", detection_yaml(ID_A, "Phish", query=QUERY_B))  # untracked
    assert findings(repo) == {("DAC303", "detections/new.yml", line_of(repo, "new.yml", "id"))}


def test_reusing_the_id_of_a_detection_that_still_exists_is_dac303(repo: Path) -> None:
    # a.yml gave its id away (DAC302); b.yml took it, same name and query, but a.yml is still there.
    based(repo, a=detection_yaml(ID_A, "Rundll32"))
    write(repo, "a.yml", detection_yaml(ID_C, "Rundll32"))
    write(repo, "b.yml", detection_yaml(ID_A, "Rundll32"))
    assert findings(repo) == {
        ("DAC302", "detections/a.yml", line_of(repo, "a.yml", "id")),
        ("DAC303", "detections/b.yml", line_of(repo, "b.yml", "id")),
    }


def test_moved_file_with_query_change_and_bump_is_clean(repo: Path) -> None:
    based(repo, a=detection_yaml(ID_A, "Rundll32"))
    git(repo, "mv", "detections/a.yml", "detections/renamed.yml")
    write(repo, "renamed.yml", detection_yaml(ID_A, "Rundll32", version="1.0.1", modified="2024-02-01", query=QUERY_B))
    assert findings(repo) == set()


def test_moved_file_with_query_change_and_no_bump_is_dac304(repo: Path) -> None:
    based(repo, a=detection_yaml(ID_A, "Rundll32"))
    (repo / "detections" / "a.yml").unlink()  # an untracked copy, not `git mv`
    write(repo, "renamed.yml", detection_yaml(ID_A, "Rundll32", query=QUERY_A + "\n| take 10"))
    assert findings(repo) == {
        ("DAC304", "detections/renamed.yml", line_of(repo, "renamed.yml", "version")),
        ("DAC306", "detections/renamed.yml", line_of(repo, "renamed.yml", "modified")),
    }


def test_moved_and_renamed_with_similar_query_is_the_same_detection(repo: Path) -> None:
    based(repo, a=detection_yaml(ID_A, "Rundll32", version="1.2.0"))
    (repo / "detections" / "a.yml").unlink()
    write(repo, "b.yml", detection_yaml(ID_A, "Rundll32 started", version="1.2.0"))
    assert findings(repo) == set()
    write(repo, "b.yml", detection_yaml(ID_A, "Rundll32 started", version="1.1.0"))  # compared with the old file
    assert findings(repo) == {("DAC305", "detections/b.yml", line_of(repo, "b.yml", "version"))}


def test_untracked_new_detection_is_clean(repo: Path) -> None:
    based(repo, a=detection_yaml(ID_A, "Rundll32"))
    write(repo, "new.yml", detection_yaml(ID_B, "Phish", query=QUERY_B))
    assert git(repo, "status", "--porcelain") == "?? detections/new.yml\n"
    assert findings(repo) == set()


def test_base_can_be_an_older_commit(repo: Path) -> None:
    based(repo, a=detection_yaml(ID_A, "Rundll32"))
    git(repo, "tag", "base")
    write(repo, "a.yml", detection_yaml(ID_A, "Rundll32", version="0.9.0"))
    commit(repo, "head")
    expected = {("DAC305", "detections/a.yml", line_of(repo, "a.yml", "version"))}
    assert findings(repo, "base") == findings(repo, "HEAD~1") == expected
    assert findings(repo, "HEAD") == set()


def test_validating_one_path_still_knows_the_other_files_exist(repo: Path) -> None:
    based(repo, a=detection_yaml(ID_A, "Rundll32"))
    write(repo, "a.yml", detection_yaml(ID_C, "Rundll32"))
    write(repo, "b.yml", detection_yaml(ID_A, "Rundll32"))  # would be a.yml moved, were a.yml gone
    result = run_dac("validate", "detections/b.yml", "--base", "HEAD", "--format", "json", cwd=repo)
    assert result.returncode == 1
    found = {(d["code"], d["path"], d["line"]) for d in json.loads(result.stdout)["diagnostics"]}
    assert found == {("DAC303", "detections/b.yml", line_of(repo, "b.yml", "id"))}


@pytest.mark.parametrize("ref", ["no-such-ref", "HEAD~5", "0123456789abcdef0123456789abcdef01234567"])
def test_unknown_ref_is_a_usage_error(repo: Path, ref: str) -> None:
    based(repo, a=detection_yaml(ID_A, "Rundll32"))
    result = run_dac("validate", "--base", ref, "--format", "json", cwd=repo)
    assert result.returncode == 2
    assert result.stderr.strip() == f"dac: error: unknown git ref '{ref}'"
    assert result.stdout == ""


def test_not_a_git_repository_is_a_usage_error(repo: Path) -> None:
    write(repo, "a.yml", detection_yaml(ID_A, "Rundll32"))
    result = run_dac("validate", "--base", "HEAD", "--format", "json", cwd=repo)
    assert result.returncode == 2
    assert result.stderr.startswith("dac: error: ") and "not inside a git repository" in result.stderr
    assert "Traceback" not in result.stderr
