"""The emulator's tabular operators and plugins (plugins.py) against the KQL reference.

Expected values are worked out by hand from the documented rules; where the reference leaves a
case open the emulator refuses (EMU001) or fails the query (EMU002) rather than guess.
"""

from __future__ import annotations

import datetime as dt

import pytest

from conftest import emulate, emulate_result
from dac.emulator import EmulatorError

result = emulate_result
run = emulate


def fails(query: str, code: str = "EMU001") -> str:
    with pytest.raises(EmulatorError) as caught:
        run(query)
    assert caught.value.code == code
    return caught.value.message


# ----------------------------------------------------------------- bag_unpack and pivot
BAGS = 'datatable(Name:string, d:dynamic)["x", dynamic({"b": 1, "a": "s"}), "y", dynamic({"a": "t", "c": true})]'


def test_bag_unpack_sorts_new_columns_and_types_them():
    columns, rows = result(f"{BAGS} | evaluate bag_unpack(d)")
    assert columns == ["Name", "a", "b", "c"]
    assert rows == [["x", "s", 1, None], ["y", "t", None, True]]


def test_bag_unpack_prefix_and_ignored_properties():
    columns, rows = result(f"{BAGS} | evaluate bag_unpack(d, 'p_', ignoredProperties=dynamic(['c']))")
    assert columns == ["Name", "p_a", "p_b"]
    assert rows[0] == ["x", "s", 1]


def test_bag_unpack_conflicts():
    table = 'datatable(a:string, d:dynamic)["old", dynamic({"a": "new"})]'
    assert run(f"{table} | evaluate bag_unpack(d, columnsConflict='replace_source')") == [["new"]]
    assert run(f"{table} | evaluate bag_unpack(d, columnsConflict='keep_source')") == [["old"]]
    assert fails(f"{table} | evaluate bag_unpack(d)", "EMU006")


def test_pivot_counts_each_value_and_fills_zero():
    table = 'datatable(State:string, Kind:string)["A", "x", "A", "x", "B", "x", "B", "y"]'
    columns, rows = result(f"{table} | evaluate pivot(State)")
    assert columns == ["Kind", "A", "B"]
    assert sorted(rows) == [["x", 2, 1], ["y", 0, 1]]


def test_pivot_with_an_aggregate():
    table = 'datatable(State:string, Kind:string, n:long)["A", "x", 1, "A", "x", 2, "B", "y", 5]'
    columns, rows = result(f"{table} | evaluate pivot(State, sum(n))")
    assert columns == ["Kind", "A", "B"]
    assert sorted(rows, key=str) == [["x", 3, None], ["y", None, 5]]


# ----------------------------------------------------------------- time-window plugins
def test_sliding_window_counts_looks_back_whole_bins():
    query = """datatable(U:string, T:datetime)["a", datetime(2020-01-01), "b", datetime(2020-01-02),
        "a", datetime(2020-01-03)]
        | evaluate sliding_window_counts(U, T, datetime(2020-01-01), datetime(2020-01-03), 2d, 1d)"""
    rows = run(query)
    assert [r[1:] for r in rows] == [[1, 1], [2, 2], [2, 2]]  # windows {1}, {1,2}, {2,3}


def test_activity_counts_metrics_counts_new_and_seen_ids():
    query = """datatable(U:string, T:datetime)["a", datetime(2020-01-01), "a", datetime(2020-01-02),
        "b", datetime(2020-01-02)]
        | evaluate activity_counts_metrics(U, T, datetime(2020-01-01), datetime(2020-01-02), 1d)"""
    assert [r[1:] for r in run(query)] == [[1, 1, 1, 1], [2, 2, 1, 2]]


def test_active_users_count_needs_enough_distinct_periods():
    query = """datatable(U:string, T:datetime)["a", datetime(2020-01-01), "a", datetime(2020-01-02),
        "b", datetime(2020-01-02)]
        | evaluate active_users_count(U, T, datetime(2020-01-01), datetime(2020-01-10), 3d, 1d, 2, 1d)"""
    rows = run(query)  # only 'a' on Jan 2 was seen on 2 distinct days within (Dec 30, Jan 2]
    assert rows == [[dt.datetime(2020, 1, 2), 1]]


