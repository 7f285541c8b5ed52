"""Microsoft Sentinel analytics rules: ARM `Microsoft.SecurityInsights/alertRules` on a workspace.

Kind Scheduled is written with `rules.SENTINEL_API_VERSION`, kind NRT with the preview
`rules.SENTINEL_NRT_API_VERSION`; reads use the preview version so NRT rules are listed too.
PUT is idempotent, so retried writes are safe; an update carries the live etag, and an etag
conflict (412/409) is resolved by reading the rule again once and retrying with the fresh etag
(the plan already decided the content). A write whose answer was lost is checked by reading the
rule back, as for Defender.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from .. import rules
from . import LiveRule
from .http import ApiError, ApiSession, restrict, same_content
from .readback import confirmed_deleted, confirmed_write

log = logging.getLogger("dac.deploy")

ARM = "https://management.azure.com"
READ_API_VERSION = rules.SENTINEL_NRT_API_VERSION

# The properties dac sends (rules.sentinel_rule); the rest (lastModifiedUtc, templateVersion, ...)
# goes to LiveRule.extra.
_COMMON: dict[str, Any] = {
    "displayName": None,
    "description": None,
    "severity": None,
    "enabled": None,
    "query": None,
    "suppressionDuration": None,
    "suppressionEnabled": None,
    "tactics": None,
    "techniques": None,
    "eventGroupingSettings": {"aggregationKind": None},
    "incidentConfiguration": {
        "createIncident": None,
        "groupingConfiguration": {
            "enabled": None,
            "reopenClosedIncident": None,
            "lookbackDuration": None,
            "matchingMethod": None,
            "groupByEntities": None,
            "groupByAlertDetails": None,
            "groupByCustomDetails": None,
        },
    },
    "entityMappings": [{"entityType": None, "fieldMappings": [{"identifier": None, "columnName": None}]}],
    "customDetails": None,
    "alertDetailsOverride": {"alertDisplayNameFormat": None, "alertDescriptionFormat": None},
}
PROPERTY_SPECS: dict[str, dict[str, Any]] = {
    "Scheduled": {
        **_COMMON,
        "queryFrequency": None,
        "queryPeriod": None,
        "triggerOperator": None,
        "triggerThreshold": None,
        "subTechniques": None,
    },
    "NRT": {**_COMMON, "subTechniques": None},
}
ALWAYS_LISTS = {
    "Scheduled": ("tactics", "techniques", "subTechniques"),
    "NRT": ("tactics", "techniques", "subTechniques"),
}
DROP_WHEN_EMPTY = ("entityMappings", "customDetails", "alertDetailsOverride")  # dac omits these when empty


def api_version(kind: str | None) -> str:
    return rules.SENTINEL_NRT_API_VERSION if kind == "NRT" else rules.SENTINEL_API_VERSION


def rule_body(resource: dict[str, Any]) -> dict[str, Any]:
    """An alertRules resource as `{"kind", "properties"}` with only the properties dac sends for
    that kind (other kinds, e.g. Fusion, keep those of Scheduled that they have)."""
    kind = resource.get("kind")
    spec = PROPERTY_SPECS.get(str(kind), PROPERTY_SPECS["Scheduled"])
    properties: dict[str, Any] = restrict(resource.get("properties") or {}, spec)
    if kind in ALWAYS_LISTS:
        for name in ALWAYS_LISTS[kind]:
            properties[name] = properties.get(name) or []
    for name in DROP_WHEN_EMPTY:
        if name in properties and not properties[name]:
            del properties[name]
    grouping = (properties.get("incidentConfiguration") or {}).get("groupingConfiguration")
    if isinstance(grouping, dict):
        for name in ("groupByEntities", "groupByAlertDetails", "groupByCustomDetails"):
            grouping[name] = grouping.get(name) or []
    return {"kind": kind, "properties": properties}


def live_rule(resource: dict[str, Any]) -> LiveRule:
    kind = resource.get("kind")
    spec = PROPERTY_SPECS.get(str(kind), PROPERTY_SPECS["Scheduled"])
    extra = {key: value for key, value in resource.items() if key not in ("properties", "kind", "etag")}
    extra.update({key: value for key, value in (resource.get("properties") or {}).items() if key not in spec})
    rule_id = resource.get("name") or str(resource.get("id", "")).rsplit("/", 1)[-1]
    return LiveRule(id=str(rule_id), body=rule_body(resource), etag=resource.get("etag"), extra=extra)


class SentinelClient:
    """RuleClient for Sentinel analytics rules (kinds Scheduled and NRT) in one workspace."""

    platform = "sentinel"

    def __init__(self, session: ApiSession, subscription: str, resource_group: str, workspace: str) -> None:
        self.session = session
        self.collection = (
            f"/subscriptions/{quote(subscription, safe='')}/resourceGroups/{quote(resource_group, safe='')}"
            f"/providers/Microsoft.OperationalInsights/workspaces/{quote(workspace, safe='')}"
            "/providers/Microsoft.SecurityInsights/alertRules"
        )

    def _path(self, rule_id: str) -> str:
        return f"{self.collection}/{quote(rule_id, safe='')}"

    def list_rules(self) -> list[LiveRule]:
        resources = self.session.iter_pages(self.collection, params={"api-version": READ_API_VERSION})
        return [live_rule(resource) for resource in resources]

    def get_rule(self, rule_id: str) -> LiveRule | None:
        status, data = self.session.json(
            "GET", self._path(rule_id), params={"api-version": READ_API_VERSION}, allow=(404,)
        )
        if status == 404 or not isinstance(data, dict):
            return None
        return live_rule(data)

    def _put(self, rule_id: str, payload: dict[str, Any]) -> LiveRule:
        _, data = self.session.json(
            "PUT", self._path(rule_id), params={"api-version": api_version(payload.get("kind"))}, json=payload
        )
        if isinstance(data, dict) and data:
            return live_rule(data)
        live = self.get_rule(rule_id)
        return live if live is not None else LiveRule(id=rule_id, body=rule_body(payload))

    def create_rule(self, rule_id: str, body: dict[str, Any]) -> LiveRule:
        payload = {"kind": body["kind"], "properties": body["properties"]}
        try:
            return self._put(rule_id, payload)
        except ApiError as error:
            if error.worth_reading_back(create=True):
                live = confirmed_write(self, rule_id, _content(payload))
                if live is not None:
                    return live
            raise

    def update_rule(self, rule_id: str, body: dict[str, Any], live: LiveRule) -> LiveRule:
        payload: dict[str, Any] = {"kind": body["kind"], "properties": body["properties"]}
        if live.etag:
            payload["etag"] = live.etag
        try:
            return self._put(rule_id, payload)
        except ApiError as error:
            if error.status in (409, 412):  # also what a retried PUT meets after the first one went through
                return self._retry_with_fresh_etag(rule_id, payload, error)
            if error.worth_reading_back(create=False):
                confirmed = confirmed_write(self, rule_id, _content(payload))
                if confirmed is not None:
                    return confirmed
            raise

    def _retry_with_fresh_etag(self, rule_id: str, payload: dict[str, Any], error: ApiError) -> LiveRule:
        """Someone (or a retried PUT of ours) changed the rule since the plan read it: once, re-read
        and PUT again with the current etag, unless it already holds the content."""
        fresh = self.get_rule(rule_id)
        if fresh is None:
            raise error  # deleted meanwhile: let the next run's plan decide
        if same_content({"kind": payload["kind"], "properties": payload["properties"]}, fresh.body):
            return fresh
        log.info("rule %s: etag conflict, retrying with the current etag", rule_id)
        retry = {**payload}
        if fresh.etag:
            retry["etag"] = fresh.etag
        else:
            retry.pop("etag", None)
        return self._put(rule_id, retry)

    def delete_rule(self, rule_id: str, live: LiveRule) -> None:
        version = api_version(live.body.get("kind") if live.body else None)
        try:
            self.session.request("DELETE", self._path(rule_id), params={"api-version": version}, allow=(404,))
        except ApiError as error:
            if error.worth_reading_back(create=False) and confirmed_deleted(self, rule_id):
                return
            raise


def _content(payload: dict[str, Any]) -> dict[str, Any]:
    """What a read-back compares: the rule's kind and properties, not the etag sent with them."""
    return {"kind": payload.get("kind"), "properties": payload.get("properties")}
