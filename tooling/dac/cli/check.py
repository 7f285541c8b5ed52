"""`dac validate`, `dac check` (the main job: validate, render and test) and `dac render`.

Exit codes: 0 clean, 1 findings (or failed tests), 2 usage or input errors.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..reports import FORMATS
from .support import (
    EXIT_FINDINGS,
    EXIT_OK,
    PATHS_ARGUMENT,
    chosen_engine,
    engine_options,
    paths_or_default,
    test_run_options,
)
from .support import console as _console
from .support import guarded as _guarded

if TYPE_CHECKING:  # the library loads when a command runs, not when dac starts
    from rich.table import Table

    from ..validation import ValidationReport


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
    from ..model.project import find_project
    from ..reports import github as github_report
    from ..reports import json as json_report
    from ..reports.text import print_diagnostics

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


def _disabled_lines(report: ValidationReport, verb: str) -> list[str]:
    """One line per platform a loaded detection turns off (`variants.<dialect>.enabled: false`), with its
    `reason`: `path: sentinel <verb>: reason`."""
    lines = []
    for result in report.results:
        if result.detection is not None:
            for dialect, reason in result.detection.disabled_dialects().items():
                lines.append(f"{result.display}: {dialect} {verb}: {reason or '(no reason given)'}")
    return lines


FORMAT_OPTION = click.option(
    "--format", "output_format", type=click.Choice(FORMATS), default="text", show_default=True,
    help="text for people, json for tools, github for workflow annotations, sarif for code scanning.",
)  # fmt: skip
FAIL_ON_OPTION = click.option(
    "--fail-on", type=click.Choice(["error", "warning"]), default="error", show_default=True,
    help="Lowest severity that makes the exit code 1.",
)  # fmt: skip


@click.command("validate")
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
    from ..model.project import find_project
    from ..validation import validate

    project = find_project()
    report = validate(paths_or_default(paths, project), project, base_ref)
    _print_report(report, output_format)
    if output_format == "text":
        for line in _disabled_lines(report, "disabled"):
            click.echo(line, err=True)
        click.echo(_summary_line(report), err=True)
    sys.exit(_exit_code(report, fail_on))


@click.command("check")
@PATHS_ARGUMENT
@click.option("--base", "base_ref", metavar="REF", help="Git ref to compare with (see dac validate).")
@FORMAT_OPTION
@FAIL_ON_OPTION
@test_run_options
@engine_options
@_guarded
def check_command(
    paths: tuple[Path, ...], base_ref: str | None, output_format: str, fail_on: str, keyword: str | None,
    last_failed: bool, failed_first: bool, durations: int | None, jobs: int | None, engine: str | None,
    cluster: str | None, database: str | None,
) -> None:  # fmt: skip
    """The main job: validate, render and test every detection, then print a summary.

    Runs over the project's detections folder unless PATHS are given. Each test run has a time
    and a memory limit (limits: in dac.yml, timeout: on a test; default 60 s and 2 GiB); a run
    past one is reported as that test's error and the others go on. Files a detection names must
    lie inside the project. json, sarif and github output include the failed tests as findings.
    Secrets (tokens, client secrets) are masked in all output. -k, --last-failed, --failed-first,
    --durations and --jobs choose and run the tests as for dac test; --engine kusto (with --cluster
    and --database, or engines.kusto in dac.yml) runs them on a Kusto engine (docs/engines.md).
    """
    from ..model.project import find_project
    from ..reports import github as github_report
    from ..reports import json as json_report
    from ..reports.text import summary_line
    from ..testing import summarize
    from ..validation import validate
    from .emulator import print_test_results, query_limits, run_tests

    project = find_project()
    settings = chosen_engine(project, engine, cluster, database)
    report = validate(paths_or_default(paths, project), project, base_ref)
    if output_format not in ("sarif", "json"):  # one document with the tests' findings too: printed below
        _print_report(report, output_format)
    failed_files = report.files_with_errors()
    runnable = [r for r in report.results if r.detection is not None and r.display not in failed_files]
    options = {"keyword": keyword, "last_failed": last_failed, "failed_first": failed_first, "jobs": jobs}
    results = run_tests(project, runnable, report.variants, limits=query_limits(project), engine=settings, **options)
    tests = summarize(results)
    code = _exit_code(report, fail_on)
    if tests["passed"] != tests["tests"]:
        code = EXIT_FINDINGS
    if output_format == "text":
        console = _console()
        if report.diagnostics:
            console.print()
        print_test_results(results, tests, [], durations=durations)
        console.print(_detection_table(report, results, console.width))
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


def _detection_table(report: ValidationReport, test_results: list | None = None, width: int | None = None) -> Table:
    """The summary table. With the console's `width`, the columns get their widths here, as rich would give
    them (the short columns their longest cell, the detection column its longest line or else the rest):
    rich then need not measure each cell, which for a repository of 1,000 detections costs more than a
    tenth of its tests."""
    from rich.cells import cell_len
    from rich.table import Table
    from rich.text import Text

    from ..diagnostics import Severity

    per_file: dict[str, list[Severity]] = {}
    for diagnostic in report.diagnostics:
        per_file.setdefault(diagnostic.path, []).append(diagnostic.severity)
    tests_per_file: dict[str, list[str]] = {}
    for test in test_results or []:
        tests_per_file.setdefault(test.file, []).append(test.status)
    rows: list[list[Text]] = []
    for result in report.results:
        severities = per_file.get(result.display, [])
        if Severity.ERROR in severities:
            outcome = Text(f"{severities.count(Severity.ERROR)} error(s)", style="red")
        elif severities:
            outcome = Text(f"{len(severities)} warning(s)", style="yellow")
        else:
            outcome = Text("ok", style="green")
        detection = result.detection
        label = Text(detection.name if detection else "(not loaded)")
        label.append(f"\n{result.display}", style="dim")
        statuses = tests_per_file.get(result.display, [])
        passed = statuses.count("passed")
        tests = f"{passed}/{len(statuses)}" if statuses else "-"
        if statuses and passed != len(statuses) and Severity.ERROR not in severities:
            outcome = Text(f"{len(statuses) - passed} test(s) failed", style="red")
        if detection is None:
            rows.append([label, Text("-"), Text("-"), Text("-"), Text("-"), outcome])
            continue
        techniques = "\n".join(detection.mitre.get("techniques") or []) or "-"
        rows.append(
            [label, Text(detection.kind), Text(detection.data["status"]), Text(techniques), Text(tests), outcome]
        )
    headers = ("detection", "kind", "status", "ATT&CK", "tests", "result")
    widths = [max([cell_len(header), *(max(cell_len(line) for line in row[index].plain.split("\n")) for row in rows)])
              for index, header in enumerate(headers)]  # fmt: skip
    # rich's layout of this table: padding 1 + 1 and a border before each column, one after the last
    rest = min(widths[0], (width or 0) - sum(widths[1:]) - 3 * len(headers) - 1)
    fixed = width is not None and rest >= len(headers[0])
    table = Table(title="Detections", title_justify="left")
    table.add_column(headers[0], ratio=1, overflow="fold", width=rest if fixed else None)
    for header, column_width in zip(headers[1:], widths[1:], strict=True):
        table.add_column(header, no_wrap=True, width=column_width if fixed else None)
    for row in rows:
        table.add_row(*row)
    return table


@click.command("render")
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
    from ..diagnostics import display_path
    from ..model.project import find_project
    from ..render import outputs, write
    from ..validation import validate

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
        for line in _disabled_lines(report, "not rendered"):
            click.echo(line, err=True)
        click.echo(f"rendered {written} files into {display_path(out_dir)}; {_summary_line(report)}", err=True)
    sys.exit(_exit_code(report, "error"))
