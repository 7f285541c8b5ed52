#!/usr/bin/env python3
"""Generate tests/kql/binder_oracle.jsonl: what Microsoft's binder says about real queries.

This script is the only way tests/kql/binder_oracle.jsonl and tests/kql/binder_oracle.meta.json are
made; do not edit them by hand, re-run this instead.

It checks corpus queries with kqlcheck (../shared/tools/kqlcheck: Kusto.Language, the parser and
binder of Microsoft, run by Node) against the table schemas of tooling/dac/data/tables-<dialect>.json
(made by scripts/gen_tables.py) plus the functions of each dialect declared below. A query is taken
when Microsoft's parser finds no syntax error in it, its dialect is defender or sentinel, and every
name in its `tables` field (used as given, "()" dropped) is a table or function of that dialect.

Fixture: one line per query, sorted by id: {"id", "dialect", "semantic_errors": [{"code", "message",
"line", "column", "text"}], "result": [[name, type], ...] or null}. "result" is kqlcheck's `--result`: the
query's output columns and their Kusto type names as Microsoft's binder computes them (null when the query
does not end in a table). The meta file records the package version, schema hashes and counts.

Run from the repository root, with ../shared beside it, after `npm ci` in ../shared/tools/kqlcheck
(or name the node_modules of such an install with --node-modules or $KUSTO_NODE_MODULES; without
either, /tmp/kqlcheck-run/node_modules is tried too):
    python scripts/gen_binder_oracle.py [--node-modules DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
KQLCHECK = SHARED / "tools" / "kqlcheck"
CORPUS = SHARED / "corpus" / "queries-dev.jsonl"
FIXTURE = ROOT / "tests" / "kql" / "binder_oracle.jsonl"
META = ROOT / "tests" / "kql" / "binder_oracle.meta.json"
PACKAGE = "@kusto/language-service-next"
DIALECTS = ("defender", "sentinel")
MAIN_CODES = ("KS142", "KS204", "KS211")


def _enrich(columns: str) -> str:
    """Body of an `invoke` enrichment function: the input table plus `columns`, the way a join adds them
    (a name the input already has comes back with a 1 appended)."""
    return f"{{ T | extend _k = 1 | join kind=inner (print _k = 1, {columns}) on _k | project-away _k, _k1 }}"


# Signatures and outputs from the Microsoft Defender XDR docs (defender-xdr/advanced-hunting-*-function.md)
# and Microsoft Sentinel docs (sentinel/watchlists-queries.md).
FUNCTIONS = {
    "defender": {
        # invoke FileProfile(x, y): x = file ID column (SHA1 if unspecified), y = records to enrich, 1-1000
        "FileProfile": {
            "params": "(T:(*), x:string='SHA1', y:int=100)",
            "body": _enrich(
                "SHA1 = '', SHA256 = '', MD5 = '', FileSize = int(0), GlobalPrevalence = int(0),"
                " GlobalFirstSeen = datetime(null), GlobalLastSeen = datetime(null), Signer = '', Issuer = '',"
                " SignerHash = '', IsCertificateValid = false, IsRootSignerMicrosoft = false, SignatureState = '',"
                " IsExecutable = false, ThreatName = '', Publisher = '', SoftwareName = '', ProfileAvailability = ''"
            ),
        },
        # invoke DeviceFromIP(x, y): x = IP column, y = optional point in time
        "DeviceFromIP": {
            "params": "(T:(*), x:string='IP', y:datetime=datetime(null))",
            "body": _enrich("IP = '', DeviceId = ''"),
        },
        # AssignedIPAddresses(x, y): x = DeviceId or DeviceName, y = optional point in time. The docs give
        # NetworkAdapterType and ConnectedNetworks as int; DeviceNetworkInfo, their source, has string and dynamic.
        "AssignedIPAddresses": {
            "params": "(x:string, y:datetime=datetime(null))",
            "body": "{ datatable(Timestamp:datetime, IPAddress:string, IPType:string, NetworkAdapterType:string,"
            " ConnectedNetworks:dynamic)[] }",
        },
        # invoke SeenBy(x): x = the device ID of interest; returns DeviceId
        "SeenBy": {"params": "(T:(*), x:string='DeviceId')", "body": _enrich("DeviceId = ''")},
    },
    "sentinel": {
        # The real function also unpacks WatchlistItem into one column per watchlist field, so its output
        # columns depend on the watchlist: bag_unpack makes the declared output open, as dac's binder does.
        "_GetWatchlist": {
            "params": "(watchlistAlias:string)",
            "body": "{ datatable(_DTItemId:string, LastUpdatedTimeUTC:datetime, SearchKey:string,"
            " WatchlistItem:dynamic)[] | extend _Item = WatchlistItem | evaluate bag_unpack(_Item) }",
        },
    },
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def find_node_modules(given: str | None) -> Path:
    if not CORPUS.is_file() or not (KQLCHECK / "check.js").is_file():
        sys.exit(f"gen_binder_oracle: {SHARED} (the shared folder beside the repository) is missing or incomplete")
    if not shutil.which("node"):
        sys.exit("gen_binder_oracle: `node` is not on PATH; install Node 18 or newer (tested with Node 20)")
    given = given or os.environ.get("KUSTO_NODE_MODULES")
    candidates = [Path(given)] if given else [KQLCHECK / "node_modules", Path("/tmp/kqlcheck-run/node_modules")]
    for folder in candidates:
        if (folder / PACKAGE / "package.json").is_file():
            return folder.resolve()
    sys.exit(
        f"gen_binder_oracle: {PACKAGE} not found in {', '.join(map(str, candidates))}.\n"
        f"  Install it with: (cd {KQLCHECK} && npm ci)   or pass --node-modules DIR"
    )


def schema_text(dialect: str) -> str:
    tables = json.loads((ROOT / "tooling" / "dac" / "data" / f"tables-{dialect}.json").read_text(encoding="utf-8"))
    schema = {
        "database": dialect,
        "tables": {name: dict(columns) for name, columns in tables.items()},
        "functions": FUNCTIONS[dialect],
    }
    return json.dumps(schema, indent=1) + "\n"  # columns stay in table order


def select(rows: list[dict], schemas: dict[str, dict]) -> list[dict]:
    chosen = []
    for row in rows:
        schema = schemas.get(row["dialect"])
        if schema is None or row["official_syntax_errors"] or not row["tables"]:
            continue
        known = schema["tables"].keys() | schema["functions"].keys()
        if all(name.removesuffix("()") in known for name in row["tables"]):
            chosen.append(row)
    return chosen


# The Defender portal quotes the column named as FileProfile's first argument before it runs a query
# (`invoke FileProfile(SHA1, 1000)` becomes `invoke FileProfile('SHA1', 1000)`); do the same here, or
# Kusto's binder reports the column as an unknown name.
_FILE_PROFILE_COLUMN = re.compile(r"(invoke\s+FileProfile\s*\(\s*)([A-Za-z_][A-Za-z0-9_]*)(?=\s*[,)])")


def as_the_portal_runs_it(query: str) -> str:
    return _FILE_PROFILE_COLUMN.sub(lambda m: f"{m.group(1)}'{m.group(2)}'", query)


def run_kqlcheck(schema_path: Path, rows: list[dict], node_modules: Path) -> dict[str, dict]:
    stdin = "".join(json.dumps({"id": row["id"], "query": as_the_portal_runs_it(row["query"])}) + "\n" for row in rows)
    env = {**os.environ, "NODE_PATH": str(node_modules)}
    done = subprocess.run(
        ["node", str(KQLCHECK / "check.js"), str(schema_path), "--result"],
        input=stdin, capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        sys.exit(f"gen_binder_oracle: kqlcheck failed ({done.returncode}):\n{done.stderr}")
    results = {}
    for line in done.stdout.splitlines():
        result = json.loads(line)
        if "error" in result:
            sys.exit(f"gen_binder_oracle: kqlcheck could not check {result['id']}: {result['error']}")
        results[result["id"]] = result
    if len(results) != len(rows):
        sys.exit(f"gen_binder_oracle: kqlcheck answered {len(results)} of {len(rows)} queries")
    return results


def oracle(rows: list[dict], dialect: str, schema_path: Path, node_modules: Path) -> list[dict]:
    results = run_kqlcheck(schema_path, rows, node_modules)
    disagreements = sum(1 for result in results.values() if result["syntax_errors"])
    if disagreements:
        print(f"warning: kqlcheck finds syntax errors in {disagreements} {dialect} queries the corpus says parse")
    fields = ("code", "message", "line", "column", "text")
    return [
        {
            "id": row["id"],
            "dialect": dialect,
            "semantic_errors": [{k: e.get(k) for k in fields} for e in results[row["id"]]["semantic_errors"]],
            "result": results[row["id"]].get("result"),
        }
        for row in rows
    ]


def summarize(lines: list[dict]) -> tuple[dict, dict[str, str]]:
    counts, examples = {}, {}
    for dialect in DIALECTS:
        mine = [line for line in lines if line["dialect"] == dialect]
        codes = Counter(error["code"] for line in mine for error in line["semantic_errors"])
        for line in mine:
            for error in line["semantic_errors"]:
                examples.setdefault(error["code"], error["message"])
        clean = sum(1 for line in mine if not line["semantic_errors"])
        tables = sum(1 for line in mine if not line["semantic_errors"] and line["result"] is not None)
        counts[dialect] = {
            "selected": len(mine),
            "clean": clean,
            "clean_with_result": tables,  # clean queries that end in a table
            "errors_by_code": dict(sorted(codes.items())),
        }
    return counts, examples


def report(counts: dict, examples: dict[str, str]) -> None:
    totals = Counter()
    for dialect, count in counts.items():
        codes = Counter(count["errors_by_code"])
        totals.update(codes)
        others = sum(n for code, n in codes.items() if code not in MAIN_CODES)
        main_counts = ", ".join(f"{code} {codes[code]}" for code in MAIN_CODES)
        print(f"{dialect}: {count['selected']} selected, {count['clean']} clean; {main_counts}, others {others}")
    print("other codes, most frequent first:")
    for code, n in totals.most_common():
        if code not in MAIN_CODES:
            print(f"  {code} {n:4}  {examples[code]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--node-modules", help=f"a node_modules folder holding {PACKAGE}")
    node_modules = find_node_modules(parser.parse_args().node_modules)
    version = json.loads((node_modules / PACKAGE / "package.json").read_text(encoding="utf-8-sig"))["version"]
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = {dialect: schema_text(dialect) for dialect in DIALECTS}
    schemas = {dialect: json.loads(text) for dialect, text in texts.items()}
    selected = select(rows, schemas)

    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        for dialect in DIALECTS:
            schema_path = Path(tmp) / f"{dialect}.json"
            schema_path.write_text(texts[dialect], encoding="utf-8")
            mine = [row for row in selected if row["dialect"] == dialect]
            lines += oracle(mine, dialect, schema_path, node_modules)
    lines.sort(key=lambda line: line["id"])
    FIXTURE.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")

    counts, examples = summarize(lines)
    meta = {
        "generator": "scripts/gen_binder_oracle.py",
        "kqlcheck": {
            "package": PACKAGE,
            "version": version,
            "check_js_sha256": sha256((KQLCHECK / "check.js").read_bytes()),
            "options": ["--result"],  # the fixture's "result": output columns and types
        },
        "corpus": {"file": "corpus/queries-dev.jsonl", "sha256": sha256(CORPUS.read_bytes()), "queries": len(rows)},
        "schemas": {
            d: {"sha256": sha256(texts[d].encode()), "tables": len(schemas[d]["tables"]), "functions": FUNCTIONS[d]}
            for d in DIALECTS
        },
        "counts": counts,
    }
    META.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"kqlcheck {PACKAGE} {version}; {len(rows)} corpus queries, {len(lines)} selected")
    report(counts, examples)
    print(f"wrote {FIXTURE.relative_to(ROOT)} ({len(lines)} lines) and {META.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
