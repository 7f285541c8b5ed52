#!/usr/bin/env python3
"""Start-up cost of the command line, as ratios to an empty Python process.

Usage: python bench/startup.py [--runs N]

Times whole processes, interleaved round by round so that machine noise hits every command alike:
`python -c pass` (the floor: the interpreter and site), `dac --version`, `dac --help`, and
`dac kql check` of a one-line query from a .kql file (what a pre-commit hook or an editor pays per
call). Prints the median and minimum of each in milliseconds and the median's ratio to the floor.
The goal for `dac --version` and `dac --help` is at most 8x the floor: the command line imports a
command's module, and that module the library, only when the command runs (tooling/dac/cli/).

Runs the `dac` next to this Python (the venv's console script), else `python -m dac`.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ONE_LINE_QUERY = 'DeviceProcessEvents | where FileName =~ "powershell.exe" | take 10\n'
GOAL = 8.0


def dac_command() -> list[str]:
    script = Path(sys.executable).with_name("dac")
    if script.exists():
        return [str(script)]
    found = shutil.which("dac")
    return [found] if found else [sys.executable, "-m", "dac"]


def time_once(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    completed = subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - start
    if completed.returncode not in (0, 1):  # kql check exits 1 on findings; anything else is a broken run
        raise SystemExit(f"{' '.join(command)} failed ({completed.returncode}): {completed.stderr.decode()[-500:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="rounds (default 20)")
    options = parser.parse_args()
    dac = dac_command()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        (work / "query.kql").write_text(ONE_LINE_QUERY, encoding="utf-8")
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "dac --version": [*dac, "--version"],
            "dac --help": [*dac, "--help"],
            "dac kql check (one line)": [*dac, "kql", "check", "query.kql"],
            "dac kql check --dialect defender": [*dac, "kql", "check", "--dialect", "defender", "query.kql"],
        }
        for command in commands.values():  # warm the file cache and byte-code
            time_once(command, work)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(options.runs):
            for name, command in commands.items():
                times[name].append(time_once(command, work))
    floor = statistics.median(times["python -c pass"])
    print(f"{'command':<36} {'median ms':>10} {'min ms':>8} {'x floor':>8}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<36} {median * 1000:>10.1f} {min(values) * 1000:>8.1f} {median / floor:>8.1f}")
    worst = max(statistics.median(times[name]) / floor for name in ("dac --version", "dac --help"))
    print(f"\ndac --version and --help: at most {worst:.1f}x python -c pass (goal: {GOAL:.0f}x)")
    return 0 if worst <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
