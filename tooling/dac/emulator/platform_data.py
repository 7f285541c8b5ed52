"""Data only the platform has, which a test supplies: Sentinel watchlists (`_GetWatchlist('alias')`), Azure
Resource Graph's tables in Log Analytics (`arg("").Resources`) and Defender's file profiles (`invoke
FileProfile()`).

The test runner loads a test's `watchlists:`, `resource_graph:` and `file_profiles:` into tables whose
names a query cannot write (`watchlist_table`, `resource_graph_table`, FILE_PROFILE_TABLE); without them
the query is refused with EMU007, as an `externaldata` URL with no local file is: the emulator never
reaches a workspace.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..kql.binder_operators import unique_name
from ..kql.names import name_text
from ..kql.syntax import Node
from .errors import EmulatorError, offset_of
from .fixtures import FILE_PROFILE_TABLE, resource_graph_table, watchlist_table
from .functions.columns import constant_string
from .sql import quote_name

if TYPE_CHECKING:
    from .interface import Compiler

NEEDS_DATA = "EMU007"  # the test must supply this data (docs/testing.md)

# FileProfile(x, y): x is one of these file ID columns (SHA1 when left out), y the most records enriched
# (100 when left out, at most 1,000): Microsoft Defender XDR advanced hunting, "FileProfile()".
_FILE_ID_COLUMNS = {"SHA1": "SHA1", "SHA256": "SHA256", "InitiatingProcessSHA1": "SHA1",
                    "InitiatingProcessSHA256": "SHA256"}  # fmt: skip
_DEFAULT_RECORDS, _MAX_RECORDS = 100, 1000


def get_watchlist(compiler: Compiler, call: Node) -> str:
    """_GetWatchlist('alias'): the test's watchlist of that alias."""
    arguments = call["arguments"]["items"] or []
    if len(arguments) != 1:
        raise EmulatorError("EMU006", "wrong number of arguments for '_GetWatchlist'", offset_of(call))
    alias = constant_string(compiler, arguments[0])
    if alias is None:
        raise compiler.unsupported("_GetWatchlist() whose alias is not a constant string", arguments[0])
    missing = f"_GetWatchlist('{alias}'): this test has no watchlist '{alias}' (add it under the test's watchlists:)"
    return _test_table(compiler, watchlist_table(alias), f"{missing}; the emulator never reads a workspace", call)


def resource_graph(compiler: Compiler, node: Node) -> str:
    """arg("").Table (Log Analytics' cross-service query of Azure Resource Graph): the test's rows of that
    table."""
    call = node["target"]
    arguments = call["arguments"]["items"] or []
    if len(arguments) != 1 or constant_string(compiler, arguments[0]) != "":
        raise compiler.unsupported('arg() with an argument other than ""', call)
    name = name_text(node["member"])
    missing = f"arg(\"\").{name}: this test has no rows of the Azure Resource Graph table '{name}'"
    hint = "(add them under the test's resource_graph:); the emulator never reads Azure"
    return _test_table(compiler, resource_graph_table(name), f"{missing} {hint}", node)


def _test_table(compiler: Compiler, table: str, missing: str, node: Node) -> str:
    """The table of data a test supplied, or EMU007 with `missing` when the test gave none."""
    if table not in compiler.engine.loaded:
        raise EmulatorError(NEEDS_DATA, missing, offset_of(node))
    return f"SELECT * FROM {quote_name(table)}"


def file_profile(compiler: Compiler, call: Node, sql: str) -> str:
    """T | invoke FileProfile(x, y): T's rows, each with the columns of the test's file profile whose
    SHA1 (or SHA256) is the row's file ID column x; rows with no profile get nulls. A name T already
    has comes back with a numeric suffix, as the binder names it."""
    arguments = call["arguments"]["items"] or []
    if len(arguments) > 2:
        raise EmulatorError("EMU006", "wrong number of arguments for 'FileProfile'", offset_of(call))
    if FILE_PROFILE_TABLE not in compiler.engine.loaded:
        raise EmulatorError(
            NEEDS_DATA,
            "FileProfile(): this test has no file profiles (add them under the test's file_profiles:); "
            "the emulator never reads Defender's file data",
            offset_of(call),
        )
    id_column = "SHA1"
    if arguments and not (arguments[0].kind == "Name" and name_text(arguments[0]) == "_"):  # `_`: the default
        if arguments[0].kind != "Name" or name_text(arguments[0]) not in _FILE_ID_COLUMNS:
            raise compiler.unsupported("FileProfile() whose file ID is not SHA1, SHA256 or "
                                       "InitiatingProcessSHA1/SHA256", arguments[0])  # fmt: skip
        id_column = name_text(arguments[0])
    records = _DEFAULT_RECORDS
    if len(arguments) == 2:
        value = compiler.json_value(arguments[1])
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= _MAX_RECORDS:
            raise EmulatorError("EMU006", f"FileProfile(): the number of records is from 1 to {_MAX_RECORDS}",
                                offset_of(arguments[1]))  # fmt: skip
        records = value
    columns = compiler.columns(sql)
    names = [name for name, _ in columns]
    if id_column not in names:
        raise EmulatorError("EMU003", f"FileProfile(): the input has no column '{id_column}'", offset_of(call))
    profile = compiler.columns(f"SELECT * FROM {quote_name(FILE_PROFILE_TABLE)}")
    added = []
    taken = set(names)
    for name, _ in profile:
        out = unique_name(name, taken) if name in taken else name
        taken.add(out)
        added.append(f"p.{quote_name(name)} AS {quote_name(out)}")
    number = compiler.alias()
    key = _FILE_ID_COLUMNS[id_column]
    # Which rows Defender enriches when there are more than `records` is not documented: refused then.
    too_many = f"the emulator does not support FileProfile() on more than {records} rows (its limit of records)"
    kept = ", ".join(f"s.{quote_name(n)}" for n in names)
    return (
        f"SELECT {kept}, {', '.join(added)} FROM "
        f"(SELECT *, row_number() OVER () AS {number}, "
        f"CASE WHEN count(*) OVER () > {records} THEN error('{too_many}') END AS {number}_check FROM ({sql})) s "
        f"LEFT JOIN {quote_name(FILE_PROFILE_TABLE)} p "
        f"ON s.{quote_name(id_column)} = p.{quote_name(key)} AND s.{number}_check IS NULL ORDER BY s.{number}"
    )
