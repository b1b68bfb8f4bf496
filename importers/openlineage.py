"""Importer for OpenLineage events: RunEvent, DatasetEvent and JobEvent, from files or a live endpoint.

Events come as NDJSON (one event per line, what the client's file transport writes) or as a JSON
array, in any spec version the official client writes (1-x and 2-x; the ``schemaURL`` says which,
and an event without one is recognised by its shape). Each event is validated by the pydantic models
here before anything is written: a bad event raises :class:`~lineagegraph.errors.InputError` naming
the file and line, and nothing of that file is written (an NDJSON file of ``STREAM_ABOVE_BYTES`` or
more is read and written in batches instead: a bad line stops it there, and its import run ends
``failed`` with exactly what it wrote, as for every streamed import).

Mapping (details and a table in ``docs/openlineage.md``):

* a run (``runId``) is one ``Activity``; its START/RUNNING/COMPLETE/FAIL/ABORT/OTHER events are
  merged in whatever order they arrive: the time of each state is kept (``event_time_<state>``) and
  the status is the latest terminal state, else ``RUNNING``. A retry has a new runId: a new run.
* a job is an ``Agent`` with the extra label ``Plan``; its runs are ``WAS_ASSOCIATED_WITH`` it with
  the job as ``plan``.
* a dataset (namespace + name, joined as the OpenLineage naming spec says) is a location
  ``Entity`` (label ``Location``, id from :func:`lineagegraph.identity.location_id`); each run that
  writes it makes a version (:func:`lineagegraph.identity.version_id`, ``SPECIALIZATION_OF`` the
  location, ``WAS_GENERATED_BY`` the run). Readers ``USE`` the latest version written before they
  started when one is known (in the same import, or in the graph through ``known_versions``), else
  the location.
* the parent run facet makes the child run ``WAS_INFORMED_BY`` its parent run: the parent (an
  Airflow DAG run, a Spark application) is the context the child ran in, so it is upstream of it.
* facets are kept as JSON properties (``facet_<name>``); column lineage is also normalised to
  location ids (``column_lineage``) so that :func:`column_lineage` can answer which input columns
  feed an output column.
"""

from __future__ import annotations

import json
import re
import sys
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lineagegraph.errors import InputError, NotFoundError
from lineagegraph.identity import location_id, source_id, version_id
from lineagegraph.importers.base import ImportUnit
from lineagegraph.model import (
    Activity,
    Agent,
    Element,
    Entity,
    Relation,
    SpecializationOf,
    Used,
    WasAssociatedWith,
    WasGeneratedBy,
    WasInformedBy,
)
from lineagegraph.store import GraphStore

__all__ = [
    "ColumnSource",
    "OpenLineageImporter",
    "column_lineage",
    "dataset_location",
    "parse_event",
    "read_events",
    "refresh_run_status",
    "store_versions",
]

SOURCE = "openlineage"
KNOWN_MAJOR_VERSIONS = frozenset({1, 2})
TERMINAL_STATES = ("COMPLETE", "FAIL", "ABORT")

STREAM_ABOVE_BYTES = 16 * 1024 * 1024
"""NDJSON files at least this big are read and mapped in batches instead of whole."""
STREAM_BATCH_EVENTS = 5_000
STATES = ("START", "RUNNING", "COMPLETE", "FAIL", "ABORT", "OTHER")

_SCHEMA_URL = re.compile(
    r"^https?://openlineage\.io/spec/(?P<major>\d+)-(?P<minor>\d+)-(?P<patch>\d+)/OpenLineage\.json"
    r"(?:#/(?:\$defs|definitions)/(?P<kind>\w+))?$"
)
_FACET_NAME = re.compile(r"[^A-Za-z0-9_]")


# -- the event models (what we accept; unknown fields are allowed, as the spec is extensible) -------

class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class OLDataset(_Model):
    namespace: str = Field(min_length=1)
    name: str = Field(min_length=1)
    facets: dict[str, Any] | None = None
    inputFacets: dict[str, Any] | None = None  # noqa: N815 (the spec's field name)
    outputFacets: dict[str, Any] | None = None  # noqa: N815


class OLJob(_Model):
    namespace: str = Field(min_length=1)
    name: str = Field(min_length=1)
    facets: dict[str, Any] | None = None


class OLRun(_Model):
    runId: str = Field(min_length=1)  # noqa: N815
    facets: dict[str, Any] | None = None


