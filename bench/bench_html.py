"""HTML lineage exports at 1k to 100k nodes: our export against pyvis itself, in the same run.

For each size a layered pipeline lineage is generated (``layered``: steps that use earlier outputs,
make new ones and are run by agents, all feeding one final report, ~20 steps deep so that the whole
graph is the report's upstream lineage within ``--depth 50``; never more than the size asked for, so
that the 5,000-node row is drawn whole, not as the overview that starts above 5,000). Then:

* **ours, in process**: ``render_html`` time, page size, and time to first draw in headless
  Chromium: ``performance.now()`` at vis-network's first ``afterDrawing`` event, i.e. ms since
  navigation start, including parsing the page, the inlined scripts and the JSON; and the time
  every item is in the network (a big drawing that opens at its focus adds what is out of view
  right after its first frame). Past 5,000 nodes the page opens on an overview of groups.
* **ours, from the CLI** (``--cli-max`` nodes and below): the graph is imported into a local Neo4j
  of its own, and ``lineagegraph export html REPORT --depth 50`` runs as a whole process (start-up,
  query, decoding, layout, writing), then its page is drawn.
* **pyvis itself** (``--pyvis-max`` and below), the issue's baseline: a whole process that queries
  the same lineage through the same API, builds a ``pyvis.network.Network`` with pyvis's
  hierarchical layout (``layout=True``, left to right, ``sortMethod: directed``, physics off: with
  physics on it never settles), one node and one labelled edge per element as pyvis is used, and
  writes it with ``write_html`` (``cdn_resources="in_line"``, so that it can draw offline; its
  template's Bootstrap links are blocked). Its first draw is taken at the first ``afterDrawing``
  of its ``network``, the same event as ours.

Run (about 15 minutes on a loaded 2-core machine; the pyvis page takes tens of seconds to draw):

    .venv/bin/python bench/bench_html.py --port 17726 --home /tmp/lg-bench-html/neo4j
    .venv/bin/python bench/bench_html.py 1000 5000 --pyvis-max 1000    # other sizes
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _server import add_server_arguments, empty_graph

from lineagegraph.html import render_html
from lineagegraph.model import (
    Activity,
    Agent,
    Element,
    Entity,
    Relation,
    Used,
    WasAssociatedWith,
    WasGeneratedBy,
)
from lineagegraph.server import LocalServer
from lineagegraph.subgraph import GraphNode, GraphRelationship, Subgraph

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
REPORT = "report:final"
# Hooks pyvis's global ``network`` from the first animation frame after it exists, so that its
# first ``afterDrawing`` is timed like ours (rAF callbacks run in order: ours before vis-network's).
PYVIS_PROBE = """(() => {
  const bench = window.__bench = {built: null, drawn: null};
  function check() {
    if (bench.built === null && window.network && window.network.once) {
      bench.built = performance.now();
      window.network.once("afterDrawing", () => { bench.drawn = performance.now(); });
    }
    if (bench.drawn === null) requestAnimationFrame(check);
  }
  requestAnimationFrame(check);
})();"""


def layered(n: int, depth: int = 20, seed: int = 1) -> Subgraph:
    """At most ``n`` nodes (a few fewer) in ``depth`` steps; every node is upstream of the final report."""
    rnd = random.Random(seed)
    agents = [f"agent:{i}" for i in range(max(2, n // 500))]

    def total(acts: int) -> int:  # activity k of a step makes 1 + k % 2 outputs
        return len(agents) + round(acts * 1.5) + depth * (2 * acts + acts // 2) + 2

    acts = 1
    while total(acts + 1) <= n:
        acts += 1
    nodes = [GraphNode(id=a, labels=["Element", "Agent"], properties={"label": a}) for a in agents]
    before = [f"raw:{i}" for i in range(round(acts * 1.5))]
    nodes += [GraphNode(id=e, labels=["Element", "Entity"], properties={"label": e + ".csv"}) for e in before]
    rels: list[GraphRelationship] = []
    for step in range(1, depth + 1):
        made: list[str] = []
        unused = before[:]
        rnd.shuffle(unused)
        for k in range(acts):
            act = f"act:{step}/{k}"
            nodes.append(GraphNode(id=act, labels=["Element", "Activity"],
                                   properties={"label": f"step {step}.{k}", "status": "ok"}))
            inputs = {unused.pop()} if unused else set()
            inputs.update(rnd.sample(before, k=min(len(before), rnd.randint(0, 2))))
            if k == acts - 1:
                inputs.update(unused)  # every output of the step before is used by someone
            rels += [GraphRelationship(start=act, end=e, type="USED") for e in sorted(inputs)]
            rels.append(GraphRelationship(start=act, end=rnd.choice(agents), type="WAS_ASSOCIATED_WITH"))
            for j in range(1 + k % 2):
                out = f"out:{step}/{k}/{j}"
                made.append(out)
                nodes.append(GraphNode(id=out, labels=["Element", "Entity"],
                                       properties={"label": f"out-{step}-{k}-{j}.parquet"}))
                rels.append(GraphRelationship(start=out, end=act, type="WAS_GENERATED_BY"))
        before = made
    nodes.append(GraphNode(id="act:publish", labels=["Element", "Activity"], properties={"label": "publish"}))
    rels += [GraphRelationship(start="act:publish", end=e, type="USED") for e in before]
    nodes.append(GraphNode(id=REPORT, labels=["Element", "Entity"], properties={"label": "report.pdf"}))
    rels.append(GraphRelationship(start=REPORT, end="act:publish", type="WAS_GENERATED_BY"))
    return Subgraph(nodes=nodes, relationships=rels, focus=[REPORT])


def as_model(sub: Subgraph) -> tuple[list[Element], list[Relation]]:
    """The generated lineage as importable elements and relations."""
    kinds: dict[str, type[Element]] = {"Entity": Entity, "Activity": Activity, "Agent": Agent}
    elements = [kinds[n.labels[1]](id=n.id, label=n.properties["label"]) for n in sub.nodes]
    relations: list[Relation] = []
    for r in sub.relationships:
        if r.type == "USED":
            relations.append(Used(activity=r.start, entity=r.end))
        elif r.type == "WAS_GENERATED_BY":
            relations.append(WasGeneratedBy(entity=r.start, activity=r.end))
        else:
            relations.append(WasAssociatedWith(activity=r.start, agent=r.end))
    return elements, relations


def pyvis_page(sub: Subgraph, path: Path) -> None:
    """The same lineage as pyvis draws it: hierarchical, one node and one labelled edge per element."""
    from pyvis.network import Network

    colours = {"Entity": ("ellipse", "#FFFC87"), "Activity": ("box", "#9FB1FC"), "Agent": ("triangle", "#FED37F")}
    net = Network(height="800px", width="100%", directed=True, layout=True, cdn_resources="in_line")
    net.options.layout.hierarchical.direction = "LR"
    net.options.layout.hierarchical.sortMethod = "directed"
    net.toggle_physics(False)
    for n in sub.nodes:
        kind = n.kind.value if n.kind is not None else "Entity"
        shape, colour = colours[kind]
        net.add_node(n.id, label=n.display_name, shape=shape, color=colour,
                     title=f"{kind}\nid: {n.id}\n" + "\n".join(f"{k}: {v}" for k, v in n.properties.items()))
    for r in sub.relationships:
        net.add_edge(r.start, r.end, label=r.type.lower(), title=r.type)
    net.write_html(str(path))


def pyvis_export(args: argparse.Namespace) -> None:
    """``--pyvis-export ID OUT``: what a pyvis user's export script does, as one process."""
    from lineagegraph.queries import LineageGraph
    from lineagegraph.settings import Settings
    from lineagegraph.store import GraphStore

    element_id, out = args.pyvis_export
    with GraphStore.connect(Settings(server_home=args.home, server_port=args.port), quiet=True) as store:
        sub = LineageGraph(store).lineage(element_id, direction="up", depth=50)
    pyvis_page(sub, Path(out))


