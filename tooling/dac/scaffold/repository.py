"""`dac init`: scaffold a detections repository for teams that install dac as a package.

The repository gets a documented dac.yml, one example detection with tests, the two GitHub
workflows, a pre-commit configuration, a README and a .gitignore. The workflows come from the
templates shipped in the package (`templates/workflows/`), which are also the source of dac's own
`.github/workflows/`: the only line that differs is how dac is installed, a placeholder replaced
here. The templates are full of GitHub `${{ }}` expressions, hence a plain replacement, not Jinja2.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

from ..model.project import CONFIG_NAME
from ..model.yamlwrite import dump_detection
from ..redaction import write_text
from .detection import new_detection

INSTALL_PLACEHOLDER = "__DAC_INSTALL__"
WORKFLOW_NAMES = ("pull-request.yml", "deploy.yml", "backtest.yml")
REPOSITORY_INSTALL = "pip install -e ."  # dac's own repository installs itself from the checkout

# The pre-commit hook: the same fields as dac's .pre-commit-hooks.yaml (a test keeps them equal).
HOOK: dict[str, Any] = {
    "id": "dac-validate",
    "name": "dac validate",
    "entry": "dac validate",
    "language": "python",
    "types": ["yaml"],
    "files": "(^|/)detections/",
    "pass_filenames": True,
}

SCHEMAS = PurePosixPath("schemas")
SCHEMA_NAMES = ("detection.schema.json", "config.schema.json")  # editors complete and check files with them
EXAMPLE_PATH = PurePosixPath("detections/execution/powershell-with-an-encoded-command.yml")


@dataclass(frozen=True)
class ScaffoldFile:
    """One file `dac init` writes: its path relative to the new repository, and its text."""

    path: PurePosixPath
    text: str


PYPI_NAME_NOTE = "the name dac on PyPI belongs to an unrelated project"


def default_install_spec() -> str | None:
    """Where this dac was installed from, as a requirement another machine can install; None if unknown.

    Read from the installation's PEP 610 record (direct_url.json): a git checkout or an archive URL.
    Never `dac==<version>`: the name dac on PyPI belongs to an unrelated project, and a workflow that
    installed it would run someone else's code with the deploy job's credentials.
    """
    try:
        raw = importlib.metadata.distribution("dac").read_text("direct_url.json")
        record = json.loads(raw) if raw else {}
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return None
    return install_spec_from(record) if isinstance(record, dict) else None


def install_spec_from(record: dict[str, Any]) -> str | None:
    """The requirement for a PEP 610 direct-URL record, when it names something other machines reach."""
    url = record.get("url")
    if not isinstance(url, str) or url.startswith("file:"):
        return None  # a local folder or file: nothing another machine can reach
    vcs = record.get("vcs_info")
    if isinstance(vcs, dict) and vcs.get("vcs") and vcs.get("commit_id"):
        return f"dac @ {vcs['vcs']}+{url}@{vcs['commit_id']}"
    if isinstance(record.get("archive_info"), dict):
        return f"dac @ {url}"
    return None


def install_command(spec: str) -> str:
    """The workflow's install line for a pip requirement SPEC, quoted for the shell."""
    if not spec.strip() or "\n" in spec or "\r" in spec:
        raise ValueError(f"not a pip requirement: {spec!r}")
    return f"pip install {shlex.quote(spec.strip())}"


def workflow_template(name: str) -> str:
    return resources.files("dac").joinpath("templates", "workflows", name).read_text(encoding="utf-8")


def render_workflow(template: str, install: str) -> str:
    """The template with its install placeholder replaced by the shell command `install`."""
    if INSTALL_PLACEHOLDER not in template:
        raise ValueError(f"the workflow template has no {INSTALL_PLACEHOLDER} line")
    if "\n" in install:
        raise ValueError("the install command must be one line")
    return template.replace(INSTALL_PLACEHOLDER, install)


def workflows(install: str) -> dict[str, str]:
    """Every workflow by file name, rendered with the shell command `install`."""
    return {name: render_workflow(workflow_template(name), install) for name in WORKFLOW_NAMES}


