"""ATT&CK checks: known tactics and techniques, current ones, and techniques inside the tactics."""

from __future__ import annotations

from ..diagnostics import Diagnostic, error, warning
from ..model.attack import AttackCatalog, load_catalog
from ..model.detection import Detection


def check(detection: Detection, catalog: AttackCatalog | None = None) -> list[Diagnostic]:
    catalog = catalog or load_catalog()
    mitre = detection.mitre
    tactics = mitre.get("tactics") or []
    techniques = mitre.get("techniques") or []
    diagnostics: list[Diagnostic] = []
    path = detection.display

    for index, name in enumerate(tactics):
        if name in catalog.tactics:
            continue
        notes = []
        alias = catalog.tactic_lookup(name)
        if alias:
            notes.append(f"did you mean '{alias.shortname}'?")
        notes.append("known tactics: " + ", ".join(catalog.tactics))
        diagnostics.append(
            error(
                path,
                detection.position(("mitre", "tactics", index)),
                "DAC401",
                f"unknown ATT&CK tactic '{name}'",
                *notes,
            )
        )

    listed = set(tactics)
    for index, technique_id in enumerate(techniques):
        position = detection.position(("mitre", "techniques", index))
        technique = catalog.techniques.get(technique_id)
        if technique is None:
            parent = catalog.techniques.get(technique_id.split(".")[0])
            hint = [f"{parent.id} is '{parent.name}'; check the sub-technique number"] if parent else []
            diagnostics.append(
                error(
                    path,
                    position,
                    "DAC402",
                    f"unknown ATT&CK technique '{technique_id}' (ATT&CK Enterprise v{catalog.version})",
                    *hint,
                )
            )
            continue
        current = technique
        if technique.status != "active":
            if technique.replacement:
                current = catalog.techniques[technique.replacement]
                advice = f"use {current.id} '{current.name}' instead"
            else:
                advice = f"ATT&CK names no same-named successor; see {technique.url}"
            diagnostics.append(
                warning(
                    path,
                    position,
                    "DAC403",
                    f"ATT&CK technique {technique.id} '{technique.name}' is {technique.status}: {advice}",
                )
            )
            if current is technique:
                continue
        if listed and not listed.intersection(current.tactics):
            diagnostics.append(
                error(
                    path,
                    position,
                    "DAC404",
                    f"technique {technique_id} '{technique.name}' belongs to "
                    f"{', '.join(current.tactics)}, none of which is in mitre.tactics",
                    "add its tactic to mitre.tactics, or correct the technique id",
                )
            )
        elif not listed:
            diagnostics.append(
                error(
                    path,
                    position,
                    "DAC404",
                    f"technique {technique_id} '{technique.name}' is listed but mitre.tactics is empty",
                    f"add its tactic: {', '.join(current.tactics)}",
                )
            )
    return diagnostics
