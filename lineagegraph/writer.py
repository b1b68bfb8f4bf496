"""The one write path into the graph: streamed, chunked, idempotent, and recorded per batch.

Every source (file importers, the Kubernetes agent, the capture spool, the OpenLineage receiver)
ends here, through :meth:`lineagegraph.store.GraphStore.import_elements`. Elements and relations
arrive as an iterable in any order and any number; the writer keeps at most one *chunk* of rows in
memory (``chunk_rows`` rows or about ``chunk_bytes`` bytes) and commits each chunk in one managed
write transaction (retried by the driver on transient errors). Inside a chunk, nodes are written
before relationships, grouped by label set / relationship type into ``UNWIND $rows ... MERGE``
batches.

The guarantee (documented in ``docs/architecture.md``):

* a unit that fits in one chunk is all-or-nothing, as before;
* a bigger unit commits chunk by chunk; each chunk's transaction also adds its counts to the
  ``ImportRun`` node and records what it touched as an ``ImportBatch`` node, so at any moment the
  run's counts are exactly what is committed, and ``imports remove RUN`` finds the run's elements
  through its batches (time grows with the run, not with the graph);
* if a chunk fails, the run ends ``failed`` with the counts of what it did commit; re-running the
  same import converges on the clean result (every write is a ``MERGE`` on a deterministic key).

Labels and relationship types are interpolated only from the enums in :mod:`lineagegraph.model`;
every value travels as a parameter. One id has one kind (Entity, Activity or Agent): a write that
would give a node a second kind, or a relationship whose end is of the wrong kind, is refused with
a :class:`~lineagegraph.errors.KindConflictError` naming the id, both kinds and who asserted the
first, and the chunk is rolled back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import neo4j
from neo4j import ManagedTransaction

from lineagegraph.errors import InputError, KindConflictError
from lineagegraph.model import EXTRA_LABELS, Element, ElementKind, Relation, RelationType

__all__ = ["ChunkLimits", "ChunkedWriter", "Counts"]

KIND_LABELS = [kind.value for kind in ElementKind]

# Records that row.run (reading row.source) asserted element `{v}`. Run and source travel in each
# row, so one statement can carry the rows of many small import runs (see ChunkedWriter.add).
# `import_sources` and `import_runs` are aligned lists: one entry per source, holding the newest
# run of that source, so a daily cron re-import replaces its own entry instead of growing the
# lists. Nothing is written when the entry is already this run (an element mentioned twice in one
# import). No APOC needed.
_TOUCH = """FOREACH (_ IN CASE WHEN row.run IN coalesce({v}.import_runs, []) THEN [] ELSE [1] END |
  SET {v}.import_runs = CASE WHEN row.source IN coalesce({v}.import_sources, [])
        THEN [i IN range(0, size({v}.import_sources) - 1) |
              CASE WHEN {v}.import_sources[i] = row.source THEN row.run ELSE {v}.import_runs[i] END]
        ELSE coalesce({v}.import_runs, []) + row.run END)
FOREACH (_ IN CASE WHEN row.source IN coalesce({v}.import_sources, []) THEN [] ELSE [1] END |
  SET {v}.import_sources = coalesce({v}.import_sources, []) + row.source)
"""

# True when row.props would change `{v}`: compared key by key, without copying the property map.
_CHANGES = "any(k IN keys(row.props) WHERE {v}[k] IS NULL OR {v}[k] <> row.props[k])"

# Made by this run: created by this statement, or a stub this run made earlier (a relation named
# the element before its declaration arrived in a later batch) that no other source asserts.
_CREATED = ("{v}.created_by = row.run AND "
            "({v}.import_runs IS NULL OR (coalesce({v}.stub, false) AND {v}.import_runs = [row.run]))")

# The kind labels a node has other than `kind` (a parameter): non-empty means a conflict.
_OTHER_KINDS = "[l IN labels({v}) WHERE l IN $kinds AND l <> {kind}]"


# Who else asserts `{v}` (for a conflict message; this source has already touched it).
_OTHERS = "[s IN coalesce({v}.import_sources, []) WHERE s <> row.source]"


def _others(query: str) -> str:
    for var in ("n", "a", "b"):
        query = query.replace(f"_OTHERS_{var}", _OTHERS.replace("{v}", var))
    return query


def _touch(var: str) -> str:
    return _TOUCH.replace("{v}", var)


def _changes(var: str) -> str:
    return _CHANGES.replace("{v}", var)


def _node_query(kind: ElementKind, extra: tuple[str, ...]) -> str:
    # Labels are the one part of this text not passed as a parameter: allow-listed, checked here
    # as well as in the models (an assert would vanish under `python -O`).
    if not isinstance(kind, ElementKind) or not set(extra) <= EXTRA_LABELS:
        raise ValueError(f"labels outside the allow-list: {kind!r}, {extra!r}")
    labels = ":".join((kind.value, *extra))
    return _others(f"""
