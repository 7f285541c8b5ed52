"""The tenant query clients (dac.tenant) against tests/fake_tenant_query.py, through the real libraries:
requests (dac's ApiSession) for Advanced Hunting, azure-monitor-query for Log Analytics."""

from __future__ import annotations

import sys
from datetime import timedelta

import pytest

from dac.deploy.auth import StaticTokenCredential
from dac.deploy.http import ApiSession
from dac.model.project import Target
from dac.tenant import MissingExtra, QueryResult, TenantQueryError, timespan_iso
from dac.tenant.connect import query_client_for
from dac.tenant.hunting import HuntingClient, hunting_result
from dac.tenant.loganalytics import LogAnalyticsClient
from fake_tenant_query import FakeTenantQuery, Reply, Request

SUB = "00000000-0000-0000-0000-000000000001"
RESOURCE = f"/subscriptions/{SUB}/resourceGroups/rg-sec/providers/Microsoft.OperationalInsights/workspaces/law-sec"
COLUMNS = [("Kind", "string"), ("Key", "string"), ("Value", "long")]


@pytest.fixture
def fake():
    with FakeTenantQuery() as server:
        yield server


def hunting(fake: FakeTenantQuery, waits: list[float] | None = None, token: str = "hunting-token") -> HuntingClient:
    sleep = waits.append if waits is not None else (lambda _s: None)
    return HuntingClient(ApiSession(fake.graph_base, StaticTokenCredential(token), sleep=sleep))


def logs(fake: FakeTenantQuery, waits: list[float] | None = None, token: str = "logs-token") -> LogAnalyticsClient:
    sleep = waits.append if waits is not None else (lambda _s: None)
    return LogAnalyticsClient(RESOURCE, StaticTokenCredential(token), fake.loganalytics_base, sleep=sleep)


def test_timespan_iso():
    assert timespan_iso(timedelta(days=7)) == "P7D"
    assert timespan_iso(timedelta(hours=1, minutes=30)) == "PT1H30M"
    assert timespan_iso(timedelta(days=1, seconds=5)) == "P1DT5S"
    with pytest.raises(ValueError):
        timespan_iso(timedelta(0))


def test_hunting_sends_query_and_timespan_and_reads_the_schema_order(fake):
    fake.answer("DeviceEvents", COLUMNS, [["total", "", 3], ["day", "2025-01-01", 2]])
    result = hunting(fake).query("DeviceEvents | take 1", timedelta(days=7))
    assert [(q.text, q.timespan) for q in fake.queries_of("hunting")] == [("DeviceEvents | take 1", "P7D")]
    assert result.names == ["Kind", "Key", "Value"]
    assert [t for _, t in result.columns] == ["String", "String", "Int64"]
    assert result.rows == [["total", "", 3], ["day", "2025-01-01", 2]]
    assert result.rows_as_dicts()[1] == {"Kind": "day", "Key": "2025-01-01", "Value": 2}


def test_hunting_answers_spelt_with_capitals_read_the_same():
    answer = {"schema": [{"Name": "A", "Type": "String"}], "results": [{"A": "x"}, {"A": "y"}]}
    assert hunting_result(answer) == QueryResult([("A", "String")], [["x"], ["y"]], table="results")
    with pytest.raises(TenantQueryError, match="not a huntingQueryResults"):
        hunting_result({"value": []})


def test_logs_query_the_workspace_by_resource_id(fake):
    fake.answer("SigninLogs", COLUMNS, [["total", "", 5]])
    result = logs(fake).query("SigninLogs | take 1", timedelta(days=7))
    (query,) = fake.queries_of("loganalytics")
    assert (query.text, query.resource) == ("SigninLogs | take 1", RESOURCE)
    assert query.timespan in ("P7D", "PT604800.0S", "PT604800S")  # the library writes seconds
    assert fake.calls[-1].path == f"/v1{RESOURCE}/query"
    assert result.columns == COLUMNS and result.rows == [["total", "", 5]]
    assert result.table == "PrimaryResult"


