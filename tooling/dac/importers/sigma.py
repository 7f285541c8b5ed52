"""Sigma rules -> detection data, through pySigma and its Kusto backend (the optional `sigma` extra).

pySigma reads the rules; `pysigma-backend-kusto` turns their detection logic into KQL with one of its
processing pipelines: `microsoft_xdr_pipeline` (Defender XDR advanced hunting tables) for the Defender
dialect, `azure_monitor` (Log Analytics tables such as SecurityEvent) for Sentinel. The backend's other
Sentinel pipeline, `sentinel_asim`, writes queries on ASIM parser functions (`imProcessCreate`, ...) that
dac's table schemas do not describe, so dac does not use it.

Everything else of a detection comes from the rule's metadata (docs/sigma.md lists the mapping).
A converted rule is a hunting query (`kind: hunting`): a Sigma rule says what to match, not how often to
run or what alert to raise. Each detection is validated as `dac validate` would before it is written;
a rule whose conversion dac would reject is skipped with the findings as the reason, never written.

pySigma is imported inside the functions here, never at module level, so `dac --help` stays fast and
dac works without the extra.
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..model.attack import AttackCatalog, load_catalog

DIALECTS = ("defender", "sentinel")
# dialect -> (module of pysigma-backend-kusto, pipeline factory in it, the name pySigma's plugins list it by)
PIPELINES = {
    "defender": ("sigma.pipelines.microsoftxdr", "microsoft_xdr_pipeline", "microsoft_xdr_pipeline"),
    "sentinel": ("sigma.pipelines.azuremonitor", "azure_monitor_pipeline", "azure_monitor"),
}
INSTALL_HINT = (
    "`dac import sigma` needs the optional Sigma support (pySigma and pysigma-backend-kusto): "
    "pip install 'dac[sigma]', or in a clone of dac: pip install -c constraints.txt -e '.[sigma]'"
)
# uuid5 namespace of the ids given to rules without a UUID: the same title always gives the same id.
SIGMA_NAMESPACE = uuid.UUID("8f0d6c1e-4b7a-5e2d-9c3f-1a6b2d4e8f70")
SIGMA_SUFFIXES = (".yml", ".yaml")

STATUS = {"stable": "stable", "test": "test", "experimental": "experimental", "deprecated": "deprecated"}
SEVERITY = {"informational": "informational", "low": "low", "medium": "medium", "high": "high", "critical": "high"}
TECHNIQUE_TAG = re.compile(r"t(\d{4})(?:\.(\d{3}))?", re.IGNORECASE)
AUTHOR_SEPARATOR = re.compile(r"\s*(?:,|;|&|\band\b|\n)\s*", re.IGNORECASE)
REFERENCE = re.compile(r"^https?://\S+$")
_ORIGINAL_ID = "x-dac-sigma-id"  # where a non-UUID id is kept while pySigma reads the rule


class SigmaUnavailable(Exception):
    """pySigma or its Kusto backend is not installed."""

    def __init__(self) -> None:
        super().__init__(INSTALL_HINT)


@dataclass
class SigmaImport:
    """One Sigma rule: its detection data, or why it was skipped; notes on choices made for it."""

    source: Path
    title: str
    data: dict[str, Any] | None = None
    skipped: str | None = None
    notes: list[str] = field(default_factory=list)


def require_sigma() -> None:
    """Raises SigmaUnavailable when the optional extra is missing."""
    import importlib

    try:
        for module in ("sigma.collection", "sigma.backends.kusto", *(m for m, _, _ in PIPELINES.values())):
            importlib.import_module(module)
    except ImportError:
        raise SigmaUnavailable from None


def sigma_files(paths: Iterable[Path]) -> list[Path]:
    """Files as given; folders searched recursively for *.yml/*.yaml (names starting with '.' skipped)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(
                    file
                    for file in path.rglob("*")
                    if file.suffix.lower() in SIGMA_SUFFIXES
                    and file.is_file()
                    and not any(part.startswith(".") for part in file.relative_to(path).parts)
                )
            )
        else:
            found.append(path)
    unique: dict[Path, None] = {}
    for file in found:
        unique.setdefault(file, None)
    return list(unique)


def import_sigma(
    paths: Sequence[Path], dialect: str = "defender", today: dt.date | None = None, project: Any = None
) -> list[SigmaImport]:
    """Every rule in the files under `paths`, converted to detection data and validated, in file order.

    `project` (a dac Project) decides the table schemas and the ids already in use; by default the
    project around the current folder."""
    require_sigma()
    from ..model.project import find_project

    project = project or find_project()
    today = today or dt.date.today()
    catalog = load_catalog()
    results: list[SigmaImport] = []
    ids: dict[str, Path] = {}
    for file in sigma_files(paths):
        for result in _convert_file(file, dialect, today, catalog):
            if result.data is not None:
                problems = _validation_errors(result.data, project)
                earlier = ids.get(result.data["id"])
                if earlier is not None:
                    problems.insert(0, f"id {result.data['id']} is also the id of a rule imported from {earlier}")
                if problems:
                    result.data, result.skipped = None, "dac validate rejects the conversion: " + "; ".join(problems)
                else:
                    ids[result.data["id"]] = file
            results.append(result)
    return results


# ------------------------------------------------------------------------------------- reading rules


def _convert_file(file: Path, dialect: str, today: dt.date, catalog: AttackCatalog) -> list[SigmaImport]:
    from sigma.collection import SigmaCollection
    from sigma.rule import SigmaRule

    try:
        text = file.read_bytes().decode("utf-8-sig")
        documents = list(yaml.safe_load_all(text))
    except UnicodeDecodeError:
        return [SigmaImport(file, file.name, skipped="not valid UTF-8")]
    except yaml.YAMLError as exc:
        return [SigmaImport(file, file.name, skipped=f"not valid YAML: {_one_line(exc)}")]
    documents = [d for d in documents if d is not None]
    if not documents or not all(isinstance(d, dict) for d in documents):
        return [SigmaImport(file, file.name, skipped="not a Sigma rule (each YAML document must be a mapping)")]
    for document in documents:
        if "id" in document and not _is_uuid(document["id"]):
            document[_ORIGINAL_ID] = str(document.pop("id"))
    try:
        collection = SigmaCollection.from_dicts(documents, collect_errors=True, resolve_references=False)
    except Exception as exc:  # pySigma refuses the file as a whole
        return [SigmaImport(file, file.name, skipped=_one_line(exc))]

    results = []
    for rule in collection.rules:
        title = str(getattr(rule, "title", "") or file.name)
        if not isinstance(rule, SigmaRule):
            kind = "correlation rules" if "Correlation" in type(rule).__name__ else type(rule).__name__
            results.append(SigmaImport(file, title, skipped=f"{kind} are not supported"))
            continue
        if rule.errors:
            results.append(SigmaImport(file, title, skipped=_one_line(rule.errors[0])))
            continue
        try:
            query = _kql(rule, dialect)
        except Exception as exc:  # unsupported logsource, modifier or field: the backend says which
            results.append(SigmaImport(file, title, skipped=f"cannot convert ({_logsource(rule)}): {_reason(exc)}"))
            continue
        result = SigmaImport(file, title)
        result.data = _detection(rule, query, dialect, today, catalog, result.notes)
        results.append(result)
    if not results and collection.errors:
        results.append(SigmaImport(file, file.name, skipped=_one_line(collection.errors[0])))
    elif not results:
        results.append(SigmaImport(file, file.name, skipped="holds no Sigma rule"))
    return results


def _kql(rule: Any, dialect: str) -> str:
    import importlib

    from sigma.backends.kusto import KustoBackend

    module, factory, _ = PIPELINES[dialect]
    pipeline = getattr(importlib.import_module(module), factory)()
    queries = KustoBackend(processing_pipeline=pipeline).convert_rule(rule)
    if len(queries) != 1 or not isinstance(queries[0], str) or not queries[0].strip():
        raise ValueError(f"the backend returned {len(queries)} queries, not one")
    return queries[0].strip() + "\n"


# ------------------------------------------------------------------------------------- the mapping


def _detection(
    rule: Any, query: str, dialect: str, today: dt.date, catalog: AttackCatalog, notes: list[str]
) -> dict[str, Any]:
    title = str(rule.title).strip()
    data: dict[str, Any] = {"id": _rule_id(rule, title, notes), "name": title[:256]}
    status = _status(rule, notes)
    severity = _severity(rule, notes)
    created, modified = _dates(rule, today, notes)
    techniques, tactics, tags = _attack(rule, catalog, notes)
    references = _references(rule, notes)
    data["description"] = _description(rule, title, notes)
    data["kind"] = "hunting"
    data["status"] = status
    if severity:
        data["severity"] = severity
    data["authors"] = _authors(rule)
    data["created"], data["modified"] = created, modified
    data["version"] = "1.0.0"
    if tags:
        data["tags"] = tags
    if references:
        data["references"] = references
    if tactics or techniques:
        data["mitre"] = {"tactics": tactics, "techniques": techniques}
    data["query"] = {"dialect": dialect, "text": query}
    other = next(d for d in DIALECTS if d != dialect)
    data["variants"] = {other: {"enabled": False}}
    return data


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _rule_id(rule: Any, title: str, notes: list[str]) -> str:
    if rule.id is not None:
        return str(rule.id).lower()
    original = (rule.custom_attributes or {}).get(_ORIGINAL_ID)
    generated = str(uuid.uuid5(SIGMA_NAMESPACE, title))
    if original is not None:
        notes.append(f"the Sigma id '{original}' is not a UUID; the id is derived from the title")
    else:
        notes.append("the Sigma rule has no id; the id is derived from the title")
    return generated


def _status(rule: Any, notes: list[str]) -> str:
    sigma_status = getattr(rule.status, "name", "").lower()
    if not sigma_status:
        return "experimental"
    if sigma_status in STATUS:
        return STATUS[sigma_status]
    # "unsupported": the rule cannot be used as it stands in Sigma (no converter may run it)
    notes.append(f"Sigma status '{sigma_status}' has no dac equivalent; imported as deprecated")
    return "deprecated"


def _severity(rule: Any, notes: list[str]) -> str | None:
    level = getattr(rule.level, "name", "").lower()
    if not level:
        return None
    if level == "critical":
        notes.append("Sigma level 'critical' is imported as severity high (dac's highest)")
    return SEVERITY.get(level)


def _date_text(value: Any) -> str | None:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d{4})[/-](\d{1,2})[/-](\d{1,2})\s*", value)
        if match:
            try:
                return dt.date(*(int(g) for g in match.groups())).isoformat()
            except ValueError:
                return None
    return None


def _dates(rule: Any, today: dt.date, notes: list[str]) -> tuple[str, str]:
    created = _date_text(rule.date)
    modified = _date_text(rule.modified)
    if created is None:
        created = modified or today.isoformat()
        notes.append(f"the Sigma rule has no date; created is {created}")
    if modified is None or modified < created:
        modified = created
    return created, modified


def _authors(rule: Any) -> list[str]:
    authors: list[str] = []
    for name in AUTHOR_SEPARATOR.split(str(rule.author or "")):
        name = name.strip(" .\t")
        if name and name not in authors:
            authors.append(name)
    return authors or ["unknown"]


def _references(rule: Any, notes: list[str]) -> list[str]:
    kept: list[str] = []
    for reference in rule.references or []:
        text = str(reference).strip()
        if not REFERENCE.match(text):
            notes.append(f"reference '{text}' is not an http(s) URL and is left out")
        elif text not in kept:
            kept.append(text)
    return kept


def _attack(rule: Any, catalog: AttackCatalog, notes: list[str]) -> tuple[list[str], list[str], list[str]]:
    """ATT&CK tags -> (techniques, tactics in ATT&CK's order); every other tag -> dac tags."""
    techniques: list[str] = []
    tactics: set[str] = set()
    tags: list[str] = []
    for tag in rule.tags or []:
        namespace, name = str(tag.namespace).lower(), str(tag.name)
        text = f"{tag.namespace}.{tag.name}"
        if namespace == "attack":
            if match := TECHNIQUE_TAG.fullmatch(name):
                technique_id = "T" + match.group(1) + (f".{match.group(2)}" if match.group(2) else "")
                technique = catalog.techniques.get(technique_id)
                if technique is None:
                    notes.append(f"tag '{text}': {technique_id} is not an ATT&CK Enterprise technique; left out")
                elif technique_id not in techniques:
                    techniques.append(technique_id)
                continue
            if tactic := catalog.tactic_lookup(name):
                tactics.add(tactic.shortname)
                continue
        if text not in tags:  # groups (attack.g0016), software, CAR, CVE, tlp, detection.* ... stay tags
            tags.append(text)
    # Each technique must belong to a listed tactic: add its tactic when the rule names none of them.
    for technique_id in techniques:
        technique = catalog.techniques[technique_id]
        current = catalog.techniques.get(technique.replacement or "", technique)
        if not tactics.intersection(current.tactics):
            tactics.update(current.tactics)
    ordered = [name for name in catalog.tactics if name in tactics]  # ATT&CK's kill-chain order
    return techniques, ordered, tags


def _description(rule: Any, title: str, notes: list[str]) -> str:
    text = str(rule.description or "").strip() or f"{title}."
    positives = [str(p).strip() for p in rule.falsepositives or [] if str(p).strip()]
    if positives:
        text += "\n\nFalse positives:\n" + "\n".join(f"- {p}" for p in positives)
    origin = f"Converted from the Sigma rule {rule.id}" if rule.id else "Converted from a Sigma rule"
    text += f"\n\n{origin} with pySigma's Kusto backend."
    if notes:
        text += "\n\nImport notes:\n" + "\n".join(f"- {n}" for n in notes)
    return text + "\n"


def _one_line(exc: BaseException | object) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _reason(exc: BaseException) -> str:
    """The backend's message without its long tail (lists of every field a table has, how-tos)."""
    text = _one_line(exc)
    for tail in (" Please use valid fields", " The query table is determined"):
        text = text.split(tail, 1)[0]
    return text if len(text) <= 300 else text[:297] + "..."


def _logsource(rule: Any) -> str:
    source = rule.logsource
    parts = [f"{key}: {value}" for key in ("category", "product", "service") if (value := getattr(source, key, None))]
    return "logsource " + (", ".join(parts) if parts else "empty")


# ------------------------------------------------------------------------------------- validation


def _validation_errors(data: dict[str, Any], project: Any) -> list[str]:
    """The errors `dac validate` would report for the file written from `data` (warnings are fine)."""
    from ..diagnostics import Severity
    from ..model.yamlwrite import dump_detection
    from ..validation import validate

    with tempfile.TemporaryDirectory(prefix="dac-sigma-") as folder:
        staged = Path(folder) / "detection.yml"
        staged.write_text(dump_detection(data), encoding="utf-8")
        report = validate([staged], project)
    return [f"{d.code} {d.message}" for d in report.diagnostics if d.severity is Severity.ERROR]
