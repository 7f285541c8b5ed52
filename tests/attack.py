"""Helpers of the attack tests in tests/security (the `attack_project` fixture is in conftest.py): a
project beside a folder it must never read, and a check that neither planted marker reaches any output,
report or written file."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

OUTSIDE_MARKER = "PLANTED-OUTSIDE-9f2c41d7"
ENV_MARKER = "PLANTED-ENVSECRET-5b81e0aa"


@dataclass
class AttackProject:
    """A dac project (root/dac.yml, root/detections/) beside a folder the project must never read."""

    root: Path
    outside: Path  # a folder outside the project, holding secret.csv, secret.jsonl, secret.txt
    env: dict[str, str]  # the environment the `dac` process gets: secrets set to ENV_MARKER

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def dac(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "dac", *args],
            cwd=self.root,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )

    def assert_no_leak(
        self, result: subprocess.CompletedProcess | None = None, *extra: Path, project: bool = True
    ) -> None:
        """Neither marker in the process output nor in any file under the project (unless `project` is
        False: a test that plants a marker in a detection on purpose) or under the `extra` paths."""
        texts = []
        if result is not None:
            texts += [("stdout", result.stdout), ("stderr", result.stderr)]
        roots = [self.root, *extra] if project else list(extra)
        for root in roots:
            files = [root] if root.is_file() else _written_files(root)
            for file in files:
                texts.append((str(file), file.read_bytes().decode("utf-8", "replace")))
        for where, text in texts:
            assert OUTSIDE_MARKER not in text, f"the outside file's content leaked into {where}"
            assert ENV_MARKER not in text, f"a secret from the environment leaked into {where}"


def detection(
    tests: str, query: str = "DeviceNetworkEvents\n| project Timestamp, DeviceName, RemoteIP", name: str = "Attack test"
) -> str:
    """A valid hunting detection; `query` is KQL, `tests` the YAML list items of `tests:` (indented by 2)."""
    query_block = "\n".join("    " + line for line in query.splitlines())
    return (
        "id: 0b9f5c2e-3d41-4c8e-9a57-6f1d2e7b8a90\n"  # line 1
        f"name: {name}\n"
        "description: A detection used by the attack tests.\n"
        "kind: hunting\n"
        "status: experimental\n"  # line 5
        "authors: [dac]\n"
        "created: 2024-12-02\n"
        "modified: 2024-12-02\n"
        "version: 1.0.0\n"
        "mitre: {tactics: [exfiltration], techniques: [T1048]}\n"  # line 10
        "severity: low\n"
        "query:\n"
        "  dialect: defender\n"
        "  text: |\n"
        f"{query_block}\n"
    ) + (f"tests:\n{textwrap.dedent(tests).rstrip()}\n" if tests.strip() else "")


def position_of(text: str, needle: str, occurrence: int = 1) -> str:
    """'line:col' (1-based) of the `occurrence`-th `needle` in `text`: where a diagnostic must point."""
    index = -1
    for _ in range(occurrence):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return f"{line}:{column}"


def _written_files(root: Path) -> list[Path]:
    """Regular files under `root`, not following symlinks (the tests plant links out on purpose), not .git."""
    found = []
    for folder, folders, names in os.walk(root, followlinks=False):
        folders[:] = [f for f in folders if f != ".git"]
        found += [Path(folder, n) for n in names if not Path(folder, n).is_symlink()]
    return found