class OLRunEvent(_Model):
    eventType: Literal["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"] | None = None  # noqa: N815
    eventTime: datetime  # noqa: N815
    run: OLRun
    job: OLJob
    inputs: list[OLDataset] | None = None
    outputs: list[OLDataset] | None = None
    producer: str | None = None
    schemaURL: str | None = None  # noqa: N815


class OLDatasetEvent(_Model):
    eventTime: datetime  # noqa: N815
    dataset: OLDataset
    producer: str | None = None
    schemaURL: str | None = None  # noqa: N815


class OLJobEvent(_Model):
    eventTime: datetime  # noqa: N815
    job: OLJob
    inputs: list[OLDataset] | None = None
    outputs: list[OLDataset] | None = None
    producer: str | None = None
    schemaURL: str | None = None  # noqa: N815


Event = OLRunEvent | OLDatasetEvent | OLJobEvent


def _kind_of(data: dict[str, Any]) -> str:
    """Which event this is: from the schemaURL when it names one, else from its shape."""
    url = data.get("schemaURL")
    if url is not None:
        match = _SCHEMA_URL.match(str(url))
        if match is None:
            raise ValueError(f"unknown schema {str(url)[:200]!r}: not an OpenLineage spec URL")
        major = int(match.group("major"))
        if major not in KNOWN_MAJOR_VERSIONS:
            raise ValueError(f"unknown schema version {match.group('major')}-{match.group('minor')}-"
                             f"{match.group('patch')} (this importer reads spec versions 1 and 2)")
        kind = match.group("kind")
        if kind in ("RunEvent", "DatasetEvent", "JobEvent"):
            return kind
        if kind not in (None, "BaseEvent"):
            raise ValueError(f"unknown schema {str(url)[:200]!r}: {kind} is not an event")
    if "run" in data or "eventType" in data:
        return "RunEvent"
    if "dataset" in data:
        return "DatasetEvent"
    if "job" in data:
        return "JobEvent"
    raise ValueError("not an OpenLineage event: no run, job or dataset")


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(p) for p in error["loc"])
        parts.append(f"{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(parts)


def parse_event(data: Any) -> Event:
    """Validate one decoded event; raise ``ValueError`` with the reason when it is not one."""
    if not isinstance(data, dict):
        raise ValueError(f"an event must be a JSON object, not {type(data).__name__}")
    kind = _kind_of(data)
    models: dict[str, type[OLRunEvent] | type[OLDatasetEvent] | type[OLJobEvent]] = {
        "RunEvent": OLRunEvent, "DatasetEvent": OLDatasetEvent, "JobEvent": OLJobEvent}
    try:
        event: Event = models[kind].model_validate(data)
    except ValidationError as exc:
        if kind == "RunEvent" and any(e["loc"][:1] == ("run",) for e in exc.errors()):
            raise ValueError(f"RunEvent without a usable run.runId ({_validation_message(exc)})") from None
        raise ValueError(f"invalid {kind}: {_validation_message(exc)}") from None
    if event.eventTime.tzinfo is None:
        raise ValueError("eventTime has no time zone offset")
    return event


def read_events(data: bytes, source: str) -> list[tuple[str, Event]]:
    """Decode and validate every event of a file's bytes: NDJSON, a JSON array, or one object.

    Returns ``(location, event)`` pairs, where location is ``line N`` or ``item N``; raises
    :class:`InputError` naming the source and the line of the first bad event.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError("not UTF-8 text", source=source, location=f"byte {exc.start}") from exc
    stripped = text.lstrip()
    raw: list[tuple[str, Any]] = []
    if stripped.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON: {exc.msg}", source=source, location=f"line {exc.lineno}") from exc
        raw = [(f"item {i}", item) for i, item in enumerate(items, 1)]
    else:
        lines = text.splitlines()
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                raw.append((f"line {number}", json.loads(line)))
            except json.JSONDecodeError as exc:
                if number == 1 and stripped.startswith("{"):
                    # Perhaps one pretty-printed event rather than NDJSON.
                    try:
                        raw = [("line 1", json.loads(text))]
                        break
                    except json.JSONDecodeError:
                        pass
                raise _bad_line(exc, source, number) from exc
    return [(where, _checked(item, source, where)) for where, item in raw]


def _bad_line(exc: json.JSONDecodeError, source: str, number: int) -> InputError:
    return InputError(f"not valid JSON ({exc.msg}); truncated or not NDJSON?", source=source, location=f"line {number}")


def _checked(item: Any, source: str, where: str) -> Event:
    try:
        return parse_event(item)
    except ValueError as exc:
        raise InputError(str(exc), source=source, location=where) from exc


def stream_ndjson_events(path: Path, source: str) -> Iterator[Event]:
    """The events of an NDJSON file, one line at a time (for files too big to read whole).

    Raises :class:`InputError` naming the line of the first bad event, after yielding the ones
    before it.
    """
    with path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            if number == 1:
                line = line.removeprefix(b"\xef\xbb\xbf")
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise _bad_line(exc, source, number) from exc
            except UnicodeDecodeError as exc:
                raise InputError("not UTF-8 text", source=source, location=f"line {number}") from exc
            yield _checked(item, source, f"line {number}")


# -- naming -------------------------------------------------------------------------------------

@lru_cache(maxsize=65536)
def dataset_location(namespace: str, name: str) -> str:
    """The location id of an OpenLineage dataset, per the spec's naming conventions.

    ``gs://bucket`` + ``path/model.pb`` is ``gs://bucket/path/model.pb``, the same id a Kubernetes
    Job or a decorated function gives that object; ``file`` + ``/data/x.csv`` is
    ``file:///data/x.csv``; ``postgres://host:5432`` + ``db.schema.table`` is
    ``postgres://host:5432/db.schema.table``. A namespace that is only a scheme (``bigquery``,
    ``snowflake`` without an account) becomes ``scheme:/name``. An Azure namespace
    ``abfss://container@account...`` keeps the container as the first path segment, because the
    shared normaliser drops user information (where Azure puts the container).
    """
    ns, nm = namespace.strip(), name.strip()
    if "://" in nm:  # some producers put a whole URI into the name
        return location_id(nm)
    if ns == "file" or ns.startswith("file:"):
        return location_id("file://" + ("" if nm.startswith("/") else "/") + nm)
    if "://" in ns:
        parts = urlsplit(ns)
        base = ns.rstrip("/")
        if parts.username and parts.scheme.lower() in ("abfs", "abfss", "wasb", "wasbs"):
            host = parts.hostname or ""
            port = f":{parts.port}" if parts.port else ""
            base = f"{parts.scheme}://{host}{port}/{parts.username}{parts.path.rstrip('/')}"
        return location_id(base + "/" + nm.lstrip("/"))
    scheme = re.sub(r"[^a-z0-9+.\-]", "-", ns.lower())
    return location_id(f"{scheme}:///{nm.lstrip('/')}")


def _short(run_id: str) -> str:
    # The tail: UUIDv7 run ids (what current clients make) share their leading, time-based digits.
    return run_id[-8:]


def run_activity_id(run_id: str) -> str:
    return source_id(SOURCE, "run", run_id)


def job_agent_id(namespace: str, name: str) -> str:
    return source_id(SOURCE, "job", namespace, name)


def _facet_props(prefix: str, facets: dict[str, Any] | None) -> dict[str, Any]:
    """Facets as properties named ``<prefix><facet>`` with JSON values (nulls skipped).

    Each facet's ``_producer`` and ``_schemaURL`` are dropped: they repeat the event's producer
    and the spec on every facet and would drown what the facet says.
    """
    props: dict[str, Any] = {}
    for name, value in (facets or {}).items():
        if value is None:
            continue
        if isinstance(value, dict):
            value = {k: v for k, v in value.items() if k not in ("_producer", "_schemaURL")}
        props[prefix + _FACET_NAME.sub("_", name)] = value
    return props


def _normalise_column_lineage(facet: Any) -> dict[str, list[dict[str, Any]]]:
    """The columnLineage facet as ``{output column: [{dataset, field, transformations}]}``."""
    result: dict[str, list[dict[str, Any]]] = {}
    if not isinstance(facet, dict) or not isinstance(facet.get("fields"), dict):
        return result
    for column, spec in facet["fields"].items():
        sources: list[dict[str, Any]] = []
        for item in (spec or {}).get("inputFields") or []:
            if not isinstance(item, dict) or not item.get("namespace") or not item.get("name"):
                continue
            transformations = list(item.get("transformations") or [])
            if not transformations and (spec.get("transformationType") or spec.get("transformationDescription")):
                # Spec 1.x put one transformation on the output field instead.
                transformations = [{"type": spec.get("transformationType"),
                                    "description": spec.get("transformationDescription")}]
            sources.append({"dataset": dataset_location(item["namespace"], item["name"]),
                            "field": str(item.get("field")), "transformations": transformations})
        result[str(column)] = sources
    return result


# -- merging events into runs --------------------------------------------------------------------

@dataclass
class _DatasetUse:
    namespace: str
    name: str
    location: str
    facets: dict[str, Any] = field(default_factory=dict)
    io_facets: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Run:
    run_id: str
    job_namespace: str
    job_name: str
    producer: str | None = None
    state_times: dict[str, datetime] = field(default_factory=dict)
    facets: dict[str, tuple[datetime, Any]] = field(default_factory=dict)
    job_facets: dict[str, tuple[datetime, Any]] = field(default_factory=dict)
    inputs: dict[str, _DatasetUse] = field(default_factory=dict)
    outputs: dict[str, _DatasetUse] = field(default_factory=dict)
    first_time: datetime | None = None
    last_time: datetime | None = None

    @property
    def activity_id(self) -> str:
        return run_activity_id(self.run_id)

    @property
    def started_at(self) -> datetime | None:
        return self.state_times.get("START") or self.first_time

    @property
    def terminal(self) -> tuple[str, datetime] | None:
        ends = [(t, s) for s, t in self.state_times.items() if s in TERMINAL_STATES]
        if not ends:
            return None
        time, state = max(ends)
        return state, time

    @property
    def status(self) -> str:
        end = self.terminal
        return end[0] if end else "RUNNING"


def _merge_facets(target: dict[str, tuple[datetime, Any]], facets: dict[str, Any] | None, when: datetime) -> None:
    # The newest event's version of a facet wins, whatever order the events arrived in.
    for name, value in (facets or {}).items():
        if value is None:
            continue
        if name not in target or target[name][0] <= when:
            target[name] = (when, value)


def _merge_dataset(target: dict[str, _DatasetUse], dataset: OLDataset, io_facets: dict[str, Any] | None) -> None:
    loc = dataset_location(dataset.namespace, dataset.name)
    use = target.setdefault(loc, _DatasetUse(dataset.namespace, dataset.name, loc))
    use.facets.update({k: v for k, v in (dataset.facets or {}).items() if v is not None})
    use.io_facets.update({k: v for k, v in (io_facets or {}).items() if v is not None})


def _starts_with_object(path: Path) -> bool:
    """Whether the file looks like NDJSON (its first non-blank byte opens an object)."""
    with path.open("rb") as handle:
        head = handle.read(4096).lstrip()
    return head.startswith((b"{", b"\xef\xbb\xbf{"))


class _Versions:
    """The known versions of one location, by time, to find the latest one before a reader starts."""

    def __init__(self, items: Iterable[tuple[str, datetime, str]]) -> None:
        self.items = sorted(items, key=lambda item: item[1])
        self.times = [item[1] for item in self.items]

    def latest(self, before: datetime | None, reader: str) -> str | None:
        """The newest version written at or before ``before`` by another run than ``reader``."""
        index = len(self.items) if before is None else bisect_right(self.times, before)
        while index > 0:
            index -= 1
            version, _, writer = self.items[index]
            if writer != reader:
                return version
        return None


VersionLookup = Callable[[Sequence[str], tuple[datetime, datetime] | None],
                         dict[str, list[tuple[str, datetime, str]]]]
"""Given location ids, the versions the graph knows: ``{location: [(version id, time, writer id)]}``.

