"""Interactive lineage pages: a :class:`Subgraph` as one self-contained, offline, safe HTML file.

The page draws with vis-network, whose script and stylesheet ship inside the ``pyvis`` package;
both are read from there at render time and inlined, so the file fetches nothing. pyvis's own
templates are not used (they load Bootstrap from a CDN and can assign ``innerHTML``).

Drawing follows the W3C PROV conventions: entities are yellow ellipses, activities blue boxes,
agents orange houses, and every edge points from the effect back to its cause, labelled with the
PROV relation name. Time flows left to right. The layout is computed here, once, in Python, and
the browser runs no physics and no layout of its own: that keeps a 5,000-node page usable.

Safety: the graph travels as JSON in a ``<script type="application/json">`` element with ``<``,
``>``, ``&`` and the JavaScript line separators escaped, and the page script writes graph text
into the document only through ``textContent`` (vis-network renders string tooltips as text).
A Content-Security-Policy allows exactly the two inline scripts, by hash, and no network at all.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
from collections import deque
from collections.abc import Collection, Iterable, Sequence
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

from lineagegraph.errors import LineageGraphError
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
    try:
        base = resources.files("pyvis").joinpath(_VIS_DIR)
        script = base.joinpath("vis-network.min.js").read_text(encoding="utf-8")
        style = base.joinpath("vis-network.css").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise LineageGraphError(
            "HTML export needs the vis-network files that pyvis 0.3.2 bundles: "
            "pip install pyvis==0.3.2"
        ) from exc
    # Both are placed raw inside <script>/<style>; make sure nothing in them could end the element.
    if "</script" in script.lower() or "</style" in style.lower():
        raise LineageGraphError("the bundled vis-network files cannot be inlined safely")
    return script, style


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
               floating: Collection[str] = ()) -> dict[str, tuple[int, int]]:
    """x, y for every node: layers left to right, crossings reduced by barycentre sweeps."""
    if not ids:
        return {}
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

    def sweep(order: Iterable[int], before: bool) -> None:
        for k in order:
            col = columns[k]
            keys: dict[str, float] = {}
            for node in col:
                near = [rank[n] for n in neighbours[node]
                        if (layer[n] < k if before else layer[n] > k)]
                keys[node] = sum(near) / len(near) if near else rank[node]
            col.sort(key=lambda n: keys[n])
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
    return positions


# --- page -----------------------------------------------------------------------------------


def _kind(node: GraphNode) -> str:
    kind = node.kind
    return kind.value if kind is not None else "unknown"


def _graph_data(subgraph: Subgraph, layout: Layout) -> dict[str, Any]:
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
    shorts = {i: _shorten(name) for i, name in names.items()}
    positions = {}
    if layout == "python":
        widths = {i: len(short) * CHAR_WIDTH + NODE_PADDING for i, short in shorts.items()}
        agents = {i for i in ids if _kind(nodes[i]) == "Agent"}
        positions = _positions(ids, pairs, widths, agents)
    out_nodes = []
    for node_id in ids:
        node = nodes[node_id]
        name = names[node_id]
        item: dict[str, Any] = {
            "id": node_id,
            "name": name,
            "short": shorts[node_id],
            "kind": _kind(node),
            "labels": sorted(lb for lb in node.labels if lb not in {"Element", _kind(node)}),
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
    return {"nodes": out_nodes, "edges": out_edges, "layout": layout,
            "focus": [f for f in subgraph.focus if f in nodes], "missing": missing}


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


_PAGE_CSS = """
*{box-sizing:border-box}
html,body{margin:0;height:100%;color:#222;
 font:14px system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
body{display:flex;flex-direction:column}
header{display:flex;align-items:center;gap:12px;padding:8px 12px;flex-wrap:wrap;
 border-bottom:1px solid #ddd;background:#fafafa}
header h1{font-size:16px;margin:0;font-weight:600;max-width:40vw;
 overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
#counts{color:#666}
#search-box{position:relative;margin-left:auto}
#search{width:280px;padding:5px 8px;border:1px solid #bbb;border-radius:4px;font:inherit}
#results{position:absolute;right:0;top:100%;z-index:20;background:#fff;border:1px solid #ccc;
 max-height:320px;overflow:auto;width:360px;display:none;box-shadow:0 4px 12px rgba(0,0,0,.15)}
#results button{display:block;width:100%;text-align:left;border:0;background:none;
 padding:5px 8px;font:inherit;cursor:pointer;overflow:hidden;text-overflow:ellipsis;
 white-space:nowrap}
#results button:hover,#results button:focus{background:#eef3ff}
#results .hint{padding:5px 8px;color:#777}
header button.tool{padding:5px 10px;border:1px solid #bbb;border-radius:4px;background:#fff;
 font:inherit;cursor:pointer}
main{flex:1;display:flex;min-height:0}
#graph-wrap{flex:1;position:relative;min-width:0}
#graph{position:absolute;inset:0}
#empty{position:absolute;inset:0;display:flex;align-items:center;justify-content:center;
 color:#777}
#legend{position:absolute;left:10px;bottom:10px;background:rgba(255,255,255,.92);
 border:1px solid #ddd;border-radius:6px;padding:6px 10px;font-size:12px;line-height:20px;
 pointer-events:none}
