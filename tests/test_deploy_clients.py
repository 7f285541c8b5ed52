"""DefenderClient and SentinelClient against the local fake Graph/ARM server (tests/fakeapi.py)."""

from __future__ import annotations

import copy
import random
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from dac import rules
from dac.deploy import LiveRule
from dac.deploy.auth import StaticTokenCredential
from dac.deploy.defender import DefenderClient
from dac.deploy.http import ApiError, ApiSession
from dac.deploy.sentinel import SentinelClient
from fakeapi import FakeApi

GRAPH_RULES = r"/security/rules/detectionRules"
QUERY = "DeviceNetworkEvents\n| where RemoteIPType == 'Public'\n| project Timestamp, DeviceName, RemoteIP, DeviceId\n"


def detection(name: str = "Public connection", frequency: Any = "1h", **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "name": name,
        "description": "Something connected to a public address.",
        "status": "test",
        "severity": "medium",
        "mitre": {"tactics": ["command-and-control"], "techniques": ["T1071.001"]},
        "schedule": {"frequency": frequency, "lookback": "2h"},
        "trigger": {"operator": "gt", "threshold": 0},
        "alert": {
            "title": "Connection from {{DeviceName}}",
            "description": "{{DeviceName}} connected to {{RemoteIP}}.",
            "recommended_actions": "Check the device.",
            "entities": [
                {"type": "host", "column": "DeviceName"},
                {"type": "ip", "column": "RemoteIP"},
                {"type": "device", "column": "DeviceId", "identifier": "DeviceId"},
            ],
            "custom_details": {"Remote": "RemoteIP"},
        },
    }
    data.update(changes)
    return data


@pytest.fixture
def api() -> Iterator[FakeApi]:
    with FakeApi(page_size=2, slow_seconds=0.6) as fake:
        yield fake
        assert fake.errors == []


def session_for(base: str, token: str, sleeps: list[float] | None = None, **kwargs: Any) -> ApiSession:
    sleeps = [] if sleeps is None else sleeps
    options: dict[str, Any] = {"connect_timeout": 2.0, "read_timeout": 2.0, "sleep": sleeps.append}
    options["rng"] = random.Random(3)
    options.update(kwargs)
    return ApiSession(base, StaticTokenCredential(token), **options)


@pytest.fixture
def defender(api: FakeApi) -> DefenderClient:
    return DefenderClient(session_for(api.graph_base, api.graph_token))


@pytest.fixture
def sentinel(api: FakeApi) -> SentinelClient:
    session = session_for(api.arm_base, api.arm_token)
    return SentinelClient(session, api.subscription, api.resource_group, api.workspace)


# --------------------------------------------------------------------------------------------
# Defender (Graph)
# --------------------------------------------------------------------------------------------


def test_defender_round_trip_shape(api: FakeApi, defender: DefenderClient) -> None:
    data = detection()
    body = rules.defender_rule(data, QUERY)
    created = defender.create_rule(data["id"], body)
    assert created.id == data["id"]
    assert created.body == body  # same shape as sent: read-only fields and annotations are not in it
    assert created.extra["createdBy"] == api.actor and "lastRunDetails" in created.extra
    assert "@odata.context" not in created.extra
    assert rules.body_is_current(created.body)
    fetched = defender.get_rule(data["id"])
    assert fetched is not None and fetched.body == body
    assert defender.get_rule(str(uuid.uuid4())) is None


def test_defender_list_follows_paging(api: FakeApi, defender: DefenderClient) -> None:
    ids = []
    for number in range(5):
        data = detection(f"Rule {number}")
        ids.append(data["id"])
        defender.create_rule(data["id"], rules.defender_rule(data, QUERY))
    api.clear_log()
    listed = defender.list_rules()
    assert sorted(rule.id for rule in listed) == sorted(ids)
    assert api.count("GET", GRAPH_RULES) == 3  # 2 + 2 + 1


