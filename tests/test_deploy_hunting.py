"""Sentinel hunting queries: `kind: hunting` detections deployed as Log Analytics saved searches.

Against tests/fakeapi.py (saved searches: tests/fakeapi_saved_searches.py) through the real clients.
The expected values are the documentation's: category "Hunting Queries" and the tags the Sentinel
Hunting page reads (Microsoft Learn, "Manage hunting and livestream queries in Microsoft Sentinel
using REST API"), the query language version 2 ("The current version is 2 and is the default",
SavedSearch model), the PUT body of "Saved Searches - Create Or Update".
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from dac.deploy import LiveRule
from dac.deploy.apply import apply_plan
from dac.deploy.auth import StaticTokenCredential
from dac.deploy.http import ApiError, ApiSession
from dac.deploy.plan import DesiredRule, Plan, make_plan
from dac.deploy.saved_searches import SavedSearchClient, to_hunting_detection, wire_body
from dac.deploy.sentinel import SentinelClient
from dac.deploy.sentinel_content import SentinelContentClient
from dac.hunting_rules import sentinel_hunting_query
from dac.model.detection import Detection, load_detection
from dac.model.project import Target, find_project
from dac.model.yamlwrite import dump_detection
from dac.rules import read_marker, sentinel_rule
from dac.validation import validate
from dac.variants import build_variants
from fakeapi import FakeApi

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "FAKE-TOKEN-hunting-7c1e9a-never-print-me"
SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"
TENANT = "99999999-8888-7777-6666-555555555555"
RESOURCE_GROUP, WORKSPACE = "rg-sec", "law-sec"
CATEGORY = "Hunting Queries"  # the Sentinel documentation's category of hunting queries
SEED_COUNT = 5


@pytest.fixture
def api() -> Iterator[FakeApi]:
    with FakeApi(arm_token=TOKEN, subscription=SUBSCRIPTION, resource_group=RESOURCE_GROUP, workspace=WORKSPACE,
                 slow_seconds=2.0) as fake:  # fmt: skip
        yield fake
        assert fake.errors == []


@pytest.fixture(scope="module")
def seeds() -> list[Detection]:
    """The repository's five `kind: hunting` detections."""
    found = []
    for file in sorted((ROOT / "detections").rglob("*.yml")):
        result = load_detection(file)
        assert result.detection is not None, result.diagnostics
        if result.detection.kind == "hunting":
            found.append(result.detection)
    assert len(found) == SEED_COUNT
    return found


def target(api: FakeApi) -> Target:
    return Target(name="sentinel", platform="sentinel", tenant_id=TENANT, subscription_id=SUBSCRIPTION,
                  resource_group=RESOURCE_GROUP, workspace=WORKSPACE, kinds=("detection", "hunting"),
                  statuses=("experimental", "test", "stable", "deprecated"), api={"arm": api.arm_base},
                  concurrency=4)  # fmt: skip


def content_client(api: FakeApi) -> SentinelContentClient:
    session = ApiSession(api.arm_base, StaticTokenCredential(TOKEN), sleep=lambda _s: None, connect_timeout=2.0,
                         read_timeout=1.0)  # fmt: skip
    return SentinelContentClient(
        SentinelClient(session, SUBSCRIPTION, RESOURCE_GROUP, WORKSPACE),
        SavedSearchClient(session, SUBSCRIPTION, RESOURCE_GROUP, WORKSPACE),
    )


def desired(detection: Detection, data: dict | None = None) -> DesiredRule:
    """The saved search body of a hunting detection, from its Sentinel variant (as plan.desired_rules does)."""
    tables = find_project(ROOT).tables_dir
    variant = next(v for v in build_variants(detection, tables) if v.dialect == "sentinel")
    assert not [d for d in variant.diagnostics if d.severity == "error"]
    data = data or detection.data
    return DesiredRule(detection.id, data["name"], str(detection.file), sentinel_hunting_query(data, variant.text))


def plan_for(api: FakeApi, client: SentinelContentClient, rules: list[DesiredRule]) -> Plan:
    return make_plan(rules, client.list_rules(), target(api))


def deploy(api: FakeApi, client: SentinelContentClient, rules: list[DesiredRule], prune: bool = False):
    plan = plan_for(api, client, rules)
    return plan, apply_plan(plan, client, prune=prune)


def tags_of(resource: dict) -> dict[str, str]:
    return {tag["name"]: tag["value"] for tag in resource["properties"].get("tags") or []}


def changes(plan: Plan) -> list[tuple[str, str]]:
    return [(a.kind, a.id) for a in plan.actions if a.kind != "unchanged"]


