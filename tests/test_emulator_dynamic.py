"""The emulator's dynamic, array, property bag, set and pack functions against the KQL reference.

Each expectation cites the documented example or rule (data-explorer/kusto/query/<page>.md) it
follows. Where the reference leaves a case open the emulator fails the query at run time (EMU002)
rather than guess; where an argument shape cannot be emulated it refuses the query (EMU001).
"""

from __future__ import annotations

import pytest

from conftest import emulate, emulate_result, emulation_error, scalar

run = emulate
one = scalar
fails = emulation_error
result = emulate_result


# ----------------------------------------------------------------- packing


def test_pack_array_keeps_each_value_type():
    # pack-array-function.md: [1,2,4] from longs; [1,"2","00:00:02"] from long, string, timespan
    assert run("range x from 1 to 3 step 1 | extend y = x * 2 | extend z = y * 2 | project pack_array(x, y, z)") == [
        [[1, 2, 4]],
        [[2, 4, 8]],
        [[3, 6, 12]],
    ]
    rows = run(
        "range x from 1 to 3 step 1 | extend y = tostring(x * 2) | extend z = (x * 2) * 1s"
        " | project pack_array(x, y, z)"
    )
    assert rows == [[[1, "2", "00:00:02"]], [[2, "4", "00:00:04"]], [[3, "6", "00:00:06"]]]


def test_pack_array_numbers_datetimes_and_timespans():
    # longs stay integers and reals stay reals; a datetime is "2007-01-01T00:00:00.0000000Z"
    # (range-function.md); a timespan prints as [d.]hh:mm:ss[.fffffff]
    assert one("pack_array(1, 2.5, 2.0, true, dynamic(null))") == [1, 2.5, 2.0, True, None]
    assert isinstance(one("pack_array(2.0)")[0], float)
    assert one("pack_array(datetime(2007-01-01), 1d + 2h + 3.5s, -1s)") == [
        "2007-01-01T00:00:00.0000000Z",
        "1.02:00:03.5000000",
        "-00:00:01",
    ]


def test_pack_array_star_packs_all_columns():
    # pack-array-function.md: "Providing the wildcard * packs all input columns into a dynamic array"
    assert run('print a = 1, b = "x" | project pack_array(*)') == [[[1, "x"]]]


def test_bag_pack_and_its_aliases():
    # pack-function.md example 1 (nested bag) and the deprecated aliases pack() and pack_dictionary()
    assert one('bag_pack("Level", "Information", "ProcessID", 1234, "Data", bag_pack("url", "www.bing.com"))') == {
        "Level": "Information",
        "ProcessID": 1234,
        "Data": {"url": "www.bing.com"},
    }
    assert one('pack("a", 1)') == {"a": 1}
    assert one('pack_dictionary("a", "b")') == {"a": "b"}


def test_bag_pack_from_columns_then_member_access():
    # pack-function.md example 2: MyBag.Dest and MyBag.Text read the packed values back
    rows = run(
        "datatable (Source: int, Destination: int, Message: string) [1234, 100, 'Hi', 4567, 200, 'Hello']"
        " | extend MyBag=bag_pack('Dest', Destination, 'Text', Message)"
        " | project-away Source, Destination, Message | extend MyBag_Dest=MyBag.Dest, MyBag_Text=MyBag.Text"
    )
    assert rows == [[{"Dest": 100, "Text": "Hi"}, 100, "Hi"], [{"Dest": 200, "Text": "Hello"}, 200, "Hello"]]


def test_bag_pack_needs_pairs_and_unique_keys():
    assert fails('print bag_pack("a")', "EMU006")
    fails('print bag_pack("a", 1, "a", 2)')  # duplicate keys: the reference does not say which wins


