"""graph-match and graph-shortest-paths over a graph built by make-graph (graph.py), and the table of
the graph operators the compiler dispatches to.

The pattern's matches are enumerated in Python (graph-match operator page: nodes `(n)`, edges `-[e]->`,
`<-[e]-`, `-[e]-` and their anonymous forms, variable length edges `-[e*min..max]-`, several
comma-separated sequences sharing node variables, `cycles=all|unique_edges`). Every scalar part of the
`where` and `project` clauses is compiled by the emulator as usual, over a table with one row per match
(`n.p` becomes a column); the graph functions `any`, `all`, `map`, `inner_nodes` and `node_id` are
computed per element of a variable length edge and joined back as columns.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..kql import parse
from ..kql.lexer import Token
from ..kql.names import name_text, path_name
from ..kql.syntax import Node, operands
from .errors import EmulatorError
from .graph import BUILDERS, Graph, body_tokens, bulk_table, graph_of, split_top, sub_query, token_text
from .loose_operators import loose_operator
from .python_data import fetch

if TYPE_CHECKING:
    from .interface import Columns, Compiler

# The most matches (and search steps) one graph-match may produce in the emulator.
MAX_MATCHES = 100_000
MAX_STEPS = 2_000_000

_NODE = re.compile(r"\(([A-Za-z_]\w*)?\)")
_EDGE = re.compile(r"(<-|-)\[([A-Za-z_]\w*)?(?:\*(\d+)\.\.(\d+))?\](->|-)")
_SHORT_EDGE = re.compile(r"<--|-->|--")
_GRAPH_FUNCTIONS = {"any", "all", "map"}


@dataclass
class EdgePattern:
    name: str
    direction: str  # forward, backward, any
    low: int
    high: int
    variable: bool


@dataclass
class Pattern:
    sequences: list[tuple[list[str], list[EdgePattern]]]  # node names, and the edges between them
    node_names: list[str] = field(default_factory=list)  # named node variables, in order
    edges: dict[str, EdgePattern] = field(default_factory=dict)  # named edge variables


def parse_pattern(compiler: Compiler, text: str, anchor: Node) -> Pattern:
    sequences = []
    anonymous = 0
    pattern = Pattern([])
    for part in text.split(","):
        nodes: list[str] = []
        edges: list[EdgePattern] = []
        at = 0
        while True:
            match = _NODE.match(part, at)
            if match is None:
                raise compiler.unsupported(f"this graph pattern ({part[at : at + 30] or part!r})", anchor)
            name = match.group(1)
            if name is None:
                name, anonymous = f"__anonymous_{anonymous}", anonymous + 1
            elif name not in pattern.node_names:
                pattern.node_names.append(name)
            nodes.append(name)
            at = match.end()
            if at == len(part):
                break
            edge = _EDGE.match(part, at)
            if edge is not None:
                left, edge_name, low, high, right = edge.groups()
                if left == "<-" and right == "->":
                    raise compiler.unsupported("an edge with arrows at both ends", anchor)
                direction = "backward" if left == "<-" else "forward" if right == "->" else "any"
                variable = low is not None
                element = EdgePattern(edge_name or "", direction, int(low or 1), int(high or 1), variable)
            else:
                edge = _SHORT_EDGE.match(part, at)
                if edge is None:
                    raise compiler.unsupported(f"this graph pattern ({part[at : at + 30]!r})", anchor)
                direction = {"<--": "backward", "-->": "forward", "--": "any"}[edge.group(0)]
                element = EdgePattern("", direction, 1, 1, False)
            if element.low > element.high:
                raise EmulatorError("EMU005", "a variable length edge's minimum is above its maximum", _at(anchor))
            if element.name:
                if element.name in pattern.edges or element.name in pattern.node_names:
                    raise compiler.unsupported(f"the graph variable '{element.name}' used twice", anchor)
                pattern.edges[element.name] = element
            edges.append(element)
            at = edge.end()
        sequences.append((nodes, edges))
    clash = set(pattern.node_names) & set(pattern.edges)
    if clash:
        raise compiler.unsupported(f"the graph variable '{sorted(clash)[0]}' used twice", anchor)
    pattern.sequences = sequences
    return pattern


def _at(node: Node | Token | None) -> int:
    if isinstance(node, Token):
        return node.start
    token = node.first_token() if node is not None else None
    return token.start if token is not None else 0


# ----------------------------------------------------------------- matching
@dataclass
class Match:
    nodes: dict[str, int]  # node variable -> node index
    edges: list[tuple[list[int], list[int]]]  # per pattern edge: its edge indexes and inner node indexes
    length: int = 0


class Matcher:
    def __init__(self, compiler: Compiler, graph: Graph, pattern: Pattern, unique_edges: bool, anchor: Node):
        self.compiler, self.graph, self.pattern, self.anchor = compiler, graph, pattern, anchor
        self.unique_edges = unique_edges
        count = len(graph.node_ids)
        self.outgoing: list[list[tuple[int, int]]] = [[] for _ in range(count)]
        self.incoming: list[list[tuple[int, int]]] = [[] for _ in range(count)]
        for index, (source, target, _) in enumerate(graph.edges):
            self.outgoing[source].append((index, target))
            self.incoming[target].append((index, source))
        self.steps = 0
        self.flat = [edge for _, edges in pattern.sequences for edge in edges]

    def neighbours(self, node: int, direction: str) -> list[tuple[int, int]]:
        if direction == "forward":
            return self.outgoing[node]
        if direction == "backward":
            return self.incoming[node]
        edges = self.graph.edges
        return self.outgoing[node] + [(e, s) for e, s in self.incoming[node] if edges[e][0] != edges[e][1]]

    def paths(self, start: int, edge: EdgePattern, used: set[int]) -> Iterator[tuple[int, list[int], list[int]]]:
        """(end node, edges, nodes between) of each walk of edge.low..edge.high steps from start."""
        stack: list[tuple[int, list[int], list[int]]] = [(start, [], [])]
        while stack:
            node, taken, passed = stack.pop()
            self.steps += 1
            if self.steps > MAX_STEPS:
                raise self.compiler.unsupported(f"a graph search of more than {MAX_STEPS} steps", self.anchor)
            if len(taken) >= edge.low:
                yield node, taken, passed[:-1] if passed else []
            if len(taken) == edge.high:
                continue
            for index, nxt in reversed(self.neighbours(node, edge.direction)):
                if self.unique_edges and (index in used or index in taken):
                    continue
                stack.append((nxt, [*taken, index], [*passed, nxt]))

    def matches(self) -> Iterator[Match]:
        yield from self._sequence(0, {}, [], set())

    def _sequence(self, number: int, bound: dict[str, int], found: list, used: set[int]) -> Iterator[Match]:
        if number == len(self.pattern.sequences):
            yield Match(dict(bound), list(found), sum(len(edges) for edges, _ in found))
            return
        names, _ = self.pattern.sequences[number]
        first = names[0]
        starts = [bound[first]] if first in bound else range(len(self.graph.node_ids))
        for start in starts:
            added = first not in bound
            bound[first] = start
            yield from self._step(number, 0, start, bound, found, used)
            if added:
                del bound[first]

    def _step(self, number: int, position: int, node: int, bound: dict[str, int], found: list,
              used: set[int]) -> Iterator[Match]:  # fmt: skip
        names, edges = self.pattern.sequences[number]
        if position == len(edges):
            yield from self._sequence(number + 1, bound, found, used)
            return
        edge, following = edges[position], names[position + 1]
        for end, taken, passed in list(self.paths(node, edge, used)):
            if following in bound and bound[following] != end:
                continue
            added = following not in bound
            bound[following] = end
            found.append((taken, passed))
            yield from self._step(number, position + 1, end, bound, found, used | set(taken))
            found.pop()
            if added:
                del bound[following]


# ----------------------------------------------------------------- clauses
@dataclass
class Computed:
    """A graph function's value per match: any/all/map over a variable length edge's edges or inner nodes."""

    column: str
    function: str
    edge: str
    over_nodes: bool
    expression: Node


class Rewriter:
    """KQL text of a clause over the match table: `n.p` -> the column of n's property p, graph functions ->
    the columns computed for them."""

    def __init__(self, compiler: Compiler, graph: Graph, pattern: Pattern, anchor: Node):
        self.compiler, self.graph, self.pattern, self.anchor = compiler, graph, pattern, anchor
        self.computed: list[Computed] = []
        self.element: tuple[str, bool] | None = None  # inside any/all/map: (edge variable, over nodes)

    def fail(self, what: str, node: Node) -> EmulatorError:
        return self.compiler.unsupported(what, node)

    def text(self, node: Node) -> str:
        replaced = self.replacement(node)
        if replaced is not None:
            tokens = list(node.tokens())
            return tokens[0].leading + replaced + tokens[-1].trailing
        return "".join(c.leading + c.text + c.trailing if isinstance(c, Token) else self.text(c) for c in node.children)

    def replacement(self, node: Node) -> str | None:
        pattern = self.pattern
        if node.kind == "MemberAccess" and node["target"].kind == "Name" and node["member"].kind == "Name":
            variable, member = name_text(node["target"]), name_text(node["member"])
            if self.element is not None and variable == self.element[0] and not self.element[1]:
                return self.property(member, self.graph.edge_columns, "", node)
            if variable in pattern.node_names:
                return self.property(member, self.graph.node_columns, variable, node)
            if variable in pattern.edges:
                if not pattern.edges[variable].variable:
                    return self.property(member, self.graph.edge_columns, variable, node)
                if self.element is not None:
                    raise self.fail("a variable length edge's property inside a graph function", node)
                self.property(member, self.graph.edge_columns, "", node)  # checks the property exists
                return self.compute("map", variable, False, node["member"], node)
            return None
        if node.kind == "Name":
            text = name_text(node)
            if text in pattern.node_names or text in pattern.edges:
                raise self.fail(f"the graph variable '{text}' as a value", node)
            return None
        if node.kind == "Call" and node["callee"].kind == "Name":
            function = name_text(node["callee"])
            arguments = node["arguments"]["items"] or []
            if function in _GRAPH_FUNCTIONS and arguments and self.edge_source(arguments[0]) is not None:
                if self.element is not None:
                    raise self.fail(f"{function}() inside another graph function", node)
                if len(arguments) != 2:
                    raise EmulatorError("EMU005", f"{function}() over a graph edge takes 2 arguments", _at(node))
                edge, over_nodes = self.edge_source(arguments[0]) or ("", False)
                return self.compute(function, edge, over_nodes, arguments[1], node)
            if function == "inner_nodes":
                raise self.fail("inner_nodes() outside any(), all() or map()", node)
            if function == "node_id":
                if not arguments and self.element is not None and self.element[1]:
                    return "['__g_element_id']"
                if len(arguments) == 1 and arguments[0].kind == "Name":
                    variable = name_text(arguments[0])
                    if variable in pattern.node_names:
                        return f"['__gid_{variable}']"
                raise self.fail("this node_id() call", node)
        return None

    def edge_source(self, node: Node) -> tuple[str, bool] | None:
        """(edge, over inner nodes) when node is a variable length edge or inner_nodes() of one."""
        over_nodes = False
        if node.kind == "Call" and node["callee"].kind == "Name" and name_text(node["callee"]) == "inner_nodes":
            items = node["arguments"]["items"] or []
            if len(items) != 1:
                raise EmulatorError("EMU005", "inner_nodes() takes a variable length edge", _at(node))
            node, over_nodes = items[0], True
        if node.kind != "Name":
            return None
        edge = self.pattern.edges.get(name_text(node))
        if edge is None or not edge.variable:
            if over_nodes:
                raise self.fail("inner_nodes() of something else than a variable length edge", node)
            return None
        return name_text(node), over_nodes

    def property(self, member: str, columns: Columns, variable: str, node: Node) -> str:
        if member not in dict(columns):
            raise EmulatorError("EMU003", f"the graph element has no property '{member}'", _at(node))
        _check_name(self.compiler, member, node)
        return f"['{member}']" if not variable else f"['__g_{variable}__{member}']"

    def compute(self, function: str, edge: str, over_nodes: bool, expression: Node, node: Node) -> str:
        column = f"__g_computed_{len(self.computed)}"
        self.computed.append(Computed(column, function, edge, over_nodes, expression))
        return f"['{column}']"

    def element_text(self, computed: Computed) -> str:
        self.element = (computed.edge, computed.over_nodes)
        try:
            return self.text(computed.expression)
        finally:
            self.element = None

    def where(self, predicate: Node) -> str:
        """A where clause: a condition on a variable length edge's properties holds for each of its edges
        (the page: a sequence matches when all its edges satisfy the constraints)."""
        parts = []
        for conjunct in operands(predicate, {"and"}):
            edges = {name_text(n["target"]) for n in _outside_functions(conjunct) if n.kind == "MemberAccess"
                     and n["target"].kind == "Name" and name_text(n["target"]) in self.pattern.edges
                     and self.pattern.edges[name_text(n["target"])].variable}  # fmt: skip
            if not edges:
                parts.append(f"({self.text(conjunct)})")
                continue
            others = {name_text(n) for n in _outside_functions(conjunct) if n.kind == "Name"} - edges
            if len(edges) > 1 or others & (set(self.pattern.node_names) | set(self.pattern.edges)):
                raise self.fail("a where condition on a variable length edge with other graph variables", conjunct)
            parts.append(self.compute("all", edges.pop(), False, conjunct, conjunct))
        return " and ".join(parts)


def _outside_functions(node: Node) -> Iterator[Node]:
    """The nodes under node, not looking inside calls of the graph functions."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if (
            current.kind == "Call"
            and current["callee"].kind == "Name"
            and name_text(current["callee"]) in (_GRAPH_FUNCTIONS | {"inner_nodes"})
        ):
            continue
        stack.extend(c for c in current.children if isinstance(c, Node))


