"""The shapes the emulator compiles differently for large tables (issue 17): has_any / has_all of string
literals (one regular expression per row for has_any, a substring guard before each term of has_all),
arg_max(*) (one aggregate of a struct of the row) and the innerunique join (one left row per key by a
grouping, not a window over whole rows). Small inputs whose answers follow from the KQL reference's
words, edge cases included, and a cross-check against `has` of each term alone.
"""

from __future__ import annotations

import itertools

from conftest import emulate, emulate_result
from dac.emulator import Emulator
from dac.model.tables import environment

run = emulate


def matching(texts: list[str | None], condition: str) -> list[int]:
    """The numbers (from 0) of the texts for which `condition` over the string column s holds. The texts
    are loaded as a test's table is, so None is a null string (the empty string in KQL)."""
    engine = Emulator(environment("defender"))
    try:
        engine.load_table("T", [{"i": n, "s": text} for n, text in enumerate(texts)])
        return [row[0] for row in engine.run(f"T | where {condition} | project i | order by i asc").rows]
    finally:
        engine.close()


def _kql_string(text: str) -> str:
    return "@'" + text.replace("'", "''") + "'"


def needles(terms: list[str]) -> str:
    return ", ".join(_kql_string(term) for term in terms)


# ----------------------------------------------------------------- has_any
# datatypes-string-operators, "What is a term?": terms are maximal runs of ASCII letters and digits;
# has_any is true when any needle is a whole term (or, for a needle with other characters, occurs without
# continuing a term of the text), case-insensitively.


def test_has_any_matches_whole_terms_only():
    texts = ["www.contoso.com", "contosoltd.com", "my-fabrikam", "fabrikam2", "", None, "CONTOSO"]
    assert matching(texts, "s has_any ('contoso', 'fabrikam')") == [0, 2, 6]
    assert matching(texts, "not(s has_any ('contoso', 'fabrikam'))") == [1, 3, 4, 5]


def test_has_any_is_case_insensitive_both_ways():
    texts = ["Run MIMIKATZ now", "run mimikatz now", "mimikatzz"]
    assert matching(texts, "s has_any ('Mimikatz', 'rubeus', 'psexec')") == [0, 1]


def test_has_any_needles_with_punctuation_bound_themselves():
    # A needle that begins or ends with a character that is not a letter or digit is itself bounded there
    # (docs/emulator-semantics.md): "a.exe" has ".exe", "abc.exe" has not "c.exe".
    texts = ["a.exe", "abc.exe", r"C:\Users\x\Start Menu\Programs\Startup\evil.lnk", "cmd.exe /c", "x -enc- y",
             "run c.exe"]  # fmt: skip
    assert matching(texts, "s has_any ('.exe', 'zzz')") == [0, 1, 3, 5]
    assert matching(texts, "s has_any ('c.exe', 'zzz')") == [5]
    assert matching(texts, r"s has_any (@'\Start Menu\Programs\Startup', 'zzz')") == [2]
    assert matching(texts, "s has_any ('cmd.', 'zzz')") == [3]
    assert matching(texts, "s has_any ('-enc-', 'zzz')") == [4]
    # the four kinds of needle in one list: each keeps its own boundaries
    assert matching(texts, "s has_any ('.exe', 'cmd.', '-enc-', 'evil', 'c.exe')") == [0, 1, 2, 3, 4, 5]
    assert matching(texts, "s has_any ('cmd.', '-enc-', 'c.exe')") == [3, 4, 5]


def test_has_any_needles_with_regex_characters_are_literal():
    texts = ["a+b", "aab", "x|y", "y", "(1)", "1", "a.c", "abc"]
    assert matching(texts, "s has_any ('a+b', 'zzz')") == [0]
    assert matching(texts, "s has_any ('x|y', 'zzz')") == [2]
    assert matching(texts, "s has_any ('(1)', 'zzz')") == [4]
    assert matching(texts, "s has_any ('a.c', 'zzz')") == [6]


def test_has_any_nulls_and_empty_strings():
    # A null string is the empty string in KQL; every text has the empty term.
    texts = ["abc", "", None]
    assert matching(texts, "isempty(s)") == [1, 2]  # the null is loaded as a null
    assert matching(texts, "s has_any ('abc', 'def')") == [0]
    assert matching(texts, "s has_any ('x', '')") == [0, 1, 2]
    assert matching(texts, "not(s has_any ('x', ''))") == []


