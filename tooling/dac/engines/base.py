"""What every query engine offers the test runner and `dac kql run`, and how one is chosen.

An engine is made per test run by an EngineFactory from the dialect's tables, the pinned `now`, the
test's externaldata files and the limits; it takes the test's rows per table (`load_table`), runs one
query (`run`) and answers with a QueryResult: `.columns` [(name, KQL type)], `.rows` of Python values
per KQL type as the emulator gives them (str never None, int, float, bool, naive UTC datetime,
timedelta, dynamic as decoded JSON, guid as str). The embedded emulator is the default; the Kusto
engine (kusto.py) runs the same on Azure Data Explorer or Microsoft's Kusto emulator container.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..emulator.engine import QueryLimits
    from ..kql.binder import Environment

EMULATOR, KUSTO = "emulator", "kusto"
ENGINES = (EMULATOR, KUSTO)

# A test run the Kusto engine could not carry out: the service refused the query, or could not be reached.
SERVICE_ERROR = "DAC710"
# Test data only the platform has (file profiles, Azure Resource Graph) that the Kusto engine cannot supply.
NO_PLATFORM_DATA = "DAC711"


class Engine(Protocol):
    def load_table(self, name: str, rows: list[dict[str, Any]]) -> None: ...
    def run(self, query_text: str) -> Any: ...  # QueryResult: .columns [(name, type)], .rows [[value]]


class EngineFactory(Protocol):
    def __call__(
        self, environment: Environment, *, now: dt.datetime | None, externaldata: dict[str, Path], limits: QueryLimits
    ) -> Engine: ...


class EngineError(Exception):
    """An engine other than the emulator could not run the query. `offset`: where in the query text that ran
    the problem is, when known; None places it at the test."""

    def __init__(self, code: str, message: str, offset: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.offset = offset


class EngineUnavailable(Exception):
    """The engine asked for cannot be used here (its extra is not installed, no cluster is given): a usage
    error, exit code 2."""


@dataclass(frozen=True)
class EngineSettings:
    """Which engine runs the queries, and for Kusto where and how to sign in. Small and picklable: a
    `dac test --jobs` worker builds its own engine from it."""

    name: str = EMULATOR
    cluster: str | None = None
    database: str | None = None
    auth: str = "azure"  # azure | none
    tenant_id: str | None = None
    client_id: str | None = None

    @property
    def is_emulator(self) -> bool:
        return self.name == EMULATOR


Factory = Callable[..., Engine]
