"""Microsoft Sentinel hunting queries: the body dac keeps for a `kind: hunting` detection.

Sentinel keeps hunting queries as Log Analytics saved searches (Microsoft Learn, "Manage hunting
and livestream queries in Microsoft Sentinel using REST API"; "Saved Searches - Create Or Update"):
`PUT .../workspaces/{ws}/savedSearches/{id}` with `properties.category` "Hunting Queries",
`displayName`, `query`, `version` (the query language version: 2, the current one and the default)
and `tags`, a list of `{name, value}` where the Hunting page reads `description`, `tactics`
(comma-separated, Sentinel's PascalCase tactic names) and `techniques` (comma-separated ids).

dac's body is `{"kind": "HuntingQuery", "properties": {...}}`. "kind" is dac's own label (plan and
apply tell a hunting query from an alert rule by it); it is never sent. The description is kept in
`properties.description`, where plan and rules.py look for the ownership marker on every Sentinel
body, and `deploy/saved_searches.py` turns it into the `description` tag on the wire (and back).
The marker is appended as on rules, the hash taken over this body without it.
"""

from __future__ import annotations

from typing import Any

from .rules import parent_techniques, sentinel_tactics, with_marker

KIND = "HuntingQuery"  # dac's label of a saved-search body (never sent)
CATEGORY = "Hunting Queries"  # the category the Sentinel Hunting page lists
QUERY_LANGUAGE_VERSION = 2  # "The current version is 2 and is the default."
DESCRIPTION_TAG = "description"
TACTICS_TAG = "tactics"
TECHNIQUES_TAG = "techniques"


def mitre_tags(data: dict[str, Any]) -> list[dict[str, str]]:
    """The `tactics` and `techniques` tags (only those with a value), sorted by name.

    Techniques are parent ids (T1059.001 -> T1059), as on Sentinel's analytics rules, whose
    `techniques` hold parents and keep sub-techniques apart."""
    tags = []
    tactics = sentinel_tactics(data)
    if tactics:
        tags.append({"name": TACTICS_TAG, "value": ",".join(tactics)})
    techniques = parent_techniques(data)
    if techniques:
        tags.append({"name": TECHNIQUES_TAG, "value": ",".join(techniques)})
    return sorted(tags, key=lambda tag: (tag["name"], tag["value"]))


def sentinel_hunting_query(data: dict[str, Any], query_text: str, rule_id: str | None = None) -> dict[str, Any]:
    """dac's body of a hunting query saved search; the saved search id is the detection's UUID, or
    `rule_id`, the saved search the detection adopted."""
    properties: dict[str, Any] = {
        "category": CATEGORY,
        "displayName": data["name"],
        "query": query_text,
        "version": QUERY_LANGUAGE_VERSION,
        "description": (data.get("description") or "").strip(),
        "tags": mitre_tags(data),
    }
    body = {"kind": KIND, "properties": properties}
    return with_marker(body, data["id"], properties, rule_id)
