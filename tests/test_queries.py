"""The query library against a real Neo4j, with expected answers computed by walking networkx."""

from __future__ import annotations

import re
import time

import pytest
from fixtures_graphs import (
    Graph,
    expected_nodes,
    expected_relationships,
    lineage_digraph,
    ml_pipeline,
    stacked_diamonds,
    t,
    within,
)

from lineagegraph import templates
from lineagegraph.errors import NotFoundError, QueryError
from lineagegraph.model import Activity, Agent, Entity, RelationType, Used, WasGeneratedBy
from lineagegraph.queries import LineageGraph
from lineagegraph.store import GraphStore
from lineagegraph.subgraph import Subgraph

pytestmark = pytest.mark.integration


@pytest.fixture
def pipeline(store: GraphStore) -> Graph:
    graph = ml_pipeline()
    store.import_elements("test", "ml_pipeline", graph.elements, graph.relations)
    return graph


@pytest.fixture
def lg(store: GraphStore) -> LineageGraph:
    return LineageGraph(store)


def rel_set(sub: Subgraph) -> set[tuple[str, str, str]]:
    return {(r.start, r.type, r.end) for r in sub.relationships}


# -- templates ------------------------------------------------------------------------------------


def test_every_template_documents_itself_and_bounds_every_walk() -> None:
    names = templates.names()
    assert {
        "ancestors",
        "descendants",
        "diff",
        "backtrace",
        "path",
        "blame",
        "recipe",
        "search",
    } <= set(names)
    allowed = {t.value for t in RelationType}
    for name in names:
        template = templates.load(name)
        assert template.description.startswith(name + ":"), name
        assert ":param" in template.header, name
        for param in template.parameters:
            assert f"${param}" in template.header, f"{name} does not document ${param}"
        # Every variable-length pattern carries a bound marker; no unbounded `*` or `+`.
        code = re.sub(r"//[^\n]*", "", template.text)
        for match in re.finditer(r"\{1,(\d+)([^}]*)\}|\*(\d*)\.\.(\d+)(\S*)", code):
            assert "/*$depth*/" in match.group(0), f"{name}: unmarked bound {match.group(0)}"
        assert not re.search(r"\]->?\*|\)\+|\*\]", code), name
        for rel_type in re.findall(r"\[\w*:([A-Z_|]+)", code):
            assert set(rel_type.split("|")) <= allowed, (name, rel_type)


def test_render_substitutes_only_validated_depths() -> None:
    template = templates.load("ancestors")
    assert template.bounds == {"depth": 10}
    assert template.required == {"id"}
    assert "{1,7/*$depth*/}" in template.render(depth=7)
    assert template.render() == template.text
    for bad in (0, templates.MAX_DEPTH + 1, True, "5", 2.0, "5}]->(x) DETACH DELETE x //"):
        with pytest.raises(QueryError):
            template.render(depth=bad)
    with pytest.raises(QueryError):
        template.render(hops=3)
    with pytest.raises(NotFoundError):
        templates.load("no_such_query")
    with pytest.raises(NotFoundError):
        templates.load("../store")


# -- ancestors / descendants ----------------------------------------------------------------------


def test_ancestors_and_descendants_match_networkx_for_every_element(
    pipeline: Graph, lg: LineageGraph
) -> None:
    for element in pipeline.elements:
        for direction, method in (("up", lg.ancestors), ("down", lg.descendants)):
            sub = method(element.id)
            want = expected_nodes(pipeline, element.id, direction)
            assert sub.ids == want, (direction, element.id, sub.ids ^ want)
            assert sub.nodes[0].id == element.id and sub.focus == [element.id]
            assert rel_set(sub) == expected_relationships(pipeline, want), (direction, element.id)


def test_depth_bounds_the_walk(pipeline: Graph, lg: LineageGraph) -> None:
    for depth in (1, 2, 3, 5):
        assert lg.ancestors("e:pred-a", depth=depth).ids == expected_nodes(
            pipeline, "e:pred-a", "up", depth
        )
        assert lg.descendants("e:raw", depth=depth).ids == expected_nodes(
            pipeline, "e:raw", "down", depth
        )
    with pytest.raises(QueryError):
        lg.ancestors("e:pred-a", depth=templates.MAX_DEPTH + 1)