def _check_name(compiler: Compiler, name: str, node: Node) -> None:
    if "'" in name or "\\" in name:
        raise compiler.unsupported(f"the graph property name {name!r}", node)


# ----------------------------------------------------------------- the operators
def graph_match(compiler: Compiler, node: Node, sql: str, graph: Graph) -> str:
    """graph-match [cycles=...] Pattern [where ...] project ...; graph-shortest-paths [output=...] ..."""
    shortest = node["operator"] == "graph-shortest-paths"
    parts = split_top(body_tokens(node), {"where", "project"})
    head = parts[0][1]
    option, value = ("output", "any") if shortest else ("cycles", "unique_edges")
    if len(head) >= 3 and head[0].text == option and head[1].text == "=":
        value, head = head[2].text, head[3:]
    allowed = ("any", "all") if shortest else ("all", "unique_edges")
    if value not in allowed:
        raise compiler.unsupported(f"{node['operator']} {option}={value}", node)
    clauses = {word: tokens for word, tokens in parts[1:]}
    if [word for word, _ in parts[1:]] not in (["project"], ["where", "project"]):
        raise compiler.unsupported(f"this form of {node['operator']} (only 'Pattern [where ...] project ...')", node)
    pattern = parse_pattern(compiler, "".join(t.text for t in head), node)
    if shortest and (len(pattern.sequences) != 1 or not any(e.variable for e in pattern.sequences[0][1])):
        raise EmulatorError("EMU005", "graph-shortest-paths needs one sequence with a variable length edge", _at(node))
    rewriter = Rewriter(compiler, graph, pattern, node)
    where_text = ""
    if "where" in clauses:
        where_node = _clause(compiler, f"where {token_text(clauses['where'])}", node)["predicate"]
        where_text = rewriter.where(where_node)
    projected = []
    for _, item_tokens in split_top(clauses["project"], {","}):
        # `Name = Expression` read here: the name may be a word such as `to` or `from` (the pages' examples).
        if len(item_tokens) > 2 and item_tokens[1].text == "=" and re.fullmatch(r"[A-Za-z_]\w*", item_tokens[0].text):
            name, value_node = item_tokens[0].text, _clause(compiler, f"project {token_text(item_tokens[2:])}", node)
            value_node = value_node["columns"]["items"][0]
        else:
            value_node = _clause(compiler, f"project {token_text(item_tokens)}", node)["columns"]["items"][0]
            name = path_name(value_node) if value_node.kind != "Assignment" else ""
            if not name:
                raise compiler.unsupported(f"an unnamed {node['operator']} project expression", node)
        _check_name(compiler, name, node)
        projected.append(f"['{name}'] = {rewriter.text(value_node).strip()}")
    matcher = Matcher(compiler, graph, pattern, unique_edges=shortest or value == "unique_edges", anchor=node)
    matches = []
    for match in matcher.matches():
        matches.append(match)
        if len(matches) > MAX_MATCHES:
            raise compiler.unsupported(f"more than {MAX_MATCHES} graph matches", node)
    table = _match_table(compiler, graph, pattern, matcher.flat, matches, rewriter, node)
    if where_text:
        table = sub_query(compiler, table, f"where {where_text}", node)
    if shortest:
        keep = "" if value == "all" else " AND __g_rank = 1"
        pair = "PARTITION BY __g_source, __g_target"
        table = (f"SELECT * EXCLUDE (__g_rank, __g_shortest) FROM (SELECT *, row_number() OVER ({pair} "
                 f"ORDER BY __g_length, __g_m) AS __g_rank, min(__g_length) OVER ({pair}) AS __g_shortest "
                 f"FROM ({table})) WHERE __g_length = __g_shortest{keep}")  # fmt: skip
    return sub_query(compiler, table, "project " + ", ".join(projected), node)


