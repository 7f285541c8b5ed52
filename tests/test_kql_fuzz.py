"""Mutated real queries never crash the lexer or parser, always round-trip, and stay fast."""

from __future__ import annotations

import json
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dac.kql import parse

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "queries-dev.jsonl"
# Without ../shared the fuzzer still runs, on a few queries of our own.
FALLBACK = [
    'let x = 5m;\nDeviceEvents\n| where Timestamp > ago(x) and FileName has_any ("a.exe", @"b\\c")\n| take 10',
    "T | summarize count(), dcount(A) by bin(Timestamp, 1h), B\n| join kind=leftouter (U | project A) on A",
    "datatable(a:string, b:dynamic)['x', dynamic({\"k\": [1, 2]})]\n| mv-expand b to typeof(long)",
    "union withsource=T isfuzzy=true Device*, (S | where x == 'y')\n| parse C with * 'id=' Id:long ',' *",
]
QUERIES = (
    [json.loads(line)["query"] for line in CORPUS.read_text(encoding="utf-8").splitlines()[:400]]
    if CORPUS.is_file()
    else FALLBACK
)
FRAGMENTS = [
    "(", ")", "[", "]", "{", "}", "|", ";", ",", ".", "..", "=", "==", "!", "!in~", "'", '"', "@'", "h'", "```",
    "//", "\n", "\t", " ", "let", "where", "summarize", "by", "join", "on", "kind=", "dynamic(", "datetime(",
    "materialize(", "$left.", "*", "-", "1d", "0x", "\\", "#", "\x00", "\u202f", "é", "mv-apply", "on (", "with",
]  # fmt: skip


@st.composite
def mutated_queries(draw) -> str:
    text = draw(st.sampled_from(QUERIES))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        if not text:
            text = draw(st.sampled_from(FRAGMENTS))
        start = draw(st.integers(min_value=0, max_value=len(text)))
        end = draw(st.integers(min_value=start, max_value=min(len(text), start + 200)))
        mutation = draw(st.sampled_from(["cut", "duplicate", "insert_fragment", "insert_text", "truncate"]))
        if mutation == "cut":
            text = text[:start] + text[end:]
        elif mutation == "duplicate":
            text = text[:end] + text[start:end] + text[end:]
        elif mutation == "insert_fragment":
            text = text[:start] + draw(st.sampled_from(FRAGMENTS)) + text[start:]
        elif mutation == "insert_text":
            text = text[:start] + draw(st.text(max_size=8)) + text[start:]
        else:
            text = text[:start]
    return text


@settings(
    max_examples=10_000,
    deadline=None,  # timed below against the 1 s budget; hypothesis' own deadline is flaky on shared CI
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutated_queries())
def test_mutated_queries_parse_without_crashing(text: str):
    start = time.perf_counter()
    result = parse(text)
    elapsed = time.perf_counter() - start
    assert result.tree.text() == text
    assert elapsed < 1.0, f"{elapsed:.2f}s for {text[:80]!r}"
    for diagnostic in result.diagnostics:
        assert 0 <= diagnostic.start <= diagnostic.end <= len(text)
