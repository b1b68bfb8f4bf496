"""``path``: how one element was derived from another, as one shortest path (``cypher/path.cypher``).

One round trip: the template anchors on both elements and returns the path's nodes and
relationships as maps, decoded here directly; only when it returns no row is the graph asked which
element is missing.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from lineagegraph import templates
from lineagegraph.errors import NotFoundError, QueryError
from lineagegraph.queries.records import node_from, rel_from
from lineagegraph.queries.runner import TemplateRunner
from lineagegraph.subgraph import GraphNode, GraphRelationship, Subgraph

__all__ = ["LineagePath", "path"]


class LineagePath(BaseModel):
    """The shortest lineage path from ``a`` back to ``b``; empty if ``a`` is not derived from it."""

    a: str
    b: str
    nodes: list[GraphNode] = Field(default_factory=list)
    relationships: list[GraphRelationship] = Field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.nodes)

    def to_subgraph(self) -> Subgraph:
        return Subgraph(nodes=self.nodes, relationships=self.relationships, focus=[self.a, self.b])

    def __str__(self) -> str:
        return self.text()

    def text(self) -> str:
        if not self.found:
            return f"{self.a} was not derived from {self.b}"
        parts = [self.nodes[0].display_name]
        for rel, node in zip(self.relationships, self.nodes[1:], strict=True):
            parts.append(f"-[{rel.type}]-> {node.display_name}")
        return " ".join(parts)


def path(runner: TemplateRunner, a: str, b: str, depth: int) -> LineagePath:
    """How ``a`` was derived from ``b``: one shortest lineage path, or ``found == False``."""
    templates.validate_bound("depth", depth)
    if a == b:
        runner.store.require_ids(a, b)  # a missing element is reported before the misuse
        raise QueryError("path needs two different elements")
    records = runner.run_named_raw("path", a=a, b=b, depth=depth)
    if not records:
        runner.store.require_ids(a, b)
        raise NotFoundError(f"not in the graph: {a!r} or {b!r}")  # pragma: no cover - created since
    nodes, rels = records[0]["nodes"], records[0]["relationships"]
    if nodes is None:
        return LineagePath(a=a, b=b)
    return LineagePath(a=a, b=b, nodes=[node_from(n) for n in nodes], relationships=[rel_from(r) for r in rels])