def _clause(compiler: Compiler, text: str, anchor: Node) -> Node:
    result = parse(f"__graph_clause | {text}")
    if result.diagnostics:
        raise compiler.unsupported(f"this graph clause ({result.diagnostics[0].message})", anchor)
    return result.tree["statements"][0]["operators"][0]


def _match_table(compiler: Compiler, graph: Graph, pattern: Pattern, flat: list[EdgePattern], matches: list[Match],
                 rewriter: Rewriter, anchor: Node) -> str:  # fmt: skip
    """One row per match: its number, each named node's id and properties, each named single edge's
    properties, the lengths and ends for shortest paths, and the graph functions' values."""
    columns: Columns = [("__g_m", "long"), ("__g_length", "long"), ("__g_source", "long"), ("__g_target", "long")]
    getters: list[Callable[[Match], Any]] = [lambda m: 0, lambda m: m.length]
    first, last = pattern.sequences[0][0][0], pattern.sequences[-1][0][-1]
    getters += [lambda m: m.nodes[first], lambda m: m.nodes[last]]
    for variable in pattern.node_names:
        columns.append((f"__gid_{variable}", graph.id_kind))
        getters.append(lambda m, v=variable: graph.node_ids[m.nodes[v]])
        for name, kind in graph.node_columns:
            columns.append((f"__g_{variable}__{name}", kind))
            getters.append(lambda m, v=variable, n=name: graph.node_properties[m.nodes[v]].get(n))
    positions = {edge.name: index for index, edge in enumerate(flat) if edge.name}
    for variable, edge in pattern.edges.items():
        if edge.variable:
            continue
        for name, kind in graph.edge_columns:
            columns.append((f"__g_{variable}__{name}", kind))
            getters.append(lambda m, p=positions[variable], n=name: graph.edges[m.edges[p][0][0]][2].get(n))
    rows = [[get(match) for get in getters] for match in matches]
    for number, row in enumerate(rows):
        row[0] = number
    extra: Columns = []
    for computed in rewriter.computed:
        values = _compute(compiler, graph, positions[computed.edge], computed, matches, columns, rows, rewriter, anchor)
        extra.append((computed.column, "dynamic" if computed.function == "map" else "bool"))
        for row, value in zip(rows, values, strict=True):
            row.append(value)
    return bulk_table(compiler, columns + extra, rows)