#legend div{display:flex;align-items:center;gap:6px}
#panel{width:360px;border-left:1px solid #ddd;overflow:auto;padding:12px;background:#fff}
#panel h2{font-size:15px;margin:0 0 6px;overflow-wrap:anywhere}
#panel .chips span{display:inline-block;font-size:11px;padding:1px 7px;border-radius:9px;
 margin:0 4px 6px 0;border:1px solid #aaa}
#panel dl{display:grid;grid-template-columns:max-content 1fr;gap:3px 10px;margin:8px 0}
#panel dt{color:#666}
#panel dd{margin:0;overflow-wrap:anywhere;white-space:pre-wrap}
#panel h3{font-size:13px;margin:14px 0 4px;color:#444}
#panel ul{list-style:none;padding:0;margin:0}
#panel li{margin:2px 0}
#panel button.node{border:0;background:none;color:#1f4fd1;cursor:pointer;padding:0;
 font:inherit;text-align:left;overflow-wrap:anywhere}
#panel .rel{color:#666;font-style:italic;margin-right:4px}
#panel .hint{color:#777}
div.vis-tooltip{white-space:pre-wrap;max-width:520px;overflow-wrap:anywhere;
 font:12px ui-monospace,Menlo,Consolas,monospace}
"""

# The page script. It reads the graph from the JSON element and touches the DOM only through
# createElement/textContent; graph strings reach vis-network only as labels (canvas text) and
# string tooltips (which vis-network 9 shows with innerText). Ids are kept in Maps, never as
# object keys, so an id such as "__proto__" is just an id.
_PAGE_JS = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("lineage-data").textContent);
  var STYLES = JSON.parse(document.getElementById("lineage-styles").textContent);
  var FACE = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
  var state = {nodeCount: data.nodes.length, edgeCount: data.edges.length, ready: false,
               firstDrawMs: null, network: null, selected: null, data: data};
  window.lineageGraph = state;
  var byId = new Map(), outgoing = new Map(), incoming = new Map();
  data.nodes.forEach(function (n) {
    byId.set(n.id, n); outgoing.set(n.id, []); incoming.set(n.id, []);
  });
  data.edges.forEach(function (e, i) {
    e.key = "e" + i; outgoing.get(e.from).push(e); incoming.get(e.to).push(e);
  });

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function clip(text, n) { return text.length > n ? text.slice(0, n - 1) + "\u2026" : text; }
  function tooltip(lines, props) {
    Object.keys(props).forEach(function (k) {
      lines.push(k + ": " + clip(props[k], STYLES.tooltipValue));
    });
    return lines.join("\n");
  }

  // vis-network has no house shape: draw the PROV agent house, label inside, on the canvas.
  function house(o) {
    var ctx = o.ctx, x = o.x, y = o.y, st = o.style, label = o.label || "";
    ctx.font = "14px " + FACE;
    var w = Math.max(70, ctx.measureText(label).width + 26), wall = 30, roof = 14;
    var h = wall + roof, top = y - h / 2, eave = top + roof, bottom = y + h / 2;
    return {
      drawNode: function () {
        ctx.beginPath();
        ctx.moveTo(x - w / 2, bottom); ctx.lineTo(x + w / 2, bottom);
        ctx.lineTo(x + w / 2, eave); ctx.lineTo(x, top); ctx.lineTo(x - w / 2, eave);
        ctx.closePath();
        ctx.fillStyle = st.color; ctx.fill();
        if (st.borderDashes) ctx.setLineDash(st.borderDashes === true ? [5, 5] : st.borderDashes);
        ctx.lineWidth = st.borderWidth; ctx.strokeStyle = st.borderColor; ctx.stroke();
        ctx.setLineDash([]);
        ctx.fillStyle = "#222"; ctx.textAlign = "center"; ctx.textBaseline = "middle";
        ctx.fillText(label, x, eave + wall / 2);
      },
      nodeDimensions: {width: w, height: h}
    };
  }

  var visNodes = data.nodes.map(function (n) {
    var look = STYLES.kinds[n.kind] || STYLES.kinds.unknown;
    var fill = n.stub ? STYLES.kinds.unknown : look;
    var border = n.focus ? STYLES.focus : fill.border;
    var head = [n.kind + (n.stub ? " (stub)" : "") + (n.focus ? " \u2014 focus" : ""),
                "id: " + n.id];
    if (n.name !== n.id) head.push("name: " + n.name);
    var node = {
      id: n.id, label: n.short, title: tooltip(head, n.props),
      shape: look.shape === "house" ? "custom" : look.shape,
      color: {background: fill.color, border: border,
              highlight: {background: fill.color, border: n.focus ? STYLES.focus : "#1F4FD1"},
              hover: {background: fill.color, border: border}},
      borderWidth: n.focus ? 4 : 1, borderWidthSelected: n.focus ? 5 : 3,
      shapeProperties: {borderDashes: n.stub || n.kind === "unknown" ? [4, 3] : false}
    };
    if (look.shape === "house") node.ctxRenderer = house;
    if (data.layout === "python") { node.x = n.x; node.y = n.y; }
    return node;
  });
  var visEdges = data.edges.map(function (e) {
    return {id: e.key, from: e.from, to: e.to, label: e.name,
            title: tooltip([e.name, "from: " + e.from, "to: " + e.to], e.props)};
  });

  // Past a few thousand edges, curves and edges during drag/zoom cost more than they show.
  var big = data.edges.length > 2000;
  var options = {
    autoResize: true,
    physics: false,
    layout: {improvedLayout: false},
    nodes: {font: {size: 14, face: FACE, color: "#222"},
            margin: {top: 7, bottom: 7, left: 10, right: 10}},
    edges: {arrows: {to: {enabled: true, scaleFactor: 0.6}}, width: 1.2, selectionWidth: 1.5,
            color: {color: "#8A8A8A", highlight: "#1F4FD1", hover: "#555"},
            font: {size: 11, color: "#555", strokeWidth: 3, strokeColor: "#fff",
                   align: "horizontal"},
            smooth: big ? false
                        : {type: "cubicBezier", forceDirection: "horizontal", roundness: 0.45}},
    interaction: {hover: true, tooltipDelay: 150, hideEdgesOnDrag: big, hideEdgesOnZoom: big}
  };
  if (data.layout !== "python") {
    // Only for benchmarks: let vis-network lay the graph out in the browser instead.
    options.layout = {hierarchical: {enabled: true, direction: "RL", sortMethod: "directed",
                                     levelSeparation: 250, nodeSpacing: 60}};
  }

  document.getElementById("counts").textContent =
    data.nodes.length + " nodes \u00b7 " + data.edges.length + " relationships";
  var panel = document.getElementById("panel");

  function hint() {
    clear(panel);
    panel.appendChild(el("h2", "Details"));
    panel.appendChild(el("p", "Click a node or a relationship to see its properties here. " +
                              "Hover for a summary; find nodes by id or name above.", "hint"));
    if (data.missing.length) {
      panel.appendChild(el("p", data.missing.length + " node(s) named by relationships were " +
                                "not in the result; they are drawn as grey stubs.", "hint"));
    }
  }
  function table(entries) {
    var dl = el("dl");
    entries.forEach(function (kv) {
      dl.appendChild(el("dt", kv[0]));
      dl.appendChild(el("dd", kv[1]));
    });
    panel.appendChild(dl);
  }
  function entries(props) { return Object.keys(props).map(function (k) { return [k, props[k]]; }); }
  function link(id) {
    var n = byId.get(id);
    var b = el("button", n ? n.name : id, "node");
    b.type = "button";
    b.title = id;
    b.addEventListener("click", function () { select(id, true); });
    return b;
  }
  function relList(title, edges, outward) {
    if (!edges.length) return;
    panel.appendChild(el("h3", title + " (" + edges.length + ")"));
    var ul = el("ul");
    edges.slice(0, 200).forEach(function (e) {
      var li = el("li");
      li.appendChild(el("span", e.name, "rel"));
      li.appendChild(link(outward ? e.to : e.from));
      ul.appendChild(li);
    });
    if (edges.length > 200) {
      ul.appendChild(el("li", "\u2026 " + (edges.length - 200) + " more", "hint"));
    }
    panel.appendChild(ul);
  }
  function chips(list) {
    var div = el("div", null, "chips");
    list.forEach(function (c) { div.appendChild(el("span", c)); });
    panel.appendChild(div);
  }
  function showNode(id) {
    var n = byId.get(id);
    if (!n) return;
    clear(panel);
    panel.appendChild(el("h2", n.name));
    chips([n.kind].concat(n.labels, n.stub ? ["stub"] : [], n.focus ? ["focus"] : []));
    table([["id", n.id]].concat(entries(n.props)));
    relList("Causes (outgoing)", outgoing.get(id), true);
    relList("Effects (incoming)", incoming.get(id), false);
  }
  function showEdge(key) {
    var e = data.edges[Number(key.slice(1))];
    if (!e) return;
    clear(panel);
    panel.appendChild(el("h2", e.name));
    chips(["relationship"]);
    table([["type", e.type]].concat(entries(e.props)));
    panel.appendChild(el("h3", "From (the effect)"));
    panel.appendChild(link(e.from));
    panel.appendChild(el("h3", "To (the cause)"));
    panel.appendChild(link(e.to));
  }
  function select(id, move) {
    if (!byId.has(id) || !state.network) return false;
    state.network.selectNodes([id]);
    state.selected = id;
    showNode(id);
    if (move) {
      var scale = Math.max(state.network.getScale(), 0.9);
      state.network.focus(id, {scale: scale, animation: {duration: 300}});
    }
    return true;
  }
  state.select = select;
  hint();

  var search = document.getElementById("search");
  var results = document.getElementById("results");
  function matches(q) {
    q = q.trim().toLowerCase();
    var found = [];
    if (!q) return found;
    for (var i = 0; i < data.nodes.length && found.length < 50; i++) {
      var n = data.nodes[i];
      if (n.id.toLowerCase().indexOf(q) >= 0 || n.name.toLowerCase().indexOf(q) >= 0) found.push(n);
    }
    return found;
  }
  function pick(id) { results.style.display = "none"; select(id, true); }
  function list() {
    clear(results);
    var found = matches(search.value);
    found.forEach(function (n) {
      var b = el("button", n.name + (n.name !== n.id ? " \u2014 " + n.id : ""));
      b.type = "button";
      b.title = n.id;
      b.addEventListener("click", function () { pick(n.id); });
      results.appendChild(b);
    });
    if (search.value.trim() && !found.length) results.appendChild(el("div", "no match", "hint"));
    results.style.display = search.value.trim() ? "block" : "none";
    return found;
  }
  search.addEventListener("input", list);
  search.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter") {
      var found = matches(search.value);
      if (found.length) pick(found[0].id);
    }
    if (ev.key === "Escape") results.style.display = "none";
  });

  var empty = document.getElementById("empty");
  if (!data.nodes.length) {
    empty.textContent = "This lineage is empty: the query returned no nodes.";
    state.ready = true;
    return;
  }
  empty.remove();
  var network = new vis.Network(document.getElementById("graph"),
    {nodes: new vis.DataSet(visNodes), edges: new vis.DataSet(visEdges)}, options);
  state.network = network;
  network.once("afterDrawing", function () {
    state.firstDrawMs = performance.now();
    state.ready = true;
  });
  network.on("click", function (p) {
    if (p.nodes.length) { state.selected = p.nodes[0]; showNode(p.nodes[0]); }
    else if (p.edges.length) { state.selected = null; showEdge(p.edges[0]); }
    else { state.selected = null; hint(); }
  });
  function overview(animate) {
    network.fit({animation: animate ? {duration: 300} : false});
    // Never blow a small graph up; start a huge one at the focus, readable, instead of a speck.
    var scale = network.getScale();
    if (scale > 1.1) network.moveTo({scale: 1.1, animation: false});
    else if (scale < 0.25 && data.focus.length && !animate) {
      network.focus(data.focus[0], {scale: 0.8, animation: false});
    }
  }
  document.getElementById("fit").addEventListener("click", function () { overview(true); });
  // Open the details panel first: it narrows the canvas, and the view is fitted to what is left.
  if (data.focus.length) {
    network.selectNodes([data.focus[0]]);
    state.selected = data.focus[0];
    showNode(data.focus[0]);
  }
  network.setSize("100%", "100%");
  network.redraw();
  if (data.layout === "python") overview(false);
})();
"""


