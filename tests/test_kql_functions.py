"""The KQL function catalog (dac.kql.functions): well-formed, covers the corpus, dialects kept apart."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections import Counter

import pytest

from conftest import ROOT
from dac.kql import functions
from dac.kql.functions import DIALECTS, FUNCTIONS, KINDS, SCALAR_TYPES, SYNTAX_FORMS, lookup


def _words(text: str) -> list[str]:
    return text.split()


# The "Top 80 functions" table of ../shared/corpus/STATS.md (identifier followed by "(", user `let`
# functions excluded), in its order.
TOP_80 = _words("""
tostring ago isnotempty parse_json make_set not dynamic count iff split strcat arg_max min dcount tolower max
todynamic make_list array_length bin case extract isempty toscalar column_ifexists _GetWatchlist typeof coalesce now
makeset take_any make_set_if iif materialize countif toint datetime substring array_sort_asc pack_array todouble
startofday sum strlen ingestion_time make_bag arg_min geo_info_from_ip_address bag_pack toreal strcat_array
datetime_diff replace_regex replace trim next ipv4_is_private todatetime pack indexof replace_string any round
extract_all FileProfile dcountif toupper bag_keys parse_ipv4 prev makelist array_concat take_anyif parse_xml
columnifexists ipv4_is_in_any_range parse_url tolong make_list_if array_slice
""")

# The summarize aggregations and evaluate plugins STATS.md lists.
CORPUS_AGGREGATES = _words("""
make_set count arg_max min dcount max make_list makeset take_any make_set_if countif sum make_bag arg_min any
dcountif makelist make_list_if avg percentiles count_distinct sumif maxif stdev minif percentile
""")
CORPUS_PLUGINS = _words("""
bag_unpack pivot ipv4_lookup activity_counts_metrics basket sliding_window_counts autocluster rolling_percentile
""")

# Names that look like calls in the corpus but are not built-in functions: user or workspace functions, typos.
NOT_BUILT_IN = ["AWSIdentityRole", "UnifySignInLogs", "IsWorkingTime", "array_len", "todate", "tostring2"]

PLATFORM = {
    "FileProfile": "defender",
    "DeviceFromIP": "defender",
    "AssignedIPAddresses": "defender",
    "SeenBy": "defender",
    "_GetWatchlist": "sentinel",
    "workspace": "sentinel",
}


def test_catalog_lines_are_unique_and_match_their_keys():
    names = [line.split()[0] for line in functions._CATALOG.splitlines() if line.strip() and line[0] != "#"]
    assert [name for name, n in Counter(names).items() if n > 1] == []
    assert len(names) == len(FUNCTIONS)
    assert all(info.name == name for name, info in FUNCTIONS.items())


def test_duplicate_line_is_refused():
    with pytest.raises(ValueError, match="listed twice"):
        functions._parse("tostring scalar 1 string\ntostring scalar 1 string\n")


def test_every_field_is_well_formed():
    for info in FUNCTIONS.values():
        assert info.kind in KINDS, info
        assert info.min_args >= 0, info
        assert info.max_args is None or info.max_args >= info.min_args, info
        assert info.max_args is None or info.max_args <= 100, info  # larger caps are written as variadic
        assert info.dialects and set(info.dialects) <= set(DIALECTS), info
        returns = info.returns
        assert returns in SCALAR_TYPES or returns in ("unknown", "$numeric") or returns[0] == "$", info
        if returns.startswith("$") and returns != "$numeric":
            index = int(returns[1:])
            assert 1 <= index <= (info.max_args or index), info  # the argument it names can exist


def test_replacements_exist_and_are_current():
    deprecated = {name: info.replaced_by for name, info in FUNCTIONS.items() if info.replaced_by}
    assert len(deprecated) >= 25
    for name, target in deprecated.items():
        assert target in FUNCTIONS, name
        assert FUNCTIONS[target].replaced_by is None, name
        assert FUNCTIONS[target].kind == FUNCTIONS[name].kind, name
    for alias, target in [("makeset", "make_set"), ("makelist", "make_list"), ("parsejson", "parse_json"),
                          ("any", "take_any"), ("columnifexists", "column_ifexists"), ("arraylength", "array_length"),
                          ("pack", "bag_pack"), ("anyif", "take_anyif"), ("argmax", "arg_max")]:  # fmt: skip
        assert FUNCTIONS[alias].replaced_by == target
    assert FUNCTIONS["todynamic"].replaced_by is None  # current, like parse_json
    assert FUNCTIONS["tolower"].replaced_by is None


def test_top_80_functions_of_the_corpus_are_present():
    assert len(TOP_80) == len(set(TOP_80)) == 80
    missing = [name for name in TOP_80 if name not in FUNCTIONS and name not in SYNTAX_FORMS]
    assert missing == []
    # the parser reads these as literals / typeof, not as calls
    assert [name for name in TOP_80 if name in SYNTAX_FORMS] == ["dynamic", "typeof", "datetime"]
    assert SYNTAX_FORMS.isdisjoint(FUNCTIONS)


def test_corpus_aggregations_and_plugins_have_their_kind():
    assert [name for name in CORPUS_AGGREGATES if FUNCTIONS[name].kind != "aggregate"] == []
    assert [name for name in CORPUS_PLUGINS if FUNCTIONS[name].kind != "plugin"] == []
    assert set(CORPUS_PLUGINS) <= set(functions.plugin_names())
    windows = {name for name, info in FUNCTIONS.items() if info.kind == "window"}
    assert set(_words("row_number prev next row_cumsum row_rank_dense row_rank_min row_window_session")) <= windows


def test_user_functions_and_typos_are_not_built_in():
    assert [name for name in NOT_BUILT_IN if lookup(name) is not None] == []


@pytest.mark.parametrize(
    ("name", "kind", "arity", "returns"),
    [
        ("toscalar", "scalar", (1, 1), "unknown"),
        ("materialize", "tabular", (1, 1), "$1"),
        ("iff", "scalar", (3, 3), "$2"),
        ("iif", "scalar", (3, 3), "$2"),
        ("case", "scalar", (3, None), "$2"),
        ("coalesce", "scalar", (2, 64), "$1"),
        ("min", "aggregate", (1, 1), "$1"),
        ("max", "aggregate", (1, 1), "$1"),
        ("any", "aggregate", (1, None), "$1"),
        ("take_any", "aggregate", (1, None), "$1"),
        ("arg_max", "aggregate", (1, None), "$1"),
        ("arg_min", "aggregate", (1, None), "$1"),
        ("count", "aggregate", (0, 1), "long"),
        ("dcount", "aggregate", (1, 2), "long"),
        ("make_set", "aggregate", (1, 2), "dynamic"),
        ("make_list", "aggregate", (1, 2), "dynamic"),
        ("make_bag", "aggregate", (1, 2), "dynamic"),
        ("sum", "aggregate", (1, 1), "$numeric"),
        ("avg", "aggregate", (1, 1), "real"),
        ("bin", "scalar", (2, 2), "$1"),
        ("ago", "scalar", (1, 1), "datetime"),
        ("now", "scalar", (0, 1), "datetime"),
        ("todatetime", "scalar", (1, 1), "datetime"),
        ("tostring", "scalar", (1, 1), "string"),
        ("parse_json", "scalar", (1, 1), "dynamic"),
        ("todynamic", "scalar", (1, 1), "dynamic"),
        ("extract", "scalar", (3, 4), "string"),
        ("split", "scalar", (2, 3), "dynamic"),
        ("strcat", "scalar", (1, 64), "string"),
        ("array_length", "scalar", (1, 1), "long"),
        ("isempty", "scalar", (1, 1), "bool"),
        ("isnotempty", "scalar", (1, 1), "bool"),
        ("isnull", "scalar", (1, 1), "bool"),
        ("isnotnull", "scalar", (1, 1), "bool"),
        ("not", "scalar", (1, 1), "bool"),
        ("geo_info_from_ip_address", "scalar", (1, 1), "dynamic"),
        ("ipv4_is_private", "scalar", (1, 1), "bool"),
        ("column_ifexists", "scalar", (2, 2), "$2"),
        ("extractjson", "scalar", (2, 3), "unknown"),
        ("row_number", "window", (0, 2), "long"),
        ("prev", "window", (1, 3), "$1"),
        ("bag_unpack", "plugin", (1, 4), "unknown"),  # docs; Kusto.Language 12.4.1 says 1..2
    ],
)
def test_binder_contract(name, kind, arity, returns):
    info = FUNCTIONS[name]
    assert (info.kind, (info.min_args, info.max_args), info.returns) == (kind, arity, returns)


def test_accepts():
    assert FUNCTIONS["strcat"].accepts(1) and FUNCTIONS["strcat"].accepts(64)
    assert not FUNCTIONS["strcat"].accepts(0) and not FUNCTIONS["strcat"].accepts(65)
    assert FUNCTIONS["case"].accepts(301) and not FUNCTIONS["case"].accepts(2)


def test_platform_functions_belong_to_one_dialect():
    for name, dialect in PLATFORM.items():
        other = "sentinel" if dialect == "defender" else "defender"
        assert FUNCTIONS[name].dialects == (dialect,), name
        assert FUNCTIONS[name].kind == "tabular", name
        assert lookup(name, dialect) is FUNCTIONS[name]
        assert lookup(name, other) is None, name
        assert lookup(name) is FUNCTIONS[name]  # no dialect: any platform
        assert name in functions.names(dialect) and name not in functions.names(other)
    # every dialect-specific entry is a platform function, not a KQL built-in
    assert all(info.kind == "tabular" for info in FUNCTIONS.values() if info.dialects != DIALECTS)
    assert (FUNCTIONS["FileProfile"].min_args, FUNCTIONS["FileProfile"].max_args) == (0, 2)
    assert (FUNCTIONS["_GetWatchlist"].min_args, FUNCTIONS["_GetWatchlist"].max_args) == (1, 1)
    assert lookup("tostring", "defender") is lookup("tostring", "sentinel") is FUNCTIONS["tostring"]


def test_asim_parsers_are_sentinel_tabular_functions_of_any_arity():
    for name in ("_Im_WebSession", "_ASim_Dns", "_ASIM_AuthenticationEvent"):
        assert functions.is_asim_parser(name)
        info = lookup(name, "sentinel")
        assert info is not None and info.kind == "tabular" and info.dialects == ("sentinel",)
        assert info.accepts(0) and info.accepts(7)
        assert lookup(name, "defender") is None
    for name in ("_Im_", "_GetWatchlist", "Im_Dns", "_im_Dns", "imDns", "ASimDns"):
        assert not functions.is_asim_parser(name), name


def test_names_are_case_sensitive():
    assert lookup("tostring") is not None
    assert lookup("ToString") is None and lookup("TOSTRING") is None
    assert lookup("fileprofile") is None


def test_unknown_dialect_means_any_platform():
    assert lookup("FileProfile", "unknown") is FUNCTIONS["FileProfile"]
    assert set(functions.names()) == set(FUNCTIONS)


def _oracle_available() -> bool:
    script = ROOT / "scripts" / "verify_function_arity.py"
    spec = importlib.util.spec_from_file_location("verify_function_arity", script)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.find_oracle(None) is not None


@pytest.mark.skipif(not _oracle_available(), reason="kqlcheck (node + @kusto/language-service-next) not installed")
def test_arity_agrees_with_microsofts_binder():
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "verify_function_arity.py")],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 mismatched" in done.stdout
