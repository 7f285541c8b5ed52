"""The emulator's miscellaneous functions, aggregates and literals against the KQL reference.

Expected values come from the documented examples or are computed by hand (noted inline).
"""

from __future__ import annotations

import datetime as dt

from conftest import emulate, emulation_error, scalar
from dac.emulator.ticks import DatetimeTicks

run = emulate
one = scalar
fails = emulation_error


# ----------------------------------------------------------------- 100 ns ticks
def test_endofmonth_is_one_tick_before_the_next_month() -> None:
    value = one("endofmonth(datetime(2017-01-01 10:10:17))")  # documented: 2017-01-31 23:59:59.9999999
    assert isinstance(value, DatetimeTicks)
    assert (value.isoformat(" "), value.extra_ticks) == ("2017-01-31 23:59:59.9999999", 9)


def test_endofday_compares_exactly_and_refuses_arithmetic() -> None:
    assert one("datetime(2017-01-01 23:59:59.999999) < endofday(datetime(2017-01-01))") is True
    assert one("datetime(2017-01-02) > endofday(datetime(2017-01-01))") is True
    fails("print r = endofday(datetime(2017-01-01)) + 1h", "EMU001")
    fails("print r = startofday(endofday(datetime(2017-01-01)))", "EMU001")


def test_tostring_of_a_datetime_has_seven_fractional_digits() -> None:
    assert one("tostring(datetime(2020-01-01 10:00:01.5))") == "2020-01-01T10:00:01.5000000Z"
    assert one("tostring(endofday(datetime(2020-01-01)))") == "2020-01-01T23:59:59.9999999Z"


def test_make_datetime_and_literals_keep_the_tick_digit() -> None:
    assert one("make_datetime(2017,10,01,12,11,0.1234567)").isoformat() == "2017-10-01T12:11:00.1234567"
    assert one("datetime(2020-01-01 10:00:00.1234567)").extra_ticks == 7


# ----------------------------------------------------------------- literals
def test_datetime_literal_forms() -> None:
    assert one("datetime(2025, 6, 14)") == dt.datetime(2025, 6, 14)
    assert one("datetime(1970-5-12)") == dt.datetime(1970, 5, 12)
    assert run("let dow=dayofweek(datetime(1970-5-12)); print toint(dow/1d)") == [[2]]  # documented: Tuesday = 2


def test_literals_inside_dynamic() -> None:
    value = one('dynamic([datetime("01-01-2022"), dynamic({}), int(3), guid(74BE27DE-1e4e-49d9-b579-fe0b331d3642)])')
    # a datetime in a dynamic renders as range() of datetimes does in the docs
    assert value == ["2022-01-01T00:00:00.0000000Z", {}, 3, "74be27de-1e4e-49d9-b579-fe0b331d3642"]


def test_null_and_a_value_are_unequal_on_either_side() -> None:
    rows = run('datatable(ival:int, sval:string)[5, "a", int(null), "b"] | where ival != 5')
    assert rows == [[None, "b"]]  # null values docs: null != value is true
    assert run("datatable(a:int, b:int)[int(null), int(null), 1, int(null)] | project e = a == b") == [[None], [False]]


# ----------------------------------------------------------------- scalar functions
def test_todatetime_reads_the_documented_formats() -> None:
    assert one("todatetime('12-02-2022') == datetime('12-02-2022')") is True
    assert one("todatetime('2014-05-25T08:20:03.123456Z')") == dt.datetime(2014, 5, 25, 8, 20, 3, 123456)
    assert one("todatetime('2014-05-25T10:20:03+02:00')") == dt.datetime(2014, 5, 25, 8, 20, 3)
    assert one("todatetime('Sat, 8 Nov 14 15:05:02 GMT')") == dt.datetime(2014, 11, 8, 15, 5, 2)
    assert one("todatetime('')") is None
    fails("print r = todatetime('next tuesday')", "EMU002")


def test_string_operators_hasprefix_cs_and_hassuffix_cs() -> None:
    assert one('"North America" hasprefix_cs "Ame"') is True
    assert one('"North America" hasprefix_cs "ame"') is False
    assert one('"North America" hassuffix_cs "ica"') is True
    assert one('"North America" !hassuffix_cs "ICA"') is True


def test_assert() -> None:
    assert one("assert(1 > 0, 'fine')") is True
    assert "must be positive" in fails("print r = assert(0 > 1, 'must be positive')", "EMU002")


def test_beta_distribution() -> None:
    assert f"{one('beta_cdf(0.9, 10.0, 20.0)'):.15g}" == "0.999999999999959"  # documented
    assert f"{one('beta_inv(0.1, 10.0, 20.0)'):.15g}" == "0.226415022388749"  # documented
    assert f"{one('beta_cdf(0.5, 1.0, 1.0)'):.15g}" == "0.5"  # the uniform distribution
    assert one("isnan(beta_cdf(1.5, 10.0, 20.0))") is True
    assert one("beta_inv(1.5, 10.0, 20.0)") is None


def test_format_bytes() -> None:
    assert run('print format_bytes(564), format_bytes(10332, 1), format_bytes(20010332), '
               'format_bytes(20010332, 2), format_bytes(20010332, 0, "KB")') == [
        ["564 Bytes", "10.1 KB", "19 MB", "19.08 MB", "19541 KB"]]  # fmt: skip


