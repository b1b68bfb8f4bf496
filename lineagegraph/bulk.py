"""Bulk first load: an importer's units written as CSV and loaded offline by ``neo4j-admin``.

For the first import into an EMPTY database of the local server, this is the fast path: the units
are streamed once into CSV files in ``neo4j-admin database import`` format, the server is stopped,
the tool builds the store (``--overwrite-destination``, allowed only because the database was
checked to hold no node), the server is restarted, and the schema and the import records are
written online. The result is the graph the online writer (:mod:`lineagegraph.writer`) gives for
the same input:

* nodes: ``Element`` + kind label + allow-listed extra labels, ``id``, the element's properties,
  ``created_by``, ``import_sources`` and ``import_runs`` (one entry per unit), ``stub`` for ends no
  unit declares (kind label from the relation that first named them, as online);
* relationships of the allow-listed types with their ``key``, properties and the same bookkeeping;
* one ``ImportRun`` per unit with true counts and status, and ``ImportBatch`` nodes listing what
  each slice of a chunk's size (``ChunkLimits.rows``) touched, so ``lineagegraph imports remove
  RUN`` works as for any run.

How the online semantics are kept without holding the graph in memory: a compact table (64-bit
hashes of ids in open addressing arrays, a few bits of state each: kind label, in the CSV,
declared, which unit saw it first) decides, record by record, whether the record can go into the
CSV as a first assertion. Everything else -- a second declaration of an id (online: properties
merged), a relation repeated, a record touching what another unit created (online: that unit's
entry added to the bookkeeping lists), a value CSV cannot carry faithfully (empty lists, named
time zones, non-finite floats, strings with NUL, ...) -- is kept aside and written after the load
through the online writer under the same run, which is by construction what the online import
does with it. Kind conflicts are found while streaming, before anything is touched.

A unit that fails (``InputError``) is reported with its source and is recorded as a failed run;
the others are still loaded (the CSV pass is run again without it, so nothing of it is loaded).
When no unit succeeds the database is not touched at all.

Why it is long: the CSV dialect (typed columns, quoting, arrays), the per-record decision that
keeps the online semantics, and driving the tool and the server are one path that only makes
sense together; split, each part would expose the others' internals.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import subprocess
import tempfile
import time
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

from lineagegraph.errors import ConfigError, InputError, KindConflictError, LineageGraphError, ServerError
from lineagegraph.model import ElementKind, GraphItem, NodeRow, RelationshipRow, as_row
from lineagegraph.runs import ImportSummary, InputRead, complete_read, finish_runs, new_run_id, start_runs
from lineagegraph.server import LocalServer, admin_tool_command
from lineagegraph.settings import Settings
from lineagegraph.store import GraphStore
from lineagegraph.writer import ChunkLimits, check_indexed

__all__ = ["BulkOutcome", "BulkSource", "DatabaseNotEmptyError", "bulk_load", "local_server"]

# neo4j-admin splits arrays (and the :LABEL column) on this character; strings that contain it go
# the online way. The unit separator never appears in ids or labels a source means to write.
ARRAY_DELIMITER = "\x1f"
# The run bookkeeping and the node key: an element property of one of these names would collide
# with them (online, the writer's own SETs decide the outcome), so such elements go online.
_RESERVED = frozenset({"id", "created_by", "import_sources", "import_runs", "stub", "key"})
_KIND_CODE = {None: 0, ElementKind.ENTITY: 1, ElementKind.ACTIVITY: 2, ElementKind.AGENT: 3}
_KIND_OF_CODE = {1: ElementKind.ENTITY, 2: ElementKind.ACTIVITY, 3: ElementKind.AGENT}
# State bits in the id table (the rest of the value is the index of the unit that saw the id first).
_KIND_MASK, _IN_CSV, _DECLARED, _OWNER_SHIFT = 0b11, 0b100, 0b1000, 5
_BATCH_ROWS = ChunkLimits().rows  # ImportBatch slices as big as the online writer's chunks
_MAX_OPEN_FILES = 64
_MAX_STRING = 1 << 20  # neo4j-admin's read buffer (4 MiB) must hold any one value


class UnitLike(Protocol):
    """What the bulk path needs of an import unit (``importers.base.ImportUnit`` is one)."""

    source: str

    def items(self) -> Iterator[GraphItem]: ...


class BulkSource(Protocol):
    """What the bulk path needs of an importer: the contract of ``importers/base.py``."""

    name: str

    def units(self, source: str) -> Iterator[Any]: ...


class DatabaseNotEmptyError(ConfigError):
    """The bulk path overwrites the database, so it refuses one that holds anything."""


@dataclass
class BulkOutcome:
    """What a bulk load did: one summary per unit (failed ones too), the input errors, timings."""

    summaries: list[ImportSummary] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    csv_rows: dict[str, int] = field(default_factory=dict)
    online_rows: int = 0
    work_dir: Path | None = None
    """Where the CSV files and the tool's log were kept (``keep_files``), else None."""
    admin_files: list[str] = field(default_factory=list)
    """The ``--nodes``/``--relationships`` arguments given to neo4j-admin (to time the tool alone)."""


