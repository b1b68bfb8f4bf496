"""Benchmark at the sizes users have: seeded lineage graphs of 10k, 100k and 1M elements, imported
through the streaming write path, then traversed; every figure against a baseline measured in the
same run, the scaling curves drawn as PNG plots.

Four workloads share each graph (disjoint ids), each one import unit:

* **dag**: a diamond-rich pipeline DAG of ``size`` elements: every activity uses one to three
  entities of the recent past (so lineages fan in and re-converge) and generates one or two; a
  tenth of the activities are associated with one of ten shared agents;
* **chain**: chains of 100 steps (``size / 10`` elements), walked 50 hops deep (the templates' bound);
* **fanin**: aggregates, each one activity using ``min(10,000, size / 20)`` inputs;
* **versions**: locations overwritten many times (``size / 20`` elements): every run reads the
  previous version of its location and writes the next, each version SPECIALIZATION_OF the
  location.

Per size: import records/s (and peak RSS of the process), re-import of the unchanged dag, and the
baseline one transaction per record. Per workload: ancestors (and descendants for the dag) of
seeded starts, timed as

* ``naive``: the issue's baseline, ``MATCH (x {id: $id})-[*1..N]->(m) RETURN DISTINCT m``
  (no label, so the start is found by scanning);
* ``naive_indexed``: the same with ``(x:Element {id: $id})`` (found through the index; Neo4j plans
  the walk as a pruning breadth-first expand);
* ``template_raw``: the library's template, run as Neo4j Browser would;
* ``api``: ``LineageGraph.ancestors`` / ``descendants`` (the template, decoded into a Subgraph).

    .venv/bin/python bench/bench_scale.py --sizes 10000 100000 1000000
    .venv/bin/python bench/bench_scale.py --sizes 1000000 --skip-import   # reuse the graphs

Each size lives on its own server home (``--home-base``/<size>), so ``--skip-import`` can reuse
every size's graph. Results go to ``bench/results/scale.json``, plots to ``docs/img/``.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import random
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, LiteralString, cast

from _server import REPO

from lineagegraph import templates
from lineagegraph.model import (
    Activity,
    Agent,
    Element,
    Entity,
    Relation,
    SpecializationOf,
    Used,
    WasAssociatedWith,
    WasGeneratedBy,
)
from lineagegraph.queries import LineageGraph
from lineagegraph.server import NEO4J_VERSION, LocalServer
from lineagegraph.settings import Settings
from lineagegraph.store import GraphStore

Items = Iterator[Element | Relation]

NAIVE = {"ancestors": "MATCH (x {id: $id})-[*1..%d]->(m) RETURN DISTINCT m",
         "descendants": "MATCH (x {id: $id})<-[*1..%d]-(m) RETURN DISTINCT m"}
NAIVE_INDEXED = {"ancestors": "MATCH (x:Element {id: $id})-[*1..%d]->(m) RETURN DISTINCT m",
                 "descendants": "MATCH (x:Element {id: $id})<-[*1..%d]-(m) RETURN DISTINCT m"}
TEMPLATE_PARAMS = {"kinds": None, "prov_type": None, "text": None, "since": None, "until": None, "as_of": None,
                   "limit": None}


# -- workloads -----------------------------------------------------------------------------
def dag(elements: int, seed: int) -> Items:
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


def chains(elements: int, length: int = 100) -> Items:
    """Chains of ``length`` steps (entity, activity, entity, ...): ``elements`` nodes in all."""
    for c in range(max(1, elements // (2 * length))):
        yield Entity(id=f"c{c}-e0", label=f"chain {c} source")
        for s in range(length):
            yield Activity(id=f"c{c}-a{s}", label=f"chain {c} step {s}")
            yield Used(activity=f"c{c}-a{s}", entity=f"c{c}-e{s}")
            yield Entity(id=f"c{c}-e{s + 1}", label=f"chain {c} output {s}")
            yield WasGeneratedBy(entity=f"c{c}-e{s + 1}", activity=f"c{c}-a{s}")


def fanin(elements: int) -> Items:
    """Aggregates: one activity using ``min(10,000, elements)`` inputs and writing one output."""
    inputs = min(10_000, elements)
    for g in range(max(1, elements // inputs)):
        yield Activity(id=f"agg{g}", label=f"aggregate {g}")
        for i in range(inputs):
            yield Entity(id=f"agg{g}-in{i}", label=f"partition {i}")
            yield Used(activity=f"agg{g}", entity=f"agg{g}-in{i}")
        yield Entity(id=f"agg{g}-out", label=f"aggregate {g} output")
        yield WasGeneratedBy(entity=f"agg{g}-out", activity=f"agg{g}")


def versions(elements: int, per_location: int = 200) -> Items:
    """Locations overwritten ``per_location`` times: each run reads the previous version, writes the next."""
    for loc in range(max(1, elements // (2 * per_location))):
        location = f"gs://bench/table{loc}"
        yield Entity(id=location, label=f"table {loc}")
        for v in range(per_location):
            version = f"{location}@v{v}"
            yield Entity(id=version, label=f"table {loc} version {v}")
            yield SpecializationOf(specific=version, general=location)
            if v:
                yield Activity(id=f"{location}/run{v}", label=f"overwrite {v} of table {loc}")
                yield Used(activity=f"{location}/run{v}", entity=f"{location}@v{v - 1}")
                yield WasGeneratedBy(entity=version, activity=f"{location}/run{v}")


def workloads(size: int, seed: int) -> dict[str, Callable[[], Items]]:
    return {"dag": lambda: dag(size, seed), "chain": lambda: chains(size // 10),
            "fanin": lambda: fanin(size // 20), "versions": lambda: versions(size // 20)}


def starts(workload: str, size: int, count: int, rng: random.Random, dag_entities: int) -> list[str]:
    """Seeded start ids: late entities of the dag, chain ends, aggregate outputs, latest versions."""
    if workload == "dag":
        return [f"e{rng.randrange(dag_entities // 2, dag_entities)}" for _ in range(count)]
    if workload == "chain":
        return [f"c{rng.randrange(max(1, size // 10 // 200))}-e100" for _ in range(count)]
    if workload == "fanin":
        return [f"agg{rng.randrange(max(1, size // 20 // min(10_000, size // 20)))}-out" for _ in range(count)]
    return [f"gs://bench/table{rng.randrange(max(1, size // 20 // 400))}@v199" for _ in range(count)]


DEPTH = {"dag": 20, "chain": 50, "fanin": 3, "versions": 20}  # 50: the deepest walk the templates allow


# -- measuring -----------------------------------------------------------------------------
def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"p50_ms": round(statistics.median(ordered) * 1000, 2), "p99_ms": round(p99 * 1000, 2)}


def time_each(fns: dict[str, Callable[[str], int]], ids: list[str], rounds: int) -> dict[str, dict[str, float]]:
    """p50/p99 and mean nodes returned of each function over ``ids``, interleaved.

    One warm-up pass (planning, page cache), then the functions take turns on every start, so a
    burst of load on the shared machine hits them all alike instead of whichever ran then.
    """
    for fn in fns.values():
        for ident in ids:
            fn(ident)
    samples: dict[str, list[float]] = {name: [] for name in fns}
    returned = dict.fromkeys(fns, 0)
    for _ in range(rounds):
        for ident in ids:
            for name, fn in fns.items():
                t0 = time.perf_counter()
                returned[name] += fn(ident)
                samples[name].append(time.perf_counter() - t0)
    return {name: {**percentiles(samples[name]), "mean_nodes_returned": returned[name] // len(samples[name])}
            for name in fns}


def traversal(store: GraphStore, ids: list[str], depth: int, direction: str, rounds: int) -> dict[str, Any]:
    graph = LineageGraph(store)
    raw_text = cast(LiteralString, templates.load(direction).render(depth=depth))
    method = graph.ancestors if direction == "ancestors" else graph.descendants

    def query(text: str) -> Callable[[str], int]:
        query_text = cast(LiteralString, text % depth)

        def run(ident: str) -> int:
            records, _, _ = store.driver.execute_query(query_text, id=ident, database_=store.database)
            return len(records)
        return run

    def raw(ident: str) -> int:
        records, _, _ = store.driver.execute_query(raw_text, {"id": ident, **TEMPLATE_PARAMS},
                                                   database_=store.database)
        return len(records[0]["nodes"]) - 1

    def api(ident: str) -> int:
        return len(method(ident, depth=depth).nodes) - 1

    fns = {"naive": query(NAIVE[direction]), "naive_indexed": query(NAIVE_INDEXED[direction]),
           "template_raw": raw, "api": api}
    out: dict[str, Any] = {"starts": len(ids), "depth": depth, "rounds": rounds, **time_each(fns, ids, rounds)}
    api_p50, api_p99 = out["api"]["p50_ms"], out["api"]["p99_ms"]
    out["ratios"] = {
        "naive_over_api_p50": round(out["naive"]["p50_ms"] / api_p50, 2),
        "naive_over_api_p99": round(out["naive"]["p99_ms"] / api_p99, 2),
        "naive_indexed_over_api_p50": round(out["naive_indexed"]["p50_ms"] / api_p50, 2),
        "naive_indexed_over_api_p99": round(out["naive_indexed"]["p99_ms"] / api_p99, 2),
        "api_over_template_p50": round(api_p50 / out["template_raw"]["p50_ms"], 2),
        "api_over_template_p99": round(api_p99 / out["template_raw"]["p99_ms"], 2),
    }
    nodes = max(1, out["api"]["mean_nodes_returned"])
    out["api_us_per_node_p50"] = round(api_p50 * 1000 / nodes, 1)
    return out


# -- one size ------------------------------------------------------------------------------
def imports(store: GraphStore, size: int, seed: int, baseline_records: int, *, only_missing: bool) -> dict[str, Any]:
    """Import every workload (with ``only_missing``, those the graph does not hold yet) and time it."""
    out: dict[str, Any] = {}
    done = {row["source"] for row in store.read("MATCH (r:ImportRun {importer: 'bench', status: 'ok'}) "
                                                "RETURN DISTINCT r.source AS source")}
    for name, make in workloads(size, seed).items():
        if only_missing and f"{name}-{size}-{seed}" in done:
            continue
        records = sum(1 for _ in make())
        t0 = time.perf_counter()
        summary = store.import_elements("bench", f"{name}-{size}-{seed}", make())
        took = time.perf_counter() - t0
        out[name] = {"records": records, "seconds": round(took, 1), "records_per_s": round(records / took),
                     "nodes": summary.nodes.total, "relationships": summary.relationships.total}
        print(f"  import {name}: {records:,} records in {took:.1f} s = {records / took:,.0f}/s", flush=True)
    out["peak_rss_mb"] = round(peak_rss_mb())
    if only_missing:
        return out

    records = out["dag"]["records"]
    t0 = time.perf_counter()
    store.import_elements("bench", f"dag-{size}-{seed}", dag(size, seed))
    again = time.perf_counter() - t0
    out["dag_reimport"] = {"seconds": round(again, 1), "records_per_s": round(records / again),
                           "vs_first": round(out["dag"]["seconds"] / again, 2)}
    print(f"  re-import dag (unchanged): {again:.1f} s ({out['dag']['seconds'] / again:.2f}x first)", flush=True)

    sample = [item for item, _ in zip(dag(size, seed + 99), range(baseline_records), strict=False)]
    t0 = time.perf_counter()
    for i, item in enumerate(sample):
        store.import_elements("bench-baseline", f"record-{i}", [item])
    per_record = len(sample) / (time.perf_counter() - t0)
    out["baseline_one_tx_per_record"] = {"records": len(sample), "records_per_s": round(per_record)}
    out["dag"]["vs_baseline"] = round(out["dag"]["records_per_s"] / per_record, 1)
    print(f"  baseline one transaction per record: {per_record:,.0f}/s (dag import {out['dag']['vs_baseline']}x)",
          flush=True)
    return out


def one_size(args: argparse.Namespace, size: int) -> dict[str, Any]:
    home = args.home_base / str(size) / "neo4j"
    server = LocalServer(home, args.port, heap_mb=4096, page_cache_mb=args.page_cache_mb)
    was_running = server.status().running
    server.start(quiet=True)
    result: dict[str, Any] = {"elements": size}
    try:
        with GraphStore.connect(Settings(server_home=home, server_port=args.port), quiet=True) as store:
            store.init_schema()
            if not args.skip_import:
                store.clear()
            result["import"] = imports(store, size, args.seed, args.baseline_records, only_missing=args.skip_import)
            result["graph"] = store.read("MATCH (n:Element) WITH count(n) AS nodes "
                                         "MATCH ()-[r]->() RETURN nodes, count(r) AS relationships")[0]
            rng = random.Random(args.seed + 1)
            last = store.read("MATCH (n:Entity) WHERE n.id STARTS WITH 'e' RETURN count(n) AS c")[0]["c"]
            for name in workloads(size, args.seed):
                ids = starts(name, size, args.starts if name == "dag" else max(10, args.starts // 5), rng, last)
                result[f"{name}_ancestors"] = traversal(store, ids, DEPTH[name], "ancestors", args.rounds)
                report(size, f"{name}_ancestors", result[f"{name}_ancestors"])
            # Descendants from the middle of the dag, where downstream within the depth is as big as upstream.
            ids = [f"e{rng.randrange(last // 4, last // 2)}" for _ in range(args.starts)]
            result["dag_descendants"] = traversal(store, ids, DEPTH["dag"], "descendants", args.rounds)
            report(size, "dag_descendants", result["dag_descendants"])
    finally:
        if not was_running and not args.keep_servers:
            server.stop()
    return result


def report(size: int, name: str, figures: dict[str, Any]) -> None:
    cells = ", ".join(f"{v} p50 {figures[v]['p50_ms']} / p99 {figures[v]['p99_ms']} ms"
                      for v in ("naive", "naive_indexed", "template_raw", "api"))
    print(f"  {size:,} {name} (~{figures['api']['mean_nodes_returned']} nodes): {cells}; "
          f"naive/api p50 {figures['ratios']['naive_over_api_p50']}, p99 {figures['ratios']['naive_over_api_p99']}; "
          f"api/template p50 {figures['ratios']['api_over_template_p50']}", flush=True)


# -- plots ---------------------------------------------------------------------------------
def plot(result: dict[str, Any], out_dir: Path) -> list[Path]:
    """Scaling curves as PNG files: p50 per variant (dag ancestors), and cost per returned node."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(result["sizes"], key=int)
    if len(sizes) < 2:
        return []
    xs = [int(s) for s in sizes]
    written = []
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for variant in ("naive", "naive_indexed", "template_raw", "api"):
        ax.plot(xs, [result["sizes"][s]["dag_ancestors"][variant]["p50_ms"] for s in sizes], marker="o", label=variant)
    ax.set(xscale="log", yscale="log", xlabel="graph size (elements)", ylabel="p50 (ms)",
           title="ancestors, depth 20, diamond-rich DAG")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    written.append(out_dir / "bench-scale-ancestors-p50.png")
    fig.tight_layout()
    fig.savefig(written[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name in ("dag_ancestors", "dag_descendants", "chain_ancestors", "fanin_ancestors", "versions_ancestors"):
        ax.plot(xs, [result["sizes"][s][name]["api_us_per_node_p50"] for s in sizes], marker="o", label=name)
    ax.set(xscale="log", yscale="log", xlabel="graph size (elements)", ylabel="API p50 per returned node (µs)",
           title="cost per returned node vs graph size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    written.append(out_dir / "bench-scale-per-node.png")
    fig.tight_layout()
    fig.savefig(written[-1], dpi=110)
    plt.close(fig)
    return written


def flatness(result: dict[str, Any]) -> dict[str, float]:
    """Per returned node, the largest size's cost over the smallest's (1.0 = flat)."""
    sizes = sorted(result["sizes"], key=int)
    small, large = result["sizes"][sizes[0]], result["sizes"][sizes[-1]]
    return {name: round(large[name]["api_us_per_node_p50"] / small[name]["api_us_per_node_p50"], 2)
            for name in small if name.endswith(("_ancestors", "_descendants"))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--starts", type=int, default=100, help="starts for the dag (a fifth for the others)")
    parser.add_argument("--rounds", type=int, default=1, help="timed passes over the starts (after one warm-up pass)")
    parser.add_argument("--baseline-records", type=int, default=1_000)
    parser.add_argument("--skip-import", action="store_true",
                        help="reuse the graphs a previous run left in --home-base (same sizes and seed); "
                             "import only the workloads they lack")
    parser.add_argument("--port", type=int, default=17695)
    parser.add_argument("--home-base", type=Path, default=REPO / ".lineagegraph" / "bench-scale")
    parser.add_argument("--page-cache-mb", type=int, default=1024)
    parser.add_argument("--keep-servers", action="store_true", help="leave each size's server running")
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results" / "scale.json")
    parser.add_argument("--plots", type=Path, default=REPO / "docs" / "img")
    args = parser.parse_args(argv)
    logging.getLogger("neo4j").setLevel(logging.ERROR)  # the planner's notes on unused types are noise here
    result: dict[str, Any] = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "neo4j": NEO4J_VERSION,
                              "machine": f"{platform.machine()}, {platform.python_implementation()} "
                                         f"{platform.python_version()}, {len_cpus()} CPUs",
                              "seed": args.seed, "sizes": {}}
    if args.output.exists():  # keep the other sizes of an earlier run
        result["sizes"] = json.loads(args.output.read_text()).get("sizes", {})
    for size in sorted(args.sizes):
        print(f"size {size:,}", flush=True)
        result["sizes"][str(size)] = one_size(args, size)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=2) + "\n")
    if len(result["sizes"]) > 1:
        result["flatness_per_node_largest_over_smallest"] = flatness(result)
        print("per returned node, largest / smallest size:", result["flatness_per_node_largest_over_smallest"])
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    for path in plot(result, args.plots):
        print(f"plot: {path}")
    print(f"written to {args.output}")
    return 0


def len_cpus() -> int:
    import os

    return os.cpu_count() or 0


if __name__ == "__main__":
    sys.exit(main())