UNWIND $rows AS row
MERGE (n:Element {{id: row.id}})
  ON CREATE SET n.created_by = row.run
WITH n, row, {_OTHER_KINDS.replace("{v}", "n").replace("{kind}", "$kind")} AS other,
     {_CREATED.replace("{v}", "n")} AS created
WITH n, row, other, created, NOT created AND (coalesce(n.stub, false) OR {_changes("n")}) AS updated
FOREACH (_ IN CASE WHEN created OR updated THEN [1] ELSE [] END | SET n += row.props)
SET n:{labels}
REMOVE n.stub
{_touch("n")}
RETURN row.run AS run,
       sum(CASE WHEN created THEN 1 ELSE 0 END) AS created,
       sum(CASE WHEN updated THEN 1 ELSE 0 END) AS updated,
       count(*) AS total,
       collect(CASE WHEN other <> [] THEN [row.id, other[0], $kind, _OTHERS_n] END)[..5] AS conflicts
""")


def _endpoint(var: str, key: str, kind: ElementKind | None) -> str:
    label = f", {var}:{kind.value}" if kind else ""
    return f"""MERGE ({var}:Element {{id: row.{key}}})
  ON CREATE SET {var}.stub = true, {var}.created_by = row.run{label}
{_touch(var)}"""


def _wrong_end(var: str, kind: ElementKind | None) -> str:
    """A Cypher expression: the end `var` has a kind label, and it is not `kind`."""
    if kind is None:
        return "false"
    return f"(NOT '{kind.value}' IN labels({var}) AND any(l IN labels({var}) WHERE l IN $kinds))"


def _relation_query(rel_type: RelationType, start: ElementKind | None, end: ElementKind | None) -> str:
    if not isinstance(rel_type, RelationType):
        raise ValueError(f"relationship type outside the allow-list: {rel_type!r}")
    if not all(k is None or isinstance(k, ElementKind) for k in (start, end)):
        raise ValueError(f"end kinds outside the allow-list: {start!r}, {end!r}")
    start_label = start.value if start else ""
    end_label = end.value if end else ""
    return _others(f"""
UNWIND $rows AS row
{_endpoint("a", "start", start)}
WITH a, row
{_endpoint("b", "end", end)}
WITH a, b, row
MERGE (a)-[r:{rel_type.value} {{key: row.key}}]->(b)
  ON CREATE SET r.created_by = row.run
WITH a, b, r, row, r.created_by = row.run AND r.import_runs IS NULL AS created,
     CASE WHEN {_wrong_end("a", start)} THEN [a.id, [l IN labels(a) WHERE l IN $kinds][0], '{start_label}', _OTHERS_a]
          WHEN {_wrong_end("b", end)} THEN [b.id, [l IN labels(b) WHERE l IN $kinds][0], '{end_label}', _OTHERS_b]
     END AS conflict
WITH r, row, created, conflict, NOT created AND {_changes("r")} AS updated
FOREACH (_ IN CASE WHEN created OR updated THEN [1] ELSE [] END | SET r += row.props)
{_touch("r")}
RETURN row.run AS run,
       sum(CASE WHEN created THEN 1 ELSE 0 END) AS created,
       sum(CASE WHEN updated THEN 1 ELSE 0 END) AS updated,
       count(*) AS total,
       collect(conflict)[..5] AS conflicts
