"""Which operand types KQL's operators accept, and the type of the result: the binder's tables for
comparisons, arithmetic, `between`, unary minus and the predicates that must be bool.

Source: the answers of Microsoft's binder (Kusto.Language 12.4.1, run as ../shared/tools/kqlcheck) for
every pair of the scalar types string, int, long, real, decimal, bool, datetime, timespan, dynamic and
guid (`print <a> <op> <b>`, with `--result` for the result type). Where it answers KS106 ("The operator
'<' is not defined for the operand types string and long"), the functions here return None. `unknown`
operands are never reported: the binder cannot tell.
"""

from __future__ import annotations

from .types import BOOL, DATETIME, DYNAMIC, GUID, INT, LONG, NUMERIC, REAL, STRING, TIMESPAN, wider_numeric

# `true`/`false` in the three spellings Kusto reads (`print True, FALSE` binds; `tRuE` is an unknown name).
BOOL_LITERALS = frozenset({"true", "True", "TRUE", "false", "False", "FALSE"})
# `<`, `<=`, `>`, `>=`: numbers (bool counts as one) with each other, dynamic with a number, datetime with
# datetime, timespan with timespan. Strings are not ordered in KQL (`"a" < "b"` is KS106 too).
ORDERING = frozenset({"<", "<=", ">", ">="})
# `=~`, `!~`: case-insensitive string equality, for string and dynamic only.
CASELESS_EQUALITY = frozenset({"=~", "!~"})
# `in~`, `!in~`: "A value of type string or dynamic expected" for the left operand.
CASELESS_IN = frozenset({"in~", "!in~"})
# `==`, `!=`, `<>` bind for every pair of types in Kusto.Language.
_ORDERED_NUMBERS = (*NUMERIC, BOOL)


def ordering_accepts(left: str, right: str) -> bool:
    if left in _ORDERED_NUMBERS and right in _ORDERED_NUMBERS:
        return True
    if DYNAMIC in (left, right) and {left, right} <= {*NUMERIC, DYNAMIC}:
        return True
    return left == right and left in (DATETIME, TIMESPAN)


def mixed_equality(left: str, right: str) -> bool:
    """`==`/`!=`/`in` between a string and a value of another known type: Kusto.Language binds every such pair,
    but the KQL reference does not say how the engine compares them (see KQL304)."""
    if STRING not in (left, right) or left == right:
        return False
    other = right if left == STRING else left
    return other in (*NUMERIC, BOOL, DATETIME, TIMESPAN, GUID)


def caseless_equality_accepts(left: str, right: str) -> bool:
    return left in (STRING, DYNAMIC) and right in (STRING, DYNAMIC)


def _promoted(type_: str) -> str:
    """Arithmetic on int gives long in Kusto (`int(1) + int(1)` is long)."""
    return LONG if type_ == INT else type_


# Arithmetic with datetime or timespan: (left, right) -> result, per operator. `+` and `-` also take a
# dynamic operand beside a datetime or timespan; `*`, `/` and `%` a number.
_TIME_ARITHMETIC: dict[str, dict[tuple[str, str], str]] = {
    "+": {
        (DATETIME, TIMESPAN): DATETIME, (TIMESPAN, DATETIME): DATETIME, (DATETIME, DATETIME): DATETIME,
        (TIMESPAN, TIMESPAN): TIMESPAN, (DATETIME, DYNAMIC): DATETIME, (DYNAMIC, DATETIME): DATETIME,
        (TIMESPAN, DYNAMIC): TIMESPAN, (DYNAMIC, TIMESPAN): TIMESPAN,
    },
    "-": {
        (DATETIME, DATETIME): TIMESPAN, (DATETIME, TIMESPAN): DATETIME, (TIMESPAN, DATETIME): DATETIME,
        (TIMESPAN, TIMESPAN): TIMESPAN, (DATETIME, DYNAMIC): TIMESPAN, (DYNAMIC, DATETIME): TIMESPAN,
        (TIMESPAN, DYNAMIC): TIMESPAN, (DYNAMIC, TIMESPAN): TIMESPAN,
    },
    "*": {(TIMESPAN, TIMESPAN): TIMESPAN},
    "/": {(DATETIME, DATETIME): REAL, (DATETIME, TIMESPAN): REAL, (TIMESPAN, TIMESPAN): REAL},
    "%": {(DATETIME, DATETIME): TIMESPAN, (DATETIME, TIMESPAN): TIMESPAN, (TIMESPAN, TIMESPAN): TIMESPAN},
}  # fmt: skip
# datetime or timespan with a number on the right (and, for `*`, on either side): the result keeps the time type.
_TIME_BY_NUMBER = {"*": "both", "/": "right", "%": "right"}


