"""Importing a real mltrace database (made by mltrace 0.17 itself) into the real Neo4j.

lineagegraph/samples/postgres/mltrace.sql (also the demo's sample) was written by
scripts/make-mltrace-fixture.py through mltrace's client:
ingest -> clean -> featurize, label, train, infer in January; ingest -> clean -> featurize -> infer
again in March (rewriting the lake files, with January's model: a stale run); pred-0002 and
pred-0003 flagged. tests/data/mltrace-backtraces.json is what mltrace's own ``backtrace()``
returned for each output in that same session.

The tests re-implement mltrace's documented trace algorithm over the SQL tables (the run that
last wrote the output by start time, then depth-first through run dependencies), check it against
mltrace's recorded answers, and compare the graph's ``bt`` and ``blame`` with it.
"""

from __future__ import annotations

import json
import pickle
from datetime import UTC
from itertools import pairwise
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fixtures_postgres import TestPostgres
from psycopg.rows import dict_row

from lineagegraph.cli import main
from lineagegraph.errors import InputError
from lineagegraph.identity import location_id, source_id, version_id
from lineagegraph.importers.base import run_import
from lineagegraph.importers.mltrace import MltraceImporter, backtrace
from lineagegraph.importers.pgsource import fingerprints_in
from lineagegraph.queries import LineageGraph
from lineagegraph.store import GraphStore

pytestmark = pytest.mark.integration

DATA = Path(__file__).parent / "data"
# The tool-made dump is the demo's sample too: one copy, inside the package.
SAMPLE_DUMPS = Path(__file__).parent.parent / "lineagegraph" / "samples" / "postgres"
DUMP = SAMPLE_DUMPS / "mltrace.sql"
MLTRACE_BACKTRACES: dict[str, list[list[int]]] = json.loads((DATA / "mltrace-backtraces.json").read_text())
NS = "test/mltrace"


def run_node(run: int) -> str:
    return source_id("mltrace", NS, "run", str(run))


def pointer_node(name: str) -> str:
    return location_id(name) if name.startswith("/") or "://" in name else source_id("mltrace", NS, "io", name)


class Tables:
    """The fixture database's rows, read with plain SQL."""

    def __init__(self, server: TestPostgres, database: str) -> None:
        with psycopg.connect(server.url(database), row_factory=dict_row) as conn:
            self.runs = {r["id"]: r for r in conn.execute("SELECT * FROM component_runs")}
            self.components = {r["name"]: r for r in conn.execute("SELECT * FROM components")}
            self.tags = conn.execute("SELECT * FROM component_tags").fetchall()
            self.outputs = conn.execute("SELECT * FROM component_runs_outputs").fetchall()
            self.deps = conn.execute("SELECT * FROM component_run_dependencies").fetchall()
            self.flagged = {r["name"] for r in conn.execute("SELECT name FROM io_pointers WHERE flag")}

    def dependencies(self, run: int) -> list[int]:
        return sorted(d["depends_on_component_run_id"] for d in self.deps if d["component_run_id"] == run)

    def last_writer(self, name: str) -> int:
        writers = [o["component_run_id"] for o in self.outputs if o["output_path_name"] == name]
        return max(writers, key=lambda run: self.runs[run]["start_timestamp"])

    def trace(self, name: str) -> list[tuple[int, int]]:
        """mltrace's trace: (depth, run) depth-first from the output's last writer, repeats kept."""
        frames: list[tuple[int, int]] = []

        def visit(run: int, depth: int) -> None:
            frames.append((depth, run))
            for dep in self.dependencies(run):
                visit(dep, depth + 1)

        visit(self.last_writer(name), 0)
        return frames


@pytest.fixture
def database(postgres_server: TestPostgres) -> str:
    return postgres_server.create_database(dump=DUMP)


@pytest.fixture
def imported(store: GraphStore, postgres_server: TestPostgres, database: str) -> Tables:
    importer = MltraceImporter(password=postgres_server.password, known=fingerprints_in(store), namespace=NS)
    outcome = run_import(store, importer, [postgres_server.url(database, with_password=False)])
    assert outcome.ok, outcome.errors
    return Tables(postgres_server, database)


