"""The parser against real-world queries: rates from the issue, round trip, no exceptions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dac.kql import parse


@pytest.fixture(scope="module")
def corpus(shared: Path) -> list[dict]:
    path = shared / "corpus" / "queries-dev.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def results(corpus: list[dict]) -> list[tuple[dict, object]]:
    return [(row, parse(row["query"])) for row in corpus]


@pytest.fixture(scope="module")
def shared() -> Path:
    path = Path(__file__).resolve().parents[1].parent / "shared"
    if not path.is_dir():
        pytest.skip("../shared is not present")
    return path


def test_valid_queries_parse_cleanly(results):
    valid = [(row, result) for row, result in results if not row["official_syntax_errors"]]
    flagged = [row["id"] for row, result in valid if result.diagnostics]
    assert len(valid) > 2000
    assert 1 - len(flagged) / len(valid) >= 0.995, flagged[:20]


def test_invalid_queries_are_flagged(results):
    invalid = [(row, result) for row, result in results if row["official_syntax_errors"]]
    missed = [row["id"] for row, result in invalid if not result.diagnostics]
    assert len(invalid) > 100
    assert 1 - len(missed) / len(invalid) >= 0.90, missed


def test_every_query_round_trips(results):
    assert [row["id"] for row, result in results if result.tree.text() != row["query"]] == []


def test_diagnostics_point_inside_the_query(results):
    for row, result in results:
        for diagnostic in result.diagnostics:
            assert 0 <= diagnostic.start <= diagnostic.end <= len(row["query"]), row["id"]
