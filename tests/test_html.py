"""The HTML export as a file: self-contained, escaped, laid out with causes left of effects.

What the page does in a browser is tested in ``test_html_browser.py``; these tests read the
file the way a reviewer would, with expectations written out by hand.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pyvis
from subgraphs import node, rel

from lineagegraph.html import render_html, render_iframe
from lineagegraph.subgraph import Subgraph

VIS_JS = Path(pyvis.__file__).parent / "lib" / "vis-9.1.2" / "vis-network.min.js"
HOSTILE = [
    "</script><script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "\"'><svg onload=alert(1)>",
    "javascript:alert(1)",
    "</SCRIPT ><!-- \u2028\u2029 &amp; ]]>",
]


def pipeline() -> Subgraph:
    """raw -> clean -> clean.parquet -> train -> model, trainer agent, as PROV draws it."""
    return Subgraph(
        nodes=[
            node("ex:raw", "Entity", label="raw.csv", import_runs=["run-1"], created_by="run-1"),
            node("ex:clean", "Activity", label="clean", status="ok"),
            node("ex:cleaned", "Entity", label="clean.parquet"),
            node("ex:train", "Activity", label="train"),
            node("ex:model", "Entity", label="model.pb", digest="sha256:00"),
            node("ex:trainer", "Agent", label="trainer:1.0"),
        ],
        relationships=[
            rel("ex:clean", "USED", "ex:raw", role="input", key="k1"),
            rel("ex:cleaned", "WAS_GENERATED_BY", "ex:clean"),
            rel("ex:train", "USED", "ex:cleaned"),
            rel("ex:model", "WAS_GENERATED_BY", "ex:train"),
            rel("ex:train", "WAS_ASSOCIATED_WITH", "ex:trainer"),
            rel("ex:model", "WAS_DERIVED_FROM", "ex:cleaned"),
        ],
        focus=["ex:model"],
    )


def page_data(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="lineage-data">(.*?)</script>',
                      page, re.S)
    assert match, "the page must carry its graph as a JSON script element"
    return json.loads(match.group(1))


class _Tags(HTMLParser):
    """Collects start tags, attributes and script bodies as a browser's tokenizer would see them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._in_script: dict[str, str | None] | None = None
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script = dict(attrs)
            self.scripts.append((dict(attrs), ""))
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = None
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_script is not None:
            attrs, body = self.scripts[-1]
            self.scripts[-1] = (attrs, body + data)
        if self._in_title:
            self.title += data


def parse(page: str) -> _Tags:
    parser = _Tags()
    parser.feed(page)
    parser.close()
    return parser


def test_page_is_self_contained_and_carries_the_vis_network_license() -> None:
    page = render_html(pipeline())
    tags = parse(page)
    # Nothing that a browser would fetch: no src/href except the empty data: favicon.
    for tag, attrs in tags.tags:
        for name in ("src", "href", "data", "action", "poster"):
            value = attrs.get(name)
            assert value is None or value.startswith("data:"), (tag, name, value)
    # Stylesheets load nothing either: every url() is inline data, no @import.
    assert re.findall(r"url\((?!\"?data:)", page) == []
    assert "@import" not in page
    assert "bootstrap" not in page.lower(), "pyvis's template (Bootstrap from a CDN) is not used"
    # vis-network is inlined with its license header exactly as the file ships it.
    vis = VIS_JS.read_text(encoding="utf-8")
    header = vis[: vis.index("*/") + 2]
    assert "@license" in header and "Apache 2.0" in header and "MIT" in header
    assert header in page
    assert vis in page


def test_csp_allows_exactly_the_inline_scripts_and_no_network() -> None:
    page = render_html(pipeline())
    tags = parse(page)
    csp = next(a["content"] for t, a in tags.tags
               if t == "meta" and (a.get("http-equiv") or "").lower() == "content-security-policy")
    assert csp is not None
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if d.strip())
    assert directives["default-src"] == "'none'"
    assert "unsafe-eval" not in csp and "unsafe-inline" not in directives["script-src"]
    executable = [body for attrs, body in tags.scripts if attrs.get("type") is None]
    assert len(executable) == 2, "vis-network and the page script"
    allowed = set(directives["script-src"].split())
    for body in executable:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in allowed
    assert len(allowed) == 2


