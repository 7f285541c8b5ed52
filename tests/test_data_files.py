"""Shipped data stays in step with its sources; the code base stays lint-clean."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT


def test_package_schemas_are_copies_of_the_repository_schemas():
    for name in ("detection.schema.json", "config.schema.json"):
        assert (ROOT / "tooling" / "dac" / "data" / name).read_bytes() == (ROOT / "schemas" / name).read_bytes(), (
            f"run: python scripts/sync_schemas.py ({name} differs)"
        )


def test_schemas_are_valid_draft_2020_12():
    from jsonschema import Draft202012Validator

    for name in ("detection.schema.json", "config.schema.json"):
        Draft202012Validator.check_schema(json.loads((ROOT / "schemas" / name).read_text()))


def test_attack_catalog_is_generated_from_shared(shared: Path, tmp_path: Path):
    spec = importlib.util.spec_from_file_location("gen_attack", ROOT / "scripts" / "gen_attack.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    source = shared / "attack" / "enterprise-attack-18.1.json"
    expected = module.dump(module.build(json.loads(source.read_text())))
    assert (ROOT / "tooling" / "dac" / "data" / "attack-enterprise.json").read_text() == expected


def test_attack_catalog_content():
    from dac.model.attack import load_catalog

    catalog = load_catalog()
    assert catalog.version == "18.1"
    assert len(catalog.tactics) == 14 and len(catalog.techniques) == 835
    assert catalog.techniques["T1049"].tactics == ("discovery",)
    assert catalog.techniques["T1004"].replacement == "T1547.004"


def test_ruff_is_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed")
    paths = ["tooling", "tests", "scripts", "bench"]
    result = subprocess.run([ruff, "check", *paths], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


def test_imports_have_no_cycle_no_private_name_and_keep_the_layers():
    # Read from the code's own imports (docs/architecture.md): no cycle, no private name taken from another module,
    # dac.kql independent of the rest, only the command line imports dac.cli, click and rich only in cli/ and reports/.
    script = ROOT / "scripts" / "check_imports.py"
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
