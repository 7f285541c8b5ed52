"""The local KQL engine: KQL compiled to SQL and run on embedded DuckDB.

Interface (kept small so that a real Kusto engine can stand behind it later):

    engine = Emulator(environment, now=datetime(...), externaldata={url: Path},
                      limits=QueryLimits(timeout=60.0, memory_limit=2 * 1024**3))
    engine.load_table("DeviceNetworkEvents", rows)   # rows: list of {column: typed value}
    result = engine.run(query_text)                   # -> QueryResult(columns, rows)

Rows hold Python values per KQL type: str (never None), int, float, bool, datetime (naive UTC),
timedelta, dynamic as the JSON-decoded value, uuid as str. Anything the emulator cannot run
exactly raises EmulatorError naming the construct and its offset in the query text. A run that
exceeds its limits (time, memory, result rows) raises EmulatorError EMU008, EMU009 or EMU010 with a
message naming the limit; the engine stays usable.
"""

from .engine import Emulator, EmulatorError, QueryLimits, QueryResult

__all__ = ["Emulator", "EmulatorError", "QueryLimits", "QueryResult"]
