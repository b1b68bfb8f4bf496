"""ETL from the raw Kubernetes object store into the PROV graph: raw objects -> transactions -> PROV.

Each stored object's newest version is handed to the extractors (user ones first, then the
built-in conventions of :mod:`.extractors`); the transactions they return are mapped onto the
shared graph model with the shared identity rules:

* a run is an ``Activity`` (``run_id``: source-namespaced by the object's uid);
* a data location (``gs://``, ``s3://``, ``pvc://``...) is the ``Location`` entity
  :func:`~lineagegraph.identity.location_id`; each write of it is a version entity
  (:func:`~lineagegraph.identity.version_id` of the location and the writing run) that is
  ``SPECIALIZATION_OF`` the location and ``WAS_GENERATED_BY`` the run; a reader ``USED`` the
  version that existed when it started when the graph knows one, else the location itself;
* images, service accounts and controllers are ``Agent`` nodes; a CronJob is a ``Plan``.

Everything derived from one object is one import unit of importer ``k8s-etl`` with source
``k8s:<uid>``. A fingerprint of what was derived is kept on the raw object, so a second run
writes nothing; when the derivation changes (a new object version, ``--reprocess`` with another
extractor) the new unit is written and the older runs of that source are removed, which deletes
exactly what only the old derivation asserted.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import entry_points
from typing import Any

from lineagegraph.errors import ConfigError, InputError, LineageGraphError
from lineagegraph.identity import location_id, version_id
from lineagegraph.importers.k8s.extractors import (
    BUILTIN_EXTRACTORS,
    Conventions,
    ExtractContext,
    Extractor,
    Transaction,
)
from lineagegraph.importers.k8s.rawstore import RawStore, StoredObject, StoredVersion, describe
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

__all__ = ["ENTRY_POINT_GROUP", "IMPORTER", "EtlCounts", "K8sEtl", "load_extractor", "to_graph"]

IMPORTER = "k8s-etl"
ENTRY_POINT_GROUP = "lineagegraph.k8s_extractors"


@dataclass
class EtlCounts:
    """What one ETL pass did; ``skipped`` and ``errors`` name the objects concerned."""

    objects: int = 0
    transactions: int = 0
    written: int = 0
    unchanged: int = 0
    removed_runs: int = 0
    skipped: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def load_extractor(spec: str) -> Extractor:
    """``module:function`` -> the callable; a clear :class:`ConfigError` when it is not there."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"an extractor is given as module:function, not {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import the extractor module {module_name!r}: {exc}") from exc
    function = getattr(module, attr, None)
    if not callable(function):
        raise ConfigError(f"{module_name} has no callable {attr!r}")
    return function  # type: ignore[no-any-return]


def entry_point_extractors() -> list[Extractor]:
    """Extractors registered by installed packages under :data:`ENTRY_POINT_GROUP`, by name."""
    found = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)
    return [e.load() for e in found]


def _native(value: Any) -> datetime | None:
    if value is None:
        return None
    native = value.to_native() if hasattr(value, "to_native") else value
    return native if isinstance(native, datetime) else None


def _when(value: datetime | None) -> datetime:
    # Unknown times sort first; the extractors only make timezone-aware datetimes.
    return value or datetime.min.replace(tzinfo=UTC)


