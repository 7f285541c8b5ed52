"""Mutated real queries never crash the lexer or parser, always round-trip, and stay fast.

Long and deep queries (issue 14): chains of 10,000 operators, lists of 10,000 values and 1 MB queries
are parsed, bound, linted, rendered and run by the emulator with the right answer; nesting deeper than
MAX_NESTING is refused with KQL010 where the limit is reached; and nothing reaches Python's recursion
limit, even when called with many frames already on the stack."""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dac.emulator import Emulator, EmulatorError
from dac.kql import ParseResult, parse, tokenize
from dac.kql.binder import BindResult, bind
from dac.kql.lints import lint
from dac.kql.parser import MAX_NESTING
from dac.kql.render import render
from dac.model.tables import environment

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
    assert elapsed < 10.0, f"{elapsed:.2f}s for {text[:80]!r}"  # a guard against runaway (quadratic) parsing
    for diagnostic in result.diagnostics:
        assert 0 <= diagnostic.start <= diagnostic.end <= len(text)


# --------------------------------------------------------------------------------------- long and deep inputs
_T = TypeVar("_T")
DEFENDER = environment("defender")
SENTINEL = environment("sentinel")
TERMS = 10_000
# Frames a caller may already have on the stack (a CLI inside pytest inside hypothesis uses about 100).
CALLER_FRAMES = 300


def no_recursion(what: str, run: Callable[[], _T]) -> _T:
    """run(); the test fails (rather than errors) if it reaches Python's recursion limit."""
    try:
        return run()
    except RecursionError:
        pytest.fail(f"{what} reached Python's recursion limit")


def stack_depth() -> int:
    frame, depth = sys._getframe(), 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    return depth


def from_deep_stack(run: Callable[[], _T], frames: int = CALLER_FRAMES) -> _T:
    """run() with `frames` frames below it (pytest's own included), as when a CLI calls it."""
    if stack_depth() < frames:
        return from_deep_stack(run, frames)
    return run()


def front_end(text: str, *, clean: bool = True) -> tuple[ParseResult, BindResult]:
    """Parse, bind, lint and render (Defender to Sentinel) a query; with `clean`, it must have no errors."""
    parsed = no_recursion("the parser", lambda: parse(text))
    assert parsed.tree.text() == text
    bound = no_recursion("the binder", lambda: bind(parsed, DEFENDER))
    no_recursion("the lints", lambda: lint(parsed.tree, bound, hunting=True))
    rendered = no_recursion("the renderer", lambda: render(text, DEFENDER, SENTINEL))
    if clean:
        assert parsed.diagnostics == []
        assert [d for d in bound.diagnostics if d.severity == "error"] == []
        assert [d for d in rendered.diagnostics if d.severity == "error"] == []
    return parsed, bound


def emulate_with(text: str, tables: dict[str, list[dict[str, Any]]] | None = None) -> list[list]:
    engine = Emulator(DEFENDER)
    try:
        for name, rows in (tables or {}).items():
            engine.load_table(name, rows)
        return [list(row) for row in no_recursion("the emulator", lambda: engine.run(text)).rows]
    finally:
        engine.close()


def emulator_refusal(text: str) -> EmulatorError:
    with pytest.raises(EmulatorError) as caught:
        emulate_with(text)
    return caught.value


HOSTS = {"DeviceInfo": [{"DeviceName": "h4999", "OSPlatform": "Windows11"}, {"DeviceName": "elsewhere"}]}


def _hosts_where(condition: str) -> str:
    return f"DeviceInfo\n| where {condition}\n| project DeviceName"


CHAINS = {
    "or of ==": (_hosts_where(" or ".join(f'DeviceName == "h{i}"' for i in range(TERMS))), [["h4999"]]),
    "and of !=": (_hosts_where(" and ".join(f'DeviceName != "h{i}"' for i in range(TERMS))), [["elsewhere"]]),
    "or of and, ==, + and * mixed": (
        _hosts_where(" or ".join(f'DeviceName == "h{i}" and strlen(DeviceName) * 2 + {i} > {i}' for i in range(TERMS))),
        [["h4999"]],
    ),
    "in": (_hosts_where("DeviceName in (" + ", ".join(f'"h{i}"' for i in range(TERMS)) + ")"), [["h4999"]]),
    "!in~": (_hosts_where("DeviceName !in~ (" + ", ".join(f'"H{i}"' for i in range(TERMS)) + ")"), [["elsewhere"]]),
    "has_any": (
        _hosts_where("DeviceName has_any (" + ", ".join(f'"H{i}"' for i in range(TERMS)) + ")"),
        [["h4999"]],
    ),
    "+": ("print x = " + " + ".join(str(i) for i in range(TERMS)), [[sum(range(TERMS))]]),
    "+ and - mixed": (
        "print x = 0" + "".join(f" {'+' if i % 2 else '-'} {i}" for i in range(TERMS)),
        [[sum(i if i % 2 else -i for i in range(TERMS))]],
    ),
    "+ of reals": ("print x = 0.5" + " + 0.1" * TERMS, [[sum([0.5] + [0.1] * TERMS)]]),  # same order, same sum
    "datetime + timespans": (
        "print x = datetime(2024-01-01)" + " + 1s" * TERMS,
        [[dt.datetime(2024, 1, 1) + dt.timedelta(seconds=TERMS)]],
    ),
}


