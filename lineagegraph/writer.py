"""The one write path into the graph: streamed, chunked, idempotent, and recorded per batch.

Every source (file importers, the Kubernetes agent, the capture spool, the OpenLineage receiver)
ends here, through :meth:`lineagegraph.store.GraphStore.import_elements`. Elements and relations
arrive as an iterable in any order and any number; the writer keeps at most one *chunk* of rows in
memory (``chunk_rows`` rows or about ``chunk_bytes`` bytes) and commits each chunk in one managed
write transaction (retried by the driver on transient errors). Inside a chunk, nodes are written
before relationships, grouped by label set / relationship type into ``UNWIND $rows ... MERGE``
batches. Each batch runs first through a statement that gives every node or relationship it
creates all it gets in one step; only the rows already in the graph go through the full statement,
which compares, merges the bookkeeping lists and counts in Cypher.

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

Why it is long: the Cypher of each statement, the rows it reads, the merging of a chunk's rows and
the transaction that runs them are one contract (a field renamed in one must change in all); kept
together they can be read, and checked, side by side.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from collections.abc import Callable, Hashable, Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache, partial
from typing import Any

import neo4j
from neo4j import ManagedTransaction

from lineagegraph.errors import InputError, KindConflictError
from lineagegraph.model import EXTRA_LABELS, ElementKind, GraphItem, NodeRow, Relation, RelationType, as_row
from lineagegraph.process import rare_collections

__all__ = ["Background", "ChunkLimits", "ChunkedWriter", "Counts"]

KIND_LABELS = [kind.value for kind in ElementKind]

# How rows reach the statements below. The writer merges the rows of one chunk so that each
# statement names an element (or relationship) at most once: a row carries the runs that assert it
# (`counted`, one entry per original row, for the counts) and, aligned, the newest run per source
# (`runs`, `sources`). Two rows of one element in one statement would each read the bookkeeping
# lists before either wrote them, and one source's entry would be lost.

# Records that the row's runs asserted `{v}`. `import_sources` and `import_runs` are aligned lists:
# one entry per source, holding the newest run of that source, so a daily cron re-import replaces
# its own entry instead of growing the lists; nothing is written when they already say so. No APOC
# needed.
#
# The lists stop growing at $max_sources entries: an element that more sources assert (the image
# every Kubernetes Job runs, a dataset that thousands of runs read) is marked `import_shared`
# instead. Without the bound, every new source would rewrite a list as long as the number of
# sources so far, which makes importing many small units quadratic, and every query returning the
# element would carry the lists. A shared element is never deleted by removing one run.
_TOUCH = """WITH {carry}, coalesce({v}.import_sources, []) AS old_sources, coalesce({v}.import_runs, []) AS old_runs
WITH {carry}, old_sources, old_runs,
     [i IN range(0, size(row.sources) - 1) WHERE NOT row.sources[i] IN old_sources] AS fresh,
     $max_sources - size(old_sources) AS room
WITH {carry}, old_sources, old_runs, size(fresh) > room AS overflow,
     CASE WHEN room > 0 THEN fresh[..room] ELSE [] END AS kept
WITH {carry}, old_sources, old_runs, overflow,
     [i IN range(0, size(old_sources) - 1) |
        coalesce(head([j IN range(0, size(row.sources) - 1) WHERE row.sources[j] = old_sources[i] | row.runs[j]]),
                 old_runs[i])] + [i IN kept | row.runs[i]] AS runs,
     old_sources + [i IN kept | row.sources[i]] AS sources