def test_bag_pack_columns():
    # bag-pack-columns-function.md: the column name is the property name
    rows = run(
        "datatable(Id: string, Value: string, Other: long) ['A', 'val_a', 1] | extend P = bag_pack_columns(Id, Value)"
    )
    assert rows == [["A", "val_a", 1, {"Id": "A", "Value": "val_a"}]]


def test_pack_all_and_ignore_null_empty():
    # pack-all-function.md: pack_all(true) leaves out the empty Target / Source of the last two rows
    rows = run(
        "datatable(Source:string,Target:string,CharsCount:long) ['555-1313','',42, '','555-3456',74]"
        " | extend Packed=pack_all(), PackedIgnoreNullEmpty=pack_all(true)"
    )
    assert rows[0][3:] == [
        {"Source": "555-1313", "Target": "", "CharsCount": 42},
        {"Source": "555-1313", "CharsCount": 42},
    ]
    assert rows[1][3:] == [
        {"Source": "", "Target": "555-3456", "CharsCount": 74},
        {"Target": "555-3456", "CharsCount": 74},
    ]


# ----------------------------------------------------------------- property bags


def test_bag_keys():
    # bag-keys-function.md: keys of a bag, [] for {}, null for null, a string or an array
    rows = run(
        "datatable(index:long, d:dynamic) [1, dynamic({'a':'b', 'c':123}), 4, dynamic(null), 5, dynamic({}),"
        " 6, dynamic('a'), 7, dynamic([])] | extend keys = bag_keys(d) | project index, keys"
    )
    assert rows == [[1, ["a", "c"]], [4, None], [5, []], [6, None], [7, None]]


def test_bag_merge_leftmost_wins():
    # bag-merge-function.md: A1 keeps 12 from the first bag
    assert one("bag_merge(dynamic({'A1':12, 'B1':2, 'C1':3}), dynamic({'A2':81, 'B2':82, 'A1':1}))") == {
        "A1": 12,
        "B1": 2,
        "C1": 3,
        "A2": 81,
        "B2": 82,
    }
    fails("print bag_merge(dynamic({'a':1}), dynamic([1]))")  # not documented for a non-bag


def test_bag_has_key_root_and_jsonpath():
    # bag-has-key-function.md: 'key2' in the first bag only; '$.key2.prop1' finds a nested key
    rows = run(
        "datatable(input: dynamic) [dynamic({'key1' : 123, 'key2': 'abc'}), dynamic({'key1' : 123, 'key3': 'abc'})]"
        " | extend result = bag_has_key(input, 'key2') | project result"
    )
    assert rows == [[True], [False]]
    bag = "dynamic({'key1': 123, 'key2': {'prop1' : 'abc', 'prop2': 'xyz'}, 'key3': [100, 200]})"
    assert one(f"bag_has_key({bag}, '$.key2.prop1')") is True
    assert one(f"bag_has_key({bag}, '$.key2.prop3')") is False
    assert one(f"bag_has_key({bag}, \"$['key3']\")") is True


def test_bag_remove_keys():
    # bag-remove-keys-function.md: root keys (missing ones ignored) and JSONPath nested keys
    assert one("bag_remove_keys(dynamic({'key1' : 123, 'key2': 'abc'}), dynamic(['key2', 'key4']))") == {"key1": 123}
    bag = "dynamic({'key1': 123, 'key2': {'prop1' : 'abc', 'prop2': 'xyz'}, 'key3': [100, 200]})"
    assert one(f"bag_remove_keys({bag}, dynamic(['$.key2.prop1', 'key3']))") == {
        "key1": 123,
        "key2": {"prop2": "xyz"},
    }


