"""One HTTP session per API target (Microsoft Graph, Azure Resource Manager).

`ApiSession` wraps a `requests.Session` with a base URL and an azure-core `TokenCredential`:
- a bearer token is asked of the credential for every request (credentials cache and refresh
  internally), and is only ever put in the request's own headers, never in the session's;
- connect/read timeouts;
- retries with exponential back-off and jitter on 429/500/502/503/504, dropped connections and
  read timeouts, honouring `Retry-After` (seconds or HTTP date), with a cap per wait, a cap on the
  total time spent waiting and a maximum number of attempts; `sleep` is injectable for tests;
- writes are retried as well, and `ApiError.maybe_applied` tells the caller when a write may have
  reached the service although no answer came back (the caller then reads the resource to check);
- paging over `@odata.nextLink` (Graph) / `nextLink` (ARM), collecting `value`.

Errors carry the service's `{"error": {"code", "message"}}`, the request id, the method and the URL
path. Nothing built here contains the Authorization header: every message goes through `redact`,
which also masks anything shaped like a bearer token or a JWT, and the token actually sent.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC
from typing import Any, NamedTuple, Protocol
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter

from ..redaction import redact, register_secret

log = logging.getLogger("dac.deploy")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Headers that carry the service's request id, in order of preference (ARM first, then Graph).
REQUEST_ID_HEADERS = ("x-ms-request-id", "request-id", "x-ms-correlation-request-id", "client-request-id")
MAX_PAGES = 10_000  # a guard against a service that keeps returning the same nextLink


class AccessToken(NamedTuple):
    """Same shape as azure.core.credentials.AccessToken (which is also a (token, expires_on) tuple)."""

    token: str
    expires_on: int


class TokenCredential(Protocol):
    """The part of azure-core's TokenCredential protocol that dac uses."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:  # -> AccessToken-like (token, expires_on)
        ...


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class ApiError(Exception):
    """A request that failed for good (after any retries).

    `status` is None when no HTTP answer came back (connection error, timeout); `maybe_applied`
    is True for a write that may have taken effect anyway (its answer was lost, or the service
    failed with a 5xx after possibly applying it), so the caller should read the resource back.
    """

    def __init__(
        self,
        *,
        method: str,
        path: str,
        status: int | None,
        code: str | None = None,
        message: str | None = None,
        request_id: str | None = None,
        attempts: int = 1,
        maybe_applied: bool = False,
    ) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.code = code
        self.message = redact(message) if message else message
        self.request_id = request_id
        self.attempts = attempts
        self.maybe_applied = maybe_applied
        super().__init__(self._text())

    def _text(self) -> str:
        what = f"HTTP {self.status}" if self.status is not None else "no response"
        detail = ": ".join(part for part in (self.code, self.message) if part)
        text = f"{self.method} {self.path} failed: {what}" + (f" {detail}" if detail else "")
        extras = []
        if self.request_id:
            extras.append(f"request id {self.request_id}")
        if self.attempts > 1:
            extras.append(f"after {self.attempts} attempts")
        if self.maybe_applied:
            extras.append("the write may have been applied")
        if extras:
            text += f" ({', '.join(extras)})"
        return redact(text)

    @property
    def not_found(self) -> bool:
        return self.status == 404

    def worth_reading_back(self, *, create: bool) -> bool:
        """Whether the failed write may have been applied anyway, so reading the rule back can tell.
        Creates also: the services answer 400 or 409 for some creates they carried out."""
        if self.maybe_applied or self.status is None or self.status >= 500:
            return True
        return create and self.status in (400, 409)


def _error_detail(response: requests.Response) -> tuple[str | None, str | None]:
    """The service's error code and message (Graph and ARM: {"error": {"code", "message"}})."""
    try:
        payload = response.json()
    except ValueError:
        text = (response.text or "").strip()
        return None, (text[:500] or response.reason or None)
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict):
            code, message = error.get("code"), error.get("message")
            return (str(code) if code is not None else None), (str(message) if message is not None else None)
        if isinstance(error, str):  # OAuth-style {"error": "invalid_token", "error_description": ...}
            return error, payload.get("error_description")
    return None, str(payload)[:500]


def _request_id(response: requests.Response) -> str | None:
    for name in REQUEST_ID_HEADERS:
        value = response.headers.get(name)
        if value:
            return value
    return None


