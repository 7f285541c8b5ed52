"""Live rules -> detection files, to adopt rules made in a portal (or to inspect what dac deployed).

The conversion is the inverse of rules.py as far as the APIs allow: rules dac wrote keep their
detection id (from the marker); other rules get an id derived from the tenant's rule id, so that
pulling twice gives the same file, and an `adopt:` line naming the live rule, so that the first
deploy of the file takes that rule over in place. Tactics come back as ATT&CK short names,
durations as dac durations, entity mappings as `alert.entities`. Rules that are not query rules
(Fusion, machine learning, threat intelligence, incident creation) are skipped with the reason.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from pathlib import Path
from typing import Any

from ..model.attack import load_catalog
from ..model.project import Target, schema_reference
from ..model.yamlwrite import dump_detection
from ..redaction import write_text
from ..rules import (
    DEFENDER_ENTITY_TYPES,
    SENTINEL_ENTITY_TYPES,
    SENTINEL_IDENTIFIERS,
    TRIGGER_OPERATORS,
    read_marker,
    strip_marker,
)
from ..scaffold.detection import slugify
from . import LiveRule
from .saved_searches import to_hunting_detection
from .sentinel_content import is_hunting_body

_ISO = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
_PULL_NAMESPACE = uuid.UUID("6f1c1b0e-6a7d-4c55-9d3e-2b8f0f1e7c41")  # stable ids for adopted rules


def dac_duration(iso: str | None) -> str | None:
    """'PT1H' -> '1h', 'P1D' -> '24h', 'PT90M' -> '90m', 'PT0S' -> '0'; None when not whole minutes."""
    match = _ISO.match(iso or "")
    if not match:
        return None
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    if seconds:
        return None
    total = days * 1440 + hours * 60 + minutes
    if total == 0:
        return "0"
    if total % 1440 == 0 and total >= 2 * 1440:
        return f"{total // 1440}d"
    return f"{total // 60}h" if total % 60 == 0 else f"{total}m"


def kebab_tactic(name: str) -> str:
    """CommandAndControl -> command-and-control."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def _date(value: Any) -> str:
    text = str(value or "")
    return text[:10] if re.match(r"^\d{4}-\d{2}-\d{2}", text) else dt.date.today().isoformat()


def _detection_id(rule: LiveRule, description: str | None) -> str:
    marker = read_marker(description)
    if marker is not None:
        return marker.id
    try:
        return str(uuid.UUID(rule.id))
    except ValueError:
        return str(uuid.uuid5(_PULL_NAMESPACE, rule.id))


def entities_from_sentinel(mappings: list[dict[str, Any]]) -> list[dict[str, str]]:
    reverse = {}
    for dac_type, (entity_type, _default) in SENTINEL_ENTITY_TYPES.items():
        reverse.setdefault(entity_type, dac_type)
    entities = []
    for mapping in mappings or []:
        dac_type = reverse.get(mapping.get("entityType"))
        fields = {f["identifier"]: f["columnName"] for f in mapping.get("fieldMappings") or [] if f.get("columnName")}
        if dac_type and fields:
            entities.append(_entity(dac_type, fields))
    return entities


def _entity(dac_type: str, fields: dict[str, str]) -> dict[str, Any]:
    """One entity: a column with its identifier, or (several identifiers) an `identifiers` mapping."""
    if len(fields) == 1:
        identifier, column = next(iter(fields.items()))
        return {"type": dac_type, "column": column, "identifier": identifier}
    return {"type": dac_type, "identifiers": fields}


def _entities_from_defender(mappings: dict[str, list[dict[str, str]]]) -> list[dict[str, str]]:
    entities = []
    for collection, items in (mappings or {}).items():
        entry = next(((t, ids) for t, (c, ids, _d) in DEFENDER_ENTITY_TYPES.items() if c == collection), None)
        if entry is None:
            continue
        dac_type, identifiers = entry
        by_property = {}
        for identifier, prop in identifiers.items():
            by_property.setdefault(prop, identifier)
        for item in items or []:
            named = {prop: column for prop, column in item.items() if column and by_property.get(prop)}
            for prop, column in item.items():  # a property dac has no identifier for: the type's default
                if column and prop not in named:
                    entities.append({"type": dac_type, "column": column})
            fields = {_identifier_name(by_property[prop]): column for prop, column in named.items()}
            if fields:
                entities.append(_entity(dac_type, fields))
    return entities


def _identifier_name(name: str) -> str:
    """An identifier as the entity reference spells it (hostname -> HostName); Defender's own ones as
    dac documents them (deviceid -> DeviceId)."""
    return _IDENTIFIER_SPELLINGS.get(name, name[:1].upper() + name[1:])


