"""Every file a detection, a test or dac.yml names stays inside the project (DAC150), refused before it
is read; paths dac cannot read as detections are reported, never skipped."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from attack import AttackProject, detection, position_of

FILE = "detections/attack.yml"


def _fixture_test(path: str) -> str:
    return f"""
  - name: reads a fixture file
    tables:
      DeviceNetworkEvents: {path}
    expect:
      count: 1
"""


def _assert_refused(project: AttackProject, text: str, needle: str, *, words: str, command: str = "check") -> None:
    project.write(FILE, text)
    result = project.dac(command)
    assert result.returncode == 1, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert f"{FILE}:{position_of(text, needle)}: error DAC150:" in output, output
    assert words in output, output
    assert "Traceback" not in output
    project.assert_no_leak(result)


def test_fixture_with_an_absolute_path_is_refused(attack_project: AttackProject):
    secret = str(attack_project.outside / "secret.csv")
    text = detection(_fixture_test(secret))
    _assert_refused(attack_project, text, secret, words="is an absolute path")


def test_fixture_escaping_through_dot_dot_is_refused(attack_project: AttackProject):
    text = detection(_fixture_test("../../outside/secret.csv"))
    _assert_refused(attack_project, text, "../../outside", words="leaves the project through '..'")


def test_fixture_as_a_file_url_is_refused(attack_project: AttackProject):
    url = f"file://{attack_project.outside / 'secret.csv'}"
    text = detection(_fixture_test(url))
    _assert_refused(attack_project, text, "file://", words="is a URL")


def test_fixture_through_a_symlink_out_of_the_project_is_refused(attack_project: AttackProject):
    (attack_project.root / "detections" / "data.csv").symlink_to(attack_project.outside / "secret.csv")
    text = detection(_fixture_test("data.csv"))
    _assert_refused(attack_project, text, "data.csv", words="symlink to a place outside the project")


def test_fixture_in_a_symlinked_folder_out_of_the_project_is_refused(attack_project: AttackProject):
    (attack_project.root / "detections" / "shared").symlink_to(attack_project.outside, target_is_directory=True)
    text = detection(_fixture_test("shared/secret.jsonl"))
    _assert_refused(attack_project, text, "shared/secret.jsonl", words="outside the project")


def test_fixture_inside_dot_git_is_refused(attack_project: AttackProject):
    git = attack_project.root / ".git"
    git.mkdir()
    # A checkout keeps its token here: the marker stands for it.
    from attack import OUTSIDE_MARKER

    (git / "config").write_text(f"[http]\n\textraheader = AUTHORIZATION: basic {OUTSIDE_MARKER}\n")
    (git / "token.csv").write_text(f"DeviceName\n{OUTSIDE_MARKER}\n")
    text = detection(_fixture_test("../.git/token.csv"))
    attack_project.write(FILE, text)
    result = attack_project.dac("check")
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert f"{FILE}:{position_of(text, '../.git/token.csv')}: error DAC150:" in output, output
    assert "inside .git/" in output
    assert OUTSIDE_MARKER not in output
    assert "Traceback" not in output


def test_externaldata_mapped_outside_the_project_is_refused(attack_project: AttackProject):
    query = 'externaldata(Line: string) ["https://example.org/list.txt"] with (format="txt")\n| project Line'
    for mapped, words in (
        (str(attack_project.outside / "secret.txt"), "is an absolute path"),
        ("../../outside/secret.txt", "leaves the project through '..'"),
        (f"file://{attack_project.outside / 'secret.txt'}", "is a URL"),
    ):
        tests = f"""
  - name: maps externaldata
    externaldata:
      "https://example.org/list.txt": {mapped}
    expect:
      count: 1
"""
        text = detection(tests, query=query)
        _assert_refused(attack_project, text, mapped, words=words)


def test_externaldata_through_a_symlink_out_of_the_project_is_refused(attack_project: AttackProject):
    (attack_project.root / "detections" / "list.txt").symlink_to(attack_project.outside / "secret.txt")
    query = 'externaldata(Line: string) ["https://example.org/list.txt"] with (format="txt")\n| project Line'
    tests = """
  - name: maps externaldata
    externaldata:
      "https://example.org/list.txt": list.txt
    expect:
      count: 0
