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
- adopt: the detection names an existing rule dac does not own (`adopt:`): a deploy writes the
  detection's content and dac's marker onto that same rule, which dac owns from then on;
- conflict: dac wants the rule but cannot write it without touching a rule it does not own (same id
  without a dac marker and no `adopt:` naming it, another rule of the same name compared without case,
  a rule another detection owns, or an `adopt:` rule that does not exist); never written.
Rules without a dac marker are counted as `unmanaged` and never touched, unless a detection adopts one.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

from ..checks.parameters import check_target as check_target_parameters
from ..diagnostics import Diagnostic, Severity, display_path, error
from ..hunting_rules import sentinel_hunting_query
from ..model.detection import Detection
from ..model.project import Project, Target
from ..rules import Marker, content_hash, defender_rule, normalised, read_marker, sentinel_rule, unmarked
from ..validation import ValidationReport, validate
from ..variants import build_variants, parameter_error_position
from . import LiveRule, RuleClient

ACTIONS = ("create", "adopt", "update", "drifted", "delete", "conflict", "unchanged")
# (platform, detection kind) -> the body builder; Sentinel keeps hunting queries as saved searches
_BUILDERS = {("defender", "detection"): defender_rule, ("sentinel", "detection"): sentinel_rule,
             ("sentinel", "hunting"): sentinel_hunting_query}  # fmt: skip


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
    id: str  # the live rule's id: the detection's, or the one it adopts
    name: str
    file: str
    body: dict[str, Any]
    detection_id: str = ""  # the detection's own id ("" means the same as id)
    adopts: bool = False  # the detection's `adopt:` names this rule

    def __post_init__(self) -> None:
        self.detection_id = self.detection_id or self.id


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
class DisabledDetection:
    """A detection the target selects whose variant for the target's platform is `enabled: false`."""

    id: str
    name: str
    file: str
    reason: str  # the variant's `reason:`, "" when none is given


@dataclass
class Plan:
    target: Target
    actions: list[Action]
    unmanaged: int = 0
    disabled: list[DisabledDetection] = field(default_factory=list)  # not deployed here, and why

    def of(self, kind: str) -> list[Action]:
        return [a for a in self.actions if a.kind == kind]

    def counts(self) -> dict[str, int]:
        return {kind: len(self.of(kind)) for kind in ACTIONS} | {"unmanaged": self.unmanaged}

    @property
    def has_changes(self) -> bool:
        return any(a.kind in ("create", "adopt", "update", "drifted", "delete") for a in self.actions)


# ------------------------------------------------------------------------------------ desired rules
def selected(detection: Detection, target: Target, project: Project) -> bool:
    return target.platform in detection.enabled_dialects() and _selected_apart_from_platform(detection, target, project)


def disabled_here(detections: list[Detection], target: Target, project: Project) -> list[DisabledDetection]:
    """The detections the target would take but that turn its platform off, with their reasons."""
    found = [
        DisabledDetection(d.id, d.name, display_path(d.file), d.disabled_dialects()[target.platform])
        for d in detections
        if target.platform in d.disabled_dialects() and _selected_apart_from_platform(d, target, project)
    ]
    return sorted(found, key=lambda d: (d.name.lower(), d.id))


def _selected_apart_from_platform(detection: Detection, target: Target, project: Project) -> bool:
    data = detection.data
    if detection.kind not in target.kinds or data.get("status") not in target.statuses:
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
        adopted = adopted_rule(detection.data, target)
        body = _BUILDERS[(target.platform, detection.kind)](detection.data, variant.text, adopted)
        rule_id = adopted or detection.id
        rules.append(DesiredRule(rule_id, detection.name, display_path(detection.file), body, detection.id,
                                 adopts=adopted is not None))  # fmt: skip
    return rules


def adopted_rule(data: dict[str, Any], target: Target) -> str | None:
    """The id of the live rule the detection adopts in this target (`adopt:`), or None. A string names
    the rule on the detection's one platform; a mapping names it per target."""
    adopt = data.get("adopt")
    if isinstance(adopt, dict):
        value = adopt.get(target.name)
        return str(value) if value else None
    return str(adopt) if adopt else None


# ------------------------------------------------------------------------------------ comparison
def _holder(body: dict[str, Any]) -> dict[str, Any]:
    return body.get("properties", body) if isinstance(body.get("properties"), dict) else body


def display_name(body: dict[str, Any]) -> str:
    return str(_holder(body).get("displayName") or "")


def owner_id(live: LiveRule) -> str | None:
    """The detection id of a rule dac wrote (its marker's, when the marker was written for this rule),
    else None."""
    marker = live_marker(live)
    return marker.id if marker is not None and marker.applies_to(live.id) else None


def live_marker(live: LiveRule) -> Marker | None:
    return read_marker(_holder(live.body).get("description"))


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
def _key(rule_id: str) -> str:
    return rule_id.casefold()  # ARM compares rule names without case; Graph's ids are digits or GUIDs


def make_plan(desired: list[DesiredRule], live_rules: list[LiveRule], target: Target) -> Plan:
    live_by_id = {_key(rule.id): rule for rule in live_rules}
    owned = {_key(rule.id): rule for rule in live_rules if owner_id(rule) is not None}
    actions: list[Action] = []
    wanted = {_key(rule.id) for rule in desired}
    for rule in desired:
        live = live_by_id.get(_key(rule.id))
        if live is not None and _key(rule.id) not in owned:
            if rule.adopts:
                actions.append(Action("adopt", rule.id, rule.name, rule, live, field_changes(live.body, rule.body),
                                      reason="made outside dac; a deploy writes the detection onto it"))  # fmt: skip
            else:
                reason = "a rule with this id exists without a dac marker; dac leaves it alone (adopt: takes it over)"
                actions.append(Action("conflict", rule.id, rule.name, rule, live, reason=reason))
            continue
        if live is not None and owner_id(live) != rule.detection_id:
            reason = f"the rule belongs to detection {owner_id(live)}, not to this one"
            actions.append(Action("conflict", rule.id, rule.name, rule, live, reason=reason))
            continue
        if live is None:
            if rule.adopts:
                reason = f"adopt: no rule {rule.id} in target {target.name} (remove the line to create a new rule)"
                actions.append(Action("conflict", rule.id, rule.name, rule, reason=reason))
                continue
            # the services refuse a second rule whose name differs only in case (nameAlreadyExists)
            clash = next((r for r in live_rules if _key(r.id) not in wanted
                          and display_name(r.body).casefold() == rule.name.casefold()), None)  # fmt: skip
            if clash is not None and _key(clash.id) not in owned:
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
    for key, live in sorted(owned.items()):
        if key not in wanted:
            actions.append(Action("delete", live.id, display_name(live.body), None, live,
                                  reason="no selected detection has this id any more"))  # fmt: skip
    order = {kind: index for index, kind in enumerate(ACTIONS)}
    actions.sort(key=lambda a: (order[a.kind], a.name.lower(), a.id))
    unmanaged = sum(1 for rule in live_rules if _key(rule.id) not in owned and _key(rule.id) not in wanted)
    return Plan(target, actions, unmanaged=unmanaged)


def plan_target(project: Project, target: Target, client: RuleClient) -> Plan:
    report = validate([project.detections_dir], project)
    desired = desired_rules(project, target, report)  # before any API call: invalid content stops here
    plan = make_plan(desired, client.list_rules(), target)
    plan.disabled = disabled_here(report.detections, target, project)
    return plan
