"""Queries on a tenant's own data: Advanced Hunting (Defender XDR) and Log Analytics (Sentinel).

Shared by `dac backtest` and `dac schemas pull`. Public names:

- `QueryResult`: what a query returned: `columns` (name, type) and `rows` (lists of values, in
  column order), `table` (the service's name for it), `rows_as_dicts()`.
- `TenantQueryError`: a query that failed for good (after retries): `status` (None when no answer
  came back), `code`, `message` (scrubbed of tokens), `service`.
- `MissingExtra`: the `backtest` extra (azure-monitor-query) is not installed; its message says
  how to install it.
- `TenantQueryClient`: the protocol both clients follow: `query(text, timespan) -> QueryResult`,
  `service` (a name for messages), `close()`.
- `HuntingClient` (hunting.py): Microsoft Graph `POST /security/runHuntingQuery`, body
  `{"Query", "Timespan"}`, answer `huntingQueryResults` (`schema[]`, `results[]`); permission
  `ThreatHunting.Read.All`. Built on the deployer's `ApiSession` (retries on 429/5xx and dropped
  connections honouring `Retry-After`, timeouts, redaction).
- `LogAnalyticsClient` (loganalytics.py): azure-monitor-query's `LogsQueryClient.query_resource`
  on the workspace's ARM resource id (`POST {endpoint}/v1/{resourceId}/query`, body
  `{"query", "timespan"}`); role Log Analytics Reader. `endpoint` is the target's
  `api.loganalytics`.
- `query_client_for(target, credential=None, **options)` (connect.py): the client for a target from
  dac.yml, signed in like the deployer (`deploy.auth.credential_for`).
- `timespan_iso(delta)`: a timedelta as an ISO 8601 duration (`P7D`, `PT1H30M`).
"""

from __future__ import annotations

from .results import MissingExtra, QueryResult, TenantQueryClient, TenantQueryError, timespan_iso

__all__ = ["MissingExtra", "QueryResult", "TenantQueryClient", "TenantQueryError", "timespan_iso"]
