"""The streaming, chunked write path: bounded chunks, true run records, undo by batches, one kind per id.

Chunks are made tiny here (a few rows) so that a small import crosses many transaction
boundaries; the behaviour is what a million-record file gets with the default limits.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import pytz
from record_streams import chain_records

from lineagegraph.errors import InputError, KindConflictError, ServerError
from lineagegraph.importers.base import ImportUnit, run_import
from lineagegraph.model import Activity, Agent, Element, Entity, Relation, Used, WasGeneratedBy
from lineagegraph.store import GraphStore
from lineagegraph.writer import ChunkLimits

pytestmark = pytest.mark.integration


@pytest.fixture
def tiny(store: GraphStore) -> Iterator[GraphStore]:
    """The test store, committing every 4 rows (statements of 2 rows)."""
    before = store.chunk_limits
    store.chunk_limits = ChunkLimits(rows=4, batch=2)
    yield store
    store.chunk_limits = before


def graph_counts(store: GraphStore) -> tuple[int, int]:
    row = store.read("MATCH (n:Element) WITH count(n) AS n OPTIONAL MATCH (:Element)-[r]->(:Element) "
                     "RETURN n, count(r) AS r")[0]
    return row["n"], row["r"]


def operators(plan: dict[str, object]) -> list[str]:
    """A query plan's operators, each with its details (what it seeks or scans), depth first."""
    children = plan.get("children") or []
    assert isinstance(children, list)
    return [f"{plan['operatorType']} {plan.get('args', {}).get('Details', '')}"] + [  # type: ignore[union-attr]
        op for child in children for op in operators(child)]


def run_record(store: GraphStore, run_id: str) -> dict[str, object]:
    return store.read("MATCH (r:ImportRun {id: $id}) RETURN r {.*} AS r", id=run_id)[0]["r"]


def test_a_generator_streams_through_many_chunks_with_true_counts(tiny: GraphStore) -> None:
    summary = tiny.import_elements("test", "stream", chain_records(10))
    assert graph_counts(tiny) == (21, 20)
    # Nodes that a relation named first (a stub) and that were declared later count as created.
    assert (summary.nodes.created, summary.nodes.updated) == (21, 0)
    assert summary.relationships.created == 20
    record = run_record(tiny, summary.run_id)
    assert record["status"] == "ok"
    assert record["chunks"] == 11  # 41 rows, 4 per chunk
    assert (record["nodes_created"], record["relationships_created"]) == (21, 20)
    assert tiny.read("MATCH (n:Element {stub: true}) RETURN count(n) AS c")[0]["c"] == 0

    again = tiny.import_elements("test", "stream", chain_records(10))
    assert (again.nodes.created, again.nodes.updated, again.nodes.unchanged) == (0, 0, 21)
    assert graph_counts(tiny) == (21, 20)


def test_a_failure_mid_run_records_exactly_what_was_committed(tiny: GraphStore) -> None:
    def records() -> Iterator[Element | Relation]:
        yield from chain_records(3)  # 13 rows: three chunks of 4 commit, one row is pending
        raise InputError("bad record", source="half.json", location="line 14")

    with pytest.raises(InputError, match="line 14"):
        tiny.import_elements("test", "half.json", records())
    run = tiny.import_runs()[0]["run"]
    _, rels = graph_counts(tiny)
    declared = tiny.read("MATCH (n:Element) WHERE n.stub IS NULL RETURN count(n) AS c")[0]["c"]
    assert run["status"] == "failed" and "line 14" in run["error"]
    assert run["chunks"] == 3
    assert run["nodes_created"] == declared and run["relationships_created"] == rels
    assert declared + rels == 12, "every committed row made one element"

    # Re-running converges on the clean import; removing the failed run then removes nothing
    # that the good run asserts.
    good = tiny.import_elements("test", "half.json", chain_records(3))
    assert graph_counts(tiny) == (7, 6)
    tiny.remove_import_run(run["id"])
    assert graph_counts(tiny) == (7, 6)
    tiny.remove_import_run(good.run_id)
    assert graph_counts(tiny) == (0, 0)