def test_graph_json_round_trips_and_hides_bookkeeping() -> None:
    data = page_data(render_html(pipeline()))
    by_id = {n["id"]: n for n in data["nodes"]}
    assert set(by_id) == {"ex:raw", "ex:clean", "ex:cleaned", "ex:train", "ex:model", "ex:trainer"}
    assert by_id["ex:raw"]["kind"] == "Entity"
    assert by_id["ex:clean"]["kind"] == "Activity"
    assert by_id["ex:trainer"]["kind"] == "Agent"
    # import_runs and created_by are bookkeeping: kept in the graph, not shown.
    assert by_id["ex:raw"]["props"] == {"label": "raw.csv"}
    assert by_id["ex:model"]["props"] == {"digest": "sha256:00", "label": "model.pb"}
    assert [n["id"] for n in data["nodes"] if n["focus"]] == ["ex:model"]
    names = sorted((e["from"], e["name"], e["to"]) for e in data["edges"])
    assert names == sorted([
        ("ex:clean", "used", "ex:raw"),
        ("ex:cleaned", "wasGeneratedBy", "ex:clean"),
        ("ex:train", "used", "ex:cleaned"),
        ("ex:model", "wasGeneratedBy", "ex:train"),
        ("ex:train", "wasAssociatedWith", "ex:trainer"),
        ("ex:model", "wasDerivedFrom", "ex:cleaned"),
    ])
    used_raw = next(e for e in data["edges"] if e["to"] == "ex:raw")
    assert used_raw["props"] == {"role": "input"}, "the relationship key is bookkeeping"


def test_layout_puts_causes_left_of_effects_in_time_order() -> None:
    data = page_data(render_html(pipeline()))
    x = {n["id"]: n["x"] for n in data["nodes"]}
    for edge in data["edges"]:
        assert x[edge["to"]] < x[edge["from"]], f"cause {edge['to']} must be left of {edge['from']}"
    # The chain raw -> clean -> clean.parquet -> train -> model is strictly left to right.
    chain = ["ex:raw", "ex:clean", "ex:cleaned", "ex:train", "ex:model"]
    assert [x[c] for c in chain] == sorted(x[c] for c in chain)
    assert len({x[c] for c in chain}) == 5
    # The agent sits just before the activity it is associated with, not at the far left.
    assert x["ex:cleaned"] <= x["ex:trainer"] < x["ex:train"]


def test_layout_survives_cycles_self_loops_and_dangling_relationships() -> None:
    sub = Subgraph(
        nodes=[node("a", "Entity"), node("b", "Entity"), node("c", "Activity")],
        relationships=[
            rel("a", "ALTERNATE_OF", "b"), rel("b", "ALTERNATE_OF", "a"),
            rel("c", "WAS_INFLUENCED_BY", "c"), rel("c", "USED", "a"),
            rel("c", "USED", "not-returned"),
        ],
        focus=["a"],
    )
    data = page_data(render_html(sub))
    by_id = {n["id"]: n for n in data["nodes"]}
    assert set(by_id) == {"a", "b", "c", "not-returned"}
    assert all(isinstance(n["x"], int) and isinstance(n["y"], int) for n in data["nodes"])
    assert by_id["not-returned"]["stub"] is True and by_id["not-returned"]["kind"] == "unknown"
    assert by_id["c"]["x"] > by_id["a"]["x"]
    assert len({(n["x"], n["y"]) for n in data["nodes"]}) == 4, "no two nodes on one spot"


