"""Import an mltrace (0.17) PostgreSQL database: components, their runs, and what they read and wrote.

mltrace logs *component runs* of an ML pipeline with their input and output *IO pointers* (a name,
usually a path or an output id, plus a hash of the value), run-to-run dependencies, and flags on
bad outputs. The mapping:

===========================  ===================================================================
mltrace                      graph
===========================  ===================================================================
component                    Agent ``urn:lineagegraph:mltrace:<ns>:component:<name>`` (owner,
                             description, tags)
component run                Activity ``...:run:<id>`` (start/end, git hash as
                             ``code_version``, git tags, code snapshot digest and size, notes,
                             staleness messages; the run id also as ``sequence``, so that
                             ``bt --order depth-first`` lists runs as mltrace does),
                             ``WAS_ASSOCIATED_WITH`` its component
IO pointer name              Entity: :func:`~lineagegraph.identity.location_id` when the name is
                             an absolute path or a URI (so other sources meet it), else
                             ``...:io:<name>``
an output of a run           a version Entity (:func:`~lineagegraph.identity.version_id` of the
                             name's entity and the run) ``SPECIALIZATION_OF`` it,
                             ``WAS_GENERATED_BY`` the run; value hash as ``digest``;
                             ``flagged`` as in mltrace
an input of a run            ``USED`` the version written by the latest earlier run that wrote
                             the same name and value, else the name's entity
dependency                   ``WAS_INFORMED_BY``
===========================  ===================================================================

``<ns>`` names the database (host, port when not 5432, database name) unless given. Columns that
mltrace stores as Python pickles (``git_tags``, ``stale``) are decoded by
:mod:`~lineagegraph.importers.safe_pickle`, which decodes plain data only and never runs code.
A re-import writes only components and runs that are new or changed (a new flag changes a run).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from lineagegraph.errors import InputError
from lineagegraph.identity import location_id, source_id, version_id
from lineagegraph.importers import safe_pickle
from lineagegraph.importers.base import ImportUnit
from lineagegraph.importers.pgsource import (
    Delta,
    FingerprintLookup,
    RecordGroup,
    display_url,
    read_snapshot,
    require_columns,
    select_changed,
)
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
from lineagegraph.queries.backtrace import SEQUENCE_PROPERTY
from lineagegraph.store import GraphStore

__all__ = ["MltraceImporter", "MltraceReport", "backtrace", "database_namespace", "pointer_location"]

SOURCE = "mltrace"

TABLES: dict[str, frozenset[str]] = {
    "components": frozenset({"name", "description", "owner"}),
    "component_tags": frozenset({"component_name", "tag_name"}),
    "component_runs": frozenset({
        "id", "component_name", "notes", "git_hash", "git_tags", "code_snapshot", "start_timestamp",
        "end_timestamp", "stale",
    }),
    "io_pointers": frozenset({"name", "value", "pointer_type", "flag"}),
    "component_runs_inputs": frozenset({"input_path_name", "input_path_value", "component_run_id"}),
    "component_runs_outputs": frozenset({"output_path_name", "output_path_value", "component_run_id"}),
    "component_run_dependencies": frozenset({"component_run_id", "depends_on_component_run_id"}),
}

# Part of every run's fingerprint: bumped when what a run maps to changes (2: ``sequence``), so a
# re-import rewrites the runs an older lineagegraph imported.
RUN_MAPPING = 2

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


@dataclass
class MltraceReport:
    """What one import of an mltrace database found, beyond the graph counts."""

    delta: Delta = field(default_factory=Delta)
    components: int = 0
    runs: int = 0
    flagged: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"{self.components} component(s), {self.runs} run(s): {self.delta.describe()}; "
                f"{len(self.flagged)} flagged output(s)")


def database_namespace(url: str) -> str:
    """The default id namespace of a database: ``host[:port]/database``."""
    parts = urlsplit(url)
    host = (parts.hostname or "localhost").lower()
    port = f":{parts.port}" if parts.port not in (None, 5432) else ""
    return f"{host}{port}/{parts.path.lstrip('/') or 'postgres'}"


def pointer_location(name: str, namespace: str) -> tuple[str, bool]:
    """The entity id of an IO pointer name, and whether it is a location shared with other sources.

    Absolute paths and URIs are locations; relative paths and bare output ids mean nothing outside
    the pipeline that wrote them, so they stay in the database's namespace.
    """
    if _URI.match(name) or name.startswith("/"):
        return location_id(name), True
    return source_id(SOURCE, namespace, "io", name), False


# The run that last wrote `$id` (an output version, or a pointer name's entity: then its newest
# version, as mltrace's trace picks the newest writer), and every run it depends on, transitively.
_TRACE = """
MATCH (x:Element {id: $id})
OPTIONAL MATCH (v:Entity)-[:SPECIALIZATION_OF]->(x)
WITH x, collect(v) AS versions
UNWIND [x] + versions AS output
MATCH (output)-[:WAS_GENERATED_BY]->(writer:Activity)
WITH writer ORDER BY writer.started_at DESC, writer.mltrace_run_id DESC LIMIT 1
MATCH (writer)-[:WAS_INFORMED_BY*0..50]->(run:Activity)
WITH writer, collect(DISTINCT run) AS runs
UNWIND runs AS run
RETURN writer.id AS writer, run.id AS id, coalesce(run.mltrace_run_id, 0) AS number,
       [(run)-[:WAS_INFORMED_BY]->(dep:Activity) | [coalesce(dep.mltrace_run_id, 0), dep.id]] AS deps
