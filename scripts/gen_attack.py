#!/usr/bin/env python3
"""Generate tooling/dac/data/attack-enterprise.json from ../shared/attack.

The shipped file is the compact form dac validates against: tactics by short name, and per
technique its name, tactics, status (active | deprecated | revoked) and, for a technique that is
no longer active, the active technique that replaced it. The reduced ATT&CK data we start from
has no revoked-by relationships, so the replacement is the active technique of the same name
(ATT&CK keeps the name when it moves a technique, e.g. T1004 -> T1547.004 "Winlogon Helper
DLL"); where no such technique exists the validator links the ATT&CK page instead.

Usage: python scripts/gen_attack.py [SOURCE_JSON] [OUTPUT_JSON]
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT.parent / "shared" / "attack" / "enterprise-attack-18.1.json"
DEFAULT_OUTPUT = ROOT / "tooling" / "dac" / "data" / "attack-enterprise.json"


def build(source: dict) -> dict:
    version_match = re.search(r"v(\d+(?:\.\d+)*)", source.get("source", ""))
    active_by_name: dict[str, str] = {}
    for technique in source["techniques"]:
        if not technique["revoked"] and not technique["deprecated"]:
            active_by_name.setdefault(technique["name"].casefold(), technique["id"])
    techniques = {}
    for technique in sorted(source["techniques"], key=lambda t: t["id"]):
        status = "revoked" if technique["revoked"] else "deprecated" if technique["deprecated"] else "active"
        replacement = None
        if status != "active":
            replacement = active_by_name.get(technique["name"].casefold())
        techniques[technique["id"]] = [technique["name"], technique["tactics"], status, replacement]
    return {
        "source": source.get("source", ""),
        "version": version_match.group(1) if version_match else "",
        "tactics": [[t["id"], t["shortname"], t["name"]] for t in source["tactics"]],
        "techniques": techniques,
    }


def dump(data: dict) -> str:
    """JSON with one technique per line: small, and readable in a diff."""
    lines = ["{"]
    lines.append(f'  "source": {json.dumps(data["source"])},')
    lines.append(f'  "version": {json.dumps(data["version"])},')
    lines.append('  "tactics": [')
    lines.append(",\n".join(f"    {json.dumps(t)}" for t in data["tactics"]))
    lines.append("  ],")
    lines.append('  "techniques": {')
    lines.append(",\n".join(f"    {json.dumps(k)}: {json.dumps(v)}" for k, v in data["techniques"].items()))
    lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    source_path = Path(argv[1]) if len(argv) > 1 else DEFAULT_SOURCE
    output_path = Path(argv[2]) if len(argv) > 2 else DEFAULT_OUTPUT
    data = build(json.loads(source_path.read_text(encoding="utf-8")))
    output_path.write_text(dump(data), encoding="utf-8")
    print(f"wrote {output_path}: {len(data['tactics'])} tactics, {len(data['techniques'])} techniques")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
