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
from .support import fail as _fail
from .support import guarded as _guarded

if TYPE_CHECKING:  # the library loads when a command runs, not when dac starts
    from collections.abc import Callable, Mapping, Sequence

    from ..diagnostics import Diagnostic
    from ..model.detection import LoadResult
    from ..model.project import Project
    from ..test_runs import Plan
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
@test_run_options
@engine_options
@_guarded
def test_command(
    paths: tuple[Path, ...], dialect: str | None, junit_file: Path | None, output_format: str, keyword: str | None,
    last_failed: bool, failed_first: bool, durations: int | None, jobs: int | None, engine: str | None,
    cluster: str | None, database: str | None,
) -> None:  # fmt: skip
    """Run the tests of detections on the local KQL emulator (or --engine kusto).

    PATHS are files or folders (default: the project's detections folder). Each test runs once
    per enabled dialect (narrowed by the test's `dialects` and by --dialect). Detections are
    validated first; one with errors is reported and its tests are not run. Exit code 1 when a
    test fails or errs or a detection is invalid.

    Like pytest: -k selects tests by name, --last-failed and --failed-first use the failures
    recorded in .dac/cache/lastfailed.json by the last run, --durations lists the slowest runs, and
    --jobs spreads detections over processes (results print in the same order whatever N).

    --engine kusto runs the same tests on Azure Data Explorer or the Kusto emulator container
    (--cluster URL --database DB, or engines.kusto in dac.yml): the test data goes with each query
    as datatable lets, now() is pinned by the query_now request property (docs/engines.md).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from ..diagnostics import Severity
    from ..model.project import find_project
    from ..redaction import write_text
    from ..reports.json import json_document
    from ..reports.junit import junit_xml
    from ..testing import summarize
    from ..validation import validate

    project = find_project()
    settings = chosen_engine(project, engine, cluster, database)
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

    def with_progress(total: int, run: Callable[..., list[TestResult]]) -> list[TestResult]:
        columns = (
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        progress_console = _console(stderr=True)
        shown = progress_console.is_terminal and total > 0  # logs and CI get no progress bar
        with Progress(*columns, console=progress_console, transient=True, disable=not shown) as progress:
            task = progress.add_task("testing", total=total)
            return run(
                on_start=lambda name: progress.update(task, description=name),
                on_result=lambda result: progress.update(task, advance=1, description=result.detection),
            )

    options = {"keyword": keyword, "last_failed": last_failed, "failed_first": failed_first, "jobs": jobs}
    results = run_tests(project, runnable, report.variants, dialect=dialect, limits=limits, wrap=with_progress,
                        engine=settings, **options)  # fmt: skip

    summary = summarize(results, invalid=len(invalid))
    invalid_diagnostics = [d for _, diagnostics in invalid.values() for d in diagnostics]
    if junit_file is not None:
        if junit_file.parent != Path():
            junit_file.parent.mkdir(parents=True, exist_ok=True)
        write_text(junit_file, junit_xml(results, invalid), encoding="utf-8")
    if output_format == "json":
        click.echo(json_document(results, summary, invalid_diagnostics))
    else:
        print_test_results(results, summary, invalid_diagnostics, durations=durations)
    clean = summary["passed"] == summary["tests"] and not invalid
    sys.exit(EXIT_OK if clean else EXIT_FINDINGS)


def run_tests(
    project: Project,
    runnable: Sequence[LoadResult],
    variants: Mapping[Path, Any],
    *,
    dialect: str | None = None,
    limits: Any = None,
    keyword: str | None = None,
    last_failed: bool = False,
    failed_first: bool = False,
    jobs: int | None = None,
    wrap: Callable[[int, Callable[..., list[TestResult]]], list[TestResult]] | None = None,
    engine: Any = None,
) -> list[TestResult]:
    """The tests of valid detections, selected and ordered by -k, --last-failed and --failed-first, run
    on --jobs processes; the last-failed record is updated. `wrap(total, run)`: runs `run` (a progress bar)."""
    from functools import partial

    from ..test_runs import (
        AUTO_MIN_RUNS_PER_WORKER,
        MIN_RUNS_PER_WORKER,
        default_jobs,
        plan_runs,
        run_plan,
        write_last_failed,
    )

    detections = [loaded.detection for loaded in runnable if loaded.detection is not None]
    plan = plan_runs(
        detections, project.root, dialect=dialect, keyword=keyword, last_failed=last_failed, failed_first=failed_first
    )
    note = _selection_note(plan, keyword, last_failed, failed_first)
    if note:
        click.echo(f"dac: {note}", err=True)
    run = partial(
        run_plan, plan, {d.file: d for d in detections}, project.tables_dir, dialect=dialect, variants=variants,
        limits=limits, jobs=jobs or default_jobs(), engine=engine,
        min_runs_per_worker=MIN_RUNS_PER_WORKER if jobs else AUTO_MIN_RUNS_PER_WORKER,
    )  # fmt: skip
    results = wrap(plan.total, run) if wrap is not None else run()
    if not write_last_failed(project.root, results, {loaded.display: loaded.path for loaded in runnable}):
        click.echo("dac: warning: could not write .dac/cache/lastfailed.json", err=True)
    return results


def _selection_note(plan: Plan, keyword: str | None, last_failed: bool, failed_first: bool) -> str:
    """One line on standard error when options chose the runs: how many of how many, and why."""
    notes = []
    if keyword is not None:
        notes.append(f"-k selects {plan.selected} of {plan.planned} test runs")
    runs = f"{plan.failed_before} test run{'s' if plan.failed_before != 1 else ''} that failed last time"
    if (last_failed or failed_first) and not plan.failed_before:
        notes.append("no test run failed last time: running all")
    elif last_failed:
        notes.append(f"running only the {runs}")
    elif failed_first:
        notes.append(f"running the {runs} first")
    return "; ".join(notes)


def print_test_results(
    results: Sequence[TestResult], summary: dict[str, Any], invalid: list[Diagnostic], *, durations: int | None = None
) -> None:
    from rich.text import Text

    from ..reports.text import diagnostic_text, print_diagnostics, slowest_lines, summary_line
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
    if durations is not None and results:
        for line in slowest_lines(results, durations):
            console.print(Text(line))
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
@engine_options
@_guarded
def kql_run_command(
    file: Path | None, dialect: str, data_file: Path | None, now_text: str | None, output_format: str,
    timeout: float | None, engine: str | None, cluster: str | None, database: str | None,
) -> None:  # fmt: skip
    """Run a query on the local emulator (or --engine kusto) and print its result.

    FILE holds the query ('-' or none: standard input). It can be self-contained (datatable,
    print, range) or read tables given with --data, typed like test fixtures; a table no schema
    knows gets its column types from its values. Exit code 1 when the query has an error.
    With --engine kusto the query and its --data (as datatable lets) run on a Kusto engine, --now
    as the query_now request property (docs/engines.md).
    """
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from ..confine import project_root_of
    from ..diagnostics import display_path
    from ..emulator import Emulator, EmulatorError
    from ..emulator.engine import address_space_limit
    from ..emulator.fixtures import FixtureError, build_tables, parse_datetime
    from ..engines import EngineError, engine_factory
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
    settings = chosen_engine(project, engine, cluster, database)
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

    factory = engine_factory(settings)
    with address_space_limit(limits.memory_limit):
        runner = Emulator(env, now=now, limits=limits) if factory is None else factory(
            env, now=now, externaldata={}, limits=limits
        )  # fmt: skip
        try:
            for name, rows in tables.items():
                runner.load_table(name, rows)
            result = runner.run(text)
        except EmulatorError as exc:
            report(exc.code, exc.message, exc.offset)
        except EngineError as exc:
            report(exc.code, exc.message, exc.offset or 0)
        finally:
            runner.close()

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
