"""The detection model: one YAML file, loaded with positions and checked against the schema."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..confine import OUTSIDE_PROJECT, OutsideProject, project_root_of, refuse_outside
from ..diagnostics import Diagnostic, Position, error
from . import DIALECTS
from .schema import check_schema
from .yamlsource import JsonPath, LoadedYaml, YamlLoadError, load_yaml_file

DETECTION_SUFFIXES = (".yml", ".yaml")
SCHEMA_COMMENT_PREFIX = "# yaml-language-server: $schema="


@dataclass
class Detection:
    """A detection file that passed the schema check; fields are typed as the schema says."""

    file: Path
    source: LoadedYaml
    # The project it belongs to, as loading found it (None: found on first ask, see project_root)
    root: Path | None = field(default=None, compare=False, repr=False)

    def project_root(self) -> Path:
        if self.root is None:
            self.root = project_root_of(self.file)
        return self.root

    @property
    def data(self) -> dict[str, Any]:
        return self.source.data

    @property
    def display(self) -> str:
        return self.source.path

    @property
    def id(self) -> str:
        return self.data["id"]

    @property
    def name(self) -> str:
        return self.data["name"]

    @property
    def kind(self) -> str:
        return self.data["kind"]

    @property
    def version(self) -> str:
        return self.data["version"]

    @property
    def mitre(self) -> dict[str, list[str]]:
        return self.data.get("mitre") or {}

    def position(self, path: JsonPath) -> Position:
        return self.source.position(path)

    def key_position(self, path: JsonPath) -> Position:
        return self.source.key_position(path)

    def variant(self, dialect: str) -> dict[str, Any]:
        return (self.data.get("variants") or {}).get(dialect) or {}

    def enabled_dialects(self) -> list[str]:
        return [d for d in DIALECTS if self.variant(d).get("enabled", True)]

    def disabled_dialects(self) -> dict[str, str]:
        """The dialects turned off with `enabled: false`, each with its `reason` ("" when none is given)."""
        return {d: self.variant(d).get("reason", "") for d in DIALECTS if not self.variant(d).get("enabled", True)}

    def query_fingerprint(self) -> dict[str, Any]:
        return query_fingerprint(self.data)

    def alert_fingerprint(self) -> dict[str, Any]:
        return alert_fingerprint(self.data)


def query_fingerprint(data: dict[str, Any]) -> dict[str, Any]:
    """What counts as 'the query' when deciding whether the version must change.

    Lenient about shape: it also reads the base version of a file, which may be invalid.
    """
    query = data.get("query") if isinstance(data.get("query"), dict) else {}
    variants = data.get("variants") if isinstance(data.get("variants"), dict) else {}
    return {
        "query": {"dialect": query.get("dialect"), "text": query.get("text")},
        "variants": {dialect: kept for dialect, variant in variants.items() if (kept := _without_reason(variant))},
        "parameters": data.get("parameters") or {},
    }


def _without_reason(variant: Any) -> Any:
    """A variant as the version check sees it: `reason` only explains a disabled variant, so new words
    for it change no rule."""
    return {k: v for k, v in variant.items() if k != "reason"} if isinstance(variant, dict) else variant


def alert_fingerprint(data: dict[str, Any]) -> dict[str, Any]:
    """What counts as 'the alert': everything that shapes the deployed rule besides the query."""
    return {key: data.get(key) for key in ("kind", "alert", "severity", "trigger", "schedule", "mitre")}


@dataclass
class LoadResult:
    path: Path
    display: str
    detection: Detection | None
    diagnostics: list[Diagnostic]


def load_detection(file: Path, display: str | None = None) -> LoadResult:
    """Load one file: YAML with positions, then the schema. Never raises for bad content.

    A file that is a folder, or a symlink leading out of its project or into a loop, is reported
    (DAC100, DAC150) and never read.
    """
    display = display or str(file)
    root = project_root_of(file)
    try:
        refuse_outside(root, file, "detection file")
    except OutsideProject as exc:
        code = "DAC100" if exc.unreadable else OUTSIDE_PROJECT
        return LoadResult(file, display, None, [error(display, Position(), code, str(exc))])
    if file.is_dir():
        problem = "is a folder, not a detection file: rename it, or keep detection files only as *.yml/*.yaml files"
        return LoadResult(file, display, None, [error(display, Position(), "DAC100", problem)])
    try:
        source = load_yaml_file(file, display)
    except YamlLoadError as exc:
        return LoadResult(file, display, None, [exc.diagnostic])
    diagnostics = check_schema(source)
    if diagnostics:
        return LoadResult(file, display, None, diagnostics)
    return LoadResult(file, display, Detection(file, source, root), [])


def discover(paths: Iterable[Path]) -> list[Path]:
    """Detection files named by `paths`: files as given, folders searched for *.yml/*.yaml.

    Everything a search finds by that name is returned, also folders and broken or looping symlinks,
    so that loading reports them instead of skipping them silently. Hidden files and folders (a
    leading dot, such as .git) are left out; a symlinked folder is searched once.
    """
    found: list[Path] = []
    for path in paths:
        found.extend(_walk(path) if path.is_dir() else [path])
    unique: dict[str, tuple[Path, Path | None]] = {}
    for path in found:
        resolved = _resolve(path)
        unique.setdefault(str(resolved or path.absolute()), (path, resolved))
    roots: dict[Path, Path] = {}  # the project of each folder, found once per folder of this search
    return [_absolute(path, resolved, roots) for path, resolved in unique.values()]


def _walk(folder: Path) -> list[Path]:
    found: list[Path] = []
    seen: set[str] = set()
    pending = [folder]
    while pending:  # a loop, not recursion: folder depth is the user's
        current = pending.pop()
        identity = _identity(current)
        if identity in seen:
            continue
        seen.add(identity)
        try:
            entries = sorted(current.iterdir())
        except OSError:
            continue  # an unreadable folder holds nothing dac can read; a looping link is reported below
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.suffix in DETECTION_SUFFIXES:
                found.append(entry)
            elif entry.is_dir():
                pending.append(entry)
    return sorted(found)


def _resolve(path: Path) -> Path | None:
    """The path with its symlinks followed; None for a symlink loop."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return None


def _identity(path: Path) -> str:
    """The resolved path where it resolves (so two names of one file count once), else the path itself."""
    return str(_resolve(path) or path.absolute())


def _absolute(path: Path, resolved: Path | None, roots: dict[Path, Path]) -> Path:
    """The resolved path when it stays in its project; else the path as named, which loading refuses."""
    lexical = Path(os.path.normpath(path.absolute()))
    if resolved is None:
        return lexical
    if not resolved.exists():  # a dangling link: report it under its own name
        return lexical
    if lexical.is_symlink() or lexical.is_dir():  # its own project (project_root_of), not its folder's
        root = project_root_of(lexical)
    else:  # a plain file's project is its folder's: found for the first file of each folder
        if lexical.parent not in roots:
            roots[lexical.parent] = project_root_of(lexical)
        root = roots[lexical.parent]
    return resolved if resolved.is_relative_to(root) else lexical
