"""KQL checks on each dialect variant of a detection, positioned in the YAML file.

The variants come from variants.py (rendered, bound and linted there); this module turns their
findings into Diagnostics at the token in the YAML file. Syntax errors are reported once; a finding
that both dialects share is reported once.
"""

from __future__ import annotations

from pathlib import Path

from ..diagnostics import Diagnostic, Position, Severity, error
from ..model.detection import Detection
from ..variants import Variant, build_variants, parameter_error_position, query_position
from .parameters import check as check_parameter_names


def check(
    detection: Detection, tables_folder: Path | None = None, variants: list[Variant] | None = None
) -> list[Diagnostic]:
    variants = variants if variants is not None else build_variants(detection, tables_folder)
    suppressed = set(detection.data.get("suppress") or [])
    findings: dict[tuple[Position, str, str], tuple[Diagnostic, list[str]]] = {}
    results: list[Diagnostic] = check_parameter_names(detection)  # test parameters it does not declare
    for variant in variants:
        if variant.parameter_error is not None:
            position = parameter_error_position(detection, variant)
            problem = error(detection.display, position, "DAC130", str(variant.parameter_error))
            if problem not in results:  # the same template fails the same way in every dialect
                results.append(problem)
            continue
        for finding in variant.diagnostics:
            if finding.severity == "warning" and finding.code in suppressed:
                continue
            position = query_position(detection, variant, finding.start)
            key = (position, finding.code, finding.message)
            if key in findings:
                findings[key][1].append(variant.dialect)
                continue
            severity = Severity.ERROR if finding.severity == "error" else Severity.WARNING
            findings[key] = (Diagnostic(detection.display, position, severity, finding.code, finding.message),
                             [variant.dialect])  # fmt: skip
    dialect_count = len([v for v in variants if v.parameter_error is None])
    for diagnostic, dialects in findings.values():
        syntax = diagnostic.code < "KQL100"
        if not syntax and len(dialects) < dialect_count:
            diagnostic = Diagnostic(
                diagnostic.path, diagnostic.position, diagnostic.severity, diagnostic.code,
                f"{diagnostic.message} (in {', '.join(d.title() for d in dialects)})", diagnostic.notes,
            )  # fmt: skip
        results.append(diagnostic)
    return results
