"""`dac validate`: load detection files and run every check, collecting diagnostics."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import gitref
from .checks import history, kql, metadata, mitre, parameters, platform, repository, yaml_style
from .diagnostics import Diagnostic, Severity, display_path  # display_path: also public here
from .model.detection import DETECTION_SUFFIXES, Detection, LoadResult, discover, load_detection
from .model.project import Project
from .model.yamlsource import YamlLoadError, load_yaml_file
from .variants import Variant, build_variants

PerDetectionCheck = Callable[[Detection], list[Diagnostic]]

# One small module per concern; each takes a schema-valid detection.
DETECTION_CHECKS: tuple[PerDetectionCheck, ...] = (metadata.check, mitre.check, yaml_style.check)


@dataclass
class ValidationReport:
    results: list[LoadResult]
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # Each valid detection's rendered and bound query per dialect, by file.
    variants: dict[Path, list[Variant]] = field(default_factory=dict)

    @property
    def detections(self) -> list[Detection]:
        return [r.detection for r in self.results if r.detection is not None]

    def count(self, severity: Severity) -> int:
        return sum(1 for d in self.diagnostics if d.severity is severity)

    @property
    def errors(self) -> int:
        return self.count(Severity.ERROR)

    @property
    def warnings(self) -> int:
        return self.count(Severity.WARNING)

    def files_with_errors(self) -> set[str]:
        return {d.path for d in self.diagnostics if d.severity is Severity.ERROR}


def validate(paths: Sequence[Path], project: Project, base_ref: str | None = None) -> ValidationReport:
    """Validate the files under `paths`. Raises gitref.GitError for an unusable --base."""
    files = discover(paths)
    report = ValidationReport(results=[load_detection(f, display_path(f)) for f in files])
    for result in report.results:
        report.diagnostics.extend(result.diagnostics)
        if result.detection is not None:
            for check in DETECTION_CHECKS:
                report.diagnostics.extend(check(result.detection))
            variants = build_variants(result.detection, project.tables_dir)
            report.variants[result.path] = variants
            report.diagnostics.extend(kql.check(result.detection, variants=variants))
            for variant in variants:
                report.diagnostics.extend(platform.check_variant(result.detection, variant))

    checked = report.detections
    checked_files = set(files)  # discover() names each file once, resolved where it can be
    searched = project.detections_dir.is_dir() and not _searched_whole(paths, project)
    repository_files = [f for f in discover([project.detections_dir]) if f not in checked_files] if searched else []
    report.diagnostics.extend(repository.check_unique_ids(checked, _ids_of(repository_files)))
    if _whole_folder(paths, project):  # a target parameter no detection declares is a typo (DAC131)
        for target in project.targets:
            report.diagnostics.extend(parameters.check_target(project, target, checked))

    if base_ref is not None:
        report.diagnostics.extend(_check_base(checked, project, base_ref, files + repository_files))
    report.diagnostics.sort(key=Diagnostic.sort_key)
    return report


def _searched_whole(paths: Sequence[Path], project: Project) -> bool:
    """Whether one of `paths` is the detections folder itself: discover() then found every file a search of
    it finds, and searching it again would find no other."""
    folder = project.detections_dir.resolve()
    return any(p.is_dir() and p.resolve() == folder for p in paths)


def _whole_folder(paths: Sequence[Path], project: Project) -> bool:
    """Whether `paths` cover the project's whole detections folder (only then is "no detection declares
    this parameter" known)."""
    folder = project.detections_dir.resolve()
    return any(folder.is_relative_to(p.resolve()) for p in paths if p.is_dir())


def _ids_of(files: list[Path]) -> dict[Path, str]:
    """Ids of other repository files, read leniently: a broken file is reported when it is checked."""
    ids: dict[Path, str] = {}
    for file in files:
        try:
            data = load_yaml_file(file, display_path(file)).data
        except YamlLoadError:
            continue
        if isinstance(data, dict) and isinstance(data.get("id"), str):
            ids[Path(display_path(file))] = data["id"]
    return ids


def _check_base(checked: list[Detection], project: Project, ref: str, head_files: list[Path]) -> list[Diagnostic]:
    root = gitref.repository_root(project.root)
    commit = gitref.resolve_commit(root, ref)
    folder = gitref.relative_folder(root, project.detections_dir)
    base = history.parse_base(gitref.read_tree(root, commit, folder, DETECTION_SUFFIXES))
    head_paths = set()
    for file in head_files:
        try:
            head_paths.add(file.resolve().relative_to(root).as_posix())
        except (ValueError, OSError, RuntimeError):  # outside the repository, or a symlink loop
            continue
    in_repository = [d for d in checked if d.file.resolve().is_relative_to(root)]
    return history.check_against_base(in_repository, root, base, head_paths, ref)
