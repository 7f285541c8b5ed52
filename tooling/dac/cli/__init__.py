"""Command line: parse arguments, call the library, print. No checking logic lives here.

One module per command family: check.py (validate, check, render), emulator.py (test, kql run),
kql.py (kql check, columns, render), deploy.py (plan, deploy, drift, pull, adopt, targets),
backtest.py (backtest), schemas.py (schemas pull), docs.py (coverage, docs), review.py (report),
scaffold.py (new, init), importing.py (import); what they share is in support.py. A command's
module is imported when the command is looked up (lazy.py), and it imports the library inside the
command, so `dac --version` and `dac --help` load little more than click (bench/startup.py measures it).

Exit codes: 0 clean, 1 findings (or failed tests), 2 usage or input errors.
"""

from __future__ import annotations

import click

from .. import __version__
from .lazy import LazyGroup

COMMANDS = {
    "validate": "dac.cli.check:validate_command",
    "check": "dac.cli.check:check_command",
    "render": "dac.cli.check:render_command",
    "test": "dac.cli.emulator:test_command",
    "kql": "dac.cli.kql:kql_group",
    "new": "dac.cli.scaffold:new_command",
    "init": "dac.cli.scaffold:init_command",
    "import": "dac.cli.importing:import_group",
    "plan": "dac.cli.deploy:plan_command",
    "deploy": "dac.cli.deploy:deploy_command",
    "drift": "dac.cli.deploy:drift_command",
    "pull": "dac.cli.deploy:pull_command",
    "adopt": "dac.cli.deploy:adopt_command",
    "targets": "dac.cli.deploy:targets_command",
    "backtest": "dac.cli.backtest:backtest_command",
    "schemas": "dac.cli.schemas:schemas_group",
    "coverage": "dac.cli.docs:coverage_command",
    "docs": "dac.cli.docs:docs_command",
    "report": "dac.cli.review:report_group",
}


@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="dac")
def main() -> None:
    """dac: detection-as-code for Microsoft Defender XDR and Microsoft Sentinel.

    One YAML file per detection under detections/: validated against its schema, ATT&CK and the
    platforms' table schemas, rendered for Defender and Sentinel, and tested on a local KQL engine
    (embedded DuckDB), and deployed to tenants (plan, deploy, drift, pull, adopt) as Defender XDR
    custom detection rules, Sentinel analytics rules and Sentinel hunting queries. Exit codes: 0
    clean, 1 findings, 2 usage or input errors.
    """
    from ..collector import tune_for_short_process
    from ..redaction import install

    tune_for_short_process()

    install()  # before any command prints: secrets from the environment never reach the output
