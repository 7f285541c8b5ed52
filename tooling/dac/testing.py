"""Runs the tests of detections on the local emulator and checks their expectations.

Each test runs once per dialect: every enabled dialect of the detection, narrowed by the test's
`dialects` (and by the caller, e.g. `dac test --dialect`). A run builds an emulator for the
dialect's tables, pins `now`, maps `externaldata` URLs to local files, loads the test's tables
(typed by emulator/fixtures.py), runs that dialect's query text and compares the result with
`expect`. Every problem is a positioned Diagnostic in the detection file (or fixture file):

- status `error`: the test could not run: bad test data (DAC701-DAC706), a `now` that is no
  date (DAC707), an expected value that is not of its column's type (DAC708), a query the
  emulator cannot run (its EMUxxx code, positioned in the query), a parameter that does not fill in;
- status `failed`: the query ran and an expectation does not hold (DAC709, at the expectation).

The shapes `dac test` prints live under reports/ (tables.py, json.py, junit.py, text.py).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .confine import OUTSIDE_PROJECT, OutsideProject, inside_project
from .diagnostics import Diagnostic, Position, error
from .emulator.engine import LIMIT_CODES, OUT_OF_MEMORY, TIMEOUT, QueryLimits, json_or_text, limit_error
from .emulator.fixtures import (
    FixtureError,
    format_string,
    parse_datetime,
    parse_value,
    platform_data_for_test,
    tables_for_test,
)
from .engines.base import Engine, EngineError
from .kql import parse
from .kql.binder import Environment
from .model.detection import Detection
from .model.tables import environment
from .reports.tables import brief, expected_table, result_table, rows_text, table_text
from .variants import Variant, build_variants, let_names_of, query_position

BAD_NOW = "DAC707"
BAD_EXPECTED = "DAC708"
FAILED = "DAC709"

PASSED, FAILED_STATUS, ERROR = "passed", "failed", "error"
MAX_SHOWN_ROWS = 20
MAX_SHOWN_COLUMNS = 8
MAX_CELL = 60


# The interface every engine offers (dac.engines): the emulator by default, or a Kusto engine.
EngineFactory = Callable[..., Engine]  # (environment, *, now, externaldata, limits: QueryLimits) -> Engine


@dataclass
class TestResult:
    """One test in one dialect."""

    __test__ = False  # not a pytest test class

    detection: str  # the detection's name
    file: str  # the detection file, as displayed
    test: str  # the test's name
    index: int  # its position in `tests`
    dialect: str
    status: str  # passed | failed | error
    message: str = ""
    diagnostics: list[Diagnostic] = field(default_factory=list)  # where and why (empty when passed)
    details: str = ""  # expected vs actual, as a small text table
    duration: float = 0.0  # seconds

    @property
    def label(self) -> str:
        return f"{self.test} [{self.dialect}]"


class _TestError(Exception):
    """The test cannot be run or judged; carries the diagnostic."""

    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


# --------------------------------------------------------------------------------------- planning


def planned(detection: Detection, dialect: str | None = None) -> list[tuple[int, dict[str, Any], str]]:
    """(test index, test, dialect) for every run of the detection's tests, in order."""
    enabled = detection.enabled_dialects()
    runs = []
    for index, test in enumerate(detection.data.get("tests") or []):
        wanted = test.get("dialects") or enabled
        for name in enabled:
            if name in wanted and (dialect is None or name == dialect):
                runs.append((index, test, name))
    return runs


