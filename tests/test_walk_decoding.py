"""Ancestors/descendants decoded from the templates' compact rows, against a real Neo4j.

The walk templates return compact lists and the walk decodes them itself; these tests check that a
user still gets every lineage property as a Python value and none of the import bookkeeping, and
that the two walks of a template (the pruning one without ``as_of`` and the per-hop-checked one
with it) agree when nothing is after T.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from fixtures_graphs import Graph, ml_pipeline, t

from lineagegraph import templates
from lineagegraph.queries import LineageGraph
from lineagegraph.store import GraphStore
from lineagegraph.subgraph import IMPORT_BOOKKEEPING, Subgraph

pytestmark = pytest.mark.integration


@pytest.fixture
def pipeline(store: GraphStore) -> Graph:
    graph = ml_pipeline()
    store.import_elements("test", "ml_pipeline", graph.elements, graph.relations)
    return graph


def edges(sub: Subgraph) -> set[tuple[str, str, str]]:
    return {(r.start, r.type, r.end) for r in sub.relationships}


def test_properties_come_back_as_python_values(pipeline: Graph, store: GraphStore) -> None:
    down = LineageGraph(store).descendants("e:raw", depth=1)
    raw = down.node("e:raw")
    assert raw is not None and raw.labels == ["Element", "Entity"]
    assert raw.properties["generated_at"] == t(1) and isinstance(raw.properties["generated_at"], datetime)
    assert raw.properties["prov_type"] == ["prov:Dataset"]
    assert "id" not in raw.properties and raw.properties["label"] == "raw.csv"
    used = [r for r in down.relationships if (r.start, r.type, r.end) == ("a:clean", "USED", "e:raw")]
    assert len(used) == 1 and used[0].properties["time"] == t(2) and isinstance(used[0].properties["time"], datetime)
    clean = down.node("a:clean")
    assert clean is not None and clean.properties["started_at"] == t(2)


def test_as_of_after_everything_is_the_same_as_no_as_of(pipeline: Graph, store: GraphStore) -> None:
    lg = LineageGraph(store)
    later = t(28)  # after every time in the pipeline
    for element in pipeline.elements:
        for method in (lg.ancestors, lg.descendants):
            now, then = method(element.id), method(element.id, as_of=later)
            assert [n.id for n in then.nodes] == [n.id for n in now.nodes], (method.__name__, element.id)
            assert edges(then) == edges(now), (method.__name__, element.id)
    both = lg.lineage("e:model-2", direction="both", as_of=later)
    assert both.ids == lg.lineage("e:model-2", direction="both").ids


def test_results_leave_out_import_bookkeeping_and_keep_the_rest(pipeline: Graph, store: GraphStore) -> None:
    stored = store.read("MATCH (n:Element {id: 'e:raw'}) RETURN keys(n) AS keys")[0]["keys"]
    assert {"import_runs", "import_sources", "created_by"} <= set(stored)  # what the writer keeps
    lg = LineageGraph(store)
    for sub in (lg.ancestors("e:model-2"), lg.descendants("e:raw"), lg.lineage("e:clean", direction="both"),
                lg.lineage("e:clean", direction="both", as_of=t(28))):
        assert sub.nodes and sub.relationships
        for item in [*sub.nodes, *sub.relationships]:
            assert not IMPORT_BOOKKEEPING & set(item.properties), item
        assert all(r.properties.get("key") for r in sub.relationships)  # the relationship's identity stays
    raw = lg.descendants("e:raw", depth=1).node("e:raw")
    assert raw is not None and raw.properties["label"] == "raw.csv"
    # path, blame and the other map-returning queries follow the same rule
    path = lg.path("e:model-2", "e:raw")
    assert path.nodes and all(not IMPORT_BOOKKEEPING & set(n.properties) for n in path.nodes)


def test_templates_hide_the_same_bookkeeping_as_the_python_side() -> None:
    hidden = ["import_runs", "import_sources", "import_shared", "created_by"]
    assert set(hidden) == IMPORT_BOOKKEEPING
    literal = "[" + ", ".join(repr(k) for k in hidden) + "]"
    for name in ("ancestors", "descendants", "lineage", "subgraph"):
        text = templates.load(name).text
        assert text.count(f"NOT k IN {literal}") == 2, name  # nodes and relationships
