"""Deployment of detections to tenants: Defender XDR custom detection rules (Microsoft Graph) and
Microsoft Sentinel analytics rules (Azure Resource Manager).

Modules, in the direction of their dependencies:
- `http`: one `requests.Session` per target with timeouts, retries and back-off, paging, and API
  errors that carry the service's code and message (never a token).
- `auth`: azure-identity credentials (DefaultAzureCredential, or GitHub Actions OIDC federation).
- `defender`, `sentinel`: the two rule APIs behind one small interface, `RuleClient`.
- `plan`: desired rules (from detections) against live rules (one list call) -> actions.
- `apply`: carries out a plan with bounded concurrency; converges on a rerun after any failure.
- `pull`: live rules -> detection YAML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class LiveRule:
    """A rule as the service returned it: its id (the detection UUID for rules dac wrote), the body
    in the same shape dac sends (Graph detectionRule, or ARM {kind, properties}), and its etag."""

    id: str
    body: dict[str, Any]
    etag: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # read-only server fields, for display


class RuleClient(Protocol):
    """What plan and apply need of a platform API."""

    platform: str  # "defender" | "sentinel"

    def list_rules(self) -> list[LiveRule]:
        """Every rule in the tenant/workspace, following the API's paging; one list, no per-rule GETs."""
        ...

    def get_rule(self, rule_id: str) -> LiveRule | None:
        """One rule, or None when it does not exist (used to check a write whose answer was lost)."""
        ...

    def create_rule(self, rule_id: str, body: dict[str, Any]) -> LiveRule: ...

    def update_rule(self, rule_id: str, body: dict[str, Any], live: LiveRule) -> LiveRule:
        """Replace the rule's dac-managed content; Sentinel sends the live etag."""
        ...

    def delete_rule(self, rule_id: str, live: LiveRule) -> None:
        """Delete; a rule that is already gone is not an error."""
        ...
