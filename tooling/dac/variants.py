"""Building each dialect's variant of a detection: the query a platform runs, rendered and bound.

Each enabled dialect's query is its hand-written `variants.<dialect>.text`, or `query.text`
rendered from the query's dialect into that dialect. Jinja2 parameters are filled in first (only
for a detection that declares `parameters`). Every variant is parsed, bound against its dialect's
schemas and linted; `query_position` maps an offset in a variant back to line:col in the YAML file.
Validation (checks/kql.py), the test runner, rendering and the deployer all start from here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .diagnostics import Position
from .kql import KqlDiagnostic, LineIndex, parse
from .kql.binder import Binder, BindResult
from .kql.lints import lint
from .kql.names import name_text
from .kql.render import render
from .kql.syntax import Node
from .kql.types import RowSchema
from .model.detection import Detection
from .model.parameters import ParameterError, declares_parameters
from .model.tables import environment
from .model.yamlsource import JsonPath


@dataclass
class Variant:
    """One dialect's query of a detection, as rendered and bound."""

    dialect: str
    source_text: str  # the text in the YAML file (after parameters)
    path: JsonPath  # where the source text sits in the YAML document
    text: str = ""  # the query for this dialect
    diagnostics: list[KqlDiagnostic] = field(default_factory=list)  # offsets in source_text
    output: RowSchema | None = None
    tables: set[str] = field(default_factory=set)
    parameter_error: ParameterError | None = None
    lets: set[str] | None = None  # the names `text`'s top-level let statements define (when it parses)
    # Maps an offset in `text` back to `source_text` (the rendering's edits; identity otherwise).
    source_offset: Callable[[int], int] = field(default=lambda offset: offset)


def build_variants(
    detection: Detection, tables_folder: Path | None = None, parameters: dict[str, Any] | None = None
) -> list[Variant]:
    """Render and bind every enabled dialect of a detection.

    Only a detection that declares `parameters` has a template for a query; `parameters` (a test's or a
    deployment target's) override the defaults of the names the detection declares, and are ignored
    otherwise (checks.parameters reports names a detection does not declare)."""
    values = template_values(detection, parameters)
    query = detection.data["query"]
    hunting = detection.kind == "hunting"
    variants = []
    for dialect in detection.enabled_dialects():
        override = detection.variant(dialect).get("text")
        path: JsonPath = ("variants", dialect, "text") if override else ("query", "text")
        raw = override or query["text"]
        variant = Variant(dialect, raw, path)
        try:
            variant.source_text = raw if values is None else _rendered(raw, values)
        except ParameterError as exc:
            variant.parameter_error = exc
            variants.append(variant)
            continue
        target = environment(dialect, tables_folder)
        if override or query["dialect"] == dialect:
            variant.text = variant.source_text
            parsed = parse(variant.text)
            variant.diagnostics = list(parsed.diagnostics)
            variant.lets = let_names_of(parsed.tree)
            if not parsed.diagnostics:
                binder = Binder(target)
                variant.output = binder.bind_query(parsed.tree)
                variant.tables = binder.tables_read
                variant.diagnostics += binder.diagnostics
                bound = BindResult(binder.diagnostics, variant.output, binder.tables_read)
                variant.diagnostics += lint(parsed.tree, bound, hunting=hunting, tables=target.tables)
        else:
            rendered = render(variant.source_text, environment(query["dialect"], tables_folder), target)
            variant.text, variant.output, variant.tables = rendered.text, rendered.output, rendered.tables
            variant.source_offset = rendered.source_offset
            variant.diagnostics = list(rendered.diagnostics)
            parsed = parse(rendered.text)
            variant.lets = let_names_of(parsed.tree)
            if not parsed.diagnostics:
                bound = BindResult([], rendered.output, rendered.tables)
                for finding in lint(parsed.tree, bound, hunting=hunting, tables=target.tables):
                    start = rendered.source_offset(finding.start)
                    variant.diagnostics.append(
                        KqlDiagnostic(finding.code, finding.message, start, start, finding.severity)
                    )
        variants.append(variant)
    return variants


def let_names_of(tree: Node) -> set[str]:
    """Names a query defines with top-level let statements (the test runner keeps them from fixture tables)."""
    statements = tree["statements"] or []
    return {name_text(s["name"]) for s in statements if s.kind == "LetStatement" and s["name"] is not None}


def _rendered(text: str, values: dict[str, Any]) -> str:
    from .model.templating import render_parameters  # Jinja2 is loaded only for a detection with parameters

    return render_parameters(text, values)


def template_values(detection: Detection, overrides: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The values a detection's query template is rendered with; None when the query is no template."""
    if not declares_parameters(detection.data):
        return None
    declared = detection.data["parameters"]
    return {**declared, **{name: value for name, value in (overrides or {}).items() if name in declared}}


def parameter_error_position(detection: Detection, variant: Variant) -> Position:
    """Where a variant's ParameterError points in the YAML file (its line and column in the query)."""
    problem = variant.parameter_error
    assert problem is not None
    lines = variant.source_text.split("\n")
    line = min(max(problem.line, 1), len(lines))
    offset = sum(len(text) + 1 for text in lines[: line - 1]) + min(problem.column - 1, len(lines[line - 1]))
    return query_position(detection, variant, offset)


def query_position(detection: Detection, variant: Variant, offset: int) -> Position:
    """Map an offset in a variant's source text to line:col in the YAML file."""
    line, column = LineIndex(variant.source_text).position(offset)
    block = detection.source.block_starts.get(variant.path)
    if block is not None:  # literal block scalar: lines map one to one, shifted by the indentation
        return Position(block.line + line - 1, block.column + column - 1)
    start = detection.position(variant.path)  # a quoted or plain scalar: best effort on its first line
    return Position(start.line + line - 1, (start.column + column) if line == 1 else column)