def seed_unowned(api: FakeApi) -> dict:
    """A hunting query made in the portal (no marker) and a saved search of another category."""
    api.put_saved_search("portal-hunt", {
        "category": CATEGORY, "displayName": "Portal hunt", "query": "SecurityEvent | take 10", "version": 2,
        "tags": [{"name": "description", "value": "made by hand"}, {"name": "tactics", "value": "Discovery"}],
    })  # fmt: skip
    api.put_saved_search("my-function", {
        "category": "Functions", "displayName": "My function", "query": "SecurityEvent | take 1", "version": 2,
        "functionAlias": "MyFunction",
    })  # fmt: skip
    return copy.deepcopy(api.saved_searches())


# ------------------------------------------------------------------------------------ bodies
def test_a_hunting_query_body_is_a_saved_search_with_the_hunting_tags(seeds: list[Detection]) -> None:
    scanning = next(d for d in seeds if d.data.get("mitre"))
    body = desired(scanning).body
    properties = body["properties"]
    assert body["kind"] == "HuntingQuery"
    assert properties["category"] == "Hunting Queries" and properties["version"] == 2
    assert properties["displayName"] == scanning.name
    marker = read_marker(properties["description"])
    assert marker is not None and marker.id == scanning.id
    tags = {tag["name"]: tag["value"] for tag in properties["tags"]}
    assert tags == {"tactics": "Discovery", "techniques": "T1049"}


def test_tactics_are_comma_separated_pascal_case_and_techniques_parents() -> None:
    mitre = {"tactics": ["persistence", "command-and-control"], "techniques": ["T1098.001", "T1078"]}
    data = {"id": str(uuid.UUID(int=7)), "name": "x", "description": "y", "mitre": mitre}
    tags = {t["name"]: t["value"] for t in sentinel_hunting_query(data, "T | take 1")["properties"]["tags"]}
    assert tags == {"tactics": "Persistence,CommandAndControl", "techniques": "T1098,T1078"}


def test_the_put_body_is_valid_against_the_saved_search_schema(seeds: list[Detection]) -> None:
    schema = json.loads((ROOT / "schemas" / "api" / "sentinel-saved-search.schema.json").read_text())
    for detection in seeds:
        payload = wire_body(desired(detection).body, etag="W/\"datetime'2026-01-01T00:00:00Z'\"")
        Draft202012Validator(schema).validate(payload)
        assert "kind" not in payload and payload["properties"]["tags"][0]["name"] == "description"


# ------------------------------------------------------------------------------------ deploy
def test_the_five_seed_hunting_queries_deploy_as_saved_searches(api: FakeApi, seeds: list[Detection]) -> None:
    unowned = seed_unowned(api)
    client = content_client(api)
    rules = [desired(d) for d in seeds]

    plan, outcomes = deploy(api, client, rules)
    assert plan.counts()["create"] == SEED_COUNT and plan.unmanaged == 1  # the Functions search is not a rule
    assert all(o.ok for o in outcomes), [o.message for o in outcomes]
    assert api.count("PUT", r"/savedSearches/") == SEED_COUNT and api.count("PUT", r"/alertRules") == 0
    searches_calls = api.calls_matching(None, r"/savedSearches")
    assert searches_calls and all(call.query.get("api-version") == "2025-07-01" for call in searches_calls)

    hunting = api.hunting_queries()
    assert len(hunting) == SEED_COUNT + 1
    for detection, rule in zip(seeds, rules, strict=True):
        resource = hunting[detection.id]
        properties = resource["properties"]
        assert properties["category"] == "Hunting Queries" and properties["displayName"] == detection.name
        assert properties["version"] == 2 and "kind" not in resource["properties"]
        tags = tags_of(resource)
        assert tags["description"].startswith(detection.data["description"].strip())
        marker = read_marker(tags["description"])
        assert marker is not None and marker.id == detection.id
        mitre = detection.data.get("mitre") or {}
        if mitre:
            assert tags["tactics"] == ",".join(t.capitalize() for t in mitre["tactics"])
            assert tags["techniques"] == ",".join(mitre["techniques"])
        else:
            assert set(tags) == {"description"}
        assert properties["query"] == rule.body["properties"]["query"]  # the Sentinel variant's text
    put_bodies = [call.body for call in api.calls_matching("PUT", r"/savedSearches/")]
    assert all("kind" not in body and "etag" not in body for body in put_bodies)  # creates never overwrite

    # a second plan: all unchanged, from one list call per API
    api.clear_log()
    second = plan_for(api, client, rules)
    assert not second.has_changes and second.counts()["unchanged"] == SEED_COUNT and second.unmanaged == 1
    assert api.count("GET", r"/savedSearches$") == 1 and api.count() == 2

    # one detection changed: exactly one update, which sends the live etag
    changed_data = copy.deepcopy(seeds[2].data)
    changed_data["description"] = "Changed: " + changed_data["description"]
    rules[2] = desired(seeds[2], changed_data)
    api.clear_log()
    plan, outcomes = deploy(api, client, rules)
    assert changes(plan) == [("update", seeds[2].id)] and all(o.ok for o in outcomes)
    assert {c.path for c in plan.of("update")[0].changes} == {"properties.description"}
    (put,) = api.calls_matching("PUT", r"/savedSearches/")
    assert put.body["etag"] and tags_of(put.body)["description"].startswith("Changed: ")
    assert not plan_for(api, client, rules).has_changes

    # one detection deleted: would-delete without prune, exactly that one with it
    gone = rules.pop(4)
    plan, outcomes = deploy(api, client, rules)
    assert changes(plan) == [("delete", gone.id)] and outcomes == [] and gone.id in api.hunting_queries()
    api.clear_log()
    plan, outcomes = deploy(api, client, rules, prune=True)
    assert [o.action.id for o in outcomes] == [gone.id] and all(o.ok for o in outcomes)
    assert [c.path for c in api.calls_matching("DELETE")] == [
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.OperationalInsights"
        f"/workspaces/{WORKSPACE}/savedSearches/{gone.id}"
    ]
    assert gone.id not in api.saved_searches() and len(api.hunting_queries()) == SEED_COUNT

    # the unowned saved searches were never written, and are never planned as dac's
    after = api.saved_searches()
    assert {key: after[key] for key in unowned} == unowned
    assert not any(call.method != "GET" and ("portal-hunt" in call.path or "my-function" in call.path)
                   for call in api.calls)  # fmt: skip
    final = plan_for(api, client, rules)
    assert all(a.id not in ("portal-hunt", "my-function") for a in final.actions)


