"""Command line: parse arguments, call the library, print. No checking logic lives here.

Exit codes: 0 clean, 1 findings (or failed tests), 2 usage or input errors.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import click
from rich.table import Table
from rich.text import Text

from .. import __version__
from ..diagnostics import Severity
from ..model.project import find_project
from ..redaction import write_text
from ..reports import FORMATS
from ..reports import github as github_report
from ..reports import json as json_report
from ..reports.text import print_diagnostics
from ..validation import ValidationReport, display_path, validate
from .support import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, PATHS_ARGUMENT, paths_or_default
from .support import console as _console
from .support import fail as _fail
from .support import guarded as _guarded


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="dac")
def main() -> None:
    """dac: detection-as-code for Microsoft Defender XDR and Microsoft Sentinel.

    One YAML file per detection under detections/: validated against its schema, ATT&CK and the
    platforms' table schemas, rendered for Defender and Sentinel, and tested on a local KQL engine
    (embedded DuckDB), and deployed to tenants (plan, deploy, drift, pull) as Defender XDR custom
    detection rules and Sentinel analytics rules. Exit codes: 0 clean, 1 findings, 2 usage or
    input errors.
    """
    from ..redaction import install

    install()  # before any command prints: secrets from the environment never reach the output


def _exit_code(report: ValidationReport, fail_on: str) -> int:
    if report.errors or (fail_on == "warning" and report.warnings):
        return EXIT_FINDINGS
    return EXIT_OK


def _summary(report: ValidationReport) -> dict[str, int]:
    return {
        "files": len(report.results),
        "valid": len(report.results) - len(report.files_with_errors()),
        "errors": report.errors,
        "warnings": report.warnings,
    }


def _print_report(report: ValidationReport, output_format: str, test_results: list | None = None) -> None:
    if output_format == "json":
        click.echo(json_report.render(report.diagnostics, _summary(report)))
    elif output_format == "sarif":  # one log: validation findings, then the failed tests' (dac check)
        from ..reports import sarif as sarif_report

        tests = [d for result in test_results or [] for d in result.diagnostics]
        click.echo(sarif_report.render([*report.diagnostics, *tests], find_project().root))
    elif output_format == "github":
        for line in github_report.render(report.diagnostics):
            click.echo(line)
    else:
        print_diagnostics(_console(), report.diagnostics)


def _summary_line(report: ValidationReport) -> str:
    s = _summary(report)
    noun = "file" if s["files"] == 1 else "files"
    return f"{s['files']} {noun} checked: {s['valid']} valid, {s['errors']} errors, {s['warnings']} warnings"


FORMAT_OPTION = click.option(
    "--format", "output_format", type=click.Choice(FORMATS), default="text", show_default=True,
    help="text for people, json for tools, github for workflow annotations, sarif for code scanning.",
)  # fmt: skip
FAIL_ON_OPTION = click.option(
    "--fail-on", type=click.Choice(["error", "warning"]), default="error", show_default=True,
    help="Lowest severity that makes the exit code 1.",
)  # fmt: skip


@main.command("validate")
@PATHS_ARGUMENT
@click.option(
    "--base", "base_ref", metavar="REF", help="Git ref to compare with: ids must not change, versions must increase."
)
@FORMAT_OPTION
@FAIL_ON_OPTION
@_guarded
def validate_command(paths: tuple[Path, ...], base_ref: str | None, output_format: str, fail_on: str) -> None:
    """Check detection files: YAML, schema, ids, dates, versions and ATT&CK.

    PATHS are files or folders (default: the project's detections folder). Findings print as
    path:line:col: severity CODE: message; codes are listed in docs/diagnostics.md.
    """
    project = find_project()
    report = validate(paths_or_default(paths, project), project, base_ref)
    _print_report(report, output_format)
    if output_format == "text":
        click.echo(_summary_line(report), err=True)
    sys.exit(_exit_code(report, fail_on))


@main.command("check")
@PATHS_ARGUMENT
@click.option("--base", "base_ref", metavar="REF", help="Git ref to compare with (see dac validate).")
@FORMAT_OPTION
@FAIL_ON_OPTION
@_guarded
def check_command(paths: tuple[Path, ...], base_ref: str | None, output_format: str, fail_on: str) -> None:
    """The main job: validate, render and test every detection, then print a summary.

    Runs over the project's detections folder unless PATHS are given. Each test run has a time
    and a memory limit (limits: in dac.yml, timeout: on a test; default 60 s and 2 GiB); a run
    past one is reported as that test's error and the others go on. Files a detection names must
    lie inside the project. json, sarif and github output include the failed tests as findings.
    Secrets (tokens, client secrets) are masked in all output.
    """
    from ..emulator.engine import address_space_limit
    from ..reports.text import summary_line
    from ..testing import run_detection_tests, summarize
    from .emulator import print_test_results, query_limits

    project = find_project()
    report = validate(paths_or_default(paths, project), project, base_ref)
    if output_format not in ("sarif", "json"):  # one document with the tests' findings too: printed below
        _print_report(report, output_format)
    failed_files = report.files_with_errors()
    results = []
    limits = query_limits(project)
    with address_space_limit(limits.memory_limit):  # detection tests run on the emulator, within the limits
        for loaded in report.results:  # of detections without errors
            if loaded.detection is not None and loaded.display not in failed_files:
                results += run_detection_tests(
                    loaded.detection, project.tables_dir, variants=report.variants.get(loaded.path), limits=limits
                )
    tests = summarize(results)
    code = _exit_code(report, fail_on)
    if tests["passed"] != tests["tests"]:
        code = EXIT_FINDINGS
    if output_format == "text":
        console = _console()
        if report.diagnostics:
            console.print()
        print_test_results(results, tests, [])
        console.print(_detection_table(report, results))
        verdict = "[bold green]passed[/]" if code == EXIT_OK else "[bold red]failed[/]"
        console.print(f"dac check {verdict}: {_summary_line(report)}; {summary_line(tests)}")
    elif output_format == "github":
        for result in results:
            for line in github_report.render(result.diagnostics):
                click.echo(line)
    elif output_format == "sarif":
        _print_report(report, output_format, results)
    elif output_format == "json":
        click.echo(json_report.render_check(report.diagnostics, _summary(report), results, tests))
    sys.exit(code)


def _detection_table(report: ValidationReport, test_results: list | None = None) -> Table:
    table = Table(title="Detections", title_justify="left")
    table.add_column("detection", ratio=1, overflow="fold")
    for column in ("kind", "status", "ATT&CK", "tests", "result"):
        table.add_column(column, no_wrap=True)
    per_file: dict[str, list[Severity]] = {}
    for diagnostic in report.diagnostics:
        per_file.setdefault(diagnostic.path, []).append(diagnostic.severity)
    tests_per_file: dict[str, list[str]] = {}
    for test in test_results or []:
        tests_per_file.setdefault(test.file, []).append(test.status)
    for result in report.results:
        severities = per_file.get(result.display, [])
        if Severity.ERROR in severities:
            outcome = f"[red]{severities.count(Severity.ERROR)} error(s)[/]"
        elif severities:
            outcome = f"[yellow]{len(severities)} warning(s)[/]"
        else:
            outcome = "[green]ok[/]"
        detection = result.detection
        label = Text(detection.name if detection else "(not loaded)")
        label.append(f"\n{result.display}", style="dim")
        statuses = tests_per_file.get(result.display, [])
        passed = statuses.count("passed")
        tests = f"{passed}/{len(statuses)}" if statuses else "-"
        if statuses and passed != len(statuses) and Severity.ERROR not in severities:
            outcome = f"[red]{len(statuses) - passed} test(s) failed[/]"
        if detection is None:
            table.add_row(label, "-", "-", "-", "-", outcome)
            continue
        techniques = "\n".join(detection.mitre.get("techniques") or []) or "-"
        table.add_row(label, detection.kind, detection.data["status"], techniques, tests, outcome)
    return table


@main.command("new")
@click.argument("name")
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the file (default: the project's detections folder).",
)
@click.option("--kind", type=click.Choice(["hunting", "detection"]), default="detection", show_default=True)
@click.option("--author", help="Author name (default: git config user.name).")
@_guarded
def new_command(name: str, folder: Path | None, kind: str, author: str | None) -> None:
    """Create a detection file for NAME with a fresh id.

    The file is named after NAME and is valid as written; edit its query, metadata and test.
    """
    from ..checks.metadata import schema_reference
    from ..model.yamlwrite import dump_detection
    from ..scaffold.detection import default_author, new_detection, slugify, unique_path

    if not name.strip():
        _fail("NAME must not be empty")
    project = find_project()
    target_folder = folder or project.detections_dir
    target_folder.mkdir(parents=True, exist_ok=True)
    target = unique_path(target_folder, slugify(name))
    data = new_detection(name.strip(), kind, author or default_author())
    write_text(target, dump_detection(data, schema_reference(target_folder)), encoding="utf-8")
    click.echo(f"created {display_path(target)} (id {data['id']})")


@main.group("import")
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
    from ..checks.metadata import schema_reference
    from ..importers.convert import ImportFailure, convert_documents
    from ..model.yamlwrite import dump_detection
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


@main.group("kql")
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
    from ..kqlcheck import check_inputs

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
    from ..kqlcheck import analyse

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


@main.command("render")
@PATHS_ARGUMENT
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("build"),
              show_default=True, help="Folder for build/<dialect>/<id>.kql and .json.")  # fmt: skip
@FORMAT_OPTION
@_guarded
def render_command(paths: tuple[Path, ...], out_dir: Path, output_format: str) -> None:
    """Render every detection for each enabled dialect into OUT.

    Writes <dialect>/<id>.kql for every detection, and for `kind: detection` the rule bodies:
    defender/<id>.json (Microsoft Graph detectionRule) and sentinel/<id>.json (ARM alertRule).
    Detections with errors are reported and not written (exit code 1). Output is deterministic.
    """
    from ..render import outputs, write

    project = find_project()
    report = validate(paths_or_default(paths, project), project)
    _print_report(report, output_format)
    failed = report.files_with_errors()
    written = 0
    for result in report.results:
        if result.detection is None or result.display in failed:
            continue
        written += len(write(out_dir, outputs(result.detection, report.variants[result.path])))
    if output_format == "text":
        click.echo(f"rendered {written} files into {display_path(out_dir)}; {_summary_line(report)}", err=True)
    sys.exit(_exit_code(report, "error"))


def _register_emulator_commands() -> None:
    from .emulator import kql_run_command, test_command

    main.add_command(test_command)
    kql_group.add_command(kql_run_command)


_register_emulator_commands()


def _register_deploy_commands() -> None:
    from .deploy import COMMANDS

    for command in COMMANDS:
        main.add_command(command)


_register_deploy_commands()


def _register_review_commands() -> None:
    from .docs import COMMANDS as docs_commands
    from .init import COMMANDS as init_commands
    from .review import COMMANDS as review_commands

    for command in (*review_commands, *docs_commands, *init_commands):
        main.add_command(command)


_register_review_commands()