def test_a_version_does_not_inherit_the_other_writers_inputs(
    pipeline: Graph, lg: LineageGraph
) -> None:
    second = lg.ancestors("e:model-2").ids
    assert {"a:train-2", "e:features-2", "e:config-2", "e:extra", "e:raw"} <= second
    assert "e:model" in second  # the location, attached as context
    assert not {"a:train-1", "e:features-1", "e:config-1", "e:model-1"} & second
    # The dashboard read the location: neither training run is its ancestor.
    assert (
        not {"a:train-1", "a:train-2", "e:features-1", "e:features-2"}
        & lg.ancestors("e:dashboard").ids
    )
    # An alternate is context; its own inputs are not model 2's lineage.
    assert "e:model-2-onnx" in second and "e:onnx-tool" not in second


def test_shared_agents_are_context_not_bridges(pipeline: Graph, lg: LineageGraph) -> None:
    up = lg.ancestors("e:pred-c")
    assert {"ag:sa", "ag:trainer-1.0", "ag:alice", "ag:team"} <= up.ids
    # ag:sa ran every activity, yet model 2's branch is not upstream of pred-c.
    assert not {"a:train-2", "e:model-2", "a:predict-a"} & up.ids
    # Asking an agent what it affected starts from its own activities.
    down = lg.descendants("ag:trainer-1.0")
    assert down.ids == expected_nodes(pipeline, "ag:trainer-1.0", "down")
    assert {"a:train-1", "e:model-1", "e:pred-c"} <= down.ids and "e:model-2" not in down.ids


def test_filters_and_limit(pipeline: Graph, lg: LineageGraph) -> None:
    everything = expected_nodes(pipeline, "e:pred-a", "up")
    kinds = {e.id: e.kind.value for e in pipeline.elements}

    entities = lg.ancestors("e:pred-a", kinds=["entity"])
    assert entities.ids == {"e:pred-a"} | {i for i in everything if kinds.get(i) == "Entity"}

    text = lg.ancestors("e:pred-a", text="FEATURE")
    assert text.ids == {"e:pred-a"} | {
        i
        for i in everything
        if "feature" in (pipeline.element(i).label or "").lower() or "feature" in i
    }

    assert lg.ancestors("e:pred-a", prov_type="Dataset").ids == {"e:pred-a", "e:raw"}
    assert lg.ancestors("e:pred-a", prov_type="prov:Dataset").ids == {"e:pred-a", "e:raw"}

    window = lg.ancestors("e:pred-a", since="2024-01-05T00:00:00Z", until=t(6, 12))
    assert window.ids == {"e:pred-a"} | {
        i for i in everything if (w := pipeline.time_of(i)) is not None and t(5) <= w <= t(6, 12)
    }

    limited = lg.ancestors("e:pred-a", kinds=["Activity"], limit=2)
    assert [n.id for n in limited.nodes] == ["e:pred-a", "a:predict-a", "a:train-2"]  # newest first

    with pytest.raises(QueryError):
        lg.ancestors("e:pred-a", kinds=["Plan"])
    with pytest.raises(QueryError):
        lg.ancestors("e:pred-a", since="last tuesday")


def test_as_of(pipeline: Graph, lg: LineageGraph) -> None:
    for when in (t(3, 12), t(5, 12), t(6, 1), t(8, 12), t(20)):
        for element in ("e:pred-bundle", "e:model-2", "e:clean", "e:raw", "a:train-2"):
            up = lg.ancestors(element, as_of=when)
            assert up.ids == expected_nodes(pipeline, element, "up", as_of=when), (element, when)
            down = lg.descendants(element, as_of=when.isoformat())
            assert down.ids == expected_nodes(pipeline, element, "down", as_of=when), (
                element,
                when,
            )
    # Before pred-b existed (2024-01-09), the bundle had only pred-a in its lineage.
    early = lg.as_of("e:pred-bundle", t(8, 12))
    assert (
        "e:pred-a" in early.ids and "e:pred-b" not in early.ids and "a:predict-b" not in early.ids
    )
    assert "a:predict-b" in lg.ancestors("e:pred-bundle").ids


def test_lineage_both_ways_joins_the_halves(pipeline: Graph, lg: LineageGraph) -> None:
    both = lg.lineage("e:model-2", direction="both", depth=3)
    want = expected_nodes(pipeline, "e:model-2", "up", 3) | expected_nodes(
        pipeline, "e:model-2", "down", 3
    )
    assert both.ids == want
    assert rel_set(both) == expected_relationships(pipeline, want)
    assert lg.lineage("e:model-2", direction="down").ids == lg.descendants("e:model-2").ids
    with pytest.raises(QueryError):
        lg.lineage("e:model-2", direction="sideways")


