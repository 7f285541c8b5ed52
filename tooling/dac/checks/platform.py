"""Platform rules: what Defender XDR custom detections and Sentinel analytics rules accept.

Run once per enabled dialect of a `kind: detection`, with that dialect's query text, its output
columns (None when unknown or open: the column checks are then skipped) and the tables it reads.
Each finding points at the YAML field to change. Codes: DAC60x Defender, DAC61x Sentinel, DAC62x
both. Sources: the pages named in schemas/api/*.schema.json, chiefly
https://learn.microsoft.com/en-us/defender-xdr/custom-detection-rules and
https://learn.microsoft.com/en-us/azure/sentinel/scheduled-rules-overview.
"""

from __future__ import annotations

import re
from itertools import pairwise
from typing import Any

from ..diagnostics import Diagnostic, error, warning
from ..kql import T, tokenize
from ..model.detection import Detection
from ..model.yamlsource import JsonPath
from ..rules import (
    defender_entity,
    duration_minutes,
    entity_entries,
    identifier_known,
    is_nrt,
    placeholders,
    sentinel_entity,
)

DEFENDER_FREQUENCIES = {0: "0 (NRT)", 60: "1h", 180: "3h", 720: "12h", 1440: "24h"}

# Tables that support the Continuous (NRT) frequency (Defender XDR custom detection rules).
DEFENDER_NRT_TABLES = frozenset(
    {
        "AlertEvidence", "CloudAppEvents", "DeviceEvents", "DeviceFileCertificateInfo", "DeviceFileEvents",
        "DeviceImageLoadEvents", "DeviceLogonEvents", "DeviceNetworkEvents", "DeviceNetworkInfo", "DeviceInfo",
        "DeviceProcessEvents", "DeviceRegistryEvents", "EmailAttachmentInfo", "EmailEvents",
        "EmailPostDeliveryEvents", "EmailUrlInfo", "IdentityDirectoryEvents", "IdentityLogonEvents",
        "IdentityQueryEvents", "UrlClickEvents",
    }
)  # fmt: skip
NRT_FORBIDDEN_WORDS = ("join", "union", "externaldata")

SENTINEL_MIN_MINUTES = 5
SENTINEL_MAX_MINUTES = 14 * 1440
SENTINEL_MAX_QUERY = 10_000
SENTINEL_MAX_PLACEHOLDERS = 3  # per field: alert name format and alert description format
SENTINEL_MAX_CUSTOM_DETAILS = 20
SENTINEL_MAX_ENTITY_MAPPINGS = 10
# ARM rejects column names (and so custom detail keys) that do not start with a letter or '_' and
# hold anything but English letters, digits and '_'.
CUSTOM_DETAIL_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
THRESHOLD_RANGE = (0, 10_000)


def check(
    detection: Detection,
    dialect: str,
    query_text: str,
    output_columns: dict[str, str] | None,
    tables_read: set[str] | frozenset[str] = frozenset(),
) -> list[Diagnostic]:
    """Platform findings for one dialect of a detection (none for hunting queries)."""
    if detection.kind != "detection":
        return []
    context = _Context(detection, dialect, query_text, output_columns, set(tables_read))
    if dialect == "defender":
        context.defender()
    elif dialect == "sentinel":
        context.sentinel()
    context.shared()
    return context.diagnostics


def check_variant(detection: Detection, variant: Any) -> list[Diagnostic]:
    """`check` for one rendered and bound variant (dac.variants.Variant) of a detection."""
    if detection.kind != "detection" or getattr(variant, "parameter_error", None) is not None:
        return []
    output = variant.output
    columns = None if output is None or output.open else dict(output.columns)
    return check(detection, variant.dialect, variant.text, columns, set(variant.tables))


