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

The modules, each importing only those below it:

    engine           Emulator: runs a query (compiles it, fetches the rows), its limits
    compiler         statements, let functions and views, row sources, pipes -> SQL
    expressions      scalar expressions -> SQL (a part of compiler.Compiler)
    parse_operators, mv_expand, make_series, loose_operators, pass_through: operators of their own
    operators        where, extend, project, sort, summarize, join, union, search, ...
    plugins          evaluate's plugins
    aggregates       aggregate functions
    python_data      query rows in and out of Python, for the operators computed there
    functions/       scalar functions by family, and their registry
    interface        the Compiler protocol the operators and functions are written against
    session          the DuckDB connection, its macros and tables
    geo/             geospatial math (IP locations, cell grids, shapes on the sphere)
    series_math      the series_* math
    errors, sql, literals, ticks: what all share (EmulatorError, SQL types and quoting, ...)
    fixtures         test fixture files -> typed rows
"""

from .engine import Emulator, QueryLimits, QueryResult
from .errors import EmulatorError

__all__ = ["Emulator", "EmulatorError", "QueryLimits", "QueryResult"]