FOREACH (_ IN CASE WHEN runs <> old_runs THEN [1] ELSE [] END | SET {v}.import_runs = runs)
FOREACH (_ IN CASE WHEN sources <> old_sources THEN [1] ELSE [] END | SET {v}.import_sources = sources)
FOREACH (_ IN CASE WHEN overflow AND {v}.import_shared IS NULL THEN [1] ELSE [] END | SET {v}.import_shared = true)
"""

# How many sources an element's lists name before it counts as shared (see _TOUCH).
MAX_TRACKED_SOURCES = 64

# After a batch whose rows were mostly in the graph already, how many batches of its kind skip the
# first-write statement (see ChunkedWriter._statement).
FIRST_WRITE_PAUSE = 16

# How many (node id, run) pairs of committed chunks a writer remembers to skip endpoint statements
# (~160 MB at most); past that it forgets them all and starts again, costing only speed.
MAX_REMEMBERED_NODES = 1_000_000

# True when row.props or row.times would change `{v}`: compared key by key, without copying a map.
_CHANGES = ("(any(k IN keys(row.props) WHERE {v}[k] IS NULL OR {v}[k] <> row.props[k]) OR "
            "any(k IN keys(row.times) WHERE {v}[k] IS NULL OR {v}[k] <> datetime(row.times[k])))")

# Sets the row's properties on `{v}`. Datetimes travel as ISO-8601 text in row.times and become
# DateTime values here: the driver's own conversion of a Python datetime runs in pure Python and
# cost more than the rest of a row's packing (see _split_times).
_SET_PROPS = """FOREACH (_ IN CASE WHEN created OR updated THEN [1] ELSE [] END |
  SET {v} += row.props
  FOREACH (k IN keys(row.times) | SET {v}[k] = datetime(row.times[k])))"""

# Made by the row's first run: created by this statement, or a stub that run made earlier (a
# relation named the element before its declaration arrived in a later chunk) that no other
# source asserts.
_CREATED = ("{v}.created_by = row.counted[0] AND "
            "({v}.import_runs IS NULL OR (coalesce({v}.stub, false) AND {v}.import_runs = [row.counted[0]]))")

# The kind labels a node has other than `kind` (a parameter): non-empty means a conflict.
_OTHER_KINDS = "[l IN labels({v}) WHERE l IN $kinds AND l <> {kind}]"

# Who else asserts `{v}` (for a conflict message).
_OTHERS = "[s IN coalesce({v}.import_sources, []) WHERE NOT s IN row.sources]"

# Counts per run: the first run of a merged row made or changed the element, the others found it.
_COUNTS = """UNWIND range(0, size(row.counted) - 1) AS i
RETURN row.counted[i] AS run,
       sum(CASE WHEN i = 0 AND created THEN 1 ELSE 0 END) AS created,
       sum(CASE WHEN i = 0 AND updated THEN 1 ELSE 0 END) AS updated,
       count(*) AS total,
       collect(CASE WHEN i = 0 THEN {conflict} END)[..5] AS conflicts
"""


def _touch(var: str, carry: str) -> str:
    return _TOUCH.replace("{v}", var).replace("{carry}", carry)


def _fill(fragment: str, var: str) -> str:
    return fragment.replace("{v}", var)


def _labels(kind: ElementKind, extra: tuple[str, ...]) -> str:
    # Labels are the one part of a statement's text not passed as a parameter: allow-listed,
    # checked here as well as in the models (an assert would vanish under `python -O`).
    if not isinstance(kind, ElementKind) or not set(extra) <= EXTRA_LABELS:
        raise ValueError(f"labels outside the allow-list: {kind!r}, {extra!r}")
    return ":".join((kind.value, *extra))


def _check_relation(rel_type: RelationType, start: ElementKind | None, end: ElementKind | None) -> None:
    if not isinstance(rel_type, RelationType):
        raise ValueError(f"relationship type outside the allow-list: {rel_type!r}")
    if not all(k is None or isinstance(k, ElementKind) for k in (start, end)):
        raise ValueError(f"end kinds outside the allow-list: {start!r}, {end!r}")


@cache
def _node_query(kind: ElementKind, extra: tuple[str, ...]) -> str:
    labels = _labels(kind, extra)
    conflict = f"CASE WHEN other <> [] THEN [row.id, other[0], $kind, {_fill(_OTHERS, 'n')}] END"
    return f"""
UNWIND $rows AS row
MERGE (n:Element {{id: row.id}})
  ON CREATE SET n.created_by = row.counted[0]
WITH n, row, {_fill(_OTHER_KINDS, "n").replace("{kind}", "$kind")} AS other, {_fill(_CREATED, "n")} AS created
WITH n, row, other, created, NOT created AND (coalesce(n.stub, false) OR {_fill(_CHANGES, "n")}) AS updated
{_fill(_SET_PROPS, "n")}
SET n:{labels}
REMOVE n.stub
{_touch("n", "n, row, other, created, updated")}
WITH n, row, other, created, updated
{_COUNTS.replace("{conflict}", conflict)}"""


# The first write of a row whose element (or relationship) this statement creates: everything it
# gets, set in one step, without reading bookkeeping that is not there yet or counting in Cypher.
# Most rows of an import are such rows. The others (already in the graph, a stub, an end of the
# wrong kind) come back by position and go through the full statement in the same transaction,
# which counts them and reports conflicts as before.
_FRESH_NODE = """
UNWIND range(0, size($rows) - 1) AS i
WITH i, $rows[i] AS row
MERGE (n:Element {{id: row.id}})
  ON CREATE SET n.created_by = {run}
