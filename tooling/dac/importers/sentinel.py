"""Microsoft Sentinel content -> detection data: analytic rule and hunting query YAML (the format of
the Azure-Sentinel repository) and ARM templates exported from the Sentinel portal.

Both formats are read into one shape, the ARM alertRules property names (displayName, queryFrequency
as ISO 8601 or as the YAML's `1h`, triggerOperator GreaterThan or gt, ...), and converted once. The
result renders back (rules.sentinel_rule) to the original's settings: query, schedule, trigger,
severity, ATT&CK mapping, entity mappings, custom details, alert details override, event grouping,
incident settings and suppression, with the normalisations listed in docs/detection-format.md.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from ..deploy.pull import QUERY_RULE_KINDS, dac_duration, entities_from_sentinel
from ..model.yamlsource import YamlLoadError, load_yaml_file
from ..rules import (
    ALERT_GROUPING,
    INCIDENT_GROUPING_DEFAULT,
    INCIDENT_MATCHING,
    SENTINEL_ENTITY_TYPES,
    SENTINEL_IDENTIFIERS,
    SEVERITIES,
    SUPPRESSION_DEFAULT,
    TRIGGER_OPERATORS,
    duration_minutes,
)
from .rulefiles import (
    ImportItem,
    RuleImportError,
    dates,
    detection_id,
    input_files,
    mitre_from,
    read_json,
    semver,
    tags_from,
)

SUFFIXES = (".yaml", ".yml", ".json")
# Alert rule kinds that are Microsoft's own engines, not a query dac could own.
NOT_QUERY_KINDS = frozenset(
    {"Fusion", "MLBehaviorAnalytics", "ThreatIntelligence", "MicrosoftSecurityIncidentCreation"}
)
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DAC_DURATION = re.compile(r"^([1-9][0-9]*)([mhd])$")
_STATUS = {"available": "stable", "stable": "stable", "preview": "test", "test": "test",
           "experimental": "experimental", "deprecated": "deprecated"}  # fmt: skip
# The Azure-Sentinel YAML's keys whose ARM name differs.
_YAML_TO_ARM = {"name": "displayName", "relevantTechniques": "techniques"}


def import_sentinel(paths: list[Path], today: dt.date) -> list[ImportItem]:
    """Every rule in the files and folders (recursively: .yaml, .yml, .json), in order."""
    items: list[ImportItem] = []
    for path in input_files(paths, SUFFIXES):
        if path.suffix.lower() == ".json":
            items.extend(_arm_file(path, today))
        else:
            items.append(_yaml_file(path, today))
    return items


# ------------------------------------------------------------------------------------ reading
def _yaml_file(path: Path, today: dt.date) -> ImportItem:
    item = ImportItem(str(path))
    try:
        loaded = load_yaml_file(path)
    except YamlLoadError as exc:
        found = exc.diagnostic
        item.source = f"{path}:{found.line}:{found.column}" if found.line else str(path)
        item.error = f"{found.code} {found.message}"
        return item
    document = loaded.data
    if not isinstance(document, dict):
        item.error = "not a Sentinel analytic rule or hunting query (the file is not a YAML mapping)"
        return item
    properties = {_YAML_TO_ARM.get(key, key): value for key, value in document.items()}
    kind = document.get("kind")
    if kind is None:  # hunting queries have no kind and no schedule
        hunting = not any(key in document for key in ("queryFrequency", "queryPeriod", "triggerOperator"))
        kind = "Hunting" if hunting else "Scheduled"
    _convert(item, str(kind), properties, document.get("id"), document, today)
    return item


def _arm_file(path: Path, today: dt.date) -> list[ImportItem]:
    document, failure = read_json(path)
    if failure is not None:
        return [failure]
    resources = _alert_rule_resources(document)
    if not resources:
        return [ImportItem(str(path), error="no alert rules found (an ARM template's resources of type "
                                            "Microsoft.SecurityInsights/alertRules, or an alert rule)")]  # fmt: skip
    items = []
    for index, resource in resources:
        name = (resource.get("properties") or {}).get("displayName") if isinstance(resource, dict) else None
        label = f"{path}: {index}" + (f" ({name!r})" if name else "")
        item = ImportItem(label if len(resources) > 1 or index != "rule" else str(path))
        properties = resource.get("properties") if isinstance(resource, dict) else None
        if not isinstance(properties, dict):
            item.error = "the alert rule has no properties"
        else:
            guids = _GUID.findall(str(resource.get("name") or "")) or _GUID.findall(str(resource.get("id") or ""))
            _convert(item, str(resource.get("kind")), properties, guids[-1] if guids else None, {}, today)
        items.append(item)
    return items


def _alert_rule_resources(document: Any) -> list[tuple[str, Any]]:
    """(where, resource) for each alert rule: an ARM template's resources of an alertRules type, a
    list response's `value`, or one rule ({kind, properties})."""
    if isinstance(document, dict) and isinstance(document.get("resources"), list):
        return [
            (f"resources[{index}]", resource)
            for index, resource in enumerate(document["resources"])
            if isinstance(resource, dict) and str(resource.get("type", "")).lower().endswith("/alertrules")
        ]
    if isinstance(document, dict) and isinstance(document.get("value"), list):
        return [(f"value[{index}]", rule) for index, rule in enumerate(document["value"])]
    if isinstance(document, list):
        return [(f"[{index}]", rule) for index, rule in enumerate(document)]
    if isinstance(document, dict) and "kind" in document and "properties" in document:
        return [("rule", document)]
    return []


