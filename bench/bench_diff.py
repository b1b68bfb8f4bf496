"""Benchmark: diff, path, blame, recipe and both-ways lineage on a 100k-element graph, against
two ``ancestors`` calls measured in the same run.

The graph is ``bench_scale.dag()`` (seeded, diamond-rich, pipeline-shaped). Pairs of late entities
a few steps apart are the starts: their depth-20 upstream lineages are ~1k nodes each and overlap,
as two versions of one output do. Timed per pair, interleaved after a warm-up pass:

* ``ancestors_x2``: ``LineageGraph.ancestors`` of A and of B (the baseline of the issue's goal
  "diff of two 1k-node lineages <= 2x two ancestors queries of the same size");
* ``diff``: ``LineageGraph.diff(A, B)``; ``path``: A back to the farthest node of its lineage;
  ``blame``: ``[A, B]``; ``recipe``: A; ``lineage_both``: ancestors and descendants of a node in
  the middle of the graph joined;
* with ``--baseline-ref REF``, the same calls with the query modules and templates of commit REF
  (loaded from git into a temporary directory), for before/after in one run;
* the command line as a whole process: ``lineagegraph diff A B`` (table and ``--json``),
  ``lineagegraph --help`` (every command module imported), and two variants of the JSON diff: with
  every command module imported first (as the CLI started before it imported only what a command
  needs), and with the Neo4j driver imported without numpy/pandas (which it loads whenever they
  are installed); a few runs each.

    .venv/bin/python bench/bench_diff.py --port 17726 --home /tmp/lg-queries/neo4j --baseline-ref 94efdb2
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from _server import REPO, add_server_arguments, empty_graph
from bench_scale import dag

from lineagegraph import templates
from lineagegraph.queries import LineageGraph
from lineagegraph.server import NEO4J_VERSION, LocalServer
from lineagegraph.settings import Settings
from lineagegraph.store import GraphStore

# The query modules and templates whose older versions --baseline-ref loads.
_MODULES = ("diff", "path", "blame", "recipe", "backtrace", "graph")
_TEMPLATES = ("diff", "path", "blame", "recipe", "backtrace", "subgraph", "ancestors", "descendants")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--elements", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2, help="timed passes over the pairs (after a warm-up pass)")
    parser.add_argument("--cli-runs", type=int, default=5)
    parser.add_argument("--baseline-ref", metavar="GIT_REF", help="also time the query code of this commit")
    parser.add_argument("--skip-import", action="store_true",
                        help="reuse the graph a previous run left on the server (same --elements/--seed)")
    add_server_arguments(parser)
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results" / "diff.json")
    args = parser.parse_args(argv)
    logging.getLogger("neo4j").setLevel(logging.ERROR)
    result: dict[str, Any] = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "neo4j": NEO4J_VERSION,
                              "elements": args.elements, "seed": args.seed, "depth": args.depth,
                              "baseline_ref": args.baseline_ref}
    with (_loaded_graph(args) if args.skip_import else empty_graph(args)) as store:
        if not args.skip_import:
            t0 = time.perf_counter()
            store.import_elements("bench", "scale", dag(args.elements, args.seed))
            print(f"imported {args.elements:,} elements in {time.perf_counter() - t0:.0f} s", flush=True)
        graph = LineageGraph(store)
        pairs, middles, far = _starts(store, graph, args)
        result["api"] = _api(store, graph, pairs, middles, far, args)
        result["cli"] = _cli(store, pairs[0], args)
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


def time_each(fns: dict[str, Callable[[str], int]], starts: list[str], rounds: int) -> dict[str, dict[str, float]]:
    """p50/p99 and mean items returned of each function over ``starts``: a warm-up pass, then the
    functions take turns on every start, so a burst of load on the shared machine hits them alike."""
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
    out: dict[str, dict[str, float]] = {}
    for name, taken in samples.items():
        ordered = sorted(taken)
        p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
        out[name] = {"p50_ms": round(statistics.median(ordered) * 1000, 1), "p99_ms": round(p99 * 1000, 1),
                     "mean_nodes_returned": returned[name] // len(taken)}
    return out


def _starts(store: GraphStore, graph: LineageGraph,
            args: argparse.Namespace) -> tuple[list[str], list[str], dict[str, str]]:
    """Seeded pairs of late entities a few steps apart, middle nodes, and each A's farthest ancestor."""
    rng = random.Random(args.seed + 2)
    last = store.read("MATCH (n:Entity) WHERE n.id STARTS WITH 'e' RETURN count(n) AS c")[0]["c"]
    pairs, middles, far = [], [], {}
    for _ in range(args.pairs):
        a = rng.randrange(last * 3 // 4, last - 20)
        pair = f"e{a}|e{a + rng.randrange(3, 20)}"
        pairs.append(pair)
        middles.append(f"e{rng.randrange(last // 4, last // 2)}")
        first = pair.split("|")[0]
        rows = store.read(  # the farthest node: one of those a shortest path needs the most hops to reach
            f"MATCH p = SHORTEST 1 (x:Element {{id: $id}})-[:USED|WAS_GENERATED_BY]->{{1,{args.depth}}}(n:Entity) "
            "RETURN n.id AS id ORDER BY length(p) DESC, id LIMIT 1", id=first)
        far[first] = rows[0]["id"]
    sizes = [len(graph.ancestors(p.split("|")[0], depth=args.depth).nodes) for p in pairs]
    print(f"{len(pairs)} pairs; ancestors of A: median {statistics.median(sizes):.0f} nodes", flush=True)
    return pairs, middles, far


def _variants(graph: LineageGraph, modules: dict[str, ModuleType] | None, depth: int,
              far: dict[str, str], middle_of: dict[str, str]) -> dict[str, Callable[[str], int]]:
    """diff, path, blame, recipe, lineage_both through the given modules (None: the current code)."""
    def split(pair: str) -> tuple[str, str]:
        a, b = pair.split("|")
        return a, b

    if modules is None:
        diff, path, blame, recipe = graph.diff, graph.path, graph.blame, graph.recipe
        both: Callable[..., Any] = graph.lineage
    else:
        runner = graph
        diff = lambda a, b, depth: modules["diff"].diff(runner, a, b, depth)  # noqa: E731
        path = lambda a, b, depth: modules["path"].path(runner, a, b, depth)  # noqa: E731
        blame = lambda ids, depth: modules["blame"].blame(  # noqa: E731
            runner, ids, depth=depth, kinds=None, min_hits=None, limit=None)
        recipe = lambda a, depth: modules["recipe"].recipe(runner, a, depth)  # noqa: E731
        both = lambda a, direction, depth: modules["graph"].LineageGraph.lineage(  # noqa: E731
            runner, a, direction=direction, depth=depth)

    def run_diff(pair: str) -> int:
        d = diff(*split(pair), depth=depth)
        return len(d.only_a) + len(d.only_b) + len(d.shared)

    return {
        "diff": run_diff,
        "path": lambda pair: len(path(split(pair)[0], far[split(pair)[0]], depth=depth).nodes),
        "blame": lambda pair: len(blame(list(split(pair)), depth=depth).suspects),
        "recipe": lambda pair: len(recipe(split(pair)[0], depth=depth).steps),
        "lineage_both": lambda pair: len(both(middle_of[pair], direction="both", depth=depth).nodes),
    }


def _api(store: GraphStore, graph: LineageGraph, pairs: list[str], middles: list[str], far: dict[str, str],
         args: argparse.Namespace) -> dict[str, Any]:
    middle_of = dict(zip(pairs, middles, strict=True))

    def ancestors_x2(pair: str) -> int:
        a, b = pair.split("|")
        return len(graph.ancestors(a, depth=args.depth).nodes) + len(graph.ancestors(b, depth=args.depth).nodes)

    def up_and_down(pair: str) -> int:
        mid = middle_of[pair]
        return len(graph.ancestors(mid, depth=args.depth).nodes) + len(graph.descendants(mid, depth=args.depth).nodes)

    fns: dict[str, Callable[[str], int]] = {"ancestors_x2": ancestors_x2, "ancestors_plus_descendants": up_and_down}
    fns |= _variants(graph, None, args.depth, far, middle_of)
    if args.baseline_ref:
        old = _old_graph(store, args.baseline_ref)
        fns |= {f"{name}@{args.baseline_ref}": fn
                for name, fn in _variants(old, _old_modules(args.baseline_ref), args.depth, far, middle_of).items()}
    out: dict[str, Any] = {"pairs": len(pairs), "rounds": args.rounds} | time_each(fns, pairs, args.rounds)
    for name in fns:
        print(f"{name}: p50 {out[name]['p50_ms']} ms, p99 {out[name]['p99_ms']} ms, "
              f"~{out[name]['mean_nodes_returned']} returned", flush=True)
    base = out["ancestors_x2"]["p50_ms"]
    out["diff_vs_ancestors_x2_p50"] = round(out["diff"]["p50_ms"] / base, 2)
    print(f"diff / two ancestors at p50: {out['diff_vs_ancestors_x2_p50']}", flush=True)
    return out


def _git_show(ref: str, path: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), "show", f"{ref}:{path}"], check=True, capture_output=True,
                          text=True).stdout


