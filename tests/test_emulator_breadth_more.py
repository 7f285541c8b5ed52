"""More of the real corpus in the emulator: bool literal spellings, toboolean(), unnamed columns over
aggregates, make_set of a converted value, parse with more than nine columns. Each expected value comes
from the KQL reference page or Microsoft's binder (kqlcheck) named in the comment.
"""

from __future__ import annotations

import datetime as dt

from conftest import emulate


def result(query: str) -> tuple[list[tuple[str, str]], list[list]]:
    """The columns (name, type) and rows of a query on a fresh Defender emulator."""
    from dac.emulator import Emulator
    from dac.model.tables import environment

    engine = Emulator(environment("defender"), now=dt.datetime(2024, 1, 1))
    try:
        answer = engine.run(query)
        return list(answer.columns), [list(row) for row in answer.rows]
    finally:
        engine.close()


# ----------------------------------------------------------------- bool literals
def test_bool_literal_spellings() -> None:
    # bool data type page: true and false literals; Microsoft's binder (kqlcheck --result) types True, TRUE,
    # False and FALSE as bool too (print a = True, b = FALSE -> bool, bool)
    assert emulate("print a = True, b = TRUE, c = False, d = FALSE, e = true") == [[True, True, False, False, True]]
    assert emulate("datatable(x:bool)[true, false] | where x == False") == [[False]]


def test_a_column_named_like_a_literal_is_still_the_column() -> None:
    # a column's name comes first (a bool literal spelling is only read as one where no column has that name)
    assert emulate("datatable(True:long)[5] | project True") == [[5]]


# ----------------------------------------------------------------- toboolean
def test_toboolean_is_tobool() -> None:
    # tobool page: "The tobool() and toboolean() functions are equivalent"; tobool("true") == true,
    # tobool("false") == false, tobool(1) == true, tobool(123) == true
    assert emulate('print a = toboolean("true"), b = toboolean("false"), c = toboolean(1)') == [[True, False, True]]


# ----------------------------------------------------------------- unnamed columns over aggregates
def test_unnamed_columns_over_aggregates_are_named_as_the_binder_names_them() -> None:
    # Microsoft's binder (kqlcheck --result): summarize tostring(makeset(x)) by k -> k, set_x;
    # summarize count() * 2, tostring(make_set(x)) by strcat(k, 'a') -> Column1, Column2, set_x
    columns, rows = result('datatable(x:string, k:long)["a", 1, "b", 1, "a", 1] | summarize tostring(makeset(x)) by k')
    assert [name for name, _ in columns] == ["k", "set_x"]
    assert rows == [[1, '["a","b"]']]  # make_set page: the distinct values
    columns, _ = result(
        'datatable(x:long, k:string)[1, "a"] | summarize count() * 2, tostring(make_set(x)) by strcat(k, "a")'
    )
    assert [name for name, _ in columns] == ["Column1", "Column2", "set_x"]


# ----------------------------------------------------------------- make_set of a converted value
def test_make_set_of_tostring_after_mv_expand() -> None:
    # make_set page: "Returns a dynamic array of the set of distinct values that expr takes in the group";
    # mv-expand page: each element of the array becomes a row
    query = (
        'datatable(k:string, g:dynamic)["a", dynamic(["x", "y"]), "a", dynamic(["y"]), "a", dynamic("z")] '
        "| mv-expand g | summarize T = dcount(tostring(g)), M = make_set(tostring(g), 1000) by k"
    )
    rows = emulate(query)
    assert rows[0][:2] == ["a", 3]
    assert sorted(rows[0][2]) == ["x", "y", "z"]


# ----------------------------------------------------------------- parse with many columns
def test_parse_into_more_than_nine_columns() -> None:
    # parse page: each column takes the text between the string constants around it, converted to its type
    query = (
        'print s = "a1b2c3d4e5f6g7h8i9j10k11" | parse s with "a" A:long "b" B "c" C "d" D "e" E "f" F "g" G '
        '"h" H "i" I "j" J:long "k" K | project A, I, J, K'
    )
    assert emulate(query) == [[1, "9", 10, "11"]]
