"""Dialect rendering: minimal, tree-aware edits; the real Defender/Sentinel pairs; the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import ROOT, run_dac
from dac.kql.render import render
from dac.model.tables import environment

DEFENDER, SENTINEL = environment("defender"), environment("sentinel")
EXCEPTIONS = json.loads((ROOT / "tests" / "kql" / "render_pair_exceptions.json").read_text())


def to_sentinel(text: str):
    return render(text, DEFENDER, SENTINEL)


def test_only_column_references_change():
    text = (
        "// Timestamp in a comment stays\n"
        "DeviceProcessEvents\n"
        "| where Timestamp > ago(1h) and ProcessCommandLine has 'Timestamp'\n"
        "| extend TimestampText = tostring(Timestamp), Seen = Timestamp\n"
        "| summarize arg_max(Timestamp, *) by DeviceId\n"
        "| project-reorder Timestamp"
    )
    assert to_sentinel(text).text == text.replace("where Timestamp", "where TimeGenerated").replace(
        "tostring(Timestamp)", "tostring(TimeGenerated)"
    ).replace("Seen = Timestamp", "Seen = TimeGenerated").replace("arg_max(Timestamp", "arg_max(TimeGenerated").replace(
        "project-reorder Timestamp", "project-reorder TimeGenerated"
    )


def test_round_trip_and_no_edit_without_a_time_column():
    text = "DeviceNetworkEvents\n| where Timestamp > ago(1d)\n| summarize count() by bin(Timestamp, 1h)\n"
    there = to_sentinel(text).text
    assert there == text.replace("Timestamp", "TimeGenerated")
    assert render(there, SENTINEL, DEFENDER).text == text
    assert to_sentinel("print Timestamp = 1").text == "print Timestamp = 1"


def test_type_bridge_for_additional_fields():
    sentinel = "DeviceInfo\n| where TimeGenerated > ago(1d)\n| extend Reason = tostring(AdditionalFields.Reason)"
    defender = render(sentinel, SENTINEL, DEFENDER)
    assert defender.text == (
        "DeviceInfo\n| where Timestamp > ago(1d)\n| extend Reason = tostring(parse_json(AdditionalFields).Reason)"
    )
    assert defender.diagnostics == []


def test_missing_counterparts_are_reported_at_source_positions():
    result = to_sentinel("ExposureGraphNodes\n| invoke FileProfile()\n| take 1")
    found = {(d.code, d.start) for d in result.diagnostics}
    assert ("KQL201", 0) in found
    assert ("KQL203", 28) in found  # FileProfile in the source text


@pytest.fixture(scope="module")
def pairs() -> list[dict]:
    path = ROOT.parent / "shared" / "corpus" / "pairs-dev.jsonl"
    if not path.is_file():
        pytest.skip("../shared is not present")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _same(got: str, expected: str, whitespace: bool) -> bool:
    if whitespace:
        return got.split() == expected.split()
    return got.strip() == expected.strip()  # leading/trailing blank lines are extraction artefacts


def test_pairs_render_both_ways(pairs):
    checked, failing = 0, []
    for pair in pairs:
        kind = pair["diff_class"]
        if not (kind.startswith("identical") or kind.startswith("only_Timestamp_to_TimeGenerated")):
            continue
        checked += 1
        whitespace = kind.endswith("whitespace")
        forward = to_sentinel(pair["defender"]).text
        back = render(pair["sentinel"], SENTINEL, DEFENDER).text
        if not (_same(forward, pair["sentinel"], whitespace) and _same(back, pair["defender"], whitespace)):
            failing.append(pair["id"])
    assert checked > 250
    assert sorted(failing) == sorted(EXCEPTIONS), "update tests/kql/render_pair_exceptions.json"


def test_other_pairs_report_what_has_no_counterpart(pairs):
    from dac.kql import functions, parse

    for pair in pairs:
        if pair["diff_class"] != "other":
            continue
        for source, target, text in ((DEFENDER, SENTINEL, pair["defender"]), (SENTINEL, DEFENDER, pair["sentinel"])):
            result = render(text, source, target)
            tree = parse(text).tree
            for node in tree.walk():
                name = ""
                if node.kind == "Name" and node.text().strip() in source.tables:
                    name = node.text().strip() if node.text().strip() not in target.tables else ""
                elif node.kind == "Call" and node["callee"].kind == "Name":
                    callee = node["callee"].text().strip()
                    if functions.lookup(callee, source.dialect) and not functions.lookup(callee, target.dialect):
                        name = callee
                if name and not _is_column_named_like_a_table(tree, node):
                    assert any(name in d.message for d in result.diagnostics), (pair["id"], name)


def _is_column_named_like_a_table(tree, node) -> bool:
    token = node.first_token()
    previous = [t for t in tree.tokens() if t.end <= token.start]
    return bool(previous) and previous[-1].text not in ("|", "(", ",", "=", ";", "union", "join", "lookup", "in")


def test_kql_render_command(tmp_path: Path):
    query = tmp_path / "q.kql"
    query.write_text("DeviceEvents\n| where Timestamp > ago(1h)\n")
    result = run_dac("kql", "render", "--to", "sentinel", str(query))
    assert result.returncode == 0 and result.stdout == "DeviceEvents\n| where TimeGenerated > ago(1h)\n"
    result = run_dac("kql", "render", "--to", "sentinel", str(query.parent / "missing.kql"))
    assert result.returncode == 2
    query.write_text("ExposureGraphNodes | take 1\n")
    result = run_dac("kql", "render", "--to", "sentinel", str(query))
    assert result.returncode == 1 and "KQL201" in result.stderr


def test_render_command_writes_deterministic_files_and_valid_rule_bodies(tmp_path: Path):
    from jsonschema import Draft202012Validator

    from dac.model.detection import discover, load_detection

    first, second = tmp_path / "one", tmp_path / "two"
    assert run_dac("render", "--out", str(first)).returncode == 0
    assert run_dac("render", "--out", str(second)).returncode == 0
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    assert all((first / f).read_bytes() == (second / f).read_bytes() for f in files)
    schemas = {
        "defender": Draft202012Validator(
            json.loads((ROOT / "schemas/api/defender-detection-rule.schema.json").read_text())
        ),
        "sentinel": Draft202012Validator(
            json.loads((ROOT / "schemas/api/sentinel-alert-rule.schema.json").read_text())
        ),
    }
    rules = 0
    for file in discover([ROOT / "detections"]):
        detection = load_detection(file).detection
        for dialect in ("defender", "sentinel"):
            enabled = dialect in detection.enabled_dialects()  # a disabled platform gets no files
            assert (first / dialect / f"{detection.id}.kql").is_file() == enabled
            body = first / dialect / f"{detection.id}.json"
            assert body.is_file() == (enabled and detection.kind == "detection")
            if body.is_file():
                errors = list(schemas[dialect].iter_errors(json.loads(body.read_text())))
                assert errors == [], (body, [e.message for e in errors])
                rules += 1
    assert rules == 9  # five seed rules: four on both platforms, one on Defender only
    sentinel_query = (first / "sentinel" / f"{_winscp_id()}.kql").read_text()
    assert "project TimeGenerated, ReportId" in sentinel_query


def _winscp_id() -> str:
    text = (ROOT / "detections/network/winscp-connections-to-public-addresses.yml").read_text()
    return next(line.split(": ")[1] for line in text.splitlines() if line.startswith("id: "))


def test_parameters_are_filled_in_before_checking(tmp_path: Path):
    from conftest import detection_text, make_project

    make_project(tmp_path)
    text = (
        detection_text().replace(
            "    | take 10\n", "    | where FileName in ({{ names }}) and DeviceName == {{ host | kql }}\n"
        )
        + "parameters:\n  names: [a.exe, b.exe]\n  host: ws1\n"
    )
    (tmp_path / "detections" / "a.yml").write_text(text)
    assert json.loads(run_dac("validate", "--format", "json", cwd=tmp_path).stdout)["diagnostics"] == []
    assert run_dac("render", "--out", "build", cwd=tmp_path).returncode == 0
    rendered = (tmp_path / "build" / "sentinel" / "5d0b6a39-8f0e-4a2b-9a51-1c0e6f6e2b11.kql").read_text()
    assert 'where FileName in (dynamic(["a.exe", "b.exe"])) and DeviceName == "ws1"' in rendered
    assert "TimeGenerated > ago(1d)" in rendered
    (tmp_path / "detections" / "a.yml").write_text(text.replace("{{ host | kql }}", "{{ hots }}"))
    [finding] = json.loads(run_dac("validate", "--format", "json", cwd=tmp_path).stdout)["diagnostics"]
    assert finding["code"] == "DAC130" and "'hots' is undefined" in finding["message"]


# ------------------------------------------------------------------------------------------ parameters
def _write(tmp_path: Path, query_line: str, extra: str = "") -> str:
    from conftest import detection_text, make_project

    make_project(tmp_path)
    text = detection_text(extra=extra).replace("    | take 10\n", f"    {query_line}\n")
    (tmp_path / "detections" / "a.yml").write_text(text)
    return text


def _diagnostics(tmp_path: Path) -> list[dict]:
    return json.loads(run_dac("validate", "--format", "json", cwd=tmp_path).stdout)["diagnostics"]


def _rendered(tmp_path: Path, dialect: str = "sentinel") -> str:
    assert run_dac("render", "--out", "build", cwd=tmp_path).returncode == 0
    return (tmp_path / "build" / dialect / "5d0b6a39-8f0e-4a2b-9a51-1c0e6f6e2b11.kql").read_text()


def test_without_parameters_braces_are_kql_text(tmp_path: Path):
    line = '| where ProcessCommandLine has "{%" or ProcessCommandLine has "{{ x }}" | extend y = "{# z #}"'
    _write(tmp_path, line)
    assert _diagnostics(tmp_path) == []
    assert line in _rendered(tmp_path)


def test_print_of_braces_runs_unchanged_without_parameters():
    from conftest import emulate
    from dac.model.templating import render_parameters

    query = 'print x = "{{not a template}}", y = "{% if %}"'
    assert render_parameters(query, None) == query
    assert emulate(query) == [["{{not a template}}", "{% if %}"]]


def test_an_empty_parameters_mapping_declares_a_template(tmp_path: Path):
    _write(tmp_path, "| where FileName != {{ 'a.exe' | kql }} {# a template comment #}", extra="parameters: {}\n")
    assert _diagnostics(tmp_path) == []
    rendered = _rendered(tmp_path)
    assert 'where FileName != "a.exe" \n' in rendered and "template comment" not in rendered


def test_a_parameter_error_points_at_the_name_in_the_yaml_file(tmp_path: Path):
    text = _write(tmp_path, "| where DeviceName == {{ hots | kql }}", extra="parameters:\n  host: ws1\n")
    [finding] = _diagnostics(tmp_path)
    line = text.splitlines().index("    | where DeviceName == {{ hots | kql }}") + 1
    column = text.splitlines()[line - 1].index("hots") + 1
    assert (finding["code"], finding["line"], finding["column"]) == ("DAC130", line, column)
    assert "'hots' is undefined; did you mean 'host'? (parameters: host)" in finding["message"]


def test_a_test_parameter_must_be_declared(tmp_path: Path):
    tests = (
        "tests:\n  - name: t\n    parameters: {hots: ws2}\n"
        "    tables: {DeviceProcessEvents: []}\n    expect: {count: 0}\n"
    )
    text = _write(tmp_path, "| where DeviceName == {{ host | kql }}", extra="parameters:\n  host: ws1\n" + tests)
    [finding] = _diagnostics(tmp_path)
    line = text.splitlines().index("    parameters: {hots: ws2}") + 1
    assert (finding["code"], finding["line"], finding["column"]) == ("DAC131", line, 18)
    assert finding["message"] == "unknown test parameter 'hots'; did you mean 'host'? (declared parameters: host)"


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("ws1", '"ws1"'),
        ('a"b\\c\nd', '"a\\"b\\\\c\\nd"'),
        (["10.0.0.0/8", 1], 'dynamic(["10.0.0.0/8", 1])'),
        ({"k": [True, None]}, 'dynamic({"k": [true, null]})'),
        (True, "true"),
        (None, "null"),
        (3, "3"),
        (2.5, "2.5"),
        (float("inf"), "real(+inf)"),
    ],
)
def test_the_kql_filter_writes_literals(value, literal):
    from dac.model.templating import render_parameters

    assert render_parameters("{{ v | kql }}", {"v": value}) == literal


@pytest.mark.parametrize("value", ["DeviceName", "AdditionalFields.Reason", "['my column']", "7d", "90m", "42", "_x1"])
def test_a_bare_string_may_be_a_name_number_or_timespan(value):
    from dac.model.templating import render_parameters

    assert render_parameters("{{ v }}", {"v": value}) == value


@pytest.mark.parametrize("value", ['x" or 1==1 //', "a b", "x | take 1", "", "['a'] | x", "x\ny", "ws1;"])
def test_any_other_bare_string_is_refused(value):
    from dac.model.templating import ParameterError, render_parameters

    with pytest.raises(ParameterError, match=r"write it as a KQL literal with `\{\{ name \| kql \}\}`"):
        render_parameters("x\n{{ v }}", {"v": value})


def test_a_target_or_test_value_for_an_undeclared_name_is_not_applied(tmp_path: Path):
    from dac.model.detection import load_detection
    from dac.variants import build_variants

    _write(tmp_path, "| where DeviceName == {{ host | kql }}", extra="parameters:\n  host: ws1\n")
    detection = load_detection(tmp_path / "detections" / "a.yml").detection
    [variant, *_] = build_variants(detection, parameters={"host": "ws2", "other": "x"})
    assert 'DeviceName == "ws2"' in variant.text
