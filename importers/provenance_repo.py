"""Import a `provenance` (bmabey/provenance 0.14) PostgreSQL artifact repository.

The library records every call of a decorated function as an *artifact* row (tables ``runs``,
``artifacts``, ``artifact_sets``, ``artifact_set_members``). The mapping:

==========================  ===================================================================
repository                  graph
==========================  ===================================================================
artifact                    Entity ``urn:lineagegraph:provenance:artifact:<id>``: value id as
                            ``digest``, function module/name/version, durations, custom
                            fields, tags; ``SPECIALIZATION_OF`` the value
                            (:func:`~lineagegraph.identity.value_id` of the value id)
the call that made it       Activity ``...:call:<artifact id>`` (computed_at and compute
                            duration as start and end, inputs that are
                            not artifacts as ``params``, the run's host/process/git info),
                            ``WAS_ASSOCIATED_WITH`` the function Agent ``...:function:<name>:<v>``
input artifacts             ``USED`` (role = argument path), from ``input_artifact_ids`` or,
                            when that is empty, recovered from ``inputs_json``
artifact set                Entity with label ``Collection`` ``...:set:<set id>``, ``HAD_MEMBER``
disk blobstore (optional)   ``value_size_bytes`` and ``value_sha256`` of the stored value file
==========================  ===================================================================

The library, run on Python >= 3.8 with a current cloudpickle, leaves ``input_artifact_ids``
empty; the inputs stay visible in ``inputs_json`` as proxy objects (``{"id": ..., "type":
"ArtifactProxy"}``) and, when nested in another structure, as strings embedding the id
(``<provenance.ArtifactProxy(<id>) ...>``). Those edges are recovered and counted.

Blobs are pickles written by whoever ran the pipeline: they are hashed and measured, never
unpickled. A re-import writes only artifacts and sets that are new or changed (see
:func:`~lineagegraph.importers.pgsource.select_changed`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lineagegraph.errors import InputError
from lineagegraph.identity import source_id, value_id
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
    Entity,
    HadMember,
    Relation,
    SpecializationOf,
    Used,
    WasAssociatedWith,
    WasGeneratedBy,
)

__all__ = ["ProvenanceRepoImporter", "RepoReport"]

SOURCE = "provenance"

TABLES: dict[str, frozenset[str]] = {
    "runs": frozenset({"id", "hostname", "info", "created_at"}),
    "artifacts": frozenset({
        "id", "value_id", "run_id", "name", "version", "fn_module", "fn_name", "composite",
        "value_id_duration", "compute_duration", "hash_duration", "computed_at", "added_at",
        "input_artifact_ids", "inputs_json", "serializer", "custom_fields",
    }),
    "artifact_sets": frozenset({"id", "set_id", "labels", "created_at"}),
    "artifact_set_members": frozenset({"set_id", "artifact_id"}),
}

_HEX_ID = re.compile(r"[0-9a-f]{16,64}")
# How the library's JSON encoder writes a proxy or artifact nested inside another value.
_EMBEDDED = re.compile(r"<provenance\.(?:Artifact|ArtifactProxy|CallableArtifactProxy)\(([0-9a-f]{16,64})\)")
_PROXY_TYPES = frozenset({"Artifact", "ArtifactProxy", "CallableArtifactProxy"})


@dataclass
class RepoReport:
    """What one import of a repository found, beyond the graph counts."""

    delta: Delta = field(default_factory=Delta)
    artifacts: int = 0
    sets: int = 0
    recovered_inputs: int = 0  # USED edges of the written calls that came from inputs_json
    blobs_measured: int = 0

    def line(self) -> str:
        return (f"{self.artifacts} artifact(s), {self.sets} set(s): {self.delta.describe()}; "
                f"{self.recovered_inputs} input edge(s) recovered from inputs_json; "
                f"{self.blobs_measured} blob(s) measured")


def artifact_entity_id(artifact_id: str) -> str:
    return source_id(SOURCE, "artifact", artifact_id)


def call_activity_id(artifact_id: str) -> str:
    return source_id(SOURCE, "call", artifact_id)


def _utc(value: datetime | None) -> datetime | None:
    # The library writes datetime.utcnow() into TIMESTAMP WITHOUT TIME ZONE columns.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def recover_inputs(inputs_json: Any) -> list[tuple[str, str]]:
    """(argument path, artifact id) for every artifact reference in ``inputs_json``, in order."""
    found: list[tuple[str, str]] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            kind, ident = value.get("type"), value.get("id")
            if kind in _PROXY_TYPES and isinstance(ident, str) and _HEX_ID.fullmatch(ident):
                found.append((path, ident))
                return
            for key, item in value.items():
                walk(item, f"{path}.{key}" if path else str(key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{path}[{index}]")
        elif isinstance(value, str):
            found.extend((path, match) for match in _EMBEDDED.findall(value))

    walk(inputs_json, "")
    return found


def _plain_params(inputs_json: Any) -> dict[str, Any] | None:
    """The call's arguments that are not artifacts (what a diff of two calls should show)."""
    if not isinstance(inputs_json, dict):
        return None
    params: dict[str, Any] = {}
    for key, value in inputs_json.items():
        if key == "__varargs" and value == []:
            continue
        if recover_inputs({key: value}):
            continue
        params[key] = value
    return params or None


