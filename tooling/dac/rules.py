"""Deployable rule bodies built from a detection: pure functions, no HTTP.

- `defender_rule`: the Microsoft Graph (beta) `microsoft.graph.security.detectionRule` body for
  POST/PATCH `/security/rules/detectionRules` (Defender XDR custom detection rules).
- `sentinel_rule`: the ARM `Microsoft.SecurityInsights/alertRules` PUT body, kind `Scheduled`
  (api-version 2025-12-01) or `NRT` (near-real-time; only in preview api-versions, 2025-07-01-preview).

The shapes follow the API documentation; the JSON Schemas written from it are kept in
schemas/api/ and list the pages. Both functions are deterministic: the same detection and query
give byte-identical `json.dumps(body, indent=2, sort_keys=True)`.

Ownership: each body's description ends with a marker line `[dac id=<uuid> hash=<12 hex>]`. The
hash is the SHA-256 of `json.dumps(body, sort_keys=True)` computed on the body *without* the
marker, so a deployment can tell its own rules from others and see whether a live rule still
matches what dac deployed (`read_marker`, `strip_marker`, `content_hash`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from .model.attack import load_catalog

SENTINEL_API_VERSION = "2025-12-01"  # kind Scheduled
SENTINEL_NRT_API_VERSION = "2025-07-01-preview"  # kind NRT is not in a stable api-version

# --------------------------------------------------------------------------------------------
# Durations
# --------------------------------------------------------------------------------------------

_DURATION = re.compile(r"^(0|[1-9][0-9]*[mhd])$")
_UNIT_MINUTES = {"m": 1, "h": 60, "d": 1440}


def is_nrt(frequency: Any) -> bool:
    """`schedule.frequency` 0 (number or string) means near-real-time."""
    return str(frequency).strip() == "0"


def duration_minutes(value: Any) -> int:
    """'5m' -> 5, '1h' -> 60, '1d' -> 1440, 0 or '0' -> 0. Raises ValueError for anything else."""
    text = str(value).strip()
    if not _DURATION.match(text):
        raise ValueError(f"not a dac duration: {value!r}")
    if text == "0":
        return 0
    return int(text[:-1]) * _UNIT_MINUTES[text[-1]]


def iso_duration(value: Any) -> str:
    """A dac duration as ISO 8601, in the canonical form Azure echoes back.

    '5m' -> 'PT5M', '1h' -> 'PT1H', '90m' -> 'PT1H30M', '24h' -> 'P1D', '14d' -> 'P14D', '0' -> 'PT0S'.
    """
    minutes = duration_minutes(value)
    if minutes == 0:
        return "PT0S"
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    text = "P" + (f"{days}D" if days else "")
    if hours or mins:
        text += "T" + (f"{hours}H" if hours else "") + (f"{mins}M" if mins else "")
    return text


# --------------------------------------------------------------------------------------------
# Ownership marker
# --------------------------------------------------------------------------------------------

# `rule=` is there only when the detection adopted a rule whose id is not the detection's (see plan.py).
MARKER_RE = re.compile(
    r"\n*\[dac id=(?P<id>[0-9a-f-]{36}) hash=(?P<hash>[0-9a-f]{12})(?: rule=(?P<rule>[^\s\]]+))?\]\s*$"
)


@dataclass(frozen=True)
class Marker:
    id: str  # the detection's id
    hash: str
    rule: str | None = None  # the adopted rule's own id, when it is not the detection's

    def applies_to(self, rule_id: str) -> bool:
        """Whether the marker was written for the rule with this id (and not copied into another rule's
        description, as a portal "duplicate" would): ids compared without case, as ARM compares them."""
        return (self.rule or self.id).casefold() == rule_id.casefold()


def normalised(value: Any) -> Any:
    """The body without null values and empty objects or lists, at any depth.

    Services echo properties dac did not send as null (and drop some nulls dac sends), so the hash
    and the comparison of live and desired rules look only at what has a value.
    """
    if isinstance(value, dict):
        items = {key: normalised(item) for key, item in value.items()}
        return {key: item for key, item in items.items() if item not in (None, {}, [])}
    if isinstance(value, list):
        return [normalised(item) for item in value]
    return value


def content_hash(body: dict[str, Any]) -> str:
    """12 hex digits of SHA-256 over the normalised body (without the marker), keys sorted."""
    return hashlib.sha256(json.dumps(normalised(body), sort_keys=True).encode("utf-8")).hexdigest()[:12]


def marker_line(detection_id: str, digest: str, rule_id: str | None = None) -> str:
    adopted = f" rule={rule_id}" if rule_id and rule_id != detection_id else ""
    return f"[dac id={detection_id} hash={digest}{adopted}]"


def read_marker(description: str | None) -> Marker | None:
    """The dac marker at the end of a live rule's description, if any."""
    match = MARKER_RE.search(description or "")
    return Marker(match["id"], match["hash"], match["rule"]) if match else None