def test_hostile_strings_stay_inside_the_json_and_the_title_is_escaped() -> None:
    nodes = [node(f"ex:{i}:{s}", "Entity", label=s, note=s) for i, s in enumerate(HOSTILE)]
    rels = [rel(nodes[0].id, "WAS_DERIVED_FROM", nodes[1].id, role=HOSTILE[2])]
    page = render_html(Subgraph(nodes=nodes, relationships=rels, focus=[nodes[0].id]),
                       title=HOSTILE[0] + HOSTILE[2])
    tags = parse(page)
    assert [t for t, _ in tags.tags].count("script") == 4, "no injected script element"
    kinds = [t for t, _ in tags.tags]
    assert "img" not in kinds and kinds.count("svg") == 6, "only the legend's six symbols"
    assert not any(name.startswith("on") for _, a in tags.tags for name in a)
    assert tags.title == HOSTILE[0] + HOSTILE[2]
    data_json = re.search(r'id="lineage-data">(.*?)</script>', page, re.S)
    assert data_json is not None
    raw = data_json.group(1)
    for forbidden in ("<", ">", "&", "\u2028", "\u2029"):
        assert forbidden not in raw
    data = json.loads(raw)
    assert sorted(n["name"] for n in data["nodes"]) == sorted(HOSTILE)
    assert {n["props"]["note"] for n in data["nodes"]} == set(HOSTILE)
    assert data["edges"][0]["props"]["role"] == HOSTILE[2]


def test_iframe_embeds_the_whole_page_sandboxed() -> None:
    sub = pipeline()
    frame = render_iframe(sub)
    tags = parse(frame)
    assert [t for t, _ in tags.tags] == ["iframe"], "the page must not leak out of the attribute"
    attrs = tags.tags[0][1]
    assert attrs["sandbox"] == "allow-scripts", "scripts yes, same-origin no"
    assert attrs["srcdoc"] == render_html(sub)
    assert "height:" in (attrs["style"] or "")
    assert "<script" not in frame, "script tags only exist escaped, inside srcdoc"
    assert html.unescape(frame).startswith('<iframe srcdoc="<!DOCTYPE html>')


def test_to_html_writes_the_file(tmp_path: Path) -> None:
    target = tmp_path / "lineage.html"
    page = pipeline().to_html(target, title="Model lineage")
    assert target.read_text(encoding="utf-8") == page
    assert "<title>Model lineage</title>" in page


def test_long_names_are_shortened_on_the_canvas_only() -> None:
    long = "gs://bucket/" + "very-long-directory/" * 6 + "model.pb"
    data = page_data(render_html(Subgraph(nodes=[node("ex:m", "Entity", label=long)])))
    (only,) = data["nodes"]
    assert only["name"] == long
    assert len(only["short"]) <= 30 and only["short"].endswith("model.pb")
    assert only["short"].startswith("gs://")


# --- big lineages: groups ---------------------------------------------------------------------


def grouped() -> Subgraph:
    """A pipeline run with two steps, a collection it reads, a chain of derivations after it, an agent."""
    derived = [rel(f"ex:d{k + 1}", "WAS_DERIVED_FROM", f"ex:d{k}") for k in range(1, 6)]
    return Subgraph(
        nodes=[
            node("ex:pipeline", "Activity", label="nightly pipeline"),
            node("ex:extract", "Activity", label="extract"),
            node("ex:load", "Activity", label="load"),
            node("ex:raw", "Entity", label="raw.csv"),
            node("ex:staged", "Entity", label="staged.parquet"),
            node("ex:table", "Entity", label="warehouse table"),
            node("ex:bundle", "Entity", label="bundle"),
            *(node(f"ex:part{k}", "Entity", label=f"part {k}") for k in (1, 2, 3)),
            *(node(f"ex:d{k}", "Entity", label=f"report v{k}") for k in range(1, 7)),
            node("ex:etl", "Agent", label="etl bot"),
        ],
        relationships=[
            rel("ex:extract", "WAS_INFORMED_BY", "ex:pipeline"),
            rel("ex:load", "WAS_INFORMED_BY", "ex:pipeline"),
            rel("ex:extract", "USED", "ex:raw"),
            rel("ex:extract", "USED", "ex:bundle"),
            rel("ex:staged", "WAS_GENERATED_BY", "ex:extract"),
            rel("ex:load", "USED", "ex:staged"),
            rel("ex:table", "WAS_GENERATED_BY", "ex:load"),
            *(rel("ex:bundle", "HAD_MEMBER", f"ex:part{k}") for k in (1, 2, 3)),
            rel("ex:d1", "WAS_DERIVED_FROM", "ex:table"),
            *derived,
            rel("ex:extract", "WAS_ASSOCIATED_WITH", "ex:etl"),
            rel("ex:load", "WAS_ASSOCIATED_WITH", "ex:etl"),
        ],
        focus=["ex:d6"],
    )


