"""serialize, as, render, column_ifexists, replace, parse_url, parse_xml, take_anyif and ingestion_time.

Expectations come from the KQL reference pages (named in each test), from Microsoft's function table
in Kusto.Language (parameter order of replace(), result names of take_anyif), from outputs Kusto printed
in microsoft/Kusto-Query-Language issue #112 (parse_url), or are computed by hand. What Kusto's answer
is not known for is refused: EMU001 when compiling, EMU002 for a value met while running.
"""

from __future__ import annotations

import pytest

from dac.emulator import Emulator, EmulatorError
from dac.model.tables import environment


def run(query: str) -> list[list]:
    engine = Emulator(environment("defender"))
    try:
        return [list(row) for row in engine.run(query).rows]
    finally:
        engine.close()


def columns(query: str) -> list[tuple[str, str]]:
    engine = Emulator(environment("defender"))
    try:
        return engine.run(query).columns
    finally:
        engine.close()


def one(expression: str):
    return run(f"print {expression}")[0][0]


def refused(query: str) -> EmulatorError:
    with pytest.raises(EmulatorError) as error:
        run(query)
    return error.value


# ----------------------------------------------------------------- operators
def test_serialize_passes_rows_and_runs_row_functions():
    query = "range x from 1 to 4 step 1 | serialize n = row_number(), before = prev(x), after = next(x, 1, 0)"
    assert run(query) == [[1, 1, None, 2], [2, 2, 1, 3], [3, 3, 2, 4], [4, 4, 3, 0]]
    assert run("range x from 3 to 1 step -1 | serialize") == [[3], [2], [1]]


def test_serialize_after_sort_numbers_in_sorted_order():
    query = "datatable(a:string)['b', 'c', 'a'] | sort by a asc | serialize rank = row_number(10)"
    assert run(query) == [["a", 10], ["b", 11], ["c", 12]]


def test_as_names_the_rows_for_the_rest_of_the_query():
    # `as` page: the rows pass through and the name can be used in a union later in the statement
    assert run("range x from 1 to 2 step 1 | as T | union T") == [[1], [2], [1], [2]]
    query = "range x from 1 to 3 step 1 | as hint.materialized=true T | where x > 1 | join kind=inner (T) on x"
    assert run(query) == [[2, 2], [3, 3]]


def test_render_changes_nothing():
    assert run("range x from 1 to 2 step 1 | render timechart") == [[1], [2]]
    assert run('range x from 1 to 2 step 1 | render barchart with (title="t", ytitle="y")') == [[1], [2]]


# ----------------------------------------------------------------- column_ifexists
def test_column_ifexists_takes_the_column_or_the_default():
    # column_ifexists page: no column "Capital", so the default is used
    query = (
        'datatable(State:string)["FLORIDA"] | project column_ifexists("Capital", State), '
        'c = column_ifexists("State", "")'
    )
    assert run(query) == [["FLORIDA", "FLORIDA"]]
    assert run('print a = 1 | extend b = columnifexists("A", 7), c = column_ifexists("a", 0)') == [[1, 7, 1]]


def test_column_ifexists_is_named_after_an_existing_column():
    assert columns('print a = 1 | project column_ifexists("a", 0)') == [("a", "long")]


def test_column_ifexists_name_from_a_let_constant():
    assert run('let name = "a"; print a = 2 | extend b = column_ifexists(name, 0)') == [[2, 2]]


def test_column_ifexists_refuses_what_it_cannot_match():
    assert refused('print a = 1, n = "a" | extend b = column_ifexists(n, 0)').code == "EMU001"
    assert refused('print a = 1 | extend b = column_ifexists("a", "")').code == "EMU001"  # long column, string default


# ----------------------------------------------------------------- replace
def test_replace_takes_regex_rewrite_then_text():
    # Kusto.Language: replace(regex, rewrite, source); replace_regex page example, in that order
    assert one(r"replace(@'is (\d+)', @'was: \1', 'Number is 1.000000')") == "Number was: 1.000000"
    assert one('replace("_", "@", "user_contoso.com")') == "user@contoso.com"


# ----------------------------------------------------------------- parse_url
def test_parse_url_reference_example_with_the_path_kusto_returns():
    value = one('parse_url("scheme://username:password@host:1234/this/is/a/path?k1=v1&k2=v2#fragment")')
    assert value == {
        "Scheme": "scheme", "Host": "host", "Port": "1234", "Path": "/this/is/a/path", "Username": "username",
        "Password": "password", "Query Parameters": {"k1": "v1", "k2": "v2"}, "Fragment": "fragment",
    }  # fmt: skip
    assert list(value) == ["Scheme", "Host", "Port", "Path", "Username", "Password", "Query Parameters", "Fragment"]


