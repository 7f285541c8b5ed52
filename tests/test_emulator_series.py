"""series_* functions and make-series in the emulator, against values from the KQL reference pages
(series-*-function.md, make-series-operator.md) or computed by hand."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from conftest import emulate
from dac.emulator import Emulator, EmulatorError, series_math
from dac.model.tables import environment

NOW = dt.datetime(2024, 12, 2, 12, 0, 0)


def run(query: str) -> list[list]:
    return emulate(query, now=NOW)


def value(query: str):
    rows = run(query)
    assert len(rows) == 1 and len(rows[0]) == 1, rows
    return rows[0][0]


def days(*numbers: int) -> list[str]:
    return [f"2017-01-{n:02d}T00:00:00.0000000Z" for n in numbers]


# ----------------------------------------------------------------- element-wise
def test_unary_element_wise_functions_follow_the_pages():
    assert value("print series_abs(dynamic([-6.5,0,8.2]))") == [6.5, 0, 8.2]
    assert value("print series_sign(dynamic([-6, 0, 8]))") == [-1, 0, 1]
    assert value("print series_ceiling(dynamic([-1.5,1,2.5]))") == [-1.0, 1.0, 3.0]
    assert value("print series_floor(dynamic([-1.5,1,2.5]))") == [-2.0, 1.0, 2.0]
    assert value("print series_exp(dynamic([1,2,3]))") == [math.exp(1), math.exp(2), math.exp(3)]
    assert value("print series_acos(dynamic([-1,0,1]))") == [math.pi, math.pi / 2, 0.0]


def test_a_non_numeric_element_gives_null():
    # "Any non-numeric element yields a null element value" (series-abs-function.md)
    assert value("print series_abs(dynamic([-1, 'a', null, true]))") == [1, None, None, None]


def test_math_outside_the_domain_gives_nan_not_an_error():
    result = value("print series_acos(dynamic([2]))")
    assert math.isnan(result[0])


def test_binary_functions_pad_the_shorter_series_with_null():
    # "non-existing element (arrays of different sizes) yields a null element value" (series-add-function.md)
    assert value("print series_add(dynamic([1,2,4]), dynamic([4,2]))") == [5, 4, None]
    assert value("print series_subtract(dynamic([1,2,4]), dynamic([4,2,1]))") == [-3, 0, 3]
    assert value("print series_multiply(dynamic([1,2.5]), dynamic([2,2]))") == [2, 5.0]


def test_a_scalar_stands_for_every_element():
    assert value("print series_add(dynamic([1,2]), 10)") == [11, 12]
    assert value("print series_greater_equals(dynamic([1,2,3]), 2)") == [False, True, True]


def test_divide_gives_reals_and_follows_real_division_by_zero():
    # "the result series is of double type, even if the inputs are integers"; 2/0 gives +inf
    assert value("print series_divide(dynamic([1,2,4]), dynamic([4,2,1]))") == [0.25, 1.0, 4.0]
    assert value("print series_divide(dynamic([2]), dynamic([0]))") == [math.inf]


def test_comparisons_give_booleans():
    assert value("print series_equals(dynamic([1,2,4]), dynamic([4,2,1]))") == [False, True, False]
    assert value("print series_not_equals(dynamic([1,2,4]), dynamic([4,2,1]))") == [True, False, True]
    assert value("print series_greater(dynamic([1,2,4]), dynamic([4,2,1]))") == [False, False, True]
    assert value("print series_less(dynamic([1,2,4]), dynamic([4,2,1]))") == [True, False, False]
    assert value("print series_less_equals(dynamic([1,2,4]), dynamic([4,2,1]))") == [True, True, False]


def test_pow():
    assert value("print series_pow(dynamic([1, 2, 3, 4]), dynamic([1, 2, 3, 0.5]))") == [1.0, 4.0, 27.0, 2.0]


# ----------------------------------------------------------------- reductions
def test_sum_dot_product_and_cosine_similarity():
    assert value("print series_sum(dynamic([1,2,3,4]))") == 10.0
    # series_dot_product([1, 2, 3], 10) is series_dot_product([1, 2, 3], [10, 10, 10])
    assert value("print series_dot_product(dynamic([1, 2, 3]), 10)") == 60.0
    assert value("print series_dot_product(dynamic([1, 2, 3]), dynamic([1, 1]))") == 3.0  # the longer is truncated
    assert value("print series_dot_product(dynamic([]), dynamic([1]))") is None
    similarity = value("print series_cosine_similarity(dynamic([0.1,0.2,0.1,0.2]), dynamic([1,2,3,4]))")
    assert f"{similarity:.15g}" == "0.923760430703401"  # the page's value


def test_stats_dynamic_matches_the_page():
    stats = value("print series_stats_dynamic(dynamic([23, 46, 23, 87, 4, 8, 3, 75, 2, 56, 13, 75, 32, 16, 29]))")
    assert list(stats) == ["min", "min_idx", "max", "max_idx", "avg", "stdev", "variance", "sum", "len"]
    assert (stats["min"], stats["min_idx"], stats["max"], stats["max_idx"]) == (2.0, 8, 87.0, 3)
    assert (stats["avg"], stats["sum"], stats["len"]) == (32.8, 492.0, 15)
    assert f"{stats['stdev']:.15g}" == "28.5036338535483"
    assert f"{stats['variance']:.15g}" == "812.457142857143"


# ----------------------------------------------------------------- fills
def test_fill_functions_follow_the_pages():
    series = "dynamic([111, null, 36, 41, null, null, 16, 61, 33, null, null])"
    assert value(f"print series_fill_backward({series})") == [111, 36, 36, 41, 16, 16, 16, 61, 33, None, None]
    assert value(f"print series_fill_const({series}, -1)") == [111, -1, 36, 41, -1, -1, 16, 61, 33, -1, -1]
    forward = "dynamic([null, null, 36, 41, null, null, 16, 61, 33, null, null])"
    assert value(f"print series_fill_forward({forward})") == [None, None, 36, 41, 41, 41, 16, 61, 33, 33, 33]


def test_fill_linear_follows_the_page():
    reals = "dynamic([null, 111.0, null, 36.0, 41.0, null, null, 16.0, 61.0, 33.0, null, null])"
    filled = value(f"print series_fill_linear({reals})")
    assert [round(v, 3) for v in filled] == [
        111.0,
        111.0,
        73.5,
        36.0,
        41.0,
        32.667,
        24.333,
        16.0,
        61.0,
        33.0,
        33.0,
        33.0,
    ]
    without_edges = value(f"print series_fill_linear({reals}, double(null), false)")
    assert without_edges[0] is None and without_edges[-1] is None
    integers = "dynamic([null, 111, null, 36, 41, null, null, 16, 61, 33, null, null])"
    assert value(f"print series_fill_linear({integers})") == [111, 111, 73, 36, 41, 32, 24, 16, 61, 33, 33, 33]
    assert value("print series_fill_linear(dynamic([null, null]), double(null), true, 3.14159)") == [3.14159] * 2


# ----------------------------------------------------------------- filters and seasonality
def test_iir_cumulative_sum():
    assert value("print series_iir(dynamic([1.0, 2, 3, 4]), dynamic([1]), dynamic([1, -1]))") == [1.0, 3.0, 6.0, 10.0]


def test_fir_moving_average_and_difference():
    # filter=[1,-1] is the difference between a point and the one before it
    assert value("print series_fir(dynamic([0, 2, 2, 3]), dynamic([1, -1]), false, false)") == [0.0, 2.0, 0.0, 1.0]
    assert value("print series_fir(dynamic([3, 6, 9]), dynamic([1, 1, 1]))") == [1.0, 3.0, 6.0]
    assert value("print series_fir(dynamic([3, 6, 9]), dynamic([1, 1, 1]), true, true)") == [3.0, 6.0, 5.0]
    assert value("print series_fir(dynamic([3, 6, 9]), dynamic([1, -1]), true)") is None  # normalize with negatives


def test_seasonal_with_a_given_period_is_the_median_per_phase():
    assert value("print series_seasonal(dynamic([1, 3, 5, 1, 3, 5, 2, 4, 6]), 3)") == [1.0, 3.0, 5.0] * 3
    assert value("print series_seasonal(dynamic([1, 3, 5, 2, 4, 6, 1, 3, 5, 2, 4, 6]), 3)") == [1.5, 3.5, 5.5] * 4


def test_period_detection_is_refused():
    for query in (
        "print series_seasonal(dynamic([1, 2, 3]))",
        "print series_periods_detect(dynamic([1, 2, 3]), 0.0, 50.0, 2)",
        "print series_outliers(dynamic([1, 2, 3]))",
    ):
        with pytest.raises(EmulatorError) as error:
            run(query)
        assert error.value.code == "EMU001"


def test_open_cases_fail_instead_of_guessing():
    with pytest.raises(series_math.Unsupported):
        series_math.stats([1, None, 3])
    with pytest.raises(series_math.Unsupported):
        series_math.cosine_similarity([1, 2, 3], [1, 2])


# ----------------------------------------------------------------- make-series
DATA = """let data=datatable(timestamp:datetime, metric: real)
[
  datetime(2016-12-31T06:00), 50, datetime(2017-01-01), 4, datetime(2017-01-02), 3, datetime(2017-01-03), 4,
  datetime(2017-01-03T03:00), 6, datetime(2017-01-05), 8, datetime(2017-01-05T13:40), 13, datetime(2017-01-06), 4,
  datetime(2017-01-07), 3, datetime(2017-01-08), 8, datetime(2017-01-08T21:00), 8, datetime(2017-01-09), 2,
  datetime(2017-01-09T12:00), 11, datetime(2017-01-10T05:00), 5,
];
let stime = datetime(2017-01-01);
let etime = datetime(2017-01-10);
data
"""


def test_make_series_from_to_step_matches_the_page():
    engine = Emulator(environment("defender"), now=NOW)
    result = engine.run(DATA + "| make-series avg(metric) on timestamp from stime to etime step 1d")
    assert [name for name, _ in result.columns] == ["avg_metric", "timestamp"]
    assert [list(row) for row in result.rows] == [[[4.0, 3.0, 5.0, 0.0, 10.5, 4.0, 3.0, 8.0, 6.5], days(*range(1, 10))]]


def test_make_series_on_empty_input():
    query = DATA + "| take 0 | make-series {}avg(metric) default=1.0 on timestamp from stime to etime step 1d"
    assert run(query.format("")) == []
    assert run(query.format("kind=nonempty ")) == [[[1.0] * 9, days(*range(1, 10))]]


def test_make_series_by_columns_come_first_and_missing_bins_get_the_default():
    query = DATA + (
        "| where timestamp >= stime | extend k = iff(metric > 5, 'hi', 'lo') "
        "| make-series c=count(), s=sum(metric) default=double(null) on timestamp from stime to etime step 2d by k"
    )
    engine = Emulator(environment("defender"), now=NOW)
    result = engine.run(query)
    assert [name for name, _ in result.columns] == ["k", "c", "s", "timestamp"]
    rows = {row[0]: list(row) for row in result.rows}
    # 2017-01-10T05:00 is in the last bin but not before `to`: left out
    assert rows["lo"] == ["lo", [2, 1, 1, 1, 1], [7.0, 4.0, 4.0, 3.0, 2.0], days(1, 3, 5, 7, 9)]
    assert rows["hi"] == ["hi", [0, 1, 2, 2, 1], [None, 6.0, 21.0, 16.0, 11.0], days(1, 3, 5, 7, 9)]


def test_make_series_constant_aggregate_and_default():
    # make-series-operator.md: `other=-1 default=-2` is -1 in bins with rows and -2 elsewhere
    query = """let data = datatable(Time: datetime, Value: int, other:int)
    [datetime(2025-01-07), 10, 11, datetime(2025-01-16), 20, 21, datetime(2025-02-01), 30, 5];
    data | make-series Value=sum(Value), other=-1 default=-2 on Time from datetime(2025-01-06)
    to datetime(2025-02-09) step 7d"""
    [[values, other, axis]] = run(query)
    assert values == [10, 20, 0, 30, 0] and other == [-1, -1, -2, -1, -2]
    assert axis[0] == "2025-01-06T00:00:00.0000000Z" and axis[-1] == "2025-02-03T00:00:00.0000000Z"


def test_make_series_without_from_and_to_spans_the_data_in_bin_aligned_steps():
    [[values, axis]] = run(DATA + "| make-series avg(metric) on timestamp step 1d")
    assert values[0] == 50.0 and values[-1] == 5.0
    assert axis[0] == "2016-12-31T00:00:00.0000000Z" and axis[-1] == "2017-01-10T00:00:00.0000000Z"


def test_make_series_leaves_out_rows_from_to_on():
    [[values, axis]] = run("range x from 1 to 10 step 1 | make-series sum(x) on x from 0 to 10 step 3")
    assert values == [3, 12, 21, 9] and axis == [0, 3, 6, 9]


def test_make_series_in_range_bins_with_bin_from_0001_01_01():
    # shuffle-query.md: range(2007-01-01, 2007-01-31 23:59, 15d) gives bins 2006-12-31, 2007-01-15, 2007-01-30
    query = (
        "datatable(t:datetime, v:long)[datetime(2007-01-02), 1, datetime(2007-01-20), 2] "
        "| make-series sum(v) on t in range(datetime(2007-01-01), datetime(2007-01-31 23:59), 15d)"
    )
    assert run(query) == [
        [[1, 2, 0], ["2006-12-31T00:00:00.0000000Z", "2007-01-15T00:00:00.0000000Z", "2007-01-30T00:00:00.0000000Z"]]
    ]


def test_make_series_in_range_refuses_rows_of_an_edge_bin_outside_the_range():
    with pytest.raises(EmulatorError):
        run(DATA + "| make-series count() on timestamp in range(stime, etime, 1d)")


def test_make_series_numeric_axis_with_real_step():
    [[values, axis]] = run("range x from 1 to 10 step 1 | extend y = x * 2.5 | make-series max(y) on x step 2.5")
    assert values == [5.0, 10.0, 17.5, 22.5, 25.0] and axis == [0.0, 2.5, 5.0, 7.5, 10.0]
