"""The Log Analytics saved searches part of tests/fakeapi.py (`FakeApi` mixes `SavedSearchesMixin` in).

`PUT|GET|DELETE /subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.OperationalInsights/workspaces/{ws}
/savedSearches/{id}` and `GET .../savedSearches`, as the Log Analytics REST reference describes them
("Saved Searches - Create Or Update / Delete / Get / List By Workspace"). Microsoft Sentinel keeps its
hunting queries there, with category "Hunting Queries".

- api-version is required (400 MissingApiVersionParameter) and must be one of `SAVED_SEARCH_VERSIONS`
  (400 InvalidApiVersionParameter).
- PUT bodies are validated with schemas/api/sentinel-saved-search.schema.json (400 BadRequest).
- The list answers `{"value": [...]}` with every saved search of the workspace and no `nextLink` (the
  documented `SavedSearchesListResult`), unless `saved_search_page_size` is set: then pages with a
  `nextLink` (so a client that follows links is tested too).
- etag (body `etag` or `If-Match`): the documentation says "To override an existing saved search, use
  '*' or specify the current Etag". A PUT to an existing search without one: 409 Conflict; with a stale
  one: 412 PreconditionFailed. A PUT that creates a search with an etag other than "*": 412 (nothing to
  match). Create and update answer 200 with the resource (the page lists 200 only); every write gets a
  new etag.
- DELETE: 200 when the search existed, 204 when it did not (ARM's convention for a delete of nothing).
- GET of a missing search: 404 NotFound. Ids are case-insensitive (keys of `saved_searches()` lower-cased).
- Errors are ARM's `{"error": {"code", "message"}}`. Fault injection is FakeApi's, as for every route.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

SAVED_SEARCH_VERSIONS = frozenset({"2020-08-01", "2025-07-01"})
HUNTING_CATEGORY = "Hunting Queries"
SAVED_SEARCH_SCHEMA = Path(__file__).resolve().parents[1] / "schemas" / "api" / "sentinel-saved-search.schema.json"

SAVED_SEARCH_PATH = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
    r"/providers/Microsoft\.OperationalInsights/workspaces/(?P<ws>[^/]+)"
    r"/savedSearches(?:/(?P<id>[^/]+))?/?$",
    re.IGNORECASE,
)

Answer = tuple[int, Any, dict[str, str]]  # status, JSON body (None for none), headers

_validator_lock = threading.Lock()
_validator: list[Draft202012Validator] = []


def saved_search_problem(body: Any) -> str | None:
    """A one-line description of the most relevant schema error of a PUT body, or None when it is valid."""
    with _validator_lock:
        if not _validator:
            _validator.append(Draft202012Validator(json.loads(SAVED_SEARCH_SCHEMA.read_text(encoding="utf-8"))))
    error = best_match(_validator[0].iter_errors(body))
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path) or "(body)"
    return f"Invalid request body at '{where}': {error.message}"


def _error(status: int, code: str, message: str) -> Answer:
    return status, {"error": {"code": code, "message": message}}, {}


def _token(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode("utf-8")).decode("ascii").rstrip("=")


def _untoken(token: str) -> str:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("utf-8")


class SavedSearchesMixin:
    """Saved searches state, test helpers and the route; needs FakeApi's `lock`, `_clock`, `subscription`,
    `resource_group`, `workspace` and `url`."""

    saved_search_page_size: int | None = None  # None: one answer with everything, as documented
    lock: threading.RLock
    subscription: str
    resource_group: str
    workspace: str

    # -- state ----------------------------------------------------------------------------------

    def _saved_search_store(self) -> dict[tuple[str, str, str], dict[str, dict[str, Any]]]:
        with self.lock:
            store = self.__dict__.get("_saved_search_state")
            if store is None:
                store = self.__dict__["_saved_search_state"] = {}
            return store

    def _reset_saved_searches(self) -> None:
        with self.lock:
            self._saved_search_store().clear()

    def saved_searches(self, sub: str | None = None, rg: str | None = None, ws: str | None = None) -> dict[str, Any]:
        """The live dict (lower-cased saved search id -> resource) of one workspace; default workspace if omitted."""
        key = ((sub or self.subscription).lower(), (rg or self.resource_group).lower(), (ws or self.workspace).lower())
        with self.lock:
            return self._saved_search_store().setdefault(key, {})

    def hunting_queries(self, sub: str | None = None, rg: str | None = None, ws: str | None = None) -> dict[str, Any]:
        """The saved searches of category Hunting Queries only."""
        with self.lock:
            return {
                key: value
                for key, value in self.saved_searches(sub, rg, ws).items()
                if value["properties"].get("category") == HUNTING_CATEGORY
            }

    def _saved_search_resource(self, sub: str, rg: str, ws: str, search_id: str, properties: dict[str, Any]) -> dict:
        return {
            "id": f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.OperationalInsights/workspaces/{ws}"
            f"/savedSearches/{search_id}",
            "name": search_id,
            "type": "Microsoft.OperationalInsights/savedSearches",
            "etag": self._saved_search_etag(),
            "properties": properties,
        }

    def _saved_search_etag(self) -> str:
        stamp = self._clock.stamp()  # type: ignore[attr-defined]  # FakeApi's strictly increasing clock
        return f"W/\"datetime'{stamp}'\""

    def put_saved_search(
        self,
        search_id: str,
        properties: dict[str, Any],
        *,
        sub: str | None = None,
        rg: str | None = None,
        ws: str | None = None,
    ) -> dict[str, Any]:
        """Seed a saved search as if someone else made it (no validation); returns the stored resource."""
        sub, rg, ws = sub or self.subscription, rg or self.resource_group, ws or self.workspace
        with self.lock:
            resource = self._saved_search_resource(sub, rg, ws, search_id, copy.deepcopy(properties))
            self.saved_searches(sub, rg, ws)[search_id.lower()] = resource
            return copy.deepcopy(resource)

    def edit_saved_search(
        self, search_id: str, changes: dict[str, Any], *, sub: str | None = None, rg: str | None = None,
        ws: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Simulate an edit in the portal: the given properties replaced, a new etag; KeyError if missing."""
        with self.lock:
            resource = self.saved_searches(sub, rg, ws)[search_id.lower()]
            resource["properties"].update(copy.deepcopy(changes))
            resource["etag"] = self._saved_search_etag()
            return copy.deepcopy(resource)

    def delete_saved_search(
        self, search_id: str, *, sub: str | None = None, rg: str | None = None, ws: str | None = None
    ) -> bool:
        with self.lock:
            return self.saved_searches(sub, rg, ws).pop(search_id.lower(), None) is not None

    # -- route ----------------------------------------------------------------------------------

    def _saved_search_route(
        self, method: str, match: re.Match[str], path: str, query: dict[str, str], body: Any, headers: Any
    ) -> Answer:
        version = query.get("api-version")
        if version is None:
            return _error(400, "MissingApiVersionParameter",
                          "The api-version query parameter (?api-version=) is required for all requests.")  # fmt: skip
        if version not in SAVED_SEARCH_VERSIONS:
            supported = ", ".join(sorted(SAVED_SEARCH_VERSIONS))
            message = f"The api-version '{version}' is invalid. The supported versions are '{supported}'."
            return _error(400, "InvalidApiVersionParameter", message)
        sub, rg, ws = (unquote(match[name]) for name in ("sub", "rg", "ws"))
        search_id = None if match["id"] is None else unquote(match["id"])
        if search_id is None:
            if method != "GET":
                return _error(405, "MethodNotAllowed", f"The method {method} is not allowed on this collection.")
            return self._saved_search_list(sub, rg, ws, path, version, query)
        with self.lock:
            searches = self.saved_searches(sub, rg, ws)
            existing = searches.get(search_id.lower())
            if method == "GET":
                if existing is None:
                    return _error(404, "NotFound", f"Saved search '{search_id}' was not found.")
                return 200, copy.deepcopy(existing), {"ETag": existing["etag"]}
            if method == "DELETE":
                if existing is None:
                    return 204, None, {}
                del searches[search_id.lower()]
                return 200, None, {}
            if method != "PUT":
                return _error(405, "MethodNotAllowed", f"The method {method} is not allowed on this resource.")
            return self._saved_search_put(sub, rg, ws, search_id, existing, body, headers)

    def _saved_search_list(self, sub: str, rg: str, ws: str, path: str, version: str, query: dict[str, str]) -> Answer:
        with self.lock:
            items = self.saved_searches(sub, rg, ws)
            keys = sorted(items)
            size = self.saved_search_page_size
            if size is None:
                return 200, {"value": [copy.deepcopy(items[key]) for key in keys]}, {}
            if "$skipToken" in query:
                try:
                    after = _untoken(query["$skipToken"])
                except ValueError:
                    return _error(400, "InvalidSkipToken", "The $skipToken is not valid.")
                keys = [key for key in keys if key > after]
            chosen = keys[:size]
            answer: dict[str, Any] = {"value": [copy.deepcopy(items[key]) for key in chosen]}
            if len(keys) > size:
                base = f"{self.url}{path}"  # type: ignore[attr-defined]
                answer["nextLink"] = f"{base}?api-version={version}&$skipToken={_token(chosen[-1])}"
            return 200, answer, {}

    def _saved_search_put(
        self, sub: str, rg: str, ws: str, search_id: str, existing: dict[str, Any] | None, body: Any, headers: Any
    ) -> Answer:
        problem = saved_search_problem(body)
        if problem:
            return _error(400, "BadRequest", problem)
        sent = [value for value in (body.get("etag"), headers.get("If-Match")) if value is not None]
        if existing is None:
            if any(value != "*" for value in sent):
                message = f"Saved search '{search_id}' does not exist; an etag was given."
                return _error(412, "PreconditionFailed", message)
        else:
            if not sent:
                return _error(409, "Conflict", f"Saved search '{search_id}' already exists; to override it, "
                              "use '*' or specify the current etag.")  # fmt: skip
            if any(value not in ("*", existing["etag"]) for value in sent):
                return _error(412, "PreconditionFailed",
                              "The etag does not match the current one; the saved search was modified.")  # fmt: skip
        resource = self._saved_search_resource(sub, rg, ws, search_id, copy.deepcopy(body["properties"]))
        if existing is not None:
            resource["id"], resource["name"] = existing["id"], existing["name"]  # the original casing stays
        self.saved_searches(sub, rg, ws)[search_id.lower()] = resource
        return 200, copy.deepcopy(resource), {"ETag": resource["etag"]}