class _EmulatorPool:
    """One emulator per process, reused from test run to test run: a new DuckDB connection with the
    emulator's functions costs more than a small test. Between runs it is reset (emulator.reuse: the last
    run's tables dropped); after a run that ended at a limit it is closed, and the next run gets a new one."""

    def __init__(self) -> None:
        self._engine: Any = None

    def engine(
        self, environment: Environment, *, now: dt.datetime | None, externaldata: dict[str, Path], limits: QueryLimits
    ) -> Engine:
        from .emulator import Emulator

        if self._engine is not None and self._engine.reuse(
            environment, now=now, externaldata=externaldata, limits=limits
        ):
            return self._engine
        self.discard()
        self._engine = Emulator(environment, now=now, externaldata=externaldata, limits=limits, one_query=True)
        return self._engine

    def discard(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None


_POOL = _EmulatorPool()


def _default_engine(
    environment: Environment, *, now: dt.datetime | None, externaldata: dict[str, Path], limits: QueryLimits
) -> Engine:
    return _POOL.engine(environment, now=now, externaldata=externaldata, limits=limits)


# How a test's time limit changes: the end of the EMU008 message (the memory hint is QueryLimits' own).
TIMEOUT_HINT = "set limits.query_timeout in dac.yml or timeout: on the test"


def _test_limits(limits: QueryLimits | None, test: Mapping[str, Any]) -> QueryLimits:
    """The project's limits (or the defaults) with the test's own `timeout`, and the test's time hint."""
    from .model.project import parse_duration

    base = limits or QueryLimits()
    timeout = parse_duration(test["timeout"]) if test.get("timeout") else base.timeout
    return replace(base, timeout=timeout, timeout_hint=TIMEOUT_HINT)


def run_detection_tests(
    detection: Detection,
    tables_folder: Path | None = None,
    *,
    dialect: str | None = None,
    variants: Sequence[Variant] | None = None,
    engine_factory: EngineFactory | None = None,
    on_result: Callable[[TestResult], None] | None = None,
    limits: QueryLimits | None = None,
) -> list[TestResult]:
    """Run every test of `detection` in each of its dialects (or only `dialect`).

    `variants` are the detection's rendered queries with default parameters (from validation);
    a test with its own `parameters` gets its variants rendered again. `limits`: the project's
    (Project.query_timeout, Project.memory_limit; default 60 s, 2 GiB); a test's `timeout` wins.
    A run that exceeds a limit is an error of that test (EMU008, EMU009, EMU010); the others run.
    """
    factory = engine_factory or _default_engine
    default_variants = {v.dialect: v for v in (variants or [])}
    results: list[TestResult] = []
    runs = planned(detection, dialect)
    if not runs:
        return results
    if not default_variants:
        default_variants = {v.dialect: v for v in build_variants(detection, tables_folder)}
    per_test: dict[int, dict[str, Variant]] = {}
    for index, test, name in runs:
        started = time.perf_counter()
        if test.get("parameters"):
            if index not in per_test:
                rendered = build_variants(detection, tables_folder, test["parameters"])
                per_test[index] = {v.dialect: v for v in rendered}
            variant = per_test[index][name]
        else:
            variant = default_variants[name]
        dialects_of_test = [d for i, _, d in runs if i == index]
        result = TestResult(detection.name, detection.display, test["name"], index, name, PASSED)
        test_limits = _test_limits(limits, test)
        try:
            failures, details = _run_one(
                detection, index, test, variant, dialects_of_test, tables_folder, factory, test_limits
            )
        except _TestError as exc:
            result.status, result.diagnostics = ERROR, [exc.diagnostic]
        except FixtureError as exc:
            result.status, result.diagnostics = ERROR, [exc.diagnostic]
        except MemoryError:  # on Python's side (the CLI caps the address space: address_space_limit)
            problem = limit_error(test_limits, OUT_OF_MEMORY, "the test")
            result.status, result.diagnostics = ERROR, [_limit_diagnostic(detection, index, test, name, problem)]
        except Exception as exc:  # a bug in the emulator must not stop the other tests
            if os.environ.get("DAC_DEBUG"):
                raise
            position = detection.position(("tests", index))
            problem = f"internal error in the emulator: {type(exc).__name__}: {exc} (set DAC_DEBUG=1 for details)"
            result.status, result.diagnostics = ERROR, [error(detection.display, position, "DAC700", problem)]
        else:
            if failures:
                result.status, result.diagnostics, result.details = FAILED_STATUS, failures, details
        result.message = "; ".join(d.message for d in result.diagnostics)
        result.duration = time.perf_counter() - started
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def _run_one(
    detection: Detection,
    index: int,
    test: Mapping[str, Any],
    variant: Variant,
    dialects_of_test: list[str],
    tables_folder: Path | None,
    factory: EngineFactory,
    limits: QueryLimits,
) -> tuple[list[Diagnostic], str]:
    display = detection.display
    if variant.parameter_error is not None:
        where = detection.position(("tests", index, "parameters"))
        raise _TestError(error(display, where, "DAC130", str(variant.parameter_error)))
    problem = next((d for d in variant.diagnostics if d.severity == "error"), None)
    if problem is not None:
        where = query_position(detection, variant, problem.start)
        suffix = " (with this test's parameters)" if test.get("parameters") else ""
        raise _TestError(error(display, where, problem.code, problem.message + suffix))

    now = None
    if test.get("now") is not None:
        try:
            now = parse_datetime(str(test["now"]))
        except ValueError as exc:
            raise _TestError(
                error(display, detection.position(("tests", index, "now")), BAD_NOW, f"now: {exc}")
            ) from None

    root = detection.project_root()
    externaldata: dict[str, Path] = {}
    for url, relative in (test.get("externaldata") or {}).items():
        where = detection.position(("tests", index, "externaldata", url))
        try:
            file = inside_project(root, detection.file.parent, str(relative), "externaldata file")
        except OutsideProject as exc:
            raise _TestError(error(display, where, OUTSIDE_PROJECT, str(exc))) from None
        if not file.is_file():
            raise _TestError(error(display, where, "DAC704", f"externaldata file '{relative}' not found"))
        externaldata[url] = file

    env = environment(variant.dialect, tables_folder)
    also_known: set[str] = set()
    for other in dialects_of_test:
        if other != variant.dialect:
            also_known |= set(environment(other, tables_folder).tables)
    tables = tables_for_test(
        test,
        detection.file,
        detection.source,
        index,
        env,
        root=root,
        query_tables=variant.lets if variant.lets is not None else let_names(variant.text),
        also_known=also_known,
    )
    # Watchlists and file profiles: tables under names a query cannot write, read by _GetWatchlist()
    # and invoke FileProfile() (emulator/platform_data.py).
    platform = platform_data_for_test(test, detection.file, detection.source, index, env, root=root)
    for name, (columns, rows) in platform.items():
        env.tables[name] = columns
        tables[name] = rows
    from .emulator import EmulatorError

    engine = factory(env, now=now, externaldata=externaldata, limits=limits)
    pooled = factory is _default_engine
    finished = False
    try:
        try:
            for name, rows in tables.items():
                engine.load_table(name, rows)
            result = engine.run(variant.text)
            finished = True
        except EmulatorError as exc:
            if exc.code in LIMIT_CODES:  # a limit ends this test only: positioned at the test, named
                raise _TestError(_limit_diagnostic(detection, index, test, variant.dialect, exc)) from None
            finished = True  # a refusal leaves the connection as good as new
            where = _query_position(detection, variant, exc.offset, tables_folder)
            raise _TestError(error(display, where, exc.code, exc.message)) from None
        except EngineError as exc:  # another engine's refusal: in the query when it says where, else at the test
            finished = True
            if exc.offset is None:
                where = detection.position(("tests", index))
                message = f"test '{test['name']}' [{variant.dialect}]: {exc.message}"
                raise _TestError(error(display, where, exc.code, message)) from None
            where = _query_position(detection, variant, exc.offset, tables_folder)
            raise _TestError(error(display, where, exc.code, exc.message)) from None
    finally:
        if pooled and not finished:  # after a limit or a crash, the next run gets a new connection
            _POOL.discard()
        elif not pooled:
            close = getattr(engine, "close", None)
            if callable(close):
                close()
    return check_expectations(detection, index, test.get("expect") or {}, result)


def _limit_diagnostic(detection: Detection, index: int, test: Mapping[str, Any], dialect: str, exc: Any) -> Diagnostic:
    """EMU008-EMU010 at the test (at its `timeout` for a time limit the test sets), naming the test."""
    path: tuple[Any, ...] = ("tests", index)
    if exc.code == TIMEOUT and test.get("timeout"):
        path = ("tests", index, "timeout")
    message = f"test '{test['name']}' [{dialect}]: {exc.message}"
    return error(detection.display, detection.position(path), exc.code, message)


def let_names(text: str) -> set[str]:
    """Names the query defines with top-level let statements."""
    return let_names_of(parse(text).tree)


def _query_position(detection: Detection, variant: Variant, offset: int, tables_folder: Path | None) -> Position:
    """An offset in the text that ran -> line:col in the YAML file (through the rendering, if any)."""
    return query_position(detection, variant, min(variant.source_offset(offset), len(variant.source_text)))


# --------------------------------------------------------------------------------------- expectations


def check_expectations(
    detection: Detection, index: int, expect: Mapping[str, Any], result: Any
) -> tuple[list[Diagnostic], str]:
    """Failures (DAC709) of one result against a test's `expect`, and the expected-vs-actual text.

    Raises _TestError (DAC708) when an expected value is not of its result column's type.
    """
    display = detection.display
    base = ("tests", index, "expect")
    names = [name for name, _ in result.columns]
    types = dict(result.columns)
    failures: list[Diagnostic] = []
    details: list[str] = []

    def fail(path: tuple[Any, ...], message: str, *notes: str, key: bool = False) -> None:
        where = detection.key_position((*base, *path)) if key else detection.position((*base, *path))
        failures.append(error(display, where, FAILED, message, *notes))

    if "columns" in expect and [_result_column(c, types) or c for c in expect["columns"]] != names:
        expected = [_result_column(c, types) or c for c in expect["columns"]]
        missing = [c for c in expected if c not in names]
        extra = [c for c in names if c not in expected]
        hint = []
        if missing:
            hint.append(f"missing {', '.join(missing)}")
        if extra:
            hint.append(f"not expected {', '.join(extra)}")
        fail(("columns",), f"expect.columns: the result's columns differ ({'; '.join(hint) or 'order differs'})")
        details.append(
            table_text(
                "columns (expect.columns vs the result):",
                ["#", "expected", "actual"],
                [
                    [str(i + 1), expected[i] if i < len(expected) else "", names[i] if i < len(names) else ""]
                    for i in range(max(len(expected), len(names)))
                ],
            )
        )

    count_failed = "count" in expect and expect["count"] != len(result.rows)
    if count_failed:
        fail(("count",), f"expect.count: expected {rows_text(expect['count'])}, the query returned {len(result.rows)}")

    rows_expected = expect.get("rows")
    if rows_expected is None and expect.get("exact"):
        rows_expected = []  # exact: true and no rows: the result must be empty
    rows_failed = False
    problems: list[tuple[tuple[Any, ...], str]] = []
    if rows_expected is not None:
        parsed: list[dict[str, Any]] = []
        unknown = False
        for number, row in enumerate(rows_expected):
            values = {}
            for written, value in row.items():
                column = _result_column(written, types)
                if column is None:
                    unknown = True
                    fail(("rows", number, written), f"expect.rows[{number}]: the result has no column '{written}'",
                         f"the result's columns: {', '.join(names) or '(none)'}", key=True)  # fmt: skip
                    continue
                values[column] = _expected_value(detection, (*base, "rows", number, written), value, types[column])
            parsed.append(values)
        if not unknown:
            problems = _match_rows(parsed, result, bool(expect.get("ordered")), bool(expect.get("exact")))
            for path, message in problems:
                fail(path, message)
            rows_failed = bool(problems)
        if rows_failed or unknown:
            details.append(expected_table(rows_expected, problems, matched=not unknown))
            listed = (_result_column(c, types) for row in rows_expected for c in row)
            shown = [c for c in dict.fromkeys(listed) if c is not None] or names
            details.append(result_table(result, shown))
    if count_failed and not rows_failed:
        details.append(result_table(result, names))
    return failures, "\n".join(details)


_TIME_PAIR = {"Timestamp": "TimeGenerated", "TimeGenerated": "Timestamp"}


def _result_column(column: str, types: Mapping[str, str]) -> str | None:
    """The result column an expectation names: the time column rule applies as in fixtures."""
    if column in types:
        return column
    other = _TIME_PAIR.get(column)
    return other if other in types else None


def _expected_value(detection: Detection, path: tuple[Any, ...], value: Any, kql_type: str) -> Any:
    if kql_type == "dynamic":
        return json_or_text(value)
    try:
        return parse_value(value, kql_type)
    except ValueError as exc:
        column = path[-1]
        raise _TestError(
            error(
                detection.display, detection.position(path), BAD_EXPECTED, f"expect.rows: {column} ({kql_type}): {exc}"
            )
        ) from None


def _match_rows(
    expected: list[dict[str, Any]], result: Any, ordered: bool, exact: bool
) -> list[tuple[tuple[Any, ...], str]]:
    """(path under expect, message) for each expectation on rows that does not hold."""
    columns = {name: position for position, (name, _) in enumerate(result.columns)}
    types = dict(result.columns)
    actual = result.rows

    def matches(want: dict[str, Any], row: list[Any]) -> bool:
        return all(values_equal(value, row[columns[c]], types[c]) for c, value in want.items())

    problems: list[tuple[tuple[Any, ...], str]] = []
    if exact and len(actual) != len(expected):
        problems.append(
            (("rows",), f"expect.rows (exact): the query returned {rows_text(len(actual))}, rows lists {len(expected)}")
        )
    if ordered and exact:
        for number, want in enumerate(expected):
            if number < len(actual) and not matches(want, actual[number]):
                problems.append(
                    (("rows", number), f"expect.rows[{number}] {brief(want)} is not result row {number + 1}")
                )
        return problems
    if ordered:
        position = 0
        for number, want in enumerate(expected):
            found = next((j for j in range(position, len(actual)) if matches(want, actual[j])), None)
            if found is None:
                after = " after the rows before it" if number and any(matches(want, row) for row in actual) else ""
                problems.append((("rows", number), f"expect.rows[{number}] {brief(want)} matches no result row{after}"))
            else:
                position = found + 1
        return problems
    candidates = [[j for j, row in enumerate(actual) if matches(want, row)] for want in expected]
    assigned = _bipartite(candidates)
    for number, want in enumerate(expected):
        if number not in assigned:
            problems.append(
                (("rows", number), f"expect.rows[{number}] {brief(want)} matches no result row"
                 + (" (its matches are taken by other expected rows)" if candidates[number] else ""))
            )  # fmt: skip
    return problems


def _bipartite(candidates: list[list[int]]) -> dict[int, int]:
    """A maximum matching of expected rows to distinct result rows (augmenting paths)."""
    owner: dict[int, int] = {}  # result row -> expected row

    def augment(number: int, seen: set[int]) -> bool:
        for row in candidates[number]:
            if row in seen:
                continue
            seen.add(row)
            if row not in owner or augment(owner[row], seen):
                owner[row] = number
                return True
        return False

    for number in range(len(candidates)):
        augment(number, set())
    return {number: row for row, number in owner.items()}


def values_equal(expected: Any, actual: Any, kql_type: str) -> bool:
    """KQL-typed comparison of an expected (parsed) value with a result value."""
    if expected is None or actual is None:
        if kql_type == "string":
            return (expected or "") == (actual or "")
        return expected is None and actual is None
    if kql_type in ("real", "decimal"):
        try:
            want, got = float(expected), float(actual)
        except (TypeError, ValueError):
            return False
        if math.isnan(want) or math.isnan(got):
            return math.isnan(want) and math.isnan(got)
        return math.isclose(want, got, rel_tol=1e-9, abs_tol=1e-9)
    if kql_type in ("long", "int"):
        return not isinstance(actual, bool) and isinstance(actual, (int, float)) and expected == actual
    if kql_type == "datetime":
        if isinstance(actual, dt.datetime) and actual.tzinfo is not None:
            actual = actual.astimezone(dt.UTC).replace(tzinfo=None)
        return isinstance(actual, dt.datetime) and expected == actual
    if kql_type == "bool":
        return isinstance(actual, bool) and expected == actual
    if kql_type == "dynamic":
        return json_equal(expected, actual)
    if kql_type == "guid":
        return str(expected).lower() == str(actual).lower()
    if kql_type == "string":
        return expected == actual
    return format_string(expected) == format_string(actual)


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: numbers by value, but true is not 1; mappings without regard to key order."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


# --------------------------------------------------------------------------------------- summary


def summarize(results: Sequence[TestResult], invalid: int = 0) -> dict[str, Any]:
    dialects = sorted({r.dialect for r in results}, key=lambda d: (d != "defender", d))
    return {
        "tests": len(results),
        "passed": sum(r.status == PASSED for r in results),
        "failed": sum(r.status == FAILED_STATUS for r in results),
        "errors": sum(r.status == ERROR for r in results),
        "dialects": dialects,
        "invalid_detections": invalid,
    }