def strip_marker(description: str | None) -> str:
    return MARKER_RE.sub("", description or "")


def with_marker(
    body: dict[str, Any], detection_id: str, holder: dict[str, Any], rule_id: str | None = None
) -> dict[str, Any]:
    """Append the marker to holder['description'] (holder is inside body); the hash excludes it.
    `rule_id`: the id of the rule the detection adopted, when it is not the detection's."""
    digest = content_hash(body)
    base = holder.get("description") or ""
    holder["description"] = (base + "\n\n" if base else "") + marker_line(detection_id, digest, rule_id)
    return body


# --------------------------------------------------------------------------------------------
# Entities: dac entity types -> Sentinel entity types and identifiers, Defender entity mappings
# --------------------------------------------------------------------------------------------

# Identifiers per Sentinel entity type (Microsoft Sentinel entity types reference).
SENTINEL_IDENTIFIERS: dict[str, tuple[str, ...]] = {
    "Account": ("Name", "FullName", "NTDomain", "DnsDomain", "UPNSuffix", "Sid", "AadTenantId", "AadUserId",
                "PUID", "IsDomainJoined", "DisplayName", "ObjectGuid"),
    "Host": ("DnsDomain", "NTDomain", "HostName", "FullName", "NetBiosName", "AzureID", "OMSAgentID", "OSFamily",
             "OSVersion", "IsDomainJoined"),
    "IP": ("Address",),
    "Malware": ("Name", "Category"),
    "File": ("Directory", "Name"),
    "Process": ("ProcessId", "CommandLine", "ElevationToken", "CreationTimeUtc"),
    "CloudApplication": ("AppId", "Name", "InstanceName"),
    "DNS": ("DomainName",),
    "AzureResource": ("ResourceId",),
    "FileHash": ("Algorithm", "Value"),
    "RegistryKey": ("Hive", "Key"),
    "RegistryValue": ("Name", "Value", "ValueType"),
    "SecurityGroup": ("DistinguishedName", "SID", "ObjectGuid"),
    "URL": ("Url",),
    "Mailbox": ("MailboxPrimaryAddress", "DisplayName", "Upn", "ExternalDirectoryObjectId", "RiskLevel"),
    "MailCluster": ("NetworkMessageIds", "CountByDeliveryStatus", "CountByThreatType", "CountByProtectionStatus",
                    "Threats", "Query", "QueryTime", "MailCount", "IsVolumeAnomaly", "Source",
                    "ClusterSourceIdentifier", "ClusterSourceType", "ClusterQueryStartTime", "ClusterQueryEndTime",
                    "ClusterGroup"),
    "MailMessage": ("Recipient", "Urls", "Threats", "Sender", "P1Sender", "P1SenderDisplayName", "P1SenderDomain",
                    "SenderIP", "P2Sender", "P2SenderDisplayName", "P2SenderDomain", "ReceivedDate",
                    "NetworkMessageId", "InternetMessageId", "Subject", "BodyFingerprintBin1", "BodyFingerprintBin2",
                    "BodyFingerprintBin3", "BodyFingerprintBin4", "BodyFingerprintBin5", "AntispamDirection",
                    "DeliveryAction", "DeliveryLocation", "Language", "ThreatDetectionMethods"),
    "SubmissionMail": ("SubmissionId", "SubmissionDate", "Submitter", "NetworkMessageId", "Timestamp", "Recipient",
                       "Sender", "SenderIp", "Subject", "ReportType"),
}  # fmt: skip

