"""Which detection tests a `dac test` or `dac check` run runs, in what order, and on how many processes.

- Selection: `-k EXPR` picks tests by case-insensitive substring of "detection name / test name",
  with `not`, `and`, `or` and parentheses, as pytest's -k does (a tiny parser, no eval).
- The last-failed record: `.dac/cache/lastfailed.json` in the project, keys
  "path::test name::dialect"; `--last-failed` runs only the runs in it, `--failed-first` runs them
  first. Updated after every run that ran tests: a run that passed leaves it, one that failed or
  erred enters it, runs not run keep their entry.
- The parallel map: work units (one detection, optionally some of its runs) go to worker processes
  (forkserver, or spawn where there is no forkserver) that load the detection again from its file;
  results come back in unit order, whatever finishes first, so output is deterministic.

Library side: no printing (the command line prints).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .collector import tune_for_short_process
from .confine import OutsideProject, inside_project
from .emulator.engine import QueryLimits, address_space_limit
from .engines import EngineSettings, engine_factory
from .model.detection import Detection, load_detection
from .testing import PASSED, TestResult, planned, run_detection_tests
from .variants import Variant

CACHE_FOLDER = ".dac/cache"
LAST_FAILED_FILE = "lastfailed.json"
MIN_RUNS_PER_WORKER = 2  # fewer: starting processes costs more than it saves
# Without an explicit --jobs: a worker costs about a second and a half (an interpreter, the imports, the
# table schemas, loading its detections again) and a test run some 8 ms, so below some 250 runs per worker
# one process is faster (bench/suite.py on 2 cores: 300 runs took 2.7 s in one process and 3.3 s on two
# workers; 1,000 runs 9.4 s and 7.6 s).
AUTO_MIN_RUNS_PER_WORKER = 250
NOT_SELECTED = "(not selected)"  # a dialect no detection has: the test has no run in this unit

RunId = tuple[int, str]  # (test index, dialect)


# --------------------------------------------------------------------------------------- -k


class SelectionError(ValueError):
    """A -k expression that does not parse; the message says where and why."""


_TOKEN = re.compile(r"""\s*(?:(?P<paren>[()])|"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<word>[^\s()"']+))""")
_KEYWORDS = ("and", "or", "not")


def _tokens(expression: str) -> list[tuple[str, str, int]]:
    """(kind, text, column) with kind: '(' ')' and or not term, end."""
    tokens: list[tuple[str, str, int]] = []
    position = 0
    while True:
        while position < len(expression) and expression[position].isspace():
            position += 1
        if position >= len(expression):
            break
        match = _TOKEN.match(expression, position)
        if match is None or match.end() == position:  # an unclosed quote
            raise SelectionError(f"unclosed quote at column {position + 1}")
        column = match.start(match.lastgroup) + 1 if match.lastgroup else position + 1
        if match.group("paren"):
            tokens.append((match.group("paren"), match.group("paren"), column))
        elif match.group("word") is not None and match.group("word").lower() in _KEYWORDS:
            tokens.append((match.group("word").lower(), match.group("word"), column))
        else:
            quoted = match.group("dq") if match.group("dq") is not None else match.group("sq")
            text = quoted if quoted is not None else match.group("word")
            tokens.append(("term", text, column - (1 if quoted is not None else 0)))
        position = match.end()
    tokens.append(("end", "", len(expression) + 1))
    return tokens


Matcher = Callable[[str], bool]


def keyword_matcher(expression: str) -> Matcher:
    """The -k expression as a predicate on "detection name / test name" (case-insensitive substrings).

    Grammar: expr := and_expr ("or" and_expr)*; and_expr := not_expr ("and" not_expr)*;
    not_expr := "not" not_expr | "(" expr ")" | term. A term is a quoted string or words next to
    each other ("wrong expectation" matches that phrase). Raises SelectionError. Empty: everything.
    """
    if not expression.strip():
        return lambda _: True
    tokens = _tokens(expression)
    position = 0

    def peek() -> tuple[str, str, int]:
        return tokens[position]

    def take() -> tuple[str, str, int]:
        nonlocal position
        token = tokens[position]
        position += 1
        return token

    def unexpected(wanted: str) -> SelectionError:
        kind, text, column = peek()
        found = "the end" if kind == "end" else f"'{text}'"
        return SelectionError(f"expected {wanted} at column {column}, found {found}")

    def parse_or() -> Matcher:
        parts = [parse_and()]
        while peek()[0] == "or":
            take()
            parts.append(parse_and())
        return parts[0] if len(parts) == 1 else (lambda text: any(p(text) for p in parts))

    def parse_and() -> Matcher:
        parts = [parse_not()]
        while peek()[0] == "and":
            take()
            parts.append(parse_not())
        return parts[0] if len(parts) == 1 else (lambda text: all(p(text) for p in parts))

    def parse_not() -> Matcher:
        kind = peek()[0]
        if kind == "not":
            take()
            inner = parse_not()
            return lambda text: not inner(text)
        if kind == "(":
            take()
            inner = parse_or()
            if peek()[0] != ")":
                raise unexpected("')'")
            take()
            return inner
        if kind == "term":
            words = [take()[1]]
            while peek()[0] == "term":
                words.append(take()[1])
            needle = " ".join(words).lower()
            return lambda text: needle in text.lower()
        raise unexpected("a name, 'not' or '('")

    matcher = parse_or()
    if peek()[0] != "end":
        raise unexpected("'and', 'or' or the end")
    return matcher


def test_label(detection_name: str, test_name: str) -> str:
    """What -k matches: "detection name / test name"."""
    return f"{detection_name} / {test_name}"


# --------------------------------------------------------------------------------------- last failed


def run_key(root: Path, file: Path, test_name: str, dialect: str) -> str:
    """'path::test name::dialect', the path relative to the project root (posix)."""
    path = file.as_posix()
    # the names as given first; the resolved ones (a symlink on the way) only when those do not answer
    for project, named in _project_and_file(root, file):
        if Path(os.path.normpath(named)).is_relative_to(os.path.normpath(project)):
            path = Path(os.path.normpath(named)).relative_to(os.path.normpath(project)).as_posix()
            break
    return f"{path}::{test_name}::{dialect}"


def _project_and_file(root: Path, file: Path) -> Iterator[tuple[Path, Path]]:
    yield root.absolute(), file.absolute()
    yield _resolved(root), _resolved(file)


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path.absolute()


def _inside(root: Path, name: str) -> Path | None:
    """`name` resolved inside the project (None when a symlink would lead it out)."""
    try:
        return inside_project(root, root, name, "cache file")
    except OutsideProject:
        return None


def read_last_failed(root: Path) -> set[str]:
    """The keys of the runs that failed or erred when they last ran (empty when there is no record)."""
    file = _inside(root, f"{CACHE_FOLDER}/{LAST_FAILED_FILE}")
    if file is None or not file.is_file():
        return set()
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    if not isinstance(data, dict):
        return set()
    return {key for key, value in data.items() if isinstance(key, str) and value}


def write_last_failed(root: Path, results: Sequence[TestResult], files: Mapping[str, Path]) -> bool:
    """Update the record with `results`; `files`: each result's detection file by its `file` (as
    displayed). False when the record cannot be written."""
    if not results:
        return True
    failed = read_last_failed(root)
    for result in results:
        key = run_key(root, files.get(result.file, Path(result.file)), result.test, result.dialect)
        if result.status == PASSED:
            failed.discard(key)
        else:
            failed.add(key)
    folder = _inside(root, CACHE_FOLDER)
    if folder is None:
        return False
    try:
        folder.mkdir(parents=True, exist_ok=True)
        ignore = folder.parent / ".gitignore"  # .dac/ is never committed, whatever the project ignores
        if not ignore.exists() and not ignore.is_symlink():
            ignore.write_text("# created by dac\n*\n", encoding="utf-8")
        temporary = folder / f".{LAST_FAILED_FILE}.{os.getpid()}.tmp"
        temporary.write_text(json.dumps(dict.fromkeys(sorted(failed), True), indent=2) + "\n", encoding="utf-8")
        os.replace(temporary, folder / LAST_FAILED_FILE)  # replaces a symlink there, never what it points to
    except OSError:
        return False
    return True


# --------------------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class Unit:
    """One call of run_detection_tests: a detection and the runs of it to keep (None: all planned)."""

    file: Path
    display: str
    runs: tuple[RunId, ...] | None = None


@dataclass
class Plan:
    units: list[Unit]
    total: int  # test runs to run
    planned: int  # test runs before any selection (after --dialect)
    selected: int  # test runs -k selects
    failed_before: int = 0  # of the selected runs, those in the last-failed record


def plan_runs(
    detections: Sequence[Detection],
    root: Path,
    *,
    dialect: str | None = None,
    keyword: str | None = None,
    last_failed: bool = False,
    failed_first: bool = False,
) -> Plan:
    """The units to run, in order: -k narrows; --last-failed keeps only the runs that failed last
    time (all when none of them did); --failed-first puts those first. Raises SelectionError."""
    matcher = keyword_matcher(keyword or "")
    record = read_last_failed(root) if (last_failed or failed_first) else set()
    chosen: list[tuple[Detection, list[RunId], list[RunId], list[RunId]]] = []  # all, selected, failed
    count = 0
    for detection in detections:
        runs = [(index, name) for index, _, name in planned(detection, dialect)]
        count += len(runs)
        names = [test["name"] for test in detection.data.get("tests") or []]
        selected = [(i, d) for i, d in runs if matcher(test_label(detection.name, names[i]))]
        failed = [(i, d) for i, d in selected if run_key(root, detection.file, names[i], d) in record]
        chosen.append((detection, runs, selected, failed))
    failed_before = sum(len(failed) for *_, failed in chosen)

    def unit(detection: Detection, runs: list[RunId], kept: list[RunId]) -> list[Unit]:
        if not kept:
            return []
        return [Unit(detection.file, detection.display, None if kept == runs else tuple(kept))]

    units: list[Unit] = []
    if failed_before and (last_failed or failed_first):
        for detection, runs, _, failed in chosen:
            units += unit(detection, runs, failed)
        if not last_failed:
            for detection, runs, selected, failed in chosen:
                units += unit(detection, runs, [r for r in selected if r not in failed])
        total = failed_before if last_failed else sum(len(selected) for _, _, selected, _ in chosen)
    else:
        for detection, runs, selected, _ in chosen:
            units += unit(detection, runs, selected)
        total = sum(len(selected) for _, _, selected, _ in chosen)
    return Plan(units, total, count, sum(len(selected) for _, _, selected, _ in chosen), failed_before)


def _view(detection: Detection, runs: tuple[RunId, ...] | None) -> Detection:
    """The detection with only the tests of `runs` left runnable (the others get no dialect).

    A test of which only some dialects are selected keeps all its dialects (its data may name
    the other dialect's tables); the results of the unselected ones are dropped after the run.
    """
    if runs is None:
        return detection
    wanted = {index for index, _ in runs}
    tests = [
        test if index in wanted else {**test, "dialects": [NOT_SELECTED]}
        for index, test in enumerate(detection.data.get("tests") or [])
    ]
    source = replace(detection.source, data={**detection.data, "tests": tests})
    return Detection(detection.file, source)


def run_unit(
    detection: Detection,
    runs: tuple[RunId, ...] | None,
    tables_folder: Path | None,
    *,
    dialect: str | None = None,
    variants: Sequence[Variant] | None = None,
    limits: QueryLimits | None = None,
    on_result: Callable[[TestResult], None] | None = None,
    engine: EngineSettings | None = None,
) -> list[TestResult]:
    """run_detection_tests on the runs of one unit, in the detection's order, on `engine` (default: the
    emulator)."""
    keep = None if runs is None else set(runs)

    def forward(result: TestResult) -> None:
        if on_result is not None and (keep is None or (result.index, result.dialect) in keep):
            on_result(result)

    results = run_detection_tests(
        _view(detection, runs), tables_folder, dialect=dialect, variants=variants, limits=limits, on_result=forward,
        engine_factory=engine_factory(engine),
    )  # fmt: skip
    return results if keep is None else [r for r in results if (r.index, r.dialect) in keep]


# --------------------------------------------------------------------------------------- parallel map


def default_jobs() -> int:
    """The cores this process may use."""
    counter = getattr(os, "process_cpu_count", None)  # Python 3.13
    if counter is not None:
        return counter() or 1
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@dataclass(frozen=True)
class _Job:
    """What a worker needs to run one unit: small and picklable."""

    file: str
    display: str
    runs: tuple[RunId, ...] | None
    tables_folder: str | None
    dialect: str | None
    limits: QueryLimits | None
    engine: EngineSettings | None = None


_worker_limit: Any = None  # the address-space cap a worker keeps for its life


def _init_worker(cwd: str, debug: str | None, memory_limit: int) -> None:
    global _worker_limit
    tune_for_short_process()  # a worker lives as long as the command that started it
    os.chdir(cwd)  # a forkserver's children start where the server started
    if debug:
        os.environ["DAC_DEBUG"] = debug
    else:
        os.environ.pop("DAC_DEBUG", None)
    _worker_limit = address_space_limit(memory_limit)
    _worker_limit.__enter__()


def _run_job(job: _Job) -> list[TestResult]:
    loaded = load_detection(Path(job.file), job.display)
    if loaded.detection is None:  # changed since it was validated
        raise RuntimeError(f"{job.display} no longer loads")
    tables = Path(job.tables_folder) if job.tables_folder is not None else None
    return run_unit(loaded.detection, job.runs, tables, dialect=job.dialect, limits=job.limits, engine=job.engine)


def _context() -> Any:
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:  # forks from a process that never ran a query: no DuckDB threads
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        return context
    return multiprocessing.get_context("spawn")


def run_plan(
    plan: Plan,
    detections: Mapping[Path, Detection],
    tables_folder: Path | None,
    *,
    dialect: str | None = None,
    variants: Mapping[Path, Sequence[Variant]] | None = None,
    limits: QueryLimits | None = None,
    jobs: int = 1,
    min_runs_per_worker: int = MIN_RUNS_PER_WORKER,
    on_start: Callable[[str], None] | None = None,
    on_result: Callable[[TestResult], None] | None = None,
    engine: EngineSettings | None = None,
) -> list[TestResult]:
    """Every unit's results, in unit order, run on `engine` (default: the emulator). `jobs` > 1: on that
    many worker processes (fewer when there are fewer than `min_runs_per_worker` runs per worker, serially
    when that leaves one).
    `on_start` (serial only) gets a detection's name before its runs; `on_result` every result, in
    the order they finish. Each process caps its address space (address_space_limit)."""
    limits = limits or QueryLimits()
    workers = min(jobs, len(plan.units), plan.total // max(1, min_runs_per_worker))
    variants = variants or {}

    def serial(units: Sequence[Unit]) -> list[list[TestResult]]:
        done = []
        with address_space_limit(limits.memory_limit):
            for unit in units:
                detection = detections[unit.file]
                if on_start is not None:
                    on_start(detection.name)
                known = variants.get(unit.file)
                options = {"dialect": dialect, "variants": known, "limits": limits, "on_result": on_result,
                           "engine": engine}  # fmt: skip
                done.append(run_unit(detection, unit.runs, tables_folder, **options))
        return done

    if workers <= 1:
        return [result for results in serial(plan.units) for result in results]
    return [result for results in _parallel(plan, workers, serial, tables_folder, dialect, limits, on_result, engine)
            for result in results]  # fmt: skip


def _parallel(
    plan: Plan,
    workers: int,
    serial: Callable[[Sequence[Unit]], list[list[TestResult]]],
    tables_folder: Path | None,
    dialect: str | None,
    limits: QueryLimits,
    on_result: Callable[[TestResult], None] | None,
    engine: EngineSettings | None = None,
) -> list[list[TestResult]]:
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    jobs = [
        _Job(str(u.file), u.display, u.runs, str(tables_folder) if tables_folder else None, dialect, limits, engine)
        for u in plan.units
    ]
    done: list[list[TestResult] | None] = [None] * len(jobs)
    initargs = (os.getcwd(), os.environ.get("DAC_DEBUG"), limits.memory_limit)
    try:
        with ProcessPoolExecutor(workers, mp_context=_context(), initializer=_init_worker, initargs=initargs) as pool:
            futures: dict[Future[list[TestResult]], int] = {pool.submit(_run_job, job): n for n, job in enumerate(jobs)}
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in sorted(finished, key=futures.__getitem__):
                    try:
                        results = future.result()
                    except Exception:  # a worker that died or failed: rerun in this process below
                        continue
                    done[futures[future]] = results
                    for result in results:
                        if on_result is not None:
                            on_result(result)
    except (BrokenProcessPool, OSError):  # no processes here (a sandbox, a limit): this process runs them
        pass
    missing = [n for n, results in enumerate(done) if results is None]
    for n, results in zip(missing, serial([plan.units[n] for n in missing]), strict=True):
        done[n] = results
    return [results or [] for results in done]
