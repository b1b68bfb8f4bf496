"""ETL from the raw Kubernetes store into lineage, against the real Neo4j, on the recorded samples.

What a user sees: a Job is an activity that used its gs:// inputs and generated a version of its
output location; Argo artifact passing is lineage (the published model's ancestors reach the first
step's input); ConfigMaps are used entities per resourceVersion; a CronJob's Jobs are runs of one
plan; the ETL is idempotent; ``--reprocess`` with a changed extractor (the one in
docs/kubernetes.md, run here as written) replaces only what the old derivation asserted.
"""

from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from lineagegraph.cli import main
from lineagegraph.identity import location_id, version_id
from lineagegraph.importers.k8s.etl import K8sEtl
from lineagegraph.importers.k8s.extractors import run_id
from lineagegraph.importers.k8s.files import read_source
from lineagegraph.importers.k8s.rawstore import RawStore, WatchEvent
from lineagegraph.queries import LineageGraph
from lineagegraph.store import GraphStore

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "lineagegraph" / "samples" / "k8s"
JOB_UID = "7b1e0c2a-0000-4000-8000-0000000j0042"
WF_UID = "3a9d7c55-0000-4000-8000-0000000wf001"
CRON_JOBS = [f"9c4d2e1f-0000-4000-8000-0000000cj00{d}" for d in (2, 3, 4)]
JOB_RUN = run_id(JOB_UID)


def record_samples(store: GraphStore) -> RawStore:
    raw = RawStore(store)
    for path in sorted(SAMPLES.iterdir()):
        raw.record(read_source(str(path)), source=str(path))
    return raw


def rels(store: GraphStore, start: str, rel_type: str) -> dict[str, dict[str, Any]]:
    """The ends of ``start``'s outgoing relationships of one type, with the relationship properties."""
    rows = store.read("MATCH (a:Element {id: $id})-[r]->(b) WHERE type(r) = $t RETURN b.id AS id, properties(r) AS p",
                      id=start, t=rel_type)
    return {r["id"]: r["p"] for r in rows}


def node(store: GraphStore, id: str) -> dict[str, Any]:
    rows = store.read("MATCH (n:Element {id: $id}) RETURN properties(n) AS p, labels(n) AS l", id=id)
    assert rows, f"no node {id}"
    return {**rows[0]["p"], "labels": set(rows[0]["l"])}


def graph_state(store: GraphStore) -> set[str]:
    """Every element and relationship with its properties, minus the import bookkeeping."""
    skip = {"import_runs", "import_sources", "created_by"}
    rows = store.read("MATCH (n:Element) OPTIONAL MATCH (n)-[r]->(m:Element) "
                      "RETURN n.id AS id, labels(n) AS l, properties(n) AS p, type(r) AS t, m.id AS m, "
                      "properties(r) AS rp")
    out = set()
    for r in rows:
        props = {k: v for k, v in r["p"].items() if k not in skip}
        out.add(repr((r["id"], sorted(r["l"]), sorted(props.items(), key=str))))
        if r["t"]:
            rprops = {k: v for k, v in (r["rp"] or {}).items() if k not in skip}
            out.add(repr((r["id"], r["t"], r["m"], sorted(rprops.items(), key=str))))
    return out