def test_remove_a_failed_run_takes_only_what_it_alone_wrote(tiny: GraphStore) -> None:
    tiny.import_elements("test", "other", [Entity(id="data0", label="shared")])

    def records() -> Iterator[Element | Relation]:
        yield from chain_records(2)
        raise InputError("truncated", source="broken")

    with pytest.raises(InputError):
        tiny.import_elements("test", "broken", records())
    failed = tiny.import_runs()[0]["run"]["id"]
    counts = tiny.remove_import_run(failed)
    assert tiny.read("MATCH (n:Element) RETURN collect(n.id) AS ids")[0]["ids"] == ["data0"]
    assert counts["nodes_kept"] == 1 and counts["nodes_deleted"] >= 1
    assert tiny.read("MATCH (b:ImportBatch {run: $run}) RETURN count(b) AS c", run=failed)[0]["c"] == 0


def elements_then_relations(steps: int) -> Iterator[Element | Relation]:
    """A chain in the order PROV-JSON lists it: every element first, then every relation."""
    yield from (Entity(id=f"d{i}", label=f"data {i}") for i in range(steps + 1))
    yield from (Activity(id=f"s{i}", label=f"step {i}") for i in range(1, steps + 1))
    yield from (Used(activity=f"s{i}", entity=f"d{i - 1}") for i in range(1, steps + 1))
    yield from (WasGeneratedBy(entity=f"d{i}", activity=f"s{i}") for i in range(1, steps + 1))


def test_relations_in_later_chunks_than_their_ends_keep_every_runs_record(tiny: GraphStore) -> None:
    first = tiny.import_elements("test", "declares", elements_then_relations(6))
    assert graph_counts(tiny) == (13, 12)
    assert (first.nodes.created, first.relationships.created) == (13, 12)
    runs = tiny.read("MATCH (n:Element) RETURN collect(DISTINCT n.import_runs) AS r, "
                     "sum(CASE WHEN n.stub THEN 1 ELSE 0 END) AS stubs")[0]
    assert runs == {"r": [[first.run_id]], "stubs": 0}
    # A second source that only relates elements the first declared must still be recorded on them.
    relations = [Used(activity="s6", entity="d0"), Used(activity="s5", entity="d1")]
    second = tiny.import_elements("test", "relates", relations)
    both = tiny.read("MATCH (n:Element) WHERE n.id IN ['s6', 'd0', 's5', 'd1'] "
                     "RETURN collect(DISTINCT n.import_sources) AS s")[0]["s"]
    assert both == [["test:declares", "test:relates"]]
    # Removing the first run keeps what the second asserts, and only that.
    tiny.remove_import_run(first.run_id)
    left = tiny.read("MATCH (n:Element) RETURN n.id AS id ORDER BY id")
    assert [r["id"] for r in left] == ["d0", "d1", "s5", "s6"]
    assert graph_counts(tiny) == (4, 2)
    # A re-run of the first converges on the same graph as before, recorded as the new run's.
    again = tiny.import_elements("test", "declares", elements_then_relations(6))
    assert graph_counts(tiny) == (13, 14)
    assert again.relationships.created == 12 and again.nodes.created == 9
    assert second.relationships.created == 2


def test_one_kind_per_id_across_sources(store: GraphStore) -> None:
    store.import_elements("test", "first.json", [Entity(id="x", label="a dataset")])
    with pytest.raises(KindConflictError, match=r"'x' is already an Entity \(asserted by test:first.json\)"):
        store.import_elements("test", "second.json", [Activity(id="x")])
    assert store.read("MATCH (n:Element {id: 'x'}) RETURN labels(n) AS l")[0]["l"] == ["Element", "Entity"]
    # A relation whose end is of the wrong kind: `used` names an entity, not an agent.
    store.import_elements("test", "agents.json", [Agent(id="alice")])
    with pytest.raises(KindConflictError, match="'alice' is already an Agent"):
        store.import_elements("test", "third.json", [Activity(id="job"), Used(activity="job", entity="alice")])
    assert store.read("MATCH ()-[r:USED]->() RETURN count(r) AS c")[0]["c"] == 0
    assert store.read("MATCH (n:Element {id: 'job'}) RETURN count(n) AS c")[0]["c"] == 0, "rolled back"


