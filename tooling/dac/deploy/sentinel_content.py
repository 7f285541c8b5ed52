"""One RuleClient over a Sentinel workspace's two kinds of content dac deploys: analytics rules
(ARM alertRules, `sentinel.SentinelClient`) and hunting queries (Log Analytics saved searches,
`saved_searches.SavedSearchClient`).

Writes go by the body's kind: "HuntingQuery" (dac's label of a saved-search body) to the saved
searches, anything else to the alert rules; a delete goes by the live body's kind. A detection
whose kind changes between detection and hunting is an update whose live and desired kinds differ,
which apply carries out as a delete (of the old resource) and a create (of the new one).
"""

from __future__ import annotations

import threading
from typing import Any

from ..hunting_rules import KIND as HUNTING_KIND
from . import LiveRule, RuleClient
from .saved_searches import SavedSearchClient
from .sentinel import SentinelClient


def is_hunting_body(body: dict[str, Any] | None) -> bool:
    return isinstance(body, dict) and body.get("kind") == HUNTING_KIND


class SentinelContentClient:
    """RuleClient for a workspace's analytics rules and hunting queries together."""

    platform = "sentinel"

    def __init__(self, rules: SentinelClient, searches: SavedSearchClient) -> None:
        self.rules = rules
        self.searches = searches
        self._lock = threading.Lock()
        self._hunting_ids: set[str] = set()  # ids last seen (listed or written) as hunting queries

    def _remember(self, rule_id: str, hunting: bool) -> None:
        with self._lock:
            if hunting:
                self._hunting_ids.add(rule_id.lower())
            else:
                self._hunting_ids.discard(rule_id.lower())

    def _client_for(self, body: dict[str, Any] | None) -> RuleClient:
        return self.searches if is_hunting_body(body) else self.rules

    def list_rules(self) -> list[LiveRule]:
        alert_rules = self.rules.list_rules()
        hunting = self.searches.list_rules()
        with self._lock:
            self._hunting_ids = {rule.id.lower() for rule in hunting}
        return alert_rules + hunting

    def get_rule(self, rule_id: str) -> LiveRule | None:
        """The rule of that id, asking first where it was last seen."""
        with self._lock:
            hunting_first = rule_id.lower() in self._hunting_ids
        order: tuple[RuleClient, ...] = (self.searches, self.rules) if hunting_first else (self.rules, self.searches)
        for client in order:
            live = client.get_rule(rule_id)
            if live is not None:
                return live
        return None

    def create_rule(self, rule_id: str, body: dict[str, Any]) -> LiveRule:
        live = self._client_for(body).create_rule(rule_id, body)
        self._remember(rule_id, is_hunting_body(body))
        return live

    def update_rule(self, rule_id: str, body: dict[str, Any], live: LiveRule) -> LiveRule:
        if is_hunting_body(body) != is_hunting_body(live.body):
            # apply replaces a rule whose kind changes (delete + create); done here too if called directly
            self.delete_rule(rule_id, live)
            return self.create_rule(rule_id, body)
        updated = self._client_for(body).update_rule(rule_id, body, live)
        self._remember(rule_id, is_hunting_body(body))
        return updated

    def delete_rule(self, rule_id: str, live: LiveRule) -> None:
        self._client_for(live.body).delete_rule(rule_id, live)
        if is_hunting_body(live.body):
            self._remember(rule_id, False)
