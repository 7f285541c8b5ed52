"""What a tenant reports about its own tables and functions, read for `dac schemas pull`.

Sentinel (one Log Analytics workspace):
- tables: ARM `GET {arm}/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.OperationalInsights
  /workspaces/{ws}/tables?api-version=TABLES_API_VERSION` ("Tables - List By Workspace"): `value[]` of
  Table resources whose `properties.schema` holds `standardColumns` (the columns every row has, all of
  a Microsoft table's) and `columns` (the custom ones), each `{name, type}` with types `string`, `int`,
  `long`, `real`, `boolean`, `dateTime`, `guid`, `dynamic`. Search-job (`_SRCH`) and restored-logs
  (`_RST`) tables are temporary copies, not sources a rule reads: they are left out.
- functions: ARM savedSearches of the workspace with a `functionAlias` (workspace functions, solution
  parsers); their output columns come from `<alias> | getschema` run through the Log Analytics query
  API (`getschema` reads no data). A function whose parameters lack defaults cannot be called bare, and
  a scalar function has no schema: those are reported as not pulled, with the reason.

Defender XDR (Advanced Hunting): Microsoft Graph `GET {graph}/security/getHuntingSchema` (beta): the
tables the caller may query with their columns (`dataType` as .NET names: `String`, `DateTime`, `Int64`,
...) and the saved functions with their `outputColumns`, in one answer. Where Graph does not offer that
function (404/400/501, e.g. a national cloud), the tables dac ships and the project already has for
Defender are asked for their columns with one `getschema` hunting query (`runHuntingQuery`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from .deploy.http import ApiError, ApiSession
from .deploy.saved_searches import API_VERSION as SAVED_SEARCH_API_VERSION
from .kql.types import UNKNOWN, normalize_type
from .tenant import MissingExtra, TenantQueryClient, TenantQueryError

TABLES_API_VERSION = "2025-02-01"
HUNTING_SCHEMA_PATH = "security/getHuntingSchema"
SKIPPED_TABLE_TYPES = frozenset({"searchresults", "restoredlogs"})
GETSCHEMA_TIMESPAN = timedelta(days=1)  # getschema reads no rows; the services want a span all the same
FUNCTION_WORKERS = 4  # Log Analytics runs at most 5 queries of one caller at once
# getschema's DataType (.NET) when a service leaves ColumnType out
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DOTNET_TYPES = {"sbyte": "bool", "sqldecimal": "decimal", "int64": "long", "int32": "int", "double": "real"}


class SchemaSourceError(Exception):
    """The tenant did not answer the listing (the whole pull stops); the message names the service."""


@dataclass
class PulledSchema:
    """One table or function as the tenant reported it: columns as (name, KQL type) in its order."""

    name: str
    kind: str  # "table" | "function"
    columns: list[tuple[str, str]]
    source: str  # where it came from, for the generated marker and the summary


@dataclass
class NotPulled:
    """A table or function the tenant reported whose schema could not be taken, and why."""

    name: str
    kind: str
    reason: str


@dataclass
class Inventory:
    """Everything one target reported."""

    dialect: str
    schemas: list[PulledSchema] = field(default_factory=list)
    not_pulled: list[NotPulled] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # how the schema was read (fallbacks)


def kql_type(raw: Any) -> str:
    """A service's column type as a KQL type name; the raw text when it is none dac knows."""
    text = str(raw or "").strip()
    lowered = text.lower().removeprefix("system.").removeprefix("data.sqltypes.")
    lowered = _DOTNET_TYPES.get(lowered, lowered)
    known = normalize_type(lowered)
    return known if known != UNKNOWN else (text or UNKNOWN)


def _columns(
    items: Iterable[Any], name_key: str = "name", type_keys: tuple[str, ...] = ("type",)
) -> list[tuple[str, str]]:
    """(name, type) pairs from a list of column objects, first mention of a name kept."""
    seen: set[str] = set()
    result = []
    for item in items or []:
        if not isinstance(item, dict) or not isinstance(item.get(name_key), str) or not item[name_key]:
            continue
        if item[name_key] in seen:
            continue
        seen.add(item[name_key])
        raw = next((item[key] for key in type_keys if item.get(key)), None)
        result.append((item[name_key], kql_type(raw)))
    return result


# ------------------------------------------------------------------------------------------- Sentinel


def workspace_path(subscription: str, resource_group: str, workspace: str) -> str:
    return (
        f"/subscriptions/{quote(subscription, safe='')}/resourceGroups/{quote(resource_group, safe='')}"
        f"/providers/Microsoft.OperationalInsights/workspaces/{quote(workspace, safe='')}"
    )


