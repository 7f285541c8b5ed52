"""SQL that DuckDB plans quickly, with the answers the KQL reference gives.

DuckDB spends most of a small test's time planning the query, and macros are copied into the query at
every use: dynamic access is written as one json_extract per chain of constant steps, tostring() of a
member read as one json_extract_string, and parse_json() of a computed text reads that text once, so that
parse_json(tostring(parse_json(...).x)) chains grow the SQL linearly. Expected values follow the reference
pages on dynamic ("d.a", "d['a']", "d[0]"), tostring() (a string value is unquoted, a null is ""), and
parse_json() (a JSON text becomes its value).
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from conftest import emulate
from dac.emulator import Emulator
from dac.emulator.compiler import compile_query
from dac.emulator.sql import call_arguments
from dac.model.tables import environment


@pytest.mark.parametrize(
    ("sql", "function", "expected"),
    [
        ("json_extract(x, '$.a')", "json_extract", ["x", "'$.a'"]),
        ("json_extract(f(a, b), 'it''s, (')", "json_extract", ["f(a, b)", "'it''s, ('"]),
        ('json_extract("a,""b", [1, 2])', "json_extract", ['"a,""b"', "[1, 2]"]),
        ("json_extract(x, '$.a') || json_extract(y, '$.b')", "json_extract", None),  # two calls, not one
        ("json_extract_string(x, '$.a')", "json_extract", None),  # another function
        ("json_extract(x, '$.a'", "json_extract", None),
        ("json_extract(x, 'open)", "json_extract", None),
    ],
)
def test_call_arguments_splits_one_call_at_its_top_level_commas(sql, function, expected):
    assert call_arguments(sql, function) == expected


def _sql(query: str) -> str:
    engine = Emulator(environment("defender"), now=dt.datetime(2024, 1, 1))
    try:
        return compile_query(engine, query)[0]
    finally:
        engine.close()


def test_a_chain_of_member_and_element_reads_is_one_read_with_the_documented_values():
    query = (
        'print d = dynamic({"a": {"b": [10, {"c": "x"}, 30]}, "k.j": 5, "q\\"t": "w"})'
        '| project v1 = tostring(d.a.b[1].c), v2 = toint(d.a.b[2]), v3 = tostring(d["k.j"]),'
        ' v4 = isnull(d.a.missing), v5 = tostring(d.a.missing), v6 = tostring(d["q\\"t"]), v7 = tostring(d.a.b[1])'
    )
    assert emulate(query) == [["x", 30, "5", True, "", "w", '{"c":"x"}']]
    sql = _sql("print d = dynamic({}) | project v = tostring(d.a.b[1].c)")
    assert 'json_extract_string("d", \'$."a"."b"[1]."c"\')' in sql
    assert sql.count("json_extract") == 1


def test_a_computed_index_still_reads_its_element():
    query = 'print d = dynamic(["p", "q", "r"]), i = 1 | project v = tostring(d[i + 1]), w = tostring(d[i])'
    assert emulate(query) == [["r", "q"]]


def test_nested_parse_json_of_tostring_grows_the_sql_linearly():
    depth = 8
    value: object = "inner"
    for _ in range(depth):
        value = {"v": json.dumps(value)}  # each level holds the next as JSON text
    text = json.dumps(json.dumps(value))  # a KQL string literal with the outermost JSON text
    expression = "s"
    for _ in range(depth):
        expression = f"tostring(parse_json({expression}).v)"
    query = f"print s = {text} | project r = parse_json({expression})"
    assert emulate(query) == [["inner"]]  # the innermost text '"inner"' is JSON: parse_json gives the string
    assert len(_sql(query)) < 4_000  # written out, each level would double the SQL: some 2^8 copies of s


def test_ipv4_in_any_of_constant_ranges_compares_numbers_with_the_documented_answers():
    # ipv4-is-in-any-range-function.md: true when the address is in any of the ranges, null when it does
    # not parse; a range written 'a.b.c.d/n' covers the addresses that share its first n bits
    query = (
        'let nets = dynamic(["10.0.0.0/8", "192.168.1.1/24"]);'
        'datatable(ip: string) ["192.168.1.6", "10.200.0.1", "192.168.2.6", "8.8.8.8", "not an address"]'
        '| project a = ipv4_is_in_any_range(ip, nets), b = ipv4_is_in_any_range(ip, "192.168.1.1/24", "8.8.8.8")'
    )
    assert emulate(query) == [[True, True], [True, False], [False, False], [False, True], [None, None]]
    sql = _sql(query)
    assert "kqls_ip4_any" not in sql and f"BETWEEN {(192 << 24) + (168 << 16) + (1 << 8)} AND" in sql


def test_ipv6_in_constant_ranges_compares_numbers_with_the_documented_answers():
    # ipv6-is-in-any-range-function.md's example: the /112 network holds the three c755 addresses and not
    # the c756 one; ipv6-is-in-range-function.md's rows: an address is in its own /112 network and in
    # itself, not in 0:0:0:0:0:ffff:c0a8:ac/60; null when a string does not convert
    query = (
        'let LocalNetworks = dynamic(["a5e:f127:8a9d:146d:e102:b5d3:c755:f6cd/112", "0:0:0:0:0:ffff:c0a8:ac/60"]);'
        "datatable(IP: string) ['a5e:f127:8a9d:146d:e102:b5d3:c755:abcd', 'a5e:f127:8a9d:146d:e102:b5d3:c755:abce',"
        "'a5e:f127:8a9d:146d:e102:b5d3:c756:abd1', 'not an address']"
        "| project a = ipv6_is_in_any_range(IP, LocalNetworks),"
        "b = ipv6_is_in_range(IP, 'a5e:f127:8a9d:146d:e102:b5d3:c755:0000/112'),"
        "c = ipv6_is_in_range(IP, 'a5e:f127:8a9d:146d:e102:b5d3:c755:abcd'),"
        "d = ipv6_is_in_range(IP, '0:0:0:0:0:ffff:c0a8:ac/60')"
    )
    assert emulate(query) == [
        [True, True, True, False],
        [True, True, False, False],
        [False, False, False, False],
        [None, None, None, None],
    ]
    sql = _sql(query)
    assert "kqls_ip6_any" not in sql and "kqls_ip6_in_n" not in sql


@pytest.mark.parametrize(
    "text",
    ["fe80::/10", "::1", "1.2.3.4/24", "::ffff:1.2.3.4", "::10.1.2.3/24", "1:2:3:4:5:6:7:8/127", "::/0", "2001:db8::"],
)
def test_ipv6_range_reads_a_range_as_the_macros_do(text):
    # the constant path and the macro path (a range in a column) must agree on every address
    from dac.emulator.functions.strings import ipv6_range

    first, last = ipv6_range(text)
    addresses = ["fe80::1", "febf::", "fec0::", "::1", "::2", "1.2.3.4", "1.2.3.255", "1.2.4.0", "::ffff:1.2.3.9",
                 "::10.1.2.200", "1:2:3:4:5:6:7:9", "1:2:3:4:5:6:7:a", "2001:db8::", "2001:db8::1"]  # fmt: skip
    rows = ", ".join(f"'{address}'" for address in addresses)
    constant = emulate(f"datatable(a: string) [{rows}] | project ipv6_is_in_range(a, '{text}')")
    by_column = emulate(f"datatable(a: string, r: string) [{', '.join(f'{x}, {text!r}' for x in rows.split(', '))}]"
                        "| project ipv6_is_in_range(a, r)")  # fmt: skip
    assert constant == by_column
    assert [True] in constant and 0 <= first <= last < 1 << 128


def test_string_macros_are_created_when_a_query_first_names_them():
    from dac.emulator.functions.strings import _MACRO_BY_NAME

    emulator = Emulator(environment("defender"), now=dt.datetime(2024, 6, 1, 12))
    try:

        def created() -> set[str]:
            rows = emulator.connection.execute(
                "SELECT DISTINCT function_name FROM duckdb_functions() WHERE function_name LIKE 'kqls%'"
            ).fetchall()
            return {name for (name,) in rows}

        # a word that looks like a macro's name inside a string is only text (trim-function.md: the
        # leading and trailing matches of the regular expression are removed)
        assert emulator.run("print trim('x', 'xkqls_nothingx')").rows == [("kqls_nothing",)]
        assert created() == set()
        # parse-ipv6-function.md: the address in its canonical form, eight groups of four hex digits
        assert emulator.run("print parse_ipv6('fe80::85d:e82c:9446:7994')").rows == [
            ("fe80:0000:0000:0000:085d:e82c:9446:7994",)
        ]
        ip6 = created()
        assert "kqls_ip6_num" in ip6 and not any(name.startswith("kqls_ip4") for name in ip6)
        assert len(ip6) < len(_MACRO_BY_NAME) // 2
    finally:
        emulator.close()


def test_each_string_macro_comes_with_the_macros_it_names():
    from dac.emulator.functions.strings import _MACRO_BY_NAME, _MACRO_USES, _in_creation_order

    for name in _MACRO_BY_NAME:
        order = _in_creation_order([name])
        assert order[-1] == name and len(order) == len(set(order))
        for position, macro in enumerate(order):
            assert set(_MACRO_USES[macro]) <= set(order[:position])


def _described(query: str) -> tuple[list[tuple], list[str]]:
    """The rows of a query and the SQL of every DESCRIBE compiling it made."""
    engine = Emulator(environment("defender"), now=dt.datetime(2024, 1, 1))
    asked: list[str] = []
    describe = engine.describe_types

    def counting(sql: str) -> list[tuple[str, str]]:
        asked.append(sql)
        return describe(sql)

    engine.describe_types = counting  # type: ignore[method-assign]
    try:
        return engine.run(query).rows, asked
    finally:
        engine.close()


def test_a_join_and_an_extend_after_it_know_their_columns_without_planning_the_query_again(monkeypatch):
    monkeypatch.setattr("dac.emulator.compiler._CHECK_KNOWN_COLUMNS", False)  # that check DESCRIBEs every query
    # join-operator.md: a kind=inner join gives every pair of matching rows, the right side's column of the
    # same name renamed with a suffix (Key1); timespan arithmetic: a datetime plus 1h is a datetime
    query = (
        "let L = datatable(Key: string, At: datetime) ['a', datetime(2024-01-01), 'b', datetime(2024-01-02)];"
        "let R = datatable(Key: string, n: long) ['a', 1, 'a', 2, 'c', 3];"
        "L | join kind=inner R on Key | extend Later = At + 1h, m = n * 2 | where Later > datetime(2024-01-01)"
        "| project Key, Key1, Later, m"
    )
    rows, asked = _described(query)
    assert [list(row) for row in rows] == [
        ["a", "a", dt.datetime(2024, 1, 1, 1), 2],
        ["a", "a", dt.datetime(2024, 1, 1, 1), 4],
    ]
    assert not any(" JOIN " in sql for sql in asked)  # only the extend's expressions were described, alone


def test_expression_types_are_not_guessed_over_columns_of_other_duckdb_types():
    engine = Emulator(environment("defender"), now=dt.datetime(2024, 1, 1))
    try:
        from dac.emulator.compiler import Compiler

        compiler = Compiler(engine)
        summed = "SELECT sum(x) AS s FROM range(3) AS t(x)"  # a HUGEINT: KQL's long, stored otherwise
        assert compiler.columns(summed) == [("s", "long")]
        assert compiler.expression_kinds(summed, ['"s" + 1']) is None
        built_on = f'SELECT "s", 1 AS one FROM ({summed}) AS u'  # passes the HUGEINT on
        compiler.known_columns[built_on] = [("s", "long"), ("one", "int")]
        assert compiler.expression_kinds(built_on, ['"s" + "one"']) is None
        plain = "SELECT CAST(x AS BIGINT) AS s FROM range(3) AS t(x)"
        assert compiler.expression_kinds(plain, ['"s" + 1', "'a' || \"s\"", '"s" > 1']) == ["long", "string", "bool"]
        assert compiler.expression_kinds(plain, ["no_such_function(1)"]) is None
    finally:
        engine.close()


def test_substring_and_strcat_array_compute_each_argument_once():
    # substring-function.md: the substring from a zero-based start, a length past the end stopping there;
    # indexof-function.md: the position of the first match at or after the start; strcat_array joins the
    # array's elements with the delimiter (array_slice keeps the elements from the first to the last index)
    query = (
        r"print s = @'c:\users\bob\x' | project r = substring(s, indexof(s, @'\', 3), strlen(s) - 3),"
        r" j = strcat_array(array_slice(split(s, @'\'), 1, 2), '/')"
    )
    assert emulate(query) == [["\\bob\\x", "users/bob"]]
    sql = _sql(query)
    assert sql.count("kqls_indexof(") == 1 and sql.count("string_split(") == 1


def test_make_set_of_many_values_keeps_each_once_in_first_seen_order():
    # make-set-aggregation-function.md: the distinct values (nulls ignored); their order is undefined there,
    # and the emulator keeps the first in input order (emulator-semantics.md)
    rows = emulate("range x from 1 to 20000 step 1 | summarize s = make_set(x % 7000) | extend n = array_length(s)")
    values, count = rows[0]
    assert count == 7000 and values == [*range(1, 7000), 0]