def test_new_changed_unchanged_and_stub_rows_in_one_statement_each_count_and_read_as_written(
        store: GraphStore) -> None:
    # Rows the statement creates take a shorter path than rows already in the graph; in one batch,
    # each must still count as what it is, and each node list the sources that assert it.
    first = store.import_elements("test", "first.json", [
        Entity(id="same", label="same"), Entity(id="changed", label="old"),
        Activity(id="run"), Used(activity="run", entity="same"),
        Used(activity="run", entity="stub")])  # `stub` only named here: a stub, first's own
    assert (first.nodes.created, first.relationships.created) == (3, 2)
    second = store.import_elements("test", "second.json", [
        Entity(id="same", label="same"), Entity(id="changed", label="new"), Entity(id="fresh", label="fresh"),
        Entity(id="stub", label="declared now"), Activity(id="run"),
        Used(activity="run", entity="same"), Used(activity="run", entity="fresh")])
    assert (second.nodes.created, second.nodes.updated, second.nodes.unchanged) == (1, 2, 2)
    assert (second.relationships.created, second.relationships.unchanged) == (1, 1)
    nodes = {row["id"]: row for row in store.read(
        "MATCH (n:Element) RETURN n.id AS id, n.label AS label, n.import_sources AS sources, "
        "coalesce(n.stub, false) AS stub")}
    assert {ident: row["label"] for ident, row in nodes.items()} == {
        "same": "same", "changed": "new", "fresh": "fresh", "stub": "declared now", "run": None}
    assert not any(row["stub"] for row in nodes.values())
    assert nodes["fresh"]["sources"] == ["test:second.json"]
    assert nodes["same"]["sources"] == nodes["stub"]["sources"] == ["test:first.json", "test:second.json"]
    assert run_record(store, second.run_id)["nodes_created"] == 1
    # Removing the second run leaves what the first asserts, and takes what only it wrote.
    store.remove_import_run(second.run_id)
    assert {row["id"] for row in store.read("MATCH (n:Element) RETURN n.id AS id")} == {"same", "changed", "run",
                                                                                         "stub"}


def test_a_reimport_that_grows_counts_and_writes_its_new_rows_like_a_first_import(tiny: GraphStore) -> None:
    # After batches of rows already in the graph, the writer sends the next batches straight to
    # the full statement for a while; new rows arriving then are written and counted the same.
    old = [Entity(id=f"old{i}", label=f"old {i}") for i in range(20)]
    tiny.import_elements("test", "grows.json", old)
    new = [Entity(id=f"new{i}", label=f"new {i}") for i in range(40)]
    changed = Entity(id="old3", label="changed")
    summary = tiny.import_elements("test", "grows.json", [*old[:3], changed, *old[4:], *new])
    assert (summary.nodes.created, summary.nodes.updated, summary.nodes.unchanged) == (40, 1, 19)
    rows = tiny.read("MATCH (n:Element) RETURN n.id AS id, n.label AS label, n.import_runs AS runs, "
                     "n.created_by AS created_by")
    assert len(rows) == 60
    for row in rows:
        assert row["runs"] == [summary.run_id], row
        expected = "changed" if row["id"] == "old3" else row["id"].replace("old", "old ").replace("new", "new ")
        assert row["label"] == expected
        assert (row["created_by"] == summary.run_id) == row["id"].startswith("new")


class ListImporter:
    name = "test-list"

    def __init__(self, units: dict[str, list[Element | Relation]]):
        self._units = units

    def units(self, source: str) -> Iterator[ImportUnit]:
        yield ImportUnit(source=source, records=self._units[source])


def test_values_too_long_to_index_fail_that_source_only(store: GraphStore) -> None:
    importer = ListImporter({
        "huge-id": [Entity(id="x" * 40_000)],  # longer than Neo4j can index
        "huge-label": [Entity(id="y", label="y" * 9_000)],
        "fine": [Entity(id="fine")],
    })
    outcome = run_import(store, importer, ["huge-id", "huge-label", "fine"])
    assert [s.source for s in outcome.summaries] == ["fine"]
    assert [e.source for e in outcome.errors] == ["huge-id", "huge-label"]
    assert "the id of Entity 'xxx" in str(outcome.errors[0]) and "40000 bytes" in str(outcome.errors[0])
    assert "the label of Entity" in str(outcome.errors[1])
    statuses = {r["run"]["source"]: r["run"]["status"] for r in store.import_runs()}
    assert statuses == {"huge-id": "failed", "huge-label": "failed", "fine": "ok"}
    assert store.read("MATCH (n:Element) RETURN collect(n.id) AS ids")[0]["ids"] == ["fine"]


