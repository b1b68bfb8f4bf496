"""Small builders of query results (Subgraph nodes and relationships) for tests that need no graph."""

from __future__ import annotations

from lineagegraph.subgraph import GraphNode, GraphRelationship


def node(node_id: str, kind: str, **props: object) -> GraphNode:
    return GraphNode(id=node_id, labels=["Element", kind], properties=dict(props))


def rel(start: str, rel_type: str, end: str, **props: object) -> GraphRelationship:
    return GraphRelationship(start=start, end=end, type=rel_type, properties=dict(props))
