"""Markdown hunting documents -> detection data (the dict that becomes a YAML file)."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

from ..diagnostics import Diagnostic, Position, error
from ..kql.render import render
from ..model.attack import load_catalog
from ..model.tables import environment
from .markdown import ImportedQuery, MarkdownImportError, parse_markdown_hunting


class ImportFailure(Exception):
    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.format())
        self.diagnostic = diagnostic


def convert_documents(files: list[Path], fallback_date: dt.date) -> list[tuple[Path, dict[str, Any]]]:
    """Parse every document first, so that one bad document means nothing is written."""
    converted = []
    for file in files:
        raw = file.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            raise ImportFailure(error(str(file), Position(line, 1), "DAC501", "document is not valid UTF-8")) from None
        try:
            imported = parse_markdown_hunting(text, str(file))
        except MarkdownImportError as exc:
            raise ImportFailure(
                error(str(file), Position(exc.line, exc.column), "DAC502", f"cannot import: {exc}")
            ) from None
        converted.append((file, to_detection(imported, fallback_date)))
    return converted


def _tactics_for(techniques: list[str]) -> list[str]:
    catalog = load_catalog()
    wanted: set[str] = set()
    for technique_id in techniques:
        technique = catalog.techniques.get(technique_id)
        if technique is None:
            continue
        if technique.replacement:
            technique = catalog.techniques[technique.replacement]
        wanted.update(technique.tactics)
    return [name for name in catalog.tactics if name in wanted]  # ATT&CK's kill-chain order


def to_detection(imported: ImportedQuery, fallback_date: dt.date) -> dict[str, Any]:
    query_dialect, query_text = "defender", imported.defender_query
    if query_text is None:
        query_dialect, query_text = "sentinel", imported.sentinel_query
    if query_text is None:  # the parser guarantees one of them; keep the failure readable anyway
        raise ImportFailure(error(imported.source, Position(), "DAC502", "cannot import: the document holds no query"))
    created = imported.created or fallback_date.isoformat()
    description = imported.description.strip() or f"{imported.title}."
    data: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "name": imported.title,
        "description": description + "\n",
        "kind": "hunting",
        "status": "experimental",
        "authors": imported.authors or ["unknown"],
        "created": created,
        "modified": created,
        "version": "1.0.0",
    }
    if imported.references:
        data["references"] = imported.references
    if imported.techniques:
        data["mitre"] = {"tactics": _tactics_for(imported.techniques), "techniques": imported.techniques}
    data["query"] = {"dialect": query_dialect, "text": query_text}
    sentinel = imported.sentinel_query
    if query_dialect == "defender" and sentinel and not _renders_to(query_text, sentinel):
        data["variants"] = {"sentinel": {"text": sentinel}}
    return data


def _renders_to(defender_text: str, sentinel_text: str) -> bool:
    """Whether dac's rendering of the Defender block gives the Sentinel block (an override is then noise)."""
    rendered = render(defender_text, environment("defender"), environment("sentinel")).text
    return rendered.strip() == sentinel_text.strip()
