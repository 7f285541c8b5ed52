"""The graph operators, computed in Python over fetched rows: `make-graph` builds a graph from an edges
table (and node tables), and the operators that read a graph: `graph-mark-components`,
`graph-to-table`, `graph-match` and `graph-shortest-paths` (the last two in graph_match.py).

A graph is no relation: the pipe carries a marker (SQL that fails if anything ran it as a table)
and the graph itself is kept per compilation under that marker. Rules follow the reference pages
(make-graph, graph-to-table, graph-mark-components operators); what a page leaves arbitrary or
undocumented (conflicting node properties, node hash ids, partitioned-by) is refused.
"""

from __future__ import annotations

import json
import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..kql import parse
from ..kql.lexer import Token
from ..kql.syntax import Node
from .errors import EmulatorError
from .loose_operators import split_top, sub_pipeline
from .python_data import fetch, table_from_rows
from .sql import DUCK_TYPES, quote_name

if TYPE_CHECKING:
    from .interface import Columns, Compiler

# The most nodes and edges a graph may have in the emulator (tests use small graphs).
MAX_GRAPH_ELEMENTS = 100_000


@dataclass
class Graph:
    """Nodes (an id and properties) and edges (source and target node indexes, properties)."""

    node_ids: list[Any] = field(default_factory=list)
    node_properties: list[dict[str, Any]] = field(default_factory=list)
    node_columns: Columns = field(default_factory=list)  # the nodes' property names and types
    id_kind: str = "string"  # the KQL type of node ids
    edges: list[tuple[int, int, dict[str, Any]]] = field(default_factory=list)
    edge_columns: Columns = field(default_factory=list)

    def node_index(self) -> dict[Any, int]:
        return {node_id: index for index, node_id in enumerate(self.node_ids)}


_GRAPHS: weakref.WeakKeyDictionary[Any, dict[str, Graph]] = weakref.WeakKeyDictionary()


def graph_marker(compiler: Compiler, graph: Graph) -> str:
    """The pipe's value for a graph: SQL that fails if run, naming the graph kept for this compilation."""
    marker = f"SELECT error('a graph must be followed by a graph operator') AS graph_{compiler.counter}_value"
    compiler.counter += 1
    _GRAPHS.setdefault(compiler, {})[marker] = graph
    return marker


def graph_of(compiler: Compiler, sql: str, node: Node) -> Graph:
    graphs = _GRAPHS.get(compiler, {})
    graph = graphs.get(sql)
    if graph is None:  # a let's graph comes back wrapped (SELECT * FROM a view of the marker)
        text = sql + _view_text(compiler, sql)
        found = [g for marker, g in graphs.items() if marker.rsplit(" AS ", 1)[1] in text]
        graph = found[0] if len(found) == 1 else None
    if graph is None:
        word = node["operator"] or "graph"
        raise EmulatorError("EMU005", f"'{word}' needs a graph: put make-graph before it", _offset(node))
    return graph


def _view_text(compiler: Compiler, sql: str) -> str:
    """The definition of the view `sql` reads, when it is `SELECT * FROM "view"` (a let's table)."""
    match = re.fullmatch(r'SELECT \* FROM "([^"]+)"', sql)
    if match is None:
        return ""
    rows = compiler.engine.connection.execute(
        "SELECT sql FROM duckdb_views() WHERE view_name = ?", [match.group(1)]
    ).fetchall()
    return str(rows[0][0]) if rows else ""


def _offset(node: Node | Token | None) -> int:
    if isinstance(node, Token):
        return node.start
    token = node.first_token() if node is not None else None
    return token.start if token is not None else 0


def body_tokens(node: Node) -> list[Token]:
    return list(node.tokens())[1:]


def token_text(tokens: list[Token]) -> str:
    return "".join(t.leading + t.text + t.trailing for t in tokens).strip()


def sub_query(compiler: Compiler, source_sql: str, text: str, anchor: Node) -> str:
    """The SQL of `text` (pipe operators) run over the relation source_sql."""
    return sub_pipeline(compiler, text, source_sql, anchor, what="this graph clause")


def bulk_table(compiler: Compiler, columns: Columns, rows: list[list[Any]]) -> str:
    """table_from_rows for many rows: each column handed to DuckDB as one list (unnest), not row by row."""
    if len(rows) < 50:
        return table_from_rows(compiler, columns, rows)
    name = f"graph_rows_{compiler.counter}"
    compiler.counter += 1
    definition = ", ".join(f"{quote_name(n)} {DUCK_TYPES.get(k, 'VARCHAR')}" for n, k in columns)
    connection = compiler.engine.connection
    compiler.engine.create_temporary("TABLE", name, f"({definition})")
    selects, values = [], []
    for index, (_, kind) in enumerate(columns):
        cells = [row[index] for row in rows]
        if kind == "dynamic":
            cells = [None if v is None else json.dumps(v) for v in cells]
            selects.append("CAST(unnest(CAST(? AS VARCHAR[])) AS JSON)")
        else:
            selects.append(f"CAST(unnest(?) AS {DUCK_TYPES.get(kind, 'VARCHAR')})")
        values.append(cells)
    connection.execute(f"INSERT INTO {quote_name(name)} SELECT {', '.join(selects)}", values)
    return f"SELECT * FROM {quote_name(name)}"