# dac entity type -> (Sentinel entity type, default identifier). IoT devices have no entity
# mapping type in the alertRules API.
SENTINEL_ENTITY_TYPES: dict[str, tuple[str, str]] = {
    "account": ("Account", "Name"),
    "user": ("Account", "Name"),
    "host": ("Host", "HostName"),
    "device": ("Host", "HostName"),
    "ip": ("IP", "Address"),
    "url": ("URL", "Url"),
    "file": ("File", "Name"),
    "filehash": ("FileHash", "Value"),
    "process": ("Process", "CommandLine"),
    "mailbox": ("Mailbox", "MailboxPrimaryAddress"),
    "mailmessage": ("MailMessage", "NetworkMessageId"),
    "cloudapplication": ("CloudApplication", "Name"),
    "azureresource": ("AzureResource", "ResourceId"),
    "dns": ("DNS", "DomainName"),
    "registrykey": ("RegistryKey", "Key"),
    "registryvalue": ("RegistryValue", "Name"),
    "securitygroup": ("SecurityGroup", "DistinguishedName"),
    "malware": ("Malware", "Name"),
    "mailcluster": ("MailCluster", "Query"),
}

# dac entity type -> (entityMappingConfiguration collection, {identifier (lowercase) -> *Column
# property}, default property). Identifiers are Sentinel's names plus Defender's own (DeviceId,
# Upn, SHA1, SHA256). Malware and IoT devices have no Defender entity mapping.
_ACCOUNT = {
    "name": "nameColumn", "fullname": "upnColumn", "upn": "upnColumn", "userprincipalname": "upnColumn",
    "upnsuffix": "upnSuffixColumn", "ntdomain": "ntDomainColumn", "dnsdomain": "dnsDomainColumn",
    "sid": "sidColumn", "aaduserid": "aadUserIdColumn", "accountobjectid": "aadUserIdColumn",
    "objectid": "aadUserIdColumn",
}  # fmt: skip
_HOST = {
    "hostname": "nameColumn", "name": "nameColumn", "fullname": "nameColumn", "netbiosname": "netBiosNameColumn",
    "dnsdomain": "dnsDomainColumn", "ntdomain": "ntDomainColumn", "deviceid": "deviceIdColumn",
}  # fmt: skip
_HASHES = {"sha1": "sha1Column", "sha256": "sha256Column"}
DEFENDER_ENTITY_TYPES: dict[str, tuple[str, dict[str, str], str | None]] = {
    "account": ("accounts", _ACCOUNT, "nameColumn"),
    "user": ("accounts", _ACCOUNT, "nameColumn"),
    "host": ("hosts", _HOST, "nameColumn"),
    "device": ("hosts", _HOST, "nameColumn"),
    "ip": ("ips", {"address": "addressColumn"}, "addressColumn"),
    "url": ("urls", {"url": "addressColumn", "address": "addressColumn"}, "addressColumn"),
    "file": ("files", {"name": "nameColumn", **_HASHES}, "nameColumn"),
    "filehash": ("files", {**_HASHES, "value": "sha1Column"}, "sha1Column"),
    "process": ("processes", dict(_HASHES), None),
    "mailbox": ("mailboxes", {"mailboxprimaryaddress": "primaryAddressColumn", "primaryaddress": "primaryAddressColumn",
                              "upn": "primaryAddressColumn"}, "primaryAddressColumn"),
    "mailmessage": ("mailMessages", {"networkmessageid": "networkMessageIdColumn", "recipient": "recipientColumn",
                                     "sender": "senderColumn", "subject": "subjectColumn"}, "networkMessageIdColumn"),
    "cloudapplication": ("cloudApplications", {"appid": "appIdColumn", "name": "nameColumn"}, "nameColumn"),
    "azureresource": ("azureResources", {"resourceid": "resourceIdColumn"}, "resourceIdColumn"),
    "dns": ("dns", {"domainname": "domainNameColumn", "hostipaddress": "hostIpAddressColumn",
                    "dnsserverip": "serverIpColumn", "serverip": "serverIpColumn"}, "domainNameColumn"),
    "registrykey": ("registryValues", {"key": "keyColumn"}, "keyColumn"),
    "registryvalue": ("registryValues", {"name": "valueNameColumn", "valuename": "valueNameColumn",
                                         "key": "keyColumn"}, "valueNameColumn"),
    "securitygroup": ("securityGroups", {"distinguishedname": "distinguishedNameColumn", "sid": "sidColumn",
                                         "objectguid": "objectIdColumn", "objectid": "objectIdColumn"},
                      "distinguishedNameColumn"),
    "mailcluster": ("mailClusters", {"query": "queryColumn", "source": "sourceColumn"}, "queryColumn"),
}  # fmt: skip


