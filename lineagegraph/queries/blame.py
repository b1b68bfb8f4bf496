"""``blame``: what flagged outputs share upstream, most likely culprit first (``cypher/blame.cypher``).

The template returns elements and agents as maps; they are decoded here directly (all elements in
one validation), with the cycle collector paused.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from lineagegraph import templates
from lineagegraph.errors import QueryError
from lineagegraph.model import ElementKind
from lineagegraph.process import paused_gc
from lineagegraph.queries.args import kinds_param, limit_param
from lineagegraph.queries.records import node_from, nodes_from
from lineagegraph.queries.runner import TemplateRunner
from lineagegraph.subgraph import GraphNode, dataframe

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas  # type: ignore[import-untyped,unused-ignore]

__all__ = ["BlameReport", "Suspect", "blame"]


class Suspect(BaseModel):
    """An upstream element shared by flagged outputs: how many reach it, and which."""

    element: GraphNode
    hits: int
    share: float
    reached_from: list[str] = Field(default_factory=list)
    agents: list[GraphNode] = Field(default_factory=list)


class BlameReport(BaseModel):
    """Upstream elements ranked by how many of the ``flagged`` outputs reach them."""

    flagged: list[str]
    suspects: list[Suspect] = Field(default_factory=list)

    def to_pandas(self) -> pandas.DataFrame:
        return dataframe(
            [
                {
                    "rank": i + 1,
                    "id": s.element.id,
                    "kind": s.element.kind.value if s.element.kind else None,
                    "label": s.element.display_name,
                    "hits": s.hits,
                    "share": s.share,
                    "reached_from": s.reached_from,
                    "agents": [a.display_name for a in s.agents],
                }
                for i, s in enumerate(self.suspects)
            ],
            columns=["rank", "id", "kind", "label", "hits", "share", "reached_from", "agents"],
        )


def blame(
    runner: TemplateRunner,
    ids: Iterable[str],
    *,
    depth: int,
    kinds: Iterable[str | ElementKind] | None,
    min_hits: int | None,
    limit: int | None,
) -> BlameReport:
    """Rank what the flagged outputs ``ids`` share upstream, most likely culprit first."""
    flagged = list(dict.fromkeys(ids))
    if not flagged:
        raise QueryError("blame needs at least one id")
    templates.validate_bound("depth", depth)
    runner.store.require_ids(*flagged)
    with paused_gc():  # many small objects, none cyclic: see lineagegraph.process.paused_gc
        rows = runner.run_named_raw(
            "blame",
            ids=flagged,
            depth=depth,
            kinds=kinds_param(kinds),
            min_hits=limit_param(min_hits),
            limit=limit_param(limit),
        )
        elements = nodes_from(r["element"] for r in rows)
        return BlameReport(
            flagged=flagged,
            suspects=[
                Suspect(
                    element=element,
                    hits=r["hits"],
                    share=r["hits"] / len(flagged),
                    reached_from=sorted(r["reached_from"]),
                    agents=[node_from(g) for g in r["agents"]],
                )
                for element, r in zip(elements, rows, strict=True)
            ],
        )