KILLER = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, sys.argv[1])
    from record_streams import chain_records
    from lineagegraph.settings import Settings
    from lineagegraph.store import GraphStore
    from lineagegraph.writer import ChunkLimits

    store = GraphStore.connect(Settings(), quiet=True)
    store.chunk_limits = ChunkLimits(rows=4, batch=2)
    kill_at, done = int(sys.argv[2]), []

    def progress(n):
        done.append(n)
        if len(done) == kill_at:  # inside a chunk's transaction, after some of its statements
            os.kill(os.getpid(), signal.SIGKILL)

    store.import_elements("test", "killed.json", chain_records(10), progress=progress)
""")


# Each chunk of chain_records runs about four statements, so these points fall at the start, the
# middle and the end of chunks all through the import.
@pytest.mark.parametrize("kill_at", range(1, 41, 2))
def test_a_killed_importer_is_reconciled_and_a_rerun_converges(store: GraphStore, tmp_path: Path,
                                                               cli_env: dict[str, str], kill_at: int) -> None:
    """SIGKILL at 20 points of a chunked import: the run is closed as interrupted with the counts
    of what it committed, and the next import converges on the clean result."""
    script = tmp_path / "killed.py"
    script.write_text(KILLER)
    proc = subprocess.run([sys.executable, str(script), str(Path(__file__).parent), str(kill_at)], env=cli_env,
                          capture_output=True, timeout=120, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    run = store.import_runs()[0]["run"]
    assert run["status"] == "running" and run["pid"] != os.getpid()
    assert store.reconcile_runs() == [run["id"]]
    closed = store.import_runs()[0]["run"]
    assert closed["status"] == "interrupted" and "committed" in closed["error"]
    declared = store.read("MATCH (n:Element) WHERE n.stub IS NULL RETURN count(n) AS c")[0]["c"]
    assert closed["nodes_created"] == declared
    assert closed["relationships_created"] == graph_counts(store)[1]
    assert store.read("MATCH (b:ImportBatch {run: $run}) RETURN count(b) AS c", run=run["id"])[0]["c"] == run["chunks"]

    store.import_elements("test", "killed.json", chain_records(10))
    assert graph_counts(store) == (21, 20)
    assert store.read("MATCH (n:Element {stub: true}) RETURN count(n) AS c")[0]["c"] == 0
    assert store.reconcile_runs() == []


def test_neo4j_stopped_mid_import_gives_a_clear_error_a_true_record_and_a_rerun_converges(tmp_path: Path) -> None:
    """A server of its own, stopped while an import is half-way and started again."""
    from lineagegraph.server import LocalServer
    from lineagegraph.settings import Settings

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = LocalServer(tmp_path / "neo4j", port, heap_mb=512, page_cache_mb=64)
    server.start(timeout=240, quiet=True)
    try:
        store = GraphStore.connect(Settings(server_home=server.home, server_port=port, neo4j_uri=None), quiet=True)
        store.init_schema()
        store.chunk_limits = ChunkLimits(rows=4, batch=2)
        calls: list[int] = []

        def stop_half_way(n: int) -> None:
            calls.append(n)
            if len(calls) == 15:
                server.stop()

        with pytest.raises(ServerError, match=r"lost the database while writing half-way\.json"):
            store.import_elements("test", "half-way.json", chain_records(10), progress=stop_half_way)
        store.close()

        server.start(timeout=240, quiet=True)
        store = GraphStore.connect(Settings(server_home=server.home, server_port=port, neo4j_uri=None), quiet=True)
        try:
            [run] = [r["run"] for r in store.import_runs()]
            assert run["status"] == "running", "its ending could not be written while the server was down"
            assert store.reconcile_runs() == [run["id"]], "this process no longer runs it"
            closed = store.import_runs()[0]["run"]
            assert closed["status"] == "interrupted"
            declared = store.read("MATCH (n:Element) WHERE n.stub IS NULL RETURN count(n) AS c")[0]["c"]
            assert closed["nodes_created"] == declared and closed["chunks"] >= 1
            store.import_elements("test", "half-way.json", chain_records(10))
            assert graph_counts(store) == (21, 20)
        finally:
            store.close()
    finally:
        server.stop()


def test_imports_reconcile_command(store: GraphStore, cli_env: dict[str, str]) -> None:
    store.write_query("CREATE (:ImportRun {id: 'run-ghost', status: 'running', host: 'elsewhere', pid: 1, "
                      "started_at: datetime() - duration('PT3H'), heartbeat_at: datetime() - duration('PT2H')})")
    first = subprocess.run([sys.executable, "-m", "lineagegraph", "imports", "reconcile", "--json"], env=cli_env,
                           capture_output=True, text=True, timeout=120, check=True)
    assert '"run-ghost"' in first.stdout
    listed = subprocess.run([sys.executable, "-m", "lineagegraph", "imports", "list"], env=cli_env,
                            capture_output=True, text=True, timeout=120, check=True)
    assert "run-ghost  interrupted" in listed.stdout
    again = subprocess.run([sys.executable, "-m", "lineagegraph", "imports", "reconcile"], env=cli_env,
                           capture_output=True, text=True, timeout=120, check=True)
    assert again.stdout.strip() == "no stale runs"


def test_many_small_units_share_chunks_but_keep_their_own_runs(tiny: GraphStore) -> None:
    def unit(i: int) -> tuple[str, list[Element | Relation]]:
        return f"object-{i}", [Activity(id=f"job{i}"), Entity(id="shared-input"), Entity(id=f"out{i}"),
                               Used(activity=f"job{i}", entity="shared-input")]

    summaries = tiny.import_units("test-units", (unit(i) for i in range(5)))
    assert [s.source for s in summaries] == [f"object-{i}" for i in range(5)]
    assert all(s.status == "ok" for s in summaries)
    assert [s.nodes.created for s in summaries] == [3, 2, 2, 2, 2]  # the shared input is made once
    runs = {r["run"]["source"]: r["run"] for r in tiny.import_runs()}
    assert {k: (v["status"], v["nodes_created"], v["relationships_created"]) for k, v in runs.items()} == {
        "object-0": ("ok", 3, 1), **{f"object-{i}": ("ok", 2, 1) for i in range(1, 5)}}
    assert tiny.read("MATCH (n:Element {id: 'shared-input'}) RETURN size(n.import_sources) AS s")[0]["s"] == 5

    # Undo one unit: only what it alone asserted goes.
    tiny.remove_import_run(summaries[2].run_id)
    ids = set(tiny.read("MATCH (n:Element) RETURN collect(n.id) AS ids")[0]["ids"])
    assert "job2" not in ids and "out2" not in ids and {"job1", "shared-input", "out4"} <= ids

    # A re-run of the same sources supersedes each unit's own entry.
    again = tiny.import_units("test-units", (unit(i) for i in range(5)))
    assert [s.nodes.created for s in again] == [0, 0, 2, 0, 0]
    assert tiny.read("MATCH (n:Element {id: 'shared-input'}) RETURN size(n.import_runs) AS s")[0]["s"] == 5


def test_a_failing_chunk_of_units_fails_its_runs(store: GraphStore) -> None:
    store.import_elements("test", "agents", [Agent(id="alice")])
    units = [("good", [Entity(id="fine")]), ("bad", [Activity(id="job"), Used(activity="job", entity="alice")])]
    with pytest.raises(KindConflictError):
        store.import_units("test-units", units)
    statuses = {r["run"]["source"]: r["run"]["status"] for r in store.import_runs()}
    assert statuses == {"agents": "ok", "good": "failed", "bad": "failed"}
    assert store.read("MATCH (n:Element {id: 'fine'}) RETURN count(n) AS c")[0]["c"] == 0


def test_an_element_asserted_by_very_many_sources_is_shared_with_bounded_bookkeeping(store: GraphStore) -> None:
    # One image that every job runs: its lists name at most MAX_TRACKED_SOURCES sources, the
    # rest mark it shared, and no single run's removal deletes it.
    from lineagegraph.writer import MAX_TRACKED_SOURCES

    jobs = MAX_TRACKED_SOURCES + 6

    def unit(i: int) -> tuple[str, list[Element | Relation]]:
        return f"job-object-{i}", [Activity(id=f"job{i}"), Entity(id="image"), Used(activity=f"job{i}", entity="image")]

    summaries = store.import_units("test-units", (unit(i) for i in range(jobs)))
    assert all(s.status == "ok" for s in summaries)
    image = store.read("MATCH (n:Element {id: 'image'}) RETURN n {.*} AS n")[0]["n"]
    assert len(image["import_sources"]) == len(image["import_runs"]) == MAX_TRACKED_SOURCES
    assert image["import_sources"][:2] == ["test-units:job-object-0", "test-units:job-object-1"]
    assert image["import_shared"] is True

    # A run the lists name, and one they do not: each takes its own job and leaves the image.
    for run in (summaries[0].run_id, summaries[-1].run_id):
        store.remove_import_run(run)
    ids = set(store.read("MATCH (n:Element) RETURN collect(n.id) AS ids")[0]["ids"])
    assert "job0" not in ids and f"job{jobs - 1}" not in ids
    assert {"image", "job1", f"job{jobs - 2}"} <= ids
    image = store.read("MATCH (n:Element {id: 'image'}) RETURN n {.*} AS n")[0]["n"]
    assert "test-units:job-object-0" not in image["import_sources"]

    # A re-run of a tracked source replaces its own entry; the lists stay bounded.
    again = store.import_units("test-units", [unit(1)])
    image = store.read("MATCH (n:Element {id: 'image'}) RETURN n {.*} AS n")[0]["n"]
    assert again[0].run_id in image["import_runs"] and summaries[1].run_id not in image["import_runs"]
    assert len(image["import_sources"]) <= MAX_TRACKED_SOURCES


def test_a_caller_error_between_units_lets_the_batch_in_flight_finish(tiny: GraphStore) -> None:
    # Batches of units are written on a worker thread while the next ones are mapped; an error of
    # the caller's own must not leave the batch already handed over half-recorded.
    def units() -> Iterator[tuple[str, list[Element | Relation]]]:
        for i in range(6):
            yield f"object-{i}", [Activity(id=f"job{i}"), Entity(id=f"out{i}")]
        raise InputError("unreadable object", source="object-6")

    with pytest.raises(InputError, match="unreadable object"):
        tiny.import_units("test-units", units())
    runs = [r["run"] for r in tiny.import_runs()]
    assert {r["source"] for r in runs} == {f"object-{i}" for i in range(6)}
    assert all(r["status"] == "ok" and r["nodes_created"] == 2 for r in runs)
    assert graph_counts(tiny) == (12, 0)


def test_chunks_committing_at_once_keep_the_inputs_order_for_what_they_share(tiny: GraphStore) -> None:
    # Two chunks commit at once (the default); one that re-declares a node, relates to a node a
    # chunk in flight makes, or repeats its relationship waits for it: the last declaration wins.
    def records() -> Iterator[Element | Relation]:
        for version in range(6):
            yield Entity(id="model", label=f"version {version}")
            yield from (Entity(id=f"batch{version}-{i}") for i in range(2))
            yield Used(activity="train", entity="model")

    assert tiny.chunk_limits.in_flight == 2
    summary = tiny.import_elements("test", "versions", records())
    row = tiny.read("MATCH (m:Entity {id: 'model'}) OPTIONAL MATCH (m)<-[u:USED]-(:Activity {id: 'train'}) "
                    "RETURN m.label AS label, count(u) AS used")[0]
    assert row == {"label": "version 5", "used": 1}
    assert (summary.nodes.created, summary.nodes.updated) == (13, 5)  # a stub is not counted
    assert summary.relationships.total == 6 and summary.relationships.created == 1
    assert tiny.read("MATCH (n:Element {stub: true}) RETURN collect(n.id) AS ids")[0]["ids"] == ["train"]


def test_a_chunk_that_redeclares_a_node_waits_even_when_it_would_reach_it_first(tiny: GraphStore) -> None:
    # The first chunk writes its agents, then pauses (in the progress callback, inside its
    # transaction) before it writes `model`; the second chunk writes `model` first. Were they
    # allowed to run at once, the second would commit first and the first's older label win.
    paused: list[int] = []

    def progress(rows: int) -> None:
        if not paused:
            paused.append(rows)
            threading.Event().wait(1.0)

    records: list[Element | Relation] = [Agent(id="a1"), Agent(id="a2"), Agent(id="a3"),
                                         Entity(id="model", label="first"),
                                         Entity(id="model", label="second"), Entity(id="b1"), Entity(id="b2")]
    summary = tiny.import_elements("test", "redeclared", records, progress=progress)
    assert tiny.read("MATCH (m:Entity {id: 'model'}) RETURN m.label AS label")[0]["label"] == "second"
    assert (summary.nodes.created, summary.nodes.updated) == (6, 1)


@pytest.mark.parametrize("moment", [
    datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC),
    datetime(2026, 3, 1, 12, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    datetime(1969, 7, 20, 20, 17, 40, tzinfo=timezone(timedelta(hours=-4))),
    datetime(2026, 3, 1, 12, 30, tzinfo=ZoneInfo("Europe/Paris")),
    pytz.timezone("America/New_York").localize(datetime(2026, 7, 4, 9, 0)),
    datetime(2026, 3, 1, 12, 30),
], ids=["utc-micro", "offset", "pre-epoch", "named-zone", "pytz-zone", "no-zone"])
def test_datetimes_keep_their_instant_and_zone_and_compare_as_unchanged(store: GraphStore, moment: datetime) -> None:
    def records(when: datetime) -> list[Element | Relation]:
        return [Activity(id="job", started_at=when, attributes={"checked_at": when}),
                Entity(id="out"), WasGeneratedBy(entity="out", activity="job", time=when)]

    store.import_elements("test", "times", records(moment))
    row = store.read("MATCH (a:Activity {id: 'job'})<-[g:WAS_GENERATED_BY]-() "
                     "RETURN a.started_at AS started, a.checked_at AS checked, g.time AS time")[0]
    # The same instant, and the same zone name, or offset, as the driver itself makes of the value
    # (a zoneinfo datetime is never given to the driver: its conversion of one reads garbage).
    for value in row.values():
        assert value.to_native() == moment and value.utcoffset() == moment.utcoffset()
        if isinstance(moment.tzinfo, ZoneInfo):
            assert value.tzinfo.zone == moment.tzinfo.key
        else:
            sent = store.read("RETURN $moment AS value", moment=moment)[0]["value"]
            assert value == sent and repr(value.tzinfo) == repr(sent.tzinfo)

    again = store.import_elements("test", "times", records(moment))
    assert (again.nodes.unchanged, again.relationships.unchanged) == (2, 1)
    later = store.import_elements("test", "times", records(moment + timedelta(seconds=1)))
    # A relation's time is part of its identity (its key): another time is another generation.
    assert (later.nodes.updated, later.relationships.created) == (1, 1)


def test_run_bookkeeping_queries_seek_indexes_instead_of_scanning(store: GraphStore) -> None:
    # Undo, export by run and the unchanged-file check must cost what the run holds, not what
    # every run ever imported holds: no label scan of ImportBatch or ImportRun in their plans.
    from lineagegraph import export, runs

    params = {"run": "run-x", "runs": ["run-x"], "importer": "prov", "input": "/x.json", "digest": "d"}
    with store.driver.session(database=store.database) as session:
        for query in (runs.BATCH_SEQS, runs.DELETE_BATCHES, runs._UNCHANGED, export._RUN_NODES,
                      export._RUN_RELATIONSHIPS):
            plan = session.run("EXPLAIN " + query, **params).consume().plan
            assert plan is not None
            scans = [op for op in operators(plan) if "Scan" in op and ("ImportBatch" in op or "ImportRun" in op)]
            assert not scans, (query, scans)


def test_the_writers_statements_seek_even_when_planned_on_an_empty_graph(store: GraphStore) -> None:
    # The writer asks Neo4j to keep a statement's first plan (PLAN_ONCE) instead of re-planning it
    # as the graph grows: that is only right if the plan made for an empty graph, the usual start
    # of a big import, already finds elements by their unique id and never scans.
    from lineagegraph import model, writer

    statements = [writer._RUN_PROGRESS]
    for kind in model.ElementKind:
        statements += [writer._node_query(kind, ()), writer._endpoint_query(kind),
                       *(writer._fresh_node_query(kind, (), one_run) for one_run in (False, True))]
    for cls in model.RELATION_MODELS.values():
        statements += [writer._relation_query(cls.type, cls.start_kind, cls.end_kind),
                       *(writer._fresh_relation_query(cls.type, cls.start_kind, cls.end_kind, one_run)
                         for one_run in (False, True))]
    assert store.read("MATCH (n) RETURN count(n) AS n")[0]["n"] == 0
    with store.driver.session(database=store.database) as session:
        for query in statements:
            summary = session.run(writer.PLAN_ONCE + "EXPLAIN " + query, rows=[], runs=[], kinds=writer.KIND_LABELS,
                                  kind="Entity", max_sources=1, now=datetime.now(UTC), run="r",
                                  source="s").consume()
            assert summary.plan is not None
            ops = operators(summary.plan)
            assert not [op for op in ops if "Scan" in op], (query, ops)
            assert any(op.startswith("NodeUniqueIndexSeek") for op in ops), (query, ops)