def test_job_used_inputs_generated_output_version_and_configmaps(store: GraphStore) -> None:
    counts = K8sEtl(store, rawstore=record_samples(store)).run()
    assert counts.errors == [] and counts.skipped == []
    activity = node(store, JOB_RUN)
    assert "Activity" in activity["labels"] and activity["status"] == "succeeded"
    assert activity["image"] == "gcr.io/acme/trainer:1.4.0"
    assert activity["code_version"] == "sha256:" + "3f" * 32  # from the Pod's imageID
    assert activity["cluster_parts"] == ["train-fraud-42-x7k2p"]
    assert '"num_steps": 1000' in activity["params"] and '"learning_rate": 0.01' in activity["params"]
    used = rels(store, JOB_RUN, "USED")
    train = location_id("gs://acme-data/fraud/features/2026-03")
    assert used[train]["prov:role"] == "train_data"
    assert location_id("gs://acme-data/fraud/eval/2026-03") in used
    configmaps = {node(store, i)["label"] for i in used if "configmap" in i}
    assert configmaps == {"ConfigMap ml/train-config (resourceVersion 1201)",
                          "ConfigMap ml/feature-spec (resourceVersion 1202)"}
    out_location = location_id("gs://acme-models/fraud/run-42")
    out_version = version_id(out_location, JOB_RUN)
    assert JOB_RUN in rels(store, out_version, "WAS_GENERATED_BY")
    assert out_location in rels(store, out_version, "SPECIALIZATION_OF")
    assert "Location" in node(store, out_location)["labels"]
    agents = {node(store, a)["label"] for a in rels(store, JOB_RUN, "WAS_ASSOCIATED_WITH")}
    assert agents == {"image trainer:1.4.0", "service account ml/trainer"}
    # The Pod is a part of the Job's run, not a run of its own.
    assert not store.read("MATCH (a:Activity) WHERE a.label STARTS WITH 'Pod ' RETURN a.id AS id")


def test_argo_artifact_passing_is_lineage(store: GraphStore) -> None:
    K8sEtl(store, rawstore=record_samples(store)).run()
    steps = {name: run_id(WF_UID, f"fraud-pipeline-8x2kq-{n}") for name, n in
             (("prepare", 1001), ("train", 1002), ("evaluate", 1003))}
    published = version_id(location_id("gs://acme-models/fraud/pipeline/model.pb"), steps["evaluate"])
    graph = LineageGraph(store)
    ancestors = {n.id for n in graph.ancestors(published, depth=20).nodes}
    assert location_id("gs://acme-data/fraud/raw/2026-03") in ancestors
    assert set(steps.values()) <= ancestors
    # The training step used exactly the version that prepare generated.
    features = version_id(location_id("gs://acme-argo/fraud-pipeline-8x2kq/prepare/features.tgz"), steps["prepare"])
    assert features in rels(store, steps["train"], "USED")
    assert set(rels(store, steps["train"], "WAS_INFORMED_BY")) == {steps["prepare"]}
    assert set(rels(store, run_id(WF_UID), "WAS_INFORMED_BY")) == set(steps.values())
    assert node(store, steps["evaluate"])["params"] == '{"output.auc": "0.947"}'
    # bt of the published model: evaluate, then train, then prepare.
    frames = graph.backtrace(published, depth=20).frames
    assert [f.activity.id for f in frames] == [steps["evaluate"], steps["train"], steps["prepare"]]


def test_tfjob_replicas_annotations_and_pvc_paths(store: GraphStore) -> None:
    K8sEtl(store, rawstore=record_samples(store)).run()
    tfjob = run_id("4e2b8f90-0000-4000-8000-0000000tf001")
    used = set(rels(store, tfjob, "USED"))
    assert used == {location_id("gs://acme-data/mnist/train"), location_id("gs://acme-data/mnist/vocab.txt"),
                    location_id("pvc://ml/mnist-checkpoints/warm-start")}
    generated = store.read("MATCH (v)-[:WAS_GENERATED_BY]->(:Activity {id: $id}) RETURN v.uri AS uri", id=tfjob)
    assert [r["uri"] for r in generated] == [location_id("gs://acme-models/mnist/2026-03-06")]
    params = node(store, tfjob)["params"]
    assert '"replicas.Chief": 1' in params and '"replicas.Worker": 2' in params


def test_cronjob_jobs_are_runs_of_one_plan(store: GraphStore) -> None:
    K8sEtl(store, rawstore=record_samples(store)).run()
    rows = store.read("MATCH (a:Activity)-[r:WAS_ASSOCIATED_WITH]->(g:Agent) WHERE r.plan IS NOT NULL "
                      "MATCH (p:Plan {id: r.plan}) RETURN a.id AS run, p.label AS plan, a.status AS status, "
                      "p.schedule AS schedule ORDER BY a.started_at")
    assert [r["run"] for r in rows] == [run_id(u) for u in CRON_JOBS]  # the deleted one included
    assert {(r["plan"], r["schedule"], r["status"]) for r in rows} == {
        ("CronJob ml/nightly-features", "0 2 * * *", "succeeded")}
    # Each night's run wrote its own version of the features; the location is one node.
    latest = location_id("gs://acme-data/fraud/features/latest")
    assert len(store.read("MATCH (v)-[:SPECIALIZATION_OF]->({id: $id}) RETURN v", id=latest)) == 3


