"""Checks against a git base ref: ids never change or get reused, versions move forward."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..diagnostics import Diagnostic, error, warning
from ..model.detection import Detection, alert_fingerprint, query_fingerprint
from ..model.yamlsource import YamlLoadError, load_yaml_bytes

# A detection that moved to another file keeps its id. Without git's rename tracking we call
# it the same detection when its name is unchanged or its query is mostly the same.
_SAME_QUERY_RATIO = 0.6


@dataclass(frozen=True)
class BaseDetection:
    path: str  # relative to the repository root
    id: str
    name: str
    version: str
    modified: str
    query: Any
    alert: Any


def parse_base(files: dict[str, bytes]) -> dict[str, BaseDetection]:
    """Base detections by repository path; files that do not load at the base are skipped."""
    parsed: dict[str, BaseDetection] = {}
    for path, raw in files.items():
        try:
            data = load_yaml_bytes(raw, path).data
        except YamlLoadError:
            continue
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            continue
        parsed[path] = BaseDetection(
            path=path,
            id=data["id"],
            name=str(data.get("name", "")),
            version=str(data.get("version", "")),
            modified=str(data.get("modified", "")),
            query=query_fingerprint(data),
            alert=alert_fingerprint(data),
        )
    return parsed


def _semver(text: str) -> tuple[int, ...] | None:
    parts = text.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts)


def _same_detection(head: Detection, base: BaseDetection) -> bool:
    if head.name == base.name:
        return True
    base_text = (base.query.get("query") or {}).get("text") or ""
    ratio = difflib.SequenceMatcher(None, head.data["query"]["text"], base_text).ratio()
    return ratio >= _SAME_QUERY_RATIO


def check_against_base(
    checked: list[Detection],
    repo_root: Path,
    base: dict[str, BaseDetection],
    head_paths: set[str],
    ref: str,
) -> list[Diagnostic]:
    """`head_paths`: repository-relative paths of all detection files that exist now."""
    by_id: dict[str, list[BaseDetection]] = {}
    for item in base.values():
        by_id.setdefault(item.id, []).append(item)
    diagnostics: list[Diagnostic] = []
    for detection in checked:
        relative = detection.file.resolve().relative_to(repo_root).as_posix()
        id_position = detection.position(("id",))
        previous = base.get(relative)
        if previous is not None and previous.id != detection.id:
            diagnostics.append(
                error(
                    detection.display,
                    id_position,
                    "DAC302",
                    f"id changed from {previous.id} (at {ref}) to {detection.id}; a detection's id never changes",
                    "restore the old id; for a new detection, create a new file",
                )
            )
            continue
        if previous is None:
            for candidate in by_id.get(detection.id, []):
                if candidate.path in head_paths or not _same_detection(detection, candidate):
                    diagnostics.append(
                        error(
                            detection.display,
                            id_position,
                            "DAC303",
                            f"id {detection.id} belonged to '{candidate.name}' ({candidate.path}) at {ref}; "
                            "ids of other or removed detections are never reused",
                            "give this detection a new id (a fresh UUID, e.g. from `dac new` or uuidgen)",
                        )
                    )
                    break
                previous = candidate  # the same detection, moved to another file
        if previous is not None:
            diagnostics.extend(_check_version(detection, previous, ref))
    return diagnostics


def _check_version(detection: Detection, previous: BaseDetection, ref: str) -> list[Diagnostic]:
    head_version, base_version = _semver(detection.version), _semver(previous.version)
    if head_version is None or base_version is None:
        return []
    position = detection.position(("version",))
    if head_version < base_version:
        return [
            error(
                detection.display,
                position,
                "DAC305",
                f"version went down from {previous.version} (at {ref}) to {detection.version}",
            )
        ]
    changed = [
        what
        for what, differs in (
            ("query", detection.query_fingerprint() != previous.query),
            ("alert", detection.alert_fingerprint() != previous.alert),
        )
        if differs
    ]
    if not changed:
        return []
    diagnostics = []
    if head_version == base_version:
        major, minor, patch = base_version
        diagnostics.append(
            error(
                detection.display,
                position,
                "DAC304",
                f"the {' and the '.join(changed)} changed since {ref} but version is still {detection.version}",
                f"bump it, e.g. to {major}.{minor}.{patch + 1} (or {major}.{minor + 1}.0 for a new behaviour)",
            )
        )
    if detection.data["modified"] == previous.modified:
        diagnostics.append(
            warning(
                detection.display,
                detection.position(("modified",)),
                "DAC306",
                f"the {' and the '.join(changed)} changed since {ref} but modified is still {previous.modified}",
            )
        )
    return diagnostics