def test_thirty_stacked_diamonds_are_fast_and_exact(store: GraphStore, lg: LineageGraph) -> None:
    graph = stacked_diamonds(30)
    store.import_elements("test", "diamonds", graph.elements, graph.relations)
    digraph = lineage_digraph(graph)
    depth = templates.MAX_DEPTH  # 25 diamonds deep: 2**25 distinct paths within the bound
    started = time.monotonic()
    up = lg.ancestors("e:d30", depth=depth)
    down = lg.descendants("e:d0", depth=depth)
    found = lg.path("e:d30", "e:d5", depth=depth)
    blame = lg.blame(["e:d30", "e:d29"], depth=depth)
    elapsed = time.monotonic() - started
    assert up.ids == {"e:d30"} | within(digraph, "e:d30", depth)
    assert down.ids == {"e:d0"} | within(digraph.reverse(), "e:d0", depth)
    assert len(found.relationships) == 50
    assert {s.element.id for s in blame.suspects if s.hits == 2} == within(
        digraph, "e:d29", depth
    ) & within(digraph, "e:d30", depth)
    assert elapsed < 10, f"diamond queries took {elapsed:.1f}s"


# -- path, blame ----------------------------------------------------------------------------------


def test_path_is_a_shortest_lineage_path(pipeline: Graph, lg: LineageGraph) -> None:
    digraph = lineage_digraph(pipeline)
    import networkx as nx

    for a, b in (
        ("e:pred-a", "e:raw"),
        ("e:report-2", "e:model-2"),
        ("e:pred-bundle", "e:config-2"),
        ("e:model-2", "a:clean"),
    ):
        found = lg.path(a, b)
        assert found.found
        assert found.nodes[0].id == a and found.nodes[-1].id == b
        assert len(found.relationships) == nx.shortest_path_length(digraph, a, b)
        for rel, (x, y) in zip(
            found.relationships, zip(found.nodes, found.nodes[1:], strict=False), strict=True
        ):
            assert (rel.start, rel.end) == (x.id, y.id) and digraph.has_edge(x.id, y.id)
    for a, b in (
        ("e:raw", "e:pred-a"),
        ("e:model-2", "e:config-1"),
        ("e:dashboard", "e:features-2"),
    ):
        assert not nx.has_path(digraph, a, b)
        missing = lg.path(a, b)
        assert not missing.found and "not derived" in missing.text()
    with pytest.raises(QueryError):
        lg.path("e:raw", "e:raw")


def test_blame_counts_how_many_flagged_outputs_reach_each_element(
    pipeline: Graph, lg: LineageGraph
) -> None:
    digraph = lineage_digraph(pipeline)
    flagged = ["e:pred-a", "e:pred-b", "e:report-2", "e:pred-c"]
    counts: dict[str, int] = {}
    for output in flagged:
        for upstream in within(digraph, output, 10):
            counts[upstream] = counts.get(upstream, 0) + 1
    report = lg.blame(flagged)
    assert {s.element.id: s.hits for s in report.suspects} == counts
    hits = [s.hits for s in report.suspects]
    assert hits == sorted(hits, reverse=True)
    # Most likely culprit: the newest element every bad output shares.
    # pred-c comes from model 1: all four share only raw, clean and the clean step.
    assert report.suspects[0].element.id == "e:clean"
    top = lg.blame(flagged[:3])
    assert top.suspects[0].element.id == "e:model-2" and top.suspects[0].share == 1.0
    assert {s.element.id for s in lg.blame(flagged, min_hits=4).suspects} == {
        u for u, c in counts.items() if c == 4
    }
    assert len(lg.blame(flagged, limit=3).suspects) == 3
    with_agents = lg.blame(flagged[:3], kinds=["Agent"])
    assert {s.element.id for s in with_agents.suspects} == {"ag:sa", "ag:trainer-1.1", "ag:alice"}
    assert report.to_pandas()["id"].tolist() == [s.element.id for s in report.suspects]


# -- diff, backtrace, recipe ----------------------------------------------------------------------


