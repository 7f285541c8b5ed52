"""The pytest-like options of `dac test` and `dac check` (dac.test_runs): -k, --last-failed,
--failed-first, --durations and --jobs, on a project made by `dac init` plus two detections with
passing and failing tests. Each test runs in both dialects, so every test name stands for two runs."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import detection_head, run_dac
from dac.cli.check import check_command
from dac.cli.emulator import test_command as dac_test_command
from dac.test_runs import SelectionError, keyword_matcher

EXAMPLE = "PowerShell started with an encoded command"  # the detection dac init writes: 2 passing tests

BETA = (
    detection_head("Beta network check", "6f1c2b7e-3d4a-4e5f-8a9b-0c1d2e3f4a5b")
    + """\
query:
  dialect: defender
  text: |
    DeviceNetworkEvents
    | where RemotePort == 22
    | project DeviceName
tests:
  - name: finds ssh
    tables:
      DeviceNetworkEvents:
        - {DeviceName: ws1, RemotePort: 22}
    expect:
      count: 1
  - name: wrong expectation
    tables:
      DeviceNetworkEvents:
        - {DeviceName: ws1, RemotePort: 22}
    expect:
      count: 3
"""
)

GAMMA = (
    detection_head("Gamma logons", "0a9b8c7d-6e5f-4a3b-9c1d-2e3f4a5b6c7d")
    + """\
query:
  dialect: defender
  text: |
    DeviceLogonEvents
    | where ActionType == "LogonFailed"
    | project DeviceName, AccountName
tests:
  - name: failed logon found
    tables:
      DeviceLogonEvents:
        - {DeviceName: ws2, AccountName: bob, ActionType: LogonFailed}
    expect:
      rows: [{AccountName: bob}]
  - name: success ignored
    tables:
      DeviceLogonEvents:
        - {DeviceName: ws2, AccountName: bob, ActionType: LogonSuccess}
    expect:
      count: 0
  - name: another wrong one
    tables:
      DeviceLogonEvents:
        - {DeviceName: ws2, AccountName: bob, ActionType: LogonFailed}
    expect:
      rows: [{AccountName: carol}]