# ------------------------------------------------------------------------------------ converting
def _convert(item: ImportItem, kind: str, properties: dict[str, Any], rule_id: Any, yaml_doc: dict, today: dt.date):
    name = properties.get("displayName")
    if kind in NOT_QUERY_KINDS:
        item.skipped = f"{name or 'the rule'!s} is a {kind} rule, not a query rule"
        return
    if kind not in QUERY_RULE_KINDS and kind != "Hunting":
        item.error = f"unknown rule kind {kind!r} (expected Scheduled, NRT, or a hunting query without kind)"
        return
    try:
        item.data = _detection(kind, properties, rule_id, yaml_doc, today, item.warnings)
    except RuleImportError as exc:
        item.error = str(exc)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:  # a shape the checks above missed
        item.error = f"the rule does not have the documented shape ({type(exc).__name__}: {exc})"


def _text(properties: dict[str, Any], key: str, *, required: bool = False) -> str:
    value = properties.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise RuleImportError(f"the rule has no {key}")
        return ""
    if not isinstance(value, str):
        raise RuleImportError(f"{key} must be text, not {type(value).__name__}")
    return value


def duration(value: Any, what: str) -> str:
    """A dac duration from ISO 8601 (PT1H, P1D) or the YAML's form (1h, 14d, 5m)."""
    text = str(value).strip()
    match = _DAC_DURATION.match(text)
    if match:
        return text
    converted = dac_duration(text)
    if converted is None or converted == "0":
        raise RuleImportError(f"{what} {value!r} is not a duration of whole minutes (such as 1h or PT1H)")
    return converted


def _detection(
    kind: str, properties: dict[str, Any], rule_id: Any, yaml_doc: dict, today: dt.date, warnings: list[str]
) -> dict[str, Any]:
    name = _text(properties, "displayName", required=True).strip()
    query = _text(properties, "query", required=True)
    if len(name) > 256:
        warnings.append("the name is longer than 256 characters; shortened")
        name = name[:256].rstrip()
    metadata = yaml_doc.get("metadata") if isinstance(yaml_doc.get("metadata"), dict) else {}
    author = metadata.get("author") if isinstance(metadata.get("author"), dict) else {}
    created, modified = dates(
        properties.get("createdDateTime") or properties.get("createdTimeUtc") or metadata.get("createdDateTime"),
        properties.get("lastUpdatedDateTime") or properties.get("lastModifiedUtc")
        or metadata.get("lastUpdatedDateTime"), today)  # fmt: skip
    data: dict[str, Any] = {
        "id": detection_id(rule_id, name, query, warnings=warnings),
        "name": name,
        "description": (_unquoted(_text(properties, "description")) or name) + "\n",
        "kind": "hunting" if kind == "Hunting" else "detection",
        "status": _status(properties, warnings),
    }
    if kind != "Hunting":
        data["severity"] = _severity(properties, warnings)
    data.update({
        "authors": [str(author.get("name")).strip()] if str(author.get("name") or "").strip() else ["unknown"],
        "created": created,
        "modified": modified,
        "version": semver(properties.get("version"), warnings),
    })  # fmt: skip
    tags = tags_from(properties.get("requiredDataConnectors"), properties.get("tags"), warnings)
    if tags:
        data["tags"] = tags
    techniques = _list(properties.get("techniques")) + _list(properties.get("subTechniques"))
    mitre = mitre_from(_list(properties.get("tactics")), techniques, warnings)
    if mitre:
        data["mitre"] = mitre
    data["query"] = {"dialect": "sentinel", "text": query.rstrip("\n") + "\n"}
    data["variants"] = {"defender": {"enabled": False}}
    if kind == "Hunting":
        if properties.get("entityMappings"):
            warnings.append("the entity mappings of a hunting query are not kept (dac's hunting queries have none)")
        return data
    if kind == "NRT":
        data["schedule"] = {"frequency": "0", "lookback": "5m"}
        data["trigger"] = {"operator": "gt", "threshold": 0}
    else:
        frequency = duration(properties.get("queryFrequency") or "1h", "queryFrequency")
        data["schedule"] = {
            "frequency": frequency,
            "lookback": duration(properties.get("queryPeriod") or frequency, "queryPeriod"),
        }
        data["trigger"] = _trigger(properties)
    data["alert"] = _alert(properties, name, data["description"], warnings)
    incident = _incident(properties.get("incidentConfiguration"), warnings)
    if incident:
        data["incident"] = incident
    suppression = _suppression(properties)
    if suppression:
        data["suppression"] = suppression
    return data


