"""Driver records -> plain Python and the shared result shapes (:class:`GraphNode`, :class:`Subgraph`).

Every query module turns template rows into results with these helpers; they are the only place
that knows how the Neo4j driver represents nodes, relationships and paths.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from neo4j.graph import Node, Path, Relationship

from lineagegraph.subgraph import GraphNode, GraphRelationship, Subgraph

__all__ = ["collect_ids", "native", "node_from", "rel_from", "subgraph_from"]


def native(value: Any, ids: Mapping[str, str]) -> Any:
    """Driver values -> plain Python: nodes, relationships and paths become dicts."""
    if isinstance(value, Node):
        return {
            "id": value.get("id"),
            "labels": sorted(value.labels),
            "properties": {k: native(v, ids) for k, v in value.items()},
        }
    if isinstance(value, Relationship):
        start, end = value.start_node, value.end_node
        return {
            "type": value.type,
            "start": ids.get(start.element_id) if start is not None else None,
            "end": ids.get(end.element_id) if end is not None else None,
            "properties": {k: native(v, ids) for k, v in value.items()},
        }
    if isinstance(value, Path):
        return {
            "nodes": [native(n, ids) for n in value.nodes],
            "relationships": [native(r, ids) for r in value.relationships],
        }
    if isinstance(value, list | tuple):
        return [native(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: native(v, ids) for k, v in value.items()}
    to_native = getattr(value, "to_native", None)
    if callable(to_native):  # neo4j.time values
        return to_native()
    return value


def collect_ids(value: Any, ids: dict[str, str]) -> None:
    """Record the graph id of every node in ``value`` under its driver element id."""
    if isinstance(value, Node):
        ids[value.element_id] = str(value.get("id"))
    elif isinstance(value, Relationship):
        for node in (value.start_node, value.end_node):
            if node is not None and node.get("id") is not None:
                ids[node.element_id] = str(node.get("id"))
    elif isinstance(value, Path):
        for node in value.nodes:
            collect_ids(node, ids)
    elif isinstance(value, list | tuple):
        for v in value:
            collect_ids(v, ids)
    elif isinstance(value, dict):
        for v in value.values():
            collect_ids(v, ids)


def node_from(data: Mapping[str, Any]) -> GraphNode:
    """A :class:`GraphNode` from a converted node dict (the ``id`` property becomes the node id)."""
    props = {k: v for k, v in data["properties"].items() if k != "id"}
    return GraphNode(id=str(data["id"]), labels=list(data["labels"]), properties=props)


def rel_from(data: Mapping[str, Any]) -> GraphRelationship:
    """A :class:`GraphRelationship` from a converted relationship dict."""
    return GraphRelationship(
        start=str(data["start"]),
        end=str(data["end"]),
        type=data["type"],
        properties=dict(data["properties"]),
    )


def subgraph_from(
    nodes: Iterable[Mapping[str, Any]], rels: Iterable[Mapping[str, Any]], focus: list[str]
) -> Subgraph:
    """A :class:`Subgraph` with duplicate nodes and relationships (same ends, type and key) dropped."""
    seen: dict[str, GraphNode] = {}
    for data in nodes:
        seen.setdefault(str(data["id"]), node_from(data))
    unique: dict[tuple[str, str, str, str], GraphRelationship] = {}
    for data in rels:
        rel = rel_from(data)
        unique.setdefault((rel.start, rel.type, rel.end, str(rel.properties.get("key", ""))), rel)
    return Subgraph(nodes=list(seen.values()), relationships=list(unique.values()), focus=focus)
