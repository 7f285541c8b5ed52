"""The emulator against KQL's documented semantics (DESIGN section 6), one rule per test.

Each expectation cites the rule from the KQL reference documentation it follows.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from dac.emulator import Emulator, EmulatorError
from dac.model.tables import environment

NOW = dt.datetime(2024, 12, 2, 12, 0, 0)


def run(query: str, **tables) -> list[list]:
    engine = Emulator(environment("defender"), now=NOW)
    for name, rows in tables.items():
        engine.load_table(name, rows)
    return [list(row) for row in engine.run(query).rows]


def columns(query: str) -> list[str]:
    return [name for name, _ in Emulator(environment("defender"), now=NOW).run(query).columns]


def test_strings_are_never_null():
    # "The string data type ... doesn't support null values": an unmatched outer-join string is "".
    query = (
        "datatable(k:long, a:string)[1, 'x', 2, 'y'] "
        "| join kind=leftouter (datatable(k:long, b:string)[1, 'z']) on k | sort by k asc | project k, b"
    )
    assert run(query) == [[1, "z"], [2, ""]]
    # A string column of a row the fixture does not set is "" (and compares equal to "").
    assert run("DeviceEvents | where FileName == '' | count", DeviceEvents=[{"DeviceName": "d"}]) == [[1]]


def test_null_and_a_value_are_unequal():
    # null values docs: "!=" of a null and a non-null value is true, "==" false (their
    # `datatable(ival:int, ...)[5, ..., int(null), ...] | where ival != 5` keeps the null row).
    assert run("datatable(n:long)[1, long(null)] | where n != 1 | count") == [[1]]
    assert run("datatable(n:long)[1, long(null)] | where n == 1 | count") == [[1]]


def test_equality_is_case_sensitive_and_tilde_is_not():
    # ==: "Equals" (case-sensitive); =~: "Equals" (case-insensitive).
    assert run("print a = 'Abc' == 'abc', b = 'Abc' =~ 'abc', c = 'Abc' !~ 'ABC'") == [[False, True, False]]


def test_has_matches_whole_terms_case_insensitively():
    # has: "Right-hand-side (RHS) is a whole term in left-hand-side (LHS)"; terms are runs of
    # alphanumeric characters; case-insensitive. has_cs is case-sensitive.
    assert run(
        "print a = 'foo-bar' has 'bar', b = 'foobar' has 'bar', c = 'Foo Bar' has 'BAR', d = 'Foo Bar' has_cs 'BAR',"
        " e = 'foobar' !has 'bar'"
    ) == [[True, False, True, False, True]]


def test_contains_startswith_endswith_are_case_insensitive_and_cs_forms_are_not():
    assert run(
        "print a = 'FooBar' contains 'oba', b = 'FooBar' contains_cs 'oba', c = 'FooBar' startswith 'foo',"
        " d = 'FooBar' startswith_cs 'foo', e = 'FooBar' endswith 'BAR', f = 'FooBar' !endswith 'bar'"
    ) == [[True, False, True, False, True, False]]


def test_in_is_case_sensitive_and_in_tilde_is_not():
    assert run("print a = 'A' in ('a', 'b'), b = 'A' in~ ('a', 'b'), c = 'A' !in ('a')") == [[False, True, True]]


def test_has_any_with_a_list():
    assert run("print a = 'run evil.exe now' has_any ('evil.exe', 'x'), b = 'evilexe' has_any ('evil')") == [
        [True, False]
    ]


def test_default_join_is_innerunique():
    # "innerunique ... deduplicates the left side on the join key" (join flavor docs).
    query = (
        "datatable(k:long, l:string)[1, 'a', 1, 'b'] | join (datatable(k:long, r:string)[1, 'x', 1, 'y']) on k | count"
    )
    assert run(query) == [[2]]
    inner = query.replace("| join (", "| join kind=inner (")
    assert run(inner) == [[4]]


def test_right_side_duplicate_names_get_suffix_1_and_left_right_keys():
    query = (
        "datatable(Id:long, Name:string)[1, 'a'] "
        "| join kind=inner (datatable(Key:long, Name:string)[1, 'b']) on $left.Id == $right.Key"
    )
    assert columns(query) == ["Id", "Name", "Key", "Name1"]


def test_leftanti_and_leftsemi():
    left = "datatable(k:long)[1, 2, 3]"
    right = "(datatable(k:long)[2])"
    assert run(f"{left} | join kind=leftanti {right} on k | count") == [[2]]
    assert run(f"{left} | join kind=leftsemi {right} on k | count") == [[1]]


def test_summarize_column_names():
    # count() -> count_, dcount(X) -> dcount_X, make_set(X) -> set_X, max(X) -> max_X (summarize docs).
    query = "datatable(X:long, G:string)[1, 'g'] | summarize count(), dcount(X), make_set(X), max(X) by G"
    assert columns(query) == ["G", "count_", "dcount_X", "set_X", "max_X"]
    assert columns("print d = dynamic({'a': {'b': 1}}) | extend tostring(d.a)") == ["d", "d_a"]


def test_datetime_and_timespan_arithmetic_bin_and_pinned_now():
    assert run(
        "print a = datetime(2024-01-01) + 1d, b = datetime(2024-01-02) - datetime(2024-01-01), "
        "c = bin(datetime(2024-01-01 10:47), 1h), d = ago(1h), e = now()"
    ) == [[
        dt.datetime(2024, 1, 2), dt.timedelta(days=1), dt.datetime(2024, 1, 1, 10), NOW - dt.timedelta(hours=1), NOW
    ]]  # fmt: skip


def test_long_division_is_integer_division():
    # Arithmetic on long values gives a long: 5 / 2 == 2; with a real, 2.5.
    assert run("print a = 5 / 2, b = 5.0 / 2") == [[2, 2.5]]


def test_dynamic_values_and_property_access():
    assert run(
        "print d = parse_json('{\"a\": {\"b\": [10, 20]}}') | project x = tolong(d.a.b[1]), y = tostring(d['a']['b'])"
    ) == [[20, "[10,20]"]]


def test_regular_expressions_are_re2():
    assert run(
        "print a = 'Msedge.exe' matches regex @'(?i)^(msedge|chrome)\\.exe$', b = extract('id=([0-9]+)', 1, 'x id=42')"
    ) == [[True, "42"]]


def test_externaldata_reads_only_mapped_files(tmp_path: Path):
    data = tmp_path / "list.csv"
    data.write_text("ip,tag\n203.0.113.7,bad\n")
    query = "externaldata(ip:string, tag:string)['https://example.org/list.csv'] with (ignoreFirstRecord=true)"
    engine = Emulator(environment("defender"), now=NOW, externaldata={"https://example.org/list.csv": data})
    assert [list(row) for row in engine.run(query).rows] == [["203.0.113.7", "bad"]]
    with pytest.raises(EmulatorError) as caught:
        Emulator(environment("defender"), now=NOW).run(query)
    assert caught.value.code == "EMU007" and "not mapped" in caught.value.message


def test_unsupported_constructs_are_named_not_guessed():
    with pytest.raises(EmulatorError) as caught:
        run("print x = 1 | evaluate bag_unpack(x)")
    assert caught.value.code == "EMU001" and "bag_unpack" in caught.value.message
    assert caught.value.offset == len("print x = 1 | evaluate ")


def test_geo_info_uses_local_data():
    assert run(
        "print c = tostring(geo_info_from_ip_address('203.0.113.7').country), e = geo_info_from_ip_address('10.0.0.1')"
    ) == [["Samplestan", {}]]


def test_ipv4_lookup_and_is_private():
    query = (
        "let Ranges = datatable(Net:string, Owner:string)['10.0.0.0/8', 'corp', '10.1.0.0/16', 'lab'];"
        "datatable(ip:string)['10.1.2.3', '8.8.8.8'] | evaluate ipv4_lookup(Ranges, ip, Net, return_unmatched=true)"
        " | extend private = ipv4_is_private(ip) | sort by ip asc | project ip, Owner, private"
    )
    assert run(query) == [["10.1.2.3", "lab", True], ["8.8.8.8", "", False]]


def test_parse_simple_and_regex_kinds_and_parse_where():
    # parse: "Evaluates a string expression and parses its value into one or more calculated columns";
    # a typed column takes only text of its type; parse-where drops rows that do not match.
    assert run(
        'print s = "user=alice id=42 rest" | parse s with "user=" User " id=" Id:long " " Rest | project User, Id, Rest'
    ) == [["alice", 42, "rest"]]
    assert run('print s = "no match" | parse-where s with "user=" User " id=" * | count') == [[0]]
    assert run('print s = "a1b22c" | parse kind=regex s with "a" A:long "b" B:long "c" | project A, B') == [[1, 22]]


def test_let_functions_are_inlined():
    assert run("let f = (a:long, b:long = 10) { a + b }; print x = f(1), y = f(1, 2)") == [[11, 3]]
    assert run("let g = (t:(x:long)) { t | where x > 1 }; g(datatable(x:long)[1, 2, 3]) | count") == [[2]]


def test_toscalar_of_a_scalar_is_the_value_itself():
    # toscalar-function: "Returns a scalar constant value of the evaluated expression"; of a table, its first
    # column of its first row. Microsoft's binder types toscalar(array_length(a)) long.
    assert run('let Verses = dynamic(["a", "b", "c"]); print n = toscalar(array_length(Verses))') == [[3]]
    assert run("let g = (v: long) { v * 2 }; print toscalar(g(4)), toscalar(5)") == [[8, 5]]
    assert run("let T = datatable(a: long)[7, 8]; print toscalar(T)") == [[7]]


def test_where_star_has_a_word_in_any_column():
    # where-operator: `where * has "cow"` returns "the rows in which the word "cow" appears in any column";
    # `* contains` likewise with a substring. A term with a letter is not looked for in numbers or dates.
    table = (
        'datatable(a: string, b: long, d: dynamic)["the cow jumped", 1, dynamic({"k": "Cowboy"}), '
        '"x", 2024, dynamic(null), "y", 5, dynamic(["nocow"])] '
    )
    assert run(table + '| where * has "cow" | project a') == [["the cow jumped"]]
    assert run(table + '| where * contains "cow" | project a') == [["the cow jumped"], ["y"]]
    assert run(table + '| where * has "2024" | project a') == [["x"]]
    assert run(table + '| where not(* has "cow") | project a') == [["x"], ["y"]]
    with pytest.raises(EmulatorError):
        run(table + '| where * == "x"')


def test_a_later_item_reads_a_column_an_earlier_item_of_the_same_operator_made():
    # Microsoft's binder (kqlcheck --result) binds `extend y = 1, z = y + 1` (z: long) and `print a = 1, b = a + 1`;
    # a name the input has still reads the input's column: `extend x = 1, z = x + 1` adds 1 to the old x
    assert run('datatable(x: string)["a"] | extend y = 1, z = y + 1, w = z * 10') == [["a", 1, 2, 20]]
    assert run('datatable(x: string)["a"] | project y = strlen(x), z = y + 1, x') == [[1, 2, "a"]]
    assert run('print a = 1, b = a + 1, c = strcat("n", tostring(b))') == [[1, 2, "n2"]]
    assert run("datatable(x: long)[5] | extend x = 1, z = x + 1") == [[1, 6]]
    with pytest.raises(EmulatorError):  # which x `z` reads after the split is not kept apart: refused
        run("datatable(x: long)[5] | extend x = 1, y = 2, z = y + x")
