"""Safe YAML loading that remembers where every key and value came from.

PyYAML's safe composer builds the node graph; this module turns it into plain JSON-like data
itself, so that it can (a) record the line and column of every key and value, (b) refuse
duplicate keys, (c) bound alias expansion and nesting, and (d) apply YAML 1.2 core-schema
scalar rules: only ``true``/``false`` are booleans (``NO`` stays the string "NO"), ``1:30``
is a string, and timestamps stay strings so that JSON Schema sees what the author wrote.
It also records how each scalar is written (plain, ``|``, ``>``, quoted) for checks on the YAML
itself, and turns PyYAML's syntax errors into messages that name the likely mistake at the line
where it is (PyYAML often reports a later line).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

try:  # PyYAML's wheels bundle libyaml; a build without it uses the Python scanner and parser only
    from yaml.cyaml import CParser

    _LIBYAML = True
except ImportError:  # pragma: no cover
    CParser = object
    _LIBYAML = False

from ..diagnostics import Diagnostic, Position, error

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

    last_token: yaml.Token | None = None  # the token read before a parse error, to explain it

    def get_token(self) -> yaml.Token:
        token = super().get_token()
        self.last_token = token
        return token

    depth = 0  # nodes being composed: PyYAML's composer recurses once per level

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        """Stop at MAX_DEPTH levels, far below Python's recursion limit, instead of recursing on."""
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH + 1:  # the document's root is level 0, as in _Builder
                raise _TooDeep(self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class _TooDeep(Exception):
    def __init__(self, mark: yaml.Mark | None):
        super().__init__("too deep")
        self.mark = mark


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


class _FastCoreSchemaLoader(yaml.composer.Composer, CParser, yaml.constructor.SafeConstructor,
                            yaml.resolver.Resolver):  # fmt: skip
    """The same loader on libyaml's scanner and parser (C, several times faster): PyYAML's composer in
    Python (before CParser in the bases, so that compose_node below bounds the depth) reads the C
    parser's events, with their marks and scalar styles. A file it cannot load is loaded again by
    _CoreSchemaLoader, whose tokens explain the syntax error."""

    depth = 0
    yaml_implicit_resolvers = _CoreSchemaLoader.yaml_implicit_resolvers

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        """As _CoreSchemaLoader.compose_node: at most MAX_DEPTH levels."""
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH + 1:
                raise _TooDeep(self.peek_event().start_mark)
            return yaml.composer.Composer.compose_node(self, parent, index)
        finally:
            self.depth -= 1

    def __init__(self, stream: str) -> None:
        CParser.__init__(self, stream)
        yaml.composer.Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)


_FAST = _LIBYAML


class YamlLoadError(Exception):
    """The file cannot be turned into data; carries the one diagnostic that says why."""

    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.format())
        self.diagnostic = diagnostic


