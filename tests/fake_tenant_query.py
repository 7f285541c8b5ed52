"""A local fake of the services that run queries on a tenant's data, for tests that use the real clients.

- Microsoft Graph `POST /beta/security/runHuntingQuery` (and `/v1.0/...`): body `{"Query", "Timespan"}`,
  answer `huntingQueryResults` `{"schema": [{"name", "type"}], "results": [{column: value}]}`; errors
  `{"error": {"code", "message", "innerError"}}` (400 BadRequest for a missing Query or a bad Timespan).
- Log Analytics `POST /v1/{resource id}/query` (and `/v1/workspaces/{id}/query`): body `{"query",
  "timespan"}`, answer `{"tables": [{"name": "PrimaryResult", "columns": [{"name", "type"}], "rows":
  [[...]]}]}`; errors `{"error": {"message", "code", "correlationId", "innererror"}}` (400
  BadArgumentError, 401 AuthorizationRequiredError, 404 PathNotFoundError).

`FakeTenantQuery` is a real HTTP/1.1 server (standard library, keep-alive) on 127.0.0.1 with an
ephemeral port, so `requests` (through dac's ApiSession) and azure-monitor-query's `LogsQueryClient`
talk to it as they would to the services:

    with FakeTenantQuery() as fake:
        fake.answer("DeviceProcessEvents", [("Kind", "string"), ("Value", "long")], [["total", 3]])
        fake.fail_next(1, "429")                    # the next query answers 429 with Retry-After
        ... run the client against fake.graph_base / fake.loganalytics_base ...
        assert [q.text for q in fake.queries] == [...]

- Canned answers: `answer(match, columns, rows, service=None)`; the first whose `match` (a substring of
  the query text, or a callable on it) fits wins; otherwise an empty table with `default_columns`.
  Column types are KQL's (`string`, `long`, `datetime`, ...); Advanced Hunting spells them as its
  answers do (`String`, `Int64`, `DateTime`, ...).
- `queries`: every query that reached a handler (service, text, timespan, resource), faults included;
  `calls`: every request (method, path, status, fault). Headers, and so tokens, are never recorded.
- Faults (`fail_next(n, kind, service=None)`): "429" (with `Retry-After: retry_after`), "500",
  "drop" (read the request, close the connection without an answer). Drawn after the token check,
  so a 401 is never masked.
- Bearer tokens: `graph_token` for Graph, `loganalytics_token` for Log Analytics; anything else is 401.
- More routes (for instance an ARM GET of a workspace's tables): `add_route(method, regex, handler)`,
  where `handler(request: Request) -> Reply`, with its own `token` (default `arm_token`) and `service`
  (the name faults are drawn for; "arm" by default); `first=True` overrides a built-in route.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import re
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from fake_http import KeepAliveHandler

HUNTING_PATH = re.compile(r"^/(beta|v1\.0)/security/runHuntingQuery$")
LOGS_RESOURCE_PATH = re.compile(r"^/v1(?P<resource>/subscriptions/.+)/query$", re.IGNORECASE)
LOGS_WORKSPACE_PATH = re.compile(r"^/v1/workspaces/(?P<workspace>[^/]+)/query$")
FAULT_KINDS = frozenset({"429", "500", "drop"})
# KQL type -> the type name Advanced Hunting's schema uses
HUNTING_TYPES = {"string": "String", "long": "Int64", "int": "Int32", "real": "Double", "double": "Double",
                 "datetime": "DateTime", "bool": "Boolean", "boolean": "Boolean", "dynamic": "Object",
                 "guid": "Guid", "timespan": "TimeSpan"}  # fmt: skip
ISO_DURATION = re.compile(r"^P(?!$)(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")
ISO_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:\d{2})?$")


@dataclass
class Query:
    """A query as the fake received it."""

    service: str  # "hunting" | "loganalytics"
    text: str
    timespan: str | None
    resource: str | None = None  # the Log Analytics resource id or workspace id


@dataclass
class Call:
    method: str
    path: str
    status: int | None  # None when the connection was dropped
    fault: str | None = None


@dataclass
class Request:
    """What a route handler gets."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    match: re.Match[str]


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Answer:
    match: str | Callable[[str], bool]
    columns: list[tuple[str, str]]
    rows: list[list[Any]]
    service: str | None = None

    def fits(self, service: str, text: str) -> bool:
        if self.service is not None and self.service != service:
            return False
        return self.match(text) if callable(self.match) else self.match in text


@dataclass
class _Fault:
    kind: str
    remaining: int
    service: str | None


@dataclass
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Callable[[Request], Reply]
    token: str
    service: str


def graph_error(status: int, code: str, message: str) -> Reply:
    inner = {"date": "2025-01-01T00:00:00", "request-id": str(uuid.uuid4())}
    return Reply(status, {"error": {"code": code, "message": message, "innerError": inner}})


