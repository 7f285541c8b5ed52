"""`in` / `!in` / `in~` with dynamic operands (in-operator.md, in-cs-operator.md): "Nested arrays are
flattened into a single list of values. For example, x in (dynamic([1,[2,3]])) becomes x in (1,2,3)", and
a tabular operand gives the values of its first column. So a let of `summarize make_set(...)` (one row, one
array) is the list of the array's elements: the common "known good hosts" pattern of detections.
"""

from __future__ import annotations

from conftest import emulate

HOSTS = "let Known = datatable(x: string) ['a', 'B'] | summarize Hosts = make_set(x);"
ROWS = "datatable(d: string) ['a', 'b', 'c', '']"


def test_the_reference_example_flattens_nested_arrays():
    assert emulate("datatable(d: long) [1, 2, 3, 4] | where d in (dynamic([1, [2, 3]]))") == [[1], [2], [3]]


def test_in_a_let_of_make_set_compares_with_the_set_elements():
    assert emulate(f"{HOSTS} {ROWS} | where d in (Known)") == [["a"]]
    assert emulate(f"{HOSTS} {ROWS} | where d !in (Known)") == [["b"], ["c"], [""]]
    assert emulate(f"{HOSTS} {ROWS} | where d in~ (Known)") == [["a"], ["b"]]


def test_a_dynamic_column_operand_is_read_row_by_row():
    query = "datatable(d: string, a: dynamic) ['a', dynamic(['a']), 'b', dynamic([['x'], 'y'])] | where d in (a)"
    assert emulate(query) == [["a", ["a"]]]


def test_a_tabular_operand_of_strings_is_unchanged():
    assert emulate(f"let L = datatable(x: string) ['a', 'c']; {ROWS} | where d in (L)") == [["a"], ["c"]]


def test_a_constant_list_of_strings_is_a_value_list():
    query = "let L = dynamic(['A', 'x']); datatable(d: string) ['a', 'B', 'c'] | where d in~ (L)"
    assert emulate(query) == [["a"]]
    assert emulate("datatable(d: string) ['a', 'B', 'c'] | where d !in (dynamic(['a', 'x']))") == [["B"], ["c"]]
