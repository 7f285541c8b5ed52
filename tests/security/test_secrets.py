"""Secrets the process knows are masked by value in every output, log, report and written file."""

from __future__ import annotations

import subprocess

from attack import ENV_MARKER, AttackProject, detection

# A detection that carries the environment's secret values in its text, its fixture and its failing
# expectation: whatever dac prints or writes about it must show them masked.
SECRET_TESTS = f"""
  - name: a row that carries the secret
    now: 2024-12-02T12:00:00Z
    tables:
      DeviceNetworkEvents:
        - {{Timestamp: 2024-12-02T11:00:00Z, DeviceName: "{ENV_MARKER}-token", RemoteIP: 8.8.8.8}}
    expect:
      count: 2
      rows: [{{DeviceName: "{ENV_MARKER}-client"}}]
"""


def _project_with_secret(project: AttackProject) -> None:
    project.write("detections/leaky.yml", detection(SECRET_TESTS, name=f"Leaky {ENV_MARKER}-client"))


def test_secrets_are_masked_in_every_output_format(attack_project: AttackProject):
    _project_with_secret(attack_project)
    for args in (["check"], ["check", "--format", "json"], ["check", "--format", "sarif"],
                 ["check", "--format", "github"], ["test"], ["test", "--format", "json"]):  # fmt: skip
        result = attack_project.dac(*args)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        assert "[REDACTED]" in result.stdout + result.stderr, args
        attack_project.assert_no_leak(result, project=False)


def test_secrets_are_masked_in_written_reports(attack_project: AttackProject):
    _project_with_secret(attack_project)
    root = attack_project.root
    runs = [
        attack_project.dac("test", "--junit", "junit.xml"),
        attack_project.dac("render", "--out", "build"),
        attack_project.dac("docs", "--out", "site"),
    ]
    assert (root / "junit.xml").is_file() and (root / "build").is_dir() and (root / "site").is_dir()
    assert "[REDACTED]" in (root / "junit.xml").read_text()
    for result in runs:
        attack_project.assert_no_leak(result, root / "junit.xml", root / "build", root / "site", project=False)


def test_secrets_are_masked_in_the_pull_request_report(attack_project: AttackProject):
    root = attack_project.root
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "base"], cwd=root, check=True)
    _project_with_secret(attack_project)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "head"], cwd=root, check=True)
    result = attack_project.dac("report", "pr", "--base", "HEAD~1", "--out", "report.md")
    assert (root / "report.md").is_file(), result.stderr
    assert "[REDACTED]" in (root / "report.md").read_text()
    attack_project.assert_no_leak(result, root / "report.md", project=False)


def test_registered_tokens_and_token_shapes_are_masked(monkeypatch):
    from dac.redaction import REDACTED, redact, register_secret

    monkeypatch.setenv("MY_SERVICE_TOKEN", "s3cr3t-value-123")
    monkeypatch.setenv("PWD", "/work/main")  # the current folder is no secret
    register_secret("obtained-access-token-xyz")
    text = redact("a s3cr3t-value-123 b obtained-access-token-xyz c /work/main d Bearer abc.def e")
    assert text == f"a {REDACTED} b {REDACTED} c /work/main d Bearer {REDACTED} e"