def _column_hint(entity_type: str, column: str) -> str | None:
    """An identifier suggested by a well-known column name (AccountSid -> Sid, DeviceId -> DeviceId)."""
    lowered = column.lower()
    if entity_type in ("account", "user"):
        if lowered.endswith(("objectid", "aaduserid")):
            return "AadUserId"
        if lowered.endswith("sid"):
            return "Sid"
        if lowered.endswith(("upn", "userprincipalname")):
            return "Upn"
    if entity_type in ("host", "device") and lowered.endswith("deviceid"):
        return "DeviceId"
    if entity_type in ("filehash", "process", "file"):
        if "sha256" in lowered:
            return "SHA256"
        if "sha1" in lowered:
            return "SHA1"
    return None


@dataclass(frozen=True)
class EntityTarget:
    """Where one `alert.entities[]` entry lands on a platform."""

    kind: str  # Sentinel entityType, or Defender entityMappingConfiguration collection
    field: str  # Sentinel identifier, or Defender *Column property
    exact: bool  # False when the requested identifier has no equivalent and the default is used


def sentinel_entity(entity: dict[str, Any]) -> EntityTarget | None:
    """Sentinel entity type and identifier for a dac entity; None when Sentinel has no such type."""
    entry = SENTINEL_ENTITY_TYPES.get(entity["type"])
    if entry is None:
        return None
    entity_type, default = entry
    known = {name.lower(): name for name in SENTINEL_IDENTIFIERS[entity_type]}
    wanted = entity.get("identifier")
    if wanted:
        if wanted.lower() in known:
            return EntityTarget(entity_type, known[wanted.lower()], True)
        return EntityTarget(entity_type, default, False)
    hint = _column_hint(entity["type"], entity["column"])
    if hint == "Upn" and entity_type == "Account":
        hint = "FullName"  # Sentinel splits a UPN given as FullName into Name + UPNSuffix
    if hint and hint.lower() in known:
        return EntityTarget(entity_type, known[hint.lower()], True)
    return EntityTarget(entity_type, default, True)


def defender_entity(entity: dict[str, Any]) -> EntityTarget | None:
    """Defender entity mapping collection and *Column property; None when Defender has none."""
    entry = DEFENDER_ENTITY_TYPES.get(entity["type"])
    if entry is None:
        return None
    collection, identifiers, default = entry
    wanted = entity.get("identifier")
    if wanted:
        field = identifiers.get(wanted.lower())
        if field:
            return EntityTarget(collection, field, True)
    hint = _column_hint(entity["type"], entity["column"])
    if hint and hint.lower() in identifiers:
        return EntityTarget(collection, identifiers[hint.lower()], not wanted)
    if default is None:
        return None
    return EntityTarget(collection, default, not wanted)


def identifier_known(entity: dict[str, Any]) -> bool:
    """Whether `entity.identifier` (if any) names an identifier on at least one platform."""
    wanted = entity.get("identifier")
    if not wanted:
        return True
    sentinel = SENTINEL_ENTITY_TYPES.get(entity["type"])
    if sentinel and wanted.lower() in {name.lower() for name in SENTINEL_IDENTIFIERS[sentinel[0]]}:
        return True
    defender = DEFENDER_ENTITY_TYPES.get(entity["type"])
    return bool(defender and wanted.lower() in defender[1])


# --------------------------------------------------------------------------------------------
# MITRE ATT&CK
# --------------------------------------------------------------------------------------------