def first_draw_ms(browser: Any, path: Path, *, pyvis: bool = False, timeout: float = 1800,
                  complete: list[float] | None = None) -> float:
    """Ms from navigation start to the first frame; ``complete`` gets the time every item was in."""
    context = browser.new_context(viewport={"width": 1400, "height": 800})
    try:
        # Offline, like our page: pyvis's template links Bootstrap (and more) from CDNs.
        context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                      else route.abort())
        if pyvis:
            context.add_init_script(PYVIS_PROBE)
        page = context.new_page()
        page.goto(path.as_uri(), timeout=timeout * 1000)
        probe = ("window.__bench && (window.__bench.drawn !== null ? window.__bench.drawn : "
                 "(window.__bench.built !== null && performance.now() - window.__bench.built > 5000 "
                 "? window.__bench.built : null))") if pyvis else \
            "window.lineageGraph && window.lineageGraph.ready ? window.lineageGraph.firstDrawMs : null"
        done = "window.lineageGraph.completeMs"
        deadline = time.monotonic() + timeout
        while (found := page.evaluate(probe)) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path.name} did not draw within {timeout:.0f} s")
            time.sleep(0.05)
        if complete is not None:
            complete.append(float(found if pyvis else page.evaluate(done)))
        return float(found)
    finally:
        context.close()


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr}")
    return time.perf_counter() - started


