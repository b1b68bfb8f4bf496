"""Interactive lineage pages: a :class:`Subgraph` as one self-contained, offline, safe HTML file.

The page draws with vis-network, whose script and stylesheet ship inside the ``pyvis`` package;
both are read from there at render time and inlined, so the file fetches nothing. pyvis's own
templates are not used (they load Bootstrap from a CDN and can assign ``innerHTML``).

Drawing follows the W3C PROV conventions: entities are yellow ellipses, activities blue boxes,
agents orange houses, and every edge points from the effect back to its cause, labelled with the
PROV relation name. Time flows left to right. The layout is computed here, once, in Python, and
the browser runs no physics and no layout of its own: that keeps a 5,000-node page usable.
Bigger lineages open on an overview of nested groups (runs, collections, chains, bands of layers;
see :mod:`lineagegraph.htmlgroups`) that expand in place on click.

The page's own script and styles are real files beside this module (``htmlpage/lineage.js``,
``htmlpage/lineage.css``), shipped as package data and inlined the same way.

Safety: the graph travels as JSON in a ``<script type="application/json">`` element with ``<``,
``>``, ``&`` and the JavaScript line separators escaped, and the page script writes graph text
into the document only through ``textContent`` (vis-network renders string tooltips as text).
A Content-Security-Policy allows exactly the two inline scripts, by hash, and no network at all.
"""

from __future__ import annotations

import base64
import hashlib
import html
import importlib.util
import json
import math
from collections import deque
from collections.abc import Collection, Iterable, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from lineagegraph.errors import LineageGraphError
from lineagegraph.htmlgroups import BOX_PADDING, Grouping, group_nodes
from lineagegraph.process import paused_gc
from lineagegraph.subgraph import BOOKKEEPING, GraphNode, Subgraph

__all__ = ["render_html", "render_iframe"]

# PROV drawing conventions (colours from the PROV WG diagrams); unknown kinds and stubs are grey.
KIND_STYLES: dict[str, dict[str, str]] = {
    "Entity": {"shape": "ellipse", "color": "#FFFC87", "border": "#808000"},
    "Activity": {"shape": "box", "color": "#9FB1FC", "border": "#0000FF"},
    "Agent": {"shape": "house", "color": "#FED37F", "border": "#B8860B"},
    "unknown": {"shape": "ellipse", "color": "#D9D9D9", "border": "#7F7F7F"},
}
FOCUS_BORDER = "#D62728"
# Collapsed groups of big lineages (see htmlgroups.py): dashed boxes, tinted like what they hold.
GROUP_STYLES: dict[str, dict[str, str]] = {
    "run": {"color": "#DCE3FE", "border": "#3F5BD9", "title": "pipeline run"},
    "collection": {"color": "#FFFDC8", "border": "#808000", "title": "collection"},
    "chain": {"color": "#EEEEEE", "border": "#666666", "title": "chain"},
    "layer": {"color": "#F4F6FB", "border": "#8C96B4", "title": "layers of the drawing"},
}
# Past this many nodes the page opens on an overview of groups; a quarter of it is the most
# items drawn before the layers of the layout are grouped too, into about a twentieth of it.
GROUP_ABOVE = 5000
TOP_GROUPS = 24  # at most this many layer bands side by side in the overview (wider ones nest)
EDGE_LABELS = 1500  # relationships up to which every edge carries its PROV name on the canvas
CURVED_EDGES = 1000  # relationships up to which edges are drawn as curves (straight ones draw faster)
PROGRESSIVE = 3000  # nodes + relationships past which a page opening at its focus draws that first

# Layout in canvas pixels. Columns are as wide as their widest node plus room for an edge label;
# a layer much taller than the graph is wide wraps into sub-columns.
CHAR_WIDTH = 7.8  # average width of one character of the 14px node font
NODE_PADDING = 26  # node width beyond its text (margins, border)
EDGE_ROOM = 120  # horizontal space between columns, enough for "wasGeneratedBy" and an arrow
SUBCOLUMN_ROOM = 40
ROW_GAP = 64
SHORT_LABEL = 28  # characters of a name drawn on the canvas; the full text is in tooltip/panel
TOOLTIP_VALUE = 300  # characters of one property value in a hover tooltip