The second argument, when not None, is the window ``(first, last)`` of the readers' start times: then
only the versions a reader in it can use are needed (written up to ``last``: those after ``first``
and the two newest before it, one of which may be the reader's own).
"""


class OpenLineageImporter:
    """Reads OpenLineage event files (NDJSON or JSON arrays); one :class:`ImportUnit` per file.

    ``known_versions`` (see :func:`store_versions`) lets readers link to versions written by
    earlier imports; without it they link to versions written in the same file, else the location.
    """

    name = SOURCE

    def __init__(self, known_versions: VersionLookup | None = None, *,
                 stream_above: int = STREAM_ABOVE_BYTES, batch_events: int = STREAM_BATCH_EVENTS) -> None:
        self.known_versions = known_versions
        self.stream_above = stream_above
        self.batch_events = batch_events
        self.run_ids: set[str] = set()  # activity ids of every run mapped, for refresh_run_status
        # Versions written by the batches of a streamed file mapped so far (maybe not committed
        # yet, so not in the graph for known_versions to find).
        self._earlier_writes: dict[str, list[tuple[str, datetime, str]]] = {}
        self._graph_versions: dict[str, list[tuple[str, datetime, str]]] = {}  # known_versions' answers
        self._first_names: dict[str, tuple[str, str]] = {}  # location -> its first (namespace, name)
        self._streaming = False

    def _new_unit(self, *, streaming: bool = False) -> None:
        self._earlier_writes, self._graph_versions, self._first_names = {}, {}, {}
        self._streaming = streaming

    def units(self, source: str) -> Iterator[ImportUnit]:
        if source == "-":
            data, name = sys.stdin.buffer.read(), "<stdin>"
        else:
            path = Path(source)
            try:
                if path.stat().st_size >= self.stream_above and _starts_with_object(path):
                    self._new_unit(streaming=True)
                    yield ImportUnit(source=source, records=self._streamed(path, source))
                    return
                data, name = path.read_bytes(), source
            except OSError as exc:
                raise InputError(f"cannot read the file: {exc.strerror or exc}", source=source) from exc
        events = read_events(data, name)
        yield self.unit(name, [event for _, event in events])

    def _streamed(self, path: Path, source: str) -> Iterator[Element | Relation]:
        """A big NDJSON file, mapped ``batch_events`` events at a time.

        A run's events are held back until one of them is terminal (COMPLETE, FAIL, ABORT), so a
        run is mapped from all its events at once, as in a file read whole; runs still open at
        the end are mapped then. Memory grows with the runs open at once and the versions
        written (a tuple each), not with the file.
        """
        open_runs: dict[str, list[Event]] = {}
        ready: list[Event] = []
        seen = 0
        for event in stream_ndjson_events(path, source):
            if isinstance(event, OLRunEvent):
                events = open_runs.setdefault(event.run.runId, [])
                events.append(event)
                if (event.eventType or "OTHER") in TERMINAL_STATES:
                    ready.extend(open_runs.pop(event.run.runId))
            else:
                ready.append(event)
            seen += 1
            if seen >= self.batch_events:
                yield from self._map_batch(ready)
                ready, seen = [], 0
        ready.extend(e for events in open_runs.values() for e in events)
        yield from self._map_batch(ready)

    def _map_batch(self, events: list[Event]) -> Iterator[Element | Relation]:
        elements, relations = self.map_events(events)
        yield from elements
        yield from relations

    def unit(self, source: str, events: Iterable[Event]) -> ImportUnit:
        """Map already validated events into one import unit."""
        self._new_unit()
        elements, relations = self.map_events(events)
        return ImportUnit(source=source, elements=elements, relations=relations)

    def map_events(self, events: Iterable[Event]) -> tuple[list[Element], list[Relation]]:
        runs: dict[str, _Run] = {}
        nodes: dict[str, Element] = {}
        relations: list[Relation] = []
        for event in sorted(events, key=lambda e: e.eventTime):
            if isinstance(event, OLRunEvent):
                self._add_run_event(runs, event)
            elif isinstance(event, OLDatasetEvent):
                self._add_location(nodes, event.dataset.namespace, event.dataset.name, event.dataset.facets)
            else:
                self._add_job_event(nodes, event)
        writes = self._writes(runs)
        known = {loc: _Versions(items) for loc, items in self._known(runs, writes).items()}
        for run in runs.values():
            self._map_run(run, nodes, relations, known)
        for loc, items in writes.items():
            self._earlier_writes.setdefault(loc, []).extend(items)
        return list(nodes.values()), relations

    # -- pieces -----------------------------------------------------------------------------
    @staticmethod
    def _add_run_event(runs: dict[str, _Run], event: OLRunEvent) -> None:
        run = runs.get(event.run.runId)
        if run is None:
            run = runs[event.run.runId] = _Run(event.run.runId, event.job.namespace, event.job.name)
        state = event.eventType or "OTHER"
        when = event.eventTime
        if state not in run.state_times or run.state_times[state] < when:
            run.state_times[state] = when
        run.first_time = min(run.first_time or when, when)
        run.last_time = max(run.last_time or when, when)
        run.producer = event.producer or run.producer
        _merge_facets(run.facets, event.run.facets, when)
        _merge_facets(run.job_facets, event.job.facets, when)
        for dataset in event.inputs or []:
            _merge_dataset(run.inputs, dataset, dataset.inputFacets)
        for dataset in event.outputs or []:
            _merge_dataset(run.outputs, dataset, dataset.outputFacets)

    def _add_location(self, nodes: dict[str, Element], namespace: str, name: str,
                      facets: dict[str, Any] | None) -> str:
        loc = dataset_location(namespace, name)
        node = nodes.get(loc)
        if node is None:
            # The first spelling met names the location ("/a/b" and "a/b" are one), also when
            # an earlier batch of a streamed file met it.
            namespace, name = self._first_names.setdefault(loc, (namespace, name))
            node = nodes[loc] = Entity(id=loc, label=name, uri=loc, extra_labels=frozenset({"Location"}),
                                       attributes={"ol_namespace": namespace, "ol_name": name})
        node.attributes.update(_facet_props("facet_", facets))
        return loc

    def _add_job_event(self, nodes: dict[str, Element], event: OLJobEvent) -> None:
        agent = self._job_agent(event.job.namespace, event.job.name)
        agent.attributes.update(_facet_props("facet_", event.job.facets))
        agent.attributes["declared_inputs"] = [
            self._add_location(nodes, d.namespace, d.name, d.facets) for d in event.inputs or []]
        agent.attributes["declared_outputs"] = [
            self._add_location(nodes, d.namespace, d.name, d.facets) for d in event.outputs or []]
        nodes[agent.id] = agent

    @staticmethod
    def _job_agent(namespace: str, name: str) -> Agent:
        return Agent(id=job_agent_id(namespace, name), label=name, agent_type="SoftwareAgent",
                     extra_labels=frozenset({"Plan"}),
                     attributes={"ol_namespace": namespace, "ol_name": name})

    @staticmethod
    def _version_time(run: _Run) -> datetime | None:
        end = run.terminal
        return end[1] if end else run.last_time

    def _writes(self, runs: dict[str, _Run]) -> dict[str, list[tuple[str, datetime, str]]]:
        """Versions written in this unit, by location, with their time and writer."""
        writes: dict[str, list[tuple[str, datetime, str]]] = {}
        for run in runs.values():
            when = self._version_time(run)
            if when is None:
                continue
            for loc in run.outputs:
                writes.setdefault(loc, []).append((version_id(loc, run.activity_id), when, run.activity_id))
        return writes

    def _known(self, runs: dict[str, _Run], writes: dict[str, list[tuple[str, datetime, str]]]
               ) -> dict[str, list[tuple[str, datetime, str]]]:
        known = {loc: list(items) for loc, items in writes.items()}
        read = sorted({loc for run in runs.values() for loc in run.inputs})
        # The graph is asked once per location and unit: what batches of a streamed file wrote
        # since is in _earlier_writes (asking again would fetch a growing list each batch).
        unasked = [loc for loc in read if loc not in self._graph_versions]
        if self.known_versions is not None and unasked:
            starts = [run.started_at for run in runs.values() if run.inputs]
            # A file read whole (or a receiver's delivery) asks once, for its readers' window: the
            # whole history of a location would grow with every delivery. A streamed file asks
            # once per location for all of it, since its later batches read later.
            window = (None if self._streaming or any(t is None for t in starts)
                      else (min(t for t in starts if t), max(t for t in starts if t)))
            self._graph_versions.update({loc: [] for loc in unasked} | self.known_versions(unasked, window))
        found = [{loc: self._earlier_writes[loc] for loc in read if loc in self._earlier_writes},
                 {loc: self._graph_versions[loc] for loc in read if self._graph_versions.get(loc)}]
        for versions in found:
            for loc, items in versions.items():
                seen = {v for v, _, _ in known.get(loc, [])}
                known.setdefault(loc, []).extend(i for i in items if i[0] not in seen)
        return known

    def _map_run(self, run: _Run, nodes: dict[str, Element], relations: list[Relation],
                 known: dict[str, _Versions]) -> None:
        act_id = run.activity_id
        self.run_ids.add(act_id)
        job_id = job_agent_id(run.job_namespace, run.job_name)
        job = nodes.get(job_id)
        if job is None:
            job = nodes[job_id] = self._job_agent(run.job_namespace, run.job_name)
        job.attributes.update(_facet_props("facet_", {k: v for k, (_, v) in run.job_facets.items()}))
        attributes: dict[str, Any] = {
            "ol_run_id": run.run_id, "ol_job_namespace": run.job_namespace, "ol_job_name": run.job_name,
            "producer": run.producer,
        }
        attributes.update({f"event_time_{s.lower()}": t for s, t in run.state_times.items()})
        attributes.update(_facet_props("facet_", {k: v for k, (_, v) in run.facets.items()}))
        attributes.update(_facet_props("job_facet_", {k: v for k, (_, v) in run.job_facets.items()}))
        error = run.facets.get("errorMessage")
        if error and isinstance(error[1], dict):
            attributes["error_message"] = error[1].get("message")
        code = run.job_facets.get("sourceCodeLocation")
        code_version = code[1].get("version") if code and isinstance(code[1], dict) else None
        end = run.terminal
        nodes[act_id] = Activity(
            id=act_id, label=f"{run.job_name} (run {_short(run.run_id)})", started_at=run.started_at,
            ended_at=end[1] if end else None, status=run.status, code_version=code_version,
            attributes=attributes,
        )
        relations.append(WasAssociatedWith(activity=act_id, agent=job.id, plan=job.id))
        parent = run.facets.get("parent")
        if parent:
            self._map_parent(act_id, parent[1], nodes, relations)

        started = run.started_at
        for loc, use in run.inputs.items():
            self._add_location(nodes, use.namespace, use.name, use.facets)
            versions = known.get(loc)
            target = (versions.latest(started, act_id) if versions else None) or loc
            relations.append(Used(activity=act_id, entity=target,
                                  attributes=_facet_props("facet_", use.io_facets)))
        when = self._version_time(run)
        for loc, use in run.outputs.items():
            self._add_location(nodes, use.namespace, use.name, use.facets)
            version = version_id(loc, act_id)
            props = _facet_props("facet_", use.facets) | _facet_props("facet_", use.io_facets)
            lineage = _normalise_column_lineage(use.facets.get("columnLineage"))
            if lineage:
                props["column_lineage"] = lineage
                nodes[loc].attributes["column_lineage"] = lineage
            nodes[version] = Entity(id=version, label=f"{use.name} (run {_short(run.run_id)})", uri=loc,
                                    generated_at=when, attributes=props)
            relations.append(SpecializationOf(specific=version, general=loc))
            relations.append(WasGeneratedBy(entity=version, activity=act_id))

    def _map_parent(self, act_id: str, facet: Any, nodes: dict[str, Element], relations: list[Relation]) -> None:
        if not isinstance(facet, dict):
            return
        run = facet.get("run") or {}
        job = facet.get("job") or {}
        parent_run = run.get("runId") if isinstance(run, dict) else None
        if not parent_run:
            return
        parent_id = run_activity_id(str(parent_run))
        relations.append(WasInformedBy(informed=act_id, informant=parent_id,
                                       attributes={"prov:type": "openlineage:parent"}))
        if parent_id not in nodes and isinstance(job, dict) and job.get("namespace") and job.get("name"):
            # Declared with what the child knows of it; its own events add the rest.
            nodes[parent_id] = Activity(
                id=parent_id, label=f"{job['name']} (run {_short(str(parent_run))})",
                attributes={"ol_run_id": str(parent_run), "ol_job_namespace": job["namespace"],
                            "ol_job_name": job["name"]})
            agent = self._job_agent(str(job["namespace"]), str(job["name"]))
            nodes.setdefault(agent.id, agent)
            relations.append(WasAssociatedWith(activity=parent_id, agent=agent.id, plan=agent.id))


# -- graph-side helpers ---------------------------------------------------------------------------

_VERSIONS_QUERY = """
UNWIND $locs AS loc
MATCH (v:Entity)-[:SPECIALIZATION_OF]->(:Element {id: loc})
WHERE v.generated_at IS NOT NULL AND ($until IS NULL OR v.generated_at <= $until)
MATCH (v)-[:WAS_GENERATED_BY]->(a:Activity)
WITH loc, v, a ORDER BY v.generated_at DESC
WITH loc, collect([v.id, v.generated_at, a.id]) AS found
UNWIND CASE WHEN $since IS NULL THEN found
            ELSE [f IN found WHERE f[1] > $since] + [f IN found WHERE f[1] <= $since][..2] END AS f
RETURN loc, f[0] AS version, f[1] AS time, f[2] AS writer
"""


def store_versions(store: GraphStore) -> VersionLookup:
    """A :data:`VersionLookup` reading the versions (and their writers) already in ``store``."""

    def lookup(locations: Sequence[str], window: tuple[datetime, datetime] | None
               ) -> dict[str, list[tuple[str, datetime, str]]]:
        since, until = window or (None, None)
        rows = store.read(_VERSIONS_QUERY, locs=list(locations), since=since, until=until)
        found: dict[str, list[tuple[str, datetime, str]]] = {}
        for row in rows:
            time = row["time"].to_native() if hasattr(row["time"], "to_native") else row["time"]
            found.setdefault(row["loc"], []).append((row["version"], time, row["writer"]))
        return found

    return lookup


_STATUS_QUERY = """
UNWIND $ids AS id
MATCH (a:Element {id: id}) WHERE a:Activity
WITH a, [x IN [['COMPLETE', a.event_time_complete], ['FAIL', a.event_time_fail],
               ['ABORT', a.event_time_abort]] WHERE x[1] IS NOT NULL] AS ends
WITH a, reduce(best = null, x IN ends | CASE WHEN best IS NULL OR x[1] > best[1] THEN x ELSE best END) AS last
WITH a, CASE WHEN last IS NULL THEN 'RUNNING' ELSE last[0] END AS status,
     CASE WHEN last IS NULL THEN a.ended_at ELSE last[1] END AS ended,
     coalesce(a.event_time_start, a.started_at) AS started
WHERE a.status IS NULL OR a.status <> status OR a.ended_at IS NULL AND ended IS NOT NULL
   OR a.started_at <> started
SET a.status = status, a.ended_at = ended, a.started_at = started
RETURN count(a) AS fixed
"""


def refresh_run_status(store: GraphStore, activity_ids: Iterable[str]) -> int:
    """Re-derive status and times of runs from all their event times now in the graph.

    Needed when a run's events arrive in separate imports (the receiver's batches, several
    files): each import sets what its own events say, and a START that arrives after the
    COMPLETE would otherwise leave the run looking ``RUNNING``. Returns how many runs changed.
    """
    ids = sorted(set(activity_ids))
    if not ids:
        return 0
    rows = store.write_query(_STATUS_QUERY, ids=ids)
    return int(rows[0]["fixed"]) if rows else 0


@dataclass(frozen=True)
class ColumnSource:
    """An input column that feeds an output column, and how (the transformations, if given)."""

    dataset: str
    field: str
    transformations: tuple[str, ...] = ()
    depth: int = 1

    def as_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "field": self.field,
                "transformations": list(self.transformations), "depth": self.depth}


def _lineage_maps(store: GraphStore, dataset_id: str) -> list[dict[str, Any]] | None:
    rows = store.read(
        "MATCH (e:Element {id: $id}) WHERE e:Entity "
        "OPTIONAL MATCH (v:Entity)-[:SPECIALIZATION_OF]->(e) "
        "RETURN e.column_lineage AS own, collect(v.column_lineage) AS versions",
        id=dataset_id,
    )
    if not rows:
        return None
    texts = [rows[0]["own"], *rows[0]["versions"]]
    return [json.loads(t) for t in texts if t]


def column_lineage(store: GraphStore, dataset_id: str, column: str, *, depth: int = 1) -> list[ColumnSource]:
    """Which input columns feed ``column`` of ``dataset_id`` (a location, a version, or a URI).

    ``depth`` follows the inputs' own column lineage further upstream (1 = direct inputs). For a
    location, the lineage recorded by every version is combined.
    """
    if depth < 1 or depth > 50:
        raise ValueError("depth must be between 1 and 50")
    start = dataset_id
    if _lineage_maps(store, start) is None and ("://" in dataset_id or dataset_id.startswith("/")):
        start = location_id(dataset_id)
    if _lineage_maps(store, start) is None:
        raise NotFoundError(f"no dataset with id {dataset_id!r} in the graph")
    found: dict[tuple[str, str], ColumnSource] = {}
    frontier = [(start, column)]
    for level in range(1, depth + 1):
        following: list[tuple[str, str]] = []
        for ds, col in frontier:
            for mapping in _lineage_maps(store, ds) or []:
                for item in mapping.get(col, []):
                    key = (item["dataset"], item["field"])
                    if key in found:
                        continue
                    kinds = tuple(str(t.get("type") or t.get("subtype") or t) if isinstance(t, dict) else str(t)
                                  for t in item.get("transformations") or [])
                    found[key] = ColumnSource(item["dataset"], item["field"], kinds, level)
                    following.append(key)
        frontier = following
        if not frontier:
            break
    return sorted(found.values(), key=lambda s: (s.depth, s.dataset, s.field))
