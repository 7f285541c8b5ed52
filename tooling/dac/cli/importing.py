"""`dac import`: convert queries from other formats into detection files (the library is importers/)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click

from .support import EXIT_USAGE
from .support import guarded as _guarded

OUT_OPTION = click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
                          help="Folder to write the detection files into.")  # fmt: skip


@click.group("import")
def import_group() -> None:
    """Convert queries from other formats into detection files."""


@import_group.command("markdown")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@OUT_OPTION
@click.option(
    "--date",
    "fallback_date",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="created/modified for documents that give no date (default: today).",
)
@_guarded
def import_markdown_command(files: tuple[Path, ...], out_dir: Path, fallback_date: dt.datetime | None) -> None:
    """Convert markdown hunting queries into detection YAML.

    Reads documents with a title, description, MITRE table, author and a Defender and a Sentinel
    query block. The Defender block becomes `query`; the Sentinel block becomes
    `variants.sentinel.text` when it differs. Nothing is written if any document fails.
    """
    from ..diagnostics import display_path
    from ..importers.convert import ImportFailure, convert_documents
    from ..model.project import schema_reference
    from ..model.yamlwrite import dump_detection
    from ..redaction import write_text
    from ..scaffold.detection import slugify, unique_path

    day = fallback_date.date() if fallback_date else dt.date.today()
    try:
        converted = convert_documents(list(files), day)
    except ImportFailure as exc:
        click.echo(exc.diagnostic.format(), err=True)
        sys.exit(EXIT_USAGE)
    out_dir.mkdir(parents=True, exist_ok=True)
    reference = schema_reference(out_dir)

    taken: set[Path] = set()
    for source, data in converted:
        target = unique_path(out_dir, slugify(data["name"]), taken)
        taken.add(target)
        write_text(target, dump_detection(data, reference), encoding="utf-8")
        sentinel = "sentinel override kept" if data.get("variants", {}).get("sentinel", {}).get("text") else ""
        click.echo(f"{display_path(source)} -> {display_path(target)}" + (f" ({sentinel})" if sentinel else ""))


_OUT_OPTION = click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write the detection files into (existing files are never overwritten).",
)
_DATE_OPTION = click.option(
    "--date",
    "fallback_date",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="created/modified for rules that give no date (default: today).",
)


@import_group.command("sentinel")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@_OUT_OPTION
@_DATE_OPTION
@_guarded
def import_sentinel_command(paths: tuple[Path, ...], out_dir: Path, fallback_date: dt.datetime | None) -> None:
    """Convert Microsoft Sentinel analytics rules and hunting queries into detection YAML.

    PATHS are files or folders (searched recursively for *.yaml, *.yml and *.json) of: analytic
    rule YAML and hunting query YAML as the Azure-Sentinel repository writes them, and ARM
    templates exported from the Sentinel portal (resources of type .../alertRules). Each Scheduled
    or NRT rule becomes a `kind: detection` in the Sentinel dialect (Defender turned off), keeping
    the rule's id, schedule, trigger, alert details, entities, custom details, event grouping,
    incident and suppression settings; each hunting query a `kind: hunting`. Fusion, ML, threat
    intelligence and incident creation rules are reported as `PATH: skipped: reason`. A rule that
    cannot be imported is reported as `PATH: error: reason` and not written (exit code 1).
    """
    from ..importers.sentinel import import_sentinel

    day = fallback_date.date() if fallback_date else dt.date.today()
    _write_imported(import_sentinel(list(paths), day), out_dir)


@import_group.command("defender")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@_OUT_OPTION
@_DATE_OPTION
@_guarded
def import_defender_command(paths: tuple[Path, ...], out_dir: Path, fallback_date: dt.datetime | None) -> None:
    """Convert Defender XDR custom detection rules (Graph JSON) into detection YAML.

    PATHS are files or folders (searched recursively for *.json) holding `detectionRule` objects as
    Microsoft Graph returns them: one rule, a list, or `{"value": [...]}`. Each rule becomes a
    `kind: detection` in the Defender dialect (Sentinel turned off), converted as `dac pull` does
    but without `adopt:` (imported content is new to the tenants it is deployed to). A rule that
    cannot be imported is reported as `PATH: error: reason` and not written (exit code 1).
    """
    from ..importers.defender import import_defender

    day = fallback_date.date() if fallback_date else dt.date.today()
    _write_imported(import_defender(list(paths), day), out_dir)


def _write_imported(items: list, out_dir: Path) -> None:
    """Write the imported items, print one line per item, exit 1 when any failed."""
    from ..diagnostics import display_path
    from ..importers.rulefiles import write_items
    from .support import EXIT_FINDINGS

    write_items(items, out_dir)
    for item in items:
        for note in item.warnings:
            click.echo(f"{item.source}: warning: {note}", err=True)
        if item.written is not None:
            click.echo(f"{item.source} -> {display_path(item.written)}")
        elif item.skipped is not None:
            click.echo(f"{item.source}: skipped: {item.skipped}")
        elif item.error is not None:
            click.echo(f"{item.source}: error: {item.error}", err=True)
    written = sum(1 for item in items if item.written is not None)
    skipped = sum(1 for item in items if item.skipped is not None)
    failed = sum(1 for item in items if item.error is not None)
    click.echo(f"{written} imported, {skipped} skipped, {failed} failed", err=bool(failed))
    if failed:
        sys.exit(EXIT_FINDINGS)


@import_group.command("sigma")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@OUT_OPTION
@click.option(
    "--dialect",
    type=click.Choice(["defender", "sentinel"]),
    default="defender",
    show_default=True,
    help="Dialect of the converted queries: Defender XDR tables, or Sentinel (Log Analytics) tables.",
)
@_guarded
def import_sigma_command(paths: tuple[Path, ...], out_dir: Path, dialect: str) -> None:
    """Convert Sigma rules into detection YAML (needs the `sigma` extra).

    PATHS are rule files or folders (searched for *.yml and *.yaml). pySigma's Kusto backend writes
    the query; each rule becomes a hunting query in one dialect, the other dialect turned off. A
    rule the backend cannot convert, or whose conversion `dac validate` would reject, is reported
    as `PATH: skipped: reason` and not written (exit code 1). Existing files are never overwritten.
    """
    from collections import Counter

    from ..diagnostics import display_path
    from ..importers.sigma import SigmaUnavailable, import_sigma
    from ..model.project import find_project, schema_reference
    from ..model.yamlwrite import dump_detection
    from ..redaction import redact
    from ..scaffold.detection import slugify, unique_path
    from .support import EXIT_FINDINGS

    try:
        results = import_sigma(list(paths), dialect, project=find_project(out_dir))
    except SigmaUnavailable as exc:
        click.echo(f"dac: error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    converted = [r for r in results if r.data is not None]
    if converted:
        out_dir.mkdir(parents=True, exist_ok=True)
    reference = schema_reference(out_dir) if converted else None
    rules_per_file = Counter(r.source for r in results)
    taken: set[Path] = set()
    for result in results:
        source = display_path(result.source)
        label = f"{source} ({result.title})" if rules_per_file[result.source] > 1 else source
        if result.data is None:
            click.echo(f"{label}: skipped: {result.skipped}", err=True)
            continue
        target = unique_path(out_dir, slugify(result.data["name"]), taken)
        taken.add(target)
        with target.open("x", encoding="utf-8") as handle:  # "x": never overwrite a file
            handle.write(redact(dump_detection(result.data, reference)))
        click.echo(f"{label} -> {display_path(target)}")
        for note in result.notes:
            click.echo(f"  note: {note}")
    skipped = len(results) - len(converted)
    click.echo(f"{len(converted)} imported, {skipped} skipped", err=bool(skipped))
    if skipped:
        sys.exit(EXIT_FINDINGS)