def _render(subgraph: Subgraph, *, title: str, layout: Layout = "python") -> str:
    vis_js, vis_css = _vis_assets()
    data = _graph_data(subgraph, layout)
    styles = {"kinds": KIND_STYLES, "focus": FOCUS_BORDER, "tooltipValue": TOOLTIP_VALUE}
    csp = ("default-src 'none'; "
           f"script-src {_csp_hash(vis_js)} {_csp_hash(_PAGE_JS)}; "
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
<style>{_PAGE_CSS}</style>
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
<script>{_PAGE_JS}</script>
</body>
</html>
"""


def render_html(subgraph: Subgraph, *, title: str = "Lineage") -> str:
    """One self-contained interactive HTML page showing ``subgraph`` (works offline)."""
    return _render(subgraph, title=title)


def render_iframe(subgraph: Subgraph, *, height: int = 640) -> str:
    """The page inside a sandboxed ``<iframe srcdoc>``, for notebooks (``Subgraph._repr_html_``).

    ``sandbox="allow-scripts"`` without ``allow-same-origin`` gives the page an opaque origin:
    it can draw, but cannot reach the notebook's cookies, storage or DOM.
    """
    page = html.escape(render_html(subgraph), quote=True)
    return (f'<iframe srcdoc="{page}" sandbox="allow-scripts" title="Lineage graph" '
            f'style="width:100%;height:{int(height)}px;border:1px solid #ddd;'
            'border-radius:4px"></iframe>')
