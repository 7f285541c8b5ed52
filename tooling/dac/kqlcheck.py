"""`dac kql check`: syntax diagnostics for bare queries from .kql files or JSON lines."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from .kql import LineIndex, parse
from .kql.binder import BindResult, bind
from .kql.lints import lint
from .model.tables import environment


@dataclass(frozen=True)
class QueryInput:
    id: Any  # the id given on the JSON line, or the file path
    label: str  # how text output names it
    text: str


@dataclass(frozen=True)
class PositionedError:
    code: str
    message: str
    line: int
    column: int
    severity: str = "error"


def read_jsonl(stream: TextIO, name: str = "<stdin>") -> tuple[list[QueryInput], list[str]]:
    inputs, problems = [], []
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{name}:{number}:{exc.colno}: not a JSON object: {exc.msg}")
            continue
        if not isinstance(record, dict) or not isinstance(record.get("query"), str):
            problems.append(f'{name}:{number}:1: expected {{"id": ..., "query": "<KQL>"}}')
            continue
        query_id = record.get("id")
        inputs.append(QueryInput(query_id, f"{name}:{query_id}" if query_id is not None else name, record["query"]))
    return inputs, problems


def read_files(paths: Iterable[Path]) -> tuple[list[QueryInput], list[str]]:
    inputs, problems = [], []
    for path in paths:
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except OSError as exc:
            problems.append(f"{path}: cannot read: {exc.strerror}")
            continue
        except UnicodeDecodeError:
            problems.append(f"{path}: not valid UTF-8")
            continue
        inputs.append(QueryInput(str(path), str(path), text))
    return inputs, problems


def analyse(text: str, dialect: str | None = None, tables_folder: Path | None = None) -> tuple[list, BindResult | None]:
    """Syntax diagnostics, and with a dialect the binder's and the lints' too (on a clean parse)."""
    result = parse(text)
    diagnostics = list(result.diagnostics)
    bound = None
    if dialect is not None and not result.diagnostics:
        target = environment(dialect, tables_folder)
        bound = bind(result, target)
        diagnostics += bound.diagnostics + lint(result.tree, bound, hunting=True, tables=target.tables)
    return diagnostics, bound


def check_text(text: str, dialect: str | None = None, tables_folder: Path | None = None) -> list[PositionedError]:
    diagnostics, _ = analyse(text, dialect, tables_folder)
    index = LineIndex(text)
    errors = []
    for diagnostic in sorted(diagnostics, key=lambda d: d.start):
        line, column = index.position(diagnostic.start)
        errors.append(PositionedError(diagnostic.code, diagnostic.message, line, column, diagnostic.severity))
    return errors


def check_inputs(
    inputs: Iterable[QueryInput], dialect: str | None = None, tables_folder: Path | None = None
) -> Iterator[tuple[QueryInput, list[PositionedError]]]:
    for query in inputs:
        yield query, check_text(query.text, dialect, tables_folder)
