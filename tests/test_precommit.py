"""The pre-commit hook dac provides (.pre-commit-hooks.yaml) and the one `dac init` configures."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import ROOT, detection_text, make_project, run_dac
from dac.scaffold.repository import HOOK

MANIFEST = ROOT / ".pre-commit-hooks.yaml"


def manifest_hook() -> dict[str, Any]:
    hooks = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert isinstance(hooks, list) and len(hooks) == 1
    return hooks[0]


def pre_commit() -> str:
    beside = Path(sys.executable).parent / "pre-commit"
    found = str(beside) if beside.is_file() else shutil.which("pre-commit")
    if found is None:
        pytest.skip("pre-commit is not installed (part of the test extra)")
    return found


def test_manifest_fields() -> None:
    hook = manifest_hook()
    assert hook["id"] == "dac-validate"
    assert hook["entry"] == "dac validate"
    assert hook["language"] == "python"
    assert hook["types"] == ["yaml"]
    assert hook["pass_filenames"] is True
    files = re.compile(hook["files"])
    assert files.search("detections/network/winscp.yml")
    assert files.search("security/detections/winscp.yml")
    assert not files.search("dac.yml") and not files.search(".github/workflows/deploy.yml")


def test_init_configures_the_same_hook(tmp_path: Path) -> None:
    assert (
        run_dac("init", "repo", "--install", "dac @ git+https://github.com/example/dac@v0.1.0", cwd=tmp_path).returncode
        == 0
    )
    config = yaml.safe_load((tmp_path / "repo" / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    (repo,) = config["repos"]
    assert repo["repo"] == "local"
    (hook,) = repo["hooks"]
    assert {key: value for key, value in hook.items() if key != "additional_dependencies"} == HOOK
    assert {key: manifest_hook()[key] for key in HOOK} == HOOK


def test_pre_commit_accepts_the_manifest_and_the_init_config(tmp_path: Path) -> None:
    executable = pre_commit()
    manifest = subprocess.run([executable, "validate-manifest", str(MANIFEST)], capture_output=True, text=True)
    assert manifest.returncode == 0, manifest.stdout + manifest.stderr
    assert (
        run_dac("init", "repo", "--install", "dac @ git+https://github.com/example/dac@v0.1.0", cwd=tmp_path).returncode
        == 0
    )
    config = tmp_path / "repo" / ".pre-commit-config.yaml"
    checked = subprocess.run([executable, "validate-config", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_hook_entry_on_two_changed_files_reports_the_broken_one(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    area = project / "detections" / "network"
    area.mkdir()
    good = area / "good.yml"
    good.write_text(detection_text(schema_line="# yaml-language-server: $schema=../../schemas/detection.schema.json"))
    broken = area / "broken.yml"
    broken_text = detection_text("7c3f5d2e-1a4b-4c6d-8e9f-0a1b2c3d4e5f", "Broken")
    broken.write_text(broken_text.replace("status: test", "status: "))  # null: not a status

    # pre-commit runs the entry from the repository root with the changed files' relative paths.
    entry = shlex.split(manifest_hook()["entry"])
    assert entry[0] == "dac"
    completed = run_dac(*entry[1:], "detections/network/good.yml", "detections/network/broken.yml", cwd=project)
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert re.search(r"^detections/network/broken\.yml:\d+:\d+: error DAC\d+: .*status", completed.stdout, re.M)
    assert "good.yml" not in completed.stdout
    assert "2 files checked: 1 valid, 1 errors" in completed.stderr