def main(args: argparse.Namespace) -> None:
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("LINEAGEGRAPH_CHROMIUM") or shutil.which("chromium")
    if not chromium:
        sys.exit("needs Debian's chromium: apt-get install -y chromium")
    env = {**os.environ, "LINEAGEGRAPH_SERVER_HOME": str(args.home), "LINEAGEGRAPH_SERVER_PORT": str(args.port)}
    env.pop("NEO4J_URI", None)
    rows = []
    server = LocalServer(args.home, args.port, heap_mb=2048, page_cache_mb=512)
    was_running = server.status().running
    if min(args.sizes) <= max(args.cli_max, args.pyvis_max):
        server.start(quiet=True)  # once for all sizes (empty_graph leaves a running server running)
    try:
        with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
            rows = measure(args, env, chromium, tmp, pw)
    finally:
        if not was_running:
            server.stop()
    report(rows, chromium)


def measure(args: argparse.Namespace, env: dict[str, str], chromium: str, tmp: str, pw: Any) -> list[dict[str, Any]]:
    import pyvis.network  # noqa: F401  (imported once here, so that the in-process figures leave it out)

    from lineagegraph.queries import LineageGraph

    rows = []
    browser = pw.chromium.launch(executable_path=chromium, headless=True, args=ARGS)
    for n in args.sizes:
        sub = layered(n)
        row: dict[str, Any] = {"nodes": len(sub.nodes), "edges": len(sub.relationships)}
        started = time.perf_counter()
        page = render_html(sub)
        row["render_s"] = time.perf_counter() - started
        row["mb"] = len(page.encode()) / 1e6
        ours = Path(tmp, f"ours-{n}.html")
        ours.write_text(page, encoding="utf-8")
        repeats = args.repeats if n <= 20_000 else 1
        complete: list[float] = []
        row["draw_ms"] = statistics.median(first_draw_ms(browser, ours, complete=complete) for _ in range(repeats))
        row["complete_ms"] = statistics.median(complete)
        if n <= max(args.cli_max, args.pyvis_max):
            with empty_graph(args) as store:
                store.import_elements("bench", f"html-{n}", *as_model(sub))
                # In process (no start-up): the query, then either our page or pyvis's from its result.
                LineageGraph(store).lineage(REPORT, direction="up", depth=50)  # warm (plan, page cache)
                started = time.perf_counter()
                got = LineageGraph(store).lineage(REPORT, direction="up", depth=50)
                row["query_s"] = time.perf_counter() - started
                started = time.perf_counter()
                got.to_html(Path(tmp, f"api-{n}.html"))
                row["api_render_s"] = time.perf_counter() - started
                if n <= args.pyvis_max:
                    started = time.perf_counter()
                    pyvis_page(got, Path(tmp, f"pyvis-api-{n}.html"))
                    row["pyvis_build_s"] = time.perf_counter() - started
                if n <= args.cli_max:
                    page_path = Path(tmp, f"cli-{n}.html")
                    row["cli_s"] = timed([sys.executable, "-m", "lineagegraph", "export", "html", REPORT,
                                          "--depth", "50", "-q", "-o", str(page_path)], env)
                    row["cli_draw_ms"] = first_draw_ms(browser, page_path)
                if n <= args.pyvis_max:
                    page_path = Path(tmp, f"pyvis-{n}.html")
                    row["pyvis_s"] = timed([sys.executable, __file__, "--port", str(args.port), "--home",
                                            str(args.home), "--pyvis-export", REPORT, str(page_path)], env)
                    row["pyvis_mb"] = page_path.stat().st_size / 1e6
                    row["pyvis_draw_ms"] = first_draw_ms(browser, page_path, pyvis=True)
        rows.append(row)
        print(f"{n} nodes done: {row}", file=sys.stderr)
    browser.close()
    return rows


