"""Advanced Hunting through Microsoft Graph: `POST {graph}/security/runHuntingQuery`.

Request body `{"Query": <KQL>, "Timespan": <ISO 8601>}`; the answer is a `huntingQueryResults`:
`schema` (a list of `{name, type}`; older answers spell them `Name`, `Type`) and `results` (one
object per row, keyed by column name). Permission `ThreatHunting.Read.All`. The service's limits:
data of the last 30 days, 100,000 rows and about 124 MB per answer, a quota of calls and CPU per
tenant answered with 429 and `Retry-After` (the session waits and retries).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ..deploy.http import ApiError, ApiSession
from .results import QueryResult, TenantQueryError, timespan_iso

HUNTING_PATH = "security/runHuntingQuery"
MAX_DAYS = 30  # Advanced Hunting keeps 30 days of data
MAX_ROWS = 100_000


class HuntingClient:
    """Runs KQL in the tenant's Advanced Hunting; `session` is an ApiSession on the Graph base URL."""

    service = "Advanced Hunting"

    def __init__(self, session: ApiSession) -> None:
        self.session = session

    def query(self, text: str, timespan: timedelta) -> QueryResult:
        body = {"Query": text, "Timespan": timespan_iso(timespan)}
        try:
            _status, answer = self.session.json("POST", HUNTING_PATH, json=body)
        except ApiError as exc:
            raise TenantQueryError(self.service, exc.message or str(exc), status=exc.status, code=exc.code) from exc
        return hunting_result(answer)

    def close(self) -> None:
        self.session.close()


def hunting_result(answer: Any) -> QueryResult:
    """A huntingQueryResults object as a QueryResult (columns in the schema's order)."""
    if not isinstance(answer, dict) or not isinstance(answer.get("schema"), list):
        raise TenantQueryError(HuntingClient.service, "the answer is not a huntingQueryResults object", status=200)
    columns = []
    for item in answer["schema"]:
        if isinstance(item, dict):  # the documentation shows both `name` and `Name`
            name = item.get("name", item.get("Name"))
            kind = item.get("type", item.get("Type"))
            columns.append((str(name), str(kind or "")))
    names = [name for name, _ in columns]
    rows = [[row.get(name) for name in names] for row in answer.get("results") or [] if isinstance(row, dict)]
    return QueryResult(columns, rows, table="results")