_VIS_DIR = "lib/vis-9.1.2"

Layout = Literal["python", "vis-hierarchical"]


@lru_cache(maxsize=1)
def _vis_assets() -> tuple[str, str]:
    """vis-network's script (with its license header, unchanged) and stylesheet from pyvis."""
    # find_spec locates the package without running it: importing pyvis pulls in jinja2 and
    # networkx, which cost the CLI more time (0.7 s) than rendering a 5,000-node page.
    spec = importlib.util.find_spec("pyvis")
    try:
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError("pyvis")
        base = Path(next(iter(spec.submodule_search_locations)), _VIS_DIR)
        script = (base / "vis-network.min.js").read_text(encoding="utf-8")
        style = (base / "vis-network.css").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise LineageGraphError(
            "HTML export needs the vis-network files that pyvis 0.3.2 bundles: "
            "pip install pyvis==0.3.2"
        ) from exc
    # Both are placed raw inside <script>/<style>; make sure nothing in them could end the element.
    if "</script" in script.lower() or "</style" in style.lower():
        raise LineageGraphError("the bundled vis-network files cannot be inlined safely")
    return script, style


@lru_cache(maxsize=64)
def prov_name(rel_type: str) -> str:
    """``WAS_GENERATED_BY`` -> ``wasGeneratedBy`` (PROV-N spelling of a relationship type)."""
    first, *rest = rel_type.lower().split("_")
    return first + "".join(part.capitalize() for part in rest)


def _text(value: Any) -> str:
    """A property value as display text (lists joined, everything else via ``str``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _shorten(text: str, limit: int = SHORT_LABEL) -> str:
    """Keep the start and the (usually most telling) end of a long name."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    head = limit // 3
    return text[:head] + "…" + text[-(limit - head - 1):]


def _public(props: dict[str, Any]) -> dict[str, str]:
    return {k: _text(v) for k, v in sorted(props.items()) if k not in BOOKKEEPING and v is not None}


# --- layout ---------------------------------------------------------------------------------


def _layers(ids: Sequence[str], edges: Iterable[tuple[str, str]],
            floating: Collection[str] = ()) -> dict[str, int]:
    """Layer of each node: longest path from the sources, following edges from cause to effect.

    Edges are stored effect -> cause, so a node's causes are its edge ends. Cycles (possible
    with influence or alternate relations) are broken by placing the waiting node with the
    fewest unplaced causes. Then sources and ``floating`` nodes (agents: they are not steps in
    time) move right to sit just before their earliest effect instead of far to the left.
    """
    causes: dict[str, set[str]] = {i: set() for i in ids}
    effects: dict[str, set[str]] = {i: set() for i in ids}
    for effect, cause in edges:
        if effect != cause:
            causes[effect].add(cause)
            effects[cause].add(effect)
    waiting = {i: len(causes[i]) for i in ids}
    layer = dict.fromkeys(ids, 0)
    placed: dict[str, None] = {}  # insertion-ordered: a topological order (up to broken cycles)
    ready = deque(i for i in ids if waiting[i] == 0)
    while len(placed) < len(ids):
        if not ready:
            ready.append(min((i for i in ids if i not in placed), key=lambda i: waiting[i]))
        node = ready.popleft()
        if node in placed:
            continue
        placed[node] = None
        for effect in effects[node]:
            if effect in placed:
                continue
            layer[effect] = max(layer[effect], layer[node] + 1)
            waiting[effect] -= 1
            if waiting[effect] == 0:
                ready.append(effect)
    # Effects first, so that a chain of agents (acted on behalf of) moves as a whole.
    for node in reversed(placed):
        if effects[node] and (not causes[node] or node in floating):
            nearest = min(layer[e] for e in effects[node]) - 1
            if nearest > layer[node]:
                layer[node] = nearest
    return layer