class _HashTable:
    """Ids (as 64-bit hashes) to a small int, in two flat arrays: 12 bytes per slot, at most 60 %
    of the slots used, instead of a Python str and dict entry (~150 bytes) per id.

    A hash collision (odds ~n^2/2^65: 3e-8 at a million ids) makes two ids look like one; the
    consequence is at worst a load that fails loudly (a relationship whose end has no node row),
    never a silent merge, because records of an id already seen only ever go the online way.
    """

    def __init__(self, capacity: int = 1 << 16) -> None:
        self._keys = array("Q", bytes(8 * capacity))
        self._values = array("I", bytes(4 * capacity))
        self._mask = capacity - 1
        self._used = 0

    @staticmethod
    def hash(text: str) -> int:
        value = int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(),
                               "little")
        return value or 1  # 0 marks an empty slot

    def _slot(self, key: int) -> int:
        keys, mask = self._keys, self._mask
        slot = key & mask
        while True:
            found = keys[slot]
            if found == key or found == 0:
                return slot
            slot = (slot + 1) & mask

    def get(self, key: int) -> int | None:
        slot = self._slot(key)
        return self._values[slot] if self._keys[slot] else None

    def put(self, key: int, value: int) -> None:
        slot = self._slot(key)
        if not self._keys[slot]:
            self._keys[slot] = key
            self._used += 1
            if self._used * 10 > len(self._keys) * 6:
                self._values[slot] = value
                self._grow()
                return
        self._values[slot] = value

    def _grow(self) -> None:
        old_keys, old_values = self._keys, self._values
        capacity = len(old_keys) * 2
        self._keys = array("Q", bytes(8 * capacity))
        self._values = array("I", bytes(4 * capacity))
        self._mask = capacity - 1
        for key, value in zip(old_keys, old_values, strict=True):
            if key:
                slot = self._slot(key)
                self._keys[slot] = key
                self._values[slot] = value

    @property
    def nbytes(self) -> int:
        return len(self._keys) * (self._keys.itemsize + self._values.itemsize)


# -- CSV values ------------------------------------------------------------------------------


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _string_ok(text: str) -> bool:
    if "\x00" in text or len(text) > _MAX_STRING:
        return False
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: the driver refuses it online too
            return False
    return True


def _datetime_text(value: datetime) -> tuple[str, str] | None:
    """(neo4j-admin type, text) of a datetime the way the driver would store it, or None."""
    tz = value.tzinfo
    if tz is None:
        return "localdatetime", value.isoformat()
    if isinstance(getattr(tz, "zone", None), str) or isinstance(getattr(tz, "key", None), str):
        return None  # the driver sends a named zone; CSV keeps offsets only, so this goes online
    offset = value.utcoffset()
    if offset is None or offset.microseconds or offset.seconds % 60:
        return None
    return "datetime", value.isoformat()


def _scalar(value: Any) -> tuple[str, str] | None:
    """(type, unquoted text) of one property value, or None when CSV cannot carry it exactly."""
    if isinstance(value, bool):
        return "boolean", "true" if value else "false"
    if isinstance(value, int):
        return ("long", str(value)) if -(1 << 63) <= value < (1 << 63) else None
    if isinstance(value, float):
        return ("double", repr(value)) if math.isfinite(value) else None
    if isinstance(value, datetime):
        return _datetime_text(value)
    if isinstance(value, str):
        return ("string", value) if _string_ok(value) else None
    return None