def test_an_unowned_hunting_query_with_a_detection_id_is_a_conflict(api: FakeApi, seeds: list[Detection]) -> None:
    detection = seeds[0]
    api.put_saved_search(detection.id, {"category": CATEGORY, "displayName": "hand made", "query": "T | take 1"})
    before = copy.deepcopy(api.saved_searches())
    client = content_client(api)
    plan, outcomes = deploy(api, client, [desired(detection)], prune=True)
    assert changes(plan) == [("conflict", detection.id)] and not outcomes[0].ok
    assert api.saved_searches() == before and api.count("PUT") == 0 and api.count("DELETE") == 0


def test_a_portal_edit_of_a_hunting_query_is_drift_and_a_deploy_restores_it(
    api: FakeApi, seeds: list[Detection]
) -> None:
    client = content_client(api)
    rules = [desired(d) for d in seeds]
    deploy(api, client, rules)
    api.edit_saved_search(seeds[1].id, {"query": "DeviceNetworkEvents | take 1"})
    plan, outcomes = deploy(api, client, rules)
    assert changes(plan) == [("drifted", seeds[1].id)] and all(o.ok for o in outcomes)
    assert api.saved_searches()[seeds[1].id]["properties"]["query"] == rules[1].body["properties"]["query"]
    assert not plan_for(api, client, rules).has_changes


def test_a_kind_change_replaces_the_alert_rule_with_a_saved_search_and_back(
    api: FakeApi, seeds: list[Detection]
) -> None:
    detection = seeds[0]
    client = content_client(api)
    as_rule = copy.deepcopy(detection.data) | {
        "kind": "detection", "severity": "low", "schedule": {"frequency": "1h", "lookback": "1h"},
        "trigger": {"operator": "gt", "threshold": 0}, "alert": {"title": detection.name},
    }  # fmt: skip
    hunting = desired(detection)
    rule = DesiredRule(detection.id, detection.name, "x", sentinel_rule(as_rule, hunting.body["properties"]["query"]))
    deploy(api, client, [rule])
    assert detection.id in api.sentinel_rules() and not api.saved_searches()

    plan, outcomes = deploy(api, client, [hunting])
    assert changes(plan) == [("update", detection.id)] and all(o.ok for o in outcomes), outcomes
    assert not api.sentinel_rules() and detection.id in api.hunting_queries()
    assert not plan_for(api, client, [hunting]).has_changes

    plan, outcomes = deploy(api, client, [rule])
    assert changes(plan) == [("update", detection.id)] and all(o.ok for o in outcomes)
    assert detection.id in api.sentinel_rules() and not api.saved_searches()


@pytest.mark.parametrize("page_size", [None, 2])
def test_the_list_is_read_whole_or_by_next_links(api: FakeApi, seeds: list[Detection], page_size: int | None) -> None:
    api.saved_search_page_size = page_size
    seed_unowned(api)
    client = content_client(api)
    deploy(api, client, [desired(d) for d in seeds])
    api.clear_log()
    live = client.searches.list_rules()
    assert sorted(r.id for r in live) == sorted([d.id for d in seeds] + ["portal-hunt"])
    assert api.count("GET", r"/savedSearches$") == (1 if page_size is None else 4)  # 7 searches, 2 a page


