"""The detection model: one YAML file, loaded with positions and checked against the schema."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .diagnostics import Diagnostic, Position
from .schema import check_schema
from .yamlsource import JsonPath, LoadedYaml, YamlLoadError, load_yaml_file

DIALECTS = ("defender", "sentinel")
DETECTION_SUFFIXES = (".yml", ".yaml")
SCHEMA_COMMENT_PREFIX = "# yaml-language-server: $schema="


@dataclass
class Detection:
    """A detection file that passed the schema check; fields are typed as the schema says."""

    file: Path
    source: LoadedYaml

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
        "variants": {dialect: variant for dialect, variant in variants.items() if variant},
        "parameters": data.get("parameters") or {},
    }


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
    """Load one file: YAML with positions, then the schema. Never raises for bad content."""
    display = display or str(file)
    try:
        source = load_yaml_file(file, display)
    except YamlLoadError as exc:
        return LoadResult(file, display, None, [exc.diagnostic])
    diagnostics = check_schema(source)
    if diagnostics:
        return LoadResult(file, display, None, diagnostics)
    return LoadResult(file, display, Detection(file, source), [])


def discover(paths: Iterable[Path]) -> list[Path]:
    """Detection files named by `paths`: files as given, directories searched for *.yml/*.yaml."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if p.suffix in DETECTION_SUFFIXES and p.is_file() and not _hidden(p.relative_to(path))
                )
            )
        else:
            found.append(path)
    unique: dict[Path, None] = {}
    for path in found:
        unique.setdefault(path.resolve(), None)
    return list(unique)


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)