def _old_modules(ref: str) -> dict[str, ModuleType]:
    """The query modules of ``ref``, imported from a temporary directory under private names."""
    folder = Path(tempfile.mkdtemp(prefix="bench-diff-mod-"))
    loaded: dict[str, ModuleType] = {}
    for name in _MODULES:
        path = folder / f"old_{name}.py"
        path.write_text(_git_show(ref, f"lineagegraph/queries/{name}.py"), encoding="utf-8")
        spec = importlib.util.spec_from_file_location(f"bench_old_{name}", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # pydantic resolves the models' annotations through it
        spec.loader.exec_module(module)
        loaded[name] = module
    # The old recipe shapes its rows with the (current) backtrace helpers and takes them through
    # activity_rows, which runs the old template through the runner of _old_graph.
    return loaded


def _old_graph(store: GraphStore, ref: str) -> LineageGraph:
    """A LineageGraph whose named templates are those of ``ref``."""
    folder = Path(tempfile.mkdtemp(prefix="bench-diff-cypher-"))
    for name in _TEMPLATES:
        (folder / f"{name}.cypher").write_text(_git_show(ref, f"cypher/{name}.cypher"), encoding="utf-8")

    class OldTemplates(LineageGraph):
        def run_named(self, name: str, **params: Any) -> list[dict[str, Any]]:
            return self.cypher(str(folder / f"{name}.cypher"), **params)

        def run_named_raw(self, name: str, **params: Any) -> Any:
            return self._records(templates.load(str(folder / f"{name}.cypher")), params)

    return OldTemplates(store)


def _cli(store: GraphStore, pair: str, args: argparse.Namespace) -> dict[str, Any]:
    """Whole-process times of the command line: diff as a table and as JSON, and --help."""
    env = {**os.environ, "LINEAGEGRAPH_SERVER_HOME": str(args.home), "LINEAGEGRAPH_SERVER_PORT": str(args.port)}
    env.pop("NEO4J_URI", None)
    a, b = pair.split("|")
    exe = [sys.executable, "-m", "lineagegraph"]
    diff_args = ["diff", a, b, "--depth", str(args.depth), "--json"]
    # The same command with every command module imported first (how the CLI started before), and
    # with the driver imported without numpy/pandas (what it could cost if the core allowed that).
    all_modules = f"import sys; from lineagegraph.cli import app, main; sys.exit(main({diff_args!r}))"
    no_pandas = ("import sys; blocked = ('numpy', 'pandas', 'pyarrow'); sys.modules.update(dict.fromkeys(blocked)); "
                 "import neo4j; [sys.modules.pop(m) for m in blocked]; from lineagegraph.cli import main; "
                 f"sys.exit(main({diff_args!r}))")
    commands = {
        "help": [*exe, "--help"],
        "diff_table": [*exe, "diff", a, b, "--depth", str(args.depth)],
        "diff_json": [*exe, *diff_args],
        "diff_json_all_modules_imported": [sys.executable, "-c", all_modules],
        "diff_json_driver_without_pandas": [sys.executable, "-c", no_pandas],
    }
    out: dict[str, Any] = {"pair": pair, "runs": args.cli_runs}
    for name, command in commands.items():
        samples = []
        for _ in range(args.cli_runs + 1):  # the first run warms the file cache
            t0 = time.perf_counter()
            subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            samples.append(time.perf_counter() - t0)
        timed = samples[1:]
        out[name] = {"median_ms": round(statistics.median(timed) * 1000), "min_ms": round(min(timed) * 1000)}
        print(f"cli {name}: median {out[name]['median_ms']} ms, min {out[name]['min_ms']} ms", flush=True)
    imported = subprocess.run(
        [sys.executable, "-c", "import sys; from lineagegraph.cli import main; main(['diff', '--help']); "
         "print(' '.join(m for m in ('pandas', 'numpy', 'pyvis', 'prov', 'rdflib', 'kubernetes', 'starlette', "
         "'uvicorn', 'psycopg', 'lxml') if m in sys.modules), file=sys.stderr)"],
        env=env, capture_output=True, text=True, check=False)
    out["heavy_modules_loaded_for_diff"] = imported.stderr.strip().splitlines()[-1:] or [""]
    print(f"heavy modules loaded for a diff: {out['heavy_modules_loaded_for_diff'][0] or 'none'}", flush=True)
    return out


if __name__ == "__main__":
    sys.exit(main())
