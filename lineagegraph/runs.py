"""Import-run bookkeeping: every import is an ``ImportRun`` node whose record stays true.

A run is created ``running`` (with host, pid and a heartbeat) before anything is written; each
committed chunk adds its counts to it in the same transaction (see :mod:`lineagegraph.writer`), so
the counts are always exactly what is committed. It ends ``ok`` or ``failed`` (with the error and
the counts of what did land). A run whose process died (SIGKILL, power loss, Neo4j gone) cannot end
itself: :func:`reconcile_stale_runs` marks it ``interrupted`` — on the next import from any
process, and through ``lineagegraph imports reconcile``.

Undo (:func:`remove_run`) reads the run's ``ImportBatch`` records, so it costs time in proportion
to the run, not to the graph. Runs recorded before batches existed are undone by a scan.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import neo4j

from lineagegraph.errors import NotFoundError
from lineagegraph.process import pid_alive
from lineagegraph.redaction import rules_fingerprint
from lineagegraph.writer import Counts, relation_type

__all__ = ["ImportSummary", "InputRead", "complete_read", "input_digest", "new_run_id", "reconcile_stale_runs",
           "remove_run", "skip_if_unchanged"]

# A run with no heartbeat for this long is taken for dead even when its host cannot be checked.
DEFAULT_STALE_AFTER = timedelta(hours=1)

# The runs this process has started and not yet finished: a "running" run of this process that
# is not among them lost its ending (the database went away before it could be written).
_ACTIVE: set[str] = set()


class GraphStore(Protocol):
    """What run bookkeeping needs of :class:`lineagegraph.store.GraphStore` (which calls it)."""

    driver: neo4j.Driver
    database: str

    def read(self, query: str, **params: Any) -> list[dict[str, Any]]: ...

    def write_query(self, query: str, **params: Any) -> list[dict[str, Any]]: ...


def now() -> datetime:
    return datetime.now(UTC)


def new_run_id() -> str:
    return f"run-{now().strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(4)}"


@dataclass(frozen=True)
class InputRead:
    """One reading of an input file: its path, what decided its graph (``digest``), and a token
    shared by the runs of the units it yielded (a file may yield several)."""

    path: str
    digest: str
    stat: tuple[int, int] | None = None
    """Size and modification time when the digest was taken."""
    token: str = field(default_factory=lambda: secrets.token_hex(8))

    @classmethod
    def begin(cls, source: str, settings: object) -> InputRead | None:
        """The reading about to start of ``source``, if it is a file that an importer with these
        ``input_settings`` (a string; anything else opts out) may skip when unchanged."""
        if not isinstance(settings, str):
            return None
        path = Path(source)
        if not path.is_file():
            return None
        # Taken before the digest: a file rewritten while it is read is not recorded as read whole.
        stat = _file_stat(path)
        try:
            return cls(source, input_digest(path, settings), stat=stat)
        except OSError:
            return None  # unreadable: the importer reports it as it reads

    def file_unchanged(self) -> bool:
        """Whether the file still has the size and modification time it had when the reading began."""
        return _file_stat(Path(self.path)) == self.stat


def _file_stat(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns


def input_digest(path: Path, settings: str) -> str:
    """What decides the graph an import of ``path`` writes: the file's bytes, the importer's
    ``settings``, this version of lineagegraph and the redaction rules in use."""
    digest = hashlib.sha256()
    for part in (_version(), settings, rules_fingerprint()):
        digest.update(part.encode())
        digest.update(b"\0")
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


@cache
def _version() -> str:
    try:
        return metadata.version("lineagegraph")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


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
    notes: dict[str, Any] = field(default_factory=dict)
    read: InputRead | None = None

    @property
    def source_key(self) -> str:
        """What identifies a source across runs: a later run of the same key supersedes this one."""
        return f"{self.importer}:{self.source}"

    def line(self) -> str:
        if self.status == "skipped":
            return (f"{self.source}: skipped, unchanged since run {self.notes.get('unchanged since')}: "
                    f"{self.nodes.unchanged} nodes and {self.relationships.unchanged} relationships as then "
                    f"(run {self.run_id}; --force reads it again)")
        n, r = self.nodes, self.relationships
        extra = "".join(f"; {k} {v}" for k, v in sorted(self.notes.items()))
        return (
            f"{self.source}: {self.status}; nodes {n.created} created, {n.updated} updated, "
            f"{n.unchanged} unchanged; relationships {r.created} created, {r.updated} updated, "
            f"{r.unchanged} unchanged{extra} (run {self.run_id})"
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
            **({"notes": self.notes} if self.notes else {}),
        }


# What every new ImportRun node starts with besides its id, importer, source and status.
# Its unchanged counts come from $unchanged (nodes, relationships): zero but for a skipped run.
_NEW_RUN = ("started_at: $now, heartbeat_at: $now, host: $host, pid: $pid, batched: true, chunks: 0, "
            "nodes_created: 0, nodes_updated: 0, nodes_unchanged: $unchanged[0], relationships_created: 0, "
            "relationships_updated: 0, relationships_unchanged: $unchanged[1]")


def start_run(store: GraphStore, importer: str, source: str, read: InputRead | None = None) -> ImportSummary:
    summary = ImportSummary(run_id=new_run_id(), importer=importer, source=source, read=read)
    start_runs(store, [summary])
    return summary


def start_runs(store: GraphStore, summaries: list[ImportSummary]) -> None:
    """Record these runs as ``running`` (one transaction), before anything of theirs is written."""
    _ACTIVE.update(s.run_id for s in summaries)
    store.write_query(
        "UNWIND $runs AS run CREATE (r:ImportRun {id: run.id, importer: run.importer, source: run.source, "
        f"status: 'running', {_NEW_RUN}, input: run.input, input_digest: run.digest, input_read: run.read}})",
        runs=[{"id": s.run_id, "importer": s.importer, "source": s.source,
               "input": s.read.path if s.read else None, "digest": s.read.digest if s.read else None,
               "read": s.read.token if s.read else None} for s in summaries],
        now=now(), host=socket.gethostname(), pid=os.getpid(), unchanged=[0, 0],
    )


def finish_run(store: GraphStore, summary: ImportSummary) -> None:
    finish_runs(store, [summary])


def finish_runs(store: GraphStore, summaries: list[ImportSummary]) -> None:
    # The counts are already on the nodes (each chunk added its own); only the outcome is new.
    # Whether or not this write gets through, these runs are no longer in progress here.
    _ACTIVE.difference_update(s.run_id for s in summaries)
    store.write_query(
        "UNWIND $runs AS run MATCH (r:ImportRun {id: run.id}) "
        "SET r.ended_at = $now, r.status = run.status, r.error = run.error, r.notes = run.notes",
        runs=[{"id": s.run_id, "status": s.status, "error": s.error,
               "notes": [f"{k}={v}" for k, v in sorted(s.notes.items())] or None} for s in summaries],
        now=now(),
    )


def complete_read(store: GraphStore, read: InputRead, units: int) -> None:
    """Record that ``read`` yielded ``units`` units, every one imported ``ok``: only a complete
    reading of an input can let a later import of the unchanged input be skipped."""
    store.write_query("MATCH (r:ImportRun {input_read: $token}) SET r.input_units = $units",
                      token=read.token, units=units)


# The runs of the newest reading of an input, when re-reading it would change nothing: the
# reading was complete, of the same digest, every run of it ended ok and is still the newest
# run of its source (none was removed, failed or superseded since).
_UNCHANGED = """
MATCH (r:ImportRun {importer: $importer, input: $input})
WHERE r.status <> 'skipped'
WITH r ORDER BY r.started_at DESC LIMIT 1
WITH r WHERE r.input_digest = $digest AND r.input_units IS NOT NULL
MATCH (s:ImportRun {input_read: r.input_read})
WITH r, collect(s) AS runs
WHERE size(runs) = r.input_units AND all(s IN runs WHERE s.status = 'ok' AND NOT EXISTS {
  MATCH (t:ImportRun {importer: s.importer, source: s.source})
  WHERE t.started_at > s.started_at AND t.status <> 'skipped' })