def test_bag_set_key():
    # bag-set-key-function.md: adds or overrides a root key, creates inner bags for '$.key2.prop1',
    # and gives null for a value that is not a property bag
    rows = run(
        "datatable(input: dynamic) [dynamic({'key1': 1, 'key2': 2}), dynamic({'key1': 1, 'key3': 'abc'}), dynamic([1])]"
        " | extend result = bag_set_key(input, 'key3', 3) | project result"
    )
    assert rows == [[{"key1": 1, "key2": 2, "key3": 3}], [{"key1": 1, "key3": 3}], [None]]
    assert one("bag_set_key(dynamic({'key1': 123}), '$.key2.prop1', 'abc')") == {
        "key1": 123,
        "key2": {"prop1": "abc"},
    }
    assert one(
        "bag_set_key(dynamic({'key1': 123, 'key2': {'prop1': 123, 'prop2': 'xyz'}}), '$.key2.prop1', 'abc')"
    ) == {
        "key1": 123,
        "key2": {"prop1": "abc", "prop2": "xyz"},
    }


def test_bag_zip():
    # bag-zip.md: missing values are null, extra values ignored, non-string keys skipped,
    # values that are not an array give null values, keys that are not an array give null
    assert one("bag_zip(dynamic(['a', 'b', 'c']), dynamic([1, '2', 3.4]))") == {"a": 1, "b": "2", "c": 3.4}
    assert one("bag_zip(dynamic(['a', 'b', 'c']), dynamic([1, '2']))") == {"a": 1, "b": "2", "c": None}
    assert one("bag_zip(dynamic(['a', 'b']), dynamic([1, '2', 2.5]))") == {"a": 1, "b": "2"}
    assert one("bag_zip(dynamic(['a', 8, 'b']), dynamic([1, '2', 2.5]))") == {"a": 1, "b": 2.5}
    assert one("bag_zip(dynamic(['a', 8, 'b']), dynamic(1))") == {"a": None, "b": None}
    assert run("print b = bag_zip(dynamic('a'), dynamic([1, '2', 2.5])) | extend e = isnull(b)") == [[None, True]]


# ----------------------------------------------------------------- arrays


def test_array_length():
    # array-length-function.md: 4 for [1, 2, 3, "four"]; dynamic.md: "Null if it isn't an array"
    assert one('array_length(dynamic([1, 2, 3, "four"]))') == 4
    assert one("array_length(dynamic({'a': 1}))") is None
    assert one("array_length(dynamic(null))") is None


def test_array_concat():
    # array-concat-function.md: [1,2,4] + [1,2] -> [1,2,4,1,2]
    rows = run(
        "range x from 1 to 3 step 1 | extend y = x * 2 | extend z = y * 2"
        " | extend a1 = pack_array(x,y,z), a2 = pack_array(x, y) | project array_concat(a1, a2)"
    )
    assert rows == [[[1, 2, 4, 1, 2]], [[2, 4, 8, 2, 4]], [[3, 6, 12, 3, 6]]]
    fails("print array_concat(dynamic([1]), dynamic({'a': 1}))")


def test_array_reverse():
    # array-reverse-function.md
    assert one('array_reverse(dynamic(["this", "is", "an", "example"]))') == ["example", "an", "is", "this"]


def test_array_rotate():
    # array-rotate-left-function.md / array-rotate-right-function.md, both signs
    assert one("array_rotate_left(dynamic([1,2,3,4,5]), 2)") == [3, 4, 5, 1, 2]
    assert one("array_rotate_left(dynamic([1,2,3,4,5]), -2)") == [4, 5, 1, 2, 3]
    assert one("array_rotate_right(dynamic([1,2,3,4,5]), 2)") == [4, 5, 1, 2, 3]
    assert one("array_rotate_right(dynamic([1,2,3,4,5]), -2)") == [3, 4, 5, 1, 2]
    assert one("array_rotate_right(dynamic([1,2,3,4,5]), 7)") == [4, 5, 1, 2, 3]