_IDENTIFIER_SPELLINGS = {  # the first entity type's spelling wins (Account's Sid, not SecurityGroup's SID)
    **{identifier.lower(): identifier for names in reversed(SENTINEL_IDENTIFIERS.values()) for identifier in names},
    "sha1": "SHA1", "sha256": "SHA256", "deviceid": "DeviceId", "upn": "Upn", "userprincipalname": "UserPrincipalName",
    "accountobjectid": "AccountObjectId", "objectid": "ObjectId", "primaryaddress": "PrimaryAddress",
    "valuename": "ValueName", "serverip": "ServerIp", "dnsserverip": "DnsServerIp", "hostipaddress": "HostIpAddress",
}  # fmt: skip


def _base(rule: LiveRule, name: str, description: str | None, severity: str, enabled: bool) -> dict[str, Any]:
    created = rule.extra.get("createdDateTime") or rule.extra.get("createdTimeUtc")
    modified = rule.extra.get("lastModifiedDateTime") or rule.extra.get("lastModifiedUtc") or created
    author = rule.extra.get("createdBy") or "unknown"
    text = strip_marker(description).strip() or name
    return {
        "id": _detection_id(rule, description),
        "name": name,
        "description": text + "\n",
        "kind": "detection",
        "status": "stable" if enabled else "deprecated",
        "severity": severity.lower() if severity.lower() in ("informational", "low", "medium", "high") else "medium",
        "authors": [str(author)],
        "created": _date(created),
        "modified": _date(modified),
        "version": "1.0.0",
    }


def from_defender(rule: LiveRule) -> dict[str, Any]:
    body = rule.body
    template = (body.get("detectionAction") or {}).get("alertTemplate") or {}
    old_template = rule.extra.get("alertTemplate") or {}  # deprecated fields, where the new ones are absent
    enabled = body.get("status", "enabled" if rule.extra.get("isEnabled", True) else "disabled") == "enabled"
    data = _base(rule, body.get("displayName") or rule.id, body.get("description"),
                 template.get("severity") or "medium", enabled)  # fmt: skip
    tactics = [kebab_tactic(t["tactic"]) for t in template.get("tactics") or [] if t.get("tactic")]
    techniques = []
    for tactic in template.get("tactics") or []:
        for technique in tactic.get("techniques") or []:
            techniques.append(technique["technique"])
            techniques.extend(technique.get("subTechniques") or [])
    if not tactics and old_template.get("mitreTechniques"):
        catalog = load_catalog()
        known = [catalog.techniques[t] for t in map(str, old_template["mitreTechniques"]) if t in catalog.techniques]
        techniques = [str(t) for t in old_template["mitreTechniques"] if str(t) in catalog.techniques]
        tactics = [technique.tactics[0] for technique in known if technique.tactics]
    if tactics:
        data["mitre"] = {"tactics": list(dict.fromkeys(tactics)), "techniques": list(dict.fromkeys(techniques))}
    data["query"] = {"dialect": "defender", "text": (body.get("queryCondition") or {}).get("queryText", "") + "\n"}
    schedule = body.get("schedule") or {}
    frequency = dac_duration(schedule.get("frequency")) or "24h"
    data["schedule"] = {"frequency": frequency, "lookback": dac_duration(schedule.get("lookback")) or
                        ("30d" if frequency == "24h" else "4h" if frequency in ("0", "1h") else "24h")}  # fmt: skip
    data["trigger"] = {"operator": "gt", "threshold": 0}
    entities = _entities_from_defender(template.get("entityMappings"))
    if not entities and old_template.get("impactedAssets"):
        entities = _entities_from_impacted_assets(old_template["impactedAssets"])
    data["alert"] = _alert(template.get("title") or data["name"], template.get("description"),
                           template.get("recommendedActions"), entities, template.get("customDetails"))  # fmt: skip
    return data


# impactedAsset types of the deprecated alertTemplate.impactedAssets -> dac entity types
_IMPACTED_ASSETS = {"impactedDeviceAsset": "device", "impactedUserAsset": "user", "impactedMailboxAsset": "mailbox"}


