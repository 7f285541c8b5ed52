"""bench/conformance_refusal_reasons.json: why each documented example the emulator refuses stays refused.
Each entry names a case of ../shared/conformance/dev.jsonl and gives a reason (the harness prints it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT.parent / "shared" / "conformance" / "dev.jsonl"
REASONS = ROOT / "bench" / "conformance_refusal_reasons.json"


@pytest.mark.skipif(not CASES.is_file(), reason="../shared/conformance is not available")
def test_every_refusal_reason_names_a_case_and_says_why():
    reasons = json.loads(REASONS.read_text(encoding="utf-8"))
    ids = {json.loads(line)["id"] for line in CASES.read_text(encoding="utf-8").splitlines() if line.strip()}
    assert sorted(set(reasons) - ids) == []
    assert all(isinstance(reason, str) and len(reason) > 40 for reason in reasons.values())