def _field(value: Any) -> tuple[str, str] | None:
    """(column type, CSV field) of a property value, or None (then the record goes online)."""
    if isinstance(value, list):
        if not value:
            return None  # an empty list has no element type to declare
        parts = [_scalar(v) for v in value]
        kinds = {p[0] if p else None for p in parts}
        if None in kinds or len(kinds) != 1:
            return None
        kind = kinds.pop()
        assert kind is not None
        texts = [p[1] for p in parts if p]
        if kind == "string" and any(not t or ARRAY_DELIMITER in t for t in texts):
            return None
        joined = ARRAY_DELIMITER.join(texts)
        return kind + "[]", _quote(joined) if kind == "string" else joined
    scalar = _scalar(value)
    if scalar is None:
        return None
    kind, text = scalar
    return kind, _quote(text) if kind == "string" else text


def _name_ok(name: str) -> bool:
    # Header entries are `name:type`; keep to names neo4j-admin's header parser reads back as given.
    return (bool(name) and name not in _RESERVED and _string_ok(name) and not name.startswith(":")
            and not name.endswith(":") and not any(c in name for c in ',"{}[]\n\r\t ' + ARRAY_DELIMITER))


def _columns(props: dict[str, Any]) -> tuple[tuple[tuple[str, str], ...], list[str]] | None:
    """The typed columns and fields of ``props`` (sorted by name), or None if any cannot go to CSV."""
    columns: list[tuple[str, str]] = []
    fields: list[str] = []
    for name in sorted(props):
        if not _name_ok(name):
            return None
        typed = _field(props[name])
        if typed is None:
            return None
        columns.append((name, typed[0]))
        fields.append(typed[1])
    return tuple(columns), fields


def _multiline(text: str) -> bool:
    return "\n" in text or "\r" in text


# -- the CSV files ---------------------------------------------------------------------------


_NODE_HEADER = ["id:ID", ":LABEL", "created_by:string", "import_sources:string[]", "import_runs:string[]"]
_REL_HEADER = [":START_ID", ":END_ID", ":TYPE", "key:string", "created_by:string", "import_sources:string[]",
               "import_runs:string[]"]


@dataclass
class _Group:
    header: Path
    data: Path
    multiline: bool = False
    rows: int = 0


