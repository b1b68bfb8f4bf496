"""The graph writer against a real Neo4j: convergence, counts, run bookkeeping, encoding, safety."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from lineagegraph.errors import NotFoundError
from lineagegraph.model import (
    Activity,
    Agent,
    Entity,
    Used,
    WasAssociatedWith,
    WasDerivedFrom,
    WasGeneratedBy,
)
from lineagegraph.settings import Settings
from lineagegraph.store import GraphStore

pytestmark = pytest.mark.integration


def pipeline() -> tuple[list, list]:
    elements = [
        Entity(id="ex:raw", label="raw.csv", uri="gs://b/raw.csv"),
        Activity(id="ex:train", label="train", params={"lr": 0.1, "layers": [64, 32]},
                 started_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        Agent(id="ex:alice", label="Alice", agent_type="person"),
        Entity(id="ex:model", label="model.pb"),
    ]
    relations = [
        Used(activity="ex:train", entity="ex:raw", attributes={"prov:role": "training-data"}),
        WasGeneratedBy(entity="ex:model", activity="ex:train"),
        WasAssociatedWith(activity="ex:train", agent="ex:alice"),
        WasDerivedFrom(generated_entity="ex:model", used_entity="ex:raw", activity="ex:train"),
    ]
    return elements, relations


def counts(store: GraphStore) -> tuple[int, int]:
    row = store.read("MATCH (n:Element) WITH count(n) AS n "
                     "OPTIONAL MATCH ()-[r]->() RETURN n, count(r) AS r")[0]
    return row["n"], row["r"]


def test_reimport_converges_on_the_same_nodes(store: GraphStore) -> None:
    elements, relations = pipeline()
    first = store.import_elements("test", "doc", elements, relations)
    assert (first.nodes.created, first.relationships.created) == (4, 4)
    assert counts(store) == (4, 4)

    second = store.import_elements("test", "doc", elements, relations)
    assert counts(store) == (4, 4), "re-import must not duplicate anything"
    assert (second.nodes.created, second.nodes.updated, second.nodes.unchanged) == (0, 0, 4)
    assert (second.relationships.created, second.relationships.unchanged) == (0, 4)


def test_a_changed_property_counts_as_updated(store: GraphStore) -> None:
    elements, relations = pipeline()
    store.import_elements("test", "doc", elements, relations)
    elements[0].label = "raw-v2.csv"
    summary = store.import_elements("test", "doc", elements, relations)
    assert (summary.nodes.created, summary.nodes.updated, summary.nodes.unchanged) == (0, 1, 3)
    assert store.read("MATCH (n:Element {id: 'ex:raw'}) RETURN n.label AS l")[0]["l"] == "raw-v2.csv"


def test_relations_with_different_roles_are_different_relationships(store: GraphStore) -> None:
    rels = [Used(activity="a", entity="e", attributes={"prov:role": role}) for role in ("x", "y", "x")]
    store.import_elements("test", "doc", [Activity(id="a"), Entity(id="e")], rels)
    assert store.read("MATCH (:Activity {id:'a'})-[r:USED]->(:Entity {id:'e'}) RETURN count(r) AS c")[0]["c"] == 2


def test_property_encoding(store: GraphStore) -> None:
    elements, relations = pipeline()
    store.import_elements("test", "doc", elements, relations)
    row = store.read("MATCH (n:Activity {id: 'ex:train'}) RETURN n.params AS params, n.started_at AS t")[0]
    # nested values are JSON strings, datetimes stay datetimes
    assert json.loads(row["params"]) == {"lr": 0.1, "layers": [64, 32]}
    assert row["t"].to_native() == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    labels = store.read("MATCH (n:Element {id: 'ex:alice'}) RETURN labels(n) AS l")[0]["l"]
    assert sorted(labels) == ["Agent", "Element"]


def test_undeclared_ends_become_typed_stubs_until_declared(store: GraphStore) -> None:
    store.import_elements("test", "a", [], [WasGeneratedBy(entity="ex:out", activity="ex:job")])
    row = store.read("MATCH (n:Element {id: 'ex:job'}) RETURN labels(n) AS l, n.stub AS stub")[0]
    assert "Activity" in row["l"] and row["stub"] is True
    store.import_elements("test", "b", [Activity(id="ex:job", label="job")], [])
    row = store.read("MATCH (n:Element {id: 'ex:job'}) RETURN n.stub AS stub, n.label AS label")[0]
    assert row == {"stub": None, "label": "job"}


def test_every_element_is_traceable_to_its_runs(store: GraphStore) -> None:
    elements, relations = pipeline()
    one = store.import_elements("test", "one", elements, relations)
    two = store.import_elements("test", "two", [Entity(id="ex:other")], [])
    rows = store.read("MATCH (n:Element) RETURN n.id AS id, n.import_runs AS runs, n.created_by AS by")
    by_id = {r["id"]: r for r in rows}
    assert by_id["ex:other"]["runs"] == [two.run_id]
    assert by_id["ex:raw"]["runs"] == [one.run_id] and by_id["ex:raw"]["by"] == one.run_id
    runs = {r["run"]["id"]: r["run"] for r in store.import_runs()}
    assert runs[one.run_id]["status"] == "ok" and runs[one.run_id]["nodes_created"] == 4
    assert runs[one.run_id]["relationships_created"] == 4 and runs[one.run_id]["source"] == "one"


def test_remove_import_run_keeps_what_other_runs_wrote(store: GraphStore) -> None:
    elements, relations = pipeline()
    base = store.import_elements("test", "base", elements, relations)
    extra = store.import_elements(
        "test", "extra",
        [Entity(id="ex:model"), Entity(id="ex:report")],
        [WasDerivedFrom(generated_entity="ex:report", used_entity="ex:model")],
    )
    assert counts(store) == (5, 5)

    removed = store.remove_import_run(extra.run_id)
    assert counts(store) == (4, 4), "only what the removed run alone wrote is gone"
    assert removed == {"relationships_deleted": 1, "relationships_kept": 0,
                       "nodes_deleted": 1, "nodes_kept": 1}
    runs = store.read("MATCH (n:Element {id: 'ex:model'}) RETURN n.import_runs AS r")[0]["r"]
    assert runs == [base.run_id]
    status = store.read("MATCH (r:ImportRun {id: $id}) RETURN r.status AS s", id=extra.run_id)[0]["s"]
    assert status == "removed"

    store.remove_import_run(base.run_id)
    assert counts(store) == (0, 0)


def test_remove_unknown_run_is_a_clear_error(store: GraphStore) -> None:
    with pytest.raises(NotFoundError, match="no import run"):
        store.remove_import_run("run-nope")


def test_a_failed_write_leaves_nothing_and_records_the_failure(store: GraphStore) -> None:
    class BoomError(RuntimeError):
        pass

    def explode(_: int) -> None:
        raise BoomError("disk full")

    elements, relations = pipeline()
    with pytest.raises(BoomError):
        store.import_elements("test", "doomed", elements, relations, progress=explode)
    assert counts(store) == (0, 0)
    run = store.import_runs()[0]["run"]
    assert run["status"] == "failed" and "disk full" in run["error"]


def test_hostile_values_are_data_not_cypher(store: GraphStore) -> None:
    nasty = "x'}) MATCH (n) DETACH DELETE n //"
    hostile = Entity(id=nasty, label="`) DETACH DELETE n", attributes={nasty: nasty})
    store.import_elements("test", nasty, [hostile], [])
    store.import_elements("test", "ok", [Entity(id="keep")], [])
    row = store.read("MATCH (n:Element {id: $id}) RETURN n[$key] AS v", id=nasty, key=nasty)[0]
    assert row["v"] == nasty
    assert counts(store)[0] == 2


def test_labels_come_only_from_the_allow_list() -> None:
    with pytest.raises(ValidationError, match="allow-list"):
        Entity(id="e", extra_labels=frozenset({"Entity:Admin"}))


def test_schema_is_idempotent(store: GraphStore) -> None:
    store.init_schema()
    store.init_schema()
    names = {r["name"] for r in store.read("SHOW CONSTRAINTS YIELD name RETURN name")}
    assert {"element_id", "import_run_id"} <= names
    with pytest.raises(Exception, match="already exists"):
        store.write_query("CREATE (:Element {id: 'dup'}) CREATE (:Element {id: 'dup'})")


def test_text_indexes_exist_only_with_their_setting(store: GraphStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def index_names() -> set[str]:
        return {r["name"] for r in store.read("SHOW INDEXES YIELD name RETURN name")}

    store.import_elements("test", "doc", [Entity(id="ex:train-data", label="training data")])
    monkeypatch.setattr(store, "text_indexes", True)
    store.init_schema()
    assert {"element_id_text", "element_search"} <= index_names()
    store.write_query("CALL db.awaitIndexes(60)")
    found = store.read("CALL db.index.fulltext.queryNodes('element_search', 'training') YIELD node "
                       "RETURN node.id AS id")
    assert [row["id"] for row in found] == ["ex:train-data"]
    monkeypatch.setattr(store, "text_indexes", False)
    store.init_schema()
    assert not {"element_id_text", "element_search"} & index_names()
    monkeypatch.setenv("LINEAGEGRAPH_TEXT_INDEXES", "1")
    assert Settings().text_indexes


def test_require_ids_names_the_missing_ones(store: GraphStore) -> None:
    store.import_elements("test", "doc", [Entity(id="here")], [])
    store.require_ids("here")
    with pytest.raises(NotFoundError, match="'gone'"):
        store.require_ids("here", "gone")


def test_cron_reimport_supersedes_its_own_run(store: GraphStore) -> None:
    """A source imported every night keeps one entry per element, for its newest run."""
    elements, relations = pipeline()
    runs = [store.import_elements("test", "nightly.json", elements, relations).run_id for _ in range(3)]
    rows = store.read("MATCH (n:Element) RETURN n.import_runs AS runs, n.import_sources AS sources")
    assert all(r["runs"] == [runs[-1]] and r["sources"] == ["test:nightly.json"] for r in rows)
    rels = store.read("MATCH ()-[r]->() RETURN r.import_runs AS runs")
    assert all(r["runs"] == [runs[-1]] for r in rels)

    # The superseded runs own nothing any more; the newest one owns everything.
    assert store.remove_import_run(runs[0]) == {
        "relationships_deleted": 0, "relationships_kept": 0, "nodes_deleted": 0, "nodes_kept": 0}
    assert counts(store) == (4, 4)
    store.remove_import_run(runs[-1])
    assert counts(store) == (0, 0)


def test_two_sources_share_an_element(store: GraphStore) -> None:
    a = store.import_elements("test", "a.json", [Entity(id="shared"), Entity(id="only-a")], [])
    b = store.import_elements("test", "b.json", [Entity(id="shared")], [])
    b2 = store.import_elements("test", "b.json", [Entity(id="shared")], [])
    row = store.read("MATCH (n:Element {id: 'shared'}) RETURN n.import_runs AS runs, n.import_sources AS src")[0]
    assert row == {"runs": [a.run_id, b2.run_id], "src": ["test:a.json", "test:b.json"]}
    assert b.run_id not in row["runs"]

    store.remove_import_run(a.run_id)
    row = store.read("MATCH (n:Element {id: 'shared'}) RETURN n.import_runs AS runs, n.import_sources AS src")[0]
    assert row == {"runs": [b2.run_id], "src": ["test:b.json"]}, "the lists stay aligned"
    assert {r["id"] for r in store.read("MATCH (n:Element) RETURN n.id AS id")} == {"shared"}


def test_unchanged_reimport_writes_only_run_ids(store: GraphStore) -> None:
    """Re-asserting unchanged elements rewrites the run id, never the properties."""
    from lineagegraph.model import ElementKind
    from lineagegraph.writer import KIND_LABELS, MAX_TRACKED_SOURCES, _node_query

    entities = [Entity(id=f"e{i}", label=f"dataset {i}", attributes={"rows": i}) for i in range(50)]
    first = store.import_elements("test", "doc", entities, [])
    rows = [{"id": e.id, "props": e.properties(), "counted": ["run-second"], "runs": ["run-second"],
             "sources": ["test:doc"]} for e in entities]

    def properties_set(rows: list[dict[str, object]]) -> int:
        with store.driver.session(database=store.database) as session:
            result = session.run(_node_query(ElementKind.ENTITY, ()), rows=rows, kinds=KIND_LABELS,
                                 kind="Entity", max_sources=MAX_TRACKED_SOURCES)
            return int(result.consume().counters.properties_set)

    # A second run of the same source: the run id of each node is replaced, nothing else.
    assert properties_set(rows) == 50
    rows[0]["props"] = {**rows[0]["props"], "label": "renamed"}  # type: ignore[dict-item]
    assert properties_set(rows) == 1 + 1, "the changed node's properties, and its run id, only"
    assert first.nodes.created == 50


def test_query_builders_refuse_labels_outside_the_allow_list() -> None:
    from lineagegraph.model import ElementKind
    from lineagegraph.writer import _node_query, _relation_query

    with pytest.raises(ValueError, match="allow-list"):
        _node_query(ElementKind.ENTITY, ("Entity) DETACH DELETE n //",))
    with pytest.raises(ValueError, match="allow-list"):
        _node_query("Entity:Admin", ())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="allow-list"):
        _relation_query("USED]->() DETACH DELETE a //", None, None)  # type: ignore[arg-type]


def test_concurrent_imports_converge(store: GraphStore) -> None:
    """Two cron jobs at once: overlapping imports in parallel transactions create no duplicates."""
    from concurrent.futures import ThreadPoolExecutor

    shared = [Entity(id=f"s{i}", label=f"shared {i}") for i in range(300)]

    def job(worker: int) -> None:
        mine = [Activity(id=f"w{worker}-a{i}") for i in range(100)]
        rels = [Used(activity=f"w{worker}-a{i}", entity=f"s{(i * 7 + worker) % 300}") for i in range(100)]
        for attempt in range(3):
            store.import_elements("test", f"worker-{worker}-{attempt}", shared + mine, rels)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(job, range(4)))  # re-raises any worker's exception

    assert counts(store) == (300 + 4 * 100, 4 * 100)
    assert store.read("MATCH (r:ImportRun) WHERE r.status <> 'ok' RETURN count(r) AS c")[0]["c"] == 0
    runs = store.read("MATCH (n:Element {id: 's0'}) RETURN size(n.import_runs) AS n, "
                      "size(n.import_sources) AS s")[0]
    assert runs == {"n": 12, "s": 12}, "every source that asserted it is recorded once"
