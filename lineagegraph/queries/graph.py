""":class:`LineageGraph`, the query API's facade: one method per question, each a thin call.

Every method hands its arguments to the module that answers that question (``walk``, ``diff``,
``backtrace``, ``recipe``, ``path``, ``blame``, ``search``); template running is inherited from
:class:`~lineagegraph.queries.runner.TemplateRunner`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from lineagegraph import templates
from lineagegraph.errors import QueryError
from lineagegraph.model import ElementKind
from lineagegraph.queries import backtrace as _backtrace
from lineagegraph.queries import blame as _blame
from lineagegraph.queries import diff as _diff
from lineagegraph.queries import path as _path
from lineagegraph.queries import recipe as _recipe
from lineagegraph.queries import search as _search
from lineagegraph.queries.runner import TemplateRunner
from lineagegraph.queries.walk import Direction, both_ways, walk
from lineagegraph.settings import Settings
from lineagegraph.store import GraphStore
from lineagegraph.subgraph import Subgraph

__all__ = ["LineageGraph"]


class LineageGraph(TemplateRunner):
    """Lineage queries over one graph store.

    ``LineageGraph(store)`` wraps a store you manage; ``LineageGraph.connect()`` opens one from
    the settings and closes it with the ``LineageGraph`` (use it as a context manager).
    """

    def __init__(self, store: GraphStore, *, owns_store: bool = False):
        super().__init__(store)
        self._owns_store = owns_store

    @classmethod
    def connect(cls, settings: Settings | None = None) -> LineageGraph:
        return cls(GraphStore.connect(settings), owns_store=True)

    def close(self) -> None:
        if self._owns_store:
            self.store.close()

    def __enter__(self) -> LineageGraph:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- lineage subgraphs -------------------------------------------------------------------
    def ancestors(
        self,
        id: str,
        *,
        depth: int = templates.DEFAULT_DEPTH,
        kinds: Iterable[str | ElementKind] | None = None,
        prov_type: str | None = None,
        text: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        as_of: datetime | str | None = None,
        limit: int | None = None,
    ) -> Subgraph:
        """Everything ``id`` was derived from, within ``depth`` hops, with agents as context."""
        return walk(self, "ancestors", id, depth, kinds, prov_type, text, since, until, as_of, limit)

    def descendants(
        self,
        id: str,
        *,
        depth: int = templates.DEFAULT_DEPTH,
        kinds: Iterable[str | ElementKind] | None = None,
        prov_type: str | None = None,
        text: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        as_of: datetime | str | None = None,
        limit: int | None = None,
    ) -> Subgraph:
        """Everything derived from ``id``, within ``depth`` hops, with agents as context."""
        return walk(self, "descendants", id, depth, kinds, prov_type, text, since, until, as_of, limit)

    def as_of(
        self,
        id: str,
        when: datetime | str,
        *,
        direction: Direction = "up",
        depth: int = templates.DEFAULT_DEPTH,
    ) -> Subgraph:
        """The lineage of ``id`` as the graph knew it at ``when`` (see docs/queries.md)."""
        return self.lineage(id, direction=direction, depth=depth, as_of=when)

    def lineage(
        self,
        id: str,
        *,
        direction: Direction = "up",
        depth: int = templates.DEFAULT_DEPTH,
        as_of: datetime | str | None = None,
    ) -> Subgraph:
        """Ancestors ("up"), descendants ("down") or both of ``id`` as one subgraph."""
        if direction == "up":
            return self.ancestors(id, depth=depth, as_of=as_of)
        if direction == "down":
            return self.descendants(id, depth=depth, as_of=as_of)
        if direction != "both":
            raise QueryError(f"direction must be 'up', 'down' or 'both', not {direction!r}")
        return both_ways(self, id, depth, as_of)

    # -- comparing and explaining ------------------------------------------------------------
    def diff(self, a: str, b: str, *, depth: int = templates.DEFAULT_DEPTH) -> _diff.LineageDiff:
        """Compare the upstream lineage of ``a`` and ``b``: inputs, activities, versions."""
        return _diff.diff(self, a, b, depth)

    def backtrace(
        self,
        id: str,
        *,
        depth: int = templates.DEFAULT_DEPTH,
        max_age: timedelta | None = None,
        order: _backtrace.BacktraceOrder = "newest",
    ) -> _backtrace.Backtrace:
        """The activities that produced ``id``, newest first, like a debugger's backtrace.

        Frames whose run is stale say why in ``stale`` (``max_age``: runs older than that too).
        ``order="depth-first"`` lists them as a tree walk, in the order their source recorded
        them, repeating a run for every path to it (as mltrace's ``trace`` does).
        """
        return _backtrace.backtrace(self, id, depth, max_age, order)

    def recipe(self, id: str, *, depth: int = templates.DEFAULT_DEPTH) -> _recipe.Recipe:
        """Everything needed to re-run the processing that produced ``id``, oldest step first."""
        return _recipe.recipe(self, id, depth)

    def path(self, a: str, b: str, *, depth: int = templates.DEFAULT_DEPTH) -> _path.LineagePath:
        """How ``a`` was derived from ``b``: one shortest lineage path, or ``found == False``."""
        return _path.path(self, a, b, depth)

    def blame(
        self,
        ids: Iterable[str],
        *,
        depth: int = templates.DEFAULT_DEPTH,
        kinds: Iterable[str | ElementKind] | None = None,
        min_hits: int | None = None,
        limit: int | None = None,
    ) -> _blame.BlameReport:
        """Rank what the flagged outputs ``ids`` share upstream, most likely culprit first."""
        return _blame.blame(self, ids, depth=depth, kinds=kinds, min_hits=min_hits, limit=limit)

    def search(
        self,
        text: str | None = None,
        *,
        id_prefix: str | None = None,
        kinds: Iterable[str | ElementKind] | None = None,
        prov_type: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        limit: int | None = 100,
    ) -> _search.SearchResults:
        """Find elements by label/id text, id prefix, kind, PROV type and time window."""
        return _search.search(self, text, id_prefix=id_prefix, kinds=kinds, prov_type=prov_type,
                              since=since, until=until, limit=limit)
