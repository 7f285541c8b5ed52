"""Commands that talk to tenants: dac plan, dac deploy, dac drift, dac pull, dac adopt."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from .support import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE
from .support import console as _console
from .support import guarded as _guarded

if TYPE_CHECKING:  # the deploy modules load requests and azure-identity: only when a command runs
    from ..deploy import RuleClient
    from ..deploy.apply import Outcome
    from ..deploy.plan import Plan
    from ..model.project import Project, Target


def _set_verbosity(_context: click.Context, _parameter: click.Parameter, count: int) -> int:
    """-v: each rule request at INFO (retries), -vv: every HTTP request at DEBUG. Never headers or bodies."""
    if count:
        import logging

        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger = logging.getLogger("dac.deploy")
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG if count > 1 else logging.INFO)
    return count


VERBOSE_OPTION = click.option("-v", "--verbose", count=True, expose_value=False, callback=_set_verbosity,
                              help="Log API requests to stderr (-v retries, -vv every request).")  # fmt: skip
TARGET_OPTION = click.option("--target", "target_name", required=True, metavar="NAME",
                             help="Target from dac.yml (`targets:`).")  # fmt: skip


def _target(name: str) -> tuple[Project, Target]:
    from ..model.project import find_project

    project = find_project()
    return project, project.target(name)


def _plan_or_exit(project: Project, target: Target, client: RuleClient) -> Plan:
    from ..deploy.http import ApiError
    from ..deploy.plan import PlanError, plan_target
    from ..reports.text import print_diagnostics

    try:
        return plan_target(project, target, client)
    except PlanError as exc:
        if exc.diagnostics:
            print_diagnostics(_console(stderr=True), exc.diagnostics)
        click.echo(f"dac: error: {exc}", err=True)
        sys.exit(EXIT_FINDINGS)
    except ApiError as exc:
        _listing_failed(target, exc)


def _listing_failed(target: Target, error: Exception) -> NoReturn:
    from ..deploy.http import redact

    click.echo(f"dac: error: listing the rules of target '{target.name}' failed: {redact(str(error))}", err=True)
    sys.exit(EXIT_FINDINGS)


@click.command("plan")
@TARGET_OPTION
@VERBOSE_OPTION
@click.option("--format", "output_format", type=click.Choice(["text", "json", "markdown"]), default="text",
              show_default=True, help="text for people, json for tools, markdown for job summaries.")  # fmt: skip
@click.option("--prune", is_flag=True, help="Show deletions as a deploy with --prune would make them.")
@_guarded
def plan_command(target_name: str, output_format: str, prune: bool) -> None:
    """Show what `dac deploy` would change in a target, without changing anything.

    Lists the target's rules once, then prints each rule dac would create, update (with a field
    diff), restore (drifted: edited outside dac), delete (only with --prune) or leave unchanged.
    Rules without dac's ownership marker are never touched and only counted. Exit code 0 when the
    plan was made, 1 when detections are invalid, the API failed or a rule conflicts, 2 for usage.
    """
    from ..deploy.connect import client_for
    from ..reports import plan as plan_report

    project, target = _target(target_name)
    plan = _plan_or_exit(project, target, client_for(target))
    if output_format == "json":
        click.echo(plan_report.as_json(plan), nl=False)
    elif output_format == "markdown":
        click.echo(plan_report.markdown(plan, prune), nl=False)
    else:
        click.echo(plan_report.text(plan, prune), nl=False)
    sys.exit(EXIT_FINDINGS if plan.of("conflict") else EXIT_OK)


@click.command("deploy")
@TARGET_OPTION
@VERBOSE_OPTION
@click.option("--prune", is_flag=True, help="Also delete rules dac deployed whose detection is gone.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (CI).")
@_guarded
def deploy_command(target_name: str, prune: bool, yes: bool) -> None:
    """Apply the plan to a target: create, update and (with --prune) delete rules dac owns.

    Prints the plan, asks for confirmation unless --yes (required without a terminal), then writes
    the rules several at a time and prints each result. Exit code 1 if any rule failed; a rerun
    after any failure plans again from the live rules and converges.
    """
    from ..deploy.apply import apply_plan, pending
    from ..deploy.connect import client_for
    from ..reports import plan as plan_report

    project, target = _target(target_name)
    client = client_for(target)
    plan = _plan_or_exit(project, target, client)
    click.echo(plan_report.text(plan, prune), nl=False)
    if not pending(plan, prune) and not plan.of("conflict"):
        click.echo("nothing to do")
        sys.exit(EXIT_OK)
    if not yes:
        if not sys.stdin.isatty():
            click.echo("dac: error: not a terminal: pass --yes to deploy without confirmation", err=True)
            sys.exit(EXIT_USAGE)
        click.confirm(f"apply this plan to target '{target.name}'?", abort=True)

    def report(outcome: Outcome) -> None:
        mark = "ok  " if outcome.ok else "FAIL"
        click.echo(f"{mark} {outcome.action.kind:<9} {outcome.action.name} ({outcome.action.id}): {outcome.message}")

    outcomes = apply_plan(plan, client, prune=prune, report=report)
    failed = [o for o in outcomes if not o.ok]
    done = len(outcomes) - len(failed)
    click.echo(f"deploy to {target.name}: {done} done, {len(failed)} failed"
               + ("; rerun `dac deploy` to finish (it converges)" if failed else ""))  # fmt: skip
    sys.exit(EXIT_FINDINGS if failed else EXIT_OK)


@click.command("drift")
@TARGET_OPTION
@VERBOSE_OPTION
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_guarded
def drift_command(target_name: str, output_format: str) -> None:
    """List rules dac deployed that were edited outside dac (in a portal or by another tool).

    A rule is drifted when its live content no longer matches the content hash in its dac marker.
    Exit code 1 when any rule drifted, 0 when none did.
    """
    import json

    from ..deploy.connect import client_for

    project, target = _target(target_name)
    plan = _plan_or_exit(project, target, client_for(target))
    drifted = plan.of("drifted")
    if output_format == "json":
        items = [{"id": a.id, "name": a.name, "changes": [{"path": c.path, "live": c.before, "detection": c.after}
                                                            for c in a.changes]} for a in drifted]  # fmt: skip
        click.echo(json.dumps({"target": target.name, "drifted": items}, indent=2, default=str))
    else:
        for action in drifted:
            click.echo(f"! drifted: {action.name} ({action.id})")
            for change in action.changes:
                click.echo(f"    {change.path}: live {change.before!r} / detection {change.after!r}")
        click.echo(f"target {target.name}: {len(drifted)} drifted rule(s)")
    sys.exit(EXIT_FINDINGS if drifted else EXIT_OK)


@click.command("pull")
@TARGET_OPTION
@VERBOSE_OPTION
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the detection files into.")  # fmt: skip
@_guarded
def pull_command(target_name: str, out_dir: Path) -> None:
    """Export a target's live rules as detection YAML, including rules dac does not own (to adopt them).

    Writes one file per rule into --out (never over an existing file); rules dac owns keep their
    detection id, rules it does not own get an `adopt:` line with their id. Review the files, move
    them into detections/, and the next deploy adopts the rules in place (same ids). Sentinel rules
    that are not query rules (Fusion, ML, threat intelligence, incident creation) are skipped and named.
    """
    from ..deploy.connect import client_for
    from ..deploy.http import ApiError
    from ..deploy.pull import write_pulled

    _project, target = _target(target_name)
    client = client_for(target)
    try:
        live = client.list_rules()
    except ApiError as exc:
        _listing_failed(target, exc)
    written, skipped = write_pulled(live, target, out_dir)
    for path, _rule in written:
        click.echo(f"wrote {path}")
    for rule, reason in skipped:
        click.echo(f"skipped {rule.id}: {reason}")
    click.echo(f"pulled {len(written)} rule(s) from {target.name} into {out_dir}"
               + (f"; skipped {len(skipped)} that are not query rules" if skipped else ""))  # fmt: skip
    sys.exit(EXIT_OK)


@click.command("adopt")
@TARGET_OPTION
@VERBOSE_OPTION
@click.argument("rule_ids", nargs=-1, required=True, metavar="RULE...")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the detection files (default: adopted/ in the detections folder).")  # fmt: skip
@_guarded
def adopt_command(target_name: str, rule_ids: tuple[str, ...], out_dir: Path | None) -> None:
    """Take over rules made outside dac: one detection file per RULE (the live rule's id), with an
    `adopt:` line naming it.

    Review the files (add tests), then `dac plan` shows each as adopt with its field diff and
    `dac deploy` writes the detection and dac's marker onto that same rule (same id, no duplicate);
    dac owns it from then on. Exit code 1 when a RULE does not exist in the target, is dac's
    already, or is not a query rule.
    """
    from ..deploy.connect import client_for
    from ..deploy.http import ApiError
    from ..deploy.plan import owner_id
    from ..deploy.pull import write_pulled

    project, target = _target(target_name)
    client = client_for(target)
    try:
        live = {rule.id.casefold(): rule for rule in client.list_rules()}
    except ApiError as exc:
        _listing_failed(target, exc)
    problems = []
    chosen = []
    for rule_id in dict.fromkeys(rule_ids):
        rule = live.get(rule_id.casefold())
        if rule is None:
            problems.append(f"{rule_id}: no such rule in target {target.name}")
        elif owner_id(rule) is not None:
            problems.append(f"{rule_id}: dac owns it already (detection {owner_id(rule)})")
        else:
            chosen.append(rule)
    written, skipped = write_pulled(chosen, target, out_dir or project.detections_dir / "adopted")
    for path, rule in written:
        click.echo(f"wrote {path} (adopt: {rule.id})")
    problems += [f"{rule.id}: skipped: {reason}" for rule, reason in skipped]
    for problem in problems:
        click.echo(f"dac: {problem}", err=True)
    click.echo(f"{len(written)} rule(s) to adopt from {target.name}: run `dac plan --target {target.name}` to see them")
    sys.exit(EXIT_FINDINGS if problems else EXIT_OK)


@click.command("targets")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text: a table for people; json: an array for tools (the deploy workflow's matrix).")  # fmt: skip
@_guarded
def targets_command(output_format: str) -> None:
    """List the deployment targets of dac.yml: name, platform, tenant and (Sentinel) workspace.

    Exit code 0, also when dac.yml has no targets (json prints []); 2 when dac.yml is invalid.
    """
    import json

    from rich.table import Table

    from ..model.project import find_project

    targets = find_project().targets
    if output_format == "json":
        fields = ("name", "platform", "tenant_id", "client_id", "subscription_id", "resource_group", "workspace")
        click.echo(json.dumps([{key: getattr(t, key) for key in fields} for t in targets], indent=2))
        sys.exit(EXIT_OK)
    if not targets:
        click.echo("no targets: add `targets:` to dac.yml (see docs/configuration.md)")
        sys.exit(EXIT_OK)
    table = Table(title="Targets", title_justify="left")
    for column in ("name", "platform", "tenant", "workspace (resource group/name)"):
        table.add_column(column, overflow="fold")
    for target in targets:
        workspace = "/".join(p for p in (target.resource_group, target.workspace) if p)
        table.add_row(target.name, target.platform, target.tenant_id, workspace or "-")
    _console().print(table)
    sys.exit(EXIT_OK)
