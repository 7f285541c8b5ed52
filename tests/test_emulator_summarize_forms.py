"""Two forms of summarize columns, against the KQL reference and Microsoft's binder: a tuple of names for an
aggregation's columns, and a scalar expression over aggregates."""

from __future__ import annotations

from conftest import emulate, emulation_error


def test_summarize_tuple_names_an_aggregations_columns():
    # Microsoft's binder (kqlcheck --result): summarize (generations, name) = arg_max(array_length(l), name)
    # by f gives the columns f, generations, name.
    result = emulate('datatable(f:long, l:dynamic, name:string)[1, dynamic([1,2]), "a", 1, dynamic([1]), "b"]'
                     " | summarize (generations, name) = arg_max(array_length(l), name) by f")  # fmt: skip
    assert result == [[1, 2, "a"]]


def test_a_scalar_expression_over_binary_all_aggregates():
    # binary-all-and / binary-all-xor pages: "Accumulates values using the binary AND (XOR) operation", shown
    # as summarize result = toupper(tohex(binary_all_and(num))). 12 AND 10 = 8, 12 XOR 10 = 6 (0xC ^ 0xA).
    data = "datatable(num:long, g:string)[12, 'x', 10, 'x', 255, 'y']"
    assert sorted(emulate(data + " | summarize a = toupper(tohex(binary_all_and(num))) by g")) == [
        ["x", "8"],
        ["y", "FF"],
    ]
    assert emulate(data + " | where g == 'x' | summarize v = binary_all_xor(num) + 1") == [[7]]


def test_sum_inside_an_expression_is_typed_from_its_argument():
    # Microsoft's binder (kqlcheck --result): sum of int or long is long, of real is real.
    assert emulate("datatable(n:long)[1, 2] | summarize r = tostring(sum(n))") == [["3"]]
    assert emulate("datatable(n:int)[1, 2] | summarize r = sum(n) + 1") == [[4]]


def test_gzip_compression_is_refused_with_its_reason():
    # gzip-base64-compress page: the example's value is a stored deflate block; which block type and level
    # Kusto's encoder picks is not documented, so no string can be promised.
    message = emulation_error('print gzip_compress_to_base64_string("abc")', "EMU001")
    assert "deflate" in message