# The AttackTactic values of the alertRules API (common/AlertTypes.json).
SENTINEL_TACTICS = frozenset(
    {
        "Reconnaissance", "ResourceDevelopment", "InitialAccess", "Execution", "Persistence",
        "PrivilegeEscalation", "DefenseEvasion", "CredentialAccess", "Discovery", "LateralMovement",
        "Collection", "Exfiltration", "CommandAndControl", "Impact", "PreAttack", "ImpairProcessControl",
        "InhibitResponseFunction",
    }
)  # fmt: skip


def pascal_tactic(shortname: str) -> str:
    """ATT&CK short name -> Microsoft's casing: command-and-control -> CommandAndControl."""
    return "".join(part[:1].upper() + part[1:] for part in shortname.split("-"))


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _mitre(data: dict[str, Any]) -> tuple[list[str], list[str]]:
    mitre = data.get("mitre") or {}
    return _unique(list(mitre.get("tactics") or [])), _unique(list(mitre.get("techniques") or []))


def sentinel_tactics(data: dict[str, Any]) -> list[str]:
    tactics, _ = _mitre(data)
    return [name for name in _unique([pascal_tactic(t) for t in tactics]) if name in SENTINEL_TACTICS]


def parent_techniques(data: dict[str, Any]) -> list[str]:
    """T1059.001 -> T1059, unique, in order of first appearance."""
    _, techniques = _mitre(data)
    return _unique([t.split(".")[0] for t in techniques])


def sub_techniques(data: dict[str, Any]) -> list[str]:
    _, techniques = _mitre(data)
    return [t for t in techniques if "." in t]


def defender_tactics(data: dict[str, Any]) -> list[dict[str, Any]]:
    """alertTemplate.tactics: [{tactic, techniques: [{technique, subTechniques}]}].

    Each technique is placed under the listed tactics it belongs to in ATT&CK; one that belongs to
    none of them (or is unknown to dac's catalog) goes under the first tactic.
    """
    tactics, techniques = _mitre(data)
    if not tactics:
        return []
    catalog = load_catalog()
    subs: dict[str, list[str]] = {}
    for technique in techniques:
        parent = technique.split(".")[0]
        bucket = subs.setdefault(parent, [])
        if "." in technique:
            bucket.append(technique)
    placed: dict[str, list[str]] = {tactic: [] for tactic in tactics}
    for parent in subs:
        known = catalog.techniques.get(parent)
        homes = [t for t in tactics if known and t in known.tactics] or [tactics[0]]
        for home in homes:
            placed[home].append(parent)
    result = []
    for tactic in tactics:
        entries = []
        for parent in placed[tactic]:
            entry: dict[str, Any] = {"technique": parent}
            if subs[parent]:
                entry["subTechniques"] = subs[parent]
            entries.append(entry)
        result.append({"tactic": pascal_tactic(tactic), "techniques": entries})
    return result


# --------------------------------------------------------------------------------------------
# Bodies
# --------------------------------------------------------------------------------------------

SEVERITIES = ("informational", "low", "medium", "high")
TRIGGER_OPERATORS = {"gt": "GreaterThan", "lt": "LessThan", "eq": "Equal", "ne": "NotEqual"}
PLACEHOLDER_RE = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")


def placeholders(text: str | None) -> list[str]:
    """Column names of `{{Column}}` placeholders, in order (duplicates kept)."""
    return PLACEHOLDER_RE.findall(text or "")


def _severity(data: dict[str, Any]) -> str:
    severity = data.get("severity") or "medium"
    return severity if severity in SEVERITIES else "medium"


def _description(data: dict[str, Any]) -> str:
    return (data.get("description") or "").strip()


def _alert(data: dict[str, Any]) -> dict[str, Any]:
    return data.get("alert") or {}


def entity_entries(alert: dict[str, Any]) -> list[tuple[int, tuple[Any, ...], dict[str, Any]]]:
    """Each column of `alert.entities` as (the entity's index, its path inside the entry, a one-column
    entity {type, column, identifier}): an entry is one column, or one entity of several identifiers
    (`identifiers: {Name: AccountName, Sid: AccountSid}`: one account, not two)."""
    entries = []
    for index, entity in enumerate(alert.get("entities") or []):
        if isinstance(entity.get("identifiers"), dict):
            for identifier, column in entity["identifiers"].items():
                entries.append((index, ("identifiers", identifier),
                                {"type": entity["type"], "column": column, "identifier": identifier}))  # fmt: skip
        else:
            entries.append((index, ("column",), entity))
    return entries


