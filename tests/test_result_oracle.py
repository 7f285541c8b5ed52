"""Result columns and types against Microsoft's binder: dac's binder (what `dac kql columns` prints) and the
emulator, on every dev-corpus query of tests/kql/binder_oracle.jsonl that both binders find clean, compared
with the fixture's "result" (kqlcheck --result, made by scripts/gen_binder_oracle.py). Plus the naming and
typing rules, each with the answer Microsoft's binder gave for it (kqlcheck --result, 12.4.1)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

import dac.emulator.compiler as compiler_module
from conftest import ROOT
from dac.emulator import Emulator, EmulatorError, QueryLimits
from dac.kql import parse
from dac.kql.binder import bind
from dac.model.tables import environment

ORACLE = ROOT / "tests" / "kql" / "binder_oracle.jsonl"
CORPUS = ROOT.parent / "shared" / "corpus" / "queries-dev.jsonl"

# Kusto's type names -> dac's, only where they name the same type (the KQL reference, scalar data types:
# "double" is an alias of real, "boolean" of bool, "date" of datetime, "time" of timespan, "uniqueid" of guid).
# kqlcheck's "unknown" (a column Microsoft's binder cannot type, e.g. after bag_unpack) equals only dac's unknown.
KUSTO_TYPES = {"double": "real", "boolean": "bool", "date": "datetime", "time": "timespan", "uniqueid": "guid"}


def kusto_result(result: list[list[str]]) -> list[tuple[str, str]]:
    return [(name, KUSTO_TYPES.get(type_, type_)) for name, type_ in result]


def columns(query: str, dialect: str = "sentinel") -> list[tuple[str, str]]:
    bound = bind(parse(query), environment(dialect))
    assert [d for d in bound.diagnostics if d.severity == "error"] == []
    assert bound.output is not None
    return bound.output.items()


@pytest.fixture(scope="module")
def agreement() -> dict[str, Any]:
    if not CORPUS.is_file() or not ORACLE.is_file():
        pytest.skip("../shared or the binder oracle fixture is not present")
    queries = {row["id"]: row["query"] for row in map(json.loads, CORPUS.read_text(encoding="utf-8").splitlines())}
    environments = {dialect: environment(dialect) for dialect in ("defender", "sentinel")}
    emulators = {dialect: Emulator(env, limits=QueryLimits(timeout=20.0)) for dialect, env in environments.items()}
    counts: dict[str, Any] = {"clean": 0, "bound": 0, "binder_equal": 0, "emulated": 0, "emulator_equal": 0,
                              "refused": 0, "binder_differ": [], "emulator_differ": []}  # fmt: skip
    # Every column list the compiler knows without DuckDB is checked against DuckDB's DESCRIBE on the way:
    # a wrong one fails here (AssertionError), not in a user's test.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(compiler_module, "_CHECK_KNOWN_COLUMNS", True)
        _agree(emulators, environments, queries, counts)
    summary = {k: v for k, v in counts.items() if not isinstance(v, list)}
    print(f"result oracle: {summary}")
    return counts


def _agree(emulators: dict, environments: dict, queries: dict, counts: dict[str, Any]) -> None:
    for line in ORACLE.read_text(encoding="utf-8").splitlines():
        case = json.loads(line)
        if case["semantic_errors"] or case.get("result") is None:
            continue
        counts["clean"] += 1
        expected = kusto_result(case["result"])
        text = queries[case["id"]]
        parsed = parse(text)
        bound = bind(parsed, environments[case["dialect"]])
        if parsed.diagnostics or bound.output is None or any(d.severity == "error" for d in bound.diagnostics):
            continue  # not clean for dac: the rejection measure (test_kql_binder) counts these
        counts["bound"] += 1
        if bound.output.items() == expected:
            counts["binder_equal"] += 1
        else:
            counts["binder_differ"].append(case["id"])
        try:
            result = emulators[case["dialect"]].run(text)
        except EmulatorError:
            counts["refused"] += 1  # the emulator's breadth measure counts these
            continue
        counts["emulated"] += 1
        if [tuple(column) for column in result.columns] == expected:
            counts["emulator_equal"] += 1
        else:
            counts["emulator_differ"].append(case["id"])


def test_binder_result_columns_equal_microsofts(agreement):
    assert agreement["bound"] > 1000
    share = agreement["binder_equal"] / agreement["bound"]
    assert share >= 0.98, (share, agreement["binder_differ"][:20])


def test_emulator_result_columns_equal_microsofts(agreement):
    assert agreement["emulated"] > 800, agreement["refused"]
    share = agreement["emulator_equal"] / agreement["emulated"]
    assert share >= 0.98, (share, agreement["emulator_differ"][:20])


# ----------------------------------------------------------------- the rules, with Microsoft's answers


def test_union_columns_of_several_types_get_the_type_as_suffix():
    # Reference (union operator, kind=outer): one column per name and type, "suffixed with '_' followed by
    # the source column type". kqlcheck: [['A_int','int'], ['A_long','long'], ['A_string','string']]
    assert columns("union (print A=int(1)), (print A=1), (print A='a')") == [
        ("A_int", "int"), ("A_long", "long"), ("A_string", "string")
    ]  # fmt: skip
    # kqlcheck: a column two inputs gave with one type keeps it: [['A', 'int']]; (int, string, int) splits
    assert columns("union (print A=int(1)), (print A=int(1)), (print A='a')") == [("A", "int")]
    assert columns("union (print A=int(1)), (print A='a'), (print A=int(1))") == [
        ("A_int", "int"),
        ("A_string", "string"),
    ]


def test_duplicate_names_get_the_smallest_free_number():
    # kqlcheck: summarize max(DurationMs), max(DurationMs) -> max_DurationMs, max_DurationMs1
    assert [n for n, _ in columns("SigninLogs | summarize max(DurationMs), max(DurationMs)")] == [
        "max_DurationMs", "max_DurationMs1"
    ]  # fmt: skip
    # kqlcheck: arg_max(T, *), arg_min(T, *) -> T, UserId, DurationMs, T1, UserId1, DurationMs1
    query = "SigninLogs | project T = TimeGenerated, UserId, DurationMs | summarize arg_max(T, *), arg_min(T, *)"
    assert [n for n, _ in columns(query)] == ["T", "UserId", "DurationMs", "T1", "UserId1", "DurationMs1"]
    # kqlcheck: join's right-side name is new on both sides: A1 is taken by the right side, so A becomes A2
    query = "print A=1 | join (print A=1, A1=2) on A"
    assert [n for n, _ in columns(query)] == ["A", "A2", "A1"]


def test_arg_max_star_and_names():
    # kqlcheck: summarize L = arg_max(TimeGenerated, *) by UserId -> UserId, L, DurationMs (no 2nd TimeGenerated)
    base = "SigninLogs | project TimeGenerated, UserId, DurationMs | summarize "
    assert columns(base + "L = arg_max(TimeGenerated, *) by UserId") == [
        ("UserId", "string"), ("L", "datetime"), ("DurationMs", "long")
    ]  # fmt: skip
    # kqlcheck: arg_max(TimeGenerated, UserId) by UserId -> UserId, TimeGenerated, UserId1
    assert [n for n, _ in columns(base + "arg_max(TimeGenerated, UserId) by UserId")] == [
        "UserId", "TimeGenerated", "UserId1"
    ]  # fmt: skip
    # kqlcheck: L = take_any(UserId, DurationMs) -> L, DurationMs
    assert [n for n, _ in columns(base + "L = take_any(UserId, DurationMs)")] == ["L", "DurationMs"]


def test_print_and_unnamed_expressions():
    # kqlcheck: print a=1, 2, strlen("x"), tostring(3) -> a, print_1, print_2, print_3
    assert [n for n, _ in columns('print a=1, 2, strlen("x"), tostring(3)')] == ["a", "print_1", "print_2", "print_3"]
    # kqlcheck: by startofweek(T), bin_at(T, ...), endofday(T), floor(T, 1d) -> Column1, T, Column2, T1, count_
    query = (
        "SigninLogs | summarize count() by startofweek(TimeGenerated), bin_at(TimeGenerated, 1d, now()),"
        " endofday(TimeGenerated), floor(TimeGenerated, 1d)"
    )
    assert [n for n, _ in columns(query)] == ["Column1", "TimeGenerated", "Column2", "TimeGenerated1", "count_"]
    # kqlcheck: tostring(parse_json(U).a) -> U_a, split(U, "a")[0] -> U_0, strlen(U) -> strlen_U, tolower(U) -> Column1
    query = (
        'SigninLogs | project tostring(parse_json(UserId).a), split(UserPrincipalName, "a")[0],'
        " strlen(UserType), tolower(AppId)"
    )
    assert [n for n, _ in columns(query)] == ["UserId_a", "UserPrincipalName_0", "strlen_UserType", "Column1"]
    # kqlcheck: a ColumnN the input has is skipped: Column1 exists, so startofweek(...) is Column2
    query = "SigninLogs | summarize count() by startofweek(TimeGenerated) | summarize by startofweek(Column1)"
    assert [n for n, _ in columns(query)] == ["Column2"]


def test_extend_replaces_in_place_and_parse_keeps_existing_columns():
    # kqlcheck: extend of an existing name keeps its place: print a=1, b=2 | extend a='x' -> a:string, b:long
    assert columns("print a=1, b=2 | extend a='x'") == [("a", "string"), ("b", "long")]
    # kqlcheck: parse into a column the input has leaves it: DurationMs stays long
    query = 'SigninLogs | parse UserId with DurationMs "x" Foo | project DurationMs, Foo'
    assert columns(query) == [("DurationMs", "long"), ("Foo", "string")]


def test_result_types_of_iif_case_and_sum():
    # kqlcheck: iif(true, dynamic(1), "a") string; case(true, dynamic(1), false, dynamic(2), 1) long;
    # iif(true, 1, 2.5) real; sum of an int column long
    assert columns('print x = iif(true, dynamic(1), "a"), y = case(true, dynamic(1), false, dynamic(2), 1),'
                   " z = iif(true, 1, 2.5)") == [("x", "string"), ("y", "long"), ("z", "real")]  # fmt: skip
    assert columns("print a = int(1) | summarize s = sum(a)") == [("s", "long")]
    # kqlcheck: max_of(now(), now()) datetime, min_of(1d, 2d) timespan; bin(int(1), 1) long, bin(int(2), 2.5) real
    assert columns("print a = max_of(now(), now()), b = min_of(1d, 2d), c = bin(int(1), 1), d = bin(int(2), 2.5)") == [
        ("a", "datetime"), ("b", "timespan"), ("c", "long"), ("d", "real")
    ]  # fmt: skip


def test_table_of_a_known_name_and_functions_without_arguments():
    # kqlcheck: let f = (t:string) { table(t) | project TimeGenerated }; f("SigninLogs") -> TimeGenerated:datetime
    assert columns('let f = (t:string) { table(t) | project TimeGenerated }; f("SigninLogs")') == [
        ("TimeGenerated", "datetime")
    ]  # fmt: skip
    # kqlcheck: let F = () { SigninLogs | project UserId }; F | extend x = 1 -> UserId:string, x:long
    assert columns("let F = () { SigninLogs | project UserId }; F | extend x = 1") == [
        ("UserId", "string"),
        ("x", "long"),
    ]


def emulated(query: str, dialect: str = "sentinel") -> list[tuple[str, str]]:
    return [tuple(column) for column in Emulator(environment(dialect)).run(query).columns]


def test_the_emulator_names_result_columns_as_microsofts_binder():
    # The same kqlcheck answers as above, through the emulator (empty tables)
    assert emulated("union (print A=int(1), B=1), (print A='a', C=2)") == [
        ("A_int", "int"), ("A_string", "string"), ("B", "long"), ("C", "long")
    ]  # fmt: skip
    base = "SigninLogs | project TimeGenerated, UserId, DurationMs | summarize "
    assert emulated(base + "L = arg_max(TimeGenerated, *) by UserId") == [
        ("UserId", "string"), ("L", "datetime"), ("DurationMs", "long")
    ]  # fmt: skip
    assert [n for n, _ in emulated("SigninLogs | summarize max(DurationMs), max(DurationMs)")] == [
        "max_DurationMs", "max_DurationMs1"
    ]  # fmt: skip
    assert [n for n, _ in emulated("print A=1 | join (print A=1, A1=2) on A")] == ["A", "A2", "A1"]
    query = "SigninLogs | summarize count() by startofweek(TimeGenerated) | summarize by startofweek(Column1)"
    assert [n for n, _ in emulated(query)] == ["Column2"]
    # kqlcheck: iif(true, dynamic(1), "a") is string
    assert emulated('print x = iif(true, dynamic("ab"), "a")') == [("x", "string")]


def test_columns_whose_names_differ_only_in_case():
    # DeviceProcessEvents has LogonId and LogonID (Defender XDR schema); kqlcheck lists both in the result.
    names = [n for n, _ in emulated("DeviceProcessEvents | project-keep Logon*", "defender")]
    assert names == ["LogonId", "LogonID"]
    # kqlcheck: DeviceEvents | extend timestamp = Timestamp keeps Timestamp and adds timestamp
    engine = Emulator(environment("defender"))
    engine.load_table("DeviceEvents", [{"Timestamp": dt.datetime(2024, 1, 1)}])
    result = engine.run("DeviceEvents | extend timestamp = Timestamp + 1d | project Timestamp, timestamp")
    assert result.columns == [("Timestamp", "datetime"), ("timestamp", "datetime")]
    assert [tuple(row) for row in result.rows] == [(dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 2))]


def test_mv_expand_of_a_call_on_a_column_expands_into_that_column():
    # kqlcheck --result: datatable(AffectedItems: string, Folder: string) [...] | mv-expand todynamic(AffectedItems)
    # | extend z = 1 -> AffectedItems dynamic, Folder string, z long (no Column1; the column is replaced in place)
    source = 'datatable(AffectedItems: string, Folder: string) ["[1,2]", "x"]'
    expected = [("AffectedItems", "dynamic"), ("Folder", "string"), ("z", "long")]
    assert emulated(f"{source} | mv-expand todynamic(AffectedItems) | extend z = 1") == expected
    assert emulated(f"{source} | mv-expand parse_json(AffectedItems) | extend z = 1") == expected
    rows = Emulator(environment("sentinel")).run(f"{source} | mv-expand todynamic(AffectedItems)").rows
    assert [list(row) for row in rows] == [[1, "x"], [2, "x"]]
