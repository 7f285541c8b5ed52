"""`dac import sigma`: Sigma rules -> hunting detections through pySigma's Kusto backend.

The rules here are written for these tests. Every file the importer writes must pass `dac validate`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from importlib.util import find_spec
from pathlib import Path

import pytest

from conftest import make_project, run_dac
from dac.model.yamlsource import load_yaml_text

needs_sigma = pytest.mark.skipif(
    find_spec("sigma") is None or find_spec("sigma.backends.kusto") is None,
    reason="the sigma extra (pySigma, pysigma-backend-kusto) is not installed",
)

OFFICE_SHELL = """\
title: Office application starts an encoded PowerShell
id: 3C0FFEE0-1D2B-4A5C-9E8F-7A6B5C4D3E2F
status: stable
description: An Office application started PowerShell with an encoded command line.
references:
  - https://example.org/notes/office-shell
  - not a link
author: Ada Example, Bo Sample and Cy Person
date: 2023/07/14
modified: 2024-02-01
tags:
  - attack.execution
  - attack.t1059.001
  - attack.ta0002
  - attack.g0099
  - car.2013-05-009
logsource:
  category: process_creation
  product: windows
detection:
  parent:
    ParentImage|endswith:
      - '\\winword.exe'
      - '\\excel.exe'
  child:
    Image|endswith: '\\powershell.exe'
    CommandLine|contains: ' -enc '
  condition: parent and child
falsepositives:
  - Signed admin macros
  - A reporting add-in
level: critical
"""

REGISTRY_RUN = """\
title: Run key set by a script host
logsource:
  category: registry_set
  product: windows
detection:
  selection:
    TargetObject|contains: '\\CurrentVersion\\Run\\'
    Image|endswith: '\\wscript.exe'
  condition: selection
level: medium
tags:
  - attack.t1547.001
"""

CLOUD_RULE = """\
title: Storage bucket made public
id: 0d5e2b71-7c3a-4f61-9a55-2e8b1f3c4d70
logsource:
  product: aws
  service: cloudtrail
detection:
  selection:
    eventName: PutBucketAcl
  condition: selection
level: high
"""

NETWORK_RULE = """\
title: Connection to a remote shell port
id: 6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d
status: unsupported
logsource:
  category: network_connection
  product: windows
detection:
  selection:
    DestinationPort: 4444
  condition: selection
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def loaded(path: Path) -> dict:
    return load_yaml_text(path.read_text(encoding="utf-8"), str(path)).data


def imported(project: Path, *texts: str, dialect: str = "defender") -> list:
    from dac.importers.sigma import import_sigma
    from dac.model.project import find_project

    rules = project.parent / "rules"
    paths = [write(rules, f"rule{i}.yml", text) for i, text in enumerate(texts)]
    return import_sigma(paths, dialect, dt.date(2025, 6, 1), find_project(project))


@needs_sigma
def test_metadata_mapping(project: Path):
    (result,) = imported(project, OFFICE_SHELL)
    assert result.skipped is None
    data = result.data
    assert data["id"] == "3c0ffee0-1d2b-4a5c-9e8f-7a6b5c4d3e2f"  # the schema wants lower case
    assert data["name"] == "Office application starts an encoded PowerShell"
    assert data["kind"] == "hunting" and "schedule" not in data and "alert" not in data
    assert data["status"] == "stable"
    assert data["severity"] == "high"
    assert data["authors"] == ["Ada Example", "Bo Sample", "Cy Person"]
    assert (data["created"], data["modified"]) == ("2023-07-14", "2024-02-01")
    assert data["version"] == "1.0.0"
    assert data["references"] == ["https://example.org/notes/office-shell"]
    assert data["mitre"] == {"tactics": ["execution"], "techniques": ["T1059.001"]}
    assert data["tags"] == ["attack.g0099", "car.2013-05-009"]
    description = data["description"]
    assert description.startswith("An Office application started PowerShell with an encoded command line.\n")
    assert "False positives:\n- Signed admin macros\n- A reporting add-in\n" in description
    assert "level 'critical' is imported as severity high" in description
    assert "reference 'not a link' is not an http(s) URL" in description
    assert any("critical" in note for note in result.notes)
    assert data["query"]["dialect"] == "defender"
    assert data["query"]["text"].startswith("DeviceProcessEvents\n| where ")
    assert "ProcessCommandLine contains" in data["query"]["text"]
    assert data["variants"] == {"sentinel": {"enabled": False}}


