"""KQL scalar types and the row schemas that flow between query operators."""

from __future__ import annotations

from dataclasses import dataclass, field

STRING, LONG, INT, REAL, DECIMAL, BOOL = "string", "long", "int", "real", "decimal", "bool"
DATETIME, TIMESPAN, DYNAMIC, GUID, UNKNOWN = "datetime", "timespan", "dynamic", "guid", "unknown"

NUMERIC = (INT, LONG, REAL, DECIMAL)
_ALIASES = {
    "boolean": BOOL, "double": REAL, "float": REAL, "int32": INT, "int64": LONG, "date": DATETIME,
    "time": TIMESPAN, "uniqueid": GUID, "object": DYNAMIC,
}  # fmt: skip
KNOWN_TYPES = frozenset({STRING, LONG, INT, REAL, DECIMAL, BOOL, DATETIME, TIMESPAN, DYNAMIC, GUID})


def normalize_type(name: str) -> str:
    lowered = name.strip().lower()
    lowered = _ALIASES.get(lowered, lowered)
    return lowered if lowered in KNOWN_TYPES else UNKNOWN


def wider_numeric(*types: str) -> str:
    known = [t for t in types if t in NUMERIC]
    if len(known) != len(types):
        return UNKNOWN
    return max(known, key=NUMERIC.index)


@dataclass
class RowSchema:
    """The columns of a tabular value, in order. `open` means more columns may exist than we know
    (after bag_unpack, pivot, an unknown table or function): unknown names are then not errors."""

    columns: dict[str, str] = field(default_factory=dict)
    open: bool = False

    def copy(self) -> RowSchema:
        return RowSchema(dict(self.columns), self.open)

    @classmethod
    def unknown(cls) -> RowSchema:
        return cls({}, open=True)

    def get(self, name: str) -> str | None:
        return self.columns.get(name)

    def items(self) -> list[tuple[str, str]]:
        return list(self.columns.items())
