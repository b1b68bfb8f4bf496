"""Captured lineage on the real Neo4j: a five-step pipeline, its backtrace, convergence, versions,
values crossing processes, a killed process, staleness, and flags.

The pipeline (load -> featurize -> train -> evaluate -> serve) is the one a data scientist would
write: four ``@track`` functions and a ``@register``-ed serving component that logs the id of the
prediction it serves.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import lineagegraph.capture as capture
from lineagegraph.capture.hashing import describe
from lineagegraph.capture.spool import spool_files
from lineagegraph.cli import main
from lineagegraph.identity import location_id, value_id
from lineagegraph.importers.base import run_import
from lineagegraph.importers.spool import SpoolImporter, spool_sources
from lineagegraph.queries import LineageGraph
from lineagegraph.store import GraphStore

PYTHON = sys.executable


@capture.track(name="demo.load", version=1)
def load(path: capture.FileRef) -> list[list[float]]:
    return [[float(x) for x in line.split(",")] for line in Path(path).read_text().splitlines()]


@capture.track(name="demo.featurize", version=1)
def featurize(rows: list[list[float]]) -> Any:
    return np.asarray(rows) * 2.0


@capture.track(name="demo.train", version=1)
def train(features: Any, rate: float = 0.5) -> dict[str, list[float]]:
    return {"weights": [round(float(c) * rate, 6) for c in features.mean(axis=0)]}


@capture.track(name="demo.train", version=2)
def train_v2(features: Any, rate: float = 0.25) -> dict[str, list[float]]:
    return {"weights": [round(float(c) * rate, 6) for c in features.mean(axis=0)]}


@capture.track(name="demo.evaluate", version=1)
def evaluate(model: dict[str, list[float]], features: Any) -> float:
    return float(sum(model["weights"]) / features.shape[0])


@capture.register(component="serve", inputs=["model", "request"])
def serve(model: dict[str, list[float]], request: dict[str, Any]) -> float:
    score = sum(w * x for w, x in zip(model["weights"], request["x"], strict=True))
    capture.log_output(f"prediction-{request['id']}")
    return score


def run_pipeline(data: Path, trainer: Callable[..., dict[str, list[float]]] = train) -> dict[str, list[float]]:
    capture.component("serve", description="scores card transactions", owner="@ml-team")
    with capture.pipeline_run("nightly"):
        rows = load(capture.file(data))
        features = featurize(rows)
        model = trainer(features)
        evaluate(model, features)
        serve(model, {"id": 7, "x": [1.0, 2.0]})
    return model


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "transactions.csv"
    path.write_text("1,2\n3,4\n5,6\n")
    return path


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "spool"
    capture.configure(mode="spool", spool_dir=directory)
    yield directory
    capture.configure(mode="spool", spool_dir=tmp_path / "after")


@pytest.fixture
def direct(store: GraphStore, tmp_path: Path) -> Iterator[GraphStore]:
    capture.configure(mode="direct", store=store, spool_dir=tmp_path / "fallback")
    yield store
    capture.configure(mode="spool", spool_dir=tmp_path / "after")


def counts(store: GraphStore) -> tuple[int, int]:
    nodes = store.read("MATCH (n:Element) RETURN count(n) AS c")[0]["c"]
    rels = store.read("MATCH (:Element)-[r]->(:Element) RETURN count(r) AS c")[0]["c"]
    return nodes, rels


def deliver(directory: Path, capsys: pytest.CaptureFixture[str]) -> str:
    capture.configure(spool_dir=directory.parent / "closed")  # the writer closes its file
    code = main(["import", "spool", str(directory)])
    out = capsys.readouterr().out
    assert code == 0, out
    return out


def frames(text: str) -> list[str]:
    return [m.group(1) for m in re.finditer(r"^#\d+ (\S+)", text, re.MULTILINE)]


def test_a_pipeline_gives_the_expected_graph_and_bt_of_a_served_output(
    store: GraphStore, spool: Path, data: Path, cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    model = run_pipeline(data)
    out = deliver(spool, capsys)
    assert "record(s) from 1 file(s) delivered" in out

    served = capture.output_node_id("prediction-7")
    assert main(["bt", served]) == 0
    text = capsys.readouterr().out
    assert frames(text) == ["serve", "demo.train", "demo.featurize", "demo.load"]
    assert "evaluate" not in text  # a sibling of the served path, not an ancestor
    assert f"input:  {data.name} @" in text

    rows = store.read(
        "MATCH (o:Entity {id: $served})-[:WAS_GENERATED_BY]->(run:Activity)-[:WAS_ASSOCIATED_WITH]->(c:Agent) "
        "MATCH (run)-[:USED]->(m:Entity {id: $model}) "
        "MATCH (run)-[:WAS_INFLUENCED_BY]->(p:Activity {pipeline: 'nightly'}) "
        "RETURN c.owner AS owner, run.status AS status, run.git_commit IS NOT NULL AS has_git, "
        "       run.code_digest AS code",
        served=served, model=value_id(describe(model).digest),
    )
    assert len(rows) == 1 and rows[0]["owner"] == "@ml-team" and rows[0]["status"] == "ok"
    assert rows[0]["has_git"] and len(rows[0]["code"]) == 64
    version = store.read(
        "MATCH (:Activity {function: 'demo.load'})-[:USED]->(v:Entity)-[:SPECIALIZATION_OF]->(l:Location) "
        "RETURN v.digest AS digest, l.id AS location", )
    assert version == [{"digest": "sha256:" + capture.file(data).digest(), "location": location_id(str(data))}]

    # The same pipeline on unchanged input converges on the same graph.
    before = counts(store)
    capture.configure(spool_dir=spool)
    run_pipeline(data)
    deliver(spool, capsys)
    assert counts(store) == before


def test_a_version_bump_makes_new_artifacts_that_diff_names(direct: GraphStore, data: Path) -> None:
    old = run_pipeline(data, train)
    new = run_pipeline(data, train_v2)
    trains = direct.read("MATCH (a:Activity {function: 'demo.train'}) RETURN a.code_version AS v ORDER BY v")
    assert [r["v"] for r in trains] == ["1", "2"]
    diff = LineageGraph(direct).diff(value_id(describe(old).digest), value_id(describe(new).digest))
    changes = {(c.key, c.a, c.b) for change in diff.activity_changes for c in change.code}
    assert ("code_version", "1", "2") in changes


PRODUCER = """
import json, sys
import lineagegraph.capture as capture
capture.configure(spool_dir=sys.argv[1])