def test_parse_url_sorts_query_parameters_as_kusto_printed_them():
    value = one('parse_url("https://www.example.com:123/forum/questions/?tag=networking&order=newest#top")')
    assert value["Path"] == "/forum/questions/"
    assert list(value["Query Parameters"].items()) == [("order", "newest"), ("tag", "networking")]


def test_parse_url_missing_parts_are_empty():
    assert one('parse_url("https://bing.com")') == {
        "Scheme": "https", "Host": "bing.com", "Port": "", "Path": "", "Username": "", "Password": "",
        "Query Parameters": {}, "Fragment": "",
    }  # fmt: skip
    assert one('tostring(parse_url("http://a.example.org/x?q=1").Host)') == "a.example.org"


@pytest.mark.parametrize(
    "url",
    [
        "bing.com",  # not absolute: undocumented
        "https://john.doe@www.example.com/",  # a user without a password stays in Host in Kusto (issue #112)
        "ldap://[2001:db8::7]/c=GB",  # IPv6 hosts are split oddly by Kusto (issue #112)
        "https://a.com/p%20q",  # whether escapes are decoded is undocumented
        "https://a.com/?a=1&a=2",  # a parameter given twice
    ],
)
def test_parse_url_refuses_undocumented_shapes(url):
    assert refused(f'print parse_url("{url}")').code == "EMU002"


# ----------------------------------------------------------------- parse_xml
@pytest.mark.parametrize(
    ("xml", "expected"),
    [  # the conversion table of the parse_xml page
        ("<e/>", {"e": None}),
        ("<e>text</e>", {"e": "text"}),
        ('<e name="value" />', {"e": {"@name": "value"}}),
        ('<e name="value">text</e>', {"e": {"@name": "value", "#text": "text"}}),
        ("<e> <a>text</a> <b>text</b> </e>", {"e": {"a": "text", "b": "text"}}),
        ("<e> <a>text</a> <a>text</a> </e>", {"e": {"a": ["text", "text"]}}),
        ("<e> text <a>text</a> </e>", {"e": {"#text": "text", "a": "text"}}),
    ],
)
def test_parse_xml_conversion_table(xml, expected):
    assert one(f"parse_xml('{xml}')") == expected


def test_parse_xml_event_data_shape():
    xml = (
        '<?xml version="1.0"?><!-- c --><EventData><Data Name="SubjectUserName">alice</Data>'
        '<Data Name="Empty" /><Data Name="Domain">CONTOSO</Data></EventData>'
    )
    assert one(f"parse_xml('{xml}')") == {
        "EventData": {
            "Data": [
                {"@Name": "SubjectUserName", "#text": "alice"},
                {"@Name": "Empty"},
                {"@Name": "Domain", "#text": "CONTOSO"},
            ]
        }
    }
    assert one(f"tostring(parse_xml('{xml}').EventData.Data[2]['#text'])") == "CONTOSO"


def test_parse_xml_of_invalid_xml_is_null():
    assert one("parse_xml('<e>')") is None
    assert one("isnull(parse_xml('not xml'))") is True


@pytest.mark.parametrize(
    "xml",
    [
        "<a>118.0</a>",  # the page's example shows numbers, its table strings
        "<a>true</a>",
        "<e> text </e>",  # whether text without child elements is trimmed is not shown
        "<e>a<b>x</b>c</e>",  # text in two places
        "<a><b>1x</b><c/><b>2x</b></a>",  # repeated children apart
        "<x:a xmlns:x='u'/>",  # namespace prefixes
        "<a><![CDATA[x]]></a>",
    ],
)
def test_parse_xml_refuses_what_the_page_does_not_settle(xml):
    assert refused(f'print parse_xml("{xml}")').code == "EMU002"


# ----------------------------------------------------------------- take_anyif
def test_take_anyif_picks_a_row_where_the_predicate_holds():
    query = (
        "datatable(a:string, p:bool, n:long)['', true, 1, 'x', false, 2, 'y', true, 3] "
        "| summarize take_anyif(a, p), m = take_anyif(n, p and n > 1), anyif(n, n > 5)"
    )
    # a non-empty value is preferred (take_anyif page); no qualifying row gives null
    assert run(query) == [["y", 3, None]]
    assert [name for name, _ in columns(query)] == ["a", "m", "anyif_n"]


def test_take_anyif_by_group():
    query = (
        "datatable(k:string, v:long)['a', 1, 'a', 2, 'b', 3] "
        "| summarize v = take_anyif(v, v % 2 == 0) by k | sort by k asc"
    )
    assert run(query) == [["a", 2], ["b", None]]


# ----------------------------------------------------------------- ingestion_time
def test_ingestion_time_is_refused_with_the_reason():
    error = refused("print ingestion_time()")
    assert error.code == "EMU001"
    assert "fixture rows have no ingestion time" in error.message
