"""The Kusto engine: a test's query run on Azure Data Explorer or Microsoft's Kusto emulator container
through azure-kusto-data (the `kusto` extra), with nothing ingested.

Each run sends one query (kusto_query.compose: the test's data as datatable lets in front of the query)
with the request properties `query_now` (the test's `now`, which pins now() and ago()) and
`servertimeout` (the run's time limit). The answer becomes the emulator's QueryResult (kusto_results).
What the service refuses, and a service that cannot be reached, is an EngineError (DAC710) with the
service's own message: never a traceback, never a token.
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..redaction import redact
from .base import SERVICE_ERROR, EngineError, EngineSettings
from .kusto_query import compose
from .kusto_results import ResultFormatError, query_result
from .literals import datetime_text

if TYPE_CHECKING:
    from ..emulator.engine import QueryLimits, QueryResult
    from ..kql.binder import Environment

_CLIENTS: dict[EngineSettings, Any] = {}  # one client (and sign-in) per process and cluster
_LOCK = threading.Lock()


class KustoEngine:
    def __init__(
        self,
        environment: Environment,
        *,
        now: dt.datetime | None,
        externaldata: dict[str, Path],
        limits: QueryLimits,
        settings: EngineSettings,
    ) -> None:
        self.environment = environment
        self.now = now
        self.externaldata = dict(externaldata)
        self.limits = limits
        self.settings = settings
        self.tables: dict[str, list[dict[str, Any]]] = {}

    def load_table(self, name: str, rows: list[dict[str, Any]]) -> None:
        self.tables[name] = rows

    def query_text(self, query_text: str) -> str:
        """What `run` sends for `query_text`."""
        return compose(query_text, self.environment, self.tables, self.externaldata)

    def run(self, query_text: str) -> QueryResult:
        from azure.kusto.data import ClientRequestProperties

        text = self.query_text(query_text)
        properties = ClientRequestProperties()
        if self.now is not None:
            properties.set_option("query_now", datetime_text(self.now))
        properties.set_option(ClientRequestProperties.request_timeout_option_name,
                              dt.timedelta(seconds=self.limits.timeout))  # fmt: skip
        try:
            response = client_for(self.settings).execute_query(self.settings.database, text, properties)
            tables = response.primary_results
            if not tables:
                raise EngineError(SERVICE_ERROR, "the Kusto engine answered without a result table")
            table = tables[0]
            columns = [(column.column_name, column.column_type) for column in table.columns]
            if len(table.raw_rows) > self.limits.max_rows:
                raise EngineError("EMU010", f"the query returned more than {self.limits.max_rows:,} rows")
            return query_result(columns, table.raw_rows)
        except EngineError:
            raise
        except ResultFormatError as exc:
            raise EngineError(SERVICE_ERROR, f"the Kusto engine's answer does not read: {exc}") from None
        except Exception as exc:  # the service's and the network's errors, whatever library raised them
            raise EngineError(SERVICE_ERROR, service_message(self.settings, exc)) from None

    def close(self) -> None:
        """Nothing to free per run: the client stays for the process's next run."""


def client_for(settings: EngineSettings) -> Any:
    """The process's client for these settings, made (and signed in lazily) on first use."""
    with _LOCK:
        client = _CLIENTS.get(settings)
        if client is None:
            from azure.kusto.data import KustoClient, KustoConnectionStringBuilder

            cluster = settings.cluster or ""
            if settings.auth == "none":
                builder = KustoConnectionStringBuilder.with_no_authentication(cluster)
            else:
                from ..deploy.auth import credential_for

                credential = credential_for(settings.tenant_id, settings.client_id)
                builder = KustoConnectionStringBuilder.with_azure_token_credential(cluster, credential)
            client = _CLIENTS[settings] = KustoClient(builder)
        return client


def service_message(settings: EngineSettings, exc: BaseException) -> str:
    """One line on what went wrong, in the service's words where it gave some; secrets masked."""
    detail = ""
    api_error = getattr(exc, "error", None) or next(iter(getattr(exc, "errors", None) or []), None)
    if api_error is not None:
        detail = getattr(api_error, "description", None) or getattr(api_error, "message", None) or ""
    if not detail:
        detail = getattr(exc, "message_text", None) or str(exc) or type(exc).__name__
    status = getattr(getattr(exc, "http_response", None), "status_code", None)
    where = f"{settings.cluster} (database {settings.database})"
    prefix = f"the Kusto engine at {where} refused the query" if status else f"the Kusto engine at {where} failed"
    code = f" (HTTP {status})" if status else ""
    text = " ".join(str(detail).split())
    if len(text) > 500:
        text = text[:500] + "..."
    return redact(f"{prefix}{code}: {type(exc).__name__}: {text}")
