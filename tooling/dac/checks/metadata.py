"""Metadata checks on one detection: dates and the editor's schema comment."""

from __future__ import annotations

from ..diagnostics import Diagnostic, Position, error, warning
from ..model.detection import SCHEMA_COMMENT_PREFIX, Detection
from ..model.project import schema_reference


def check_dates(detection: Detection) -> list[Diagnostic]:
    created, modified = detection.data["created"], detection.data["modified"]
    # ISO dates compare correctly as strings; the schema has checked the format.
    if modified < created:
        return [
            error(
                detection.display,
                detection.position(("modified",)),
                "DAC310",
                f"modified ({modified}) is before created ({created})",
            )
        ]
    return []


def check_schema_comment(detection: Detection) -> list[Diagnostic]:
    """The first line lets editors complete and check the file; warn when it is absent or dangling."""
    first_line = detection.source.text.split("\n", 1)[0].rstrip("\r")
    if not first_line.startswith(SCHEMA_COMMENT_PREFIX):
        return [
            warning(
                detection.display,
                Position(1, 1),
                "DAC311",
                "the file does not start with '# yaml-language-server: $schema=...'; "
                "editors cannot complete or check it",
                f"add: {SCHEMA_COMMENT_PREFIX}{schema_reference(detection.file.parent)}",
            )
        ]
    target = first_line[len(SCHEMA_COMMENT_PREFIX) :].strip()
    if "://" in target:
        return []
    if not (detection.file.parent / target).is_file():
        return [
            warning(
                detection.display,
                Position(1, len(SCHEMA_COMMENT_PREFIX) + 1),
                "DAC312",
                f"the $schema path '{target}' does not point at a file",
                f"use: {schema_reference(detection.file.parent)}",
            )
        ]
    return []


def check(detection: Detection) -> list[Diagnostic]:
    return check_dates(detection) + check_schema_comment(detection)
