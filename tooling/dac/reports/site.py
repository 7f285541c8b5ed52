"""`dac docs`: a markdown page per detection, an index and an ATT&CK coverage page.

Pages come from Jinja2 templates shipped in the package (templates/docs/detection.md.j2 and
index.md.j2); a team can restyle them with a folder of templates of the same names. Templates run
in a sandbox with strict undefined and see plain data only (dicts, lists, strings), described in
docs/reports.md. Nothing here deletes files: the site is written over, page by page.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any

from jinja2 import (
    ChoiceLoader,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateSyntaxError,
)
from jinja2.sandbox import SandboxedEnvironment

from .. import __version__
from ..confine import OutsideProject, project_root_of, refuse_outside
from ..coverage import coverage as measure_coverage
from ..model.attack import AttackCatalog, load_catalog
from ..model.detection import Detection
from ..redaction import write_text
from ..variants import Variant
from . import coverage_markdown
from .coverage_markdown import escape_cell, escape_inline, link_target

DETECTION_TEMPLATE = "detection.md.j2"
INDEX_TEMPLATE = "index.md.j2"
INDEX_PAGE = PurePosixPath("index.md")
COVERAGE_PAGE = PurePosixPath("coverage.md")
TOP_LEVEL_AREA = "(top level)"
DIALECT_NAMES = {"defender": "Microsoft Defender XDR", "sentinel": "Microsoft Sentinel"}
TRIGGER_WORDS = {"gt": "more than", "lt": "fewer than", "eq": "exactly", "ne": "other than"}


class DocsError(Exception):
    """A template or the set of pages cannot be used: a usage error (exit code 2)."""


@dataclass(frozen=True)
class Documented:
    """A detection to document, with its rendered query per enabled dialect (from validation)."""

    detection: Detection
    variants: Sequence[Variant]


@dataclass(frozen=True)
class Page:
    path: PurePosixPath  # relative to the site folder
    text: str


# ---------------------------------------------------------------------------------------- templates


def fence(text: str) -> str:
    """A backtick fence longer than any run of backticks in `text`."""
    longest = run = 0
    for character in text:
        run = run + 1 if character == "`" else 0
        longest = max(longest, run)
    return "`" * max(3, longest + 1)


class ConfinedLoader(FileSystemLoader):
    """Templates from one folder of the project: a template that is (or goes through) a symlink out of the
    project or into .git/ is refused before it is read, like every file a project names."""

    def __init__(self, folder: Path, root: Path):
        super().__init__(str(folder))
        self.folder, self.root = folder, root

    def get_source(self, environment: Any, template: str) -> tuple[str, str | None, Callable[[], bool] | None]:
        candidate = self.folder / template
        if candidate.exists() or candidate.is_symlink():
            try:
                refuse_outside(self.root, candidate, "template")
            except OutsideProject as exc:
                raise DocsError(f"{template}: {exc}") from None
        return super().get_source(environment, template)


def environment(templates: Path | None = None, root: Path | None = None) -> SandboxedEnvironment:
    """The sandboxed Jinja2 environment: `templates` (if given, inside the project `root`) first, then the
    package's templates."""
    loaders: list[Any] = []
    if templates is not None:
        loaders.append(ConfinedLoader(templates, root or project_root_of(templates)))
    loaders.append(PackageLoader("dac", "templates/docs"))
    env = SandboxedEnvironment(
        loader=ChoiceLoader(loaders), undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
    )
    env.filters.update(cell=escape_cell, inline=escape_inline, link=link_target, fence=fence)
    return env


def _template_line(error: BaseException, template: Template | None) -> int | None:
    """The template line a runtime error happened on: Jinja2 maps its frames onto the template file."""
    if template is None or template.filename is None:
        return None
    line = None
    trace: TracebackType | None = error.__traceback__
    while trace is not None:
        if trace.tb_frame.f_code.co_filename == template.filename:
            line = trace.tb_lineno
        trace = trace.tb_next
    return line


def render(env: SandboxedEnvironment, name: str, context: dict[str, Any]) -> str:
    """Render template `name`; a broken or unsafe template becomes a DocsError naming file and line."""
    template: Template | None = None
    try:
        template = env.get_template(name)
        return template.render(context)
    except TemplateSyntaxError as exc:
        raise DocsError(f"{exc.filename or name}:{exc.lineno}: template error: {exc.message}") from None
    except TemplateError as exc:
        where = template.filename if template is not None and template.filename else name
        line = _template_line(exc, template)
        if line is not None:
            where += f":{line}"
        raise DocsError(f"{where}: template error: {exc.message or type(exc).__name__}") from None


