"""``backtrace``: the activities that produced an element, newest first (``cypher/backtrace.cypher``).

Also the frame model and the activity-row helpers that :mod:`lineagegraph.queries.recipe` builds
on: the template returns one row per upstream activity (agents, inputs, outputs, upstream
activities); Python orders them so that each frame comes before the frames it depends on.
Each frame also says whether its run is stale (:mod:`lineagegraph.queries.staleness`), computed
for all frames in one more query.

Two orders (``order=``, ``bt --order``), both computed in Python from the same rows:

- ``newest`` (the default): each activity once, every frame before the frames it depends on,
  ties newest first;
- ``depth-first``: a tree walk like a debugger's or mltrace's ``trace``: the newest activity
  that made the element, then each frame followed by the frames it depends on, in the order
  their source recorded them (:data:`SEQUENCE_PROPERTY` when the importer wrote it, else start
  time, then id), an activity listed again for every path that reaches it (``repeat_of`` names
  its first frame). Repeats can multiply on diamond-shaped lineage, so at most
  :data:`MAX_DEPTH_FIRST_FRAMES` frames are listed.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, get_args

from pydantic import BaseModel, Field

from lineagegraph import templates
from lineagegraph.errors import QueryError
from lineagegraph.queries.activities import activity_params, format_time, node_time, version_of, what_ran
from lineagegraph.queries.records import node_from
from lineagegraph.queries.runner import TemplateRunner
from lineagegraph.queries.staleness import stale_reasons
from lineagegraph.subgraph import GraphNode, dataframe

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas  # type: ignore[import-untyped,unused-ignore]

__all__ = ["BACKTRACE_ORDERS", "SEQUENCE_PROPERTY", "AgentRef", "Backtrace", "BacktraceOrder", "Frame", "Usage",
           "backtrace"]

BacktraceOrder = Literal["newest", "depth-first"]
BACKTRACE_ORDERS: tuple[str, ...] = get_args(BacktraceOrder)

# An activity property an importer may write: the source's own ordinal of the run (the order the
# source recorded runs in, e.g. an auto-increment run id). Depth-first backtraces visit upstream
# frames in this order, so they list runs as the source's own tools do.
SEQUENCE_PROPERTY = "sequence"

# Depth-first listings repeat an activity for every path to it: bounded so that a wide diamond
# lattice cannot produce millions of frames.
MAX_DEPTH_FIRST_FRAMES = 10_000


class AgentRef(BaseModel):
    """An agent associated with an activity, with the plan and role of the association."""

    agent: GraphNode
    plan: str | None = None
    role: str | None = None
    on_behalf_of: list[str] = Field(default_factory=list)


class Usage(BaseModel):
    """An entity an activity used (input) or generated (output)."""

    entity: GraphNode
    role: str | None = None
    time: datetime | None = None


class Frame(BaseModel):
    """One activity in a backtrace: what ran, who, when, with which inputs and parameters."""

    number: int
    activity: GraphNode
    agents: list[AgentRef] = Field(default_factory=list)
    inputs: list[Usage] = Field(default_factory=list)
    outputs: list[Usage] = Field(default_factory=list)
    upstream: list[str] = Field(default_factory=list)
    stale: list[str] = Field(default_factory=list)  # why the run is stale; empty when fresh
    depth: int | None = None  # depth-first order only: hops from the frame that made the element
    repeat_of: int | None = None  # depth-first order only: the number of this activity's first frame

    @property
    def what(self) -> str:
        return what_ran(self.activity)

    @property
    def version(self) -> str | None:
        return version_of(self.activity)

    @property
    def params(self) -> dict[str, Any]:
        return activity_params(self.activity)

    def lines(self) -> list[str]:
        """The frame as a few plain-English lines."""
        props = self.activity.properties
        head = f"#{self.number} {self.what}"
        if self.repeat_of is not None:
            # The details were printed at its first listing; a tree walk reaches it again.
            return [self._indented(f"{head}  id={self.activity.id}  (again: see #{self.repeat_of})")]
        if self.version:
            head += f" (version {self.version})"
        if props.get("status"):
            head += f" [{props['status']}]"
        out = [head + f"  id={self.activity.id}"]
        out.append(
            f"    when:   {format_time(props.get('started_at'))}"
            f" -> {format_time(props.get('ended_at'))}"
        )
        if self.agents:
            out.append(
                "    by:     "
                + ", ".join(
                    a.agent.display_name + (f" ({a.role})" if a.role else "") for a in self.agents
                )
            )
        for usage in self.inputs:
            role = f" as {usage.role}" if usage.role else ""
            out.append(f"    input:  {usage.entity.display_name}{role}  id={usage.entity.id}")
        for usage in self.outputs:
            out.append(f"    output: {usage.entity.display_name}  id={usage.entity.id}")
        if self.params:
            out.append(
                "    params: "
                + ", ".join(
                    f"{k}={json.dumps(v, default=str)}" for k, v in sorted(self.params.items())
                )
            )
        if self.stale:
            out.append("    STALE: " + "; ".join(self.stale))
        return [self._indented(line) for line in out]

    def _indented(self, line: str) -> str:
        # Depth-first frames are indented by depth, so the listing reads as a tree.
        return "  " * self.depth + line if self.depth else line


def frames_frame(frames: list[Frame]) -> pandas.DataFrame:
    """One row per frame (backtrace or recipe), for notebooks."""
    return dataframe(
        [
            {
                "number": f.number,
                "id": f.activity.id,
                "what": f.what,
                "version": f.version,
                "started_at": f.activity.properties.get("started_at"),
                "ended_at": f.activity.properties.get("ended_at"),
                "agents": [a.agent.display_name for a in f.agents],
                "inputs": [u.entity.id for u in f.inputs],
                "outputs": [u.entity.id for u in f.outputs],
                "params": f.params,
                "stale": f.stale,
            }
            for f in frames
        ]
    )


class Backtrace(BaseModel):
    """The activities that produced ``id``, newest first, each before the frames it depends on."""

    id: str
    frames: list[Frame] = Field(default_factory=list)

    def __str__(self) -> str:
        return self.text()

    def text(self) -> str:
        if not self.frames:
            return f"no activity is recorded upstream of {self.id}"
        return "\n".join(line for frame in self.frames for line in frame.lines())

    def to_pandas(self) -> pandas.DataFrame:
        table = frames_frame(self.frames)
        if any(f.depth is not None for f in self.frames):
            table["depth"] = [f.depth for f in self.frames]
            table["repeat_of"] = [f.repeat_of for f in self.frames]
        return table


# -- activity rows, shared with recipe -----------------------------------------------------------


def activity_rows(runner: TemplateRunner, name: str, id: str, depth: int) -> list[dict[str, Any]]:
    """The rows of an activity template (backtrace or recipe) for ``id``."""
    templates.validate_bound("depth", depth)
    runner.store.require_ids(id)
    return runner.run_named(name, id=id, depth=depth)


def _dependency_order(
    ids: list[str], before: Mapping[str, set[str]], key: Callable[[str], Any]
) -> list[str]:
    """Order ``ids`` so each comes after all of ``before[id]``; ties and cycles go by ``key``.

    A heap of the ready ids, each key computed once: rescanning every waiting id at each pick was
    quadratic, most of the time of a backtrace or recipe with hundreds of steps.
    """
    keys = {i: key(i) for i in ids}
    waiting = {i: set(before.get(i, set())) & keys.keys() - {i} for i in ids}
    dependents: dict[str, list[str]] = {i: [] for i in ids}
    for i, deps in waiting.items():
        for dep in deps:
            dependents[dep].append(i)
    ready = [(keys[i], i) for i, deps in waiting.items() if not deps]
    heapq.heapify(ready)
    order: list[str] = []
    while waiting:
        # Nothing ready means a cycle (PROV allows them): break it at the id that sorts first.
        chosen = heapq.heappop(ready)[1] if ready else min(waiting, key=keys.__getitem__)
        order.append(chosen)
        del waiting[chosen]
        for dependent in dependents[chosen]:
            left = waiting.get(dependent)
            if left is not None and chosen in left:
                left.discard(chosen)
                if not left:
                    heapq.heappush(ready, (keys[dependent], dependent))
    return order


def ordered(rows: list[dict[str, Any]], *, newest_first: bool) -> list[dict[str, Any]]:
    """Activity rows in dependency order: newest first (backtrace) or oldest first (recipe)."""
    by_id = {str(r["activity"]["id"]): r for r in rows}
    upstream = {i: set(r["upstream"]) for i, r in by_id.items()}
    if newest_first:  # a frame comes before the frames it depends on
        before: dict[str, set[str]] = {i: set() for i in by_id}
        for consumer, ups in upstream.items():
            for up in ups:
                if up in before:
                    before[up].add(consumer)
    else:
        before = upstream

    def key(i: str) -> tuple[bool, float, str]:
        when = node_time(node_from(by_id[i]["activity"]))
        stamp = when.timestamp() if when else 0.0
        return (when is None, -stamp if newest_first else stamp, i)

    return [by_id[i] for i in _dependency_order(list(by_id), before, key)]


def agent_refs(row: Mapping[str, Any]) -> list[AgentRef]:
    """The agents of an activity row, by name."""
    refs = [
        AgentRef(
            agent=node_from(a["agent"]),
            plan=a.get("plan"),
            role=a.get("role"),
            on_behalf_of=list(a.get("on_behalf_of") or []),
        )
        for a in row["agents"]
    ]
    return sorted(refs, key=lambda ref: (ref.agent.display_name.lower(), ref.agent.id))


def sorted_usages(items: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Inputs/outputs in a stable order (Cypher returns them in storage order)."""
    return sorted(
        items,
        key=lambda u: (
            str(u["entity"]["properties"].get("label") or ""),
            str(u["entity"]["id"]),
        ),
    )