# ----------------------------------------------------------------- make-graph
def make_graph(compiler: Compiler, node: Node, sql: str) -> str:
    """Edges | make-graph Source --> Target [with Nodes1 on Id1 [, Nodes2 on Id2]] | [with_node_id=Name]."""
    tokens = body_tokens(node)
    texts = [t.text for t in tokens]
    if "partitioned" in texts:
        raise compiler.unsupported("make-graph partitioned-by", node)
    if len(texts) < 5 or texts[1:4] != ["-", "-", ">"]:
        raise compiler.unsupported("this form of make-graph (only 'Source --> Target ...')", node)
    source, target = texts[0], texts[4]
    edge_columns, edge_rows = fetch(compiler, sql)
    names = [name for name, _ in edge_columns]
    for column in (source, target):
        if column not in names:
            raise EmulatorError("EMU003", f"unknown column '{column}' in make-graph", _offset(tokens[0]))
    if len(edge_rows) > MAX_GRAPH_ELEMENTS:
        raise compiler.unsupported(f"make-graph of more than {MAX_GRAPH_ELEMENTS} edges", node)
    source_at, target_at = names.index(source), names.index(target)
    kinds = dict(edge_columns)
    graph = Graph(edge_columns=edge_columns, id_kind=kinds[source])
    index: dict[Any, int] = {}
    rest = tokens[5:]
    if rest and rest[0].text == "with_node_id":
        if len(rest) != 3 or rest[1].text != "=":
            raise compiler.unsupported("this with_node_id clause", node)
        # Each node gets the property NodeIdPropertyName holding its id (make-graph's page).
        graph.node_columns = [(rest[2].text.strip("[]'\""), kinds[source])]
    elif rest and rest[0].text == "with":
        _node_tables(compiler, node, graph, index, rest[1:])
    elif rest:
        raise compiler.unsupported(f"make-graph's clause '{rest[0].text}'", rest[0])
    for row in edge_rows:
        ends = []
        for at in (source_at, target_at):
            node_id = row[at]
            if node_id is None:
                raise compiler.unsupported("make-graph of an edge with an empty node id", node)
            if node_id not in index:  # a node only in Edges: its id and empty properties (make-graph's page)
                index[node_id] = len(graph.node_ids)
                graph.node_ids.append(node_id)
                graph.node_properties.append({})
            ends.append(index[node_id])
        graph.edges.append((ends[0], ends[1], dict(zip(names, row, strict=True))))
    if graph.node_columns and rest and rest[0].text == "with_node_id":
        name = graph.node_columns[0][0]
        for node_id, properties in zip(graph.node_ids, graph.node_properties, strict=True):
            properties[name] = node_id
    return graph_marker(compiler, graph)


def _node_tables(compiler: Compiler, node: Node, graph: Graph, index: dict[Any, int], tokens: list[Token]) -> None:
    """`Nodes1 on Id1 [, Nodes2 on Id2]`: each row a node; the same id in both tables is one node with the
    properties merged (the page: conflicting values are chosen arbitrarily, which the emulator refuses)."""
    tables = [part for _, part in split_top(tokens, {","})]
    if len(tables) > 2:
        raise compiler.unsupported("make-graph with more than two node tables", node)
    for part in tables:
        pieces = split_top(part, {"on"})
        if len(pieces) != 2 or len(pieces[1][1]) != 1 or not pieces[0][1]:
            raise compiler.unsupported("this make-graph node table (only 'Nodes on IdColumn')", node)
        table_sql = compiler.tabular(_expression(compiler, token_text(pieces[0][1]), node))
        id_column = pieces[1][1][0].text.strip("[]'\"")
        columns, rows = fetch(compiler, table_sql)
        names = [name for name, _ in columns]
        if id_column not in names:
            raise EmulatorError("EMU003", f"unknown column '{id_column}' in make-graph", _offset(pieces[1][1][0]))
        known = dict(graph.node_columns)
        for name, kind in columns:
            if name in known and known[name] != kind:
                raise compiler.unsupported(f"make-graph node tables whose column '{name}' has two types", node)
            if name not in known:
                graph.node_columns.append((name, kind))
        at = names.index(id_column)
        for row in rows:
            node_id = row[at]
            properties = dict(zip(names, row, strict=True))
            if node_id not in index:
                index[node_id] = len(graph.node_ids)
                graph.node_ids.append(node_id)
                graph.node_properties.append(properties)
                continue
            merged = graph.node_properties[index[node_id]]
            for name, value in properties.items():
                if name in merged and merged[name] != value:
                    raise compiler.unsupported(
                        f"make-graph with conflicting values of '{name}' for node {node_id!r} "
                        "(Kusto chooses one arbitrarily)", node)  # fmt: skip
                merged[name] = value
        if len(graph.node_ids) > MAX_GRAPH_ELEMENTS:
            raise compiler.unsupported(f"make-graph of more than {MAX_GRAPH_ELEMENTS} nodes", node)


