"""The project a command works in: its root (the folder holding dac.yml) and its configuration."""

from __future__ import annotations

import copy
import difflib
import functools
import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from ..confine import OUTSIDE_PROJECT, OutsideProject, inside_project
from ..diagnostics import Diagnostic, Position, error
from .schema import describe_value, expected_types, field_name
from .yamlsource import LoadedYaml, YamlLoadError, load_yaml_file

CONFIG_NAME = "dac.yml"


class ProjectError(Exception):
    """dac.yml is unreadable or invalid: a usage/input error (exit code 2)."""

    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.format())
        self.diagnostic = diagnostic


# api.loganalytics: the Log Analytics query API (dac backtest on Sentinel targets, dac schemas pull)
DEFAULT_API = {
    "graph": "https://graph.microsoft.com/beta",
    "arm": "https://management.azure.com",
    "loganalytics": "https://api.loganalytics.io",
}
DEFAULT_STATUSES = ("stable", "deprecated")  # deprecated detections deploy as disabled rules
# dac.yml `limits:` on every query run (dac test, dac check, dac kql run); emulator/engine.py has the same.
DEFAULT_QUERY_TIMEOUT = 60.0  # seconds
DEFAULT_MEMORY_LIMIT = 2 * 1024**3  # bytes


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

    @property
    def query_url(self) -> str:
        """The service that runs queries on the tenant's data: Graph (Advanced Hunting) for Defender, the
        Log Analytics query API for Sentinel."""
        key = "graph" if self.platform == "defender" else "loganalytics"
        return self.api.get(key, DEFAULT_API[key]).rstrip("/")

    @property
    def workspace_resource_id(self) -> str | None:
        """The Sentinel workspace's ARM resource id (None for a Defender target)."""
        if not (self.subscription_id and self.resource_group and self.workspace):
            return None
        return (f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
                f"/providers/Microsoft.OperationalInsights/workspaces/{self.workspace}")  # fmt: skip


@dataclass(frozen=True)
class KustoConfig:
    """dac.yml `engines.kusto`: the Kusto engine `--engine kusto` runs queries on (engines/, docs/engines.md)."""

    cluster: str
    database: str
    auth: str  # "azure" (azure-identity, as the deployer) | "none" (a local Kusto emulator container)
    tenant_id: str | None = None
    client_id: str | None = None


def default_auth(cluster: str) -> str:
    """No authentication for an http:// cluster (the Kusto emulator container), azure-identity otherwise."""
    return "none" if cluster.lower().startswith("http://") else "azure"


@dataclass(frozen=True)
class Project:
    root: Path
    config_file: Path | None
    detections_dir: Path
    tables_dir: Path | None = None  # the project's own table schemas (custom logs, watchlists)
    targets: tuple[Target, ...] = ()
    query_timeout: float = DEFAULT_QUERY_TIMEOUT  # limits.query_timeout, in seconds
    memory_limit: int = DEFAULT_MEMORY_LIMIT  # limits.memory_limit, in bytes
    kusto: KustoConfig | None = None  # engines.kusto

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
            state = config.stat()
            key = (config, state.st_mtime_ns, state.st_size)
            if key not in _LOADED:  # checks ask for the project once per detection: read dac.yml once
                _LOADED[key] = _load(folder, config)
            return copy.deepcopy(_LOADED[key])  # a caller may change its copy
    return Project(root=here, config_file=None, detections_dir=here / "detections")


_LOADED: dict[tuple[Path, int, int], Project] = {}  # dac.yml (path, mtime, size) -> its project


def schema_reference(directory: Path) -> str:
    """Path to the detection schema for a file in `directory`, for the comment line.

    Relative inside the project (it survives a clone), absolute for a folder outside it.
    """
    return _schema_reference(_resolved_folder(directory), Path.cwd())


@functools.lru_cache(maxsize=256)
def _resolved_folder(directory: Path) -> Path:
    return directory.resolve()  # once per folder: the files of a repository share a few


@functools.lru_cache(maxsize=256)
def _schema_reference(folder: Path, cwd: Path) -> str:
    # once per folder: a repository's files share a few folders, and finding the project copies it
    project = find_project(cwd)
    schema = project.schema_path.resolve()
    if folder.is_relative_to(project.root):
        return Path(os.path.relpath(schema, folder)).as_posix()
    return schema.as_posix()


