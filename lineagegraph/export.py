"""Export part of the lineage graph as a W3C PROV document.

Three ways to choose what goes out — the lineage around one root (the query library's
``LineageGraph.lineage``), everything one import run wrote, or the whole graph — each giving a
:class:`~lineagegraph.subgraph.Subgraph`, which :func:`export_prov` serialises in any format in
:data:`~lineagegraph.provcodec.EXPORT_FORMATS`::

    from lineagegraph.export import export_prov, select_import_run
    text = export_prov(select_import_run(store, "run-..."), "json")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prov.model import ProvDocument

from lineagegraph.errors import NotFoundError, QueryError
from lineagegraph.provcodec import EXPORT_FORMATS, serialize_document, subgraph_to_document
from lineagegraph.store import GraphStore
from lineagegraph.subgraph import GraphNode, GraphRelationship, Subgraph

__all__ = ["export_prov", "select_all", "select_import_run", "select_lineage", "to_prov_document"]

# What a run touched, read from its ImportBatch records (time grows with the run, not the graph;
# and an element shared by more sources than its lists name is still found). Runs recorded before
# batches existed are found by scanning their run id in the lists. `seq IS NOT NULL` lets Neo4j
# seek the (run, seq) index: with a predicate on `run` alone it scans every batch.
_RUN_NODES = """
MATCH (b:ImportBatch) WHERE b.run IN $runs AND b.seq IS NOT NULL
UNWIND b.node_ids + b.rel_starts + b.rel_ends AS id
WITH DISTINCT id
MATCH (n:Element {id: id})
RETURN n.id AS id, labels(n) AS labels, properties(n) AS props
"""
_RUN_RELATIONSHIPS = """
MATCH (b:ImportBatch) WHERE b.run IN $runs AND b.seq IS NOT NULL
UNWIND range(0, size(b.rel_types) - 1) AS i
WITH DISTINCT b.rel_starts[i] AS start, b.rel_types[i] AS type, b.rel_keys[i] AS key, b.rel_ends[i] AS end
MATCH (a:Element {id: start})-[r {key: key}]->(c:Element {id: end}) WHERE type(r) = type
RETURN a.id AS start, type(r) AS type, c.id AS end, properties(r) AS props
"""
_RUN_NODES_UNBATCHED = """
MATCH (n:Element) WHERE any(run IN $runs WHERE run IN n.import_runs)
RETURN n.id AS id, labels(n) AS labels, properties(n) AS props
"""
_RUN_RELATIONSHIPS_UNBATCHED = """
MATCH (a:Element)-[r]->(b:Element) WHERE any(run IN $runs WHERE run IN r.import_runs)
RETURN a.id AS start, type(r) AS type, b.id AS end, properties(r) AS props
"""
_ALL_NODES = "MATCH (n:Element) RETURN n.id AS id, labels(n) AS labels, properties(n) AS props"
_ALL_RELATIONSHIPS = """
MATCH (a:Element)-[r]->(b:Element)
RETURN a.id AS start, type(r) AS type, b.id AS end, properties(r) AS props
"""


def _subgraph(nodes: list[dict[str, Any]], relationships: list[dict[str, Any]]) -> Subgraph:
    return Subgraph(
        nodes=[GraphNode(id=row["id"], labels=row["labels"], properties=row["props"])
               for row in nodes],
        relationships=[GraphRelationship(start=row["start"], end=row["end"], type=row["type"],
                                         properties=row["props"]) for row in relationships],
    )


def select_import_run(store: GraphStore, run_id: str) -> Subgraph:
    """Every node and relationship the import run ``run_id`` wrote or touched.

    A ``skipped`` run (its file was unchanged) asserts what the runs it repeats wrote: those.
    """
    found = store.read("MATCH (r:ImportRun {id: $id}) RETURN r.batched AS batched, r.same_as AS same_as",
                       id=run_id)
    if not found:
        raise NotFoundError(f"no import run with id {run_id!r} (see 'lineagegraph imports list')")
    runs = found[0]["same_as"] or [run_id]
    nodes, relationships = ((_RUN_NODES, _RUN_RELATIONSHIPS) if found[0]["batched"]
                            else (_RUN_NODES_UNBATCHED, _RUN_RELATIONSHIPS_UNBATCHED))
    return _subgraph(store.read(nodes, runs=runs), store.read(relationships, runs=runs))


def select_all(store: GraphStore) -> Subgraph:
    """The whole lineage graph (import-run bookkeeping excluded)."""
    return _subgraph(store.read(_ALL_NODES), store.read(_ALL_RELATIONSHIPS))


def select_lineage(store: GraphStore, root: str, *, direction: str = "both",
                   depth: int = 10) -> Subgraph:
    """The lineage around ``root``, as the query library computes it."""
    if direction not in ("up", "down", "both"):
        raise QueryError(f"direction must be up, down or both, not {direction!r}")
    import importlib

    # The query library is a sibling module; imported late so that export works without it.
    queries: Any = importlib.import_module("lineagegraph.queries")
    subgraph: Subgraph = queries.LineageGraph(store).lineage(root, direction=direction, depth=depth)
    return subgraph


def to_prov_document(subgraph: Subgraph) -> ProvDocument:
    """The subgraph as a ``prov`` document (records read from PROV are rebuilt exactly)."""
    return subgraph_to_document(subgraph)


def export_prov(subgraph: Subgraph, fmt: str = "provn",
                destination: str | Path | None = None) -> str:
    """Serialise ``subgraph`` as PROV in ``fmt``; also write it to ``destination`` when given."""
    if fmt not in EXPORT_FORMATS:
        raise QueryError(f"unknown PROV format {fmt!r}; choose from {', '.join(EXPORT_FORMATS)}")
    text = serialize_document(to_prov_document(subgraph), fmt)
    if destination is not None:
        Path(destination).write_text(text, encoding="utf-8")
    return text