"""
)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("init")
    completed = run_dac("init", "repo", "--install", "dac", cwd=base)
    assert completed.returncode == 0, completed.stderr
    repo = base / "repo"
    (repo / "detections" / "network").mkdir()
    (repo / "detections" / "network" / "beta.yml").write_text(BETA, encoding="utf-8")
    (repo / "detections" / "identity").mkdir()
    (repo / "detections" / "identity" / "gamma.yml").write_text(GAMMA, encoding="utf-8")
    return repo


@pytest.fixture
def repo(template: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(template, tmp_path / "repo"))


def dac(repo: Path, *args: str, command=dac_test_command):
    previous = Path.cwd()
    os.chdir(repo)
    try:
        return CliRunner().invoke(command, list(args), env={"NO_COLOR": "1", "COLUMNS": "200"})
    finally:
        os.chdir(previous)


def runs(result) -> list[tuple[str, str, str, str]]:
    """(detection, test, dialect, status) of each run in a --format json document, in order."""
    document = json.loads(result.stdout)
    return [(t["detection"], t["test"], t["dialect"], t["status"]) for t in document["tests"]]


def names_of(result) -> list[str]:
    return list(dict.fromkeys(f"{detection} / {test}" for detection, test, _, _ in runs(result)))


def without_timings(text: str) -> str:
    return re.sub(r'"duration": [0-9.]+', '"duration": 0', text)


# --------------------------------------------------------------------------------------- -k


def test_k_selects_by_detection_and_test_name_case_insensitively(repo: Path) -> None:
    result = dac(repo, "-j", "1", "--format", "json", "-k", "BETA")
    assert names_of(result) == ["Beta network check / finds ssh", "Beta network check / wrong expectation"]
    assert json.loads(result.stdout)["summary"]["tests"] == 4  # not selected: not run, not counted
    assert "-k selects 4 of 14 test runs" in result.stderr


def test_k_with_not_and_or_parentheses_and_phrases(repo: Path) -> None:
    result = dac(repo, "-j", "1", "--format", "json", "-k", "not wrong and not another")
    assert names_of(result) == [
        f"{EXAMPLE} / an encoded command is reported",
        f"{EXAMPLE} / a script started by path stays quiet",
        "Gamma logons / failed logon found",
        "Gamma logons / success ignored",
        "Beta network check / finds ssh",
    ]  # in the order of the files: detections/execution, identity, network
    assert result.exit_code == 0
    result = dac(repo, "-j", "1", "--format", "json", "-k", "(gamma or beta) and wrong")
    assert names_of(result) == ["Gamma logons / another wrong one", "Beta network check / wrong expectation"]
    assert result.exit_code == 1
    result = dac(repo, "-j", "1", "--format", "json", "-k", "logons / failed logon")  # words next to each other
    assert names_of(result) == ["Gamma logons / failed logon found"]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("beta and", "expected a name, 'not' or '(' at column 9, found the end"),
        ("(beta", "expected ')' at column 6, found the end"),
        ("beta)", "expected 'and', 'or' or the end at column 5, found ')'"),
        ("or beta", "expected a name, 'not' or '(' at column 1, found 'or'"),
        ('"beta', "unclosed quote at column 1"),
    ],
)
def test_a_bad_k_expression_is_a_usage_error(repo: Path, expression: str, message: str) -> None:
    for command in (dac_test_command, check_command):
        result = dac(repo, "-k", expression, command=command)
        assert result.exit_code == 2
        assert message in result.stderr
        assert "Traceback" not in result.output
    with pytest.raises(SelectionError, match=re.escape(message)):
        keyword_matcher(expression)


def test_keyword_matcher() -> None:
    assert keyword_matcher("")("anything")
    assert keyword_matcher("'and'")("this and that")
    assert not keyword_matcher("not (a or b)")("xbx")
    assert keyword_matcher("NOT a AND b")("B")
    assert keyword_matcher("a or b and c")("a")  # and binds tighter than or


# --------------------------------------------------------------------------------------- last failed


def test_last_failed_runs_only_what_failed_last_time(repo: Path) -> None:
    result = dac(repo, "--lf", "-j", "1", "--format", "json")  # no record yet: everything
    assert len(runs(result)) == 14
    assert "no test run failed last time: running all" in result.stderr
    record = json.loads((repo / ".dac" / "cache" / "lastfailed.json").read_text(encoding="utf-8"))
    assert record == {
        "detections/identity/gamma.yml::another wrong one::defender": True,
        "detections/identity/gamma.yml::another wrong one::sentinel": True,
        "detections/network/beta.yml::wrong expectation::defender": True,
        "detections/network/beta.yml::wrong expectation::sentinel": True,
    }
    assert (repo / ".dac" / ".gitignore").read_text(encoding="utf-8").endswith("*\n")

    result = dac(repo, "--last-failed", "-j", "1", "--format", "json")
    assert names_of(result) == ["Gamma logons / another wrong one", "Beta network check / wrong expectation"]
    assert result.exit_code == 1

    gamma = repo / "detections" / "identity" / "gamma.yml"  # fix one: it passes, and leaves the record
    gamma.write_text(GAMMA.replace("rows: [{AccountName: carol}]", "rows: [{AccountName: bob}]"), encoding="utf-8")
    result = dac(repo, "--lf", "-j", "1", "--format", "json")
    assert [r[3] for r in runs(result)] == ["passed", "passed", "failed", "failed"]
    result = dac(repo, "--lf", "-j", "1", "--format", "json")
    assert names_of(result) == ["Beta network check / wrong expectation"]

    # a run of some tests keeps the record of the others
    assert dac(repo, "-k", "gamma", "-j", "1").exit_code == 0
    assert names_of(dac(repo, "--lf", "-j", "1", "--format", "json")) == ["Beta network check / wrong expectation"]


def test_failed_first_runs_the_failures_then_the_rest(repo: Path) -> None:
    dac(repo, "-j", "1")
    result = dac(repo, "--failed-first", "-j", "1", "--format", "json")
    assert names_of(result) == [
        "Gamma logons / another wrong one",
        "Beta network check / wrong expectation",
        f"{EXAMPLE} / an encoded command is reported",
        f"{EXAMPLE} / a script started by path stays quiet",
        "Gamma logons / failed logon found",
        "Gamma logons / success ignored",
        "Beta network check / finds ssh",
    ]
    assert len(runs(result)) == 14
    assert "running the 4 test runs that failed last time first" in result.stderr


def test_dac_check_takes_the_same_options_and_writes_the_record(repo: Path) -> None:
    result = dac(repo, "-j", "1", "--format", "json", command=check_command)
    assert json.loads(result.stdout)["summary"]["tests"]["failed"] == 4
    assert (repo / ".dac" / "cache" / "lastfailed.json").is_file()
    result = dac(repo, "--lf", "-j", "1", "--format", "json", command=check_command)
    names = {(t["test"], t["dialect"]) for t in json.loads(result.stdout)["tests"]}
    assert names == {(test, dialect) for test in ("wrong expectation", "another wrong one")
                     for dialect in ("defender", "sentinel")}  # fmt: skip
    result = dac(repo, "-k", "beta and not wrong", "-j", "1", "--durations", "1", command=check_command)
    assert "2 tests: 2 passed" in result.stdout


def test_the_gitignore_of_dac_init_covers_the_cache(repo: Path) -> None:
    assert ".dac/" in (repo / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert ".dac/" in (Path(__file__).parents[1] / ".gitignore").read_text(encoding="utf-8").splitlines()


def test_a_symlinked_cache_folder_leading_out_is_not_written(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (repo / ".dac").symlink_to(outside, target_is_directory=True)
    result = dac(repo, "-k", "beta", "-j", "1")
    assert "could not write .dac/cache/lastfailed.json" in result.stderr
    assert list(outside.iterdir()) == []


# --------------------------------------------------------------------------------------- durations


def test_durations_prints_the_n_slowest_runs(repo: Path) -> None:
    result = dac(repo, "--durations", "3", "-j", "1")
    lines = result.stdout.splitlines()
    start = lines.index("slowest 3 test runs:")
    timed = lines[start + 1 : start + 4]
    assert all(re.fullmatch(r" *[0-9]+\.[0-9]{2}s  .+ / .+ \[(defender|sentinel)\]", line) for line in timed)
    assert lines[start + 4] == ""
    seconds = [float(line.split("s  ")[0]) for line in timed]
    assert seconds == sorted(seconds, reverse=True)

    lines = dac(repo, "--durations", "0", "-j", "1").stdout.splitlines()
    start = lines.index("slowest test runs:")
    assert len([line for line in lines[start + 1 :] if re.match(r" *[0-9]+\.[0-9]{2}s  ", line)]) == 14

    assert "slowest" not in dac(repo, "--durations", "3", "--format", "json", "-j", "1").stdout  # text only


# --------------------------------------------------------------------------------------- jobs


@pytest.mark.parametrize("command", [dac_test_command, check_command])
def test_jobs_gives_the_same_output_as_one_process(repo: Path, command) -> None:
    serial_text = dac(repo, "-j", "1", command=command)
    parallel_text = dac(repo, "--jobs", "2", command=command)
    assert serial_text.exit_code == parallel_text.exit_code == 1
    assert parallel_text.stdout == serial_text.stdout
    serial_json = dac(repo, "-j", "1", "--format", "json", command=command)
    parallel_json = dac(repo, "-j", "2", "--format", "json", command=command)
    assert without_timings(parallel_json.stdout) == without_timings(serial_json.stdout)
    parallel_ff = dac(repo, "-j", "2", "--ff", "--format", "json", command=command)
    serial_ff = dac(repo, "-j", "1", "--ff", "--format", "json", command=command)
    assert without_timings(parallel_ff.stdout) == without_timings(serial_ff.stdout)


def test_jobs_must_be_positive(repo: Path) -> None:
    result = dac(repo, "-j", "0")
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_jobs_run_in_worker_processes(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dac import test_runs

    def not_here(*args, **kwargs):
        raise AssertionError("ran in the main process")

    monkeypatch.setattr(test_runs, "run_unit", not_here)  # the workers have their own, unpatched
    result = dac(repo, "-j", "2", "--format", "json")
    assert len(runs(result)) == 14
    result = dac(repo, "-j", "1", "--format", "json")
    assert result.exit_code == 2 and "ran in the main process" in result.stderr


def test_last_failed_runs_only_the_dialect_that_failed(repo: Path) -> None:
    cache = repo / ".dac" / "cache"
    cache.mkdir(parents=True)
    record = {"detections/network/beta.yml::wrong expectation::sentinel": True, "gone.yml::x::defender": True}
    (cache / "lastfailed.json").write_text(json.dumps(record), encoding="utf-8")
    result = dac(repo, "--lf", "-j", "1", "--format", "json")
    assert runs(result) == [("Beta network check", "wrong expectation", "sentinel", "failed")]
    assert json.loads(result.stdout)["summary"]["tests"] == 1
    result = dac(repo, "--lf", "--dialect", "defender", "-j", "1", "--format", "json")  # none of those failed
    assert len(runs(result)) == 7


def test_a_broken_record_counts_as_none(repo: Path) -> None:
    cache = repo / ".dac" / "cache"
    cache.mkdir(parents=True)
    (cache / "lastfailed.json").write_text("[not json", encoding="utf-8")
    result = dac(repo, "--lf", "-j", "1", "--format", "json")
    assert len(runs(result)) == 14
    assert len(json.loads((cache / "lastfailed.json").read_text(encoding="utf-8"))) == 4
