"""Collapsible groups for big HTML lineage pages (package-internal, used by :mod:`lineagegraph.html`).

A lineage of 100,000 nodes cannot be drawn node by node and read. Past a size limit the page
opens on an overview instead: nodes are gathered into nested groups, each drawn as one item that
expands in place on click. The groups, built in this order, each step over the items left by
the step before (so groups nest):

1. **collections**: an entity and the members it ``HAD_MEMBER`` (members of that collection only);
2. **runs**: an activity, the activities that ran inside it (``WAS_INFORMED_BY`` or
   ``WAS_INFLUENCED_BY`` another activity, followed up to the outermost run), and the entities
   only they generated;
3. **chains**: three or more items in a row where each has exactly one cause and one effect
   (agents are not counted: one agent runs many steps and would break every chain);
4. **layers**: only when still too many items are left, the columns of the layered layout, split
   into row blocks or merged into bands so that a few hundred groups remain.

Every node keeps the position of the full layout. A group is drawn at the position of one of
its members (its anchor), and a layer group as a box over the area its members occupy, so that
expanding shows the members exactly where the group was, and two items never share a spot.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from lineagegraph.model import RelationType

__all__ = ["Group", "Grouping", "group_nodes"]

MIN_CHAIN = 3  # items; shorter runs of single-input single-output steps are left alone
BOX_PADDING = 40  # canvas pixels around the members of a layer group's box
# Plain strings: an enum member's .value is a descriptor call, and these are compared per edge.
_PARENT_RUN = frozenset({RelationType.WAS_INFORMED_BY.value, RelationType.WAS_INFLUENCED_BY.value})
_MEMBER = RelationType.HAD_MEMBER.value
_GENERATED = RelationType.WAS_GENERATED_BY.value


@dataclass
class Group:
    """One collapsible group; ``items`` are node indices (< node count) or ``count + group``."""

    kind: str  # "collection", "run", "chain" or "layer"
    name: str
    anchor: int  # node index whose position the group takes (not used for layer boxes)
    items: list[int]
    parent: int = -1
    size: int = 0  # nodes inside, at any depth
    box: tuple[int, int, int, int] | None = None  # x, y, width, height of a layer group's box


@dataclass
class Grouping:
    """Groups and, for each node index, the group that directly contains it (-1: none)."""

    groups: list[Group] = field(default_factory=list)
    parent: list[int] = field(default_factory=list)


class _Builder:
    def __init__(self, kinds: Sequence[str], names: Sequence[str]) -> None:
        self.count = len(kinds)
        self.kinds = kinds
        self.names = names
        self.groups: list[Group] = []
        self.top = list(range(self.count))  # node index -> the top-level item that holds it
        self.parent_of: dict[int, int] = {}  # item -> group index

    def anchor(self, item: int) -> int:
        return item if item < self.count else self.groups[item - self.count].anchor

    def add(self, kind: str, name: str, anchor: int, items: list[int]) -> int:
        index = len(self.groups)
        self.groups.append(Group(kind=kind, name=name, anchor=anchor, items=items))
        for item in items:
            self.parent_of[item] = index
        return self.count + index

    def relabel_tops(self) -> None:
        """Point every node at its outermost group after a step added groups."""
        for node in range(self.count):
            item = self.top[node]
            while item in self.parent_of:
                item = self.count + self.parent_of[item]
            self.top[node] = item

    def items(self) -> list[int]:
        return sorted(set(self.top))


def _collections(b: _Builder, edges: Sequence[tuple[int, int, str]]) -> None:
    members: dict[int, list[int]] = defaultdict(list)
    memberships: Counter[int] = Counter()
    for start, end, rel_type in edges:
        if rel_type == _MEMBER and start != end:
            members[start].append(end)
            memberships[end] += 1
    for collection, found in members.items():
        own = sorted({m for m in found if memberships[m] == 1 and m not in members and m != collection})
        if len(own) >= 2:
            b.add("collection", f"{b.names[collection]} and {len(own)} members", collection, [collection, *own])
    b.relabel_tops()


def _runs(b: _Builder, edges: Sequence[tuple[int, int, str]]) -> None:
    activity = "Activity"
    informants: dict[int, set[int]] = defaultdict(set)
    makers: dict[int, set[int]] = defaultdict(set)
    for start, end, rel_type in edges:
        if start == end:
            continue
        if rel_type in _PARENT_RUN and b.kinds[start] == activity and b.kinds[end] == activity:
            informants[start].add(end)
        elif rel_type == _GENERATED and b.kinds[end] == activity:
            makers[start].add(end)

    def root(node: int) -> int:
        seen = {node}
        while len(informants.get(node, ())) == 1:
            (up,) = informants[node]
            if up in seen:
                break
            seen.add(up)
            node = up
        return node

    runs: dict[int, list[int]] = defaultdict(list)
    for node in range(b.count):
        if b.kinds[node] == activity and b.top[node] == node:
            runs[root(node)].append(node)
    outputs: dict[int, list[int]] = defaultdict(list)
    for entity, made_by in makers.items():
        item = b.top[entity]
        if len(made_by) == 1 and b.anchor(item) == entity:
            (maker,) = made_by
            if b.top[maker] == maker:
                outputs[root(maker)].append(item)
    for run_root, steps in runs.items():
        if b.top[run_root] != run_root:
            continue
        items = sorted({*steps, *outputs.get(run_root, ())})
        if len(items) >= 2:
            b.add("run", f"{b.names[run_root]} (run)", run_root, items)
    b.relabel_tops()


def _chains(b: _Builder, edges: Sequence[tuple[int, int, str]]) -> None:
    causes: dict[int, set[int]] = defaultdict(set)
    effects: dict[int, set[int]] = defaultdict(set)
    for start, end, _ in edges:
        if b.kinds[start] == "Agent" or b.kinds[end] == "Agent":
            continue
        a, c = b.top[start], b.top[end]
        if a != c:
            causes[a].add(c)
            effects[c].add(a)

    def single(links: dict[int, set[int]], item: int) -> int | None:
        found = links.get(item, ())
        return next(iter(found)) if len(found) == 1 else None

    def linear(item: int) -> bool:
        return single(causes, item) is not None and single(effects, item) is not None

    for item in b.items():
        if not linear(item):
            continue
        before = single(causes, item)
        if before is not None and linear(before) and single(effects, before) == item:
            continue  # not the first link of its chain
        chain = [item]
        seen = {item}
        nxt = single(effects, item)
        while nxt is not None and nxt not in seen and linear(nxt) and single(causes, nxt) == chain[-1]:
            chain.append(nxt)
            seen.add(nxt)
            nxt = single(effects, nxt)
        if len(chain) >= MIN_CHAIN:
            first, last = (b.names[b.anchor(i)] for i in (chain[0], chain[-1]))
            b.add("chain", f"{first} … {last} ({len(chain)} steps)", b.anchor(chain[len(chain) // 2]), chain)
    b.relabel_tops()


def _layers(b: _Builder, layer: Sequence[int], positions: Sequence[tuple[int, int]], groups: int,
            top: int) -> None:
    """Bands of neighbouring columns (or row blocks of one tall column), then bands of bands."""
    columns: dict[int, list[int]] = defaultdict(list)
    for item in b.items():
        columns[layer[b.anchor(item)]].append(item)
    total = sum(len(c) for c in columns.values())
    per_group = max(2, math.ceil(total / max(1, groups)))
    bands: list[tuple[list[int], int, int]] = []  # items, first and last column
    band: list[int] = []
    first = 0
    for col in sorted(columns):
        items = sorted(columns[col], key=lambda i: positions[b.anchor(i)][1])
        if len(items) > per_group:
            if band:
                bands.append((band, first, col - 1))
                band = []
            blocks = math.ceil(len(items) / per_group)
            size = math.ceil(len(items) / blocks)
            bands += [(items[k * size:(k + 1) * size], col, col) for k in range(blocks)]
            continue
        if not band:
            first = col
        band.extend(items)
        if len(band) >= per_group:
            bands.append((band, first, col))
            band = []
    if band:
        bands.append((band, first, max(columns)))
    made: list[tuple[int, int, int]] = []  # item, first and last column
    for items, start, end in bands:
        if len(items) >= 2:
            made.append((b.add("layer", _span(start, end), b.anchor(items[len(items) // 2]), items), start, end))
        else:
            made.append((items[0], start, end))
    if len(made) > top:
        # Still too many to read side by side: gather consecutive bands into wider ones, cutting
        # only between columns (the row blocks of one column stay together), so that no two wide
        # bands share a column and their boxes do not overlap.
        size = math.ceil(len(made) / top)
        units: list[list[tuple[int, int, int]]] = []
        for entry in made:
            if units and entry[1] == entry[2] == units[-1][-1][2] == units[-1][-1][1]:
                units[-1].append(entry)
            else:
                units.append([entry])
        chunks: list[list[tuple[int, int, int]]] = [[]]
        for unit in units:
            if len(unit) > size:
                # A whole tall column: cut by rows, its boxes would overlap (a run's outputs sit
                # in the next column, at rows of their own).
                chunks += [unit, []]
                continue
            if chunks[-1] and len(chunks[-1]) + len(unit) > size:
                chunks.append([])
            chunks[-1].extend(unit)
        for chunk in chunks:
            if len(chunk) >= 2:
                b.add("layer", _span(chunk[0][1], chunk[-1][2]), b.anchor(chunk[len(chunk) // 2][0]),
                      [item for item, _, _ in chunk])
    b.relabel_tops()


def _span(first: int, last: int) -> str:
    return f"layer {first + 1}" if first == last else f"layers {first + 1} to {last + 1}"


def _box(b: _Builder, items: list[int], positions: Sequence[tuple[int, int]]) -> tuple[int, int, int, int]:
    todo = list(items)
    xs: list[int] = []
    ys: list[int] = []
    while todo:
        item = todo.pop()
        if item < b.count:
            xs.append(positions[item][0])
            ys.append(positions[item][1])
        else:
            todo.extend(b.groups[item - b.count].items)
    left, right, top, bottom = min(xs), max(xs), min(ys), max(ys)
    return (round((left + right) / 2), round((top + bottom) / 2),
            right - left + 2 * BOX_PADDING, bottom - top + 2 * BOX_PADDING)


def group_nodes(kinds: Sequence[str], names: Sequence[str], edges: Sequence[tuple[int, int, str]],
                layer: Sequence[int], positions: Sequence[tuple[int, int]], *, max_items: int,
                layer_groups: int, top_groups: int) -> Grouping:
    """Nest the nodes (by index) into groups; layer groups only while more than ``max_items`` remain.

    ``edges`` are (effect, cause, relationship type) between node indices, ``layer`` and
    ``positions`` the layered layout of every node. Layer groups come in about ``layer_groups``
    bands, themselves gathered into at most ``top_groups`` when there are more.
    """
    b = _Builder(kinds, names)
    _collections(b, edges)
    _runs(b, edges)
    _chains(b, edges)
    if len(b.items()) > max_items:
        _layers(b, layer, positions, layer_groups, top_groups)
    for group in b.groups:
        group.size = sum(1 if i < b.count else b.groups[i - b.count].size for i in group.items)
    for index, group in enumerate(b.groups):
        for item in group.items:
            if item >= b.count:
                b.groups[item - b.count].parent = index
    parent = [b.parent_of.get(node, -1) for node in range(b.count)]
    return Grouping(groups=b.groups, parent=parent)
