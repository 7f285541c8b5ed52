"""Shared helpers: run the real `dac` command in a subprocess, run a query on the emulator, locate ../shared,
build projects and git repositories in tmp_path."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from attack import ENV_MARKER, OUTSIDE_MARKER, AttackProject

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def detection_head(name: str = "Sample detection", uid: str = "5d0b6a39-8f0e-4a2b-9a51-1c0e6f6e2b11") -> str:
    """The metadata lines of a detection file up to `query:`, for tests that write one."""
    return (
        f"id: {uid}\nname: {name}\ndescription: A sample.\nkind: hunting\nstatus: test\nauthors: [dac tests]\n"
        "created: 2024-01-01\nmodified: 2024-01-02\nversion: 1.0.0\n"
    )


def run_dac(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The installed CLI, as a user runs it (a separate process: tracebacks would show)."""
    return subprocess.run(
        [sys.executable, "-m", "dac", *args],
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {}), "NO_COLOR": "1", "COLUMNS": "200"},
        timeout=120,
        check=False,
    )


def emulate_result(query: str, now: dt.datetime = dt.datetime(2024, 1, 1)) -> tuple[list[str], list[list]]:
    """The column names and rows of a query on a fresh Defender emulator whose now() is `now`."""
    from dac.emulator import Emulator
    from dac.model.tables import environment

    engine = Emulator(environment("defender"), now=now)
    try:
        answer = engine.run(query)
        return [name for name, _ in answer.columns], [list(row) for row in answer.rows]
    finally:
        engine.close()


def emulate(query: str, now: dt.datetime = dt.datetime(2024, 1, 1)) -> list[list]:
    """The rows of a query on a fresh Defender emulator whose now() is `now`."""
    return emulate_result(query, now)[1]


@pytest.fixture(scope="module")
def emulator() -> Iterator[Any]:
    """One Defender emulator for a test module whose queries need no tables of their own."""
    from dac.emulator import Emulator
    from dac.model.tables import environment

    engine = Emulator(environment("defender"))
    yield engine
    engine.close()


def rows_of(emulator: Any, query: str) -> list[list]:
    return [list(row) for row in emulator.run(query).rows]


def scalar(expression: str) -> Any:
    """The value of a single scalar expression on the emulator."""
    return emulate(f"print r = {expression}")[0][0]


def emulation_error(query: str, code: str = "EMU002") -> str:
    """The message of the EmulatorError the query raises, which must carry `code`."""
    from dac.emulator import EmulatorError

    with pytest.raises(EmulatorError) as caught:
        emulate(query)
    assert caught.value.code == code
    return caught.value.message


@pytest.fixture
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared is not present")
    return SHARED


def make_project(root: Path) -> Path:
    """A minimal dac project: dac.yml, the detection schema, an empty detections folder."""
    (root / "schemas").mkdir(parents=True, exist_ok=True)
    (root / "schemas" / "detection.schema.json").write_bytes((ROOT / "schemas" / "detection.schema.json").read_bytes())
    (root / "dac.yml").write_text("detections: detections\n")
    (root / "detections").mkdir(exist_ok=True)
    return root


def detection_text(
    id_: str = "5d0b6a39-8f0e-4a2b-9a51-1c0e6f6e2b11",
    name: str = "Sample detection",
    *,
    schema_line: str | None = "# yaml-language-server: $schema=../schemas/detection.schema.json",
    mitre: str = "",
    extra: str = "",
) -> str:
    """A valid hunting detection for a file directly under detections/."""
    head = f"{schema_line}\n" if schema_line else ""
    return (
        f"{head}id: {id_}\nname: {name}\ndescription: A sample.\nkind: hunting\nstatus: test\n"
        "authors: [dac tests]\ncreated: 2024-01-01\nmodified: 2024-01-02\nversion: 1.0.0\n"
        f"{mitre}query:\n  dialect: defender\n  text: |\n    DeviceProcessEvents | where Timestamp > ago(1d)\n"
        f"    | take 10\n{extra}"
    )


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty dac project (not yet a git repository), with git isolated from the user's configuration."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)  # run_dac passes os.environ on to dac's own git calls
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))  # no repository above tmp_path
    (tmp_path / "dac.yml").write_text("detections: detections\n")
    (tmp_path / "schemas").mkdir()
    shutil.copy(ROOT / "schemas" / "detection.schema.json", tmp_path / "schemas")
    (tmp_path / "detections").mkdir()
    return tmp_path


def git(repo: Path, *args: str) -> str:
    completed = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return completed.stdout


def commit(repo: Path, message: str = "commit") -> None:
    """Commit everything in the working tree (making `repo` a git repository first if needed)."""
    if not (repo / ".git").exists():
        git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "-m", message)


@pytest.fixture
def attack_project(tmp_path: Path) -> AttackProject:
    """A project in tmp_path, a folder outside it holding marked secret files, and secrets in the environment
    of the `dac` process (tests/security: one test per attack; helpers in tests/attack.py)."""
    root = tmp_path / "project"
    outside = tmp_path / "outside"
    (root / "detections").mkdir(parents=True)
    outside.mkdir()
    (root / "dac.yml").write_text("detections: detections\n", encoding="utf-8")
    (outside / "secret.csv").write_text(f"DeviceName,RemoteIP\n{OUTSIDE_MARKER},8.8.8.8\n", encoding="utf-8")
    (outside / "secret.jsonl").write_text(f'{{"DeviceName": "{OUTSIDE_MARKER}"}}\n', encoding="utf-8")
    (outside / "secret.txt").write_text(f"{OUTSIDE_MARKER}\n", encoding="utf-8")
    env = {
        **os.environ,
        "NO_COLOR": "1",
        "COLUMNS": "200",
        "DAC_ACCESS_TOKEN": ENV_MARKER + "-token",
        "AZURE_CLIENT_SECRET": ENV_MARKER + "-client",
    }
    return AttackProject(root=root, outside=outside, env=env)
