"""Commands that run queries on the local emulator: `dac test` and `dac kql run`.

Plain click commands, attached to the `dac` group (and its `kql` group) by cli.py. Like the rest
of the command line they only parse arguments, call the library and print. Exit codes: 0 clean,
1 failed tests or a query that fails, 2 usage or input errors.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from ..model import DIALECTS
from .support import EXIT_FINDINGS, EXIT_OK, PATHS_ARGUMENT, paths_or_default
from .support import console as _console
from .support import fail as _fail
from .support import guarded as _guarded

if TYPE_CHECKING:  # the library loads when a command runs, not when dac starts
    from ..diagnostics import Diagnostic
    from ..testing import TestResult

# --------------------------------------------------------------------------------------- limits


def query_limits(project: Any, timeout: float | None = None, **hints: str) -> Any:
    """The QueryLimits of every query run: dac.yml's `limits:` (a --timeout wins), default 60 s, 2 GiB."""
    from ..emulator.engine import QueryLimits

    return QueryLimits(timeout=timeout or project.query_timeout, memory_limit=project.memory_limit, **hints)


def _timeout_seconds(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """--timeout: seconds (30, 0.5) or a duration as in dac.yml (90s, 2m, 1h)."""
    from ..model.project import parse_duration

    if value is None:
        return None
    text = value.strip()
    if re.fullmatch(r"[0-9]+(\.[0-9]+)?", text) and float(text) > 0:
        return float(text)
    if re.fullmatch(r"[1-9][0-9]*[smh]", text):
        return parse_duration(text)
    raise click.BadParameter(f"'{value}' is not a time limit: write seconds (30) or 90s, 2m, 1h")


# --------------------------------------------------------------------------------------- dac test


@click.command("test")
@PATHS_ARGUMENT
@click.option("--dialect", type=click.Choice(DIALECTS), help="Run the tests in this dialect only.")
@click.option(
    "--junit", "junit_file", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
    help="Also write the results as JUnit XML to FILE.",
)  # fmt: skip
@click.option(
    "--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True,
    help="text for people, json for tools.",
)  # fmt: skip
@_guarded
def test_command(paths: tuple[Path, ...], dialect: str | None, junit_file: Path | None, output_format: str) -> None:
    """Run the tests of detections on the local KQL emulator.

    PATHS are files or folders (default: the project's detections folder). Each test runs once
    per enabled dialect (narrowed by the test's `dialects` and by --dialect). Detections are
    validated first; one with errors is reported and its tests are not run. Exit code 1 when a
    test fails or errs or a detection is invalid.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from ..diagnostics import Severity
    from ..emulator.engine import address_space_limit
    from ..model.project import find_project
    from ..redaction import write_text
    from ..reports.json import json_document
    from ..reports.junit import junit_xml
    from ..testing import planned, run_detection_tests, summarize
    from ..validation import validate

    project = find_project()
    limits = query_limits(project)
    report = validate(paths_or_default(paths, project), project)
    broken = report.files_with_errors()
    invalid: dict[str, tuple[str, list[Diagnostic]]] = {}
    runnable = []
    for loaded in report.results:
        if loaded.display in broken or loaded.detection is None:
            errors = [d for d in report.diagnostics if d.path == loaded.display and d.severity is Severity.ERROR]
            name = loaded.detection.name if loaded.detection is not None else loaded.display
            invalid[loaded.display] = (name, errors)
        else:
            runnable.append(loaded)

    results: list[TestResult] = []
    total = sum(len(planned(loaded.detection, dialect)) for loaded in runnable)
    progress_console = _console(stderr=True)
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    shown = progress_console.is_terminal and total > 0  # logs and CI get no progress bar
    progress = Progress(*columns, console=progress_console, transient=True, disable=not shown)
    # address_space_limit: a query's memory beyond DuckDB's view stays bounded
    with address_space_limit(limits.memory_limit), progress:
        task = progress.add_task("testing", total=total)
        for loaded in runnable:
            progress.update(task, description=loaded.detection.name)
            results += run_detection_tests(
                loaded.detection, project.tables_dir, dialect=dialect, variants=report.variants.get(loaded.path),
                on_result=lambda _: progress.advance(task), limits=limits,
            )  # fmt: skip

    summary = summarize(results, invalid=len(invalid))
    invalid_diagnostics = [d for _, diagnostics in invalid.values() for d in diagnostics]
    if junit_file is not None:
        if junit_file.parent != Path():
            junit_file.parent.mkdir(parents=True, exist_ok=True)
        write_text(junit_file, junit_xml(results, invalid), encoding="utf-8")
    if output_format == "json":
        click.echo(json_document(results, summary, invalid_diagnostics))
    else:
        print_test_results(results, summary, invalid_diagnostics)
    clean = summary["passed"] == summary["tests"] and not invalid
    sys.exit(EXIT_OK if clean else EXIT_FINDINGS)


def print_test_results(results: list[TestResult], summary: dict[str, Any], invalid: list[Diagnostic]) -> None:
    from rich.text import Text

    from ..reports.text import diagnostic_text, print_diagnostics, summary_line
    from ..testing import ERROR, PASSED

    console = _console()
    if invalid:
        print_diagnostics(console, invalid)
        console.print()
    for result in results:
        if result.status == PASSED:
            continue
        header = Text()
        header.append("ERROR" if result.status == ERROR else "FAILED", style="bold red")
        header.append(f" {result.detection}: {result.label}", style="bold")
        header.append(f"  {result.file}", style="dim")
        console.print(header)
        for diagnostic in result.diagnostics:
            console.print(diagnostic_text(diagnostic))
        if result.details:
            console.print(Text("\n".join("    " + line for line in result.details.splitlines())))
        console.print()
    clean = summary["passed"] == summary["tests"] and not summary["invalid_detections"]
    console.print(Text(summary_line(summary), style="bold green" if clean else "bold red"))


# --------------------------------------------------------------------------------------- dac kql run


@click.command("run")
@click.argument("file", required=False, type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--dialect", type=click.Choice(DIALECTS), default="defender", show_default=True,
              help="Whose tables (and time column) the query sees.")  # fmt: skip
@click.option(
    "--data", "data_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), metavar="FILE",
    help="YAML or JSON file {Table: [rows] | file.jsonl | file.csv}: the tables the query reads.",
)  # fmt: skip
@click.option("--now", "now_text", metavar="DATETIME", help="Pins now() and ago(), e.g. 2024-12-02T12:00:00Z.")
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option(
    "--timeout", callback=_timeout_seconds, metavar="DURATION",
    help="Time limit of the query: seconds (30) or 90s, 2m, 1h (default: limits.query_timeout in dac.yml, 60s).",
)  # fmt: skip
@_guarded
def kql_run_command(
    file: Path | None, dialect: str, data_file: Path | None, now_text: str | None, output_format: str,
    timeout: float | None,
) -> None:  # fmt: skip
    """Run a query on the local emulator and print its result.

    FILE holds the query ('-' or none: standard input). It can be self-contained (datatable,
    print, range) or read tables given with --data, typed like test fixtures; a table no schema
    knows gets its column types from its values. Exit code 1 when the query has an error.
    """
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from ..confine import project_root_of
    from ..diagnostics import display_path
    from ..emulator import Emulator, EmulatorError
    from ..emulator.engine import address_space_limit
    from ..emulator.fixtures import FixtureError, build_tables, parse_datetime
    from ..kql import LineIndex, parse
    from ..model.project import find_project
    from ..model.tables import environment
    from ..reports.tables import display_value
    from ..testing import let_names

    reading_stdin = file is None or str(file) == "-"
    if not reading_stdin and not file.is_file():
        _fail(f"{file}: no such file")
    text = sys.stdin.read() if reading_stdin else file.read_text(encoding="utf-8")
    label = "<stdin>" if reading_stdin else display_path(file)
    index = LineIndex(text)

    def report(code: str, message: str, offset: int) -> NoReturn:
        line, column = index.position(offset)
        click.echo(f"{label}:{line}:{column}: error {code}: {message}", err=True)
        sys.exit(EXIT_FINDINGS)

    syntax = [d for d in parse(text).diagnostics if d.severity == "error"]
    for diagnostic in syntax:
        line, column = index.position(diagnostic.start)
        click.echo(f"{label}:{line}:{column}: error {diagnostic.code}: {diagnostic.message}", err=True)
    if syntax:
        sys.exit(EXIT_FINDINGS)

    now = None
    if now_text is not None:
        try:
            now = parse_datetime(now_text)
        except ValueError as exc:
            _fail(f"--now: {exc}")
    project = find_project()
    limits = query_limits(project, timeout, timeout_hint="set limits.query_timeout in dac.yml or --timeout")
    env = environment(dialect, project.tables_dir)
    env.tables = dict(env.tables)  # ad-hoc tables from --data are added to this copy
    tables: dict[str, list[dict[str, Any]]] = {}
    if data_file is not None:
        source = _load_data(data_file)
        try:
            tables = build_tables(
                source.data, base_dir=data_file.parent, root=project_root_of(data_file), source=source, path=(),
                environment=env,
                query_tables=let_names(text), ad_hoc=True,
            )  # fmt: skip
        except FixtureError as exc:
            _fail(exc.diagnostic.format())

    with address_space_limit(limits.memory_limit):
        engine = Emulator(env, now=now, limits=limits)
        try:
            for name, rows in tables.items():
                engine.load_table(name, rows)
            result = engine.run(text)
        except EmulatorError as exc:
            report(exc.code, exc.message, exc.offset)
        finally:
            engine.close()

    if output_format == "json":
        click.echo(_result_json(result))
        return
    count = len(result.rows)
    table = Table(caption=f"{count} row{'s' if count != 1 else ''}", caption_justify="left")
    widths = [_widest(result, index, type_) for index, (_, type_) in enumerate(result.columns)]
    for (name, type_), width in zip(result.columns, widths, strict=True):
        header = Text(name)
        header.append(f"\n{type_}", style="dim")
        if type_ in ("string", "dynamic", "unknown"):
            table.add_column(header, overflow="fold", min_width=min(width, 20))
        else:  # datetimes, numbers, guids: never broken over lines
            table.add_column(header, no_wrap=True, min_width=width)
    for row in result.rows:
        table.add_row(*(Text(display_value(v, t, null="")) for v, (_, t) in zip(row, result.columns, strict=True)))
    console = _console()
    if not console.is_terminal:  # piped: as wide as the table needs, nothing folded
        console = Console(highlight=False, width=max(80, sum(w + 3 for w in widths) + 1))
    console.print(table)


def _widest(result: Any, position: int, type_: str) -> int:
    from ..reports.tables import display_value

    cells = [len(display_value(row[position], type_, null="")) for row in result.rows[:1000]]
    return max([len(result.columns[position][0]), len(type_), *cells])


def _result_json(result: Any) -> str:
    """{"columns": [{"name", "type"}], "rows": [[...]]}, one row per line."""
    import json

    from ..reports.tables import json_value

    columns = json.dumps([{"name": name, "type": type_} for name, type_ in result.columns], ensure_ascii=False)
    rows = [
        json.dumps([json_value(v, t) for v, (_, t) in zip(row, result.columns, strict=True)], ensure_ascii=False)
        for row in result.rows
    ]
    body = ",\n    ".join(rows)
    return f'{{\n  "columns": {columns},\n  "rows": [' + (f"\n    {body}\n  ]" if rows else "]") + "\n}"


def _load_data(data_file: Path) -> Any:
    """The --data file with positions; JSON that YAML rejects (tab indentation) is read as plain JSON."""
    import json

    from ..diagnostics import display_path
    from ..model.yamlsource import LoadedYaml, YamlLoadError, load_yaml_file

    display = display_path(data_file)
    try:
        source = load_yaml_file(data_file, display)
    except YamlLoadError as exc:
        if data_file.suffix.lower() != ".json":
            _fail(exc.diagnostic.format())
        try:
            source = LoadedYaml(display, "", json.loads(data_file.read_text(encoding="utf-8-sig")))
        except ValueError as json_exc:
            _fail(f"{display}: not JSON: {json_exc}")
    if not isinstance(source.data, dict) or not all(isinstance(v, (list, str)) for v in source.data.values()):
        _fail(f"{display}: --data must be a mapping {{Table: [rows] | file.jsonl | file.csv}}")
    return source
