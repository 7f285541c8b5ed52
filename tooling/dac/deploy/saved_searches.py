"""Microsoft Sentinel hunting queries: Log Analytics saved searches of category "Hunting Queries".

The API (Microsoft Learn, "Saved Searches - Create Or Update / Get / Delete / List By Workspace"):
- `PUT|GET|DELETE {arm}/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.OperationalInsights
  /workspaces/{ws}/savedSearches/{id}?api-version=API_VERSION`, and GET on `.../savedSearches` to list;
- the list answer is a `SavedSearchesListResult`, `{"value": [...]}` without a `nextLink` (the
  whole workspace at once); a `nextLink` is followed all the same, should the service add one;
- the body carries `etag` at the top level: "To override an existing saved search, use '*' or
  specify the current Etag". A create sends none (so it never overwrites a saved search it does
  not know of); an update sends the live etag, and on an etag conflict (409/412) reads the search
  again once and retries with the fresh etag, as for alert rules;
- tags are `[{name, value}]`; Sentinel's Hunting page reads `description`, `tactics`, `techniques`.

Only saved searches of category "Hunting Queries" are rules here: the others (functions, queries
of other solutions) are never listed, so never planned, changed or deleted. dac's body keeps the
description (with the ownership marker) in `properties.description` (see hunting_rules.py); this
module turns it into the `description` tag on the wire and back.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import re
import uuid
from typing import Any
from urllib.parse import quote

from ..hunting_rules import CATEGORY, DESCRIPTION_TAG, KIND, TACTICS_TAG, TECHNIQUES_TAG
from ..model.attack import load_catalog
from ..rules import read_marker, strip_marker
from . import LiveRule
from .http import ApiError, ApiSession, same_content
from .readback import confirmed_deleted, confirmed_write

log = logging.getLogger("dac.deploy")

API_VERSION = "2025-07-01"
PROPERTIES = ("category", "displayName", "query", "version")  # sent as is; description and tags are mapped
PULL_NAMESPACE = uuid.UUID("0d9c3f6e-27b4-4b8e-9a51-7c2e5d0b8f13")  # stable ids for pulled searches
_TECHNIQUE = re.compile(r"^T\d{4}(\.\d{3})?$")


def is_hunting(resource: dict[str, Any]) -> bool:
    category = (resource.get("properties") or {}).get("category")
    return isinstance(category, str) and category.strip().casefold() == CATEGORY.casefold()


def _tag_list(tags: Any) -> list[dict[str, Any]]:
    return [tag for tag in tags or [] if isinstance(tag, dict)] if isinstance(tags, list) else []


def search_body(resource: dict[str, Any]) -> dict[str, Any]:
    """A savedSearches resource as dac's body: `{"kind": "HuntingQuery", "properties"}` with the
    description tag as `properties.description` and the other tags sorted by name."""
    source = resource.get("properties") or {}
    properties: dict[str, Any] = {name: source[name] for name in PROPERTIES if source.get(name) is not None}
    tags = []
    for tag in _tag_list(source.get("tags")):
        if str(tag.get("name", "")).casefold() == DESCRIPTION_TAG and "description" not in properties:
            properties["description"] = tag.get("value")
        else:
            tags.append({"name": tag.get("name"), "value": tag.get("value")})
    properties["tags"] = sorted(tags, key=lambda tag: (str(tag["name"]), str(tag["value"])))
    return {"kind": KIND, "properties": properties}


def wire_body(body: dict[str, Any], etag: str | None = None) -> dict[str, Any]:
    """dac's body -> the PUT body: the description becomes the first tag; "kind" is not sent."""
    properties = copy.deepcopy(body["properties"])
    description = properties.pop("description", None)
    tags = _tag_list(properties.pop("tags", None))
    if description is not None:
        tags = [{"name": DESCRIPTION_TAG, "value": description}, *tags]
    properties["tags"] = tags
    payload: dict[str, Any] = {"properties": properties}
    if etag:
        payload["etag"] = etag
    return payload


def live_search(resource: dict[str, Any]) -> LiveRule:
    extra = {key: value for key, value in resource.items() if key not in ("properties", "etag")}
    handled = (*PROPERTIES, "tags")
    extra.update({key: value for key, value in (resource.get("properties") or {}).items() if key not in handled})
    search_id = resource.get("name") or str(resource.get("id", "")).rsplit("/", 1)[-1]
    return LiveRule(id=str(search_id), body=search_body(resource), etag=resource.get("etag"), extra=extra)