class _CsvFiles:
    """One header file and one data file per column set ("group"), for nodes and relationships.

    Properties differ between records, and a neo4j-admin column has one type, so each distinct
    set of (name, type) columns gets its own group; at most ``_MAX_OPEN_FILES`` stay open.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.groups: dict[tuple[str, tuple[tuple[str, str], ...]], _Group] = {}
        self._open: OrderedDict[Path, IO[str]] = OrderedDict()

    def write(self, what: str, fixed: list[str], columns: tuple[tuple[str, str], ...], fields: list[str],
              multiline: bool) -> None:
        key = (what, columns)
        group = self.groups.get(key)
        if group is None:
            index = len(self.groups)
            group = _Group(self.root / f"{what}-{index}-header.csv", self.root / f"{what}-{index}.csv")
            base = _NODE_HEADER if what == "nodes" else _REL_HEADER
            header = base + [f"{name}:{kind}" for name, kind in columns]
            group.header.write_text(",".join(header) + "\n", encoding="utf-8")
            self.groups[key] = group
        out = self._open.get(group.data)
        if out is None:
            if len(self._open) >= _MAX_OPEN_FILES:
                self._open.popitem(last=False)[1].close()
            out = self._open[group.data] = group.data.open("a", encoding="utf-8", newline="")
        else:
            self._open.move_to_end(group.data)
        out.write(",".join(fixed + fields) + "\n")
        group.rows += 1
        group.multiline = group.multiline or multiline

    def close(self) -> None:
        while self._open:
            self._open.popitem()[1].close()

    def arguments(self) -> list[str]:
        args = []
        for (what, _), group in self.groups.items():
            args.append(f"--{'nodes' if what == 'nodes' else 'relationships'}={group.header},{group.data}")
        multiline = [str(g.data) for g in self.groups.values() if g.multiline]
        if multiline:
            args += ["--multiline-fields-format=v2", "--multiline-fields=" + ",".join(multiline)]
        return args

    def rows(self, what: str) -> int:
        return sum(g.rows for (w, _), g in self.groups.items() if w == what)


# -- one pass over the units -----------------------------------------------------------------


@dataclass
class _Unit:
    """What one unit contributes: its run, its CSV counts and slices, what waits for the online writer."""

    index: int
    summary: ImportSummary
    started: datetime
    batch_file: Path
    """The ImportBatch slices, a JSON line each (on disk: they list every id the unit touched)."""
    nodes_created: int = 0
    relationships_created: int = 0
    online: list[NodeRow | RelationshipRow] = field(default_factory=list)
    batches: int = 0
    _batch: dict[str, list[str]] = field(default_factory=dict)
    _batch_rows: int = 0

    def touched(self, kind: str, **values: str) -> None:
        if not self._batch:
            self._batch = {k: [] for k in ("node_ids", "rel_types", "rel_starts", "rel_ends", "rel_keys")}
        for key, value in values.items():
            self._batch[key].append(value)
        self._batch_rows += 1
        if self._batch_rows >= _BATCH_ROWS:
            self.close_batch()

    def close_batch(self) -> None:
        if self._batch_rows:
            with self.batch_file.open("a", encoding="utf-8") as out:
                out.write(json.dumps(self._batch, ensure_ascii=False) + "\n")
            self.batches += 1
        self._batch, self._batch_rows = {}, 0


class _Pass:
    """Streams units into CSV, deciding per record: CSV (first assertion) or online (the rest)."""

    def __init__(self, root: Path, importer: str, max_online: int) -> None:
        self.root = root
        self.importer = importer
        self.max_online = max_online
        self.files = _CsvFiles(root)
        self.ids = _HashTable()
        self.relations = _HashTable()
        self.units: list[_Unit] = []
        self.online_rows = 0
        self._candidates = (root / "stub-candidates.jsonl").open("w", encoding="utf-8")

    # Ids are looked up once per record end; the table value packs the state bits (see above).
    def _state(self, ident: str) -> tuple[int, int | None]:
        key = _HashTable.hash(ident)
        return key, self.ids.get(key)

    def _online(self, unit: _Unit, item: NodeRow | RelationshipRow) -> None:
        self.online_rows += 1
        if self.online_rows > self.max_online:
            raise LineageGraphError(
                f"more than {self.max_online} records repeat or cross-reference what an earlier record or file "
                "asserted; those are written online after the bulk load and are held in memory until then. "
                "Import these files online ('lineagegraph import ...'), or raise the limit (--max-online)")
        unit.online.append(item)

    def add_unit(self, summary: ImportSummary, items: Iterable[GraphItem]) -> _Unit:
        index = len(self.units)
        unit = _Unit(index, summary, datetime.now(UTC), self.root / f"batches-{index}.jsonl")
        for item in items:
            row = as_row(item)
            if isinstance(row, NodeRow):
                self._element(unit, row)
            else:
                self._relation(unit, row)
        unit.close_batch()
        self.units.append(unit)
        return unit

    def _bookkeeping(self, unit: _Unit) -> list[str]:
        run, source = unit.summary.run_id, unit.summary.source_key
        return [_quote(run), _quote(source), _quote(run)]

    def _element(self, unit: _Unit, element: NodeRow) -> None:
        check_indexed(element)
        kind = _KIND_CODE[element.kind]
        key, state = self._state(element.id)
        if state is not None:
            have = state & _KIND_MASK
            if have and have != kind:
                raise KindConflictError(f"one kind per id: {element.id!r} is already an {_KIND_OF_CODE[have].value}, "
                                        f"not an {element.kind.value}")
        typed = _columns(element.properties) if _string_ok(element.id) else None
        first_here = state is None or (not state & _DECLARED and state >> _OWNER_SHIFT == unit.index
                                       and not state & _IN_CSV)
        if typed is None or not first_here:
            # A repeat, what another unit created, or values CSV cannot carry: the online writer's way.
            self._online(unit, element)
            if state is None:
                self._candidate(unit, element.id)
                state = unit.index << _OWNER_SHIFT
            self.ids.put(key, (state & ~_KIND_MASK) | kind | _DECLARED)
            return
        columns, fields = typed
        labels = ARRAY_DELIMITER.join(["Element", element.kind.value, *element.extra_labels])
        multiline = _multiline(element.id) or any(_multiline(f) for f in fields)
        self.files.write("nodes", [_quote(element.id), _quote(labels), *self._bookkeeping(unit)], columns, fields,
                         multiline)
        self.ids.put(key, kind | _IN_CSV | _DECLARED | (unit.index << _OWNER_SHIFT))
        unit.nodes_created += 1
        unit.touched("node", node_ids=element.id)

    def _candidate(self, unit: _Unit, ident: str) -> None:
        # Ids first seen as a relation end (or declared online): a stub row unless declared in CSV.
        self._candidates.write(json.dumps([ident, unit.index], ensure_ascii=False) + "\n")

    def _end(self, unit: _Unit, ident: str, want: ElementKind | None, relation: RelationshipRow) -> bool:
        """Record a relation end; True when this unit created it (so the relation may go to CSV)."""
        key, state = self._state(ident)
        if state is None:
            self.ids.put(key, _KIND_CODE[want] | (unit.index << _OWNER_SHIFT))
            self._candidate(unit, ident)
            return _string_ok(ident)
        have = state & _KIND_MASK
        if want is not None and have and have != _KIND_CODE[want]:
            raise KindConflictError(
                f"one kind per id: {relation.relation.type.value}({relation.start}, {relation.end}) needs "
                f"{ident!r} to be an {want.value}, but it is an {_KIND_OF_CODE[have].value}")
        return state >> _OWNER_SHIFT == unit.index and _string_ok(ident)

    def _relation(self, unit: _Unit, relation: RelationshipRow) -> None:
        start, end, rkey, rtype = relation.start, relation.end, relation.key, relation.relation.type.value
        own_start = self._end(unit, start, relation.relation.start_kind, relation)
        own_end = self._end(unit, end, relation.relation.end_kind, relation)
        hashed = _HashTable.hash("\x00".join((rtype, start, end, rkey)))
        new = self.relations.get(hashed) is None
        if new:
            self.relations.put(hashed, 1)
        typed = _columns(relation.properties) if _string_ok(rkey) else None
        if not (new and own_start and own_end and typed is not None):
            self._online(unit, relation)
            return
        columns, fields = typed
        multiline = any(_multiline(t) for t in (start, end, rkey, *fields))
        self.files.write("rels", [_quote(start), _quote(end), rtype, _quote(rkey),
                                  *self._bookkeeping(unit)], columns, fields, multiline)
        unit.relationships_created += 1
        unit.touched("rel", rel_types=rtype, rel_starts=start, rel_ends=end, rel_keys=rkey)

    def finish(self) -> None:
        """Write the stub rows: ids a relation named (or declared online) that no CSV row declares."""
        self._candidates.close()
        with (self.root / "stub-candidates.jsonl").open(encoding="utf-8") as lines:
            for line in lines:
                ident, index = json.loads(line)
                key, state = self._state(ident)
                if state is None or state & _IN_CSV or not _string_ok(ident):
                    continue  # declared in the CSV, or created online (an id CSV cannot carry)
                self.ids.put(key, state | _IN_CSV)
                owner = self.units[index]
                kind = _KIND_OF_CODE.get(state & _KIND_MASK)
                labels = ARRAY_DELIMITER.join(["Element", *([kind.value] if kind else [])])
                self.files.write("nodes", [_quote(ident), _quote(labels), *self._bookkeeping(owner)],
                                 (("stub", "boolean"),), ["true"], _multiline(ident))
        self.files.close()


# -- the load --------------------------------------------------------------------------------


def local_server(settings: Settings) -> LocalServer:
    """The local server the settings name; a ConfigError when they point at another Neo4j."""
    if not settings.uses_local_server:
        raise ConfigError(
            f"the bulk load works only with lineagegraph's local server (it stops the server and writes its store "
            f"files), but NEO4J_URI points at {settings.neo4j_uri}; unset NEO4J_URI, or import online "
            "('lineagegraph import ...'), or use that server's own neo4j-admin")
    return LocalServer(settings.server_home, settings.server_port, heap_mb=settings.server_heap_mb,
                       page_cache_mb=settings.server_page_cache_mb)


def _require_empty(store: GraphStore) -> None:
    row = store.read("MATCH (n) WITH count(n) AS nodes "
                     "RETURN nodes, COUNT { MATCH (e:Element) } AS elements")[0]
    if row["nodes"]:
        raise DatabaseNotEmptyError(
            f"the database {store.database!r} is not empty ({row['nodes']} nodes, {row['elements']} of them "
            "Elements); the bulk load is only for a first import into an empty database and overwrites it. "
            "Nothing was changed; import online ('lineagegraph import ...') instead")


def admin_import_command(server: LocalServer, database: str, files: Sequence[str], work: Path) -> list[str]:
    """The ``neo4j-admin database import full`` command line (jars of the cached runtime)."""
    return [
        *admin_tool_command(),
        # The database name comes first: the file options take a variable number of values and
        # would swallow a name that follows them.
        "database", "import", "full", database, "--overwrite-destination=true",
        f"--array-delimiter=U+{ord(ARRAY_DELIMITER):04X}",
        "--id-type=string", "--bad-tolerance=0", "--skip-bad-relationships=false", "--skip-duplicate-nodes=false",
        "--legacy-style-quoting=false", "--ignore-empty-strings=false", "--trim-strings=false",
        f"--report-file={work / 'import.report'}", *files,
    ]


def run_admin_import(server: LocalServer, database: str, files: Sequence[str], work: Path) -> float:
    """Run the tool on a stopped server's home; return its wall time. Raises ServerError on failure."""
    command = admin_import_command(server, database, files, work)
    log = work / "neo4j-admin.log"
    conf = work / "conf"  # an empty configuration directory: the tool's defaults, like the server's
    conf.mkdir(exist_ok=True)
    env = {**os.environ, "NEO4J_HOME": str(server.home), "NEO4J_CONF": str(conf)}
    started = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                              cwd=work, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise ServerError(f"neo4j-admin database import failed (exit {proc.returncode}); its output ends:\n{tail}")
    return elapsed


