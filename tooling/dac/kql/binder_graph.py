"""The row schemas of the graph operators for the binder (the parser leaves them as LooseOperator tokens).

make-graph gives a graph: a GraphSchema carrying its node and edge properties. graph-mark-components adds
the component property (long); graph-to-table gives the nodes' or edges' properties (the node hash
columns are long, graph-to-table page); graph-match and graph-shortest-paths give their `project`
columns. Checked against Microsoft's binder (kqlcheck --result): `make-graph a --> b with_node_id=id |
graph-match (s)-[e*1..2]->(t) project s.id, p = map(e, c), n = node_id(s)` gives s_id: string,
p: dynamic, n: string; `graph-mark-components | graph-to-table nodes` gives id, ComponentId: long.
A type this module cannot tell is unknown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .lexer import Token
from .symbols import Scope
from .syntax import Node
from .types import BOOL, DYNAMIC, LONG, STRING, UNKNOWN, RowSchema

GRAPH_OPERATORS = frozenset(
    {"make-graph", "graph-mark-components", "graph-to-table", "graph-match", "graph-shortest-paths"}
)
_EDGE = re.compile(r"(?:<-|-)\[([A-Za-z_]\w*)?(\*\d+\.\.\d+)?\]")
_NODE = re.compile(r"\(([A-Za-z_]\w*)\)")


@dataclass
class GraphSchema(RowSchema):
    """A graph: no columns, the properties of its nodes and edges (`open` when not all are known)."""

    nodes: dict[str, str] = field(default_factory=dict)
    edges: dict[str, str] = field(default_factory=dict)
    id_type: str = UNKNOWN


def graph_schema(operator: Node, schema: RowSchema, scope: Scope) -> RowSchema:
    word = operator["operator"]
    tokens = list(operator.tokens())[1:]
    texts = [t.text for t in tokens]
    if word == "make-graph":
        return _make_graph(texts, schema, scope)
    if not isinstance(schema, GraphSchema):
        return RowSchema.unknown()
    if word == "graph-mark-components":
        name = texts[texts.index("with_component_id") + 2] if "with_component_id" in texts[:-2] else "ComponentId"
        return GraphSchema({}, schema.open, {**schema.nodes, name.strip("[]'\""): LONG}, schema.edges, schema.id_type)
    if word == "graph-to-table":
        return _to_table(texts, schema)
    return _match(tokens, schema)


def _make_graph(texts: list[str], schema: RowSchema, scope: Scope) -> RowSchema:
    if len(texts) < 5 or texts[1:4] != ["-", "-", ">"] or "partitioned" in texts:
        return RowSchema.unknown()
    id_type = schema.columns.get(texts[0], UNKNOWN)
    graph = GraphSchema({}, schema.open, {}, dict(schema.columns), id_type)
    rest = texts[5:]
    if rest[:2] == ["with_node_id", "="] and len(rest) == 3:
        graph.nodes = {rest[2].strip("[]'\""): id_type}
    elif rest[:1] == ["with"]:
        # `with Nodes1 on Id1 [, Nodes2 on Id2]`: the node tables' columns, when the tables are names
        parts = " ".join(rest[1:]).split(",")
        for part in parts:
            words = part.split()
            symbol = scope.lookup(words[0]) if len(words) == 3 and words[1] == "on" else None
            if symbol is None or symbol.schema is None:
                graph.open = True
                continue
            graph.nodes.update(symbol.schema.columns)
            graph.open = graph.open or symbol.schema.open
    elif rest:
        return RowSchema.unknown()
    return graph


def _to_table(texts: list[str], graph: GraphSchema) -> RowSchema:
    if "," in texts or texts[:1] not in (["nodes"], ["edges"]):
        return RowSchema.unknown()
    hashes = [texts[i + 2] for i, word in enumerate(texts[:-2])
              if word in ("with_node_id", "with_source_id", "with_target_id") and texts[i + 1] == "="]  # fmt: skip
    columns = {name.strip("[]'\""): LONG for name in hashes}
    columns.update(graph.nodes if texts[0] == "nodes" else graph.edges)
    return RowSchema(columns, graph.open)


def _match(tokens: list[Token], graph: GraphSchema) -> RowSchema:
    """The project columns: a property's type (an array of them for a variable length edge), map() dynamic,
    any()/all() bool, node_id() the node ids' type, anything else unknown."""
    depth, start = 0, None
    for index, token in enumerate(tokens):
        depth += token.text in ("(", "[", "{")
        depth -= token.text in (")", "]", "}")
        if depth == 0 and token.text == "project":
            start = index + 1
    if start is None:
        return RowSchema.unknown()
    pattern = "".join(t.text for t in tokens[:start])
    nodes = set(_NODE.findall(pattern))
    edges = {name: bool(star) for name, star in _EDGE.findall(pattern) if name}
    columns: dict[str, str] = {}
    item: list[Token] = []
    depth = 0
    for token in [*tokens[start:], None]:
        if token is not None:
            depth += token.text in ("(", "[", "{")
            depth -= token.text in (")", "]", "}")
        if token is None or (depth == 0 and token.text == ","):
            name, kind = _item(item, nodes, edges, graph)
            if not name:
                return RowSchema.unknown()
            columns[name] = kind
            item = []
        else:
            item.append(token)
    return RowSchema(columns, False)


def _item(tokens: list[Token], nodes: set[str], edges: dict[str, bool], graph: GraphSchema) -> tuple[str, str]:
    texts = [t.text for t in tokens]
    name = ""
    if len(texts) > 2 and texts[1] == "=" and re.fullmatch(r"[A-Za-z_]\w*", texts[0]):
        name, texts = texts[0], texts[2:]
    elif len(texts) == 3 and texts[1] == ".":
        name = f"{texts[0]}_{texts[2]}"  # Kusto's name of a property path (names.path_name)
    if len(texts) == 3 and texts[1] == ".":
        variable, member = texts[0], texts[2]
        if variable in nodes:
            return name, graph.nodes.get(member, UNKNOWN)
        if variable in edges:
            return name, DYNAMIC if edges[variable] else graph.edges.get(member, UNKNOWN)
    if texts[:2] in (["map", "("],):
        return name, DYNAMIC
    if texts[:2] in (["any", "("], ["all", "("]):
        return name, BOOL
    if texts[:2] == ["node_id", "("]:
        return name, graph.id_type or STRING
    return name, UNKNOWN