def test_diff_of_two_model_versions(pipeline: Graph, lg: LineageGraph) -> None:
    result = lg.diff("e:model-1", "e:model-2")
    entity_ids = {e.id for e in pipeline.elements if e.kind.value == "Entity"}
    digraph = lineage_digraph(pipeline)
    up_a = within(digraph, "e:model-1", 10) & entity_ids
    up_b = within(digraph, "e:model-2", 10) & entity_ids
    assert {n.id for n in result.only_a} == up_a - up_b == {"e:features-1", "e:config-1"}
    assert {n.id for n in result.only_b} == up_b - up_a == {"e:features-2", "e:config-2", "e:extra"}
    assert {n.id for n in result.shared} == up_a & up_b == {"e:raw", "e:clean"}
    assert result.activities_only_a == [] and result.activities_only_b == []

    by_what = {c.what: c for c in result.activity_changes}
    assert set(by_what) == {"train_model", "featurize"}
    train = by_what["train_model"]
    assert (train.a.id, train.b.id) == ("a:train-1", "a:train-2")
    assert {(c.key, c.a, c.b) for c in train.params} == {
        ("lr", 0.1, 0.01),
        ("optimizer.name", "sgd", "adam"),
    }
    assert {(c.key, c.a, c.b) for c in train.code} == {("code_version", "abc123", "def456")}
    assert {(c.key, c.a, c.b) for c in train.environment} == {("python_version", "3.10", "3.11")}
    assert {(c.key, c.a, c.b) for c in train.agents} == {("image", "trainer:1.0", "trainer:1.1")}
    assert {(c.key, c.a, c.b) for c in by_what["featurize"].params} == {("window", 7, 14)}

    versions = {v.key: ({n.id for n in v.a}, {n.id for n in v.b}) for v in result.version_changes}
    assert versions == {
        "e:features": ({"e:features-1"}, {"e:features-2"}),
        "git://cfg/features.yaml": ({"e:config-1"}, {"e:config-2"}),
    }
    assert not result.identical
    frame = result.to_pandas()
    assert ("params", "train_model", "lr") in set(
        zip(frame.section, frame.what, frame.key, strict=True)
    )
    assert lg.diff("e:pred-a", "e:pred-b").activity_changes[0].what == "predict"


def test_backtrace_frames_are_newest_first_and_before_their_causes(
    pipeline: Graph, lg: LineageGraph
) -> None:
    digraph = lineage_digraph(pipeline)
    activities = {e.id for e in pipeline.elements if isinstance(e, Activity)}
    for output in ("e:pred-a", "e:report-2", "e:pred-bundle", "e:model-1"):
        bt = lg.backtrace(output)
        order = [f.activity.id for f in bt.frames]
        assert set(order) == within(digraph, output, 10) & activities
        assert [f.number for f in bt.frames] == list(range(len(order)))
        for i, act in enumerate(order):
            for cause in within(digraph, act, 10) & activities:
                assert order.index(cause) > i, (output, act, cause)
    bt = lg.backtrace("e:report-2")
    assert [f.activity.id for f in bt.frames] == [
        "a:eval-2",
        "a:train-2",
        "a:featurize-2",
        "a:clean",
    ]
    train = bt.frames[1]
    assert train.what == "train_model" and train.version == "def456"
    assert {a.agent.id for a in train.agents} == {"ag:trainer-1.1", "ag:alice", "ag:sa"}
    assert {(u.entity.id, u.role) for u in train.inputs} == {
        ("e:features-2", "training-data"),
        ("e:extra", None),
    }
    assert train.params == {"lr": 0.01, "epochs": 10, "optimizer.name": "adam"}
    text = bt.text()
    assert text.index("#0 evaluate") < text.index("#1 train_model") < text.index("#3 clean")
    assert lg.backtrace("e:raw").frames == []


def test_recipe_lists_steps_oldest_first_with_what_to_rerun(
    pipeline: Graph, lg: LineageGraph
) -> None:
    digraph = lineage_digraph(pipeline)
    recipe = lg.recipe("e:pred-a")
    order = [s.activity.id for s in recipe.steps]
    assert order == ["a:clean", "a:featurize-2", "a:train-2", "a:predict-a"]
    for i, act in enumerate(order):
        assert all(order.index(c) < i for c in within(digraph, act, 10) if c in order)
    external = {u.entity.id: u for u in recipe.external_inputs}
    assert set(external) == {"e:raw", "e:config-2", "e:extra", "e:batch-a"}
    assert external["e:raw"].entity.properties["digest"] == "sha256:r1"
    train = recipe.steps[2]
    assert train.code == {"code_version": "def456"} and train.environment == {
        "python_version": "3.11"
    }
    features = next(u for u in train.inputs if u.entity.id == "e:features-2")
    assert [g.id for g in features.general] == ["e:features"] and features.generated_by == [
        "a:featurize-2"
    ]
    assert recipe.to_pandas()["id"].tolist() == order