def _arm_list(session: ApiSession, path: str, api_version: str, what: str) -> list[dict[str, Any]]:
    try:
        return [
            item for item in session.iter_pages(path, params={"api-version": api_version}) if isinstance(item, dict)
        ]
    except ApiError as exc:
        raise SchemaSourceError(f"listing the workspace's {what} failed: {exc}") from exc


def workspace_tables(session: ApiSession, workspace: str) -> tuple[list[PulledSchema], list[NotPulled]]:
    """The workspace's tables (ARM "Tables - List By Workspace"), standard columns first."""
    tables, skipped = [], []
    for resource in _arm_list(session, f"{workspace}/tables", TABLES_API_VERSION, "tables"):
        schema = (resource.get("properties") or {}).get("schema") or {}
        name = resource.get("name") or schema.get("name")
        if not isinstance(name, str) or not name:
            continue
        table_type = str(schema.get("tableType") or "")
        if table_type.lower() in SKIPPED_TABLE_TYPES:
            skipped.append(NotPulled(name, "table", f"a {table_type} table (temporary, not a data source)"))
            continue
        columns = _columns([*(schema.get("standardColumns") or []), *(schema.get("columns") or [])])
        if not columns:
            skipped.append(NotPulled(name, "table", "the service listed no columns"))
            continue
        source = f"workspace table ({table_type})" if table_type else "workspace table"
        tables.append(PulledSchema(name, "table", columns, source))
    return tables, skipped


@dataclass
class WorkspaceFunction:
    alias: str
    parameters: str  # the saved search's functionParameters text ("" when none)


def workspace_functions(session: ApiSession, workspace: str) -> list[WorkspaceFunction]:
    """The saved searches that define a function (a `functionAlias`), each alias once."""
    found: dict[str, WorkspaceFunction] = {}
    for resource in _arm_list(session, f"{workspace}/savedSearches", SAVED_SEARCH_API_VERSION, "saved searches"):
        properties = resource.get("properties") or {}
        alias = properties.get("functionAlias")
        if isinstance(alias, str) and alias.strip() and alias.strip() not in found:
            parameters = properties.get("functionParameters")
            found[alias.strip()] = WorkspaceFunction(alias.strip(), parameters if isinstance(parameters, str) else "")
    return [found[alias] for alias in sorted(found)]


def split_parameters(text: str) -> list[str]:
    """A function's parameter list split at its top-level commas (defaults hold commas in brackets and strings)."""
    parts, depth, quote_char, current = [], 0, "", []
    for char in text:
        if quote_char:
            quote_char = "" if char == quote_char else quote_char
        elif char in "'\"":
            quote_char = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    if "".join(current).strip():
        parts.append("".join(current).strip())
    return parts


def invocation(function: WorkspaceFunction) -> str | None:
    """How to call the function without arguments: `Alias` or `Alias()`; None when a parameter has no
    default (or is tabular) and so needs an argument."""
    parameters = split_parameters(function.parameters)
    if not parameters:
        return function.alias
    # a default is `name:type = value`; a tabular parameter `T:(*)` never has one
    if all("=" in parameter for parameter in parameters):
        return f"{function.alias}()"
    return None


