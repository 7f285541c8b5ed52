"""`dac render`: each detection's query per dialect and, for rules, the deployable API bodies.

Output layout (byte-for-byte deterministic): build/<dialect>/<id>.kql for every enabled dialect;
build/defender/<id>.json (Microsoft Graph detectionRule) and build/sentinel/<id>.json (ARM
alertRule) for `kind: detection`.
"""

from __future__ import annotations

import json
from pathlib import Path

from .model.detection import Detection
from .redaction import write_text
from .rules import defender_rule, sentinel_rule
from .variants import Variant

_RULE_BUILDERS = {"defender": defender_rule, "sentinel": sentinel_rule}


def outputs(detection: Detection, variants: list[Variant]) -> dict[Path, str]:
    """Relative path -> file content for one detection."""
    files: dict[Path, str] = {}
    for variant in variants:
        if variant.parameter_error is not None:
            continue
        text = variant.text if variant.text.endswith("\n") else variant.text + "\n"
        files[Path(variant.dialect) / f"{detection.id}.kql"] = text
        if detection.kind == "detection":
            body = _RULE_BUILDERS[variant.dialect](detection.data, variant.text)
            files[Path(variant.dialect) / f"{detection.id}.json"] = (
                json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
            )
    return files


def write(out: Path, files: dict[Path, str]) -> list[Path]:
    written = []
    for relative, content in sorted(files.items()):
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_text(encoding="utf-8") != content:
            write_text(target, content, encoding="utf-8", newline="\n")
        written.append(target)
    return written
