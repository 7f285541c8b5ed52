"""`dac kql`: bare KQL queries outside detection files: check, columns, render (and run, which is
in emulator.py with `dac test`)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .lazy import LazyGroup
from .support import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE
from .support import fail as _fail
from .support import guarded as _guarded


@click.group("kql", cls=LazyGroup, lazy_commands={"run": "dac.cli.emulator:kql_run_command"})
def kql_group() -> None:
    """Work with bare KQL queries (outside detection files)."""


DIALECT_OPTION = click.option(
    "--dialect", type=click.Choice(["defender", "sentinel"]),
    help="Also check tables, columns, functions and types against this platform's schemas.",
)  # fmt: skip


def _read_queries(files: tuple[Path, ...]) -> tuple[list, list[str]]:
    """Queries from .kql files, or JSON lines on standard input for '-' (or no files)."""
    from ..kqlcheck import read_files, read_jsonl

    inputs: list = []
    problems: list[str] = []
    paths = [p for p in files if str(p) != "-"]
    if not files or len(paths) < len(files):
        jsonl_inputs, jsonl_problems = read_jsonl(sys.stdin)
        inputs.extend(jsonl_inputs)
        problems.extend(jsonl_problems)
    file_inputs, file_problems = read_files(paths)
    inputs.extend(file_inputs)
    problems.extend(file_problems)
    return inputs, problems


@kql_group.command("check")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@DIALECT_OPTION
@click.option(
    "--format", "output_format", type=click.Choice(["text", "jsonl"]), default="text", show_default=True,
    help="text: path:line:col lines; jsonl: one {id, errors} object per query (with --dialect also warnings).",
)  # fmt: skip
@_guarded
def kql_check_command(files: tuple[Path, ...], dialect: str | None, output_format: str) -> None:
    """Check KQL queries: syntax, and with --dialect also tables, columns, functions and types.

    FILES are .kql files; '-' (or no FILES) reads JSON lines {"id": ..., "query": ...} from
    standard input. Exit code 1 when any query has an error, 2 for unreadable input.
    """
    import json

    from ..kqlcheck import check_inputs
    from ..model.project import find_project

    inputs, problems = _read_queries(files)
    any_errors = False
    tables = find_project().tables_dir
    for query, diagnostics in check_inputs(inputs, dialect, tables):
        errors = [d for d in diagnostics if d.severity == "error"]
        any_errors = any_errors or bool(errors)
        if output_format == "jsonl":
            groups = [("errors", errors)]
            if dialect is not None:  # warnings come from the binder's lints, which need a dialect
                groups.append(("warnings", [d for d in diagnostics if d not in errors]))
            as_dicts = {
                key: [{"code": d.code, "message": d.message, "line": d.line, "column": d.column} for d in group]
                for key, group in groups
            }
            click.echo(json.dumps({"id": query.id, **as_dicts}, ensure_ascii=False))
        else:
            for diagnostic in diagnostics:
                where = f"{query.label}:{diagnostic.line}:{diagnostic.column}"
                click.echo(f"{where}: {diagnostic.severity} {diagnostic.code}: {diagnostic.message}")
    for problem in problems:
        click.echo(f"dac: error: {problem}", err=True)
    if problems:
        sys.exit(EXIT_USAGE)
    sys.exit(EXIT_FINDINGS if any_errors else EXIT_OK)


@kql_group.command("columns")
@click.argument("file", required=False, type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--dialect", type=click.Choice(["defender", "sentinel"]), default="defender", show_default=True)
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_guarded
def kql_columns_command(file: Path | None, dialect: str, output_format: str) -> None:
    """Print the output columns (name and type) of the query in FILE ('-' or none: standard input).

    Exit code 1 when the query has errors (they are printed instead).
    """
    import json

    from ..kqlcheck import analyse
    from ..model.project import find_project

    text = sys.stdin.read() if file is None or str(file) == "-" else file.read_text(encoding="utf-8")
    label = "<stdin>" if file is None or str(file) == "-" else str(file)
    diagnostics, bound = analyse(text, dialect, find_project().tables_dir)
    errors = [d for d in diagnostics if d.severity == "error"]
    if errors or bound is None:
        from ..kql import LineIndex

        index = LineIndex(text)
        for diagnostic in errors:
            line, column = index.position(diagnostic.start)
            click.echo(f"{label}:{line}:{column}: error {diagnostic.code}: {diagnostic.message}", err=True)
        sys.exit(EXIT_FINDINGS)
    output = bound.output
    if output is None:
        click.echo("dac: error: the query does not end in a table (its last statement is a let or set)", err=True)
        sys.exit(EXIT_FINDINGS)
    if output_format == "json":
        columns = [{"name": name, "type": type_} for name, type_ in output.items()]
        click.echo(json.dumps({"columns": columns, "complete": not output.open}, ensure_ascii=False))
    else:
        width = max((len(name) for name in output.columns), default=0)
        for name, type_ in output.items():
            click.echo(f"{name.ljust(width)}  {type_}")
        if output.open:
            click.echo("(more columns depend on the data, e.g. after bag_unpack or pivot)")


@kql_group.command("render")
@click.argument("file", required=False, type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--to", "target", type=click.Choice(["defender", "sentinel"]), required=True,
              help="Dialect to render into; the query is read as the other one.")  # fmt: skip
@_guarded
def kql_render_command(file: Path | None, target: str) -> None:
    """Render a bare query into the other dialect (FILE, or standard input with '-' or none).

    The result goes to standard output; what has no counterpart in the target dialect (a table,
    a function, a column) is reported on standard error with exit code 1.
    """
    from ..kql import LineIndex
    from ..kql.render import render
    from ..model.project import find_project
    from ..model.tables import environment

    reading_stdin = file is None or str(file) == "-"
    if not reading_stdin and not file.is_file():
        _fail(f"{file}: no such file")
    text = sys.stdin.read() if reading_stdin else file.read_text(encoding="utf-8")
    label = "<stdin>" if reading_stdin else str(file)
    source = "defender" if target == "sentinel" else "sentinel"
    tables = find_project().tables_dir
    result = render(text, environment(source, tables), environment(target, tables))
    click.echo(result.text, nl=False)
    index = LineIndex(text)
    errors = [d for d in result.diagnostics if d.severity == "error"]
    for diagnostic in errors:
        line, column = index.position(diagnostic.start)
        click.echo(f"{label}:{line}:{column}: error {diagnostic.code}: {diagnostic.message}", err=True)
    sys.exit(EXIT_FINDINGS if errors else EXIT_OK)
