"""Sources that read many tables or data only the platform has: `union *` and `search` without `in`
over every table of the database, let functions named without brackets, Azure Resource Graph tables
(arg("").Resources) from a test's `resource_graph:`, and the columns bag_unpack and pivot make from rows."""

from __future__ import annotations

import datetime as dt

import pytest

from dac.emulator import Emulator, EmulatorError
from dac.kql.symbols import Environment
from dac.model.tables import environment
from dac.testing import PASSED, run_detection_tests
from test_emulator_breadth import _detection

SMALL = {
    "Alpha": {"TimeGenerated": "datetime", "X": "string", "LogonId": "string"},
    "Beta": {"TimeGenerated": "datetime", "X": "long", "LogonID": "string", "Y": "int"},
}


def _engine(tables: dict[str, dict[str, str]] | None = None, dialect: str = "sentinel") -> Emulator:
    env = environment(dialect) if tables is None else Environment(dialect, {k: dict(v) for k, v in tables.items()})
    return Emulator(env, now=dt.datetime(2024, 1, 1))


# --------------------------------------------------------------------------- union * and search
def test_union_star_has_the_columns_of_every_table_in_name_order():
    # union reference: kind=outer (the default) gives "one column for each name and type" of every input;
    # a name with two types is one column per type (X_string, X_long). Columns differing only in case
    # are two columns (Kusto names are case-sensitive). Tables without rows give columns, no rows.
    engine = _engine(SMALL)
    try:
        engine.load_table("Beta", [{"TimeGenerated": dt.datetime(2024, 1, 1), "X": 5, "LogonID": "b", "Y": 2}])
        result = engine.run("union withsource=T *")
    finally:
        engine.close()
    assert result.columns == [
        ("T", "string"), ("TimeGenerated", "datetime"), ("X_string", "string"), ("X_long", "long"),
        ("LogonId", "string"), ("LogonID", "string"), ("Y", "int"),
    ]  # fmt: skip
    assert [list(row) for row in result.rows] == [["Beta", dt.datetime(2024, 1, 1), "", 5, "", "b", 2]]


def test_search_without_in_has_table_and_every_tables_columns():
    # search reference: without `in`, "all tables in the database" are searched; $table names each
    # row's table.
    engine = _engine(SMALL)
    try:
        engine.load_table("Alpha", [{"X": "a needle here", "LogonId": "1"}, {"X": "nothing", "LogonId": "2"}])
        result = engine.run('search "needle"')
    finally:
        engine.close()
    assert [name for name, _ in result.columns] == [
        "$table", "TimeGenerated", "X_string", "X_long", "LogonId", "LogonID", "Y",
    ]  # fmt: skip
    assert [(row[0], row[2]) for row in result.rows] == [("Alpha", "a needle here")]


def test_union_star_over_every_sentinel_table_runs_within_the_time_limit():
    # About 900 tables, none with rows: the result has their columns and no rows.
    engine = _engine()
    try:
        result = engine.run("union withsource=T * | summarize count() by T")
        everything = engine.run("search * | getschema | count")
    finally:
        engine.close()
    assert result.rows == []
    assert everything.rows[0][0] > 5000


def test_a_null_of_a_later_type_joins_the_kept_column_and_a_value_is_refused():
    # Microsoft's binder keeps A:int when two inputs agreed on it before a long one came; where a later
    # long value goes is not documented, so only a value is refused, not a null.
    query = "union (print A=int(1)), (print A=int(2)), (print A={value}) | summarize count()"
    engine = _engine(SMALL)
    try:
        assert engine.run(query.format(value="long(null)")).rows == [(3,)]
        with pytest.raises(EmulatorError) as caught:
            engine.run(query.format(value="long(5)"))
    finally:
        engine.close()
    assert "in a later one" in caught.value.message


# --------------------------------------------------------------------------- let functions without ()
def test_a_let_function_without_parameters_is_called_by_its_bare_name():
    # Microsoft's binder binds `f` as the call f() for a function whose parameters all have defaults.
    engine = _engine(SMALL)
    try:
        engine.load_table("Alpha", [{"X": "a"}, {"X": "b"}])
        assert engine.run("let f = () { Alpha | where X == 'b' }; f | project X").rows == [("b",)]
        assert engine.run("let g = (n: long = 2) { n * 10 }; print g").rows == [(20,)]
    finally:
        engine.close()


# --------------------------------------------------------------------------- arg("").Resources
ARG_QUERY = """\
arg("").Resources
| where type == "microsoft.compute/virtualmachines"
| project name, owner = tostring(tags.owner)
"""


def test_resource_graph_without_rows_needs_test_data():
    engine = _engine()
    try:
        with pytest.raises(EmulatorError) as caught:
            engine.run(ARG_QUERY)
    finally:
        engine.close()
    assert caught.value.code == "EMU007"
    assert "resource_graph:" in caught.value.message


def test_resource_graph_rows_answer_arg_tables(tmp_path):
    detection = _detection(
        tmp_path,
        "sentinel",
        ARG_QUERY,
        """\
        - name: tagged vm
          dialects: [DIALECT]
          resource_graph:
            resources:
              - {name: vm1, type: microsoft.compute/virtualmachines, tags: {owner: secops}}
              - {name: sa1, type: microsoft.storage/storageaccounts, tags: {}}
          expect:
            exact: true
            rows:
              - {name: vm1, owner: secops}
        """,
    )
    results = run_detection_tests(detection)
    assert [(r.status, r.message) for r in results] == [(PASSED, "")]


# --------------------------------------------------------------------------- columns made from rows
def test_a_column_only_bag_unpack_could_make_needs_rows_that_make_it():
    # bag_unpack plugin: "the plugin's output schema depends on the data values": with no row giving the
    # key, Kusto has no such column either; the test must give rows that make it.
    engine = _engine(dialect="defender")
    try:
        with pytest.raises(EmulatorError) as caught:
            engine.run("DeviceEvents | extend B = parse_json(AdditionalFields) | evaluate bag_unpack(B) "
                       "| where Signer == 'x'")  # fmt: skip
    finally:
        engine.close()
    assert caught.value.code == "EMU007"
    assert "'Signer'" in caught.value.message


def test_a_misspelt_column_without_bag_unpack_stays_unknown():
    engine = _engine(dialect="defender")
    try:
        with pytest.raises(EmulatorError) as caught:
            engine.run("DeviceEvents | where NoSuchColumn == 'x'")
    finally:
        engine.close()
    assert caught.value.code == "EMU003"