def _entities_from_impacted_assets(assets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The deprecated impactedAssets ({"@odata.type": "#microsoft.graph.security.impactedDeviceAsset",
    "identifier": "deviceId"}, whose identifier names the column in camel case) as dac entities."""
    entities = []
    for asset in assets or []:
        kind = str(asset.get("@odata.type", "")).rsplit(".", 1)[-1]
        identifier = str(asset.get("identifier") or "")
        if kind in _IMPACTED_ASSETS and identifier:
            entities.append({"type": _IMPACTED_ASSETS[kind], "column": identifier[:1].upper() + identifier[1:]})
    return entities


def from_sentinel(rule: LiveRule) -> dict[str, Any]:
    properties = rule.body.get("properties") or {}
    data = _base(rule, properties.get("displayName") or rule.id, properties.get("description"),
                 properties.get("severity") or "Medium", bool(properties.get("enabled", True)))  # fmt: skip
    tactics = [kebab_tactic(t) for t in properties.get("tactics") or []]
    techniques = list(properties.get("techniques") or []) + list(properties.get("subTechniques") or [])
    if tactics:
        data["mitre"] = {"tactics": list(dict.fromkeys(tactics)), "techniques": list(dict.fromkeys(techniques))}
    data["query"] = {"dialect": "sentinel", "text": properties.get("query", "") + "\n"}
    if rule.body.get("kind") == "NRT":
        data["schedule"] = {"frequency": "0", "lookback": "5m"}
        data["trigger"] = {"operator": "gt", "threshold": 0}
    else:
        frequency = dac_duration(properties.get("queryFrequency")) or "1h"
        data["schedule"] = {
            "frequency": frequency,
            "lookback": dac_duration(properties.get("queryPeriod")) or frequency,
        }
        operators = {api: dac for dac, api in TRIGGER_OPERATORS.items()}
        data["trigger"] = {"operator": operators.get(properties.get("triggerOperator"), "gt"),
                           "threshold": int(properties.get("triggerThreshold") or 0)}  # fmt: skip
    override = properties.get("alertDetailsOverride") or {}
    description = override.get("alertDescriptionFormat")
    if description and description.strip() == strip_marker(properties.get("description")).strip():
        description = None
    data["alert"] = _alert(override.get("alertDisplayNameFormat") or data["name"], description, None,
                           entities_from_sentinel(properties.get("entityMappings")),
                           properties.get("customDetails"))  # fmt: skip
    return data


def _alert(title: str, description: str | None, actions: str | None, entities: list, details: dict | None) -> dict:
    alert: dict[str, Any] = {"title": title[:256]}
    if description and description.strip():
        alert["description"] = description.strip() + "\n"
    if actions and actions.strip():
        alert["recommended_actions"] = actions.strip() + "\n"
    if entities:
        alert["entities"] = entities
    if details:
        alert["custom_details"] = {str(key): str(value) for key, value in details.items()}
    return alert


# Sentinel alert rule kinds that hold a query dac can own; the others (Fusion, MLBehaviorAnalytics,
# ThreatIntelligence, MicrosoftSecurityIncidentCreation) are Microsoft's built-in engines.
QUERY_RULE_KINDS = frozenset({"Scheduled", "NRT"})


def skip_reason(rule: LiveRule, platform: str) -> str | None:
    """Why a live rule is not pulled, or None."""
    kind = rule.body.get("kind")
    if platform == "sentinel" and not is_hunting_body(rule.body) and kind not in QUERY_RULE_KINDS:
        return f"a {kind} rule is not a query rule (only Scheduled and NRT rules and hunting queries are)"
    return None


def to_detection(rule: LiveRule, platform: str) -> dict[str, Any]:
    """A live rule as detection data, enabled for the platform it came from only: the other
    platform's rendering is the engineer's call once the detection is adopted. A rule dac does not
    own gets `adopt:` with its id."""
    if is_hunting_body(rule.body):
        data = to_hunting_detection(rule)
    else:
        data = from_defender(rule) if platform == "defender" else from_sentinel(rule)
        other = "sentinel" if platform == "defender" else "defender"
        data["variants"] = {other: {"enabled": False}}
    description = rule.body.get("description") or (rule.body.get("properties") or {}).get("description")
    marker = read_marker(description)
    if marker is None or not marker.applies_to(rule.id):
        data["adopt"] = rule.id
    elif marker.rule:  # adopted before: the detection keeps naming the rule
        data["adopt"] = marker.rule
    return data


def write_pulled(
    rules: list[LiveRule], target: Target, out_dir: Path
) -> tuple[list[tuple[Path, LiveRule]], list[tuple[LiveRule, str]]]:
    """One detection file per live query rule in out_dir (existing files are never overwritten), and
    the rules skipped with the reason."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    skipped = []
    for rule in sorted(rules, key=lambda r: r.id):
        reason = skip_reason(rule, target.platform)
        if reason is not None:
            skipped.append((rule, reason))
            continue
        data = to_detection(rule, target.platform)
        stem = slugify(data["name"]) or data["id"]
        path, counter = out_dir / f"{stem}.yml", 2
        while path.exists():
            path, counter = out_dir / f"{stem}-{counter}.yml", counter + 1
        write_text(path, dump_detection(data, schema_reference(out_dir)), encoding="utf-8", newline="\n")
        written.append((path, rule))
    return written, skipped
