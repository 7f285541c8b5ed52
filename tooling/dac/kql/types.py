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


def branch_type(name: str, argument_types: list[str]) -> str | None:
    """The result type of iff/iif/case, or of sum/sumif, where the catalog's rule ($2, $numeric) is not
    Microsoft's; None to keep the catalog's. Asked of Microsoft's binder (kqlcheck --result): the branches'
    common type, where dynamic gives way to the other types (iif(c, dynamic(1), 'a') is string,
    case(c, dynamic(1), d, dynamic(2), 1) is long) and numbers to the widest (iif(c, 1, 2.5) is real);
    sum/sumif of int are long (functions.py says so too); bin/floor of numbers and max_of/min_of: see below."""
    if name in ("sum", "sumif"):
        return LONG if argument_types[:1] == [INT] else None
    if name in ("bin", "floor") and len(argument_types) == 2 and all(t in NUMERIC for t in argument_types):
        # bin(int, 1) is long, bin(int, 2.5) real: the wider of the two, int counting as long
        return wider_numeric(LONG if argument_types[0] == INT else argument_types[0], argument_types[1])
    if name in ("max_of", "min_of") and argument_types and all(t == argument_types[0] for t in argument_types):
        # max_of(datetime, datetime) is datetime, min_of(1d, 2d) timespan (kqlcheck --result)
        return argument_types[0] if argument_types[0] != UNKNOWN else None
    if name not in ("iff", "iif", "case") or len(argument_types) < 3:
        return None
    branches = argument_types[1::2] + argument_types[-1:] if name == "case" else argument_types[1:3]
    typed = [t for t in branches if t not in (DYNAMIC, UNKNOWN)]
    if UNKNOWN in branches or not typed:
        return None
    if all(t in NUMERIC for t in typed):
        return wider_numeric(*typed)
    return typed[0] if all(t == typed[0] for t in typed) else None