def _entities(data: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    return [(index, entity) for index, _path, entity in entity_entries(_alert(data))]


def _custom_details(data: dict[str, Any]) -> dict[str, str]:
    return {str(key): str(value) for key, value in (_alert(data).get("custom_details") or {}).items()}


def defender_rule(data: dict[str, Any], query_text: str, rule_id: str | None = None) -> dict[str, Any]:
    """Graph `detectionRule` body (beta). The client supplies `id`: the detection's UUID, or `rule_id`,
    the id of the rule the detection adopted.

    Deprecated properties (isEnabled, schedule.period, alertTemplate.category/mitreTechniques/
    impactedAssets, detectionAction.responseActions) are not written; their replacements are.
    """
    alert = _alert(data)
    schedule = data.get("schedule") or {}
    frequency = schedule.get("frequency", "1h")
    rule_schedule: dict[str, Any] = {"frequency": iso_duration(frequency)}
    if not is_nrt(frequency) and schedule.get("lookback"):
        rule_schedule["lookback"] = iso_duration(schedule["lookback"])

    # one item per entity: the columns of an entity of several identifiers are one item's properties
    items: dict[tuple[str, int], dict[str, str]] = {}
    for index, entity in _entities(data):
        target = defender_entity(entity)
        if target is not None:
            items.setdefault((target.kind, index), {})[target.field] = entity["column"]
    mappings: dict[str, list[dict[str, str]]] = {}
    for (collection, _index), item in items.items():
        mappings.setdefault(collection, []).append(item)

    template: dict[str, Any] = {
        "title": alert.get("title") or data["name"],
        "description": (alert.get("description") or _description(data)).strip(),
        "severity": _severity(data),
        "tactics": defender_tactics(data),
    }
    if alert.get("recommended_actions"):
        template["recommendedActions"] = alert["recommended_actions"].strip()
    if mappings:
        template["entityMappings"] = mappings
    details = _custom_details(data)
    if details:
        template["customDetails"] = details

    body: dict[str, Any] = {
        "id": rule_id or data["id"],
        "displayName": data["name"],
        "description": _description(data),
        "status": "disabled" if data.get("status") == "deprecated" else "enabled",
        "queryCondition": {"queryText": query_text},
        "schedule": rule_schedule,
        "detectionAction": {"alertTemplate": template, "organizationalScope": None},
    }
    return with_marker(body, data["id"], body, rule_id)


# Sentinel-only settings (`alert.grouping`, `incident`, `suppression`): dac value -> ARM value. A
# detection without them renders the defaults below, which are what every body had before the
# fields existed (the marker hash of deployed rules depends on it).
ALERT_GROUPING = {"single": "SingleAlert", "per-result": "AlertPerResult"}
INCIDENT_MATCHING = {"all-entities": "AllEntities", "any-alert": "AnyAlert", "selected": "Selected"}
SUPPRESSION_DEFAULT = {"enabled": False, "duration": "5h"}
INCIDENT_GROUPING_DEFAULT = {"enabled": False, "reopen_closed": False, "lookback": "5h", "matching": "all-entities"}


def sentinel_suppression(data: dict[str, Any]) -> dict[str, Any]:
    """suppressionDuration and suppressionEnabled from `suppression` (default: off, 5h)."""
    suppression = {**SUPPRESSION_DEFAULT, **(data.get("suppression") or {})}
    return {
        "suppressionDuration": iso_duration(suppression["duration"]),
        "suppressionEnabled": bool(suppression["enabled"]),
    }


def sentinel_incident(data: dict[str, Any]) -> dict[str, Any]:
    """incidentConfiguration from `incident` (default: create incidents, no alert grouping)."""
    incident = data.get("incident") or {}
    grouping = {**INCIDENT_GROUPING_DEFAULT, **(incident.get("grouping") or {})}
    return {
        "createIncident": bool(incident.get("create", True)),
        "groupingConfiguration": {
            "enabled": bool(grouping["enabled"]),
            "reopenClosedIncident": bool(grouping["reopen_closed"]),
            "lookbackDuration": iso_duration(grouping["lookback"]),
            "matchingMethod": INCIDENT_MATCHING[grouping["matching"]],
            "groupByEntities": list(grouping.get("by_entities") or []),
            "groupByAlertDetails": list(grouping.get("by_alert_details") or []),
            "groupByCustomDetails": list(grouping.get("by_custom_details") or []),
        },
    }


def sentinel_rule(data: dict[str, Any], query_text: str, rule_id: str | None = None) -> dict[str, Any]:
    """ARM alertRules PUT body: kind Scheduled, or NRT when schedule.frequency is 0.

    Send Scheduled with api-version SENTINEL_API_VERSION and NRT with SENTINEL_NRT_API_VERSION;
    the rule id in the URL is the detection's UUID, or `rule_id`, the rule the detection adopted.
    """
    alert = _alert(data)
    schedule = data.get("schedule") or {}
    trigger = data.get("trigger") or {}
    nrt = is_nrt(schedule.get("frequency", "1h"))

    properties: dict[str, Any] = {
        "displayName": data["name"],
        "description": _description(data),
        "severity": _severity(data).capitalize(),
        "enabled": data.get("status") != "deprecated",
        "query": query_text,
        **sentinel_suppression(data),
        "tactics": sentinel_tactics(data),
        "techniques": parent_techniques(data),
        "eventGroupingSettings": {"aggregationKind": ALERT_GROUPING[alert.get("grouping", "single")]},
        "incidentConfiguration": sentinel_incident(data),
    }
    # subTechniques: a property of both kinds (ScheduledAlertRuleProperties and NRT alike)
    properties["subTechniques"] = sub_techniques(data)
    if not nrt:  # NRT rules have no schedule or trigger (they alert on every new result)
        properties["queryFrequency"] = iso_duration(schedule.get("frequency", "1h"))
        properties["queryPeriod"] = iso_duration(schedule.get("lookback", schedule.get("frequency", "1h")))
        properties["triggerOperator"] = TRIGGER_OPERATORS[trigger.get("operator", "gt")]
        properties["triggerThreshold"] = int(trigger.get("threshold", 0))

    grouped: dict[int, dict[str, Any]] = {}  # one mapping per entity, a field mapping per identifier
    for index, entity in _entities(data):
        target = sentinel_entity(entity)
        if target is not None:
            mapping = grouped.setdefault(index, {"entityType": target.kind, "fieldMappings": []})
            mapping["fieldMappings"].append({"identifier": target.field, "columnName": entity["column"]})
    mappings = list(grouped.values())
    if mappings:
        properties["entityMappings"] = mappings
    details = _custom_details(data)
    if details:
        properties["customDetails"] = details

    # The alert shows the rule's name and description unless overridden: the title and the alert
    # description (which may hold {{Column}} placeholders) go here, the marker stays on the rule.
    override: dict[str, str] = {}
    title = alert.get("title") or data["name"]
    if title != data["name"] or placeholders(title):
        override["alertDisplayNameFormat"] = title
    alert_description = (alert.get("description") or "").strip()
    if alert_description:
        override["alertDescriptionFormat"] = alert_description
    elif properties["description"]:
        override["alertDescriptionFormat"] = properties["description"]
    if alert.get("tactics_column"):
        override["alertTacticsColumnName"] = alert["tactics_column"]
    if alert.get("severity_column"):
        override["alertSeverityColumnName"] = alert["severity_column"]
    if override:
        properties["alertDetailsOverride"] = override

    body = {"kind": "NRT" if nrt else "Scheduled", "properties": properties}
    return with_marker(body, data["id"], properties, rule_id)


def unmarked(body: dict[str, Any]) -> dict[str, Any]:
    """A copy of a Defender or Sentinel body with the marker removed from its description."""
    result = copy.deepcopy(body)
    holder = result.get("properties") if "properties" in result else result
    if isinstance(holder, dict) and "description" in holder:
        holder["description"] = strip_marker(holder["description"])
    return result


def body_is_current(body: dict[str, Any]) -> bool:
    """Whether a (live) body still carries a marker whose hash matches its content."""
    holder = body.get("properties") if "properties" in body else body
    marker = read_marker(holder.get("description") if isinstance(holder, dict) else None)
    return marker is not None and marker.hash == content_hash(unmarked(body))
