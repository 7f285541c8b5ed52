"""Dialect rendering: minimal, tree-aware edits that turn a Defender query into a Sentinel one
and back.

Only tokens the binder resolved as column references or column declarations are renamed, so
`Timestamp` inside a string, a comment or a longer identifier never changes. Columns whose type
differs between the platforms are bridged: Sentinel's dynamic `AdditionalFields` is a string in
Defender, so `AdditionalFields.Key` becomes `parse_json(AdditionalFields).Key`. The result is
bound against the target platform; what has no counterpart there (a table, a function, a
column) comes back as a diagnostic positioned in the source text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .binder import Binder, Environment
from .lexer import T, Token
from .parser import parse
from .syntax import KqlDiagnostic, Node
from .types import RowSchema

TIME_COLUMN = {"defender": "Timestamp", "sentinel": "TimeGenerated"}


@dataclass
class RenderResult:
    text: str
    diagnostics: list[KqlDiagnostic] = field(default_factory=list)  # positions in the source text
    # Edit layers applied in order, each a list of (start, end, new text) in the previous layer's text.
    layers: list[list[tuple[int, int, str]]] = field(default_factory=list)
    output: RowSchema | None = None  # the rendered query's result schema in the target dialect
    tables: set[str] = field(default_factory=set)  # tables the rendered query reads

    @property
    def changed(self) -> bool:
        return any(self.layers)

    def source_offset(self, rendered_offset: int) -> int:
        """Map an offset in the rendered text back to the source text."""
        offset = rendered_offset
        for edits in reversed(self.layers):
            offset = _map_back(edits, offset)
        return offset


def _map_back(edits: list[tuple[int, int, str]], offset: int) -> int:
    delta = 0
    for start, end, new in edits:
        rendered_start = start + delta
        if offset < rendered_start:
            break
        if offset < rendered_start + len(new):
            return start
        delta += len(new) - (end - start)
    return offset - delta


def render(text: str, source: Environment, target: Environment) -> RenderResult:
    parsed = parse(text)
    if source.dialect == target.dialect:
        return RenderResult(text, list(parsed.diagnostics))
    if parsed.diagnostics:
        # No reliable tree: rename the time column token by token (never in strings or comments),
        # and hand the syntax errors back with the best-effort text.
        edits = _token_level_time_edits(parsed.tree, source, target)
        return RenderResult(_apply(text, edits), list(parsed.diagnostics), [edits])
    binder = Binder(source)
    binder.bind_query(parsed.tree)
    time_edits = _time_column_edits(binder, source, target).values()
    renames = sorted((token.start, token.end, new) for token, new in time_edits)
    renamed = _apply(text, renames)
    # Bridge types where the target needs it: a string column used with `.property` gets parse_json().
    check = Binder(target)
    output = check.bind_query(parse(renamed).tree)
    bridges = sorted({(t.start, t.end, f"parse_json({t.text})") for t in check.string_member_targets})
    rendered = _apply(renamed, bridges)
    final = Binder(target) if bridges else check
    if bridges:
        output = final.bind_query(parse(rendered).tree)
    result = RenderResult(rendered, [], [renames, bridges], output, final.tables_read)
    for diagnostic in final.diagnostics:
        start = result.source_offset(diagnostic.start)
        end = max(start, result.source_offset(max(diagnostic.end - 1, diagnostic.start)) + 1)
        result.diagnostics.append(KqlDiagnostic(diagnostic.code, diagnostic.message, start, end, diagnostic.severity))
    return result


def _time_column_edits(binder: Binder, source: Environment, target: Environment) -> dict[int, tuple[Token, str]]:
    old, new = TIME_COLUMN[source.dialect], TIME_COLUMN[target.dialect]
    platform_tables = [t for t in binder.tables_read if t in source.tables]
    # Rename when the query reads a platform table whose counterpart has the target time column.
    if not any(new in target.tables.get(table, {}) for table in platform_tables):
        return {}
    edits: dict[int, tuple[Token, str]] = {}
    for token in binder.column_tokens:
        if token.kind is T.IDENT and token.text == old:
            edits[token.start] = (token, new)
        elif token.kind is T.STRING and token.text[1:-1] == old and token.text[:1] in "'\"":
            edits[token.start] = (token, token.text[0] + new + token.text[-1])
    return edits


def _token_level_time_edits(tree: Node, source: Environment, target: Environment) -> list[tuple[int, int, str]]:
    old, new = TIME_COLUMN[source.dialect], TIME_COLUMN[target.dialect]
    tables = {t.text for t in tree.tokens() if t.kind is T.IDENT and t.text in source.tables}
    if not any(new in target.tables.get(table, {}) for table in tables):
        return []
    return [(t.start, t.end, new) for t in tree.tokens() if t.kind is T.IDENT and t.text == old]


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str:
    pieces, position = [], 0
    for start, end, new in edits:
        pieces.append(text[position:start])
        pieces.append(new)
        position = end
    pieces.append(text[position:])
    return "".join(pieces)