def test_etl_twice_changes_nothing(store: GraphStore) -> None:
    raw = record_samples(store)
    first = K8sEtl(store, rawstore=raw).run()
    # Runs: the training Job, three CronJob Jobs, the TFJob, the Workflow (Pod, CronJob, ConfigMaps: parts).
    assert (first.objects, first.written) == (10, 6)
    state, runs = graph_state(store), store.read("MATCH (r:ImportRun) RETURN count(r) AS c")
    again = K8sEtl(store, rawstore=raw).run()
    assert (again.objects, again.written) == (0, 0)
    full = K8sEtl(store, rawstore=raw).run(reprocess=True)
    assert (full.written, full.unchanged) == (0, full.objects)
    assert graph_state(store) == state
    assert store.read("MATCH (r:ImportRun) RETURN count(r) AS c") == runs


def _doc_extractor_module() -> str:
    """docs/kubernetes.md's example extractor, loaded as a module exactly as written there."""
    text = (REPO / "docs" / "kubernetes.md").read_text()
    match = re.search(r"<!-- example-extractor -->\n```python\n(.*?)```", text, re.S)
    assert match, "the example extractor block is missing from docs/kubernetes.md"
    module = types.ModuleType("k8s_doc_example")
    exec(compile(match[1], "docs/kubernetes.md", "exec"), module.__dict__)
    sys.modules[module.__name__] = module
    return module.__name__


