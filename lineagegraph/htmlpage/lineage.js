// The lineage page's own script, inlined by lineagegraph/html.py after vis-network (the page's
// Content-Security-Policy allows it by the hash of this exact text).
//
// It reads the graph from the JSON element and touches the DOM only through
// createElement/textContent; graph strings reach vis-network only as labels (canvas text) and
// string tooltips (which vis-network 9 shows with innerText). Ids are kept in Maps, never as
// object keys, so an id such as "__proto__" is just an id.
//
// Big lineages come with groups (see lineagegraph/htmlgroups.py): the page then draws each
// collapsed group as one item, and expanding one swaps it for its members in one batched
// DataSet change, never node by node.
(function () {
  "use strict";
  // Timing marks (performance.getEntriesByType("mark")) for bench/bench_html.py's profile.
  performance.mark("lineage:start");
  var data = JSON.parse(document.getElementById("lineage-data").textContent);
  performance.mark("lineage:parsed");
  var STYLES = JSON.parse(document.getElementById("lineage-styles").textContent);
  var FACE = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
  var groups = data.groups || [];
  var parentOf = data.parent || null;
  var PREFIX = data.groupPrefix || "";
  var N = data.nodes.length;
  // Edge labels cost a text measurement per edge and frame; past this many they are shown only
  // for the selected node's relationships (every edge's tooltip still names its relation).
  var labelEdges = data.edges.length <= STYLES.edgeLabels;
  // firstDrawMs: the first frame; completeMs: every item in the network (later for big drawings
  // that open at their focus); ready: complete and interactive.
  var state = {nodeCount: N, edgeCount: data.edges.length, groupCount: groups.length, ready: false,
               firstDrawMs: null, completeMs: null, network: null, selected: null, data: data};
  window.lineageGraph = state;
  var byId = new Map(), indexOf = new Map(), outgoing = new Map(), incoming = new Map();
  data.nodes.forEach(function (n, i) {
    byId.set(n.id, n); indexOf.set(n.id, i); outgoing.set(n.id, []); incoming.set(n.id, []);
  });
  // Edge ends as node indices, once: refresh() maps every edge to what is drawn on each change.
  var edgeFrom = new Int32Array(data.edges.length), edgeTo = new Int32Array(data.edges.length);
  data.edges.forEach(function (e, i) {
    e.key = "e" + i; outgoing.get(e.from).push(e); incoming.get(e.to).push(e);
    edgeFrom[i] = indexOf.get(e.from); edgeTo[i] = indexOf.get(e.to);
  });
  var groupOf = new Map();  // vis id of a group item -> group index
  var expanded = new Uint8Array(groups.length);
  var focusGroups = new Uint8Array(groups.length);
  groups.forEach(function (g, i) { groupOf.set(PREFIX + i, i); });
  function ancestors(i) {  // group indices around node i, innermost first
    var out = [];
    for (var g = parentOf ? parentOf[i] : -1; g >= 0; g = groups[g].parent) out.push(g);
    return out;
  }
  data.focus.forEach(function (id) {
    ancestors(indexOf.get(id)).forEach(function (g) { focusGroups[g] = 1; });
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

  // Styles shared by many nodes live in vis-network groups, so that each node carries only what
  // is its own (parsing per-node style objects dominated the first draw of big pages).
  function colours(fill, border) {
    return {background: fill, border: border, highlight: {background: fill, border: "#1F4FD1"},
            hover: {background: fill, border: border}};
  }
  var visGroups = {};
  Object.keys(STYLES.kinds).forEach(function (k) {
    var s = STYLES.kinds[k];
    visGroups[k] = {shape: s.shape === "house" ? "custom" : s.shape, color: colours(s.color, s.border),
                    shapeProperties: {borderDashes: k === "unknown" ? [4, 3] : false}};
  });
  Object.keys(STYLES.groups).forEach(function (k) {
    var s = STYLES.groups[k];
    visGroups["group-" + k] = {shape: "box", color: colours(s.color, s.border), borderWidth: 3,
                               shapeProperties: {borderDashes: [8, 4], borderRadius: 8},
                               font: {multi: false, color: "#222"}};
  });

  function nodeItem(n) {
    var look = STYLES.kinds[n.kind] || STYLES.kinds.unknown;
    var head = [n.kind + (n.stub ? " (stub)" : "") + (n.focus ? " \u2014 focus" : ""),
                "id: " + n.id];
    if (n.name !== n.id) head.push("name: " + n.name);
    var item = {id: n.id, label: n.short, title: tooltip(head, n.props),
                group: n.stub ? "unknown" : (STYLES.kinds[n.kind] ? n.kind : "unknown")};
    if (n.stub) item.shape = look.shape === "house" ? "custom" : look.shape;
    if (look.shape === "house") item.ctxRenderer = house;
    if (n.focus) {
      var fill = n.stub ? STYLES.kinds.unknown.color : look.color;
      item.color = {background: fill, border: STYLES.focus,
                    highlight: {background: fill, border: STYLES.focus},
                    hover: {background: fill, border: STYLES.focus}};
      item.borderWidth = 4; item.borderWidthSelected = 5;
    }
    if (data.layout === "python") { item.x = n.x; item.y = n.y; }
    return item;
  }
  function groupLabel(g) {
    return g.name + "\n" + g.size.toLocaleString("en") + " nodes \u2014 click to expand";
  }
  function groupItem(i) {
    var g = groups[i];
    // A layer box is read from afar: a short label, as large as the box allows.
    var label = g.kind === "layer" ? g.size.toLocaleString("en") + " nodes" : groupLabel(g);
    var item = {id: PREFIX + i, label: label, group: "group-" + g.kind, x: g.x, y: g.y,
                title: STYLES.groups[g.kind].title + ": " + g.name + "\n" + g.size + " nodes" +
                       (focusGroups[i] ? "\nholds the focus" : "") + "\nclick to expand"};
    if (g.kind === "layer") {
      // Wide enough for the label on one line (an average glyph is ~0.6 em), inside the margins.
      var size = Math.max(14, Math.min((g.outline[2] - 40) / (label.length * 0.75), g.outline[3] / 3));
      item.widthConstraint = {minimum: g.outline[2], maximum: g.outline[2]};
      item.heightConstraint = {minimum: g.outline[3]};
      item.font = {size: size};
    }
    if (focusGroups[i]) {
      var s = STYLES.groups[g.kind];
      item.color = colours(s.color, STYLES.focus);
      item.color.highlight.border = STYLES.focus;
    }
    return item;
  }
  var aggregateWidth = function (count) { return Math.min(4, 1 + Math.log2(count) / 2); };

  // What is drawn: for node i, the outermost collapsed group around it (-1: the node itself).
  var holder = new Int32Array(N);
  var nodesDS = new vis.DataSet(), edgesDS = new vis.DataSet();
  var shownNodes = new Map(), shownEdges = new Map();  // vis id -> group index / count
  var openGroups = [];  // expanded groups that are not inside a collapsed one: outlined
  function visId(i) { return holder[i] < 0 ? data.nodes[i].id : PREFIX + holder[i]; }
  // later(item): hold the new item back in `deferred` (see firstBatch) instead of adding it now.
  var deferred = {nodes: [], edges: []};
  function refresh(later) {
    var wantNodes = new Map(), wantEdges = new Map(), i;
    for (i = 0; i < N; i++) {
      var top = -1;
      for (var g = parentOf ? parentOf[i] : -1; g >= 0; g = groups[g].parent) {
        if (!expanded[g]) top = g;
      }
      holder[i] = top;
      if (top < 0) wantNodes.set(data.nodes[i].id, -1);
      else if (!wantNodes.has(PREFIX + top)) wantNodes.set(PREFIX + top, top);
    }
    var width = N + groups.length;  // codes: node i -> i, group g -> N + g
    var pairs = new Map();
    for (i = 0; i < data.edges.length; i++) {
      var a = edgeFrom[i], b = edgeTo[i];
      var ha = holder[a], hb = holder[b];
      if (ha < 0 && hb < 0) { wantEdges.set(data.edges[i].key, i); continue; }
      var ca = ha < 0 ? a : N + ha, cb = hb < 0 ? b : N + hb;
      if (ca === cb) continue;  // inside one collapsed group
      var code = ca * width + cb;
      var pair = pairs.get(code);
      if (pair) pair.count += 1;
      else pairs.set(code, {from: visId(a), to: visId(b), count: 1});
    }
    pairs.forEach(function (p, code) { wantEdges.set("a" + code, p); });
    var gone = [], added = [], changed = [];
    shownEdges.forEach(function (v, id) { if (!wantEdges.has(id)) gone.push(id); });
    edgesDS.remove(gone);
    gone = [];
    shownNodes.forEach(function (v, id) { if (!wantNodes.has(id)) gone.push(id); });
    nodesDS.remove(gone);
    wantNodes.forEach(function (g, id) {
      if (shownNodes.has(id)) return;
      var item = g < 0 ? nodeItem(byId.get(id)) : groupItem(g);
      (later && later(item) ? deferred.nodes : added).push(item);
    });
    nodesDS.add(added);
    added = [];
    wantEdges.forEach(function (v, id) {
      var before = shownEdges.get(id);
      if (typeof v === "number") {
        if (before === undefined) {
          var edge = edgeItem(data.edges[v]);
          (later && later(edge) ? deferred.edges : added).push(edge);
        }
        return;
      }
      var item = {id: id, from: v.from, to: v.to, dashes: [6, 4], width: aggregateWidth(v.count),
                  title: v.count + " relationship" + (v.count > 1 ? "s" : "") +
                         " between the groups at both ends"};
      if (before === undefined) added.push(item);
      else if (before.count !== v.count) changed.push(item);
    });
    edgesDS.add(added);
    edgesDS.update(changed);
    shownNodes = wantNodes; shownEdges = wantEdges;
    openGroups = [];
    for (var g = 0; g < groups.length; g++) if (expanded[g] && visibleGroup(g) === g) openGroups.push(g);
    updateCounts();
  }
  function edgeItem(e) {
    var item = {id: e.key, from: e.from, to: e.to,
                title: tooltip([e.name, "from: " + e.from, "to: " + e.to], e.props)};
    if (labelEdges) item.label = e.name;
    return item;
  }
  // Without labels on every edge, the selected node's relationships get theirs.
  var labelled = [];
  function labelAround(id) {
    if (labelEdges) return;
    var back = labelled.filter(function (k) { return shownEdges.has(k); })
      .map(function (k) { return {id: k, label: null}; });
    labelled = [];
    var put = [];
    if (id !== null && byId.has(id)) {
      outgoing.get(id).concat(incoming.get(id)).forEach(function (e) {
        if (typeof shownEdges.get(e.key) === "number" && put.length < 200) {
          put.push({id: e.key, label: e.name}); labelled.push(e.key);
        }
      });
    }
    if (back.length) edgesDS.update(back);
    if (put.length) edgesDS.update(put);
  }

  // Past a few thousand edges, edges during drag/zoom cost more than they show; curves already
  // past a thousand (vis-network finds where a curve meets a node by bisection, per arrow and frame:
  // a 1,000-node page drew ~30% faster with straight edges).
  var big = data.edges.length > 2000;
  var curved = data.edges.length <= STYLES.curvedEdges;
  var options = {
    autoResize: true,
    physics: false,
    layout: {improvedLayout: false},
    groups: visGroups,
    nodes: {font: {size: 14, face: FACE, color: "#222"}, borderWidth: 1, borderWidthSelected: 3,
            margin: {top: 7, bottom: 7, left: 10, right: 10}},
    edges: {arrows: {to: {enabled: true, scaleFactor: 0.6}}, width: 1.2, selectionWidth: 1.5,
            color: {color: "#8A8A8A", highlight: "#1F4FD1", hover: "#555"},
            font: {size: 11, color: "#555", strokeWidth: 3, strokeColor: "#fff",
                   align: "horizontal"},
            smooth: curved ? {type: "cubicBezier", forceDirection: "horizontal", roundness: 0.45}
                           : false},
    interaction: {hover: true, tooltipDelay: 150, hideEdgesOnDrag: big, hideEdgesOnZoom: big}
  };
  if (data.layout !== "python") {
    // Only for benchmarks: let vis-network lay the graph out in the browser instead.
    options.layout = {hierarchical: {enabled: true, direction: "RL", sortMethod: "directed",
                                     levelSeparation: 250, nodeSpacing: 60}};
  }

  var counts = document.getElementById("counts");
  function updateCounts() {
    var text = N + " nodes \u00b7 " + data.edges.length + " relationships";
    if (groups.length) {
      var collapsed = 0;
      shownNodes.forEach(function (g) { if (g >= 0) collapsed += 1; });
      text += " \u00b7 " + (shownNodes.size - collapsed) + " drawn, " + collapsed +
              " collapsed group" + (collapsed === 1 ? "" : "s");
    }
    counts.textContent = text;
  }
  var panel = document.getElementById("panel");

  function hint() {
    clear(panel);
    panel.appendChild(el("h2", "Details"));
    panel.appendChild(el("p", "Click a node or a relationship to see its properties here. " +
                              "Hover for a summary; find nodes by id or name above.", "hint"));
    if (groups.length) {
      panel.appendChild(el("p", "This lineage is large: related nodes are gathered into groups " +
                                "(dashed boxes). Click a group to expand it in place; search " +
                                "finds every node and opens the groups around it.", "hint"));
    }
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
  function groupButton(g, text, action) {
    var b = el("button", text, "group");
    b.type = "button";
    b.addEventListener("click", function () { action(g); });
    return b;
  }
  function groupButtons(i) {
    var open = ancestors(i).filter(function (g) { return expanded[g]; });
    if (!open.length) return;
    panel.appendChild(el("h3", "In the groups"));
    var ul = el("ul");
    open.forEach(function (g) {
      var li = el("li");
      li.appendChild(groupButton(g, "Collapse", collapse));
      li.appendChild(el("span", " " + groups[g].name));
      ul.appendChild(li);
    });
    panel.appendChild(ul);
  }
  function showNode(id) {
    var n = byId.get(id);
    if (!n) return;
    clear(panel);
    panel.appendChild(el("h2", n.name));
    chips([n.kind].concat(n.labels, n.stub ? ["stub"] : [], n.focus ? ["focus"] : []));
    table([["id", n.id]].concat(entries(n.props)));
    groupButtons(indexOf.get(id));
    relList("Causes (outgoing)", outgoing.get(id), true);
    relList("Effects (incoming)", incoming.get(id), false);
  }
  function showGroup(g) {
    var gr = groups[g];
    clear(panel);
    panel.appendChild(el("h2", gr.name));
    chips(["group", STYLES.groups[gr.kind].title].concat(focusGroups[g] ? ["holds the focus"] : []));
    table([["nodes", String(gr.size)], ["state", expanded[g] ? "expanded" : "collapsed"]]);
    panel.appendChild(expanded[g] ? groupButton(g, "Collapse this group", collapse)
                                  : groupButton(g, "Expand this group", expand));
    var inside = [];
    for (var i = 0; i < N && inside.length < 200; i++) if (isInside(i, g)) inside.push(data.nodes[i].id);
    panel.appendChild(el("h3", "Nodes inside" + (gr.size > 200 ? " (first 200)" : "")));
    var ul = el("ul");
    inside.forEach(function (id) { var li = el("li"); li.appendChild(link(id)); ul.appendChild(li); });
    panel.appendChild(ul);
  }
  function showEdge(key) {
    if (key.charAt(0) !== "e") {
      clear(panel);
      panel.appendChild(el("h2", "Relationships between groups"));
      panel.appendChild(el("p", edgesDS.get(key).title, "hint"));
      return;
    }
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
  function expand(g) {
    // Opening a group opens the groups around it too, so that it is really drawn.
    for (var k = g; k >= 0; k = groups[k].parent) expanded[k] = 1;
    refresh();
    state.selected = null;
    state.network.unselectAll();
    showGroup(g);
    var inside = new Set();
    for (var i = 0; i < N; i++) if (isInside(i, g)) inside.add(visId(i));
    if (inside.size && state.network.getScale() < 0.3) {
      state.network.fit({nodes: Array.from(inside), animation: {duration: 300}});
    }
  }
  function isInside(i, g) {
    for (var k = parentOf ? parentOf[i] : -1; k >= 0; k = groups[k].parent) if (k === g) return true;
    return false;
  }
  function collapse(g) {
    expanded[g] = 0;
    refresh();
    state.network.selectNodes([PREFIX + visibleGroup(g)]);
    state.selected = null;
    showGroup(visibleGroup(g));
  }
  function visibleGroup(g) {  // the outermost collapsed group at or around g
    var top = g;
    for (var k = groups[g].parent; k >= 0; k = groups[k].parent) if (!expanded[k]) top = k;
    return top;
  }
  state.expand = expand;
  state.collapse = collapse;
  state.visibleId = function (id) { return indexOf.has(id) ? visId(indexOf.get(id)) : null; };
  function select(id, move) {
    if (!byId.has(id) || !state.network) return false;
    var i = indexOf.get(id);
    if (holder[i] >= 0) {  // inside a collapsed group: open the groups around it
      ancestors(i).forEach(function (g) { expanded[g] = 1; });
      refresh();
    }
    state.network.selectNodes([id]);
    state.selected = id;
    labelAround(id);
    showNode(id);
    if (move) {
      var scale = Math.max(state.network.getScale(), 0.9);
      state.network.focus(id, {scale: scale, animation: big ? false : {duration: 300}});
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
    updateCounts();
    empty.textContent = "This lineage is empty: the query returned no nodes.";
    state.ready = true;
    return;
  }
  empty.remove();
  // Open the details panel first: it narrows the canvas, and the view is reckoned on what is left.
  if (data.focus.length) showNode(data.focus[0]);
  var start = focusView();
  var first = start && N + data.edges.length > STYLES.progressive ? firstBatch(start) : null;
  // Fill the DataSets before the network exists: one batch, no per-item events to handle. A big
  // drawing that opens at its focus gets what is in view (and one step beyond) first; the rest
  // is added right after the first frame, which it would not have changed.
  if (first) {
    refresh(function (item) {
      return item.from === undefined ? !first.has(item.id) : !(first.has(item.from) && first.has(item.to));
    });
  } else {
    refresh();
  }
  performance.mark("lineage:items");
  var network = new vis.Network(document.getElementById("graph"),
    {nodes: nodesDS, edges: edgesDS}, options);
  state.network = network;
  performance.mark("lineage:network");
  network.once("afterDrawing", function () {
    performance.mark("lineage:drawn");
    state.firstDrawMs = performance.now();
    if (!first) { state.completeMs = state.firstDrawMs; state.ready = true; return; }
    setTimeout(function () {
      nodesDS.add(deferred.nodes); edgesDS.add(deferred.edges);
      deferred = {nodes: [], edges: []};
      performance.mark("lineage:complete");
      state.completeMs = performance.now();
      state.ready = true;
    }, 0);
  });
  // Expanded groups keep a faint outline, so that one can see what collapses back together.
  network.on("beforeDrawing", function (ctx) {
    openGroups.forEach(function (g) {
      var box = groups[g].outline;
      ctx.save();
      ctx.setLineDash([10, 6]);
      ctx.strokeStyle = STYLES.groups[groups[g].kind].border;
      ctx.lineWidth = 1.5 / Math.max(network.getScale(), 0.05);
      ctx.strokeRect(box[0], box[1], box[2], box[3]);
      ctx.restore();
    });
  });
  network.on("click", function (p) {
    if (p.nodes.length) {
      var id = p.nodes[0];
      if (groupOf.has(id)) { expand(groupOf.get(id)); return; }
      state.selected = id; labelAround(id); showNode(id);
    } else if (p.edges.length) { state.selected = null; labelAround(null); showEdge(p.edges[0]); }
    else { state.selected = null; labelAround(null); hint(); }
  });
  function overview(animate) {
    network.fit({animation: animate ? {duration: 300} : false});
    // Never blow a small graph up; start a huge one at the focus, readable, instead of a speck
    // (a grouped one is its own overview: its group boxes are drawn to be read from afar).
    var scale = network.getScale();
    if (scale > 1.1) network.moveTo({scale: 1.1, animation: false});
    else if (scale < 0.25 && data.focus.length && !animate && !groups.length) {
      network.focus(data.focus[0], {scale: 0.8, animation: false});
    }
  }
  document.getElementById("fit").addEventListener("click", function () { overview(true); });
  // The view overview() would end on for a drawing too big to read when fitted, reckoned from the
  // computed positions (null: fit it): fit() draws the whole graph once, every node and edge,
  // before the focus view is drawn; that hidden frame was the dearest part of opening 5,000 nodes.
  function focusView() {
    if (groups.length || !data.focus.length || data.layout !== "python") return null;
    var minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
    data.nodes.forEach(function (n) {
      if (n.x < minX) minX = n.x; if (n.x > maxX) maxX = n.x;
      if (n.y < minY) minY = n.y; if (n.y > maxY) maxY = n.y;
    });
    var box = document.getElementById("graph").getBoundingClientRect();
    // Node extents beyond their centres: about one wide label across, one row down.
    var scale = Math.min(box.width / (maxX - minX + 250), box.height / (maxY - minY + 60));
    if (scale >= 0.2) return null;
    var f = byId.get(data.focus[0]);
    return {position: {x: f.x, y: f.y}, scale: 0.8, width: box.width, height: box.height};
  }
  // Ids of the nodes in the first view (with a margin) and of their neighbours, so that every
  // edge that crosses the view is drawn with both its ends.
  function firstBatch(view) {
    var halfW = view.width / view.scale / 2 + 300, halfH = view.height / view.scale / 2 + 100;
    var near = new Uint8Array(N), ids = new Set();
    data.nodes.forEach(function (n, i) {
      if (Math.abs(n.x - view.position.x) <= halfW && Math.abs(n.y - view.position.y) <= halfH) {
        near[i] = 1; ids.add(n.id);
      }
    });
    for (var i = 0; i < data.edges.length; i++) {
      if (near[edgeFrom[i]] || near[edgeTo[i]]) { ids.add(data.edges[i].from); ids.add(data.edges[i].to); }
    }
    return ids;
  }
  if (data.focus.length) {
    if (holder[indexOf.get(data.focus[0])] < 0) {
      network.selectNodes([data.focus[0]]);
      state.selected = data.focus[0];
    }
    labelAround(data.focus[0]);
  }
  // The first frame is drawn once the view is set (no redraw before: it would draw everything
  // at the wrong place, once more). The panel was filled before the network was made, so the
  // canvas already has its size.
  if (start) network.moveTo({position: start.position, scale: start.scale, animation: false});
  else if (data.layout === "python") overview(false);
  performance.mark("lineage:view");
})();
