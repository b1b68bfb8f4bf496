"""The graph store: connection, schema, batched idempotent writes, and import-run bookkeeping.

Writes are ``UNWIND $rows ... MERGE`` batches inside one managed write transaction per import unit
(a file, a batch of objects), so an import is all-or-nothing and the driver retries it on
transient errors (two cron jobs colliding). Labels and relationship types are interpolated only
from the enums in :mod:`lineagegraph.model`; every value travels as a parameter.

Each import unit is an ``ImportRun`` node (outside the PROV labels). Every node and relationship
names the run that created it in ``created_by`` and lists, per source that asserts it, the newest
run of that source (aligned lists ``import_sources`` and ``import_runs``), which is what
``imports remove`` undoes. Re-importing an unchanged source rewrites only those run ids.
"""

from __future__ import annotations

import secrets
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import neo4j
from neo4j import GraphDatabase, ManagedTransaction

from lineagegraph.errors import ConfigError, NotFoundError, ServerError
from lineagegraph.model import EXTRA_LABELS, Element, ElementKind, Relation, RelationType
from lineagegraph.settings import Settings

__all__ = ["Counts", "GraphStore", "GraphWriter", "ImportSummary"]

SCHEMA_STATEMENTS: tuple[str, ...] = (
    "CREATE CONSTRAINT element_id IF NOT EXISTS FOR (n:Element) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT import_run_id IF NOT EXISTS FOR (r:ImportRun) REQUIRE r.id IS UNIQUE",
    "CREATE INDEX element_label IF NOT EXISTS FOR (n:Element) ON (n.label)",
    "CREATE INDEX entity_generated_at IF NOT EXISTS FOR (n:Entity) ON (n.generated_at)",
    "CREATE INDEX activity_started_at IF NOT EXISTS FOR (n:Activity) ON (n.started_at)",
    "CREATE INDEX element_created_by IF NOT EXISTS FOR (n:Element) ON (n.created_by)",
    "CREATE TEXT INDEX element_id_text IF NOT EXISTS FOR (n:Element) ON (n.id)",
    "CREATE FULLTEXT INDEX element_search IF NOT EXISTS FOR (n:Element) ON EACH [n.label, n.id]",
)

# Records that $run (reading $source) asserted element `{v}`. `import_sources` and `import_runs`
# are aligned lists: one entry per source, holding the newest run of that source, so a daily cron
# re-import replaces its own entry instead of growing the lists. Nothing is written when the entry
# is already this run (an element mentioned twice in one import). No APOC needed.
_TOUCH = """FOREACH (_ IN CASE WHEN $run IN coalesce({v}.import_runs, []) THEN [] ELSE [1] END |
  SET {v}.import_runs = CASE WHEN $source IN coalesce({v}.import_sources, [])
        THEN [i IN range(0, size({v}.import_sources) - 1) |
              CASE WHEN {v}.import_sources[i] = $source THEN $run ELSE {v}.import_runs[i] END]
        ELSE coalesce({v}.import_runs, []) + $run END)
FOREACH (_ IN CASE WHEN $source IN coalesce({v}.import_sources, []) THEN [] ELSE [1] END |
  SET {v}.import_sources = coalesce({v}.import_sources, []) + $source)
"""

# True when row.props would change `{v}`: compared key by key, without copying the property map.
_CHANGES = "any(k IN keys(row.props) WHERE {v}[k] IS NULL OR {v}[k] <> row.props[k])"


def _touch(var: str) -> str:
    return _TOUCH.replace("{v}", var)


def _changes(var: str) -> str:
    return _CHANGES.replace("{v}", var)


