"""Test data for the emulator: typing per column, defaults, the time column rule, and every
fixture error (DAC701-DAC706) with its position in the YAML or the .jsonl/.csv file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from dac.emulator.fixtures import (
    FixtureError,
    build_tables,
    format_timespan,
    infer_type,
    parse_datetime,
    parse_timespan,
    parse_value,
    tables_for_test,
)
from dac.kql.binder import Environment
from dac.model.tables import environment
from dac.model.yamlsource import load_yaml_text

DEFENDER, SENTINEL = environment("defender"), environment("sentinel")
T0 = dt.datetime(2024, 12, 2, 11, 0)


def _tables(yaml_text: str, env: Environment = DEFENDER, folder: Path | None = None, **options):
    """Type the `tables` of tests[0] in a small YAML document (line 1 is `tests:`)."""
    source = load_yaml_text(yaml_text, "det.yml")
    test = source.data["tests"][0]
    base = folder or Path(".")
    return tables_for_test(test, base / "det.yml", source, 0, env, root=base, **options)


def _error(yaml_text: str, env: Environment = DEFENDER, folder: Path | None = None, **options):
    with pytest.raises(FixtureError) as caught:
        _tables(yaml_text, env, folder, **options)
    diagnostic = caught.value.diagnostic
    return diagnostic.code, f"{diagnostic.path}:{diagnostic.line}:{diagnostic.column}", diagnostic.message


# --------------------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-12-02T11:00:00Z", T0),
        ("2024-12-02 11:00", T0),
        ("2024-12-02T11:00", T0),
        ("2024-12-02T12:00:00+01:00", T0),
        ("2024-12-02T06:30:00-0430", T0),
        ("2024-12-02", dt.datetime(2024, 12, 2)),
        ("datetime(2024-12-02 11:00)", T0),
        ("2024-12-02T11:00:00.1234567Z", T0.replace(microsecond=123456)),
    ],
)
def test_datetimes(text, expected):
    assert parse_datetime(text) == expected


@pytest.mark.parametrize("text", ["yesterday", "2024-02-30", "12/02/2024", "2024-12-02T25:00"])
def test_bad_datetimes(text):
    with pytest.raises(ValueError):
        parse_datetime(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1h", dt.timedelta(hours=1)),
        ("1.5h", dt.timedelta(minutes=90)),
        ("30m", dt.timedelta(minutes=30)),
        ("10s", dt.timedelta(seconds=10)),
        ("100ms", dt.timedelta(milliseconds=100)),
        ("10microsecond", dt.timedelta(microseconds=10)),
        ("2d", dt.timedelta(days=2)),
        ("-1d", dt.timedelta(days=-1)),
        ("15 seconds", dt.timedelta(seconds=15)),
        ("00:05:00", dt.timedelta(minutes=5)),
        ("1.02:03:04", dt.timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("1.02:03:04.5", dt.timedelta(days=1, hours=2, minutes=3, seconds=4.5)),
        ("time(2)", dt.timedelta(days=2)),
        ("timespan(1h)", dt.timedelta(hours=1)),
    ],
)
def test_timespans(text, expected):
    assert parse_timespan(text) == expected


@pytest.mark.parametrize("text", ["1w", "an hour", "1:5", "25:00:00", "1.5"])
def test_bad_timespans(text):
    with pytest.raises(ValueError):
        parse_timespan(text)


def test_timespan_text_round_trips():
    for text in ("01:00:00", "1.02:03:04.5000000", "-00:00:10", "00:00:00.0000100"):
        assert format_timespan(parse_timespan(text)) == text


@pytest.mark.parametrize(
    ("value", "kql_type", "expected"),
    [
        ("x", "string", "x"),
        (None, "string", ""),
        (22, "string", "22"),
        (1.5, "string", "1.5"),
        (2.0, "string", "2"),
        (True, "string", "true"),
        ({"a": [1, 2]}, "string", '{"a":[1,2]}'),
        (443, "int", 443),
        ("443", "int", 443),
        (" -7 ", "long", -7),
        (3.0, "long", 3),
        ("", "long", None),
        (None, "long", None),
        (1, "real", 1.0),
        ("1e3", "real", 1000.0),
        (True, "bool", True),
        ("False", "bool", False),
        (0, "bool", False),
        ("2024-12-02T11:00:00Z", "datetime", T0),
        ("1h", "timespan", dt.timedelta(hours=1)),
        (2, "timespan", dt.timedelta(days=2)),  # as KQL's timespan(2): days
        ({"a": 1}, "dynamic", {"a": 1}),
        ([1, "x"], "dynamic", [1, "x"]),
        ('{"a": 1}', "dynamic", {"a": 1}),
        ('"text"', "dynamic", "text"),
        (5, "dynamic", 5),
        (None, "dynamic", None),
        ("", "dynamic", None),
        ("ABCDEF00-1111-2222-3333-444455556666", "guid", "abcdef00-1111-2222-3333-444455556666"),
    ],
)
def test_values_parse_as_their_column_type(value, kql_type, expected):
    parsed = parse_value(value, kql_type)
    assert parsed == expected
    assert type(parsed) is type(expected)


@pytest.mark.parametrize(
    ("value", "kql_type"),
    [
        ("abc", "long"),
        (1.5, "long"),
        (True, "long"),
        (2**31, "int"),
        (2**63, "long"),
        ("1_000", "real"),
        (True, "real"),
        ("yes", "bool"),
        (2, "bool"),
        (5, "datetime"),
        ("1.5", "timespan"),
        (1.5, "timespan"),
        ("{a: 1}", "dynamic"),
        ("not-a-guid", "guid"),
    ],
)
def test_values_that_do_not_parse(value, kql_type):
    with pytest.raises(ValueError):
        parse_value(value, kql_type)


def test_types_inferred_for_ad_hoc_tables():
    assert infer_type([1, 2]) == "long"
    assert infer_type(["1", "2"]) == "long"
    assert infer_type([1, 2.5]) == "real"
    assert infer_type(["2024-12-02", None]) == "datetime"
    assert infer_type([True, False]) == "bool"
    assert infer_type([{"a": 1}]) == "dynamic"
    assert infer_type(["a", 1]) == "string"
    assert infer_type([None]) == "string"


# --------------------------------------------------------------------------------------- rows


def test_rows_get_every_column_typed_and_defaults():
    tables = _tables(
        "tests:\n- tables:\n    DeviceNetworkEvents:\n"
        "    - {Timestamp: 2024-12-02T11:00:00Z, DeviceName: ws1, RemotePort: '443', AdditionalFields: {a: 1}}\n"
    )
    (row,) = tables["DeviceNetworkEvents"]
    assert list(row) == list(DEFENDER.tables["DeviceNetworkEvents"])  # every column, in schema order
    assert row["Timestamp"] == T0
    assert row["DeviceName"] == "ws1"
    assert row["RemotePort"] == 443
    assert row["AdditionalFields"] == '{"a":1}'  # a string column in Defender
    assert row["RemoteIP"] == ""  # strings are never null
    assert row["ReportId"] is None  # other types are


def test_dynamic_in_sentinel_from_the_same_fixture():
    yaml_text = "tests:\n- tables:\n    DeviceInfo:\n    - {Timestamp: 2024-12-02, AdditionalFields: {a: 1}}\n"
    assert _tables(yaml_text, SENTINEL)["DeviceInfo"][0]["AdditionalFields"] == {"a": 1}
    assert _tables(yaml_text, DEFENDER)["DeviceInfo"][0]["AdditionalFields"] == '{"a":1}'


def test_sentinel_sees_time_generated_where_the_fixture_says_timestamp():
    yaml_text = "tests:\n- tables:\n    DeviceNetworkEvents:\n    - {Timestamp: 2024-12-02T11:00:00Z}\n"
    (row,) = _tables(yaml_text, SENTINEL)["DeviceNetworkEvents"]
    assert row["TimeGenerated"] == T0
    assert row["Timestamp"] == T0  # the Sentinel table has both: both are filled


def test_defender_sees_timestamp_where_the_fixture_says_time_generated():
    yaml_text = "tests:\n- tables:\n    DeviceNetworkEvents:\n    - {TimeGenerated: 2024-12-02T11:00:00Z}\n"
    (row,) = _tables(yaml_text, DEFENDER)["DeviceNetworkEvents"]
    assert row["Timestamp"] == T0
    assert "TimeGenerated" not in row


def test_both_time_columns_given_are_kept():
    yaml_text = (
        "tests:\n- tables:\n    DeviceNetworkEvents:\n"
        "    - {Timestamp: 2024-12-02T11:00:00Z, TimeGenerated: 2024-12-02T11:05:00Z}\n"
    )
    (row,) = _tables(yaml_text, SENTINEL)["DeviceNetworkEvents"]
    assert (row["Timestamp"], row["TimeGenerated"]) == (T0, T0 + dt.timedelta(minutes=5))
    (row,) = _tables(yaml_text, DEFENDER)["DeviceNetworkEvents"]
    assert row["Timestamp"] == T0


def test_a_sentinel_only_table_maps_timestamp():
    (row,) = _tables("tests:\n- tables:\n    SigninLogs:\n    - {Timestamp: 2024-12-02T11:00:00Z}\n", SENTINEL)[
        "SigninLogs"
    ]
    assert row["TimeGenerated"] == T0


def test_jsonl_and_csv_files(tmp_path):
    (tmp_path / "events.jsonl").write_text(
        '{"Timestamp": "2024-12-02T11:00:00Z", "RemotePort": 22, "DeviceName": "ws1"}\n\n'
        '{"TimeGenerated": "2024-12-02 11:00", "RemotePort": null}\n'
    )
    (tmp_path / "events.csv").write_text("Timestamp,DeviceName,RemotePort\n2024-12-02T11:00:00Z,ws1,22\n,ws2,\n")
    for name in ("events.jsonl", "events.csv"):
        rows = _tables(f"tests:\n- tables:\n    DeviceNetworkEvents: {name}\n", folder=tmp_path)["DeviceNetworkEvents"]
        assert [(r["Timestamp"], r["RemotePort"]) for r in rows] == [
            (T0, 22),
            (T0 if name.endswith("l") else None, None),
        ]


def test_query_defined_and_other_dialect_tables_are_left_out():
    yaml_text = "tests:\n- tables:\n    Allow: [{x: 1}]\n    SigninLogs: []\n"
    assert _tables(yaml_text, DEFENDER, query_tables={"Allow"}, also_known={"SigninLogs"}) == {}


def test_ad_hoc_tables_get_an_inferred_schema():
    env = environment("defender")
    source = load_yaml_text("T:\n- {a: 1, t: 2024-12-02T11:00:00Z}\n- {a: 2, b: x}\n", "data.yml")
    tables = build_tables(
        source.data, base_dir=Path("."), root=Path("."), source=source, path=(), environment=env, ad_hoc=True
    )
    assert env.tables["T"] == {"a": "long", "t": "datetime", "b": "string"}
    assert tables["T"] == [{"a": 1, "t": T0, "b": ""}, {"a": 2, "t": None, "b": "x"}]


# --------------------------------------------------------------------------------------- errors


def test_dac701_unknown_table():
    code, where, message = _error("tests:\n- tables:\n    DeviceNetworkEvent: []\n")
    assert (code, where) == ("DAC701", "det.yml:3:5")
    assert "did you mean 'DeviceNetworkEvents'" in message


def test_dac701_table_of_the_other_dialect():
    code, where, message = _error("tests:\n- tables:\n    SigninLogs: []\n")
    assert (code, where) == ("DAC701", "det.yml:3:5")
    assert "exists in Sentinel but not in Defender" in message


def test_dac702_unknown_column_with_did_you_mean():
    code, where, message = _error("tests:\n- tables:\n    DeviceNetworkEvents:\n    - {DeviceNam: ws1}\n")
    assert (code, where) == ("DAC702", "det.yml:4:8")
    assert "did you mean 'DeviceName'" in message


def test_dac703_value_of_the_wrong_type():
    code, where, message = _error("tests:\n- tables:\n    DeviceNetworkEvents:\n    - {RemotePort: https}\n")
    assert (code, where) == ("DAC703", "det.yml:4:20")
    assert "RemotePort" in message and "'https'" in message
    code, where, _ = _error("tests:\n- tables:\n    DeviceNetworkEvents:\n    - {TimeGenerated: soon}\n")
    assert (code, where) == ("DAC703", "det.yml:4:23")  # the other time column is checked too


def test_dac704_missing_file(tmp_path):
    code, where, message = _error("tests:\n- tables:\n    DeviceNetworkEvents: nope.jsonl\n", folder=tmp_path)
    assert (code, where) == ("DAC704", "det.yml:3:26")
    assert "nope.jsonl" in message


def test_dac704_file_not_utf8(tmp_path):
    (tmp_path / "e.csv").write_bytes(b"DeviceName\n\xff\xfe\n")
    code, where, _ = _error("tests:\n- tables:\n    DeviceNetworkEvents: e.csv\n", folder=tmp_path)
    assert (code, where) == ("DAC704", "det.yml:3:26")


def test_dac705_malformed_jsonl_line(tmp_path):
    (tmp_path / "e.jsonl").write_text('{"DeviceName": "ws1"}\n{"DeviceName": ws2}\n')
    code, where, _ = _error("tests:\n- tables:\n    DeviceNetworkEvents: e.jsonl\n", folder=tmp_path)
    assert (code, where) == ("DAC705", "e.jsonl:2:16")
    (tmp_path / "e.jsonl").write_text('{"DeviceName": "ws1"}\n[1, 2]\n')
    code, where, _ = _error("tests:\n- tables:\n    DeviceNetworkEvents: e.jsonl\n", folder=tmp_path)
    assert (code, where) == ("DAC705", "e.jsonl:2:1")


def test_errors_inside_jsonl_point_at_the_line(tmp_path):
    (tmp_path / "e.jsonl").write_text('{"DeviceName": "ws1"}\n{"DeviceName": "ws2", "RemotePort": "x"}\n{"Bogus": 1}\n')
    code, where, _ = _error("tests:\n- tables:\n    DeviceNetworkEvents: e.jsonl\n", folder=tmp_path)
    assert (code, where) == ("DAC703", "e.jsonl:2:23")
    (tmp_path / "e.jsonl").write_text('{"DeviceName": "ws1"}\n{"Bogus": 1}\n')
    code, where, _ = _error("tests:\n- tables:\n    DeviceNetworkEvents: e.jsonl\n", folder=tmp_path)
    assert (code, where) == ("DAC702", "e.jsonl:2:2")


def test_dac706_csv_without_header(tmp_path):
    (tmp_path / "e.csv").write_text("\n\n")
    code, where, message = _error("tests:\n- tables:\n    DeviceNetworkEvents: e.csv\n", folder=tmp_path)
    assert (code, where) == ("DAC706", "e.csv:1:1")
    assert "no header" in message


def test_dac706_bad_csv_lines(tmp_path):
    (tmp_path / "e.csv").write_text("DeviceName,DeviceName\n")
    assert _error("tests:\n- tables:\n    DeviceNetworkEvents: e.csv\n", folder=tmp_path)[:2] == (
        "DAC706",
        "e.csv:1:12",
    )
    (tmp_path / "e.csv").write_text("DeviceName,RemotePort\nws1,22,extra\n")
    assert _error("tests:\n- tables:\n    DeviceNetworkEvents: e.csv\n", folder=tmp_path)[:2] == ("DAC706", "e.csv:2:8")


def test_errors_inside_csv_point_at_the_field(tmp_path):
    (tmp_path / "e.csv").write_text("DeviceName,RemotePort\nws1,22\nws2,https\n")
    assert _error("tests:\n- tables:\n    DeviceNetworkEvents: e.csv\n", folder=tmp_path)[:2] == ("DAC703", "e.csv:3:5")
    (tmp_path / "e.csv").write_text("DeviceName,RemotPort\nws1,22\n")
    assert _error("tests:\n- tables:\n    DeviceNetworkEvents: e.csv\n", folder=tmp_path)[:2] == (
        "DAC702",
        "e.csv:1:12",
    )


def test_fixture_files_beside_a_detection_in_a_folder(tmp_path):
    (tmp_path / "fixtures").mkdir()
    (tmp_path / "fixtures" / "e.jsonl").write_text("not json\n")
    source = load_yaml_text("tests:\n- tables:\n    DeviceNetworkEvents: fixtures/e.jsonl\n", "detections/x/det.yml")
    with pytest.raises(FixtureError) as caught:
        tables_for_test(source.data["tests"][0], tmp_path / "det.yml", source, 0, DEFENDER, root=tmp_path)
    assert caught.value.diagnostic.format().startswith("detections/x/fixtures/e.jsonl:1:1: error DAC705:")
