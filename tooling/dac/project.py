"""The project a command works in: its root (the folder holding dac.yml) and its configuration."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from .diagnostics import Diagnostic, Position, error
from .schema import field_name
from .yamlsource import LoadedYaml, YamlLoadError, load_yaml_file

CONFIG_NAME = "dac.yml"


class ProjectError(Exception):
    """dac.yml is unreadable or invalid: a usage/input error (exit code 2)."""

    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.format())
        self.diagnostic = diagnostic


DEFAULT_API = {"graph": "https://graph.microsoft.com/beta", "arm": "https://management.azure.com"}
DEFAULT_STATUSES = ("stable", "deprecated")  # deprecated detections deploy as disabled rules


@dataclass(frozen=True)
class Target:
    """A tenant (Defender) or workspace (Sentinel) that `dac plan` and `dac deploy` work on."""

    name: str
    platform: str  # "defender" | "sentinel"
    tenant_id: str
    client_id: str | None = None
    subscription_id: str | None = None
    resource_group: str | None = None
    workspace: str | None = None
    statuses: tuple[str, ...] = DEFAULT_STATUSES
    kinds: tuple[str, ...] = ("detection",)
    tags: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)
    api: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_API))
    concurrency: int = 4

    @property
    def base_url(self) -> str:
        return self.api["graph" if self.platform == "defender" else "arm"].rstrip("/")


@dataclass(frozen=True)
class Project:
    root: Path
    config_file: Path | None
    detections_dir: Path
    tables_dir: Path | None = None  # the project's own table schemas (custom logs, watchlists)
    targets: tuple[Target, ...] = ()

    def target(self, name: str) -> Target:
        """The target of that name; ProjectError (exit 2) naming the known ones otherwise."""
        for target in self.targets:
            if target.name == name:
                return target
        known = ", ".join(t.name for t in self.targets) or "none: add `targets:` to dac.yml"
        where = str(self.config_file or self.root / CONFIG_NAME)
        raise ProjectError(error(where, Position(), "DAC120", f"no target named '{name}' (targets: {known})"))

    @property
    def schema_path(self) -> Path:
        """The detection schema editors should use: the project's copy, else the package's."""
        local = self.root / "schemas" / "detection.schema.json"
        if local.is_file():
            return local
        return Path(str(resources.files("dac").joinpath("data/detection.schema.json")))


def find_project(start: Path | None = None) -> Project:
    """Walk up from `start` (default: the current folder) to the nearest dac.yml."""
    here = (start or Path.cwd()).resolve()
    if here.is_file():
        here = here.parent
    for folder in (here, *here.parents):
        config = folder / CONFIG_NAME
        if config.is_file():
            return _load(folder, config)
    return Project(root=here, config_file=None, detections_dir=here / "detections")


def _load(root: Path, config_file: Path) -> Project:
    try:
        loaded = load_yaml_file(config_file, str(config_file))
    except YamlLoadError as exc:
        if exc.diagnostic.code != "DAC101":  # an empty dac.yml means "all defaults"
            raise ProjectError(exc.diagnostic) from None
        loaded = LoadedYaml(path=str(config_file), text="", data={})
    data = loaded.data if loaded.data is not None else {}
    schema = json.loads(resources.files("dac").joinpath("data/config.schema.json").read_text("utf-8"))
    for problem in Draft202012Validator(schema).iter_errors(data):
        path = tuple(problem.absolute_path)
        raise ProjectError(
            error(str(config_file), loaded.position(path), "DAC120", f"{field_name(path)}: {problem.message}")
        )
    detections = root / data.get("detections", "detections")
    tables = root / data["tables"] if "tables" in data else None
    targets = []
    for index, entry in enumerate(data.get("targets") or []):
        if any(t.name == entry["name"] for t in targets):
            position = loaded.position(("targets", index, "name"))
            raise ProjectError(error(str(config_file), position, "DAC120", f"two targets named '{entry['name']}'"))
        targets.append(_target(entry))
    return Project(root=root, config_file=config_file, detections_dir=detections, tables_dir=tables,
                   targets=tuple(targets))  # fmt: skip


def _target(entry: dict[str, Any]) -> Target:
    select = entry.get("select") or {}
    return Target(
        name=entry["name"],
        platform=entry["platform"],
        tenant_id=entry["tenant_id"],
        client_id=entry.get("client_id"),
        subscription_id=entry.get("subscription_id"),
        resource_group=entry.get("resource_group"),
        workspace=entry.get("workspace"),
        statuses=tuple(select.get("status", DEFAULT_STATUSES)),
        kinds=tuple(select.get("kind", ("detection",))),
        tags=tuple(select.get("tags", ())),
        paths=tuple(select.get("paths", ())),
        parameters=dict(entry.get("parameters") or {}),
        api={**DEFAULT_API, **(entry.get("api") or {})},
        concurrency=int(entry.get("concurrency", 4)),
    )
