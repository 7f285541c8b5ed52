"""Writes detection data as tidy YAML: fields in the documented order, queries as block scalars.

PyYAML's emitter cannot be told to keep queries readable (it falls back to quoted strings for
many inputs), so the small subset of YAML that detection files use is written here. Every
output is read back by the loader in tests, so what is written is what is loaded.
"""

from __future__ import annotations

import json
import re
from typing import Any

FIELD_ORDER = (
    "id", "name", "description", "kind", "status", "severity", "authors", "created", "modified",
    "version", "tags", "references", "suppress", "mitre", "query", "variants", "adopt", "parameters", "schedule",
    "trigger", "alert", "tests",
)  # fmt: skip

# Plain scalars that the YAML 1.2 core schema (and YAML 1.1 readers) keep as strings.
_PLAIN = re.compile(r"^(?!- )[A-Za-z0-9_./$()+-][A-Za-z0-9_ ./@$()+'-]*$")
_NOT_STRING = re.compile(
    r"^(?:true|false|yes|no|on|off|y|n|null|~|[-+]?[0-9][0-9_]*(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?"
    r"|0x[0-9a-fA-F]+|0o[0-7]+|[-+]?\.(?:inf|nan)|[0-9]+(?::[0-9]+)+)$",
    re.IGNORECASE,
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_INDENT = "  "


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    text = str(value)
    if _DATE.match(text):
        return text
    if _PLAIN.match(text) and not _NOT_STRING.match(text) and not text.endswith(" ") and ": " not in text:
        return text
    return json.dumps(text, ensure_ascii=False)


def _is_block_string(value: Any) -> bool:
    return isinstance(value, str) and "\n" in value and "\r" not in value


def _block(value: str, indent: str) -> list[str]:
    chomp = "" if value.endswith("\n") and not value.endswith("\n\n") else "+" if value.endswith("\n") else "-"
    indicator = "2" if value[:1] == " " else ""
    body = value[:-1] if value.endswith("\n") else value
    lines = [f"|{indicator}{chomp}"]
    lines += [(indent + line) if line else "" for line in body.split("\n")]
    return lines


def _flow_list(items: list[Any]) -> str | None:
    if not all(isinstance(i, str | int | float | bool) and not _is_block_string(i) for i in items):
        return None
    text = "[" + ", ".join(_scalar(i) for i in items) + "]"  # plain scalars never hold a comma
    return text if len(text) <= 100 else None


def _emit(value: Any, indent: str) -> list[str]:
    """Lines for a mapping or list value placed under a key at `indent`."""
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            lines.extend(_entry(f"{indent}{_scalar(key)}:", item, indent))
    else:
        for item in value:
            if isinstance(item, dict) and item:
                first, *rest = _emit(item, indent + _INDENT)
                lines.append(f"{indent}- {first[len(indent) + 2 :]}")
                lines.extend(rest)
            else:
                lines.extend(_entry(f"{indent}-", item, indent))
    return lines


def _entry(prefix: str, value: Any, indent: str) -> list[str]:
    child = indent + _INDENT
    if isinstance(value, dict):
        return [f"{prefix} {{}}"] if not value else [prefix, *_emit(value, child)]
    if isinstance(value, list):
        if not value:
            return [f"{prefix} []"]
        flow = _flow_list(value)
        return [f"{prefix} {flow}"] if flow else [prefix, *_emit(value, child)]
    if _is_block_string(value):
        first, *rest = _block(value, child)
        return [f"{prefix} {first}", *rest]
    return [f"{prefix} {_scalar(value)}"]


def dump_detection(data: dict[str, Any], schema_reference: str | None = None) -> str:
    ordered = {key: data[key] for key in FIELD_ORDER if key in data}
    ordered.update({key: value for key, value in data.items() if key not in ordered})
    lines = [f"# yaml-language-server: $schema={schema_reference}"] if schema_reference else []
    lines.extend(_emit(ordered, ""))
    return "\n".join(lines) + "\n"