def test_defender_update_and_delete(api: FakeApi, defender: DefenderClient) -> None:
    data = detection()
    live = defender.create_rule(data["id"], rules.defender_rule(data, QUERY))
    changed = rules.defender_rule({**data, "severity": "high"}, QUERY)
    updated = defender.update_rule(data["id"], changed, live)
    assert updated.body == changed
    patch = api.calls_matching("PATCH")[-1]
    assert "id" not in patch.body and patch.path.endswith(data["id"])
    assert api.defender_rules[data["id"]]["detectionAction"]["alertTemplate"]["severity"] == "high"
    defender.delete_rule(data["id"], updated)
    assert data["id"] not in api.defender_rules
    defender.delete_rule(data["id"], updated)  # already gone: not an error


@pytest.mark.parametrize("fault", ["drop_after_write", "write_then_fail", "slow"])
def test_defender_create_whose_answer_was_lost(api: FakeApi, fault: str) -> None:
    client = DefenderClient(session_for(api.graph_base, api.graph_token, read_timeout=0.3))
    data = detection()
    body = rules.defender_rule(data, QUERY)
    api.fail_next(1, fault, method="POST")
    live = client.create_rule(data["id"], body)
    assert live.body == body
    assert list(api.defender_rules) == [data["id"]]  # created once
    assert api.count("GET", data["id"]) == 1  # read back to check


def test_defender_conflict_with_different_content_is_an_error(api: FakeApi, defender: DefenderClient) -> None:
    data = detection()
    other = rules.defender_rule({**data, "name": "Someone else's rule"}, QUERY)
    api.put_defender_rule(other)
    with pytest.raises(ApiError) as info:
        defender.create_rule(data["id"], rules.defender_rule(data, QUERY))
    assert info.value.status == 409 and info.value.code == "Conflict"


def test_defender_bad_request_is_reported(defender: DefenderClient) -> None:
    data = detection()
    body = rules.defender_rule(data, QUERY)
    body["schedule"]["frequency"] = "PT7H"
    with pytest.raises(ApiError) as info:
        defender.create_rule(data["id"], body)
    assert info.value.status == 400 and info.value.code == "BadRequest" and info.value.request_id


def test_defender_retries_throttling(api: FakeApi) -> None:
    sleeps: list[float] = []
    client = DefenderClient(session_for(api.graph_base, api.graph_token, sleeps))
    api.fail_next(2, "429", method="GET", retry_after=3)
    assert client.list_rules() == []
    assert sleeps == [3.0, 3.0]


def test_wrong_token_is_401_without_the_token(api: FakeApi) -> None:
    client = DefenderClient(session_for(api.graph_base, "not-the-graph-token-12345"))
    with pytest.raises(ApiError) as info:
        client.list_rules()
    assert info.value.status == 401 and "not-the-graph-token-12345" not in str(info.value)


# --------------------------------------------------------------------------------------------
# Sentinel (ARM)
# --------------------------------------------------------------------------------------------


def test_sentinel_round_trip_and_api_versions(api: FakeApi, sentinel: SentinelClient) -> None:
    scheduled = detection("Scheduled rule")
    near_real_time = detection("NRT rule", frequency=0)
    scheduled_body = rules.sentinel_rule(scheduled, QUERY)
    nrt_body = rules.sentinel_rule(near_real_time, QUERY)
    assert nrt_body["kind"] == "NRT"
    first = sentinel.create_rule(scheduled["id"], scheduled_body)
    second = sentinel.create_rule(near_real_time["id"], nrt_body)
    assert first.body == scheduled_body and second.body == nrt_body  # same shape as sent
    assert first.etag and second.etag and "lastModifiedUtc" in first.extra
    puts = api.calls_matching("PUT")
    assert [call.query["api-version"] for call in puts] == [rules.SENTINEL_API_VERSION, rules.SENTINEL_NRT_API_VERSION]
    fetched = sentinel.get_rule(near_real_time["id"])
    assert fetched is not None and fetched.body == nrt_body and fetched.etag == second.etag
    assert sentinel.get_rule(str(uuid.uuid4())) is None


