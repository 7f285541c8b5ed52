"""The emulator's semantics against the KQL reference (docs/emulator-semantics.md): each expected value comes
from the words of the page named in the comment, and where the reference leaves a case open the emulator
must refuse (EMU001 when compiling, EMU002 while running), never answer.
"""

from __future__ import annotations

import datetime as dt
import math
import os

import pytest

from conftest import emulate, emulation_error, scalar

run = emulate
one = scalar
fails = emulation_error


# ----------------------------------------------------------------- summarize: default values of aggregations
# summarize operator page, "Default values of aggregations": count(), countif(), dcount(), dcountif(),
# count_distinct(), sum(), sumif(), variance(), varianceif(), stdev(), stdevif() -> 0; make_bag(), make_bag_if(),
# make_list(), make_list_if(), make_set(), make_set_if() -> empty dynamic array ([]); all others -> null.
def test_zero_defaults_over_an_empty_input_without_by() -> None:
    query = (
        "datatable(x:long)[] | summarize count(), countif(x > 0), dcount(x), dcountif(x, x > 0), count_distinct(x), "
        "sum(x), sumif(x, x > 0), variance(x), varianceif(x, x > 0), stdev(x), stdevif(x, x > 0)"
    )
    assert run(query) == [[0, 0, 0, 0, 0, 0, 0, 0.0, 0.0, 0.0, 0.0]]


def test_array_defaults_over_an_empty_input() -> None:
    query = (
        "datatable(x:long)[] | summarize a = make_list(x), b = make_list_if(x, x > 0), c = make_set(x), "
        "d = make_set_if(x, x > 0), e = make_bag(bag_pack('k', x)), f = make_bag_if(bag_pack('k', x), x > 0)"
    )
    assert run(query) == [[[], [], [], [], [], []]]


def test_other_aggregates_are_null_over_an_empty_input() -> None:
    # "All others: null"; the page's example shows max_x, min_x, any_x, schema_x empty (null)
    query = "datatable(x:long)[] | summarize max(x), min(x), take_any(x), buildschema(todynamic(tostring(x)))"
    assert run(query) == [[None, None, None, None]]


def test_avg_of_an_empty_input_is_nan() -> None:
    # the page's example: "The result of avg_x(x) is NaN due to dividing by 0"
    value = run("datatable(x:long)[] | summarize avg(x)")[0][0]
    assert math.isnan(value)


def test_an_empty_input_with_by_gives_no_row() -> None:
    # "If GroupExpression is provided, the output has no rows."
    assert run("datatable(x:long, k:string)[] | summarize sum(x), countif(x > 0) by k") == []


def test_nulls_are_ignored_by_sum() -> None:
    # the page's example: x = 1..4 with y null for x == 1 and 5 otherwise -> sum_y 15, avg_y 5
    query = "range x from 1 to 4 step 1 | extend y = iff(x == 1, real(null), real(5)) | summarize sum(y), avg(y)"
    assert run(query) == [[15.0, 5.0]]


def test_sum_of_a_timespan_over_no_row_is_a_zero_timespan() -> None:
    assert run("datatable(t:timespan)[] | summarize sum(t)") == [[dt.timedelta(0)]]
    assert run("datatable(t:timespan)[1s, 2s] | summarize sum(t)") == [[dt.timedelta(seconds=3)]]


def test_variance_of_one_value_still_refuses() -> None:
    fails("datatable(x:long)[1] | summarize variance(x)", "EMU002")  # not documented


# ----------------------------------------------------------------- make_list / make_set sizes
def test_make_list_and_make_set_take_a_maximum_size() -> None:
    # make_list page: "MaxSize is an optional integer limit on the maximum number of elements returned"
    rows = run("range x from 1 to 10 step 1 | summarize l = make_list(x, 3), s = make_set(x, 2)")
    assert [len(rows[0][0]), len(rows[0][1])] == [3, 2]


def test_deprecated_makelist_and_makeset_default_to_128() -> None:
    # makelist: "A legacy and obsolete variant of this function: makelist() has a default limit of MaxSize = 128";
    # make_set: "The deprecated version has a default maxSize limit of 128."
    query = (
        "range x from 1 to 200 step 1 | summarize a = makelist(x), b = makeset(x), c = make_list(x), d = make_set(x)"
        " | project array_length(a), array_length(b), array_length(c), array_length(d)"
    )
    assert run(query) == [[128, 128, 200, 200]]


def test_a_maximum_size_beyond_the_documented_limit_refuses() -> None:
    # "The default and max value is 1048576": a larger one has no documented meaning
    fails("range x from 1 to 2 step 1 | summarize make_list(x, 2000000)", "EMU001")