def _cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code = main([*argv, "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_our_reading_of_mltrace_trace_matches_mltrace(imported: Tables) -> None:
    for name, frames in MLTRACE_BACKTRACES.items():
        assert [list(f) for f in imported.trace(name)] == frames, name


def test_components_runs_and_pointers(store: GraphStore, imported: Tables) -> None:
    for name, row in imported.components.items():
        agent = store.read("MATCH (a:Agent {id: $id}) RETURN a", id=source_id("mltrace", NS, "component", name))[0]["a"]
        assert (agent["owner"], agent["description"]) == (row["owner"], row["description"])
        assert sorted(agent["tags"]) == sorted(t["tag_name"] for t in imported.tags if t["component_name"] == name)

    for run, row in imported.runs.items():
        act = store.read("MATCH (a:Activity {id: $id})-[:WAS_ASSOCIATED_WITH]->(c:Agent) RETURN a, c.label AS c",
                         id=run_node(run))[0]
        node = act["a"]
        assert act["c"] == row["component_name"]
        assert node["started_at"].to_native() == row["start_timestamp"].replace(tzinfo=UTC)
        assert node["ended_at"].to_native() == row["end_timestamp"].replace(tzinfo=UTC)
        assert node["code_version"] == row["git_hash"]
        assert node["code_snapshot_bytes"] == len(row["code_snapshot"])
        stale = pickle.loads(row["stale"])  # the trusted fixture, decoded with the standard unpickler
        assert node.get("stale", []) == stale and node["is_stale"] == bool(stale)
        assert node.get("git_tags", []) == pickle.loads(row["git_tags"])
        informed = {r["id"] for r in store.read(
            "MATCH (:Activity {id: $id})-[:WAS_INFORMED_BY]->(d) RETURN d.id AS id", id=run_node(run))}
        assert informed == {run_node(d) for d in imported.dependencies(run)}
    assert imported.runs[10]["notes"] == "March scoring batch"
    assert "was run 59 days ago" in store.read("MATCH (a {id: $id}) RETURN a.stale AS s", id=run_node(10))[0]["s"][0]

    # Paths are shared locations; each write is a version of it, generated by the writing run.
    features = location_id("/data/lake/features.parquet")
    versions = store.read(
        "MATCH (v:Entity)-[:SPECIALIZATION_OF]->(:Entity:Location {id: $id}), (v)-[:WAS_GENERATED_BY]->(a) "
        "RETURN a.id AS run ORDER BY run", id=features)
    assert {v["run"] for v in versions} == {run_node(4), run_node(9)}
    # March's inference read March's features, not January's.
    used = {r["id"] for r in store.read("MATCH (:Activity {id: $id})-[:USED]->(e) RETURN e.id AS id",
                                        id=run_node(10))}
    assert version_id(features, run_node(9)) in used and version_id(features, run_node(4)) not in used


def test_bt_matches_mltrace_backtrace(imported: Tables, cli_env: dict[str, str],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    for name, frames in MLTRACE_BACKTRACES.items():
        output = version_id(pointer_node(name), run_node(imported.last_writer(name)))
        bt = _cli_json(capsys, "bt", output)
        ours = [int(f["activity"]["id"].rsplit(":", 1)[1]) for f in bt["frames"]]
        theirs = [run for _, run in frames]
        assert ours[0] == theirs[0], f"{name}: the run that wrote it comes first"
        assert set(ours) == set(theirs), f"{name}: the same runs"
        if len(theirs) == len(set(theirs)) and all(d == i for i, (d, _) in enumerate(frames)):
            assert ours == theirs, f"{name}: a chain, so the very same order"
        # Every frame comes before the runs it depends on, as in mltrace's depth-first listing.
        for run in ours:
            for dep in imported.dependencies(run):
                assert ours.index(run) < ours.index(dep), f"{name}: run {run} before its dependency {dep}"


def test_depth_first_bt_is_mltraces_own_backtrace(store: GraphStore, imported: Tables, cli_env: dict[str, str],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    branching = repeating = 0
    for name, frames in MLTRACE_BACKTRACES.items():
        expected = [[depth, run] for depth, run in frames]  # recorded from mltrace.backtrace()
        branching += any(b[0] <= a[0] for a, b in pairwise(frames))
        repeating += len({run for _, run in frames}) < len(frames)
        output = version_id(pointer_node(name), run_node(imported.last_writer(name)))
        bt = _cli_json(capsys, "bt", output, "--order", "depth-first")
        assert [[f["depth"], int(f["activity"]["id"].rsplit(":", 1)[1])] for f in bt["frames"]] == expected, name
        api = LineageGraph(store).backtrace(output, order="depth-first")
        assert [[f.depth, int(f.activity.id.rsplit(":", 1)[1])] for f in api.frames] == expected, name
        # A run reached again refers back to its first frame, which carries the same run.
        for frame in api.frames:
            if frame.repeat_of is not None:
                assert api.frames[frame.repeat_of].activity.id == frame.activity.id
                assert api.frames[frame.repeat_of].repeat_of is None
    assert branching >= 4 and repeating >= 2, "the fixture has branching traces, and runs reached by two paths"

    # The text lists every frame as a tree; a run's details are printed once.
    output = version_id(pointer_node("pred-0001"), run_node(6))
    assert main(["bt", output, "--order", "depth-first"]) == 0
    text = capsys.readouterr().out
    heads = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert len(heads) == len(MLTRACE_BACKTRACES["pred-0001"])
    # Indented by depth: train (run 5) is one hop from infer; featurize (run 4), reached again
    # through train, is two hops down and points back at its first listing, #1.
    assert heads[4].startswith("  #4 ") and not heads[4].startswith("   ") and f"id={run_node(5)}" in heads[4]
    assert heads[6] == f"    #6 featurize  id={run_node(4)}  (again: see #1)"
    again = [line for line in heads if "(again: see #" in line]
    assert len(again) == len(heads) - len({run for _, run in MLTRACE_BACKTRACES["pred-0001"]})
    assert text.count("    when:") == len({run for _, run in MLTRACE_BACKTRACES["pred-0001"]})

    assert main(["bt", output, "--order", "sideways"]) != 0
    assert "order must be one of newest, depth-first, not 'sideways'" in capsys.readouterr().err


def test_mltrace_style_backtrace_from_the_graph_is_mltraces_own(store: GraphStore, imported: Tables) -> None:
    for name, frames in MLTRACE_BACKTRACES.items():
        expected = [(depth, run_node(run)) for depth, run in frames]
        # By the output's newest version, and by the name alone (mltrace's own argument).
        newest = version_id(pointer_node(name), run_node(imported.last_writer(name)))
        assert backtrace(store, newest) == expected, name
        assert backtrace(store, pointer_node(name)) == expected, name
    assert backtrace(store, "urn:lineagegraph:mltrace:nothing") == []


def test_blame_ranks_like_mltrace_review_of_flagged_outputs(store: GraphStore, imported: Tables,
                                                            cli_env: dict[str, str],
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    flagged = [r["id"] for r in store.read("MATCH (e:Entity {flagged: true}) RETURN e.id AS id ORDER BY id")]
    expected_outputs = {version_id(pointer_node(n), run_node(imported.last_writer(n))) for n in imported.flagged}
    assert set(flagged) == expected_outputs and len(flagged) == 2

    # mltrace's review_flagged_outputs: runs by how many flagged traces hold them, then newest id.
    counts: dict[int, int] = {}
    for name in imported.flagged:
        for run in {r for _, r in imported.trace(name)}:
            counts[run] = counts.get(run, 0) + 1
    review = sorted(counts, key=lambda run: (-counts[run], -run))

    report = _cli_json(capsys, "blame", *flagged, "--kind", "Activity", "--limit", "100")
    ranked = [(int(s["element"]["id"].rsplit(":", 1)[1]), s["hits"]) for s in report["suspects"]]
    assert ranked == [(run, counts[run]) for run in review]


def test_reimport_is_idempotent_and_sees_new_flags_and_runs(
        store: GraphStore, postgres_server: TestPostgres, database: str, imported: Tables,
        cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    url = postgres_server.url(database, with_password=False)
    monkeypatch.setenv("LINEAGEGRAPH_MLTRACE_PASSWORD", postgres_server.password)
    nodes = store.read("MATCH (n:Element) RETURN count(n) AS n")[0]["n"]
    assert main(["import", "mltrace", url, "--namespace", NS]) == 0
    out = capsys.readouterr().out
    assert "0 new, 0 changed, 16 unchanged record(s)" in out and "nodes 0 created, 0 updated" in out
    assert store.read("MATCH (n:Element) RETURN count(n) AS n")[0]["n"] == nodes

    with psycopg.connect(postgres_server.url(database)) as conn:
        conn.execute("UPDATE io_pointers SET flag = true WHERE name = 'pred-0004'")
        conn.execute("INSERT INTO component_runs (id, component_name, notes, git_hash, start_timestamp, "
                     "end_timestamp) VALUES (11, 'infer', '', 'e4f5a6b', '2024-03-05 09:00', '2024-03-05 09:10')")
        conn.execute("INSERT INTO io_pointers VALUES ('pred-0005', '', 'UNKNOWN', false)")
        conn.execute("INSERT INTO component_runs_outputs VALUES ('pred-0005', '', 11)")
        conn.execute("INSERT INTO component_run_dependencies VALUES (11, 9)")
    assert main(["import", "mltrace", url, "--namespace", NS]) == 0
    assert "1 new, 1 changed, 15 unchanged record(s)" in capsys.readouterr().out
    pred4 = version_id(pointer_node("pred-0004"), run_node(10))
    assert store.read("MATCH (e {id: $id}) RETURN e.flagged AS f", id=pred4)[0]["f"] is True
    bt = _cli_json(capsys, "bt", version_id(pointer_node("pred-0005"), run_node(11)))
    assert [f["activity"]["id"] for f in bt["frames"]] == [run_node(r) for r in (11, 9, 8, 7)]


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_column_is_refused_and_nothing_is_written(
        store: GraphStore, postgres_server: TestPostgres, database: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    with psycopg.connect(postgres_server.url(database)) as conn:
        conn.execute("UPDATE component_runs SET stale = %s WHERE id = 10", (pickle.dumps([_Exploit(marker)]),))
    importer = MltraceImporter(password=postgres_server.password, known=fingerprints_in(store), namespace=NS)
    url = postgres_server.url(database, with_password=False)
    outcome = run_import(store, importer, [url])
    assert len(outcome.errors) == 1 and not outcome.summaries
    message = str(outcome.errors[0])
    assert url in message and "component_runs id=10" in message and "column stale" in message
    assert "refused to load" in message
    assert not marker.exists()
    assert store.read("MATCH (n) RETURN count(n) AS n")[0]["n"] == 0


def test_wrong_database_and_unknown_schema(store: GraphStore, postgres_server: TestPostgres, database: str,
                                           cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LINEAGEGRAPH_MLTRACE_PASSWORD", postgres_server.password)
    provenance = postgres_server.create_database(dump=SAMPLE_DUMPS / "provenance_repo.sql")
    wrong = postgres_server.url(provenance, with_password=False)
    assert main(["import", "mltrace", wrong]) == 2
    assert f"{wrong}: not an mltrace database: table(s)" in capsys.readouterr().err

    with psycopg.connect(postgres_server.url(database)) as conn:
        conn.execute("ALTER TABLE component_runs RENAME COLUMN git_hash TO commit_sha")
    renamed = postgres_server.url(database, with_password=False)
    with pytest.raises(InputError, match=r"component_runs lacks column\(s\) git_hash"):
        list(MltraceImporter(password=postgres_server.password).units(renamed))
    assert store.read("MATCH (n) RETURN count(n) AS n")[0]["n"] == 0


def test_url_with_password_from_the_settings_is_used_but_never_shown(
        store: GraphStore, postgres_server: TestPostgres, database: str, cli_env: dict[str, str],
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("LINEAGEGRAPH_MLTRACE_PASSWORD", raising=False)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("LINEAGEGRAPH_MLTRACE_URL", postgres_server.url(database))
    assert main(["import", "mltrace", "--json"]) == 0
    out = capsys.readouterr().out
    assert postgres_server.password not in out
    (summary,) = json.loads(out)["imports"]
    assert summary["source"] == postgres_server.url(database, with_password=False)
    assert summary["records"]["new"] == 16 and len(summary["records"]["flagged"]) == 2
    runs = store.read("MATCH (r:ImportRun) RETURN r.source AS source")
    assert [r["source"] for r in runs] == [summary["source"]]
