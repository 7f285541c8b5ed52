#!/usr/bin/env python3
"""Check the arity of every function in tooling/dac/kql/functions.py against Microsoft's binder.

For each catalog function it builds calls with min_args-1, min_args, max_args and max_args+1 arguments (for a
variadic function: min_args-1, min_args, min_args+4 and min_args+70, which keep the parity case() and bag_pack()
need) and asks kqlcheck (../shared/tools/kqlcheck: Kusto.Language run by Node) whether the call has the wrong number
of arguments (KS119, KS120, KS121). A call the catalog allows must get no such error; a call it refuses must get one.
It also reports catalog functions the binder does not know (KS211 unknown function, KS124 unknown plug-in) or
puts in another context (KS144/KS236 aggregate or not, KS126/KS237 plug-in or not).

Every call runs in a context its kind allows, over T = datatable(a:long, b:string, c:datetime, d:dynamic)[...]:
    scalar     T | extend x = f(...)            aggregate  T | summarize x = f(...)
    window     T | serialize | extend x = f(...) plugin     T | evaluate f(...)
toscalar and materialize are syntax in Kusto.Language: a wrong count is a syntax error there, so any error counts.
The platform functions (FileProfile, _GetWatchlist, workspace(), ...) are not built into Kusto.Language and are
listed as not verifiable; their arity comes from the Defender XDR and Sentinel docs.

Exit status: 0 when everything agrees (or the oracle is absent: the check is skipped), 1 on any mismatch.
    python scripts/verify_function_arity.py [--node-modules DIR] [-v]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tooling"))

from dac.kql.functions import DIALECTS, FUNCTIONS, FunctionInfo  # noqa: E402

KQLCHECK = ROOT.parent / "shared" / "tools" / "kqlcheck"
PACKAGE = "@kusto/language-service-next"
TABLE = "datatable(a:long, b:string, c:datetime, d:dynamic)[1, 'x', datetime(2024-01-01), dynamic([1])]"
ARITY_CODES = {"KS119", "KS120", "KS121"}
CONTEXT_CODES = {"KS211", "KS124", "KS144", "KS126", "KS236", "KS237"}
SPECIAL = {"toscalar", "materialize"}  # parsed as syntax by Kusto.Language
LOOKUP_PLUGINS = {"ipv4_lookup", "ipv6_lookup"}  # their first argument names a table
ARGUMENTS = ("a", "b", "c", "d")
# Functions with several signatures answer a count no signature has with KS127 ("not compatible with arguments"),
# the same code a type mismatch gets. They get arguments of the right types (the last one repeats), and for them
# KS127 counts as a wrong number of arguments.
# Where the documentation allows more than Kusto.Language 12.4.1 does, the catalog follows the documentation; such
# calls are reported as known differences, not mismatches.
DOCS_OVER_ORACLE = {
    "bag_unpack": "docs: bag_unpack(Column [, OutputColumnPrefix] [, columnsConflict] [, ignoredProperties])",
}
TYPED = {
    "array_split": ("d", "a"),
    "avgif": ("a", "a > 0"),
    "bin_at": ("c", "1h", "c"),
    "pivot": ("b", "count()", "a"),
    "sequence_detect": ("c", "1h", "1d", "a > 0"),
    "table": ("'x'", "'all'"),
}


def find_oracle(given: str | None) -> tuple[Path, Path] | None:
    """(check.js, node_modules) of a kqlcheck install, or None."""
    if not shutil.which("node"):
        return None
    scripts = [KQLCHECK / "check.js", Path("/tmp/kqlcheck-run/check.js")]
    folders = [Path(given)] if given else []
    if os.environ.get("KUSTO_NODE_MODULES"):
        folders.append(Path(os.environ["KUSTO_NODE_MODULES"]))
    folders += [KQLCHECK / "node_modules", Path("/tmp/kqlcheck-run/node_modules")]
    script = next((s for s in scripts if s.is_file()), None)
    modules = next((f for f in folders if (f / PACKAGE / "package.json").is_file()), None)
    return (script, modules.resolve()) if script and modules else None


def verifiable(info: FunctionInfo) -> bool:
    """Platform functions are not built into Kusto.Language; everything else is."""
    return info.dialects == DIALECTS


def counts(info: FunctionInfo) -> list[tuple[int, bool]]:
    """(argument count, whether the catalog allows it)."""
    cases = [(info.min_args, True)]
    if info.min_args > 0:
        cases.append((info.min_args - 1, False))
    if info.max_args is None:  # +70 passes caps such as strcat's 64
        cases += [(info.min_args + 4, True), (info.min_args + 70, True)]
    else:
        if info.max_args != info.min_args:
            cases.append((info.max_args, True))
        cases.append((info.max_args + 1, False))
    return sorted(cases)


def call(info: FunctionInfo, count: int) -> str:
    name = info.name
    if name == "toscalar":
        return f"print x = toscalar({', '.join(['(' + TABLE + ')'] * count)})"
    if name == "materialize":
        return f"let m = materialize({', '.join([TABLE] * count)}); m"
    typed = TYPED.get(name)
    if typed:
        items = [typed[min(i, len(typed) - 1)] for i in range(count)]
    else:
        items = [ARGUMENTS[i % len(ARGUMENTS)] for i in range(count)]
    if name in LOOKUP_PLUGINS and items:
        items[0] = "L"
    arguments = ", ".join(items)
    if name == "table":
        return f"table({arguments})"
    if info.kind == "aggregate":
        return f"{TABLE} | summarize x = {name}({arguments})"
    if info.kind == "window":
        return f"{TABLE} | serialize | extend x = {name}({arguments})"
    if info.kind == "plugin":
        return f"let L = {TABLE}; {TABLE} | evaluate {name}({arguments})"
    return f"{TABLE} | extend x = {name}({arguments})"


def run(script: Path, modules: Path, queries: list[dict]) -> dict[str, dict]:
    stdin = "".join(json.dumps(q) + "\n" for q in queries)
    env = {**os.environ, "NODE_PATH": str(modules)}
    done = subprocess.run(["node", str(script)], input=stdin, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        sys.exit(f"verify_function_arity: kqlcheck failed ({done.returncode}):\n{done.stderr}")
    results = {}
    for line in done.stdout.splitlines():
        result = json.loads(line)
        results[result["id"]] = result
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--node-modules", help=f"node_modules folder holding {PACKAGE}")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every call that disagrees in full")
    options = parser.parse_args()
    oracle = find_oracle(options.node_modules)
    if oracle is None:
        print("verify_function_arity: skipped (no `node` or no kqlcheck install with node_modules found)")
        return 0
    checked = [info for info in FUNCTIONS.values() if verifiable(info)]
    skipped = [info.name for info in FUNCTIONS.values() if not verifiable(info)]
    queries, expected = [], {}
    for info in checked:
        for count, allowed in counts(info):
            key = f"{info.name}/{count}"
            queries.append({"id": key, "query": call(info, count)})
            expected[key] = (info, count, allowed)
    results = run(*oracle, queries)
    problems: dict[str, list[str]] = {}
    unchecked: dict[str, list[str]] = {}
    for key, (info, count, allowed) in expected.items():
        result = results.get(key)
        if result is None or "error" in result:
            reason = result["error"] if result else "no answer"
            unchecked.setdefault(info.name, []).append(f"{count} args: kqlcheck could not check the call: {reason}")
            continue
        errors = result["syntax_errors"] + result["semantic_errors"]
        codes = {e["code"] for e in errors}
        if info.name in SPECIAL:
            arity_error = bool(errors)
        else:
            arity_error = bool(codes & (ARITY_CODES | {"KS127"} if info.name in TYPED else ARITY_CODES))
            for e in errors:
                if e["code"] in CONTEXT_CODES:
                    problems.setdefault(info.name, []).append(f"{count} args: {e['code']} {e['message']}")
        if arity_error == allowed:
            what = "error" if arity_error else "no arity error"
            detail = "; ".join(f"{e['code']} {e['message']}" for e in errors) if options.verbose else ""
            problems.setdefault(info.name, []).append(
                f"{count} args: catalog says {'ok' if allowed else 'wrong'}, Microsoft's binder: {what} {detail}"
            )
    known = {name: problems.pop(name) for name in DOCS_OVER_ORACLE if name in problems}
    for name, lines in known.items():
        lines.append(DOCS_OVER_ORACLE[name])
    for label, found in (("MISMATCH", problems), ("UNCHECKED", unchecked), ("KNOWN", known)):
        for name, lines in sorted(found.items()):
            for line in dict.fromkeys(lines):
                print(f"{label} {name}: {line}")
    partial = [name for name in unchecked if name not in problems]
    confirmed = len(checked) - len(problems) - len(partial) - len(known)
    print(
        f"{confirmed} of {len(FUNCTIONS)} catalog functions confirmed by Microsoft's binder ({len(queries)} calls); "
        f"{len(problems)} mismatched; {len(known)} known differences where the catalog follows the docs "
        f"({', '.join(known) or '-'}); {len(partial)} partly checked ({', '.join(partial) or '-'}: the oracle failed "
        f"on some calls); {len(skipped)} not verifiable (platform functions): {', '.join(skipped)}"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