@dataclass
class Counts:
    """How many nodes/relationships an import created, changed, or found as they were."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, created: int, updated: int, total: int) -> None:
        self.created += created
        self.updated += updated
        self.unchanged += total - created - updated

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged


@dataclass
class ImportSummary:
    """The outcome of one import run, as printed by the CLI and stored on the ``ImportRun`` node."""

    run_id: str
    importer: str
    source: str
    nodes: Counts = field(default_factory=Counts)
    relationships: Counts = field(default_factory=Counts)
    status: str = "running"
    error: str | None = None

    @property
    def source_key(self) -> str:
        """What identifies a source across runs: a later run of the same key supersedes this one."""
        return f"{self.importer}:{self.source}"

    def line(self) -> str:
        n, r = self.nodes, self.relationships
        return (
            f"{self.source}: {self.status}; nodes {n.created} created, {n.updated} updated, "
            f"{n.unchanged} unchanged; relationships {r.created} created, {r.updated} updated, "
            f"{r.unchanged} unchanged (run {self.run_id})"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "importer": self.importer,
            "source": self.source,
            "status": self.status,
            "error": self.error,
            "nodes": vars(self.nodes) | {"total": self.nodes.total},
            "relationships": vars(self.relationships) | {"total": self.relationships.total},
        }


def _node_query(kind: ElementKind, extra: tuple[str, ...]) -> str:
    # Labels are the one part of this text not passed as a parameter: allow-listed, checked here
    # as well as in the models (an assert would vanish under `python -O`).
    if not isinstance(kind, ElementKind) or not set(extra) <= EXTRA_LABELS:
        raise ValueError(f"labels outside the allow-list: {kind!r}, {extra!r}")
    labels = ":".join((kind.value, *extra))
    # `created`: made by this statement (a node this run made earlier already lists the run).
    return f"""
UNWIND $rows AS row
MERGE (n:Element {{id: row.id}})
  ON CREATE SET n.created_by = $run
WITH n, row, n.created_by = $run AND n.import_runs IS NULL AS created
WITH n, row, created, NOT created AND (coalesce(n.stub, false) OR {_changes("n")}) AS updated
FOREACH (_ IN CASE WHEN created OR updated THEN [1] ELSE [] END | SET n += row.props)
SET n:{labels}
REMOVE n.stub
{_touch("n")}
RETURN sum(CASE WHEN created THEN 1 ELSE 0 END) AS created,
       sum(CASE WHEN updated THEN 1 ELSE 0 END) AS updated,
       count(*) AS total
"""


def _endpoint(var: str, key: str, kind: ElementKind | None) -> str:
    label = f", {var}:{kind.value}" if kind else ""
    return f"""MERGE ({var}:Element {{id: row.{key}}})
  ON CREATE SET {var}.stub = true, {var}.created_by = $run{label}
{_touch(var)}"""


def _relation_query(rel_type: RelationType, start: ElementKind | None, end: ElementKind | None) -> str:
    if not isinstance(rel_type, RelationType):
        raise ValueError(f"relationship type outside the allow-list: {rel_type!r}")
    return f"""
UNWIND $rows AS row
{_endpoint("a", "start", start)}
WITH a, row
{_endpoint("b", "end", end)}
WITH a, b, row
MERGE (a)-[r:{rel_type.value} {{key: row.key}}]->(b)
  ON CREATE SET r.created_by = $run
WITH r, row, r.created_by = $run AND r.import_runs IS NULL AS created
WITH r, row, created, NOT created AND {_changes("r")} AS updated
FOREACH (_ IN CASE WHEN created OR updated THEN [1] ELSE [] END | SET r += row.props)
{_touch("r")}
RETURN sum(CASE WHEN created THEN 1 ELSE 0 END) AS created,
       sum(CASE WHEN updated THEN 1 ELSE 0 END) AS updated,
       count(*) AS total
