"""The Log Analytics workspace tables part of tests/fakeapi.py (`FakeApi` mixes `TablesMixin` in).

`GET /subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.OperationalInsights/workspaces/{ws}/tables`
and `GET .../tables/{name}`, as the Log Analytics REST reference describes them ("Tables - List By
Workspace", "Tables - Get"): Table resources `{id, name, type, properties: {retentionInDays, plan,
provisioningState, schema: {name, tableType, tableSubType, columns, standardColumns, solutions, source}}}`,
columns `{name, type, isDefaultDisplay, isHidden}` with types `string`, `int`, `long`, `real`, `boolean`,
`dateTime`, `guid`, `dynamic`.

- api-version is required (400 MissingApiVersionParameter) and must be one of `TABLE_VERSIONS` (400
  InvalidApiVersionParameter).
- The list answers `{"value": [...]}` with every table (sorted by name), unless `table_page_size` is
  set: then pages with a `nextLink` (so paging is exercised).
- GET of a missing table: 404 ResourceNotFound. Other methods: 405. Table names are case-insensitive.
- Seeding: `put_workspace_table(name, columns, standard_columns=..., table_type=...)`; the raw resource
  can also be replaced through `workspace_tables()` (a hostile answer, say).
"""

from __future__ import annotations

import base64
import copy
import re
import threading
from typing import Any
from urllib.parse import unquote

TABLE_VERSIONS = frozenset({"2022-10-01", "2023-09-01", "2025-02-01", "2025-07-01"})
STANDARD_COLUMNS = [("TenantId", "guid"), ("TimeGenerated", "dateTime"), ("Type", "string")]

TABLE_PATH = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
    r"/providers/Microsoft\.OperationalInsights/workspaces/(?P<ws>[^/]+)"
    r"/tables(?:/(?P<name>[^/]+))?/?$",
    re.IGNORECASE,
)

Answer = tuple[int, Any, dict[str, str]]


def _error(status: int, code: str, message: str) -> Answer:
    return status, {"error": {"code": code, "message": message}}, {}


def _column(name: str, type_: str) -> dict[str, Any]:
    return {"name": name, "type": type_, "isDefaultDisplay": False, "isHidden": False}


class TablesMixin:
    """Workspace tables state, seeding helpers and the route; needs FakeApi's `lock`, `subscription`,
    `resource_group`, `workspace` and `url`."""

    table_page_size: int | None = None  # None: one answer with every table
    lock: threading.RLock
    subscription: str
    resource_group: str
    workspace: str

    def _table_store(self) -> dict[tuple[str, str, str], dict[str, dict[str, Any]]]:
        with self.lock:
            store = self.__dict__.get("_table_state")
            if store is None:
                store = self.__dict__["_table_state"] = {}
            return store

    def _reset_tables(self) -> None:
        with self.lock:
            self._table_store().clear()

    def workspace_tables(self, sub: str | None = None, rg: str | None = None, ws: str | None = None) -> dict:
        """The live dict (lower-cased table name -> resource) of one workspace; default workspace if omitted."""
        key = ((sub or self.subscription).lower(), (rg or self.resource_group).lower(), (ws or self.workspace).lower())
        with self.lock:
            return self._table_store().setdefault(key, {})

    def put_workspace_table(
        self,
        name: str,
        columns: list[tuple[str, str]],
        *,
        standard_columns: list[tuple[str, str]] | None = None,
        table_type: str = "CustomLog",
        sub: str | None = None,
        rg: str | None = None,
        ws: str | None = None,
    ) -> dict[str, Any]:
        """Seed a table. A Microsoft table lists every column as standard; a custom log adds its own
        `columns` to the standard ones (TenantId, TimeGenerated, Type unless given)."""
        sub, rg, ws = sub or self.subscription, rg or self.resource_group, ws or self.workspace
        standard = STANDARD_COLUMNS if standard_columns is None else standard_columns
        resource = {
            "id": f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.OperationalInsights/workspaces/{ws}"
            f"/tables/{name}",
            "name": name,
            "type": "Microsoft.OperationalInsights/workspaces/tables",
            "properties": {
                "retentionInDays": 30,
                "totalRetentionInDays": 30,
                "archiveRetentionInDays": 0,
                "plan": "Analytics",
                "provisioningState": "Succeeded",
                "retentionInDaysAsDefault": True,
                "totalRetentionInDaysAsDefault": True,
                "schema": {
                    "name": name,
                    "tableType": table_type,
                    "tableSubType": "DataCollectionRuleBased" if table_type == "CustomLog" else "Any",
                    "columns": [_column(n, t) for n, t in columns],
                    "standardColumns": [_column(n, t) for n, t in standard],
                    "solutions": [],
                    "categories": [],
                    "labels": [],
                    "source": "customer" if table_type == "CustomLog" else "microsoft",
                },
            },
        }
        with self.lock:
            self.workspace_tables(sub, rg, ws)[name.lower()] = resource
            return copy.deepcopy(resource)

    def _table_route(self, method: str, match: re.Match[str], path: str, query: dict[str, str]) -> Answer:
        version = query.get("api-version")
        if version is None:
            return _error(400, "MissingApiVersionParameter",
                          "The api-version query parameter (?api-version=) is required for all requests.")  # fmt: skip
        if version not in TABLE_VERSIONS:
            supported = ", ".join(sorted(TABLE_VERSIONS))
            message = f"The api-version '{version}' is invalid. The supported versions are '{supported}'."
            return _error(400, "InvalidApiVersionParameter", message)
        if method != "GET":
            return _error(405, "MethodNotAllowed", f"The method {method} is not allowed here.")
        sub, rg, ws = (unquote(match[name]) for name in ("sub", "rg", "ws"))
        with self.lock:
            tables = self.workspace_tables(sub, rg, ws)
            if match["name"] is not None:
                table = tables.get(unquote(match["name"]).lower())
                if table is None:
                    return _error(404, "ResourceNotFound", f"Table '{unquote(match['name'])}' was not found.")
                return 200, copy.deepcopy(table), {}
            keys = sorted(tables)
            size = self.table_page_size
            if size is None:
                return 200, {"value": [copy.deepcopy(tables[key]) for key in keys]}, {}
            if "$skipToken" in query:
                after = base64.urlsafe_b64decode(query["$skipToken"] + "=" * (-len(query["$skipToken"]) % 4)).decode()
                keys = [key for key in keys if key > after]
            chosen = keys[:size]
            answer: dict[str, Any] = {"value": [copy.deepcopy(tables[key]) for key in chosen]}
            if len(keys) > size:
                token = base64.urlsafe_b64encode(chosen[-1].encode()).decode().rstrip("=")
                answer["nextLink"] = f"{self.url}{path}?api-version={version}&$skipToken={token}"  # type: ignore[attr-defined]
            return 200, answer, {}
