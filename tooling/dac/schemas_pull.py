"""`dac schemas pull`: a tenant's own tables and functions written into the project's `tables:` folder.

Each table or function becomes one file in the folder's format (model/tables.py):
`{"generated", "name", "dialect", "kind"?, "columns": [{"name", "type"}]}`, at
`<tables>/<dialect>/<Name>.json` (functions under `<tables>/<dialect>/functions/`). The `generated`
key marks a file as this command's: such files are rewritten by later pulls; any other file that
declares the same name is hand-written and kept unless `force` (then it is overwritten in place, so the
name stays declared once). Output is deterministic: the same tenant gives the same bytes (no
timestamps, columns in the service's order, files sorted).

By default only tables that add to what dac ships are written (a table dac does not ship, or one whose
columns differ from the shipped schema); `everything` writes every table. A name that is not a plain
identifier (letters, digits, `_`, `-`) never becomes a path.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .confine import OutsideProject, refuse_outside
from .deploy.auth import credential_for, scope_for
from .deploy.http import ApiSession, TokenCredential
from .diagnostics import InputError
from .model.project import Project, Target
from .model.tables import shipped_tables
from .schemas_sources import (
    Inventory,
    NotPulled,
    PulledSchema,
    defender_inventory_by_query,
    defender_inventory_from,
    hunting_schema,
    sentinel_inventory,
    workspace_path,
)
from .tenant.connect import query_client_for

GENERATOR = "dac schemas pull"
MAX_NAME_LENGTH = 200
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")
# Names Windows reserves for devices whatever the extension (a checkout there could not hold the file).
_RESERVED = frozenset({"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))})

# What became of a table or function: written (new file), updated (file rewritten), unchanged (same bytes),
# kept (a hand-written file left alone), shipped (same as dac's own schema, not written), skipped (the
# tenant's schema could not be read), failed (not written: an unsafe name, a clash), stale / removed (a
# generated file of this target the tenant no longer reports).
WRITTEN, UPDATED, UNCHANGED, KEPT, SHIPPED, SKIPPED, FAILED, STALE, REMOVED = (
    "written", "updated", "unchanged", "kept", "shipped", "skipped", "failed", "stale", "removed",
)  # fmt: skip


@dataclass
class Outcome:
    """What happened to one table or function."""

    name: str
    kind: str
    action: str  # one of the constants above
    path: Path | None = None
    reason: str = ""


@dataclass
class PullReport:
    target: str
    dialect: str
    folder: Path
    outcomes: list[Outcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.action == action)

    @property
    def failed(self) -> bool:
        return any(outcome.action == FAILED for outcome in self.outcomes)


@dataclass
class _Existing:
    path: Path
    name: str | None
    dialect: str | None
    generated: dict[str, Any] | None  # the marker, when the file is this command's
    kind: str = "table"


def safe_name_problem(name: str) -> str | None:
    """Why `name` cannot be a file name in the tables folder, or None."""
    if len(name) > MAX_NAME_LENGTH:
        return f"the name is longer than {MAX_NAME_LENGTH} characters"
    if not _SAFE_NAME.match(name):
        return "the name holds characters other than letters, digits, '_' and '-'"
    if name.lower() in _RESERVED:
        return "the name is reserved for a device on Windows"
    return None


def is_generated(data: Any) -> bool:
    return (
        isinstance(data, dict) and isinstance(data.get("generated"), dict) and data["generated"].get("by") == GENERATOR
    )


def _scan(folder: Path) -> list[_Existing]:
    """Every *.json file of the folder, with the name it declares and whether it is generated."""
    found = []
    for file in sorted(folder.rglob("*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = None  # unreadable: hand-written as far as this command knows
        if not isinstance(data, dict):
            found.append(_Existing(file, None, None, None))
            continue
        name = data.get("name") if isinstance(data.get("name"), str) else None
        dialect = data.get("dialect") if isinstance(data.get("dialect"), str) else None
        kind = "function" if data.get("kind") == "function" else "table"
        found.append(_Existing(file, name, dialect, data["generated"] if is_generated(data) else None, kind))
    return found


def render(schema: PulledSchema, dialect: str, target: str) -> str:
    """A schema's file text: fixed key order, two-space indent, a final newline."""
    data: dict[str, Any] = {
        "generated": {
            "by": GENERATOR,
            "target": target,
            "source": schema.source,
            "note": "rewritten by every pull; delete this key to keep your own edits (pull then leaves the file alone)",
        },
        "name": schema.name,
        "dialect": dialect,
    }
    if schema.kind == "function":
        data["kind"] = "function"
    data["columns"] = [{"name": name, "type": type_} for name, type_ in schema.columns]
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _write(path: Path, text: str) -> None:
    """Write through a temporary file in the same folder, so a failed write leaves the old file whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".dac-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _same_as_shipped(schema: PulledSchema, dialect: str) -> bool:
    shipped = shipped_tables(dialect).get(schema.name)
    return shipped is not None and shipped == dict(schema.columns)


def write_inventory(
    inventory: Inventory,
    folder: Path,
    root: Path,
    target: str,
    *,
    force: bool = False,
    everything: bool = False,
    prune: bool = False,
) -> PullReport:
    """Write the inventory's schemas into `folder` (inside `root`); the report says what became of each."""
    dialect = inventory.dialect
    report = PullReport(target, dialect, folder, notes=list(inventory.notes))
    existing = _scan(folder)
    taken: dict[str, str] = {}  # case-folded relative path -> the name that took it (case-blind file systems)
    reported: set[tuple[str, str]] = set()
    for schema in sorted(inventory.schemas, key=lambda s: (s.kind != "table", s.name)):
        reported.add((schema.kind, schema.name))
        report.outcomes.append(_place(schema, dialect, folder, root, target, existing, taken, force, everything))
    report.outcomes += [
        _not_pulled(item) for item in sorted(inventory.not_pulled, key=lambda n: (n.kind != "table", n.name))
    ]
    for entry in existing:  # this target's generated files the tenant no longer reports
        marker = entry.generated
        if marker is None or marker.get("target") != target or entry.dialect != dialect or entry.name is None:
            continue
        kind = entry.kind
        if (kind, entry.name) in reported or any(o.path == entry.path for o in report.outcomes):
            continue
        if prune:
            entry.path.unlink(missing_ok=True)
            report.outcomes.append(Outcome(entry.name, kind, REMOVED, entry.path, "no longer in the tenant"))
        else:
            report.outcomes.append(
                Outcome(entry.name, kind, STALE, entry.path, "no longer in the tenant (--prune removes it)")
            )
    return report