WITH i, n, row, n.created_by = {run} AND n.import_runs IS NULL AS fresh
FOREACH (_ IN CASE WHEN fresh THEN [1] ELSE [] END |
  SET n:{labels}, n += row.props, n.import_runs = {runs}, n.import_sources = {sources}
  FOREACH (k IN keys(row.times) | SET n[k] = datetime(row.times[k])){shared})
RETURN count(*) AS seen, collect(CASE WHEN NOT fresh THEN i END) AS rest"""

_FRESH_RELATION = """
UNWIND range(0, size($rows) - 1) AS i
WITH i, $rows[i] AS row
MATCH (a:Element {{id: row.start}})
MATCH (b:Element {{id: row.end}})
MERGE (a)-[r:{rel_type} {{key: row.key}}]->(b)
  ON CREATE SET r.created_by = {run}
WITH i, r, row, r.created_by = {run} AND r.import_runs IS NULL
     AND NOT ({wrong_start} OR {wrong_end}) AS fresh
FOREACH (_ IN CASE WHEN fresh THEN [1] ELSE [] END |
  SET r += row.props, r.import_runs = {runs}, r.import_sources = {sources}
  FOREACH (k IN keys(row.times) | SET r[k] = datetime(row.times[k])){shared})
RETURN count(*) AS seen, collect(CASE WHEN NOT fresh THEN i END) AS rest"""

# Where a first-write statement reads the row's run, the newest run per source and the sources:
# from each row, or, when every row of the batch is one run's alone (an import of one file), from
# `$run` and `$source`, sent once. The rows then leave out their three lists: fewer values for the
# server to decode and hold per row (a 200k-record import: server CPU 12.0 -> 11.0 s, wall
# 14.7 -> 14.1 s, means of five runs).
_PER_ROW = {"run": "row.counted[0]", "runs": "row.runs[..$max_sources]", "sources": "row.sources[..$max_sources]",
            "shared": "\n  FOREACH (_ IN CASE WHEN size(row.sources) > $max_sources THEN [1] ELSE [] END | "
                      "SET {v}.import_shared = true)"}
_ONE_RUN = {"run": "$run", "runs": "[$run]", "sources": "[$source]", "shared": ""}
_RUN_FIELDS = frozenset({"counted", "runs", "sources"})


@cache
def _fresh_node_query(kind: ElementKind, extra: tuple[str, ...], one_run: bool) -> str:
    fields = _ONE_RUN if one_run else _PER_ROW
    return _fill(_FRESH_NODE.format(labels=_labels(kind, extra), **fields), "n")


@cache
def _fresh_relation_query(rel_type: RelationType, start: ElementKind | None, end: ElementKind | None,
                          one_run: bool) -> str:
    _check_relation(rel_type, start, end)
    fields = _ONE_RUN if one_run else _PER_ROW
    return _fill(_FRESH_RELATION.format(rel_type=rel_type.value, wrong_start=_wrong_end("a", start),
                                        wrong_end=_wrong_end("b", end), **fields), "r")


def _one_run(batch: list[dict[str, Any]]) -> tuple[str, str] | None:
    """The run and source of every row of ``batch``, if each row is that one run's alone."""
    first = batch[0]
    run, source = first["counted"][0], first["sources"][0]
    for row in batch:
        if len(row["counted"]) != 1 or row["counted"][0] != run or row["sources"][0] != source:
            return None
    return run, source


@cache
def _endpoint_query(kind: ElementKind | None) -> str:
    """Ends of relationships that their runs did not declare: made stubs if new, and touched."""
    if kind is not None and not isinstance(kind, ElementKind):
        raise ValueError(f"end kind outside the allow-list: {kind!r}")
    label = f", n:{kind.value}" if kind else ""
    return f"""
UNWIND $rows AS row
MERGE (n:Element {{id: row.id}})
  ON CREATE SET n.stub = true, n.created_by = row.runs[0]{label}
{_touch("n", "n, row")}
RETURN count(*) AS touched"""