def to_graph(transactions: Sequence[Transaction],
             writers: dict[str, list[tuple[datetime | None, str, str]]] | None = None,
             ) -> tuple[list[Element], list[Relation]]:
    """Map transactions onto PROV elements and relations.

    ``writers`` maps a location id to the known versions of it as ``(generated_at, version id,
    writing run id)``; a reader uses the newest one generated before it started.
    """
    writers = writers or {}
    elements: dict[str, Element] = {}
    relations: list[Relation] = []

    def add(element: Element) -> None:
        elements.setdefault(element.id, element)

    for tx in transactions:
        attributes: dict[str, Any] = dict(tx.attributes)
        images = tx.transform.images if len(tx.transform.images) > 1 else None
        attributes.update({"image": tx.transform.image, "image_all": images,
                           "code_command": tx.transform.command or None, "args": tx.transform.args or None,
                           "cluster_parts": tx.parts or None, "cluster_pipeline_run": tx.parent})
        digests = attributes.get("image_digests")
        add(Activity(
            id=tx.id, label=tx.label, prov_type=[f"k8s:{tx.kind}"], started_at=tx.started_at,
            ended_at=tx.ended_at, status=tx.status, params=tx.transform.params or None,
            code_version=digests[0] if isinstance(digests, list) and len(digests) == 1 else None,
            attributes={k: v for k, v in attributes.items() if v is not None},
        ))
        for artifact in tx.outputs:
            if artifact.uri:
                location = location_id(artifact.uri)
                add(Entity(id=location, label=location, uri=location, extra_labels=frozenset({"Location"})))
                target = version_id(location, tx.id)
                add(Entity(id=target, label=artifact.label or f"{location} ({tx.label})", uri=location,
                           generated_at=tx.ended_at, attributes=artifact.attributes))
                relations.append(SpecializationOf(specific=target, general=location))
            elif artifact.entity:
                target = artifact.entity
                add(Entity(id=target, label=artifact.label or target, attributes=artifact.attributes))
            else:
                continue
            relations.append(WasGeneratedBy(entity=target, activity=tx.id, time=tx.ended_at,
                                            attributes={"prov:role": artifact.role}))
        for artifact in tx.inputs:
            if artifact.uri:
                location = location_id(artifact.uri)
                add(Entity(id=location, label=location, uri=location, extra_labels=frozenset({"Location"})))
                known = [w for w in writers.get(location, []) if w[2] != tx.id
                         and (tx.started_at is None or w[0] is None or w[0] <= tx.started_at)]
                target = max(known, key=lambda w: (_when(w[0]), w[1]))[1] if known else location
            elif artifact.entity:
                target = artifact.entity
                attrs = {k: v for k, v in artifact.attributes.items() if k != "general"}
                add(Entity(id=target, label=artifact.label or target, attributes=attrs))
                general = artifact.attributes.get("general")
                if isinstance(general, str):
                    add(Entity(id=general, label=(artifact.label or general).split(" (")[0]))
                    relations.append(SpecializationOf(specific=target, general=general))
            else:
                continue
            relations.append(Used(activity=tx.id, entity=target, time=tx.started_at,
                                  attributes={"prov:role": artifact.role}))
        for agent in tx.agents:
            add(Agent(id=agent.id, label=agent.label, agent_type=agent.agent_type,
                      attributes={k: v for k, v in agent.attributes.items() if v is not None}))
            relations.append(WasAssociatedWith(activity=tx.id, agent=agent.id))
        if tx.plan is not None:
            add(Entity(id=tx.plan.id, label=tx.plan.label, extra_labels=frozenset({"Plan"}),
                       attributes={k: v for k, v in tx.plan.attributes.items() if v is not None}))
            controller = tx.plan_agent or tx.plan.id + ":controller"
            add(Agent(id=controller, label=f"controller of {tx.plan.label}", agent_type="Controller"))
            relations.append(WasAssociatedWith(activity=tx.id, agent=controller, plan=tx.plan.id))
        for informant in tx.informed_by:
            relations.append(WasInformedBy(informed=tx.id, informant=informant))
    return list(elements.values()), relations


def _fingerprint(elements: list[Element], relations: list[Relation]) -> str:
    rows = sorted(json.dumps([e.kind.value, e.id, sorted(e.extra_labels), e.properties()], sort_keys=True,
                             default=str) for e in elements)
    rows += sorted(json.dumps([r.type.value, r.start, r.end, r.key(), r.properties()], sort_keys=True, default=str)
                   for r in relations)
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


# Objects whose stored JSON is read and extracted at a time.
LATEST_BATCH = 2_000