def _expression(compiler: Compiler, text: str, anchor: Node) -> Node:
    result = parse(text)
    if result.diagnostics or len(result.tree["statements"] or []) != 1:
        raise compiler.unsupported("this make-graph node table", anchor)
    return result.tree["statements"][0]


# ----------------------------------------------------------------- graph-mark-components
def mark_components(compiler: Compiler, node: Node, sql: str) -> str:
    """graph-mark-components [kind=weak|strong] [with_component_id=Name]: each node gets the zero-based
    index of its component (default property ComponentId; the page says the indexes are arbitrary:
    here in the order of the components' first nodes)."""
    graph = graph_of(compiler, sql, node)
    tokens = body_tokens(node)
    kind, name = "weak", "ComponentId"
    at = 0
    while at < len(tokens):
        if at + 2 >= len(tokens) or tokens[at + 1].text != "=":
            raise compiler.unsupported("this graph-mark-components clause", node)
        key, value = tokens[at].text, tokens[at + 2].text.strip("[]'\"")
        if key == "kind" and value in ("weak", "strong"):
            kind = value
        elif key == "with_component_id":
            name = value
        else:
            raise compiler.unsupported(f"graph-mark-components {key}={value}", tokens[at])
        at += 3
    count = len(graph.node_ids)
    component = _weak(graph, count) if kind == "weak" else _strong(graph, count)
    order: dict[int, int] = {}
    marked = Graph(
        node_ids=graph.node_ids, id_kind=graph.id_kind, edges=graph.edges, edge_columns=graph.edge_columns,
        node_columns=[c for c in graph.node_columns if c[0] != name] + [(name, "long")],
    )  # fmt: skip
    for index in range(count):
        label = order.setdefault(component[index], len(order))
        marked.node_properties.append({**graph.node_properties[index], name: label})
    return graph_marker(compiler, marked)


def _weak(graph: Graph, count: int) -> list[int]:
    parent = list(range(count))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for source, target, _ in graph.edges:
        a, b = root(source), root(target)
        if a != b:
            parent[max(a, b)] = min(a, b)
    return [root(i) for i in range(count)]


def _strong(graph: Graph, count: int) -> list[int]:
    """Strongly connected components: nodes that reach each other following the edges' directions."""
    forward: list[set[int]] = [set() for _ in range(count)]
    for source, target, _ in graph.edges:
        forward[source].add(target)
    reach = []
    for start in range(count):
        seen, stack = {start}, [start]
        while stack:
            for nxt in forward[stack.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        reach.append(seen)
    label = list(range(count))
    for a in range(count):
        for b in range(a):
            if b in reach[a] and a in reach[b]:
                label[a] = label[b]
                break
    return label


# ----------------------------------------------------------------- graph-to-table
def graph_to_table(compiler: Compiler, node: Node, sql: str) -> str:
    """graph-to-table nodes | edges [as Name]: one row per node (its properties) or edge (its row)."""
    graph = graph_of(compiler, sql, node)
    tokens = body_tokens(node)
    words = [t.text for t in tokens]
    if "," in words:
        raise compiler.unsupported("graph-to-table of nodes and edges together (two results)", node)
    if any(word in ("with_node_id", "with_source_id", "with_target_id") for word in words):
        raise compiler.unsupported("graph-to-table's node hash ids (Kusto's hash is not documented)", node)
    if (
        not words
        or words[0] not in ("nodes", "edges")
        or not (len(words) == 1 or (len(words) == 3 and words[1] == "as"))
    ):
        raise compiler.unsupported("this form of graph-to-table", node)
    if words[0] == "edges":
        columns = graph.edge_columns
        rows = [[properties.get(name) for name, _ in columns] for _, _, properties in graph.edges]
    else:
        columns = graph.node_columns
        if not columns:
            raise compiler.unsupported("graph-to-table nodes of a graph whose nodes have no properties", node)
        rows = [[properties.get(name) for name, _ in columns] for properties in graph.node_properties]
    return bulk_table(compiler, columns, rows)


BUILDERS: dict[str, Callable[[Compiler, Node, str], str]] = {
    "make-graph": make_graph,
    "graph-mark-components": mark_components,
    "graph-to-table": graph_to_table,
}
