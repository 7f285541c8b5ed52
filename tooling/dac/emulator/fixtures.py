"""Test data for the emulator: table rows from a detection's tests, typed for one dialect.

A test's `tables` maps a table name to inline rows (a YAML list of mappings) or to a `.jsonl` or
`.csv` file beside the detection. Fixtures are written once for every dialect; this module types
them against one dialect's table schema:

- every value is parsed as its column's KQL type (`parse_value`), so a test can write
  `Timestamp: 2024-12-02T11:00:00Z`, `RemotePort: 443` or `AdditionalFields: {a: 1}`;
- columns the row leaves out get KQL's defaults: "" for strings (never null), null otherwise;
- the time column follows the dialect: a Sentinel run sees `TimeGenerated` where the fixture says
  `Timestamp`, a Defender run sees `Timestamp` where it says `TimeGenerated`; a table that has
  both (Defender tables streamed to Sentinel) gets both, each from the other when only one is given.

Problems are `FixtureError`s carrying one positioned diagnostic (DAC701 to DAC706), in the YAML
file or in the .jsonl/.csv file. Codes are documented in docs/testing.md.
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import io
import json
import math
import posixpath
import re
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..confine import OUTSIDE_PROJECT, OutsideProject, inside_project
from ..diagnostics import Diagnostic, Position, error
from ..kql.binder import Environment
from ..model.yamlsource import JsonPath, LoadedYaml

TIME_COLUMNS = {"defender": "Timestamp", "sentinel": "TimeGenerated"}

UNKNOWN_TABLE = "DAC701"
UNKNOWN_COLUMN = "DAC702"
BAD_VALUE = "DAC703"
FILE_UNREADABLE = "DAC704"
BAD_JSONL = "DAC705"
BAD_CSV = "DAC706"

_INT_RANGE = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


class FixtureError(Exception):
    """Test data that cannot be turned into typed rows; carries the positioned diagnostic."""

    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.format())
        self.diagnostic = diagnostic


# --------------------------------------------------------------------------------------- values


_DATETIME = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[Tt ](?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.(?P<fraction>\d{1,9}))?)?)?"
    r"\s*(?P<zone>[Zz]|[+-]\d{2}:?\d{2})?"
)
_WRAPPER = re.compile(r"(?P<word>[A-Za-z_]+)\s*\((?P<inner>.*)\)", re.S)
_UNITS = {
    **dict.fromkeys(("d", "day", "days"), Decimal(86400)),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), Decimal(3600)),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), Decimal(60)),
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), Decimal(1)),
    **dict.fromkeys(("ms", "milli", "millis", "millisecond", "milliseconds"), Decimal("0.001")),
    **dict.fromkeys(("microsecond", "microseconds"), Decimal("0.000001")),
    **dict.fromkeys(("tick", "ticks"), Decimal("0.0000001")),
}
_SPAN_UNIT = re.compile(r"(?P<sign>[+-]?)(?P<number>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>[A-Za-z]+)")
_SPAN_CLOCK = re.compile(
    r"(?P<sign>[+-]?)(?:(?P<days>\d+)\.)?(?P<hours>\d{1,2}):(?P<minutes>\d{2})"
    r"(?::(?P<seconds>\d{2})(?:\.(?P<fraction>\d{1,7}))?)?"
)
_REAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:inf|infinity|nan)", re.I)
_SPAN_DAYS = re.compile(r"(?P<sign>[+-]?)(?P<number>\d+(?:\.\d*)?)")

DATETIME_FORMS = "2024-12-02, 2024-12-02T11:00:00Z, 2024-12-02 11:00, with optional .fffffff and Z or +hh:mm"
TIMESPAN_FORMS = "1d, 1.5h, 30m, 10s, 100ms, 10microsecond, 1tick, 00:05:00, 1.02:03:04.5, or a whole number of days"


def _unwrap(text: str, *words: str) -> str:
    """`datetime(2024-12-02)` -> `2024-12-02`, for people who copy KQL literals into fixtures."""
    match = _WRAPPER.fullmatch(text.strip())
    if match and match["word"].lower() in words:
        return match["inner"].strip()
    return text.strip()


def parse_datetime(text: str) -> dt.datetime:
    """An ISO 8601 date or date and time, as naive UTC. Fractions beyond microseconds are cut."""
    match = _DATETIME.fullmatch(_unwrap(text, "datetime", "todatetime"))
    if not match:
        raise ValueError(f"{text!r} is not a datetime (write e.g. {DATETIME_FORMS})")
    try:
        day = dt.date.fromisoformat(match["date"])
        fraction = (match["fraction"] or "").ljust(6, "0")[:6]
        value = dt.datetime(
            day.year,
            day.month,
            day.day,
            int(match["hour"] or 0),
            int(match["minute"] or 0),
            int(match["second"] or 0),
            int(fraction),
        )
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a valid datetime: {exc}") from None
    zone = match["zone"]
    if zone and zone not in "Zz":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        value -= sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return value


def parse_timespan(text: str) -> dt.timedelta:
    """A KQL timespan literal: `2d`, `1.5h`, `100ms`, `00:05:00`, `1.02:03:04.5`, `15 seconds`, `2` (days)."""
    body = _unwrap(text, "time", "timespan", "totimespan")
    seconds: Decimal | None = None
    sign = ""
    if match := _SPAN_UNIT.fullmatch(body):
        unit = _UNITS.get(match["unit"].lower())
        if unit is not None:
            sign, seconds = match["sign"], Decimal(match["number"]) * unit
    elif match := _SPAN_CLOCK.fullmatch(body):
        hours, minutes = int(match["hours"]), int(match["minutes"])
        secs = int(match["seconds"] or 0)
        if hours < 24 and minutes < 60 and secs < 60:
            sign = match["sign"]
            seconds = Decimal(int(match["days"] or 0) * 86400 + hours * 3600 + minutes * 60 + secs) + Decimal(
                f"0.{match['fraction'] or 0}"
            )
    elif (match := _SPAN_DAYS.fullmatch(body)) and body != text.strip():  # only as time(2): bare numbers are days
        sign, seconds = match["sign"], Decimal(match["number"]) * 86400
    if seconds is None:
        raise ValueError(f"{text!r} is not a timespan (write e.g. {TIMESPAN_FORMS})")
    try:
        span = dt.timedelta(microseconds=int(seconds * 1_000_000))
    except OverflowError:
        raise ValueError(f"{text!r} is out of range for a timespan") from None
    return -span if sign == "-" else span


def format_string(value: Any) -> str:
    """What KQL's tostring() gives for a value of a fixture (YAML/JSON) or of a result."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "NaN" if math.isnan(value) else ("-Infinity" if value < 0 else "Infinity")
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    if isinstance(value, dt.datetime):
        return format_datetime(value)
    if isinstance(value, dt.timedelta):
        return format_timespan(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default)
    return str(value)


