"""Jinja2 only where a detection asks for it (`parameters`), in a sandbox that reads nothing, runs in
bounded time and space, and inserts values as KQL literals; every failure is a positioned diagnostic
(DAC130 in the query, DAC131 for a parameter name the detection does not declare), never a traceback."""

from __future__ import annotations

import time
import uuid

import pytest

from attack import AttackProject, detection, position_of

FILE = "detections/attack.yml"
TENANT = "99999999-8888-7777-6666-555555555555"


def _with_parameters(text: str, parameters: str = "host: ws1\nnames: [a.exe, b.exe]\n") -> str:
    return text + "parameters:\n" + "".join(f"  {line}\n" for line in parameters.splitlines())


def _query(line: str) -> str:
    return f"DeviceNetworkEvents\n| where {line}\n| project Timestamp, DeviceName, RemoteIP"


def _check(project: AttackProject, text: str, *args: str):
    project.write(FILE, text)
    started = time.monotonic()
    result = project.dac(*(args or ("check",)))
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    assert "Traceback" not in output and "internal error" not in output, output
    project.assert_no_leak(result)
    return result, output, elapsed


def _assert_dac130(project: AttackProject, text: str, needle: str, words: str) -> str:
    result, output, _ = _check(project, text)
    assert result.returncode == 1, output
    assert f"{FILE}:{position_of(text, needle)}: error DAC130: query parameters: " in output, output
    assert words in output, output
    return output


# ------------------------------------------------------------------------------ no parameters, no template
PAYLOADS = (
    "{{ config }}",
    "{{ ''.__class__.__mro__ }}",
    "{% include '/etc/passwd' %}",
    "{{ 10 ** 10 ** 10 ** 10 }}",
    "{% for i in range(99999) %}{% for j in range(99999) %}x{% endfor %}{% endfor %}",
    "{# a comment #}",
    "{{not a template}}",
    "{%",
)


def test_a_query_without_parameters_is_kql_text_braces_and_all(attack_project: AttackProject):
    secret = attack_project.outside / "secret.txt"
    literals = [*PAYLOADS, f"{{% include '{secret}' %}}"]
    condition = " or ".join(f"DeviceName == {_kql_string(p)}" for p in literals)
    rows = "".join(f"      - {{Timestamp: 2024-12-02T11:00:00Z, DeviceName: {_yaml_string(p)}}}\n" for p in literals)
    tests = (
        "- name: the payloads are plain strings\n"
        "  now: 2024-12-02T12:00:00Z\n"
        "  tables:\n"
        "    DeviceNetworkEvents:\n"
        f"{rows}"
        "      - {Timestamp: 2024-12-02T11:00:00Z, DeviceName: ws1}\n"
        f"  expect: {{count: {len(literals)}}}\n"
    )
    text = detection(tests, query=_query(condition))
    result, output, _ = _check(attack_project, text)
    assert result.returncode == 0, output
    assert "DAC130" not in output and "2 tests: 2 passed" in output, output
    result, output, _ = _check(attack_project, text, "render", "--out", "build")
    assert result.returncode == 0, output
    for dialect in ("defender", "sentinel"):
        rendered = (attack_project.root / "build" / dialect / "0b9f5c2e-3d41-4c8e-9a57-6f1d2e7b8a90.kql").read_text()
        for payload in literals:
            assert _kql_string(payload) in rendered, (payload, rendered)
    attack_project.assert_no_leak(result)


def _kql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _yaml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ------------------------------------------------------------------------------ what a template cannot do
def test_the_environment_has_no_loader_and_no_dangerous_globals():
    from dac.model.templating import _ENVIRONMENT

    assert _ENVIRONMENT.loader is None
    assert set(_ENVIRONMENT.globals) == {"range", "dict", "namespace"}


@pytest.mark.parametrize("tag", ["include", "import", "extends"])
def test_include_of_an_outside_file_is_refused_even_with_parameters(attack_project: AttackProject, tag: str):
    secret = attack_project.outside / "secret.txt"
    statement = f"{{% import '{secret}' as s %}}" if tag == "import" else f"{{% {tag} '{secret}' %}}"
    text = _with_parameters(detection("", query=_query(f"DeviceName == 'x'\n// {statement}")))
    _assert_dac130(attack_project, text, statement, f"`{{% {tag} %}}` is not available in a query template")