def test_sentinel_list_pages_with_preview_version(api: FakeApi, sentinel: SentinelClient) -> None:
    made = {}
    for number in range(4):
        data = detection(f"Rule {number}", frequency=0 if number % 2 else "1h")
        made[data["id"]] = sentinel.create_rule(data["id"], rules.sentinel_rule(data, QUERY)).body
    api.put_sentinel_rule(None, None, None, "BuiltInFusion", "Fusion", {"enabled": True, "displayName": "Fusion"})
    api.clear_log()
    listed = {rule.id: rule for rule in sentinel.list_rules()}
    assert {rule_id: listed[rule_id].body for rule_id in made} == made
    assert listed["BuiltInFusion"].body["kind"] == "Fusion"  # other kinds are listed too
    gets = api.calls_matching("GET")
    assert len(gets) == 3 and gets[0].query["api-version"] == rules.SENTINEL_NRT_API_VERSION


def test_sentinel_update_sends_etag_and_recovers_from_a_stale_one(api: FakeApi, sentinel: SentinelClient) -> None:
    data = detection()
    live = sentinel.create_rule(data["id"], rules.sentinel_rule(data, QUERY))
    changed = rules.sentinel_rule({**data, "severity": "high"}, QUERY)
    updated = sentinel.update_rule(data["id"], changed, live)
    assert api.calls_matching("PUT")[-1].body["etag"] == live.etag
    assert updated.body == changed and updated.etag != live.etag

    # Someone edits the rule in the portal after the plan read it: the etag we hold is stale.
    api.edit_sentinel_rule(None, None, None, data["id"], {"enabled": False})
    api.clear_log()
    again = rules.sentinel_rule({**data, "severity": "low"}, QUERY)
    result = sentinel.update_rule(data["id"], again, updated)
    assert result.body == again
    assert [call.status for call in api.calls_matching("PUT")] == [412, 200]
    assert api.count("GET") == 1


def test_sentinel_update_whose_answer_was_lost(api: FakeApi, sentinel: SentinelClient) -> None:
    data = detection()
    live = sentinel.create_rule(data["id"], rules.sentinel_rule(data, QUERY))
    changed = rules.sentinel_rule({**data, "severity": "high"}, QUERY)
    api.clear_log()
    api.fail_next(1, "drop_after_write", method="PUT")
    result = sentinel.update_rule(data["id"], changed, live)
    assert result.body == changed
    # The retried PUT carries the old etag (412); reading back shows the change is in: no third PUT.
    assert [call.status for call in api.calls_matching("PUT")] == [None, 412]


def test_sentinel_create_whose_answer_was_lost(api: FakeApi, sentinel: SentinelClient) -> None:
    data = detection()
    body = rules.sentinel_rule(data, QUERY)
    api.fail_next(1, "drop_after_write", method="PUT")
    live = sentinel.create_rule(data["id"], body)
    assert live.body == body and len(api.sentinel_rules()) == 1


def test_sentinel_delete(api: FakeApi, sentinel: SentinelClient) -> None:
    data = detection(frequency=0)
    live = sentinel.create_rule(data["id"], rules.sentinel_rule(data, QUERY))
    sentinel.delete_rule(data["id"], live)
    assert api.sentinel_rules() == {}
    sentinel.delete_rule(data["id"], live)  # already gone
    assert api.calls_matching("DELETE")[0].query["api-version"] == rules.SENTINEL_NRT_API_VERSION


def test_sentinel_errors_are_api_errors(api: FakeApi, sentinel: SentinelClient) -> None:
    data = detection()
    body = copy.deepcopy(rules.sentinel_rule(data, QUERY))
    body["properties"]["triggerThreshold"] = -1
    with pytest.raises(ApiError) as info:
        sentinel.create_rule(data["id"], body)
    assert info.value.status == 400 and "alertRules" in info.value.path
    # The live rule handed to update must still be honoured when there is none.
    with pytest.raises(ApiError):
        sentinel.update_rule(data["id"], rules.sentinel_rule(data, QUERY), LiveRule(data["id"], {}, etag='"x"'))
