"""Driver records -> plain Python and the shared result shapes (:class:`GraphNode`, :class:`Subgraph`).

Every query module turns template rows into results with these helpers; they are the only place
that knows how the Neo4j driver represents nodes, relationships and paths.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import chain
from typing import Any

from neo4j.graph import Node, Path, Relationship
from pydantic import TypeAdapter

from lineagegraph.subgraph import IMPORT_BOOKKEEPING, GraphNode, GraphRelationship, Subgraph

__all__ = ["collect_ids", "native", "node_from", "nodes_from", "rel_from", "subgraph_from"]


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


# Property values of these types come from the driver as they are; only temporal and spatial values
# need converting. Stored lists are homogeneous in Neo4j, so their first item tells for all of them.
# Checking exact types keeps decoding a large subgraph from costing a recursive call per value.
_PLAIN: frozenset[type] = frozenset({str, int, float, bool, type(None)})


def _properties(props: Mapping[str, Any], skip: str = "") -> dict[str, Any]:
    out = {k: v for k, v in props.items() if k not in IMPORT_BOOKKEEPING}
    out.pop(skip, None)
    return _plain(out)


def _plain(out: dict[str, Any]) -> dict[str, Any]:
    for key, value in out.items():
        kind = type(value)
        if kind in _PLAIN or (kind is list and (not value or type(value[0]) in _PLAIN)):
            continue
        out[key] = native(value, {})  # replaces a value, not a key: safe while iterating
    return out


def node_from(data: Mapping[str, Any]) -> GraphNode:
    """A :class:`GraphNode` from a node dict ``{id, labels, properties}``.

    The dict is what :func:`native` makes of a node, or the same map returned by a template; the
    ``id`` property becomes the node id and labels are sorted either way.
    """
    return GraphNode(
        id=str(data["id"]), labels=sorted(data["labels"]), properties=_properties(data["properties"], "id")
    )


# Validates a whole list of node dicts in one call (see subgraph_from for why that matters).
_NODE_LIST: TypeAdapter[list[GraphNode]] = TypeAdapter(list[GraphNode])


def nodes_from(nodes: Iterable[Mapping[str, Any]]) -> list[GraphNode]:
    """:class:`GraphNode` objects from node maps, as :func:`node_from` makes them, in one validation.

    For the templates that return many node maps (``{id, labels, properties}``, other keys ignored)
    straight from the driver: the list is validated in Rust in one pydantic call.
    """
    return _NODE_LIST.validate_python(
        [
            {"id": str(d["id"]), "labels": sorted(d["labels"]), "properties": _properties(d["properties"], "id")}
            for d in nodes
        ]
    )


def rel_from(data: Mapping[str, Any]) -> GraphRelationship:
    """A :class:`GraphRelationship` from a relationship dict ``{type, start, end, properties}``."""
    return GraphRelationship(
        start=str(data["start"]),
        end=str(data["end"]),
        type=data["type"],
        properties=_properties(data["properties"]),
    )


def subgraph_from(nodes: Sequence[Sequence[Any]], rels: Sequence[Sequence[Any]], focus: list[str]) -> Subgraph:
    """A :class:`Subgraph` from the compact rows of the lineage templates.

    ``nodes`` are ``[id, labels, [[key, value], ...]]`` and ``rels`` ``[type, start id, end id,
    [[key, value], ...]]`` as ``cypher/ancestors.cypher`` returns them. The templates list each
    node and relationship once (distinct nodes; relationships matched once from each start).
    """
    # Plain dicts validated in one call: pydantic builds the thousands of models of a large lineage
    # in Rust, several times faster than one GraphNode(...) call per node. This is most of what the
    # API adds to the query's own time, hence comprehensions, and one type test over every value
    # at once (it runs in C; most lineages hold no temporal or spatial value to convert).
    node_props = [dict(pairs) for _, _, pairs in nodes]
    rel_props = [dict(pairs) for _, _, _, pairs in rels]
    for props in (node_props, rel_props):
        if not _PLAIN.issuperset(map(type, chain.from_iterable(map(dict.values, props)))):
            props[:] = [_plain(p) for p in props]
    node_rows = [{"id": node[0], "labels": sorted(node[1]), "properties": p}
                 for node, p in zip(nodes, node_props, strict=True)]
    rel_rows = [{"type": rel[0], "start": rel[1], "end": rel[2], "properties": p}
                for rel, p in zip(rels, rel_props, strict=True)]
    return Subgraph.model_validate({"nodes": node_rows, "relationships": rel_rows, "focus": focus})