def _csv_pass(importer: BulkSource, sources: Sequence[str], root: Path, runs: dict[str, ImportSummary],
              failed: dict[str, InputError], failed_runs: list[ImportSummary], max_online: int,
              progress: Callable[[int], None] | None, reads: dict[str, InputRead | None]) -> _Pass:
    """Stream every source not yet known to fail; on the first InputError, note it and start over.

    A unit that fails once it was handed over gets a failed run (online, its run had started); a
    source that fails before yielding a unit gets none, as with ``run_import``.
    """
    while True:
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        stream = _Pass(root, importer.name, max_online)
        try:
            for source in sources:
                if source in failed:
                    continue
                current: ImportSummary | None = None
                try:
                    for unit in importer.units(source):
                        current = runs.setdefault(unit.source, ImportSummary(
                            run_id=new_run_id(), importer=importer.name, source=unit.source,
                            read=reads.get(source)))
                        stream.add_unit(current, _counted(unit.items(), progress))
                        current = None
                except InputError as exc:
                    if exc.source is None:
                        exc = type(exc)(str(exc), source=source, location=exc.location)
                    failed[source] = exc
                    if current is not None:
                        current.status, current.error = "failed", str(exc)[:2000] or type(exc).__name__
                        failed_runs.append(current)
                    raise
            stream.finish()
            return stream
        except InputError:
            stream.files.close()
            continue


