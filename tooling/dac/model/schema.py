"""JSON Schema check of a detection file, with messages a detection engineer understands.

jsonschema finds the errors; this module decides where each one points (the offending key or
value, not the enclosing mapping) and says it in the words of the format, with a "did you
mean" where a near spelling exists.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from ..diagnostics import Diagnostic, error
from .attack import load_catalog
from .yamlsource import JsonPath, LoadedYaml

SCHEMA_RESOURCE = "data/detection.schema.json"


@cache
def detection_schema() -> dict[str, Any]:
    return json.loads(resources.files("dac").joinpath(SCHEMA_RESOURCE).read_text("utf-8"))


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(detection_schema(), format_checker=FormatChecker())


def field_name(path: Iterable[str | int]) -> str:
    """mitre.techniques[1] style name of a location in the document."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + part
    return text or "the file"


_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "nothing",
}


def expected_types(expected: str | list[str]) -> str:
    """JSON Schema type names as the format speaks of them: 'a list or a string'."""
    names = expected if isinstance(expected, list) else [expected]
    return " or ".join(_TYPE_NAMES.get(t, t) for t in names)


def describe_value(value: Any) -> str:
    """What a loaded YAML value is, for a message: 'the string 'x'', 'a list', 'the number 1.0'."""
    return _describe(value)


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if value is None:
        return "an empty value"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int):
        return f"the number {value}"
    if isinstance(value, float):
        return f"the number {value!r}"
    return f"the string {value!r}"


_PATTERN_HINTS = {
    "id": "must be a lowercase UUID such as 0b9f5c2e-3d41-4c8e-9a57-6f1d2e7b8a90 (`dac new` assigns one)",
    "created": "must be a date written YYYY-MM-DD",
    "modified": "must be a date written YYYY-MM-DD",
    "version": "must be a semantic version MAJOR.MINOR.PATCH, such as 1.0.0",
    "references": "must be an http(s) URL",
    "techniques": "is not an ATT&CK technique id (T1234 or T1234.001)",
    "tactics": "is not an ATT&CK tactic short name (lowercase words joined by '-', such as command-and-control)",
    "frequency": "must be 0 (near-real-time) or a duration such as 5m, 1h or 1d",
    "lookback": "must be a duration such as 5m, 1h or 14d",
    "now": "must be a date and time such as 2024-12-02T12:00:00Z",
    "tables": "must be inline rows or the path of a .jsonl or .csv file",
    "timeout": "must be a whole number of seconds, minutes or hours, such as 30s, 2m or 1h",
}


def check_schema(source: LoadedYaml) -> list[Diagnostic]:
    """All schema findings for one loaded file, at most one per location."""
    data = source.data
    if not isinstance(data, dict):
        return [
            error(
                source.path,
                source.position(()),
                "DAC200",
                f"a detection file is a mapping of fields (id, name, query, ...), found {_describe(data)}",
            )
        ]
    diagnostics: list[Diagnostic] = []
    seen: set[tuple[JsonPath, str]] = set()
    for exc in _validator().iter_errors(data):
        for diagnostic, key in _translate(source, exc):
            if key not in seen:
                seen.add(key)
                diagnostics.append(diagnostic)
    return sorted(diagnostics, key=Diagnostic.sort_key)