def _positions(ids: Sequence[str], edges: Sequence[tuple[str, str]], widths: dict[str, float],
               floating: Collection[str] = ()) -> tuple[dict[str, tuple[int, int]], dict[str, int]]:
    """x, y (and the layer) of every node: layers left to right, crossings reduced by barycentre sweeps."""
    if not ids:
        return {}, {}
    layer = _layers(ids, edges, floating)
    count = max(layer.values()) + 1
    columns: list[list[str]] = [[] for _ in range(count)]
    for node in ids:
        columns[layer[node]].append(node)
    neighbours: dict[str, list[str]] = {i: [] for i in ids}
    for a, b in edges:
        if a != b:
            neighbours[a].append(b)
            neighbours[b].append(a)

    rank = {node: idx / max(1, len(col)) for col in columns for idx, node in enumerate(col)}
    # Neighbours in earlier and in later columns, split once: the sweeps read them four times
    # (filtering inside the sweeps was most of the layout time at 100k nodes).
    lower = {i: [n for n in near if layer[n] < layer[i]] for i, near in neighbours.items()}
    upper = {i: [n for n in near if layer[n] > layer[i]] for i, near in neighbours.items()}

    def sweep(order: Iterable[int], before: bool) -> None:
        links = lower if before else upper
        for k in order:
            col = columns[k]
            keys: dict[str, float] = {}
            for node in col:
                near = links[node]
                keys[node] = sum(map(rank.__getitem__, near)) / len(near) if near else rank[node]
            col.sort(key=keys.__getitem__)
            for idx, node in enumerate(col):
                rank[node] = idx / max(1, len(col))

    for _ in range(2):
        sweep(range(1, count), before=True)
        sweep(range(count - 2, -1, -1), before=False)

    # Aim for a drawing of roughly 16:10 overall.
    mean_width = sum(widths.values()) / len(widths) + SUBCOLUMN_ROOM
    height = math.sqrt(len(ids) * mean_width * ROW_GAP / 1.6)
    max_rows = max(10, math.ceil(height / ROW_GAP))
    positions: dict[str, tuple[int, int]] = {}
    x = 0.0
    for col in (c for c in columns if c):
        widest = max(widths[n] for n in col)
        subcolumns = math.ceil(len(col) / max_rows)
        rows = math.ceil(len(col) / subcolumns)
        x += widest / 2
        for idx, node in enumerate(col):
            # Row-major filling keeps the crossing-reduced order top to bottom.
            row, sub = divmod(idx, subcolumns)
            positions[node] = (round(x + sub * (widest + SUBCOLUMN_ROOM)),
                               round((row - (rows - 1) / 2) * ROW_GAP))
        x += (subcolumns - 1) * (widest + SUBCOLUMN_ROOM) + widest / 2 + EDGE_ROOM
    return positions, layer


# --- page -----------------------------------------------------------------------------------


def _kind(node: GraphNode) -> str:
    kind = node.kind
    return kind.value if kind is not None else "unknown"