# ------------------------------------------------------------------------------------------ pages


def page_path(detection: Detection, detections_dir: Path) -> PurePosixPath:
    """<area>/<name>.md, mirroring the file's place under the detections folder."""
    file = detection.file.resolve()
    try:
        relative = PurePosixPath(file.relative_to(detections_dir.resolve()).as_posix())
    except ValueError:  # a file given outside the detections folder: documented at the top level
        relative = PurePosixPath(file.name)
    return relative.with_suffix(".md")


def relative_link(target: PurePosixPath, from_page: PurePosixPath) -> str:
    """The link from one page of the site to another page of the site."""
    return PurePosixPath(os.path.relpath(target.as_posix(), from_page.parent.as_posix() or ".")).as_posix()


def _source_link(detection: Detection, page: PurePosixPath, out_dir: Path) -> str:
    folder = (out_dir / page.parent).resolve()
    return Path(os.path.relpath(detection.file.resolve(), folder)).as_posix()


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _tactic(shortname: str, catalog: AttackCatalog) -> dict[str, Any]:
    tactic = catalog.tactics.get(shortname)
    if tactic is None:  # only in a detection with errors, which is not documented; kept for safety
        return {"shortname": shortname, "id": None, "name": shortname, "url": None}
    url = f"https://attack.mitre.org/tactics/{tactic.id}/"
    return {"shortname": shortname, "id": tactic.id, "name": tactic.name, "url": url}


def _technique(technique_id: str, catalog: AttackCatalog) -> dict[str, Any]:
    technique = catalog.techniques.get(technique_id)
    if technique is None:
        return {"id": technique_id, "name": None, "url": None, "status": "unknown"}
    return {"id": technique_id, "name": technique.name, "url": technique.url, "status": technique.status}


def _attack(detection: Detection, catalog: AttackCatalog) -> dict[str, list[dict[str, Any]]]:
    return {
        "tactics": [_tactic(t, catalog) for t in detection.mitre.get("tactics") or []],
        "techniques": [_technique(t, catalog) for t in detection.mitre.get("techniques") or []],
    }


def _schedule_text(schedule: dict[str, Any]) -> str:
    if str(schedule.get("frequency")) == "0":
        return "near-real-time"
    return f"every {schedule.get('frequency')}, looking back {schedule.get('lookback')}"


def _trigger_text(trigger: dict[str, Any]) -> str:
    operator = trigger.get("operator")
    return f"{TRIGGER_WORDS.get(operator, operator)} {trigger.get('threshold')} results"


def _rule(detection: Detection) -> dict[str, Any] | None:
    """Schedule, trigger and alert of a `kind: detection` (None for hunting queries)."""
    if detection.kind != "detection":
        return None
    data = detection.data
    schedule, trigger, alert = data.get("schedule") or {}, data.get("trigger") or {}, data.get("alert") or {}
    return {
        "frequency": _text(schedule.get("frequency")),
        "lookback": _text(schedule.get("lookback")),
        "near_real_time": str(schedule.get("frequency")) == "0",
        "schedule_text": _schedule_text(schedule),
        "trigger_text": _trigger_text(trigger),
        "title": alert.get("title"),
        "description": alert.get("description"),
        "recommended_actions": alert.get("recommended_actions"),
        "entities": [{"type": e.get("type"), "column": _entity_columns(e)} for e in alert.get("entities") or []],
        "custom_details": [{"key": k, "column": v} for k, v in (alert.get("custom_details") or {}).items()],
    }


def _tests(detection: Detection) -> list[dict[str, Any]]:
    enabled = detection.enabled_dialects()
    return [
        {"name": test["name"], "dialects": [d for d in enabled if d in (test.get("dialects") or enabled)]}
        for test in detection.data.get("tests") or []
    ]