def test_reprocess_with_the_documented_extractor_replaces_only_its_derivation(
        store: GraphStore, cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    record_samples(store)
    assert main(["etl", "k8s"]) == 0
    before = graph_state(store)
    directory = location_id("gs://acme-models/fraud/run-42")
    assert directory in rels(store, version_id(directory, JOB_RUN), "SPECIALIZATION_OF")
    module = _doc_extractor_module()
    capsys.readouterr()
    assert main(["etl", "k8s", "--reprocess", "--kind", "Job", "--extractor", f"{module}:team_jobs"]) == 0
    assert "1 written" in capsys.readouterr().out  # only the fraud team's Job derives differently
    after = graph_state(store)
    # What the built-ins derived for that Job and nobody else asserted is gone...
    assert not store.read("MATCH (n) WHERE n.id IN [$a, $b] RETURN n", a=directory,
                          b=version_id(directory, JOB_RUN))
    # ...its new outputs are there...
    for name in ("model.pb", "metrics.json"):
        target = version_id(location_id(f"gs://acme-models/fraud/run-42/{name}"), JOB_RUN)
        assert JOB_RUN in rels(store, target, "WAS_GENERATED_BY")
    assert '"team": "fraud"' in node(store, JOB_RUN)["params"]
    # ...and nothing that does not mention the Job's run changed.
    assert {s for s in before if JOB_RUN not in s and "run-42" not in s} == \
        {s for s in after if JOB_RUN not in s and "run-42" not in s}
    # Shared nodes the Job still uses (its inputs, agents) are still there.
    assert location_id("gs://acme-data/fraud/features/2026-03") in rels(store, JOB_RUN, "USED")
    # Running it again is a no-op.
    assert main(["etl", "k8s", "--reprocess", "--kind", "Job", "--extractor", f"{module}:team_jobs"]) == 0
    assert graph_state(store) == after


def test_extractor_errors_are_named_and_others_still_derive(store: GraphStore, cli_env: dict[str, str],
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    record_samples(store)
    module = types.ModuleType("k8s_broken_extractor")

    def broken(obj: dict[str, Any], ctx: object) -> None:
        if obj["kind"] == "TFJob":
            raise KeyError("tfReplicaSpecs")

    module.broken = broken  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    assert main(["etl", "k8s", "--extractor", "k8s_broken_extractor:broken"]) == 1
    err = capsys.readouterr().err
    assert "TFJob ml/mnist-dist (uid 4e2b8f90-0000-4000-8000-0000000tf001): the extractor failed: KeyError" in err
    assert store.read("MATCH (a:Activity {id: $id}) RETURN a", id=JOB_RUN)
    assert main(["etl", "k8s", "--extractor", "no_such_module:f"]) == 3
    capsys.readouterr()
    assert main(["etl", "k8s", "--reprocess", "--since", "2999-01-01"]) == 0
    assert "etl: 0 objects" in capsys.readouterr().out
    assert main(["etl", "k8s", "--since", "last tuesday"]) == 2


def test_declarative_conventions_from_the_config_file(store: GraphStore, cli_env: dict[str, str], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "lineagegraph.toml"
    config.write_text('[k8s.conventions]\noutputs = ["^publish_to$"]\ninputs = ["^warm_start$"]\n')
    monkeypatch.setenv("LINEAGEGRAPH_CONFIG", str(config))
    job = tmp_path / "job.yaml"
    job.write_text("""apiVersion: batch/v1
kind: Job
metadata: {name: publish, namespace: ml, uid: u-publish, resourceVersion: "7"}
spec:
  template:
    spec:
      containers:
        - image: gcr.io/acme/publish:1
          args: ["--warm_start=gs://acme/ckpt", "--publish_to=gs://acme/pub", "--mirror=gs://acme/elsewhere"]
status: {startTime: "2026-03-01T00:00:00Z", completionTime: "2026-03-01T00:10:00Z", succeeded: 1}
""")
    assert main(["import", "k8s", str(job)]) == 0
    run = run_id("u-publish")
    assert set(rels(store, run, "USED")) == {location_id("gs://acme/ckpt")}
    assert version_id(location_id("gs://acme/pub"), run) in {
        r["id"] for r in store.read("MATCH (v)-[:WAS_GENERATED_BY]->(:Activity {id: $id}) RETURN v.id AS id", id=run)}
    # A location under a name no convention knows is kept as a parameter, not guessed.
    assert '"mirror": "gs://acme/elsewhere"' in node(store, run)["params"]
    config.write_text('[k8s.conventions]\ninputs = ["(unclosed"]\n')
    assert main(["etl", "k8s", "--reprocess"]) == 3


def test_extractors_registered_as_entry_points_are_used(store: GraphStore, cli_env: dict[str, str],
                                                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # An installed package's entry point, as `pip install` would leave it on sys.path.
    module = _doc_extractor_module()
    dist = tmp_path / "acme_lineage-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-lineage\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[lineagegraph.k8s_extractors]\nfraud = {module}:team_jobs\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    record_samples(store)
    assert main(["etl", "k8s"]) == 0
    assert '"team": "fraud"' in node(store, JOB_RUN)["params"]


def test_an_object_whose_lineage_the_graph_refuses_is_named_and_the_others_still_land(store: GraphStore) -> None:
    # A Job that reads a URI too long for Neo4j's index: its chunk is refused, the objects are then
    # written one by one, so the error names that Job and every other derivation lands.
    raw = record_samples(store)
    job = next(e.object for path in sorted(SAMPLES.iterdir()) for e in read_source(str(path))
               if e.object.get("kind") == "Job")
    huge = json.loads(json.dumps(job))
    huge["metadata"].update(uid="7b1e0c2a-0000-4000-8000-00000000huge", name="too-long", resourceVersion="999")
    container = huge["spec"]["template"]["spec"]["containers"][0]
    container["args"] = [f"--input=gs://bucket/{'x' * 5000}"]
    raw.record([WatchEvent(type="ADDED", object=huge)], source="test")
    counts = K8sEtl(store, rawstore=raw).run()
    assert len(counts.errors) == 1 and "too-long" in counts.errors[0] and "indexed" in counts.errors[0]
    assert counts.written == 6, "the sample objects still derive"
    assert store.read("MATCH (a:Activity {id: $id}) RETURN count(a) AS c", id=JOB_RUN)[0]["c"] == 1
