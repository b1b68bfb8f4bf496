"""``search``: find elements by text, id prefix, kind, PROV type and time (``cypher/search.cypher``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from lineagegraph.model import ElementKind
from lineagegraph.queries.args import kinds_param, limit_param, time_param
from lineagegraph.queries.records import node_from
from lineagegraph.queries.runner import TemplateRunner
from lineagegraph.subgraph import GraphNode, Subgraph

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas  # type: ignore[import-untyped,unused-ignore]

__all__ = ["SearchResults", "search"]


class SearchResults(BaseModel):
    """Elements found by :meth:`LineageGraph.search`, best match first."""

    nodes: list[GraphNode] = Field(default_factory=list)

    def to_pandas(self) -> pandas.DataFrame:
        return Subgraph(nodes=self.nodes).to_pandas()


def search(
    runner: TemplateRunner,
    text: str | None,
    *,
    id_prefix: str | None,
    kinds: Iterable[str | ElementKind] | None,
    prov_type: str | None,
    since: datetime | str | None,
    until: datetime | str | None,
    limit: int | None,
) -> SearchResults:
    """Find elements by label/id text, id prefix, kind, PROV type and time window."""
    rows = runner.run_named(
        "search",
        text=text or None,
        id_prefix=id_prefix or None,
        kinds=kinds_param(kinds),
        prov_type=prov_type,
        since=time_param("since", since),
        until=time_param("until", until),
        limit=limit_param(limit),
    )
    return SearchResults(nodes=[node_from(r["node"]) for r in rows])
