"""One emulator reused across test runs (testing._EmulatorPool): each run sees its own tables only.

reset keeps the last run's tables to empty and refill when the next run loads a table of the same name
and columns; a query never sees a table, or a row, of the run before.
"""

from __future__ import annotations

import datetime as dt

from dac.emulator import Emulator
from dac.model.tables import environment

NOW = dt.datetime(2024, 6, 1, 12)
ROW = {"Timestamp": dt.datetime(2024, 6, 1, 11), "DeviceName": "pc-1", "ActionType": "x"}


def rows(engine: Emulator, query: str) -> list[list]:
    return [list(row) for row in engine.run(query).rows]


def fresh_run(engine: Emulator) -> None:
    assert engine.reuse(environment("defender"), now=NOW)


def test_a_reloaded_table_holds_only_the_new_rows_and_defaults_fill_the_rest():
    engine = Emulator(environment("defender"), now=NOW)
    try:
        engine.load_table("DeviceProcessEvents", [ROW, ROW])
        assert len(rows(engine, "DeviceProcessEvents")) == 2
        fresh_run(engine)
        engine.load_table("DeviceProcessEvents", [{**ROW, "DeviceName": "pc-2"}])
        # one row: the new one; a string the fixture left out is "" and a long is null (never stale values)
        assert rows(engine, "DeviceProcessEvents | project DeviceName, FileName, ProcessId") == [["pc-2", "", None]]
    finally:
        engine.close()


def test_a_table_the_next_run_does_not_load_is_gone_and_reads_as_empty():
    engine = Emulator(environment("defender"), now=NOW)
    try:
        engine.load_table("DeviceProcessEvents", [ROW])
        engine.load_table("DeviceNetworkEvents", [ROW])
        assert rows(engine, "union DeviceProcessEvents, DeviceNetworkEvents | count") == [[2]]
        fresh_run(engine)
        engine.load_table("DeviceNetworkEvents", [ROW])
        assert rows(engine, "DeviceProcessEvents | count") == [[0]]
        assert rows(engine, "union DeviceProcessEvents, DeviceNetworkEvents | count") == [[1]]
        assert rows(engine, "union * | count") == [[1]]
    finally:
        engine.close()


def test_rows_of_defaults_only_still_count():
    engine = Emulator(environment("defender"), now=NOW)
    try:
        engine.load_table("DeviceProcessEvents", [{}, {}, {}])
        assert rows(engine, "DeviceProcessEvents | summarize count() by DeviceName") == [["", 3]]
    finally:
        engine.close()


def test_an_idle_table_stays_empty_two_runs_later_and_across_dialects():
    engine = Emulator(environment("defender"), now=NOW)
    try:
        engine.load_table("DeviceProcessEvents", [ROW, ROW])
        assert rows(engine, "DeviceProcessEvents | count") == [[2]]
        fresh_run(engine)  # run 2 loads nothing: the table is emptied and kept idle
        assert rows(engine, "print 1") == [[1]]
        fresh_run(engine)  # run 3 reads it without loading it: empty, never the rows of run 1
        assert rows(engine, "DeviceProcessEvents | count") == [[0]]
        assert rows(engine, "union * | count") == [[0]]
        # the same name with Sentinel's columns: the idle table of Defender's columns is not taken as it is
        assert engine.reuse(environment("sentinel"), now=NOW)
        engine.load_table("DeviceProcessEvents", [{**ROW, "TimeGenerated": ROW["Timestamp"]}])
        assert rows(engine, "DeviceProcessEvents | project DeviceName, TenantId") == [["pc-1", ""]]
    finally:
        engine.close()