def test_gzip_decompress() -> None:
    documented = "H4sIAAAAAAAA/wEUAOv/MTIzNDU2Nzg5MHF3ZXJ0eXVpb3A6m7f2FAAAAA=="
    assert one(f'gzip_decompress_from_base64_string("{documented}")') == "1234567890qwertyuiop"
    assert one('gzip_decompress_from_base64_string("x0x0x0")') == ""
    fails('print r = gzip_compress_to_base64_string("abc")', "EMU001")


def test_punycode() -> None:
    assert one("punycode_from_string('académie-française')") == "acadmie-franaise-npb1a"
    assert one("punycode_to_string('acadmie-franaise-npb1a')") == "académie-française"
    assert one("punycode_domain_from_string('xn--Lin-8na.Celtchair.org')") == "Lúin.Celtchair.org"


def test_parse_urlquery_decodes_parameters() -> None:
    assert one("parse_urlquery('k1=v1&k2=a%20b')") == {"Query Parameters": {"k1": "v1", "k2": "a b"}}


def test_column_names_of_and_bin_auto() -> None:
    query = 'let F = (p:int) { print A="", B=1 }; print c = column_names_of(F(1))'
    assert run(query) == [[["A", "B"]]]
    rows = run("set query_bin_auto_size=1h; set query_bin_auto_at=datetime(2017-01-01 00:05);\n"
               "range Timestamp from datetime(2017-01-01 00:05) to datetime(2017-01-01 02:00) step 1m\n"
               "| summarize count() by bin_auto(Timestamp)")  # fmt: skip
    assert rows == [[dt.datetime(2017, 1, 1, 0, 5), 60], [dt.datetime(2017, 1, 1, 1, 5), 56]]  # documented


# ----------------------------------------------------------------- aggregates
def test_variance_family() -> None:
    rows = run("range x from 1 to 5 step 1 | summarize stdev(x), stdevp(x), variance(x), variancep(x)")
    # by hand: squares of deviations sum to 10; sample variance 10/4, population 10/5
    assert [round(v, 12) for v in rows[0]] == [round(2.5**0.5, 12), round(2**0.5, 12), 2.5, 2.0]
    assert run("range x from 1 to 100 step 1 | summarize varianceif(x, x % 2 == 0)") == [[850.0]]  # documented
    fails("print x = 1 | summarize stdev(x)", "EMU002")  # one value: Kusto's answer is not documented


def test_covariance() -> None:
    query = (
        "datatable(x:real, y:real)[1.0, 14.0, 2.0, 10.0, 3.0, 17.0, 4.0, 20.0, 5.0, 50.0] | summarize covariance(x, y)"
    )
    assert run(query) == [[20.5]]  # documented


def test_binary_all_aggregates() -> None:
    source = "datatable(num:long)[0xFFFFFFFF, 0xFFFFF00F, 0xCFFFFFFD, 0xFAFEFFFF]"
    assert run(f"{source} | summarize r = binary_all_and(num)") == [[0xCAFEF00D]]  # documented
    xor_source = "datatable(num:long)[0x44404440, 0x1E1E1E1E, 0x90ABBA09, 0x000B105A]"
    assert run(f"{xor_source} | summarize r = binary_all_xor(num)") == [[0xCAFEF00D]]  # documented
    assert run("datatable(num:long)[1, 2, 4] | summarize r = binary_all_or(num)") == [[7]]


def test_make_bag() -> None:
    source = (
        'datatable(prop:string, value:string)["prop01", "val_a", "prop02", "val_b"] | extend p = bag_pack(prop, value)'
    )
    assert run(f"{source} | summarize d = make_bag(p)") == [[{"prop01": "val_a", "prop02": "val_b"}]]
    assert run(f'{source} | summarize d = make_bag_if(p, prop == "prop02")') == [[{"prop02": "val_b"}]]
    clash = 'datatable(v:dynamic)[dynamic({"a":1}), dynamic({"a":2})] | summarize make_bag(v)'
    fails(clash, "EMU002")  # Kusto keeps an arbitrary one of the two values


def test_buildschema() -> None:
    query = ('datatable(value: dynamic) [dynamic({"x":1, "y":3.5}), dynamic({"x":"somevalue", "z":[1, 2, 3]}), '
             'dynamic({"y":{"w":"zzz"}, "t":["aa", "bb"], "z":["foo"]})] | summarize buildschema(value)')  # fmt: skip
    assert run(query) == [[{"x": ["long", "string"], "y": ["double", {"w": "string"}],
                            "z": {"`indexer`": ["long", "string"]}, "t": {"`indexer`": "string"}}]]  # fmt: skip


def test_make_list_keeps_datatable_order_within_groups() -> None:
    query = ('datatable(n:string, c:int)["a", 3, "b", 4, "c", 5, "d", 6, "e", 7] '
             "| summarize l = make_list(n) by even = c % 2 == 0")  # fmt: skip
    assert run(query) == [[False, ["a", "c", "e"]], [True, ["b", "d"]]]
