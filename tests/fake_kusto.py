"""A local fake of the Kusto REST query endpoint, for tests that go through azure-kusto-data.

`FakeKusto` is a real HTTP/1.1 server (standard library `ThreadingHTTPServer`) on 127.0.0.1 with an
ephemeral port. It implements what the Kusto engine uses of the protocol as Microsoft documents it
("Query V2 HTTP response"): `POST /v2/rest/query` with the JSON body `{"db", "csl", "properties"}`
(`properties` the client request properties, `{"Options": {...}, "Parameters": {...}}`, as an object or
as its JSON text), answered by a JSON array of frames: DataSetHeader, the DataTables QueryProperties,
PrimaryResult and QueryCompletionInformation, and DataSetCompletion. Column types carry Kusto's names
(string, long, int, real, bool, datetime, timespan, dynamic, guid, decimal); values are JSON as Kusto
writes them (datetimes in ISO 8601 with seven fractional digits, timespans as [-][d.]hh:mm:ss.fffffff,
NaN and infinities of reals as strings, dynamic values as JSON).

    with FakeKusto() as kusto:                        # kusto.url: http://127.0.0.1:<port>
        kusto.answer([("n", "long")], [[1]])           # every query gets this result
        kusto.use_emulator()                           # or: run the received text on dac's emulator
        kusto.fail_next(400, "General_BadRequest", "Semantic error: ...")   # as Kusto reports errors
        kusto.queries                                   # every query received: db, text, options

In the emulator mode (the "protocol round trip") the received query text runs on dac's own emulator with
`now` the received `query_now`; an emulator error is answered as Kusto answers a bad query (HTTP 400,
OneApiErrors). Nothing is authenticated: the fake stands for the Kusto emulator container (no auth).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

QUERY_PATH = "/v2/rest/query"
METADATA_PATH = "/v1/rest/auth/metadata"  # where a client signing in reads the cluster's Entra settings
METADATA = {
    "AzureAD": {
        "LoginEndpoint": "https://login.microsoftonline.com",
        "LoginMfaRequired": False,
        "KustoClientAppId": "db662dc1-0cfe-4e1c-a843-19a68e65be58",
        "KustoClientRedirectUri": "https://microsoft/kustoclient",
        "KustoServiceResourceId": "https://kusto.kusto.windows.net",
        "FirstPartyAuthorityUrl": "https://login.microsoftonline.com/f8cdef31-a31e-4b4a-93e4-5f571e91255a",
    }
}


@dataclass
class ReceivedQuery:
    """One query as the server received it (of the headers only Authorization, for tests of sign-in)."""

    database: str
    text: str
    options: dict[str, Any]
    parameters: dict[str, Any] = field(default_factory=dict)
    authorization: str | None = None


@dataclass
class _Failure:
    status: int
    code: str
    message: str


class FakeKusto:
    def __init__(self) -> None:
        self.queries: list[ReceivedQuery] = []
        self._columns: list[tuple[str, str]] = [("Column1", "long")]
        self._rows: list[list[Any]] = []
        self._emulator = False
        self._failures: list[_Failure] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-kusto", daemon=True)

    # ----------------------------------------------------------------- control
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def answer(self, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]) -> None:
        """Every query from now on gets this primary result: (name, Kusto type) columns and rows of Python
        values (datetime, timedelta, dict/list, ... written as Kusto writes them)."""
        with self._lock:
            self._columns, self._rows, self._emulator = list(columns), [list(row) for row in rows], False

    def use_emulator(self) -> None:
        """Answer each query by running its text on dac's emulator, `now` the received query_now."""
        with self._lock:
            self._emulator = True

    def fail_next(self, status: int = 400, code: str = "General_BadRequest", message: str = "bad request") -> None:
        """The next query is answered with this error, as Kusto's OneApiErrors document."""
        with self._lock:
            self._failures.append(_Failure(status, code, message))

    # ----------------------------------------------------------------- serving
    def __enter__(self) -> FakeKusto:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def respond(self, body: dict[str, Any], authorization: str | None = None) -> tuple[int, Any]:
        """(HTTP status, JSON body) for one request body."""
        properties = body.get("properties") or {}
        if isinstance(properties, str):
            properties = json.loads(properties)
        options, parameters = properties.get("Options") or {}, properties.get("Parameters") or {}
        received = ReceivedQuery(str(body.get("db", "")), str(body.get("csl", "")), dict(options), dict(parameters),
                                 authorization)  # fmt: skip
        with self._lock:
            self.queries.append(received)
            failure = self._failures.pop(0) if self._failures else None
            emulator, columns, rows = self._emulator, self._columns, self._rows
        if failure is not None:
            return failure.status, one_api_error(failure.code, failure.message)
        if emulator:
            try:
                columns, rows = run_on_emulator(received)
            except EmulatorFailure as exc:
                return 400, one_api_error("General_BadRequest", f"Semantic error: {exc}")
        return 200, frames(columns, rows)


class EmulatorFailure(Exception):
    pass


