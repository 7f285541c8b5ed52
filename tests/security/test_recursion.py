"""No input reaches a Python recursion limit (issue 14), end to end through the real CLI: a 10,000-term
IOC chain is validated, rendered and tested like any query; text nested deeper than dac supports is
refused with KQL010 at its line and column in the YAML file; neither ends in a traceback."""

from __future__ import annotations

from attack import AttackProject, detection, position_of
from dac.kql.parser import MAX_NESTING

TERMS = 10_000
CHAIN_TEST = """
  - name: the listed host is found among 10,000
    now: 2024-12-02T12:00:00Z
    tables:
      DeviceNetworkEvents:
        - {Timestamp: 2024-12-02T11:40:00Z, DeviceName: h4242, RemoteIP: 203.0.113.7}
        - {Timestamp: 2024-12-02T11:41:00Z, DeviceName: elsewhere, RemoteIP: 203.0.113.8}
    expect:
      count: 1
      rows: [{DeviceName: h4242, RemoteIP: 203.0.113.7}]
"""


def _assert_no_crash(result) -> str:
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output[-3000:]
    assert "RecursionError" not in output and "recursion" not in output.lower(), output[-3000:]
    return output


def _ioc_chain() -> str:
    """`DeviceName == "h0" or ... or DeviceName == "h9999"`, 100 terms a line, as IOC lists are pasted."""
    lines = [" or ".join(f'DeviceName == "h{i}"' for i in range(start, start + 100)) for start in range(0, TERMS, 100)]
    return "\n  or ".join(lines)


def test_a_detection_with_a_10000_term_or_chain_passes_dac_check(attack_project: AttackProject):
    query = f"DeviceNetworkEvents\n| where Timestamp > ago(1d)\n| where {_ioc_chain()}\n| project DeviceName, RemoteIP"
    attack_project.write("detections/ioc.yml", detection(CHAIN_TEST, query, "IOC hosts"))
    result = attack_project.dac("check")
    output = _assert_no_crash(result)
    assert result.returncode == 0, output[-3000:]
    assert "2 passed, 0 failed, 0 errors" in output  # the test, in Defender and rendered for Sentinel
    attack_project.assert_no_leak(result)


def test_10000_nested_parentheses_are_refused_at_their_line_and_column(attack_project: AttackProject):
    query = "DeviceNetworkEvents\n| where " + "(" * TERMS + 'DeviceName == "h1"' + ")" * TERMS
    text = detection(CHAIN_TEST, query, "Deep")
    attack_project.write("detections/deep.yml", text)
    result = attack_project.dac("check")
    output = _assert_no_crash(result)
    assert result.returncode == 1, output[-3000:]
    line, column = position_of(text, "(" * TERMS).split(":")
    where = f"detections/deep.yml:{line}:{int(column) + MAX_NESTING}"  # the first '(' past the limit
    assert f"{where}: error KQL010: expression nested deeper than {MAX_NESTING} levels" in output
    assert output.count("KQL010") == 1  # reported once, in Defender; the Sentinel rendering says the same
    attack_project.assert_no_leak(result)


def test_kql_check_refuses_let_functions_that_call_each_other_10000_deep(attack_project: AttackProject):
    lets = "".join(f"let f{i} = () {{ f{i - 1}() | extend c{i} = {i} }};\n" for i in range(1, TERMS))
    attack_project.write("chain.kql", "let f0 = () { print c0 = 0 };\n" + lets + f"f{TERMS - 1}()\n")
    result = attack_project.dac("kql", "check", "--dialect", "defender", "chain.kql")
    output = _assert_no_crash(result)
    assert result.returncode == 1, output[-3000:]
    assert "error KQL010: 'f63' calls let functions that nest deeper than" in output
    attack_project.assert_no_leak(result)


def test_kql_check_reads_a_1_mb_ioc_list(attack_project: AttackProject):
    hashes = ", ".join(f'"{i:064x}"' for i in range(15_000))
    query = f"DeviceProcessEvents\n| where Timestamp > ago(1d)\n| where SHA256 in ({hashes})\n"
    assert len(query) > 1_000_000
    attack_project.write("iocs.kql", query)
    result = attack_project.dac("kql", "check", "--dialect", "defender", "iocs.kql", timeout=120)
    output = _assert_no_crash(result)
    assert result.returncode == 0, output[-3000:]
