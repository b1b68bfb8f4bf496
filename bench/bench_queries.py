"""Benchmark: lineage traversals on diamond-shaped DAGs, the library's template vs. path enumeration.

A stack of k diamonds (entity -> two activities -> entity -> ...) has 2^k distinct paths from top
to bottom. The library's ``ancestors`` template returns the distinct nodes with their
relationships and context. Two hand-written baselines run on the same graphs in the same run:

* ``distinct``: ``MATCH (x {id: $id})-[*1..N]->(n) RETURN count(DISTINCT n)``: Neo4j plans this
  with a pruning expand, so it does not enumerate paths either (a fair, fast baseline);
* ``paths``: the same pattern returning the paths (``RETURN p``, as tools that draw lineage from
  paths do), here reduced to ``UNWIND nodes(p)`` + ``count(DISTINCT)`` so only the enumeration
  is timed, not the transfer.

Median of 3 runs (one for the slowest baseline sizes); a baseline is cut off after a time limit
and reported as "> limit".

    .venv/bin/python bench/bench_queries.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import neo4j
from _server import REPO, add_server_arguments, empty_graph

from lineagegraph.model import Activity, Entity, Relation, Used, WasGeneratedBy
from lineagegraph.queries import LineageGraph
from lineagegraph.server import NEO4J_VERSION
from lineagegraph.store import GraphStore

BASELINES = {
    "distinct": "MATCH (x:Element {id: $id})-[*1..%d]->(n) RETURN count(DISTINCT n) AS n",
    "paths": "MATCH p = (x:Element {id: $id})-[*1..%d]->() UNWIND nodes(p) AS n RETURN count(DISTINCT n) AS n",
}


def diamonds(store: GraphStore, k: int) -> str:
    """Load k stacked diamonds; return the id of the bottom entity (the one with 2^k paths up)."""
    elements: list[Entity | Activity] = [Entity(id=f"d{k}-e0")]
    relations: list[Relation] = []
    for i in range(1, k + 1):
        elements.append(Entity(id=f"d{k}-e{i}"))
        for side in ("l", "r"):
            act = f"d{k}-a{i}{side}"
            elements.append(Activity(id=act))
            relations += [Used(activity=act, entity=f"d{k}-e{i - 1}"),
                          WasGeneratedBy(entity=f"d{k}-e{i}", activity=act)]
    store.import_elements("bench", f"diamonds-{k}", elements, relations)
    return f"d{k}-e{k}"


def timed(fn: Any, repeat: int = 3) -> float:
    """Median wall time of ``repeat`` calls, after one untimed call (query planning, caches)."""
    if repeat > 1:
        fn()
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 12, 16, 20])
    parser.add_argument("--limit", type=float, default=30.0, help="Seconds before the baseline is cut off.")
    add_server_arguments(parser)
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results" / "queries.json")
    args = parser.parse_args(argv)

    rows: list[dict[str, Any]] = []
    with empty_graph(args) as store:
        graph = LineageGraph(store)
        for k in args.sizes:
            bottom = diamonds(store, k)
            hops = 2 * k
            ours = timed(lambda b=bottom, h=hops: graph.ancestors(b, depth=h))
            found = len(graph.ancestors(bottom, depth=hops).nodes) - 1
            row: dict[str, Any] = {"diamonds": k, "paths": 2**k, "ancestors": found,
                                   "template_ms": round(ours * 1000, 1)}
            line = (f"  {k:>2} diamonds ({2**k:>9,} paths, {found} ancestors): "
                    f"template {ours * 1000:6.1f} ms")
            for name, text in BASELINES.items():
                query = neo4j.Query(text % hops, timeout=args.limit)  # type: ignore[arg-type]
                try:
                    took: float | None = timed(lambda q=query, b=bottom: store.driver.execute_query(
                        q, id=b, database_=store.database), repeat=1 if k >= 16 else 3)
                except neo4j.exceptions.Neo4jError as exc:
                    if "timeout" not in str(exc).lower() and "terminated" not in str(exc).lower():
                        raise
                    took = None
                row[f"{name}_ms"] = None if took is None else round(took * 1000, 1)
                row[f"{name}_vs_template"] = None if took is None else round(took / ours, 1)
                line += (f", {name} {took * 1000:8.1f} ms ({took / ours:.1f}x)" if took is not None
                         else f", {name} > {args.limit:.0f} s")
            rows.append(row)
            print(line, flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "neo4j": NEO4J_VERSION,
        "baseline_limit_s": args.limit, "results": rows}, indent=2) + "\n")
    print(f"  written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
