"""The HTML export in a real headless Chromium: offline, drawn, interactive, and inert to injection.

Chromium is Debian's (``apt-get install chromium``), driven with the ``playwright`` package
(its own browser download is not used). Without Chromium these tests fail with instructions;
they are never skipped.
"""

from __future__ import annotations

import io
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from subgraphs import node, rel

from lineagegraph.html import render_iframe
from lineagegraph.subgraph import GraphRelationship, Subgraph

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--no-sandbox",  # root in containers/CI
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
]
ENTITY_YELLOW = (0xFF, 0xFC, 0x87)
ACTIVITY_BLUE = (0x9F, 0xB1, 0xFC)
HOSTILE = [
    "</script><script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "\"'><svg onload=alert(1)>",
    "javascript:alert(1)",
    "<img src=x onerror=\"window.pwned=1\">",
]


def chromium_path() -> str:
    found = os.environ.get("LINEAGEGRAPH_CHROMIUM") or shutil.which("chromium") \
        or shutil.which("chromium-browser")
    if not found:
        pytest.fail("headless Chromium is required for the HTML export tests: "
                    "apt-get install -y chromium (or set LINEAGEGRAPH_CHROMIUM to its path)")
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the 'playwright' package is required: pip install -e '.[dev]'")
    with sync_playwright() as pw:
        # launch() starts from a fresh temporary profile (user data dir) and adds --headless.
        chromium = pw.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Opened:
    page: Any
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture
def open_page(browser: Any) -> Iterator[Any]:
    contexts = []

    def opener(path: Path, *, wait: str = "!!(window.lineageGraph && window.lineageGraph.ready)",
               width: int = 1400, height: int = 800) -> Opened:
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        opened = Opened(page)
        # Every request of the page and of any frame in it, whatever its scheme.
        context.on("request", lambda r: opened.requests.append(r.url))

        def on_dialog(dialog: Any) -> None:
            opened.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.on("pageerror", lambda e: opened.errors.append(str(e)))
        page.on("console", lambda m: opened.errors.append(m.text) if m.type == "error" else None)
        page.goto(path.resolve().as_uri())
        wait_until(page, wait)
        return opened

    yield opener
    for context in contexts:
        context.close()


def wait_until(target: Any, expression: str, timeout: float = 180.0) -> None:
    """Poll ``expression`` in a page or frame from Python.

    Playwright's own wait_for_function polls by evaluating a string inside the page, which the
    export's Content-Security-Policy (rightly) refuses; evaluate() is not subject to it.
    """
    deadline = time.monotonic() + timeout
    while not target.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {expression}")
        time.sleep(0.05)


def pipeline() -> Subgraph:
    return Subgraph(
        nodes=[
            node("ex:raw", "Entity", label="raw.csv", uri="gs://b/raw.csv"),
            node("ex:clean", "Activity", label="clean"),
            node("ex:cleaned", "Entity", label="clean.parquet"),
            node("ex:train", "Activity", label="train", status="Succeeded"),
            node("ex:model", "Entity", label="model.pb", import_runs=["r1"], created_by="r1"),
            node("ex:trainer", "Agent", label="trainer:1.0"),
            node("ex:stub", "Entity", stub=True),
        ],
        relationships=[
            rel("ex:clean", "USED", "ex:raw"),
            rel("ex:cleaned", "WAS_GENERATED_BY", "ex:clean"),
            rel("ex:train", "USED", "ex:cleaned"),
            rel("ex:train", "USED", "ex:stub"),
            rel("ex:model", "WAS_GENERATED_BY", "ex:train"),
            rel("ex:train", "WAS_ASSOCIATED_WITH", "ex:trainer"),
        ],
        focus=["ex:model"],
    )