def _wrong_end(var: str, kind: ElementKind | None) -> str:
    """A Cypher expression: the end `var` has a kind label, and it is not `kind`."""
    if kind is None:
        return "false"
    return f"(NOT '{kind.value}' IN labels({var}) AND any(l IN labels({var}) WHERE l IN $kinds))"


@cache
def _relation_query(rel_type: RelationType, start: ElementKind | None, end: ElementKind | None) -> str:
    _check_relation(rel_type, start, end)
    ends = {var: f"[{var}.id, [l IN labels({var}) WHERE l IN $kinds][0], '{kind.value if kind else ''}', "
                 f"{_fill(_OTHERS, var)}]" for var, kind in (("a", start), ("b", end))}
    # The ends exist: the chunk's node and endpoint statements ran first.
    return f"""
UNWIND $rows AS row
MATCH (a:Element {{id: row.start}})
MATCH (b:Element {{id: row.end}})
MERGE (a)-[r:{rel_type.value} {{key: row.key}}]->(b)
  ON CREATE SET r.created_by = row.counted[0]
WITH a, b, r, row, r.created_by = row.counted[0] AND r.import_runs IS NULL AS created,
     CASE WHEN {_wrong_end("a", start)} THEN {ends["a"]} WHEN {_wrong_end("b", end)} THEN {ends["b"]} END AS conflict
WITH r, row, created, conflict, NOT created AND {_fill(_CHANGES, "r")} AS updated
{_fill(_SET_PROPS, "r")}
{_touch("r", "r, row, created, updated, conflict")}
WITH row, created, updated, conflict
{_COUNTS.replace("{conflict}", "conflict")}"""


# Sent before every statement of the writer. Their plans do not depend on the graph's size (seeks
# on the unique id, an expand between two nodes found that way, one ImportRun by its id), yet
# Neo4j planned them again whenever its statistics moved, which an import into a growing graph
# does all the time: 3-12 re-plans per 200k records, ~8 % of the server's CPU. A test checks that
# the plans made on an empty graph (the ones kept) seek.
PLAN_ONCE = "CYPHER replan=skip "


def _run(tx: ManagedTransaction, query: str, **params: Any) -> neo4j.Result:
    """Run one of the writer's statements (each goes through here, so each keeps its plan)."""
    return tx.run(PLAN_ONCE + query, **params)


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
    rows per ``UNWIND`` statement inside it; ``in_flight`` chunks may commit at once."""

    # Transactions cost the server more per row the more rows they hold: a 1M-record import on a
    # warm server took 69.9 s in chunks of 20,000 rows, 58.9-60.7 s in chunks of 5,000 (server CPU
    # 59 -> 44-47 s) and 63.0 s in chunks of 3,000.
    rows: int = 5_000
    bytes: int = 32 * 1024 * 1024
    batch: int = 5_000
    # Two: a chunk's commit (a third of the writer's time on the server) overlaps the next chunk's
    # statements. More would only queue on a two-core machine, and each holds a chunk in memory.
    in_flight: int = 2

    def __post_init__(self) -> None:
        if min(self.rows, self.bytes, self.batch, self.in_flight) < 1:
            raise ValueError(f"chunk limits must be positive: {self}")


# Neo4j's range index refuses values above ~8 kB; ids and labels are indexed, so longer ones are
# refused here, by name, before a transaction fails on them.
MAX_INDEXED_BYTES = 4096


def check_indexed(node: NodeRow) -> None:
    """Refuse a node whose id or label is too long for Neo4j's range index, naming it."""
    label = node.properties.get("label")
    for name, value in (("id", node.id), ("label", label if isinstance(label, str) else None)):
        if value is not None and len(value.encode("utf-8", "surrogatepass")) > MAX_INDEXED_BYTES:
            raise InputError(f"the {name} of {node.kind.value} {value[:80]!r}... is "
                             f"{len(value.encode('utf-8', 'surrogatepass'))} bytes; at most {MAX_INDEXED_BYTES} "
                             "can be indexed")