def logs_error(status: int, code: str, message: str, inner: dict[str, Any] | None = None) -> Reply:
    error: dict[str, Any] = {"message": message, "code": code, "correlationId": str(uuid.uuid4())}
    if inner:
        error["innererror"] = inner
    return Reply(status, {"error": error})


def arm_error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message}})


class FakeTenantQuery:
    """runHuntingQuery and the Log Analytics query API on one local server; see the module docstring."""

    def __init__(
        self,
        *,
        graph_token: str = "hunting-token",
        loganalytics_token: str = "logs-token",
        arm_token: str = "arm-token",
        retry_after: int = 1,
        default_columns: list[tuple[str, str]] | None = None,
    ) -> None:
        self.graph_token = graph_token
        self.loganalytics_token = loganalytics_token
        self.arm_token = arm_token
        self.retry_after = retry_after
        self.default_columns = default_columns or [("Kind", "string"), ("Key", "string"), ("Value", "long")]
        self.lock = threading.RLock()
        self.answers: list[Answer] = []
        self.queries: list[Query] = []
        self.calls: list[Call] = []
        self.errors: list[str] = []  # exceptions inside the fake itself (a bug here, not in dac)
        self._faults: list[_Fault] = []
        self._routes: list[_Route] = [
            _Route("POST", HUNTING_PATH, self._hunting, graph_token, "hunting"),
            _Route("POST", LOGS_RESOURCE_PATH, self._logs, loganalytics_token, "loganalytics"),
            _Route("POST", LOGS_WORKSPACE_PATH, self._logs, loganalytics_token, "loganalytics"),
        ]
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    # -- configuration ---------------------------------------------------------------------------

    def answer(self, match: str | Callable[[str], bool], columns: list[tuple[str, str]], rows: list[list[Any]],
               service: str | None = None) -> None:  # fmt: skip
        with self.lock:
            self.answers.append(Answer(match, list(columns), [list(row) for row in rows], service))

    def fail_next(self, count: int, kind: str, service: str | None = None) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {sorted(FAULT_KINDS)}")
        with self.lock:
            self._faults.append(_Fault(kind, count, service))

    def add_route(self, method: str, pattern: str, handler: Callable[[Request], Reply], *, token: str | None = None,
                  service: str = "arm", first: bool = False) -> None:  # fmt: skip
        """Serve another API on the same server (its faults are drawn with `service`); `first` puts the route
        before the built-in ones (to answer a query API differently)."""
        route = _Route(method.upper(), re.compile(pattern), handler, token or self.arm_token, service)
        with self.lock:
            self._routes.insert(0 if first else len(self._routes), route)

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> FakeTenantQuery:
        if self._server is None:
            handler = type("BoundHandler", (_Handler,), {"fake": self, "state": self})
            self._server = _Server(("127.0.0.1", 0), handler)
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                            daemon=True)  # fmt: skip
            self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        with self.lock:  # idle keep-alive connections would keep their handler threads in a read
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeTenantQuery:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeTenantQuery is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def graph_base(self) -> str:
        return self.url + "/beta"

    @property
    def loganalytics_base(self) -> str:
        return self.url

    @property
    def arm_base(self) -> str:
        return self.url

    def queries_of(self, service: str) -> list[Query]:
        with self.lock:
            return [q for q in self.queries if q.service == service]

    # -- the two query APIs ------------------------------------------------------------------------

    def _result(self, service: str, text: str) -> tuple[list[tuple[str, str]], list[list[Any]]]:
        with self.lock:
            for answer in self.answers:
                if answer.fits(service, text):
                    return answer.columns, answer.rows
        return self.default_columns, []

    def _hunting(self, request: Request) -> Reply:
        body = request.body if isinstance(request.body, dict) else {}
        text, timespan = body.get("Query"), body.get("Timespan")
        if not isinstance(text, str) or not text.strip():
            return graph_error(400, "BadRequest", "Query parameter is required.")
        if timespan is not None and not _valid_timespan(timespan):
            return graph_error(400, "BadRequest", f"Invalid Timespan value '{timespan}'.")
        columns, rows = self._result("hunting", text)
        schema = [{"name": name, "type": HUNTING_TYPES.get(kind, kind)} for name, kind in columns]
        results = [dict(zip([name for name, _ in columns], row, strict=True)) for row in rows]
        context = "https://graph.microsoft.com/beta/$metadata#microsoft.graph.security.huntingQueryResults"
        return Reply(200, {"@odata.context": context, "schema": schema, "results": results})

    def _logs(self, request: Request) -> Reply:
        body = request.body if isinstance(request.body, dict) else {}
        text, timespan = body.get("query"), body.get("timespan")
        if not isinstance(text, str) or not text.strip():
            return logs_error(400, "BadArgumentError", "The request had some invalid properties",
                              {"code": "QueryValidationError", "message": "Query is required"})  # fmt: skip
        if timespan is not None and not _valid_timespan(timespan):
            return logs_error(400, "BadArgumentError", "The request had some invalid properties",
                              {"code": "InvalidTimespan", "message": f"Invalid timespan '{timespan}'"})  # fmt: skip
        columns, rows = self._result("loganalytics", text)
        table = {"name": "PrimaryResult", "columns": [{"name": n, "type": t} for n, t in columns], "rows": rows}
        return Reply(200, {"tables": [table]})

    # -- plumbing for the handler --------------------------------------------------------------------

    def route(self, method: str, path: str) -> tuple[_Route, re.Match[str]] | None:
        with self.lock:
            for route in self._routes:
                match = route.pattern.match(path)
                if match and route.method == method:
                    return route, match
        return None

    def draw_fault(self, service: str) -> str | None:
        with self.lock:
            for fault in self._faults:
                if fault.remaining > 0 and fault.service in (None, service):
                    fault.remaining -= 1
                    return fault.kind
        return None

    def log_query(self, service: str, body: Any, match: re.Match[str]) -> None:
        body = body if isinstance(body, dict) else {}
        if service == "hunting":
            text, timespan, resource = body.get("Query"), body.get("Timespan"), None
        else:
            groups = match.groupdict()
            text, timespan = body.get("query"), body.get("timespan")
            resource = unquote(groups.get("resource") or groups.get("workspace") or "")
        with self.lock:
            self.queries.append(Query(service, str(text or ""), timespan, resource))