@dataclass(frozen=True)
class ScalarStyle:
    """How a scalar is written in the file, for checks on the YAML itself (a query folded into one line)."""

    style: str | None  # PyYAML's: None plain, "|" literal, ">" folded, "'" or '"' quoted
    start: Position  # where the scalar starts (for `|` and `>`: the indicator)
    end: Position  # just after its last character (for `|` and `>`: after its last line break)


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
    scalar_styles: dict[JsonPath, ScalarStyle] = field(default_factory=dict)

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
    # libyaml takes a tab after "key:" that PyYAML's scanner refuses (DAC105): such text goes the Python way
    root = _fast_root(text) if _FAST and "\t" not in text else None
    loader: _CoreSchemaLoader | None = None
    try:
        if root is None:
            loader = _CoreSchemaLoader(text)
            root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        last_token = loader.last_token if loader is not None else None
        raise YamlLoadError(_syntax_diagnostic(display, text, exc, last_token)) from None
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
    except _TooDeep as exc:
        raise YamlLoadError(
            error(display, _mark_position(exc.mark), "DAC106", f"YAML nesting is deeper than {MAX_DEPTH} levels")
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


def _fast_root(text: str) -> Node | None:
    """The root node by libyaml, or None when it cannot load the text (the Python loader then says why)."""
    loader = _FastCoreSchemaLoader(text)
    try:
        return loader.get_single_node()
    except (yaml.YAMLError, _TooDeep, ValueError):
        return None
    finally:
        loader.dispose()


def _mark_position(mark: yaml.Mark | None) -> Position:
    if mark is None:
        return Position()
    return Position(mark.line + 1, mark.column + 1)


def _syntax_diagnostic(
    display: str, text: str, exc: yaml.MarkedYAMLError, last_token: yaml.Token | None = None
) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "syntax error"
    lines = _LINE_BREAK.split(text)  # PyYAML's notion of lines, so that its marks index them
    if "'\\t'" in problem:
        return error(display, _mark_position(mark), "DAC105", _tab_message(lines, mark))
    second_document = "expected a single document" in (exc.context or "") or "expected '<document start>'" in problem
    if second_document and _has_document_marker(lines, mark):
        return error(
            display,
            _mark_position(mark),
            "DAC104",
            "invalid YAML: a detection file holds exactly one YAML document (found a second '---')",
        )
    hint = _SyntaxHints(lines, exc, last_token).explain()
    if hint is not None:
        where, message = hint
        notes = []
        if where != _mark_position(mark):  # say where the parser gave up too: it is what other tools report
            stopped = _mark_position(mark)
            notes.append(f"YAML stopped at {stopped.line}:{stopped.column}: {problem}")
        return error(display, where, "DAC104", f"invalid YAML: {message}", *notes)
    notes = []
    if exc.context and exc.context_mark is not None and exc.problem_mark is not None:
        ctx = _mark_position(exc.context_mark)
        notes.append(f"{exc.context} at {ctx.line}:{ctx.column}")
    return error(display, _mark_position(mark), "DAC104", f"invalid YAML: {problem}", *notes)


# PyYAML counts '\r\n', '\r', '\n', NEL, LS and PS as line breaks.
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")

# `key: value` (or `- key: value`): the key ends at the first ':' followed by a blank or the end.
_KEY_VALUE = re.compile(
    r"^(?P<lead> *(?:- +)*)(?P<key>[^\s#'\"\[\]{}|>&*!%@`,?:-][^#]*?|-[^\s#][^#]*?):(?:[ \t]+(?P<value>\S.*?))?[ \t]*$"
)
# A block scalar's header: `key: |`, `key: >-`, `- |`, with an optional comment.
_BLOCK_HEADER = re.compile(
    r"^(?P<lead> *(?:- +)*)(?:(?P<key>[^\s#][^#]*?):[ \t]+)?(?P<style>[|>])[-+0-9]*[ \t]*(?:#.*)?$"
)
# A line that starts like a mapping entry of a detection file or dac.yml: a field, table or column name
# (or a quoted key), then ': ' or the end of the line.
_ENTRY_KEY = re.compile(r"""^ *(?:- +)*(?:[\w.$/@-]+|"[^"]*"|'[^']*'):(?:[ \t]|$)""")
# `key:value`: a key whose ':' is not followed by a space, so YAML reads the line as one text.
_NO_SPACE_AFTER_COLON = re.compile(r"^( *(?:- +)*)([A-Za-z_][\w.-]*):([^\s:].*)$")
_PLAIN_START = re.compile(r"[^'\"\[{|>&*!%@`#]")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _is_content(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _looks_like_entry(line: str) -> bool:
    """A line that could start a mapping entry or a list item (or is meant to), or ends the document."""
    stripped = line.strip()
    return (
        bool(_ENTRY_KEY.match(line) or _NO_SPACE_AFTER_COLON.match(line))
        or stripped == "-"
        or stripped.startswith(("- ", "#", "---", "..."))
    )


def _plain_value(match: re.Match[str]) -> str | None:
    """The plain (unquoted, single-line) value of a `key: value` match, without a trailing comment."""
    value = match["value"]
    if not value or not _PLAIN_START.match(value):
        return None
    return re.sub(r"\s+#.*$", "", value)


def _quoted(value: str) -> str:
    """`value` as a single-quoted YAML scalar, in which a backslash is plain text (shortened for a message)."""
    if len(value) > 60:
        value = value[:57] + "..."
    return "'" + value.replace("'", "''") + "'"


def _space_after_colon(match: re.Match[str], next_line: int | None) -> str:
    joined = f" (YAML reads it and line {next_line + 1} as one text)" if next_line is not None else ""
    return f"this line needs a space after ':'{joined}: write '{match[2]}: {match[3]}'"


def _tab_message(lines: list[str], mark: yaml.Mark | None) -> str:
    if mark is not None and mark.line < len(lines):
        before = lines[mark.line][: mark.column].strip(" \t")
        if before:
            return (
                f"tab character after '{before[-40:]}'; YAML separates with spaces only: replace the tab with a space"
            )
    return "tab character in indentation; YAML indents with spaces only: replace the tab with spaces"


class _SyntaxHints:
    """Names the likely mistake behind a PyYAML error, and the line it is on.

    PyYAML reports where it gave up, which is often a line or more after the mistake: a query
    line less indented than its `text: |` block, a value continued on an unindented line, an
    unclosed quote or bracket. Each rule below recognises one such pattern from the parser's
    error and the text around it; when none does, the parser's own message is used.
    """

    def __init__(self, lines: list[str], exc: yaml.MarkedYAMLError, last_token: yaml.Token | None):
        self.lines = lines
        self.problem = exc.problem or ""
        self.context = exc.context or ""
        self.problem_mark = exc.problem_mark
        self.context_mark = exc.context_mark
        self.last_token = last_token

    def line(self, index: int) -> str:
        return self.lines[index] if 0 <= index < len(self.lines) else ""

    def previous_content(self, index: int) -> int | None:
        for earlier in range(index - 1, -1, -1):
            if _is_content(self.line(earlier)):
                return earlier
        return None

    def explain(self) -> tuple[Position, str] | None:
        problem, context = self.problem, self.context
        if self.problem_mark is None:
            return None
        if "quoted scalar" in context and self.context_mark is not None:
            return self.quoted(self.context_mark)
        if context.startswith("while parsing a flow") and self.context_mark is not None:
            opening = _mark_position(self.context_mark)
            if context.startswith("while parsing a flow node"):  # a value was due inside a '[' or '{'
                opening = self.opening_before(self.context_mark) or opening
            return self.flow(opening)
        if context.startswith("while scanning a block scalar") and problem.startswith(
            ("expected a comment or a line", "expected chomping or indentation")
        ):
            return self.block_header()
        if context.startswith("while scanning a simple key") and self.context_mark is not None:
            index = self.context_mark.line
            column = _indent(self.line(index)) + 1
            no_space = _NO_SPACE_AFTER_COLON.match(self.line(index))
            if no_space is not None:
                return Position(index + 1, len(no_space[1]) + 1), _space_after_colon(no_space, None)
            stray = self.stray_line(index)
            if stray is not None:
                return stray
            return Position(index + 1, column), "this line has no ':' after its key; write it as 'key: value'"
        if problem == "mapping values are not allowed here":
            return self.colon(self.problem_mark)
        if problem.startswith("expected <block end>") or "expected '<document start>'" in problem:
            return self.misplaced(self.problem_mark)
        if "that cannot start any token" in problem:
            character = problem.split("'")[1] if "'" in problem else "this character"
            value = self.line(self.problem_mark.line)[self.problem_mark.column :].rstrip()
            return (
                _mark_position(self.problem_mark),
                f"a value cannot start with {character!r} in YAML: put it in quotes: {_quoted(value)}",
            )
        if context.startswith(("while scanning an alias", "while scanning an anchor")):
            sign = "*" if "alias" in context else "&"
            start = self.context_mark or self.problem_mark
            value = re.sub(r"\s+#.*$", "", self.line(start.line)[start.column :].rstrip())
            if re.search(r"[\[{]", self.line(start.line)[: start.column]):  # inside [...] or {...}
                value = re.split(r"[,\]}]", value)[0].rstrip()
            return (
                _mark_position(start),
                f"a value that starts with '{sign}' is read as a YAML {'alias' if sign == '*' else 'anchor'}: "
                f"put the value in quotes: {_quoted(value)}",
            )
        if problem.startswith("found undefined alias"):
            value = self.line(self.problem_mark.line)[self.problem_mark.column :].rstrip()
            return (
                _mark_position(self.problem_mark),
                "a value that starts with '*' is read as a YAML alias (a reference to an '&' anchor), and "
                f"there is no such anchor: put the value in quotes: {_quoted(value)}",
            )
        return None

    # -- quotes and brackets -------------------------------------------------------------------

    def quoted(self, opening: yaml.Mark) -> tuple[Position, str] | None:
        quote = self.line(opening.line)[opening.column : opening.column + 1] or '"'
        if self.problem.startswith("found unknown escape character") and self.problem_mark is not None:
            character = self.line(self.problem_mark.line)[self.problem_mark.column : self.problem_mark.column + 1]
            backslash = Position(self.problem_mark.line + 1, self.problem_mark.column)
            return (
                backslash,
                f"'\\{character}' is not an escape sequence in a double-quoted value: write the backslash twice "
                "('\\\\'), or use single quotes, in which a backslash is an ordinary character",
            )
        if "end of stream" in self.problem or "document separator" in self.problem:
            return (
                _mark_position(opening),
                f"the {quote} opened here is never closed: add the closing {quote} at the end of the value",
            )
        return None

    def opening_before(self, mark: yaml.Mark) -> Position | None:
        """The '[' or '{' still open at `mark`, looking back a few lines."""
        depth = 0
        for index in range(mark.line, max(mark.line - 20, -1), -1):
            line = self.line(index)
            end = mark.column if index == mark.line else len(line)
            for column in range(min(end, len(line)) - 1, -1, -1):
                char = line[column]
                if char in "]}":
                    depth += 1
                elif char in "[{":
                    if depth == 0:
                        return Position(index + 1, column + 1)
                    depth -= 1
        return None

    def flow(self, opening: Position) -> tuple[Position, str] | None:
        line = self.line(opening.line - 1)
        bracket = line[opening.column - 1 : opening.column]
        closing = {"[": "]", "{": "}"}.get(bracket)
        if closing is None or self.problem_mark is None:
            return None
        what = "list" if bracket == "[" else "mapping"
        if not _closes_on_its_line(line, opening.column - 1):
            if self.problem_mark.line > opening.line - 1 or "<stream end>" in self.problem:
                return (
                    opening,
                    f"the '{bracket}' opened here is never closed: end the {what} with '{closing}' on this line",
                )
            return None
        if self.problem.endswith("but got ':'"):
            return (
                _mark_position(self.problem_mark),
                f"a ': ' inside a value of this {bracket}...{closing} {what}, which YAML reads as the start of "
                "another key: put that value in quotes",
            )
        return None

    def block_header(self) -> tuple[Position, str] | None:
        """A `|` or `>` followed by text: after a key, or a KQL pipe line that YAML took for a block scalar."""
        if self.context_mark is None or self.problem_mark is None:
            return None
        index = self.context_mark.line
        before = self.line(index)[: self.context_mark.column].strip()
        if before.endswith(":") or before.endswith("-"):
            indicator = self.line(index)[self.context_mark.column]
            return (
                _mark_position(self.problem_mark),
                f"nothing but a comment may follow '{indicator}' on its line: start the text on the next line, "
                "indented",
            )
        return self.stray_line(index)

    # -- indentation ---------------------------------------------------------------------------

    def stray_line(self, index: int) -> tuple[Position, str] | None:
        """Line `index` fits nowhere: it broke a block scalar above it, or continues a value unindented."""
        broken = self.broken_block(index)
        if broken is not None:
            return broken
        line = self.line(index)
        position = Position(index + 1, _indent(line) + 1)
        previous = self.previous_content(index)
        if previous is None:
            return None
        match = _KEY_VALUE.match(self.line(previous))
        if match is None or _indent(line) > len(match["lead"]):
            return None
        key = match["key"]
        if _plain_value(match) is not None:
            return (
                position,
                f"this line continues the value of '{key}' from line {previous + 1}, but is not indented more "
                f"than '{key}', so YAML cannot read it: indent it further, or better, write '{key}: |' and put "
                "the text on indented lines below it",
            )
        if match["value"] is None and not _looks_like_entry(line):
            return (
                position,
                f"this line is not indented more than '{key}' on line {previous + 1}, so it is not part of "
                f"its value: indent it further than '{key}'",
            )
        return None

    def broken_block(self, index: int) -> tuple[Position, str] | None:
        """Line `index` or a line just above it ends a `|`/`>` block early by being less indented."""
        if not self.line(index).strip():
            return None
        indent = _indent(self.line(index))
        header = None
        first = None
        for earlier in range(index - 1, -1, -1):
            text = self.line(earlier)
            if not text.strip():
                continue
            match = _BLOCK_HEADER.match(text)
            if match is not None:
                header = earlier
                break
            if _indent(text) <= indent:
                return None
            first = earlier
        if header is None:
            return None
        match = _BLOCK_HEADER.match(self.line(header))
        if match is None:  # pragma: no cover - matched in the loop above
            return None
        lead = match["lead"]
        key = match["key"]
        owner_column = len(lead) if key is not None else lead.rfind("-")
        label = f"'{key}: {match['style']}'" if key is not None else f"'- {match['style']}'"
        owner = f"'{key}'" if key is not None else "the '-'"
        if first is None:  # the line right after the header: the block has no lines at all
            if indent <= owner_column and not _looks_like_entry(self.line(index)):
                return (
                    Position(index + 1, indent + 1),
                    f"this line is not indented more than {owner}, so the {label} block on line {header + 1} "
                    f"is empty and YAML cannot read this line: indent the block's lines further than {owner}",
                )
            return None
        block_indent = _indent(self.line(first))
        breaking = next(
            k for k in range(first, index + 1) if self.line(k).strip() and _indent(self.line(k)) < block_indent
        )
        text = self.line(breaking)
        if _indent(text) <= owner_column and _looks_like_entry(text):
            return None  # a key after the block: the block ended as it should
        if _ENTRY_KEY.match(text):
            return (
                Position(breaking + 1, _indent(text) + 1),
                f"this key is less indented than the block above it ({label} on line {header + 1}, whose lines "
                f"start at column {block_indent + 1}) but more than {owner}: line it up with the keys it belongs "
                "with, or indent it further if it is part of the block",
            )
        return (
            Position(breaking + 1, _indent(text) + 1),
            f"this line is less indented than the block above it ({label} on line {header + 1}, whose lines "
            f"start at column {block_indent + 1}): indent it to continue the block, or line it up with {owner} "
            "if it starts a new key",
        )

    def colon(self, mark: yaml.Mark) -> tuple[Position, str] | None:
        """'mapping values are not allowed here': a ': ' where YAML was reading a plain value."""
        index, column = mark.line, mark.column
        line = self.line(index)
        match = _KEY_VALUE.match(line)
        if match is not None and match["value"] is not None and match.start("value") <= column:
            value = re.sub(r"\s+#.*$", "", match["value"])
            return (
                Position(index + 1, match.start("value") + 1),
                f"the value of '{match['key']}' contains ': ', which YAML reads as the start of another key: "
                f"put the whole value in quotes: {match['key']}: {_quoted(value)}",
            )
        if line[:column].strip() == "" or not re.fullmatch(r" *(?:- +)*[^\s:#][^:#]*", line[:column]):
            return None
        # The line is `key: ...` on its own, read as more of the previous line's value.
        previous = self.previous_content(index)
        if previous is None:
            return None
        above = self.line(previous)
        above_match = _KEY_VALUE.match(above)
        key = line[:column].strip()
        if above_match is not None and _plain_value(above_match) is not None:
            if _indent(line) > len(above_match["lead"]):
                return (
                    Position(index + 1, _indent(line) + 1),
                    f"this line is indented more than '{above_match['key']}' on line {previous + 1}, so YAML "
                    f"reads it as more of that value: indent '{key}' exactly like '{above_match['key']}'",
                )
            return None
        no_space = _NO_SPACE_AFTER_COLON.match(above)
        if no_space is not None:
            return Position(previous + 1, len(no_space[1]) + 1), _space_after_colon(no_space, index)
        no_colon = re.match(r"^( *(?:- +)*)([A-Za-z_][\w.-]*) +(\S.*)$", above)
        if no_colon is not None and _indent(above) <= _indent(line):
            return (
                Position(previous + 1, len(no_colon[1]) + 1),
                f"this line has no ':' after its key (YAML reads it and line {index + 1} as one text): "
                f"write '{no_colon[2]}: {no_colon[3]}'",
            )
        return None

    def misplaced(self, mark: yaml.Mark) -> tuple[Position, str] | None:
        """'expected <block end>': a line that does not fit the indentation or the value above it."""
        index = mark.line
        broken = self.broken_block(index)
        if broken is not None:
            return broken
        token = self.last_token
        if isinstance(token, yaml.ScalarToken) and token.style in ("'", '"') and token.end_mark.line == index:
            quote = token.style
            if token.start_mark.line < index:
                return (
                    _mark_position(token.start_mark),
                    f"the {quote} opened here is not closed on this line, so the value runs on to the {quote} on "
                    f"line {index + 1}: add the closing {quote} at the end of this line",
                )
            return (
                _mark_position(mark),
                f"text after the closing {quote} of the value: put the whole value inside the quotes",
            )
        line = self.line(index)
        if isinstance(token, yaml.FlowSequenceEndToken | yaml.FlowMappingEndToken) and token.end_mark.line == index:
            closing = "]" if isinstance(token, yaml.FlowSequenceEndToken) else "}"
            return _mark_position(mark), f"text after the closing '{closing}': put it inside the brackets, or remove it"
        previous = self.previous_content(index)
        if previous is None or not line.strip() or mark.column != _indent(line):
            return None
        above = self.line(previous)
        above_match = _KEY_VALUE.match(above)
        is_item = line.lstrip().startswith("- ") or line.strip() == "-"
        if is_item and _indent(line) <= _indent(above) and above_match is not None and above_match["value"]:
            return (
                Position(index + 1, _indent(line) + 1),
                f"a list item cannot follow line {previous + 1} here, because that key already has a value: "
                "put the list under a key of its own, indented below it",
            )
        above_column = len(above_match["lead"]) if above_match is not None else _indent(above)
        if above_match is not None:
            what = f"'{above_match['key']}'"
        else:
            what = "the list item" if above.lstrip().startswith("-") else "the text"
        return (
            Position(index + 1, _indent(line) + 1),
            f"this line starts at column {_indent(line) + 1}, which lines up with no mapping or list above it "
            f"(on line {previous + 1}, {what} starts at column {above_column + 1}): indent it like the keys or "
            "items it belongs with",
        )


def _has_document_marker(lines: list[str], mark: yaml.Mark | None) -> bool:
    """Whether a '---' or '...' line (or a directive) precedes the parser's stop: a second document."""
    last = mark.line if mark is not None else len(lines) - 1
    return any(line.startswith(("---", "...", "%")) for line in lines[1 : last + 1])


def _closes_on_its_line(line: str, column: int) -> bool:
    """Whether the '[' or '{' at `column` is closed later on the same line (quotes skipped)."""
    depth = 0
    quote = ""
    index = column
    while index < len(line):
        char = line[index]
        if quote:
            if char == quote:
                if quote == "'" and line[index + 1 : index + 2] == "'":
                    index += 1
                else:
                    quote = ""
            elif char == "\\" and quote == '"':
                index += 1
        elif char in "'\"" and line[index - 1 : index] in ("[", "{", ",", " "):
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
            if depth == 0:
                return True
        elif char == "#" and line[index - 1 : index] == " ":
            return False
        index += 1
    return False


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
            self.loaded.scalar_styles.setdefault(
                path, ScalarStyle(node.style or None, _mark_position(node.start_mark), _mark_position(node.end_mark))
            )
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
                        f"duplicate key {key!r} (first defined at {first.line}:{first.column}): a key may appear "
                        "only once in a mapping; remove one of them, or merge their values",
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
        tables: tuple[dict[JsonPath, Any], ...] = (
            self.loaded.value_positions,
            self.loaded.key_positions,
            self.loaded.block_starts,
            self.loaded.scalar_styles,
        )
        for table in tables:
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