""")


# What a chunk's transaction records besides the graph: the run's running counts and heartbeat,
# and the ids it touched (for `imports remove` in time proportional to the run).
_RUN_PROGRESS = """
UNWIND $runs AS p
MATCH (r:ImportRun {id: p.run})
SET r.nodes_created = coalesce(r.nodes_created, 0) + p.nc,
    r.nodes_updated = coalesce(r.nodes_updated, 0) + p.nu,
    r.nodes_unchanged = coalesce(r.nodes_unchanged, 0) + p.nn,
    r.relationships_created = coalesce(r.relationships_created, 0) + p.rc,
    r.relationships_updated = coalesce(r.relationships_updated, 0) + p.ru,
    r.relationships_unchanged = coalesce(r.relationships_unchanged, 0) + p.rn,
    r.chunks = coalesce(r.chunks, 0) + 1,
    r.heartbeat_at = $now
CREATE (:ImportBatch {run: p.run, seq: coalesce(r.chunks, 0), node_ids: p.node_ids, rel_types: p.rel_types,
                      rel_starts: p.rel_starts, rel_ends: p.rel_ends, rel_keys: p.rel_keys})
"""


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

    def merge(self, other: Counts) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged


@dataclass(frozen=True)
class ChunkLimits:
    """How much one transaction may carry: ``rows`` rows or about ``bytes`` bytes, and ``batch``
    rows per ``UNWIND`` statement inside it."""

    rows: int = 20_000
    bytes: int = 32 * 1024 * 1024
    batch: int = 5_000

    def __post_init__(self) -> None:
        if min(self.rows, self.bytes, self.batch) < 1:
            raise ValueError(f"chunk limits must be positive: {self}")


# Neo4j's range index refuses values above ~8 kB; ids and labels are indexed, so longer ones are
# refused here, by name, before a transaction fails on them.
MAX_INDEXED_BYTES = 4096


def _check_indexed(element: Element) -> None:
    for name, value in (("id", element.id), ("label", element.label)):
        if value is not None and len(value.encode()) > MAX_INDEXED_BYTES:
            raise InputError(f"the {name} of {element.kind.value} {value[:80]!r}... is {len(value.encode())} bytes; "
                             f"at most {MAX_INDEXED_BYTES} can be indexed")


def _size(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return sum(len(v) if isinstance(v, str) else 8 for v in value)
    return 8


def _row_bytes(ident: str, props: dict[str, Any]) -> int:
    return len(ident) + sum(len(k) + _size(v) for k, v in props.items())


@dataclass
class _Chunk:
    nodes: dict[tuple[ElementKind, tuple[str, ...]], list[dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(list))
    relations: dict[type[Relation], list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    rows: int = 0
    bytes: int = 0


@dataclass
class _RunChunk:
    """What one chunk did for one run: its counts and what it touched."""

    nodes: Counts = field(default_factory=Counts)
    relationships: Counts = field(default_factory=Counts)
    node_ids: list[str] = field(default_factory=list)
    rel_types: list[str] = field(default_factory=list)
    rel_starts: list[str] = field(default_factory=list)
    rel_ends: list[str] = field(default_factory=list)
    rel_keys: list[str] = field(default_factory=list)

    def row(self, run: str) -> dict[str, Any]:
        n, r = self.nodes, self.relationships
        return {"run": run, "nc": n.created, "nu": n.updated, "nn": n.unchanged, "rc": r.created,
                "ru": r.updated, "rn": r.unchanged, "node_ids": self.node_ids, "rel_types": self.rel_types,
                "rel_starts": self.rel_starts, "rel_ends": self.rel_ends, "rel_keys": self.rel_keys}


class ChunkedWriter:
    """Streams elements and relations into chunked transactions, recorded on their import runs.

    Each row names its run and source: by default the writer's own (one import run), or those
    given to :meth:`add` (many small runs sharing chunks, see ``GraphStore.import_units``).
    ``on_chunk`` receives, per run, each committed chunk's counts (run id, nodes, relationships);
    ``progress`` the number of rows of each statement as it runs (inside the transaction, so a
    small unit that fails in a progress callback still leaves nothing).
    """

    def __init__(self, driver: neo4j.Driver, database: str, run_id: str | None = None,
                 source_key: str | None = None, *,
                 limits: ChunkLimits | None = None,
                 on_chunk: Callable[[str, Counts, Counts], None] | None = None,
                 progress: Callable[[int], None] | None = None):
        self._driver = driver
        self._database = database
        self._run = run_id
        self._source = source_key
        self._limits = limits or ChunkLimits()
        self._on_chunk = on_chunk
        self._progress = progress
        self._chunk = _Chunk()

    def add(self, item: Element | Relation, *, run: str | None = None, source: str | None = None) -> None:
        run, source = run or self._run, source or self._source
        if run is None or source is None:
            raise ValueError("every row needs an import run and its source key")
        chunk = self._chunk
        if isinstance(item, Element):
            _check_indexed(item)
            props = item.properties()
            chunk.nodes[(item.kind, tuple(sorted(item.extra_labels)))].append(
                {"id": item.id, "props": props, "run": run, "source": source})
            chunk.bytes += _row_bytes(item.id, props)
        elif isinstance(item, Relation):
            props = item.properties()
            key = item.key()
            chunk.relations[type(item)].append(
                {"start": item.start, "end": item.end, "key": key, "props": props, "run": run, "source": source})
            chunk.bytes += _row_bytes(item.start + item.end + key, props)
        else:
            raise TypeError(f"not an Element or a Relation: {type(item).__name__}")
        chunk.rows += 1
        if chunk.rows >= self._limits.rows or chunk.bytes >= self._limits.bytes:
            self.flush()

    def write(self, items: Iterable[Element | Relation]) -> None:
        for item in items:
            self.add(item)
        self.flush()

    def flush(self) -> None:
        """Commit what is pending as one transaction (nothing happens when nothing is pending)."""
        chunk, self._chunk = self._chunk, _Chunk()
        if not chunk.rows:
            return
        with self._driver.session(database=self._database) as session:
            result = session.execute_write(self._write_chunk, chunk)
        if self._on_chunk:
            for run, done in result.items():
                self._on_chunk(run, done.nodes, done.relationships)

    def _statement(self, tx: ManagedTransaction, query: str, rows: list[dict[str, Any]],
                   result: dict[str, _RunChunk], relationships: bool, **params: Any) -> None:
        batch_size = self._limits.batch
        for start in range(0, len(rows), batch_size):
            batch = rows[start:start + batch_size]
            for record in tx.run(query, rows=batch, kinds=KIND_LABELS, **params):
                if record["conflicts"]:
                    raise KindConflictError.from_rows(record["conflicts"])
                done = result.setdefault(record["run"], _RunChunk())
                (done.relationships if relationships else done.nodes).add(
                    record["created"], record["updated"], record["total"])
            if self._progress:
                self._progress(len(batch))

    def _write_chunk(self, tx: ManagedTransaction, chunk: _Chunk) -> dict[str, _RunChunk]:
        result: dict[str, _RunChunk] = {}  # a retried transaction starts from zero again
        for (kind, extra), rows in chunk.nodes.items():
            self._statement(tx, _node_query(kind, extra), rows, result, False, kind=kind.value)
            for row in rows:
                result[row["run"]].node_ids.append(row["id"])
        for cls, rows in chunk.relations.items():
            self._statement(tx, _relation_query(cls.type, cls.start_kind, cls.end_kind), rows, result, True)
            for row in rows:
                done = result[row["run"]]
                done.rel_types.append(cls.type.value)
                done.rel_starts.append(row["start"])
                done.rel_ends.append(row["end"])
                done.rel_keys.append(row["key"])
        tx.run(_RUN_PROGRESS, runs=[done.row(run) for run, done in result.items()],
               now=datetime.now(UTC)).consume()
        return result


def relation_type(value: str) -> RelationType:
    """The allow-listed relationship type named by ``value`` (read back from an ImportBatch)."""
    return RelationType(value)
