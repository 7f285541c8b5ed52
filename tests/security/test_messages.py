"""Messages a person can act on: each YAML or dac.yml mistake is reported at the line where it is,
says what to change, and never shows a traceback (issue 14)."""

from __future__ import annotations

import subprocess

from attack import AttackProject, detection, position_of

FILE = "detections/attack.yml"


def _validate(project: AttackProject, text: str, *args: str) -> subprocess.CompletedProcess:
    project.write(FILE, text)
    result = project.dac("validate", *args)
    assert "Traceback" not in result.stdout + result.stderr
    return result


def _assert_reported(result: subprocess.CompletedProcess, where: str, code: str, *phrases: str) -> str:
    """The one line `FILE:where: severity code: ...` holding every phrase; returns the whole output."""
    lines = [line for line in result.stdout.splitlines() if f" {code}: " in line]
    assert len(lines) == 1, result.stdout + result.stderr
    assert lines[0].startswith(f"{FILE}:{where}: "), lines[0]
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    return result.stdout


# -- YAML syntax: the line of the mistake, not the line where the parser gave up -------------------


def test_query_line_less_indented_than_its_block(attack_project: AttackProject):
    text = detection("", query='DeviceProcessEvents\n| where FileName == "powershell.exe"')
    text = text.replace("    | where FileName", "  | where FileName")
    result = _validate(attack_project, text)
    assert result.returncode == 1
    _assert_reported(
        result,
        position_of(text, "| where"),
        "error DAC104",
        "this line is less indented than the block above it ('text: |' on line 14",
        "indent it to continue the block",
    )


def test_block_broken_a_line_before_the_parser_notices(attack_project: AttackProject):
    text = detection("", query="DeviceProcessEvents\nwhere FileName =~ 'x'\n| take 10")
    text = text.replace("    where FileName", "  where FileName")
    result = _validate(attack_project, text)
    assert result.returncode == 1
    output = _assert_reported(
        result, position_of(text, "where FileName"), "error DAC104", "less indented than the block above it"
    )
    # the parser itself gave up only at the end of the file; the note says so
    end = f"{text.count(chr(10)) + 1}:1"
    assert f"= YAML stopped at {end}: could not find expected ':'" in output


def test_plain_value_continued_on_an_unindented_line(attack_project: AttackProject):
    text = detection("").replace(
        "description: A detection used by the attack tests.\n",
        "description: A detection used by the attack tests,\nwritten over two lines.\n",
    )
    result = _validate(attack_project, text)
    assert result.returncode == 1
    _assert_reported(
        result,
        position_of(text, "written over"),
        "error DAC104",
        "this line continues the value of 'description' from line 3, but is not indented more than 'description'",
        "write 'description: |'",
    )


def test_tab_used_for_indentation(attack_project: AttackProject):
    text = detection("").replace("  dialect: defender", "\tdialect: defender")
    result = _validate(attack_project, text)
    assert result.returncode == 1
    _assert_reported(
        result,
        position_of(text, "\tdialect"),
        "error DAC105",
        "tab character in indentation; YAML indents with spaces only: replace the tab with spaces",
    )


def test_unclosed_quote_points_at_where_it_opened(attack_project: AttackProject):
    text = detection("").replace("name: Attack test", 'name: "Attack test')
    result = _validate(attack_project, text)
    assert result.returncode == 1
    _assert_reported(
        result,
        position_of(text, '"Attack'),
        "error DAC104",
        'the " opened here is never closed: add the closing " at the end of the value',
    )


def test_quote_closed_only_on_a_later_line(attack_project: AttackProject):
    text = detection("", query='DeviceProcessEvents\n| where FileName == "powershell.exe"')
    text = text.replace("name: Attack test", 'name: "Attack test')
    result = _validate(attack_project, text)
    assert result.returncode == 1
    _assert_reported(
        result,
        position_of(text, '"Attack'),
        "error DAC104",
        'the " opened here is not closed on this line, so the value runs on to the " on line 16',
        'add the closing " at the end of this line',
    )