def format_datetime(value: dt.datetime) -> str:
    """ISO 8601 in UTC as Kusto prints it: 2024-12-02T11:00:00Z, with a fraction only when there is one."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    fraction = f".{value.microsecond:06d}".rstrip("0") if value.microsecond else ""
    return value.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


def format_timespan(value: dt.timedelta) -> str:
    """Kusto's timespan text: [-][d.]hh:mm:ss[.fffffff]."""
    total = abs(value)
    days, rest = total.days, total.seconds
    text = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    if days:
        text = f"{days}.{text}"
    if total.microseconds:
        text += f".{total.microseconds:06d}0"
    return ("-" if value < dt.timedelta(0) else "") + text


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return format_datetime(value)
    if isinstance(value, dt.timedelta):
        return format_timespan(value)
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _describe(value: Any) -> str:
    return repr(value) if isinstance(value, str) else json.dumps(value, default=str)


def parse_value(value: Any, kql_type: str) -> Any:
    """A fixture or expected value as the Python value of a column of `kql_type`.

    Raises ValueError with a message naming the value and the type. None (and, for every type
    but string, an empty string) is null; a string column is never null (null becomes "").
    """
    if kql_type == "string":
        return format_string(value)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    parser = _PARSERS.get(kql_type)
    if parser is None:  # a column of a type dac does not know: pass the value through
        return value
    return parser(value)