def test_array_shift():
    # array-shift-left-function.md / array-shift-right-function.md, with and without a default value
    assert one("array_shift_left(dynamic([1,2,3,4,5]), 2)") == [3, 4, 5, None, None]
    assert one("array_shift_left(dynamic([1,2,3,4,5]), 2, -1)") == [3, 4, 5, -1, -1]
    assert one("array_shift_left(dynamic([1,2,3,4,5]), -2, -1)") == [-1, -1, 1, 2, 3]
    assert one("array_shift_right(dynamic([1,2,3,4,5]), 2)") == [None, None, 1, 2, 3]
    assert one("array_shift_right(dynamic([1,2,3,4,5]), 2, -1)") == [-1, -1, 1, 2, 3]
    assert one("array_shift_right(dynamic([1,2,3,4,5]), -2, -1)") == [3, 4, 5, -1, -1]
    # "The default is null or an empty string depending on the type of elements": not said which
    fails('print array_shift_left(dynamic(["a", "b"]), 1)')


def test_array_slice():
    # array-slice-function.md: inclusive, negative indices from the end, out of bounds ignored
    assert one("array_slice(dynamic([1,2,3]), 1, 2)") == [2, 3]
    assert one("array_slice(dynamic([1,2,3,4,5]), 2, -1)") == [3, 4, 5]
    assert one("array_slice(dynamic([1,2,3,4,5]), -3, -2)") == [3, 4]
    assert one("array_slice(dynamic([1,2,3]), 1, 10)") == [2, 3]
    assert one("array_slice(dynamic([1,2,3]), 5, 9)") == []


def test_array_split():
    # array-split-function.md: at 2 -> [[1,2],[3,4,5]]; at [1,3] -> [[1],[2,3],[4,5]]
    assert one("array_split(dynamic([1,2,3,4,5]), 2)") == [[1, 2], [3, 4, 5]]
    assert one("array_split(dynamic([1,2,3,4,5]), dynamic([1,3]))") == [[1], [2, 3], [4, 5]]
    assert one("array_split(dynamic([1,2,3,4,5]), -1)") == [[1, 2, 3, 4], [5]]


def test_array_sum():
    # array-sum-function.md: 10 (a real); null when an element is not numeric
    assert run("print arr=dynamic([1,2,3,4]) | extend arr_sum=array_sum(arr)") == [[[1, 2, 3, 4], 10.0]]
    assert one('array_sum(dynamic([1, "a"]))') is None


def test_array_sort():
    # array-sort-asc-function.md / array-sort-desc-function.md: nulls last by default, first with false;
    # numbers sort before strings
    array = 'dynamic([null,"blue","yellow","green",null])'
    assert one(f"array_sort_asc({array})") == ["blue", "green", "yellow", None, None]
    assert one(f"array_sort_asc({array}, false)") == [None, None, "blue", "green", "yellow"]
    assert one(f"array_sort_desc({array})") == ["yellow", "green", "blue", None, None]
    assert one(f"array_sort_desc({array}, false)") == [None, None, "yellow", "green", "blue"]
    assert one("array_sort_asc(dynamic([1,3,4,5,2]))") == [1, 2, 3, 4, 5]
    assert one('array_sort_asc(dynamic(["b", 2, 1.5]))') == [1.5, 2, "b"]
    # several arrays give one column each (Example 1 of the page: array1_sorted, array2_sorted)
    arrays = 'let array1 = dynamic([1,3,4,5,2]); let array2 = dynamic(["a","b","c","d","e"]); '
    assert result(arrays + "print array_sort_asc(array1, array2)") == (
        ["array1_sorted", "array2_sorted"],
        [[[1, 2, 3, 4, 5], ["a", "e", "b", "c", "d"]]],
    )
    # "(out1, out2) = array_sort_asc(array1, array2)" names them; one name for two arrays is refused
    assert result(arrays + "print (out1, out2) = array_sort_desc(array1, array2)")[0] == ["out1", "out2"]
    fails(arrays + "print out1 = array_sort_asc(array1, array2)", "EMU001")