class ProvenanceRepoImporter:
    """Reads one `provenance` repository per source URL; one :class:`ImportUnit` per repository.

    ``password`` is used when given (else libpq's ``PGPASSWORD``/``~/.pgpass``); ``known``
    (:func:`~lineagegraph.importers.pgsource.fingerprints_in` of the store), when given, tells which
    records the graph already holds, so that only new or changed ones are written; ``blobstore``
    is the disk blobstore directory whose value files are measured.
    :attr:`reports` holds a :class:`RepoReport` per source.
    """

    name = SOURCE

    def __init__(self, *, password: str | None = None, known: FingerprintLookup | None = None,
                 blobstore: Path | None = None) -> None:
        self.password = password
        self.known = known
        self.blobstore = blobstore
        self.reports: dict[str, RepoReport] = {}

    def units(self, source: str) -> Iterator[ImportUnit]:
        name = display_url(source)
        if self.blobstore is not None and not self.blobstore.is_dir():
            raise InputError("the blobstore is not a directory", source=str(self.blobstore))
        with read_snapshot(source, self.password, name) as cursor:
            require_columns(cursor, name, "a provenance artifact repository", TABLES)
            cursor.execute("SELECT id, hostname, info, created_at FROM runs ORDER BY id")
            runs = {row["id"]: row for row in cursor.fetchall()}
            cursor.execute("SELECT * FROM artifacts ORDER BY added_at, id")
            artifacts = cursor.fetchall()
            cursor.execute("SELECT id, set_id, labels, created_at FROM artifact_sets ORDER BY id")
            sets = cursor.fetchall()
            cursor.execute("SELECT set_id, artifact_id FROM artifact_set_members ORDER BY set_id, artifact_id")
            members = cursor.fetchall()
        report = RepoReport(artifacts=len(artifacts))
        recovered: dict[str, int] = {}
        groups = [self._artifact(row, runs, name, report, recovered) for row in artifacts]
        groups.extend(self._sets(sets, members, name, report))
        report.delta = select_changed(self.known, groups)
        # Counted for what this import writes: an unchanged artifact's edges were counted before.
        written = {e.id for e in report.delta.elements}
        report.recovered_inputs = sum(n for entity, n in recovered.items() if entity in written)
        self.reports[name] = report
        yield ImportUnit(source=name, elements=report.delta.elements, relations=report.delta.relations)

    # -- one artifact: value entity, call activity, function agent -----------------------------
    def _artifact(self, row: dict[str, Any], runs: dict[str, dict[str, Any]], source: str,
                  report: RepoReport, recovered: dict[str, int]) -> RecordGroup:
        artifact = row.get("id")
        where = f"artifacts id={artifact}"
        if not isinstance(artifact, str) or not _HEX_ID.fullmatch(artifact):
            raise InputError(f"artifact id {artifact!r} is not a hex digest", source=source, location=where)
        run = runs.get(row["run_id"]) if row["run_id"] is not None else None
        if row["run_id"] is not None and run is None:
            raise InputError(f"run {row['run_id']} is not in the runs table", source=source, location=where)
        fn_name = row["fn_name"] or row["name"] or "call"
        version = row["version"] if row["version"] is not None else 0
        custom = row["custom_fields"] if isinstance(row["custom_fields"], dict) else {}
        computed = _utc(row["computed_at"])

        entity_id = artifact_entity_id(artifact)
        call_id = call_activity_id(artifact)
        attributes: dict[str, Any] = {
            "provenance_artifact_id": artifact,
            "provenance_value_id": row["value_id"],
            "fn_module": row["fn_module"],
            "fn_name": row["fn_name"],
            "fn_version": version,
            "composite": row["composite"],
            "serializer": row["serializer"],
            "value_id_duration_s": row["value_id_duration"],
            "compute_duration_s": row["compute_duration"],
            "hash_duration_s": row["hash_duration"],
            "added_at": _utc(row["added_at"]),
        }
        tags = custom.get("tags")
        if isinstance(tags, list) and all(isinstance(t, str) for t in tags):
            attributes["tags"] = tags
        if custom:
            attributes["custom_fields"] = custom
        # computed_at is taken just before the function runs; the value exists once it returns.
        ended = computed + timedelta(seconds=row["compute_duration"]) if computed and row["compute_duration"] else None
        entity = Entity(id=entity_id, label=f"{row['name'] or fn_name} -> {artifact[:10]}",
                        prov_type=["provenance:Artifact"], digest=row["value_id"], generated_at=ended or computed,
                        attributes={k: v for k, v in attributes.items() if v is not None})
        activity_attrs: dict[str, Any] = {"provenance_artifact_id": artifact}
        if run is not None:
            info = run["info"] if isinstance(run["info"], dict) else {}
            activity_attrs.update({
                "run_id": run["id"], "hostname": run["hostname"], "run_created_at": _utc(run["created_at"]),
                "host": info.get("host"), "process": info.get("process"), "git": info.get("git"),
            })
        activity = Activity(id=call_id, label=f"{fn_name} (call {artifact[:10]})", started_at=computed,
                            ended_at=ended, code_version=str(version), params=_plain_params(row["inputs_json"]),
                            prov_type=["provenance:Call"],
                            attributes={k: v for k, v in activity_attrs.items() if v is not None})
        agent = Agent(id=source_id(SOURCE, "function", row["name"] or fn_name, str(version)),
                      label=f"{row['name'] or fn_name} v{version}", agent_type="function",
                      attributes={"fn_module": row["fn_module"], "fn_name": row["fn_name"], "fn_version": version})
        relations: list[Relation] = [
            WasGeneratedBy(entity=entity_id, activity=call_id, time=ended or computed),
            WasAssociatedWith(activity=call_id, agent=agent.id),
        ]
        others: list[Entity | Activity | Agent] = [activity, agent]
        if row["value_id"] and _HEX_ID.fullmatch(row["value_id"]):
            value = Entity(id=value_id(row["value_id"], "provenance"), label=f"value {row['value_id'][:10]}",
                           digest=row["value_id"], prov_type=["provenance:Value"])
            self._measure(value, row["value_id"])
            if "value_size_bytes" in value.attributes:
                report.blobs_measured += 1
            others.append(value)
            relations.append(SpecializationOf(specific=entity_id, general=value.id))

        declared = [a for a in (row["input_artifact_ids"] or []) if isinstance(a, str)]
        if declared:
            # The ids are authoritative; inputs_json only supplies each one's argument path.
            paths = recover_inputs(row["inputs_json"])
            inputs = [(next((p for p, i in paths if i == a), ""), a) for a in declared]
        else:
            inputs = recover_inputs(row["inputs_json"])
            recovered[entity_id] = len({a for _, a in inputs if a != artifact})
        seen: set[str] = set()
        for role, input_id in inputs:
            if input_id in seen or input_id == artifact:
                continue
            seen.add(input_id)
            relations.append(Used(activity=call_id, entity=artifact_entity_id(input_id),
                                  attributes={"role": role} if role else {}))
        record = {k: v for k, v in row.items()} | {"run": run}
        return RecordGroup(main=entity, others=list(others), relations=relations).seal(record)

    def _measure(self, value: Entity, value_id_hex: str) -> None:
        """Size and SHA-256 of the stored value's file; its bytes are read, never unpickled."""
        if self.blobstore is None:
            return
        path = self.blobstore / value_id_hex
        if not path.is_file():
            return
        digest = hashlib.sha256()
        size = 0
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
                size += len(chunk)
        value.attributes["value_size_bytes"] = size
        value.attributes["value_sha256"] = digest.hexdigest()

    # -- artifact sets: collections ----------------------------------------------------------------
    def _sets(self, sets: list[dict[str, Any]], members: list[dict[str, Any]], source: str,
              report: RepoReport) -> list[RecordGroup]:
        by_set: dict[str, list[str]] = {}
        for member in members:
            by_set.setdefault(member["set_id"], []).append(member["artifact_id"])
        groups: list[RecordGroup] = []
        for row in sets:
            set_id = row["set_id"]
            if not isinstance(set_id, str) or not set_id:
                raise InputError("artifact set without a set_id", source=source,
                                 location=f"artifact_sets id={row['id']}")
            labels = row["labels"] if isinstance(row["labels"], dict) else {}
            name = labels.get("name") if isinstance(labels.get("name"), str) else None
            collection = Entity(
                id=source_id(SOURCE, "set", set_id), label=name or f"artifact set {set_id[:10]}",
                prov_type=["prov:Collection"], extra_labels=frozenset({"Collection"}),
                generated_at=_utc(row["created_at"]),
                attributes={"provenance_set_id": set_id, "labels": labels} if labels else {"provenance_set_id": set_id},
            )
            artifacts = sorted(by_set.get(set_id, []))
            relations: list[Relation] = [HadMember(collection=collection.id, entity=artifact_entity_id(a))
                                         for a in artifacts]
            groups.append(RecordGroup(main=collection, relations=relations).seal([row, artifacts]))
        report.sets = len(groups)
        return groups
