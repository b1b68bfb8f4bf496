"""``lineagegraph import k8s`` and the ``k8s`` read-back commands against the real Neo4j.

Every recorded sample imports; a second import changes nothing; Secrets never reach the database;
bad input (a truncated stream, an object without uid, YAML that holds no objects, a kind no
extractor knows) gives a clear message naming the file/object, the right exit code, and leaves the
other inputs of the same command imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lineagegraph.cli import main
from lineagegraph.errors import InputError
from lineagegraph.importers.k8s.files import read_events
from lineagegraph.store import GraphStore

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).resolve().parent.parent / "lineagegraph" / "samples" / "k8s"
ALL = sorted(str(p) for p in SAMPLES.iterdir())


def count(store: GraphStore, query: str, **params: Any) -> int:
    return int(store.read(query, **params)[0]["c"])


def snapshot(store: GraphStore) -> tuple[int, int, int, int]:
    return (count(store, "MATCH (n) RETURN count(n) AS c"), count(store, "MATCH ()-[r]->() RETURN count(r) AS c"),
            count(store, "MATCH (v:K8sObjectVersion) RETURN count(v) AS c"),
            count(store, "MATCH (r:ImportRun) RETURN count(r) AS c"))


def test_every_sample_imports_and_reimport_changes_nothing(store: GraphStore, cli_env: dict[str, str],
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", "k8s", *ALL]) == 0
    out = capsys.readouterr().out
    assert "cronjob-watch.ndjson: 8 versions stored, 0 unchanged, 1 deletions, 1 secrets skipped, 0 invalid" in out
    kinds = {r["kind"]: r["c"] for r in store.read("MATCH (o:K8sObject) RETURN o.kind AS kind, count(o) AS c")}
    assert kinds == {"ConfigMap": 2, "CronJob": 1, "Job": 4, "Pod": 1, "TFJob": 1, "Workflow": 1}
    before = snapshot(store)
    assert main(["import", "k8s", *ALL]) == 0
    assert "etl: 0 objects" in capsys.readouterr().out
    assert snapshot(store) == before


def test_secrets_are_never_stored(store: GraphStore, cli_env: dict[str, str]) -> None:
    assert main(["import", "k8s", "--no-etl", *ALL]) == 0
    assert count(store, "MATCH (o:K8sObject) WHERE o.kind = 'Secret' RETURN count(o) AS c") == 0
    # Not the Secrets' names, not their data, anywhere in the database.
    everything = json.dumps(store.read("MATCH (n) RETURN properties(n) AS p"), default=str)
    for needle in ("gcs-writer-key", "registry-token", "c2VjcmV0LWtleS1tYXRlcmlhbA", "Z2hwX3NlY3JldA"):
        assert needle not in everything
    # ConfigMap data and env values named like secrets are redacted; the digests stay.
    stored = "\n".join(r["o"] for r in store.read("MATCH (v:K8sObjectVersion) RETURN v.object AS o"))
    assert "hunter2" not in stored and "t0ps3cret" not in stored
    assert "gcr.io/acme/trainer@sha256:" + "3f" * 32 in stored


def test_deleted_job_keeps_its_last_version(store: GraphStore, cli_env: dict[str, str],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", "k8s", "--no-etl", str(SAMPLES / "cronjob-watch.ndjson")]) == 0
    capsys.readouterr()
    assert main(["k8s", "history", "Job/ml/nightly-features-20260302", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    versions = data["versions"]
    assert [(v["version"], v["event_type"], v["deleted"]) for v in versions] == [
        (1, "ADDED", False), (2, "MODIFIED", False), (3, "DELETED", True)]
    assert versions[-1]["object"]["status"]["succeeded"] == 1
    assert data["object"]["deleted"] is True
    assert main(["k8s", "history", "Job/ml/nightly-features-20260302", "--diff", "1", "2"]) == 0
    diff = capsys.readouterr().out
    assert "metadata.resourceVersion: '3001' -> '3002'" in diff
    assert "status.succeeded: (absent) -> 1" in diff
    assert main(["k8s", "objects", "--kind", "job", "--live", "--json"]) == 0
    live = {o["name"] for o in json.loads(capsys.readouterr().out)}
    assert live == {"nightly-features-20260303", "nightly-features-20260304"}


def test_truncated_stream_fails_alone(store: GraphStore, cli_env: dict[str, str], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    text = (SAMPLES / "cronjob-watch.ndjson").read_text()
    cut = tmp_path / "cut.ndjson"
    kept = text[: text.index("\n", 2000) + 400]
    assert not kept.endswith("\n")
    cut.write_text(kept)  # the last record is cut off in the middle
    assert main(["import", "k8s", str(cut), str(SAMPLES / "tfjob.yaml")]) == 2
    err = capsys.readouterr().err
    line = kept.count("\n") + 1
    assert f"{cut}:{line}: truncated or malformed JSON" in err
    # Nothing of the truncated file; the TFJob of the same command is in.
    assert {r["kind"] for r in store.read("MATCH (o:K8sObject) RETURN o.kind AS kind")} == {"TFJob"}


def test_object_without_uid_is_named_and_skipped(store: GraphStore, cli_env: dict[str, str], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "handmade.yaml"
    bad.write_text("apiVersion: batch/v1\nkind: Job\nmetadata: {name: handmade, namespace: ml}\n---\n"
                   "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok, namespace: ml, uid: u-ok}\ndata: {a: b}\n")
    assert main(["import", "k8s", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: Job ml/handmade at event 1: no metadata.uid" in err
    assert [r["name"] for r in store.read("MATCH (o:K8sObject) RETURN o.name AS name")] == ["ok"]


def test_yaml_of_non_objects_is_an_error(store: GraphStore, cli_env: dict[str, str], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    odd = tmp_path / "notes.yaml"
    odd.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, uid: u-a}\n---\n- just\n- a list\n")
    assert main(["import", "k8s", str(odd)]) == 2
    err = capsys.readouterr().err
    assert f"{odd}:document 2 item 1: str value is not a Kubernetes object" in err
    assert count(store, "MATCH (o:K8sObject) RETURN count(o) AS c") == 0
    with pytest.raises(InputError, match="not a Kubernetes object"):
        read_events("name: x\nvalue: 3\n", "inline")


def test_unknown_kind_is_stored_and_reported_as_skipped(store: GraphStore, cli_env: dict[str, str],
                                                        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    service = tmp_path / "svc.json"
    service.write_text(json.dumps({"apiVersion": "v1", "kind": "Service",
                                   "metadata": {"name": "model-server", "namespace": "ml", "uid": "u-svc"}}))
    assert main(["import", "k8s", str(service)]) == 0
    err = capsys.readouterr().err
    assert "skipped: Service ml/model-server (uid u-svc): no extractor knows kind Service (v1)" in err
    assert count(store, "MATCH (o:K8sObject {kind: 'Service'}) RETURN count(o) AS c") == 1
    assert count(store, "MATCH (n:Element) RETURN count(n) AS c") == 0


def test_stdin_and_a_kubectl_watch_stream_of_pretty_json(store: GraphStore, cli_env: dict[str, str]) -> None:
    # `kubectl get -w -o json` prints indented objects one after another, not one per line.
    events = [json.loads(line) for line in (SAMPLES / "cronjob-watch.ndjson").read_text().splitlines()]
    pretty = "".join(json.dumps(e, indent=4) + "\n" for e in events)
    done = subprocess.run([sys.executable, "-m", "lineagegraph", "import", "k8s", "--no-etl", "-"], input=pretty,
                          env=cli_env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "stdin: 8 versions stored" in done.stdout
    assert count(store, "MATCH (o:K8sObject) RETURN count(o) AS c") == 4