def _counted(items: Iterator[GraphItem], progress: Callable[[int], None] | None) -> Iterator[GraphItem]:
    if progress is None:
        yield from items
        return
    done = 0
    for item in items:
        yield item
        done += 1
        if done == 5000:
            progress(done)
            done = 0
    if done:
        progress(done)


_RECORD_BULK = """
MATCH (r:ImportRun {id: $run})
SET r.nodes_created = r.nodes_created + $nodes, r.relationships_created = r.relationships_created + $rels,
    r.chunks = $chunks, r.started_at = $started, r.heartbeat_at = $now
WITH r
UNWIND $batches AS b
CREATE (:ImportBatch {run: $run, seq: b.seq, node_ids: b.node_ids, rel_types: b.rel_types,
                      rel_starts: b.rel_starts, rel_ends: b.rel_ends, rel_keys: b.rel_keys})
"""


def _record(store: GraphStore, unit: _Unit) -> None:
    """The unit's run as the online writer leaves it: counts, one ImportBatch per slice, then the rest."""
    summary = unit.summary

    def send(batches: list[dict[str, Any]], first: bool) -> None:
        store.write_query(_RECORD_BULK, run=summary.run_id, nodes=unit.nodes_created if first else 0,
                          rels=unit.relationships_created if first else 0, chunks=unit.batches,
                          started=unit.started, now=datetime.now(UTC), batches=batches)

    pending: list[dict[str, Any]] = []
    first = True
    if unit.batches:
        with unit.batch_file.open(encoding="utf-8") as lines:
            for seq, line in enumerate(lines, start=1):
                pending.append({"seq": seq, **json.loads(line)})
                if len(pending) == 5:  # a few slices per transaction: each lists up to a chunk's ids
                    send(pending, first)
                    pending, first = [], False
    if pending or first:
        send(pending, first)
    summary.nodes.created += unit.nodes_created
    summary.relationships.created += unit.relationships_created
    if unit.online:
        store.write(summary, unit.online)


