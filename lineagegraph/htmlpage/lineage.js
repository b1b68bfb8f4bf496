// The lineage page's own script, inlined by lineagegraph/html.py after vis-network (the page's
// Content-Security-Policy allows it by the hash of this exact text).
//
// It reads the graph from the JSON element and touches the DOM only through
// createElement/textContent; graph strings reach vis-network only as labels (canvas text) and
// string tooltips (which vis-network 9 shows with innerText). Ids are kept in Maps, never as
// object keys, so an id such as "__proto__" is just an id.
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