def _parse_long(value: Any, kql_type: str = "long") -> int:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif (isinstance(value, float) and value.is_integer()) or (
        isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value)
    ):
        number = int(value)
    if number is None:
        raise ValueError(f"{_describe(value)} is not a whole number ({kql_type})")
    low, high = _INT_RANGE[kql_type]
    if not low <= number <= high:
        raise ValueError(f"{number} is out of range for {kql_type} ({low} to {high})")
    return number


def _parse_real(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and _REAL.fullmatch(value.strip()):
        return float(value.strip())
    raise ValueError(f"{_describe(value)} is not a number (real)")


def _parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError(f"{_describe(value)} is not a bool (write true or false)")


def _parse_datetime_value(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        return parse_datetime(value)
    raise ValueError(f"{_describe(value)} is not a datetime (write e.g. {DATETIME_FORMS})")


def _parse_timespan_value(value: Any) -> dt.timedelta:
    if isinstance(value, dt.timedelta):
        return value
    if isinstance(value, int) and not isinstance(value, bool):  # KQL timespan(2) is two days
        try:
            return dt.timedelta(days=value)
        except OverflowError:
            raise ValueError(f"{value} days is out of range for a timespan") from None
    if isinstance(value, str):
        text = value.strip()
        return parse_timespan(f"time({text})" if re.fullmatch(r"[+-]?\d+", text) else text)
    raise ValueError(f"{_describe(value)} is not a timespan (write e.g. {TIMESPAN_FORMS})")


def _parse_dynamic(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise ValueError(
                f"{value!r} is not JSON (dynamic); write a YAML list or mapping, or JSON text such as "
                f"'{{\"a\": 1}}' or '\"text\"'"
            ) from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value} cannot be stored in a dynamic value (JSON has no NaN or infinity)")
    return value


def _parse_guid(value: Any) -> str:
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value.strip()))
        except ValueError:
            pass
    raise ValueError(f"{_describe(value)} is not a guid (write e.g. 0b9f5c2e-3d41-4c8e-9a57-6f1d2e7b8a90)")


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "long": _parse_long,
    "int": lambda value: _parse_long(value, "int"),
    "real": _parse_real,
    "decimal": _parse_real,
    "bool": _parse_bool,
    "datetime": _parse_datetime_value,
    "timespan": _parse_timespan_value,
    "dynamic": _parse_dynamic,
    "guid": _parse_guid,
}


def infer_type(values: Collection[Any]) -> str:
    """The column type for ad-hoc data (a table no schema knows): from the non-null values."""
    present = [v for v in values if v is not None and v != ""]
    if not present:
        return "string"
    if all(isinstance(v, bool) for v in present):
        return "bool"
    if all(isinstance(v, (dict, list)) for v in present):
        return "dynamic"
    for kql_type in ("long", "real", "datetime", "bool"):
        try:
            for value in present:
                if isinstance(value, bool) and kql_type != "bool":
                    raise ValueError
                if kql_type == "datetime" and not isinstance(value, str):
                    raise ValueError
                _PARSERS[kql_type](value)
        except ValueError:
            continue
        return kql_type
    return "string"


# --------------------------------------------------------------------------------------- sources


@dataclass
class _Row:
    """One raw row and how to point at its keys and values."""

    values: dict[str, Any]
    where: Callable[[str, bool], tuple[str, Position]]  # (column, at the key?) -> (file, position)


def _fail(where: tuple[str, Position], code: str, message: str, *notes: str) -> FixtureError:
    return FixtureError(error(where[0], where[1], code, message, *notes))


def _yaml_rows(rows: list[Any], source: LoadedYaml, path: JsonPath) -> list[_Row]:
    result = []
    for index, row in enumerate(rows):
        row_path = (*path, index)
        if not isinstance(row, dict):
            raise _fail(
                (source.path, source.position(row_path)), BAD_VALUE, "a table row must be a mapping of column: value"
            )

        def where(column: str, key: bool, row_path: JsonPath = row_path) -> tuple[str, Position]:
            location = (*row_path, column)
            return source.path, (source.key_position(location) if key else source.position(location))

        result.append(_Row(row, where))
    return result


