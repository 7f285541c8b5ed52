"""`dac init` makes a repository that passes `dac check`; `dac targets` lists dac.yml's targets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, run_dac
from dac.scaffold.repository import EXAMPLE_PATH, install_spec_from

EXPECTED_FILES = {
    "dac.yml",
    str(EXAMPLE_PATH),
    ".github/workflows/pull-request.yml",
    ".github/workflows/deploy.yml",
    ".github/workflows/backtest.yml",
    ".pre-commit-config.yaml",
    "README.md",
    ".gitignore",
    "schemas/detection.schema.json",
    "schemas/config.schema.json",
}


SPEC = "dac @ git+https://github.com/example/dac@v0.1.0"


def init(tmp_path: Path, *args: str) -> Path:
    repo = tmp_path / "detections-repo"
    completed = run_dac("init", str(repo), *(args or ("--install", SPEC)), cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    return repo


def files_in(repo: Path) -> set[str]:
    return {p.relative_to(repo).as_posix() for p in repo.rglob("*") if p.is_file()}


def test_init_makes_a_repository_that_passes_dac_check(tmp_path: Path) -> None:
    repo = init(tmp_path)
    assert files_in(repo) == EXPECTED_FILES
    completed = run_dac("check", cwd=repo)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "1 file checked: 1 valid, 0 errors, 0 warnings" in completed.stdout
    assert "4 tests: 4 passed" in completed.stdout  # two tests, in Defender and in Sentinel


def test_init_installs_the_given_spec_everywhere(tmp_path: Path) -> None:
    repo = init(tmp_path)
    command = "pip install 'dac @ git+https://github.com/example/dac@v0.1.0'"
    for name in ("pull-request.yml", "deploy.yml", "backtest.yml"):
        text = (repo / ".github" / "workflows" / name).read_text(encoding="utf-8")
        assert f"{command}\n" in text
        assert "__DAC_INSTALL__" not in text
    hook = yaml.safe_load((repo / ".pre-commit-config.yaml").read_text(encoding="utf-8"))["repos"][0]["hooks"][0]
    assert hook["additional_dependencies"] == [SPEC]
    assert command in (repo / "README.md").read_text(encoding="utf-8")


def test_init_without_install_from_a_local_checkout_asks_for_one(tmp_path: Path) -> None:
    # The test environment installs dac from this folder (pip install -e .): no URL others can reach,
    # and `dac==<version>` would fetch an unrelated PyPI project of that name.
    completed = run_dac("init", str(tmp_path / "r"), cwd=tmp_path)
    assert completed.returncode == 2
    assert "pass --install SPEC" in completed.stderr and "unrelated project" in completed.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("record", "spec"),
    [
        ({"url": "https://github.com/org/dac", "vcs_info": {"vcs": "git", "commit_id": "abc123"}},
         "dac @ git+https://github.com/org/dac@abc123"),
        ({"url": "https://example.org/dac-0.1.0-py3-none-any.whl", "archive_info": {}},
         "dac @ https://example.org/dac-0.1.0-py3-none-any.whl"),
        ({"url": "file:///home/me/dac", "dir_info": {"editable": True}}, None),
        ({"url": "file:///tmp/dac-0.1.0.whl", "archive_info": {}}, None),
        ({}, None),
    ],
)  # fmt: skip
def test_default_install_spec_from_the_installation_record(record: dict, spec: str | None) -> None:
    assert install_spec_from(record) == spec


def test_init_prints_what_it_made_and_what_comes_next(tmp_path: Path) -> None:
    completed = run_dac("init", "repo", "--install", SPEC, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    for name in EXPECTED_FILES:
        assert f"created repo/{name}" in completed.stdout
    assert "git init" in completed.stdout and "dac check" in completed.stdout
    assert "AZURE_CLIENT_ID" in completed.stdout


def test_init_copies_the_schemas_and_points_at_them_relatively(tmp_path: Path) -> None:
    repo = init(tmp_path)
    first_line = (repo / EXAMPLE_PATH).read_text(encoding="utf-8").splitlines()[0]
    assert first_line == "# yaml-language-server: $schema=../../schemas/detection.schema.json"
    assert (repo / EXAMPLE_PATH.parent / "../../schemas/detection.schema.json").is_file()
    packaged = ROOT / "tooling" / "dac" / "data"
    for name in ("detection.schema.json", "config.schema.json"):
        assert (repo / "schemas" / name).read_bytes() == (packaged / name).read_bytes()
    assert (repo / "dac.yml").read_text().startswith("# yaml-language-server: $schema=schemas/config.schema.json\n")


def test_init_into_an_existing_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "detections-repo").mkdir()
    assert files_in(init(tmp_path)) == EXPECTED_FILES


def test_init_refuses_to_overwrite_and_names_the_file(tmp_path: Path) -> None:
    repo = tmp_path / "detections-repo"
    repo.mkdir()
    (repo / "README.md").write_text("ours\n")
    completed = run_dac("init", str(repo), "--install", SPEC, cwd=tmp_path)
    assert completed.returncode == 2
    assert "README.md already exists" in completed.stderr and "--force" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert files_in(repo) == {"README.md"}  # nothing written
    assert (repo / "README.md").read_text() == "ours\n"


def test_init_force_overwrites(tmp_path: Path) -> None:
    repo = init(tmp_path)
    (repo / "dac.yml").write_text("detections: elsewhere\n")
    assert run_dac("init", str(repo), "--install", SPEC, cwd=tmp_path).returncode == 2
    completed = run_dac("init", str(repo), "--install", SPEC, "--force", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert "# dac project configuration" in (repo / "dac.yml").read_text()


def test_init_refuses_an_install_spec_on_two_lines(tmp_path: Path) -> None:
    completed = run_dac("init", str(tmp_path / "r"), "--install", "dac\nrm -rf /", cwd=tmp_path)
    assert completed.returncode == 2
    assert "--install" in completed.stderr
    assert not (tmp_path / "r").exists()


def uncomment_targets(config: Path) -> None:
    """Turn the commented-out `targets:` example of an init'd dac.yml into configuration."""
    lines = config.read_text(encoding="utf-8").splitlines()
    start = lines.index("# targets:")
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("#")), len(lines))
    lines[start:end] = [line[2:] for line in lines[start:end]]
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_targets_json_without_targets(tmp_path: Path) -> None:
    repo = init(tmp_path)
    completed = run_dac("targets", "--format", "json", cwd=repo)
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == []
    assert "no targets" in run_dac("targets", cwd=repo).stdout