def scaffold(root: Path, install_spec: str, author: str, today: dt.date | None = None) -> list[ScaffoldFile]:
    """The files of a new repository at `root`, whose workflows and hook install `install_spec`."""
    files = [
        ScaffoldFile(PurePosixPath(CONFIG_NAME), CONFIG_TEXT),
        *(ScaffoldFile(SCHEMAS / name, _packaged_schema(name)) for name in SCHEMA_NAMES),
        ScaffoldFile(EXAMPLE_PATH, example_detection(author, today)),
    ]
    install = install_command(install_spec)
    for name, text in workflows(install).items():
        files.append(ScaffoldFile(PurePosixPath(".github/workflows") / name, text))
    files += [
        ScaffoldFile(PurePosixPath(".pre-commit-config.yaml"), precommit_config(install_spec)),
        ScaffoldFile(PurePosixPath("README.md"), README_TEXT.replace(INSTALL_PLACEHOLDER, install)),
        ScaffoldFile(PurePosixPath(".gitignore"), GITIGNORE_TEXT),
    ]
    return files


def existing_files(root: Path, files: Sequence[ScaffoldFile]) -> list[Path]:
    """The files of the scaffold that are already there (init will not overwrite them by default)."""
    return [root / file.path for file in files if (root / file.path).exists()]


def write(root: Path, files: Sequence[ScaffoldFile]) -> list[Path]:
    written = []
    for file in files:
        target = root / file.path
        target.parent.mkdir(parents=True, exist_ok=True)
        write_text(target, file.text, encoding="utf-8", newline="\n")
        written.append(target)
    return written


def _packaged_schema(name: str) -> str:
    return resources.files("dac").joinpath("data", name).read_text(encoding="utf-8")


def schema_reference(folder: PurePosixPath) -> str:
    """The `$schema` path of a detection in `folder` (relative to the repository): the schemas/ copy.

    A copy in the repository, not the package's file, so the path is the same on every machine
    (an absolute path into a virtual environment would be wrong everywhere else, and DAC312 says so).
    """
    return Path(os.path.relpath(SCHEMAS / "detection.schema.json", folder)).as_posix()


def example_detection(author: str, today: dt.date | None = None) -> str:
    """A complete `kind: detection` file whose query and tests pass `dac check`."""
    day = (today or dt.date.today()).isoformat()
    data = new_detection("PowerShell started with an encoded command", "detection", author, today)
    data.update(
        description=(
            "PowerShell started with -EncodedCommand (or -enc, -e) and a Base64 argument. Attackers\n"
            "encode commands to hide them from command-line logging and simple string matching.\n"
            "Some management tools do the same: exclude them by parent process or account.\n"
        ),
        severity="medium",
        tags=["powershell", "example"],
        references=["https://attack.mitre.org/techniques/T1059/001/"],
        mitre={"tactics": ["execution", "defense-evasion"], "techniques": ["T1059.001", "T1027"]},
        query={"dialect": "defender", "text": EXAMPLE_QUERY},
    )
    data["alert"] = {
        "title": "Encoded PowerShell command on {{DeviceName}}",
        "description": "{{FileName}} ran an encoded command, started by {{InitiatingProcessFileName}}.",
        "recommended_actions": "Decode the Base64 argument (UTF-16LE) and check what it ran and who started it.",
        "entities": [{"type": "host", "column": "DeviceName"}, {"type": "account", "column": "AccountName"}],
        "custom_details": {"CommandLine": "ProcessCommandLine"},
    }
    data["tests"] = _example_tests(day)
    return dump_detection(data, schema_reference(EXAMPLE_PATH.parent))


EXAMPLE_QUERY = """\
DeviceProcessEvents
| where Timestamp > ago(1h)
| where FileName in~ ("powershell.exe", "pwsh.exe")
| where ProcessCommandLine matches regex @"(?i)\\s-e(nc(odedcommand)?)?\\s+[A-Za-z0-9+/=]{16,}"
| project Timestamp, ReportId, DeviceId, DeviceName, AccountName, FileName, ProcessCommandLine,
    InitiatingProcessFileName
"""