def _read_text(file: Path, at: tuple[str, Position], relative: str) -> str:
    try:
        return file.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise _fail(at, FILE_UNREADABLE, f"fixture file '{relative}' not found", f"looked for {file}") from None
    except IsADirectoryError:
        raise _fail(at, FILE_UNREADABLE, f"fixture file '{relative}' is a folder, not a file") from None
    except UnicodeDecodeError as exc:
        raise _fail(at, FILE_UNREADABLE, f"fixture file '{relative}' is not UTF-8 (byte {exc.start})") from None
    except OSError as exc:
        raise _fail(at, FILE_UNREADABLE, f"cannot read fixture file '{relative}': {exc.strerror}") from None


def _jsonl_rows(text: str, display: str) -> list[_Row]:
    rows = []
    decoder = json.JSONDecoder()
    for number, raw_line in enumerate(text.split("\n"), start=1):
        line = raw_line.removesuffix("\r")  # not splitlines(): U+2028 may sit inside a JSON string
        if not line.strip():
            continue
        try:
            value, end = decoder.raw_decode(line, len(line) - len(line.lstrip()))
        except json.JSONDecodeError as exc:
            raise _fail((display, Position(number, exc.colno)), BAD_JSONL, f"invalid JSON: {exc.msg}") from None
        if line[end:].strip():
            raise _fail(
                (display, Position(number, end + 1)),
                BAD_JSONL,
                "invalid JSON: extra data after the object",
                "write one JSON object per line",
            )
        if not isinstance(value, dict):
            raise _fail(
                (display, Position(number, len(line) - len(line.lstrip()) + 1)),
                BAD_JSONL,
                f'a JSONL line must be a JSON object {{"Column": value, ...}}, not {type(value).__name__}',
            )

        def where(column: str, key: bool, line: str = line, number: int = number) -> tuple[str, Position]:
            found = line.find(json.dumps(column, ensure_ascii=False))
            return display, Position(number, found + 1 if found >= 0 else 1)

        rows.append(_Row(value, where))
    return rows


def _csv_columns(line: str) -> list[int] | None:
    """1-based start column of each field in a physical CSV line without quotes, else None."""
    if '"' in line:
        return None
    starts, column = [], 1
    for field_text in line.split(","):
        starts.append(column)
        column += len(field_text) + 1
    return starts


def _csv_rows(text: str, display: str) -> list[_Row]:
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    header_line = 1
    header_columns: list[int] | None = None
    rows: list[_Row] = []
    previous_end = 0
    try:
        for record in reader:
            start_line = previous_end + 1
            previous_end = reader.line_num
            if not record or (all(not field_text.strip() for field_text in record) and len(record) <= 1):
                continue
            physical = lines[start_line - 1] if start_line - 1 < len(lines) else ""
            columns = _csv_columns(physical) if reader.line_num == start_line else None
            if header is None:
                header = [name.strip() for name in record]
                header_line = start_line
                seen: set[str] = set()
                for index, name in enumerate(header):
                    at = (display, Position(start_line, columns[index] if columns else 1))
                    if not name:
                        raise _fail(
                            at,
                            BAD_CSV,
                            f"CSV header: column {index + 1} has no name",
                            "the first line of a .csv fixture names the columns",
                        )
                    if name in seen:
                        raise _fail(at, BAD_CSV, f"CSV header names column '{name}' twice")
                    seen.add(name)
                header_columns = columns
                continue
            if len(record) > len(header):
                at = (display, Position(start_line, columns[len(header)] if columns else 1))
                raise _fail(
                    at, BAD_CSV, f"CSV line has {len(record)} fields but the header names {len(header)} columns"
                )
            values = {name: field_text for name, field_text in zip(header, record, strict=False) if field_text != ""}

            def where(
                column: str, key: bool, line: int = start_line, columns: list[int] | None = columns,
                header_columns: list[int] | None = header_columns, header: list[str] = header,
                header_line: int = header_line,
            ) -> tuple[str, Position]:  # fmt: skip
                index = header.index(column) if column in header else 0
                if key:
                    return display, Position(header_line, header_columns[index] if header_columns else 1)
                return display, Position(line, columns[index] if columns and index < len(columns) else 1)

            rows.append(_Row(values, where))
    except csv.Error as exc:
        raise _fail((display, Position(max(reader.line_num, 1), 1)), BAD_CSV, f"invalid CSV: {exc}") from None
    if header is None:
        raise _fail(
            (display, Position(1, 1)),
            BAD_CSV,
            "CSV file has no header line",
            "the first line of a .csv fixture names the columns, e.g. Timestamp,DeviceName,RemoteIP",
        )
    return rows