# -- search, cypher, errors -----------------------------------------------------------------------


def test_search(pipeline: Graph, lg: LineageGraph) -> None:
    def ids(**kw: object) -> set[str]:
        return {n.id for n in lg.search(**kw).nodes}  # type: ignore[arg-type]

    labels = {e.id: (e.label or "") for e in pipeline.elements}
    assert ids(text="Predict") == {
        i for i, lbl in labels.items() if "predict" in lbl.lower() or "predict" in i
    }
    assert ids(text="predict", kinds=["Activity"]) == {"a:predict-a", "a:predict-b", "a:predict-c"}
    assert ids(id_prefix="e:pred") == {"e:pred-a", "e:pred-b", "e:pred-c", "e:pred-bundle"}
    assert ids(prov_type="Dataset") == {"e:raw"}
    assert ids(kinds=["Agent"]) == {e.id for e in pipeline.elements if isinstance(e, Agent)}
    assert ids(text="model", since=t(6), until=t(7)) == {"e:model-2", "a:train-2"}
    assert ids(text='a"b OR 1=1 *:( \\') == set()  # user text is a value, never query syntax
    first = lg.search("predict", kinds=["Activity"]).nodes[0]
    assert first.id == "a:predict-b"  # exact label matches, newest first
    assert len(lg.search(limit=3).nodes) == 3


def test_cypher_runs_templates_and_files(
    pipeline: Graph, lg: LineageGraph, tmp_path: object
) -> None:
    rows = lg.cypher("ancestors", id="e:model-2", depth=1)
    assert {n[0] for n in rows[0]["nodes"]} == expected_nodes(pipeline, "e:model-2", "up", 1)
    assert rows[0]["focus"]["labels"] == ["Element", "Entity"]
    from pathlib import Path

    custom = Path(str(tmp_path)) / "users.cypher"
    custom.write_text(
        "// users: who used $id\nMATCH (a:Activity)-[:USED*1..1/*$depth*/]->(:Element {id: $id})\n"
        "RETURN a.id AS id ORDER BY id\n"
    )
    assert [r["id"] for r in lg.cypher(str(custom), id="e:model-2")] == [
        "a:eval-2",
        "a:predict-a",
        "a:predict-b",
    ]
    with pytest.raises(QueryError, match="needs parameter"):
        lg.cypher("ancestors")
    with pytest.raises(NotFoundError):
        lg.cypher("nope")


def test_unknown_ids_raise_not_found(pipeline: Graph, lg: LineageGraph) -> None:
    calls = [
        lambda: lg.ancestors("nope"),
        lambda: lg.descendants("nope"),
        lambda: lg.lineage("nope"),
        lambda: lg.diff("e:model-1", "nope"),
        lambda: lg.backtrace("nope"),
        lambda: lg.recipe("nope"),
        lambda: lg.path("nope", "e:raw"),
        lambda: lg.blame(["e:pred-a", "nope"]),
    ]
    for call in calls:
        with pytest.raises(NotFoundError, match="nope"):
            call()


def test_connect_and_context_manager(pipeline: Graph, test_settings: object) -> None:
    with LineageGraph.connect(test_settings) as graph:  # type: ignore[arg-type]
        assert "e:raw" in graph.ancestors("e:clean").ids


def test_results_convert_for_notebooks(store: GraphStore) -> None:
    """to_networkx keeps parallel relationships apart; str() of a backtrace is its text."""
    store.import_elements("test", "nb", [Entity(id="in"), Activity(id="job", label="job"), Entity(id="out")], [
        Used(activity="job", entity="in", attributes={"prov:role": "train"}),
        Used(activity="job", entity="in", attributes={"prov:role": "validate"}),
        WasGeneratedBy(entity="out", activity="job"),
    ])
    graph = LineageGraph(store)
    up = graph.ancestors("out")
    nxg = up.to_networkx()
    assert nxg.number_of_edges("job", "in") == 2 and nxg.number_of_edges("out", "job") == 1
    assert {d["type"] for _, _, d in nxg.edges(data=True)} == {"USED", "WAS_GENERATED_BY"}
    frame = up.to_pandas()
    assert set(frame["id"]) == {"in", "job", "out"}
    bt = graph.backtrace("out")
    assert str(bt) == bt.text() and str(bt).startswith("#0 job")