@pytest.mark.parametrize("seed", [5, 23])
def test_a_deploy_with_one_request_in_five_failing_converges(api: FakeApi, seeds: list[Detection], seed: int) -> None:
    unowned = seed_unowned(api)
    client = content_client(api)
    rules = [desired(d) for d in seeds]
    api.set_faults(0.2, ["429", "500", "503", "drop", "write_then_fail", "drop_after_write"], seed=seed,
                   retry_after=0)  # fmt: skip
    api.fail_next(1, "drop_after_write", method="PUT", path=r"/savedSearches/")  # besides the random ones:
    api.fail_next(1, "write_then_fail", method="PUT", path=r"/savedSearches/")  # two creates whose answer is lost
    for _attempt in range(6):  # a failed rule (or list) is retried by rerunning the deploy
        try:
            _plan, outcomes = deploy(api, client, rules)
        except ApiError:
            continue
        if all(o.ok for o in outcomes):
            break
    api.clear_faults()
    lost = [c for c in api.calls if c.fault in ("write_then_fail", "drop_after_write") and c.method == "PUT"]
    assert lost, "writes whose answer was lost were injected"
    final = plan_for(api, client, rules)
    assert not final.has_changes and final.counts()["unchanged"] == SEED_COUNT
    assert len(api.hunting_queries()) == SEED_COUNT + 1
    after = api.saved_searches()
    assert {key: after[key] for key in unowned} == unowned

    # and a changed query plus a prune under faults converge too
    rules = rules[:3]
    api.set_faults(0.2, ["500", "drop", "write_then_fail", "drop_after_write"], seed=seed + 1)
    for _attempt in range(6):
        try:
            _plan, outcomes = deploy(api, client, rules, prune=True)
        except ApiError:
            continue
        if all(o.ok for o in outcomes):
            break
    api.clear_faults()
    final = plan_for(api, client, rules)
    assert not final.has_changes and len(api.hunting_queries()) == 3 + 1


# ------------------------------------------------------------------------------------ pull
def test_a_pulled_hunting_query_is_a_valid_detection(tmp_path: Path, api: FakeApi, seeds: list[Detection]) -> None:
    seed_unowned(api)
    api.put_saved_search("odd-tags", {  # a Sentinel-only tactic, an unknown technique, one without its tactic
        "category": CATEGORY, "displayName": "Odd tags", "query": "SigninLogs | take 5",
        "tags": [{"name": "Tactics", "value": "PreAttack, Persistence"},
                 {"name": "techniques", "value": "T1078,T9999,T1049"}],
    })  # fmt: skip
    client = content_client(api)
    deploy(api, client, [desired(d) for d in seeds])
    live = {rule.id: rule for rule in client.searches.list_rules()}
    (tmp_path / "dac.yml").write_text("detections: detections\n", encoding="utf-8")
    folder = tmp_path / "detections"
    folder.mkdir()
    pulled = {}
    for rule in live.values():
        data = to_hunting_detection(rule)
        pulled[rule.id] = data
        (folder / f"{data['id']}.yml").write_text(dump_detection(data, None), encoding="utf-8")

    report = validate([folder], find_project(tmp_path))
    errors = [d for d in report.diagnostics if d.severity.name == "ERROR"]
    assert errors == [] and len(report.detections) == SEED_COUNT + 2

    scanning = next(d for d in seeds if d.data.get("mitre"))
    data = pulled[scanning.id]
    assert data["id"] == scanning.id and data["kind"] == "hunting" and data["name"] == scanning.name
    assert data["description"] == scanning.data["description"]  # the marker is gone
    assert data["mitre"] == {"tactics": ["discovery"], "techniques": ["T1049"]}
    assert data["query"]["dialect"] == "sentinel" and data["variants"] == {"defender": {"enabled": False}}
    portal = pulled["portal-hunt"]
    assert portal["id"] == to_hunting_detection(live["portal-hunt"])["id"]  # stable across pulls
    assert portal["description"] == "made by hand\n" and portal["mitre"] == {"tactics": ["discovery"]}
    odd = pulled["odd-tags"]
    assert odd["mitre"] == {"tactics": ["persistence", "discovery"], "techniques": ["T1078", "T1049"]}
    assert odd["description"] == "Odd tags\n"  # no description tag: the name stands in


def test_a_saved_search_of_another_category_is_not_a_rule(api: FakeApi) -> None:
    seed_unowned(api)
    client = content_client(api)
    assert [r.id for r in client.list_rules()] == ["portal-hunt"]
    assert client.get_rule("my-function") is None and client.get_rule("portal-hunt") is not None
    assert isinstance(client.get_rule("portal-hunt"), LiveRule)