def test_rolling_percentile_nearest_rank():
    query = """range i from 0 to 3 step 1 | extend T = datetime(2020-01-01) + 1d * i, v = i + 1
        | evaluate rolling_percentile(v, 50, T, 1d, 2)"""
    columns, rows = result(query)
    assert columns == ["T", "rolling_2_percentile_v_50"]
    assert [r[1] for r in rows] == [1, 1, 2, 3]  # {1}, {1,2}, {2,3}, {3,4}


# ----------------------------------------------------------------- mv-expand and mv-apply
def test_mv_expand_several_columns_pads_with_null_and_indexes():
    query = "print a = dynamic([1, 2, 3]), b = dynamic(['x']) | mv-expand with_itemindex=i a, b"
    columns, rows = result(query)
    assert columns == ["a", "b", "i"]
    assert rows == [[1, "x", 0], [2, None, 1], [3, None, 2]]


def test_mv_expand_bag_as_arrays_with_limit_and_type():
    rows = run("print b = dynamic({'k': 1, 'l': 2}) | mv-expand bagexpansion=array b limit 1")
    assert rows == [[["k", 1]]]
    rows = run("print a = dynamic(['1', '2']) | mv-expand a to typeof(long) | getschema")
    assert rows == [["a", 0, "System.Int64", "long"]]


def test_mv_expand_of_parsed_text_with_mixed_elements():
    # parse-json-function.md: properly formatted JSON text is parsed (whitespace around it is JSON's own);
    # text that is not JSON gives a dynamic holding the original string. mv-expand page: one row per element
    # of an array, one single-property bag per property of a bag. tostring-function.md: a string as itself,
    # null as "", anything else as its JSON text.
    query = """datatable(t:string)['[1, "a", null, {"b": 2}, 1.5, true]', ' [ "x" ]', '{"k": "v"}']
        | extend F = parse_json(t) | mv-expand F | project F, s = tostring(F)"""
    assert run(query) == [
        [1, "1"],
        ["a", "a"],
        [None, ""],
        [{"b": 2}, '{"b":2}'],
        [1.5, "1.5"],
        [True, "true"],
        ["x", "x"],
        [{"k": "v"}, '{"k":"v"}'],
    ]
    query = """datatable(t:string)['[1, "a", null]', '["b", "b"]']
        | extend F = parse_json(t) | mv-expand F | summarize n = count() by Field = tostring(F)"""
    assert sorted(run(query)) == [["", 1], ["1", 1], ["a", 1], ["b", 2]]
    assert run("""print t = '["a", 2, null]' | mv-expand F = parse_json(t) to typeof(string) | project F""") == [
        ["a"],
        ["2"],
        [""],
    ]
    assert run('print t = "not [json" | project d = parse_json(t), s = tostring(parse_json(t))') == [
        ["not [json", "not [json"]
    ]


def test_mv_apply_runs_the_subquery_per_row():
    query = """datatable(k:long, a:dynamic)[1, dynamic([3, 9, 4]), 2, dynamic([7])]
        | mv-apply v = a to typeof(long) on (top 1 by v)"""
    columns, rows = result(query)
    assert columns == ["k", "a", "v"]
    assert sorted(rows, key=lambda r: r[0]) == [[1, [3, 9, 4], 9], [2, [7], 7]]


# ----------------------------------------------------------------- row functions
ORDERED = 'datatable(g:string, v:long)["a", 1, "a", 2, "b", 3, "b", 3, "b", 5]'


def test_row_cumsum_and_row_number_restart():
    query = f"{ORDERED} | extend c = row_cumsum(v, g != prev(g)), n = row_number(1, g != prev(g))"
    assert [r[2:] for r in run(query)] == [[1, 1], [3, 2], [3, 1], [6, 2], [11, 3]]


def test_row_ranks_on_serialized_values():
    query = f"{ORDERED} | extend m = row_rank_min(v), d = row_rank_dense(v)"
    assert [r[2:] for r in run(query)] == [[1, 1], [2, 2], [3, 3], [3, 3], [5, 4]]


def test_row_rank_refuses_a_value_that_comes_back():
    fails("datatable(v:long)[1, 2, 1] | extend r = row_rank_min(v)", "EMU002")


