"""The emulator's graph operators (make-graph, graph-match, graph-shortest-paths, graph-to-table,
graph-mark-components) and graph functions (any, all, map, inner_nodes, node_id) against the KQL
reference pages of those names. Inputs are small graphs written here; each expectation follows the
page's rule quoted beside it. What a page leaves arbitrary or undocumented is refused (EMU001).
"""

from __future__ import annotations

from collections import Counter

from conftest import emulate, emulation_error

# A chain a -> b -> c -> d with a shortcut a -> c, and nodes with properties (d has none in the table).
EDGES = """let E = datatable(src:string, dst:string, kind:string, w:long) [
  "a", "b", "x", 1,
  "b", "c", "y", 2,
  "c", "d", "x", 3,
  "a", "c", "z", 4,
];
let N = datatable(id:string, age:long) ["a", 10, "b", 20, "c", 30];
"""


def rows(query: str) -> Counter:
    return Counter(tuple(str(v) for v in row) for row in emulate(EDGES + query))


# ----------------------------------------------------------------- make-graph, graph-to-table


def test_make_graph_nodes_from_the_node_table_and_from_edges():
    # make-graph page: "Each row in the Nodes tabular expression becomes a node ... Nodes that appear in
    # the Edges table but don't have a corresponding row in the nodes table are created as nodes with the
    # corresponding node ID and empty properties." graph-to-table page: one row per node, its properties.
    assert rows("E | make-graph src --> dst with N on id | graph-to-table nodes") == Counter(
        {("a", "10"): 1, ("b", "20"): 1, ("c", "30"): 1, ("", "None"): 1}  # a null string is ""
    )


def test_with_node_id_names_the_id_property():
    # make-graph page: NodeIdPropertyName is "the name of the property for node ID on the nodes".
    assert rows("E | make-graph src --> dst with_node_id=name | graph-to-table nodes") == Counter(
        {("a",): 1, ("b",): 1, ("c",): 1, ("d",): 1}
    )


def test_graph_to_table_edges_are_the_edge_rows():
    # make-graph page: "Each row in the source Edges expression becomes an edge in the graph with
    # properties that are the column values of the row."
    assert rows("E | make-graph src --> dst | graph-to-table edges") == Counter(
        {("a", "b", "x", "1"): 1, ("b", "c", "y", "2"): 1, ("c", "d", "x", "3"): 1, ("a", "c", "z", "4"): 1}
    )


def test_graph_refusals():
    # Undocumented or arbitrary: the node hash ids (graph-to-table page: "node hash ID"), partitioned-by,
    # and conflicting properties of one node ("one of the values is arbitrarily chosen").
    assert "hash" in emulation_error(
        EDGES + "E | make-graph src --> dst | graph-to-table nodes with_node_id=h", "EMU001"
    )
    emulation_error(
        EDGES + "E | make-graph src --> dst with N on id partitioned-by kind (graph-to-table nodes)", "EMU001"
    )
    two = 'let M = datatable(id:string, age:long) ["a", 11];'
    message = emulation_error(EDGES + two + "E | make-graph src --> dst with N on id, M on id | graph-to-table nodes",
                              "EMU001")  # fmt: skip
    assert "arbitrarily" in message


# ----------------------------------------------------------------- graph-match


def test_edge_directions():
    # graph-match page: -[e]-> left to right, <-[e]- right to left, -[e]- any direction.
    forward = "E | make-graph src --> dst with N on id | graph-match (p)-[e]->(q) where p.id == 'b' project q = q.id"
    backward = "E | make-graph src --> dst with N on id | graph-match (p)<-[e]-(q) where p.id == 'c' project q = q.id"
    either = (
        "E | make-graph src --> dst with N on id | graph-match (p)-[e]-(q) where p.id == 'c' project q = node_id(q)"
    )
    assert rows(forward) == Counter({("c",): 1})
    assert rows(backward) == Counter({("b",): 1, ("a",): 1})
    assert rows(either) == Counter({("b",): 1, ("a",): 1, ("d",): 1})


def test_edge_properties_and_anonymous_elements():
    # A property is "the variable name followed by a dot (.) and the property name"; --> is an anonymous edge.
    query = ("E | make-graph src --> dst | graph-match (p)-[e]->()-->(r) where e.kind == 'x' "
             "project p = node_id(p), r = node_id(r), w = e.w")  # fmt: skip
    assert rows(query) == Counter({("a", "c", "1"): 1})  # a -x-> b --> c; c -x-> d has no next hop
    query = "E | make-graph src --> dst | graph-match (p)-[e]->()-->(r) project p = node_id(p), r = node_id(r), w = e.w"
    assert rows(query) == Counter({("a", "d", "4"): 1, ("a", "c", "1"): 1, ("b", "d", "2"): 1})


def test_variable_length_edges_map_and_inner_nodes():
    # graph-match page: properties of variable length edges "are returned as a dynamic array, each value
    # in the array corresponds to an occurrence of the variable length edge"; inner_nodes: the nodes between.
    query = ("E | make-graph src --> dst with N on id | graph-match (p)-[e*1..3]->(q) where p.id == 'a' and "
             "node_id(q) == 'd' project kinds = e.kind, via = map(inner_nodes(e), node_id()), "
             "ages = map(inner_nodes(e), age)")  # fmt: skip
    assert rows(query) == Counter(
        {("['x', 'y', 'x']", "['b', 'c']", "[20, 30]"): 1, ("['z', 'x']", "['c']", "[30]"): 1}
    )