def _file_rows(relative: str, base_dir: Path, root: Path, source: LoadedYaml, path: JsonPath) -> list[_Row]:
    at = (source.path, source.position(path))
    try:
        file = inside_project(root, base_dir, relative, "fixture file")
    except OutsideProject as exc:
        raise _fail(at, OUTSIDE_PROJECT, str(exc)) from None
    display = posixpath.normpath(posixpath.join(posixpath.dirname(source.path), relative))
    text = _read_text(file, at, relative)
    if relative.lower().endswith(".jsonl"):
        return _jsonl_rows(text, display)
    if relative.lower().endswith(".csv"):
        return _csv_rows(text, display)
    raise _fail(at, FILE_UNREADABLE, f"fixture file '{relative}' is neither .jsonl nor .csv")


# --------------------------------------------------------------------------------------- typing


def _suggest(name: str, candidates: Collection[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.75)
    if not close:
        folded = {c.lower(): c for c in candidates}
        close = [folded[name.lower()]] if name.lower() in folded else []
    return f"; did you mean '{close[0]}'?" if close else ""


def _typed(value: Any, kql_type: str, table: str, column: str, where: tuple[str, Position]) -> Any:
    try:
        return parse_value(value, kql_type)
    except ValueError as exc:
        raise _fail(where, BAD_VALUE, f"{table}.{column}: {exc}") from None


def type_rows(rows: list[_Row], table: str, schema: Mapping[str, str], dialect: str) -> list[dict[str, Any]]:
    """Raw rows -> typed rows holding every column of `schema`, in schema order."""
    own = TIME_COLUMNS.get(dialect, "Timestamp")
    other = next((c for d, c in TIME_COLUMNS.items() if d != dialect), "TimeGenerated")
    time_columns = (own, other)
    result = []
    for row in rows:
        typed: dict[str, Any] = {}
        for column, value in row.values.items():
            if column in schema:
                typed[column] = _typed(value, schema[column], table, column, row.where(column, False))
            elif column in time_columns:
                _typed(value, "datetime", table, column, row.where(column, False))  # checked even if unused
            else:
                raise _fail(
                    row.where(column, True),
                    UNKNOWN_COLUMN,
                    f"table '{table}' has no column '{column}' in {dialect.title()}{_suggest(column, schema)}",
                )
        # One time column given, the other wanted: Timestamp <-> TimeGenerated.
        for wanted, given in ((own, other), (other, own)):
            if wanted in schema and wanted not in row.values and row.values.get(given) is not None:
                typed[wanted] = _typed(row.values[given], schema[wanted], table, given, row.where(given, False))
        result.append({column: typed[column] if column in typed else _default(t) for column, t in schema.items()})
    return result


def _default(kql_type: str) -> Any:
    return "" if kql_type == "string" else None


def build_tables(
    tables: Mapping[str, Any],
    *,
    base_dir: Path,
    root: Path,
    source: LoadedYaml,
    path: JsonPath,
    environment: Environment,
    query_tables: Collection[str] = (),
    also_known: Collection[str] = (),
    ad_hoc: bool = False,
) -> dict[str, list[dict[str, Any]]]:
    """Typed rows per table for one dialect, from a `tables` mapping at `path` in `source`.

    `base_dir`: the folder file paths are relative to; `root`: the project they must stay inside.
    `query_tables`: names the query defines itself (let): their fixtures are left out (the query's
    own definition wins, as in Kusto). `also_known`: tables of another dialect the same test runs
    in: left out here, typed there. `ad_hoc`: tables no schema knows get a schema inferred from
    their values and are added to `environment.tables` (for `dac kql run --data`).
    """
    result: dict[str, list[dict[str, Any]]] = {}
    for name, value in tables.items():
        table_path = (*path, name)
        if isinstance(value, str):
            rows = _file_rows(value, base_dir, root, source, table_path)
        elif isinstance(value, list):
            rows = _yaml_rows(value, source, table_path)
        else:
            raise _fail(
                (source.path, source.position(table_path)),
                BAD_VALUE,
                f"table '{name}': give a list of rows or the path of a .jsonl or .csv file",
            )
        schema = environment.tables.get(name)
        if schema is None:
            if name in query_tables or name in also_known:
                continue
            if not ad_hoc:
                raise _unknown_table(name, environment, source, table_path)
            columns: dict[str, list[Any]] = {}
            for row in rows:
                for column, cell in row.values.items():
                    columns.setdefault(column, []).append(cell)
            schema = {column: infer_type(cells) for column, cells in columns.items()}
            environment.tables[name] = schema
        result[name] = type_rows(rows, name, schema, environment.dialect)
    return result


def _unknown_table(name: str, environment: Environment, source: LoadedYaml, path: JsonPath) -> FixtureError:
    dialect = environment.dialect
    where = (source.path, source.key_position(path))
    if name in environment.other_dialect_tables:
        other = "sentinel" if dialect == "defender" else "defender"
        return _fail(
            where,
            UNKNOWN_TABLE,
            f"table '{name}' exists in {other.title()} but not in {dialect.title()}",
            f"run this test only there: dialects: [{other}]",
        )
    return _fail(
        where,
        UNKNOWN_TABLE,
        f"unknown table '{name}' in {dialect.title()}{_suggest(name, environment.tables)}",
        "a custom table needs a schema file in the project's tables folder (dac.yml: tables)",
    )


def tables_for_test(
    test: Mapping[str, Any],
    detection_file: Path,
    source: LoadedYaml,
    test_index: int,
    environment: Environment,
    *,
    root: Path,
    query_tables: Collection[str] = (),
    also_known: Collection[str] = (),
) -> dict[str, list[dict[str, Any]]]:
    """Typed rows of the test `tests[test_index]` of a detection, for `environment`'s dialect; fixture
    files must lie inside the project `root`."""
    return build_tables(
        test.get("tables") or {},
        base_dir=detection_file.parent,
        root=root,
        source=source,
        path=("tests", test_index, "tables"),
        environment=environment,
        query_tables=query_tables,
        also_known=also_known,
    )


# --------------------------------------------------------------------------------------- platform data
# What only the platform has, supplied by a test (the compiler's platform_data.py reads it): Sentinel
# watchlists for _GetWatchlist('alias') and Defender file profiles for `invoke FileProfile()`. Each is a
# table whose name a query cannot write.
FILE_PROFILE_TABLE = "fileprofile:fixture"

# The columns _GetWatchlist() returns before the watchlist's own (Microsoft Sentinel watchlist queries:
# _DTItemId, LastUpdatedTimeUTC, SearchKey, WatchlistItem, as the binder's model/tables.py lists them).
WATCHLIST_COLUMNS = {"_DTItemId": "string", "LastUpdatedTimeUTC": "datetime", "SearchKey": "string",
                     "WatchlistItem": "dynamic"}  # fmt: skip


def watchlist_table(alias: str) -> str:
    return f"watchlist:{alias}"


def resource_graph_table(name: str) -> str:
    """The table of Azure Resource Graph's `name` (arg("").Resources), whose names are case-insensitive."""
    return f"arg:{name.lower()}"


def watchlist_rows(items: list[Mapping[str, Any]], search_key: str) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """The columns and rows _GetWatchlist returns for a watchlist's items: each item's fields as string
    columns (a watchlist is uploaded as CSV text), SearchKey the value of the search key column,
    WatchlistItem the item as a property bag. _DTItemId is the item's own when it gives one, else a
    stand-in (item-1, item-2, ...); LastUpdatedTimeUTC is the item's own (a datetime) or null."""
    fields: dict[str, str] = {}
    for item in items:
        for name in item:
            if name not in WATCHLIST_COLUMNS:
                fields.setdefault(name, "string")
    columns = {**WATCHLIST_COLUMNS, **fields}
    rows = []
    for number, item in enumerate(items, start=1):
        values = {name: format_string(item[name]) if item.get(name) is not None else "" for name in fields}
        rows.append(
            {
                **values,
                "_DTItemId": str(item.get("_DTItemId") or f"item-{number}"),
                "LastUpdatedTimeUTC": item.get("LastUpdatedTimeUTC"),
                "SearchKey": values.get(search_key, ""),
                "WatchlistItem": values,
            }
        )
    return columns, rows


def _rows_of(value: Any, what: str, base_dir: Path, root: Path, source: LoadedYaml, path: JsonPath) -> list[_Row]:
    if isinstance(value, str):
        return _file_rows(value, base_dir, root, source, path)
    if isinstance(value, list):
        return _yaml_rows(value, source, path)
    raise _fail((source.path, source.position(path)), BAD_VALUE,
                f"{what}: give a list of rows or the path of a .jsonl or .csv file")  # fmt: skip


def platform_data_for_test(
    test: Mapping[str, Any], detection_file: Path, source: LoadedYaml, test_index: int, environment: Environment,
    *, root: Path,
) -> dict[str, tuple[dict[str, str], list[dict[str, Any]]]]:  # fmt: skip
    """The test's `watchlists:`, `resource_graph:` and `file_profiles:` as emulator tables: name ->
    (columns, typed rows)."""
    base_dir = detection_file.parent
    result: dict[str, tuple[dict[str, str], list[dict[str, Any]]]] = {}
    for alias, spec in (test.get("watchlists") or {}).items() if environment.dialect == "sentinel" else ():
        path: JsonPath = ("tests", test_index, "watchlists", alias)
        if not isinstance(spec, Mapping) or not spec.get("search_key"):
            raise _fail((source.path, source.position(path)), BAD_VALUE,
                        f"watchlist '{alias}': give search_key (its search key column) and items")  # fmt: skip
        items = _rows_of(spec.get("items"), f"watchlist '{alias}'", base_dir, root, source, (*path, "items"))
        search_key = str(spec.get("search_key"))
        if items and not any(search_key in row.values for row in items):
            raise _fail((source.path, source.position((*path, "search_key"))), UNKNOWN_COLUMN,
                        f"watchlist '{alias}': no item has the search key column '{search_key}'")  # fmt: skip
        for row in items:  # the one typed column an item may give
            when = row.values.get("LastUpdatedTimeUTC")
            if when is not None:
                at = row.where("LastUpdatedTimeUTC", False)
                row.values["LastUpdatedTimeUTC"] = _typed(when, "datetime", alias, "LastUpdatedTimeUTC", at)
        result[watchlist_table(alias)] = watchlist_rows([row.values for row in items], search_key)
    for name, spec in (test.get("resource_graph") or {}).items() if environment.dialect == "sentinel" else ():
        # Azure Resource Graph's tables (arg("").Resources) have one schema per resource type: the columns
        # are the ones the rows give, typed from their values as for a table no schema knows.
        path = ("tests", test_index, "resource_graph", name)
        rows = _rows_of(spec, f"resource graph table '{name}'", base_dir, root, source, path)
        cells: dict[str, list[Any]] = {}
        for row in rows:
            for column, cell in row.values.items():
                cells.setdefault(column, []).append(cell)
        columns = {column: infer_type(values) for column, values in cells.items()}
        result[resource_graph_table(name)] = (columns, type_rows(rows, name, columns, environment.dialect))
    profiles = test.get("file_profiles")
    if profiles is not None:
        schema = environment.function_tables.get("FileProfile")
        path = ("tests", test_index, "file_profiles")
        if schema is None:  # a Sentinel run of a test that runs in both dialects: Defender's data only
            return result
        rows = _rows_of(profiles, "file_profiles", base_dir, root, source, path)
        columns = dict(schema.columns)
        result[FILE_PROFILE_TABLE] = (columns, type_rows(rows, "FileProfile", columns, environment.dialect))
    return result
