"""Log Analytics through azure-monitor-query's `LogsQueryClient` (the `backtest` extra).

The workspace is addressed by its ARM resource id (`query_resource`: `POST {endpoint}/v1/{resource
id}/query`, body `{"query", "timespan"}`), so a Sentinel target's subscription, resource group and
workspace name suffice; no workspace GUID is needed. Role: Log Analytics Reader on the workspace.
The answer's `tables[0]` (`PrimaryResult`) becomes the QueryResult; a partial answer (`PartialError`:
a limit hit, such as 500,000 rows or 64 MB) is an error, as its counts would be wrong.

azure-core's pipeline retries (429 with `Retry-After`, 5xx, dropped connections: the query is a POST,
so POST is named as retryable: it reads only). Its sleeps go through `sleep`, replaceable in tests.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from ..deploy.http import TokenCredential
from ..redaction import register_secret
from .results import MissingExtra, QueryResult, TenantQueryError

INSTALL_HINT = (
    "querying Log Analytics needs azure-monitor-query, in dac's `backtest` extra: "
    "pip install 'dac[backtest]' (or pip install azure-monitor-query)"
)
DEFAULT_ENDPOINT = "https://api.loganalytics.io"
MAX_ROWS = 500_000
log = logging.getLogger("dac.tenant")
RETRY_METHODS = frozenset({"HEAD", "GET", "PUT", "DELETE", "OPTIONS", "TRACE", "POST"})


def _quiet_azure_logging() -> None:
    # azure-core logs request headers at INFO (the Authorization header redacted, still noise): dac's own
    # -v/-vv logging is the only request log.
    for name in ("azure.core.pipeline.policies.http_logging_policy", "azure.identity", "azure.monitor.query"):
        logging.getLogger(name).setLevel(logging.WARNING)


class _MaskedCredential:
    """The credential, with every token it hands out registered for redaction (as ApiSession does)."""

    def __init__(self, credential: TokenCredential) -> None:
        self._credential = credential

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        token = self._credential.get_token(*scopes, **kwargs)
        register_secret(token.token)
        return token

    def __repr__(self) -> str:
        return "MaskedCredential(<credential>)"


class LogAnalyticsClient:
    """Runs KQL on a Log Analytics workspace by its ARM resource id."""

    service = "Log Analytics"

    def __init__(
        self,
        resource_id: str,
        credential: TokenCredential,
        endpoint: str = DEFAULT_ENDPOINT,
        *,
        server_timeout: int = 600,
        retry_total: int = 5,
        sleep: Callable[[float], None] = time.sleep,
        connection_timeout: float = 10.0,
        read_timeout: float = 660.0,
    ) -> None:
        try:
            from azure.core.pipeline.transport import RequestsTransport
            from azure.monitor.query import LogsQueryClient
        except ImportError as exc:
            raise MissingExtra(INSTALL_HINT) from exc
        _quiet_azure_logging()

        class _Transport(RequestsTransport):  # the pipeline's waits, through the injectable sleep
            def sleep(self, duration: float) -> None:
                log.info("Log Analytics: retrying in %.1fs", duration)
                sleep(duration)

        self.resource_id = resource_id
        self.endpoint = endpoint.rstrip("/")
        self.server_timeout = server_timeout
        self.retry_total = retry_total
        self.client = LogsQueryClient(
            _MaskedCredential(credential),
            endpoint=self.endpoint,
            transport=_Transport(connection_timeout=connection_timeout, read_timeout=read_timeout),
            retry_total=retry_total,
            retry_backoff_factor=0.8,
        )
        # Bearer tokens go over TLS only, except to a local test server.
        self._https = urlsplit(self.endpoint).scheme == "https"

    def query(self, text: str, timespan: timedelta) -> QueryResult:
        from azure.core.exceptions import AzureError, HttpResponseError
        from azure.monitor.query import LogsQueryStatus

        options: dict[str, Any] = {"retry_on_methods": RETRY_METHODS}
        if not self._https:
            options["enforce_https"] = False
        started = time.monotonic()
        try:
            answer = self.client.query_resource(
                self.resource_id, text, timespan=timespan, server_timeout=self.server_timeout, **options
            )
        except HttpResponseError as exc:
            code, message = _error_of(exc)
            raise TenantQueryError(self.service, message, status=exc.status_code, code=code) from exc
        except AzureError as exc:  # no answer: connection refused or dropped after the retries
            raise TenantQueryError(self.service, f"{type(exc).__name__}: {exc.message}") from exc
        finally:
            log.debug("POST /v1%s/query in %.3fs", self.resource_id, time.monotonic() - started)
        if answer.status != LogsQueryStatus.SUCCESS:
            error = answer.partial_error
            detail = getattr(error, "message", None) or "the service returned part of the result"
            raise TenantQueryError(self.service, f"partial result: {detail}", status=200,
                                   code=getattr(error, "code", None) or "PartialError")  # fmt: skip
        if not answer.tables:
            return QueryResult([], [])
        table = answer.tables[0]
        columns = list(zip(table.columns, table.columns_types, strict=False))
        # LogsTableRow turns datetimes into datetime objects; the raw values keep one form per service
        return QueryResult(columns, [list(row) for row in table.rows], table=table.name)

    def close(self) -> None:
        self.client.close()


def _error_of(exc: Any) -> tuple[str | None, str]:
    """The service's code and message of a Log Analytics error answer, with its innermost detail
    (`innererror` says what was wrong with the query)."""
    error = getattr(exc, "error", None)  # azure-core's reading of {"error": {...}}
    code = getattr(error, "code", None)
    message = getattr(error, "message", None) or exc.reason or "request failed"
    inner, detail = getattr(error, "innererror", None), None
    while isinstance(inner, dict):
        detail = inner.get("message") or detail
        inner = inner.get("innererror")
    if detail and detail != message:
        message = f"{message}: {detail}"
    return (str(code) if code else None), str(message)