def test_unclosed_bracket_points_at_where_it_opened(attack_project: AttackProject):
    text = detection("").replace("authors: [dac]", "authors: [dac")
    result = _validate(attack_project, text)
    assert result.returncode == 1
    _assert_reported(
        result,
        position_of(text, "[dac"),
        "error DAC104",
        "the '[' opened here is never closed: end the list with ']' on this line",
    )


def test_unclosed_brace_points_at_where_it_opened(attack_project: AttackProject):
    text = detection("").replace(
        "mitre: {tactics: [exfiltration], techniques: [T1048]}", "mitre: {tactics: [exfiltration], techniques: [T1048]"
    )
    result = _validate(attack_project, text)
    assert result.returncode == 1
    _assert_reported(
        result, position_of(text, "{tactics"), "error DAC104", "the '{' opened here is never closed", "with '}'"
    )


def test_colon_space_inside_a_plain_value(attack_project: AttackProject):
    text = detection("", name="Alert: remote thread")
    result = _validate(attack_project, text)
    assert result.returncode == 1
    _assert_reported(
        result,
        position_of(text, "Alert: remote"),
        "error DAC104",
        "the value of 'name' contains ': '",
        "put the whole value in quotes: name: 'Alert: remote thread'",
    )


def test_key_indented_more_than_the_key_above(attack_project: AttackProject):
    text = detection("").replace("version: 1.0.0", "  version: 1.0.0")
    result = _validate(attack_project, text)
    assert result.returncode == 1
    _assert_reported(
        result,
        position_of(text, "version"),
        "error DAC104",
        "this line is indented more than 'modified' on line 8",
        "indent 'version' exactly like 'modified'",
    )


def test_backslash_in_double_quotes(attack_project: AttackProject):
    text = detection("").replace(
        "description: A detection used by the attack tests.", 'description: "Writes to C:\\Windows\\Temp"'
    )
    result = _validate(attack_project, text)
    assert result.returncode == 1
    _assert_reported(
        result,
        position_of(text, "\\Windows"),
        "error DAC104",
        "'\\W' is not an escape sequence in a double-quoted value",
        "use single quotes",
    )


def test_duplicate_key(attack_project: AttackProject):
    text = detection("") + "name: Again\n"
    result = _validate(attack_project, text)
    assert result.returncode == 1
    _assert_reported(
        result,
        position_of(text, "name: Again"),
        "error DAC108",
        "duplicate key 'name' (first defined at 2:1)",
        "remove one of them",
    )


def test_unknown_field_in_a_detection_suggests_the_name(attack_project: AttackProject):
    text = detection("") + "auther: someone\n"
    result = _validate(attack_project, text)
    assert result.returncode == 1
    output = _assert_reported(result, position_of(text, "auther"), "error DAC202", "unknown field 'auther'")
    assert "= did you mean 'authors'?" in output


# -- DAC109: a multi-line query without `|` --------------------------------------------------------

FOLDED = """\
id: 0b9f5c2e-3d41-4c8e-9a57-6f1d2e7b8a90
name: Folded query
description: A query written without the pipe after text.
kind: hunting
status: experimental
authors: [dac]
created: 2024-12-02
modified: 2024-12-02
version: 1.0.0
query:
  dialect: defender
  text:
    DeviceProcessEvents
    // only PowerShell
    | where FileName == "powershell.exe"
"""


def test_folded_query_whose_comment_swallows_the_rest(attack_project: AttackProject):
    result = _validate(attack_project, FOLDED)
    assert result.returncode == 0  # a warning
    _assert_reported(
        result,
        "12:3",
        "warning DAC109",
        "the query spans several lines but `text:` has no `|`: YAML folded it into one line, so the `//` "
        "comment on line 14 swallows everything after it; write `text: |`",
    )
    assert _validate(attack_project, FOLDED, "--fail-on", "warning").returncode == 1