def usage(item: Mapping[str, Any]) -> Usage:
    """A :class:`Usage` from one input/output of an activity row."""
    return Usage(entity=node_from(item["entity"]), role=item["role"], time=item["time"])


def _sequence_key(row: Mapping[str, Any]) -> tuple[bool, float, bool, float, str]:
    """Recorded order: the source's sequence number when it wrote one, else start time, then id."""
    node = node_from(row["activity"])
    seq = node.properties.get(SEQUENCE_PROPERTY)
    number = float(seq) if isinstance(seq, int | float) and not isinstance(seq, bool) else None
    when = node_time(node)
    return (number is None, number or 0.0, when is None, when.timestamp() if when else 0.0, node.id)


def depth_first(rows: list[dict[str, Any]], element_id: str) -> list[tuple[int, dict[str, Any], int | None]]:
    """The rows as a tree walk: ``(depth, row, index of its first listing or None)`` per frame.

    Roots are the activities that made the element (generated it, or are it), newest first; when
    it was reached otherwise (a derivation), the activities no other activity in the rows depends
    on. Below each, its upstream activities in recorded order (:func:`_sequence_key`),
    depth-first, repeated for every path. A dependency cycle is cut where it would re-enter the
    current path.
    """
    by_id = {str(r["activity"]["id"]): r for r in rows}
    upstream = {i: sorted({u for u in r["upstream"] if u in by_id and u != i}, key=lambda u: _sequence_key(by_id[u]))
                for i, r in by_id.items()}
    consumed = {u for ups in upstream.values() for u in ups}
    makers = [r for i, r in by_id.items()
              if i == element_id or any(str(o["entity"]["id"]) == element_id for o in r["outputs"])]
    roots = ordered(makers or [r for i, r in by_id.items() if i not in consumed] or rows, newest_first=True)
    frames: list[tuple[int, dict[str, Any], int | None]] = []
    first: dict[str, int] = {}
    # Iterative, so deep chains do not hit Python's recursion limit: (depth, id, ids on the path).
    stack: list[tuple[int, str, frozenset[str]]] = [
        (0, str(r["activity"]["id"]), frozenset()) for r in reversed(roots)
    ]
    while stack:
        depth, current, path = stack.pop()
        if len(frames) >= MAX_DEPTH_FIRST_FRAMES:
            raise QueryError(
                f"the depth-first backtrace has more than {MAX_DEPTH_FIRST_FRAMES} frames (runs repeat "
                "for every path to them); use the default order or a smaller depth"
            )
        frames.append((depth, by_id[current], first.get(current)))
        first.setdefault(current, len(frames) - 1)
        on_path = path | {current}
        stack.extend((depth + 1, up, on_path) for up in reversed(upstream[current]) if up not in on_path)
    return frames