def _complete_reads(store: GraphStore, reads: dict[str, InputRead | None], summaries: list[ImportSummary],
                    failed: dict[str, InputError]) -> None:
    """Mark each file whose every unit loaded ``ok``, unmodified meanwhile, as read whole."""
    for source, read in reads.items():
        if read is None or source in failed or not read.file_unchanged():
            continue
        mine = [s for s in summaries if s.read is read]
        if mine and all(s.status == "ok" for s in mine):
            complete_read(store, read, len(mine))


def bulk_load(settings: Settings, importer: BulkSource, sources: Iterable[str], *, work_dir: Path | None = None,
              keep_files: bool = False, max_online: int = 200_000,
              progress: Callable[[int], None] | None = None, quiet: bool = True) -> BulkOutcome:
    """Load ``sources`` through ``importer`` into the empty database of the local server, offline.

    Raises :class:`DatabaseNotEmptyError` (nothing touched) when the database holds any node, and
    ConfigError when the settings name another server. ``progress`` receives record counts while
    the CSV files are written.
    """
    server = local_server(settings)
    resolved = [str(Path(s).resolve()) if Path(s).exists() else s for s in sources]
    outcome = BulkOutcome()
    with GraphStore.connect(settings, quiet=quiet) as store:
        _require_empty(store)
    runs: dict[str, ImportSummary] = {}
    failed: dict[str, InputError] = {}
    failed_runs: list[ImportSummary] = []
    work = Path(tempfile.mkdtemp(prefix="lineagegraph-bulk-", dir=work_dir))
    try:
        started = time.perf_counter()
        # Digested as by run_import, so that an online import of an unchanged file skips it later.
        settings_of = getattr(importer, "input_settings", None)
        reads = {source: InputRead.begin(source, settings_of) for source in resolved}
        stream = _csv_pass(importer, resolved, work / "csv", runs, failed, failed_runs, max_online, progress,
                           reads)
        outcome.timings["csv_seconds"] = round(time.perf_counter() - started, 2)
        outcome.csv_rows = {"nodes": stream.files.rows("nodes"), "relationships": stream.files.rows("rels")}
        outcome.online_rows = stream.online_rows
        outcome.errors = list(failed.values())
        outcome.admin_files = stream.files.arguments()
        if not stream.units:
            return outcome  # nothing good to load: the database is left exactly as it was
        with GraphStore.connect(settings, quiet=quiet) as store:
            _require_empty(store)  # again, right before the stop: nothing may have arrived since
        server.stop()
        try:
            if stream.files.groups:
                outcome.timings["tool_seconds"] = round(
                    run_admin_import(server, settings.neo4j_database, stream.files.arguments(), work), 2)
        finally:
            # Restarted whatever happened: a failed tool run leaves the (empty) database to the server.
            server.start(quiet=quiet)
        started = time.perf_counter()
        with GraphStore.connect(settings, quiet=quiet) as store:
            store.init_schema()
            good = [unit.summary for unit in stream.units]
            bad = failed_runs
            start_runs(store, good + bad)
            for unit in stream.units:
                try:
                    _record(store, unit)
                    unit.summary.status = "ok"
                except InputError as exc:  # the online part refused something after all
                    unit.summary.status, unit.summary.error = "failed", str(exc)[:2000]
                    outcome.errors.append(exc)
                unit.summary.notes["loaded"] = "neo4j-admin"
            finish_runs(store, good + bad)
            _complete_reads(store, reads, good + bad, failed)
        outcome.timings["records_seconds"] = round(time.perf_counter() - started, 2)
        outcome.summaries = good + bad
        return outcome
    finally:
        if keep_files:
            outcome.work_dir = work
        else:
            shutil.rmtree(work, ignore_errors=True)