class _Context:
    def __init__(
        self,
        detection: Detection,
        dialect: str,
        query_text: str,
        output: dict[str, str] | None,
        tables: set[str],
    ) -> None:
        self.detection = detection
        self.dialect = dialect
        self.platform = "Defender XDR" if dialect == "defender" else "Sentinel"
        self.query_text = query_text
        self.output = output
        self.tables = tables
        self.data: dict[str, Any] = detection.data
        self.alert: dict[str, Any] = self.data.get("alert") or {}
        self.schedule: dict[str, Any] = self.data.get("schedule") or {}
        self.trigger: dict[str, Any] = self.data.get("trigger") or {}
        self.diagnostics: list[Diagnostic] = []
        self._tokens: list | None = None

    # -- helpers ------------------------------------------------------------------------------

    def error(self, path: JsonPath, code: str, message: str, *notes: str, key: bool = False) -> None:
        position = self.detection.key_position(path) if key else self.detection.position(path)
        self.diagnostics.append(error(self.detection.display, position, code, message, *notes))

    def warning(self, path: JsonPath, code: str, message: str, *notes: str, key: bool = False) -> None:
        position = self.detection.key_position(path) if key else self.detection.position(path)
        self.diagnostics.append(warning(self.detection.display, position, code, message, *notes))

    @property
    def query_path(self) -> JsonPath:
        return (
            ("variants", self.dialect, "text")
            if self.detection.variant(self.dialect).get("text")
            else ("query", "text")
        )

    @property
    def tokens(self) -> list:
        if self._tokens is None:
            self._tokens = tokenize(self.query_text)
        return self._tokens

    def _minutes(self, key: str) -> int | None:
        try:
            return duration_minutes(self.schedule[key])
        except (KeyError, ValueError):
            return None

    @property
    def nrt(self) -> bool:
        return is_nrt(self.schedule.get("frequency", ""))

    def _trigger_is_any_row(self) -> bool:
        return self.trigger.get("operator", "gt") == "gt" and self.trigger.get("threshold", 0) == 0

    # -- Defender XDR ---------------------------------------------------------------------------

    def defender(self) -> None:
        frequency = self._minutes("frequency")
        if frequency is not None and frequency not in DEFENDER_FREQUENCIES:
            self.error(
                ("schedule", "frequency"),
                "DAC604",
                f"Defender XDR custom detections run at {', '.join(DEFENDER_FREQUENCIES.values())}; "
                f"not every {self.schedule['frequency']}",
            )
        lookback = self._minutes("lookback")
        if frequency and lookback is not None and lookback < frequency:
            self.error(
                ("schedule", "lookback"),
                "DAC609",
                f"Defender XDR needs a lookback of at least the frequency ({self.schedule['frequency']}); "
                f"it is {self.schedule['lookback']}",
            )
        if self.output is not None:
            self._defender_columns()
        if self.nrt:
            self._defender_nrt()

    def _defender_columns(self) -> None:
        assert self.output is not None
        sentinel_only = bool(self.tables) and not (self.tables & _defender_tables())
        time_columns = ("Timestamp", "TimeGenerated") if sentinel_only or not self.tables else ("Timestamp",)
        if not any(column in self.output for column in time_columns):
            self.error(
                self.query_path,
                "DAC601",
                f"the Defender XDR query must return {' or '.join(time_columns)}: it sets the alert time",
                "keep it in project/summarize, e.g. summarize arg_max(Timestamp, ReportId) by DeviceId",
            )
        if "ReportId" not in self.output:
            self.error(
                self.query_path,
                "DAC602",
                "the Defender XDR query must return ReportId: it links the alert to the original record",
            )
        entities = self.alert.get("entities") or []
        mapped = [e for _, _, e in entity_entries(self.alert) if defender_entity(e) is not None
                  and e["column"] in self.output]  # fmt: skip
        if not mapped:
            path: JsonPath = ("alert", "entities") if entities else ("alert",)
            self.error(
                path,
                "DAC603",
                "Defender XDR needs at least one alert.entities entry whose column the query returns "
                "and that maps to a Defender entity (device, user, mailbox, ...)",
                key=not entities,
            )

    def _defender_nrt(self) -> None:
        if len(self.tables) > 1:
            self.error(
                self.query_path,
                "DAC605",
                f"a near-real-time (frequency 0) Defender XDR rule may read one table; this query reads "
                f"{len(self.tables)}: {', '.join(sorted(self.tables))}",
            )
        seen: set[str] = set()
        previous = None
        for token in self.tokens:
            if (
                token.kind is T.IDENT
                and token.text in NRT_FORBIDDEN_WORDS
                and token.text not in seen
                and not (previous is not None and previous.is_punct(".", "$"))
            ):
                seen.add(token.text)
                self.error(
                    self.query_path,
                    "DAC606",
                    f"a near-real-time (frequency 0) Defender XDR rule cannot use {token.text}",
                )
            previous = token
        if any("//" in token.leading or "//" in token.trailing for token in self.tokens):
            self.error(
                self.query_path,
                "DAC607",
                "a near-real-time (frequency 0) Defender XDR rule cannot contain comments (//)",
                "remove the comments from the query text or use a variants.defender.text without them",
            )
        defender_tables = _defender_tables()
        for table in sorted(self.tables):
            if table in defender_tables and table not in DEFENDER_NRT_TABLES:
                self.error(
                    self.query_path,
                    "DAC608",
                    f"table {table} does not support the near-real-time (frequency 0) frequency in Defender XDR",
                    "supported: " + ", ".join(sorted(DEFENDER_NRT_TABLES)),
                )

    # -- Sentinel -------------------------------------------------------------------------------

    def sentinel(self) -> None:
        frequency = self._minutes("frequency")
        lookback = self._minutes("lookback")
        if not self.nrt:
            if frequency is not None and not SENTINEL_MIN_MINUTES <= frequency <= SENTINEL_MAX_MINUTES:
                self.error(
                    ("schedule", "frequency"),
                    "DAC610",
                    f"Sentinel runs scheduled rules every 5m to 14d; not every {self.schedule['frequency']}",
                )
            if lookback is not None and not SENTINEL_MIN_MINUTES <= lookback <= SENTINEL_MAX_MINUTES:
                self.error(
                    ("schedule", "lookback"),
                    "DAC611",
                    f"Sentinel lookback must be 5m to 14d; it is {self.schedule['lookback']}",
                )
            if frequency is not None and lookback is not None and frequency > lookback:
                self.error(
                    ("schedule", "frequency"),
                    "DAC612",
                    f"Sentinel needs frequency <= lookback; {self.schedule['frequency']} > {self.schedule['lookback']} "
                    "would leave gaps between runs",
                )
        length = len(self.query_text)
        if length > SENTINEL_MAX_QUERY or not self.query_text.strip():
            self.error(
                self.query_path,
                "DAC613",
                f"a Sentinel rule query must be 1 to {SENTINEL_MAX_QUERY:,} characters; this one has {length:,}",
                "move parts into a workspace function",
            )
        tokens = [t for t in self.tokens if t.kind is not T.EOF]
        for first, second in pairwise(tokens):
            if first.kind is T.IDENT and first.text in ("search", "union") and second.is_punct("*"):
                self.error(self.query_path, "DAC614", f"a Sentinel rule query cannot contain '{first.text} *'")
        threshold = self.trigger.get("threshold")
        if isinstance(threshold, int) and not THRESHOLD_RANGE[0] <= threshold <= THRESHOLD_RANGE[1]:
            self.error(
                ("trigger", "threshold"), "DAC615", f"Sentinel trigger thresholds are 0 to 10000; not {threshold}"
            )
        for field in ("title", "description"):
            count = len(placeholders(self.alert.get(field)))
            if count > SENTINEL_MAX_PLACEHOLDERS:
                self.error(
                    ("alert", field),
                    "DAC616",
                    f"Sentinel allows at most {SENTINEL_MAX_PLACEHOLDERS} {{{{column}}}} placeholders in the alert "
                    f"{field}; it has {count}",
                )
        details = self.alert.get("custom_details") or {}
        if len(details) > SENTINEL_MAX_CUSTOM_DETAILS:
            self.error(
                ("alert", "custom_details"),
                "DAC617",
                f"Sentinel allows at most {SENTINEL_MAX_CUSTOM_DETAILS} custom details; there are {len(details)}",
            )
        for key in details:
            if not CUSTOM_DETAIL_KEY.match(str(key)):
                self.error(
                    ("alert", "custom_details", key),
                    "DAC618",
                    f"custom detail key '{key}' must start with a letter or '_' and hold only letters, digits and '_'",
                    key=True,
                )
        mapped = {index for index, _, e in entity_entries(self.alert) if sentinel_entity(e) is not None}
        if len(mapped) > SENTINEL_MAX_ENTITY_MAPPINGS:
            self.error(
                ("alert", "entities"),
                "DAC619",
                f"Sentinel allows at most {SENTINEL_MAX_ENTITY_MAPPINGS} entity mappings; there are {len(mapped)}",
            )

    # -- both -----------------------------------------------------------------------------------

    def shared(self) -> None:
        resolve = defender_entity if self.dialect == "defender" else sentinel_entity
        first_dialect = (self.detection.enabled_dialects() or [self.dialect])[0] == self.dialect
        for index, path, entity in entity_entries(self.alert):
            target = resolve(entity)
            if target is None:
                self.warning(
                    ("alert", "entities", index, "type"),
                    "DAC623",
                    f"entity type '{entity['type']}' (column {entity['column']}) has no {self.platform} entity "
                    f"mapping{_why_none(entity, self.dialect)}; it is left out of the {self.platform} rule",
                )
            elif not identifier_known(entity):
                if first_dialect:
                    self.error(
                        ("alert", "entities", index, *(path if len(path) == 2 else ("identifier",))),
                        "DAC624",
                        f"'{entity['identifier']}' is not an identifier of entity type '{entity['type']}'",
                    )
            elif not target.exact:
                self.warning(
                    ("alert", "entities", index, *(path if len(path) == 2 else ("identifier",))),
                    "DAC626",
                    f"{self.platform} has no '{entity['identifier']}' identifier for entity type '{entity['type']}'; "
                    f"the column is mapped as {target.field}",
                )
        if not self._trigger_is_any_row() and (self.dialect == "defender" or self.nrt):
            what = "Defender XDR rules" if self.dialect == "defender" else "Sentinel near-real-time rules"
            self.warning(
                ("trigger",),
                "DAC625",
                f"{what} alert on every result row; trigger "
                f"{self.trigger.get('operator')} {self.trigger.get('threshold')} cannot be expressed and is ignored",
            )
        if self.output is None:
            return
        for field in ("title", "description"):
            for column in dict.fromkeys(placeholders(self.alert.get(field))):
                if column not in self.output:
                    self.error(
                        ("alert", field),
                        "DAC620",
                        f"placeholder {{{{{column}}}}} in the alert {field} is not a column of the {self.platform} "
                        "query's output",
                        _did_you_mean(column, self.output),
                    )
        for index, path, entity in entity_entries(self.alert):
            if entity["column"] not in self.output:
                self.error(
                    ("alert", "entities", index, *path),
                    "DAC621",
                    f"entity column {entity['column']} is not a column of the {self.platform} query's output",
                    _did_you_mean(entity["column"], self.output),
                )
        for key, column in (self.alert.get("custom_details") or {}).items():
            if column not in self.output:
                self.error(
                    ("alert", "custom_details", key),
                    "DAC622",
                    f"custom detail {key}: column {column} is not a column of the {self.platform} query's output",
                    _did_you_mean(column, self.output),
                )


def _why_none(entity: dict[str, Any], dialect: str) -> str:
    if dialect == "defender" and entity["type"] == "process":
        return " unless the column holds a SHA1 or SHA256 hash (set identifier: SHA1 or SHA256)"
    return ""


def _did_you_mean(name: str, output: dict[str, str]) -> str:
    if not output:
        return "the query returns no columns"
    folded = {column.casefold(): column for column in output}
    if name.casefold() in folded:
        return f"did you mean {folded[name.casefold()]}?"
    shown = list(output)[:12]
    return "output columns: " + ", ".join(shown) + (", ..." if len(output) > len(shown) else "")


def _defender_tables() -> frozenset[str]:
    from ..model.tables import shipped_tables  # local import: table data loads only when needed

    return frozenset(shipped_tables("defender"))