def _compute(compiler: Compiler, graph: Graph, position: int, computed: Computed, matches: list[Match],
             outer: Columns, outer_rows: list[list[Any]], rewriter: Rewriter, anchor: Node) -> list[Any]:  # fmt: skip
    """any/all/map of an expression over each match's edges (or inner nodes) of one variable length edge."""
    own = [*graph.node_columns, ("__g_element_id", graph.id_kind)] if computed.over_nodes else graph.edge_columns
    columns: Columns = [("__g_match", "long"), ("__g_position", "long"), *own, *outer]
    rows = []
    for number, match in enumerate(matches):
        edges, inner = match.edges[position]
        if computed.over_nodes:
            elements = [[graph.node_properties[n].get(c) for c, _ in graph.node_columns] + [graph.node_ids[n]]
                        for n in inner]  # fmt: skip
        else:
            elements = [[graph.edges[e][2].get(c) for c, _ in graph.edge_columns] for e in edges]
        for index, element in enumerate(elements):
            rows.append([number, index, *element, *outer_rows[number][: len(outer)]])
    text = rewriter.element_text(computed)
    results: list[list[Any]] = [[] for _ in matches]
    if rows:
        table = bulk_table(compiler, columns, rows)
        sql = sub_query(compiler, table, f"project __g_match, __g_position, __g_value = pack_array({text})", anchor)
        _, values = fetch(compiler, sql)
        for number, _, value in sorted(values, key=lambda r: (r[0], r[1])):
            results[number].append(value[0] if isinstance(value, list) and value else None)
    if computed.function == "map":
        return results
    if computed.function == "any":  # true when the condition holds for at least one element
        return [any(v is True for v in values) for values in results]
    return [all(v is True for v in values) for values in results]  # all(): true for each (so for none)


def graph_operator(compiler: Compiler, node: Node, sql: str) -> str:
    """The loose operators: the graph ones here and in graph.py, the others in loose_operators.py."""
    operator = node["operator"]
    if operator in BUILDERS:
        return BUILDERS[operator](compiler, node, sql)
    if operator in ("graph-match", "graph-shortest-paths"):
        return graph_match(compiler, node, sql, graph_of(compiler, sql, node))
    if operator == "graph-merge":
        raise compiler.unsupported("the 'graph-merge' operator", node)
    return loose_operator(compiler, node, sql)