# ----------------------------------------------------------------- toint / tolong
def test_toint_truncates_a_decimal_value() -> None:
    # toint page: "If the input includes a decimal value, the result truncate to only the integer portion."
    # Its example: toint(2.3) -> 2. tolong's page is silent; the same rule is applied.
    assert run("print toint(2.3), toint(2.7), tolong(2.7), toint(-2.7), tolong(-2.7)") == [[2, 2, 2, -2, -2]]


def test_toint_of_a_decimal_string_truncates() -> None:
    assert run('print toint("2.7"), tolong("-2.7"), tolong("123"), toint("123") == 123') == [[2, -2, 123, True]]


def test_a_failed_conversion_is_null() -> None:
    # "If the conversion isn't successful, the result is null."
    assert run('print toint("abc"), tolong("")') == [[None, None]]


def test_numbers_in_other_forms_refuse() -> None:
    fails('print tolong("1e3")', "EMU002")
    fails("print tolong(1s)", "EMU001")  # ticks: not on the conversion pages


def test_todouble_of_texts() -> None:
    # todouble page: converts the input to a real; "If conversion isn't successful, the result is null"
    assert run('print todouble("123.4"), toreal("1e3"), todouble("abc"), todouble("")') == [[123.4, 1000.0, None, None]]
    for text in ("nan", " 1", "inf"):  # DuckDB reads these; how Kusto does is not documented
        fails(f'print todouble("{text}")', "EMU002")


# ----------------------------------------------------------------- has and its terms
def test_a_needle_beginning_with_a_separator_matches_after_a_term() -> None:
    # string operators page, "What is a term?": terms are maximal sequences of alphanumeric characters, so a
    # needle's leading backslash is itself a separator and needs no boundary before it.
    query = r'print @"C:\Users\x\Start Menu\Programs\Startup\x.lnk" has @"\Start Menu\Programs\Startup"'
    assert run(query) == [[True]]


def test_has_examples_of_the_reference() -> None:
    # the examples of the has, hasprefix and hassuffix tables (each yields true), and the page's note that
    # "KustoExplorerQueryRun" has "Explorer" is false
    assert run(
        'print "North America" has "america", "North America" !has "amer", "North America" has_cs "America", '
        '"North America" !has_cs "amer", "North America" hasprefix "ame", "North America" !hasprefix "mer", '
        '"North America" hasprefix_cs "Ame", "North America" !hasprefix_cs "CA", "North America" hassuffix "ica", '
        '"North America" !hassuffix "americ", "North America" hassuffix_cs "ica", '
        '"North America" !hassuffix_cs "icA", "KustoExplorerQueryRun" !has "Explorer"'
    ) == [[True] * 13]


def test_a_needle_ending_in_letters_still_needs_a_boundary() -> None:
    assert run('print "abc.exe" has "c.exe", "a.exe" has ".exe", "a.exex" has ".exe", "x-abc-" has "abc-"') == [
        [False, True, False, True]
    ]


def test_has_any_and_has_all_use_the_same_rule() -> None:
    assert run(r'print @"a\Start Menu\b" has_any (@"\Start Menu", "zzz"), "cmd.exe" has_all ("cmd", ".exe")') == [
        [True, True]
    ]
    # the many-needles path (one regular expression) keeps each needle's own boundaries
    many = ", ".join(f'"v{i}"' for i in range(80))
    assert run(f'print @"a\\Start Menu\\b" has_any (@"\\Start Menu", {many}), "xcmd" has_any ("cmd", {many})') == [
        [True, False]
    ]


# ----------------------------------------------------------------- between
def test_between_a_datetime_and_a_timespan() -> None:
    # between page: rightRange "can only be of type timespan if expr and leftRange are both of type datetime";
    # the range ends that long after the left end, inclusive
    assert run(
        "print datetime(2024-01-01 00:10) between (datetime(2024-01-01) .. 10m), "
        "datetime(2024-01-01 00:10:00.001) between (datetime(2024-01-01) .. 10m), "
        "datetime(2024-01-01 00:05) !between (datetime(2024-01-01) .. 10m)"
    ) == [[True, False, False]]


def test_a_timespan_right_end_with_numbers_refuses() -> None:
    fails("print 5 between (1 .. 10m)", "EMU001")


# ----------------------------------------------------------------- strings compared with numbers
def test_a_string_compared_with_a_number_refuses() -> None:
    # Microsoft's binder (kqlcheck): "The operator '<' is not defined for the operand types string and long"
    fails('datatable(R:string)["0"] | where R < 1', "EMU001")
    fails('datatable(R:string)["0"] | where R in (0.0, 1.0)', "EMU001")  # a real's text is not documented
    assert run('datatable(R:string)["0", "00"] | where R == "0"') == [["0"]]


