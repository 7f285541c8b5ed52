"""`dac coverage` (ATT&CK coverage as markdown or a Navigator layer) and `dac docs` (a markdown site)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .support import EXIT_FINDINGS, EXIT_OK, PATHS_ARGUMENT, paths_or_default
from .support import console as _console
from .support import fail as _fail
from .support import guarded as _guarded

if TYPE_CHECKING:  # the library loads when a command runs, not when dac starts
    from ..model.detection import Detection


def _load(paths: list[Path]) -> tuple[list[Detection], int]:
    """The detections that load (YAML and schema); the others are reported on stderr and counted."""
    from ..diagnostics import display_path
    from ..model.detection import discover, load_detection
    from ..reports.text import print_diagnostics

    detections, failed = [], 0
    stderr = _console(stderr=True)
    for file in discover(paths):
        result = load_detection(file, display_path(file))
        if result.detection is None:
            failed += 1
            print_diagnostics(stderr, result.diagnostics)
        else:
            detections.append(result.detection)
    return detections, failed


def _write_or_print(text: str, out_file: Path | None) -> None:
    from ..diagnostics import display_path
    from ..redaction import write_text

    if out_file is None:
        click.echo(text, nl=False)
        return
    out_file.parent.mkdir(parents=True, exist_ok=True)
    write_text(out_file, text, encoding="utf-8")
    click.echo(f"wrote {display_path(out_file)}", err=True)


def _file_link(detection: Detection, base: Path) -> str:
    return Path(os.path.relpath(detection.file.resolve(), base.resolve())).as_posix()


@click.command("coverage")
@PATHS_ARGUMENT
@click.option("--format", "output_format", type=click.Choice(["markdown", "navigator"]), default="markdown",
              show_default=True, help="markdown: a matrix per tactic for people; navigator: an ATT&CK "
                                      "Navigator layer (JSON, layer format 4.5).")  # fmt: skip
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Write to FILE instead of standard output.")  # fmt: skip
@click.option("--kind", "kinds", multiple=True, type=click.Choice(["hunting", "detection"]),
              help="Count only this kind (repeatable; default: both).")  # fmt: skip
@click.option("--status", "statuses", multiple=True,
              type=click.Choice(["experimental", "test", "stable", "deprecated"]),
              help="Count only this status (repeatable; default: all but deprecated).")  # fmt: skip
@click.option("--name", "layer_name", default="dac detections", show_default=True,
              help="The layer's name in the Navigator (navigator format).")  # fmt: skip
@_guarded
def coverage_command(
    paths: tuple[Path, ...],
    output_format: str,
    out_file: Path | None,
    kinds: tuple[str, ...],
    statuses: tuple[str, ...],
    layer_name: str,
) -> None:
    """ATT&CK coverage of the detections: which techniques they name, per tactic.

    PATHS are files or folders (default: the project's detections folder). Every detection counts
    for each technique in its mitre.techniques, whatever its kind, unless its status is deprecated;
    a sub-technique counts for itself, and makes its parent technique covered in the per-tactic
    totals. Files that do not load (YAML or schema errors) are reported on standard error and left
    out, with exit code 1. In markdown, detections link to their files (relative to FILE's folder
    with --out, else to the current folder).
    """
    from ..coverage import coverage
    from ..model.project import find_project
    from ..reports import coverage_markdown, navigator

    project = find_project()
    detections, failed = _load(paths_or_default(paths, project))
    measured = coverage(detections, statuses=statuses or None, kinds=kinds or None)
    if output_format == "navigator":
        root = project.root.resolve()
        text = navigator.render(measured, layer_name, locate=lambda detection: _file_link(detection, root))
    else:
        base = out_file.parent if out_file is not None else Path.cwd()
        text = coverage_markdown.render(measured, link=lambda detection: _file_link(detection, base))
    _write_or_print(text, out_file)
    sys.exit(EXIT_FINDINGS if failed else EXIT_OK)


@click.command("docs")
@PATHS_ARGUMENT
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("site"),
              show_default=True, help="Folder to write the site into.")  # fmt: skip
@click.option("--templates", "templates_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of templates (detection.md.j2, index.md.j2) used instead of the built-in "
                   "ones of the same name.")  # fmt: skip
@_guarded
def docs_command(paths: tuple[Path, ...], out_dir: Path, templates_dir: Path | None) -> None:
    """Write a markdown site: a page per detection, an index and an ATT&CK coverage page.

    Pages mirror the detections folder (OUT/<folder>/<name>.md) and show the metadata, ATT&CK
    mapping, the rendered query of each enabled dialect, the rule's schedule and alert, and the
    tests. OUT/index.md lists them by folder; OUT/coverage.md is the `dac coverage` matrix.
    Detections with errors are reported and not documented (exit code 1). Pages are written over;
    nothing is ever deleted, so the page of a removed detection stays until you remove it (or
    start from an empty OUT). Templates run in a Jinja2 sandbox; a template error is exit code 2.
    """
    from ..diagnostics import display_path
    from ..model.project import find_project
    from ..reports.site import DocsError, Documented, build, write
    from ..reports.text import print_diagnostics
    from ..validation import validate

    project = find_project()
    report = validate(paths_or_default(paths, project), project)
    print_diagnostics(_console(), report.diagnostics)
    failed = report.files_with_errors()
    documented = [
        Documented(result.detection, report.variants.get(result.path, []))
        for result in report.results
        if result.detection is not None and result.display not in failed
    ]
    try:
        pages = build(documented, project.detections_dir, out_dir, templates_dir, project.root)
    except DocsError as exc:
        _fail(str(exc))
    write(pages, out_dir)
    skipped = len(report.results) - len(documented)
    note = f"; {skipped} with errors not documented" if skipped else ""
    click.echo(f"wrote {len(pages)} pages into {display_path(out_dir)} ({len(documented)} detections{note})", err=True)
    sys.exit(EXIT_FINDINGS if skipped else EXIT_OK)
