"""Lineage subgraphs: ancestors, descendants, and both joined (``cypher/ancestors|descendants|subgraph``).

Which relationships a walk follows and which it only attaches as context is documented in
``docs/queries.md``; the two tuples below are the same lists the templates spell out.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

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
    found = _decoded(
        runner,
        name,
        id,
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
    if found is not None:
        return found
    # The template anchors on the element, so no row means no element: say which.
    runner.store.require_ids(id)
    raise NotFoundError(f"not in the graph: {id!r}")  # pragma: no cover - created since


def both_ways(runner: TemplateRunner, id: str, depth: int, as_of: datetime | str | None) -> Subgraph:
    """Ancestors and descendants of ``id`` as one subgraph, upstream nodes first, in one query.

    The same subgraph as :func:`joined_lineage` of the two walks (``cypher/lineage.cypher`` holds
    both walks and the relationships between the halves), in one round trip instead of three.
    """
    templates.validate_bound("depth", depth)
    # Nodes come in their final order (focus, upstream, then new downstream ones).
    found = _decoded(runner, "lineage", id, id=id, depth=depth, as_of=time_param("as_of", as_of))
    if found is not None:
        return found
    runner.store.require_ids(id)
    raise NotFoundError(f"not in the graph: {id!r}")  # pragma: no cover - created since


def joined_lineage(runner: TemplateRunner, id: str, up: Subgraph, down: Subgraph) -> Subgraph:
    """Ancestors and descendants of ``id`` as one subgraph, upstream nodes first."""
    ids = list(dict.fromkeys([n.id for n in up.nodes] + [n.id for n in down.nodes]))
    # Edges between an upstream and a downstream node belong to neither half.
    joined = _decoded(runner, "subgraph", id, ids=ids)
    if joined is None:  # pragma: no cover - an aggregate without grouping returns one row
        raise RuntimeError("the subgraph template returned no row")
    order = {node_id: i for i, node_id in enumerate(ids)}
    joined.nodes.sort(key=lambda n: order[n.id])
    return joined


def _decoded(runner: TemplateRunner, name: str, focus: str, **params: Any) -> Subgraph | None:
    """The one row of a lineage template (compact lists, see its last lines) as a Subgraph, or None.

    The cycle collector is paused meanwhile (see :func:`paused_gc`), and the driver's rows are let
    go before it resumes, so that its first pass after the pause scans the subgraph alone (collector
    time per call on 1.2k-node lineages of the 1M-node benchmark graph: mean 2.1 -> 0.7 ms).
    """
    with paused_gc():
        records = runner.run_named_raw(name, **params)
        if not records:
            return None
        nodes, rels = records[0]["nodes"], records[0]["relationships"]
        del records
        subgraph = subgraph_from(nodes, rels, [focus])
        del nodes, rels
    return subgraph