def test_a_string_equal_to_an_integer_answers_only_where_both_readings_agree() -> None:
    # The binder accepts ==; the reference does not say whether Kusto compares the text with the number's digits
    # or the text's number with the number. "0" == 0 is true and "abc" == 0 false under both readings; "00"
    # differs between them, so the query stops there instead of guessing.
    assert run('datatable(R:string)["0", "50126", "abc", ""] | where R == 0') == [["0"]]
    assert run('datatable(R:string)["0", "-5", "abc"] | where R != -5') == [["0"], ["abc"]]
    assert "not documented" in fails('datatable(R:string)["0", "00"] | where R == 0', "EMU002")
    fails('datatable(R:string)["0"] | where R == 0.0', "EMU001")  # a real's text is not documented either
    # in and !in: the OR of the per-item equalities, under the same rule
    assert run('datatable(R:string)["0", "50126", "abc", ""] | where R in (0, 50126)') == [["0"], ["50126"]]
    assert run('datatable(R:string)["0", "50126", "abc"] | where R !in (0, 50126)') == [["abc"]]
    fails('datatable(R:string)["00"] | where R in (0, 1)', "EMU002")


# ----------------------------------------------------------------- DuckDB's errors never reach the user
def test_an_engine_error_is_named_in_kql_words(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DAC_DEBUG", raising=False)
    message = fails("print strlen(5)", "EMU002")
    assert "Binder Error" not in message and "BIGINT" not in message and "length(" not in message
    assert "type" in message


def test_a_type_mismatch_points_at_the_function(monkeypatch: pytest.MonkeyPatch) -> None:
    from dac.emulator import EmulatorError

    monkeypatch.delenv("DAC_DEBUG", raising=False)
    query = "datatable(x:long)[1] | extend y = strcat('a', 'b') | extend z = tolower(x)"
    with pytest.raises(EmulatorError) as caught:
        run(query)
    assert (caught.value.code, caught.value.offset) == ("EMU002", query.index("tolower"))
    assert "tolower()" in caught.value.message and "Binder" not in caught.value.message
    query = 'datatable(s:string, k:long)["a", 1] | summarize n = count(), t = sum(s) by k'
    with pytest.raises(EmulatorError) as aggregate:
        run(query)
    assert (aggregate.value.offset, "sum()" in aggregate.value.message) == (query.index("sum(s)"), True)
    with pytest.raises(EmulatorError) as refused:
        run("print tolong(1s)")
    assert (refused.value.code, refused.value.offset) == ("EMU001", len("print "))


def test_dac_debug_keeps_the_engine_detail(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAC_DEBUG", "1")
    assert "[engine:" in fails("print strlen(5)", "EMU002")
    assert os.environ["DAC_DEBUG"] == "1"


def test_the_emulator_own_refusals_keep_their_words() -> None:
    assert fails("datatable(x:long)[1] | summarize variance(x)").startswith("the emulator cannot reproduce Kusto")


# ----------------------------------------------------------------- reals as text
def test_tostring_of_a_real_with_a_fraction_is_its_shortest_text() -> None:
    # the real data type page: real is .NET's System.Double; its shortest round-trip text has these digits
    assert run("print tostring(0.1), tostring(2.5), tostring(-0.25), strcat('a', 1 / 3.0)") == [
        ["0.1", "2.5", "-0.25", "a0.3333333333333333"]
    ]
    assert one("tostring(real(null))") == ""  # tostring page: "If value is null, the result is an empty string."


def test_tostring_of_reals_whose_text_is_not_documented_refuses() -> None:
    for value in ("1.0", "1e20", "1.5e-7", "real(nan)"):
        fails(f"print tostring({value})", "EMU002")


# ----------------------------------------------------------------- 100 ns ticks
def test_timespan_literals_are_exact_or_refused() -> None:
    # timespan data type page: 1tick is 100 ns; the emulator holds microseconds, so 10 ticks are exact and a
    # single tick is refused rather than rounded to 0
    assert run("print 10tick, 1.5h, 0.1ms, time(1.02:03:04.5)") == [
        [
            dt.timedelta(microseconds=1),
            dt.timedelta(hours=1, minutes=30),
            dt.timedelta(microseconds=100),
            dt.timedelta(days=1, hours=2, minutes=3, seconds=4.5),
        ]
    ]
    fails("print 1tick", "EMU001")
    fails("print time(0.00:00:00.0000001)", "EMU001")


def test_datetimes_keep_seven_fractional_digits() -> None:
    # datetime data type: 100 ns ticks; tostring() prints all seven digits
    assert one("tostring(datetime(2020-01-01 10:00:00.1234567))") == "2020-01-01T10:00:00.1234567Z"


# --------------------------------------------------------------------------- take_any of several expressions
def _take_any_result(summarize: str) -> tuple[list, list]:
    from dac.emulator import Emulator
    from dac.model.tables import environment

    engine = Emulator(environment("defender"))
    try:
        result = engine.run(
            'datatable(A:string, B:long, C:int)["a", 1, 1, "b", 2, 1, "c", 3, 2] | ' + summarize + " | sort by C asc"
        )
    finally:
        engine.close()
    return result.columns, [list(row) for row in result.rows]


def test_take_any_of_several_expressions_takes_them_from_one_record():
    # take_any reference: "returns the value of one or more expressions over each such record"; the
    # names are Microsoft's binder's (kqlcheck --result): a column keeps its name, an expression is any_argN.
    columns, rows = _take_any_result("summarize take_any(A, B), take_any(tolower(A)) by C")
    assert columns == [("C", "int"), ("A", "string"), ("B", "long"), ("any_arg0", "string")]
    assert [row[1:3] for row in rows] in ([["a", 1], ["c", 3]], [["b", 2], ["c", 3]])  # one record's values


def test_take_any_star_and_any_names():
    # `*`: every column that is not grouped by (binder); any() prefixes any_ (any_A, any_arg1).
    columns, _ = _take_any_result("summarize take_any(*) by C")
    assert columns == [("C", "int"), ("A", "string"), ("B", "long")]
    columns, _ = _take_any_result("summarize any(A, tolower(A)) by C")
    assert columns == [("C", "int"), ("any_A", "string"), ("any_arg1", "string")]


def test_arg_min_arguments_named_in_place():
    # Microsoft's binder (kqlcheck --result): arg_min(P = B, X = A) names its columns P and X; `*` after
    # them adds only the columns no argument read.
    columns, rows = _take_any_result("summarize arg_min(P = B, X = A) by C")
    assert columns == [("C", "int"), ("P", "long"), ("X", "string")]
    assert rows == [[1, 1, "a"], [2, 3, "c"]]
    columns, _ = _take_any_result("summarize arg_max(B, X = A, *) by C")
    assert columns == [("C", "int"), ("B", "long"), ("X", "string")]


# --------------------------------------------------------------------------- series functions of several columns
def test_series_fit_line_matches_the_reference_example():
    # series_fit_line reference, example: y = [2, 5, 6, 8, 11, 15, 17, 18, 25, 26, 30, 30] gives RSquare 0.982,
    # Slope 2.730, Variance 98.628, RVariance 1.686, Interception -1.666, LineFit 1.064, 3.7945, ...
    rows = emulate(
        "print y=dynamic([2, 5, 6, 8, 11, 15, 17, 18, 25, 26, 30, 30]) "
        "| extend (RSquare, Slope, Variance, RVariance, Interception, LineFit)=series_fit_line(y) | project-away y"
    )
    rsquare, slope, variance, rvariance, interception, line = rows[0]
    assert [round(v, 3) for v in (rsquare, slope, variance, rvariance)] == [0.983, 2.731, 98.629, 1.686]
    assert round(interception, 3) == -1.667 and round(line[0], 3) == 1.064 and round(line[1], 4) == 3.7949
    assert len(line) == 12


def test_series_stats_gives_its_seven_columns():
    # series_stats reference: min, min_idx, max, max_idx, avg, stdev, variance, named series_stats_y_<output>
    # (Microsoft's binder), the first ones renamed by `(a, b) =`.
    from dac.emulator import Emulator
    from dac.model.tables import environment

    engine = Emulator(environment("defender"))
    try:
        result = engine.run("print y=dynamic([4, 1, 7]) | extend (lo, lo_at) = series_stats(y) | project-away y")
    finally:
        engine.close()
    assert [name for name, _ in result.columns] == [
        "lo", "lo_at", "series_stats_y_max", "series_stats_y_max_idx", "series_stats_y_avg", "series_stats_y_stdev",
        "series_stats_y_variance",
    ]  # fmt: skip
    assert list(result.rows[0])[:5] == [1.0, 1, 7.0, 2, 4.0] and result.rows[0][6] == 9.0


def test_columns_differing_only_in_case_stay_two_columns():
    # KQL names are case-sensitive (entity names reference): Ab and AB are two columns after join, project
    # and print, each with its own value.
    assert emulate(
        'datatable(K:int, Ab:string)[1, "x"] | join (datatable(K:int, AB:string)[1, "y"]) on K | project AB, Ab'
    ) == [["y", "x"]]
    assert emulate("print a=1, A=2") == [[1, 2]]
