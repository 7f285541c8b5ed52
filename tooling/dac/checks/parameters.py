"""Parameter names set from outside a detection must be names it declares (DAC131).

A test's `parameters` (`tests[].parameters`) and a deployment target's `parameters` (dac.yml
`targets[].parameters`) override a detection's parameter defaults. A name the detection does not
declare would be silently ignored, which turns a typo into a test or a rule that quietly uses the
default, so it is an error naming the declared ones.

- Tests: every name in a test's `parameters` must be declared by that detection; a detection without
  `parameters` has no template, so any test parameter is an error.
- Targets: target parameters are shared by all the detections a target deploys, so a name only some
  detections declare is normal (it applies to those). A name that no detection of the project
  declares is an error, reported at the key in dac.yml when a target is planned or deployed.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from pathlib import Path

from ..diagnostics import Diagnostic, Position, display_path, error
from ..model.detection import Detection
from ..model.parameters import declares_parameters
from ..model.project import Project, Target
from ..model.yamlsource import YamlLoadError, load_yaml_file

CODE = "DAC131"


def _hint(name: str, known: Iterable[str], owner: str) -> str:
    """'did you mean ...? (<owner>: a, b)' or '<owner>: none'."""
    known = sorted(known)
    if not known:
        return f"({owner}: none)"
    close = difflib.get_close_matches(name, known, n=1)
    guess = f"did you mean '{close[0]}'? " if close else ""
    return f"{guess}({owner}: {', '.join(known)})"


def check(detection: Detection) -> list[Diagnostic]:
    """A test parameter the detection does not declare, at its key in the test."""
    declared = detection.data["parameters"] if declares_parameters(detection.data) else {}
    results = []
    for index, test in enumerate(detection.data.get("tests") or []):
        values = test.get("parameters") if isinstance(test, dict) else None
        if not isinstance(values, dict):
            continue
        for name in values:
            if name in declared:
                continue
            if not declares_parameters(detection.data):
                message = (f"test parameter '{name}' has no effect: the detection declares no `parameters`, "
                           "so its query is not a template")  # fmt: skip
            else:
                message = f"unknown test parameter '{name}'; {_hint(name, declared, 'declared parameters')}"
            position = detection.key_position(("tests", index, "parameters", name))
            results.append(error(detection.display, position, CODE, message))
    return results


def declared_names(detections: Iterable[Detection]) -> set[str]:
    return {name for d in detections if declares_parameters(d.data) for name in d.data["parameters"]}


def check_target(project: Project, target: Target, detections: Iterable[Detection]) -> list[Diagnostic]:
    """Target parameters that no detection of the project declares, at their keys in dac.yml."""
    known = declared_names(detections)
    unknown = [name for name in target.parameters if name not in known]
    if not unknown:
        return []
    where, position = _config_positions(project, target)
    return [
        error(where, position(name), CODE,
              f"target '{target.name}' sets parameter '{name}' that no detection declares; "
              f"{_hint(name, known, 'parameters the detections declare')}")
        for name in unknown
    ]  # fmt: skip


def _config_positions(project: Project, target: Target) -> tuple[str, Callable[[str], Position]]:

    config = project.config_file or project.root / "dac.yml"
    where = display_path(Path(config))
    try:
        loaded = load_yaml_file(Path(config), where)
    except (YamlLoadError, OSError):
        return where, lambda _name: Position()
    entries = (loaded.data or {}).get("targets") if isinstance(loaded.data, dict) else None
    index = next((i for i, entry in enumerate(entries or []) if isinstance(entry, dict)
                  and entry.get("name") == target.name), None)  # fmt: skip
    if index is None:
        return where, lambda _name: Position()
    return where, lambda name: loaded.key_position(("targets", index, "parameters", name))
