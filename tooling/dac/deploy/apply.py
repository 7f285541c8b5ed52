"""Carrying out a plan: each rule written on its own, several at a time, each result reported.

A rule's failure never stops the others. Nothing here remembers state between runs: a rerun plans
again from the live rules, so after any failure (or a killed run) it does exactly what is left.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

from . import RuleClient
from .http import redact
from .plan import Action, Plan

WRITES = ("create", "adopt", "update", "drifted")


@dataclass
class Outcome:
    action: Action
    ok: bool
    message: str  # what was done, or why it failed (the API's code and message)


def pending(plan: Plan, prune: bool) -> list[Action]:
    """The actions a deploy carries out: writes, and deletes only with prune."""
    return [a for a in plan.actions if a.kind in WRITES or (prune and a.kind == "delete")]


def _carry_out(client: RuleClient, action: Action) -> Outcome:
    try:
        if action.kind == "create":
            assert action.desired is not None
            client.create_rule(action.id, action.desired.body)
            return Outcome(action, True, "created")
        if action.kind in ("adopt", "update", "drifted"):
            assert action.desired is not None and action.live is not None
            if action.live.body.get("kind") != action.desired.body.get("kind"):
                # ARM cannot turn a Scheduled rule into an NRT one (or back) in place
                client.delete_rule(action.id, action.live)
                client.create_rule(action.id, action.desired.body)
                return Outcome(
                    action, True, f"replaced ({action.live.body.get('kind')} -> {action.desired.body.get('kind')})"
                )
            client.update_rule(action.id, action.desired.body, action.live)
            done = {"adopt": "adopted (dac owns it now)", "update": "updated"}
            return Outcome(action, True, done.get(action.kind, "restored (was edited outside dac)"))
        assert action.live is not None
        client.delete_rule(action.id, action.live)
        return Outcome(action, True, "deleted")
    except Exception as exc:  # one rule's failure is reported, the others go on
        return Outcome(action, False, redact(str(exc)) or type(exc).__name__)


def apply_plan(
    plan: Plan, client: RuleClient, prune: bool = False, report: Callable[[Outcome], None] | None = None
) -> list[Outcome]:
    """Carry out the plan with at most `target.concurrency` requests in flight; conflicts fail."""
    outcomes = [Outcome(a, False, f"not written: {a.reason}") for a in plan.of("conflict")]
    for outcome in outcomes:
        if report:
            report(outcome)
    work = pending(plan, prune)
    with ThreadPoolExecutor(max_workers=max(1, plan.target.concurrency)) as pool:
        futures = [pool.submit(_carry_out, client, action) for action in work]
        for future in as_completed(futures):
            outcome = future.result()
            outcomes.append(outcome)
            if report:
                report(outcome)
    return outcomes