class SavedSearchClient:
    """RuleClient for the hunting queries (saved searches of category Hunting Queries) of one workspace."""

    platform = "sentinel"

    def __init__(self, session: ApiSession, subscription: str, resource_group: str, workspace: str) -> None:
        self.session = session
        self.collection = (
            f"/subscriptions/{quote(subscription, safe='')}/resourceGroups/{quote(resource_group, safe='')}"
            f"/providers/Microsoft.OperationalInsights/workspaces/{quote(workspace, safe='')}/savedSearches"
        )

    def _path(self, search_id: str) -> str:
        return f"{self.collection}/{quote(search_id, safe='')}"

    def list_rules(self) -> list[LiveRule]:
        resources = self.session.iter_pages(self.collection, params={"api-version": API_VERSION})
        return [live_search(resource) for resource in resources if is_hunting(resource)]

    def get_rule(self, rule_id: str) -> LiveRule | None:
        """The hunting query of that id; None when there is none (or the saved search is of another
        category: that is not one of the rules here)."""
        status, data = self.session.json("GET", self._path(rule_id), params={"api-version": API_VERSION}, allow=(404,))
        if status == 404 or not isinstance(data, dict) or not is_hunting(data):
            return None
        return live_search(data)

    def _put(self, rule_id: str, body: dict[str, Any], etag: str | None) -> LiveRule:
        _, data = self.session.json(
            "PUT", self._path(rule_id), params={"api-version": API_VERSION}, json=wire_body(body, etag)
        )
        if isinstance(data, dict) and data:
            return live_search(data)
        live = self.get_rule(rule_id)
        return live if live is not None else LiveRule(id=rule_id, body=_content(body))

    def create_rule(self, rule_id: str, body: dict[str, Any]) -> LiveRule:
        try:
            return self._put(rule_id, body, None)
        except ApiError as error:
            # a lost answer, or a retried PUT that met the search its first attempt created
            if error.worth_reading_back(create=True):
                live = confirmed_write(self, rule_id, _content(body))
                if live is not None:
                    return live
            raise

    def update_rule(self, rule_id: str, body: dict[str, Any], live: LiveRule) -> LiveRule:
        try:
            return self._put(rule_id, body, live.etag)
        except ApiError as error:
            if error.status in (409, 412):  # stale etag: edited meanwhile, or our own retried PUT went through
                return self._retry_with_fresh_etag(rule_id, body, error)
            if error.worth_reading_back(create=False):
                confirmed = confirmed_write(self, rule_id, _content(body))
                if confirmed is not None:
                    return confirmed
            raise

    def _retry_with_fresh_etag(self, rule_id: str, body: dict[str, Any], error: ApiError) -> LiveRule:
        fresh = self.get_rule(rule_id)
        if fresh is None:
            raise error  # deleted (or no longer a hunting query) meanwhile: the next plan decides
        if same_content(_content(body), fresh.body):
            return fresh
        log.info("saved search %s: etag conflict, retrying with the current etag", rule_id)
        return self._put(rule_id, body, fresh.etag)

    def delete_rule(self, rule_id: str, live: LiveRule) -> None:
        try:
            self.session.request("DELETE", self._path(rule_id), params={"api-version": API_VERSION}, allow=(404,))
        except ApiError as error:
            if error.worth_reading_back(create=False) and confirmed_deleted(self, rule_id):
                return
            raise


def _content(body: dict[str, Any]) -> dict[str, Any]:
    """What a read-back compares: dac's body (kind and properties)."""
    return {"kind": body.get("kind", KIND), "properties": body.get("properties")}


# ------------------------------------------------------------------------------------ pull
def _tag(properties: dict[str, Any], name: str) -> str:
    for tag in _tag_list(properties.get("tags")):
        if str(tag.get("name", "")).casefold() == name:
            return str(tag.get("value") or "")
    return ""


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _kebab(tactic: str) -> str:
    """CommandAndControl -> command-and-control (the ATT&CK short name)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", tactic).lower()


def _date(value: Any) -> str:
    text = str(value or "")
    return text[:10] if re.match(r"^\d{4}-\d{2}-\d{2}", text) else dt.date.today().isoformat()


def _mitre(tactics_tag: str, techniques_tag: str) -> dict[str, list[str]]:
    """`mitre` from the tags: ATT&CK tactics dac knows (Sentinel-only ones such as PreAttack are
    dropped), and known techniques, each with one of its tactics listed (added when missing)."""
    catalog = load_catalog()
    tactics = [name for name in dict.fromkeys(_kebab(t) for t in _split(tactics_tag)) if name in catalog.tactics]
    techniques = []
    for technique_id in dict.fromkeys(_split(techniques_tag)):
        technique = catalog.techniques.get(technique_id) if _TECHNIQUE.match(technique_id) else None
        if technique is None:
            continue
        techniques.append(technique_id)
        if technique.tactics and not set(tactics) & set(technique.tactics):
            tactics.append(technique.tactics[0])
    mitre = {}
    if tactics:
        mitre["tactics"] = tactics
    if techniques:
        mitre["techniques"] = techniques
    return mitre


def to_hunting_detection(rule: LiveRule) -> dict[str, Any]:
    """A hunting query saved search as detection data (kind hunting, Sentinel dialect), enabled for
    Sentinel only. A search dac wrote keeps its detection id (from the marker); another gets an id
    derived from its saved search id, the same on every pull."""
    properties = rule.body.get("properties") or {}
    description = properties.get("description")
    marker = read_marker(description)
    if marker is not None:
        detection_id = marker.id
    else:
        try:
            detection_id = str(uuid.UUID(rule.id))
        except ValueError:
            detection_id = str(uuid.uuid5(PULL_NAMESPACE, rule.id))
    name = str(properties.get("displayName") or rule.id)
    system = rule.extra.get("systemData") if isinstance(rule.extra.get("systemData"), dict) else {}
    created = system.get("createdAt")
    data: dict[str, Any] = {
        "id": detection_id,
        "name": name[:256],
        "description": (strip_marker(description).strip() or name) + "\n",
        "kind": "hunting",
        "status": "stable",
        "authors": [str(system.get("createdBy") or "unknown")],
        "created": _date(created),
        "modified": _date(system.get("lastModifiedAt") or created),
        "version": "1.0.0",
    }
    mitre = _mitre(_tag(properties, TACTICS_TAG), _tag(properties, TECHNIQUES_TAG))
    if mitre:
        data["mitre"] = mitre
    data["query"] = {"dialect": "sentinel", "text": str(properties.get("query") or "").rstrip("\n") + "\n"}
    data["variants"] = {"defender": {"enabled": False}}
    return data