def _load(root: Path, config_file: Path) -> Project:
    try:
        loaded = load_yaml_file(config_file, str(config_file))
    except YamlLoadError as exc:
        if exc.diagnostic.code != "DAC101":  # an empty dac.yml means "all defaults"
            raise ProjectError(exc.diagnostic) from None
        loaded = LoadedYaml(path=str(config_file), text="", data={})
    data = loaded.data if loaded.data is not None else {}
    schema = json.loads(resources.files("dac").joinpath("data/config.schema.json").read_text("utf-8"))
    problems = list(Draft202012Validator(schema).iter_errors(data))
    if problems:
        raise ProjectError(_config_problem(str(config_file), loaded, problems))
    detections = root / data.get("detections", "detections")
    tables = _tables_folder(root, config_file, loaded, data["tables"]) if "tables" in data else None
    targets = []
    for index, entry in enumerate(data.get("targets") or []):
        if any(t.name == entry["name"] for t in targets):
            position = loaded.position(("targets", index, "name"))
            raise ProjectError(error(str(config_file), position, "DAC120", f"two targets named '{entry['name']}'"))
        problem = _target_problem(entry)
        if problem is not None:
            key, message = problem
            raise ProjectError(error(str(config_file), loaded.position(("targets", index, *key)), "DAC120", message))
        targets.append(_target(entry))
    kusto = _kusto(str(config_file), loaded, (data.get("engines") or {}).get("kusto"))
    return Project(root=root, config_file=config_file, detections_dir=detections, tables_dir=tables,
                   targets=tuple(targets), kusto=kusto, **_limits(data.get("limits") or {}))  # fmt: skip


def _kusto(where: str, loaded: LoadedYaml, entry: dict[str, Any] | None) -> KustoConfig | None:
    """dac.yml `engines.kusto` (the schema has checked its keys and forms)."""
    if entry is None:
        return None
    cluster = str(entry["cluster"]).rstrip("/")
    auth = entry.get("auth") or default_auth(cluster)
    if auth == "none" and not cluster.lower().startswith("http://"):
        position = loaded.position(("engines", "kusto", "auth" if "auth" in entry else "cluster"))
        message = (f"engines.kusto: auth none is for a local Kusto emulator container at an http:// URL; "
                   f"{cluster!r} needs auth: azure")  # fmt: skip
        raise ProjectError(error(where, position, "DAC120", message))
    return KustoConfig(cluster, str(entry["database"]), auth, entry.get("tenant_id"), entry.get("client_id"))


def _target_problem(entry: dict[str, Any]) -> tuple[tuple[Any, ...], str] | None:
    """(the key, why) when a target asks for what its platform's API cannot do, else None."""
    kinds = (entry.get("select") or {}).get("kind") or ()
    if entry["platform"] == "defender" and "hunting" in kinds:
        return ("select", "kind"), (
            "select.kind: Defender XDR has no API for shared hunting queries; only Sentinel targets take "
            "kind hunting (as saved searches)"
        )
    graph = str((entry.get("api") or {}).get("graph", "")).rstrip("/")
    if entry["platform"] == "defender" and graph.lower().endswith("/v1.0"):
        return ("api", "graph"), (
            f"api.graph: {graph!r} is Microsoft Graph v1.0, whose detectionRule has no schedule.lookback, which "
            "dac writes and compares: point it at the beta endpoint (https://graph.microsoft.com/beta)"
        )
    return None


_GUID = "must be a GUID: 8-4-4-4-12 hexadecimal digits, as in 00000000-0000-0000-0000-000000000000"
_CONFIG_PATTERNS = {
    "tenant_id": _GUID,
    "client_id": _GUID,
    "subscription_id": _GUID,
    "name": "must start with a letter or digit and hold only letters, digits, '_', '.' and '-'",
    "graph": "must be an http:// or https:// URL",
    "arm": "must be an http:// or https:// URL",
    "loganalytics": "must be an http:// or https:// URL",
    "cluster": "must be an http:// or https:// URL, e.g. https://mycluster.westeurope.kusto.windows.net",
}