def _valid_timespan(value: Any) -> bool:
    """ISO 8601: a duration, an instant, or two of them joined by '/' (not two durations)."""
    if not isinstance(value, str) or not value:
        return False
    parts = value.split("/")
    if len(parts) > 2 or (all(ISO_DURATION.match(p) for p in parts) and len(parts) == 2):
        return False
    return all(ISO_DURATION.match(p) or ISO_INSTANT.match(p) for p in parts)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # resets from clients that gave up are normal here


class _Handler(KeepAliveHandler):
    fake: FakeTenantQuery

    def _dispatch(self) -> None:
        fake = self.fake
        path, query, raw = self.read_request()
        call = Call(self.command, path, None)
        found = fake.route(self.command, path)
        if found is None:
            reply = logs_error(404, "PathNotFoundError", f"The requested path does not exist: {path}")
            return self._answer(call, reply)
        route, match = found
        reply = self._authenticate(route)
        if reply is not None:
            return self._answer(call, reply)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            return self._answer(call, _error_for(route.service, 400, "BadRequest", "The body is not valid JSON."))
        if route.service in ("hunting", "loganalytics"):
            fake.log_query(route.service, body, match)
        call.fault = fake.draw_fault(route.service)
        if call.fault == "drop":
            with fake.lock:
                fake.calls.append(call)
            self.drop_connection()
            return None
        if call.fault == "429":
            reply = _error_for(route.service, 429, "TooManyRequests", "Rate limit is exceeded. Try again later.")
            reply.headers["Retry-After"] = str(fake.retry_after)
        elif call.fault == "500":
            reply = _error_for(route.service, 500, "InternalServerError", "An internal error occurred.")
        else:
            try:
                reply = route.handler(Request(self.command, path, query, body, match))
            except Exception as error:  # a bug in the fake: 500, kept for the test to see
                with fake.lock:
                    fake.errors.append(f"{self.command} {path}: {type(error).__name__}: {error}")
                reply = _error_for(route.service, 500, "InternalServerError", "fake failed")
        return self._answer(call, reply)

    def _authenticate(self, route: _Route) -> Reply | None:
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() == "bearer" and token and hmac.compare_digest(token.encode(), route.token.encode()):
            return None
        if route.service == "loganalytics":
            return logs_error(401, "AuthorizationRequiredError", "Valid authentication was not provided")
        if route.service == "hunting":
            return graph_error(401, "InvalidAuthenticationToken", "Access token is empty or invalid.")
        return arm_error(401, "InvalidAuthenticationToken", "The access token is missing or invalid.")

    def _answer(self, call: Call, reply: Reply) -> None:
        call.status = reply.status
        with self.fake.lock:
            self.fake.calls.append(call)
        payload = b"" if reply.body is None else json.dumps(reply.body).encode("utf-8")
        try:
            self.send_response(reply.status)
            for name, value in {"x-ms-request-id": str(uuid.uuid4()), **reply.headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
        except OSError:
            self.close_connection = True


def _error_for(service: str, status: int, code: str, message: str) -> Reply:
    if service == "loganalytics":
        return logs_error(status, code, message)
    if service == "hunting":
        return graph_error(status, code, message)
    return arm_error(status, code, message)
