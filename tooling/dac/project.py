"""The project a command works in: its root (the folder holding dac.yml) and its configuration."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from jsonschema import Draft202012Validator

from .diagnostics import Diagnostic, error
from .schema import field_name
from .yamlsource import LoadedYaml, YamlLoadError, load_yaml_file

CONFIG_NAME = "dac.yml"


class ProjectError(Exception):
    """dac.yml is unreadable or invalid: a usage/input error (exit code 2)."""

    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.format())
        self.diagnostic = diagnostic


@dataclass(frozen=True)
class Project:
    root: Path
    config_file: Path | None
    detections_dir: Path
    tables_dir: Path | None = None  # the project's own table schemas (custom logs, watchlists)

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
    return Project(root=root, config_file=config_file, detections_dir=detections, tables_dir=tables)