@needs_sigma
def test_missing_id_gives_a_stable_id_from_the_title(project: Path):
    (first,) = imported(project, REGISTRY_RUN)
    expected = first.data["id"]
    assert uuid.UUID(expected).version == 5
    assert imported(project, REGISTRY_RUN)[0].data["id"] == expected
    assert "has no id; the id is derived from the title" in first.data["description"]
    renamed = REGISTRY_RUN.replace("Run key set by a script host", "Another title")
    assert imported(project, renamed)[0].data["id"] != expected
    not_uuid = imported(project, "id: rule-0042\n" + renamed)[0]
    assert not_uuid.skipped is None
    assert "the Sigma id 'rule-0042' is not a UUID" in not_uuid.data["description"]
    # no date: today's; the technique's tactic is added so that the ATT&CK check holds
    assert first.data["created"] == first.data["modified"] == "2025-06-01"
    assert first.data["mitre"] == {"tactics": ["persistence", "privilege-escalation"], "techniques": ["T1547.001"]}


@needs_sigma
def test_status_and_tag_variants(project: Path):
    rule = NETWORK_RULE + "tags:\n  - attack.initial_access\n  - attack.command-and-control\n  - attack.t9999\n"
    (result,) = imported(project, rule)
    data = result.data
    assert data["status"] == "deprecated"
    assert "status 'unsupported' has no dac equivalent" in data["description"]
    assert "severity" not in data  # no level
    assert data["mitre"] == {"tactics": ["initial-access", "command-and-control"], "techniques": []}
    assert "T9999 is not an ATT&CK Enterprise technique" in data["description"]
    assert data["authors"] == ["unknown"]


@needs_sigma
def test_unconvertible_and_invalid_rules_are_skipped(project: Path):
    correlation = (
        "title: Many shells\nname: many_shells\ncorrelation:\n  type: event_count\n  rules: [office_shell]\n"
        "  group-by: [ComputerName]\n  timespan: 1h\n  condition: {gte: 10}\n"
    )
    results = imported(project, CLOUD_RULE, "title: [broken\n", "just text\n", correlation)
    reasons = [r.skipped for r in results]
    assert all(reasons) and not any(r.data for r in results)
    assert reasons[0].startswith("cannot convert (logsource product: aws, service: cloudtrail): ")
    assert reasons[1].startswith("not valid YAML")
    assert reasons[2] == "not a Sigma rule (each YAML document must be a mapping)"
    assert "correlation rules are not supported" in reasons[3]


@needs_sigma
def test_a_conversion_dac_rejects_is_not_written(project: Path):
    # The backend's Sentinel pipeline maps network connections to SecurityEvent with a column that
    # table does not have; dac's binder knows, so the rule is skipped with the finding as the reason.
    (result,) = imported(project, NETWORK_RULE, dialect="sentinel")
    assert result.data is None
    assert result.skipped.startswith("dac validate rejects the conversion: KQL202 ")
    assert "DestinationPort" in result.skipped


FAILED_LOGON = """\
title: Failed logon to an admin account
id: 2b4d6f80-1a3c-4e5f-8b7d-9c0e1f2a3b4c
status: test
author: Ada Example
date: 2024-11-30
logsource:
  product: windows
  service: security
detection:
  selection:
    EventID: 4625
    TargetUserName|startswith: 'adm'
  condition: selection
level: low
tags:
  - attack.credential-access
  - attack.t1110
"""