def getschema_columns(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """getschema's rows (ColumnName, ColumnOrdinal, DataType, ColumnType) as (name, KQL type) in ordinal order."""
    ordered = sorted(rows, key=lambda row: row.get("ColumnOrdinal") if isinstance(row.get("ColumnOrdinal"), int) else 0)
    return _columns(ordered, "ColumnName", ("ColumnType", "DataType"))


def function_schemas(
    client: TenantQueryClient, functions: list[WorkspaceFunction], workers: int = FUNCTION_WORKERS
) -> tuple[list[PulledSchema], list[NotPulled]]:
    """Each function's output columns from `<call> | getschema`; a query the service refuses (a scalar
    function, a broken body: HTTP 400) skips that function, any other failure stops the pull."""

    def one(function: WorkspaceFunction) -> PulledSchema | NotPulled:
        if not _IDENTIFIER.match(function.alias):  # it goes into query text: a plain name only
            return NotPulled(function.alias, "function", "the alias is not a plain identifier")
        call = invocation(function)
        if call is None:
            return NotPulled(function.alias, "function", f"its parameters need arguments ({function.parameters})")
        try:
            result = client.query(f"{call} | getschema", GETSCHEMA_TIMESPAN)
        except TenantQueryError as exc:
            if exc.status == 400:
                return NotPulled(function.alias, "function", f"getschema failed (a scalar function?): {exc.message}")
            raise
        columns = getschema_columns(result.rows_as_dicts())
        if not columns:
            return NotPulled(function.alias, "function", "getschema returned no columns")
        return PulledSchema(function.alias, "function", columns, "workspace function (saved search)")

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        try:
            outcomes = list(pool.map(one, functions))
        except TenantQueryError as exc:
            raise SchemaSourceError(f"reading the workspace's functions failed: {exc}") from exc
    schemas = [o for o in outcomes if isinstance(o, PulledSchema)]
    return schemas, [o for o in outcomes if isinstance(o, NotPulled)]


def sentinel_inventory(
    session: ApiSession, workspace: str, query_client: Callable[[], TenantQueryClient] | None
) -> Inventory:
    """Tables and functions of one workspace; `query_client` makes the Log Analytics client (None, or
    MissingExtra when it is made: the functions are listed but not read, the tables are written all the same)."""
    inventory = Inventory("sentinel")
    tables, skipped = workspace_tables(session, workspace)
    inventory.schemas += tables
    inventory.not_pulled += skipped
    functions = workspace_functions(session, workspace)
    if not functions:
        return inventory
    try:
        client = query_client() if query_client is not None else None
    except MissingExtra as exc:
        inventory.notes.append(str(exc))
        client = None
    if client is None:
        inventory.not_pulled += [NotPulled(f.alias, "function", "no Log Analytics client") for f in functions]
        return inventory
    try:
        schemas, skipped = function_schemas(client, functions)
    finally:
        client.close()
    inventory.schemas += schemas
    inventory.not_pulled += skipped
    return inventory


# ------------------------------------------------------------------------------------------- Defender


def hunting_schema(session: ApiSession) -> dict[str, Any] | None:
    """Graph getHuntingSchema's answer; None when this Graph does not offer the function."""
    try:
        status, answer = session.json("GET", HUNTING_SCHEMA_PATH, allow=(400, 404, 501))
    except ApiError as exc:
        raise SchemaSourceError(f"reading the Advanced Hunting schema failed: {exc}") from exc
    if status in (400, 404, 501):
        return None
    if not isinstance(answer, dict):
        raise SchemaSourceError("reading the Advanced Hunting schema failed: the answer is not a JSON object")
    return answer


def defender_inventory_from(answer: dict[str, Any]) -> Inventory:
    """getHuntingSchema's tables and saved functions (built-in functions dac knows already)."""
    inventory = Inventory("defender")
    for table in answer.get("tables") or []:
        if isinstance(table, dict) and isinstance(table.get("name"), str) and table["name"]:
            columns = _columns(table.get("columns") or [], "name", ("dataType", "type"))
            if columns:
                inventory.schemas.append(PulledSchema(table["name"], "table", columns, "Advanced Hunting table"))
            else:
                inventory.not_pulled.append(NotPulled(table["name"], "table", "the service listed no columns"))
    functions = (answer.get("functions") or {}).get("savedFunctions") or []
    for function in functions if isinstance(functions, list) else []:
        if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
            continue
        columns = _columns(function.get("outputColumns") or [], "name", ("dataType", "type"))
        if columns:
            source = "Advanced Hunting saved function"
            inventory.schemas.append(PulledSchema(function["name"], "function", columns, source))
        else:
            inventory.not_pulled.append(NotPulled(function["name"], "function", "the service listed no output columns"))
    return inventory


def getschema_union(tables: list[str]) -> str:
    """One hunting query with the columns of every table: a getschema per table, named, in a fuzzy union
    (a table this tenant lacks drops out instead of failing the query)."""
    legs = [f'({name} | getschema | extend TableName = "{name}")' for name in tables if _IDENTIFIER.match(name)]
    return (
        "union isfuzzy=true "
        + ", ".join(legs)
        + "\n| project TableName, ColumnName, ColumnOrdinal, ColumnType, DataType"
    )


def defender_inventory_by_query(client: TenantQueryClient, tables: list[str]) -> Inventory:
    """The columns of `tables` through one `getschema` hunting query (when getHuntingSchema is missing)."""
    inventory = Inventory("defender", notes=[
        "Graph has no getHuntingSchema here: the columns of the tables dac and the project know were asked "
        "with a getschema hunting query (tables new to both are not found this way)"
    ])  # fmt: skip
    names = sorted(set(tables))
    if not names:
        return inventory
    try:
        result = client.query(getschema_union(names), GETSCHEMA_TIMESPAN)
    except TenantQueryError as exc:
        raise SchemaSourceError(f"the getschema hunting query failed: {exc}") from exc
    by_table: dict[str, list[dict[str, Any]]] = {}
    for row in result.rows_as_dicts():
        if isinstance(row.get("TableName"), str):
            by_table.setdefault(row["TableName"], []).append(row)
    for name in sorted(by_table):
        columns = getschema_columns(by_table[name])
        if columns:
            inventory.schemas.append(PulledSchema(name, "table", columns, "Advanced Hunting table (getschema)"))
    return inventory
