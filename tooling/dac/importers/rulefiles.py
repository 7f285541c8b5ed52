"""What `dac import sentinel` and `dac import defender` share: finding the input files, one result per
rule found in them (imported, skipped or failed, with warnings), tidying the ATT&CK mapping and the
tags so that the written file validates, and writing the files (never over an existing one)."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..model.attack import load_catalog
from ..model.project import schema_reference
from ..model.yamlwrite import dump_detection
from ..redaction import write_text
from ..scaffold.detection import slugify, unique_path

# Stable ids for imported rules that have none (or one that is not a UUID): the same input gives
# the same detection id on every import.
IMPORT_NAMESPACE = uuid.UUID("0d3b6f0e-8f7a-4a51-9a0e-5c2e7b1d9f36")
_TECHNIQUE = re.compile(r"^T[0-9]{4}(\.[0-9]{3})?$")
_SEMVER = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})")


class RuleImportError(Exception):
    """An item that cannot be imported; the message says why (the caller adds the path)."""


@dataclass
class ImportItem:
    """One rule found in an input file: its detection data, or why it was skipped or failed."""

    source: str  # the input file (and the rule's place in it, for files of several rules)
    data: dict[str, Any] | None = None
    skipped: str | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    written: Path | None = None


def input_files(paths: Iterable[Path], suffixes: tuple[str, ...]) -> list[Path]:
    """The files named, and the files with one of the suffixes inside the folders named (recursive),
    each once, in a stable order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes))
        else:
            found.append(path)
    return list(dict.fromkeys(found))


def read_json(path: Path) -> tuple[Any, ImportItem | None]:
    """The JSON document of a file (a BOM allowed), or the item that says why it cannot be read."""
    try:
        return json.loads(path.read_text(encoding="utf-8-sig")), None
    except json.JSONDecodeError as exc:
        return None, ImportItem(f"{path}:{exc.lineno}:{exc.colno}", error=f"invalid JSON: {exc.msg}")
    except (OSError, UnicodeDecodeError) as exc:
        return None, ImportItem(str(path), error=f"cannot read the file: {exc}")


def stable_id(*parts: Any) -> str:
    return str(uuid.uuid5(IMPORT_NAMESPACE, "\x1f".join(str(part) for part in parts)))


def detection_id(value: Any, *fallback: Any, warnings: list[str]) -> str:
    """The rule's own id when it is a UUID (lowercase), else one derived from the fallback parts."""
    text = str(value or "").strip()
    try:
        return str(uuid.UUID(text))
    except ValueError:
        derived = stable_id(*fallback)
        warnings.append(f"id {text!r} is not a UUID; the detection id is {derived}" if text else
                        f"the rule has no id; the detection id is {derived}")  # fmt: skip
        return derived


def date_of(value: Any) -> str | None:
    match = _DATE.match(str(value or ""))
    return match.group(1) if match else None


def dates(created: Any, modified: Any, today: dt.date) -> tuple[str, str]:
    """created and modified (YYYY-MM-DD) from the rule's timestamps, today for what is missing."""
    last = date_of(modified) or date_of(created) or today.isoformat()
    first = date_of(created) or last
    return min(first, last), last


def semver(value: Any, warnings: list[str]) -> str:
    """MAJOR.MINOR.PATCH: kept as is, padded ('1.2' -> '1.2.0'), or 1.0.0 when it is no version."""
    text = str(value if value is not None else "").strip()
    if not text:
        return "1.0.0"
    if _SEMVER.match(text):
        return text
    parts = text.split(".")
    if 1 <= len(parts) < 3 and all(part.isdigit() for part in parts):
        padded = ".".join(str(int(part)) for part in parts + ["0"] * (3 - len(parts)))
        return padded
    warnings.append(f"version {text!r} is not MAJOR.MINOR.PATCH; the detection starts at 1.0.0")
    return "1.0.0"


