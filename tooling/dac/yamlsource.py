"""Safe YAML loading that remembers where every key and value came from.

PyYAML's safe composer builds the node graph; this module turns it into plain JSON-like data
itself, so that it can (a) record the line and column of every key and value, (b) refuse
duplicate keys, (c) bound alias expansion and nesting, and (d) apply YAML 1.2 core-schema
scalar rules: only ``true``/``false`` are booleans (``NO`` stays the string "NO"), ``1:30``
is a string, and timestamps stay strings so that JSON Schema sees what the author wrote.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .diagnostics import Diagnostic, Position, error

MAX_FILE_BYTES = 1024 * 1024
MAX_VALUES = 100_000
MAX_DEPTH = 64

JsonPath = tuple[str | int, ...]

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MERGE = "tag:yaml.org,2002:merge"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"


class _CoreSchemaLoader(yaml.SafeLoader):
    """SafeLoader whose implicit scalar types follow the YAML 1.2 core schema."""


_CoreSchemaLoader.yaml_implicit_resolvers = {}
for _tag, _pattern, _first in [
    (_BOOL, r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    (_INT, r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        _FLOAT,
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+.0123456789",
    ),
    (_NULL, r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    (_MERGE, r"^<<$", "<"),
]:
    _CoreSchemaLoader.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))


class YamlLoadError(Exception):
    """The file cannot be turned into data; carries the one diagnostic that says why."""

    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.format())
        self.diagnostic = diagnostic


@dataclass
class LoadedYaml:
    """Data loaded from one YAML file, with the source position of every key and value."""

    path: str
    text: str
    data: Any
    value_positions: dict[JsonPath, Position] = field(default_factory=dict)
    key_positions: dict[JsonPath, Position] = field(default_factory=dict)
    # For block scalars (`|`, `>`) the position of their first content line, so that a
    # finding inside a multi-line string (a KQL query) can be mapped to the file.
    block_starts: dict[JsonPath, Position] = field(default_factory=dict)

    def position(self, path: JsonPath, *, key: bool = False) -> Position:
        """Position of the value (or key) at `path`, or of its nearest known ancestor."""
        table = self.key_positions if key else self.value_positions
        probe = tuple(path)
        while probe:
            if probe in table:
                return table[probe]
            if key and probe in self.value_positions:
                return self.value_positions[probe]
            probe = probe[:-1]
        return self.value_positions.get((), Position(1, 1))

    def key_position(self, path: JsonPath) -> Position:
        return self.position(path, key=True)


def load_yaml_file(file: Path, display: str | None = None) -> LoadedYaml:
    """Read and load one YAML file. Raises YamlLoadError with a positioned diagnostic."""
    display = display or str(file)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise YamlLoadError(error(display, Position(), "DAC100", f"cannot read file: {exc.strerror}")) from None
    return load_yaml_bytes(raw, display)


def load_yaml_bytes(raw: bytes, display: str) -> LoadedYaml:
    if len(raw) > MAX_FILE_BYTES:
        raise YamlLoadError(
            error(
                display,
                Position(),
                "DAC103",
                f"file is {len(raw) / 1_048_576:.2f} MiB; a detection file may be at most "
                f"{MAX_FILE_BYTES // 1_048_576} MiB",
                "move large test data into a .jsonl or .csv file beside the detection",
            )
        )
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise YamlLoadError(error(display, Position(), "DAC102", "file is UTF-16 encoded; save it as UTF-8"))
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _byte_position(raw, exc.start)
        raise YamlLoadError(
            error(
                display,
                Position(line, column),
                "DAC102",
                f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x}); save it as UTF-8",
            )
        ) from None
    return load_yaml_text(text, display)


def load_yaml_text(text: str, display: str) -> LoadedYaml:
    if not text.strip():
        raise YamlLoadError(error(display, Position(), "DAC101", "file is empty"))
    loader: _CoreSchemaLoader | None = None
    try:
        loader = _CoreSchemaLoader(text)
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        raise YamlLoadError(_syntax_diagnostic(display, exc)) from None
    except yaml.reader.ReaderError as exc:
        line, column = _char_position(text, exc.position)
        raise YamlLoadError(
            error(
                display,
                Position(line, column),
                "DAC104",
                f"invalid YAML: control character U+{exc.character:04X} is not allowed in a YAML file",
            )
        ) from None
    except yaml.YAMLError as exc:  # any other PyYAML failure still becomes a message
        raise YamlLoadError(error(display, Position(), "DAC104", f"invalid YAML: {exc}")) from None
    except RecursionError:
        raise YamlLoadError(
            error(display, Position(), "DAC106", f"YAML nesting is deeper than {MAX_DEPTH} levels")
        ) from None
    finally:
        if loader is not None:
            loader.dispose()
    if root is None:
        raise YamlLoadError(error(display, Position(), "DAC101", "file holds no YAML content, only comments"))
    loaded = LoadedYaml(path=display, text=text, data=None)
    builder = _Builder(loaded)
    loaded.data = builder.build(root, (), 0)
    return loaded


def _mark_position(mark: yaml.Mark | None) -> Position:
    if mark is None:
        return Position()
    return Position(mark.line + 1, mark.column + 1)


def _syntax_diagnostic(display: str, exc: yaml.MarkedYAMLError) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "syntax error"
    if "'\\t'" in problem:
        return error(
            display,
            _mark_position(mark),
            "DAC105",
            "tab character in indentation; YAML indents with spaces only",
        )
    if "expected a single document" in (exc.context or "") or "expected '<document start>'" in problem:
        return error(
            display,
            _mark_position(mark),
            "DAC104",
            "invalid YAML: a detection file holds exactly one YAML document (found a second '---')",
        )
    message = f"invalid YAML: {problem}"
    notes: list[str] = []
    if exc.context and exc.context_mark is not None and exc.problem_mark is not None:
        ctx = _mark_position(exc.context_mark)
        notes.append(f"{exc.context} at {ctx.line}:{ctx.column}")
    return error(display, _mark_position(mark), "DAC104", message, *notes)


def _byte_position(raw: bytes, offset: int) -> tuple[int, int]:
    line_start = raw.rfind(b"\n", 0, offset) + 1
    line = raw.count(b"\n", 0, offset) + 1
    column = len(raw[line_start:offset].decode("utf-8", errors="replace")) + 1
    return line, column


def _char_position(text: str, offset: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1


class _Builder:
    """Turns composed YAML nodes into data, recording positions and enforcing limits."""

    def __init__(self, loaded: LoadedYaml):
        self.loaded = loaded
        self.values_built = 0
        self.active: set[int] = set()  # nodes on the current path: a repeat means a recursive alias

    def fail(self, node: Node, code: str, message: str, *notes: str) -> YamlLoadError:
        return YamlLoadError(error(self.loaded.path, _mark_position(node.start_mark), code, message, *notes))

    def build(self, node: Node, path: JsonPath, depth: int) -> Any:
        self.values_built += 1
        if self.values_built > MAX_VALUES:
            raise self.fail(
                node,
                "DAC106",
                f"the document expands to more than {MAX_VALUES} values; aliases repeat too much (an alias bomb?)",
            )
        if depth > MAX_DEPTH:
            raise self.fail(node, "DAC106", f"YAML nesting is deeper than {MAX_DEPTH} levels")
        self.loaded.value_positions.setdefault(path, _mark_position(node.start_mark))
        if isinstance(node, ScalarNode):
            if node.style in ("|", ">"):
                self.loaded.block_starts.setdefault(path, _block_start(self.loaded.text, node))
            return self.scalar(node)
        if id(node) in self.active:
            raise self.fail(node, "DAC106", "recursive alias: a node contains itself")
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                if node.tag != _SEQ:
                    raise self.fail(node, "DAC107", f"unsupported YAML tag {node.tag!r}")
                return [self.build(item, (*path, index), depth + 1) for index, item in enumerate(node.value)]
            if isinstance(node, MappingNode):
                return self.mapping(node, path, depth)
        finally:
            self.active.discard(id(node))
        raise self.fail(node, "DAC107", "unsupported YAML node")  # pragma: no cover - PyYAML has no other kinds

    def scalar(self, node: ScalarNode) -> Any:
        value: str = node.value
        tag = node.tag
        if tag in (_STR, _TIMESTAMP):
            return value
        if tag == _NULL:
            return None
        if tag == _BOOL:
            if value.lower() not in ("true", "false"):
                raise self.fail(node, "DAC107", f"not a boolean: {value!r} (write true or false)")
            return value.lower() == "true"
        if tag == _INT:
            try:
                if value.startswith("0o"):
                    return int(value[2:], 8)
                if value.startswith("0x"):
                    return int(value[2:], 16)
                return int(value)
            except ValueError:
                raise self.fail(node, "DAC107", f"not an integer: {value!r}") from None
        if tag == _FLOAT:
            lowered = value.lower().lstrip("+")
            if lowered in (".inf", "-.inf"):
                return -math.inf if lowered.startswith("-") else math.inf
            if lowered == ".nan":
                return math.nan
            try:
                return float(value)
            except ValueError:
                raise self.fail(node, "DAC107", f"not a number: {value!r}") from None
        raise self.fail(node, "DAC107", f"unsupported YAML tag {tag!r}; detection files hold plain data only")

    def mapping(self, node: MappingNode, path: JsonPath, depth: int) -> dict[str, Any]:
        if node.tag != _MAP:
            raise self.fail(node, "DAC107", f"unsupported YAML tag {node.tag!r}")
        result: dict[str, Any] = {}
        first_seen: dict[str, Position] = {}
        merged: list[tuple[dict[str, Any], JsonPath]] = []
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag == _MERGE:
                merged.extend(self.merge_sources(value_node, path, depth))
                continue
            if not isinstance(key_node, ScalarNode):
                raise self.fail(key_node, "DAC107", "mapping keys must be plain strings, not lists or mappings")
            key = key_node.value
            key_position = _mark_position(key_node.start_mark)
            if key in first_seen:
                first = first_seen[key]
                raise YamlLoadError(
                    error(
                        self.loaded.path,
                        key_position,
                        "DAC108",
                        f"duplicate key {key!r} (first defined at {first.line}:{first.column})",
                    )
                )
            first_seen[key] = key_position
            self.loaded.key_positions[(*path, key)] = key_position
            result[key] = self.build(value_node, (*path, key), depth + 1)
        # YAML merge keys (`<<: *base`): explicit keys win over merged ones.
        for source, source_path in merged:
            for key, value in source.items():
                if key not in result:
                    result[key] = value
                    self._copy_positions(source_path, (*path, key), key)
        return result

    def merge_sources(self, node: Node, path: JsonPath, depth: int) -> list[tuple[dict[str, Any], JsonPath]]:
        nodes = node.value if isinstance(node, SequenceNode) else [node]
        sources = []
        for item in nodes:
            if not isinstance(item, MappingNode):
                raise self.fail(item, "DAC107", "a merge key '<<' must refer to a mapping")
            scratch: JsonPath = (*path, f"<<{id(item)}")
            sources.append((self.mapping(item, scratch, depth + 1), scratch))
        return sources

    def _copy_positions(self, source_path: JsonPath, target_path: JsonPath, key: str) -> None:
        for table in (self.loaded.value_positions, self.loaded.key_positions, self.loaded.block_starts):
            source_key = (*source_path, key)
            for existing in [p for p in table if p[: len(source_key)] == source_key]:
                table[target_path + existing[len(source_key) :]] = table[existing]


def _block_start(text: str, node: ScalarNode) -> Position:
    """Where line 1 of a block scalar's content sits (the line after `|`) and its indentation column."""
    lines = text.split("\n")
    first = node.start_mark.line + 1
    index = first
    while index < len(lines) and not lines[index].strip():
        index += 1
    indent = len(lines[index]) - len(lines[index].lstrip(" ")) if index < len(lines) else 0
    return Position(first + 1, indent + 1)
