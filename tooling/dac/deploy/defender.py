"""Defender XDR custom detection rules: Microsoft Graph (beta) `/security/rules/detectionRules`.

The rule id is client-supplied (the detection's UUID), so a create whose answer was lost can be
recognised afterwards: when a POST fails in a way where the rule may exist anyway (no answer,
5xx after retries, or a 400/409 that a retried POST gets once the first one went through), the
rule is read back and, if it holds what dac sent, the create counts as done.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from . import LiveRule
from .http import ApiError, ApiSession, restrict
from .readback import confirmed_deleted, confirmed_write

log = logging.getLogger("dac.deploy")

GRAPH_BETA = "https://graph.microsoft.com/beta"
COLLECTION = "/security/rules/detectionRules"

# The fields dac sends (rules.defender_rule and the schema in schemas/api/); everything else the
# service returns (createdBy, lastRunDetails, ...) is read-only and goes to LiveRule.extra.
BODY_SPEC: dict[str, Any] = {
    "id": None,
    "displayName": None,
    "description": None,
    "status": None,
    "queryCondition": {"queryText": None},
    "schedule": {"frequency": None, "lookback": None},
    "detectionAction": {
        "alertTemplate": {
            "title": None,
            "description": None,
            "severity": None,
            "recommendedActions": None,
            "entityMappings": None,
            "customDetails": None,
            "tactics": [{"tactic": None, "techniques": [{"technique": None, "subTechniques": None}]}],
        },
        "organizationalScope": None,
        "automatedActions": None,
    },
}
KEEP_NULL = frozenset({"organizationalScope"})  # dac sends null (all devices); keep it comparable


def rule_body(rule: dict[str, Any]) -> dict[str, Any]:
    """A returned detectionRule in the shape dac sends: dac's fields only, with nulls, OData
    annotations, empty entity-mapping collections and empty subTechniques/customDetails removed."""
    body: dict[str, Any] = restrict(rule, BODY_SPEC, KEEP_NULL)
    template = (body.get("detectionAction") or {}).get("alertTemplate")
    if isinstance(template, dict):
        mappings = template.get("entityMappings")
        if isinstance(mappings, dict):
            cleaned = {}
            for collection, items in mappings.items():
                kept = [
                    {k: v for k, v in item.items() if v is not None} for item in items or [] if isinstance(item, dict)
                ]
                kept = [item for item in kept if item]
                if kept:
                    cleaned[collection] = kept
            if cleaned:
                template["entityMappings"] = cleaned
            else:
                del template["entityMappings"]
        details = template.get("customDetails")
        if isinstance(details, dict):  # a key cleared by an update reads back as null
            template["customDetails"] = {key: value for key, value in details.items() if value is not None}
        if not template.get("customDetails") and "customDetails" in template:
            del template["customDetails"]
        template["tactics"] = template.get("tactics") or []  # dac always sends the list
        for tactic in template["tactics"]:
            tactic["techniques"] = tactic.get("techniques") or []
            for technique in tactic["techniques"]:
                if not technique.get("subTechniques"):
                    technique.pop("subTechniques", None)
    return body


def clearing_patch(desired: dict[str, Any], live: dict[str, Any]) -> dict[str, Any]:
    """The PATCH that makes the live rule hold `desired`. Graph merges a PATCH into the rule (nested
    objects key by key) and clears a value only on an explicit null, so every field the live rule has
    and the detection no longer has is sent as null, at any depth of objects: a removed recommended
    action, custom detail or entity-mapping collection, schedule.lookback of a rule turned NRT.
    Arrays and other values are sent whole (they replace the live one)."""
    patch = dict(desired)
    for key, value in live.items():
        if key not in desired:
            patch[key] = None
        elif isinstance(value, dict) and isinstance(desired[key], dict):
            patch[key] = clearing_patch(desired[key], value)
    return patch


# Deprecated alertTemplate fields that rules made before their replacements may still hold (pull maps them)
DEPRECATED_TEMPLATE_FIELDS = ("impactedAssets", "mitreTechniques", "category")


def live_rule(rule: dict[str, Any]) -> LiveRule:
    extra = {key: value for key, value in rule.items() if key not in BODY_SPEC and not key.startswith("@odata.")}
    template = ((rule.get("detectionAction") or {}).get("alertTemplate")) or {}
    deprecated = {key: template[key] for key in DEPRECATED_TEMPLATE_FIELDS if template.get(key)}
    if deprecated:
        extra["alertTemplate"] = deprecated
    return LiveRule(id=str(rule.get("id")), body=rule_body(rule), etag=rule.get("@odata.etag"), extra=extra)


class DefenderClient:
    """RuleClient for Defender XDR custom detection rules."""

    platform = "defender"

    def __init__(self, session: ApiSession) -> None:
        self.session = session

    def _path(self, rule_id: str) -> str:
        return f"{COLLECTION}/{quote(rule_id, safe='')}"

    def list_rules(self) -> list[LiveRule]:
        return [live_rule(rule) for rule in self.session.iter_pages(COLLECTION)]

    def get_rule(self, rule_id: str) -> LiveRule | None:
        status, data = self.session.json("GET", self._path(rule_id), allow=(404,))
        if status == 404 or not isinstance(data, dict):
            return None
        return live_rule(data)

    def _after_write(self, rule_id: str, data: Any, sent: dict[str, Any]) -> LiveRule:
        if isinstance(data, dict) and data:
            return live_rule(data)
        # No body in the answer (204, or an empty 201): read it back, else trust what was sent.
        live = self.get_rule(rule_id)
        return live if live is not None else LiveRule(id=rule_id, body=rule_body(sent))

    def create_rule(self, rule_id: str, body: dict[str, Any]) -> LiveRule:
        sent = {**body, "id": rule_id}
        try:
            _, data = self.session.json("POST", COLLECTION, json=sent)
        except ApiError as error:
            if error.worth_reading_back(create=True):
                live = confirmed_write(self, rule_id, sent)
                if live is not None:
                    return live
            raise
        return self._after_write(rule_id, data, sent)

    def update_rule(self, rule_id: str, body: dict[str, Any], live: LiveRule) -> LiveRule:
        sent = {key: value for key, value in body.items() if key != "id"}  # the id is in the URL
        patch = clearing_patch(sent, {key: value for key, value in live.body.items() if key != "id"})
        try:
            _, data = self.session.json("PATCH", self._path(rule_id), json=patch)
        except ApiError as error:
            if error.worth_reading_back(create=False):
                confirmed = confirmed_write(self, rule_id, sent)
                if confirmed is not None:
                    return confirmed
            raise
        return self._after_write(rule_id, data, {**sent, "id": rule_id})

    def delete_rule(self, rule_id: str, live: LiveRule) -> None:
        try:
            self.session.request("DELETE", self._path(rule_id), allow=(404,))
        except ApiError as error:
            if error.worth_reading_back(create=False) and confirmed_deleted(self, rule_id):
                return
            raise