UNWIND runs AS s
RETURN s.id AS id, s.source AS source,
       coalesce(s.nodes_created, 0) + coalesce(s.nodes_updated, 0) + coalesce(s.nodes_unchanged, 0) AS nodes,
       coalesce(s.relationships_created, 0) + coalesce(s.relationships_updated, 0)
         + coalesce(s.relationships_unchanged, 0) AS relationships
ORDER BY s.started_at, s.id
"""


def skip_if_unchanged(store: GraphStore, importer: str, read: InputRead) -> ImportSummary | None:
    """If importing ``read`` again would change nothing (see _UNCHANGED), record a ``skipped``
    run that names the runs it repeats, and return its summary; else None.

    The skipped run writes nothing and owns nothing: the elements keep naming the runs it repeats,
    so ``imports remove`` of one of those still undoes it, and the next import reads the file.
    Its counts are those of the runs it repeats, every one of them unchanged: what a forced import
    of the file would report if nothing else had touched those elements since.
    """
    same = store.read(_UNCHANGED, importer=importer, input=read.path, digest=read.digest)
    if not same:
        return None
    summary = ImportSummary(run_id=new_run_id(), importer=importer, source=read.path, status="skipped",
                            notes={"unchanged since": ", ".join(row["id"] for row in same)})
    summary.nodes.unchanged = sum(row["nodes"] for row in same)
    summary.relationships.unchanged = sum(row["relationships"] for row in same)
    store.write_query(
        "CREATE (r:ImportRun {id: $id, importer: $importer, source: $source, status: 'skipped', "
        f"{_NEW_RUN}, ended_at: $now, input: $source, input_digest: $digest, same_as: $same, notes: $notes}})",
        id=summary.run_id, importer=importer, source=read.path, now=now(), host=socket.gethostname(),
        pid=os.getpid(), digest=read.digest, same=[row["id"] for row in same],
        notes=[f"{k}={v}" for k, v in summary.notes.items()],
        unchanged=[summary.nodes.unchanged, summary.relationships.unchanged])
    return summary


def reconcile_stale_runs(store: GraphStore, *, stale_after: timedelta = DEFAULT_STALE_AFTER) -> list[str]:
    """Mark runs whose importer died as ``interrupted``; return their ids.

    A run is dead when it was started on this host by a process that no longer exists (or by this
    process, which is no longer running it: its ending could not be written), or when its
    heartbeat (renewed by every committed chunk) is older than ``stale_after``.
    """
    host, me = socket.gethostname(), os.getpid()
    rows = store.read(
        "MATCH (r:ImportRun {status: 'running'}) "
        "RETURN r.id AS id, r.host AS host, r.pid AS pid, coalesce(r.heartbeat_at, r.started_at) AS beat"
    )
    cutoff = now() - stale_after
    dead = []
    for row in rows:
        beat = row["beat"].to_native() if hasattr(row["beat"], "to_native") else row["beat"]
        pid = row["pid"]
        gone = row["host"] == host and isinstance(pid, int) and (
            row["id"] not in _ACTIVE if pid == me else not pid_alive(pid))
        if gone or (beat is not None and beat < cutoff):
            dead.append(row["id"])
    if dead:
        store.write_query(
            "UNWIND $ids AS id MATCH (r:ImportRun {id: id, status: 'running'}) "
            "SET r.status = 'interrupted', r.ended_at = $now, r.error = $why",
            ids=dead, now=now(),
            why="the importing process stopped before it finished; the counts are what it committed. "
                "Re-run the import to complete it, or 'lineagegraph imports remove' to undo it.",
        )
    return dead


_DROP = (
    "SET {v}.import_sources = [i IN range(0, size({v}.import_runs) - 1) "
    "WHERE {v}.import_runs[i] <> $run | {v}.import_sources[i]], "
    "{v}.import_runs = [x IN {v}.import_runs WHERE x <> $run]"
)


# Asserted by this run alone: deleted with it. A shared element (see lineagegraph.writer) is asserted
# by more sources than its lists name, so it never is.
_ONLY = "e.import_runs = [$run] AND NOT coalesce(e.import_shared, false)"


# A run's batches. `seq IS NOT NULL` lets Neo4j seek the (run, seq) index: with a predicate on
# `run` alone it scans every batch of every run.
BATCH_SEQS = "MATCH (b:ImportBatch {run: $run}) WHERE b.seq IS NOT NULL RETURN b.seq AS seq ORDER BY seq"
DELETE_BATCHES = "MATCH (b:ImportBatch {run: $run}) WHERE b.seq IS NOT NULL DELETE b"


def remove_run(store: GraphStore, run_id: str) -> dict[str, int]:
    """Undo a run: delete what only it asserts, and drop it from what other sources also assert.

    An element asserted by several sources keeps its properties as they are. A run that a later
    run of the same source has superseded owns nothing any more, so removing it changes no
    element. The ``ImportRun`` node stays, with status ``removed``, so the removal is auditable.
    Works for failed and interrupted runs too: their batches name exactly what they committed.
    """
    found = store.read("MATCH (r:ImportRun {id: $id}) RETURN r.batched AS batched", id=run_id)
    if not found:
        raise NotFoundError(f"no import run with id {run_id!r} (see 'lineagegraph imports list')")
    counts = _remove_by_batches(store, run_id) if found[0]["batched"] else _remove_by_scan(store, run_id)
    store.write_query(
        "MATCH (r:ImportRun {id: $id}) SET r.status = 'removed', r.removed_at = $now",
        id=run_id, now=now(),
    )
    return counts


def _remove_by_batches(store: GraphStore, run_id: str) -> dict[str, int]:
    counts = dict.fromkeys(("relationships_deleted", "relationships_kept", "nodes_deleted", "nodes_kept"), 0)
    seqs = [row["seq"] for row in store.read(
        BATCH_SEQS, run=run_id)]
    touched: set[str] = set()
    with store.driver.session(database=store.database) as session:
        # Relationships first: deleting a node detaches whatever still hangs on it.
        for seq in seqs:
            batch = session.run("MATCH (b:ImportBatch {run: $run, seq: $seq}) RETURN b {.*} AS b",
                                run=run_id, seq=seq).single(strict=True)["b"]
            touched.update(batch["node_ids"] or [])
            touched.update(batch["rel_starts"] or [])
            touched.update(batch["rel_ends"] or [])
            by_type: dict[str, list[dict[str, str]]] = {}
            for rtype, start, end, key in zip(batch["rel_types"] or [], batch["rel_starts"] or [],
                                              batch["rel_ends"] or [], batch["rel_keys"] or [], strict=True):
                by_type.setdefault(rtype, []).append({"start": start, "end": end, "key": key})
            for rtype, rows in by_type.items():
                rel = relation_type(rtype).value  # allow-listed
                match = (f"UNWIND $rows AS row MATCH (:Element {{id: row.start}})-[e:{rel} {{key: row.key}}]->"
                         "(:Element {id: row.end}) WHERE $run IN e.import_runs ")
                record = session.run(
                    match + f"WITH DISTINCT e WITH e, {_ONLY} AS only "
                    f"CALL (e, only) {{ WITH * WHERE only DELETE e }} "
                    f"CALL (e, only) {{ WITH * WHERE NOT only {_DROP.replace('{v}', 'e')} }} "
                    "RETURN sum(CASE WHEN only THEN 1 ELSE 0 END) AS deleted, count(e) AS total",
                    rows=rows, run=run_id).single(strict=True)
                counts["relationships_deleted"] += record["deleted"]
                counts["relationships_kept"] += record["total"] - record["deleted"]
        ids = sorted(touched)
        for start in range(0, len(ids), 10_000):
            record = session.run(
                "UNWIND $ids AS id MATCH (e:Element {id: id}) WHERE $run IN e.import_runs "
                f"WITH e, {_ONLY} AS only "
                "CALL (e, only) { WITH * WHERE only DETACH DELETE e } "
                f"CALL (e, only) {{ WITH * WHERE NOT only {_DROP.replace('{v}', 'e')} }} "
                "RETURN sum(CASE WHEN only THEN 1 ELSE 0 END) AS deleted, count(e) AS total",
                ids=ids[start:start + 10_000], run=run_id).single(strict=True)
            counts["nodes_deleted"] += record["deleted"]
            counts["nodes_kept"] += record["total"] - record["deleted"]
        session.run(DELETE_BATCHES, run=run_id).consume()
    return counts


def _remove_by_scan(store: GraphStore, run_id: str) -> dict[str, int]:
    # Runs recorded before ImportBatch existed: find their elements by scanning.
    steps = (
        ("relationships_deleted", "MATCH ()-[e]->() WHERE e.import_runs = [$run]", "DELETE e"),
        ("relationships_kept", "MATCH ()-[e]->() WHERE $run IN e.import_runs", _DROP.replace("{v}", "e")),
        ("nodes_deleted", "MATCH (e:Element) WHERE e.import_runs = [$run]", "DETACH DELETE e"),
        ("nodes_kept", "MATCH (e:Element) WHERE $run IN e.import_runs", _DROP.replace("{v}", "e")),
    )
    counts: dict[str, int] = {}
    with store.driver.session(database=store.database) as session:
        for name, match, action in steps:
            counts[name] = session.run(match + " RETURN count(e) AS c", run=run_id).single(strict=True)["c"]
            session.run(f"{match} CALL (e) {{ {action} }} IN TRANSACTIONS OF 10000 ROWS", run=run_id).consume()
    return counts