def _not_pulled(item: NotPulled) -> Outcome:
    return Outcome(item.name, item.kind, SKIPPED, reason=item.reason)


def _place(
    schema: PulledSchema,
    dialect: str,
    folder: Path,
    root: Path,
    target: str,
    existing: list[_Existing],
    taken: dict[str, str],
    force: bool,
    everything: bool,
) -> Outcome:
    """Decide where one schema goes and write it (or say why not)."""
    problem = safe_name_problem(schema.name)
    if problem:
        return Outcome(schema.name, schema.kind, FAILED, reason=f"not written: {problem}")
    # A file that already declares this name (for this dialect or both) is where it goes: one declaration.
    declared = [e for e in existing if e.name == schema.name and e.dialect in (dialect, None)]
    declared = [e for e in declared if e.kind == schema.kind] or declared
    own = next((e for e in declared if e.generated is not None), None)
    hand = next((e for e in declared if e.generated is None), None)
    if hand is not None and not force:
        reason = "hand-written (--force overwrites it)"
        if own is not None:  # the user's file declares the name now: ours would declare it twice
            own.path.unlink(missing_ok=True)
            reason += f"; the generated {own.path.name} it replaces was removed"
        return Outcome(schema.name, schema.kind, KEPT, hand.path, reason)
    if own is None and hand is None and schema.kind == "table" and not everything and _same_as_shipped(schema, dialect):
        return Outcome(
            schema.name, schema.kind, SHIPPED, reason="same columns as the schema dac ships (--all writes it)"
        )
    subfolder = folder / dialect / ("functions" if schema.kind == "function" else "")
    path = (hand or own).path if (hand or own) else subfolder / f"{schema.name}.json"
    key = path.relative_to(folder).as_posix().casefold() if path.is_relative_to(folder) else str(path).casefold()
    if key in taken:
        return Outcome(
            schema.name, schema.kind, FAILED, reason=f"not written: its file name clashes with {taken[key]}'s"
        )
    taken[key] = schema.name
    try:
        refuse_outside(root, path, "table schema file")
        refuse_outside(folder, path, "table schema file")
    except OutsideProject as exc:
        return Outcome(schema.name, schema.kind, FAILED, reason=f"not written: {exc}")
    text = render(schema, dialect, target)
    if hand is not None and own is not None:  # forced into the hand-written file: ours would declare it twice
        own.path.unlink(missing_ok=True)
    if path.is_file():
        try:
            if path.read_text(encoding="utf-8") == text:
                return Outcome(schema.name, schema.kind, UNCHANGED, path)
        except (OSError, UnicodeDecodeError):
            pass
        _write(path, text)
        return Outcome(schema.name, schema.kind, UPDATED, path, "hand-written, overwritten (--force)" if hand else "")
    _write(path, text)
    return Outcome(schema.name, schema.kind, WRITTEN, path)


class NoTablesFolder(InputError):
    """dac.yml names no `tables:` folder to pull into (a usage error)."""


def pull_schemas(
    project: Project,
    target: Target,
    *,
    credential: TokenCredential | None = None,
    force: bool = False,
    everything: bool = False,
    prune: bool = False,
    **session_options: Any,
) -> PullReport:
    """Read the target's tables and functions and write them into the project's tables folder.
    Raises NoTablesFolder, SchemaSourceError (the tenant did not answer) or MissingExtra."""
    folder = project.tables_dir
    if folder is None:
        raise NoTablesFolder(
            "dac.yml names no `tables:` folder to pull into; add one (for example `tables: tables`) and run again"
        )
    credential = credential or credential_for(target.tenant_id, target.client_id)
    session = ApiSession(target.base_url, credential, scope_for(target.base_url), user_agent="dac-schemas",
                         **session_options)  # fmt: skip
    try:
        if target.platform == "sentinel":
            assert target.subscription_id and target.resource_group and target.workspace  # required by the schema
            workspace = workspace_path(target.subscription_id, target.resource_group, target.workspace)
            inventory = sentinel_inventory(session, workspace, lambda: query_client_for(target, credential))
        else:
            answer = hunting_schema(session)
            if answer is not None:
                inventory = defender_inventory_from(answer)
            else:
                known = [*shipped_tables("defender"), *_declared_names(folder, "defender")]
                client = query_client_for(target, credential, **session_options)
                try:
                    inventory = defender_inventory_by_query(client, known)
                finally:
                    client.close()
    finally:
        session.close()
    return write_inventory(inventory, folder, project.root, target.name, force=force, everything=everything,
                           prune=prune)  # fmt: skip


def _declared_names(folder: Path, dialect: str) -> list[str]:
    return [e.name for e in _scan(folder) if e.name and e.kind == "table" and e.dialect in (dialect, None)]