@needs_sigma
def test_sentinel_dialect(project: Path):
    (result,) = imported(project, FAILED_LOGON, dialect="sentinel")
    assert result.skipped is None, result.skipped
    data = result.data
    assert data["query"]["dialect"] == "sentinel"
    assert data["query"]["text"].startswith("SecurityEvent\n| where EventID == 4625")
    assert data["variants"] == {"defender": {"enabled": False}}
    assert (data["severity"], data["status"], data["created"]) == ("low", "test", "2024-11-30")
    assert data["mitre"] == {"tactics": ["credential-access"], "techniques": ["T1110"]}
    # Defender's pipeline has no such column on its logon table: skipped, with the backend's reason
    (defender,) = imported(project, FAILED_LOGON, dialect="defender")
    assert defender.skipped.startswith("cannot convert (logsource product: windows, service: security): ")
    assert "TargetUserName" in defender.skipped


@needs_sigma
def test_command_writes_valid_files_and_names_the_skipped(tmp_path: Path):
    assert run_dac("init", str(tmp_path / "proj"), "--install", "dac").returncode == 0
    project = tmp_path / "proj"
    rules = tmp_path / "rules"
    write(rules, "windows/office_shell.yml", OFFICE_SHELL)
    write(rules, "windows/nested/run_key.yaml", REGISTRY_RUN)
    write(rules, "cloud/bucket.yml", CLOUD_RULE)
    write(rules, ".hidden/ignored.yml", OFFICE_SHELL.replace("3C0FFEE0", "4C0FFEE0"))
    write(rules, "windows/readme.txt", "not a rule")
    out = project / "detections" / "sigma"
    out.mkdir(parents=True)
    existing = out / "office-application-starts-an-encoded-powershell.yml"
    existing.write_text("kept as it is\n")

    result = run_dac("import", "sigma", str(rules), "--out", str(out), cwd=project)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{rules / 'cloud' / 'bucket.yml'}: skipped: cannot convert (logsource product: aws" in result.stderr
    assert "2 imported, 1 skipped" in result.stderr
    assert "note: Sigma level 'critical' is imported as severity high" in result.stdout
    assert existing.read_text() == "kept as it is\n"  # never overwritten: the import took the next name
    written = sorted(p.name for p in out.iterdir())
    assert written == [
        "office-application-starts-an-encoded-powershell-2.yml",
        "office-application-starts-an-encoded-powershell.yml",
        "run-key-set-by-a-script-host.yml",
    ]
    text = (out / "run-key-set-by-a-script-host.yml").read_text()
    assert text.startswith("# yaml-language-server: $schema=../../schemas/detection.schema.json\n")
    existing.unlink()
    validation = run_dac("validate", str(out), cwd=project)
    assert validation.returncode == 0, validation.stdout + validation.stderr
    assert "2 valid, 0 errors" in validation.stderr

    # the same rules again: their ids are taken now, so nothing is written twice
    again = run_dac("import", "sigma", str(rules / "windows"), "--out", str(out), cwd=project)
    assert again.returncode == 1
    assert again.stderr.count(": skipped: dac validate rejects the conversion: DAC301 ") == 2
    assert len(list(out.iterdir())) == 2


@needs_sigma
def test_all_converted_is_exit_code_zero(tmp_path: Path):
    project = make_project(tmp_path / "p")
    rule = write(tmp_path, "r.yml", REGISTRY_RUN)
    result = run_dac("import", "sigma", str(rule), "--out", "detections", "--dialect", "defender", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "1 imported, 0 skipped" in result.stdout
    data = loaded(project / "detections" / "run-key-set-by-a-script-host.yml")
    assert data["query"]["text"].startswith("DeviceRegistryEvents\n")


def test_without_the_extra_the_command_says_how_to_install_it(tmp_path: Path):
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sigma.py").write_text("raise ImportError('pySigma is not installed here')\n")
    project = make_project(tmp_path / "p")
    rule = write(tmp_path, "r.yml", REGISTRY_RUN)
    result = run_dac("import", "sigma", str(rule), "--out", "out", cwd=project, env={"PYTHONPATH": str(blocker)})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "pip install 'dac[sigma]'" in result.stderr
    assert "pip install -c constraints.txt -e '.[sigma]'" in result.stderr
    assert not (project / "out").exists()


def test_the_extra_is_not_loaded_by_dac_itself():
    result = run_dac("import", "sigma", "--help")
    assert result.returncode == 0 and "--dialect [defender|sentinel]" in result.stdout
