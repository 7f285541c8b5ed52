"""The emulator on the KQL reference's documented examples (../shared/conformance/dev.jsonl).

Acceptance of the emulator: at least 85% of the scored cases pass, and none gives a wrong answer;
what remains is refused ("unsupported: X") or a documentation error listed with its reason in
bench/conformance_known_doc_errors.json. Skipped when ../shared is absent.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT.parent / "shared" / "conformance" / "dev.jsonl"

pytestmark = pytest.mark.skipif(not CASES.is_file(), reason="../shared/conformance is not available")


def _harness():
    spec = importlib.util.spec_from_file_location("conformance_harness", ROOT / "bench" / "conformance.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def scored():
    harness = _harness()
    return harness.score(harness.load_cases(CASES))


def test_no_documented_example_gets_a_wrong_answer(scored):
    _counts, lines = scored
    wrong = [f"{line['id']}: {line['detail'][:200]}" for line in lines if line["status"] == "fail"]
    assert wrong == []


def test_at_least_85_percent_of_the_documented_examples_pass(scored):
    counts, _lines = scored
    total = counts["pass"] + counts["fail"] + counts["unsupported"]
    assert counts["pass"] / total >= 0.85, f"{counts['pass']}/{total} pass"


def test_every_listed_documentation_error_is_a_case_that_fails():
    # An entry for a case that passes (or no longer exists) would hide nothing; keep the list honest.
    known = json.loads((ROOT / "bench" / "conformance_known_doc_errors.json").read_text(encoding="utf-8"))
    ids = {json.loads(line)["id"] for line in CASES.read_text(encoding="utf-8").splitlines() if line.strip()}
    assert sorted(set(known) - ids) == []
    assert all(isinstance(reason, str) and len(reason) > 20 for reason in known.values())