_COMMANDS = """datatable(command:string, command_time:datetime, user_id:string)[
    'chmod', datetime(2019-07-15), "user1", 'ls', datetime(2019-07-02), "user1",
    'dir', datetime(2019-07-22), "user1", 'mkdir', datetime(2019-07-14), "user1",
    'rm', datetime(2019-07-27), "user1", 'pwd', datetime(2019-07-25), "user1",
    'rm', datetime(2019-07-23), "user2", 'pwd', datetime(2019-07-25), "user2"]
| summarize timestamps = make_list(command_time), commands = make_list(command) by user_id"""


def test_array_sort_of_several_arrays_read_by_index():
    # Example 1 of array-sort-asc-function.md: the second array follows the first one's new order.
    arrays = 'let array1 = dynamic([1,3,4,5,2]); let array2 = dynamic(["a","b","c","d","e"]); '
    rows = run(arrays + "print s = array_sort_asc(array1, array2)[0], t = array_sort_asc(array1, array2)[1]")
    assert rows == [[[1, 2, 3, 4, 5], ["a", "e", "b", "c", "d"]]]
    # Example 3 of both pages: the commands in chronological order, then in reverse.
    ascending = run(_COMMANDS + "| project user_id, c = array_sort_asc(timestamps, commands)[1]")
    assert sorted(ascending) == [["user1", ["ls", "mkdir", "chmod", "dir", "pwd", "rm"]], ["user2", ["rm", "pwd"]]]
    descending = run(_COMMANDS + "| project user_id, c = array_sort_desc(timestamps, commands)[1]")
    assert sorted(descending) == [["user1", ["rm", "pwd", "dir", "chmod", "mkdir", "ls"]], ["user2", ["pwd", "rm"]]]
    # "null is returned for every array that differs in length from the first one"
    assert one("array_sort_asc(dynamic([2, 1]), dynamic([1]))[1]") is None
    # nulls_last applies to the order the first array sets
    assert one("array_sort_asc(dynamic([3, null, 1]), dynamic(['x', 'y', 'z']), false)[1]") == ["y", "z", "x"]
    fails("print array_sort_asc(dynamic([1, 2]), dynamic([3, 4]))[2]", "EMU001")


def test_array_sort_of_several_arrays_column_names():
    # Microsoft's binder (kqlcheck --result): the array's name and _sorted (array<position>_sorted for one
    # without a name), with a numeric suffix when the input has that name already
    table = "datatable(x: dynamic, y: dynamic)[dynamic([2, 1]), dynamic([3, 4])]"
    assert result(table + " | extend x_sorted = 1 | extend array_sort_asc(x, y, x)") == (
        ["x", "y", "x_sorted", "x_sorted1", "y_sorted", "x_sorted2"],
        [[[2, 1], [3, 4], 1, [1, 2], [4, 3], [1, 2]]],
    )
    assert result(table + " | extend array_sort_asc(x, y)[1]") == (["x", "y", "y_sorted"], [[[2, 1], [3, 4], [4, 3]]])
    assert result(table + " | extend array_sort_asc(x, dynamic([5, 6]))[1]")[0] == ["x", "y", "array1_sorted"]
    names = result(table + " | extend y_sorted = 1 | extend array_sort_desc(x, y, false)[1]")[0]
    assert names == ["x", "y", "y_sorted", "y_sorted1"]
    # project: a repeated generated name gets the suffix too (strlen_x, strlen_x1)
    assert result('datatable(x: string)["ab"] | project x, strlen(x), strlen(x)') == (
        ["x", "strlen_x", "strlen_x1"],
        [["ab", 2, 2]],
    )


def test_array_iff():
    # array-iff-function.md: element-wise; numbers are true when not 0; shorter branches give null
    assert one("array_iff(dynamic([true,false,true]), dynamic([1,2,3]), dynamic([4,5,6]))") == [1, 5, 3]
    assert one('array_iff(dynamic([1,0,50]), "yes", "no")') == ["yes", "no", "yes"]
    assert one("array_iif(dynamic([true,true,true]), dynamic([1,2]), dynamic([3,4]))") == [1, 2, None]
    assert one('array_iff(dynamic(["some string value", null]), 1, 0)') == [None, None]