def test_prev_and_next_with_default():
    rows = run("range x from 1 to 3 step 1 | extend p = prev(x, 1, 0), n = next(x)")
    assert rows == [[1, 0, 2], [2, 1, 3], [3, 2, None]]


def test_sort_keeps_ties_in_input_order():
    rows = run('datatable(k:long, s:string)[2, "a", 1, "b", 2, "c", 1, "d"] | sort by k asc')
    assert [r[1] for r in rows] == ["b", "d", "a", "c"]


# ----------------------------------------------------------------- parse, parse-kv
def test_parse_into_datetime_reads_us_dates():
    rows = run('print s = "at 02/17/2016 08:40:01." | parse s with "at " t:datetime "." *')
    assert rows[0][1] == dt.datetime(2016, 2, 17, 8, 40, 1)


def test_parse_regex_groups_do_not_shift_columns():
    rows = run('print s = "ab=12" | parse kind=regex s with "(a|x)b=" n:long')
    assert rows[0][1] == 12


# The parse page's and parse-where page's examples of regex flags, on one of their Traces lines each.
_TRACE = (
    "Event: NotifySliceRelease (resourceName=PipelineScheduler, totalSlices=27, sliceNumber=23, "
    "lockTime=02/17/2016 08:40:01, releaseTime=02/17/2016 08:40:01, previousLockTime=02/17/2016 08:39:01)"
)


def test_parse_regex_is_greedy_and_flags_u_and_i_make_it_ungreedy_and_case_insensitive():
    traces = f'let Traces = datatable(EventText: string)["{_TRACE}"]; Traces '
    pattern = "EventText with * \"resourceName=\" resourceName ',' * | project resourceName"
    greedy = run(traces + "| parse kind=regex " + pattern)
    assert greedy == [[_TRACE[len("Event: NotifySliceRelease (resourceName=") : _TRACE.index(", previousLockTime")]]]
    flagged = run(traces + "| parse kind=regex flags=Ui EventText with * \"RESOURCENAME=\" resourceName ',' * "
                  "| project resourceName")  # fmt: skip
    assert flagged == [["PipelineScheduler"]]


def test_parse_regex_flag_s_lets_the_pattern_cross_new_lines():
    text = _TRACE.replace(", ", "\\n")
    query = (f'let Traces = datatable(EventText: string)["{text}"]; Traces | parse kind=regex flags=s EventText with * '
             '"resourceName=" resourceName: string "(.*?)totalSlices=" totalSlices: long '
             '"(.*?)lockTime=" lockTime: datetime '
             '"(.*?)releaseTime=" releaseTime: datetime "(.*?)previousLockTime=" previousLockTime: datetime "\\\\)" '
             "| project-away EventText")  # fmt: skip
    moment = dt.datetime(2016, 2, 17, 8, 40, 1)
    assert run(query) == [["PipelineScheduler\n", 27, moment, moment, dt.datetime(2016, 2, 17, 8, 39, 1)]]


def test_parse_where_regex_flag_i():
    lines = [_TRACE, _TRACE.replace("totalSlices=27", "totalSlices=non_valid_integer")]
    table = "let Traces = datatable(EventText: string)[" + ", ".join(f'"{line}"' for line in lines) + "]; Traces "
    pattern = 'EventText with * "RESOURCENAME=" resourceName "," * "totalSlices=" totalSlices: long "," *'
    assert run(table + f"| parse-where kind = regex {pattern} | project resourceName, totalSlices") == []
    flagged = run(table + f"| parse-where kind = regex flags=i {pattern} | project resourceName, totalSlices")
    assert flagged == [["PipelineScheduler", 27]]


def test_parse_regex_flags_the_emulator_cannot_place_are_refused():
    fails('print s = "a=12" | parse kind=regex flags=m s with "a=" n:long')  # how Kusto anchors under m: unknown
    fails('print s = "a=12" | parse kind=regex flags=x s with "a=" n:long')
    fails('print s = "a=12,b" | parse kind=regex flags=U s with "a=" n:long * "b"')  # lazy digits before `*`
    fails('print s = "a=12,b" | parse kind=regex flags=U s with "a=" n')  # ungreedy last column: its end unknown
    assert run('print s = "a=12,b" | parse kind=regex flags=U s with "a=" n:long "," * | project n') == [[12]]


