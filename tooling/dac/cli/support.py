"""What every command module shares: exit codes, the console, and turning input problems into
one message with exit code 2 instead of a traceback."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

if TYPE_CHECKING:  # loaded when a command runs, not when dac starts (see cli/__init__.py)
    from rich.console import Console

    from ..model.project import Project

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2

F = TypeVar("F", bound=Callable[..., Any])


def console(stderr: bool = False) -> Console:
    from rich.console import Console

    out = Console(highlight=False, soft_wrap=True, stderr=stderr)
    if not out.is_terminal:  # logs and CI: room for the summary table instead of 80 columns
        out.width = 120
    return out


def fail(message: str) -> NoReturn:
    click.echo(f"dac: error: {message}", err=True)
    sys.exit(EXIT_USAGE)


PATHS_ARGUMENT = click.argument(
    "paths", nargs=-1, type=click.Path(exists=True, file_okay=True, dir_okay=True, path_type=Path)
)


def paths_or_default(paths: tuple[Path, ...], project: Project) -> list[Path]:
    """The PATHS given, else the project's detections folder (a usage error when it is missing)."""
    if paths:
        return list(paths)
    if not project.detections_dir.is_dir():
        from ..diagnostics import display_path

        fail(f"no detections folder at {display_path(project.detections_dir)}; pass PATHS or create it")
    return [project.detections_dir]


def guarded(command: F) -> F:
    """Input problems become one message and exit code 2, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ..diagnostics import InputError
        from ..gitref import GitError
        from ..model.project import ProjectError

        try:
            return command(*args, **kwargs)
        except ProjectError as exc:
            fail(exc.diagnostic.format())
        except (GitError, InputError) as exc:
            fail(str(exc))
        except OSError as exc:
            fail(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))
        except Exception as exc:  # a bug in dac; DAC_DEBUG=1 shows the traceback
            if os.environ.get("DAC_DEBUG"):
                raise
            fail(f"internal error: {type(exc).__name__}: {exc} (set DAC_DEBUG=1 for details and please report it)")

    return wrapper  # type: ignore[return-value]


# ------------------------------------------------------------------------------ test selection


def _keyword(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """-k: parsed here, so that a bad expression is a usage error before anything runs."""
    if value is None:
        return None
    from ..test_runs import SelectionError, keyword_matcher

    try:
        keyword_matcher(value)
    except SelectionError as exc:
        raise click.BadParameter(f"{value!r}: {exc}") from None
    return value


def test_run_options(command: F) -> F:
    """The pytest-like options of `dac test` and `dac check`: -k, --last-failed, --failed-first,
    --durations and --jobs."""
    options = [
        click.option(
            "-k", "keyword", metavar="EXPR", callback=_keyword,
            help="Run only the tests whose 'detection name / test name' contains these words (any case), "
            "combined with not, and, or and parentheses, e.g. -k 'winscp and not public'.",
        ),
        click.option(
            "--last-failed", "--lf", "last_failed", is_flag=True,
            help="Run only the test runs that failed or erred last time (all when none did).",
        ),
        click.option(
            "--failed-first", "--ff", "failed_first", is_flag=True,
            help="Run the test runs that failed or erred last time first, then the rest.",
        ),
        click.option(
            "--durations", type=click.IntRange(min=0), metavar="N",
            help="After the results, list the N slowest test runs (0: all). Text output only.",
        ),
        click.option(
            "-j", "--jobs", type=click.IntRange(min=1), metavar="N",
            help="Run detections' tests in N processes (default: one per core when there are enough tests "
            "to gain from it; 1: in this process). The output is the same whatever N.",
        ),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


# ------------------------------------------------------------------------------ engines


def engine_options(command: F) -> F:
    """--engine, --cluster and --database: where the queries of `dac test`, `dac check` and `dac kql run` run."""
    options = [
        click.option(
            "--engine", type=click.Choice(["emulator", "kusto"]), default=None,
            help="Run the queries on the embedded emulator (default) or on a Kusto engine: Azure Data Explorer "
            "or the Kusto emulator container (needs pip install 'dac[kusto]'; docs/engines.md).",
        ),
        click.option(
            "--cluster", metavar="URL",
            help="The Kusto engine's cluster, e.g. http://localhost:8080 (default: engines.kusto.cluster in dac.yml).",
        ),
        click.option(
            "--database", metavar="DB",
            help="The Kusto engine's database, e.g. NetDefaultDB (default: engines.kusto.database in dac.yml).",
        ),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def chosen_engine(project: Project, engine: str | None, cluster: str | None, database: str | None) -> Any:
    """The EngineSettings these options and dac.yml choose; a usage error (exit 2) when they do not add up."""
    from ..engines import EngineUnavailable, engine_settings

    try:
        return engine_settings(project, engine, cluster, database)
    except EngineUnavailable as exc:
        fail(str(exc))
