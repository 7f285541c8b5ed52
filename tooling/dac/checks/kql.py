"""KQL checks on each dialect variant of a detection, positioned in the YAML file.

Each enabled dialect's query (its hand-written `variants.<dialect>.text`, else `query.text`) is
parsed and bound against that dialect's table schemas. Syntax errors are reported once; a
semantic finding that both dialects share is reported once, naming both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..detection import Detection
from ..diagnostics import Diagnostic, Position, Severity
from ..kql import KqlDiagnostic, LineIndex, parse
from ..kql.binder import BindResult, bind
from ..kql.lints import lint
from ..tables import environment
from ..yamlsource import JsonPath


@dataclass(frozen=True)
class QueryVariant:
    dialect: str
    text: str
    path: JsonPath  # where the text sits in the YAML document


def variants(detection: Detection) -> list[QueryVariant]:
    result = []
    for dialect in detection.enabled_dialects():
        override = detection.variant(dialect).get("text")
        if override:
            result.append(QueryVariant(dialect, override, ("variants", dialect, "text")))
        else:
            result.append(QueryVariant(dialect, detection.data["query"]["text"], ("query", "text")))
    return result


def query_position(detection: Detection, variant: QueryVariant, offset: int, index: LineIndex) -> Position:
    """Map an offset in the query text to line:col in the YAML file."""
    line, column = index.position(offset)
    block = detection.source.block_starts.get(variant.path)
    if block is not None:  # literal block scalar: lines map one to one, shifted by the indentation
        return Position(block.line + line - 1, block.column + column - 1)
    start = detection.position(variant.path)  # a quoted or plain scalar: best effort on its first line
    return Position(start.line + line - 1, (start.column + column) if line == 1 else column)


def check(detection: Detection, tables_folder: Path | None = None) -> list[Diagnostic]:
    suppressed = set(detection.data.get("suppress") or [])
    hunting = detection.kind == "hunting"
    findings: dict[tuple[Position, str, str], tuple[Diagnostic, list[str]]] = {}
    for variant in variants(detection):
        parsed = parse(variant.text)
        index = LineIndex(variant.text)
        raw: list[KqlDiagnostic] = list(parsed.diagnostics)
        if not parsed.diagnostics:  # binding a broken tree would only add noise
            bound: BindResult = bind(parsed, environment(variant.dialect, tables_folder))
            raw.extend(bound.diagnostics)
            raw.extend(lint(parsed.tree, bound, hunting=hunting))
        for finding in raw:
            if finding.severity == "warning" and finding.code in suppressed:
                continue
            position = query_position(detection, variant, finding.start, index)
            key = (position, finding.code, finding.message)
            if key in findings:
                findings[key][1].append(variant.dialect)
                continue
            severity = Severity.ERROR if finding.severity == "error" else Severity.WARNING
            diagnostic = Diagnostic(detection.display, position, severity, finding.code, finding.message)
            findings[key] = (diagnostic, [variant.dialect])
    results = []
    for diagnostic, dialects in findings.values():
        syntax = diagnostic.code < "KQL100"
        if not syntax and len(dialects) < len(detection.enabled_dialects()):
            diagnostic = Diagnostic(
                diagnostic.path, diagnostic.position, diagnostic.severity, diagnostic.code,
                f"{diagnostic.message} (in {', '.join(d.title() for d in dialects)})", diagnostic.notes,
            )  # fmt: skip
        results.append(diagnostic)
    return results