@pytest.mark.parametrize(
    ("payload", "needle", "words"),
    [
        ("{{ ''.__class__.__mro__ }}", "{{", "access to attribute '__class__' of 'str' object is unsafe"),
        ("{{ host.__class__.__base__.__subclasses__() }}", "{{", "is unsafe"),
        ("{{ range.__globals__ }}", "{{", "access to attribute '__globals__' of 'function' object is unsafe"),
        ("{{ self._TemplateReference__context }}", "{{", "is unsafe"),
        ("{{ config }}", "config", "'config' is undefined"),
        ("{{ lipsum.__globals__ }}", "lipsum", "'lipsum' is undefined"),
        ("{{ cycler.__init__.__globals__.os }}", "cycler", "'cycler' is undefined"),
        ("{{ names.append('x') }}", "{{", "access to attribute 'append' of 'list' object is unsafe"),
        ("{{ '{0.__class__}'.format(host) }}", "{{", "calling 'format' is not allowed"),
    ],
)
def test_sandbox_escapes_are_dac130(attack_project: AttackProject, payload: str, needle: str, words: str):
    text = _with_parameters(detection("", query=_query(f"DeviceName == 'x'\n// {payload}")))
    _assert_dac130(attack_project, text, needle, words)


# ------------------------------------------------------------------------------ undefined, with any filter
@pytest.mark.parametrize(
    ("use", "needle"),
    [
        ("{{ x | tojson }}", "x | tojson"),
        ("{{ x | kql }}", "x | kql"),
        ("{{ x | upper }}", "x | upper"),
        ("{{ x.y }}", "x.y"),
        ("{% for a in x %}{{ a | kql }}{% endfor %}", "x %}"),
        ("{{ x | join(',') | kql }}", "x | join"),
        ("{{ [x] | kql }}", "x] | kql"),
        ("{{ host ~ x }}", "x }}"),
    ],
)
def test_an_undefined_name_with_a_filter_is_dac130_at_its_line(attack_project: AttackProject, use: str, needle: str):
    text = _with_parameters(detection("", query=_query(f"DeviceName == 'ws1'\n| where Extra == {use}")))
    output = _assert_dac130(attack_project, text, needle, "'x' is undefined")
    assert "(parameters: host, names)" in output


def test_a_template_syntax_error_is_dac130_at_its_line(attack_project: AttackProject):
    text = _with_parameters(detection("", query=_query("DeviceName == {{ host | kql }}\n| where X == {{ host( }}")))
    _assert_dac130(attack_project, text, "{{ host( }}", "unexpected")


# ------------------------------------------------------------------------------ bounded rendering
@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "loops run more than"),
        ("{% for i in range(100000) %}{% for j in range(100000) %}xxxxxxxxxx{% endfor %}{% endfor %}",
         "the rendered query is longer than 1000000 characters"),
        ("{{ 10 ** (10 ** (10 ** 10)) }}", "a number in the template grows beyond"),
        ("{{ 2 ** 1000000000 }}", "a number in the template grows beyond"),
        ("{{ 'x' * 1000000000 }}", "a value in the template grows beyond"),
        ("{% set ns = namespace(v=[1]) %}{% for i in range(60) %}{% set ns.v = [ns.v, ns.v] %}{% endfor %}",
         "a value in the template"),
        ("{% set ns = namespace(v='ab') %}{% for i in range(60) %}{% set ns.v = ns.v ~ ns.v %}{% endfor %}",
         "a value in the template grows beyond"),
        ("{{ 'x' | center(1000000000) }}", "No filter named 'center'"),
        ("{{ 'x'.ljust(1000000000) }}", "calling 'ljust' is not allowed"),
        ("{{ '%999999999d' % 1 }}", "string formatting with `%` is not available"),
        ("{{ " + "(" * 200 + "1" + ")" * 200 + " }}", "brackets are nested more than"),
        ("{{ " + "+".join(["1"] * 5000) + " }}", "more than 100 operators"),
        ("{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", "`{% macro %}` is not available"),
    ],
)  # fmt: skip
def test_runaway_templates_stop_early_with_dac130(attack_project: AttackProject, payload: str, words: str):
    text = _with_parameters(detection("", query=_query(f"DeviceName == 'x'\n// {payload}")))
    attack_project.write(FILE, text)
    started = time.monotonic()
    _assert_dac130(attack_project, text, payload[:2], words)
    assert time.monotonic() - started < 60


