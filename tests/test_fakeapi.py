"""The fake Graph/ARM rule server (tests/fakeapi.py), exercised over real HTTP with `requests`."""

from __future__ import annotations

import copy
import http.client
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from unittest.mock import ANY

import pytest
import requests

from dac.rules import defender_rule, sentinel_rule
from fakeapi import ARM_PREVIEW, ARM_STABLE, GRAPH_READ_ONLY, FakeApi

RULE_ID = "5d0b6a39-8f0e-4a2b-9a51-1c0e6f6e2b11"
QUERY = "DeviceNetworkEvents\n| where RemoteIPType == 'Public'"


def detection(id_: str = RULE_ID, name: str = "WinSCP connection", **extra: Any) -> dict[str, Any]:
    data = {
        "id": id_,
        "name": name,
        "description": "WinSCP talking to a public address.",
        "severity": "medium",
        "status": "production",
        "mitre": {"tactics": ["exfiltration"], "techniques": ["T1048.003"]},
        "schedule": {"frequency": "1h", "lookback": "2h"},
        "alert": {"entities": [{"type": "host", "column": "DeviceName"}]},
    }
    data.update(extra)
    return data


def rule_id(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


@pytest.fixture
def api():
    with FakeApi(page_size=5) as server:
        yield server
        assert server.errors == []  # no exception inside the fake itself


@pytest.fixture
def graph(api: FakeApi) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {api.graph_token}"
    yield session
    session.close()


@pytest.fixture
def arm(api: FakeApi) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {api.arm_token}"
    yield session
    session.close()


def rules_url(api: FakeApi, id_: str | None = None) -> str:
    base = f"{api.graph_base}/security/rules/detectionRules"
    return base if id_ is None else f"{base}/{id_}"


def alert_url(api: FakeApi, id_: str | None = None) -> str:
    base = api.arm_base + api.workspace_path()
    return base if id_ is None else f"{base}/{id_}"


STABLE = {"api-version": ARM_STABLE}
PREVIEW = {"api-version": ARM_PREVIEW}


def assert_graph_error(response: requests.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["message"]
    assert set(error["innerError"]) == {"request-id", "date"}
    if code:
        assert error["code"] == code


def assert_arm_error(response: requests.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["message"] and set(error) == {"code", "message"}
    if code:
        assert error["code"] == code


# -- lifecycle, HTTP, auth ---------------------------------------------------------------------------


def test_context_manager_binds_localhost_and_stops():
    with FakeApi() as api:
        assert api.url.startswith("http://127.0.0.1:") and api.port > 0
        assert api.graph_base == api.url + "/beta" and api.arm_base == api.url
        url = api.url
        # an idle keep-alive connection must not keep the server from stopping
        session = requests.Session()
        session.get(url + "/beta/security/rules/detectionRules")
    started = time.monotonic()
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/beta/security/rules/detectionRules", timeout=2)
    assert time.monotonic() - started < 2
    session.close()


def test_keep_alive_and_content_length(api: FakeApi, graph: requests.Session):
    for _ in range(5):
        assert graph.get(rules_url(api)).status_code == 200
    assert api.connections_opened == 1
    connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=5)
    headers = {"Authorization": f"Bearer {api.graph_token}", "Content-Type": "application/json"}
    connection.request("POST", "/beta/security/rules/detectionRules", body=b"{}", headers=headers)
    answer = connection.getresponse()
    payload = answer.read()
    assert answer.status == 400 and int(answer.headers["Content-Length"]) == len(payload)
    api.put_defender_rule(defender_rule(detection(), QUERY))
    connection.request("DELETE", f"/beta/security/rules/detectionRules/{RULE_ID}", headers=headers)
    answer = connection.getresponse()
    assert answer.status == 204 and answer.read() == b""
    connection.request("GET", "/beta/security/rules/detectionRules", headers=headers)  # same connection still usable
    assert connection.getresponse().status == 200
    connection.close()


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic abc", "Bearer arm-token"])
def test_graph_requires_its_own_token(api: FakeApi, header: str | None):
    headers = {"Authorization": header} if header else {}
    response = requests.get(rules_url(api), headers=headers)
    assert_graph_error(response, 401, "InvalidAuthenticationToken")
    assert api.count() == 1 and api.calls[0].status == 401


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Bearer graph-token"])
def test_arm_requires_its_own_token(api: FakeApi, header: str | None):
    headers = {"Authorization": header} if header else {}
    assert_arm_error(requests.get(alert_url(api), params=STABLE, headers=headers), 401)


def test_tokens_are_configurable_and_never_logged():
    with FakeApi(graph_token="g-secret", arm_token="a-secret") as api:
        ok = requests.get(rules_url(api), headers={"Authorization": "Bearer g-secret"})
        assert ok.status_code == 200
        ok = requests.get(alert_url(api), params=STABLE, headers={"Authorization": "Bearer a-secret"})
        assert ok.status_code == 200
        assert "secret" not in repr(api.calls)


# -- Graph ---------------------------------------------------------------------------------------------


def test_graph_create_get_echoes_body_with_server_fields(api: FakeApi, graph: requests.Session):
    body = defender_rule(detection(), QUERY)
    response = graph.post(rules_url(api), json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["@odata.context"].endswith("#security/rules/detectionRules/$entity")
    assert response.headers["Location"] == rules_url(api, RULE_ID)
    for key in GRAPH_READ_ONLY:
        assert key in created
    assert created["schedule"]["nextRunDateTime"]
    assert created["detectionAction"]["organizationalScope"] is None  # nulls dac sends are kept
    fetched = graph.get(rules_url(api, RULE_ID)).json()
    stripped = {key: value for key, value in fetched.items() if key not in (*GRAPH_READ_ONLY, "@odata.context")}
    stripped["schedule"] = {k: v for k, v in stripped["schedule"].items() if k != "nextRunDateTime"}
    assert stripped == body
    assert "@odata.context" not in api.defender_rules[RULE_ID]


def test_graph_conflicts_and_missing(api: FakeApi, graph: requests.Session):
    body = defender_rule(detection(), QUERY)
    assert graph.post(rules_url(api), json=body).status_code == 201
    assert_graph_error(graph.post(rules_url(api), json=body), 409, "Conflict")  # same id
    same_name = defender_rule(detection(rule_id(2)), QUERY)
    assert_graph_error(graph.post(rules_url(api), json=same_name), 409, "Conflict")  # same displayName
    assert_graph_error(graph.get(rules_url(api, rule_id(9))), 404, "NotFound")
    assert_graph_error(graph.patch(rules_url(api, rule_id(9)), json={"displayName": "x"}), 404)
    assert_graph_error(graph.delete(rules_url(api, rule_id(9))), 404)
    assert list(api.defender_rules) == [RULE_ID]


@pytest.mark.parametrize(
    "breakage",
    [
        lambda body: body.pop("displayName"),
        lambda body: body["schedule"].update(frequency="PT2H"),
        lambda body: body["detectionAction"]["alertTemplate"].pop("severity"),
        lambda body: body.update(createdBy="me"),  # read-only
        lambda body: body.pop("id"),
    ],
)
def test_graph_rejects_invalid_bodies(api: FakeApi, graph: requests.Session, breakage):
    body = defender_rule(detection(), QUERY)
    breakage(body)
    response = graph.post(rules_url(api), json=body)
    assert_graph_error(response, 400, "BadRequest")
    assert "Invalid request body" in response.json()["error"]["message"]
    assert api.defender_rules == {}


def test_graph_rejects_malformed_json(api: FakeApi, graph: requests.Session):
    response = graph.post(rules_url(api), data=b"{not json", headers={"Content-Type": "application/json"})
    assert_graph_error(response, 400)


def test_graph_patch_merges_nested_objects_and_clears_only_on_null(api: FakeApi, graph: requests.Session):
    body = defender_rule(detection(), QUERY)
    created = graph.post(rules_url(api), json=body).json()
    time.sleep(0.002)
    response = graph.patch(rules_url(api, RULE_ID), json={"schedule": {"frequency": "PT3H"}, "status": "disabled"})
    assert response.status_code == 200, response.text
    updated = response.json()
    # update reference: properties left out keep their values, nested ones included
    assert updated["schedule"] == {**body["schedule"], "frequency": "PT3H", "nextRunDateTime": ANY}
    assert updated["status"] == "disabled" and updated["displayName"] == body["displayName"]
    cleared = graph.patch(rules_url(api, RULE_ID), json={"schedule": {"lookback": None}}).json()
    assert cleared["schedule"]["lookback"] is None and cleared["schedule"]["frequency"] == "PT3H"
    tactics = [{"tactic": "execution", "techniques": []}]
    template = {"detectionAction": {"alertTemplate": {"tactics": tactics}}}
    replaced = graph.patch(rules_url(api, RULE_ID), json=template).json()  # an array replaces the stored one
    assert replaced["detectionAction"]["alertTemplate"]["tactics"] == tactics
    assert replaced["detectionAction"]["alertTemplate"]["title"] == body["detectionAction"]["alertTemplate"]["title"]
    assert updated["queryCondition"] == body["queryCondition"]
    assert updated["lastModifiedDateTime"] > created["lastModifiedDateTime"]
    assert updated["createdDateTime"] == created["createdDateTime"]
    # a full body (what dac sends) is accepted too
    full = defender_rule(detection(description="changed"), QUERY)
    assert graph.patch(rules_url(api, RULE_ID), json=full).json()["description"].startswith("changed")


def test_graph_patch_validation_and_name_conflict(api: FakeApi, graph: requests.Session):
    graph.post(rules_url(api), json=defender_rule(detection(), QUERY))
    graph.post(rules_url(api), json=defender_rule(detection(rule_id(2), "Other"), QUERY))
    assert_graph_error(graph.patch(rules_url(api, rule_id(2)), json={"displayName": "WinSCP connection"}), 409)
    assert graph.patch(rules_url(api, RULE_ID), json={"displayName": "WinSCP connection"}).status_code == 200
    assert_graph_error(graph.patch(rules_url(api, RULE_ID), json={"schedule": {"frequency": "PT5H"}}), 400)
    assert_graph_error(graph.patch(rules_url(api, RULE_ID), json={"lastModifiedBy": "x"}), 400)
    assert_graph_error(graph.patch(rules_url(api, RULE_ID), json={"id": rule_id(3)}), 400)
    assert api.defender_rules[RULE_ID]["schedule"]["frequency"] == "PT1H"


def test_graph_list_pages_with_absolute_next_links(api: FakeApi, graph: requests.Session):
    for n in range(12):
        api.put_defender_rule(defender_rule(detection(rule_id(n), f"Rule {n}"), QUERY))
    url: str | None = rules_url(api)
    seen: list[str] = []
    pages = 0
    while url:
        page = graph.get(url).json()
        pages += 1
        assert page["@odata.context"].endswith("#security/rules/detectionRules")
        assert len(page["value"]) <= 5
        seen += [rule["id"] for rule in page["value"]]
        url = page.get("@odata.nextLink")
        if url:
            assert url.startswith(api.graph_base + "/security/rules/detectionRules?$skiptoken=")
    assert pages == 3 and sorted(seen) == sorted(api.defender_rules) and len(set(seen)) == 12
    assert api.count("GET", r"/detectionRules$") == 3
    top = graph.get(rules_url(api), params={"$top": "2"}).json()
    assert len(top["value"]) == 2 and "$top=2" in top["@odata.nextLink"]


def test_graph_paging_survives_a_deletion_between_pages(api: FakeApi, graph: requests.Session):
    for n in range(10):
        api.put_defender_rule(defender_rule(detection(rule_id(n), f"Rule {n}"), QUERY))
    first = graph.get(rules_url(api)).json()
    api.delete_defender_rule(first["value"][0]["id"])
    second = graph.get(first["@odata.nextLink"]).json()
    assert [rule["id"] for rule in second["value"]] == [rule_id(n) for n in range(5, 10)]


def test_graph_seed_and_portal_edit(api: FakeApi, graph: requests.Session):
    seeded = api.put_defender_rule({"id": "foreign-1", "displayName": "Foreign", "custom": {"a": 1}})
    assert seeded["createdBy"] == "someone@contoso.test"
    assert graph.get(rules_url(api, "foreign-1")).json()["custom"] == {"a": 1}
    time.sleep(0.002)
    edited = api.edit_defender_rule("foreign-1", {"custom": {"b": 2}, "description": "edited"})
    assert edited["custom"] == {"a": 1, "b": 2} and edited["lastModifiedBy"] == "portal-user@contoso.test"
    assert edited["lastModifiedDateTime"] > seeded["lastModifiedDateTime"]
    # a foreign rule with properties dac does not know can still be patched with known ones
    assert graph.patch(rules_url(api, "foreign-1"), json={"status": "disabled"}).status_code == 200


# -- ARM -----------------------------------------------------------------------------------------------


def test_arm_api_version_is_required_and_checked(api: FakeApi, arm: requests.Session):
    assert_arm_error(arm.get(alert_url(api)), 400, "MissingApiVersionParameter")
    assert_arm_error(arm.get(alert_url(api), params={"api-version": "2021-10-01"}), 400, "InvalidApiVersionParameter")
    assert arm.get(alert_url(api), params=STABLE).json() == {"value": []}
    assert arm.get(alert_url(api), params=PREVIEW).status_code == 200


def test_arm_create_update_with_etags(api: FakeApi, arm: requests.Session):
    body = sentinel_rule(detection(), QUERY)
    assert body["kind"] == "Scheduled"
    created = arm.put(alert_url(api, RULE_ID), params=STABLE, json=body)
    assert created.status_code == 201, created.text
    resource = created.json()
    assert resource["id"] == api.workspace_path() + "/" + RULE_ID
    assert resource["name"] == RULE_ID and resource["type"] == "Microsoft.SecurityInsights/alertRules"
    assert resource["etag"].startswith('"') and resource["etag"].endswith('"')
    assert resource["properties"].pop("lastModifiedUtc")
    assert resource["properties"] == body["properties"]
    # update without etag, with a stale etag: 412; with the current one: 200 and a new etag
    assert_arm_error(arm.put(alert_url(api, RULE_ID), params=STABLE, json=body), 412, "PreconditionFailed")
    stale = {**body, "etag": '"stale"'}
    assert_arm_error(arm.put(alert_url(api, RULE_ID), params=STABLE, json=stale), 412)
    current = {**body, "etag": resource["etag"]}
    updated = arm.put(alert_url(api, RULE_ID), params=STABLE, json=current)
    assert updated.status_code == 200 and updated.json()["etag"] != resource["etag"]
    # If-Match header instead of a body etag
    headers = {"If-Match": updated.json()["etag"]}
    again = arm.put(alert_url(api, RULE_ID), params=STABLE, json=body, headers=headers)
    assert again.status_code == 200
    assert arm.get(alert_url(api, RULE_ID), params=STABLE).json() == again.json()


def test_arm_etag_not_required_when_relaxed():
    with FakeApi(require_etag=False) as api:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {api.arm_token}"
        body = sentinel_rule(detection(), QUERY)
        assert session.put(alert_url(api, RULE_ID), params=STABLE, json=body).status_code == 201
        assert session.put(alert_url(api, RULE_ID), params=STABLE, json=body).status_code == 200
        stale = {**body, "etag": '"stale"'}
        assert session.put(alert_url(api, RULE_ID), params=STABLE, json=stale).status_code == 412


def test_arm_create_with_etag_fails(api: FakeApi, arm: requests.Session):
    body = {**sentinel_rule(detection(), QUERY), "etag": '"anything"'}
    assert_arm_error(arm.put(alert_url(api, RULE_ID), params=STABLE, json=body), 412)
    assert api.sentinel_rules() == {}


def test_arm_nrt_needs_the_preview_version(api: FakeApi, arm: requests.Session):
    body = sentinel_rule(detection(schedule={"frequency": 0}), QUERY)
    assert body["kind"] == "NRT"
    assert_arm_error(arm.put(alert_url(api, RULE_ID), params=STABLE, json=body), 400, "BadRequest")
    assert arm.put(alert_url(api, RULE_ID), params=PREVIEW, json=body).status_code == 201
    assert arm.get(alert_url(api, RULE_ID), params=STABLE).json()["kind"] == "NRT"


def test_arm_kind_change_and_invalid_body(api: FakeApi, arm: requests.Session):
    scheduled = sentinel_rule(detection(), QUERY)
    etag = arm.put(alert_url(api, RULE_ID), params=PREVIEW, json=scheduled).json()["etag"]
    nrt = {**sentinel_rule(detection(schedule={"frequency": 0}), QUERY), "etag": etag}
    assert_arm_error(arm.put(alert_url(api, RULE_ID), params=PREVIEW, json=nrt), 400, "BadRequest")
    broken = copy.deepcopy(scheduled)
    broken["properties"]["severity"] = "Critical"
    response = arm.put(alert_url(api, rule_id(2)), params=STABLE, json=broken)
    assert_arm_error(response, 400, "BadRequest")
    assert "severity" in response.json()["error"]["message"]
    assert_arm_error(arm.put(alert_url(api, rule_id(2)), params=STABLE, json=[1]), 400)


def test_arm_duplicate_display_name_is_configurable(api: FakeApi, arm: requests.Session):
    arm.put(alert_url(api, RULE_ID), params=STABLE, json=sentinel_rule(detection(), QUERY))
    twin = sentinel_rule(detection(rule_id(2)), QUERY)
    assert_arm_error(arm.put(alert_url(api, rule_id(2)), params=STABLE, json=twin), 409, "Conflict")
    api.unique_sentinel_names = False
    assert arm.put(alert_url(api, rule_id(2)), params=STABLE, json=twin).status_code == 201


def test_arm_delete_and_missing(api: FakeApi, arm: requests.Session):
    assert_arm_error(arm.get(alert_url(api, RULE_ID), params=STABLE), 404, "NotFound")
    arm.put(alert_url(api, RULE_ID), params=STABLE, json=sentinel_rule(detection(), QUERY))
    assert arm.delete(alert_url(api, RULE_ID), params=STABLE).status_code == 200
    assert arm.delete(alert_url(api, RULE_ID), params=STABLE).status_code == 204
    assert api.sentinel_rules() == {}


def test_arm_names_are_case_insensitive(api: FakeApi, arm: requests.Session):
    arm.put(alert_url(api, RULE_ID), params=STABLE, json=sentinel_rule(detection(), QUERY))
    upper = api.arm_base + api.workspace_path().upper().replace("ALERTRULES", "alertRules") + "/" + RULE_ID.upper()
    assert arm.get(upper, params=STABLE).json()["name"] == RULE_ID


def test_arm_list_pages_keep_api_version(api: FakeApi, arm: requests.Session):
    for n in range(11):
        api.put_sentinel_rule(None, None, None, rule_id(n), "Scheduled", {"displayName": f"Rule {n}"})
    api.put_sentinel_rule("other-sub", "rg", "ws", "elsewhere", "Scheduled", {"displayName": "Elsewhere"})
    url: str | None = alert_url(api)
    params: dict[str, str] | None = STABLE
    names: list[str] = []
    while url:
        page = arm.get(url, params=params).json()
        names += [rule["name"] for rule in page["value"]]
        url, params = page.get("nextLink"), None
        if url:
            assert url.startswith(alert_url(api) + f"?api-version={ARM_STABLE}&$skipToken=")
    assert names == [rule_id(n) for n in range(11)]
    assert api.count("GET", "alertRules$") == 3


def test_arm_portal_edit_changes_etag(api: FakeApi, arm: requests.Session):
    seeded = api.put_sentinel_rule(None, None, None, RULE_ID, "Scheduled", {"displayName": "Seeded", "enabled": True})
    time.sleep(0.002)
    edited = api.edit_sentinel_rule(None, None, None, RULE_ID, {"enabled": False})
    assert edited["etag"] != seeded["etag"]
    assert edited["properties"]["lastModifiedUtc"] > seeded["properties"]["lastModifiedUtc"]
    live = arm.get(alert_url(api, RULE_ID), params=STABLE).json()
    assert live == edited and live["properties"]["enabled"] is False


# -- request log ---------------------------------------------------------------------------------------


def test_request_log_records_method_path_query_status(api: FakeApi, graph: requests.Session, arm: requests.Session):
    graph.get(rules_url(api), params={"$top": "3"})
    graph.get(rules_url(api, "missing"))
    arm.get(alert_url(api), params=STABLE)
    calls = api.calls
    assert [(c.method, c.status) for c in calls] == [("GET", 200), ("GET", 404), ("GET", 200)]
    assert calls[0].path == "/beta/security/rules/detectionRules" and calls[0].query == {"$top": "3"}
    assert calls[2].query == STABLE
    assert api.count("GET", r"/detectionRules/[^/]+$") == 1
    api.clear_log()
    assert api.calls == []


# -- faults --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["429", "500", "503", 503])
def test_fail_next_status_kinds(api: FakeApi, graph: requests.Session, arm: requests.Session, kind):
    api.fail_next(1, kind, retry_after=1)
    response = graph.get(rules_url(api))
    assert_graph_error(response, int(kind))
    if str(kind) == "429":
        assert response.headers["Retry-After"] == "1"
    assert graph.get(rules_url(api)).status_code == 200  # only the next one
    api.fail_next(1, kind)
    assert_arm_error(arm.get(alert_url(api), params=STABLE), int(kind))
    assert api.calls[0].fault == str(kind)


def test_fail_next_matches_method_and_path(api: FakeApi, graph: requests.Session):
    rule = api.fail_next(2, "500", method="POST", path="detectionRules$")
    assert graph.get(rules_url(api)).status_code == 200
    body = defender_rule(detection(), QUERY)
    assert graph.post(rules_url(api), json=body).status_code == 500
    assert graph.post(rules_url(api), json=body).status_code == 500
    assert rule.remaining == 0 and api.defender_rules == {}
    assert graph.post(rules_url(api), json=body).status_code == 201
    api.fail_next(1, "503", predicate=lambda method, path: path.endswith(RULE_ID))
    assert graph.get(rules_url(api)).status_code == 200
    assert graph.get(rules_url(api, RULE_ID)).status_code == 503


def test_drop_closes_without_answer_and_does_nothing(api: FakeApi, graph: requests.Session):
    api.fail_next(1, "drop", method="POST")
    with pytest.raises(requests.ConnectionError):
        graph.post(rules_url(api), json=defender_rule(detection(), QUERY))
    assert api.defender_rules == {}
    assert api.calls[-1].status is None and api.calls[-1].fault == "drop"
    assert graph.get(rules_url(api)).status_code == 200  # the session recovers on a new connection


def test_slow_writes_then_answers_too_late(api: FakeApi, graph: requests.Session):
    api.set_faults(0, slow_seconds=1.0)
    api.fail_next(1, "slow", method="POST")
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        graph.post(rules_url(api), json=defender_rule(detection(), QUERY), timeout=0.3)
    assert time.monotonic() - started < 0.9
    assert RULE_ID in api.defender_rules  # the write happened; only the answer was late
    assert graph.get(rules_url(api, RULE_ID), timeout=5).status_code == 200


def test_write_then_fail(api: FakeApi, graph: requests.Session, arm: requests.Session):
    api.fail_next(1, "write_then_fail")
    assert graph.get(rules_url(api)).status_code == 200  # reads do not use the rule up
    assert_graph_error(graph.post(rules_url(api), json=defender_rule(detection(), QUERY)), 409, "Conflict")
    assert RULE_ID in api.defender_rules
    api.fail_next(1, "write_then_fail")
    assert_graph_error(graph.patch(rules_url(api, RULE_ID), json={"status": "disabled"}), 500)
    assert api.defender_rules[RULE_ID]["status"] == "disabled"
    api.fail_next(1, "write_then_fail")
    assert_arm_error(arm.put(alert_url(api, RULE_ID), params=STABLE, json=sentinel_rule(detection(), QUERY)), 500)
    assert RULE_ID in api.sentinel_rules()
    api.fail_next(1, "write_then_fail")
    assert_graph_error(graph.delete(rules_url(api, RULE_ID)), 500)
    assert api.defender_rules == {}


def test_drop_after_write(api: FakeApi, arm: requests.Session):
    api.fail_next(1, "drop_after_write")
    with pytest.raises(requests.ConnectionError):
        arm.put(alert_url(api, RULE_ID), params=STABLE, json=sentinel_rule(detection(), QUERY))
    assert RULE_ID in api.sentinel_rules()


def test_fail_all_and_fail_after(api: FakeApi, graph: requests.Session):
    api.fail_after(2)
    assert [graph.get(rules_url(api)).status_code for _ in range(4)] == [200, 200, 503, 503]
    api.fail_all(None)
    assert graph.get(rules_url(api)).status_code == 200
    api.fail_all("500")
    assert graph.get(rules_url(api)).status_code == 500
    api.clear_faults()
    assert graph.get(rules_url(api)).status_code == 200


def test_unknown_fault_kind_and_rate_are_rejected(api: FakeApi):
    with pytest.raises(ValueError):
        api.fail_next(1, "404")
    with pytest.raises(ValueError):
        api.set_faults(1.5, ["500"])


def statuses_with_rate(seed: int) -> list[int]:
    with FakeApi() as api:
        api.set_faults(0.5, ["429", "500", "503"], seed=seed)
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {api.graph_token}"
        return [session.get(rules_url(api)).status_code for _ in range(30)]


def test_random_faults_are_reproducible_with_a_seed():
    first, second = statuses_with_rate(7), statuses_with_rate(7)
    assert first == second
    assert 200 in first and {429, 500, 503} & set(first)
    assert statuses_with_rate(8) != first


def test_fault_rate_one_fails_everything(api: FakeApi, graph: requests.Session):
    api.set_faults(1.0, ["500"])
    assert {graph.get(rules_url(api)).status_code for _ in range(5)} == {500}
    api.set_faults(0.0)
    assert graph.get(rules_url(api)).status_code == 200


# -- concurrency ---------------------------------------------------------------------------------------


def test_concurrent_writes_and_reconfiguration(api: FakeApi):
    local = threading.local()

    def session() -> requests.Session:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.headers["Authorization"] = f"Bearer {api.graph_token}"
        return local.session

    def create(n: int) -> int:
        body = defender_rule(detection(rule_id(n), f"Rule {n}"), QUERY)
        for _ in range(20):  # retry the injected faults; a 409 means an earlier try got through
            try:
                status = session().post(rules_url(api), json=body, timeout=5).status_code
            except requests.ConnectionError:
                continue
            if status in (201, 409):
                return status
        return -1

    api.set_faults(0.2, ["500", "503", "drop", "write_then_fail"], seed=3)
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(create, n) for n in range(60)]
        api.set_faults(0.1, ["429"], seed=4)  # reconfiguring mid-flight is safe
        results = [future.result() for future in futures]
    assert -1 not in results
    assert sorted(api.defender_rules) == [rule_id(n) for n in range(60)]
    assert api.count("POST") >= 60
