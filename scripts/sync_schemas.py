#!/usr/bin/env python3
"""Copy schemas/*.schema.json into the package, which ships them to users who pip-install dac.

schemas/ is what editors and people read; tooling/dac/data/ is what the installed package loads.
A test fails when the two differ.
"""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

for schema in sorted((ROOT / "schemas").glob("*.schema.json")):
    shutil.copyfile(schema, ROOT / "tooling" / "dac" / "data" / schema.name)
    print(f"copied {schema.relative_to(ROOT)}")