def _config_problem(where: str, loaded: LoadedYaml, problems: list[ValidationError]) -> Diagnostic:
    """The dac.yml problem to report: at the offending key or value, in the words of the file.

    Unknown keys and misspelt values come first (with a "did you mean"), as they often explain a
    "missing" key beside them; then the problem nearest the top of the file.
    """
    found: list[tuple[int, Position, str]] = []
    missing: dict[tuple[Any, ...], list[str]] = {}  # the required keys each mapping lacks, reported together
    reasons: dict[tuple[Any, ...], str] = {}
    for problem in problems:
        path = tuple(problem.absolute_path)
        name = field_name(path)
        value = problem.instance
        place = f" in {name}" if path else ""
        if problem.validator == "additionalProperties" and isinstance(value, dict):
            allowed = sorted(problem.schema.get("properties", {}))
            for key in value:
                if key in allowed:
                    continue
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else f"; allowed here: {', '.join(allowed)}"
                found.append((0, loaded.key_position((*path, key)), f"unknown key '{key}'{place}{hint}"))
        elif problem.validator == "enum":
            options = [str(option) for option in problem.validator_value]
            close = difflib.get_close_matches(str(value), options, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            message = f"{name}: {describe_value(value)} is not one of: {', '.join(options)}{hint}"
            found.append((1, loaded.position(path), message))
        elif "propertyNames" in problem.relative_schema_path:
            message = f"{name}: '{value}' is not a valid parameter name (letters, digits and '_', no digit first)"
            found.append((2, loaded.key_position((*path, str(value))), message))
        elif problem.validator == "required":
            key = problem.message.split("'")[1] if "'" in problem.message else problem.message
            missing.setdefault(path, []).append(key)
            if "then" in problem.schema_path and isinstance(value, dict) and "platform" in value:
                reasons[path] = f" (required for platform: {value['platform']})"
        else:
            found.append((2, loaded.position(path), _config_value_message(problem, name)))
    for path, keys in missing.items():
        names = ", ".join(f"'{key}'" for key in keys)
        place = f" in {field_name(path)}" if path else ""
        message = f"missing required key{'s' if len(keys) > 1 else ''} {names}{place}{reasons.get(path, '')}"
        found.append((3, loaded.position(path), message))
    _, position, message = min(found, key=lambda item: (item[0], item[1]))
    return error(where, position, "DAC120", message)


def _config_value_message(problem: ValidationError, name: str) -> str:
    value, bound = problem.instance, problem.validator_value
    if problem.validator == "type":
        return f"{name}: expected {expected_types(bound)}, found {describe_value(value)}"
    if problem.validator == "pattern":
        last = next((part for part in reversed(problem.absolute_path) if isinstance(part, str)), "")
        return f"{name}: {value!r} {_CONFIG_PATTERNS.get(last, f'does not match the pattern {bound!r}')}"
    if problem.validator == "minLength":
        return f"{name}: must not be empty"
    if problem.validator == "minItems":
        return f"{name}: the list is empty; give at least {bound} entry"
    if problem.validator == "uniqueItems":
        return f"{name}: the list holds the same entry more than once"
    if problem.validator in ("minimum", "maximum"):
        side = "below the minimum" if problem.validator == "minimum" else "above the maximum"
        return f"{name}: {value} is {side} {bound}"
    return f"{name}: {problem.message}"


def _tables_folder(root: Path, config_file: Path, loaded: LoadedYaml, name: str) -> Path:
    """dac.yml's `tables` folder, refused (before anything in it is read) unless inside the project."""
    try:
        return inside_project(root, root, name, "tables folder")
    except OutsideProject as exc:
        raise ProjectError(error(str(config_file), loaded.position(("tables",)), OUTSIDE_PROJECT, str(exc))) from None


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


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600}
_SIZE_UNITS = {"KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "KB": 1000, "MB": 1000**2, "GB": 1000**3}


def parse_duration(text: str) -> float:
    """'90s', '2m', '1h' -> seconds (the schemas check the form: digits, then s, m or h)."""
    text = str(text).strip()
    return float(text[:-1]) * _DURATION_UNITS[text[-1]]


def parse_size(text: str) -> int:
    """'2GiB', '512MiB', '2GB' -> bytes (the schema checks the form: digits, then KiB/MiB/GiB/KB/MB/GB)."""
    text = str(text).strip()
    return int(text[:-3]) * _SIZE_UNITS[text[-3:]] if text.endswith("iB") else int(text[:-2]) * _SIZE_UNITS[text[-2:]]


def _limits(limits: dict[str, Any]) -> dict[str, Any]:
    """dac.yml `limits:` -> the Project's query_timeout and memory_limit (defaults where absent)."""
    parsed: dict[str, Any] = {}
    if "query_timeout" in limits:
        parsed["query_timeout"] = parse_duration(limits["query_timeout"])
    if "memory_limit" in limits:
        parsed["memory_limit"] = parse_size(limits["memory_limit"])
    return parsed


# How dac.yml's checker words a `limits:` value that does not match its pattern.
_CONFIG_PATTERNS.update(
    query_timeout="is not a duration: write whole seconds, minutes or hours, e.g. 60s, 2m, 1h",
    memory_limit="is not a size: write a whole number and KiB, MiB, GiB, KB, MB or GB, e.g. 2GiB, 512MiB",
)
