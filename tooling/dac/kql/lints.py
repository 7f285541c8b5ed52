"""Warnings for known bad practice in queries: slower or broader than they need to be."""

from __future__ import annotations

import re
from collections.abc import Mapping

from .binder import BindResult
from .lexer import T
from .syntax import KqlDiagnostic, Node

# Tables where a hunting query without a time filter scans a lot of data.
LARGE_TABLES = frozenset(
    {"DeviceEvents", "DeviceProcessEvents", "DeviceNetworkEvents", "DeviceFileEvents", "DeviceRegistryEvents",
     "DeviceImageLoadEvents", "DeviceLogonEvents", "EmailEvents", "CloudAppEvents", "IdentityLogonEvents",
     "SigninLogs", "AADNonInteractiveUserSignInLogs", "SecurityEvent", "CommonSecurityLog", "Syslog", "AuditLogs",
     "OfficeActivity", "AzureDiagnostics", "AzureActivity", "Event", "W3CIISLog", "DnsEvents"}
)  # fmt: skip
_TIME_FUNCTIONS = frozenset({"ago", "now", "startofday", "startofweek", "startofmonth", "startofyear", "datetime"})
_TIME_COLUMNS = frozenset({"Timestamp", "TimeGenerated"})
_RANGE_OPERATORS = frozenset({">", ">=", "<", "<=", "between"})
_WHOLE_TERM = re.compile(r"^[A-Za-z0-9]{3,}$")


def lint(
    tree: Node, bound: BindResult, *, hunting: bool, tables: Mapping[str, Mapping[str, str]] | None = None
) -> list[KqlDiagnostic]:
    """`tables` (table -> column -> type, the environment's) lets KQL303 name a time column the tables have."""
    findings: list[KqlDiagnostic] = []
    for node in tree.walk():
        if node.kind == "BinaryExpression" and node["op"].text in ("contains", "!contains"):
            term = _string_literal_text(node["right"])
            if term is not None and _WHOLE_TERM.match(term):
                better = node["op"].text.replace("contains", "has")
                findings.append(
                    KqlDiagnostic(
                        "KQL301",
                        f"'{node['op'].text} \"{term}\"' scans every string; '{better}' matches the whole term "
                        "through the term index and is faster",
                        node["op"].start,
                        node["op"].end,
                        "warning",
                    )
                )
        elif node.kind == "Search" and not any(isinstance(c, Node) and c.kind == "Tables" for c in node.children):
            head = node.children[0]
            findings.append(
                KqlDiagnostic(
                    "KQL302",
                    "'search' without 'in (Table, ...)' reads every table; name the tables to search",
                    head.start,
                    head.end,
                    "warning",
                )
            )
    large = sorted(bound.tables & LARGE_TABLES)
    if hunting and large and not _has_time_filter(tree):
        first = tree.first_token()
        findings.append(
            KqlDiagnostic(
                "KQL303",
                f"no time filter on {', '.join(large)}: the hunt reads all retained data; "
                f"add e.g. '| where {_time_column(large, tables)} > ago(7d)'",
                first.start if first else 0,
                first.end if first else 0,
                "warning",
            )
        )
    return findings


def _time_column(large: list[str], tables: Mapping[str, Mapping[str, str]] | None) -> str:
    """A time column every table read has: Defender XDR's tables have Timestamp, Sentinel's (Log Analytics)
    TimeGenerated, and Defender tables streamed to Sentinel have both."""
    if tables is not None:
        known = [tables[name] for name in large if name in tables]
        for column in ("Timestamp", "TimeGenerated"):
            if known and all(column in columns for columns in known):
                return column
        if known:
            return "TimeGenerated" if any("TimeGenerated" in columns for columns in known) else "Timestamp"
    # Without schemas: only the Device*/Email*/CloudApp*/Identity* tables are Defender XDR's.
    defender = ("Device", "Email", "CloudApp", "Identity")
    return "Timestamp" if all(name.startswith(defender) for name in large) else "TimeGenerated"


def _string_literal_text(node: Node) -> str | None:
    if node.kind != "Literal" or node["literal"] != "string":
        return None
    text = "".join(t.text for t in node.tokens())
    return text[1:-1] if len(text) >= 2 and text[0] in "'\"" else None


def _has_time_filter(tree: Node) -> bool:
    """ago()/now()/datetime() anywhere, or a time column compared or used with between."""
    for token in tree.tokens():
        if token.kind is T.IDENT and token.text in _TIME_FUNCTIONS:
            return True
        if token.kind is T.TYPED_LITERAL and token.text.startswith("datetime"):
            return True
    # A time column with a comparison above it; one walk that carries "compared" down, not one walk
    # under each comparison (a chain of 10,000 comparisons would take minutes).
    pending: list[tuple[Node, bool]] = [(tree, False)]
    while pending:
        node, compared = pending.pop()
        compared = compared or (
            node.kind in ("BinaryExpression", "BetweenExpression") and node["op"].text in _RANGE_OPERATORS
        )
        for child in node.children:
            if isinstance(child, Node):
                pending.append((child, compared))
            elif compared and child.kind is T.IDENT and child.text in _TIME_COLUMNS:
                return True
    return False