def arithmetic_result(operator: str, left: str, right: str) -> str | None:
    """The result type of `left operator right` (+ - * / %), or None when Kusto does not define it."""
    if left in NUMERIC and right in NUMERIC:
        return wider_numeric(_promoted(left), _promoted(right))
    if left == DYNAMIC and right == DYNAMIC:
        return DYNAMIC
    if left == DYNAMIC and right in NUMERIC:
        return _promoted(right)
    if right == DYNAMIC and left in NUMERIC:
        return _promoted(left)
    result = _TIME_ARITHMETIC.get(operator, {}).get((left, right))
    if result is not None:
        return result
    side = _TIME_BY_NUMBER.get(operator)
    if side is not None:
        if left in (DATETIME, TIMESPAN) and right in NUMERIC:
            return left
        if side == "both" and right in (DATETIME, TIMESPAN) and left in NUMERIC:
            return right
    return None


def negation_accepts(operand: str) -> bool:
    """Unary `-`: KS106 on string, bool and guid."""
    return operand not in (STRING, BOOL, GUID)


def between_accepts(left: str, bound: str, *, upper: bool) -> bool:
    """`left between (low .. high)`: numbers between numbers (or dynamic), datetime between datetimes (the upper
    bound may be a timespan: `between (t .. 1d)`), timespan between timespans, dynamic between numbers."""
    if left in NUMERIC:
        return bound in (*NUMERIC, DYNAMIC)
    if left == DATETIME:
        return bound == DATETIME or (upper and bound == TIMESPAN)
    if left == TIMESPAN:
        return bound == TIMESPAN
    if left == DYNAMIC:
        return bound in NUMERIC
    return False  # string, bool, guid: not defined


# Predicates that must be bool: dynamic is refused here too ("A value of type bool expected", KS107), unlike
# in `and`/`or`, which accept a dynamic operand. Function -> the 0-based positions of its predicate arguments.
PREDICATE_ARGUMENTS: dict[str, tuple[int, ...]] = {
    "countif": (0,), "iff": (0,), "iif": (0,), "not": (0,), "assert": (0,),
    "sumif": (1,), "dcountif": (1,), "hll_if": (1,), "minif": (1,), "maxif": (1,), "avgif": (1,),
    "make_list_if": (1,), "make_set_if": (1,), "make_bag_if": (1,), "stdevif": (1,), "varianceif": (1,),
    "variancepif": (1,), "anyif": (1,), "take_anyif": (1,), "count_distinctif": (1,),
    "covarianceif": (2,), "covariancepif": (2,),
}  # fmt: skip


def predicate_positions(name: str, count: int) -> tuple[int, ...]:
    """The predicate arguments of a call of `name` with `count` arguments; case(p1, v1, p2, v2, ..., else)
    has one at every even position but the last."""
    if name == "case":
        return tuple(range(0, count - 1, 2))
    return tuple(i for i in PREDICATE_ARGUMENTS.get(name, ()) if i < count)


def logical_operand_accepts(operand: str) -> bool:
    """`and`, `or`: bool or dynamic operands."""
    return operand in (BOOL, DYNAMIC)


# The values Kusto accepts for an operator's enumerated parameters; anything else is its KS005 "Expected one
# of: ..." (values are case-sensitive words: `kind=INNER` and `kind="inner"` are refused too). Each parameter
# may be given once (KS180 "The parameter 'kind' is already specified"). Join's `hint.` names are those
# Kusto's parser reads; any other is its KS198. Source: Kusto.Language through kqlcheck.
PARAMETER_VALUES: dict[str, dict[str, tuple[str, ...]]] = {
    "join": {
        "kind": ("inner", "fullouter", "innerunique", "leftanti", "leftantisemi", "anti", "leftouter", "leftsemi",
                 "rightanti", "rightantisemi", "rightouter", "rightsemi"),
        "hint.strategy": ("auto", "broadcast", "centralized", "shuffle"),
        "hint.remote": ("auto", "left", "local", "right", "unresolved"),
    },
    "lookup": {"kind": ("inner", "leftouter")},
    "union": {"kind": ("inner", "outer")},
    "mv-expand": {"kind": ("bag", "array")},
    "parse": {"kind": ("simple", "regex", "relaxed")},
    "summarize": {"hint.strategy": ("shuffle",)},
}  # fmt: skip
JOIN_HINTS = ("concurrency", "num_partitions", "remote", "shufflekey", "spread", "strategy")