@pytest.mark.parametrize("make", [hunting, logs], ids=["hunting", "loganalytics"])
def test_faults_are_survived_and_retry_after_honoured(fake, make):
    fake.answer("T", COLUMNS, [["total", "", 1]])
    fake.retry_after = 7
    waits: list[float] = []
    for kind in ("429", "500", "drop"):
        fake.fail_next(1, kind)
    result = make(fake, waits).query("T", timedelta(days=1))
    assert result.rows == [["total", "", 1]]
    assert [c.fault for c in fake.calls] == ["429", "500", "drop", None]
    assert waits[0] == 7  # the 429's Retry-After, then back-off for the 500 and the dropped connection
    assert len(waits) == 3


@pytest.mark.parametrize("make", [hunting, logs], ids=["hunting", "loganalytics"])
def test_refused_token_is_an_error_without_the_token(fake, make):
    with pytest.raises(TenantQueryError) as caught:
        make(fake, token="not-the-right-token-4711").query("T", timedelta(days=1))
    assert caught.value.status == 401
    assert "not-the-right-token-4711" not in str(caught.value)
    assert [c.status for c in fake.calls] == [401]  # no retry of a refused token


@pytest.mark.parametrize("make", [hunting, logs], ids=["hunting", "loganalytics"])
def test_lasting_failure_ends_in_an_error(fake, make):
    fake.fail_next(20, "500")
    with pytest.raises(TenantQueryError) as caught:
        make(fake).query("T", timedelta(days=1))
    assert caught.value.status == 500
    assert 2 < len(fake.calls) < 20


def test_logs_error_keeps_the_inner_message(fake):
    fake.add_route("POST", r"^/v1/subscriptions/.+/query$", lambda _r: Reply(400, {"error": {
        "message": "The request had some invalid properties", "code": "BadArgumentError",
        "innererror": {"code": "SyntaxError", "message": "A recognition error occurred.",
                       "innererror": {"code": "SYN0002", "message": "Query could not be parsed at 'x'"}}}}),
        token="logs-token", service="loganalytics", first=True)  # fmt: skip
    with pytest.raises(TenantQueryError) as caught:
        logs(fake).query("bad x", timedelta(days=1))
    assert caught.value.code == "BadArgumentError"
    assert "Query could not be parsed at 'x'" in str(caught.value)


def test_logs_partial_result_is_an_error(fake):
    def partial(_request: Request) -> Reply:
        table = {"name": "PrimaryResult", "columns": [{"name": "Value", "type": "long"}], "rows": [[1]]}
        detail = {"code": "EngineError", "message": "Query result set has exceeded the limit"}
        error = {"code": "PartialError", "message": "There were some errors when processing your query.",
                 "details": [detail]}  # fmt: skip
        return Reply(200, {"tables": [table], "error": error})

    fake.add_route("POST", r"^/v1/subscriptions/.+/query$", partial, token="logs-token", service="loganalytics",
                   first=True)  # fmt: skip
    with pytest.raises(TenantQueryError, match="partial result"):
        logs(fake).query("T", timedelta(days=1))


def test_query_client_for_a_target(fake):
    defender = Target("xdr", "defender", SUB, api={"graph": fake.graph_base})
    sentinel = Target("law", "sentinel", SUB, subscription_id=SUB, resource_group="rg-sec", workspace="law-sec",
                      api={"loganalytics": fake.loganalytics_base})  # fmt: skip
    assert sentinel.workspace_resource_id == RESOURCE
    assert defender.workspace_resource_id is None
    first = query_client_for(defender, StaticTokenCredential("hunting-token"))
    second = query_client_for(sentinel, StaticTokenCredential("logs-token"))
    assert isinstance(first, HuntingClient) and isinstance(second, LogAnalyticsClient)
    first.query("A", timedelta(days=1))
    second.query("B", timedelta(days=1))
    assert [(q.service, q.text) for q in fake.queries] == [("hunting", "A"), ("loganalytics", "B")]


def test_without_azure_monitor_query_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "azure.monitor.query", None)  # an import of it fails
    with pytest.raises(MissingExtra, match=r"pip install 'dac\[backtest\]'"):
        LogAnalyticsClient(RESOURCE, StaticTokenCredential("logs-token"))