def kebab(text: str) -> str:
    """A lowercase kebab-case tag: AzureActiveDirectory -> azure-active-directory,
    'AzureMonitor(VMInsights)' -> azure-monitor-vm-insights."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", text)
    return re.sub(r"[^a-z0-9]+", "-", spaced.lower()).strip("-")


def tags_from(connectors: Any, tags: Any, warnings: list[str]) -> list[str]:
    """dac tags: `connector-<id>` for each required data connector, and the rule's own tags, all
    lowercase kebab-case."""
    result = []
    for connector in connectors if isinstance(connectors, list) else []:
        name = connector.get("connectorId") if isinstance(connector, dict) else connector
        if isinstance(name, str) and kebab(name):
            result.append("connector-" + kebab(name))
    for tag in tags if isinstance(tags, list) else []:
        if isinstance(tag, (str, int, float)) and not isinstance(tag, bool) and kebab(str(tag)):
            result.append(kebab(str(tag)))
        else:
            warnings.append(f"tag {tag!r} is not a plain name; not kept")
    return list(dict.fromkeys(result))


def mitre_from(tactic_names: Iterable[Any], technique_ids: Iterable[Any], warnings: list[str]) -> dict[str, list[str]]:
    """`mitre` with ATT&CK Enterprise short names: tactics written in any casing (CommandAndControl,
    'Command and Control', TA0011) are mapped, ones ATT&CK Enterprise does not know (Sentinel's
    PreAttack, ICS tactics) dropped with a warning; unknown techniques too; a technique none of whose
    tactics is listed brings its first tactic (dac requires a technique to sit under a listed tactic)."""
    catalog = load_catalog()
    tactics: list[str] = []
    for name in tactic_names:
        tactic = catalog.tactic_lookup(str(name))
        if tactic is None:
            warnings.append(f"tactic {name!r} is not an ATT&CK Enterprise tactic; dropped")
        else:
            tactics.append(tactic.shortname)
    tactics = list(dict.fromkeys(tactics))
    techniques: list[str] = []
    for value in technique_ids:
        technique_id = str(value).strip().upper()
        technique = catalog.techniques.get(technique_id) if _TECHNIQUE.match(technique_id) else None
        if technique is None:
            warnings.append(f"technique {value!r} is not in ATT&CK Enterprise v{catalog.version}; dropped")
            continue
        techniques.append(technique_id)
        current = catalog.techniques.get(technique.replacement or "", technique)
        if current.tactics and not set(tactics) & set(current.tactics):
            tactics.append(current.tactics[0])
            warnings.append(f"technique {technique_id} belongs to {', '.join(current.tactics)}; "
                            f"added tactic {current.tactics[0]}")  # fmt: skip
    mitre: dict[str, list[str]] = {}
    if tactics:
        mitre["tactics"] = tactics
    if techniques:
        mitre["techniques"] = list(dict.fromkeys(techniques))
    return mitre


def _existing_ids(out_dir: Path) -> set[str]:
    """Detection ids of the files already in the output folder (a cheap read of their `id:` line)."""
    ids = set()
    if out_dir.is_dir():
        for path in out_dir.rglob("*.y*ml"):
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            match = re.search(r"^id:\s*['\"]?([0-9A-Fa-f-]{36})", text, re.MULTILINE)
            if match:
                ids.add(match.group(1).lower())
    return ids


def write_items(items: list[ImportItem], out_dir: Path) -> None:
    """Write each imported item as out_dir/<slug of its name>.yml (a free name: existing files are
    never overwritten). An item whose id is already taken (in out_dir, or by an earlier item) fails."""
    if not any(item.data for item in items):
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    reference = schema_reference(out_dir)
    seen = _existing_ids(out_dir)
    taken: set[Path] = set()
    for item in items:
        if item.data is None:
            continue
        ident = str(item.data["id"]).lower()
        if ident in seen:
            item.error = f"a detection with id {ident} already exists in {out_dir}; not written"
            item.data = None
            continue
        seen.add(ident)
        target = unique_path(out_dir, slugify(item.data["name"]), taken)
        taken.add(target)
        write_text(target, dump_detection(item.data, reference), encoding="utf-8", newline="\n")
        item.written = target
