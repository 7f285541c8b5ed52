"""Operators of real queries the emulator runs: union of a column whose type a later input changes,
bag_unpack over no rows, and queries whose compilation must stay fast."""

from __future__ import annotations

import datetime as dt

import pytest

from dac.emulator import Emulator, EmulatorError
from dac.model.tables import environment


def _run(query: str, dialect: str = "sentinel") -> tuple[list, list]:
    engine = Emulator(environment(dialect), now=dt.datetime(2024, 1, 1))
    try:
        result = engine.run(query)
    finally:
        engine.close()
    return result.columns, [list(row) for row in result.rows]


# --------------------------------------------------------------------------- union with a later type
def test_union_keeps_the_type_two_inputs_agree_on_when_the_later_input_is_empty():
    # kqlcheck --result: union (print A=int(1)), (print A=int(2)), (print A=dynamic([1]) | where false)
    # is [["A","int"]]; the later input has no rows, so the rows are the first two inputs' (union reference:
    # "returns all rows from two or more tables").
    columns, rows = _run("union (print A=int(1)), (print A=int(2)), (print A=dynamic([1]) | where false)")
    assert columns == [("A", "int")]
    assert sorted(rows) == [[1], [2]]


def test_union_with_rows_of_the_later_type_is_refused():
    # Where the binder's single column A:int puts a later input's dynamic value is not documented
    # (the reference says "one column per name and type"): refused rather than guessed.
    with pytest.raises(EmulatorError) as caught:
        _run("union (print A=int(1)), (print A=int(2)), (print A=dynamic([1]))")
    assert "in a later one" in caught.value.message


# --------------------------------------------------------------------------- mv-apply sees the row
def test_mv_apply_sub_query_reads_the_rows_other_columns():
    # kqlcheck --result binds `extend v=b[e]` inside the sub-query and gives b, arr, e:string, v:dynamic;
    # mv-apply reference: the result adds "the values of the source columns that aren't expanded".
    columns, rows = _run(
        'print b=dynamic({"a":1}), arr=dynamic(["a"]) | mv-apply e=arr to typeof(string) on (extend v=b[e])'
    )
    assert columns == [("b", "dynamic"), ("arr", "dynamic"), ("e", "string"), ("v", "dynamic")]
    assert rows == [[{"a": 1}, ["a"], "a", 1]]


def test_mv_apply_sub_query_column_of_a_rows_name_takes_its_place():
    # kqlcheck --result: ... on (extend b=1) gives [b:long, arr:dynamic, e:string].
    columns, rows = _run(
        'print b=dynamic({"a":1}), arr=dynamic(["a"]) | mv-apply e=arr to typeof(string) on (extend b=1)'
    )
    assert columns == [("b", "long"), ("arr", "dynamic"), ("e", "string")]
    assert rows == [[1, ["a"], "a"]]


def test_mv_apply_summarizing_sub_query_keeps_the_rows_columns():
    # kqlcheck --result: ... on (extend v=b[e] | summarize vs=make_list(v)) gives [b, arr, vs]: the row's
    # columns come back (mv-apply reference: "values of the source columns that aren't expanded").
    columns, rows = _run(
        'print b=dynamic({"a":1}), arr=dynamic(["a"]) | mv-apply e=arr to typeof(string) on '
        "(extend v=b[e] | summarize vs=make_list(v))"
    )
    assert columns == [("b", "dynamic"), ("arr", "dynamic"), ("vs", "dynamic")]
    assert rows == [[{"a": 1}, ["a"], [1]]]
