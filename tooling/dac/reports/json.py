"""Machine-readable output: one JSON document with the diagnostics and a summary (and, for
`dac check` and `dac test`, every test run, failed ones also among the diagnostics)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..diagnostics import Diagnostic


def render(diagnostics: Iterable[Diagnostic], summary: dict[str, Any]) -> str:
    document = {"diagnostics": [d.as_dict() for d in diagnostics], "summary": summary}
    return json.dumps(document, indent=2, ensure_ascii=False)


def test_entries(results: Sequence[Any]) -> list[dict[str, Any]]:
    """One entry per test run (testing.TestResult): where, status, and why when it did not pass."""
    entries = []
    for r in results:
        entry: dict[str, Any] = {
            "detection": r.detection, "file": r.file, "test": r.test, "dialect": r.dialect, "status": r.status,
            "message": r.message, "duration": round(r.duration, 3),
        }  # fmt: skip
        if r.diagnostics:
            entry["diagnostics"] = [d.as_dict() for d in r.diagnostics]
        if r.details:
            entry["details"] = r.details
        entries.append(entry)
    return entries


def render_check(
    diagnostics: Sequence[Diagnostic], summary: Mapping[str, Any], results: Sequence[Any], tests: Mapping[str, Any]
) -> str:
    """`dac check`: validation findings and the findings of tests that failed or could not run, in one list
    (a tool that reads only `diagnostics` still sees a failing run), the tests, and both summaries."""
    failed = [d for r in results for d in r.diagnostics]
    document = {
        "diagnostics": [d.as_dict() for d in [*diagnostics, *failed]],
        "tests": test_entries(results),
        "summary": {**summary, "tests": dict(tests)},
    }
    return json.dumps(document, indent=2, ensure_ascii=False)


def json_document(results: Sequence[Any], summary: Mapping[str, Any], diagnostics: Sequence[Diagnostic] = ()) -> str:
    """`dac test --format json`: every test run, the summary, and the findings of invalid detections."""
    document = {
        "tests": test_entries(results),
        "summary": dict(summary),
        "diagnostics": [d.as_dict() for d in diagnostics],
    }
    return json.dumps(document, indent=2, ensure_ascii=False)
