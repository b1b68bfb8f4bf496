"""``diff``: how two elements were made differently (``cypher/diff.cypher``).

The template returns, in one row, every upstream element of A and of B as a compact map with the
side(s) it is on, and the activities that made A and B; Python then pairs the activities of the two
sides by what they ran and compares their parameters, code, environment and agents, and groups
entities that are versions of one thing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from lineagegraph import templates
from lineagegraph.errors import NotFoundError
from lineagegraph.model import ElementKind
from lineagegraph.process import paused_gc
from lineagegraph.queries.activities import activity_params, aspects, node_time, what_ran
from lineagegraph.queries.records import nodes_from
from lineagegraph.queries.runner import TemplateRunner
from lineagegraph.subgraph import GraphNode, dataframe

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas  # type: ignore[import-untyped,unused-ignore]

__all__ = ["ActivityChange", "LineageDiff", "ValueChange", "VersionChange", "diff"]

# "train (run 41)" and "train (run 42)" are the same step run twice.
_RUN_NUMBER = re.compile(r"\d+")


class ValueChange(BaseModel):
    """One key whose value differs between side A and side B (None = absent on that side)."""

    key: str
    a: Any = None
    b: Any = None


class ActivityChange(BaseModel):
    """Two corresponding activities (same ``what`` name) and what differs between them."""

    what: str
    a: GraphNode
    b: GraphNode
    params: list[ValueChange] = Field(default_factory=list)
    code: list[ValueChange] = Field(default_factory=list)
    environment: list[ValueChange] = Field(default_factory=list)
    agents: list[ValueChange] = Field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.params or self.code or self.environment or self.agents)


class VersionChange(BaseModel):
    """Upstream entities that are versions of one thing (same general location, uri or label)."""

    key: str
    a: list[GraphNode] = Field(default_factory=list)
    b: list[GraphNode] = Field(default_factory=list)


class LineageDiff(BaseModel):
    """The upstream lineage of ``a`` and ``b`` compared (the two elements themselves excluded)."""

    a: str
    b: str
    only_a: list[GraphNode] = Field(
        default_factory=list, description="upstream entities only A has"
    )
    only_b: list[GraphNode] = Field(
        default_factory=list, description="upstream entities only B has"
    )
    shared: list[GraphNode] = Field(default_factory=list, description="upstream entities both have")
    activities_only_a: list[GraphNode] = Field(default_factory=list)
    activities_only_b: list[GraphNode] = Field(default_factory=list)
    activity_changes: list[ActivityChange] = Field(default_factory=list)
    version_changes: list[VersionChange] = Field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not (
            self.only_a
            or self.only_b
            or self.activities_only_a
            or self.activities_only_b
            or any(c.changed for c in self.activity_changes)
        )

    def to_pandas(self) -> pandas.DataFrame:
        """One row per difference: section, what, key, value on A, value on B."""
        rows: list[dict[str, Any]] = []
        for section, nodes, side in (
            ("input", self.only_a, "a"),
            ("input", self.only_b, "b"),
            ("activity", self.activities_only_a, "a"),
            ("activity", self.activities_only_b, "b"),
        ):
            for node in nodes:
                rows.append(
                    {
                        "section": section,
                        "what": node.display_name,
                        "key": "id",
                        "a": node.id if side == "a" else None,
                        "b": node.id if side == "b" else None,
                    }
                )
        for change in self.activity_changes:
            for section in ("params", "code", "environment", "agents"):
                for vc in getattr(change, section):
                    rows.append(
                        {
                            "section": section,
                            "what": change.what,
                            "key": vc.key,
                            "a": vc.a,
                            "b": vc.b,
                        }
                    )
        for version in self.version_changes:
            rows.append(
                {
                    "section": "version",
                    "what": version.key,
                    "key": "id",
                    "a": ", ".join(n.id for n in version.a),
                    "b": ", ".join(n.id for n in version.b),
                }
            )
        return dataframe(rows, columns=["section", "what", "key", "a", "b"])


def diff(runner: TemplateRunner, a: str, b: str, depth: int) -> LineageDiff:
    """Compare the upstream lineage of ``a`` and ``b``: inputs, activities, versions."""
    templates.validate_bound("depth", depth)
    with paused_gc():  # decoding builds thousands of small objects, none of them cyclic
        records = runner.run_named_raw("diff", a=a, b=b, depth=depth)
        if not records:
            # The template anchors on both elements, so no row means one is missing: say which.
            runner.store.require_ids(a, b)
            raise NotFoundError(f"not in the graph: {a!r} or {b!r}")  # pragma: no cover - created since
        row = records[0]
        upstream = row["upstream"]
        nodes = nodes_from(upstream)
        agent_nodes = {agent.id: agent for agent in nodes_from(row["agents"])}
    result = LineageDiff(a=a, b=b)
    generals: dict[str, list[str]] = {}
    agents: dict[str, list[GraphNode]] = {}
    acts_a: list[GraphNode] = []
    acts_b: list[GraphNode] = []
    by_id: dict[str, GraphNode] = {}
    for data, node in zip(upstream, nodes, strict=True):
        by_id[node.id] = node
        generals[node.id] = list(data["generals"])
        agents[node.id] = [agent_nodes[g] for g in data["agents"]]
        in_a, in_b = data["side"] & 1 == 1, data["side"] & 2 == 2
        if node.kind is ElementKind.ACTIVITY:
            if in_a and not in_b:
                acts_a.append(node)
            elif in_b and not in_a:
                acts_b.append(node)
        elif node.kind is not ElementKind.AGENT:
            (
                result.shared if in_a and in_b else result.only_a if in_a else result.only_b
            ).append(node)
    # The activities that made A and B correspond whatever their names, even when B's
    # lineage also contains A's maker (B is a revision of A).
    maker_a, maker_b = row["maker_a"], row["maker_b"]
    if maker_a and maker_b and maker_a != maker_b:
        acts_a = [n for n in acts_a if n.id != maker_a]
        acts_b = [n for n in acts_b if n.id != maker_b]
        _pair_activities(result, [by_id[maker_a]], [by_id[maker_b]], agents, force=True)
    _pair_activities(result, acts_a, acts_b, agents)
    _pair_versions(result, generals)
    return result


def _changes(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[ValueChange]:
    return [
        ValueChange(key=key, a=a.get(key), b=b.get(key))
        for key in sorted(set(a) | set(b))
        if a.get(key) != b.get(key)
    ]


def _pair_activities(
    result: LineageDiff,
    acts_a: list[GraphNode],
    acts_b: list[GraphNode],
    agents: Mapping[str, list[GraphNode]],
    *,
    force: bool = False,
) -> None:
    """Pair activities of A with those of B by what they ran (``force``: pair as given)."""

    def by_what(nodes: list[GraphNode]) -> dict[str, list[GraphNode]]:
        groups: dict[str, list[GraphNode]] = {}
        for node in sorted(
            nodes, key=lambda n: (node_time(n) is None, node_time(n) or 0, n.id)
        ):
            groups.setdefault(_RUN_NUMBER.sub("#", what_ran(node)), []).append(node)
        return groups

    def agent_map(node: GraphNode) -> dict[str, Any]:
        out: dict[str, list[str]] = {}
        for agent in agents.get(node.id, []):
            kind = str(agent.properties.get("agent_type") or "agent")
            out.setdefault(kind, []).append(agent.display_name)
        return {k: ", ".join(sorted(v)) for k, v in out.items()}

    groups_a, groups_b = by_what(acts_a), by_what(acts_b)
    if force:
        what_a, what_b = what_ran(acts_a[0]), what_ran(acts_b[0])
        both = what_a if what_a == what_b else f"{what_a} → {what_b}"
        groups_a, groups_b = {both: acts_a}, {both: acts_b}
    for what in sorted(set(groups_a) | set(groups_b)):
        left, right = groups_a.get(what, []), groups_b.get(what, [])
        # Repeated steps (a function called twice) pair up in time order.
        for node_a, node_b in zip(left, right, strict=False):
            code_a, env_a, _ = aspects(node_a)
            code_b, env_b, _ = aspects(node_b)
            result.activity_changes.append(
                ActivityChange(
                    what=what,
                    a=node_a,
                    b=node_b,
                    params=_changes(activity_params(node_a), activity_params(node_b)),
                    code=_changes(code_a, code_b),
                    environment=_changes(env_a, env_b),
                    agents=_changes(agent_map(node_a), agent_map(node_b)),
                )
            )
        result.activities_only_a.extend(left[len(right) :])
        result.activities_only_b.extend(right[len(left) :])


def _pair_versions(result: LineageDiff, generals: Mapping[str, list[str]]) -> None:
    def key(node: GraphNode) -> str:
        if generals.get(node.id):
            return sorted(generals[node.id])[0]
        return str(node.properties.get("uri") or node.properties.get("label") or node.id)

    groups: dict[str, VersionChange] = {}
    for side, nodes in (("a", result.only_a), ("b", result.only_b)):
        for node in nodes:
            change = groups.setdefault(key(node), VersionChange(key=key(node)))
            getattr(change, side).append(node)
    result.version_changes = [c for _, c in sorted(groups.items()) if c.a and c.b]
