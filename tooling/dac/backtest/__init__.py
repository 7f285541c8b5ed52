"""`dac backtest`: each detection a target selects, run once on the tenant's own data, as counts.

Public names: `run_backtest` (run.py) with `BacktestError`, `parse_since` and `check_since`; the
results `BacktestReport`, `RuleBacktest`, `Trigger` (model.py); `wrap` and `Wrapped` (wrap.py), the
counting query. The clients that send the queries are dac.tenant's. Nothing here prints: the
command (cli/backtest.py) and reports/backtest.py do.
"""

from __future__ import annotations

from .model import BacktestReport, RuleBacktest, Trigger
from .run import BacktestError, check_since, parse_since, run_backtest
from .wrap import Wrapped, wrap

__all__ = ["BacktestError", "BacktestReport", "RuleBacktest", "Trigger", "Wrapped", "check_since", "parse_since",
           "run_backtest", "wrap"]  # fmt: skip