def test_folded_block_query_without_comment(attack_project: AttackProject):
    text = FOLDED.replace("  text:\n", "  text: >\n").replace("    // only PowerShell\n", "")
    result = _validate(attack_project, text)
    assert result.returncode == 0
    _assert_reported(
        result,
        "12:3",
        "warning DAC109",
        "`text:` uses `>`: YAML folded it into one line; it still runs",
        "write `text: |`",
    )


def test_folded_variant_text(attack_project: AttackProject):
    text = FOLDED.replace("  text:\n", "  text: |\n") + (
        "variants:\n  sentinel:\n    text: SecurityEvent // all of them\n      | where EventID == 4688\n"
    )
    result = _validate(attack_project, text)
    _assert_reported(
        result, position_of(text, "text: SecurityEvent"), "warning DAC109", "the `//` comment on line 18 swallows"
    )


def test_literal_block_and_one_line_queries_are_not_warned(attack_project: AttackProject):
    literal = FOLDED.replace("  text:\n", "  text: |\n")
    assert "DAC109" not in _validate(attack_project, literal).stdout
    one_line = FOLDED.split("  text:")[0] + "  text: DeviceProcessEvents | take 10 // a comment at the end\n"
    assert "DAC109" not in _validate(attack_project, one_line).stdout
    in_a_string = FOLDED.replace("// only PowerShell", '| where FolderPath startswith "//server/share"')
    result = _validate(attack_project, in_a_string)
    _assert_reported(result, "12:3", "warning DAC109", "YAML folded it into one line; it still runs")


# -- dac.yml: the offending key, with "did you mean"; exit code 2 ----------------------------------


def _config(project: AttackProject, text: str) -> str:
    project.write("dac.yml", text)
    result = project.dac("validate")
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output
    config = (project.root / "dac.yml").resolve()
    assert result.stderr.startswith(f"dac: error: {config}:"), output
    return result.stderr.removeprefix(f"dac: error: {config}:").strip()


TARGET = "targets:\n  - name: prod\n    platform: defender\n    tenant_id: 00000000-0000-0000-0000-000000000000\n"


def test_config_unknown_key_suggests_the_name(attack_project: AttackProject):
    message = _config(attack_project, "detection: detections\n")
    assert message == "1:1: error DAC120: unknown key 'detection' (did you mean 'detections'?)"


def test_config_unknown_key_in_a_target(attack_project: AttackProject):
    message = _config(attack_project, TARGET.replace("tenant_id:", "tenant:"))
    assert message == "4:5: error DAC120: unknown key 'tenant' in targets[0] (did you mean 'tenant_id'?)"


def test_config_misspelt_platform(attack_project: AttackProject):
    message = _config(attack_project, TARGET.replace("platform: defender", "platform: sentinal"))
    assert message == (
        "3:15: error DAC120: targets[0].platform: the string 'sentinal' is not one of: defender, sentinel "
        "(did you mean 'sentinel'?)"
    )


def test_config_unknown_key_without_a_close_name(attack_project: AttackProject):
    message = _config(attack_project, "detections: detections\nfrobnicate: 1\n")
    assert message.startswith("2:1: error DAC120: unknown key 'frobnicate'; allowed here: detections, ")
    assert "targets" in message


def test_config_missing_keys_are_named_together(attack_project: AttackProject):
    message = _config(attack_project, TARGET.replace("platform: defender", "platform: sentinel"))
    assert message == (
        "2:5: error DAC120: missing required keys 'subscription_id', 'resource_group', 'workspace' in targets[0] "
        "(required for platform: sentinel)"
    )


def test_config_yaml_mistake_points_at_it(attack_project: AttackProject):
    message = _config(attack_project, "detections: detections\ntargets: [\n")
    assert message.startswith("2:10: error DAC104: invalid YAML: the '[' opened here is never closed")