def _translate(source: LoadedYaml, exc: ValidationError) -> list[tuple[Diagnostic, tuple[JsonPath, str]]]:
    path: JsonPath = tuple(exc.absolute_path)
    where = field_name(path)
    validator = exc.validator
    value = exc.instance

    def at_value(code: str, message: str, *notes: str) -> list[tuple[Diagnostic, tuple[JsonPath, str]]]:
        return [(error(source.path, source.position(path), code, message, *notes), (path, "value"))]

    if validator == "additionalProperties":
        allowed = set(exc.schema.get("properties", {}))
        patterns = exc.schema.get("patternProperties", {})
        results = []
        for key in value:
            if key in allowed or (patterns and key.startswith("x-")):
                continue
            key_path = (*path, key)
            notes = []
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            if close:
                notes.append(f"did you mean '{close[0]}'?")
            notes.append("allowed here: " + ", ".join(sorted(allowed)))
            if not path:
                notes.append("keep your own metadata under keys that start with 'x-'")
            place = f"in {where}" if path else "at the top level"
            results.append(
                (
                    error(
                        source.path, source.key_position(key_path), "DAC202", f"unknown field '{key}' {place}", *notes
                    ),
                    (key_path, "unknown"),
                )
            )
        return results
    if validator == "required":
        missing = exc.message.split("'")[1] if "'" in exc.message else exc.message
        reason = " (required for kind: detection)" if "then" in exc.schema_path else ""
        place = f" in {where}" if path else ""
        return [
            (
                error(
                    source.path, source.position(path), "DAC201", f"missing required field '{missing}'{place}{reason}"
                ),
                ((*path, missing), "required"),
            )
        ]
    if validator == "type":
        return at_value("DAC203", f"{where}: expected {expected_types(exc.validator_value)}, found {_describe(value)}")
    if validator == "enum":
        options = [str(o) for o in exc.validator_value]
        notes = []
        close = difflib.get_close_matches(str(value), options, n=1)
        if close:
            notes.append(f"did you mean '{close[0]}'?")
        return at_value("DAC204", f"{where}: {_describe(value)} is not one of: {', '.join(options)}", *notes)
    if validator == "propertyNames" or "propertyNames" in exc.relative_schema_path:
        key = value if isinstance(value, str) else str(value)
        key_path = (*path, key)
        return [
            (
                error(
                    source.path,
                    source.key_position(key_path),
                    "DAC205",
                    f"{where}: '{key}' is not a valid parameter name "
                    "(letters, digits and '_', not starting with a digit)",
                ),
                (key_path, "name"),
            )
        ]
    if validator in ("pattern", "format"):
        if validator == "format" and isinstance(value, str) and len(value) == 10:
            return at_value("DAC205", f"{where}: {value!r} is not a valid calendar date")
        hint = _PATTERN_HINTS.get(_hint_key(path), f"does not match the pattern {exc.validator_value!r}")
        notes = _tactic_suggestion(value) if _hint_key(path) == "tactics" else []
        return at_value("DAC205", f"{where}: {value!r} {hint}", *notes)
    if validator == "minItems":
        return at_value("DAC206", f"{where}: the list is empty; give at least {exc.validator_value} entry")
    if validator == "uniqueItems":
        return at_value("DAC206", f"{where}: the list holds the same entry more than once")
    if validator == "minLength":
        return at_value("DAC206", f"{where}: must not be empty")
    if validator == "maxLength":
        return at_value("DAC206", f"{where}: is {len(value)} characters long; at most {exc.validator_value} allowed")
    if validator in ("minimum", "maximum"):
        bound = "below the minimum" if validator == "minimum" else "above the maximum"
        return at_value("DAC206", f"{where}: {value} is {bound} {exc.validator_value}")
    if validator == "minProperties":
        return at_value(
            "DAC206", f"{where}: is empty; give at least one of: {', '.join(exc.schema.get('properties', {}))}"
        )
    if validator == "oneOf" and len(path) == 3 and path[:2] == ("alert", "entities") and isinstance(value, dict):
        has = "column" in value or "identifier" in value, "identifiers" in value
        why = "not both" if all(has) else "it has neither"
        return at_value("DAC209", f"{where}: an entity gives column (and optionally identifier) or identifiers "
                                  f"(identifier: column, one entity of several identifiers), {why}")  # fmt: skip
    if validator == "oneOf" and path == ("adopt",):
        return at_value("DAC203", f"{where}: expected the id of a rule (a string) or a mapping of target name to "
                                  f"rule id, found {_describe(value)}")  # fmt: skip
    return at_value("DAC209", f"{where}: {exc.message}")


def _hint_key(path: JsonPath) -> str:
    for part in reversed(path):
        if isinstance(part, str):
            if len(path) >= 2 and path[-2] == "tables":
                return "tables"
            return part
    return ""


def _tactic_suggestion(value: Any) -> list[str]:
    if not isinstance(value, str):
        return []
    tactic = load_catalog().tactic_lookup(value)
    return [f"did you mean '{tactic.shortname}'?"] if tactic else []
