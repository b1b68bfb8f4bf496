"""Reviewing captured runs: staleness (as mltrace reports it) and flags on bad outputs.

* :func:`staleness`: a run is *stale* when an input it used was produced by a function or
  component that has run again since (a newer version of that input exists), or when the run is
  older than ``max_age`` (30 days unless told). The graph logic is the core's
  (:mod:`lineagegraph.queries.staleness`, also behind ``bt``); this module adds served-output ids.
* :func:`flag` / :func:`unflag`: set or clear ``flagged`` on an output Entity;
  :func:`flagged` lists the flagged ids, which is what ``LineageGraph.blame`` ranks.

Flags are written through :meth:`GraphStore.import_elements` like any import (importer ``flag``),
so every flag is an auditable import run.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from lineagegraph.capture.records import output_node_id
from lineagegraph.errors import NotFoundError, QueryError
from lineagegraph.model import Entity
from lineagegraph.queries.staleness import StaleInput, Staleness
from lineagegraph.queries.staleness import staleness as core_staleness
from lineagegraph.store import GraphStore

__all__ = ["StaleInput", "Staleness", "flag", "flagged", "resolve_id", "staleness", "unflag"]

DEFAULT_MAX_AGE = timedelta(days=30)

_KIND = "MATCH (n:Element {id: $id}) RETURN labels(n) AS labels"


def resolve_id(store: GraphStore, given: str) -> str:
    """``given`` if it is in the graph, else the served output it names (``log_output`` ids)."""
    if store.read("MATCH (n:Element {id: $id}) RETURN n.id AS id", id=given):
        return given
    served = output_node_id(given)
    if store.read("MATCH (n:Element {id: $id}) RETURN n.id AS id", id=served):
        return served
    raise NotFoundError(f"not in the graph: {given!r}")


def staleness(store: GraphStore, id: str, *, max_age: timedelta = DEFAULT_MAX_AGE,
              now: datetime | None = None) -> Staleness:
    """Staleness of the run ``id`` (or of the newest run that generated the entity ``id``).

    ``id`` may also be a served output's id (``log_output``); the graph logic is the core's
    :func:`lineagegraph.queries.staleness.staleness`, which ``bt`` uses too.
    """
    return core_staleness(store, resolve_id(store, id), max_age=max_age, now=now)


def _set_flag(store: GraphStore, id: str, value: bool, reason: str | None) -> str:
    node = resolve_id(store, id)
    if "Entity" not in store.read(_KIND, id=node)[0]["labels"]:
        raise QueryError(f"{id!r} is not an output (an Entity); flags mark outputs")
    attributes: dict[str, Any] = {"flagged": value, "flag_reason": reason or ("" if not value else "flagged"),
                                  "flag_changed_at": datetime.now(UTC)}
    store.import_elements("flag", "lineagegraph flag", [Entity(id=node, attributes=attributes)], [])
    return node


def flag(store: GraphStore, id: str, reason: str | None = None) -> str:
    """Mark the output ``id`` as bad (``flagged = true``); returns the graph id flagged."""
    return _set_flag(store, id, True, reason)


def unflag(store: GraphStore, id: str) -> str:
    """Clear the flag on the output ``id``; returns the graph id."""
    return _set_flag(store, id, False, None)


def flagged(store: GraphStore, limit: int = 1000) -> list[str]:
    """Ids of the flagged outputs (for ``blame``)."""
    rows = store.read("MATCH (e:Entity) WHERE e.flagged = true RETURN e.id AS id ORDER BY id LIMIT $limit",
                      limit=limit)
    return [r["id"] for r in rows]
