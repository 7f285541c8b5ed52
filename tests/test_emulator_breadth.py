"""Constructs real queries use that the emulator runs: split() with an index, ingestion_time(), table(),
and the data a test supplies: watchlists (_GetWatchlist) and file profiles (invoke FileProfile())."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest

from conftest import detection_head, emulate
from dac.emulator import Emulator, EmulatorError
from dac.model.detection import Detection, load_detection
from dac.model.schema import check_schema
from dac.model.tables import environment
from dac.testing import ERROR, PASSED, run_detection_tests


def _refusal(query: str, dialect: str = "defender") -> EmulatorError:
    engine = Emulator(environment(dialect), now=dt.datetime(2024, 1, 1))
    try:
        with pytest.raises(EmulatorError) as caught:
            engine.run(query)
    finally:
        engine.close()
    return caught.value


# --------------------------------------------------------------------------- split(s, d, index)
def test_split_with_an_index_gives_the_substring_at_that_index():
    # split() reference: split("aaa_bbb_ccc", "_", 1) -> ["bbb"]; "a zero-based index".
    assert emulate('print split("aaa_bbb_ccc", "_", 1), split("aaa_bbb_ccc", "_", 0)') == [[["bbb"], ["aaa"]]]


def test_split_with_an_index_past_the_end_gives_an_empty_array():
    # split() reference: the array "contains the requested substring at the index if it exists".
    assert emulate('print split("a_b", "_", 2)') == [[[]]]


def test_split_with_a_negative_index_is_refused():
    # Not documented: refused rather than guessed.
    assert "negative requestedIndex" in _refusal('print split("a_b", "_", -1)').message


# --------------------------------------------------------------------------- ingestion_time()
def test_ingestion_time_is_the_rows_time_column():
    # docs/testing.md: a fixture row's ingestion time is its TimeGenerated (Sentinel) / Timestamp (Defender).
    engine = Emulator(environment("sentinel"), now=dt.datetime(2024, 1, 1))
    try:
        engine.load_table("SigninLogs", [{"TimeGenerated": dt.datetime(2024, 1, 1, 5), "UserPrincipalName": "a"}])
        result = engine.run("SigninLogs | project UserPrincipalName, t = ingestion_time()")
    finally:
        engine.close()
    assert result.columns == [("UserPrincipalName", "string"), ("t", "datetime")]
    assert [list(row) for row in result.rows] == [["a", dt.datetime(2024, 1, 1, 5)]]


def test_ingestion_time_without_a_time_column_is_refused():
    # ingestion_time() reference: null without an IngestionTime policy; unknown here, so refused.
    assert "ingestion_time()" in _refusal("print t = ingestion_time()").message


# --------------------------------------------------------------------------- table()
def test_table_names_a_table_by_a_constant_string():
    # table() reference: "references specific table using an query-time evaluated string".
    engine = Emulator(environment("defender"))
    try:
        engine.load_table("DeviceEvents", [{"DeviceName": "pc1"}, {"DeviceName": "pc2"}])
        assert engine.run('table("DeviceEvents") | count').rows == [(2,)]
        assert engine.run('let name = "DeviceEvents"; table(name) | count').rows == [(2,)]
        # a tabular let name is a table too
        assert engine.run('let T = DeviceEvents | take 1; table("T") | count').rows == [(1,)]
    finally:
        engine.close()


def test_table_of_an_unknown_name_is_refused():
    assert _refusal('table("NoSuchTable")').code == "EMU003"


# --------------------------------------------------------------------------- test data: refusals
def test_get_watchlist_without_a_fixture_needs_test_data():
    refusal = _refusal("_GetWatchlist('vip') | project SearchKey", "sentinel")
    assert refusal.code == "EMU007"
    assert "watchlists:" in refusal.message


def test_file_profile_without_a_fixture_needs_test_data():
    refusal = _refusal("DeviceProcessEvents | invoke FileProfile()")
    assert refusal.code == "EMU007"
    assert "file_profiles:" in refusal.message


# --------------------------------------------------------------------------- test data: the runner
HEAD = detection_head()


def _detection(tmp_path: Path, dialect: str, query: str, tests: str) -> Detection:
    file = tmp_path / "det.yml"
    body = f"query:\n  dialect: {dialect}\n  text: |\n" + textwrap.indent(textwrap.dedent(query), "    ")
    tests = textwrap.dedent(tests).replace("DIALECT", dialect)
    file.write_text(HEAD + body + "tests:\n" + textwrap.indent(tests, "  "))
    loaded = load_detection(file, "det.yml")
    assert loaded.detection is not None, [d.format() for d in loaded.diagnostics]
    assert check_schema(loaded.detection.source) == []
    return loaded.detection


WATCHLIST_QUERY = """\
let vip = _GetWatchlist('vip') | project SearchKey, Owner;
SigninLogs
| join kind=inner vip on $left.IPAddress == $right.SearchKey
| project UserPrincipalName, Owner
"""


def test_a_watchlist_fixture_answers_get_watchlist(tmp_path):
    # Sentinel watchlists: SearchKey holds the value of the search key column; the items' own columns follow.
    detection = _detection(
        tmp_path,
        "sentinel",
        WATCHLIST_QUERY,
        """\
        - name: vip sign-in
          dialects: [DIALECT]
          tables:
            SigninLogs:
              - {TimeGenerated: 2024-01-01, UserPrincipalName: a@x, IPAddress: 10.0.0.1}
              - {TimeGenerated: 2024-01-01, UserPrincipalName: b@x, IPAddress: 10.0.0.2}
          watchlists:
            vip:
              search_key: IP
              items:
                - {IP: 10.0.0.1, Owner: alice}
          expect:
            exact: true
            rows:
              - {UserPrincipalName: a@x, Owner: alice}
        """,
    )
    results = run_detection_tests(detection)
    assert [(r.status, r.message) for r in results] == [(PASSED, "")]


def test_a_watchlist_from_a_csv_file_and_its_item_bag(tmp_path):
    (tmp_path / "vip.csv").write_text("IP,Owner\n10.0.0.1,alice\n")
    detection = _detection(
        tmp_path,
        "sentinel",
        "_GetWatchlist('vip') | project SearchKey, Owner = tostring(WatchlistItem.Owner)\n",
        """\
        - name: from a file
          dialects: [DIALECT]
          watchlists:
            vip: {search_key: IP, items: vip.csv}
          expect:
            exact: true
            rows:
              - {SearchKey: 10.0.0.1, Owner: alice}
        """,
    )
    results = run_detection_tests(detection)
    assert [(r.status, r.message) for r in results] == [(PASSED, "")]


def test_a_watchlist_search_key_no_item_has_is_an_error(tmp_path):
    detection = _detection(
        tmp_path,
        "sentinel",
        "_GetWatchlist('vip') | project SearchKey\n",
        """\
        - name: wrong key
          dialects: [DIALECT]
          watchlists:
            vip: {search_key: Address, items: [{IP: 10.0.0.1}]}
          expect: {count: 1}
        """,
    )
    [result] = run_detection_tests(detection)
    assert result.status == ERROR
    assert "search key column 'Address'" in result.message


FILE_PROFILE_QUERY = """\
DeviceProcessEvents
| project SHA1, FileName
| invoke FileProfile(SHA1, 10)
| where GlobalPrevalence < 100
| project FileName, GlobalPrevalence, Signer
"""


def test_a_file_profile_fixture_enriches_rows_by_sha1(tmp_path):
    # FileProfile(): adds the file's profile columns to each row, matched on the file ID column (SHA1).
    detection = _detection(
        tmp_path,
        "defender",
        FILE_PROFILE_QUERY,
        """\
        - name: rare file
          dialects: [DIALECT]
          tables:
            DeviceProcessEvents:
              - {Timestamp: 2024-01-01, SHA1: aaa, FileName: rare.exe}
              - {Timestamp: 2024-01-01, SHA1: bbb, FileName: common.exe}
              - {Timestamp: 2024-01-01, SHA1: ccc, FileName: unknown.exe}
          file_profiles:
            - {SHA1: aaa, GlobalPrevalence: 3, Signer: Contoso}
            - {SHA1: bbb, GlobalPrevalence: 50000}
          expect:
            exact: true
            rows:
              - {FileName: rare.exe, GlobalPrevalence: 3, Signer: Contoso}
        """,
    )
    results = run_detection_tests(detection)
    assert [(r.status, r.message) for r in results] == [(PASSED, "")]


def test_file_profile_columns_the_input_has_get_a_suffix():
    # The binder's naming (model/tables.py, add_columns): a name the input has comes back as SHA11.
    engine = Emulator(environment("defender"))
    try:
        from dac.emulator.fixtures import FILE_PROFILE_TABLE

        engine.load_table("DeviceFileEvents", [{"SHA1": "aaa", "FileName": "x"}])
        columns = dict(environment("defender").function_tables["FileProfile"].columns)
        engine.create_table(FILE_PROFILE_TABLE, columns, [{"SHA1": "aaa", "GlobalPrevalence": 7}])
        result = engine.run("DeviceFileEvents | project SHA1, FileName | invoke FileProfile()")
    finally:
        engine.close()
    names = [name for name, _ in result.columns]
    assert names[:3] == ["SHA1", "FileName", "SHA11"]
    row = dict(zip(names, result.rows[0], strict=True))
    assert (row["SHA11"], row["GlobalPrevalence"]) == ("aaa", 7)


def test_file_profiles_are_typed_by_the_function_columns(tmp_path):
    detection = _detection(
        tmp_path,
        "defender",
        FILE_PROFILE_QUERY,
        """\
        - name: bad value
          dialects: [DIALECT]
          file_profiles:
            - {SHA1: aaa, GlobalPrevalence: many}
          expect: {count: 0}
        """,
    )
    [result] = run_detection_tests(detection)
    assert result.status == ERROR
    assert "FileProfile.GlobalPrevalence" in result.message


# --------------------------------------------------------------------------- parse_command_line()
def test_parse_command_line_the_reference_example():
    # parse_command_line() reference: print parse_command_line("echo \"hello world!\"", "windows")
    # -> ["echo","hello world!"]
    assert emulate('print parse_command_line("echo \\"hello world!\\"", "windows")') == [[["echo", "hello world!"]]]


def test_parse_command_line_backslashes_and_quotes():
    # CommandLineToArgvW's documented rules: 2n+1 backslashes and a quotation mark give n backslashes and a
    # literal mark; 2n backslashes and a mark give n backslashes and open/close a quoted part; other
    # backslashes are literal; a quoted program name ends at the next mark.
    query = r"""print parse_command_line(@'"C:\Program Files\x.exe" a\\\"b "c d" e\\"f g" h\i', "windows")"""
    assert emulate(query) == [[["C:\\Program Files\\x.exe", 'a\\"b', "c d", "e\\f g", "h\\i"]]]


def test_parse_command_line_leading_whitespace_gives_an_empty_first_argument():
    # CommandLineToArgvW: "if lpCmdLine starts with any amount of whitespace, ... the first argument
    # [is] an empty string"; "excess whitespace at the end of lpCmdLine is ignored".
    assert emulate('print parse_command_line("  a b  ", "windows")') == [[["", "a", "b"]]]


def test_parse_command_line_of_an_empty_line_is_refused():
    # CommandLineToArgvW gives the caller's executable path: what Kusto returns is not documented.
    assert "empty command line" in _refusal('print parse_command_line("", "windows")').message


# --------------------------------------------------------------------------- search without in
def test_search_without_in_searches_the_tables_the_test_gives():
    # search reference: without `in`, "all tables in the database" are searched and $table names each
    # row's table; the emulator's database is the tables the test gives.
    engine = Emulator(environment("defender"))
    try:
        engine.load_table("DeviceEvents", [{"DeviceName": "pc-x"}, {"DeviceName": "pc-y"}])
        engine.load_table("DeviceLogonEvents", [{"AccountName": "x"}])
        result = engine.run('search "x" | project $table, DeviceName, AccountName | sort by $table asc')
    finally:
        engine.close()
    assert [list(row) for row in result.rows] == [["DeviceEvents", "pc-x", ""], ["DeviceLogonEvents", "", "x"]]


def test_notempty_is_isnotempty():
    # isnotempty() reference: "Deprecated aliases: notempty()".
    assert emulate('print notempty(""), notempty("a")') == [[False, True]]


def test_search_star_returns_every_row():
    # search reference: `search *` matches every record.
    engine = Emulator(environment("defender"))
    try:
        engine.load_table("DeviceEvents", [{"DeviceName": "a"}, {"DeviceName": "b"}])
        assert engine.run("search * | count").rows == [(2,)]
    finally:
        engine.close()
