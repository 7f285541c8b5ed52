"""What a pull request changes in the detections: the model behind `dac report pr`.

The head is the working tree (validated, rendered and tested as `dac check` would); the base is
the detections folder at a git ref, read through git without checking it out. Detections are
matched by id, so a moved file is one changed detection, not one removed and one added; a head
file without a readable id is matched to the base file at the same path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import gitref
from .diagnostics import Diagnostic, Severity
from .model.detection import DETECTION_SUFFIXES, Detection, LoadResult
from .model.project import Project
from .model.schema import check_schema
from .model.yamlsource import YamlLoadError, load_yaml_bytes, load_yaml_file
from .testing import TestResult, run_detection_tests
from .validation import ValidationReport, validate
from .variants import Variant, build_variants

ADDED, CHANGED, REMOVED = "added", "changed", "removed"


class _DetectionFile:
    """What base and head files share: a repository path and the data read from it, if any."""

    path: str  # relative to the repository root
    data: dict[str, Any] | None  # None when the file did not load as a YAML mapping

    @property
    def id(self) -> str | None:
        value = (self.data or {}).get("id")
        return value if isinstance(value, str) else None

    @property
    def name(self) -> str:
        return str((self.data or {}).get("name") or Path(self.path).stem)


@dataclass
class BaseFile(_DetectionFile):
    """A detection file as it was at the base ref."""

    path: str
    data: dict[str, Any] | None
    detection: Detection | None  # set when the file was schema-valid at the base
    variants: list[Variant] = field(default_factory=list)


@dataclass
class HeadFile(_DetectionFile):
    """A detection file in the working tree, with what validation found."""

    path: str
    loaded: LoadResult
    data: dict[str, Any] | None


@dataclass
class DetectionChange:
    status: str  # added | changed | removed
    head: HeadFile | None
    base: BaseFile | None
    changed_fields: list[str] = field(default_factory=list)  # top-level keys, and "file" for a move
    diagnostics: list[Diagnostic] = field(default_factory=list)
    tests: list[TestResult] = field(default_factory=list)
    variants: list[Variant] = field(default_factory=list)  # the head's rendered queries

    @property
    def name(self) -> str:
        return (self.head or self.base).name  # type: ignore[union-attr]

    @property
    def path(self) -> str:
        return (self.head or self.base).path  # type: ignore[union-attr]

    @property
    def id(self) -> str | None:
        return (self.head or self.base).id  # type: ignore[union-attr]

    @property
    def detection(self) -> Detection | None:
        """The head detection when it is schema-valid, else the base one (for removed detections)."""
        if self.head is not None:
            return self.head.loaded.detection
        return self.base.detection if self.base else None

    @property
    def errors(self) -> int:
        return sum(d.severity is Severity.ERROR for d in self.diagnostics)

    @property
    def warnings(self) -> int:
        return sum(d.severity is Severity.WARNING for d in self.diagnostics)


@dataclass
class Review:
    base_ref: str
    base_commit: str
    changes: list[DetectionChange]
    unchanged: int
    base_detections: list[Detection]
    head_detections: list[Detection]
    report: ValidationReport  # validation of the whole head folder (with the base checks)

    def of_status(self, status: str) -> list[DetectionChange]:
        return [c for c in self.changes if c.status == status]


def review(project: Project, base_ref: str) -> Review:
    """Compare the project's detections folder with `base_ref`. Raises gitref.GitError for a bad ref."""
    root = gitref.repository_root(project.root)
    commit = gitref.resolve_commit(root, base_ref)
    folder = gitref.relative_folder(root, project.detections_dir)
    base_files = [
        _base_file(path, raw, root, project)
        for path, raw in sorted(gitref.read_tree(root, commit, folder, DETECTION_SUFFIXES).items())
    ]
    head_folder = project.detections_dir
    report = validate([head_folder], project, base_ref) if head_folder.is_dir() else ValidationReport(results=[])
    head_files = [_head_file(result, root) for result in report.results]
    changes, unchanged = _match(head_files, base_files)

    by_display: dict[str, list[Diagnostic]] = {}
    for diagnostic in report.diagnostics:
        by_display.setdefault(diagnostic.path, []).append(diagnostic)
    for change in changes:
        if change.head is None:
            continue
        loaded = change.head.loaded
        change.diagnostics = by_display.get(loaded.display, [])
        change.variants = report.variants.get(loaded.path, [])
        if loaded.detection is not None and change.errors == 0:
            change.tests = run_detection_tests(loaded.detection, project.tables_dir, variants=change.variants)
    return Review(
        base_ref=base_ref,
        base_commit=commit,
        changes=changes,
        unchanged=unchanged,
        base_detections=[b.detection for b in base_files if b.detection is not None],
        head_detections=report.detections,
        report=report,
    )


def _base_file(path: str, raw: bytes, root: Path, project: Project) -> BaseFile:
    try:
        source = load_yaml_bytes(raw, path)
    except YamlLoadError:
        return BaseFile(path, None, None)
    data = source.data if isinstance(source.data, dict) else None
    if data is None or check_schema(source):
        return BaseFile(path, data, None)
    detection = Detection(root / path, source)
    # Rendered as the base would have deployed it, for the query diff; a base that no longer
    # renders (a table schema changed since) still diffs on its source text.
    return BaseFile(path, data, detection, build_variants(detection, project.tables_dir))


def _head_file(result: LoadResult, root: Path) -> HeadFile:
    resolved = result.path.resolve()
    path = resolved.relative_to(root).as_posix() if resolved.is_relative_to(root) else result.path.as_posix()
    if result.detection is not None:
        return HeadFile(path, result, result.detection.data)
    try:  # a file that fails the schema may still name its id, which says what it replaces
        data = load_yaml_file(result.path, result.display).data
    except YamlLoadError:
        data = None
    return HeadFile(path, result, data if isinstance(data, dict) else None)


def _match(heads: list[HeadFile], bases: list[BaseFile]) -> tuple[list[DetectionChange], int]:
    base_by_id: dict[str, BaseFile] = {}
    for base in bases:
        if base.id is not None:
            base_by_id.setdefault(base.id, base)
    base_by_path = {base.path: base for base in bases}
    matched: set[str] = set()  # base paths
    changes: list[DetectionChange] = []
    unchanged = 0
    for head in heads:
        base = base_by_id.get(head.id) if head.id else None
        if base is None or base.path in matched:
            candidate = base_by_path.get(head.path)
            base = candidate if candidate is not None and candidate.path not in matched else None
        if base is None:
            changes.append(DetectionChange(ADDED, head, None))
            continue
        matched.add(base.path)
        fields = changed_fields(base.data, head.data)
        if base.path != head.path:
            fields.insert(0, "file")
        if fields:
            changes.append(DetectionChange(CHANGED, head, base, fields))
        else:
            unchanged += 1
    changes.extend(DetectionChange(REMOVED, None, base) for base in bases if base.path not in matched)
    order = {ADDED: 0, CHANGED: 1, REMOVED: 2}
    changes.sort(key=lambda change: (order[change.status], change.path))
    return changes, unchanged


def changed_fields(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[str]:
    """Top-level keys whose values differ, in the order of the newer file."""
    if before is None or after is None:
        return [] if before == after else ["(whole file)"]
    keys = list(after) + [key for key in before if key not in after]
    return [key for key in keys if before.get(key) != after.get(key)]