def backtrace(
    runner: TemplateRunner,
    id: str,
    depth: int,
    max_age: timedelta | None = None,
    order: BacktraceOrder = "newest",
) -> Backtrace:
    """The activities that produced ``id``, newest first, like a debugger's backtrace.

    Each frame's ``stale`` lists why its run is stale: an input's producer ran again since, or
    (with ``max_age``) the run started longer ago than that. ``order`` is ``"newest"`` (each
    activity once, dependency order) or ``"depth-first"`` (a tree walk; see the module's notes).
    """
    if order not in BACKTRACE_ORDERS:
        raise QueryError(f"order must be one of {', '.join(BACKTRACE_ORDERS)}, not {order!r}")
    rows = activity_rows(runner, "backtrace", id, depth)
    walk: list[tuple[int | None, dict[str, Any], int | None]]
    if order == "depth-first":
        walk = list(depth_first(rows, id))
    else:
        walk = [(None, r, None) for r in ordered(rows, newest_first=True)]
    stale = stale_reasons(runner.store, [str(r["activity"]["id"]) for r in rows], max_age=max_age)
    frames = [
        Frame(
            number=i,
            activity=node_from(r["activity"]),
            agents=agent_refs(r),
            inputs=[usage(u) for u in sorted_usages(r["inputs"])],
            outputs=[usage(u) for u in sorted_usages(r["outputs"])],
            upstream=sorted(set(r["upstream"])),
            stale=stale[str(r["activity"]["id"])],
            depth=level,
            repeat_of=repeat,
        )
        for i, (level, r, repeat) in enumerate(walk)
    ]
    return Backtrace(id=id, frames=frames)
