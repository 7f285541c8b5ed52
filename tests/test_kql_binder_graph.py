"""The binder's row schemas of the graph operators, each expectation Microsoft's binder's answer
(kqlcheck --result, Kusto.Language 12.4.1) for the same query."""

from __future__ import annotations

import pytest

from dac.kql import parse
from dac.kql.binder import bind
from dac.model.tables import environment

EDGES = 'datatable(a:string, b:string, c:long)["x", "y", 1] | make-graph a --> b '
NODES = 'let N = datatable(name:string, age:long)["x", 1]; '

CASES = [
    (EDGES + "with_node_id=id | graph-match (s)-[e*1..2]->(t) where s.id == 'x' "
     "project s.id, p = map(e, c), t = t.id, n = node_id(s)",
     {"s_id": "string", "p": "dynamic", "t": "string", "n": "string"}),
    (EDGES + "with_node_id=id | graph-to-table nodes", {"id": "string"}),
    (EDGES + "with_node_id=id | graph-to-table edges", {"a": "string", "b": "string", "c": "long"}),
    (EDGES + "with_node_id=id | graph-mark-components | graph-to-table nodes", {"id": "string", "ComponentId": "long"}),
    (NODES + EDGES + "with N on name | graph-match (s)-[e]->(t) project s.age, e.c, w = e.c",
     {"s_age": "long", "e_c": "long", "w": "long"}),
    (NODES + EDGES + "with N on name | graph-to-table edges with_source_id=S with_target_id=T",
     {"S": "long", "T": "long", "a": "string", "b": "string", "c": "long"}),
]  # fmt: skip


@pytest.mark.parametrize(("query", "columns"), CASES)
def test_graph_operator_schemas_match_microsofts_binder(query, columns):
    result = bind(parse(query), environment("defender"))
    assert result.diagnostics == []
    assert result.output is not None
    assert result.output.columns == columns
    assert list(result.output.columns) == list(columns)  # in order
