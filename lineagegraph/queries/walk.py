"""Lineage subgraphs: ancestors, descendants, and both joined (``cypher/ancestors|descendants|subgraph``).

Which relationships a walk follows and which it only attaches as context is documented in
``docs/queries.md``; the two tuples below are the same lists the templates spell out.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from lineagegraph import templates
from lineagegraph.errors import NotFoundError
from lineagegraph.model import ElementKind, RelationType
from lineagegraph.process import paused_gc
from lineagegraph.queries.args import kinds_param, limit_param, time_param
from lineagegraph.queries.records import subgraph_from
from lineagegraph.queries.runner import TemplateRunner
from lineagegraph.subgraph import Subgraph

__all__ = ["CONTEXT_RELATIONS", "LINEAGE_RELATIONS", "Direction", "both_ways", "joined_lineage", "walk"]

# Walked by ancestors (outgoing) and descendants (incoming). Every one of them connects entities
# and activities only, so a walk never passes through an agent.
LINEAGE_RELATIONS: tuple[RelationType, ...] = (
    RelationType.USED,
    RelationType.WAS_GENERATED_BY,
    RelationType.WAS_DERIVED_FROM,
    RelationType.WAS_INFORMED_BY,
    RelationType.WAS_STARTED_BY,
    RelationType.WAS_ENDED_BY,
    RelationType.HAD_MEMBER,
)
# Attached one hop away from walked nodes, never walked through: an agent or a location shared by
# everything must not make everything related.
CONTEXT_RELATIONS: tuple[RelationType, ...] = (
    RelationType.WAS_ASSOCIATED_WITH,
    RelationType.WAS_ATTRIBUTED_TO,
    RelationType.ACTED_ON_BEHALF_OF,
    RelationType.SPECIALIZATION_OF,
    RelationType.ALTERNATE_OF,
    RelationType.WAS_INFLUENCED_BY,
)

# "up" (ancestors), "down" (descendants) or "both"; a plain str so callers can pass enum values.
Direction = str


def walk(
    runner: TemplateRunner,
    name: str,
    id: str,
    depth: int,
    kinds: Iterable[str | ElementKind] | None,
    prov_type: str | None,
    text: str | None,
    since: datetime | str | None,
    until: datetime | str | None,
    as_of: datetime | str | None,
    limit: int | None,
) -> Subgraph:
    """Run the walk template ``name`` (ancestors or descendants) from ``id`` with its filters."""
    templates.validate_bound("depth", depth)
    with paused_gc():
        records = runner.run_named_raw(
            name,
            id=id,
            depth=depth,
            kinds=kinds_param(kinds),
            prov_type=prov_type,
            text=text,
            since=time_param("since", since),
            until=time_param("until", until),
            as_of=time_param("as_of", as_of),
            limit=limit_param(limit),
        )
        if records:
            # The templates return plain maps (see their last lines), decoded here without `native`.
            return subgraph_from(records[0]["nodes"], records[0]["relationships"], [id])
    # The template anchors on the element, so no row means no element: say which.
    runner.store.require_ids(id)
    raise NotFoundError(f"not in the graph: {id!r}")  # pragma: no cover - created since


def both_ways(runner: TemplateRunner, id: str, depth: int, as_of: datetime | str | None) -> Subgraph:
    """Ancestors and descendants of ``id`` as one subgraph, upstream nodes first, in one query.

    The same subgraph as :func:`joined_lineage` of the two walks (``cypher/lineage.cypher`` holds
    both walks and the relationships between the halves), in one round trip instead of three.
    """
    templates.validate_bound("depth", depth)
    with paused_gc():
        records = runner.run_named_raw("lineage", id=id, depth=depth, as_of=time_param("as_of", as_of))
        if records:
            # Nodes come in their final order (focus, upstream, then new downstream ones).
            return subgraph_from(records[0]["nodes"], records[0]["relationships"], [id])
    runner.store.require_ids(id)
    raise NotFoundError(f"not in the graph: {id!r}")  # pragma: no cover - created since


def joined_lineage(runner: TemplateRunner, id: str, up: Subgraph, down: Subgraph) -> Subgraph:
    """Ancestors and descendants of ``id`` as one subgraph, upstream nodes first."""
    ids = list(dict.fromkeys([n.id for n in up.nodes] + [n.id for n in down.nodes]))
    # Edges between an upstream and a downstream node belong to neither half.
    with paused_gc():
        row = runner.run_named_raw("subgraph", ids=ids)[0]
        joined = subgraph_from(row["nodes"], row["relationships"], [id])
    order = {node_id: i for i, node_id in enumerate(ids)}
    joined.nodes.sort(key=lambda n: order[n.id])
    return joined