def detection_context(item: Documented, page: PurePosixPath, out_dir: Path, catalog: AttackCatalog) -> dict[str, Any]:
    """What detection.md.j2 sees: `detection`, `queries`, `rule`, `tests`, `links`, `dac_version`."""
    detection, data = item.detection, item.detection.data
    return {
        "detection": {
            "name": detection.name, "id": detection.id, "kind": detection.kind, "status": data["status"],
            "severity": data.get("severity"), "authors": list(data.get("authors") or []),
            "created": _text(data.get("created")), "modified": _text(data.get("modified")),
            "version": detection.version, "description": data.get("description") or "",
            "tags": list(data.get("tags") or []), "references": list(data.get("references") or []),
            "path": detection.display, **_attack(detection, catalog),
        },
        "queries": [
            {"dialect": v.dialect, "platform": DIALECT_NAMES.get(v.dialect, v.dialect), "text": v.text}
            for v in item.variants
        ],
        "rule": _rule(detection),
        "tests": _tests(detection),
        "links": {
            "source": _source_link(detection, page, out_dir),
            "index": relative_link(INDEX_PAGE, page),
            "coverage": relative_link(COVERAGE_PAGE, page),
        },
        "dac_version": __version__,
    }  # fmt: skip


def _area(page: PurePosixPath) -> str:
    return page.parent.as_posix() if page.parent != PurePosixPath(".") else TOP_LEVEL_AREA


def index_context(entries: list[tuple[PurePosixPath, Documented]], catalog: AttackCatalog) -> dict[str, Any]:
    """What index.md.j2 sees: `areas` (folder, detections), `count`, `links`, `attack_version`."""
    areas: dict[str, list[dict[str, Any]]] = {}
    for page, item in sorted(entries, key=lambda entry: (_area(entry[0]), entry[1].detection.name.casefold())):
        detection = item.detection
        tactics = [t["name"] for t in _attack(detection, catalog)["tactics"]]
        areas.setdefault(_area(page), []).append(
            {"name": detection.name, "link": relative_link(page, INDEX_PAGE), "kind": detection.kind,
             "severity": detection.data.get("severity"), "status": detection.data["status"], "tactics": tactics}
        )  # fmt: skip
    return {
        "areas": [{"name": name, "detections": found} for name, found in areas.items()],
        "count": len(entries),
        "links": {"coverage": COVERAGE_PAGE.as_posix()},
        "attack_version": catalog.version,
        "dac_version": __version__,
    }


def _coverage_page(entries: list[tuple[PurePosixPath, Documented]]) -> str:
    pages = {item.detection.display: page for page, item in entries}
    measured = measure_coverage(item.detection for _, item in entries)
    matrix = coverage_markdown.render(
        measured, link=lambda detection: relative_link(pages[detection.display], COVERAGE_PAGE), level=1
    )
    return matrix + f"\n[All detections]({INDEX_PAGE.as_posix()})\n"


def build(
    documented: Sequence[Documented],
    detections_dir: Path,
    out_dir: Path,
    templates: Path | None = None,
    root: Path | None = None,
) -> list[Page]:
    """Every page of the site, in writing order. Raises DocsError for a template problem, a templates
    folder outside the project `root`, or two detections that would share a page."""
    if templates is not None:
        try:
            refuse_outside(root or project_root_of(templates), templates, "templates folder")
        except OutsideProject as exc:
            raise DocsError(str(exc)) from None
    env = environment(templates, root)
    catalog = load_catalog()
    entries: list[tuple[PurePosixPath, Documented]] = []
    owners: dict[PurePosixPath, Detection] = {}
    for item in documented:
        page = page_path(item.detection, detections_dir)
        if page in owners or page in (INDEX_PAGE, COVERAGE_PAGE):
            other = owners[page].display if page in owners else "the site"
            raise DocsError(f"{item.detection.display} and {other} would both be written to {page}")
        owners[page] = item.detection
        entries.append((page, item))
    pages = [
        Page(page, render(env, DETECTION_TEMPLATE, detection_context(item, page, out_dir, catalog)))
        for page, item in entries
    ]
    pages.append(Page(INDEX_PAGE, render(env, INDEX_TEMPLATE, index_context(entries, catalog))))
    pages.append(Page(COVERAGE_PAGE, _coverage_page(entries)))
    return pages


def write(pages: Sequence[Page], out_dir: Path) -> list[Path]:
    """Write the pages under `out_dir` (creating folders); nothing else is touched or deleted."""
    written = []
    for page in pages:
        target = out_dir / page.path
        target.parent.mkdir(parents=True, exist_ok=True)
        write_text(target, page.text, encoding="utf-8")
        written.append(target)
    return written


def _entity_columns(entity: dict[str, Any]) -> str | None:
    """The entity's column, or the columns of an entity of several identifiers: "Name: A, Sid: B"."""
    identifiers = entity.get("identifiers") or {}
    return entity.get("column") or ", ".join(f"{name}: {column}" for name, column in identifiers.items()) or None
