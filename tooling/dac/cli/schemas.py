"""`dac schemas pull`: the tenant's own tables and functions into the project's `tables:` folder."""

from __future__ import annotations

import sys

import click

from .support import EXIT_FINDINGS, EXIT_OK, fail, guarded

# Outcomes listed one per line; the others (unchanged files, tables dac ships as they are) only counted
# unless -v asks for them.
_LISTED = ("written", "updated", "kept", "skipped", "failed", "stale", "removed")
_SUMMARY = (
    ("written", "written"), ("updated", "updated"), ("unchanged", "unchanged"), ("kept", "hand-written kept"),
    ("shipped", "same as shipped"), ("skipped", "not pulled"), ("failed", "failed"), ("stale", "stale"),
    ("removed", "removed"),
)  # fmt: skip


@click.group("schemas")
def schemas_group() -> None:
    """The project's own table schemas (the `tables:` folder of dac.yml)."""


@schemas_group.command("pull")
@click.option("--target", "target_name", required=True, metavar="NAME", help="Target from dac.yml (`targets:`).")
@click.option("--force", is_flag=True, help="Overwrite hand-written files that declare a pulled table or function.")
@click.option("--all", "everything", is_flag=True,
              help="Write every table, also those whose columns equal the schema dac ships.")  # fmt: skip
@click.option("--prune", is_flag=True, help="Delete this target's generated files the tenant no longer reports.")
@click.option("-v", "--verbose", count=True, help="List unchanged files and shipped tables too.")
@guarded
def pull_command(target_name: str, force: bool, everything: bool, prune: bool, verbose: int) -> None:
    """Write the target's own tables and functions into the `tables:` folder, so detections on
    custom logs and workspace functions validate and test.

    Sentinel: the workspace's tables with their columns (ARM workspaces/{ws}/tables, custom `_CL`
    tables included) and its functions (saved searches with a function alias), whose columns come from
    an `<alias> | getschema` query (Log Analytics, needs `pip install 'dac[backtest]'`). Defender: the
    tables and saved functions Advanced Hunting reports (Graph security/getHuntingSchema).

    One file per table at <tables>/<platform>/<Name>.json (functions in functions/), marked as
    generated: a later pull rewrites them. A hand-written file of the same name is kept unless --force.
    Tables equal to the schemas dac ships are not written unless --all. Exit code 0; 1 when a table or
    function could not be written (an unsafe name) or the tenant did not answer; 2 for usage errors.
    """
    from ..model.project import find_project
    from ..schemas_pull import pull_schemas
    from ..schemas_sources import SchemaSourceError
    from ..tenant import MissingExtra

    project = find_project()
    target = project.target(target_name)
    try:
        report = pull_schemas(project, target, force=force, everything=everything, prune=prune)
    except MissingExtra as exc:
        fail(str(exc))
    except SchemaSourceError as exc:
        click.echo(f"dac: error: {exc}", err=True)
        sys.exit(EXIT_FINDINGS)
    _print(report, verbose)
    sys.exit(EXIT_FINDINGS if report.failed else EXIT_OK)


def _print(report: object, verbose: int) -> None:
    from ..diagnostics import display_path
    from ..schemas_pull import PullReport

    assert isinstance(report, PullReport)
    click.echo(f"Schemas of target '{report.target}' ({report.dialect}) into {display_path(report.folder)}/")
    for note in report.notes:
        click.echo(f"  note: {note}")
    shown = _LISTED + (("unchanged", "shipped") if verbose else ())
    for outcome in report.outcomes:
        if outcome.action not in shown:
            continue
        name = _printable(outcome.name)
        where = display_path(outcome.path) if outcome.path else f"{outcome.kind} {name}"
        what = f" ({outcome.kind} {name})" if outcome.path else ""
        reason = f": {_printable(outcome.reason, 300)}" if outcome.reason else ""
        click.echo(f"  {outcome.action:<9} {where}{what}{reason}")
    counts = [f"{report.count(action)} {label}" for action, label in _SUMMARY if report.count(action)]
    click.echo("Summary: " + (", ".join(counts) if counts else "nothing reported"))


def _printable(text: str, limit: int = 80) -> str:
    """A name from the tenant as safe terminal text: control characters (escape sequences) escaped, long
    names cut."""
    shown = "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."