def _unquoted(text: str) -> str:
    """The text without the single quotes Azure-Sentinel YAML often puts around a whole description."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == "'" and "'" not in text[1:-1]:
        return text[1:-1].strip()
    return text


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _status(properties: dict[str, Any], warnings: list[str]) -> str:
    status = properties.get("status")
    if status is None:  # an ARM export: a disabled rule renders back disabled only as deprecated
        if "enabled" in properties:
            return "stable" if properties.get("enabled") is not False else "deprecated"
        return "experimental"
    mapped = _STATUS.get(str(status).strip().lower())
    if mapped is None:
        warnings.append(f"status {status!r} is not known; the detection is experimental")
        return "experimental"
    return mapped


def _severity(properties: dict[str, Any], warnings: list[str]) -> str:
    severity = str(properties.get("severity") or "").strip().lower()
    if not severity:
        warnings.append("the rule has no severity; the detection is medium")
        return "medium"
    if severity not in SEVERITIES:
        warnings.append(f"severity {properties.get('severity')!r} is not known; the detection is medium")
        return "medium"
    return severity


def _trigger(properties: dict[str, Any]) -> dict[str, Any]:
    operator = str(properties.get("triggerOperator") or "gt").strip()
    by_name = {api.lower(): dac for dac, api in TRIGGER_OPERATORS.items()} | {dac: dac for dac in TRIGGER_OPERATORS}
    if operator.lower() not in by_name:
        raise RuleImportError(f"triggerOperator {operator!r} is not one of GreaterThan, LessThan, Equal, NotEqual")
    threshold = properties.get("triggerThreshold", 0)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, str)) or not str(threshold).strip().isdigit():
        raise RuleImportError(f"triggerThreshold {threshold!r} is not a whole number")
    return {"operator": by_name[operator.lower()], "threshold": int(threshold)}


def _alert(properties: dict[str, Any], name: str, description: str, warnings: list[str]) -> dict[str, Any]:
    override = properties.get("alertDetailsOverride") or {}
    if not isinstance(override, dict):
        raise RuleImportError("alertDetailsOverride must be a mapping")
    title = str(override.get("alertDisplayNameFormat") or "").strip() or name
    if len(title) > 256:
        warnings.append("alertDisplayNameFormat is longer than 256 characters; shortened")
        title = title[:256].rstrip()
    alert: dict[str, Any] = {"title": title}
    alert_description = str(override.get("alertDescriptionFormat") or "").strip()
    if alert_description and alert_description != description.strip():
        alert["description"] = alert_description + "\n"
    mappings = _entity_mappings(properties.get("entityMappings"))
    for mapping in mappings:
        entity_type = mapping.get("entityType")
        if not any(entity_type == known for known, _default in SENTINEL_ENTITY_TYPES.values()):
            warnings.append(f"entity mapping of type {entity_type!r} has no dac entity type; not kept")
    entities = entities_from_sentinel(mappings)
    if entities:
        alert["entities"] = entities
    details = properties.get("customDetails") or {}
    if not isinstance(details, dict) or not all(isinstance(value, str) and value for value in details.values()):
        raise RuleImportError("customDetails must be a mapping of detail names to column names")
    if details:
        alert["custom_details"] = {str(key): str(value) for key, value in details.items()}
    settings = properties.get("eventGroupingSettings") or {}
    if not isinstance(settings, dict):
        raise RuleImportError("eventGroupingSettings must be a mapping")
    grouping = settings.get("aggregationKind") or "SingleAlert"
    by_api = {api: dac for dac, api in ALERT_GROUPING.items()}
    if grouping not in by_api:
        raise RuleImportError(
            f"eventGroupingSettings.aggregationKind {grouping!r} is not SingleAlert or AlertPerResult"
        )
    if by_api[grouping] != "single":
        alert["grouping"] = by_api[grouping]
    if override.get("alertSeverityColumnName"):
        alert["severity_column"] = str(override["alertSeverityColumnName"])
    if override.get("alertTacticsColumnName"):
        alert["tactics_column"] = str(override["alertTacticsColumnName"])
    if override.get("alertDynamicProperties"):
        warnings.append("alertDetailsOverride.alertDynamicProperties is not supported by dac; not kept")
    if properties.get("sentinelEntitiesMappings"):
        warnings.append("sentinelEntitiesMappings is not supported by dac; not kept")
    return alert


def _entity_mappings(value: Any) -> list[dict[str, Any]]:
    """entityMappings, checked: each {entityType, fieldMappings: [{identifier, columnName}]}."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise RuleImportError("entityMappings must be a list")
    for index, mapping in enumerate(value):
        fields = mapping.get("fieldMappings") if isinstance(mapping, dict) else None
        if not isinstance(fields, list) or not all(
            isinstance(f, dict) and isinstance(f.get("identifier"), str) and isinstance(f.get("columnName"), str)
            for f in fields
        ):
            raise RuleImportError(
                f"entityMappings[{index}] must be {{entityType, fieldMappings: [{{identifier, columnName}}]}}"
            )
    return value


