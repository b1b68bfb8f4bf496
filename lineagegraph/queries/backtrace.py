"""``backtrace``: the activities that produced an element, newest first (``cypher/backtrace.cypher``).

Also the frame model and the activity-row helpers that :mod:`lineagegraph.queries.recipe` builds
on: the template returns one row per upstream activity (agents, inputs, outputs, upstream
activities); Python orders them so that each frame comes before the frames it depends on.
Each frame also says whether its run is stale (:mod:`lineagegraph.queries.staleness`), computed
for all frames in one more query.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from lineagegraph import templates
from lineagegraph.queries.activities import activity_params, format_time, node_time, version_of, what_ran
from lineagegraph.queries.records import node_from
from lineagegraph.queries.runner import TemplateRunner
from lineagegraph.queries.staleness import stale_reasons
from lineagegraph.subgraph import GraphNode, dataframe

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas  # type: ignore[import-untyped,unused-ignore]

__all__ = ["AgentRef", "Backtrace", "Frame", "Usage", "backtrace"]


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
        return out


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
        return frames_frame(self.frames)


# -- activity rows, shared with recipe -----------------------------------------------------------


def activity_rows(runner: TemplateRunner, name: str, id: str, depth: int) -> list[dict[str, Any]]:
    """The rows of an activity template (backtrace or recipe) for ``id``."""
    templates.validate_bound("depth", depth)
    runner.store.require_ids(id)
    return runner.run_named(name, id=id, depth=depth)


def _dependency_order(
    ids: list[str], before: Mapping[str, set[str]], key: Callable[[str], Any]
) -> list[str]:
    """Order ``ids`` so each comes after all of ``before[id]``; ties and cycles go by ``key``."""
    waiting = {i: set(before.get(i, set())) & set(ids) - {i} for i in ids}
    order: list[str] = []
    while waiting:
        ready = [i for i, deps in waiting.items() if not deps] or list(waiting)  # a cycle: break it
        chosen = min(ready, key=key)
        order.append(chosen)
        del waiting[chosen]
        for deps in waiting.values():
            deps.discard(chosen)
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


def backtrace(runner: TemplateRunner, id: str, depth: int, max_age: timedelta | None = None) -> Backtrace:
    """The activities that produced ``id``, newest first, like a debugger's backtrace.

    Each frame's ``stale`` lists why its run is stale: an input's producer ran again since, or
    (with ``max_age``) the run started longer ago than that.
    """
    rows = ordered(activity_rows(runner, "backtrace", id, depth), newest_first=True)
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
        )
        for i, r in enumerate(rows)
    ]
    return Backtrace(id=id, frames=frames)
