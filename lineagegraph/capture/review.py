"""Reviewing captured runs: staleness (as mltrace reports it) and flags on bad outputs.

* :func:`staleness`: a run is *stale* when an input it used was produced by a function or
  component that has run again since (a newer version of that input exists), or when the run is
  older than ``max_age``.
* :func:`flag` / :func:`unflag`: set or clear ``flagged`` on an output Entity;
  :func:`flagged` lists the flagged ids, which is what ``LineageGraph.blame`` ranks.

Flags are written through :meth:`GraphStore.import_elements` like any import (importer ``flag``),
so every flag is an auditable import run.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from lineagegraph.capture.records import output_node_id
from lineagegraph.errors import NotFoundError, QueryError
from lineagegraph.model import Entity
from lineagegraph.store import GraphStore

__all__ = ["StaleInput", "Staleness", "flag", "flagged", "resolve_id", "staleness", "unflag"]

DEFAULT_MAX_AGE = timedelta(days=30)

_KIND = "MATCH (n:Element {id: $id}) RETURN labels(n) AS labels"

_PRODUCERS = """
MATCH (r:Activity {id: $id})
MATCH (r)-[:USED]->(e:Entity)-[:WAS_GENERATED_BY]->(p:Activity)-[:WAS_ASSOCIATED_WITH]->(g:Agent)
WHERE g.agent_type IN ['function', 'component']
OPTIONAL MATCH (g)<-[:WAS_ASSOCIATED_WITH]-(newer:Activity)
WHERE newer <> p AND newer <> r AND newer.started_at > p.started_at
WITH e, p, g, newer ORDER BY newer.started_at DESC
RETURN e.id AS input, e.label AS input_label, p.id AS producer, p.started_at AS produced_at,
       g.label AS producer_name, count(newer) AS newer_runs, collect(newer.id)[0] AS newest
ORDER BY input
"""


class StaleInput(BaseModel):
    """An input whose producer has run again since it made the version this run used."""

    input: str
    input_label: str | None = None
    producer: str
    producer_name: str | None = None
    newer_runs: int
    newest: str | None = None


class Staleness(BaseModel):
    """Whether a run is stale, and why."""

    activity_id: str
    started_at: datetime | None = None
    age: timedelta | None = None
    max_age: timedelta
    too_old: bool = False
    stale_inputs: list[StaleInput] = Field(default_factory=list)

    @property
    def stale(self) -> bool:
        return self.too_old or bool(self.stale_inputs)

    def reasons(self) -> list[str]:
        out = []
        if self.too_old and self.age is not None:
            out.append(f"ran {self.age.days} day(s) ago, more than the {self.max_age.days} allowed")
        for item in self.stale_inputs:
            out.append(f"input {item.input_label or item.input} was made by {item.producer_name or item.producer}, "
                       f"which has run {item.newer_runs} more time(s) since (newest: {item.newest})")
        return out

    def text(self) -> str:
        if not self.stale:
            return f"{self.activity_id}: up to date"
        return f"{self.activity_id}: STALE\n" + "\n".join("    " + r for r in self.reasons())


def _native_time(value: Any) -> datetime | None:
    if value is None:
        return None
    if hasattr(value, "to_native"):
        value = value.to_native()
    return value if isinstance(value, datetime) else None


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
    """Staleness of the run ``id`` (or of the newest run that generated the entity ``id``)."""
    node = resolve_id(store, id)
    labels = store.read(_KIND, id=node)[0]["labels"]
    if "Activity" not in labels:
        rows = store.read("MATCH (:Element {id: $id})-[:WAS_GENERATED_BY]->(a:Activity) "
                          "RETURN a.id AS id ORDER BY a.started_at DESC LIMIT 1", id=node)
        if not rows:
            raise QueryError(f"{id!r} is neither a run nor something a run generated")
        node = rows[0]["id"]
    started = _native_time(store.read("MATCH (a:Activity {id: $id}) RETURN a.started_at AS t", id=node)[0]["t"])
    now = now or datetime.now(UTC)
    age = now - started if started else None
    result = Staleness(activity_id=node, started_at=started, age=age, max_age=max_age,
                       too_old=bool(age is not None and age > max_age))
    for row in store.read(_PRODUCERS, id=node):
        if row["newer_runs"]:
            result.stale_inputs.append(StaleInput(
                input=row["input"], input_label=row["input_label"], producer=row["producer"],
                producer_name=row["producer_name"], newer_runs=row["newer_runs"], newest=row["newest"]))
    return result


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
