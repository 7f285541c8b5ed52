"""After a write whose answer was lost or doubtful: ask the service what it now holds.

Both rule APIs are known to answer 400/409/5xx (or time out) yet apply the write; reading the
rule back tells a write that happened from one that did not, so a rerun never duplicates work.
"""

from __future__ import annotations

import logging
from typing import Any

from . import LiveRule, RuleClient
from .http import ApiError, same_content

log = logging.getLogger(__name__)


def confirmed_write(client: RuleClient, rule_id: str, wanted: dict[str, Any]) -> LiveRule | None:
    """The live rule if it holds `wanted` (the content sent), else None (also when it cannot be read)."""
    try:
        live = client.get_rule(rule_id)
    except ApiError as exc:
        log.warning("could not read back rule %s: %s", rule_id, exc)
        return None
    if live is not None and same_content(wanted, live.body):
        log.info("rule %s: the write's answer was lost, but the service has the rule as sent", rule_id)
        return live
    return None


def confirmed_deleted(client: RuleClient, rule_id: str) -> bool:
    """True when the rule is gone despite a failed delete; False when it is there or cannot be read."""
    try:
        return client.get_rule(rule_id) is None
    except ApiError:
        return False