def run_on_emulator(received: ReceivedQuery) -> tuple[list[tuple[str, str]], list[list[Any]]]:
    """The received text's result on dac's emulator, `now` pinned to query_now (no tables but the query's)."""
    from dac.emulator import Emulator, EmulatorError
    from dac.emulator.fixtures import parse_datetime
    from dac.kql.binder import Environment

    now_text = received.options.get("query_now")
    now = parse_datetime(str(now_text)) if now_text else None
    emulator = Emulator(Environment("defender", {}), now=now)
    try:
        result = emulator.run(received.text)
    except EmulatorError as exc:
        raise EmulatorFailure(f"{exc.code}: {exc.message}") from None
    finally:
        emulator.close()
    return list(result.columns), [list(row) for row in result.rows]


# --------------------------------------------------------------------------------------- the protocol


def one_api_error(code: str, message: str) -> dict[str, Any]:
    """The body of a failed request (OneApiErrors): what azure-kusto-data reads into a KustoApiError."""
    return {
        "error": {
            "code": code,
            "message": "Request is invalid and cannot be executed.",
            "@type": "Kusto.Data.Exceptions.KustoBadRequestException",
            "@message": message,
            "@context": {
                "timestamp": _iso(dt.datetime.now(dt.UTC).replace(tzinfo=None)),
                "activityId": str(uuid.uuid4()),
            },
            "@permanent": True,
        }
    }


def frames(columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    """A v2 response: the frames of a query with one primary result."""
    kinds = [kind for _, kind in columns]
    completion_columns = [
        ("Timestamp", "datetime"), ("ClientRequestId", "string"), ("ActivityId", "guid"), ("SubActivityId", "guid"),
        ("ParentActivityId", "guid"), ("Level", "int"), ("LevelName", "string"), ("StatusCode", "int"),
        ("StatusCodeName", "string"), ("EventType", "int"), ("EventTypeName", "string"), ("Payload", "string"),
    ]  # fmt: skip
    now = _iso(dt.datetime.now(dt.UTC).replace(tzinfo=None))
    activity = str(uuid.uuid4())
    completion = [[now, "", activity, activity, activity, 4, "Info", 0, "S_OK (0)", 4, "QueryInfo",
                   json.dumps({"Count": 1, "Text": "Query completed successfully"})]]  # fmt: skip
    return [
        {
            "FrameType": "DataSetHeader",
            "IsProgressive": False,
            "Version": "v2.0",
            "IsFragmented": False,
            "ErrorReportingPlacement": "InData",
        },
        _table(
            0,
            "QueryProperties",
            "@ExtendedProperties",
            [("TableId", "int"), ("Key", "string"), ("Value", "dynamic")],
            [[1, "Visualization", {"Visualization": None}]],
        ),
        _table(
            1,
            "PrimaryResult",
            "PrimaryResult",
            columns,
            [[encode(value, kind) for value, kind in zip(row, kinds, strict=True)] for row in rows],
        ),
        _table(2, "QueryCompletionInformation", "QueryCompletionInformation", completion_columns, completion),
        {"FrameType": "DataSetCompletion", "HasErrors": False, "Cancelled": False},
    ]


def _table(number: int, kind: str, name: str, columns: Sequence[tuple[str, str]], rows: list[list[Any]]) -> dict:
    return {
        "FrameType": "DataTable", "TableId": number, "TableKind": kind, "TableName": name,
        "Columns": [{"ColumnName": column, "ColumnType": kind_} for column, kind_ in columns], "Rows": rows,
    }  # fmt: skip


def encode(value: Any, kind: str) -> Any:
    """A Python value of a column of `kind` as Kusto writes it in JSON."""
    if value is None:
        return None
    if kind == "datetime":
        return _iso(value)
    if kind == "timespan":
        total = abs(value)
        clock = f"{total.seconds // 3600:02d}:{total.seconds % 3600 // 60:02d}:{total.seconds % 60:02d}"
        text = (f"{total.days}." if total.days else "") + clock + f".{total.microseconds:06d}0"
        return ("-" if value < dt.timedelta(0) else "") + text
    if kind in ("real", "double") and isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if kind == "decimal" or isinstance(value, Decimal):
        return str(value)
    if kind == "guid":
        return str(value)
    return value


def _iso(value: dt.datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return f"{value:%Y-%m-%dT%H:%M:%S}.{value.microsecond:06d}{getattr(value, 'extra_ticks', 0)}Z"


def _handler(fake: FakeKusto) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def do_GET(self) -> None:
            if self.path.split("?")[0] == METADATA_PATH:
                self._send(200, METADATA)
            else:
                self._send(404, one_api_error("General_NotFound", f"no endpoint {self.path}"))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.path.split("?")[0] != QUERY_PATH:
                self._send(404, one_api_error("General_NotFound", f"no endpoint {self.path}"))
                return
            try:
                body = json.loads(raw)
            except ValueError:
                self._send(400, one_api_error("General_BadRequest", "the request body is not JSON"))
                return
            status, answer = fake.respond(body, self.headers.get("Authorization"))
            self._send(status, answer)

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body, allow_nan=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-ms-activity-id", str(uuid.uuid4()))
            self.send_header("x-ms-client-request-id", self.headers.get("x-ms-client-request-id", ""))
            self.end_headers()
            self.wfile.write(data)

    return Handler
