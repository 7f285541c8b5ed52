"""SARIF 2.1.0: one log with one run, for GitHub code scanning and other SARIF viewers.

Paths are relative to the source root (`%SRCROOT%`: the git repository holding the project, else
the project folder), so the log means the same on any machine. Each result carries a fingerprint
made of its code, file and message (not its line), so code scanning follows an alert across pushes
that move it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .. import __version__
from ..diagnostics import Diagnostic

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SOURCE_ROOT = "%SRCROOT%"
FINGERPRINT_KEY = "dacDiagnostic/v1"
ROOT_DESCRIPTION = "The root of the git repository that holds the dac project (else the project folder)."


def source_root(project_root: Path) -> Path:
    """The nearest folder at or above the project that holds `.git`, else the project folder."""
    here = project_root.resolve()
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return folder
    return here


def project_urls() -> tuple[str | None, str | None]:
    """(home page, documentation folder) from the installed package's metadata, when it names them."""
    try:
        entries = metadata.metadata("dac").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        return None, None
    urls = {}
    for entry in entries:
        label, _, url = entry.partition(",")
        urls[label.strip().casefold()] = url.strip()
    return urls.get("homepage") or urls.get("repository"), urls.get("documentation")


# A rule's description is the area of its code band (as in docs/diagnostics.md, which is not shipped
# with the package): code scanning shows it above every alert of the rule, so it must fit them all.
AREAS = (
    ("DAC109", "Multi-line query folded into one line by YAML"),
    ("DAC120", "Invalid dac.yml"),
    ("DAC130", "Query parameter cannot be filled in"),
    ("DAC131", "Parameter name the detection does not declare"),
    ("DAC150", "File outside the project"),
    ("DAC1", "Unreadable file or invalid YAML"),
    ("DAC2", "Detection schema violation"),
    ("DAC3", "Id, date, version or editor line problem"),
    ("DAC4", "ATT&CK mapping problem"),
    ("DAC5", "Import problem"),
    ("DAC6", "Platform rule violation"),
    ("DAC7", "Detection test problem or failure"),
    ("EMU008", "Test query ran past its time limit"),
    ("EMU009", "Test query ran past its memory limit"),
    ("EMU010", "Test query returned more rows than the limit"),
    ("EMU", "The emulator cannot run a test query"),
    ("KQL0", "KQL syntax error"),
    ("KQL2", "Unknown KQL table, column or function, or a type error"),
    ("KQL3", "KQL warning"),
    ("KQL", "KQL problem"),
)


def rule_area(code: str) -> str:
    return next((area for prefix, area in AREAS if code.startswith(prefix)), "dac finding")


def help_page(code: str) -> str:
    """The page and anchor of the docs folder that explains `code`."""
    if code.startswith("KQL"):
        return "kql.md#diagnostic-codes"
    if code.startswith("EMU"):
        return "testing.md#codes"
    if code.startswith("DAC6"):
        return "diagnostics.md#platform-rules-dac6xx"
    if code.startswith("DAC7"):
        return f"testing.md#{code.lower()}"
    return f"diagnostics.md#{code.lower()}"


def artifact_uri(display_path: str, root: Path, cwd: Path) -> tuple[str, bool]:
    """(uri, relative to the source root?) for a diagnostic's display path."""
    absolute = Path(os.path.abspath(cwd / display_path))
    try:
        relative = absolute.relative_to(root)
    except ValueError:  # a file outside the repository: an absolute file URI
        return absolute.as_uri(), False
    return quote(relative.as_posix(), safe="/"), True


def _message(diagnostic: Diagnostic) -> str:
    # Code scanning rejects an empty message.
    return "\n".join([diagnostic.message, *diagnostic.notes]).strip() or diagnostic.code


def _rules(diagnostics: list[Diagnostic], documentation: str | None) -> list[dict[str, Any]]:
    first: dict[str, Diagnostic] = {}
    for diagnostic in diagnostics:
        first.setdefault(diagnostic.code, diagnostic)
    rules = []
    for code in sorted(first):
        rule: dict[str, Any] = {
            "id": code,
            "shortDescription": {"text": f"{rule_area(code)} ({code})"},
            "defaultConfiguration": {"level": str(first[code].severity)},
        }
        if documentation:
            rule["helpUri"] = documentation.rstrip("/") + "/" + help_page(code)
        else:
            rule["help"] = {"text": f"See docs/{help_page(code)} in the dac documentation."}
        rules.append(rule)
    return rules


def _result(diagnostic: Diagnostic, rule_index: int, root: Path, cwd: Path, occurrence: int) -> dict[str, Any]:
    uri, under_root = artifact_uri(diagnostic.path, root, cwd)
    location: dict[str, Any] = {"uri": uri}
    if under_root:
        location["uriBaseId"] = SOURCE_ROOT
    message = _message(diagnostic)
    # `occurrence` tells apart identical findings in one file, which would otherwise share an alert.
    key = "\x1f".join([diagnostic.code, uri, diagnostic.message, str(occurrence)])
    return {
        "ruleId": diagnostic.code,
        "ruleIndex": rule_index,
        "level": str(diagnostic.severity),
        "message": {"text": message},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": location,
                    "region": {"startLine": max(diagnostic.line, 1), "startColumn": max(diagnostic.column, 1)},
                }
            }
        ],
        "partialFingerprints": {FINGERPRINT_KEY: hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]},
    }


def log(
    diagnostics: Iterable[Diagnostic],
    root: Path,
    *,
    cwd: Path | None = None,
    information_uri: str | None = None,
    documentation: str | None = None,
) -> dict[str, Any]:
    """The SARIF log as a dictionary. `root` is the source root; display paths are relative to `cwd`."""
    # A test failing the same way in both dialects gives the same diagnostic twice: one alert is enough.
    findings = list(dict.fromkeys(diagnostics))
    cwd = cwd or Path.cwd()
    root = root.resolve()
    rules = _rules(findings, documentation)
    index = {rule["id"]: position for position, rule in enumerate(rules)}
    seen: dict[tuple[str, str, str], int] = {}
    results = []
    for diagnostic in findings:
        identity = (diagnostic.code, diagnostic.path, diagnostic.message)
        seen[identity] = seen.get(identity, 0) + 1
        results.append(_result(diagnostic, index[diagnostic.code], root, cwd, seen[identity]))
    driver: dict[str, Any] = {"name": "dac", "version": __version__, "semanticVersion": __version__, "rules": rules}
    if information_uri:
        driver["informationUri"] = information_uri
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": driver},
                # No absolute path: the log stays the same on every machine; viewers supply the checkout.
                "originalUriBaseIds": {SOURCE_ROOT: {"description": {"text": ROOT_DESCRIPTION}}},
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }


def render(diagnostics: Iterable[Diagnostic], project_root: Path) -> str:
    """The SARIF log of `diagnostics` as JSON text, paths relative to the project's source root."""
    home, documentation = project_urls()
    document = log(diagnostics, source_root(project_root), information_uri=home, documentation=documentation)
    return json.dumps(document, indent=2, ensure_ascii=False)
