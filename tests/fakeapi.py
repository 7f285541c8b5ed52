"""A local, stateful fake of the two rule APIs dac deploys to, for tests that go through `requests`.

- Microsoft Graph (beta) `/beta/security/rules/detectionRules` (Defender XDR custom detection rules).
- Azure Resource Manager `Microsoft.SecurityInsights/alertRules` under a Log Analytics workspace.
- Log Analytics `savedSearches` of a workspace (Sentinel hunting queries): tests/fakeapi_saved_searches.py.
- Log Analytics workspace `tables` (read only, `dac schemas pull`): tests/fakeapi_tables.py.

`FakeApi` is a real HTTP/1.1 server (standard library `ThreadingHTTPServer`, keep-alive, one thread per
connection) on 127.0.0.1 with an ephemeral port. Bodies are validated with the JSON Schemas in
schemas/api/, so a body dac builds wrongly fails here the way it would fail against the service.

    with FakeApi(page_size=5) as api:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {api.graph_token}"
        session.post(f"{api.graph_base}/security/rules/detectionRules", json=body)
        api.fail_next(1, "429", method="GET")          # next GET answers 429 with Retry-After
        api.set_faults(rate=0.2, kinds=["500", "drop"], seed=7)
        assert api.count("GET", r"/detectionRules$") == 1

Choices where the real services are ambiguous (so tests can rely on them):
- ARM PUT to an existing rule without the current etag (body `etag` or `If-Match`), or with a stale one: 412
  PreconditionFailed (the service answers 412 or 409 depending on the path taken). A PUT that *creates*
  a rule but carries an etag / `If-Match`: 412 too (RFC 9110: If-Match on a missing resource fails).
  `require_etag=False` turns the "must carry an etag" part off (a stale etag is still 412).
- Duplicate displayName: Graph 409 always; ARM 409 while `unique_sentinel_names` is True (default; the
  portal enforces unique names, the API may not).
- Changing `kind` of an existing ARM rule: 400 BadRequest. NRT with api-version 2025-12-01: 400
  BadRequest. Missing api-version: 400 MissingApiVersionParameter; unknown: 400 InvalidApiVersionParameter.
- ARM DELETE: 200 when the rule existed, 204 when it did not. Graph DELETE: 204, or 404.
- Single-entity Graph answers (GET/POST/PATCH) carry `@odata.context`, as Graph does; it is not stored.
- ARM rule names are case-insensitive (dict keys in `sentinel_rules()` are lower-cased); Graph ids are exact.

Fault kinds (`FAULT_KINDS`): "429" (Retry-After: `retry_after` seconds), "500", "503", "drop" (read the
request, close the connection, do nothing), "slow" (carry out the request, then wait `slow_seconds`
before answering: the client times out although a write took place), "write_then_fail" (carry out a
POST/PUT/PATCH/DELETE, then answer 409 for a POST, 500 otherwise; ignored for reads), and
"drop_after_write" (carry out a write, then close the connection without an answer; ignored for reads).
Precedence per request: `fail_all`/`fail_after` switch, then `fail_next` rules in order, then the seeded
random rate. Faults are drawn after authentication, so a 401 is never masked.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import datetime as dt
import hmac
import json
import random
import re
import socket
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from fake_http import KeepAliveHandler
from fakeapi_saved_searches import SAVED_SEARCH_PATH, SavedSearchesMixin
from fakeapi_tables import TABLE_PATH, TablesMixin

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas" / "api"

GRAPH_RULES = "/beta/security/rules/detectionRules"
ARM_STABLE = "2025-12-01"
ARM_PREVIEW = "2025-07-01-preview"
ARM_KINDS_BY_VERSION: dict[str, frozenset[str]] = {
    ARM_STABLE: frozenset({"Scheduled"}),
    ARM_PREVIEW: frozenset({"Scheduled", "NRT"}),
}
FAULT_KINDS = frozenset({"429", "500", "503", "drop", "slow", "write_then_fail", "drop_after_write"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
GRAPH_READ_ONLY = ("createdBy", "createdDateTime", "lastModifiedBy", "lastModifiedDateTime", "lastRunDetails")

_ARM_PATH = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
    r"/providers/Microsoft\.OperationalInsights/workspaces/(?P<ws>[^/]+)"
    r"/providers/Microsoft\.SecurityInsights/alertRules(?:/(?P<id>[^/]+))?/?$",
    re.IGNORECASE,
)

_validators: dict[tuple[str, bool], Draft202012Validator] = {}
_validators_lock = threading.Lock()


def _validator(name: str, partial: bool = False) -> Draft202012Validator:
    """The schema's validator; `partial` drops the top-level `required` (a PATCH body names only changes)."""
    with _validators_lock:
        if (name, partial) not in _validators:
            schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))
            if partial:
                schema.pop("required", None)
            _validators[name, partial] = Draft202012Validator(schema)
        return _validators[name, partial]


