"""The binder refuses what Kusto refuses and accepts what Kusto accepts: operand types, conditions, operator
parameters, literal spellings.

Every expected answer comes from Microsoft's binder (Kusto.Language 12.4.1 as ../shared/tools/kqlcheck): the
comment beside a case quotes its answer. When kqlcheck is installed, `test_type_matrix_agrees_with_kqlcheck`
also asks it live about every pair of scalar types for each operator.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT
from dac.kql import parse
from dac.kql.binder import bind
from dac.kql.lints import lint
from dac.kql.operator_types import (
    arithmetic_result,
    between_accepts,
    caseless_equality_accepts,
    ordering_accepts,
)
from dac.model.tables import environment

KQLCHECK = ROOT.parent / "shared" / "tools" / "kqlcheck"


def errors(query: str, dialect: str = "sentinel") -> list[str]:
    """The codes of the errors dac reports on `query` (parser and binder)."""
    result = parse(query)
    found = [d.code for d in result.diagnostics]
    return found + [d.code for d in bind(result, environment(dialect)).diagnostics if d.severity == "error"]


def warnings(query: str, dialect: str = "sentinel") -> list[str]:
    result = parse(query)
    assert not result.diagnostics, result.diagnostics
    return [d.code for d in bind(result, environment(dialect)).diagnostics if d.severity == "warning"]


# ----------------------------------------------------------------- the audit's cases
def test_ordering_between_string_and_number_is_refused():
    # kqlcheck: KS106 "The operator '>' is not defined for the operand types string and long."
    assert errors('print "5" > 3') == ["KQL211"]
    # kqlcheck: KS106 "The operator '<' is not defined for the operand types long and string."
    assert errors('print 3 < "5"') == ["KQL211"]
    # kqlcheck on the sentinel schema (ResultType is string): KS106 for '>'
    assert errors("SigninLogs | where ResultType > 0") == ["KQL211"]
    # kqlcheck: KS106 "The operator '<' is not defined for the operand types string and string."
    assert errors('print "a" < "b"') == ["KQL211"]


def test_message_names_the_types_and_a_way_out():
    result = parse('print "5" > 3')
    (finding,) = bind(result, environment("defender")).diagnostics
    assert finding.message.startswith("'>' is not defined for string and long")
    assert "toint()" in finding.message


def test_countif_of_a_string_column_is_refused():
    # kqlcheck: KS107 "A value of type bool expected." on countif(ResultType)
    assert errors("SigninLogs | summarize countif(ResultType)") == ["KQL210"]
    # kqlcheck: KS107 on the predicate of sumif, dcountif, make_set_if, take_anyif, iff, case, not, assert
    assert errors('print x = 1 | summarize sumif(x, "a")') == ["KQL210"]
    assert errors('print x = 1 | summarize dcountif(x, "a")') == ["KQL210"]
    assert errors('print x = 1 | summarize make_set_if(x, "a")') == ["KQL210"]
    assert errors('print x = 1 | summarize take_anyif(x, "a")') == ["KQL210"]
    assert errors('print x = 1 | summarize covarianceif(x, x, "a")') == ["KQL210"]
    assert errors('print iff("a", 1, 2)') == ["KQL210"]
    assert errors('print case(true, 1, "a", 2, 3)') == ["KQL210"]
    assert errors("print not(long(3))") == ["KQL210"]
    assert errors('print assert("a", "m")') == ["KQL210"]
    # kqlcheck: KS107 for dynamic too; KS141 "The expression must have the type bool." for `where dynamic(3)`
    assert errors("print x = 1 | summarize countif(dynamic(3))") == ["KQL210"]
    assert errors("print x = 1 | where dynamic(3)") == ["KQL210"]
    # kqlcheck: no error (the else value of case is not a condition; a bool expression is)
    assert errors('print case(true, 1, "5")') == []
    assert errors('print x = 1 | summarize countif(x == 1 and "a" == "b")') == []
    assert errors("SigninLogs | summarize countif(ResultType == '0')") == []


def test_unknown_join_kind_is_refused():
    # kqlcheck: KS005 "Expected one of: inner, fullouter, innerunique, leftanti, leftantisemi, anti, leftouter,
    # leftsemi, rightanti, rightantisemi, rightouter, rightsemi"
    assert errors("SigninLogs | join kind=innerr (SigninLogs) on UserPrincipalName") == ["KQL214"]
    assert errors("print x = 1 | join kind=INNER (print x = 1) on x") == ["KQL214"]
    assert errors('print x = 1 | join kind="inner" (print x = 1) on x') == ["KQL214"]
    assert errors("print x = 1 | join kind=semi (print x = 1) on x") == ["KQL214"]
    assert errors("print x = 1 | join kind=outer (print x = 1) on x") == ["KQL214"]
    for kind in ("inner", "fullouter", "innerunique", "leftanti", "leftantisemi", "anti", "leftouter", "leftsemi",
                 "rightanti", "rightantisemi", "rightouter", "rightsemi"):  # fmt: skip
        assert errors(f"print x = 1 | join kind={kind} (print x = 1) on x") == [], kind


def test_other_operator_parameters():
    # kqlcheck: KS005 "Expected one of: inner, leftouter"
    assert errors("print x = 1 | lookup kind=innerr (print x = 1) on x") == ["KQL214"]
    assert errors("print x = 1 | lookup kind=leftouter (print x = 1) on x") == []
    # kqlcheck: KS005 "Expected one of: auto, broadcast, centralized, shuffle"
    assert errors("print x = 1 | join hint.strategy=foo (print x = 1) on x") == ["KQL214"]
    # kqlcheck: KS005 "Expected one of: auto, left, local, right, unresolved"
    assert errors("print x = 1 | join hint.remote=foo (print x = 1) on x") == ["KQL214"]
    # kqlcheck: no error
    assert errors("print x = 1 | join kind=leftouter hint.strategy=shuffle hint.shufflekey=x hint.remote=left "
                  "hint.num_partitions=3 (print x = 1) on x") == []  # fmt: skip
    # kqlcheck: KS198 "The incomplete fragment is unexpected." (join has no hint.foo)
    assert errors("print x = 1 | join hint.foo=bar (print x = 1) on x") == ["KQL214"]
    # kqlcheck: KS180 "The parameter 'kind' is already specified."
    assert errors("print x = 1 | join kind=inner kind=leftouter (print x = 1) on x") == ["KQL214"]
    # kqlcheck: KS005 "Expected one of: inner, outer" / "bag, array" / "simple, regex, relaxed" / "Expected: shuffle"
    assert errors("print x = 1 | union kind=foo (print x = 1)") == ["KQL214"]
    assert errors("print x = dynamic([1]) | mv-expand kind=foo x") == ["KQL214"]
    assert errors('print x = "a" | parse kind=foo x with y') == ["KQL214"]
    assert errors("print x = 1 | summarize hint.strategy=foo count() by x") == ["KQL214"]
    assert errors("print x = 1 | summarize hint.strategy=shuffle count() by x") == []


def test_equality_between_string_and_number_warns():
    # kqlcheck: no error for `ResultType == 0` (string column) nor `print "5" == 3`: the binder accepts it. The
    # KQL reference does not say how the engine compares a string with a number, so dac warns (KQL304).
    assert errors("SigninLogs | where ResultType == 0") == []
    assert warnings("SigninLogs | where ResultType == 0") == ["KQL304"]
    assert warnings("SigninLogs | where ResultType != 0") == ["KQL304"]
    assert warnings("SigninLogs | where ResultType in (0, 50126)") == ["KQL304"]
    assert warnings('SigninLogs | where DurationMs == "5"') == ["KQL304"]
    assert warnings('SigninLogs | where ResultType == "0"') == []
    assert warnings('SigninLogs | where ResultType in ("0", "50126")') == []
    assert warnings("SigninLogs | where DurationMs == 5") == []


def test_kusto_spellings_are_accepted():
    # kqlcheck: no error for True, FALSE (print_0: bool); KS142 for tRuE
    assert errors("print True") == []
    assert errors("print x = True and FALSE") == []
    assert errors("print TRUE, False, true, false") == []
    assert errors("print tRuE") == ["KQL202"]
    # kqlcheck: no error for `containscs`; KS002 "Unexpected: !" for `!containscs`
    assert errors('SigninLogs | where UserPrincipalName containscs "a"') == []
    assert errors('SigninLogs | where UserPrincipalName !containscs "a"') != []
    # kqlcheck: KS106 "The operator 'notcontainscs' is not defined for the operand types long and string."
    assert errors('print x = 1 | where x containscs "a"') == ["KQL211"]


def test_column_types_of_bool_literals():
    bound = bind(parse("print a = True, b = FALSE"), environment("defender"))
    assert bound.output is not None
    assert bound.output.items() == [("a", "bool"), ("b", "bool")]  # kqlcheck --result: bool, bool


def test_time_filter_hint_names_a_column_the_table_has():
    def hint(query: str, dialect: str) -> str:
        target = environment(dialect)
        result = parse(query)
        (finding,) = lint(result.tree, bind(result, target), hunting=True, tables=target.tables)
        return finding.message

    # SigninLogs (Sentinel) has TimeGenerated and no Timestamp (kqlcheck: KS142 for Timestamp on it).
    assert "'| where TimeGenerated > ago(7d)'" in hint("SigninLogs | take 1", "sentinel")
    assert "Timestamp" not in hint("SigninLogs | take 1", "sentinel")
    # Defender XDR's DeviceEvents has Timestamp and no TimeGenerated.
    assert "'| where Timestamp > ago(7d)'" in hint("DeviceEvents | take 1", "defender")
    # Both read: the column both have.
    assert "'| where TimeGenerated > ago(7d)'" in hint("union SigninLogs, DeviceEvents | take 1", "sentinel")


# ----------------------------------------------------------------- other operand rules
def test_arithmetic_with_strings_bools_and_guids_is_refused():
    # kqlcheck: KS106 "The operator '+' is not defined for the operand types string and long."
    assert errors('print "5" + 3') == ["KQL211"]
    # kqlcheck: KS106 for bool + long, string + dynamic, N / timespan
    assert errors("print true + 1") == ["KQL211"]
    assert errors('print "5" + dynamic(3)') == ["KQL211"]
    assert errors("print 3 / 1d") == ["KQL211"]
    # kqlcheck: no error (datetime * long binds; timespan - datetime is datetime)
    assert errors("print datetime(2020-01-01) * 2") == []
    assert errors("print 1d - datetime(2020-01-01)") == []
    # kqlcheck: KS106 "The operator '-' is not defined for the operand type string."
    assert errors('print -"a"') == ["KQL211"]
    assert errors("print -1d, -datetime(2020-01-01), -dynamic(1)") == []


def test_arithmetic_result_types():
    # kqlcheck --result: int + int is long, real + decimal is decimal, dynamic + long is long,
    # datetime - datetime is timespan, timespan / timespan is real, datetime + datetime is datetime
    assert arithmetic_result("+", "int", "int") == "long"
    assert arithmetic_result("+", "real", "decimal") == "decimal"
    assert arithmetic_result("*", "dynamic", "long") == "long"
    assert arithmetic_result("-", "datetime", "datetime") == "timespan"
    assert arithmetic_result("/", "timespan", "timespan") == "real"
    assert arithmetic_result("+", "datetime", "datetime") == "datetime"
    assert arithmetic_result("%", "datetime", "timespan") == "timespan"
    assert arithmetic_result("+", "string", "string") is None


def test_caseless_operators_want_strings():
    # kqlcheck: KS106 "The operator '=~' is not defined for the operand types string and long."
    assert errors('print "5" =~ 3') == ["KQL211"]
    assert errors("print 1 !~ 1") == ["KQL211"]
    assert errors('print dynamic("a") =~ "a"') == []
    # kqlcheck: KS107 "A value of type string or dynamic expected." for `3 in~ ('a')`
    assert errors("print 3 in~ ('a')") == ["KQL211"]
    assert errors("print 3 in ('a')") == []


def test_between_and_logical_operands():
    # kqlcheck: KS106 "The operator 'between' is not defined for the operand types string, long and long."
    assert errors('print "5" between (1 .. 2)') == ["KQL211"]
    # kqlcheck: KS141 "The expression must have the type long." for `1 between (1 .. datetime(...))`
    assert errors("print 1 between (1 .. datetime(2020-01-01))") == ["KQL211"]
    # kqlcheck: no error: datetime between a datetime and a timespan
    assert errors("print datetime(2020-01-01) between (datetime(2020-01-01) .. 1d)") == []
    # kqlcheck: KS106 "The operator 'and' is not defined for the operand types long and bool."
    assert errors("print long(3) and true") == ["KQL211"]
    assert errors("print dynamic(true) and true") == []


def test_type_rules_table():
    # Single facts of the kqlcheck matrix (print <a> <op> <b> for all scalar types)
    assert ordering_accepts("bool", "long") and not ordering_accepts("bool", "dynamic")
    assert ordering_accepts("dynamic", "real") and not ordering_accepts("guid", "guid")
    assert ordering_accepts("datetime", "datetime") and not ordering_accepts("datetime", "timespan")
    assert caseless_equality_accepts("dynamic", "string") and not caseless_equality_accepts("guid", "guid")
    assert between_accepts("dynamic", "long", upper=False) and not between_accepts("dynamic", "dynamic", upper=False)


# ----------------------------------------------------------------- live agreement with Microsoft's binder
_VALUES = {
    "string": '"5"', "long": "long(3)", "int": "int(3)", "real": "3.0", "bool": "true",
    "datetime": "datetime(2020-01-01)", "timespan": "1d", "dynamic": "dynamic(3)",
    "guid": "guid(00000000-0000-0000-0000-000000000000)", "decimal": "decimal(1)",
}  # fmt: skip
_OPERATORS = ("<", ">=", "==", "!=", "=~", "!~", "+", "-", "*", "/", "%")


def _kqlcheck() -> tuple[Path, Path] | None:
    script, modules = KQLCHECK / "check.js", KQLCHECK / "node_modules"
    if shutil.which("node") and script.is_file() and (modules / "@kusto" / "language-service-next").is_dir():
        return script, modules
    return None


@pytest.mark.skipif(_kqlcheck() is None, reason="kqlcheck (node + @kusto/language-service-next) not installed")
def test_type_matrix_agrees_with_kqlcheck():
    queries = [f"print {a} {op} {b}" for op in _OPERATORS for a in _VALUES.values() for b in _VALUES.values()]
    queries += [f"print {a} between ({b} .. {b})" for a in _VALUES.values() for b in _VALUES.values()]
    queries += [f"print x = 1 | summarize countif({a})" for a in _VALUES.values()]
    stdin = "".join(json.dumps({"id": i, "query": q}) + "\n" for i, q in enumerate(queries))
    script, _modules = _kqlcheck()  # type: ignore[misc]
    done = subprocess.run(["node", str(script)], input=stdin, capture_output=True, text=True, timeout=300,
                          check=True)  # fmt: skip
    disagreements = []
    for query, line in zip(queries, done.stdout.splitlines(), strict=True):
        answer = json.loads(line)
        theirs = bool(answer["syntax_errors"] or answer["semantic_errors"])
        ours = bool(errors(query, "defender"))
        if theirs != ours:
            disagreements.append((query, answer["semantic_errors"][:1]))
    assert disagreements == [], disagreements[:10]