"""


class GraphWriter:
    """Writes elements and relations in batches inside one transaction, grouped by label/type.

    Elements are written before relations so that a relation's ends get their declared kind;
    an end that is never declared stays a ``stub`` node (PROV allows undeclared references).
    """

    def __init__(self, tx: ManagedTransaction, summary: ImportSummary, batch_size: int,
                 progress: Callable[[int], None] | None = None):
        self._tx = tx
        self._summary = summary
        self._batch_size = batch_size
        self._progress = progress

    def _run_batches(self, query: str, rows: list[dict[str, Any]], counts: Counts) -> None:
        for start in range(0, len(rows), self._batch_size):
            batch = rows[start : start + self._batch_size]
            record = self._tx.run(query, rows=batch, run=self._summary.run_id,
                                  source=self._summary.source_key).single(strict=True)
            counts.add(record["created"], record["updated"], record["total"])
            if self._progress:
                self._progress(len(batch))

    def write(self, elements: Iterable[Element], relations: Iterable[Relation]) -> None:
        node_groups: dict[tuple[ElementKind, tuple[str, ...]], list[dict[str, Any]]] = defaultdict(list)
        for element in elements:
            group = (element.kind, tuple(sorted(element.extra_labels)))
            node_groups[group].append({"id": element.id, "props": element.properties()})
        for (kind, extra), rows in node_groups.items():
            self._run_batches(_node_query(kind, extra), rows, self._summary.nodes)

        rel_groups: dict[type[Relation], list[dict[str, Any]]] = defaultdict(list)
        for relation in relations:
            rel_groups[type(relation)].append(
                {"start": relation.start, "end": relation.end, "key": relation.key(),
                 "props": relation.properties()}
            )
        for cls, rows in rel_groups.items():
            query = _relation_query(cls.type, cls.start_kind, cls.end_kind)
            self._run_batches(query, rows, self._summary.relationships)


def _now() -> datetime:
    return datetime.now(UTC)


def new_run_id() -> str:
    return f"run-{_now().strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(4)}"


class GraphStore:
    """A connection to one Neo4j database holding a lineage graph.

    Use :meth:`connect` to build one from :class:`~lineagegraph.settings.Settings` (starting the
    local server when no ``NEO4J_URI`` is set). Close it, or use it as a context manager.
    """

    def __init__(self, driver: neo4j.Driver, database: str = "neo4j", *, batch_size: int = 5000):
        self.driver = driver
        self.database = database
        self.batch_size = batch_size

    @classmethod
    def connect(cls, settings: Settings | None = None, *, quiet: bool = False) -> GraphStore:
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
        driver = GraphDatabase.driver(uri, auth=auth)
        try:
            driver.verify_connectivity()
        except neo4j.exceptions.AuthError as exc:
            driver.close()
            raise ConfigError(f"Neo4j at {uri} refused the credentials: {exc.message}") from exc
        except (neo4j.exceptions.ServiceUnavailable, OSError, ValueError) as exc:
            driver.close()
            raise ServerError(f"cannot reach Neo4j at {uri}: {exc}") from exc
        return cls(driver, settings.neo4j_database, batch_size=settings.batch_size)

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
        """Create the constraints and indexes (idempotent). Returns the statements run."""
        for statement in SCHEMA_STATEMENTS:
            self.driver.execute_query(statement, database_=self.database)
        return list(SCHEMA_STATEMENTS)

    def clear(self) -> None:
        """Delete every node and relationship (tests and benchmarks only)."""
        with self.driver.session(database=self.database) as session:
            session.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS").consume()

    # -- imports ---------------------------------------------------------------------------
    @contextmanager
    def import_run(self, importer: str, source: str) -> Iterator[ImportSummary]:
        """Record an import run around a block; the block fills in the summary's counts."""
        summary = ImportSummary(run_id=new_run_id(), importer=importer, source=source)
        self.write_query(
            "CREATE (r:ImportRun {id: $id, importer: $importer, source: $source, "
            "started_at: $now, status: 'running'})",
            id=summary.run_id, importer=importer, source=source, now=_now(),
        )
        try:
            yield summary
        except BaseException as exc:
            summary.status = "failed"
            summary.error = str(exc)[:2000]
            self._finish_run(summary)
            raise
        summary.status = "ok"
        self._finish_run(summary)

    def _finish_run(self, summary: ImportSummary) -> None:
        n, r = summary.nodes, summary.relationships
        self.write_query(
            "MATCH (r:ImportRun {id: $id}) SET r.ended_at = $now, r.status = $status, r.error = $error, "
            "r.nodes_created = $nc, r.nodes_updated = $nu, r.nodes_unchanged = $nn, "
            "r.relationships_created = $rc, r.relationships_updated = $ru, r.relationships_unchanged = $rn",
            id=summary.run_id, now=_now(), status=summary.status, error=summary.error,
            nc=n.created, nu=n.updated, nn=n.unchanged, rc=r.created, ru=r.updated, rn=r.unchanged,
        )

    def write(self, summary: ImportSummary, elements: Iterable[Element], relations: Iterable[Relation],
              *, progress: Callable[[int], None] | None = None) -> ImportSummary:
        """Write elements and relations for ``summary``'s run in one transaction (all or nothing)."""
        element_list, relation_list = list(elements), list(relations)

        def work(tx: ManagedTransaction) -> None:
            # A retried transaction starts from zero again.
            summary.nodes, summary.relationships = Counts(), Counts()
            GraphWriter(tx, summary, self.batch_size, progress).write(element_list, relation_list)

        with self.driver.session(database=self.database) as session:
            session.execute_write(work)
        return summary

    def import_elements(self, importer: str, source: str, elements: Iterable[Element],
                        relations: Iterable[Relation], *,
                        progress: Callable[[int], None] | None = None) -> ImportSummary:
        """Record a run and write one unit of elements and relations in it."""
        with self.import_run(importer, source) as summary:
            self.write(summary, elements, relations, progress=progress)
        return summary

    def import_runs(self, limit: int = 100) -> list[dict[str, Any]]:
        return self.read(
            "MATCH (r:ImportRun) RETURN r {.*} AS run ORDER BY r.started_at DESC LIMIT $limit",
            limit=limit,
        )

    def remove_import_run(self, run_id: str) -> dict[str, int]:
        """Undo a run: delete what only it asserts, and drop it from what other sources also assert.

        An element asserted by several sources keeps its properties as they are. A run that a later
        run of the same source has superseded owns nothing any more, so removing it changes no
        element. The ``ImportRun`` node stays, with status ``removed``, so the removal is auditable.
        """
        found = self.read("MATCH (r:ImportRun {id: $id}) RETURN r.status AS status", id=run_id)
        if not found:
            raise NotFoundError(f"no import run with id {run_id!r} (see 'lineagegraph imports list')")
        drop = (
            "SET {v}.import_sources = [i IN range(0, size({v}.import_runs) - 1) "
            "WHERE {v}.import_runs[i] <> $run | {v}.import_sources[i]], "
            "{v}.import_runs = [x IN {v}.import_runs WHERE x <> $run]"
        )
        # (what is counted, which elements, what happens to each of them)
        steps = (
            ("relationships_deleted", "MATCH ()-[e]->() WHERE e.import_runs = [$run]", "DELETE e"),
            ("relationships_kept", "MATCH ()-[e]->() WHERE $run IN e.import_runs", drop.replace("{v}", "e")),
            ("nodes_deleted", "MATCH (e:Element) WHERE e.import_runs = [$run]", "DETACH DELETE e"),
            ("nodes_kept", "MATCH (e:Element) WHERE $run IN e.import_runs", drop.replace("{v}", "e")),
        )
        counts: dict[str, int] = {}
        with self.driver.session(database=self.database) as session:
            for name, match, action in steps:
                counts[name] = session.run(match + " RETURN count(e) AS c", run=run_id).single(strict=True)["c"]
                session.run(f"{match} CALL (e) {{ {action} }} IN TRANSACTIONS OF 10000 ROWS", run=run_id).consume()
        self.write_query(
            "MATCH (r:ImportRun {id: $id}) SET r.status = 'removed', r.removed_at = $now",
            id=run_id, now=_now(),
        )
        return counts

    def require_ids(self, *ids: str) -> None:
        """Raise :class:`NotFoundError` naming every id that is not in the graph."""
        rows = self.read("UNWIND $ids AS id OPTIONAL MATCH (n:Element {id: id}) "
                         "WITH id, n WHERE n IS NULL RETURN collect(id) AS missing", ids=list(ids))
        missing = rows[0]["missing"] if rows else []
        if missing:
            raise NotFoundError("not in the graph: " + ", ".join(repr(m) for m in missing))

