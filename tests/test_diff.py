"""diff on the shapes real imports produce: revisions, flat PROV attributes, numbered runs."""

from __future__ import annotations

import pytest

from lineagegraph.model import Activity, DerivationType, Entity, Used, WasDerivedFrom, WasGeneratedBy
from lineagegraph.queries import LineageGraph
from lineagegraph.store import GraphStore

pytestmark = pytest.mark.integration


def training(store: GraphStore, run: int, lr: float, code: str, data: str, prep_run: int) -> None:
    """data -> prep (run prep_run) -> features -> train (run `run`) -> model-<run>."""
    store.import_elements(
        "test", f"run-{run}",
        [Entity(id=data), Entity(id=f"features-{run}"), Entity(id=f"model-{run}"),
         Activity(id=f"prep-{prep_run}", label=f"prepare features (run {prep_run})",
                  attributes={"ex:window_days": 30 if run == 41 else 60}),
         Activity(id=f"train-{run}", label=f"train (run {run})", code_version=code,
                  attributes={"ex:learning_rate": lr, "ex:epochs": 20})],
        [Used(activity=f"prep-{prep_run}", entity=data),
         WasGeneratedBy(entity=f"features-{run}", activity=f"prep-{prep_run}"),
         Used(activity=f"train-{run}", entity=f"features-{run}"),
         WasGeneratedBy(entity=f"model-{run}", activity=f"train-{run}")],
    )


@pytest.fixture
def graph(store: GraphStore) -> LineageGraph:
    training(store, 41, 0.01, "3f9c2a1", "raw-q1", 7)
    training(store, 42, 0.005, "8d41e07", "raw-q2", 8)
    # v2 is a revision of v1, so v1's whole lineage is also upstream of v2.
    store.import_elements("test", "revision", [], [
        WasDerivedFrom(generated_entity="model-42", used_entity="model-41",
                       derivation_type=DerivationType.REVISION)])
    return LineageGraph(store)


def test_the_makers_of_a_and_b_are_compared_even_across_a_revision(graph: LineageGraph) -> None:
    result = graph.diff("model-41", "model-42")
    makers = [c for c in result.activity_changes if c.a.id == "train-41"]
    assert len(makers) == 1 and makers[0].b.id == "train-42"
    change = makers[0]
    assert {(v.key, v.a, v.b) for v in change.params} == {("ex:learning_rate", 0.01, 0.005)}, \
        "a flat PROV attribute is a parameter; the unchanged one is not listed"
    assert {(v.key, v.a, v.b) for v in change.code} == {("code_version", "3f9c2a1", "8d41e07")}


def test_numbered_runs_of_one_step_are_paired(graph: LineageGraph) -> None:
    result = graph.diff("model-41", "model-42")
    prep = [c for c in result.activity_changes if c.a.id == "prep-7"]
    assert len(prep) == 1 and prep[0].b.id == "prep-8"
    assert {(v.key, v.a, v.b) for v in prep[0].params} == {("ex:window_days", 30, 60)}
    assert [n.id for n in result.only_b if n.id.startswith("raw")] == ["raw-q2"]
    assert not result.identical


def test_an_output_compared_with_itself_is_identical(graph: LineageGraph) -> None:
    result = graph.diff("model-42", "model-42")
    assert result.identical and not result.activity_changes
