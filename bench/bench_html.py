"""Time to first draw of the HTML export at 1k and 5k nodes, against a baseline in the same run.

The export computes its layout once in Python and gives vis-network fixed positions with physics
off. The baseline is the very same page (same data, styles, script) with the positions left out
and vis-network's own hierarchical layout switched on instead, which is what one would otherwise
use for a left-to-right lineage drawing.

Measured in headless Chromium (Debian's, driven by playwright): time to first draw is
``performance.now()`` at vis-network's first ``afterDrawing`` event, i.e. milliseconds since the
navigation started, so it includes parsing the page, the inlined script and the JSON.

    .venv/bin/python bench/bench_html.py            # 1000 and 5000 nodes
    .venv/bin/python bench/bench_html.py 200 2000   # other sizes
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lineagegraph.html import _render, render_html
from lineagegraph.subgraph import GraphNode, GraphRelationship, Subgraph

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
REPEATS = 3  # of the fast page; the baseline runs once (it takes tens of seconds at 5k)


def pipeline(n: int, seed: int = 1) -> Subgraph:
    """A pipeline-shaped lineage of ``n`` nodes: activities use earlier outputs, make new ones."""
    rnd = random.Random(seed)
    nodes: list[GraphNode] = []
    rels: list[GraphRelationship] = []
    agents = [f"agent:{i}" for i in range(max(2, n // 250))]
    nodes += [GraphNode(id=a, labels=["Element", "Agent"], properties={"label": a}) for a in agents]
    made = [f"raw:{i}" for i in range(max(3, n // 20))]
    nodes += [GraphNode(id=e, labels=["Element", "Entity"], properties={"label": e + ".csv"})
              for e in made]
    step = 0
    while len(nodes) < n:
        step += 1
        act = f"act:{step}"
        nodes.append(GraphNode(id=act, labels=["Element", "Activity"],
                               properties={"label": f"step {step}", "status": "ok"}))
        rels += [GraphRelationship(start=act, end=e, type="USED")
                 for e in rnd.sample(made[-300:], k=rnd.randint(1, 3))]
        rels.append(GraphRelationship(start=act, end=rnd.choice(agents), type="WAS_ASSOCIATED_WITH"))
        for j in range(rnd.randint(1, 2)):
            if len(nodes) == n:
                break
            out = f"out:{step}/{j}"
            made.append(out)
            nodes.append(GraphNode(id=out, labels=["Element", "Entity"],
                                   properties={"label": f"out-{step}-{j}.parquet"}))
            rels.append(GraphRelationship(start=out, end=act, type="WAS_GENERATED_BY"))
    return Subgraph(nodes=nodes, relationships=rels, focus=[made[-1]])


def first_draw_ms(browser: Any, path: Path) -> float:
    context = browser.new_context(viewport={"width": 1400, "height": 800})
    try:
        page = context.new_page()
        page.goto(path.as_uri())
        deadline = time.monotonic() + 900
        while not page.evaluate("!!(window.lineageGraph && window.lineageGraph.ready)"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path.name} did not draw within 900 s")
            time.sleep(0.05)
        return float(page.evaluate("window.lineageGraph.firstDrawMs"))
    finally:
        context.close()


def main(sizes: list[int]) -> None:
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("LINEAGEGRAPH_CHROMIUM") or shutil.which("chromium")
    if not chromium:
        sys.exit("needs Debian's chromium: apt-get install -y chromium")
    rows = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=ARGS)
        for n in sizes:
            sub = pipeline(n)
            started = time.perf_counter()
            page = render_html(sub)
            render_s = time.perf_counter() - started
            ours = Path(tmp, f"ours-{n}.html")
            ours.write_text(page, encoding="utf-8")
            base = Path(tmp, f"baseline-{n}.html")
            base.write_text(_render(sub, title="Lineage", layout="vis-hierarchical"),
                            encoding="utf-8")
            fast = statistics.median(first_draw_ms(browser, ours) for _ in range(REPEATS))
            slow = first_draw_ms(browser, base)
            rows.append((n, len(sub.relationships), render_s * 1000, fast, slow, len(page)))
            print(f"{n} nodes done", file=sys.stderr)
        browser.close()
    print(f"chromium {chromium}; first draw = ms from navigation start to vis-network's first frame")
    print("| nodes | edges | Python render (ms) | page (MB) | first draw, precomputed (ms) "
          "| first draw, vis hierarchical (ms) | baseline / ours |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n, edges, render_ms, fast, slow, size in rows:
        print(f"| {n} | {edges} | {render_ms:.0f} | {size / 1e6:.1f} | {fast:.0f} | {slow:.0f} "
              f"| {slow / fast:.1f}x |")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1000, 5000])