"""


def backtrace(store: GraphStore, output_id: str) -> list[tuple[int, str]]:
    """mltrace's own backtrace of an imported output, from the graph: ``(depth, run id)`` frames.

    Like mltrace's ``trace``: start at the run that last wrote the output, then depth-first through
    run dependencies in run-id order, listing a run again for every path that reaches it. (The
    graph's ``bt`` lists each run once; see docs/postgres.md.) Empty when nothing generated it.
    """
    rows = store.read(_TRACE, id=output_id)
    if not rows:
        return []
    deps = {row["id"]: [dep for _, dep in sorted(row["deps"])] for row in rows}
    frames: list[tuple[int, str]] = []
    stack = [(0, str(rows[0]["writer"]))]
    while stack:
        depth, run = stack.pop()
        frames.append((depth, run))
        # Reversed onto the stack, so the lowest run id is visited first.
        stack.extend((depth + 1, dep) for dep in reversed(deps.get(run, [])))
    return frames


def _utc(value: datetime | None) -> datetime | None:
    # mltrace stores datetime.utcnow() in TIMESTAMP WITHOUT TIME ZONE columns.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _hex(value: bytes | memoryview | None) -> str:
    return bytes(value).hex() if value is not None else ""


class MltraceImporter:
    """Reads one mltrace database per source URL; one :class:`ImportUnit` per database.

    ``namespace`` overrides the id namespace derived from the URL (use it when one database is
    reached under several host names). See :class:`ProvenanceRepoImporter
    <lineagegraph.importers.provenance_repo.ProvenanceRepoImporter>` for ``password`` and
    ``known``. :attr:`reports` holds an :class:`MltraceReport` per source.
    """

    name = SOURCE

    def __init__(self, *, password: str | None = None, known: FingerprintLookup | None = None,
                 namespace: str | None = None) -> None:
        self.password = password
        self.known = known
        self.namespace = namespace
        self.reports: dict[str, MltraceReport] = {}

    def run_id(self, namespace: str, run: int) -> str:
        return source_id(SOURCE, namespace, "run", str(run))

    def units(self, source: str) -> Iterator[ImportUnit]:
        name = display_url(source)
        ns = self.namespace or database_namespace(source)
        with read_snapshot(source, self.password, name) as cursor:
            require_columns(cursor, name, "an mltrace database", TABLES)
            cursor.execute("SELECT name, description, owner FROM components ORDER BY name")
            components = cursor.fetchall()
            cursor.execute("SELECT component_name, tag_name FROM component_tags ORDER BY component_name, tag_name")
            tags = cursor.fetchall()
            cursor.execute("SELECT * FROM component_runs ORDER BY id")
            runs = cursor.fetchall()
            cursor.execute("SELECT name, value, pointer_type::text AS pointer_type, flag FROM io_pointers")
            pointers = {(row["name"], _hex(row["value"])): row for row in cursor.fetchall()}
            cursor.execute("SELECT input_path_name AS name, input_path_value AS value, component_run_id AS run "
                           "FROM component_runs_inputs ORDER BY component_run_id, input_path_name")
            inputs = cursor.fetchall()
            cursor.execute("SELECT output_path_name AS name, output_path_value AS value, component_run_id AS run "
                           "FROM component_runs_outputs ORDER BY component_run_id, output_path_name")
            outputs = cursor.fetchall()
            cursor.execute("SELECT component_run_id AS run, depends_on_component_run_id AS dep "
                           "FROM component_run_dependencies ORDER BY 1, 2")
            dependencies = cursor.fetchall()

        report = MltraceReport(components=len(components), runs=len(runs))
        tags_of: dict[str, list[str]] = {}
        for row in tags:
            tags_of.setdefault(row["component_name"], []).append(row["tag_name"])
        groups = [self._component(row, tags_of.get(row["name"], []), ns) for row in components]
        groups.extend(self._runs(runs, pointers, inputs, outputs, dependencies, ns, name, report))
        report.delta = select_changed(self.known, groups)
        self.reports[name] = report
        yield ImportUnit(source=name, elements=report.delta.elements, relations=report.delta.relations)

    def _component(self, row: dict[str, Any], tags: list[str], ns: str) -> RecordGroup:
        agent = Agent(
            id=source_id(SOURCE, ns, "component", row["name"]), label=row["name"], agent_type="component",
            prov_type=["mltrace:Component"],
            attributes={k: v for k, v in {"owner": row["owner"] or None, "description": row["description"] or None,
                                          "tags": sorted(tags) or None}.items() if v is not None},
        )
        return RecordGroup(main=agent).seal([row, sorted(tags)])

    def _runs(self, runs: list[dict[str, Any]], pointers: dict[tuple[str, str], dict[str, Any]],
              inputs: list[dict[str, Any]], outputs: list[dict[str, Any]], dependencies: list[dict[str, Any]],
              ns: str, source: str, report: MltraceReport) -> list[RecordGroup]:
        ins: dict[int, list[tuple[str, str]]] = {}
        outs: dict[int, list[tuple[str, str]]] = {}
        deps: dict[int, list[int]] = {}
        for row in inputs:
            ins.setdefault(row["run"], []).append((row["name"], _hex(row["value"])))
        for row in outputs:
            outs.setdefault(row["run"], []).append((row["name"], _hex(row["value"])))
        for row in dependencies:
            deps.setdefault(row["run"], []).append(row["dep"])
        run_ids = {row["id"] for row in runs}
        # Every (name, value) written, by the runs that wrote it, in id order: mltrace's own notion
        # of "the latest write" is the highest run id.
        writers: dict[tuple[str, str], list[int]] = {}
        for run in sorted(outs):
            for key in outs[run]:
                writers.setdefault(key, []).append(run)

        groups: list[RecordGroup] = []
        for row in runs:
            run = row["id"]
            where = f"component_runs id={run}"
            decoded: dict[str, Any] = {}
            for column in ("git_tags", "stale"):
                raw = row[column]
                try:
                    decoded[column] = safe_pickle.loads(raw) if raw is not None else None
                except safe_pickle.UnsafePickleError as exc:
                    raise InputError(f"column {column}: {exc}", source=source, location=where) from exc
            for dep in deps.get(run, []):
                if dep not in run_ids:
                    raise InputError(f"depends on run {dep}, which is not in component_runs",
                                     source=source, location=where)
            snapshot = bytes(row["code_snapshot"]) if row["code_snapshot"] is not None else None
            stale = decoded["stale"] if isinstance(decoded["stale"], list) else []
            activity_id = self.run_id(ns, run)
            attributes: dict[str, Any] = {
                "mltrace_run_id": run,
                # mltrace's trace visits a run's dependencies as PostgreSQL returns its unordered
                # lazy-load join: a hash join over component_runs in storage order, which is the
                # order runs were logged, i.e. run id order. The core's depth-first backtrace
                # visits upstream runs by this generic ordinal.
                SEQUENCE_PROPERTY: run,
                "component": row["component_name"],
                "notes": row["notes"] or None,
                "git_tags": [str(t) for t in decoded["git_tags"]] if isinstance(decoded["git_tags"], list) else None,
                "code_snapshot_sha256": hashlib.sha256(snapshot).hexdigest() if snapshot is not None else None,
                "code_snapshot_bytes": len(snapshot) if snapshot is not None else None,
                "stale": [str(m) for m in stale] or None,
                "is_stale": bool(stale),
            }
            ended = _utc(row["end_timestamp"])
            activity = Activity(
                id=activity_id, label=f"{row['component_name']} (run {run})", prov_type=["mltrace:ComponentRun"],
                started_at=_utc(row["start_timestamp"]), ended_at=ended, code_version=row["git_hash"] or None,
                attributes={k: v for k, v in attributes.items() if v is not None},
            )
            others: list[Element] = []
            relations: list[Relation] = []
            if row["component_name"]:
                relations.append(WasAssociatedWith(
                    activity=activity_id, agent=source_id(SOURCE, ns, "component", row["component_name"])))
            record_pointers: list[Any] = []
            for name, value in sorted(set(outs.get(run, []))):
                pointer = pointers.get((name, value), {})
                general, shared = pointer_location(name, ns)
                others.append(self._general(name, general, shared, pointer))
                version = Entity(
                    id=version_id(general, activity_id), label=name, digest=value or None, generated_at=ended,
                    prov_type=["mltrace:Output"],
                    attributes={"pointer_type": pointer.get("pointer_type"), "flagged": bool(pointer.get("flag")),
                                "mltrace_name": name},
                )
                if pointer.get("flag"):
                    report.flagged.append(version.id)
                others.append(version)
                relations.append(SpecializationOf(specific=version.id, general=general))
                relations.append(WasGeneratedBy(entity=version.id, activity=activity_id, time=ended))
                record_pointers.append(["out", name, value, pointer.get("flag"), pointer.get("pointer_type")])
            for name, value in sorted(set(ins.get(run, []))):
                pointer = pointers.get((name, value), {})
                general, shared = pointer_location(name, ns)
                earlier = [w for w in writers.get((name, value), []) if w < run]
                if earlier:
                    target = version_id(general, self.run_id(ns, earlier[-1]))
                else:
                    others.append(self._general(name, general, shared, pointer))
                    target = general
                relations.append(Used(activity=activity_id, entity=target,
                                      attributes={"role": name} if target == general else {}))
                record_pointers.append(["in", name, value, pointer.get("flag"), target])
            for dep in sorted(set(deps.get(run, []))):
                relations.append(WasInformedBy(informed=activity_id, informant=self.run_id(ns, dep)))
            record = [{k: (bytes(v).hex() if isinstance(v, bytes | memoryview) else v) for k, v in row.items()},
                      record_pointers, sorted(set(deps.get(run, [])))]
            groups.append(RecordGroup(main=activity, others=others, relations=relations).seal([RUN_MAPPING, record]))
        return groups

    @staticmethod
    def _general(name: str, entity_id: str, shared: bool, pointer: dict[str, Any]) -> Entity:
        # Only what every write of the name shares: the value, hash and flag belong to a version.
        attributes: dict[str, Any] = {"mltrace_name": name}
        if pointer.get("pointer_type"):
            attributes["pointer_type"] = pointer["pointer_type"]
        return Entity(id=entity_id, label=name, uri=entity_id if shared else None,
                      extra_labels=frozenset({"Location"}) if shared else frozenset(), attributes=attributes)