def _graph_data(subgraph: Subgraph, layout: Layout, group_above: int = GROUP_ABOVE) -> dict[str, Any]:
    nodes: dict[str, GraphNode] = {}
    for node in subgraph.nodes:
        nodes.setdefault(node.id, node)
    focus = set(subgraph.focus)
    rels = []
    missing: list[str] = []
    for rel in subgraph.relationships:
        for end in (rel.start, rel.end):
            if end not in nodes:
                # A relationship to a node the query did not return: show it as an unknown stub.
                nodes[end] = GraphNode(id=end, properties={"stub": True})
                missing.append(end)
        rels.append(rel)
    ids = list(nodes)
    pairs = [(r.start, r.end) for r in rels]
    names = {i: nodes[i].display_name for i in ids}
    kinds = {i: _kind(nodes[i]) for i in ids}
    shorts = {i: _shorten(name) for i, name in names.items()}
    positions: dict[str, tuple[int, int]] = {}
    layer: dict[str, int] = {}
    if layout == "python":
        widths = {i: len(short) * CHAR_WIDTH + NODE_PADDING for i, short in shorts.items()}
        agents = {i for i in ids if kinds[i] == "Agent"}
        positions, layer = _positions(ids, pairs, widths, agents)
    out_nodes = []
    for node_id in ids:
        node = nodes[node_id]
        name = names[node_id]
        item: dict[str, Any] = {
            "id": node_id,
            "name": name,
            "short": shorts[node_id],
            "kind": kinds[node_id],
            "labels": sorted(lb for lb in node.labels if lb not in {"Element", kinds[node_id]}),
            "stub": bool(node.properties.get("stub")),
            "focus": node_id in focus,
            "props": _public(node.properties),
        }
        if node_id in positions:
            item["x"], item["y"] = positions[node_id]
        out_nodes.append(item)
    out_edges = [
        {"from": r.start, "to": r.end, "type": r.type, "name": prov_name(r.type),
         "props": _public(r.properties)}
        for r in rels
    ]
    data = {"nodes": out_nodes, "edges": out_edges, "layout": layout,
            "focus": [f for f in subgraph.focus if f in nodes], "missing": missing}
    if positions and len(ids) > group_above:
        index = {node_id: k for k, node_id in enumerate(ids)}
        grouping = group_nodes(
            [kinds[i] for i in ids], [names[i] for i in ids],
            [(index[r.start], index[r.end], r.type) for r in rels], [layer[i] for i in ids],
            [positions[i] for i in ids], max_items=max(2, group_above // 4),
            layer_groups=max(2, group_above // 20), top_groups=TOP_GROUPS)
        data.update(_groups_data(grouping, ids, positions))
    return data


def _groups_data(grouping: Grouping, ids: Sequence[str], positions: dict[str, tuple[int, int]]) -> dict[str, Any]:
    """The groups as the page script reads them, and a vis-network id prefix no node id starts with."""
    prefix = "group:"
    while any(i.startswith(prefix) for i in ids):
        prefix = "~" + prefix
    xy = [positions[i] for i in ids]
    lows: list[tuple[int, int]] = []
    highs: list[tuple[int, int]] = []
    for group in grouping.groups:  # children come before the groups that hold them
        points = [xy[i] for i in group.items if i < len(ids)]
        inner = [k - len(ids) for k in group.items if k >= len(ids)]
        left = min([p[0] for p in points] + [lows[k][0] for k in inner])
        top = min([p[1] for p in points] + [lows[k][1] for k in inner])
        right = max([p[0] for p in points] + [highs[k][0] for k in inner])
        bottom = max([p[1] for p in points] + [highs[k][1] for k in inner])
        lows.append((left, top))
        highs.append((right, bottom))
    out = []
    for k, group in enumerate(grouping.groups):
        (left, top), (right, bottom) = lows[k], highs[k]
        pad = BOX_PADDING
        outline = [left - 2 * pad, top - pad, right - left + 4 * pad, bottom - top + 2 * pad]
        x, y = ((left + right) // 2, (top + bottom) // 2) if group.kind == "layer" else xy[group.anchor]
        out.append({"kind": group.kind, "name": group.name, "parent": group.parent, "size": group.size,
                    "x": x, "y": y, "outline": outline})
    return {"groups": out, "parent": grouping.parent, "groupPrefix": prefix}


def _json_for_script(data: Any) -> str:
    """JSON that cannot end its ``<script>`` element or confuse an HTML or JS parser."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _csp_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def _legend() -> str:
    """Static legend markup: built from constants only, never from graph data."""
    e, a, g, u = (KIND_STYLES[k] for k in ("Entity", "Activity", "Agent", "unknown"))
    items = [
        (f'<ellipse cx="17" cy="9" rx="15" ry="7.5" fill="{e["color"]}" stroke="{e["border"]}"/>',
         "Entity"),
        (f'<rect x="2" y="2" width="30" height="14" fill="{a["color"]}" stroke="{a["border"]}"/>',
         "Activity"),
        (f'<path d="M3 17 H31 V8 L17 1 L3 8 Z" fill="{g["color"]}" stroke="{g["border"]}"/>',
         "Agent"),
        (f'<ellipse cx="17" cy="9" rx="15" ry="7.5" fill="{u["color"]}" stroke="{u["border"]}" '
         'stroke-dasharray="3 2"/>', "stub / unknown"),
        (f'<ellipse cx="17" cy="9" rx="14" ry="7" fill="#fff" stroke="{FOCUS_BORDER}" '
         'stroke-width="3"/>', "focus of the query"),
        ('<path d="M32 9 H6" stroke="#8A8A8A" stroke-width="1.5"/>'
         '<path d="M2 9 L9 5 V13 Z" fill="#8A8A8A"/>', "points to the cause"),
    ]
    rows = "\n".join(f'<div><svg width="34" height="18" aria-hidden="true">{svg}</svg>{text}</div>'
                     for svg, text in items)
    return f'<div id="legend">\n{rows}\n</div>'


_PAGE_DIR = "htmlpage"


@lru_cache(maxsize=1)
def _page_assets() -> tuple[str, str]:
    """The page's own script and stylesheet (``htmlpage/lineage.js`` and ``lineage.css``).

    They are package data, read once and inlined like vis-network's; the script's CSP hash is
    computed from exactly the text that is inlined.
    """
    base = resources.files("lineagegraph").joinpath(_PAGE_DIR)
    script = base.joinpath("lineage.js").read_text(encoding="utf-8")
    style = base.joinpath("lineage.css").read_text(encoding="utf-8")
    if "</script" in script.lower() or "</style" in style.lower():
        raise LineageGraphError("the page's own script or stylesheet cannot be inlined safely")
    return script, style


def _render(subgraph: Subgraph, *, title: str, layout: Layout = "python",
            group_above: int = GROUP_ABOVE) -> str:
    vis_js, vis_css = _vis_assets()
    page_js, page_css = _page_assets()
    with paused_gc():  # many small objects, no cycles (see paused_gc)
        data = _graph_data(subgraph, layout, group_above)
    styles = {"kinds": KIND_STYLES, "groups": GROUP_STYLES, "focus": FOCUS_BORDER,
              "tooltipValue": TOOLTIP_VALUE, "edgeLabels": EDGE_LABELS,
              "curvedEdges": CURVED_EDGES, "progressive": PROGRESSIVE}
    csp = ("default-src 'none'; "
           f"script-src {_csp_hash(vis_js)} {_csp_hash(page_js)}; "
           "style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'")
    heading = html.escape(title, quote=True)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="lineagegraph">
<title>{heading}</title>
<link rel="icon" href="data:,">
<style>{vis_css}</style>
<style>{page_css}</style>
</head>
<body>
<header>
<h1 title="{heading}">{heading}</h1>
<span id="counts"></span>
<button type="button" class="tool" id="fit" title="Show the whole graph">Fit</button>
<div id="search-box">
<input id="search" type="search" placeholder="Find a node by id or name" autocomplete="off"
 aria-label="Find a node by id or name">
<div id="results"></div>
</div>
</header>
<main>
<div id="graph-wrap"><div id="graph"></div><div id="empty"></div>
{_legend()}
</div>
<aside id="panel" aria-live="polite"></aside>
</main>
<script type="application/json" id="lineage-data">{_json_for_script(data)}</script>
<script type="application/json" id="lineage-styles">{_json_for_script(styles)}</script>
<script>{vis_js}</script>
<script>{page_js}</script>
</body>
</html>
"""


def render_html(subgraph: Subgraph, *, title: str = "Lineage", group_above: int = GROUP_ABOVE) -> str:
    """One self-contained interactive HTML page showing ``subgraph`` (works offline).

    Past ``group_above`` nodes the page opens on an overview: runs, collections, chains and, if
    still needed, layers of the drawing are collapsed into groups that expand on click.
    """
    return _render(subgraph, title=title, group_above=group_above)


def render_iframe(subgraph: Subgraph, *, height: int = 640) -> str:
    """The page inside a sandboxed ``<iframe srcdoc>``, for notebooks (``Subgraph._repr_html_``).

    ``sandbox="allow-scripts"`` without ``allow-same-origin`` gives the page an opaque origin:
    it can draw, but cannot reach the notebook's cookies, storage or DOM.
    """
    page = html.escape(render_html(subgraph), quote=True)
    return (f'<iframe srcdoc="{page}" sandbox="allow-scripts" title="Lineage graph" '
            f'style="width:100%;height:{int(height)}px;border:1px solid #ddd;'
            'border-radius:4px"></iframe>')
