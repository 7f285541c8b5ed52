"""Machine-readable output: one JSON document with the diagnostics and a summary."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from ..diagnostics import Diagnostic


def render(diagnostics: Iterable[Diagnostic], summary: dict[str, Any]) -> str:
    document = {"diagnostics": [d.as_dict() for d in diagnostics], "summary": summary}
    return json.dumps(document, indent=2, ensure_ascii=False)
