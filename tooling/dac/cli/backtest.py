"""`dac backtest`: each rule a target selects, run once on the tenant's own data, as counts."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .support import EXIT_FINDINGS, EXIT_OK, PATHS_ARGUMENT, fail, guarded, paths_or_default


def _set_verbosity(context: click.Context, _parameter: click.Parameter, count: int) -> int:
    """-v: retries at INFO, -vv: every request at DEBUG (never headers or bodies) and each wrapped query."""
    if count:
        import logging

        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        for name in ("dac.deploy", "dac.tenant"):
            logger = logging.getLogger(name)
            logger.addHandler(handler)
            logger.setLevel(logging.DEBUG if count > 1 else logging.INFO)
    return count


@click.command("backtest")
@click.option("--target", "target_name", required=True, metavar="NAME", help="Target from dac.yml (`targets:`).")
@click.option("--since", default="7d", show_default=True, metavar="DURATION",
              help="The window: whole minutes, hours or days back from now (90m, 12h, 7d); at most 30d on "
              "Defender (Advanced Hunting keeps 30 days).")  # fmt: skip
@click.option("--format", "output_format", type=click.Choice(["text", "json", "markdown"]), default="text",
              show_default=True, help="text for people, json for tools, markdown for job summaries.")  # fmt: skip
@click.option("--max-alerts-per-day", type=click.IntRange(min=0), default=10, show_default=True, metavar="N",
              help="Noise budget: a rule raising more alerts per day than this on average is flagged.")  # fmt: skip
@click.option("-v", "--verbose", count=True, callback=_set_verbosity,
              help="To stderr: -v retries, -vv every request and each query sent.")  # fmt: skip
@PATHS_ARGUMENT
@guarded
def backtest_command(target_name: str, since: str, output_format: str, max_alerts_per_day: int, verbose: int,
                     paths: tuple[Path, ...]) -> None:  # fmt: skip
    """Run each detection a target selects once on the tenant's own data and report its noise.

    Defender targets query Advanced Hunting (Microsoft Graph runHuntingQuery, permission
    ThreatHunting.Read.All); Sentinel targets query the workspace through the Log Analytics query
    API (role Log Analytics Reader; needs `pip install 'dac[backtest]'`). Each rule's query, as
    rendered for the target, is wrapped to return counts, not rows: results per schedule window and
    per day, the alerts its trigger would have raised, distinct values of its entity columns. Its
    ago() filters are widened by the window so one query covers every run (docs/backtest.md).

    Flags rules over the noise budget and rules with no results. Exit code 0, or 1 when a rule is
    over the budget or its query failed (zero results alone do not fail); 2 for usage errors.
    """
    from ..backtest import BacktestError, RuleBacktest, check_since, parse_since, run_backtest
    from ..model.project import find_project
    from ..reports import backtest as backtest_report
    from ..tenant import MissingExtra
    from ..tenant.connect import query_client_for

    project = find_project()
    target = project.target(target_name)
    try:
        window = parse_since(since)
        check_since(target, window)
        client = query_client_for(target)
    except (BacktestError, MissingExtra) as exc:
        fail(str(exc))

    def show(rule: RuleBacktest) -> None:
        if verbose > 1 and rule.query:
            click.echo(f"-- query sent for {rule.name} ({rule.id}):\n{rule.query}\n", err=True)

    try:
        report = run_backtest(project, target, client, paths=paths_or_default(paths, project), since=window,
                              max_alerts_per_day=max_alerts_per_day, on_rule=show)  # fmt: skip
    except BacktestError as exc:
        fail(str(exc))
    finally:
        client.close()
    render = {"json": backtest_report.as_json, "markdown": backtest_report.markdown}.get(output_format)
    click.echo((render or backtest_report.text)(report), nl=False)
    sys.exit(EXIT_FINDINGS if report.over_budget or report.failed else EXIT_OK)
