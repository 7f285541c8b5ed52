"""Lexer and parser details: trivia, literal forms, tree shape, diagnostics and recovery."""

from __future__ import annotations

import json

import pytest

from conftest import run_dac
from dac.kql import LineIndex, T, parse, tokenize


def kinds(text: str) -> list[tuple[str, str]]:
    return [(t.kind.name, t.text) for t in tokenize(text) if t.kind is not T.EOF]


def errors(text: str) -> list[tuple[str, int, int, str]]:
    result = parse(text)
    index = LineIndex(text)
    return [(d.code, *index.position(d.start), d.message) for d in result.diagnostics]


def test_tokens_keep_leading_and_trailing_trivia():
    text = "// head\nT   // why\n| take 1 \n"
    tokens = tokenize(text)
    assert [(t.leading, t.text, t.trailing) for t in tokens] == [
        ("// head\n", "T", "   // why\n"),
        ("", "|", " "),
        ("", "take", " "),
        ("", "1", " \n"),
        ("", "", ""),
    ]
    assert "".join(t.full() for t in tokens) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@'a\\b'", [("STRING", "@'a\\b'")]),
        ('@"say ""hi"""', [("STRING", '@"say ""hi"""')]),
        ("h'secret' H@\"x\"", [("STRING", "h'secret'"), ("STRING", 'H@"x"')]),
        ("```a\nb```", [("STRING", "```a\nb```")]),
        ("1d 5m 100ms 1tick 2.5h 10", [("TIMESPAN", "1d"), ("TIMESPAN", "5m"), ("TIMESPAN", "100ms"),
                                       ("TIMESPAN", "1tick"), ("TIMESPAN", "2.5h"), ("NUMBER", "10")]),
        ("datetime(2024-01-01 10:00) guid(74be27de-1e4e-49d9-b579-fe0b331d3642) int(null)",
         [("TYPED_LITERAL", "datetime(2024-01-01 10:00)"),
          ("TYPED_LITERAL", "guid(74be27de-1e4e-49d9-b579-fe0b331d3642)"), ("TYPED_LITERAL", "int(null)")]),
        ("a !in~ b !has c in~ d", [("IDENT", "a"), ("BANG_WORD", "!in~"), ("IDENT", "b"), ("BANG_WORD", "!has"),
                                   ("IDENT", "c"), ("IDENT", "in~"), ("IDENT", "d")]),
        ("mv-expand project-away a-b", [("IDENT", "mv-expand"), ("IDENT", "project-away"), ("IDENT", "a"),
                                        ("PUNCT", "-"), ("IDENT", "b")]),
        ("3rdParty 0x1F 1e3 $left", [("IDENT", "3rdParty"), ("NUMBER", "0x1F"), ("NUMBER", "1e3"),
                                     ("IDENT", "$left")]),
        ("1..5", [("NUMBER", "1"), ("PUNCT", ".."), ("NUMBER", "5")]),
    ],
)  # fmt: skip
def test_token_kinds(text: str, expected: list[tuple[str, str]]):
    assert kinds(text) == expected


def test_unicode_spaces_are_trivia():
    assert kinds("T\u202f|\u00a0take 1") == [("IDENT", "T"), ("PUNCT", "|"), ("IDENT", "take"), ("NUMBER", "1")]


def test_tree_has_named_parts():
    tree = parse("let n = 5;\nT | where A > n | project A, B = 1").tree
    let, query = tree["statements"]
    assert let.kind == "LetStatement" and let["name"].text().strip() == "n"
    assert query.kind == "Pipe" and [op.kind for op in query["operators"]] == ["Where", "Project"]
    predicate = query["operators"][0]["predicate"]
    assert predicate.kind == "BinaryExpression" and predicate["op"].text == ">"


def test_clean_queries():
    for text in [
        "let f = (T:(a:string), n:long = 5) { T | take n };\nf(datatable(a:string)['x'])",
        "T | join kind=leftouter hint.strategy=broadcast (U) on $left.A == $right.B, C",
        "T | where A between (1 .. 5) and B !between (datetime(2024-01-01) .. now())",
        "T | extend x = tostring(parse_json(a).b['c'][0]), ['my col'] = 1",
        "T | mv-apply x = items to typeof(string) on (where x has 'a' | take 1)",
        'T | parse kind=regex flags=i Msg with "id=" Id:long "," *',
        "T | make-series n = count() default = 0 on Timestamp from ago(7d) to now() step 1d by Host",
        "union withsource=Source isfuzzy=true Device*, (S | where x == 'y')",
        "declare query_parameters (n:long = 5);\nset querytrace;\nT | take n",
    ]:
        assert errors(text) == [], text