def _never_sent(exc: requests.RequestException) -> bool:
    """Whether the request certainly did not reach the server (the connection was never made)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    name = type(reason).__name__
    return name in ("NewConnectionError", "ConnectTimeoutError", "NameResolutionError")


# --------------------------------------------------------------------------------------------
# Retry-After
# --------------------------------------------------------------------------------------------


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date; None if absent/invalid."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


# --------------------------------------------------------------------------------------------
# Session
# --------------------------------------------------------------------------------------------


def default_scope(base_url: str) -> str:
    """`<scheme>://<host>/.default`: the token scope for an API at that base URL (works for sovereign clouds)."""
    parts = urlsplit(base_url)
    if not parts.scheme or not parts.netloc:
        raise ValueError(f"not an absolute URL: {base_url!r}")
    return f"{parts.scheme}://{parts.netloc}/.default"


class ApiSession:
    """HTTP access to one API (base URL + credential + scope), with retries, paging and clean errors."""

    def __init__(
        self,
        base_url: str,
        credential: TokenCredential | None,
        scope: str | None = None,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        max_attempts: int = 6,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        retry_after_max: float = 120.0,
        total_backoff_max: float = 300.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        session: requests.Session | None = None,
        user_agent: str = "dac-deploy",
        pool_size: int = 16,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.credential = credential
        self.scope = scope or default_scope(self.base_url)
        self.timeout = (connect_timeout, read_timeout)
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.retry_after_max = retry_after_max
        self.total_backoff_max = total_backoff_max
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.http = session or requests.Session()
        # Retries are ours (urllib3 would retry without our logging or Retry-After handling); a
        # larger pool because apply runs requests concurrently on this one session.
        adapter = HTTPAdapter(max_retries=0, pool_connections=4, pool_maxsize=pool_size)
        self.http.mount("https://", adapter)
        self.http.mount("http://", adapter)
        self.http.headers["User-Agent"] = user_agent
        self.http.headers["Accept"] = "application/json"
        self._origin = self._origin_of(self.base_url)
        self._last_token: str | None = None

    # -- context manager --------------------------------------------------------------------

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ApiSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:  # never shows the credential or a token
        return f"ApiSession({self.base_url!r}, scope={self.scope!r})"

    # -- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _origin_of(url: str) -> tuple[str, str]:
        parts = urlsplit(url)
        return parts.scheme.lower(), parts.netloc.lower()

    def url(self, path: str) -> str:
        """Absolute URL for a path below the base URL, or an absolute URL on the same host."""
        if path.startswith(("http://", "https://")):
            # The bearer token goes with the request: never to another host (e.g. a bad nextLink).
            if self._origin_of(path) != self._origin:
                raise ValueError(f"refusing to send a request to another host: {urlsplit(path).netloc}")
            return path
        return self.base_url + "/" + path.lstrip("/")

    def _token(self) -> str | None:
        if self.credential is None:
            return None
        token = self.credential.get_token(self.scope).token
        self._last_token = token
        register_secret(token)  # masked in every later output, not only this client's messages
        return token

    def _backoff(self, attempt: int) -> float:
        """Exponential back-off with jitter: in [d/2, d] for d = base * 2^(attempt-1), capped."""
        delay = min(self.backoff_max, self.backoff_base * (2 ** (attempt - 1)))
        return delay / 2 + self.rng.uniform(0, delay / 2)

    def _redact(self, text: str) -> str:
        return redact(text, (self._last_token,))

    # -- requests ----------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        allow: Iterable[int] = (),
    ) -> requests.Response:
        """Send with retries. Raises ApiError for a final status >= 400 unless it is in `allow`."""
        method = method.upper()
        url = self.url(path)
        shown_path = urlsplit(url).path
        allowed = set(allow)
        write = method not in IDEMPOTENT_METHODS
        maybe_applied = False  # a write attempt that may have reached the service
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            headers: dict[str, str] = {}
            try:
                token = self._token()
            except Exception as exc:
                # Credential failures: no token to hide, but their messages can quote assertions.
                raise ApiError(
                    method=method, path=shown_path, status=None, code="AuthenticationFailed",
                    message=self._redact(f"{type(exc).__name__}: {exc}"),
                ) from exc  # fmt: skip
            if token is not None:
                headers["Authorization"] = f"Bearer {token}"
            started = time.monotonic()
            response: requests.Response | None = None
            failure: requests.RequestException | None = None
            try:
                response = self.http.request(
                    method, url, params=params, json=json, headers=headers, timeout=self.timeout
                )
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
                failure = exc
            elapsed = time.monotonic() - started

            if response is not None:
                log.debug(
                    "%s %s -> %s in %.3fs (attempt %d)", method, shown_path, response.status_code, elapsed, attempt
                )
                status = response.status_code
                if status < 400 or status in allowed:
                    return response
                retryable = status in RETRY_STATUSES
                if write and status >= 500:
                    maybe_applied = True
                delay = parse_retry_after(response.headers.get("Retry-After"))
            else:
                assert failure is not None
                kind = type(failure).__name__
                log.debug("%s %s -> %s in %.3fs (attempt %d)", method, shown_path, kind, elapsed, attempt)
                retryable = True
                if write and not _never_sent(failure):
                    maybe_applied = True
                delay = None

            if retryable and attempt < self.max_attempts:
                wait = min(delay, self.retry_after_max) if delay is not None else self._backoff(attempt)
                if waited + wait <= self.total_backoff_max:
                    what = response.status_code if response is not None else type(failure).__name__
                    log.info("%s %s: %s, retrying in %.1fs (attempt %d)", method, shown_path, what, wait, attempt)
                    waited += wait
                    self.sleep(wait)
                    continue

            if response is not None:
                code, message = _error_detail(response)
                raise ApiError(
                    method=method, path=shown_path, status=response.status_code, code=code,
                    message=self._redact(message) if message else None, request_id=_request_id(response),
                    attempts=attempt, maybe_applied=maybe_applied,
                )  # fmt: skip
            assert failure is not None
            raise ApiError(
                method=method, path=shown_path, status=None, code=type(failure).__name__,
                message=self._redact(str(failure)), attempts=attempt, maybe_applied=maybe_applied,
            ) from failure  # fmt: skip

    def json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        allow: Iterable[int] = (),
    ) -> tuple[int, Any]:
        """(status, parsed JSON body or None when the body is empty or not JSON)."""
        response = self.request(method, path, params=params, json=json, allow=allow)
        if not response.content:
            return response.status_code, None
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, None

    def get(self, path: str, *, params: Mapping[str, str] | None = None) -> Any:
        return self.json("GET", path, params=params)[1]

    def iter_pages(self, path: str, *, params: Mapping[str, str] | None = None) -> Iterator[dict[str, Any]]:
        """Items of `value` over all pages, following `@odata.nextLink` / `nextLink` (absolute URLs
        that already carry the query, so `params` only go with the first request)."""
        next_url: str | None = path
        next_params: Mapping[str, str] | None = params
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            if next_url is None:
                return
            page = self.get(next_url, params=next_params) or {}
            if not isinstance(page, dict):
                raise ApiError(method="GET", path=urlsplit(self.url(next_url)).path, status=200,
                               message="expected a JSON object with 'value'")  # fmt: skip
            yield from page.get("value") or []
            link = page.get("@odata.nextLink") or page.get("nextLink")
            if not link or link in seen:
                return
            seen.add(link)
            next_url, next_params = urljoin(self.url(next_url), link), None
        raise ApiError(method="GET", path=urlsplit(self.url(path)).path, status=200,
                       message=f"more than {MAX_PAGES} pages")  # fmt: skip

    def list_all(self, path: str, *, params: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        return list(self.iter_pages(path, params=params))


# --------------------------------------------------------------------------------------------
# Checking a write whose answer was lost
# --------------------------------------------------------------------------------------------


def same_content(sent: Any, live: Any) -> bool:
    """Whether `live` holds every field of `sent` with the same value (extra live fields are ignored,
    a missing or null live field equals a null or empty sent one). Used after a write whose answer
    was lost, to decide whether the service applied it."""
    if isinstance(sent, dict):
        if live is None:
            return all(_empty(value) for value in sent.values())
        if not isinstance(live, dict):
            return False
        return all(same_content(value, live.get(key)) for key, value in sent.items())
    if isinstance(sent, list):
        if live is None:
            return not sent
        if not isinstance(live, list) or len(live) != len(sent):
            return False
        return all(same_content(a, b) for a, b in zip(sent, live, strict=True))
    if sent is None:
        return _empty(live)
    return bool(sent == live)


def _empty(value: Any) -> bool:
    return value is None or value == [] or value == {}


def restrict(value: Any, spec: Any, keep_null: frozenset[str] = frozenset()) -> Any:
    """`value` cut down to the fields named in `spec`: a dict of field -> sub-spec, `[sub-spec]` for
    a list of such items, or None for a value kept whole. Null fields are dropped (except those in
    `keep_null`), as are OData annotations (`@odata.type`, ...) at any depth."""
    if spec is None:
        return _strip_annotations(value)
    if isinstance(spec, list):
        return [restrict(item, spec[0], keep_null) for item in value] if isinstance(value, list) else value
    if not isinstance(value, dict):
        return value
    result: dict[str, Any] = {}
    for key, sub in spec.items():
        if key not in value:
            continue
        if value[key] is None:
            if key in keep_null:
                result[key] = None
            continue
        result[key] = restrict(value[key], sub, keep_null)
    return result


def _strip_annotations(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_annotations(v) for k, v in value.items() if not k.startswith("@odata.")}
    if isinstance(value, list):
        return [_strip_annotations(item) for item in value]
    return value