def _schema_problem(name: str, body: Any, partial: bool = False) -> str | None:
    """A one-line description of the most relevant schema error, or None when the body is valid."""
    error = best_match(_validator(name, partial).iter_errors(body))
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path) or "(body)"
    return f"Invalid request body at '{where}': {error.message}"


def _merge_patch(target: dict[str, Any], changes: dict[str, Any]) -> None:
    """Graph PATCH (update detectionRule: "properties not included in the request body maintain their
    previous values"): nested objects are merged key by key, an explicit null clears a value (it reads
    back as null), arrays and other values replace the stored one whole. Portal edits merge the same way."""
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge_patch(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


def _encode_token(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode("utf-8")).decode("ascii").rstrip("=")


def _decode_token(token: str) -> str:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("utf-8")


def _page(items: dict[str, dict[str, Any]], token: str | None, size: int) -> tuple[list[dict[str, Any]], str | None]:
    """Keyset paging in key order: the token is the last key served, so deletions never skip a rule."""
    keys = sorted(items)
    if token is not None:
        after = _decode_token(token)
        keys = [key for key in keys if key > after]
    chosen = keys[:size]
    more = len(keys) > size
    return [copy.deepcopy(items[key]) for key in chosen], (_encode_token(chosen[-1]) if more else None)


@dataclass
class Call:
    """One request as the server saw it. Headers (and so the token) are never recorded."""

    method: str
    path: str
    query: dict[str, str]
    status: int | None  # None when the connection was dropped without an answer
    fault: str | None = None
    body: Any = None


@dataclass
class FailRule:
    """`fail_next` entry: the next `remaining` matching requests get `kind`."""

    kind: str
    remaining: int
    method: str | None = None
    path: str | None = None  # regular expression searched in the request path
    predicate: Callable[[str, str], bool] | None = None
    retry_after: int | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.remaining <= 0:
            return False
        if self.kind in ("write_then_fail", "drop_after_write") and method not in WRITE_METHODS:
            return False  # only writes can fail after writing; a read must not use up the rule
        if self.method is not None and self.method.upper() != method:
            return False
        if self.path is not None and not re.search(self.path, path):
            return False
        return self.predicate is None or self.predicate(method, path)


@dataclass
class _Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class _Clock:
    """Strictly increasing UTC timestamps: two writes in the same microsecond still differ."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = dt.datetime.min.replace(tzinfo=dt.UTC)

    def now(self) -> dt.datetime:
        with self._lock:
            value = max(dt.datetime.now(dt.UTC), self._last + dt.timedelta(microseconds=1))
            self._last = value
            return value

    def stamp(self) -> str:
        return self.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _iso_minutes(duration: str | None) -> int | None:
    match = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?", duration or "")
    if not match:
        return None
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return days * 1440 + hours * 60 + minutes + seconds // 60


class FakeApi(SavedSearchesMixin, TablesMixin):
    """Graph detectionRules + ARM alertRules on one local server; see the module docstring."""

    def __init__(
        self,
        *,
        graph_token: str = "graph-token",
        arm_token: str = "arm-token",
        page_size: int = 20,
        subscription: str = "00000000-0000-0000-0000-000000000001",
        resource_group: str = "rg-sentinel",
        workspace: str = "ws-sentinel",
        unique_sentinel_names: bool = True,
        require_etag: bool = True,
        slow_seconds: float = 2.0,
        retry_after: int = 0,
        actor: str = "dac-deployer@contoso.test",
    ) -> None:
        self.graph_token = graph_token
        self.arm_token = arm_token
        self.page_size = page_size
        self.subscription = subscription
        self.resource_group = resource_group
        self.workspace = workspace
        self.unique_sentinel_names = unique_sentinel_names
        self.require_etag = require_etag
        self.actor = actor
        self.lock = threading.RLock()  # guards rule state and the call log; hold it to touch dicts directly
        self.defender_rules: dict[str, dict[str, Any]] = {}
        self._sentinel: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {}
        self.calls: list[Call] = []
        self.errors: list[str] = []  # exceptions raised inside the fake itself (a bug here, not in dac)
        self.connections_opened = 0
        self._clock = _Clock()
        # Fault state has its own lock: tests reconfigure it while requests are in flight.
        self._fault_lock = threading.Lock()
        self._rate = 0.0
        self._kinds: list[str] = []
        self._rng = random.Random(0)
        self._rules: list[FailRule] = []
        self._fail_after: tuple[int, str] | None = None  # (requests still allowed, kind)
        self.retry_after = retry_after
        self.slow_seconds = slow_seconds
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> FakeApi:
        if self._server is not None:
            return self
        handler = type("BoundHandler", (_Handler,), {"api": self, "state": self})
        server = _Server(("127.0.0.1", 0), handler)
        server.api = self
        self._server = server
        self._stopping.clear()
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # wakes "slow" handlers
        server.shutdown()
        # Idle keep-alive connections would otherwise keep their handler threads blocked in a read.
        with self.lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeApi is not running")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def graph_base(self) -> str:
        return self.url + "/beta"

    @property
    def arm_base(self) -> str:
        return self.url

    def workspace_path(self, sub: str | None = None, rg: str | None = None, ws: str | None = None) -> str:
        """The ARM path of the workspace's alertRules collection (default workspace unless given)."""
        return (
            f"/subscriptions/{sub or self.subscription}/resourceGroups/{rg or self.resource_group}"
            f"/providers/Microsoft.OperationalInsights/workspaces/{ws or self.workspace}"
            "/providers/Microsoft.SecurityInsights/alertRules"
        )

    def reset(self) -> None:
        """Forget every rule, logged call and fault."""
        with self.lock:
            self.defender_rules.clear()
            self._sentinel.clear()
            self._reset_saved_searches()
            self._reset_tables()
            self.calls.clear()
            self.errors.clear()
        self.clear_faults()

    # -- direct state access --------------------------------------------------------------------

    def sentinel_rules(self, sub: str | None = None, rg: str | None = None, ws: str | None = None) -> dict[str, Any]:
        """The live dict (lower-cased rule name -> ARM resource) of one workspace; default workspace if omitted."""
        key = ((sub or self.subscription).lower(), (rg or self.resource_group).lower(), (ws or self.workspace).lower())
        with self.lock:
            return self._sentinel.setdefault(key, {})

    def put_defender_rule(self, body: dict[str, Any], *, created_by: str = "someone@contoso.test") -> dict[str, Any]:
        """Seed a rule as if someone else created it (no validation, no name check); returns the stored rule."""
        with self.lock:
            rule = self._new_defender_rule(copy.deepcopy(body), created_by)
            self.defender_rules[rule["id"]] = rule
            return copy.deepcopy(rule)

    def edit_defender_rule(
        self, rule_id: str, changes: dict[str, Any], *, by: str = "portal-user@contoso.test"
    ) -> dict[str, Any]:
        """Simulate a portal edit: nested merge of `changes`, new lastModified*; KeyError if missing."""
        with self.lock:
            rule = self.defender_rules[rule_id]
            _merge_patch(rule, changes)
            rule["lastModifiedBy"] = by
            rule["lastModifiedDateTime"] = self._clock.stamp()
            return copy.deepcopy(rule)

    def delete_defender_rule(self, rule_id: str) -> bool:
        with self.lock:
            return self.defender_rules.pop(rule_id, None) is not None

    def put_sentinel_rule(
        self, sub: str | None, rg: str | None, ws: str | None, rule_id: str, kind: str, properties: dict[str, Any]
    ) -> dict[str, Any]:
        """Seed an alert rule (no validation, no name check); None for sub/rg/ws means the default workspace."""
        sub, rg, ws = sub or self.subscription, rg or self.resource_group, ws or self.workspace
        with self.lock:
            resource = self._sentinel_resource(sub, rg, ws, rule_id, kind, copy.deepcopy(properties))
            self.sentinel_rules(sub, rg, ws)[rule_id.lower()] = resource
            return copy.deepcopy(resource)

    def edit_sentinel_rule(
        self, sub: str | None, rg: str | None, ws: str | None, rule_id: str, changes: dict[str, Any]
    ) -> dict[str, Any]:
        """Simulate a portal edit: nested merge of `changes` into properties, new etag and lastModifiedUtc."""
        with self.lock:
            resource = self.sentinel_rules(sub, rg, ws)[rule_id.lower()]
            _merge_patch(resource["properties"], changes)
            resource["etag"] = _new_etag()
            resource["properties"]["lastModifiedUtc"] = self._clock.stamp()
            return copy.deepcopy(resource)

    def delete_sentinel_rule(self, sub: str | None, rg: str | None, ws: str | None, rule_id: str) -> bool:
        with self.lock:
            return self.sentinel_rules(sub, rg, ws).pop(rule_id.lower(), None) is not None

    # -- request log ----------------------------------------------------------------------------

    def calls_matching(self, method: str | None = None, path: str | None = None) -> list[Call]:
        """Logged calls with this method and a path in which the regular expression `path` is found."""
        with self.lock:
            return [
                call
                for call in self.calls
                if (method is None or call.method == method.upper()) and (path is None or re.search(path, call.path))
            ]

    def count(self, method: str | None = None, path: str | None = None) -> int:
        return len(self.calls_matching(method, path))

    def clear_log(self) -> None:
        with self.lock:
            self.calls.clear()

    # -- faults ---------------------------------------------------------------------------------

    def set_faults(
        self,
        rate: float,
        kinds: Iterable[str | int] = ("500",),
        *,
        seed: int = 0,
        retry_after: int | None = None,
        slow_seconds: float | None = None,
    ) -> None:
        """Fail a fraction `rate` (0..1) of requests with a kind drawn from `kinds`, with a seeded RNG."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be within 0..1, not {rate}")
        chosen = [_fault_kind(kind) for kind in kinds]
        if rate and not chosen:
            raise ValueError("a failure rate needs at least one fault kind")
        with self._fault_lock:
            self._rate = rate
            self._kinds = chosen
            self._rng = random.Random(seed)
            if retry_after is not None:
                self.retry_after = retry_after
            if slow_seconds is not None:
                self.slow_seconds = slow_seconds

    def fail_next(
        self,
        n: int,
        kind: str | int,
        *,
        method: str | None = None,
        path: str | None = None,
        predicate: Callable[[str, str], bool] | None = None,
        retry_after: int | None = None,
    ) -> FailRule:
        """Fail the next `n` requests matching method / path regex / predicate(method, path) with `kind`."""
        rule = FailRule(_fault_kind(kind), n, method, path, predicate, retry_after)
        with self._fault_lock:
            self._rules.append(rule)
        return rule

    def fail_all(self, kind: str | int | None = "503") -> None:
        """Fail every request from now on with `kind`; None switches it off."""
        self.fail_after(0, kind)

    def fail_after(self, n: int, kind: str | int | None = "503") -> None:
        """Let `n` more requests through (other faults still apply), then fail all with `kind`."""
        with self._fault_lock:
            self._fail_after = None if kind is None else (n, _fault_kind(kind))

    def clear_faults(self) -> None:
        with self._fault_lock:
            self._rate = 0.0
            self._kinds = []
            self._rules = []
            self._fail_after = None

    def _draw_fault(self, method: str, path: str) -> tuple[str | None, int]:
        """The fault for this request (or None) and the Retry-After seconds to send with a 429."""
        with self._fault_lock:
            retry_after = self.retry_after
            if self._fail_after is not None:
                allowed, kind = self._fail_after
                if allowed <= 0:
                    return kind, retry_after
                self._fail_after = (allowed - 1, kind)
            for rule in self._rules:
                if rule.matches(method, path):
                    rule.remaining -= 1
                    return rule.kind, retry_after if rule.retry_after is None else rule.retry_after
            self._rules = [rule for rule in self._rules if rule.remaining > 0]
            if self._rate and self._rng.random() < self._rate:
                kind = self._rng.choice(self._kinds)
                if kind in ("write_then_fail", "drop_after_write") and method not in WRITE_METHODS:
                    return None, retry_after
                return kind, retry_after
            return None, retry_after

    # -- Graph ----------------------------------------------------------------------------------

    def _new_defender_rule(self, body: dict[str, Any], actor: str) -> dict[str, Any]:
        stamp = self._clock.stamp()
        body.update(
            createdBy=actor,
            createdDateTime=stamp,
            lastModifiedBy=actor,
            lastModifiedDateTime=stamp,
            lastRunDetails={"lastRunDateTime": None, "status": None, "failureReason": None, "errorCode": None},
        )
        self._set_next_run(body)
        return body

    def _set_next_run(self, rule: dict[str, Any]) -> None:
        schedule = rule.get("schedule")
        if isinstance(schedule, dict):
            minutes = _iso_minutes(schedule.get("frequency"))
            next_run = self._clock.now() + dt.timedelta(minutes=minutes) if minutes else None
            schedule["nextRunDateTime"] = next_run.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if next_run else None

    def _graph_name_taken(self, name: Any, except_id: str | None) -> bool:
        wanted = str(name).casefold()
        return any(
            rule_id != except_id and str(rule.get("displayName", "")).casefold() == wanted
            for rule_id, rule in self.defender_rules.items()
        )

    def _graph(self, method: str, rule_id: str | None, query: dict[str, str], body: Any) -> _Response:
        context = f"{self.url}/beta/$metadata#security/rules/detectionRules"
        if rule_id is None:
            if method == "GET":
                return self._graph_list(query, context)
            if method == "POST":
                return self._graph_create(body, context)
            return _graph_error(405, "Request_BadRequest", f"The method {method} is not allowed on this resource.")
        with self.lock:
            rule = self.defender_rules.get(rule_id)
            if method not in ("GET", "PATCH", "DELETE"):
                return _graph_error(405, "Request_BadRequest", f"The method {method} is not allowed on this resource.")
            if rule is None:
                return _graph_error(404, "NotFound", f"Detection rule '{rule_id}' was not found.")
            if method == "GET":
                return _Response(200, {"@odata.context": context + "/$entity", **copy.deepcopy(rule)})
            if method == "DELETE":
                del self.defender_rules[rule_id]
                return _Response(204)
            return self._graph_update(rule_id, rule, body, context)

    def _graph_list(self, query: dict[str, str], context: str) -> _Response:
        size = self.page_size
        if "$top" in query:
            if not query["$top"].isdigit() or int(query["$top"]) < 1:
                return _graph_error(400, "BadRequest", f"Invalid value for $top: '{query['$top']}'.")
            size = min(size, int(query["$top"]))
        with self.lock:
            try:
                items, token = _page(self.defender_rules, query.get("$skiptoken"), size)
            except ValueError:
                return _graph_error(400, "BadRequest", "The $skiptoken is not valid.")
        answer: dict[str, Any] = {"@odata.context": context, "value": items}
        if token is not None:
            top = f"&$top={query['$top']}" if "$top" in query else ""
            answer["@odata.nextLink"] = f"{self.graph_base}/security/rules/detectionRules?$skiptoken={token}{top}"
        return _Response(200, answer)

    def _graph_create(self, body: Any, context: str) -> _Response:
        problem = _schema_problem("defender-detection-rule", body)
        if problem:
            return _graph_error(400, "BadRequest", problem)
        with self.lock:
            if body["id"] in self.defender_rules:
                return _graph_error(409, "Conflict", f"A detection rule with id '{body['id']}' already exists.")
            if self._graph_name_taken(body["displayName"], None):
                return _graph_error(409, "Conflict", f"A detection rule named '{body['displayName']}' already exists.")
            rule = self._new_defender_rule(copy.deepcopy(body), self.actor)
            self.defender_rules[rule["id"]] = rule
            location = f"{self.graph_base}/security/rules/detectionRules/{quote(rule['id'], safe='')}"
            return _Response(
                201, {"@odata.context": context + "/$entity", **copy.deepcopy(rule)}, {"Location": location}
            )

    def _graph_update(self, rule_id: str, rule: dict[str, Any], body: Any, context: str) -> _Response:
        if not isinstance(body, dict) or not body:
            return _graph_error(400, "BadRequest", "The request body must be a non-empty JSON object.")
        if "id" in body and body["id"] != rule_id:
            return _graph_error(400, "BadRequest", "The id in the body does not match the id in the URL.")
        merged = copy.deepcopy(rule)
        _merge_patch(merged, body)
        # The sent top-level properties are checked as they are after the merge, cleared values aside: a
        # rule seeded with properties the schema does not know can still be patched.
        sent = _without_nulls({key: copy.deepcopy(merged[key]) for key in body})
        if isinstance(sent.get("schedule"), dict):
            sent["schedule"].pop("nextRunDateTime", None)  # read-only, the service's own
        problem = _schema_problem("defender-detection-rule", sent, partial=True)
        if problem:
            return _graph_error(400, "BadRequest", problem)
        if "displayName" in body and self._graph_name_taken(body["displayName"], rule_id):
            return _graph_error(409, "Conflict", f"A detection rule named '{body['displayName']}' already exists.")
        schedule = merged.get("schedule") or {}
        if schedule.get("frequency") == "PT0S" and schedule.get("lookback") is not None:
            return _graph_error(400, "BadRequest", "A near-real-time rule (frequency PT0S) cannot have a lookback.")
        rule.clear()
        rule.update(merged)
        rule["lastModifiedBy"] = self.actor
        rule["lastModifiedDateTime"] = self._clock.stamp()
        self._set_next_run(rule)
        return _Response(200, {"@odata.context": context + "/$entity", **copy.deepcopy(rule)})

    # -- ARM ------------------------------------------------------------------------------------

    def _sentinel_resource(
        self, sub: str, rg: str, ws: str, rule_id: str, kind: str, properties: dict[str, Any]
    ) -> dict[str, Any]:
        properties["lastModifiedUtc"] = self._clock.stamp()
        return {
            "id": f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.OperationalInsights/workspaces/{ws}"
            f"/providers/Microsoft.SecurityInsights/alertRules/{rule_id}",
            "name": rule_id,
            "type": "Microsoft.SecurityInsights/alertRules",
            "kind": kind,
            "etag": _new_etag(),
            "properties": properties,
        }

    def _arm(
        self, method: str, match: re.Match[str], path: str, query: dict[str, str], body: Any, headers: Any
    ) -> _Response:
        version = query.get("api-version")
        if version is None:
            return _arm_error(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        if version not in ARM_KINDS_BY_VERSION:
            supported = ", ".join(sorted(ARM_KINDS_BY_VERSION))
            return _arm_error(
                400,
                "InvalidApiVersionParameter",
                f"The api-version '{version}' is invalid. The supported versions are '{supported}'.",
            )
        sub, rg, ws = (unquote(match[name]) for name in ("sub", "rg", "ws"))
        rule_id = None if match["id"] is None else unquote(match["id"])
        if rule_id is None:
            if method != "GET":
                return _arm_error(405, "MethodNotAllowed", f"The method {method} is not allowed on this collection.")
            with self.lock:
                try:
                    items, token = _page(self.sentinel_rules(sub, rg, ws), query.get("$skipToken"), self.page_size)
                except ValueError:
                    return _arm_error(400, "InvalidSkipToken", "The $skipToken is not valid.")
            answer: dict[str, Any] = {"value": items}
            if token is not None:
                answer["nextLink"] = f"{self.url}{path}?api-version={version}&$skipToken={token}"
            return _Response(200, answer)
        key = rule_id.lower()
        with self.lock:
            rules = self.sentinel_rules(sub, rg, ws)
            existing = rules.get(key)
            if method == "GET":
                if existing is None:
                    return _arm_error(404, "NotFound", f"Alert rule '{rule_id}' was not found.")
                return _Response(200, copy.deepcopy(existing), {"ETag": existing["etag"]})
            if method == "DELETE":
                if existing is None:
                    return _Response(204)
                del rules[key]
                return _Response(200)
            if method != "PUT":
                return _arm_error(405, "MethodNotAllowed", f"The method {method} is not allowed on this resource.")
            return self._arm_put(sub, rg, ws, rule_id, version, existing, body, headers)

    def _arm_put(
        self,
        sub: str,
        rg: str,
        ws: str,
        rule_id: str,
        version: str,
        existing: dict[str, Any] | None,
        body: Any,
        headers: Any,
    ) -> _Response:
        kind = body.get("kind") if isinstance(body, dict) else None
        if isinstance(kind, str) and kind not in ARM_KINDS_BY_VERSION[version]:
            return _arm_error(
                400, "BadRequest", f"The alert rule kind '{kind}' is not supported in api-version '{version}'."
            )
        problem = _schema_problem("sentinel-alert-rule", body)
        if problem:
            return _arm_error(400, "BadRequest", problem)
        sent_etags = [value for value in (body.get("etag"), headers.get("If-Match")) if value is not None]
        if existing is None:
            if sent_etags:
                return _arm_error(
                    412, "PreconditionFailed", f"Alert rule '{rule_id}' does not exist; an etag was given."
                )
        else:
            if headers.get("If-None-Match") == "*":
                return _arm_error(412, "PreconditionFailed", f"Alert rule '{rule_id}' already exists.")
            if not sent_etags and self.require_etag:
                return _arm_error(
                    412, "PreconditionFailed", "Updating an existing alert rule requires its current etag."
                )
            if any(value not in ("*", existing["etag"]) for value in sent_etags):
                return _arm_error(
                    412, "PreconditionFailed", "The etag does not match the current one; the rule was modified."
                )
            if existing["kind"] != kind:
                return _arm_error(
                    400,
                    "BadRequest",
                    f"The kind of alert rule '{rule_id}' cannot be changed from {existing['kind']} to {kind}.",
                )
        if self.unique_sentinel_names:
            wanted = body["properties"]["displayName"].casefold()
            for other_key, other in self.sentinel_rules(sub, rg, ws).items():
                if (
                    other_key != rule_id.lower()
                    and str(other["properties"].get("displayName", "")).casefold() == wanted
                ):
                    return _arm_error(
                        409, "Conflict", f"An alert rule named '{body['properties']['displayName']}' already exists."
                    )
        resource = self._sentinel_resource(sub, rg, ws, rule_id, kind, copy.deepcopy(body["properties"]))
        if existing is not None:
            resource["id"], resource["name"] = existing["id"], existing["name"]  # ARM keeps the original casing
        self.sentinel_rules(sub, rg, ws)[rule_id.lower()] = resource
        return _Response(200 if existing else 201, copy.deepcopy(resource), {"ETag": resource["etag"]})

    # -- dispatch -------------------------------------------------------------------------------

    def _route(self, method: str, path: str, query: dict[str, str], body: Any, headers: Any) -> _Response:
        if path == GRAPH_RULES or path == GRAPH_RULES + "/":
            return self._graph(method, None, query, body)
        if path.startswith(GRAPH_RULES + "/") and "/" not in path[len(GRAPH_RULES) + 1 :]:
            return self._graph(method, unquote(path[len(GRAPH_RULES) + 1 :]), query, body)
        match = _ARM_PATH.match(path)
        if match:
            return self._arm(method, match, path, query, body, headers)
        match = SAVED_SEARCH_PATH.match(path)
        if match:
            return _Response(*self._saved_search_route(method, match, path, query, body, headers))
        match = TABLE_PATH.match(path)
        if match:
            return _Response(*self._table_route(method, match, path, query))
        if _is_graph(path):
            return _graph_error(404, "NotFound", f"Resource not found for the segment in '{path}'.")
        return _arm_error(404, "NotFound", f"No route for '{path}'.")

    def _log(self, call: Call) -> None:
        with self.lock:
            self.calls.append(call)


def _new_etag() -> str:
    return f'"{uuid.uuid4()}"'


def _fault_kind(kind: str | int) -> str:
    text = str(kind)
    if text not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; known: {sorted(FAULT_KINDS)}")
    return text


def _is_graph(path: str) -> bool:
    return path.startswith(("/beta/", "/v1.0/"))


def _graph_error(status: int, code: str, message: str) -> _Response:
    request_id = str(uuid.uuid4())
    inner = {"request-id": request_id, "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")}
    return _Response(
        status, {"error": {"code": code, "message": message, "innerError": inner}}, {"request-id": request_id}
    )


def _arm_error(status: int, code: str, message: str) -> _Response:
    return _Response(status, {"error": {"code": code, "message": message}})


_STATUS_FAULTS = {
    "429": (429, "TooManyRequests", "Too many requests; retry later."),
    "500": (500, "InternalServerError", "An internal server error occurred."),
    "503": (503, "ServiceUnavailable", "The service is temporarily unavailable."),
}


def _fault_response(kind: str, graph: bool, retry_after: int) -> _Response:
    status, code, message = _STATUS_FAULTS[kind]
    response = _graph_error(status, code, message) if graph else _arm_error(status, code, message)
    if kind == "429":
        response.headers["Retry-After"] = str(retry_after)
    return response


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a handler stuck on a keep-alive read must not block interpreter exit
    allow_reuse_address = True
    api: FakeApi

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Connection resets from clients that gave up are normal here; nothing goes to stderr.
        pass


class _Handler(KeepAliveHandler):
    api: FakeApi

    def opened(self) -> None:
        self.api.connections_opened += 1

    def _dispatch(self) -> None:
        api = self.api
        method = self.command
        path, query, raw = self.read_request()
        graph = _is_graph(path)
        call = Call(method, path, query, None)
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
            raw_invalid = True
        else:
            raw_invalid = False
        call.body = body

        response = self._authenticate(graph)
        kind: str | None = None
        if response is None:
            kind, retry_after = api._draw_fault(method, path)
            call.fault = kind
            if kind in _STATUS_FAULTS:
                response = _fault_response(kind, graph, retry_after)
            elif kind == "drop":
                self._drop(call)
                return
            elif raw_invalid:
                response = (_graph_error if graph else _arm_error)(
                    400, "BadRequest", "The request body is not valid JSON."
                )
            else:
                try:
                    response = api._route(method, path, query, body, self.headers)
                except Exception as error:  # a bug in the fake: answer 500 and keep it for the test to see
                    with api.lock:
                        api.errors.append(f"{method} {path}: {type(error).__name__}: {error}")
                    response = _fault_response("500", graph, 0)
                wrote = method in WRITE_METHODS and 200 <= response.status < 300
                if kind == "write_then_fail" and wrote:
                    if method == "POST":
                        response = _graph_error(409, "Conflict", "A detection rule with this id already exists.")
                    else:
                        response = _fault_response("500", graph, 0)
                elif kind == "drop_after_write" and wrote:
                    self._drop(call)
                    return
                elif kind in ("write_then_fail", "drop_after_write"):
                    call.fault = None  # nothing was written, so the fault did not apply
        call.status = response.status
        api._log(call)  # before answering: once the client has its answer, the log already shows the call
        if kind == "slow" and api._stopping.wait(api.slow_seconds):
            self._drop(None)
            return
        self._send(response, graph)

    def _authenticate(self, graph: bool) -> _Response | None:
        expected = self.api.graph_token if graph else self.api.arm_token
        header = self.headers.get("Authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token and hmac.compare_digest(token.encode(), expected.encode()):
            return None
        if graph:
            response = _graph_error(401, "InvalidAuthenticationToken", "Access token is empty or invalid.")
        else:
            code = "InvalidAuthenticationToken" if header else "AuthenticationFailed"
            response = _arm_error(401, code, "The access token is missing or invalid.")
        response.headers["WWW-Authenticate"] = 'Bearer realm="fakeapi", error="invalid_token"'
        return response

    def _drop(self, call: Call | None) -> None:
        if call is not None:
            call.status = None
            self.api._log(call)
        self.drop_connection()

    def _send(self, response: _Response, graph: bool) -> None:
        payload = b"" if response.body is None else json.dumps(response.body).encode("utf-8")
        try:
            self.send_response(response.status)
            headers = dict(response.headers)
            if graph:
                headers.setdefault("request-id", str(uuid.uuid4()))
                client_request_id = self.headers.get("client-request-id")
                if client_request_id:
                    headers["client-request-id"] = client_request_id
            else:
                headers.setdefault("x-ms-request-id", str(uuid.uuid4()))
            for name, value in headers.items():
                self.send_header(name, value)
            if response.status != 204:  # a 204 carries neither a body nor a Content-Length
                if payload:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if payload and response.status != 204:
                self.wfile.write(payload)
            self.wfile.flush()
        except OSError:
            self.close_connection = True  # the client went away (e.g. after a read timeout)