def test_has_any_of_many_terms_and_repeated_terms():
    terms = [f"term{n}" for n in range(200)] + ["term7", "TERM7"]
    texts = ["a term7 b", "term1999", "term199", "xterm5"]
    assert matching(texts, f"s has_any ({needles(terms)})") == [0, 2]


def test_has_any_mixes_literals_with_other_needles():
    texts = ["alpha beta", "gamma", "delta"]
    assert matching(texts, "s has_any ('alpha', strcat('gam', 'ma'), 'zzz')") == [0, 1]
    assert matching(texts, "s has_any ('alpha', dynamic(['delta']))") == [0, 2]


# ----------------------------------------------------------------- has_all


def test_has_all_needs_every_term_whole():
    texts = ["www.contoso.com", "www.contosoltd.com", "contoso", "", None, "WWW.Contoso.COM"]
    assert matching(texts, "s has_all ('www', 'contoso')") == [0, 5]
    assert matching(texts, "not(s has_all ('www', 'contoso'))") == [1, 2, 3, 4]


def test_has_all_needles_with_punctuation():
    texts = ["a.exe run", "abc.exe run", "abc.exe", "run", "c.exe run"]
    assert matching(texts, "s has_all ('.exe', 'run')") == [0, 1, 4]
    assert matching(texts, "s has_all ('c.exe', 'run')") == [4]


def test_has_all_empty_and_repeated_needles():
    texts = ["abc", "", None]
    assert matching(texts, "s has_all ('')") == [0, 1, 2]
    assert matching(texts, "s has_all ('abc', '', 'ABC')") == [0]


def test_has_all_non_ascii_text_lowers_as_has_does():
    texts = ["ÄBC def", "äbc DEF", "xäbc def"]
    assert matching(texts, "s has_all ('äbc', 'def')") == [0, 1, 2] == matching(texts, "s has 'äbc' and s has 'def'")


def test_has_any_and_has_all_agree_with_has_of_each_term():
    texts = ["", "a", "A.b", "ab", "a-b", "x a.exe", "cmd.exe /c", "a+b", "ÄB", "k K", "_a_", "a\tb", None]
    terms = ["a", "b", ".exe", "a.", "-b", "+", "", "äb", "k", "_a_", "a b"]
    for pair in itertools.combinations(terms, 2):
        combined = needles(list(pair))
        each_any = " or ".join(f"s has {_kql_string(t)}" for t in pair)
        each_all = " and ".join(f"s has {_kql_string(t)}" for t in pair)
        assert matching(texts, f"s has_any ({combined})") == matching(texts, each_any), pair
        assert matching(texts, f"s has_all ({combined})") == matching(texts, each_all), pair


# ----------------------------------------------------------------- arg_max(*), arg_min(*)
# arg-max-aggregation-function: "Returns a row in the group that maximizes ExprToMaximize, and the values of
# columns specified in ExprToReturn"; `*` returns all columns of the input table.

ROWS = (
    "datatable(k:string, t:long, a:string, b:long)["
    "'x', 1, 'first', 10, "
    "'x', 3, 'max', long(null), "  # the maximum of x: its null b stays null (a row, not a mix of rows)
    "'x', 2, 'mid', 30, "
    "'x', long(null), 'no t', 40, "  # a null ExprToMaximize is not a maximum
    "'y', 5, '', 50, "
    "'y', 5, 'tie', 60, "  # a tie: the first in input order is kept, all its columns
    "'z', long(null), 'only null t', 70]"
)


def test_arg_max_star_returns_the_whole_row_with_the_maximum():
    rows = sorted(run(ROWS + " | summarize arg_max(t, *) by k"))
    assert rows[0] == ["x", 3, "max", None]
    assert rows[1] == ["y", 5, "", 50]
    # no row has a t: as the emulator always answered, no value at all
    assert rows[2] == ["z", None, "", None]


def test_arg_min_star_and_named_columns():
    assert sorted(run(ROWS + " | where k == 'x' | summarize arg_min(t, *) by k")) == [["x", 1, "first", 10]]
    assert run(ROWS + " | where k == 'x' | summarize arg_max(t, b, a)") == [[3, None, "max"]]
    assert run(ROWS + " | where k == 'x' | summarize m = arg_max(t, a)") == [[3, "max"]]