def test_array_index_of():
    # array-index-of-function.md, every documented call
    arr = 'dynamic(["this", "is", "an", "example", "an", "example"])'
    calls = {
        '"an"': 2,
        '"example",1,3': 3,
        '"example",1,2': -1,
        '"is",2,4': -1,
        '"example",2,-1': 3,
        '"an", 1, -1, 2': 4,
        '"an", 1, -1, 3': -1,
        '"an", -3': 4,
        '"is", -4': -1,
    }
    for arguments, expected in calls.items():
        assert one(f"array_index_of({arr}, {arguments})") == expected, arguments
    # "Returns null for irrelevant inputs (occurrence < 0 or length < -1)"
    assert one(f'array_index_of({arr}, "an", 0, -2)') is None
    assert one(f'array_index_of({arr}, "an", 0, -1, -1)') is None
    assert one("array_index_of(dynamic([1, 2, 3]), 3)") == 2


def test_zip():
    # zip-function.md: pairs by index, null where an array is shorter
    assert one("zip(dynamic([1,3,5]), dynamic([2,4,6]))") == [[1, 2], [3, 4], [5, 6]]
    assert one('zip(dynamic(["A", 1, 1.5]), dynamic([{}, "B"]))') == [["A", {}], [1, "B"], [1.5, None]]


def test_repeat():
    # repeat-function.md: [1, 1, 1]; an empty array for 0, null for a negative count
    assert one("repeat(1, 3)") == [1, 1, 1]
    assert one('repeat("x", 0)') == []
    assert one("repeat(true, -1)") is None


def test_range_function():
    # range-function.md: [1,4,7]; [1,2,3] (step 1); datetimes with a 1d step; timespans with 1h by default
    assert one("range(1, 8, 3)") == [1, 4, 7]
    assert one("range(1, 3)") == [1, 2, 3]
    assert one("range(datetime(2007-01-01), datetime(2007-01-03), 1d)") == [
        "2007-01-01T00:00:00.0000000Z",
        "2007-01-02T00:00:00.0000000Z",
        "2007-01-03T00:00:00.0000000Z",
    ]
    assert one("range(1h, 5h)") == ["01:00:00", "02:00:00", "03:00:00", "04:00:00", "05:00:00"]
    assert one("range(1.0, 3, 1)") == [1.0, 2.0, 3.0]
    # "The range function supports a maximum of 1,048,576 (2^20) results"
    assert run("print r = range(1,1000000000) | mv-expand r | count") == [[1048576]]


# ----------------------------------------------------------------- sets


def test_set_union_intersect_difference():
    # set-union-function.md, set-intersect-function.md, set-difference-function.md
    base = (
        "range x from 1 to 1 step 1 | extend y = x * 2 | extend z = y * 2 | extend w = z * 2"
        " | extend a1 = pack_array(x,y,x,z), a2 = pack_array(x, y)"
    )
    assert run(f"{base} | project set_union(a1, a2, pack_array(w))") == [[[1, 2, 4, 8]]]
    assert run(f"{base} | project set_intersect(a1, a2, pack_array(w,x))") == [[[1]]]
    assert run(f"{base} | project set_difference(a1, a2, pack_array(x,y,w))") == [[[4]]]
    assert one("set_union(dynamic(['A4', 'A2', 'A7', 'A2']), dynamic(['A4', 'A2', 'A7', 'A2']))") == ["A4", "A2", "A7"]
    assert one("set_intersect(dynamic([1, 2, 3]), dynamic([4,5]))") == []
    assert one("set_difference(dynamic([1,2,3]), dynamic([1,2,3]))") == []