"""
    text = detection(tests, query=query)
    _assert_refused(attack_project, text, "list.txt\n", words="symlink")


def test_a_fixture_inside_the_project_still_works(attack_project: AttackProject):
    rows = "Timestamp,DeviceName,RemoteIP\n2024-12-02T11:00:00Z,ws1,8.8.8.8\n"
    attack_project.write("detections/fixtures/rows.csv", rows)
    text = detection(_fixture_test("fixtures/rows.csv"))
    attack_project.write(FILE, text)
    result = attack_project.dac("check")
    assert result.returncode == 0, result.stdout + result.stderr
    attack_project.assert_no_leak(result)


def test_dac_yml_tables_folder_outside_the_project_is_refused(attack_project: AttackProject):
    (attack_project.outside / "tables").mkdir()
    (attack_project.outside / "tables" / "t.json").write_text('{"name": "Secret_CL", "columns": []}')
    config = "detections: detections\ntables: ../outside/tables\n"
    attack_project.write("dac.yml", config)
    attack_project.write(FILE, detection(_fixture_test("x.csv")))
    result = attack_project.dac("validate")
    output = result.stdout + result.stderr
    assert result.returncode == 2, output  # dac.yml problems are input errors: the command stops
    assert f"dac.yml:{position_of(config, '../outside/tables')}: error DAC150:" in output, output
    assert "leaves the project through '..'" in output
    attack_project.assert_no_leak(result)


def test_a_table_schema_symlinked_out_of_the_tables_folder_is_refused(attack_project: AttackProject):
    tables = attack_project.root / "tables"
    tables.mkdir()
    (attack_project.outside / "t.json").write_text(
        '{"name": "PLANTED-OUTSIDE-9f2c41d7", "columns": [{"name": "a", "type": "string"}]}'
    )
    (tables / "secret.json").symlink_to(attack_project.outside / "t.json")
    attack_project.write("dac.yml", "detections: detections\ntables: tables\n")
    attack_project.write(FILE, detection(_fixture_test("x.csv")))
    result = attack_project.dac("validate")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "table schema file" in result.stderr and "outside the project" in result.stderr
    attack_project.assert_no_leak(result)


def test_docs_templates_outside_the_project_are_refused(attack_project: AttackProject):
    (attack_project.outside / "detection.md.j2").write_text("{{ detection.name }} PLANTED-OUTSIDE-9f2c41d7\n")
    attack_project.write(FILE, detection(""))
    result = attack_project.dac("docs", "--out", "site", "--templates", str(attack_project.outside))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "templates folder" in result.stderr and "outside the project" in result.stderr
    assert not (attack_project.root / "site").exists()
    attack_project.assert_no_leak(result)


def test_a_template_symlinked_out_of_the_project_is_refused(attack_project: AttackProject):
    (attack_project.outside / "detection.md.j2").write_text("{{ detection.name }} PLANTED-OUTSIDE-9f2c41d7\n")
    templates = attack_project.root / "templates"
    templates.mkdir()
    (templates / "detection.md.j2").symlink_to(attack_project.outside / "detection.md.j2")
    attack_project.write(FILE, detection(""))
    result = attack_project.dac("docs", "--out", "site", "--templates", "templates")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "detection.md.j2" in result.stderr and "symlink" in result.stderr
    attack_project.assert_no_leak(result)


def test_a_detection_file_symlinked_out_of_the_project_is_refused(attack_project: AttackProject):
    from attack import OUTSIDE_MARKER

    (attack_project.outside / "evil.yml").write_text(detection("", name=OUTSIDE_MARKER))
    (attack_project.root / "detections" / "evil.yml").symlink_to(attack_project.outside / "evil.yml")
    result = attack_project.dac("check")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "detections/evil.yml:1:1: error DAC150:" in output, output
    assert OUTSIDE_MARKER not in output


@pytest.mark.parametrize("kind", ["loop", "folder", "dangling"])
def test_paths_that_cannot_be_read_as_detections_are_reported(attack_project: AttackProject, kind: str):
    folder = attack_project.root / "detections"
    attack_project.write(FILE, detection(""))
    if kind == "loop":
        os.symlink("loop.yml", folder / "loop.yml")
        name = "loop.yml"
    elif kind == "folder":
        (folder / "area.yml").mkdir()
        (folder / "area.yml" / "inner.txt").write_text("x")
        name = "area.yml"
    else:
        os.symlink("missing.yml", folder / "gone.yml")
        name = "gone.yml"
    result = attack_project.dac("validate")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert f"detections/{name}:1:1: error DAC100:" in output, output
    assert "Traceback" not in output
    attack_project.assert_no_leak(result)


def test_a_symlinked_folder_loop_is_searched_once(attack_project: AttackProject):
    attack_project.write(FILE, detection(""))
    (attack_project.root / "detections" / "again").symlink_to(attack_project.root / "detections")
    result = attack_project.dac("validate")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 file" in result.stdout + result.stderr


def test_inside_project_unit(tmp_path: Path):
    from dac.confine import OutsideProject, inside_project

    root = tmp_path / "p"
    (root / "a").mkdir(parents=True)
    (root / "a" / "x.csv").write_text("x")
    assert inside_project(root, root / "a", "x.csv") == (root / "a" / "x.csv").resolve()
    assert inside_project(root, root / "a", "../a/x.csv") == (root / "a" / "x.csv").resolve()  # `..` inside is fine
    refused = ("/etc/passwd", "C:\\x.csv", "\\\\server\\share\\x.csv", "file:x.csv", "http://h/x", "~/x", "", "../../x")
    for name in refused:
        with pytest.raises(OutsideProject):
            inside_project(root, root / "a", name)
