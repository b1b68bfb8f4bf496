"""The raw Kubernetes object store against the real Neo4j: versions, deletions, pruning, secrets."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from lineagegraph.importers.k8s.rawstore import RawStore, WatchEvent, diff_objects, redact_object
from lineagegraph.store import GraphStore

pytestmark = pytest.mark.integration


def job(uid: str = "uid-job-1", rv: str = "100", *, name: str = "train", args: list[str] | None = None,
        env: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": "ml", "uid": uid, "resourceVersion": rv},
        "spec": {"template": {"spec": {"containers": [{
            "name": "main", "image": "gcr.io/p/trainer@sha256:" + "ab" * 32,
            "args": args or ["--train_data=gs://b/train"], "env": env or [],
        }]}}},
    }


def ev(kind: str, obj: dict[str, Any]) -> WatchEvent:
    return WatchEvent.model_validate({"type": kind, "object": obj})


def graph_count(store: GraphStore, query: str, **params: Any) -> int:
    return int(store.read(query, **params)[0]["c"])


def test_versions_are_numbered_and_redelivery_is_not_stored_twice(store: GraphStore) -> None:
    raw = RawStore(store)
    first = raw.record([ev("ADDED", job(rv="100")), ev("MODIFIED", job(rv="101"))], source="test")
    assert (first.stored, first.unchanged) == (2, 0)
    again = raw.record([ev("ADDED", job(rv="100")), ev("MODIFIED", job(rv="101"))], source="test")
    assert (again.stored, again.unchanged) == (0, 2)
    history = raw.history("uid-job-1")
    assert [(v.version, v.resource_version) for v in history] == [(1, "100"), (2, "101")]
    assert graph_count(store, "MATCH (v:K8sObjectVersion) RETURN count(v) AS c") == 2
    # The raw store is not part of the lineage graph.
    assert graph_count(store, "MATCH (n:Element) RETURN count(n) AS c") == 0


def test_secret_is_never_stored(store: GraphStore) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "data": {"password": "aHVudGVyMg=="},
              "metadata": {"name": "db", "namespace": "ml", "uid": "uid-secret", "resourceVersion": "5"}}
    counts = RawStore(store).record([ev("ADDED", secret), ev("DELETED", secret)], source="test")
    assert counts.secrets_skipped == 2 and counts.stored == 0
    assert graph_count(store, "MATCH (n) WHERE n.uid = 'uid-secret' RETURN count(n) AS c") == 0
    assert graph_count(store, "MATCH (v:K8sObjectVersion) WHERE v.object CONTAINS 'aHVudGVyMg' "
                              "RETURN count(v) AS c") == 0


def test_redaction_keeps_digests(store: GraphStore) -> None:
    obj = job(args=["--db=postgres://etl:hunter2@db/x", "--api-token", "s3cr3t-value", "--output=gs://b/m"],
              env=[{"name": "DB_PASSWORD", "value": "hunter2"},
                   {"name": "MODEL_DIGEST", "value": "sha256:" + "cd" * 32},
                   {"name": "EPOCHS", "value": "10"}])
    obj["metadata"]["annotations"] = {"example.com/api-key": "k-123",
                                      "example.com/image-digest": "sha256:" + "ef" * 32}
    RawStore(store).record([ev("ADDED", obj)], source="test")
    stored = RawStore(store).history("uid-job-1")[0].object
    container = stored["spec"]["template"]["spec"]["containers"][0]
    assert container["image"].endswith("@sha256:" + "ab" * 32)
    assert container["args"] == ["--db=postgres://etl:[redacted]@db/x", "--api-token", "[redacted]", "--output=gs://b/m"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env == {"DB_PASSWORD": "[redacted]", "MODEL_DIGEST": "sha256:" + "cd" * 32, "EPOCHS": "10"}
    assert stored["metadata"]["annotations"] == {"example.com/api-key": "[redacted]",
                                                 "example.com/image-digest": "sha256:" + "ef" * 32}
    assert "hunter2" not in str(store.read("MATCH (v:K8sObjectVersion) RETURN v.object AS o"))


def test_last_version_before_deletion_is_kept(store: GraphStore) -> None:
    raw = RawStore(store, max_versions=2)
    events = [ev("ADDED", job(rv="1"))] + [ev("MODIFIED", job(rv=str(i))) for i in range(2, 6)]
    final = job(rv="6")
    final["status"] = {"succeeded": 1}
    events.append(ev("DELETED", final))
    counts = raw.record(events, source="test")
    assert counts.stored == 6 and counts.deletions == 1
    history = raw.history("uid-job-1")
    assert [v.version for v in history] == [5, 6]
    assert history[-1].deleted and history[-1].object["status"] == {"succeeded": 1}
    assert raw.known_uids(group="batch", kind="Job", namespace="ml") == set()
    # A late re-delivery of an older version changes nothing.
    assert raw.record([ev("MODIFIED", job(rv="3"))], source="test").unchanged == 1
    assert [v.version for v in raw.history("uid-job-1")] == [5, 6]


def test_mark_deleted_for_objects_gone_while_unwatched(store: GraphStore) -> None:
    raw = RawStore(store)
    raw.record([ev("ADDED", job()), ev("ADDED", job(uid="uid-job-2", name="other"))], source="test")
    assert raw.known_uids(group="batch", kind="Job", namespace="ml") == {"uid-job-1", "uid-job-2"}
    assert raw.mark_deleted(["uid-job-2", "uid-unknown"], source="relist") == 1
    assert raw.mark_deleted(["uid-job-2"], source="relist") == 0
    assert raw.known_uids(group="batch", kind="Job", namespace="ml") == {"uid-job-1"}
    assert raw.history("uid-job-2")[-1].deleted


def test_invalid_objects_are_counted_and_named_others_stored(store: GraphStore) -> None:
    no_uid = job()
    del no_uid["metadata"]["uid"]
    counts = RawStore(store).record([ev("ADDED", no_uid), ev("ADDED", job(uid="uid-ok"))], source="f.json")
    assert counts.invalid == 1 and counts.stored == 1
    assert counts.problems == ["Job ml/train at event 1: no metadata.uid (not an object read from an API server)"]


def test_objects_resolve_and_diff(store: GraphStore) -> None:
    raw = RawStore(store)
    changed = job(rv="101", args=["--train_data=gs://b/train-v2"])
    raw.record([ev("ADDED", job(rv="100")), ev("MODIFIED", changed)], source="test")
    [found] = raw.objects(kind="job", namespace="ml")
    assert (found.name, found.latest_version, found.deleted, found.ref) == ("train", 2, False, "Job/ml/train")
    assert raw.resolve("Job/ml/train") == found == raw.resolve("uid-job-1")
    a, b = raw.history(found.uid)
    changes = dict((p, (o, n)) for p, o, n in diff_objects(a.object, b.object))
    assert changes["spec.template.spec.containers[0].args[0]"] == ("--train_data=gs://b/train",
                                                                   "--train_data=gs://b/train-v2")
    assert changes["metadata.resourceVersion"] == ("100", "101")


def test_redact_object_reaches_last_applied_configuration() -> None:
    inner = job(env=[{"name": "API_TOKEN", "value": "abc"}])
    obj = copy.deepcopy(inner)
    obj["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": json.dumps(inner)}
    redacted = redact_object(obj)
    applied = json.loads(redacted["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    assert applied["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "API_TOKEN", "value": "[redacted]"}]


def test_deletion_of_an_already_stored_version_marks_it_without_a_new_version(store: GraphStore) -> None:
    # A relist or a file import can deliver the deletion with the object exactly as last stored.
    raw = RawStore(store)
    raw.record([ev("ADDED", job(rv="7"))], source="test")
    counts = raw.record([ev("DELETED", job(rv="7"))], source="test")
    assert (counts.stored, counts.deletions) == (0, 1)
    [only] = raw.history("uid-job-1")
    assert (only.version, only.deleted) == (1, True)
    assert raw.record([ev("DELETED", job(rv="7"))], source="test").unchanged == 1


def test_two_recorders_at_once_store_each_version_once(store: GraphStore) -> None:
    # The agent and a file import (or two agents) may record the same object at the same time.
    from concurrent.futures import ThreadPoolExecutor

    events = [ev("ADDED", job(rv="1"))] + [ev("MODIFIED", job(rv=str(i))) for i in range(2, 31)]

    def record(offset: int) -> int:
        raw = RawStore(store, batch_size=3)
        return sum(raw.record(events[i:i + 3], source=f"r{offset}").stored for i in range(offset, 30, 6))

    with ThreadPoolExecutor(max_workers=2) as pool:
        stored = sum(pool.map(record, [0, 3]))
    with ThreadPoolExecutor(max_workers=2) as pool:  # then both replay everything
        stored += sum(pool.map(lambda _: RawStore(store).record(events, source="replay").stored, [0, 1]))
    history = RawStore(store, max_versions=100).history("uid-job-1")
    # Which interleaving happened decides how many older events were skipped as stale, but never
    # is a version number or a resourceVersion stored twice, and the newest is always there.
    numbers = [v.version for v in history]
    rvs = [int(v.resource_version or 0) for v in history]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers))) and numbers[-1] == stored
    assert rvs == sorted(set(rvs)) and rvs[-1] == 30
    assert len(history) == min(stored, 20)