def report(rows: list[dict[str, Any]], chromium: str) -> None:
    def cell(row: dict[str, Any], key: str, scale: float = 1, digits: int = 0) -> str:
        return f"{row[key] * scale:,.{digits}f}" if key in row else "—"

    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"chromium {chromium}; python {sys.version.split()[0]}; {when}; "
          f"load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print("\nOur page (render_html in process, first draw in Chromium):\n")
    print("| nodes | edges | render (ms) | page (MB) | first draw (ms) | complete, interactive (ms) |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        print(f"| {row['nodes']:,} | {row['edges']:,} | {cell(row, 'render_s', 1000)} | {cell(row, 'mb', 1, 1)} "
              f"| {cell(row, 'draw_ms')} | {cell(row, 'complete_ms')} |")
    print("\nAgainst pyvis, same lineage from Neo4j. Whole process: `lineagegraph export html` vs a pyvis export"
          "\nscript (start-up, query, page). In process: the query, then render + write only.\n")
    print("| nodes | CLI (ms) | CLI page drawn (ms) | pyvis process (ms) | pyvis first draw (ms) | pyvis page (MB) "
          "| whole: pyvis ÷ ours | query (ms) | our render+write (ms) | pyvis build+write (ms) "
          "| in process: pyvis ÷ ours |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        if "pyvis_s" not in row or "cli_s" not in row:
            continue
        whole = (row["pyvis_s"] + row["pyvis_draw_ms"] / 1000) / (row["cli_s"] + row["cli_draw_ms"] / 1000)
        inside = ((row["query_s"] + row["pyvis_build_s"] + row["pyvis_draw_ms"] / 1000)
                  / (row["query_s"] + row["api_render_s"] + row["cli_draw_ms"] / 1000))
        print(f"| {row['nodes']:,} | {cell(row, 'cli_s', 1000)} | {cell(row, 'cli_draw_ms')} "
              f"| {cell(row, 'pyvis_s', 1000)} | {cell(row, 'pyvis_draw_ms')} | {cell(row, 'pyvis_mb', 1, 1)} "
              f"| {whole:.1f}x | {cell(row, 'query_s', 1000)} | {cell(row, 'api_render_s', 1000)} "
              f"| {cell(row, 'pyvis_build_s', 1000)} | {inside:.1f}x |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sizes", type=int, nargs="*", default=[1000, 5000, 20_000, 100_000])
    parser.add_argument("--repeats", type=int, default=3, help="first draws of our page per size (median)")
    parser.add_argument("--cli-max", type=int, default=20_000, help="largest size exported through the CLI")
    parser.add_argument("--pyvis-max", type=int, default=5000, help="largest size drawn by pyvis")
    parser.add_argument("--pyvis-export", nargs=2, metavar=("ID", "OUT"), help=argparse.SUPPRESS)
    add_server_arguments(parser)
    parsed = parser.parse_args()
    if parsed.pyvis_export:
        pyvis_export(parsed)
    else:
        main(parsed)