def test_parse_kv_quotes_and_escapes():
    query = r"""print s = 'x=1 y="a \\"b\\" c" z=w' | parse-kv s as (x:long, y:string, z:string, q:string)
        with (pair_delimiter=' ', kv_delimiter='=', quote='"', escape='\\')"""
    assert run(query)[0][1:] == [1, 'a "b" c', "w", ""]


def test_parse_kv_without_quotes_stops_at_the_pair_delimiter():
    query = "print s = 'a=John Doe b=2' | parse-kv s as (a:string, b:long) with (pair_delimiter=' ', kv_delimiter='=')"
    assert run(query)[0][1:] == ["John", 2]


# ----------------------------------------------------------------- scan, partition, top-nested
def test_scan_single_step_running_state():
    query = """range x from 1 to 4 step 1
        | scan declare (total:long = 0) with (step s: true => total = iff(s.total >= 3, x, s.total + x);)"""
    assert [r[1] for r in run(query)] == [1, 3, 3, 4]  # 3 >= 3 restarts at x


def test_scan_two_steps_build_sequences_with_match_id():
    query = """datatable(t:long, e:string)[1, "start", 2, "stop", 3, "stop", 4, "start", 5, "stop"]
        | scan with_match_id = m declare (began:long) with (
            step a output=none: e == "start" => began = t;
            step b: e == "stop" => began = a.began;)"""
    # a second "stop" matches step b again (check 2: its state holds an active match)
    assert run(query) == [[2, "stop", 1, 0], [3, "stop", 1, 0], [5, "stop", 4, 1]]


def test_partition_runs_the_subquery_per_value():
    query = """datatable(k:string, v:long)["a", 1, "b", 5, "a", 3, "b", 2]
        | partition hint.strategy=native by k (top 1 by v)"""
    assert sorted(run(query)) == [["a", 3], ["b", 5]]


def test_top_nested_keeps_top_groups_per_parent():
    query = """datatable(a:string, b:string, n:long)["x", "p", 1, "x", "q", 5, "y", "p", 2, "y", "r", 1, "y", "r", 9]
        | top-nested 1 of a by s=sum(n), top-nested 1 of b by t=sum(n)"""
    columns, rows = result(query)
    assert columns == ["a", "s", "b", "t"]
    assert rows == [["y", 12, "r", 10]]


# ----------------------------------------------------------------- views, union, project-by-names, invoke
def test_union_over_views_with_wildcards_fuzzy_and_type_suffixes():
    query = """let V_1 = view () { print x = 1 };
        let V_2 = view () { print x = toint(2) };
        union withsource=T isfuzzy=true V_*, (Missing | where x > 0)"""
    columns, rows = result(query)
    assert columns == ["T", "x_long", "x_int"]
    assert rows == [["V_1", 1, None], ["V_2", None, 2]]


def test_project_by_names_and_invoke():
    query = """let F = (T:(a:long), extra:dynamic) { T | extend c = 3 | project-by-names column_names_of(T), extra };
        datatable(a:long, b:long)[1, 2] | invoke F(dynamic(['c']))"""
    columns, rows = result(query)
    assert columns == ["a", "b", "c"]
    assert rows == [[1, 2, 3]]
    columns, _ = result('datatable(Name:string, City:string, Age:long)["n", "c", 1] | project-by-names "C*", "Name"')
    assert columns == ["City", "Name"]


def test_reduce_is_refused():
    fails('print s = "a" | reduce by s')


def test_range_operator_of_longs_reals_and_datetimes():
    # range-operator: the values from start to stop (inclusive) by step; a real bound or step makes the
    # column real (Microsoft's binder types `range x from 1 to 3.5 step 1` as real).
    assert run("range x from 1 to 5 step 2") == [[1], [3], [5]]
    assert run("range x from 5 to 1 step -2") == [[5], [3], [1]]
    assert run("range x from 1.0 to 2.0 step 0.5") == [[1.0], [1.5], [2.0]]
    assert run("range x from 1 to 3.5 step 1") == [[1.0], [2.0], [3.0]]
    assert run("range x from 1.0 to 2.0 step -0.5") == []
    assert run("range t from datetime(2024-01-01) to datetime(2024-01-02) step 1d") == [
        [dt.datetime(2024, 1, 1)],
        [dt.datetime(2024, 1, 2)],
    ]