@capture.track(name="demo.f")
def f(n):
    return {"n": n, "squares": [i * i for i in range(n)]}

json.dump(f(5), open(sys.argv[2], "w"))
"""

CONSUMER = """
import json, sys
import lineagegraph.capture as capture
capture.configure(spool_dir=sys.argv[1])

@capture.track(name="demo.g")
def g(payload):
    return sum(payload["squares"])

print(g(json.load(open(sys.argv[2]))))
"""


def test_a_value_made_in_one_process_and_used_in_another_connects(
    store: GraphStore, tmp_path: Path
) -> None:
    directory, handoff = tmp_path / "spool", tmp_path / "value.json"
    for name, code, seed in (("producer.py", PRODUCER, "1"), ("consumer.py", CONSUMER, "2")):
        script = tmp_path / name
        script.write_text(code)
        subprocess.run([PYTHON, str(script), str(directory), str(handoff)], check=True, timeout=120,
                       env={**os.environ, "PYTHONHASHSEED": seed})
    outcome = run_import(store, SpoolImporter(), spool_sources(directory))
    assert outcome.ok and len(outcome.summaries) == 2
    rows = store.read(
        "MATCH (g:Activity {function: 'demo.g'})-[:USED]->(v:Entity)-[:WAS_GENERATED_BY]->"
        "(f:Activity {function: 'demo.f'}) RETURN g.system AS gs, f.system AS fs")
    assert len(rows) == 1
    assert json.loads(rows[0]["gs"])["pid"] != json.loads(rows[0]["fs"])["pid"]


ENDLESS = """
import sys
import lineagegraph.capture as capture
capture.configure(spool_dir=sys.argv[1])

