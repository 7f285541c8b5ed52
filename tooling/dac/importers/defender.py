"""Defender XDR custom detection rules as Microsoft Graph returns them (`detectionRule` objects, one
per file or a `{"value": [...]}` list) -> detection data, with the conversion `dac pull` uses.

Unlike `dac pull`, no `adopt:` line is written: an imported rule is new content for the tenants it
will be deployed to, not the live rule of one of them (`dac pull` is the way to take a rule over).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from ..deploy.defender import live_rule
from ..deploy.pull import to_detection
from .rulefiles import ImportItem, RuleImportError, dates, input_files, mitre_from, read_json, stable_id

SUFFIXES = (".json",)


def import_defender(paths: list[Path], today: dt.date) -> list[ImportItem]:
    """Every rule in the files and folders (recursively: .json), in order."""
    items: list[ImportItem] = []
    for path in input_files(paths, SUFFIXES):
        items.extend(_file(path, today))
    return items


def _file(path: Path, today: dt.date) -> list[ImportItem]:
    document, failure = read_json(path)
    if failure is not None:
        return [failure]
    if isinstance(document, dict) and isinstance(document.get("value"), list):
        rules = [(f"value[{index}]", rule) for index, rule in enumerate(document["value"])]
    elif isinstance(document, list):
        rules = [(f"[{index}]", rule) for index, rule in enumerate(document)]
    else:
        rules = [("", document)]
    if not rules:
        return [ImportItem(str(path), error="no detection rules found (an empty list)")]
    items = []
    for where, rule in rules:
        name = rule.get("displayName") if isinstance(rule, dict) else None
        label = f"{path}: {where}" + (f" ({name!r})" if name else "") if where else str(path)
        item = ImportItem(label)
        try:
            item.data = convert(rule, today, item.warnings)
        except RuleImportError as exc:
            item.error = str(exc)
        items.append(item)
    return items


def convert(rule: Any, today: dt.date, warnings: list[str]) -> dict[str, Any]:
    """One Graph detectionRule as detection data (Defender dialect, Sentinel turned off)."""
    if not isinstance(rule, dict):
        raise RuleImportError("not a Defender detection rule (expected a JSON object)")
    query = (
        (rule.get("queryCondition") or {}).get("queryText") if isinstance(rule.get("queryCondition"), dict) else None
    )
    if not isinstance(query, str) or not query.strip():
        raise RuleImportError("the rule has no queryCondition.queryText")
    name = rule.get("displayName")
    if not isinstance(name, str) or not name.strip():
        raise RuleImportError("the rule has no displayName")
    template = (
        (rule.get("detectionAction") or {}).get("alertTemplate")
        if isinstance(rule.get("detectionAction"), dict)
        else {}
    )
    if template is not None and not isinstance(template, dict):
        raise RuleImportError("detectionAction.alertTemplate must be an object")
    rule = dict(rule)
    if not str(rule.get("id") or "").strip():
        rule["id"] = stable_id(name, query)
    try:
        data = to_detection(live_rule(rule), "defender")
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise RuleImportError(f"the rule does not have the shape of a Graph detectionRule ({exc})") from None
    data.pop("adopt", None)
    data["name"] = data["name"].strip()[:256]
    data["created"], data["modified"] = dates(rule.get("createdDateTime"), rule.get("lastModifiedDateTime"), today)
    mitre = data.pop("mitre", None) or {}
    tidy = mitre_from(mitre.get("tactics") or [], mitre.get("techniques") or [], warnings)
    if tidy:
        data["mitre"] = tidy  # the file lists it in its usual place (model.yamlwrite orders the fields)
    return data