def _size(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return sum(len(v) if isinstance(v, str) else 8 for v in value)
    return 8


def _row_bytes(ident: str, props: dict[str, Any]) -> int:
    return len(ident) + sum(len(k) + _size(v) for k, v in props.items())


def _split_times(props: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """``props`` without its zoned datetimes, and those as ISO-8601 text (zone name appended).

    The statements turn the text back into the DateTime (instant, offset, zone) that the driver
    would have sent. Two reasons not to leave them to the driver: its conversion runs in pure
    Python (it cost more than the rest of a row's packing), and for a ``zoneinfo`` zone it hands
    its own DateTime to the C ``ZoneInfo.utcoffset``, which reads it as a datetime: wrong offsets
    at best, a segmentation fault at worst (seen in a test run). A datetime without a zone (a
    LocalDateTime for Neo4j), or with an offset that is not whole minutes, stays in ``props``.
    """
    times: dict[str, str] | None = None
    for key, value in props.items():
        if isinstance(value, datetime):
            text = _zoned_text(value)
            if text is not None:
                if times is None:
                    times = {}
                times[key] = text
    if times is None:
        return props, _NO_TIMES
    return {k: v for k, v in props.items() if k not in times}, times


_NO_TIMES: dict[str, str] = {}


def _zoned_text(value: datetime) -> str | None:
    """``value`` as Cypher's ``datetime()`` reads it, or None if it has no zone Neo4j can keep."""
    tz = value.tzinfo
    offset = value.utcoffset() if tz is not None else None
    if offset is None or offset.microseconds or offset.seconds % 60:
        return None
    name = getattr(tz, "key", None) or getattr(tz, "zone", None)  # zoneinfo, pytz
    return f"{value.isoformat()}[{name}]" if isinstance(name, str) and name else value.isoformat()


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


class _Job:
    """One job of a :class:`Background`: its thread, what it claims, and how it ended."""

    def __init__(self, job: Callable[[], Any], done: Callable[[Any], None] | None, claims: AbstractSet[Hashable]):
        self.done = done
        self.claims = claims
        self.error: BaseException | None = None
        self.result: Any = None
        self.thread = threading.Thread(target=self._run, args=(job,), name="lineagegraph-writer")
        self.thread.start()

    def _run(self, job: Callable[[], Any]) -> None:
        try:
            self.result = job()
        except BaseException as exc:  # handed to the caller's thread by Background
            self.error = exc


class Background:
    """Jobs on worker threads, at most ``depth`` at once, so the caller prepares the next while they run.

    Commits are mostly waiting on the server, and the driver releases the GIL while it waits, so
    the caller's parsing and mapping of the next chunk overlaps the database's work on this one;
    with a depth of two, one chunk's commit also overlaps the next one's statements.

    A job may name what it *claims* (the keys it writes): it starts only after every running job
    that claims one of them has finished, so two jobs never write the same thing at once and such
    writes land in the order they were submitted. Results go to each job's ``done`` callback on
    the caller's thread, in submission order. When a job fails, the others still running are
    waited for and their results passed on (what they committed is reported) before the first
    error is raised, by :meth:`submit` or :meth:`wait`.
    """

    def __init__(self, depth: int = 1) -> None:
        if depth < 1:
            raise ValueError(f"depth must be positive: {depth}")
        self._depth = depth
        self._jobs: deque[_Job] = deque()

    def claimed(self, claims: AbstractSet[Hashable]) -> bool:
        """True if a job still running (or not yet waited for) claims one of ``claims``."""
        return any(not claims.isdisjoint(job.claims) for job in self._jobs)

    def submit(self, job: Callable[[], Any], done: Callable[[Any], None] | None = None, *,
               claims: AbstractSet[Hashable] = frozenset()) -> None:
        if self.claimed(claims):
            self._retire(0)
        self._retire(self._depth - 1)
        self._jobs.append(_Job(job, done, claims))

    def wait(self, *, raise_error: bool = True) -> None:
        """Wait for every job; pass their results on, then raise the first error (if ``raise_error``)."""
        self._retire(0, raise_error=raise_error)

    def _retire(self, keep: int, *, raise_error: bool = True) -> None:
        error: BaseException | None = None
        while self._jobs and (len(self._jobs) > keep or error is not None):
            job = self._jobs.popleft()
            job.thread.join()
            if job.error is not None:
                error = error or job.error
            elif job.done is not None:
                job.done(job.result)
        if error is not None and raise_error:
            raise error


class ChunkedWriter:
    """Streams elements and relations into chunked transactions, recorded on their import runs.

    Each row names its run and source: by default the writer's own (one import run), or those
    given to :meth:`add` (many small runs sharing chunks, see ``GraphStore.import_units``).
    ``on_chunk`` receives, per run, each committed chunk's counts (run id, nodes, relationships);
    ``progress`` the number of rows of each statement as it runs (inside the transaction, so a
    small unit that fails in a progress callback still leaves nothing).

    A full chunk is committed on a worker thread while :meth:`add` goes on filling the next one.
    Up to ``limits.in_flight`` chunks commit at once, each in its own transaction, so memory holds
    that many chunks plus the one being filled. A chunk that writes a node or relationship that a
    chunk still in flight writes (declares it, makes it as a relation's end, or merges the same
    relationship) waits for that chunk first, so such writes land in the order of the input and
    never race. An error is raised by the next :meth:`add` or :meth:`flush`, after the other
    chunks in flight have finished and been reported. :meth:`flush` returns once everything
    added is committed. After an error of the caller's own, :meth:`close` waits for the chunks
    in flight so that the run's counts include them.
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
        self._progress_lock = threading.Lock()  # chunks in flight report from their own threads
        self._chunk = _Chunk()
        self._in_flight = Background(self._limits.in_flight)
        # Per statement kind (nodes: False, relationships: True), how many batches go on straight
        # to the full statement (see _statement). Shared by the chunks in flight without a lock:
        # a lost update costs one statement, never a wrong write.
        self._skip_first_writes = {False: 0, True: 0}
        # (id, run) of nodes that committed chunks declared: a later chunk's relationships that end
        # there need no endpoint statement (see _plan). Bounded, forgotten when full. Read and
        # changed on the caller's thread only.
        self._committed: set[tuple[str, str]] = set()

    def add(self, item: GraphItem, *, run: str | None = None, source: str | None = None) -> None:
        run, source = run or self._run, source or self._source
        if run is None or source is None:
            raise ValueError("every row needs an import run and its source key")
        chunk = self._chunk
        row = as_row(item)
        props, times = _split_times(row.properties)
        if isinstance(row, NodeRow):
            check_indexed(row)
            chunk.nodes[(row.kind, row.extra_labels)].append(
                {"id": row.id, "props": props, "times": times, "run": run, "source": source})
            chunk.bytes += _row_bytes(row.id, props) + _row_bytes("", times)
        else:
            chunk.relations[row.relation].append({"start": row.start, "end": row.end, "key": row.key,
                                                  "props": props, "times": times, "run": run, "source": source})
            chunk.bytes += _row_bytes(row.start + row.end + row.key, props) + _row_bytes("", times)
        chunk.rows += 1
        if chunk.rows >= self._limits.rows or chunk.bytes >= self._limits.bytes:
            self._submit()

    def write(self, items: Iterable[GraphItem]) -> None:
        """Add every item and flush; on any error, wait for the chunks in flight before raising."""
        try:
            with rare_collections():
                for item in items:
                    self.add(item)
                self.flush()
        finally:
            self.close()

    def flush(self) -> None:
        """Commit what is pending and wait until every chunk is committed (or raise its error)."""
        self._submit()
        self._in_flight.wait()

    def close(self) -> None:
        """Wait for the chunks in flight, reporting those that committed; what is pending is dropped."""
        self._chunk = _Chunk()
        self._in_flight.wait(raise_error=False)

    def _submit(self) -> None:
        chunk, self._chunk = self._chunk, _Chunk()
        if not chunk.rows:
            return
        ends, claims = self._plan(chunk)
        if self._in_flight.claimed(claims):
            # It writes what a chunk in flight writes: that one commits (and is remembered) first.
            self._in_flight.wait()
            ends, claims = self._plan(chunk)
        self._in_flight.submit(lambda: self._commit(chunk, ends), self._report, claims=claims)

    def _plan(self, chunk: _Chunk) -> tuple[dict[ElementKind | None, list[dict[str, Any]]], set[Hashable]]:
        """The chunk's endpoint rows, and everything it writes: node ids, and relationships by key.

        An end that its run declared in this chunk or a committed one exists and lists that run
        already: its endpoint statement (a MERGE and the touch of its bookkeeping) would change
        nothing. A file that lists its elements before its relations (PROV-JSON does) made one
        such statement per end of every relation, a fifth of the import's statement time.
        """
        committed = self._committed
        declared = {(row["id"], row["run"]) for rows in chunk.nodes.values() for row in rows}
        claims: set[Hashable] = {ident for ident, _ in declared}
        ends: dict[ElementKind | None, list[dict[str, Any]]] = defaultdict(list)
        for cls, rows in chunk.relations.items():
            for row in rows:
                for end_kind, ident in ((cls.start_kind, row["start"]), (cls.end_kind, row["end"])):
                    if (ident, row["run"]) not in declared and (ident, row["run"]) not in committed:
                        ends[end_kind].append({"id": ident, "props": None, "times": None, "run": row["run"],
                                               "source": row["source"]})
                        claims.add(ident)
                claims.add((cls.type, row["start"], row["end"], row["key"]))
        return ends, claims

    def _commit(self, chunk: _Chunk, ends: dict[ElementKind | None, list[dict[str, Any]]]) -> dict[str, _RunChunk]:
        with self._driver.session(database=self._database) as session:
            return session.execute_write(self._write_chunk, chunk, ends)

    def _report(self, result: dict[str, _RunChunk]) -> None:
        # Runs on the caller's thread, in the order the chunks were submitted (see Background).
        if len(self._committed) > MAX_REMEMBERED_NODES:
            self._committed.clear()
        for run, done in result.items():
            self._committed.update((ident, run) for ident in done.node_ids)
        if self._on_chunk:
            for run, done in result.items():
                self._on_chunk(run, done.nodes, done.relationships)

    def _statement(self, tx: ManagedTransaction, query: str, rows: list[dict[str, Any]],
                   result: dict[str, _RunChunk] | None, relationships: bool = False, *,
                   fresh: Callable[[bool], str] | None = None, **params: Any) -> None:
        """Run ``query`` over merged rows, a batch at a time; add its counts to ``result`` (if given).

        With ``fresh`` (the first-write statement's text, given whether the batch is one run's
        alone), each batch goes through that statement first, and only the rows it did not create
        go through ``query``. A batch of rows mostly in the graph already (a re-import)
        would pay for both: after one, the next ``FIRST_WRITE_PAUSE`` batches of its kind go
        straight to ``query``, which writes new rows as well, only slower.
        """
        batch_size = self._limits.batch
        paused = self._skip_first_writes
        for start in range(0, len(rows), batch_size):
            batch = rows[start:start + batch_size]
            expected = sum(len(row["counted"]) for row in batch)
            if fresh is not None and result is not None:
                if paused[relationships] > 0:
                    paused[relationships] -= 1
                else:
                    sent = len(batch)
                    batch = self._first_writes(tx, fresh, batch, result, relationships)
                    if 2 * len(batch) > sent:
                        paused[relationships] = FIRST_WRITE_PAUSE
            if batch:
                self._run_counted(tx, query, batch, result, relationships, **params)
            if self._progress and result is not None:
                with self._progress_lock:
                    self._progress(expected)

    def _first_writes(self, tx: ManagedTransaction, fresh: Callable[[bool], str], batch: list[dict[str, Any]],
                      result: dict[str, _RunChunk], relationships: bool) -> list[dict[str, Any]]:
        """Run a first-write statement over ``batch``, count what it created; return the other rows."""
        one_run = _one_run(batch)
        params: dict[str, Any]
        if one_run is None:
            rows, params = batch, {"max_sources": MAX_TRACKED_SOURCES}
        else:
            rows = [{k: v for k, v in row.items() if k not in _RUN_FIELDS} for row in batch]
            params = {"run": one_run[0], "source": one_run[1]}
        record = _run(tx, fresh(one_run is not None), rows=_Rows(rows), kinds=KIND_LABELS, **params).single(strict=True)
        if record["seen"] != len(batch):  # a relationship whose end was not there: never silently dropped
            raise RuntimeError(f"the writer wrote {record['seen']} of {len(batch)} rows of a statement")
        rest: list[int] = record["rest"]
        not_created = set(rest)
        for i, row in enumerate(batch):
            if i in not_created:
                continue
            first, *others = row["counted"]
            done = result.setdefault(first, _RunChunk())
            (done.relationships if relationships else done.nodes).add(1, 0, 1)
            for run in others:
                done = result.setdefault(run, _RunChunk())
                (done.relationships if relationships else done.nodes).add(0, 0, 1)
        return [batch[i] for i in rest]

    def _run_counted(self, tx: ManagedTransaction, query: str, batch: list[dict[str, Any]],
                     result: dict[str, _RunChunk] | None, relationships: bool, **params: Any) -> None:
        records = _run(tx, query, rows=_Rows(batch), kinds=KIND_LABELS, max_sources=MAX_TRACKED_SOURCES, **params)
        if result is None:
            records.consume()
            return
        seen = 0
        for record in records:
            if record["conflicts"]:
                raise KindConflictError.from_rows(record["conflicts"])
            done = result.setdefault(record["run"], _RunChunk())
            (done.relationships if relationships else done.nodes).add(
                record["created"], record["updated"], record["total"])
            seen += record["total"]
        expected = sum(len(row["counted"]) for row in batch)
        if seen != expected:  # a relationship whose end was not there: never silently dropped
            raise RuntimeError(f"the writer wrote {seen} of {expected} rows of a statement")

    def _write_chunk(self, tx: ManagedTransaction, chunk: _Chunk,
                     ends: dict[ElementKind | None, list[dict[str, Any]]]) -> dict[str, _RunChunk]:
        result: dict[str, _RunChunk] = {}  # a retried transaction starts from zero again
        for (kind, extra), rows in chunk.nodes.items():
            for layer in _merged(rows, lambda row: row["id"]):
                self._statement(tx, _node_query(kind, extra), layer, result, kind=kind.value,
                                fresh=partial(_fresh_node_query, kind, extra))
            for row in rows:
                result[row["run"]].node_ids.append(row["id"])
        for end_kind, rows in ends.items():
            for layer in _merged(rows, lambda row: row["id"]):
                self._statement(tx, _endpoint_query(end_kind), layer, None)
        for cls, rows in chunk.relations.items():
            for layer in _merged(rows, lambda row: (row["start"], row["end"], row["key"])):
                self._statement(tx, _relation_query(cls.type, cls.start_kind, cls.end_kind), layer, result, True,
                                fresh=partial(_fresh_relation_query, cls.type, cls.start_kind, cls.end_kind))
            for row in rows:
                done = result[row["run"]]
                done.rel_types.append(cls.type.value)
                done.rel_starts.append(row["start"])
                done.rel_ends.append(row["end"])
                done.rel_keys.append(row["key"])
        _run(tx, _RUN_PROGRESS, runs=_Rows(done.row(run) for run, done in result.items()),
             now=datetime.now(UTC)).consume()
        return result


class _Rows(list[Any]):
    """A statement's rows, with a short ``repr``.

    The driver builds the text of a debug log line for every statement it sends, logging on or
    not, and that text is the ``repr`` of the parameters: for 5,000 rows, 15 ms of the writer
    thread's time per statement (1 s of a 200k-record import), every one of them spent while
    the server waits. Packed into the same bytes as a plain list.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<{len(self)} rows>"


def _merged(rows: list[dict[str, Any]], key: Callable[[dict[str, Any]], Hashable]) -> list[list[dict[str, Any]]]:
    """The rows of one statement kind, merged so that each layer names every key at most once.

    Consecutive rows of one key with equal properties become one row listing their runs
    (``counted``) and, per source, the newest of them (``runs``/``sources``). A row whose
    properties differ from its key's previous row starts the key's next layer, so layers run in
    order and the element ends up as the last row says, as if the rows had run one by one.
    """
    layers: list[list[dict[str, Any]]] = []
    latest: dict[Hashable, tuple[int, dict[str, Any], dict[str, int]]] = {}
    for row in rows:
        k = key(row)
        found = latest.get(k)
        if found is not None and found[1]["props"] == row["props"] and found[1]["times"] == row["times"]:
            merged, position = found[1], found[2]
            merged["counted"].append(row["run"])
            at = position.get(row["source"])
            if at is None:
                position[row["source"]] = len(merged["sources"])
                merged["sources"].append(row["source"])
                merged["runs"].append(row["run"])
            else:
                merged["runs"][at] = row["run"]
            continue
        depth = found[0] + 1 if found is not None else 0
        merged = {**row, "counted": [row["run"]], "runs": [row["run"]], "sources": [row["source"]]}
        del merged["run"], merged["source"]
        if depth == len(layers):
            layers.append([])
        layers[depth].append(merged)
        latest[k] = (depth, merged, {row["source"]: 0})
    return layers


def relation_type(value: str) -> RelationType:
    """The allow-listed relationship type named by ``value`` (read back from an ImportBatch)."""
    return RelationType(value)