@pytest.mark.parametrize("name", list(CHAINS))
def test_a_chain_of_10000_operators_is_parsed_bound_rendered_and_run(name: str):
    text, expected = CHAINS[name]
    front_end(text)
    assert emulate_with(text, HOSTS) == expected


def test_has_any_of_many_terms_matches_as_each_term_does():
    """Past 64 string literals has_any is one regular expression: it must agree with the term-by-term test."""
    texts = ["run h4999.exe now", "H17", "xh17", "h17y", "a-h3_b", "h3_b", "ünïcode Ü1", "", "tab\th9\tend"]
    terms = ["h4999.exe", "h17", "h3_b", "ü1", "Ü1", "h9", *(f"pad{i}" for i in range(70))]
    table = "datatable(t:string)[" + ", ".join(json.dumps(t) for t in texts) + "]"
    listed = ", ".join(json.dumps(t) for t in terms)
    one_by_one = " or ".join(f"t has {json.dumps(term)}" for term in terms)
    assert emulate_with(f"{table} | where t has_any ({listed})") == emulate_with(f"{table} | where {one_by_one}")
    assert emulate_with(f"{table} | where not(t has_any ({listed}))") == emulate_with(
        f"{table} | where not({one_by_one})"
    )
    assert len(emulate_with(f"{table} | where t has_any ({listed}, '')")) == len(texts)  # every text has ''


def test_a_long_chain_of_comparisons_lints_in_linear_time():
    text = "DeviceEvents | where " + " < ".join(str(i) for i in range(TERMS))
    parsed, bound = front_end(text)
    start = time.perf_counter()
    findings = lint(parsed.tree, bound, hunting=True)
    assert time.perf_counter() - start < 5, "the time-filter lint walks each comparison's subtree again"
    assert [f.code for f in findings] == ["KQL303"]


def test_a_long_chain_of_repeated_operands_is_refused_before_its_sql_explodes():
    """`x == true == true ...` names each left operand three times in SQL: 3^n characters, refused."""
    refusal = emulator_refusal("print x = 1 == 1" + " == true" * 100)
    assert refusal.code == "EMU001" and "MB" in refusal.message


def test_a_long_arithmetic_chain_of_mixed_types_is_refused_clearly():
    refusal = emulator_refusal("print x = 1" + " + 1 + 1.5" * 200)
    assert refusal.code == "EMU001" and "arithmetic operators" in refusal.message


# Constructs nested n times: prefix + opener * n + middle + closer * n + suffix. Each is valid KQL that the
# emulator runs at any depth the parser accepts.
NESTINGS: dict[str, tuple[str, str, str, str, str]] = {
    "parentheses": ("print x = ", "(", "1", ")", ""),
    "function calls": ("print x = ", "abs(", "1", ")", ""),
    "string functions": ("print x = ", "strcat('a', ", "'b'", ")", ""),
    "unary minus": ("print x = ", "-", "1", "", ""),
    "not()": ("print x = ", "not(", "true", ")", ""),
    "dynamic arrays": ("print x = dynamic(", "[", "1", "]", ")"),
    "dynamic objects": ("print x = dynamic(", '{"a": ', "1", "}", ")"),
    "property accesses": ('print x = dynamic({"a": 1})', ".a", "", "", ""),
    "element accesses": ("print x = dynamic([1])", "[0]", "", "", ""),
    "right operands": ("print x = ", "false or (", "true", ")", ""),
    "precedence ladder": ("print x = ", "1 + 2 * (", "1", ")", ""),
    "in lists": ("print x = ", "iff(1 in (2, ", "1", "), 1, 0)", ""),
    "between": ("print x = ", "iff(1 between (0 .. ", "2", "), 2, 0)", ""),
    "toscalar sub-queries": ("print x = ", "toscalar(print y = ", "1", ")", ""),
    "let function bodies": ("", "let f = () { ", "print y = 1", " };\nf()", ""),
    "mv-apply sub-queries": ("datatable(d:dynamic)[dynamic([1])]\n| ", "extend d = pack_array(d) | mv-apply d on (",
                             "take 1", ")", ""),
    "join right sides": ("print a = 1", " | join (print a = 1", "", ") on a", ""),
    "union legs": ("", "union (", "print a = 1", ")", ""),
    "materialize": ("", "materialize(", "print a = 1", ")", ""),
    "sub-query filters": ("DeviceInfo | where DeviceName in (", "DeviceInfo | where DeviceName in (", "'h4999'",
                          ") | project DeviceName", ")"),
}  # fmt: skip