def _example_tests(day: str) -> list[dict[str, Any]]:
    def row(report_id: int, command_line: str) -> dict[str, Any]:
        return {
            "Timestamp": f"{day}T11:30:00Z",
            "ReportId": report_id,
            "DeviceId": "dev-1",
            "DeviceName": "ws1",
            "AccountName": "alice",
            "FileName": "powershell.exe",
            "ProcessCommandLine": command_line,
            "InitiatingProcessFileName": "cmd.exe",
        }

    encoded = "powershell.exe -NoProfile -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAKQA="
    return [
        {
            "name": "an encoded command is reported",
            "now": f"{day}T12:00:00Z",
            "tables": {"DeviceProcessEvents": [row(1, encoded)]},
            "expect": {"count": 1, "rows": [{"DeviceName": "ws1", "AccountName": "alice"}]},
        },
        {
            "name": "a script started by path stays quiet",
            "now": f"{day}T12:00:00Z",
            "tables": {"DeviceProcessEvents": [row(2, "powershell.exe -NoProfile -File C:\\scripts\\backup.ps1")]},
            "expect": {"count": 0},
        },
    ]


def precommit_config(install_spec: str) -> str:
    """A local pre-commit hook running the same dac the workflows install (pre-commit makes its venv)."""
    hook_lines = [
        f"      - id: {HOOK['id']}",
        f"        name: {HOOK['name']}",
        f"        entry: {HOOK['entry']}",
        f"        language: {HOOK['language']}",
        f"        additional_dependencies: [{json.dumps(install_spec.strip())}]",
        f"        types: [{', '.join(HOOK['types'])}]",
        f"        files: {json.dumps(HOOK['files'])}",
        f"        pass_filenames: {str(HOOK['pass_filenames']).lower()}",
    ]
    return PRECOMMIT_HEAD + "\n".join(hook_lines) + "\n"


PRECOMMIT_HEAD = """\
# pre-commit (https://pre-commit.com): after `pip install pre-commit && pre-commit install`, every
# commit runs `dac validate` on the detection files it changes. The hook installs the same dac as
# the workflows. If your team keeps dac in a git repository, its .pre-commit-hooks.yaml offers the
# same hook:  - repo: <dac's git URL>  rev: <tag>  hooks: [{id: dac-validate}]
repos:
  - repo: local
    hooks:
"""

CONFIG_TEXT = """\
# yaml-language-server: $schema=schemas/config.schema.json
# dac project configuration. Paths are relative to this file.
# Reference: configuration.md and deployment.md in dac's documentation.
detections: detections

# Your own table schemas (custom logs, watchlists): one JSON file per table.
# tables: tables

# Deployment targets for `dac plan`, `dac deploy` and the deploy workflow. Each target name is
# also a GitHub environment holding the variables AZURE_CLIENT_ID and AZURE_TENANT_ID (see ci.md).
# Only detections whose status is listed under select.status are deployed (default: stable, deprecated).
# targets:
#   - name: contoso-xdr
#     platform: defender
#     tenant_id: 00000000-0000-0000-0000-000000000000
#     select: {status: [stable, deprecated]}
#   - name: contoso-sentinel
#     platform: sentinel
#     tenant_id: 00000000-0000-0000-0000-000000000000
#     subscription_id: 00000000-0000-0000-0000-000000000000
#     resource_group: rg-security
#     workspace: law-security
#     select: {status: [stable, deprecated]}
"""

README_TEXT = """\
# Detections

KQL detections for Microsoft Defender XDR and Microsoft Sentinel, kept as code with dac
(detection-as-code): one YAML file per detection under `detections/`, with its metadata, its
ATT&CK mapping and its tests.

## Working on a detection

```sh
__DAC_INSTALL__
dac new "Name of the detection" --dir detections/<area>
dac check    # validate, render for Defender and Sentinel, run every test
```

`dac check` runs each detection's tests on a local KQL engine: no tenant is needed.
`pre-commit install` adds a commit hook that validates the detection files you change.

## Pull requests and deployment

- `.github/workflows/pull-request.yml` validates and tests every pull request and comments a
  report on it.
- `.github/workflows/deploy.yml` deploys on every push to `main`, one job per target in
  `dac.yml`, each in the GitHub environment of the same name. Detections deploy once their
  `status` is `stable`.
- `.github/workflows/backtest.yml` (run by hand) runs each detection of a target once on the
  tenant's own data and shows its alerts per day in the job summary: `dac backtest`.

Set-up of the targets, environments and Entra ID federated credentials: dac's `ci.md`.
"""

GITIGNORE_TEXT = """\
# dac outputs
.dac/
build/
site/
dac.sarif
dac-junit.xml
dac-report.md
# Python
.venv/
__pycache__/
"""