def members(data: dict) -> list[set[str]]:
    """For each group, the ids of the nodes inside it at any depth."""
    inside: list[set[str]] = [set() for _ in data["groups"]]
    for node_item, parent in zip(data["nodes"], data["parent"], strict=True):
        while parent >= 0:
            inside[parent].add(node_item["id"])
            parent = data["groups"][parent]["parent"]
    return inside


def test_small_lineages_are_drawn_without_groups() -> None:
    data = page_data(render_html(pipeline()))
    assert "groups" not in data and "parent" not in data
    data = page_data(render_html(grouped()))  # 19 nodes, far below the default limit
    assert "groups" not in data


def test_runs_collections_and_chains_collapse_into_groups() -> None:
    data = page_data(render_html(grouped(), group_above=8))
    inside = members(data)
    by_kind: dict[str, list[set[str]]] = {}
    for group, ids in zip(data["groups"], inside, strict=True):
        by_kind.setdefault(group["kind"], []).append(ids)
        assert group["size"] == len(ids)
    assert by_kind["collection"] == [{"ex:bundle", "ex:part1", "ex:part2", "ex:part3"}]
    # The run: the pipeline, the steps that ran in it and what only they made (not their input).
    assert by_kind["run"] == [{"ex:pipeline", "ex:extract", "ex:load", "ex:staged", "ex:table"}]
    # One input, one output each: d1..d5 (d6 has no effect; the agent does not break chains).
    assert by_kind["chain"] == [{"ex:d1", "ex:d2", "ex:d3", "ex:d4", "ex:d5"}]
    # Eight nodes are too many for this limit: layer bands gather what is left, around the rest.
    assert by_kind["layer"]
    for group in data["groups"]:
        if group["kind"] == "layer":
            assert group["parent"] < 0 or data["groups"][group["parent"]]["kind"] == "layer"
    tops = sum(1 for g in data["groups"] if g["parent"] < 0) + data["parent"].count(-1)
    assert tops < 8
    # A run is drawn where its pipeline activity would be; the collection where the collection is.
    xy = {n["id"]: (n["x"], n["y"]) for n in data["nodes"]}
    run = next(g for g in data["groups"] if g["kind"] == "run")
    assert (run["x"], run["y"]) == xy["ex:pipeline"] and "nightly pipeline" in run["name"]
    collection = next(g for g in data["groups"] if g["kind"] == "collection")
    assert (collection["x"], collection["y"]) == xy["ex:bundle"]
    # Each group's outline (left, top, width, height) holds its members.
    for group, ids in zip(data["groups"], inside, strict=True):
        left, top, width, height = group["outline"]
        for member in ids:
            x, y = xy[member]
            assert left < x < left + width and top < y < top + height


def test_group_ids_never_collide_with_node_ids() -> None:
    sub = grouped()
    sub.nodes.append(node("group:0", "Entity", label="a node whose id looks like a group's"))
    data = page_data(render_html(sub, group_above=8))
    prefix = data["groupPrefix"]
    assert not any(n["id"].startswith(prefix) for n in data["nodes"])


def test_to_html_passes_the_grouping_threshold_through(tmp_path: Path) -> None:
    sub = grouped()
    assert "groups" not in page_data(sub.to_html()), "below the default threshold: no groups"
    page = sub.to_html(tmp_path / "grouped.html", group_above=8)
    assert members(page_data(page)) == members(page_data(render_html(sub, group_above=8))) != []
    assert (tmp_path / "grouped.html").read_text(encoding="utf-8") == page
