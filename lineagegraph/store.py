"""The graph store: connection, schema, and the one way imports write (streamed, chunked).

Writes go through :class:`lineagegraph.writer.ChunkedWriter`: ``UNWIND $rows ... MERGE`` batches,
committed a chunk at a time in managed write transactions that the driver retries on transient
errors (two cron jobs colliding). Labels and relationship types are interpolated only from the
enums in :mod:`lineagegraph.model`; every value travels as a parameter. Run bookkeeping (counts,
heartbeats, reconciliation of dead runs, undo) is in :mod:`lineagegraph.runs`.

Each import unit is an ``ImportRun`` node (outside the PROV labels). Every node and relationship
names the run that created it in ``created_by`` and lists, per source that asserts it, the newest
run of that source (aligned lists ``import_sources`` and ``import_runs``), which is what
``imports remove`` undoes. Re-importing an unchanged source rewrites only those run ids; a file
unchanged since its last complete import is not read at all (see
:func:`lineagegraph.runs.skip_if_unchanged`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from itertools import chain
from typing import Any

import neo4j
from neo4j import GraphDatabase

from lineagegraph.errors import ConfigError, InputError, NotFoundError, ServerError
from lineagegraph.model import GraphItem, Relation
from lineagegraph.process import rare_collections
from lineagegraph.runs import (
    ImportSummary,
    InputRead,
    finish_run,
    finish_runs,
    new_run_id,
    reconcile_stale_runs,
    remove_run,
    start_run,
    start_runs,
)
from lineagegraph.settings import Settings
from lineagegraph.writer import Background, ChunkedWriter, ChunkLimits, Counts

__all__ = ["ChunkLimits", "Counts", "GraphStore", "ImportSummary"]

SCHEMA_STATEMENTS: tuple[str, ...] = (
    "CREATE CONSTRAINT element_id IF NOT EXISTS FOR (n:Element) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT import_run_id IF NOT EXISTS FOR (r:ImportRun) REQUIRE r.id IS UNIQUE",
    "CREATE INDEX element_label IF NOT EXISTS FOR (n:Element) ON (n.label)",
    "CREATE INDEX entity_generated_at IF NOT EXISTS FOR (n:Entity) ON (n.generated_at)",
    "CREATE INDEX activity_started_at IF NOT EXISTS FOR (n:Activity) ON (n.started_at)",
    # No query looks nodes up by the run that created them (undo reads ImportBatch records), and
    # the index cost every node creation a write: dropped where an older version made it.
    "DROP INDEX element_created_by IF EXISTS",
    "CREATE INDEX import_batch_run IF NOT EXISTS FOR (b:ImportBatch) ON (b.run, b.seq)",
    "CREATE INDEX import_run_status IF NOT EXISTS FOR (r:ImportRun) ON (r.status)",
    "CREATE INDEX import_run_source IF NOT EXISTS FOR (r:ImportRun) ON (r.source)",
    "CREATE INDEX import_run_input IF NOT EXISTS FOR (r:ImportRun) ON (r.input)",
    "CREATE INDEX import_run_read IF NOT EXISTS FOR (r:ImportRun) ON (r.input_read)",
)

# Lucene-backed indexes for substring and word searches typed in Neo4j Browser. No query of the
# library uses them (the search template tests substrings of lower-cased text, which no index
# serves), and keeping them up to date took about an eighth of the server's CPU during an import:
# made only with the `text_indexes` setting, and dropped without it.
TEXT_INDEXES: dict[str, str] = {
    "element_id_text": "CREATE TEXT INDEX element_id_text IF NOT EXISTS FOR (n:Element) ON (n.id)",
    "element_search": "CREATE FULLTEXT INDEX element_search IF NOT EXISTS FOR (n:Element) ON EACH [n.label, n.id]",
}

@contextmanager
def _write_errors(source: str) -> Iterator[None]:
    """Turn what goes wrong while writing ``source`` into lineagegraph's errors, naming it."""
    try:
        yield
    except InputError as exc:
        if exc.source is None:  # name the input at fault
            raise type(exc)(str(exc), source=source, location=exc.location) from exc
        raise
    except (neo4j.exceptions.ClientError, neo4j.exceptions.DatabaseError) as exc:
        # Neo4j refused the data itself (a value it cannot index, a property too large): that is
        # this input's fault, so the other inputs of the invocation still go ahead.
        raise InputError(f"Neo4j refused the data: {exc.message or exc}", source=source) from exc
    except neo4j.exceptions.DriverError as exc:
        raise ServerError(f"lost the database while writing {source}: {exc}") from exc


