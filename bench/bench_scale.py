"""Benchmark at the sizes users have: a streamed import of a million-element graph, then
ancestors/descendants on it, each figure against a baseline measured in the same run.

The graph is a seeded, diamond-rich random DAG in pipeline shape: every activity uses a few
entities from the recent past (so lineages fan in and re-converge) and generates one or two new
ones; a tenth of the activities are associated with one of a few shared agents.

* **import**: the whole graph as one import unit, streamed from a generator through the chunked
  writer (records/s and the process's peak RSS); re-import of the same unchanged records; and the
  baseline: the first records again, one transaction per record.
* **traversals**: 100 random late entities (seeded), depth 20: the naive
  ``MATCH (x:Element {id:$id})-[*1..20]->(m) RETURN DISTINCT m`` (Neo4j plans it with a pruning
  expand), the library's template run raw, and the Python API (``LineageGraph.ancestors``);
  p50 and p99 wall time, and nodes returned.

    .venv/bin/python bench/bench_scale.py --elements 1000000
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, LiteralString, cast

from _server import REPO, add_server_arguments, empty_graph

from lineagegraph import templates
from lineagegraph.model import Activity, Agent, Element, Entity, Relation, Used, WasAssociatedWith, WasGeneratedBy
from lineagegraph.queries import LineageGraph
from lineagegraph.queries.records import subgraph_from
from lineagegraph.server import NEO4J_VERSION, LocalServer
from lineagegraph.settings import Settings
from lineagegraph.store import GraphStore

NAIVE = "MATCH (x:Element {id: $id})-[*1..%d]->(m) RETURN DISTINCT m"
NAIVE_DOWN = "MATCH (x:Element {id: $id})<-[*1..%d]-(m) RETURN DISTINCT m"


def dag(elements: int, seed: int) -> Iterator[Element | Relation]:
    """About ``elements`` nodes (and ~2x as many relationships) of a diamond-rich pipeline DAG."""
    rng = random.Random(seed)
    agents = [f"agent{i}" for i in range(10)]
    for agent in agents:
        yield Agent(id=agent, label=agent, agent_type="SoftwareAgent")
    entities = [f"e{i}" for i in range(100)]
    for ident in entities:
        yield Entity(id=ident, label=f"source {ident}")
    made, step = len(agents) + len(entities), 0
    while made < elements:
        act = f"a{step}"
        yield Activity(id=act, label=f"step {step}", params={"step": step})
        window = entities[-400:]
        for used in rng.sample(window, k=min(len(window), rng.randint(1, 3))):
            yield Used(activity=act, entity=used)
        for k in range(rng.choice((1, 1, 2))):
            out = f"e{len(entities)}"
            entities.append(out)
            yield Entity(id=out, label=f"output {k} of step {step}")
            yield WasGeneratedBy(entity=out, activity=act)
            made += 1
        if step % 10 == 0:
            yield WasAssociatedWith(activity=act, agent=agents[step % len(agents)])
        made += 1
        step += 1


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"p50_ms": round(statistics.median(ordered) * 1000, 1), "p99_ms": round(p99 * 1000, 1)}


def time_each(fns: dict[str, Callable[[str], int]], starts: list[str], rounds: int) -> dict[str, dict[str, float]]:
    """p50/p99 and mean nodes returned of each function over ``starts``, interleaved.

    One warm-up pass (planning, page cache), then the functions take turns on every start, so a
    burst of load on the shared machine hits them all alike instead of whichever ran then.
    """
    for fn in fns.values():
        for ident in starts:
            fn(ident)
    samples: dict[str, list[float]] = {name: [] for name in fns}
    returned = dict.fromkeys(fns, 0)
    for _ in range(rounds):
        for ident in starts:
            for name, fn in fns.items():
                t0 = time.perf_counter()
                returned[name] += fn(ident)
                samples[name].append(time.perf_counter() - t0)
    return {name: {**percentiles(samples[name]), "mean_nodes_returned": returned[name] // len(samples[name])}
            for name in fns}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--elements", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--starts", type=int, default=100)
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=1, help="timed passes over the starts (after one warm-up pass)")
    parser.add_argument("--baseline-records", type=int, default=2_000)
    parser.add_argument("--baseline-ref", metavar="GIT_REF",
                        help="also time the templates as of this commit (raw, and through the generic decoding)")
    parser.add_argument("--skip-import", action="store_true",
                        help="reuse the graph a previous run left on the server (same --elements/--seed)")
    add_server_arguments(parser)
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results" / "scale.json")
    args = parser.parse_args(argv)
    logging.getLogger("neo4j").setLevel(logging.ERROR)  # the planner's notes on unused types are noise here
    result: dict[str, Any] = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "neo4j": NEO4J_VERSION,
                              "elements": args.elements, "seed": args.seed}

    with (_loaded_graph(args) if args.skip_import else empty_graph(args)) as store:
        if not args.skip_import:
            _imports(store, args, result)
        rng = random.Random(args.seed + 1)
        last = store.read("MATCH (n:Entity) WHERE n.id STARTS WITH 'e' RETURN count(n) AS c")[0]["c"]
        starts = [f"e{rng.randrange(last // 2, last)}" for _ in range(args.starts)]
        result["traversal"] = _traversals(store, starts, args.depth, "ancestors", args.rounds, args.baseline_ref)
        # Descendants from the middle of the graph, where the downstream within the depth is as big as upstream.
        starts = [f"e{rng.randrange(last // 4, last // 2)}" for _ in range(args.starts)]
        result["traversal_descendants"] = _traversals(store, starts, args.depth, "descendants", args.rounds,
                                                      args.baseline_ref)

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.output}")
    return 0


@contextmanager
def _loaded_graph(args: argparse.Namespace) -> Iterator[GraphStore]:
    """The graph a previous run imported, on the benchmark server (started if needed, left as found)."""
    server = LocalServer(args.home, args.port, heap_mb=4096, page_cache_mb=1024)
    was_running = server.status().running
    server.start(quiet=True)
    try:
        with GraphStore.connect(Settings(server_home=args.home, server_port=args.port), quiet=True) as store:
            yield store
    finally:
        if not was_running:
            server.stop()


def _imports(store: GraphStore, args: argparse.Namespace, result: dict[str, Any]) -> None:
    records = sum(1 for _ in dag(args.elements, args.seed))
    t0 = time.perf_counter()
    first = store.import_elements("bench", "scale", dag(args.elements, args.seed))
    took = time.perf_counter() - t0
    result["import"] = {"records": records, "seconds": round(took, 1), "records_per_s": round(records / took),
                        "peak_rss_mb": round(peak_rss_mb()), "nodes": first.nodes.total,
                        "relationships": first.relationships.total}
    print(f"import: {records:,} records in {took:.1f} s = {records / took:,.0f}/s, "
          f"peak RSS {peak_rss_mb():.0f} MB", flush=True)

    t0 = time.perf_counter()
    store.import_elements("bench", "scale", dag(args.elements, args.seed))
    again = time.perf_counter() - t0
    result["reimport"] = {"seconds": round(again, 1), "records_per_s": round(records / again),
                          "vs_first": round(took / again, 2)}
    print(f"re-import (unchanged): {again:.1f} s = {records / again:,.0f}/s ({took / again:.2f}x first)",
          flush=True)

    baseline = list(dag(args.elements, args.seed))[: args.baseline_records]
    t0 = time.perf_counter()
    for i, item in enumerate(baseline):
        store.import_elements("bench", f"baseline-{i}", [item])
    per_record = time.perf_counter() - t0
    result["baseline_one_tx_per_record"] = {"records": len(baseline),
                                            "records_per_s": round(len(baseline) / per_record)}
    result["import"]["vs_baseline"] = round((records / took) / (len(baseline) / per_record), 1)
    print(f"baseline one transaction per record: {len(baseline) / per_record:,.0f}/s "
          f"(import is {result['import']['vs_baseline']}x)", flush=True)


def _traversals(store: GraphStore, starts: list[str], depth: int, direction: str, rounds: int,
                baseline_ref: str | None) -> dict[str, Any]:
    graph = LineageGraph(store)
    template = templates.load(direction)
    raw_text = cast(LiteralString, template.render(depth=depth))
    naive_text = cast(LiteralString, (NAIVE if direction == "ancestors" else NAIVE_DOWN) % depth)
    method = graph.ancestors if direction == "ancestors" else graph.descendants
    params = {"kinds": None, "prov_type": None, "text": None, "since": None, "until": None, "as_of": None,
              "limit": None}

    def naive(ident: str) -> int:
        records, _, _ = store.driver.execute_query(naive_text, id=ident, database_=store.database)
        return len(records)

    def raw(ident: str) -> int:
        records, _, _ = store.driver.execute_query(raw_text, {"id": ident, **params}, database_=store.database)
        return len(records[0]["nodes"]) - 1

    def api(ident: str) -> int:
        return len(method(ident, depth=depth).nodes) - 1

    fns: dict[str, Callable[[str], int]] = {"naive_distinct": naive, "template_raw": raw, "api": api}
    if baseline_ref:
        fns |= _baseline_fns(store, graph, direction, depth, baseline_ref, params)
    out: dict[str, Any] = {"starts": len(starts), "depth": depth, "rounds": rounds, "baseline_ref": baseline_ref}
    out |= time_each(fns, starts, rounds)
    for name in fns:
        figures = out[name]
        print(f"{direction} depth {depth}, {name}: p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms, "
              f"~{figures['mean_nodes_returned']} nodes", flush=True)
    print(f"{direction}: template/naive p50 {out['template_raw']['p50_ms'] / out['naive_distinct']['p50_ms']:.2f}, "
          f"api/template p50 {out['api']['p50_ms'] / out['template_raw']['p50_ms']:.2f}", flush=True)
    return out


def _baseline_fns(store: GraphStore, graph: LineageGraph, direction: str, depth: int, ref: str,
                  params: dict[str, Any]) -> dict[str, Callable[[str], int]]:
    """The template of commit ``ref`` run raw, and through the generic path (``native`` on every value).

    The generic path is what ``LineageGraph.ancestors`` did before the walk decoded its maps itself.
    """
    text = subprocess.run(["git", "-C", str(REPO), "show", f"{ref}:cypher/{direction}.cypher"],
                          check=True, capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp(prefix="bench-scale-")) / f"{direction}.cypher"
    path.write_text(text, encoding="utf-8")
    old_text = cast(LiteralString, templates.load(str(path)).render(depth=depth))

    def old_raw(ident: str) -> int:
        records, _, _ = store.driver.execute_query(old_text, {"id": ident, **params}, database_=store.database)
        return len(records[0]["nodes"]) - 1

    def old_api(ident: str) -> int:
        row = graph.cypher(str(path), id=ident, depth=depth)[0]
        return len(subgraph_from(row["nodes"], row["relationships"], [ident]).nodes) - 1

    return {f"template_raw@{ref}": old_raw, f"generic_decoding@{ref}": old_api}


if __name__ == "__main__":
    sys.exit(main())