def test_arg_max_star_columns_and_names():
    # Microsoft's binder: arg_max(t, *) by k is k, t, then the other columns in order.
    assert emulate_result(ROWS + " | summarize arg_max(t, *) by k")[0] == ["k", "t", "a", "b"]


def test_arg_max_of_an_expression_with_star():
    query = ROWS + " | where isnotnull(t) | summarize arg_max(t * -1, *) by k | order by k asc"
    assert run(query) == [["x", -1, 1, "first", 10], ["y", -5, 5, "", 50]]


# ----------------------------------------------------------------- innerunique join
# join-operator: the default innerunique "deduplicates the left side on the join key"; one left row per
# key, every matching right row. Which left row is not documented; the emulator keeps the first in input
# order (docs/emulator-semantics.md).

LEFT = "datatable(k:long, l:string, n:long)[1, 'a', 10, 1, 'b', 20, 2, 'c', 30, long(null), 'null key', 40, 3, '', 50]"
RIGHT = "datatable(k:long, r:string)[1, 'x', 1, 'y', 2, 'z', long(null), 'null key']"


def test_innerunique_keeps_one_left_row_per_key_and_every_right_row():
    rows = sorted(run(f"{LEFT} | join kind=innerunique ({RIGHT}) on k"), key=repr)
    assert rows == [[1, "a", 10, 1, "x"], [1, "a", 10, 1, "y"], [2, "c", 30, 2, "z"]]
    assert run(f"{LEFT} | join ({RIGHT}) on k | count") == [[3]]  # the default kind


def test_innerunique_columns_keep_their_order():
    left = "datatable(l:string, k:long, n:long)['a', 1, 10, 'b', 1, 20]"
    names, rows = emulate_result(f"{left} | join ({RIGHT}) on k")
    assert names == ["l", "k", "n", "k1", "r"]
    assert sorted(rows) == [["a", 1, 10, 1, "x"], ["a", 1, 10, 1, "y"]]


def test_innerunique_on_two_keys_and_on_differently_named_keys():
    left = "datatable(a:long, b:string, v:string)[1, 'p', 'first', 1, 'p', 'second', 1, 'q', 'third']"
    right = "datatable(a:long, b:string, w:string)[1, 'p', 'w1', 1, 'q', 'w2']"
    assert sorted(run(f"{left} | join ({right}) on a, b | project v, w")) == [["first", "w1"], ["third", "w2"]]
    right2 = "datatable(id:long, w:string)[1, 'w']"
    assert run(f"{left} | join ({right2}) on $left.a == $right.id | project v, w") == [["first", "w"]]


def test_innerunique_left_of_only_keys():
    query = "datatable(k:long)[1, 1, 2] | join (datatable(k:long, r:string)[1, 'x', 1, 'y']) on k"
    assert sorted(run(query)) == [[1, 1, "x"], [1, 1, "y"]]


def test_has_any_and_has_all_of_a_constant_dynamic_array():
    # A let-bound dynamic array (an IOC list) is compiled as its strings; the answers are those of the
    # same needles written out, and of has for each.
    texts = ["www.contoso.com", "evil.example.org", "contosoltd", "", None]
    iocs = "let iocs = dynamic(['contoso', 'EVIL', 'x.y']);"
    assert matching(texts, "s has_any ('contoso', 'EVIL', 'x.y')") == [0, 1]
    engine = Emulator(environment("defender"))
    try:
        engine.load_table("T", [{"i": n, "s": text} for n, text in enumerate(texts)])

        def where(condition: str, prefix: str = "") -> list[int]:
            query = f"{prefix} T | where {condition} | project i | order by i asc"
            return [row[0] for row in engine.run(query).rows]

        assert where("s has_any (iocs)", iocs) == [0, 1]
        assert where("s has_all (iocs)", iocs) == []
        assert where("s has_all (dynamic(['www', 'COM']))") == [0]
        assert where("s has_any (dynamic(['org']), 'contosoltd')") == [1, 2]
        # an empty array matches nothing, with has_any as with has_all (as the emulator always answered)
        assert where("s has_any (dynamic([]))") == []
        assert where("s has_all (dynamic([]))") == []
        # elements that are not strings, and arrays read from a column, are tested row by row as before
        assert where("s has_any (dynamic([1, 'org']))") == [1]
        assert where("s has_any (pack_array(s))") == [0, 1, 2, 3, 4]  # every text has itself, "" the empty term
    finally:
        engine.close()