def nested(name: str, depth: int) -> str:
    prefix, opener, middle, closer, suffix = NESTINGS[name]
    return prefix + opener * depth + middle + closer * depth + suffix


def deepest_accepted(name: str) -> int:
    """The largest depth of a nesting that parses without KQL010."""
    low, high = 0, MAX_NESTING + 1
    while low < high:
        middle = (low + high + 1) // 2
        if any(d.code == "KQL010" for d in parse(nested(name, middle)).diagnostics):
            high = middle - 1
        else:
            low = middle
    return low


@pytest.mark.parametrize("name", list(NESTINGS))
def test_nesting_10000_deep_is_refused_where_the_limit_is_reached(name: str):
    prefix, opener, *_ = NESTINGS[name]
    accepted = deepest_accepted(name)
    assert 1 <= accepted <= MAX_NESTING
    text = nested(name, TERMS)
    parsed, _ = front_end(text, clean=False)  # nothing below may recurse on the rest of the text either
    assert [d.code for d in parsed.diagnostics] == ["KQL010"], parsed.diagnostics[:3]
    diagnostic = parsed.diagnostics[0]
    refused_unit = len(prefix) + accepted * len(opener)  # the first construct past the limit
    assert refused_unit <= diagnostic.start < refused_unit + len(opener)
    assert f"nested deeper than {MAX_NESTING} levels" in diagnostic.message
    refusal = emulator_refusal(text)
    assert refusal.code == "EMU004" and refusal.offset == diagnostic.start


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("print x = " + "(" * TERMS + "1" + ")" * TERMS, len("print x = ") + MAX_NESTING),
        ("print x = " + "abs(" * TERMS + "1" + ")" * TERMS, len("print x = ") + 4 * MAX_NESTING + 3),
        ("print x = dynamic(" + "[" * TERMS + "]" * TERMS + ")", len("print x = dynamic(") + MAX_NESTING - 1),
    ],
    ids=["parentheses", "calls", "dynamic"],
)
def test_the_refusal_points_at_the_first_level_past_the_limit(text: str, offset: int):
    (diagnostic,) = parse(text).diagnostics
    assert (diagnostic.code, diagnostic.start) == ("KQL010", offset)
    assert text[offset] in "(["


@pytest.mark.parametrize("name", list(NESTINGS))
def test_the_deepest_nesting_accepted_runs_everywhere_from_a_deep_stack(name: str):
    """At the limit every consumer (and DuckDB) still has room: MAX_NESTING is below what each can take."""
    text = nested(name, deepest_accepted(name))
    from_deep_stack(lambda: front_end(text))
    rows = from_deep_stack(lambda: emulate_with(text, HOSTS))
    assert len(rows) == 1


def _function_chain(length: int) -> str:
    """f1 calls f0, f2 calls f1, ...: each call expands the next function one level deeper."""
    lets = "".join(f"let f{i} = () {{ f{i - 1}() | extend c{i} = {i} }};\n" for i in range(1, length))
    return "let f0 = () { print c0 = 0 };\n" + lets + f"f{length - 1}()"


def test_let_functions_calling_each_other_10000_deep_are_refused_with_kql010():
    text = _function_chain(TERMS)
    parsed, bound = front_end(text, clean=False)
    assert parsed.diagnostics == []
    assert {d.code for d in bound.diagnostics if d.severity == "error"} == {"KQL010"}
    assert any("let functions" in d.message for d in bound.diagnostics)
    refusal = emulator_refusal(text)
    assert refusal.code == "EMU001" and f"deeper than {MAX_NESTING} levels" in refusal.message


def test_a_function_chain_at_the_limit_runs_from_a_deep_stack():
    length = MAX_NESTING // 2
    text = _function_chain(length)
    from_deep_stack(lambda: front_end(text))
    rows = from_deep_stack(lambda: emulate_with(text))
    assert rows == [list(range(length))]


@pytest.mark.parametrize(
    "text",
    ["let f = () { f() };\nf()", "let f = (n:long) { f(n) + 1 };\nprint x = f(1)", "let f = () { f() | take 1 };\nf()"],
)
def test_a_let_function_cannot_call_itself(text: str):
    """As in Kusto, a let function's own name is unknown in its body (no recursion to follow)."""
    _, bound = front_end(text, clean=False)
    assert [(d.code, d.message) for d in bound.diagnostics] == [("KQL203", "unknown function 'f'")]
    assert emulator_refusal(text).code == "EMU001"


