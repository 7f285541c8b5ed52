"""`dac import`: convert queries from other formats into detection files (the library is importers/)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click

from .support import EXIT_USAGE
from .support import guarded as _guarded


@click.group("import")
def import_group() -> None:
    """Convert queries from other formats into detection files."""


@import_group.command("markdown")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write the detection files into.",
)
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