def test_targets_json_with_the_two_example_targets(tmp_path: Path) -> None:
    repo = init(tmp_path)
    uncomment_targets(repo / "dac.yml")
    completed = run_dac("targets", "--format", "json", cwd=repo)
    assert completed.returncode == 0, completed.stderr
    targets = json.loads(completed.stdout)
    assert [(t["name"], t["platform"]) for t in targets] == [
        ("contoso-xdr", "defender"),
        ("contoso-sentinel", "sentinel"),
    ]
    assert targets[0]["workspace"] is None and targets[1]["workspace"] == "law-security"
    text = run_dac("targets", cwd=repo)
    assert text.returncode == 0
    assert "contoso-sentinel" in text.stdout and "rg-security/law-security" in text.stdout
    assert run_dac("check", cwd=repo).returncode == 0  # the example configuration is valid as a whole


def test_targets_with_an_invalid_dac_yml(tmp_path: Path) -> None:
    (tmp_path / "dac.yml").write_text("targets:\n  - name: x\n    platform: splunk\n    tenant_id: t\n")
    completed = run_dac("targets", "--format", "json", cwd=tmp_path)
    assert completed.returncode == 2
    assert "dac.yml" in completed.stderr and "DAC120" in completed.stderr
    assert "Traceback" not in completed.stderr
