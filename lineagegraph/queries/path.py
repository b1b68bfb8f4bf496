"""``path``: how one element was derived from another, as one shortest path (``cypher/path.cypher``)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from lineagegraph import templates
from lineagegraph.errors import QueryError
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
    runner.store.require_ids(a, b)
    if a == b:
        raise QueryError("path needs two different elements")
    found = runner.run_named("path", a=a, b=b, depth=depth)[0]["path"]
    if found is None:
        return LineagePath(a=a, b=b)
    return LineagePath(
        a=a,
        b=b,
        nodes=[node_from(n) for n in found["nodes"]],
        relationships=[rel_from(r) for r in found["relationships"]],
    )
