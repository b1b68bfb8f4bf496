"""Benchmark: OpenLineage events into the graph, from a file and over HTTP, against one write per event.

Generates N RunEvents with the official openlineage-python client (runs of START + COMPLETE, each
reading the previous run's output and writing its own, so versions and readers are exercised) and
measures, in one run against one real Neo4j:

* ``file``      — ``import openlineage`` of the NDJSON file (one import run, batched writes);
* ``http``      — the same events sent by the client's ``HttpTransport`` (one request per event, as
                  integrations send them; ``--senders`` processes) to ``lineagegraph serve openlineage``
                  running as its own process, timed until the receiver reports every event delivered;
* ``per-event`` — the baseline: each event imported on its own (its own import run and transaction),
                  measured on a sample, since at that speed 100k events take many minutes.

Nothing may be lost: the run count in the graph is checked after each phase. Writes JSON beside the text.

    .venv/bin/python bench/bench_openlineage.py --events 100000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from _server import REPO, add_server_arguments, empty_graph
from openlineage.client import event_v2 as ev
from openlineage.client.serde import Serde
from openlineage.client.transport.http import HttpConfig, HttpTransport

from lineagegraph.importers.base import ImportUnit, run_import
from lineagegraph.importers.openlineage import OpenLineageImporter, read_events, refresh_run_status, store_versions
from lineagegraph.store import GraphStore


def generate(count: int, jobs: int = 50) -> list[ev.RunEvent]:
    """``count`` events: ``count // 2`` runs over ``jobs`` jobs, each job a chain of versions of one file."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    events: list[ev.RunEvent] = []
    for i in range(count // 2):
        job = i % jobs
        run_id = f"{i:08x}-0000-7000-8000-{job:012x}"
        begin, end = start + timedelta(minutes=i), start + timedelta(minutes=i, seconds=30)
        inputs = [ev.InputDataset(namespace="gs://bench", name=f"job{job - 1 if job else jobs - 1}/out.parquet")]
        outputs = [ev.OutputDataset(namespace="gs://bench", name=f"job{job}/out.parquet")]
        for state, when in ((ev.RunState.START, begin), (ev.RunState.COMPLETE, end)):
            events.append(ev.RunEvent(eventType=state, eventTime=when.isoformat().replace("+00:00", "Z"),
                                      run=ev.Run(runId=run_id), job=ev.Job(namespace="bench", name=f"job{job}"),
                                      inputs=inputs, outputs=outputs))
    return events


def run_count(store: GraphStore) -> int:
    return int(store.read("MATCH (a:Activity) WHERE a.id STARTS WITH 'urn:lineagegraph:openlineage:run:' "
                          "AND a.status = 'COMPLETE' RETURN count(a) AS c")[0]["c"])


def bench_file(store: GraphStore, path: Path) -> float:
    started = time.perf_counter()
    importer = OpenLineageImporter(known_versions=store_versions(store))
    outcome = run_import(store, importer, [str(path)])
    refresh_run_status(store, importer.run_ids)
    assert outcome.ok, outcome.errors
    return time.perf_counter() - started


class _OnePerUnit:
    name = "openlineage"

    def __init__(self, lines: list[bytes]) -> None:
        self.lines = lines

    def units(self, source: str) -> Iterator[ImportUnit]:
        for number, line in enumerate(self.lines, 1):
            events = [e for _, e in read_events(line, f"{source}#{number}")]
            yield OpenLineageImporter().unit(f"{source}#{number}", events)


def bench_per_event(store: GraphStore, lines: list[bytes]) -> float:
    started = time.perf_counter()
    outcome = run_import(store, _OnePerUnit(lines), ["per-event"])
    assert outcome.ok, outcome.errors
    return time.perf_counter() - started


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bench_http(args: argparse.Namespace, events: list[ev.RunEvent], spool: Path) -> float:
    port = _free_port()
    env = {**os.environ, "LINEAGEGRAPH_SERVER_HOME": str(args.home), "LINEAGEGRAPH_SERVER_PORT": str(args.port),
           "LINEAGEGRAPH_OPENLINEAGE_SPOOL_DIR": str(spool), "LINEAGEGRAPH_OPENLINEAGE_FLUSH_INTERVAL": "0.5"}
    env.pop("NEO4J_URI", None)
    process = subprocess.Popen([sys.executable, "-m", "lineagegraph", "serve", "openlineage", "--port", str(port)],
                               env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{url}/health", timeout=1)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "the receiver did not start"
                time.sleep(0.2)
        # Each sender is a process of its own, as integrations are (an Airflow worker, a Spark
        # driver): threads of one process would measure the client's GIL, not the endpoint.
        senders = [subprocess.Popen([sys.executable, __file__, "--send", url, "--share", f"{i}/{args.senders}",
                                     "--events", str(len(events))], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    text=True) for i in range(args.senders)]
        for sender in senders:
            assert sender.stdout is not None and sender.stdout.readline().strip() == "ready"
        started = time.perf_counter()
        for sender in senders:
            assert sender.stdin is not None
            sender.stdin.write("go\n")
            sender.stdin.flush()
        for sender in senders:
            assert sender.wait() == 0, "a sender failed"
        sent = time.perf_counter() - started
        while True:
            health = requests.get(f"{url}/health", timeout=5).json()
            if health["delivered"] >= len(events) and health["pending"] == 0:
                break
            time.sleep(0.1)
        total = time.perf_counter() - started
        print(f"  http: all {len(events)} acknowledged after {sent:.1f} s, delivered after {total:.1f} s")
        return total
    finally:
        process.terminate()
        process.wait(timeout=120)


def send_share(url: str, share: str, count: int) -> None:
    """Sender process: make this share of the events, say ready, send them on "go"."""
    index, total = (int(x) for x in share.split("/"))
    mine = generate(count)[index::total]
    transport = HttpTransport(HttpConfig(url=url))
    print("ready", flush=True)
    sys.stdin.readline()
    for event in mine:
        transport.emit(event)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--per-event-sample", type=int, default=1_000)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results" / "openlineage.json")
    parser.add_argument("--phases", nargs="+", choices=["file", "per-event", "http"],
                        default=["file", "per-event", "http"])
    parser.add_argument("--send", help=argparse.SUPPRESS)
    parser.add_argument("--share", help=argparse.SUPPRESS)
    add_server_arguments(parser)
    args = parser.parse_args()
    if args.send:
        send_share(args.send, args.share, args.events)
        return

    print(f"generating {args.events} events with the openlineage client ...")
    events = generate(args.events)
    lines = [Serde.to_json(e).encode() for e in events]
    results: dict[str, Any] = {"events": len(events), "runs": len(events) // 2, "senders": args.senders,
                               "machine": platform.platform(), "cpus": os.cpu_count(),
                               "when": datetime.now(UTC).isoformat(timespec="seconds")}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.ndjson"
        path.write_bytes(b"\n".join(lines) + b"\n")
        with empty_graph(args) as store:
            # A fresh server's JIT is cold: the first seconds of any phase would run slower than the
            # rest. Warm it with a small import of the same shape, then start from an empty graph.
            warm = Path(tmp) / "warm-up.ndjson"
            warm.write_bytes(b"\n".join(lines[:5000]) + b"\n")
            bench_file(store, warm)
            store.clear()
            if "file" in args.phases:
                seconds = bench_file(store, path)
                assert run_count(store) == len(events) // 2, "events lost in the file import"
                results["file"] = {"seconds": round(seconds, 2), "events_per_s": round(len(events) / seconds)}
                print(f"file:      {len(events)} events in {seconds:.1f} s = {len(events) / seconds:,.0f} events/s")
                store.clear()
            if "per-event" in args.phases:
                sample = lines[: args.per_event_sample]
                seconds = bench_per_event(store, sample)
                results["per_event"] = {"events": len(sample), "seconds": round(seconds, 2),
                                        "events_per_s": round(len(sample) / seconds)}
                print(f"per-event: {len(sample)} events in {seconds:.1f} s = {len(sample) / seconds:,.0f} events/s")
                store.clear()
            if "http" in args.phases:
                # The receiver connects on its own; the benchmark server must keep running meanwhile.
                seconds = bench_http(args, events, Path(tmp) / "spool")
                assert run_count(store) == len(events) // 2, "events lost over HTTP"
                results["http"] = {"seconds": round(seconds, 2), "events_per_s": round(len(events) / seconds)}
                print(f"http:      {len(events)} events in {seconds:.1f} s = {len(events) / seconds:,.0f} events/s")
    if "per_event" in results:
        for key in ("file", "http"):
            if key in results:
                results[key]["vs_per_event"] = round(results[key]["events_per_s"]
                                                     / results["per_event"]["events_per_s"], 1)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