def test_any_and_all_over_a_variable_length_edge():
    # any-graph-function / all-graph-function pages: any() is true when the condition holds for at least
    # one edge (or inner node); all() for each. The inner-nodes page's example keeps direct reports under
    # all(inner_nodes(...), ...): with no inner node, all() is true.
    base = "E | make-graph src --> dst with N on id | graph-match (p)-[e*1..3]->(q) where p.id == 'a' and "
    assert rows(base + "any(e, kind == 'z') project q = node_id(q)") == Counter({("c",): 1, ("d",): 1})
    assert rows(base + "all(e, w < 3) project q = node_id(q)") == Counter({("b",): 1, ("c",): 1})
    assert rows(base + "all(inner_nodes(e), age > 25) project q = node_id(q)") == Counter(
        {("b",): 1, ("c",): 1, ("d",): 1}
    )


def test_a_where_condition_on_a_variable_length_edge_holds_for_each_edge():
    # graph-match page: "Any edge sequence in this range can match the variable edge of the pattern if all
    # the edges in the sequence satisfy the constraints outlined in the where clause."
    query = ("E | make-graph src --> dst | graph-match (p)-[e*1..3]->(q) where node_id(p) == 'a' and e.kind != 'y' "
             "project q = node_id(q)")  # fmt: skip
    assert rows(query) == Counter({("b",): 1, ("c",): 1, ("d",): 1})


def test_cycles_default_unique_edges_and_all():
    # graph-match page: unique_edges (the default) matches cycles "only if the cycle doesn't include the
    # same edge more than once"; all matches all cycles.
    two = 'let T = datatable(s:string, t:string) ["u", "v"]; '
    default = two + "T | make-graph s --> t | graph-match (p)-[e*2..2]-(q) project p = node_id(p), q = node_id(q)"
    assert rows(default) == Counter()
    every = (
        two + "T | make-graph s --> t | graph-match cycles=all (p)-[e*2..2]-(q) project p = node_id(p), q = node_id(q)"
    )
    assert rows(every) == Counter({("u", "u"): 1, ("v", "v"): 1})


def test_several_sequences_share_node_variables():
    # graph-match page: "Multiple comma separated sequences ... must share one or more variable names of a node."
    query = ("E | make-graph src --> dst | graph-match (p)-->(m), (m)-->(q), (p)-->(q) "
             "project p = node_id(p), m = node_id(m), q = node_id(q)")  # fmt: skip
    assert rows(query) == Counter({("a", "b", "c"): 1})


# ----------------------------------------------------------------- graph-shortest-paths


def test_shortest_paths_keep_only_the_shortest():
    # graph-shortest-paths page: the shortest paths between source and target nodes; output=any gives one
    # shortest path per pair, output=all all shortest paths of equal length.
    base = "E | make-graph src --> dst | graph-shortest-paths {} (p)-[e*1..3]->(q) where node_id(p) == 'a' " \
           "project q = node_id(q), n = array_length(map(e, w))"  # fmt: skip
    assert rows(base.format("")) == Counter({("b", "1"): 1, ("c", "1"): 1, ("d", "2"): 1})
    diamond = 'let D = datatable(s:string, t:string) ["a", "b", "a", "c", "b", "d", "c", "d"]; '
    query = diamond + ("D | make-graph s --> t | graph-shortest-paths output=all (p)-[e*1..3]->(q) "
                       "where node_id(p) == 'a' and node_id(q) == 'd' "
                       "project via = map(inner_nodes(e), node_id())")  # fmt: skip
    assert rows(query) == Counter({("['b']",): 1, ("['c']",): 1})
    one = diamond + query.split("; ", 1)[1].replace("output=all", "output=any")
    assert sum(rows(one).values()) == 1


# ----------------------------------------------------------------- graph-mark-components


def test_mark_components_weak_and_strong():
    # graph-mark-components page: weak (default) ignores the edges' direction, strong needs paths both ways;
    # the identifier is a zero-based index of the components (default property ComponentId).
    data = 'let C = datatable(s:string, t:string) ["a", "b", "b", "a", "b", "c", "x", "y"]; '
    weak = rows(data + "C | make-graph s --> t with_node_id=n | graph-mark-components | graph-to-table nodes")
    components = {}
    for name, component in weak:
        components.setdefault(component, set()).add(name)
    assert sorted(map(sorted, components.values())) == [["a", "b", "c"], ["x", "y"]]
    assert set(components) == {"0", "1"}
    strong = rows(data + "C | make-graph s --> t with_node_id=n | graph-mark-components kind=strong "
                  "with_component_id=k | graph-to-table nodes")  # fmt: skip
    groups = {}
    for name, component in strong:
        groups.setdefault(component, set()).add(name)
    assert sorted(map(sorted, groups.values())) == [["a", "b"], ["c"], ["x"], ["y"]]


def test_a_graph_bound_by_let_and_many_matches():
    # make-graph returns "a graph expression" that a let can name; a chain of 60 edges has 60 paths of one
    # edge and 59 of two (graph-match returns every occurrence of the pattern).
    query = ("let G = range i from 1 to 60 step 1 | extend s = i, t = i + 1 | make-graph s --> t; "
             "G | graph-match (a)-[e*1..2]->(b) project n = array_length(map(e, i)) "
             "| summarize count() by n")  # fmt: skip
    assert sorted(emulate(query)) == [[1, 60], [2, 59]]
