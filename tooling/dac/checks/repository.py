"""Checks across the whole repository: an id belongs to exactly one detection."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from ..diagnostics import Diagnostic, error
from ..model.detection import Detection


def check_unique_ids(checked: list[Detection], others: dict[Path, str]) -> list[Diagnostic]:
    """Duplicate ids among `checked` and the rest of the repository (`others`: file -> id)."""
    holders: dict[str, list[str]] = defaultdict(list)
    for detection in checked:
        holders[detection.id].append(detection.display)
    for file, detection_id in others.items():
        holders[detection_id].append(str(file))
    diagnostics = []
    for detection in checked:
        rest = [holder for holder in holders[detection.id] if holder != detection.display]
        if rest:
            diagnostics.append(
                error(
                    detection.display,
                    detection.position(("id",)),
                    "DAC301",
                    f"id {detection.id} is also used by {', '.join(sorted(rest))}",
                    "each detection needs its own id; give the copy a fresh UUID (e.g. from uuidgen)",
                )
            )
    return diagnostics
