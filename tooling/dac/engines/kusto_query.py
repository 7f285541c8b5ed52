"""The text the Kusto engine sends for one test run: the test's data written into the query, nothing
ingested.

- every table the query reads becomes `let Table = datatable(<every column of its schema, typed>)[...]`
  in front of the query (the test's rows, or none), after any leading `set` statements;
- each `externaldata` the test maps to local files becomes the `datatable` of those files' rows, read
  and typed as the emulator reads them (emulator/external.py); an unmapped URL is refused, as there;
- a test's watchlists become a let function `_GetWatchlist(alias)` over their rows (what the emulator's
  _GetWatchlist returns); file profiles and Azure Resource Graph rows have no such stand-in: refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..emulator.external import external_source, read_external, typed_rows
from ..emulator.fixtures import FILE_PROFILE_TABLE, watchlist_table
from ..kql import parse
from ..kql.binder import Environment, bind
from ..kql.syntax import Node
from .base import NO_PLATFORM_DATA, EngineError
from .literals import datatable, name_literal, string_literal

WATCHLIST_PREFIX = watchlist_table("")
RESOURCE_GRAPH_PREFIX = "arg:"


def compose(
    query_text: str,
    environment: Environment,
    tables: Mapping[str, list[dict[str, Any]]],
    externaldata: Mapping[str, Path],
) -> str:
    """The query text with the test's data in it (see the module docstring)."""
    parsed = parse(query_text)
    lets = [_watchlists(environment, tables)] if any(n.startswith(WATCHLIST_PREFIX) for n in tables) else []
    for name in tables:
        if name == FILE_PROFILE_TABLE or name.startswith(RESOURCE_GRAPH_PREFIX):
            what = "file profiles (FileProfile())" if name == FILE_PROFILE_TABLE else "Azure Resource Graph rows"
            message = (f"the Kusto engine cannot supply a test's {what}: only Defender and Azure have that data; "
                       "run this test on the emulator (--engine emulator)")  # fmt: skip
            raise EngineError(NO_PLATFORM_DATA, message)
    read = bind(parsed, environment).tables
    for name in [*tables, *sorted(read - set(tables))]:
        schema = environment.tables.get(name)
        if schema is None or name.startswith(WATCHLIST_PREFIX):
            continue
        lets.append(f"let {name_literal(name)} = {datatable(schema, tables.get(name, []))};\n")
    text = _inline_externaldata(query_text, parsed.tree, externaldata)
    at = _after_set_statements(parsed.tree)
    return text[:at] + "".join(lets) + text[at:]


def _watchlists(environment: Environment, tables: Mapping[str, list[dict[str, Any]]]) -> str:
    branches = []
    for name, rows in tables.items():
        if name.startswith(WATCHLIST_PREFIX):
            alias = name[len(WATCHLIST_PREFIX) :]
            table = datatable(environment.tables[name], rows)
            branches.append(f"({table} | where watchlistAlias == {string_literal(alias)})")
    return f"let _GetWatchlist = (watchlistAlias: string) {{ union {', '.join(branches)} }};\n"


def _inline_externaldata(text: str, tree: Node, externaldata: Mapping[str, Path]) -> str:
    """Each externaldata operator replaced by the datatable of its mapped files."""
    edits: list[tuple[int, int, str]] = []
    for node in tree.walk():
        if node.kind != "ExternalData":
            continue
        source = external_source(node)
        rows: list[list[str]] = []
        for url, offset in source.urls:
            path = externaldata.get(url)
            if path is None:
                raise EngineError("EMU007", f"externaldata URL '{url}' is not mapped to a local file in this test "
                                  "(add it under the test's externaldata:); tests read no data from the network",
                                  offset)  # fmt: skip
            rows.extend(read_external(path, source.properties))
        tokens = list(node.tokens())
        start, end = tokens[0].start, tokens[-1].start + len(tokens[-1].text)
        edits.append((start, end, datatable(dict(source.columns), typed_rows(source.columns, rows))))
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def _after_set_statements(tree: Node) -> int:
    """The offset after the query's leading `set` statements (and their `;`), where the lets go."""
    at = 0
    children = list(tree.children)
    for index, child in enumerate(children):
        if not (isinstance(child, Node) and child.kind == "SetStatement"):
            break
        following = children[index + 1] if index + 1 < len(children) else None
        last = following if following is not None and not isinstance(following, Node) else list(child.tokens())[-1]
        at = last.start + len(last.text)
    return at
