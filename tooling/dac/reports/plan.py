"""A deployment plan as text (people), JSON (tools) and markdown (job summaries, PR comments)."""

from __future__ import annotations

import json
from typing import Any

from ..deploy.plan import Action, Change, Plan

SYMBOLS = {"create": "+", "adopt": "&", "update": "~", "drifted": "!", "delete": "-", "conflict": "x", "unchanged": "="}
TITLES = {
    "create": "create", "adopt": "adopt (made outside dac; deploy takes it over in place)",
    "update": "update", "drifted": "drifted (edited outside dac; deploy restores it)",
    "delete": "would delete (only with --prune)", "conflict": "conflict (not written)", "unchanged": "unchanged",
}  # fmt: skip


def _short(value: Any, limit: int = 100) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def summary_line(plan: Plan, prune: bool = False) -> str:
    counts = plan.counts()
    parts = [f"{counts['create']} to create", f"{counts['adopt']} to adopt", f"{counts['update']} to update",
             f"{counts['drifted']} drifted"]  # fmt: skip
    parts.append(f"{counts['delete']} to delete" if prune else f"{counts['delete']} would delete (needs --prune)")
    parts += [f"{counts['conflict']} conflicts", f"{counts['unchanged']} unchanged", f"{counts['unmanaged']} not dac's"]
    return f"target {plan.target.name} ({plan.target.platform}): " + ", ".join(parts)


def _change_lines(changes: list[Change], indent: str) -> list[str]:
    return [f"{indent}{c.path}: {_short(c.before)} -> {_short(c.after)}" for c in changes]


def text(plan: Plan, prune: bool = False, show_unchanged: bool = False) -> str:
    lines = []
    for action in plan.actions:
        if action.kind == "unchanged" and not show_unchanged:
            continue
        kind = "delete" if action.kind == "delete" and prune else action.kind
        label = "delete" if kind == "delete" and prune else TITLES[kind]
        lines.append(f"{SYMBOLS[action.kind]} {label}: {action.name} ({action.id})")
        if action.desired is not None and action.kind != "unchanged":
            lines.append(f"    from {action.desired.file}")
        if action.reason and action.kind in ("adopt", "conflict", "delete", "drifted"):
            lines.append(f"    {action.reason}")
        lines += _change_lines(action.changes, "    ")
    for skipped in plan.disabled:
        lines.append(f"  not for {plan.target.platform}: {skipped.name} ({skipped.id})")
        lines.append(f"    from {skipped.file}")
        lines.append(f"    {skipped.reason or '(no reason given)'}")
    lines.append(summary_line(plan, prune))
    return "\n".join(lines) + "\n"


def _action_json(action: Action) -> dict[str, Any]:
    return {
        "action": action.kind, "id": action.id, "name": action.name,
        "file": action.desired.file if action.desired else None, "reason": action.reason or None,
        "changes": [{"path": c.path, "before": c.before, "after": c.after} for c in action.changes],
    }  # fmt: skip


def as_json(plan: Plan) -> str:
    document = {
        "target": plan.target.name, "platform": plan.target.platform, "counts": plan.counts(),
        "actions": [_action_json(a) for a in plan.actions],
        "disabled": [{"id": d.id, "name": d.name, "file": d.file, "reason": d.reason or None} for d in plan.disabled],
    }  # fmt: skip
    return json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n"


def _cell(value: Any) -> str:
    return "`" + _short(value, 80).replace("|", "\\|").replace("`", "'") + "`" if value is not None else "_none_"


def markdown(plan: Plan, prune: bool = False) -> str:
    counts = plan.counts()
    lines = [f"### dac plan: `{plan.target.name}` ({plan.target.platform})", ""]
    lines += [
        "| create | adopt | update | drifted | delete | conflict | unchanged | not dac's |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines.append(f"| {counts['create']} | {counts['adopt']} | {counts['update']} | {counts['drifted']} "
                 f"| {counts['delete']}"
                 f"{'' if prune else ' (needs --prune)'} | {counts['conflict']} | {counts['unchanged']} "
                 f"| {counts['unmanaged']} |")  # fmt: skip
    for action in plan.actions:
        if action.kind == "unchanged":
            continue
        lines += ["", f"**{SYMBOLS[action.kind]} {TITLES[action.kind]}**: {action.name} (`{action.id}`)"]
        if action.reason:
            lines.append(f"_{action.reason}_")
        if action.changes:
            lines += ["", "| field | live | detection |", "|---|---|---|"]
            lines += [f"| `{c.path}` | {_cell(c.before)} | {_cell(c.after)} |" for c in action.changes]
    for skipped in plan.disabled:
        lines += ["", f"**not for {plan.target.platform}**: {skipped.name} (`{skipped.id}`)",
                  f"_{skipped.reason or '(no reason given)'}_"]  # fmt: skip
    return "\n".join(lines) + "\n"
