"""Test lineage graphs for the query library, as model objects and as networkx graphs.

``ml_pipeline()`` is a small ML pipeline with an overwritten location (two versions of
``gs://models/model.pb`` and of the features table), agents shared by every run, a reader of the
general location, an alternate, a collection and a derivation shortcut. ``stacked_diamonds(n)``
is a chain of ``n`` diamonds (2**n distinct paths from top to bottom).

``lineage_digraph`` turns the same relations into a networkx graph of lineage edges only, so
tests compute expected answers by walking networkx, independently of the Cypher templates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import networkx as nx

from lineagegraph.model import (
    ActedOnBehalfOf,
    Activity,
    Agent,
    AlternateOf,
    Element,
    Entity,
    HadMember,
    Relation,
    RelationType,
    SpecializationOf,
    Used,
    WasAssociatedWith,
    WasAttributedTo,
    WasDerivedFrom,
    WasGeneratedBy,
    WasInfluencedBy,
    WasInformedBy,
)

# The relationship types the docs call lineage (walked); written out here on purpose rather
# than imported, so that the tests check the code against the documented semantics.
LINEAGE_TYPES = frozenset(
    {
        "USED",
        "WAS_GENERATED_BY",
        "WAS_DERIVED_FROM",
        "WAS_INFORMED_BY",
        "WAS_STARTED_BY",
        "WAS_ENDED_BY",
        "HAD_MEMBER",
    }
)


def t(day: int, hour: int = 0) -> datetime:
    return datetime(2024, 1, day, hour, tzinfo=UTC)


@dataclass
class Graph:
    elements: list[Element] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)

    def add(self, *items: Element | Relation) -> None:
        for item in items:
            (self.elements if isinstance(item, Element) else self.relations).append(item)

    def element(self, element_id: str) -> Element:
        return next(e for e in self.elements if e.id == element_id)

    def time_of(self, element_id: str) -> datetime | None:
        """generated_at / started_at as the test data set it (typed field or string attribute)."""
        element = self.element(element_id)
        for name in ("generated_at", "started_at"):
            value = getattr(element, name, None) or element.attributes.get(name)
            if value is not None:
                return value if isinstance(value, datetime) else datetime.fromisoformat(value)
        return None


def ml_pipeline() -> Graph:
    g = Graph()
    # Agents: people, images, and one service account associated with every run.
    g.add(
        Agent(id="ag:alice", label="Alice", agent_type="person"),
        Agent(id="ag:team", label="ML team", agent_type="organization"),
        Agent(id="ag:sa", label="pipeline-sa", agent_type="service_account"),
        Agent(id="ag:trainer-1.0", label="trainer:1.0", agent_type="image"),
        Agent(id="ag:trainer-1.1", label="trainer:1.1", agent_type="image"),
        ActedOnBehalfOf(delegate="ag:alice", responsible="ag:team"),
    )
    # Sources.
    g.add(
        Entity(
            id="e:raw",
            label="raw.csv",
            uri="gs://data/raw.csv",
            digest="sha256:r1",
            prov_type=["prov:Dataset"],
            generated_at=t(1),
        ),
        Entity(
            id="e:config-1",
            label="features.yaml",
            uri="git://cfg/features.yaml",
            digest="c1",
            generated_at=t(1),
        ),
        Entity(
            id="e:config-2",
            label="features.yaml",
            uri="git://cfg/features.yaml",
            digest="c2",
            generated_at=t(4),
        ),
        Entity(
            id="e:extra",
            label="extra.csv",
            uri="gs://data/extra.csv",
            digest="x1",
            generated_at=t(5),
        ),
        Entity(
            id="e:test", label="test.csv", uri="gs://data/test.csv", digest="t1", generated_at=t(1)
        ),
        Entity(id="e:onnx-tool", label="onnx-converter", generated_at=t(1)),
    )
    # Clean, then two featurize runs writing two versions of one features table.
    g.add(
        Activity(
            id="a:clean",
            label="clean",
            started_at=t(2),
            ended_at=t(2, 1),
            status="ok",
            params={"dropna": True},
            code_version="c0ffee",
        ),
        Used(activity="a:clean", entity="e:raw", time=t(2)),
        Entity(
            id="e:clean", label="clean.parquet", uri="gs://data/clean.parquet", generated_at=t(2, 1)
        ),
        WasGeneratedBy(entity="e:clean", activity="a:clean", time=t(2, 1)),
        WasAssociatedWith(activity="a:clean", agent="ag:sa"),
        Entity(
            id="e:features",
            label="features",
            uri="gs://data/features.parquet",
            extra_labels=frozenset({"Location"}),
        ),
        Activity(
            id="a:featurize-1",
            label="featurize",
            started_at=t(3),
            ended_at=t(3, 1),
            params={"window": 7},
        ),
        Used(activity="a:featurize-1", entity="e:clean", time=t(3)),
        Used(activity="a:featurize-1", entity="e:config-1", time=t(3)),
        Entity(
            id="e:features-1",
            label="features",
            uri="gs://data/features.parquet",
            digest="f1",
            generated_at=t(3, 1),
        ),
        WasGeneratedBy(entity="e:features-1", activity="a:featurize-1", time=t(3, 1)),
        SpecializationOf(specific="e:features-1", general="e:features"),
        WasAssociatedWith(activity="a:featurize-1", agent="ag:sa"),
        Activity(
            id="a:featurize-2",
            label="featurize",
            started_at=t(5),
            ended_at=t(5, 1),
            params={"window": 14},
        ),
        Used(activity="a:featurize-2", entity="e:clean", time=t(5)),
        Used(activity="a:featurize-2", entity="e:config-2", time=t(5)),
        Entity(
            id="e:features-2",
            label="features",
            uri="gs://data/features.parquet",
            digest="f2",
            generated_at=t(5, 1),
        ),
        WasGeneratedBy(entity="e:features-2", activity="a:featurize-2", time=t(5, 1)),
        SpecializationOf(specific="e:features-2", general="e:features"),
        WasAssociatedWith(activity="a:featurize-2", agent="ag:sa"),
    )
    # Two training runs writing two versions of gs://models/model.pb.
    g.add(
        Entity(
            id="e:model",
            label="model.pb",
            uri="gs://models/model.pb",
            extra_labels=frozenset({"Location"}),
        ),
        Activity(
            id="a:train-1",
            label="train_model",
            started_at=t(4),
            ended_at=t(4, 2),
            status="ok",
            params={"lr": 0.1, "epochs": 10, "optimizer": {"name": "sgd"}},
            code_version="abc123",
            attributes={"python_version": "3.10"},
        ),
        Used(
            activity="a:train-1",
            entity="e:features-1",
            time=t(4),
            attributes={"prov:role": "training-data"},
        ),
        WasAssociatedWith(activity="a:train-1", agent="ag:trainer-1.0"),
        WasAssociatedWith(
            activity="a:train-1", agent="ag:alice", attributes={"prov:role": "operator"}
        ),
        WasAssociatedWith(activity="a:train-1", agent="ag:sa"),
        Entity(
            id="e:model-1",
            label="model.pb",
            uri="gs://models/model.pb",
            digest="m1",
            generated_at=t(4, 2),
        ),
        WasGeneratedBy(entity="e:model-1", activity="a:train-1", time=t(4, 2)),
        SpecializationOf(specific="e:model-1", general="e:model"),
        Activity(
            id="a:train-2",
            label="train_model",
            started_at=t(6),
            ended_at=t(6, 2),
            status="ok",
            params={"lr": 0.01, "epochs": 10, "optimizer": {"name": "adam"}},
            code_version="def456",
            attributes={"python_version": "3.11"},
        ),
        Used(
            activity="a:train-2",
            entity="e:features-2",
            time=t(6),
            attributes={"prov:role": "training-data"},
        ),
        Used(activity="a:train-2", entity="e:extra", time=t(6)),
        WasAssociatedWith(activity="a:train-2", agent="ag:trainer-1.1"),
        WasAssociatedWith(
            activity="a:train-2", agent="ag:alice", attributes={"prov:role": "operator"}
        ),
        WasAssociatedWith(activity="a:train-2", agent="ag:sa"),
        Entity(
            id="e:model-2",
            label="model.pb",
            uri="gs://models/model.pb",
            digest="m2",
            generated_at=t(6, 2),
        ),
        WasGeneratedBy(entity="e:model-2", activity="a:train-2", time=t(6, 2)),
        SpecializationOf(specific="e:model-2", general="e:model"),
        WasAttributedTo(entity="e:model-2", agent="ag:alice"),
        # An ONNX copy of model 2: an alternate, made from its own tool; never lineage of model 2.
        Activity(id="a:export", label="export_onnx", started_at=t(7)),
        Used(activity="a:export", entity="e:onnx-tool"),
        Entity(id="e:model-2-onnx", label="model.onnx", generated_at=t(7, 1)),
        WasGeneratedBy(entity="e:model-2-onnx", activity="a:export"),
        AlternateOf(alternate1="e:model-2-onnx", alternate2="e:model-2"),
    )
    # Evaluations and predictions; one prediction run stores its start as a string attribute.
    g.add(
        Activity(id="a:eval-2", label="evaluate", started_at=t(7)),
        Used(activity="a:eval-2", entity="e:model-2", time=t(7)),
        Used(activity="a:eval-2", entity="e:test", time=t(7)),
        WasInformedBy(informed="a:eval-2", informant="a:train-2"),
        Entity(id="e:report-2", label="report", generated_at=t(7, 1)),
        WasGeneratedBy(entity="e:report-2", activity="a:eval-2"),
        WasDerivedFrom(generated_entity="e:report-2", used_entity="e:model-2"),
        WasInfluencedBy(influencee="e:report-2", influencer="ag:alice"),
        Activity(id="a:predict-a", label="predict", started_at=t(8)),
        Used(activity="a:predict-a", entity="e:model-2", time=t(8)),
        Entity(id="e:batch-a", label="batch a", generated_at=t(8)),
        Used(activity="a:predict-a", entity="e:batch-a", time=t(8)),
        Entity(id="e:pred-a", label="predictions a", generated_at=t(8, 1)),
        WasGeneratedBy(entity="e:pred-a", activity="a:predict-a", time=t(8, 1)),
        Activity(
            id="a:predict-b",
            label="predict",
            attributes={"started_at": "2024-01-09T00:00:00+00:00"},
        ),
        Used(activity="a:predict-b", entity="e:model-2", time=t(9)),
        Entity(id="e:pred-b", label="predictions b", generated_at=t(9, 1)),
        WasGeneratedBy(entity="e:pred-b", activity="a:predict-b", time=t(9, 1)),
        Activity(id="a:predict-c", label="predict", started_at=t(5)),
        Used(activity="a:predict-c", entity="e:model-1", time=t(5)),
        Entity(id="e:pred-c", label="predictions c", generated_at=t(5, 1)),
        WasGeneratedBy(entity="e:pred-c", activity="a:predict-c", time=t(5, 1)),
        Entity(id="e:pred-bundle", label="all predictions"),  # no time: members accumulate
        HadMember(collection="e:pred-bundle", entity="e:pred-a"),
        HadMember(collection="e:pred-bundle", entity="e:pred-b"),
        # A dashboard read the location, not a version: it must not inherit either writer's inputs.
        Activity(id="a:dashboard", label="render_dashboard", started_at=t(10)),
        Used(activity="a:dashboard", entity="e:model", time=t(10)),
        Entity(id="e:dashboard", label="dashboard.html", generated_at=t(10, 1)),
        WasGeneratedBy(entity="e:dashboard", activity="a:dashboard"),
    )
    for activity in [e for e in g.elements if isinstance(e, Activity)]:
        if activity.id not in {
            "a:clean",
            "a:featurize-1",
            "a:featurize-2",
            "a:train-1",
            "a:train-2",
        }:
            g.add(WasAssociatedWith(activity=activity.id, agent="ag:sa"))
    return g


def stacked_diamonds(n: int) -> Graph:
    """``e:d0`` at the top; each level i has two activities using e:d<i> and generating e:d<i+1>."""
    g = Graph()
    g.add(Entity(id="e:d0", label="top"))
    for i in range(n):
        g.add(Entity(id=f"e:d{i + 1}", label=f"level {i + 1}"))
        for side in ("l", "r"):
            act = f"a:d{i}{side}"
            g.add(
                Activity(id=act, label=f"step {i} {side}"),
                Used(activity=act, entity=f"e:d{i}"),
                WasGeneratedBy(entity=f"e:d{i + 1}", activity=act),
            )
    return g


def lineage_digraph(graph: Graph, as_of: datetime | None = None) -> nx.DiGraph:
    """Lineage edges (effect -> cause) as a networkx graph; with ``as_of``, only what existed then.

    As of T (the documented definition): a node exists when it has no generated_at/started_at
    or that time is <= T; an edge exists when both ends exist and its ``time`` is unset or <= T.
    """
    digraph = nx.DiGraph()

    def exists(element_id: str) -> bool:
        when = (
            graph.time_of(element_id) if any(e.id == element_id for e in graph.elements) else None
        )
        return as_of is None or when is None or when <= as_of

    for element in graph.elements:
        if exists(element.id):
            digraph.add_node(element.id)
    for rel in graph.relations:
        if rel.type.value not in LINEAGE_TYPES or not (exists(rel.start) and exists(rel.end)):
            continue
        when = getattr(rel, "time", None)
        if as_of is not None and when is not None and when > as_of:
            continue
        digraph.add_edge(rel.start, rel.end, type=rel.type.value)
    return digraph


def within(digraph: nx.DiGraph, source: str, depth: int) -> set[str]:
    """Nodes reachable from ``source`` along edge direction in 1..depth hops."""
    if source not in digraph:
        return set()
    reach = nx.single_source_shortest_path_length(digraph, source, cutoff=depth)
    return {n for n, hops in reach.items() if hops >= 1}


def context_of(graph: Graph, core: set[str], direction: str) -> set[str]:
    """The documented one-hop context of a set of walked nodes."""
    out: set[str] = set()
    agents: set[str] = set()
    for rel in graph.relations:
        kind = rel.type
        if (
            kind in (RelationType.WAS_ASSOCIATED_WITH, RelationType.WAS_ATTRIBUTED_TO)
            and rel.start in core
        ):
            agents.add(rel.end)
        elif kind is RelationType.SPECIALIZATION_OF and rel.start in core:
            out.add(rel.end)
        elif kind is RelationType.ALTERNATE_OF:
            out |= {rel.end} if rel.start in core else set()
            out |= {rel.start} if rel.end in core else set()
        elif kind is RelationType.WAS_INFLUENCED_BY:
            if direction == "up" and rel.start in core:
                out.add(rel.end)
            if direction == "down" and rel.end in core:
                out.add(rel.start)
    out |= agents
    agent_ids = {e.id for e in graph.elements if isinstance(e, Agent)}
    for rel in graph.relations:
        if rel.type is RelationType.ACTED_ON_BEHALF_OF and rel.start in (out & agent_ids):
            out.add(rel.end)
    return out


def expected_nodes(
    graph: Graph, focus: str, direction: str, depth: int = 10, as_of: datetime | None = None
) -> set[str]:
    digraph = lineage_digraph(graph, as_of)
    if direction == "down":
        digraph = digraph.reverse()
    starts = {focus} if focus in digraph else set()
    if direction == "down" and isinstance(graph.element(focus), Agent):
        starts |= {
            r.start
            for r in graph.relations
            if r.type in (RelationType.WAS_ASSOCIATED_WITH, RelationType.WAS_ATTRIBUTED_TO)
            and r.end == focus
            and r.start in digraph
        }
    core = set(starts)
    for start in starts:
        core |= within(digraph, start, depth)
    context = context_of(graph, core, direction)
    if as_of is not None:
        context = {c for c in context if (graph.time_of(c) or as_of) <= as_of}
    return {focus} | core | context


def expected_relationships(graph: Graph, nodes: set[str]) -> set[tuple[str, str, str]]:
    return {
        (r.start, r.type.value, r.end)
        for r in graph.relations
        if r.start in nodes and r.end in nodes
    }