class K8sEtl:
    """Derive lineage from the raw store with a list of extractors (user ones before the built-ins)."""

    def __init__(self, store: GraphStore, *, rawstore: RawStore | None = None,
                 extractors: Iterable[Extractor] = (), builtins: bool = True,
                 conventions: Conventions | None = None):
        self.store = store
        self.rawstore = rawstore or RawStore(store)
        self.extractors: list[Extractor] = list(extractors) + (list(BUILTIN_EXTRACTORS) if builtins else [])
        self.conventions = conventions or Conventions()

    def _select(self, every: list[StoredObject], *, reprocess: bool, kind: str | None, since: datetime | None,
                uids: Iterable[str] | None) -> list[StoredObject]:
        state = {r["uid"]: r["etl_version"] for r in self.store.read(
            "MATCH (o:K8sObject) WHERE o.latest_version IS NOT NULL "
            "RETURN o.uid AS uid, o.etl_version AS etl_version")}
        wanted = set(uids) if uids is not None else None
        by_uid = {o.uid: o for o in every}
        chosen: dict[str, StoredObject] = {}
        for obj in every:
            if wanted is not None and obj.uid not in wanted:
                continue
            if kind is not None and obj.kind.lower() != kind.lower():
                continue
            if since is not None and obj.last_observed < since:
                continue
            if not reprocess and state.get(obj.uid) == obj.latest_version:
                continue
            chosen[obj.uid] = obj
            # A changed part (a Pod) changes what its owners derive (the Job's image digests).
            pending = list(obj.owner_uids)
            while pending:
                owner = by_uid.get(pending.pop())
                if owner is not None and owner.uid not in chosen:
                    chosen[owner.uid] = owner
                    pending.extend(owner.owner_uids)
        return list(chosen.values())

    def run(self, *, reprocess: bool = False, kind: str | None = None, since: datetime | None = None,
            uids: Iterable[str] | None = None) -> EtlCounts:
        """One ETL pass: idempotent; ``reprocess`` re-derives objects already processed."""
        counts = EtlCounts()
        every = self.rawstore.objects()
        owners: dict[str, list[StoredObject]] = {}
        for stored in every:
            for owner in stored.owner_uids:
                owners.setdefault(owner, []).append(stored)
        selected = self._select(every, reprocess=reprocess, kind=kind, since=since, uids=uids)
        derived: list[tuple[StoredObject, list[Transaction]]] = []
        marks: list[dict[str, Any]] = []
        for obj, version in self._latest_versions(selected):
            if version is None:
                continue
            counts.objects += 1
            name = describe(version.object) + f" (uid {obj.uid})"
            context = ExtractContext(self.rawstore, version, self.conventions, owners)
            try:
                transactions = self._extract(version.object, context)
            except LineageGraphError as exc:
                counts.errors.append(f"{name}: {exc}")
                continue
            except Exception as exc:
                counts.errors.append(f"{name}: the extractor failed: {type(exc).__name__}: {exc}")
                continue
            if transactions is None:
                counts.skipped.append(f"{name}: no extractor knows kind {obj.kind} ({obj.api_version})")
                marks.append({"uid": obj.uid, "version": obj.latest_version, "fingerprint": None})
                continue
            derived.append((obj, transactions))
        writers = self._writers([t for _, ts in derived for t in ts])
        sources = [f"k8s:{obj.uid}" for obj, _ in derived]
        fingerprints = {r["uid"]: r["f"] for r in self.store.read(
            "UNWIND $uids AS uid MATCH (o:K8sObject {uid: uid}) RETURN uid, o.etl_fingerprint AS f",
            uids=[obj.uid for obj, _ in derived])}
        old_runs: dict[str, list[str]] = {}
        for row in self.store.read(
                "MATCH (r:ImportRun {importer: $importer}) WHERE r.source IN $sources AND r.status = 'ok' "
                "RETURN r.source AS source, r.id AS id", importer=IMPORTER, sources=sources):
            old_runs.setdefault(row["source"], []).append(row["id"])
        # What changed, without its rows once they are written: (object, fingerprint, has rows).
        # Holding every object's elements until the end grew the ETL with the store.
        pending: list[tuple[StoredObject, str, bool]] = []
        transactions_of = {obj.uid: transactions for obj, transactions in derived}

        def changed() -> Iterator[tuple[StoredObject, list[Element | Relation]]]:
            # Lazy, so that mapping the next objects overlaps writing the ones before (import_units
            # writes a batch on a worker thread while this generator makes the next).
            for obj, transactions in sorted(derived, key=lambda d: (d[0].first_observed, d[0].uid)):
                counts.transactions += len(transactions)
                elements, relations = to_graph(transactions, writers)
                fingerprint = _fingerprint(elements, relations)
                if fingerprints.get(obj.uid) == fingerprint:
                    counts.unchanged += 1
                    marks.append({"uid": obj.uid, "version": obj.latest_version, "fingerprint": fingerprint})
                else:
                    pending.append((obj, fingerprint, bool(elements or relations)))
                    if elements or relations:
                        yield obj, [*elements, *relations]

        def write_one(obj: StoredObject) -> str | None:
            elements, relations = to_graph(transactions_of[obj.uid], writers)
            try:
                self.store.import_elements(IMPORTER, f"k8s:{obj.uid}", elements, relations)
            except InputError as exc:
                return f"{obj.ref} (uid {obj.uid}): {exc}"
            return None

        # Each object is its own small import run, so that a later derivation of that object
        # supersedes it alone; the runs share chunked transactions (GraphStore.import_units)
        # instead of costing three commits each. When a chunk is refused, the objects are written
        # one by one (mapped again), so that the error names the object at fault and the others
        # still land.
        errors: dict[str, str] = {}
        mapped = changed()
        try:
            self.store.import_units(IMPORTER, ((f"k8s:{obj.uid}", rows) for obj, rows in mapped))
        except InputError:
            for _item in mapped:  # map the objects not reached when the chunk was refused
                pass
            for obj, _print, has_rows in pending:
                error = write_one(obj) if has_rows else None
                if error:
                    errors[obj.uid] = error
        self._mark(marks)
        for obj, fingerprint, has_rows in pending:
            if obj.uid in errors:
                counts.errors.append(errors[obj.uid])
                continue
            # The older runs of this source now assert only what the new derivation dropped.
            old = old_runs.get(f"k8s:{obj.uid}", [])
            for run in old:
                self.store.remove_import_run(run)
            counts.written += int(has_rows or bool(old))
            counts.removed_runs += len(old)
            marks.append({"uid": obj.uid, "version": obj.latest_version, "fingerprint": fingerprint})
            if len(marks) >= 1000:
                self._mark(marks)
        self._mark(marks)
        return counts

    def _latest_versions(self, objects: list[StoredObject]) -> Iterator[tuple[StoredObject, StoredVersion | None]]:
        """Each object with its newest stored version, read a batch at a time: only the derived
        transactions are kept, not every object's whole JSON at once."""
        for start in range(0, len(objects), LATEST_BATCH):
            batch = objects[start:start + LATEST_BATCH]
            latest = self.rawstore.latest(o.uid for o in batch)
            for obj in batch:
                yield obj, latest.get(obj.uid)

    def _remove_runs(self, source: str, *, keep: str) -> int:
        rows = self.store.read(
            "MATCH (r:ImportRun {importer: $importer, source: $source}) "
            "WHERE r.id <> $keep AND r.status = 'ok' RETURN r.id AS id", importer=IMPORTER, source=source, keep=keep)
        for row in rows:
            self.store.remove_import_run(row["id"])
        return len(rows)

    def _extract(self, obj: dict[str, Any], ctx: ExtractContext) -> list[Transaction] | None:
        for extractor in self.extractors:
            result = extractor(obj, ctx)
            if result is not None:
                return [Transaction.model_validate(t) if not isinstance(t, Transaction) else t for t in result]
        return None

    def _mark(self, marks: list[dict[str, Any]]) -> None:
        """Remember which version was processed and what it derived (then empty ``marks``)."""
        if marks:
            self.store.write_query(
                "UNWIND $rows AS row MATCH (o:K8sObject {uid: row.uid}) "
                "SET o.etl_version = row.version, o.etl_fingerprint = row.fingerprint", rows=marks)
            marks.clear()

    def _writers(self, transactions: list[Transaction]) -> dict[str, list[tuple[datetime | None, str, str]]]:
        """Known versions of every location these transactions read: from this pass and the graph."""
        writers: dict[str, list[tuple[datetime | None, str, str]]] = {}
        for tx in transactions:
            for artifact in tx.outputs:
                if artifact.uri:
                    location = location_id(artifact.uri)
                    writers.setdefault(location, []).append((tx.ended_at, version_id(location, tx.id), tx.id))
        read = sorted({location_id(a.uri) for tx in transactions for a in tx.inputs if a.uri})
        rows = self.store.read(
            "UNWIND $locations AS location "
            "MATCH (v:Entity)-[:SPECIALIZATION_OF]->(:Entity {id: location}) "
            "OPTIONAL MATCH (v)-[:WAS_GENERATED_BY]->(a:Activity) "
            "RETURN location, v.id AS version, v.generated_at AS at, a.id AS writer", locations=read)
        known = {(location, entry[1]) for location, entries in writers.items() for entry in entries}
        for row in rows:
            if (row["location"], row["version"]) not in known:  # a set: a location may have many versions
                known.add((row["location"], row["version"]))
                entry = (_native(row["at"]), row["version"], row["writer"] or "")
                writers.setdefault(row["location"], []).append(entry)
        return writers