def synthetic(n: int, seed: int = 7) -> Subgraph:
    """A pipeline-shaped lineage of exactly ``n`` nodes (activities using earlier outputs)."""
    rnd = random.Random(seed)
    agents = [f"agent:{i}" for i in range(max(2, n // 250))]
    nodes = [node(a, "Agent", label=a) for a in agents]
    entities = [f"raw:{i}" for i in range(max(3, n // 20))]
    nodes += [node(e, "Entity", label=f"{e}.csv") for e in entities]
    rels: list[GraphRelationship] = []
    step = 0
    while len(nodes) < n:
        step += 1
        act = f"act:{step}"
        nodes.append(node(act, "Activity", label=f"step {step}"))
        for src in rnd.sample(entities[-300:], k=rnd.randint(1, 3)):
            rels.append(rel(act, "USED", src))
        rels.append(rel(act, "WAS_ASSOCIATED_WITH", rnd.choice(agents)))
        for j in range(rnd.randint(1, 2)):
            if len(nodes) == n:
                break
            out = f"out:{step}/{j}"
            entities.append(out)
            nodes.append(node(out, "Entity", label=f"out-{step}-{j}.parquet"))
            rels.append(rel(out, "WAS_GENERATED_BY", act))
    return Subgraph(nodes=nodes, relationships=rels, focus=[entities[-1]])


def graph_pixels(page: Any) -> list[tuple[int, int, int]]:
    """RGB pixels of the drawing area, with the (static) legend hidden."""
    from PIL import Image

    page.evaluate("document.getElementById('legend').style.visibility = 'hidden'")
    png = page.locator("#graph").screenshot()
    page.evaluate("document.getElementById('legend').style.visibility = ''")
    raw = Image.open(io.BytesIO(png)).convert("RGB").tobytes()
    return [(raw[i], raw[i + 1], raw[i + 2]) for i in range(0, len(raw), 3)]


def count_near(pixels: list[tuple[int, int, int]], colour: tuple[int, int, int]) -> int:
    return sum(1 for p in pixels if all(abs(a - b) <= 6 for a, b in zip(p, colour, strict=True)))


def click_node(page: Any, node_id: str) -> None:
    """A real mouse click on the node, wherever the drawing put it."""
    x, y = page.evaluate(
        """(id) => {
            const net = window.lineageGraph.network;
            const p = net.canvasToDOM(net.getPosition(id));
            const box = document.getElementById('graph').getBoundingClientRect();
            return [box.left + p.x, box.top + p.y];
        }""", node_id)
    page.mouse.click(x, y)


def test_export_opens_offline_and_requests_nothing_but_itself(open_page: Any,
                                                               tmp_path: Path) -> None:
    target = tmp_path / "lineage.html"
    pipeline().to_html(target)
    opened = open_page(target)
    assert opened.requests == [target.resolve().as_uri()], "no network, no favicon, no fonts"
    assert opened.errors == [], "no script errors and no Content-Security-Policy violations"


def test_graph_is_drawn_with_prov_styles_and_the_precomputed_layout(open_page: Any,
                                                                     tmp_path: Path) -> None:
    target = tmp_path / "lineage.html"
    pipeline().to_html(target)
    page = open_page(target).page
    counts = page.evaluate("""() => {
        const net = window.lineageGraph.network;
        return [window.lineageGraph.nodeCount, net.body.data.nodes.length,
                net.body.data.edges.length];
    }""")
    assert counts == [7, 7, 6]
    labels = sorted(page.evaluate("window.lineageGraph.network.body.data.edges.map(e => e.label)"))
    assert labels == ["used", "used", "used", "wasAssociatedWith", "wasGeneratedBy",
                      "wasGeneratedBy"]
    # Drawn where Python put them, and nothing moves afterwards (no physics, no runtime layout).
    expected = page.evaluate("Object.fromEntries(window.lineageGraph.data.nodes"
                             ".map(n => [n.id, [n.x, n.y]]))")
    first = page.evaluate("window.lineageGraph.network.getPositions()")
    assert {k: [round(v["x"]), round(v["y"])] for k, v in first.items()} == expected
    page.wait_for_timeout(700)
    assert page.evaluate("window.lineageGraph.network.getPositions()") == first
    # Time flows left to right: each cause is drawn left of its effect.
    x = {k: v["x"] for k, v in first.items()}
    assert x["ex:raw"] < x["ex:clean"] < x["ex:cleaned"] < x["ex:train"] < x["ex:model"]
    assert x["ex:trainer"] < x["ex:train"]
    # The canvas is not blank: entity yellow and activity blue are painted.
    pixels = graph_pixels(page)
    assert len(set(pixels)) > 50
    assert count_near(pixels, ENTITY_YELLOW) > 200
    assert count_near(pixels, ACTIVITY_BLUE) > 200
    # The focus node starts selected, with its details in the side panel.
    assert page.evaluate("window.lineageGraph.network.getSelectedNodes()") == ["ex:model"]
    panel = page.locator("#panel").inner_text()
    assert "model.pb" in panel and "ex:model" in panel
    assert "import_runs" not in panel and "r1" not in panel, "bookkeeping stays hidden"


def test_click_hover_and_search(open_page: Any, tmp_path: Path) -> None:
    target = tmp_path / "lineage.html"
    pipeline().to_html(target)
    page = open_page(target).page
    click_node(page, "ex:train")
    assert page.evaluate("window.lineageGraph.network.getSelectedNodes()") == ["ex:train"]
    panel = page.locator("#panel")
    assert panel.locator("h2").inner_text() == "train"
    text = panel.inner_text()
    assert "Succeeded" in text
    assert "used" in text and "clean.parquet" in text and "wasGeneratedBy" in text
    # Following a relationship from the panel selects the other end.
    panel.get_by_role("button", name="trainer:1.0").click()
    assert page.evaluate("window.lineageGraph.network.getSelectedNodes()") == ["ex:trainer"]

    # Hover shows the properties as text.
    page.mouse.move(5, 5)
    x, y = page.evaluate("""() => {
        const net = window.lineageGraph.network;
        const p = net.canvasToDOM(net.getPosition('ex:raw'));
        const box = document.getElementById('graph').getBoundingClientRect();
        return [box.left + p.x, box.top + p.y];
    }""")
    page.mouse.move(x, y)
    tip = page.locator("div.vis-tooltip")
    tip.wait_for(state="visible")
    assert "uri: gs://b/raw.csv" in tip.inner_text()

    # Search by id or name focuses and selects the match.
    page.fill("#search", "clean.parq")
    assert page.locator("#results button").all_inner_texts() == ["clean.parquet — ex:cleaned"]
    page.press("#search", "Enter")
    assert page.evaluate("window.lineageGraph.network.getSelectedNodes()") == ["ex:cleaned"]
    assert page.locator("#panel h2").inner_text() == "clean.parquet"
    page.fill("#search", "no such node")
    assert page.locator("#results").inner_text() == "no match"


def test_hostile_strings_render_as_text_and_never_run(open_page: Any, tmp_path: Path) -> None:
    nodes = [node(f"ex:{i}:{s}", "Entity", label=s, note=s, uri=HOSTILE[3])
             for i, s in enumerate(HOSTILE)]
    nodes.append(node(HOSTILE[1], "Activity", label=HOSTILE[0]))
    rels = [rel(HOSTILE[1], "USED", n.id, role=HOSTILE[2]) for n in nodes[:-1]]
    target = tmp_path / "hostile.html"
    Subgraph(nodes=nodes, relationships=rels, focus=[nodes[0].id]).to_html(
        target, title=HOSTILE[0] + HOSTILE[2])
    opened = open_page(target)
    page = opened.page
    dom = page.evaluate("""() => ({
        scripts: document.querySelectorAll('script').length,
        imgs: document.querySelectorAll('img').length,
        strays: [...document.querySelectorAll('svg')].filter(s => !s.closest('#legend')).length,
        handlers: document.querySelectorAll('[onerror],[onload]').length,
        pwned: window.pwned === undefined ? null : window.pwned,
        title: document.title,
        heading: document.querySelector('h1').textContent,
        nodes: window.lineageGraph.nodeCount,
    })""")
    assert dom == {"scripts": 4, "imgs": 0, "strays": 0, "handlers": 0, "pwned": None,
                   "title": HOSTILE[0] + HOSTILE[2], "heading": HOSTILE[0] + HOSTILE[2],
                   "nodes": len(HOSTILE) + 1}

    for i, payload in enumerate(HOSTILE):
        click_node(page, f"ex:{i}:{payload}")
        panel = page.locator("#panel")
        assert panel.locator("h2").inner_text() == payload
        values = panel.locator("dd").all_inner_texts()
        assert f"ex:{i}:{payload}" in values and payload in values and HOSTILE[3] in values
        assert panel.locator("img, svg, script, a").count() == 0

    click_node(page, HOSTILE[1])  # the activity whose id is an <img onerror> tag
    assert page.locator("#panel h2").inner_text() == HOSTILE[0]
    assert page.locator("#panel dd").first.inner_text() == HOSTILE[1]

    page.mouse.move(5, 5)
    x, y = page.evaluate("""(id) => {
        const net = window.lineageGraph.network;
        const p = net.canvasToDOM(net.getPosition(id));
        const box = document.getElementById('graph').getBoundingClientRect();
        return [box.left + p.x, box.top + p.y];
    }""", f"ex:1:{HOSTILE[1]}")
    page.mouse.move(x, y)
    tip = page.locator("div.vis-tooltip")
    tip.wait_for(state="visible")
    assert f"note: {HOSTILE[1]}" in tip.inner_text()
    # innerText turns line breaks into <br>; nothing else may appear.
    tags = tip.evaluate("t => [...t.querySelectorAll('*')].map(e => e.tagName)")
    assert set(tags) <= {"BR"}, "the tooltip holds text, not markup"

    page.fill("#search", "<img")
    assert HOSTILE[1] in page.locator("#results").inner_text()
    assert page.locator("#results img").count() == 0

    page.wait_for_timeout(300)  # give any injected handler its chance to fire
    assert opened.dialogs == []
    assert page.evaluate("window.pwned === undefined")
    assert opened.requests == [target.resolve().as_uri()], "x (the img src) was never fetched"


def test_notebook_iframe_draws_inside_its_sandbox(open_page: Any, tmp_path: Path) -> None:
    host = tmp_path / "notebook.html"
    host.write_text("<!DOCTYPE html><html><body><h1>notebook</h1>"
                    + render_iframe(pipeline()) + "</body></html>", encoding="utf-8")
    opened = open_page(host, wait="document.querySelector('iframe') !== null")
    frame = opened.page.frame_locator("iframe")
    # The page script fills #counts before it creates the network: the srcdoc has loaded.
    frame.locator("#counts", has_text="7 nodes").wait_for()
    inner = opened.page.locator("iframe").element_handle().content_frame()
    assert inner is not None
    wait_until(inner, "window.lineageGraph && window.lineageGraph.ready")
    assert inner.evaluate("window.lineageGraph.network.body.data.nodes.length") == 7
    assert frame.locator("#counts").inner_text() == "7 nodes · 6 relationships"
    assert [u for u in opened.requests if not u.startswith("about:")] == [host.resolve().as_uri()]
    assert opened.errors == []


def test_empty_lineage_says_so(open_page: Any, tmp_path: Path) -> None:
    target = tmp_path / "empty.html"
    Subgraph().to_html(target)
    page = open_page(target).page
    assert page.locator("#empty").inner_text() == (
        "This lineage is empty: the query returned no nodes.")


def test_five_thousand_nodes_render(open_page: Any, tmp_path: Path) -> None:
    # Timing is measured in bench/bench_html.py; here: it draws, completely, and stays usable.
    sub = synthetic(5000)
    target = tmp_path / "big.html"
    sub.to_html(target)
    opened = open_page(target)
    page = opened.page
    assert page.evaluate("window.lineageGraph.network.body.data.nodes.length") == 5000
    assert page.evaluate("window.lineageGraph.network.body.data.edges.length") == len(
        sub.relationships)
    # It opens at the focus, readable: node fills are painted.
    pixels = graph_pixels(page)
    assert count_near(pixels, ENTITY_YELLOW) + count_near(pixels, ACTIVITY_BLUE) > 500
    # Zoomed out to all 5,000 nodes, the drawing still covers the canvas.
    page.click("#fit")
    page.wait_for_timeout(600)
    pixels = graph_pixels(page)
    assert len(set(pixels)) > 50
    assert sum(1 for p in pixels if p != (255, 255, 255)) > len(pixels) // 20
    # Search still finds a node among 5,000 and the panel shows it.
    last = sub.nodes[-1]
    page.fill("#search", last.id)
    page.press("#search", "Enter")
    assert page.evaluate("window.lineageGraph.network.getSelectedNodes()") == [last.id]
    assert page.locator("#panel h2").inner_text() == last.properties["label"]
    assert opened.errors == []
    assert opened.requests == [target.resolve().as_uri()]


@pytest.mark.integration
def test_cli_export_of_imported_data_draws(store: Any, cli_env: dict[str, str], open_page: Any,
                                           tmp_path: Path) -> None:
    from lineagegraph.model import Activity, Agent, Entity, Used, WasAssociatedWith, WasGeneratedBy

    store.import_elements("test", "browser", [
        Entity(id="ex:raw", label="raw.csv"),
        Activity(id="ex:train", label="train"),
        Agent(id="ex:alice", label="Alice"),
        Entity(id="ex:model", label="model.pb"),
    ], [
        Used(activity="ex:train", entity="ex:raw"),
        WasAssociatedWith(activity="ex:train", agent="ex:alice"),
        WasGeneratedBy(entity="ex:model", activity="ex:train"),
    ])
    target = tmp_path / "model.html"
    done = subprocess.run([sys.executable, "-m", "lineagegraph", "export", "html", "ex:model",
                           "-o", str(target)], env=cli_env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    opened = open_page(target)
    page = opened.page
    assert page.evaluate("window.lineageGraph.network.body.data.nodes.length") == 4
    assert page.locator("h1").inner_text() == "Upstream lineage of model.pb"
    assert page.locator("#panel h2").inner_text() == "model.pb"
    click_node(page, "ex:alice")
    assert page.locator("#panel h2").inner_text() == "Alice"
    assert opened.requests == [target.resolve().as_uri()]
    assert opened.errors == []


# --- big lineages: the overview, groups that expand on click, search into groups ---------------


def drawn(page: Any) -> dict[str, Any]:
    return page.evaluate("""() => {
        const net = window.lineageGraph.network;
        return {nodes: net.body.data.nodes.getIds(), edges: net.body.data.edges.length};
    }""")


def grouped_run() -> Subgraph:
    """A pipeline run (named with markup) of two steps over six inputs, and a report after it."""
    inputs = [node(f"ex:in{k}", "Entity", label=f"input {k}") for k in range(6)]
    return Subgraph(
        nodes=[
            node("ex:pipe", "Activity", label=HOSTILE[1]),
            node("ex:s1", "Activity", label="step one"),
            node("ex:s2", "Activity", label="step two"),
            node("ex:o1", "Entity", label="one.parquet"),
            node("ex:o2", "Entity", label="two.parquet"),
            node("ex:report", "Entity", label="report.pdf"),
            *inputs,
        ],
        relationships=[
            rel("ex:s1", "WAS_INFORMED_BY", "ex:pipe"),
            rel("ex:s2", "WAS_INFORMED_BY", "ex:pipe"),
            rel("ex:o1", "WAS_GENERATED_BY", "ex:s1"),
            rel("ex:s2", "USED", "ex:o1"),
            rel("ex:o2", "WAS_GENERATED_BY", "ex:s2"),
            rel("ex:report", "WAS_DERIVED_FROM", "ex:o2"),
            *(rel("ex:s1", "USED", i.id) for i in inputs),
        ],
        focus=["ex:report"],
    )


def test_clicking_a_group_expands_it_in_place_and_it_collapses_back(open_page: Any,
                                                                     tmp_path: Path) -> None:
    from lineagegraph.html import render_html

    target = tmp_path / "grouped.html"
    target.write_text(render_html(grouped_run(), group_above=4), encoding="utf-8")
    opened = open_page(target)
    page = opened.page
    first = drawn(page)
    assert "ex:s1" not in first["nodes"] and len(first["nodes"]) < 12
    assert "collapsed group" in page.locator("#counts").inner_text()
    # Click whatever holds step one until step one itself is drawn: each click opens one level.
    clicks = 0
    while (holder := page.evaluate("window.lineageGraph.visibleId('ex:s1')")) != "ex:s1":
        before = drawn(page)["nodes"]
        click_node(page, holder)
        after = drawn(page)["nodes"]
        assert holder not in after and len(after) > len(before) - 1, "the group opened"
        clicks += 1
        assert clicks <= 4
    assert clicks >= 1
    # In place: each member sits at the position the layout gave it, inside the group's outline.
    expected = page.evaluate("Object.fromEntries(window.lineageGraph.data.nodes"
                             ".map(n => [n.id, [n.x, n.y]]))")
    shown = page.evaluate("window.lineageGraph.network.getPositions(['ex:s1', 'ex:s2', 'ex:pipe'])")
    assert {k: [round(v["x"]), round(v["y"])] for k, v in shown.items()} == {
        k: expected[k] for k in ("ex:s1", "ex:s2", "ex:pipe")}
    # The run's name is markup, shown as text in the panel when its activity is clicked.
    click_node(page, "ex:pipe")
    assert page.locator("#panel h2").inner_text() == HOSTILE[1]
    assert page.locator("#panel img").count() == 0
    # Collapse the run from the panel: its members go, one group item stands for them again.
    run_name = HOSTILE[1] + " (run)"
    page.locator("#panel li", has_text=run_name).get_by_role("button", name="Collapse").click()
    after = drawn(page)["nodes"]
    assert not {"ex:pipe", "ex:s1", "ex:s2", "ex:o1", "ex:o2"} & set(after)
    holder = page.evaluate("window.lineageGraph.visibleId('ex:s1')")
    assert holder in after
    assert page.locator("#panel h2").inner_text() == run_name
    page.wait_for_timeout(300)
    assert opened.dialogs == [] and opened.errors == []
    assert opened.requests == [target.resolve().as_uri()]


def test_hundred_thousand_nodes_open_as_an_overview(open_page: Any, tmp_path: Path) -> None:
    # Timing is benchmarked (bench/bench_html.py); here: the first view is small and it works.
    sub = synthetic(100_000)
    target = tmp_path / "huge.html"
    sub.to_html(target)
    opened = open_page(target)
    page = opened.page
    assert page.evaluate("window.lineageGraph.nodeCount") == 100_000
    first = drawn(page)
    assert len(first["nodes"]) + first["edges"] <= 3000, "an overview, not 100,000 nodes"
    assert "collapsed groups" in page.locator("#counts").inner_text()
    # Something is drawn on the canvas, and a click on a group opens it.
    pixels = graph_pixels(page)
    assert sum(1 for p in pixels if p != (255, 255, 255)) > len(pixels) // 50
    group = first["nodes"][len(first["nodes"]) // 2]
    click_node(page, group)
    after = drawn(page)
    assert group not in after["nodes"] and len(after["nodes"]) > len(first["nodes"])
    # Search finds a node deep inside groups, opens them, selects it and shows it.
    deep = next(n for n in sub.nodes[len(sub.nodes) // 3:] if n.id.startswith("out:"))
    assert page.evaluate("(id) => window.lineageGraph.visibleId(id)", deep.id) != deep.id
    page.fill("#search", deep.id)
    page.press("#search", "Enter")
    assert page.evaluate("window.lineageGraph.network.getSelectedNodes()") == [deep.id]
    assert deep.id in drawn(page)["nodes"]
    assert page.locator("#panel h2").inner_text() == deep.properties["label"]
    assert opened.errors == []
    assert opened.requests == [target.resolve().as_uri()]
