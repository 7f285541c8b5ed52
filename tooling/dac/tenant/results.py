"""What the tenant query clients return and raise, whichever service answered."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from ..redaction import redact


@dataclass
class QueryResult:
    """One table of results: columns as (name, type) in order, rows as lists in column order."""

    columns: list[tuple[str, str]]
    rows: list[list[Any]] = field(default_factory=list)
    table: str = "PrimaryResult"

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.columns]

    def rows_as_dicts(self) -> list[dict[str, Any]]:
        names = self.names
        return [dict(zip(names, row, strict=False)) for row in self.rows]


class TenantQueryError(Exception):
    """A query the service refused or did not answer (after retries). The message never holds a token."""

    def __init__(self, service: str, message: str, *, status: int | None = None, code: str | None = None) -> None:
        self.service = service
        self.status = status
        self.code = code
        self.message = redact(message)
        what = f"HTTP {status}" if status is not None else "no answer"
        detail = ": ".join(part for part in (code, self.message) if part)
        super().__init__(redact(f"{service} query failed ({what})" + (f": {detail}" if detail else "")))


class MissingExtra(Exception):
    """An optional dependency is not installed; the message says which extra brings it."""


class TenantQueryClient(Protocol):
    """A service that runs a KQL query on the tenant's data over a time span."""

    service: str

    def query(self, text: str, timespan: timedelta) -> QueryResult: ...

    def close(self) -> None: ...


def timespan_iso(delta: timedelta) -> str:
    """ISO 8601 duration of a positive timedelta: P7D, PT1H, P1DT12H, PT90S (whole seconds)."""
    seconds = int(delta.total_seconds())
    if seconds <= 0:
        raise ValueError("a time span must be positive")
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    time = "".join(f"{value}{unit}" for value, unit in ((hours, "H"), (minutes, "M"), (secs, "S")) if value)
    return "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "")
