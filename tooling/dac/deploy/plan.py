"""What a deploy would change: the target's desired rules (from the detections) against its live rules.

Desired rules come from the detections the target selects, rendered for its platform with its
parameters (each detection takes the target parameters it declares; a target parameter that no
detection declares is an error, DAC131). Live rules come from one list call. Each rule falls in one class:

- create: dac wants it and the tenant has no rule with that id;
- update: dac owns the live rule and its content differs from the detection (with a field diff);
- drifted: dac owns the live rule but someone edited it outside dac (its content no longer matches
  the hash in its marker); a deploy puts the detection's content back;
- unchanged;
- delete: dac owns the live rule and no selected detection wants it any more (only `--prune` deletes);
- conflict: dac wants the rule but cannot write it without touching a rule it does not own (same id
  without a dac marker, or another rule of the same name); never written.
Rules without a dac marker are counted as `unmanaged` and never touched.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

from ..checks.parameters import check_target as check_target_parameters
from ..diagnostics import Diagnostic, Severity, display_path, error
from ..model.detection import Detection
from ..model.project import Project, Target
from ..rules import content_hash, defender_rule, normalised, read_marker, sentinel_rule, unmarked
from ..validation import ValidationReport, validate
from ..variants import build_variants, parameter_error_position
from . import LiveRule, RuleClient

ACTIONS = ("create", "update", "drifted", "delete", "conflict", "unchanged")
_BUILDERS = {"defender": defender_rule, "sentinel": sentinel_rule}


class PlanError(Exception):
    """The plan cannot be made: invalid detections (diagnostics) or a target problem (message)."""

    def __init__(self, message: str, diagnostics: list[Diagnostic] | None = None):
        super().__init__(message)
        self.diagnostics = diagnostics or []


@dataclass
class Change:
    path: str  # dotted field path, e.g. properties.query
    before: Any
    after: Any


@dataclass
class DesiredRule:
    id: str
    name: str
    file: str
    body: dict[str, Any]


@dataclass
class Action:
    kind: str  # one of ACTIONS
    id: str
    name: str
    desired: DesiredRule | None = None
    live: LiveRule | None = None
    changes: list[Change] = field(default_factory=list)
    reason: str = ""


@dataclass
class Plan:
    target: Target
    actions: list[Action]
    unmanaged: int = 0

    def of(self, kind: str) -> list[Action]:
        return [a for a in self.actions if a.kind == kind]

    def counts(self) -> dict[str, int]:
        return {kind: len(self.of(kind)) for kind in ACTIONS} | {"unmanaged": self.unmanaged}

    @property
    def has_changes(self) -> bool:
        return any(a.kind in ("create", "update", "drifted", "delete") for a in self.actions)


# ------------------------------------------------------------------------------------ desired rules
def selected(detection: Detection, target: Target, project: Project) -> bool:
    data = detection.data
    if detection.kind not in target.kinds or data.get("status") not in target.statuses:
        return False
    if target.platform not in detection.enabled_dialects():
        return False
    if target.tags and not set(target.tags) & set(data.get("tags") or []):
        return False
    if target.paths:
        relative = detection.file.resolve().relative_to(project.root.resolve()).as_posix()
        return any(fnmatch.fnmatchcase(relative, pattern) for pattern in target.paths)
    return True


def desired_rules(project: Project, target: Target, report: ValidationReport | None = None) -> list[DesiredRule]:
    """The rule bodies the target should hold. Refuses (PlanError) while any detection file is invalid:
    a file that does not load would otherwise look like a deleted detection and lose its rule."""
    report = report or validate([project.detections_dir], project)
    errors = [d for d in report.diagnostics if d.severity is Severity.ERROR]
    if errors:
        raise PlanError(f"{len(errors)} error(s) in the detections: fix them before planning a deploy", errors)
    unknown = check_target_parameters(project, target, report.detections)
    if unknown:
        raise PlanError(f"target '{target.name}' sets {len(unknown)} parameter(s) that no detection declares", unknown)
    rules = []
    for detection in sorted(report.detections, key=lambda d: d.id):
        if not selected(detection, target, project):
            continue
        variants = build_variants(detection, project.tables_dir, target.parameters)
        variant = next(v for v in variants if v.dialect == target.platform)
        problems = [d for d in variant.diagnostics if d.severity == "error"]
        if variant.parameter_error is not None or problems:
            detail = str(variant.parameter_error or problems[0].message)
            where = []
            if variant.parameter_error is not None:  # the template fails with the target's values: say where
                position = parameter_error_position(detection, variant)
                where = [error(detection.display, position, "DAC130", f"{detail} (with target '{target.name}')")]
            raise PlanError(f"{detection.display}: the {target.platform} query with target '{target.name}' "
                            f"parameters is not valid: {detail}", where)  # fmt: skip
        body = _BUILDERS[target.platform](detection.data, variant.text)
        rules.append(DesiredRule(detection.id, detection.name, display_path(detection.file), body))
    return rules


# ------------------------------------------------------------------------------------ comparison
def _holder(body: dict[str, Any]) -> dict[str, Any]:
    return body.get("properties", body) if isinstance(body.get("properties"), dict) else body


def display_name(body: dict[str, Any]) -> str:
    return str(_holder(body).get("displayName") or "")


def owner_id(live: LiveRule) -> str | None:
    """The detection id of a rule dac wrote (its marker's), else None."""
    marker = read_marker(_holder(live.body).get("description"))
    return marker.id if marker is not None else None


def is_drifted(live: LiveRule) -> bool:
    """A dac rule whose content no longer matches the hash dac recorded when it wrote it."""
    marker = read_marker(_holder(live.body).get("description"))
    body = {key: value for key, value in live.body.items() if key != "etag"}  # the hash covers id, not etag
    return marker is not None and marker.hash != content_hash(unmarked(body))


def _comparable(body: dict[str, Any]) -> dict[str, Any]:
    """The fields dac writes (no id: Graph echoes it, ARM keeps it in the URL)."""
    return {key: value for key, value in body.items() if key not in ("id", "etag")}


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def field_changes(live_body: dict[str, Any], desired_body: dict[str, Any]) -> list[Change]:
    before = _flatten(normalised(_comparable(live_body)))
    after = _flatten(normalised(_comparable(desired_body)))
    return [Change(path, before.get(path), after.get(path))
            for path in sorted(set(before) | set(after)) if before.get(path) != after.get(path)]  # fmt: skip


# ------------------------------------------------------------------------------------ the plan
def make_plan(desired: list[DesiredRule], live_rules: list[LiveRule], target: Target) -> Plan:
    live_by_id = {rule.id: rule for rule in live_rules}
    owned = {rule.id: rule for rule in live_rules if owner_id(rule) == rule.id}
    actions: list[Action] = []
    wanted = {rule.id for rule in desired}
    for rule in desired:
        live = live_by_id.get(rule.id)
        if live is not None and rule.id not in owned:
            reason = "a rule with this id exists without a dac marker; dac leaves it alone"
            actions.append(Action("conflict", rule.id, rule.name, rule, live, reason=reason))
            continue
        if live is None:
            clash = next((r for r in live_rules if r.id not in wanted and display_name(r.body) == rule.name), None)
            if clash is not None and clash.id not in owned:
                actions.append(Action("conflict", rule.id, rule.name, rule, clash,
                                      reason=f"rule {clash.id} that dac does not own has the same name"))  # fmt: skip
            else:
                actions.append(Action("create", rule.id, rule.name, rule))
            continue
        changes = field_changes(live.body, rule.body)
        if is_drifted(live):
            actions.append(Action("drifted", rule.id, rule.name, rule, live, changes,
                                  reason="edited outside dac; a deploy restores the detection's content"))  # fmt: skip
        elif changes:
            actions.append(Action("update", rule.id, rule.name, rule, live, changes))
        else:
            actions.append(Action("unchanged", rule.id, rule.name, rule, live))
    for rule_id, live in sorted(owned.items()):
        if rule_id not in wanted:
            actions.append(Action("delete", rule_id, display_name(live.body), None, live,
                                  reason="no selected detection has this id any more"))  # fmt: skip
    order = {kind: index for index, kind in enumerate(ACTIONS)}
    actions.sort(key=lambda a: (order[a.kind], a.name.lower(), a.id))
    unmanaged = sum(1 for rule in live_rules if rule.id not in owned and rule.id not in wanted)
    return Plan(target, actions, unmanaged=unmanaged)


def plan_target(project: Project, target: Target, client: RuleClient) -> Plan:
    desired = desired_rules(project, target)  # before any API call: invalid content stops here
    return make_plan(desired, client.list_rules(), target)