def _flag(config: dict[str, Any], key: str, default: bool) -> bool:
    value = config.get(key, default)
    if not isinstance(value, bool):
        raise RuleImportError(f"{key} must be true or false, not {value!r}")
    return value


def _incident(config: Any, warnings: list[str]) -> dict[str, Any]:
    """`incident`, with only what differs from dac's defaults (empty when nothing does)."""
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise RuleImportError("incidentConfiguration must be a mapping")
    incident: dict[str, Any] = {}
    if not _flag(config, "createIncident", True):
        incident["create"] = False
    grouping_config = config.get("groupingConfiguration") or {}
    if not isinstance(grouping_config, dict):
        raise RuleImportError("incidentConfiguration.groupingConfiguration must be a mapping")
    matching = {api: dac for dac, api in INCIDENT_MATCHING.items()}
    grouping: dict[str, Any] = {
        "enabled": _flag(grouping_config, "enabled", False),
        "reopen_closed": _flag(grouping_config, "reopenClosedIncident", False),
        "lookback": _lookback(grouping_config.get("lookbackDuration")),
    }
    method = grouping_config.get("matchingMethod") or "AllEntities"
    if method not in matching:
        raise RuleImportError(f"matchingMethod {method!r} is not AllEntities, AnyAlert or Selected")
    grouping["matching"] = matching[method]
    grouping = {key: value for key, value in grouping.items() if value != INCIDENT_GROUPING_DEFAULT[key]}
    entity_types = set(SENTINEL_IDENTIFIERS)
    by_entities = []
    for entity_type in _list(grouping_config.get("groupByEntities")):
        if entity_type in entity_types:
            by_entities.append(entity_type)
        else:
            warnings.append(f"groupByEntities {entity_type!r} is not a Sentinel entity type; dropped")
    details = [d for d in _list(grouping_config.get("groupByAlertDetails")) if d in ("DisplayName", "Severity")]
    custom = [str(key) for key in _list(grouping_config.get("groupByCustomDetails")) if str(key).strip()]
    for key, values in (("by_entities", by_entities), ("by_alert_details", details), ("by_custom_details", custom)):
        if values:
            grouping[key] = list(dict.fromkeys(values))
    if grouping:
        incident["grouping"] = grouping
    return incident


def _lookback(value: Any) -> str:
    if value is None:
        return INCIDENT_GROUPING_DEFAULT["lookback"]
    return _canonical(duration(value, "lookbackDuration"))


def _canonical(value: str) -> str:
    """The same duration the way the defaults write it (300m and 5h are one setting)."""
    minutes = duration_minutes(value)
    if minutes % 1440 == 0 and minutes >= 2 * 1440:
        return f"{minutes // 1440}d"
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"


def _suppression(properties: dict[str, Any]) -> dict[str, Any]:
    """`suppression`, with only what differs from dac's defaults (off, 5h)."""
    suppression: dict[str, Any] = {}
    if _flag(properties, "suppressionEnabled", False):
        suppression["enabled"] = True
    if properties.get("suppressionDuration") is not None:
        value = _canonical(duration(properties["suppressionDuration"], "suppressionDuration"))
        if value != SUPPRESSION_DEFAULT["duration"]:
            suppression["duration"] = value
    return suppression
