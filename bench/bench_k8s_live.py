"""Live benchmark of the Kubernetes agent: a real kube-apiserver, a load script, the agent, Neo4j.

The API server and etcd are started with the project's own test tooling (``tests/kubecluster.py``,
binaries from ``scripts/ensure-kube.sh``); Neo4j is the benchmark's own local server
(``--port/--home``). A load script in this process creates, updates and deletes Jobs and
ConfigMaps with the official ``kubernetes`` client at a steady ``--rate`` for ``--duration`` s,
then fires a ``--burst`` of creations from ``--threads`` threads as fast as the API server takes
them. Every write's answer gives the object's uid and new resourceVersion (a deletion: the uid).

Three recorders, one after the other, each into an empty graph, each with the same load:

* ``agent``: ``lineagegraph watch k8s`` unmodified, as a subprocess (record only, no ETL);
* ``agent+etl``: the same, with ``lineagegraph etl k8s`` run back to back beside it (a cron job
  with no pause), which derives the lineage of what the agent recorded;
* ``per-event``: the baseline, a subprocess that watches the same kinds with the same client and
  records each event in its own transaction (``RawStore(batch_size=1)``), without the agent's
  batching writer.

What is measured (a poller reads Neo4j every ``--poll`` s, by uid and resourceVersion):

* **record lag**: from the moment the load script got the API server's answer to a write (the
  change is committed in etcd by then, so this is at most a request's latency later than the
  event) to the moment the version is readable in the raw store (``seen``; includes up to one
  poll interval), and to the version's ``observed_at`` (the agent's clock when its write
  transaction began; no poll granularity);
* **lineage lag** (``agent+etl``): from the answer to a Job's creation to the moment its run
  (``Activity``) is readable in the PROV graph;
* events/s recorded in the steady phase and in the burst (versions stored / time from the first
  write to the last version readable), the agent's counters from ``/metrics``, and the recorder
  process's peak RSS (``VmHWM``) with RSS samples over the run (flat or growing).

    python bench/bench_k8s_live.py --rate 25 --duration 60 --burst 1000 --port 17723 \\
        --home /tmp/lg-bench/neo4j --json bench/results/k8s_live.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _server import REPO, add_server_arguments, empty_graph
from bench_k8s_ingest import job_events

sys.path.insert(0, str(REPO / "tests"))  # the project's own tooling for a real API server
from kubecluster import KubeCluster, start_cluster
from kubernetes import client, watch

from lineagegraph.importers.k8s.etl import K8sEtl
from lineagegraph.importers.k8s.extractors import run_id
from lineagegraph.importers.k8s.rawstore import RawStore, WatchEvent
from lineagegraph.services.k8s_agent import kube_api_client
from lineagegraph.settings import Settings
from lineagegraph.store import GraphStore

MODES = ("agent", "agent+etl", "per-event")


@dataclass
class Op:
    """One write of the load script and when its result became visible."""

    kind: str
    action: str
    uid: str
    rv: str | None  # None for a deletion: its version is recognised by `deleted`
    answered: float  # time.time() when the API server's answer arrived
    latency: float  # seconds the request took
    burst: bool
    seen: float | None = None
    observed: float | None = None
    derived: float | None = None


@dataclass
class Load:
    """Creates, updates and deletes Jobs and ConfigMaps in one namespace; keeps ~``keep`` of each alive."""

    api: client.ApiClient
    namespace: str
    keep: int = 10
    ops: list[Op] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    alive: dict[str, deque[tuple[str, str]]] = field(default_factory=lambda: {"Job": deque(), "ConfigMap": deque()})
    counter: int = 0

    def _name(self, kind: str) -> str:
        with self.lock:
            self.counter += 1
            return f"{'job' if kind == 'Job' else 'cm'}-{self.counter}"

    def _timed(self, kind: str, action: str, uid: str | None, call: Callable[[], Any], burst: bool) -> None:
        start = time.time()
        answer = call()
        end = time.time()
        meta = answer.metadata if hasattr(answer, "metadata") and action != "delete" else None
        op = Op(kind, action, uid or meta.uid, None if meta is None else meta.resource_version, end, end - start,
                burst)
        with self.lock:
            self.ops.append(op)
            if action == "create":
                self.alive[kind].append((op.uid, meta.name if meta else ""))

    def create(self, kind: str, burst: bool = False) -> None:
        name = self._name(kind)
        if kind == "Job":
            body = {"metadata": {"name": name, "labels": {"app": "bench"}}, "spec": {"template": {"spec": {
                "restartPolicy": "Never", "serviceAccountName": "trainer", "containers": [{
                    "name": "train", "image": "ghcr.io/example/train@sha256:" + "ab" * 32,
                    "args": [f"--train_data=gs://bench-data/{name}/in.csv", f"--output=gs://bench-models/{name}",
                             "--learning_rate=0.01"],
                    "env": [{"name": "API_TOKEN", "value": "tok-not-stored"}]}]}}}}
            self._timed(kind, "create", None, lambda: client.BatchV1Api(self.api).create_namespaced_job(
                self.namespace, body), burst)
        else:
            self._timed(kind, "create", None, lambda: client.CoreV1Api(self.api).create_namespaced_config_map(
                self.namespace, {"metadata": {"name": name}, "data": {"learning_rate": "0.01", "round": "0"}}), burst)

    def update(self, kind: str) -> None:
        with self.lock:
            if not self.alive[kind]:
                return
            uid, name = self.alive[kind][len(self.alive[kind]) // 2]
        if kind == "Job":
            self._timed(kind, "update", uid, lambda: client.BatchV1Api(self.api).patch_namespaced_job(
                name, self.namespace, {"metadata": {"labels": {"stage": str(self.counter)}}}), False)
        else:
            self._timed(kind, "update", uid, lambda: client.CoreV1Api(self.api).patch_namespaced_config_map(
                name, self.namespace, {"data": {"round": str(self.counter)}}), False)

    def delete(self, kind: str) -> None:
        with self.lock:
            if len(self.alive[kind]) <= self.keep:
                return
            uid, name = self.alive[kind].popleft()
        if kind == "Job":
            # Background: gone at once (the default waits for a garbage collector that does not run here).
            self._timed(kind, "delete", uid, lambda: client.BatchV1Api(self.api).delete_namespaced_job(
                name, self.namespace, propagation_policy="Background"), False)
        else:
            self._timed(kind, "delete", uid, lambda: client.CoreV1Api(self.api).delete_namespaced_config_map(
                name, self.namespace), False)

    def steady(self, rate: float, duration: float) -> None:
        """One write every 1/rate s on a fixed schedule (late writes do not shift the later ones)."""
        cycle = [lambda: self.create("Job"), lambda: self.create("ConfigMap"), lambda: self.update("Job"),
                 lambda: self.update("ConfigMap"), lambda: self.delete("Job"), lambda: self.delete("ConfigMap")]
        start = time.monotonic()
        i = 0
        while (now := time.monotonic()) - start < duration:
            due = start + i / rate
            if due > now:
                time.sleep(due - now)
            cycle[i % len(cycle)]()
            i += 1

    def burst(self, count: int, threads: int) -> None:
        """``count`` creations (Jobs and ConfigMaps alternately) from ``threads`` threads, no pause."""
        todo = iter(range(count))
        lock = threading.Lock()

        def work() -> None:
            while True:
                with lock:
                    i = next(todo, None)
                if i is None:
                    return
                self.create("Job" if i % 2 == 0 else "ConfigMap", burst=True)

        workers = [threading.Thread(target=work) for _ in range(threads)]
        for t in workers:
            t.start()
        for t in workers:
            t.join()


def _poll(store: GraphStore, ops: list[Op], lock: threading.Lock, derive: bool) -> None:
    """Mark the ops whose version is readable now (and, with ``derive``, Job runs that are derived)."""
    with lock:
        pending = [(i, op) for i, op in enumerate(ops) if op.seen is None]
        underived = [(i, op) for i, op in enumerate(ops)
                     if derive and op.kind == "Job" and op.action == "create" and op.derived is None]
    now = time.time()
    if pending:
        rows = store.read(
            "UNWIND $rows AS row MATCH (v:K8sObjectVersion {uid: row.uid}) "
            "WHERE (row.rv IS NOT NULL AND v.resource_version = row.rv) OR (row.rv IS NULL AND v.deleted) "
            "RETURN row.i AS i, v.observed_at AS observed",
            rows=[{"i": i, "uid": op.uid, "rv": op.rv} for i, op in pending])
        for row in rows:
            op = ops[row["i"]]
            if op.seen is None:
                op.seen, op.observed = now, row["observed"].to_native().timestamp()
    if underived:
        ids = {run_id(op.uid): i for i, op in underived}
        for row in store.read("UNWIND $ids AS id MATCH (a:Activity {id: id}) RETURN a.id AS id", ids=list(ids)):
            ops[ids[row["id"]]].derived = now


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))], 3)


def _lags(values: list[float]) -> dict[str, Any]:
    return {"n": len(values), "p50": _pct(values, 50), "p99": _pct(values, 99), "max": _pct(values, 100)}


def _rss(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a process in MB, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


def _http(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, answer.read().decode()
    except OSError:
        return 0, ""


# ---------------------------------------------------------------------------------------------
# The baseline recorder: same watch, one transaction per event (run as a subprocess of this script)


def per_event_recorder(kubeconfig: Path, namespace: str, settings: Settings) -> None:
    api = kube_api_client(kubeconfig)
    batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
    kinds = [("batch/v1", "Job", batch.list_namespaced_job), ("v1", "ConfigMap", core.list_namespaced_config_map)]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with GraphStore.connect(settings, quiet=True) as store:
        raw = RawStore(store, batch_size=1)
        raw.init_schema()
        starts = {kind: listing(namespace).metadata.resource_version for _, kind, listing in kinds}

        def follow(api_version: str, kind: str, listing: Callable[..., Any]) -> None:
            rv = starts[kind]
            while not stop.is_set():
                w = watch.Watch()  # type: ignore[no-untyped-call]
                for event in w.stream(listing, namespace, resource_version=rv, timeout_seconds=5):
                    obj = event["raw_object"]
                    obj.setdefault("apiVersion", api_version)
                    obj.setdefault("kind", kind)
                    rv = obj["metadata"]["resourceVersion"]
                    raw.record([WatchEvent(type=event["type"], object=obj)], source="per-event")

        threads = [threading.Thread(target=follow, args=k, daemon=True) for k in kinds]
        for t in threads:
            t.start()
        print("ready", flush=True)
        stop.wait()


# ---------------------------------------------------------------------------------------------
# One measured phase


def run_phase(mode: str, args: argparse.Namespace, cluster: KubeCluster, store: GraphStore,
              settings_env: dict[str, str], workdir: Path) -> dict[str, Any]:
    store.clear()
    store.init_schema()
    api = kube_api_client(cluster.kubeconfig)
    ns = f"bench-{mode.replace('+', '-')}-{int(time.time())}"
    core = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": ns}})
    core.create_namespaced_service_account(ns, {"metadata": {"name": "default"}})
    state = workdir / f"state-{mode}"
    log = workdir / f"{mode}.log"
    health = _free_port()
    if mode == "per-event":
        recorder = subprocess.Popen(
            [sys.executable, __file__, "--per-event-recorder", ns, "--kubeconfig", str(cluster.kubeconfig),
             "--port", str(args.port), "--home", str(args.home)],
            env=settings_env, stdout=subprocess.PIPE, stderr=log.open("wb"), cwd=REPO)
        assert recorder.stdout is not None
        if recorder.stdout.readline().strip() != b"ready":
            raise RuntimeError(f"the per-event recorder did not start; see {log}")
    else:
        recorder = subprocess.Popen(
            [sys.executable, "-m", "lineagegraph", "watch", "k8s", "--kubeconfig", str(cluster.kubeconfig),
             "-n", ns, "--kind", "batch/v1/jobs", "--kind", "v1/configmaps", "--state-dir", str(state),
             "--health-port", str(health), "--cluster", "bench", "--quiet"],
            env=settings_env, stdout=subprocess.DEVNULL, stderr=log.open("wb"), cwd=REPO)
        _wait("the agent's readiness", lambda: _http(health, "/readyz")[0] == 200, 120)

    load = Load(api, ns)
    stop = threading.Event()
    rss: list[tuple[float, float]] = []
    etl_passes: list[dict[str, Any]] = []

    def poller() -> None:
        with GraphStore.connect(Settings(server_home=args.home, server_port=args.port, neo4j_uri=None),
                                quiet=True) as reader:
            while not stop.is_set():
                _poll(reader, load.ops, load.lock, mode == "agent+etl")
                rss.append((time.time(), _rss(recorder.pid)[0]))
                stop.wait(args.poll)

    def etl_loop() -> None:
        while not stop.is_set():
            started = time.time()
            done = subprocess.run([sys.executable, "-m", "lineagegraph", "etl", "k8s", "--json"], env=settings_env,
                                  capture_output=True, text=True, cwd=REPO)
            counts = json.loads(done.stdout) if done.returncode == 0 else {"error": done.stderr[-500:]}
            etl_passes.append({"seconds": round(time.time() - started, 2), "objects": counts.get("objects"),
                               "written": counts.get("written"), "unchanged": counts.get("unchanged"),
                               "errors": len(counts.get("errors") or []) if "error" not in counts else counts})

    threads = [threading.Thread(target=poller, daemon=True)]
    if mode == "agent+etl":
        threads.append(threading.Thread(target=etl_loop, daemon=True))
    for t in threads:
        t.start()
    t0 = time.time()
    load.steady(args.rate, args.duration)
    t1 = time.time()
    load.burst(args.burst, args.threads)
    t2 = time.time()

    def settled() -> bool:
        with load.lock:
            return all(op.seen is not None for op in load.ops) and (mode != "agent+etl" or all(
                op.derived is not None for op in load.ops if op.kind == "Job" and op.action == "create"))

    try:
        _wait("every write recorded" + (" and derived" if mode == "agent+etl" else ""), settled, args.drain)
        drained = True
    except RuntimeError:
        drained = False
    t3 = time.time()
    metrics = _http(health, "/status")[1] if mode != "per-event" else ""
    _, peak = _rss(recorder.pid)
    stop.set()
    for t in threads:
        t.join(600)
    recorder.send_signal(signal.SIGTERM)
    code = recorder.wait(120)

    steady = [op for op in load.ops if not op.burst]
    burst = [op for op in load.ops if op.burst]

    def rate(ops: list[Op], start: float) -> float | None:
        seen = [op.seen for op in ops if op.seen is not None]
        return round(len(seen) / (max(seen) - start), 1) if seen else None

    result: dict[str, Any] = {
        "mode": mode,
        "recorder_exit": code,
        "all_recorded": drained,
        "steady": {
            "writes": len(steady), "seconds": round(t1 - t0, 1), "offered_per_s": round(len(steady) / (t1 - t0), 1),
            "recorded_per_s": rate(steady, t0),
            "record_lag_s": _lags([op.seen - op.answered for op in steady if op.seen]),
            "record_lag_observed_at_s": _lags([op.observed - op.answered for op in steady if op.observed]),
        },
        "burst": {
            "writes": len(burst), "seconds": round(t2 - t1, 1), "offered_per_s": round(len(burst) / (t2 - t1), 1),
            "recorded_per_s": rate(burst, t1),
            "record_lag_s": _lags([op.seen - op.answered for op in burst if op.seen]),
        },
        "request_latency_s": _lags([op.latency for op in load.ops]),
        "not_recorded": sum(op.seen is None for op in load.ops),
        "wait_after_load_s": round(t3 - t2, 1),
        "recorder_peak_rss_mb": round(peak, 1),
        "recorder_rss_mb": {"first": round(rss[0][1], 1) if rss else None,
                            "after_steady": round(max((r for t, r in rss if t <= t1), default=0.0), 1),
                            "max": round(max((r for _, r in rss), default=0.0), 1),
                            "last": round(rss[-1][1], 1) if rss else None},
    }
    if metrics:
        status = json.loads(metrics)
        result["agent_status"] = {k: status[k] for k in ("events_total", "stored_total", "api_errors", "relists")}
    if mode == "agent+etl":
        jobs = [op for op in load.ops if op.kind == "Job" and op.action == "create"]
        result["lineage_lag_s"] = {
            "steady": _lags([op.derived - op.answered for op in jobs if op.derived and not op.burst]),
            "burst": _lags([op.derived - op.answered for op in jobs if op.derived and op.burst])}
        result["etl_passes"] = {"count": len(etl_passes),
                                "seconds": _lags([p["seconds"] for p in etl_passes]),
                                "objects_total": sum(p["objects"] or 0 for p in etl_passes if "objects" in p),
                                "written_total": sum(p["written"] or 0 for p in etl_passes if "written" in p),
                                "failed": sum(1 for p in etl_passes if isinstance(p.get("errors"), dict))}
        busy = sum(p["seconds"] for p in etl_passes)
        result["etl_passes"]["written_per_s"] = round(result["etl_passes"]["written_total"] / busy, 1) if busy else None
    return result


def warm_up(store: GraphStore, jobs: int) -> dict[str, float]:
    """Record and derive a few hundred synthetic Jobs, then clear: the first measured phase should not
    pay for a cold JVM (Neo4j compiles its query plans and code on first use)."""
    started = time.monotonic()
    events = [WatchEvent.model_validate(e) for i in range(jobs) for e in job_events(i, 1000 + 4 * i)]
    RawStore(store).record(events, source="warm-up")
    K8sEtl(store).run()
    seconds = time.monotonic() - started
    store.clear()
    return {"jobs": jobs, "seconds": round(seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=25, help="writes/s of the steady load")
    parser.add_argument("--duration", type=float, default=60, help="seconds of steady load per recorder")
    parser.add_argument("--burst", type=int, default=1000, help="creations fired as fast as possible afterwards")
    parser.add_argument("--threads", type=int, default=4, help="threads of the burst")
    parser.add_argument("--poll", type=float, default=0.2, help="seconds between reads of Neo4j")
    parser.add_argument("--drain", type=float, default=180, help="seconds to wait for the recorder to catch up")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    parser.add_argument("--warm-up", type=int, default=100, help="synthetic Jobs recorded and derived first")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--per-event-recorder", metavar="NAMESPACE", help=argparse.SUPPRESS)
    parser.add_argument("--kubeconfig", type=Path, help=argparse.SUPPRESS)
    add_server_arguments(parser)
    args = parser.parse_args()
    if args.per_event_recorder:
        per_event_recorder(args.kubeconfig, args.per_event_recorder,
                           Settings(server_home=args.home, server_port=args.port, neo4j_uri=None))
        return

    settings_env = {k: v for k, v in os.environ.items() if k != "NEO4J_URI"}
    settings_env.update({"LINEAGEGRAPH_SERVER_HOME": str(args.home), "LINEAGEGRAPH_SERVER_PORT": str(args.port)})
    results: dict[str, Any] = {
        "command": "python bench/bench_k8s_live.py " + " ".join(sys.argv[1:]),
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                 cwd=REPO).stdout.strip(),
        "machine": platform.platform(), "cpus": os.cpu_count(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "rate": args.rate, "duration": args.duration, "burst": args.burst, "threads": args.threads,
        "poll": args.poll, "phases": [],
    }
    with tempfile.TemporaryDirectory(prefix="bench-k8s-live-") as tmp, empty_graph(args) as store:
        workdir = Path(tmp)
        cluster = start_cluster(workdir / "cluster")
        try:
            # After the cluster is up, so that the API server's own start-up work (its post-start hooks
            # keep a core busy for a while) is done meanwhile, not in the first measured phase.
            results["warm_up"] = warm_up(store, args.warm_up)
            for mode in args.modes.split(","):
                started = time.monotonic()
                phase = run_phase(mode, args, cluster, store, settings_env, workdir)
                phase["phase_seconds"] = round(time.monotonic() - started, 1)
                results["phases"].append(phase)
                print(json.dumps(phase, indent=1), flush=True)
        finally:
            cluster.stop()
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