class GraphStore:
    """A connection to one Neo4j database holding a lineage graph.

    Use :meth:`connect` to build one from :class:`~lineagegraph.settings.Settings` (starting the
    local server when no ``NEO4J_URI`` is set). Close it, or use it as a context manager.
    """

    def __init__(self, driver: neo4j.Driver, database: str = "neo4j", *, batch_size: int = 5000,
                 chunk_limits: ChunkLimits | None = None, text_indexes: bool = False):
        self.driver = driver
        self.database = database
        self.chunk_limits = chunk_limits or ChunkLimits(batch=batch_size)
        self.text_indexes = text_indexes

    @classmethod
    def connect(cls, settings: Settings | None = None, *, quiet: bool = False,
                driver_options: dict[str, Any] | None = None) -> GraphStore:
        """Connect as ``settings`` say; ``driver_options`` go to the driver (timeouts, retry time)."""
        settings = settings or Settings()
        if settings.uses_local_server:
            from lineagegraph.server import LocalServer

            server = LocalServer(settings.server_home, settings.server_port,
                                 heap_mb=settings.server_heap_mb, page_cache_mb=settings.server_page_cache_mb)
            if not server.status().running and not quiet:
                print("lineagegraph: NEO4J_URI is not set; using the local server", file=sys.stderr)
            server.start(quiet=quiet)
            uri, auth = server.uri, (settings.neo4j_user, server.password())
        else:
            assert settings.neo4j_uri is not None
            uri = settings.neo4j_uri
            password = settings.neo4j_password.get_secret_value() if settings.neo4j_password else None
            auth = (settings.neo4j_user, password) if password is not None else None  # type: ignore[assignment]
        # "Unrecognized" notifications say that a label, type or property key is not in the
        # database yet: true of every query against a new graph, and printed to stderr by the
        # driver. Callers may ask for them again through driver_options.
        options: dict[str, Any] = {"notifications_disabled_classifications": [
            neo4j.NotificationDisabledClassification.UNRECOGNIZED]}
        options.update(driver_options or {})
        try:
            driver = GraphDatabase.driver(uri, auth=auth, **options)
        except (neo4j.exceptions.ConfigurationError, ValueError) as exc:
            raise ConfigError(f"NEO4J_URI {uri!r} is refused by the driver: {exc}; "
                              "use bolt://host:7687 or neo4j://host:7687") from None
        try:
            driver.verify_connectivity()
        except neo4j.exceptions.AuthError as exc:
            driver.close()
            raise ConfigError(f"Neo4j at {uri} refused the credentials: {exc.message}") from exc
        except (neo4j.exceptions.ServiceUnavailable, OSError, ValueError) as exc:
            driver.close()
            reason = " ".join(str(exc).split())[:300]
            raise ServerError(f"cannot reach Neo4j at {uri}: {reason}; is it running?") from exc
        return cls(driver, settings.neo4j_database, batch_size=settings.batch_size,
                   text_indexes=settings.text_indexes)

    def close(self) -> None:
        self.driver.close()

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plain queries ---------------------------------------------------------------------
    def read(self, query: str, **params: Any) -> list[dict[str, Any]]:
        """Run a read query; return its records as dicts."""
        records, _, _ = self.driver.execute_query(
            query, params, database_=self.database,
            routing_=neo4j.RoutingControl.READ,
        )
        return [record.data() for record in records]

    def write_query(self, query: str, **params: Any) -> list[dict[str, Any]]:
        """Run one write query in its own transaction; return its records as dicts."""
        records, _, _ = self.driver.execute_query(
            query, params, database_=self.database,
        )
        return [record.data() for record in records]

    def init_schema(self) -> list[str]:
        """Create the constraints and indexes (idempotent). Returns the statements run.

        The text indexes (see ``TEXT_INDEXES``) are made when ``text_indexes`` is set, and dropped
        when it is not.
        """
        statements = [*SCHEMA_STATEMENTS, *(
            TEXT_INDEXES.values() if self.text_indexes else (f"DROP INDEX {name} IF EXISTS" for name in TEXT_INDEXES))]
        for statement in statements:
            self.driver.execute_query(statement, database_=self.database)
        return statements

    def clear(self) -> None:
        """Delete every node and relationship (tests and benchmarks only)."""
        with self.driver.session(database=self.database) as session:
            session.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS").consume()

    # -- imports ---------------------------------------------------------------------------
    @contextmanager
    def import_run(self, importer: str, source: str, read: InputRead | None = None) -> Iterator[ImportSummary]:
        """Record an import run around a block; the block writes through :meth:`write`.

        The run is visible as ``running`` from the start. When the block raises, the run ends
        ``failed`` with the error and the counts of what its committed chunks wrote. ``read``
        names the reading of a file the unit comes from (see :func:`lineagegraph.runs.skip_if_unchanged`).
        """
        summary = start_run(self, importer, source, read)
        try:
            yield summary
        except BaseException as exc:
            summary.status = "failed"
            summary.error = str(exc)[:2000] or type(exc).__name__
            # When the database is gone, the run stays "running" until reconciliation marks it
            # interrupted (its counts are already true); the first error is the one to report.
            with suppress(neo4j.exceptions.DriverError):
                finish_run(self, summary)
            raise
        summary.status = "ok"
        finish_run(self, summary)

    def write(self, summary: ImportSummary, elements: Iterable[GraphItem],
              relations: Iterable[Relation] = (), *,
              progress: Callable[[int], None] | None = None) -> ImportSummary:
        """Stream elements and relations (in any order) into ``summary``'s run, chunk by chunk.

        See :mod:`lineagegraph.writer` for the guarantee: a unit that fits in one chunk is
        all-or-nothing; a bigger one commits chunk by chunk, each chunk recorded on the run.
        """

        def committed(_run: str, nodes: Counts, rels: Counts) -> None:
            summary.nodes.merge(nodes)
            summary.relationships.merge(rels)

        writer = ChunkedWriter(self.driver, self.database, summary.run_id, summary.source_key,
                               limits=self.chunk_limits, on_chunk=committed, progress=progress)
        with _write_errors(summary.source):
            writer.write(chain(elements, relations))
        return summary

    def import_elements(self, importer: str, source: str, elements: Iterable[GraphItem],
                        relations: Iterable[Relation] = (), *,
                        progress: Callable[[int], None] | None = None,
                        read: InputRead | None = None) -> ImportSummary:
        """Record a run and stream one unit of elements and relations into it."""
        with self.import_run(importer, source, read) as summary:
            self.write(summary, elements, relations, progress=progress)
        return summary

    def import_units(self, importer: str, units: Iterable[tuple[str, Iterable[GraphItem]]]
                     ) -> list[ImportSummary]:
        """Import many small units, each its own import run, sharing chunked transactions.

        For sources made of many small pieces (one Kubernetes object, one OpenLineage run): each
        unit still gets its own ``ImportRun`` (so a later run of the same source supersedes it and
        ``imports remove`` undoes it alone), but their rows travel together, a chunk at a time,
        instead of three transactions per unit. All units of a chunk commit together; when a
        chunk fails, every run in it ends ``failed`` and the error names the first unit's
        source. Returns the summaries in the order of ``units``.
        """
        summaries: dict[str, ImportSummary] = {}
        pending: list[tuple[ImportSummary, list[GraphItem]]] = []
        pending_rows = 0

        def committed(run: str, nodes: Counts, rels: Counts) -> None:
            summaries[run].nodes.merge(nodes)
            summaries[run].relationships.merge(rels)

        writer = ChunkedWriter(self.driver, self.database, limits=self.chunk_limits, on_chunk=committed)
        # A batch is written on a worker thread while the caller maps the next one's units.
        in_flight = Background()

        def write_batch(batch: list[tuple[ImportSummary, list[GraphItem]]]) -> None:
            start_runs(self, [s for s, _ in batch])
            try:
                with _write_errors(batch[0][0].source):
                    for summary, items in batch:
                        for item in items:
                            writer.add(item, run=summary.run_id, source=summary.source_key)
                    writer.flush()
            except BaseException as exc:
                for summary, _ in batch:
                    summary.status, summary.error = "failed", str(exc)[:2000] or type(exc).__name__
                with suppress(neo4j.exceptions.DriverError):  # gone: reconciliation closes them
                    finish_runs(self, [s for s, _ in batch])
                raise
            for summary, _ in batch:
                summary.status = "ok"
            finish_runs(self, [s for s, _ in batch])

        def flush() -> None:
            nonlocal pending, pending_rows
            if pending:
                batch, pending, pending_rows = pending, [], 0
                in_flight.submit(lambda: write_batch(batch))

        order: list[str] = []
        try:
            with rare_collections():
                for source, items in units:
                    summary = ImportSummary(run_id=new_run_id(), importer=importer, source=source)
                    summaries[summary.run_id] = summary
                    order.append(summary.run_id)
                    rows = list(items)
                    pending.append((summary, rows))
                    pending_rows += len(rows)
                    if pending_rows >= self.chunk_limits.rows:
                        flush()
                flush()
                in_flight.wait()
        finally:
            in_flight.wait(raise_error=False)  # after an error of the caller's: let the batch finish
        return [summaries[run] for run in order]

    def import_runs(self, limit: int = 100) -> list[dict[str, Any]]:
        return self.read(
            "MATCH (r:ImportRun) RETURN r {.*} AS run ORDER BY r.started_at DESC LIMIT $limit",
            limit=limit,
        )

    def reconcile_runs(self) -> list[str]:
        """Mark the runs of importers that died as ``interrupted`` (see :mod:`lineagegraph.runs`)."""
        return reconcile_stale_runs(self)

    def remove_import_run(self, run_id: str) -> dict[str, int]:
        """Undo a run (see :func:`lineagegraph.runs.remove_run`)."""
        return remove_run(self, run_id)

    def require_ids(self, *ids: str) -> None:
        """Raise :class:`NotFoundError` naming every id that is not in the graph."""
        rows = self.read("UNWIND $ids AS id OPTIONAL MATCH (n:Element {id: id}) "
                         "WITH id, n WHERE n IS NULL RETURN collect(id) AS missing", ids=list(ids))
        missing = rows[0]["missing"] if rows else []
        if missing:
            raise NotFoundError("not in the graph: " + ", ".join(repr(m) for m in missing))