def test_set_has_element_and_jaccard_index():
    # set-has-element-function.md; jaccard-index-function.md: |{1,2,3}| / |{1,2,3,4}| = 0.75
    assert one('set_has_element(dynamic(["this", "is", "an", "example"]), "example")') is True
    assert one('set_has_element(dynamic(["this", "is"]), "example")') is False
    assert one("jaccard_index(dynamic([1,2,3]), dynamic([1,2,3,4]))") == 0.75
    assert one("jaccard_index(dynamic([1,1,2]), dynamic([2,3]))") == pytest.approx(1 / 3)


# ----------------------------------------------------------------- conversions and types


def test_parse_json():
    # parse-json-function.md: nested d.duration.value; a string that is not JSON stays a string;
    # gettype-function.md: parse_json('') is null
    rows = run(
        """datatable(s:string) ['{"duration":{"value":118.0,"min":100.0}}'] | extend d = parse_json(s)"""
        " | project v = d.duration.value, m = d.duration.min"
    )
    assert rows == [[118.0, 100.0]]
    assert one("parse_json('abc')") == "abc"
    assert run("print d = parse_json('') | extend n = isnull(d)") == [[None, True]]
    assert one("todynamic('[1, 2]')") == [1, 2]


def test_gettype():
    # gettype-function.md, every documented row
    expected = {
        '"a"': "string",
        "111": "long",
        "1==1": "bool",
        "now()": "datetime",
        "1s": "timespan",
        "parse_json('1')": "int",
        "parse_json(' \"abc\" ')": "string",
        "parse_json(' {\"abc\":1} ')": "dictionary",
        "parse_json(' [1, 2, 3] ')": "array",
        "123.45": "real",
        "guid(12e8b78d-55b4-46ae-b068-26d7a0080254)": "guid",
        "parse_json('')": "null",
    }
    for expression, kind in expected.items():
        assert one(f"gettype({expression})") == kind, expression
    # a dynamic built from KQL values: its element types (long, datetime) are not in the JSON text
    fails("print gettype(pack_array(1)[0])", "EMU001")
    # dynamic.md: "Kusto will parse strings as strongly-typed values if they can be parsed as such"
    fails("print gettype(parse_json('\"2015-01-01\"'))")


def test_dynamic_to_json_sorts_keys_at_every_level():
    # dynamic-to-json-function.md: the two differently ordered bags give the same canonical string
    bag1 = "{'Y10':{}, 'X8': {'c3':1, 'd8':5, 'a4':6}, 'D1':114, 'A1':12, 'B1':2, 'C1':3, 'A14':[15, 13, 18]}"
    bag2 = "{'X8': {'a4':6, 'c3':1, 'd8':5}, 'A14':[15, 13, 18], 'C1':3, 'B1':2, 'Y10': {}, 'A1':12, 'D1':114}"
    rows = run(
        f"let bag1 = dynamic_to_json(dynamic({bag1})); let bag2 = dynamic_to_json(dynamic({bag2}));"
        " print AreEqual=bag1 == bag2, Result=bag1"
    )
    assert rows == [[True, '{"A1":12,"A14":[15,13,18],"B1":2,"C1":3,"D1":114,"X8":{"a4":6,"c3":1,"d8":5},"Y10":{}}']]
    assert one("dynamic_to_json(dynamic([{'b': null, 'a': [1.0, {}]}]))") == '[{"a":[1.0,{}],"b":null}]'
    assert one("dynamic_to_json(5)") == "5"  # "a scalar value of type other than dynamic" is tostring()'d
    assert one("dynamic_to_json(dynamic(null))") == ""


def test_estimate_data_size():
    # estimate-data-size-function.md: (8 + 10) x 10 = 180; other types' sizes are not documented
    rows = run("range x from 1 to 10 step 1 | extend Text = '1234567890' | summarize Total=sum(estimate_data_size(*))")
    assert rows == [[180]]
    fails("print x = 1.5 | project estimate_data_size(x)", "EMU001")
