#!/usr/bin/env python3
"""Generate the table schemas (columns and types) of Defender advanced hunting and Sentinel.

Sources, in ../shared/tables:
  kqlanalyzer-environments.json        {"m365"|"sentinel": {"tables": {Table: {Column: type}}}}
  kqlanalyzer-additional-columns.json  {"m365"|"sentinel": {Table: {Column: type}}}, merged in
  docs-defender/*.json                 {"name", "columns": [{"name", "type"}]} from the Defender docs;
                                       for Defender they add tables and columns and win on types

Defender tables streamed to Sentinel carry both Timestamp and TimeGenerated, so every table in
both dialects gets the missing one of the two (datetime) in its Sentinel schema.

Writes:
  schemas/tables/<dialect>/<Table>.json  {"name", "dialect", "columns": [{"name", "type"}]}
  tooling/dac/data/tables-<dialect>.json {Table: [[column, type], ...]}, one table per line

Columns keep their source order; merged-in columns come last. Re-run to rewrite everything:
    python scripts/gen_tables.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "tables"
KQL_TYPES = {"string", "int", "long", "real", "bool", "datetime", "timespan", "dynamic", "guid", "decimal"}
TYPE_ALIASES = {
    "boolean": "bool", "double": "real", "float": "real", "int32": "int", "int64": "long",
    "date": "datetime", "time": "timespan", "uniqueidentifier": "guid", "object": "dynamic",
}  # fmt: skip
TIME_COLUMNS = ("Timestamp", "TimeGenerated")

Tables = dict[str, dict[str, str]]  # table -> column -> KQL type, in column order


def kql_type(name: str, where: str) -> str:
    kind = TYPE_ALIASES.get(name.strip().lower(), name.strip().lower())
    if kind not in KQL_TYPES:
        sys.exit(f"{where}: unknown column type {name!r}")
    return kind


def merge(tables: Tables, more: dict[str, dict[str, str]], source: str) -> None:
    for table, columns in more.items():
        target = tables.setdefault(table, {})
        for column, kind in columns.items():
            target[column] = kql_type(kind, f"{source}: {table}.{column}")


def build() -> tuple[Tables, Tables, list[str]]:
    environments = json.loads((SOURCE / "kqlanalyzer-environments.json").read_text(encoding="utf-8"))
    additional = json.loads((SOURCE / "kqlanalyzer-additional-columns.json").read_text(encoding="utf-8"))
    defender: Tables = {}
    sentinel: Tables = {}
    merge(defender, environments["m365"]["tables"], "kqlanalyzer m365")
    merge(defender, additional.get("m365", {}), "additional-columns m365")
    merge(sentinel, environments["sentinel"]["tables"], "kqlanalyzer sentinel")
    merge(sentinel, additional.get("sentinel", {}), "additional-columns sentinel")
    for path in sorted((SOURCE / "docs-defender").glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        merge(defender, {doc["name"]: {c["name"]: c["type"] for c in doc["columns"]}}, path.name)

    touched = []
    for table in sorted(defender.keys() & sentinel.keys()):
        missing = [c for c in TIME_COLUMNS if c not in sentinel[table]]
        for column in missing:
            sentinel[table][column] = "datetime"
        if missing:
            touched.append(table)
    return defender, sentinel, touched


def table_file(name: str, dialect: str, columns: dict[str, str]) -> str:
    data = {"name": name, "dialect": dialect, "columns": [{"name": c, "type": t} for c, t in columns.items()]}
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def compact_file(tables: Tables) -> str:
    """JSON with one table per line: small, and readable in a diff."""
    lines = [
        f"  {json.dumps(name)}: {json.dumps([[c, t] for c, t in tables[name].items()])}" for name in sorted(tables)
    ]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def write(dialect: str, tables: Tables) -> None:
    folder = ROOT / "schemas" / "tables" / dialect
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.json"):
        if stale.stem not in tables:
            stale.unlink()
    for name, columns in tables.items():
        (folder / f"{name}.json").write_text(table_file(name, dialect, columns), encoding="utf-8")
    (ROOT / "tooling" / "dac" / "data" / f"tables-{dialect}.json").write_text(compact_file(tables), encoding="utf-8")
    count = sum(len(columns) for columns in tables.values())
    print(f"{dialect}: {len(tables)} tables, {count} columns -> schemas/tables/{dialect}/, tables-{dialect}.json")


def main() -> int:
    defender, sentinel, touched = build()
    write("defender", defender)
    write("sentinel", sentinel)
    both = len(defender.keys() & sentinel.keys())
    print(f"{both} tables in both dialects; Timestamp/TimeGenerated added to the Sentinel schema of {len(touched)}:")
    print("  " + ", ".join(touched))
    return 0


if __name__ == "__main__":
    sys.exit(main())