# ------------------------------------------------------------------------------ values are KQL literals
INJECTION = 'x" or 1 == 1 //'


def test_a_bare_string_that_is_not_a_name_is_refused(attack_project: AttackProject):
    text = _with_parameters(detection("", query=_query("DeviceName == {{ host }}")), f"host: '{INJECTION}'")
    _assert_dac130(attack_project, text, "{{ host }}", "write it as a KQL literal with `{{ name | kql }}`")


@pytest.mark.parametrize(
    "use",
    ['"{{ host | kql }}"', "' {{ host | kql }} '", "@'{{ host | kql }}'", "'{{ names }}'", '"{{ host | tojson }}"'],
)
def test_a_literal_inside_quotes_is_refused(attack_project: AttackProject, use: str):
    # `"{{ host | kql }}"` with host ` or 1 == 1 //` would render `"" or 1 == 1 //""`.
    parameters = "host: ' or 1 == 1 //'\nnames: [\"' or 1 == 1 //\"]"
    text = _with_parameters(detection("", query=_query(f"DeviceName == {use}")), parameters)
    _assert_dac130(attack_project, text, "{{", "lands inside a KQL string or next to a quote")


def test_an_injection_through_a_test_parameter_stays_a_string_or_is_refused(attack_project: AttackProject):
    rows = (
        "  tables:\n"
        "    DeviceNetworkEvents:\n"
        "      - {Timestamp: 2024-12-02T11:00:00Z, DeviceName: ws1}\n"
        "      - {Timestamp: 2024-12-02T11:00:00Z, DeviceName: ws2}\n"
        f"      - {{Timestamp: 2024-12-02T11:00:00Z, DeviceName: {_yaml_string(INJECTION)}}}\n"
    )
    tests = (
        "- name: only the exact device name matches\n"
        "  now: 2024-12-02T12:00:00Z\n"
        f"  parameters: {{host: '{INJECTION}'}}\n"
        f"{rows}"
        f"  expect: {{count: 1, rows: [{{DeviceName: {_yaml_string(INJECTION)}}}]}}\n"
    )
    text = _with_parameters(detection(tests, query=_query("DeviceName == {{ host | kql }}")))
    result, output, _ = _check(attack_project, text)
    assert result.returncode == 0, output
    assert "2 tests: 2 passed" in output, output
    # A bare placeholder may name a column; the same value through it is refused, not spliced in.
    tests = (
        "- name: the column parameter carries an injection\n"
        "  now: 2024-12-02T12:00:00Z\n"
        f"  parameters: {{column: 'DeviceName == \"ws1\" or 1 == 1 //'}}\n"
        f"{rows}"
        "  expect: {count: 1}\n"
    )
    text = _with_parameters(detection(tests, query=_query("{{ column }} == 'ws1'")), "column: DeviceName")
    result, output, _ = _check(attack_project, text)
    assert result.returncode == 1, output
    assert f"{FILE}:{position_of(text, '{column:')}: error DAC130:" in output, output
    assert "write it as a KQL literal" in output, output


# ------------------------------------------------------------------------------ parameter names (DAC131)
def test_a_typo_in_a_test_parameter_names_the_declared_ones(attack_project: AttackProject):
    tests = """
      - name: typo
        parameters: {hots: ws2}
        tables: {DeviceNetworkEvents: []}
        expect: {count: 0}
    """
    text = _with_parameters(detection(tests, query=_query("DeviceName == {{ host | kql }}")))
    result, output, _ = _check(attack_project, text)
    assert result.returncode == 1, output
    expected = (f"{FILE}:{position_of(text, 'hots')}: error DAC131: unknown test parameter 'hots'; "
                "did you mean 'host'? (declared parameters: host, names)")  # fmt: skip
    assert expected in output, output


