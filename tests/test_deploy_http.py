"""dac.deploy.http and dac.deploy.auth against a small scripted HTTP server on 127.0.0.1."""

from __future__ import annotations

import contextlib
import email.utils
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import azure.identity
import pytest

from dac.deploy import auth
from dac.deploy.http import ApiError, ApiSession, default_scope, parse_retry_after, redact, same_content

# A recognisable fake token, JWT-shaped like the real ones; its signature part must never leak.
SIGNATURE = "U0VDUkVULVNJR05BVFVSRS1kYWMtdGVzdA"
TOKEN = f"eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJkYWMtdGVzdCJ9.{SIGNATURE}"
PLAIN_TOKEN = "dac-plain-secret-token-4f2a91"  # not JWT-shaped: only "the token we sent" catches it

# --------------------------------------------------------------------------------------------
# Scripted server: per (method, path) a list of actions, consumed in order (the last repeats)
# --------------------------------------------------------------------------------------------

Action = Callable[[BaseHTTPRequestHandler], None]


def reply(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Action:
    def act(handler: BaseHTTPRequestHandler) -> None:
        data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        if data:
            handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    return act


def drop() -> Action:
    """Close the connection without answering (a dropped connection)."""

    def act(handler: BaseHTTPRequestHandler) -> None:
        handler.close_connection = True

    return act


def stall(seconds: float, then: Action) -> Action:
    def act(handler: BaseHTTPRequestHandler) -> None:
        time.sleep(seconds)
        with contextlib.suppress(OSError):  # the client gave up (read timeout)
            then(handler)

    return act


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class Server:
    base: str = ""
    routes: dict[tuple[str, str], list[Action]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on(self, method: str, path: str, *actions: Action) -> None:
        self.routes[(method, path)] = list(actions)

    def next_action(self, method: str, path: str) -> Action:
        with self.lock:
            actions = self.routes.get((method, path))
            if not actions:
                return reply(404, {"error": {"code": "NotFound", "message": f"no route {method} {path}"}})
            return actions.pop(0) if len(actions) > 1 else actions[0]


def _handler(state: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # one request per connection: no stale pooled sockets in tests

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            body = json.loads(raw) if raw else None
            with state.lock:
                state.seen.append(Seen(self.command, parts.path, parse_qs(parts.query), dict(self.headers), body))
            state.next_action(self.command, parts.path)(self)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


class CountingCredential:
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.calls: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> auth.AccessToken:
        self.calls.append(scopes)
        return auth.AccessToken(self.token, int(time.time()) + 3600)


def make_session(server: Server, credential: Any = None, **kwargs: Any) -> tuple[ApiSession, list[float]]:
    sleeps: list[float] = []
    options = {"connect_timeout": 2.0, "read_timeout": 2.0, "sleep": sleeps.append, "rng": random.Random(7)}
    options.update(kwargs)
    session = ApiSession(server.base + "/beta", credential or CountingCredential(), "api://test/.default", **options)
    return session, sleeps


# --------------------------------------------------------------------------------------------
# Requests, tokens, retries
# --------------------------------------------------------------------------------------------


def test_token_per_request_in_header_only(server: Server) -> None:
    server.on("GET", "/beta/things", reply(200, {"value": [1]}))
    credential = CountingCredential()
    session, _ = make_session(server, credential)
    assert session.get("/things") == {"value": [1]}
    assert session.get("things") == {"value": [1]}
    assert credential.calls == [("api://test/.default",)] * 2
    assert server.seen[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert "Authorization" not in session.http.headers  # never stored on the session
    assert TOKEN not in repr(session)


def test_429_honours_retry_after_seconds(server: Server) -> None:
    server.on(
        "GET",
        "/beta/x",
        reply(429, {"error": {"code": "TooManyRequests", "message": "slow down"}}, {"Retry-After": "7"}),
        reply(200, {"ok": True}),
    )
    session, sleeps = make_session(server)
    assert session.get("/x") == {"ok": True}
    assert sleeps == [7.0]
    assert len(server.seen) == 2


def test_retry_after_http_date_and_cap(server: Server) -> None:
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= parse_retry_after(future) <= 31
    assert parse_retry_after(email.utils.formatdate(time.time() - 100, usegmt=True)) == 0
    assert parse_retry_after("soon") is None
    server.on(
        "GET",
        "/beta/x",
        reply(429, None, {"Retry-After": future}),
        reply(503, None, {"Retry-After": "100000"}),
        reply(200, {"ok": True}),
    )
    session, sleeps = make_session(server, retry_after_max=40.0)
    assert session.get("/x") == {"ok": True}
    assert 25 <= sleeps[0] <= 31
    assert sleeps[1] == 40.0  # a huge Retry-After is capped


def test_5xx_exponential_backoff_with_jitter_then_give_up(server: Server) -> None:
    server.on("GET", "/beta/x", reply(500), reply(502), reply(504), reply(503, {"error": {"code": "Busy"}}))
    session, sleeps = make_session(server, max_attempts=5, backoff_base=1.0, backoff_max=30.0)
    with pytest.raises(ApiError) as info:
        session.get("/x")
    error = info.value
    assert error.status == 503 and error.code == "Busy" and error.attempts == 5
    assert not error.maybe_applied  # a GET never is
    assert len(sleeps) == 4 and len(server.seen) == 5
    for attempt, slept in enumerate(sleeps, start=1):
        delay = 2 ** (attempt - 1)
        assert delay / 2 <= slept <= delay  # exponential with jitter


def test_total_backoff_is_capped(server: Server) -> None:
    server.on("GET", "/beta/x", reply(503))
    session, sleeps = make_session(server, max_attempts=50, backoff_base=4.0, backoff_max=8.0, total_backoff_max=20.0)
    with pytest.raises(ApiError) as info:
        session.get("/x")
    assert sum(sleeps) <= 20.0
    assert info.value.attempts == len(sleeps) + 1 < 50


def test_no_retry_on_client_errors(server: Server) -> None:
    server.on("GET", "/beta/x", reply(403, {"error": {"code": "Forbidden", "message": "no"}}))
    session, sleeps = make_session(server)
    with pytest.raises(ApiError) as info:
        session.get("/x")
    assert info.value.status == 403 and sleeps == [] and len(server.seen) == 1


def test_dropped_connection_is_retried(server: Server) -> None:
    server.on("GET", "/beta/x", drop(), reply(200, {"ok": 1}))
    session, sleeps = make_session(server)
    assert session.get("/x") == {"ok": 1}
    assert len(sleeps) == 1 and len(server.seen) == 2


def test_lost_write_answer_is_flagged(server: Server) -> None:
    server.on("POST", "/beta/rules", drop())
    session, _ = make_session(server, max_attempts=3)
    with pytest.raises(ApiError) as info:
        session.request("POST", "/rules", json={"id": "a"})
    error = info.value
    assert error.status is None and error.maybe_applied and error.attempts == 3
    assert [s.body for s in server.seen] == [{"id": "a"}] * 3  # POST is retried too
    assert "may have been applied" in str(error)


def test_write_conflict_after_lost_answer_is_flagged(server: Server) -> None:
    # The first POST went through but its answer was lost; the retry meets the rule already there.
    server.on("POST", "/beta/rules", drop(), reply(409, {"error": {"code": "Conflict", "message": "exists"}}))
    session, _ = make_session(server)
    with pytest.raises(ApiError) as info:
        session.request("POST", "/rules", json={"id": "a"})
    assert info.value.status == 409 and info.value.maybe_applied


def test_connection_refused_write_is_not_flagged() -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sleeps: list[float] = []
    session = ApiSession(f"http://127.0.0.1:{port}", CountingCredential(), "s", max_attempts=2, sleep=sleeps.append)
    with pytest.raises(ApiError) as info:
        session.request("POST", "/x", json={})
    assert info.value.status is None and not info.value.maybe_applied and len(sleeps) == 1


def test_read_timeout_is_retried(server: Server) -> None:
    server.on("GET", "/beta/slow", stall(1.0, reply(200, {"late": True})), reply(200, {"late": False}))
    session, sleeps = make_session(server, read_timeout=0.2)
    started = time.monotonic()
    assert session.get("/slow") == {"late": False}
    assert time.monotonic() - started < 1.0
    assert len(sleeps) == 1 and len(server.seen) == 2


def test_read_timeout_write_gives_up_flagged(server: Server) -> None:
    server.on("PUT", "/beta/slow", stall(0.6, reply(200, {})))
    session, _ = make_session(server, read_timeout=0.15, max_attempts=2)
    with pytest.raises(ApiError) as info:
        session.request("PUT", "/slow", json={"a": 1})
    assert info.value.code == "ReadTimeout" and info.value.maybe_applied


# --------------------------------------------------------------------------------------------
# Paging
# --------------------------------------------------------------------------------------------


def test_paging_graph_and_arm_next_links(server: Server) -> None:
    base = server.base
    server.on(
        "GET", "/beta/graph", reply(200, {"value": [1, 2], "@odata.nextLink": f"{base}/beta/graph2?$skiptoken=a"})
    )
    server.on("GET", "/beta/graph2", reply(200, {"value": [3], "@odata.nextLink": f"{base}/beta/graph3?$skiptoken=b"}))
    server.on("GET", "/beta/graph3", reply(200, {"value": []}))
    session, _ = make_session(server)
    assert session.list_all("/graph", params={"$top": "2"}) == [1, 2, 3]
    assert server.seen[0].query == {"$top": ["2"]}
    assert server.seen[1].query == {"$skiptoken": ["a"]}  # the link's own query, not the first params

    server.on("GET", "/beta/arm", reply(200, {"value": [{"name": "a"}], "nextLink": f"{base}/beta/arm?page=2"}))
    server.routes[("GET", "/beta/arm")].append(reply(200, {"value": [{"name": "b"}]}))
    assert [r["name"] for r in session.iter_pages("/arm", params={"api-version": "1"})] == ["a", "b"]


def test_next_link_to_another_host_is_refused(server: Server) -> None:
    server.on("GET", "/beta/p", reply(200, {"value": [1], "@odata.nextLink": "https://evil.example/steal"}))
    session, _ = make_session(server)
    with pytest.raises(ValueError, match="another host"):
        session.list_all("/p")
    assert all(s.path == "/beta/p" for s in server.seen)


# --------------------------------------------------------------------------------------------
# Errors and secrets
# --------------------------------------------------------------------------------------------


def test_error_carries_code_message_request_id_path(server: Server) -> None:
    server.on(
        "POST",
        "/beta/security/rules/detectionRules",
        reply(
            400,
            {"error": {"code": "BadRequest", "message": "Invalid schedule frequency"}},
            {"request-id": "11111111-2222-3333-4444-555555555555"},
        ),
    )
    session, _ = make_session(server)
    with pytest.raises(ApiError) as info:
        session.request("POST", "/security/rules/detectionRules", params={"x": "y"}, json={"id": "r"})
    error = info.value
    assert (error.status, error.code, error.message) == (400, "BadRequest", "Invalid schedule frequency")
    assert error.request_id == "11111111-2222-3333-4444-555555555555"
    assert error.method == "POST" and error.path == "/beta/security/rules/detectionRules"
    text = str(error)
    for part in ("POST", "/beta/security/rules/detectionRules", "400", "BadRequest", "Invalid schedule", "1111"):
        assert part in text
    assert "x=y" not in text  # the path only


def test_arm_error_and_non_json_error(server: Server) -> None:
    server.on(
        "GET",
        "/beta/arm",
        reply(404, {"error": {"code": "NotFound", "message": "gone"}}, {"x-ms-request-id": "arm-req-1"}),
    )
    server.on("GET", "/beta/html", reply(502, b"<html>Bad gateway</html>"))
    session, _ = make_session(server, max_attempts=1)
    with pytest.raises(ApiError) as info:
        session.get("/arm")
    assert info.value.not_found and info.value.request_id == "arm-req-1"
    with pytest.raises(ApiError, match="Bad gateway"):
        session.get("/html")
    status, data = session.json("GET", "/arm", allow=(404,))
    assert status == 404 and data["error"]["code"] == "NotFound"


@pytest.mark.parametrize("token", [TOKEN, PLAIN_TOKEN], ids=["jwt", "plain"])
def test_token_never_in_errors_or_logs(server: Server, caplog: pytest.LogCaptureFixture, token: str) -> None:
    # A hostile/buggy service echoes the Authorization header and the token in its error.
    echoed = {"error": {"code": "InvalidAuthenticationToken", "message": f"Bad header: Bearer {token}; token={token}"}}
    server.on("GET", "/beta/x", reply(503), reply(401, echoed))
    server.on("POST", "/beta/y", drop())
    caplog.set_level(logging.DEBUG)
    session, _ = make_session(server, CountingCredential(token), max_attempts=2)
    with pytest.raises(ApiError) as first:
        session.get("/x")
    with pytest.raises(ApiError) as second:
        session.request("POST", "/y", json={})
    assert server.seen[0].headers["Authorization"] == f"Bearer {token}"  # it was sent...
    secret = SIGNATURE if token == TOKEN else token
    for error in (first.value, second.value):  # ...but shows up nowhere
        assert secret not in str(error) and secret not in repr(error) and secret not in (error.message or "")
    assert "InvalidAuthenticationToken" in str(first.value) and "[REDACTED]" in str(first.value)
    assert secret not in caplog.text
    lines = [r.getMessage() for r in caplog.records if r.name == "dac.deploy"]
    assert "GET /beta/x -> 503" in lines[0] and "(attempt 1)" in lines[0]
    assert any("GET /beta/x -> 401" in line and "(attempt 2)" in line for line in lines)


def test_credential_failure_is_an_api_error(server: Server) -> None:
    class Broken:
        def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            raise RuntimeError(f"assertion {TOKEN} rejected")

    session, _ = make_session(server, Broken())
    with pytest.raises(ApiError) as info:
        session.get("/x")
    assert info.value.code == "AuthenticationFailed" and SIGNATURE not in str(info.value)
    assert server.seen == []


def test_redact() -> None:
    assert redact(f"Authorization: Bearer {PLAIN_TOKEN}") == "Authorization: [REDACTED] [REDACTED]"
    assert SIGNATURE not in redact(f"got {TOKEN} back")
    assert redact('{"access_token": "abc.def", "x": 1}') == '{"access_token": "[REDACTED]", "x": 1}'
    assert redact("plain text stays") == "plain text stays"
    assert redact(f"the {PLAIN_TOKEN}!", [PLAIN_TOKEN]) == "the [REDACTED]!"


def test_same_content() -> None:
    sent = {"a": 1, "b": {"c": [1, 2]}, "d": None, "e": []}
    assert same_content(sent, {"a": 1, "b": {"c": [1, 2], "extra": 3}, "z": 9})
    assert not same_content(sent, {"a": 2, "b": {"c": [1, 2]}})
    assert not same_content(sent, {"a": 1, "b": {"c": [1]}})


def test_scopes() -> None:
    assert default_scope("https://graph.microsoft.com/beta") == auth.GRAPH_SCOPE
    assert auth.scope_for("https://management.azure.com") == auth.ARM_SCOPE
    assert auth.scope_for("https://graph.microsoft.us/beta/") == "https://graph.microsoft.us/.default"
    assert auth.scope_for("https://management.usgovcloudapi.net") == "https://management.usgovcloudapi.net/.default"
    assert ApiSession("https://microsoftgraph.chinacloudapi.cn/beta", None).scope == (
        "https://microsoftgraph.chinacloudapi.cn/.default"
    )


# --------------------------------------------------------------------------------------------
# Credentials
# --------------------------------------------------------------------------------------------


def _github_endpoint(server: Server) -> list[str]:
    """A fake GitHub Actions OIDC token endpoint: a new JWT-ish value on every call."""
    issued: list[str] = []

    def act(handler: BaseHTTPRequestHandler) -> None:
        query = parse_qs(urlsplit(handler.path).query)
        ok = (
            handler.headers.get("Authorization") == "bearer gh-request-token"
            and query.get("audience") == ["api://AzureADTokenExchange"]
            and query.get("api-version") == ["2.0"]
        )
        if not ok:
            reply(401, {"message": "bad request"})(handler)
            return
        issued.append(f"gh-oidc-jwt-{len(issued) + 1}")
        reply(200, {"count": len(issued), "value": issued[-1]})(handler)

    server.on("GET", "/_apis/token", act)
    return issued


def test_oidc_assertion_fetches_a_fresh_token_per_call(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    issued = _github_endpoint(server)
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", f"{server.base}/_apis/token?api-version=2.0")
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "gh-request-token")
    monkeypatch.setenv("AZURE_CLIENT_ID", "00000000-0000-0000-0000-00000000c11e")
    monkeypatch.delenv("DAC_ACCESS_TOKEN", raising=False)
    made: list[tuple[str, str, Callable[[], str]]] = []

    class Recorder:
        def __init__(self, tenant_id: str, client_id: str, func: Callable[[], str], **kwargs: Any) -> None:
            made.append((tenant_id, client_id, func))

    monkeypatch.setattr(azure.identity, "ClientAssertionCredential", Recorder)
    credential = auth.credential_for("tenant-1", None)
    assert isinstance(credential, Recorder)
    tenant, client, func = made[0]
    assert (tenant, client) == ("tenant-1", "00000000-0000-0000-0000-00000000c11e")
    assert server.seen == []  # nothing fetched until azure-identity asks for an assertion
    assert func() == "gh-oidc-jwt-1"
    assert func() == "gh-oidc-jwt-2"  # fresh each time, not cached
    assert issued == ["gh-oidc-jwt-1", "gh-oidc-jwt-2"] and len(server.seen) == 2


def test_oidc_real_credential_type_and_errors(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DAC_ACCESS_TOKEN", raising=False)
    env = {
        "ACTIONS_ID_TOKEN_REQUEST_URL": f"{server.base}/_apis/token?api-version=2.0",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "gh-request-token",
    }
    credential = auth.credential_for("tenant-1", "client-1", environ=env)
    assert isinstance(credential, azure.identity.ClientAssertionCredential)
    with pytest.raises(ValueError, match="tenant"):
        auth.credential_for(None, "client-1", environ=env)
    # No client id anywhere: not federation.
    assert isinstance(auth.credential_for("tenant-1", None, environ=env), azure.identity.DefaultAzureCredential)
    # GitHub refuses: a clear error that does not quote the request token.
    server.on("GET", "/_apis/token", reply(403, {"message": "no id-token permission"}))
    with pytest.raises(auth.OidcTokenError) as info:
        auth.github_oidc_token(env["ACTIONS_ID_TOKEN_REQUEST_URL"], "gh-request-token", sleep=lambda s: None)
    assert "HTTP 403" in str(info.value) and "gh-request-token" not in str(info.value)


def test_static_token_and_default_credential(monkeypatch: pytest.MonkeyPatch) -> None:
    credential = auth.credential_for("t", None, environ={"DAC_ACCESS_TOKEN": PLAIN_TOKEN})
    assert isinstance(credential, auth.StaticTokenCredential)
    token = credential.get_token(auth.GRAPH_SCOPE)
    assert token.token == PLAIN_TOKEN and token.expires_on > time.time()
    assert PLAIN_TOKEN not in repr(credential)
    assert isinstance(auth.credential_for("t", None, environ={}), azure.identity.DefaultAzureCredential)
    assert isinstance(auth.credential_for(None, "c", environ={}), azure.identity.DefaultAzureCredential)
