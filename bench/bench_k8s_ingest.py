"""Ingest of a recorded Kubernetes watch stream: batched raw store + ETL vs one transaction per event.

A synthetic but realistic stream: N/4 Jobs, each ADDED, MODIFIED (running), MODIFIED (complete,
with status) and DELETED, with gs:// args, an image digest and a secret-looking env var that the
recorder redacts. Measured in one run on one server:

* batched: parse the NDJSON file, ``RawStore.record`` (1,000 events per transaction), then
  ``K8sEtl.run`` (lineage for every Job): events/s end to end, and of each phase;
* baseline: the first ``--baseline-events`` events of the same stream recorded one transaction
  per event (``batch_size=1``), into a fresh graph: events/s;
* raw-store bytes per 10k stored versions (the JSON strings), ETL reprocess time, peak RSS.

    python bench/bench_k8s_ingest.py --events 100000 --baseline-events 5000
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from _server import add_server_arguments, empty_graph

from lineagegraph.importers.k8s.etl import K8sEtl
from lineagegraph.importers.k8s.files import read_source, stream_source
from lineagegraph.importers.k8s.rawstore import RawStore


def job_events(index: int, rv: int) -> list[dict[str, Any]]:
    uid = f"00000000-0000-4000-8000-{index:012d}"
    month = f"2026-{index % 12 + 1:02d}"
    base: dict[str, Any] = {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": f"train-{index}", "namespace": f"team-{index % 20}", "uid": uid,
                     "creationTimestamp": "2026-03-01T00:00:00Z", "labels": {"app": "trainer"}},
        "spec": {"template": {"spec": {"serviceAccountName": "trainer", "containers": [{
            "name": "train", "image": "gcr.io/acme/trainer@sha256:" + f"{index % 7:x}" * 64,
            "args": [f"--train_data=gs://acme-data/{month}/part-{index % 500}", f"--output=gs://acme-models/run-{index}",
                     "--learning_rate=0.01", f"--seed={index}"],
            "env": [{"name": "API_TOKEN", "value": f"tok-{index}"}, {"name": "EPOCHS", "value": "10"}]}]}}},
    }
    events = []
    for step, (kind, status) in enumerate((
        ("ADDED", {}),
        ("MODIFIED", {"startTime": "2026-03-01T00:00:05Z", "active": 1}),
        ("MODIFIED", {"startTime": "2026-03-01T00:00:05Z", "completionTime": "2026-03-01T00:30:00Z",
                      "succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}),
        ("DELETED", {"startTime": "2026-03-01T00:00:05Z", "completionTime": "2026-03-01T00:30:00Z",
                     "succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}),
    )):
        obj = json.loads(json.dumps(base))
        obj["metadata"]["resourceVersion"] = str(rv + step)
        obj["status"] = status
        events.append({"type": kind, "object": obj})
    return events


def write_stream(path: Path, events: int) -> None:
    with path.open("w") as out:
        for index in range(events // 4):
            for event in job_events(index, 1000 + index * 4):
                out.write(json.dumps(event, separators=(",", ":")) + "\n")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--baseline-events", type=int, default=5_000)
    parser.add_argument("--no-etl", action="store_true", help="Measure recording only.")
    add_server_arguments(parser)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        stream = Path(tmp) / "watch.ndjson"
        write_stream(stream, args.events)
        print(f"stream: {args.events} events, {stream.stat().st_size / 1e6:.1f} MB")
        with empty_graph(args) as store:
            # A fresh server's JIT is cold: warm it with a small stream of the same shape first.
            warm = Path(tmp) / "warm-up.ndjson"
            write_stream(warm, 4_000)
            RawStore(store).record(stream_source(str(warm)), source=str(warm))
            K8sEtl(store).run()
            store.clear()
            t0 = time.perf_counter()
            events = stream_source(str(stream))  # what `import k8s` does: checked whole, then streamed
            t1 = time.perf_counter()
            counts = RawStore(store).record(events, source=str(stream))
            recorded = args.events // 4 * 4  # every event of the stream went through record()
            t2 = time.perf_counter()
            etl = K8sEtl(store).run() if not args.no_etl else None
            t3 = time.perf_counter()
            total = t3 - t0
            print(f"batched: parse {t1 - t0:.1f} s, record {t2 - t1:.1f} s ({recorded / (t2 - t1):,.0f} events/s), "
                  f"etl {t3 - t2:.1f} s ({etl.written if etl else 0} runs written); "
                  f"end to end {recorded / total:,.0f} events/s")
            print(f"  stored {counts.stored} versions, {counts.deletions} deletions; peak RSS {rss_mb():.0f} MB")
            size = store.read("MATCH (v:K8sObjectVersion) RETURN count(v) AS n, sum(size(v.object)) AS bytes")[0]
            print(f"  raw store: {size['n']} versions kept, {size['bytes'] / size['n'] * 10_000 / 1e6:.1f} MB of JSON "
                  "per 10k versions")
            if etl:
                t4 = time.perf_counter()
                again = K8sEtl(store).run(reprocess=True)
                print(f"  etl --reprocess of {again.objects} objects: {time.perf_counter() - t4:.1f} s "
                      f"({again.written} written, {again.unchanged} unchanged)")
            batched_rate = recorded / (t2 - t1)

            store.clear()
            subset = read_source(str(stream))[: args.baseline_events]
            t5 = time.perf_counter()
            RawStore(store, batch_size=1).record(subset, source="baseline")
            baseline_rate = len(subset) / (time.perf_counter() - t5)
            print(f"baseline: one transaction per event, {len(subset)} events: {baseline_rate:,.0f} events/s")
            print(f"recording, batched vs per event: {batched_rate / baseline_rate:.1f}x")


if __name__ == "__main__":
    main()