def test_functions_calling_one_another_twice_stay_linear_to_bind_and_bounded_to_emulate():
    """f1 unions f0 with itself, f2 f1, ...: 2^40 expansions, unless each body is bound once."""
    lets = "".join(f"let f{i} = () {{ f{i - 1}() | union f{i - 1}() }};\n" for i in range(1, 40))
    text = "let f0 = () { print c0 = 0 };\n" + lets + "f39()\n| count"
    start = time.perf_counter()
    front_end(text)
    assert time.perf_counter() - start < 10
    refusal = emulator_refusal(text)
    assert refusal.code == "EMU001" and "calls of let functions" in refusal.message


def test_let_values_built_on_each_other_are_refused_clearly_by_the_emulator():
    """Each value inlines the one before: 10,000 of them nest past DuckDB's expression limit."""
    text = "let a0 = 1;\n" + "".join(f"let a{i} = a{i - 1} + 1;\n" for i in range(1, TERMS)) + f"print a{TERMS - 1}"
    front_end(text)
    refusal = emulator_refusal(text)
    assert refusal.code == "EMU001" and "DuckDB's limit of 1000" in refusal.message


MEGABYTE = 1_000_000
BIG_QUERIES = {
    "datatable": "datatable(Name:string, Size:long)[\n"
    + "".join(f'    "file{i:07d}.exe", {i},\n' for i in range(34_000))
    + "]\n| where Size > 10",
    "in list": "DeviceProcessEvents\n| where Timestamp > ago(1d)\n| where SHA256 in ("
    + ", ".join(f'"{i:064x}"' for i in range(15_000))
    + ")",
    "let statements": "".join(f"let v{i} = {i};\n" for i in range(70_000)) + "print v69999",
    "or chain": _hosts_where(" or ".join(f'DeviceName == "host-{i:08d}.contoso.com"' for i in range(25_000))),
}


@pytest.mark.parametrize("name", list(BIG_QUERIES))
def test_a_1_mb_query_parses_and_binds_in_seconds(name: str):
    text = BIG_QUERIES[name]
    assert len(text) >= MEGABYTE
    start = time.perf_counter()
    parsed = no_recursion("the parser", lambda: parse(text))
    bound = no_recursion("the binder", lambda: bind(parsed, DEFENDER))
    elapsed = time.perf_counter() - start
    assert parsed.diagnostics == [] and [d for d in bound.diagnostics if d.severity == "error"] == []
    assert elapsed < 30, f"{elapsed:.1f}s to parse and bind {len(text):,} characters"  # about 1-4 s measured


def test_the_lexer_is_linear_on_a_long_run_of_hyphenated_words():
    """`a-b-c-...`: every word once looked at the whole rest of the run (is it `project-away`?)."""
    text = "print x = " + "a-" * 250_000 + "a"
    start = time.perf_counter()
    tokens = tokenize(text)
    assert time.perf_counter() - start < 30  # about 3 s measured; quadratic, it took hours
    assert len(tokens) == 3 + 500_001 + 1  # print x =, the run, the end


# Pieces a random query is built from: openers with their closers, and chain operators.
_OPENERS = [("(", ")"), ("abs(", ")"), ("-", ""), ("dynamic([", "])"), ("toscalar(print y = ", ")"),
            ("iff(true, ", ", 0)"), ("1 + (", ")"), ("tostring(", ")")]  # fmt: skip
_CHAIN_OPERATORS = [" or ", " and ", " + ", " == ", " * "]


@st.composite
def deep_and_long_queries(draw) -> str:
    """A random mix of nesting (up to far past the limit) and of long chains, as a `print`."""
    pieces = draw(st.lists(st.sampled_from(_OPENERS), min_size=1, max_size=4))
    depth = draw(st.integers(min_value=1, max_value=3 * MAX_NESTING))
    chain = draw(st.sampled_from(_CHAIN_OPERATORS)).join(["1"] * draw(st.integers(min_value=1, max_value=2_000)))
    openers = "".join(pieces[i % len(pieces)][0] for i in range(depth))
    closers = "".join(pieces[i % len(pieces)][1] for i in reversed(range(depth)))
    return f"print x = {openers}{chain}{closers}"


@settings(max_examples=60, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
@given(deep_and_long_queries())
def test_deep_and_long_mixes_never_reach_the_recursion_limit(text: str):
    parsed, _ = front_end(text, clean=False)
    assert [d.code for d in parsed.diagnostics].count("KQL010") <= 1