def test_unclosed_paren_names_where_it_opened():
    assert errors("T\n| where a in (1, 2\n") == [
        ("KQL002", 3, 1, "expected ')' to close '(' opened at 2:14, found the end of the query")
    ]


def test_recovery_reports_more_than_one_error():
    found = errors("T\n| project a b\n| where\n| rex field=x\n")
    assert [(code, line) for code, line, _, _ in found] == [("KQL004", 2), ("KQL006", 4), ("KQL005", 4)]


@pytest.mark.parametrize(
    ("text", "code", "line", "column"),
    [
        ("| where x", "KQL007", 1, 1),
        ("T | where s == 'C:\\Windows'", "KQL001", 1, 16),
        ('T | where s == "open', "KQL001", 1, 16),
        ("let x = 1\nT", "KQL002", 2, 1),
        ("T\nU", "KQL004", 2, 1),
        ("T | where a !has_any ('x')", "KQL004", 1, 13),
        ("print dynamic([1,])", "KQL009", 1, 18),
        ("T | summarize by", "KQL006", 1, 17),
        ("T | extend x = ", "KQL006", 1, 16),
        ("T | project a # b", "KQL001", 1, 15),
        ("T\n| where " + "(" * 65 + "x" + ")" * 65, "KQL010", 2, 73),
        ("print " + "-" * 100 + "1", "KQL010", 1, 71),
    ],
)
def test_first_error_position(text: str, code: str, line: int, column: int):
    assert errors(text)[0][:3] == (code, line, column)


def test_kql_check_cli(tmp_path):
    good, bad = tmp_path / "good.kql", tmp_path / "bad.kql"
    good.write_text("T | take 1\n")
    bad.write_text("T\n| where (a\n")
    result = run_dac("kql", "check", str(good), str(bad))
    assert result.returncode == 1
    message = "expected ')' to close '(' opened at 2:9, found the end of the query"
    assert result.stdout == f"{bad}:3:1: error KQL002: {message}\n"
    assert run_dac("kql", "check", str(good)).returncode == 0


def test_kql_check_jsonl_from_stdin():
    import subprocess
    import sys

    lines = [{"id": 1, "query": "T | take 1"}, {"id": "b", "query": "T | take"}]
    completed = subprocess.run(
        [sys.executable, "-m", "dac", "kql", "check", "--format", "jsonl", "-"],
        input="\n".join(json.dumps(line) for line in lines) + "\n",
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert completed.returncode == 1
    out = [json.loads(line) for line in completed.stdout.splitlines()]
    assert out[0] == {"id": 1, "errors": []}
    assert out[1]["id"] == "b" and out[1]["errors"][0]["code"] == "KQL006"
    assert set(out[1]["errors"][0]) == {"code", "message", "line", "column"}
    broken = subprocess.run(
        [sys.executable, "-m", "dac", "kql", "check", "-"], input="{not json\n",
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert broken.returncode == 2 and "<stdin>:1:2: not a JSON object" in broken.stderr


def test_nesting_past_the_limit_is_one_error_and_the_rest_is_read_on():
    """KQL010 once, where the limit is reached; the skipped text stays in the tree, the next operator is read."""
    text = "T\n| where " + "(" * 70 + "x" + ")" * 70 + " or " + "(" * 70 + "y" + ")" * 70 + "\n| take 1 2"
    result = parse(text)
    assert [d.code for d in result.diagnostics] == ["KQL010", "KQL004"]  # the second: `2` after `take 1`
    assert result.tree.text() == text


def test_a_query_of_only_comments_is_not_an_error():
    assert errors("// nothing here yet\n") == []


def test_a_malformed_name_in_a_parse_pattern_ends_the_pattern_instead_of_looping():
    # Found by the fuzzer on its fallback queries: `Id:[long` once looped forever, growing the tree.
    text = "T | parse C with * 'id=' Id:[long  ',' *"
    result = parse(text)
    assert result.tree.text() == text
    assert [d.code for d in result.diagnostics] == ["KQL006"]