def test_a_test_parameter_on_a_detection_without_parameters_is_an_error(attack_project: AttackProject):
    tests = """
      - name: no template here
        parameters: {host: ws2}
        tables: {DeviceNetworkEvents: []}
        expect: {count: 0}
    """
    text = detection(tests, query=_query("DeviceName == '{{ host }}'"))
    result, output, _ = _check(attack_project, text)
    assert result.returncode == 1, output
    assert f"{FILE}:{position_of(text, 'host: ws2')}: error DAC131: test parameter 'host' has no effect" in output


RULE = """\
id: {id}
name: Connections from one host
description: Connections from one host.
kind: detection
status: stable
severity: medium
authors: [dac tests]
created: 2024-12-02
modified: 2024-12-02
version: 1.0.0
mitre: {{tactics: [command-and-control], techniques: [T1571]}}
query:
  dialect: defender
  text: |
    DeviceNetworkEvents
    | where {use}
    | project Timestamp, ReportId, DeviceId, DeviceName, RemoteIP
parameters:
  host: ws1
  column: DeviceName
schedule: {{frequency: 1h, lookback: 1h}}
trigger: {{operator: gt, threshold: 0}}
alert:
  title: Connection
  entities:
    - {{type: host, column: DeviceName}}
"""


def _target_project(
    project: AttackProject, graph: str, parameters: str, use: str = "DeviceName == {{ host | kql }}"
) -> str:
    config = (f"detections: detections\ntargets:\n  - name: xdr\n    platform: defender\n    tenant_id: {TENANT}\n"
              f"    api: {{graph: \"{graph}\"}}\n    parameters: {parameters}\n")  # fmt: skip
    project.write("dac.yml", config)
    project.write(FILE, RULE.format(id=uuid.UUID(int=7), use=use))
    return config


def test_a_typo_in_a_target_parameter_stops_the_plan(attack_project: AttackProject):
    config = _target_project(attack_project, "http://127.0.0.1:9", "{hots: ws9}")
    result = attack_project.dac("plan", "--target", "xdr")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    expected = (f"dac.yml:{position_of(config, 'hots')}: error DAC131: target 'xdr' sets parameter 'hots' "
                "that no detection declares; did you mean 'host'? "
                "(parameters the detections declare: column, host)")  # fmt: skip
    assert expected in output, output
    assert "Traceback" not in output
    attack_project.assert_no_leak(result)


def test_a_typo_in_a_target_parameter_is_found_by_validate(attack_project: AttackProject):
    config = _target_project(attack_project, "http://127.0.0.1:9", "{hots: ws9}")
    result = attack_project.dac("validate")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert f"dac.yml:{position_of(config, 'hots')}: error DAC131: target 'xdr' sets parameter 'hots'" in output
    # Validating a part of the folder cannot know what the other detections declare: no finding then.
    assert attack_project.dac("validate", FILE).returncode == 0
    attack_project.assert_no_leak(result)


def test_an_injection_through_a_target_parameter_is_refused_or_quoted(attack_project: AttackProject):
    from fakeapi import FakeApi

    token = attack_project.env["DAC_ACCESS_TOKEN"]
    with FakeApi(graph_token=token, arm_token=token) as api:
        injection = "'DeviceName == \"ws1\" or 1 == 1 //'"
        _target_project(attack_project, api.graph_base, f"{{column: {injection}}}", use="{{ column }} == 'ws1'")
        result = attack_project.dac("plan", "--target", "xdr")
        output = result.stdout + result.stderr
        assert result.returncode == 1, output
        text = (attack_project.root / FILE).read_text()
        assert f"{FILE}:{position_of(text, '{{ column }}')}: error DAC130:" in output, output
        assert "with target 'xdr'" in output and api.calls == []

        _target_project(attack_project, api.graph_base, f"{{host: {injection}}}")
        result = attack_project.dac("deploy", "--target", "xdr", "--yes")
        assert result.returncode == 0, result.stdout + result.stderr
        [rule] = api.defender_rules.values()
        query = rule["queryCondition"]["queryText"]
        assert 'where DeviceName == "DeviceName == \\"ws1\\" or 1 == 1 //"\n' in query, query
        attack_project.assert_no_leak(result)
