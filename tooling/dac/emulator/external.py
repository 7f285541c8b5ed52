"""`externaldata` from the local files a test maps its URLs to: the operator's parts (columns, URLs,
properties), the files read as rows of text, each cell typed as its column.

The emulator's compiler loads the rows into a table; the Kusto engine (dac.engines) writes them into the
query as a `datatable`, so both read a test's files the same way.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..kql.lexer import Token
from ..kql.names import name_text, string_value
from ..kql.syntax import Node
from ..kql.types import normalize_type
from .errors import EmulatorError, offset_of
from .literals import parse_datetime


@dataclass(frozen=True)
class ExternalSource:
    """One `externaldata (columns) [urls] with (properties)` of a query."""

    columns: list[tuple[str, str]]
    urls: list[tuple[str, int]]  # (URL, its offset in the query text)
    properties: dict[str, str]  # lower-cased names


def declared_columns(schema: Node | None) -> list[tuple[str, str]]:
    """(name, KQL type) of a `(name: type, ...)` schema; a type dac does not know reads as string."""
    columns = []
    for column in (schema["columns"] if schema is not None else []) or []:
        kind = normalize_type(name_text(column.children[-1]))
        columns.append((name_text(column["name"]), "string" if kind == "unknown" else kind))
    return columns


def external_source(node: Node) -> ExternalSource:
    """The parts of an ExternalData node."""
    urls = []
    for child in node.children:
        if isinstance(child, Node) and child.kind == "Literal":
            urls.append(
                ("".join(string_value(t.text) for t in child.children if isinstance(t, Token)), offset_of(child))
            )
    properties = {}
    for child in node.children:
        if isinstance(child, Node) and child.kind == "Properties":
            for item in child.children:
                if isinstance(item, Node) and item.kind == "Assignment":
                    properties[name_text(item["name"]).lower()] = item["value"].text().strip().strip("'\"")
    return ExternalSource(declared_columns(node["schema"]), urls, properties)


def unmapped(url: str, offset: int) -> EmulatorError:
    return EmulatorError(
        "EMU007", f"externaldata URL '{url}' is not mapped to a local file in this test "
        "(add it under the test's externaldata:); the emulator never uses the network", offset
    )  # fmt: skip


def read_external(path: Path, properties: dict[str, str]) -> list[list[str]]:
    """The file's records as lists of text cells: csv (the default), tsv or txt (a line per record), a .zip
    holding one such file; `ignoreFirstRecord=true` drops the header line."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise EmulatorError("EMU007", f"cannot read externaldata file {path}: {exc.strerror}") from None
    if path.suffix == ".zip":
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            raw = archive.read(archive.namelist()[0])
    text = raw.decode("utf-8-sig")
    fmt = properties.get("format", "csv").lower()
    if fmt == "txt":
        rows = [[line] for line in text.splitlines()]
    else:
        rows = list(csv.reader(io.StringIO(text), delimiter="\t" if fmt in ("tsv", "tsve") else ","))
    if properties.get("ignorefirstrecord", "false").lower() == "true":
        rows = rows[1:]
    return rows


def typed_rows(columns: list[tuple[str, str]], rows: list[list[str]]) -> list[dict[str, Any]]:
    """Text records -> {column: value} of each column's type (a cell that does not parse is null; a record
    shorter than the columns leaves the rest out)."""
    return [{name: typed_cell(value, kind) for (name, kind), value in zip(columns, row, strict=False)} for row in rows]


def typed_cell(value: str, kind: str) -> Any:
    if kind == "string":
        return value
    if value == "":
        return None
    try:
        if kind in ("long", "int"):
            return int(value)
        if kind == "real":
            return float(value)
        if kind == "bool":
            return value.strip().lower() == "true"
        if kind == "datetime":
            return parse_datetime(value)
        if kind == "dynamic":
            return json.loads(value)
    except ValueError:
        return None
    return value