@capture.track(name="demo.step")
def step(i):
    return [i] * 50

@capture.track(name="demo.next")
def next_step(values):
    return sum(values)

i = 0
while True:
    next_step(step(i))
    i += 1
"""


def test_a_process_killed_mid_pipeline_leaves_a_spool_that_imports_cleanly(
    store: GraphStore, tmp_path: Path
) -> None:
    directory = tmp_path / "spool"
    script = tmp_path / "endless.py"
    script.write_text(ENDLESS)
    proc = subprocess.Popen([PYTHON, str(script), str(directory)])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        files = spool_files(directory)
        if files and files[0].size() > 200_000:
            break
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    (file,) = spool_files(directory)
    assert not file.writer_alive()

    importer = SpoolImporter()
    outcome = run_import(store, importer, spool_sources(directory))
    assert outcome.ok, outcome.errors
    delivered = importer.records[str(file.path)]
    calls = store.read("MATCH (a:Activity) WHERE a.function IN ['demo.step', 'demo.next'] RETURN count(a) AS c")
    assert delivered > 100 and calls[0]["c"] == delivered
    # Fully delivered and its writer gone: the file is retired; a second import finds nothing to do.
    assert importer.retired and spool_sources(directory) == []
    assert run_import(store, SpoolImporter(), spool_sources(directory)).summaries == []


def test_a_run_whose_input_producer_ran_again_is_stale(direct: GraphStore, data: Path) -> None:
    rows = load(capture.file(data))
    first = train(featurize(rows))
    old_run = direct.read("MATCH (:Entity {id: $id})-[:WAS_GENERATED_BY]->(a) RETURN a.id AS id",
                          id=value_id(describe(first).digest))[0]["id"]
    assert not capture.staleness(direct, old_run).stale

    newer_rows = [[x + 1.0 for x in row] for row in rows]
    second = train(featurize(newer_rows))
    report = capture.staleness(direct, old_run)
    assert report.stale and [s.producer_name for s in report.stale_inputs] == ["demo.featurize"]
    assert "demo.featurize" in report.text()

    fresh = capture.staleness(direct, value_id(describe(second).digest))
    assert not fresh.stale
    later = capture.staleness(direct, value_id(describe(second).digest), max_age=timedelta(days=7),
                              now=datetime.now(UTC) + timedelta(days=8))
    assert later.too_old and later.stale


def test_flagged_outputs_are_marked_and_blamed(
    direct: GraphStore, data: Path, cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    run_pipeline(data)
    with capture.pipeline_run("nightly"):
        serve(train(featurize(load(capture.file(data)))), {"id": 8, "x": [0.0, 1.0]})
    assert main(["flag", "prediction-7", "--reason", "customer complaint"]) == 0
    assert main(["flag", "prediction-8"]) == 0
    assert "2 output(s) flagged in all" in capsys.readouterr().out
    assert capture.flagged(direct) == sorted([capture.output_node_id("prediction-7"),
                                              capture.output_node_id("prediction-8")])
    suspects = LineageGraph(direct).blame(capture.flagged(direct)).suspects
    top = [s for s in suspects if s.hits == 2]
    assert any(s.element.properties.get("function") == "demo.train" for s in top)

    assert main(["unflag", "prediction-8"]) == 0
    capsys.readouterr()
    assert main(["flagged"]) == 0
    assert capsys.readouterr().out.split() == [capture.output_node_id("prediction-7")]
    assert main(["flag", "no-such-output"]) == 5


def test_spool_status_shows_pending_and_failed_files(
    store: GraphStore, spool: Path, cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    @capture.track(name="demo.h")
    def h(x: int) -> int:
        return x + 1

    for i in range(3):
        h(i)
    capture.configure(spool_dir=spool.parent / "closed")
    bad = spool / "otherhost_1_2_x.lgspool"
    bad.write_bytes(b"00000000 not a spool\n")
    assert main(["spool", "status", str(spool), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["pending_records"] == 3

    assert main(["import", "spool", str(spool)]) == 2
    captured = capsys.readouterr()
    assert "otherhost_1_2_x.lgspool:line 1: not a lineagegraph spool file" in captured.err
    assert store.read("MATCH (a:Activity {function: 'demo.h'}) RETURN count(a) AS c")[0]["c"] == 3
    assert main(["spool", "status", str(spool), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["failed_files"] == 1 and status["pending_records"] == 0
    assert "not a lineagegraph spool file" in next(f["error"] for f in status["files"] if f["error"])


@capture.register(component="clean", inputs=["raw_path"], outputs=["clean_path"])
def clean(raw_path: str, folder: Path) -> int:
    clean_path = str(folder / "clean.csv")  # a local variable, named in outputs as mltrace does
    lines = [line for line in Path(raw_path).read_text().splitlines() if line.strip()]
    Path(clean_path).write_text("\n".join(lines) + "\n")
    return len(lines)


def test_component_runs_connect_through_files_ids_and_local_variables(
    direct: GraphStore, tmp_path: Path
) -> None:
    raw = tmp_path / "raw.csv"
    raw.write_text("1,2\n\n3,4\n")
    with capture.pipeline_run("etl") as pipeline:
        assert clean(str(raw), tmp_path) == 2
        with capture.component_run("report") as run:
            run.log_input(str(tmp_path / "clean.csv"))
            run.log_input("batch-2024-07-01")  # an id, not a path: an I/O pointer
            run.log_output("report-2024-07-01")
    assert run.node_id is not None and pipeline.node_id is not None
    chain = direct.read(
        "MATCH (r:Activity {id: $report})-[:USED]->(v:Entity)-[:WAS_GENERATED_BY]->(c:Activity {component: 'clean'}) "
        "MATCH (c)-[:USED]->(raw:Entity)-[:SPECIALIZATION_OF]->(loc:Location) "
        "MATCH (c)-[:WAS_INFLUENCED_BY]->(p:Activity {id: $pipeline}) "
        "RETURN v.label AS clean, loc.id AS raw", report=run.node_id, pipeline=pipeline.node_id)
    assert len(chain) == 1 and chain[0]["raw"] == location_id(str(raw))
    assert chain[0]["clean"].startswith("clean.csv @ ")
    pointers = direct.read("MATCH (:Activity {id: $id})-[rel]-(e:Entity) WHERE e.io_name IS NOT NULL "
                           "RETURN type(rel) AS rel, e.io_name AS name ORDER BY name", id=run.node_id)
    assert pointers == [{"rel": "USED", "name": "batch-2024-07-01"},
                        {"rel": "WAS_GENERATED_BY", "name": "report-2024-07-01"}]


def test_the_background_flusher_delivers_the_spool(store: GraphStore, spool: Path) -> None:
    @capture.track(name="demo.flushed")
    def k(x: int) -> int:
        return x * 7

    flusher = capture.start_flusher(store, interval=0.5)
    try:
        for i in range(10):
            k(i)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = store.read("MATCH (a:Activity {function: 'demo.flushed'}) RETURN count(a) AS c")[0]["c"]
            if found == 10:
                break
            time.sleep(0.5)
    finally:
        flusher.stop()
    assert found == 10 and flusher.last_error is None
    (file,) = spool_files(spool)
    assert file.delivered() == file.size()


def test_the_demo_example_traces_a_prediction_reports_staleness_and_converges(store: GraphStore) -> None:
    from lineagegraph.capture.example import run_example

    first = run_example(store)
    text = LineageGraph(store).backtrace(first.served_output).text()
    assert frames(text) == ["fraud-scoring", "fraud.train", "fraud.featurize", "fraud.load"]
    assert first.staleness.stale and "fraud.featurize" in first.staleness.text()
    before = counts(store)
    again = run_example(store)
    assert counts(store) == before and again.served_output == first.served_output
