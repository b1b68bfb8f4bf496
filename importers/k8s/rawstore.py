"""The raw Kubernetes object store: every observed version of a watched object, whole, in Neo4j.

The API server is not a history (objects are garbage-collected, etcd compacts old revisions), so
whatever watches a cluster or reads ``kubectl`` output records the objects here first, and lineage
is derived from them later by extractors that may change (:mod:`.etl`).

Layout (fixed labels, outside the PROV labels so no lineage traversal ever walks into it):

* ``(:K8sObject {uid})`` — one node per object: group, api_version, kind, namespace, name, owner
  uids, the newest version number, the newest resourceVersion, whether it is deleted.
* ``(:K8sObjectVersion {key})`` — one node per stored version: uid, per-object version number
  (1, 2, 3, ... never reused), resourceVersion, when it was observed, the watch event type,
  whether it is the deletion, and the whole object as a JSON string.

Guarantees: the newest version of an object (the last one before its deletion included) is never
pruned; at most ``max_versions`` versions are kept per object, oldest dropped first; an event whose
resourceVersion is already stored (a re-delivery, a replay after restart, a relist) or older than
the newest one stored is not stored again; ``Secret`` objects are never stored; secret-looking
env values, args, annotations and ConfigMap data are redacted before anything is written, while
digests (``sha256:...``, ``image@sha256:...``) are kept because they are identity, not secrets.

Writes go in batched ``UNWIND $rows`` transactions: one transaction per batch of events, not per
event. Each batch first locks the objects it touches, so two recorders writing the same object
cannot hand out one version number twice.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Literal

from neo4j import ManagedTransaction
from pydantic import BaseModel, ConfigDict

from lineagegraph.redaction import REDACTED
from lineagegraph.redaction import redact_value as _redact_value_uncached
from lineagegraph.store import GraphStore

__all__ = [
    "K8S_OBJECT",
    "K8S_OBJECT_VERSION",
    "RawStore",
    "RecordCounts",
    "StoredObject",
    "StoredVersion",
    "WatchEvent",
    "diff_objects",
    "redact_object",
]

# The raw store's labels: fixed strings, never input.
K8S_OBJECT = "K8sObject"
K8S_OBJECT_VERSION = "K8sObjectVersion"

SCHEMA_STATEMENTS: tuple[str, ...] = (
    "CREATE CONSTRAINT k8s_object_uid IF NOT EXISTS FOR (o:K8sObject) REQUIRE o.uid IS UNIQUE",
    "CREATE CONSTRAINT k8s_object_version_key IF NOT EXISTS FOR (v:K8sObjectVersion) REQUIRE v.key IS UNIQUE",
    "CREATE INDEX k8s_object_version_uid IF NOT EXISTS FOR (v:K8sObjectVersion) ON (v.uid)",
    "CREATE INDEX k8s_object_kind IF NOT EXISTS FOR (o:K8sObject) ON (o.kind)",
    "CREATE INDEX k8s_object_name IF NOT EXISTS FOR (o:K8sObject) ON (o.name)",
)

BATCH_SIZE = 1000

# Names (env var, annotation key, ConfigMap key, command-line flag) that say the value is secret.
_SECRET_NAME = re.compile(r"PASSWORD|PASSWD|PASSPHRASE|TOKEN|SECRET|KEY|CREDENTIAL|AUTH|CERT|PRIVATE", re.I)
# ...except names that only talk about keys or tokens (references, counts, digests).
_NOT_SECRET_NAME = re.compile(r"KEY_?REF|KEY_?ID$|SECRET_?NAME|SECRET_?REF|TOKENS?_?(COUNT|LIMIT)|NUM_?TOKENS|"
                              r"MAX_?TOKENS|TOKENIZER|DIGEST|CHECKSUM", re.I)
_DIGEST = re.compile(r"^(sha256|sha384|sha512):[0-9a-fA-F]{16,}$|@sha(256|384|512):[0-9a-fA-F]{16,}$")
_FLAG = re.compile(r"^(?P<flag>--?[A-Za-z0-9][A-Za-z0-9_.\-]*)(?P<eq>=)(?P<value>.*)$", re.S)
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


class WatchEvent(BaseModel):
    """One event as the watch API and ``kubectl get -w -o json`` emit it."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["ADDED", "MODIFIED", "DELETED"]
    object: dict[str, Any]


@dataclass
class RecordCounts:
    """What :meth:`RawStore.record` did with the events it was given.

    ``problems`` names every invalid object (kind/namespace/name or its position) and why.
    """

    stored: int = 0
    unchanged: int = 0
    secrets_skipped: int = 0
    deletions: int = 0
    invalid: int = 0
    problems: list[str] = field(default_factory=list)

    def add(self, other: RecordCounts) -> None:
        self.stored += other.stored
        self.unchanged += other.unchanged
        self.secrets_skipped += other.secrets_skipped
        self.deletions += other.deletions
        self.invalid += other.invalid
        self.problems.extend(other.problems)

    def as_dict(self) -> dict[str, Any]:
        return {"stored": self.stored, "unchanged": self.unchanged, "secrets_skipped": self.secrets_skipped,
                "deletions": self.deletions, "invalid": self.invalid, "problems": list(self.problems)}


class StoredObject(BaseModel):
    """One object of the raw store, as read back (without its versions)."""

    uid: str
    group: str
    api_version: str
    kind: str
    namespace: str | None
    name: str
    latest_version: int
    resource_version: str | None
    deleted: bool
    first_observed: datetime
    last_observed: datetime
    owner_uids: list[str]

    @property
    def ref(self) -> str:
        """``KIND/NAMESPACE/NAME`` (``KIND/NAME`` when cluster-scoped)."""
        return "/".join(p for p in (self.kind, self.namespace, self.name) if p)


class StoredVersion(BaseModel):
    """One stored version of an object, with the object as it was."""

    uid: str
    version: int
    resource_version: str | None
    observed_at: datetime
    event_type: str
    deleted: bool
    source: str
    object: dict[str, Any]


# ---------------------------------------------------------------------------------------------
# Redaction


# Most strings repeat from event to event (an object's versions share nearly all of them), so the
# value scan is cached; record() clears it so that a change of the redaction rules takes effect.
redact_value = lru_cache(maxsize=1 << 16)(_redact_value_uncached)


def _secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name)) and not _NOT_SECRET_NAME.search(name)


def _redact_scalar(name: str, value: Any) -> Any:
    """A value stored under ``name``: redacted when the name says secret, unless it is a digest."""
    if not isinstance(value, str):
        return value
    if _DIGEST.search(value):
        return value
    if _secret_name(name):
        return REDACTED if value else value
    return redact_value(value)


def _redact_args(args: list[Any]) -> list[Any]:
    out: list[Any] = []
    pending_secret = False
    for arg in args:
        if not isinstance(arg, str):
            out.append(arg)
            pending_secret = False
            continue
        if pending_secret and not arg.startswith("-"):
            # `--password VALUE`: the value is the next argument.
            out.append(_redact_scalar("password", arg))
            pending_secret = False
            continue
        pending_secret = False
        match = _FLAG.match(arg)
        if match:
            value = _redact_scalar(match["flag"].lstrip("-"), match["value"])
            out.append(f"{match['flag']}={value}")
        elif arg.startswith("-") and _secret_name(arg.lstrip("-")):
            out.append(arg)
            pending_secret = True
        else:
            out.append(redact_value(arg))
    return out


def _redact(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return _redact_dict(value)
    if isinstance(value, list):
        if key in ("args", "command"):
            return _redact_args(value)
        return [_redact(v) for v in value]
    if isinstance(value, str):
        return redact_value(value)
    return value


def _redact_dict(obj: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    # `{name: X, value: Y}` is how env vars and Argo/TFJob parameters are written.
    named_value = isinstance(obj.get("name"), str) and "value" in obj
    for key, value in obj.items():
        if named_value and key == "value":
            out[key] = _redact_scalar(obj["name"], value) if isinstance(value, str) else _redact(value, key)
        elif key == "annotations" and isinstance(value, dict):
            out[key] = {k: _redact_annotation(k, v) for k, v in value.items()}
        else:
            out[key] = _redact(value, key)
    return out


def _redact_annotation(key: str, value: Any) -> Any:
    if key == _LAST_APPLIED and isinstance(value, str):
        # kubectl keeps the whole applied manifest here, env values included.
        try:
            applied = json.loads(value)
        except ValueError:
            return REDACTED
        return json.dumps(redact_object(applied), sort_keys=True) if isinstance(applied, dict) else REDACTED
    return _redact_scalar(key.rsplit("/", 1)[-1], value)


def redact_object(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of a Kubernetes object with secret-looking values redacted and digests kept.

    Env values, ``--flag=value`` args, annotations and ConfigMap ``data`` entries are redacted
    when their name says secret (PASSWORD, TOKEN, SECRET, KEY, CREDENTIAL, ...); any string that
    looks like a credential (URL with a password, known token shapes) is redacted wherever it is.
    """
    redacted = _redact_dict(obj)
    if obj.get("kind") == "ConfigMap":
        for section in ("data", "binaryData"):
            entries = obj.get(section)
            if isinstance(entries, dict):
                redacted[section] = {k: _redact_scalar(k, v) for k, v in entries.items()}
    return redacted


# ---------------------------------------------------------------------------------------------
# Recording


def _now() -> datetime:
    return datetime.now(UTC)


def split_api_version(api_version: str) -> tuple[str, str]:
    """``batch/v1`` -> (``batch``, ``v1``); ``v1`` -> (``""``, ``v1``): the core group is empty."""
    group, _, version = api_version.rpartition("/")
    return group, version


def _rv_newer_or_equal(stored: str | None, incoming: str | None) -> bool:
    """Whether ``stored`` is at least as new as ``incoming``, when both are comparable numbers.

    resourceVersions are opaque by contract but are etcd revisions in practice; compared only when
    both are plain integers, so an older replayed event cannot become the newest version.
    """
    if stored is None or incoming is None or not (stored.isdigit() and incoming.isdigit()):
        return False
    return int(stored) >= int(incoming)


def describe(obj: Any, position: str | None = None) -> str:
    """A short name for an object in messages: ``Kind namespace/name`` and where it was."""
    if not isinstance(obj, dict):
        return f"{type(obj).__name__} value" + (f" at {position}" if position else "")
    found = obj.get("metadata")
    meta: dict[str, Any] = found if isinstance(found, dict) else {}
    kind = obj.get("kind") or "object without kind"
    name = "/".join(str(p) for p in (meta.get("namespace"), meta.get("name")) if p) or "(no name)"
    return f"{kind} {name}" + (f" at {position}" if position else "")


def validate_object(obj: Any) -> str | None:
    """Why ``obj`` cannot be stored (None when it can)."""
    if not isinstance(obj, dict):
        return "not a Kubernetes object (a mapping with apiVersion, kind and metadata)"
    meta = obj.get("metadata")
    if not isinstance(obj.get("apiVersion"), str) or not obj.get("apiVersion"):
        return "no apiVersion"
    if not isinstance(obj.get("kind"), str) or not obj.get("kind"):
        return "no kind"
    if not isinstance(meta, dict):
        return "no metadata"
    if not isinstance(meta.get("uid"), str) or not meta.get("uid"):
        return "no metadata.uid (not an object read from an API server)"
    if not isinstance(meta.get("name"), str) or not meta.get("name"):
        return "no metadata.name"
    rv = meta.get("resourceVersion")
    if rv is not None and not isinstance(rv, str):
        return "metadata.resourceVersion is not a string"
    return None


@dataclass
class _State:
    latest_version: int = 0
    last_rv: str | None = None
    deleted: bool = False
    # resourceVersions (or content hashes when there is none) of the versions still stored.
    stored: set[str] = field(default_factory=set)
    latest_key: str | None = None
    exists: bool = False


_LOCK = """
UNWIND $uids AS uid
MERGE (o:K8sObject {uid: uid})
SET o.locked_by = $token
REMOVE o.locked_by
"""

_READ_STATE = """
UNWIND $uids AS uid
MATCH (o:K8sObject {uid: uid}) WHERE o.latest_version IS NOT NULL
OPTIONAL MATCH (v:K8sObjectVersion {uid: uid})
RETURN uid, o.latest_version AS latest_version, o.resource_version AS last_rv, o.deleted AS deleted,
       collect(coalesce(v.resource_version, v.content_hash)) AS stored
"""

_WRITE_VERSIONS = """
UNWIND $rows AS row
MERGE (v:K8sObjectVersion {key: row.key})
SET v += row.props
"""

_MARK_VERSION_DELETED = """
UNWIND $keys AS key
MATCH (v:K8sObjectVersion {key: key})
SET v.deleted = true
"""

_WRITE_OBJECTS = """
UNWIND $rows AS row
MERGE (o:K8sObject {uid: row.uid})
SET o += row.props, o.first_observed = coalesce(o.first_observed, row.observed),
    o.etl_version = coalesce(o.etl_version, 0), o.etl_fingerprint = coalesce(o.etl_fingerprint, '')
"""

# Keep the newest $max versions of each object; the newest one (the last before a deletion
# included) is never dropped because max >= 1.
_PRUNE = """
UNWIND $uids AS uid
MATCH (v:K8sObjectVersion {uid: uid})
WITH uid, v ORDER BY v.version DESC
WITH uid, collect(v) AS versions
UNWIND versions[$max..] AS old
DETACH DELETE old
RETURN count(old) AS pruned
"""

def _time(expr: str) -> str:
    """Cypher for a DateTime as ``[epoch seconds, nanosecond, offset seconds]`` (see _native_time)."""
    return f"[{expr}.epochSeconds, {expr}.nanosecond, {expr}.offsetSeconds]"


_OBJECT_FIELDS = f"""o.uid AS uid, o.group AS group, o.api_version AS api_version, o.kind AS kind,
       o.namespace AS namespace, o.name AS name, o.latest_version AS latest_version,
       o.resource_version AS resource_version, o.deleted AS deleted, {_time("o.first_observed")} AS first_observed,
       {_time("o.last_observed")} AS last_observed, coalesce(o.owner_uids, []) AS owner_uids"""

# A stored version's properties, its observation time as _time gives it.
_VERSION_FIELDS = f"v {{.*, observed_at: {_time('v.observed_at')}}} AS v"


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _native_time(value: Any) -> datetime:
    # Times are read as numbers (_time): the driver's own DateTime conversion runs in pure Python
    # and cost more than the rest of reading an object (10 s for the 75k times of 25k objects).
    if isinstance(value, list):
        seconds, nanosecond, offset = value
        return datetime.fromtimestamp(seconds, timezone(timedelta(seconds=offset))).replace(
            microsecond=nanosecond // 1000)
    if hasattr(value, "to_native"):
        native = value.to_native()
        assert isinstance(native, datetime)
        return native
    assert isinstance(value, datetime)
    return value


class RawStore:
    """Record and read back raw Kubernetes objects in the graph store's database.

    ``max_versions`` bounds the versions kept per object (>= 1); the newest is always kept.
    """

    def __init__(self, store: GraphStore, *, max_versions: int = 20, batch_size: int = BATCH_SIZE):
        if max_versions < 1:
            raise ValueError("max_versions must be at least 1 (the last version is always kept)")
        self.store = store
        self.max_versions = max_versions
        self.batch_size = batch_size
        self._schema_ready = False

    def init_schema(self) -> None:
        """Create the raw store's constraints and indexes (idempotent; done before the first write)."""
        if self._schema_ready:
            return
        for statement in SCHEMA_STATEMENTS:
            self.store.driver.execute_query(statement, database_=self.store.database)
        self._schema_ready = True

    # -- writing ---------------------------------------------------------------------------
    def record(self, events: Iterable[WatchEvent], *, source: str,
               observed_at: datetime | None = None) -> RecordCounts:
        """Store the events' objects; batched, idempotent (a second call stores nothing new).

        Secrets are skipped and counted; an object that is not valid (no uid, no kind, ...) is
        counted in ``invalid`` and named in ``problems``, and the other events are still stored.
        """
        self.init_schema()
        redact_value.cache_clear()
        counts = RecordCounts()
        for number, batch in enumerate(_chunks(events, self.batch_size)):
            prepared: list[tuple[WatchEvent, dict[str, Any]]] = []
            for offset, event in enumerate(batch):
                obj = event.object
                if obj.get("kind") == "Secret":
                    counts.secrets_skipped += 1
                    continue
                problem = validate_object(obj)
                if problem:
                    counts.invalid += 1
                    where = f"event {number * self.batch_size + offset + 1}"
                    counts.problems.append(f"{describe(obj, where)}: {problem}")
                    continue
                prepared.append((event, redact_object(obj)))
            if prepared:
                counts.add(self._record_batch(prepared, source, observed_at or _now()))
        return counts

    def _record_batch(self, batch: list[tuple[WatchEvent, dict[str, Any]]], source: str,
                      observed_at: datetime) -> RecordCounts:
        uids = sorted({obj["metadata"]["uid"] for _, obj in batch})

        def work(tx: ManagedTransaction) -> RecordCounts:
            counts = RecordCounts()
            tx.run(_LOCK, uids=uids, token=source).consume()
            states: dict[str, _State] = {uid: _State() for uid in uids}
            for rec in tx.run(_READ_STATE, uids=uids):
                states[rec["uid"]] = _State(
                    latest_version=rec["latest_version"], last_rv=rec["last_rv"], deleted=bool(rec["deleted"]),
                    stored=set(rec["stored"]), latest_key=f"{rec['uid']}#{rec['latest_version']}", exists=True)
            versions: list[dict[str, Any]] = []
            marked: list[str] = []
            objects: dict[str, dict[str, Any]] = {}
            for event, obj in batch:
                meta = obj["metadata"]
                uid = meta["uid"]
                state = states[uid]
                deleting = event.type == "DELETED"
                text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                rv: str | None = meta.get("resourceVersion")
                content_hash = hashlib.sha256(text.encode()).hexdigest()
                identity = rv if rv is not None else content_hash
                if identity in state.stored or _rv_newer_or_equal(state.last_rv, rv):
                    # Seen before (or older than what is stored). A deletion still marks the newest
                    # stored version deleted: the object is gone, and that version was its last.
                    if deleting and not state.deleted:
                        state.deleted = True
                        counts.deletions += 1
                        if state.latest_key:
                            marked.append(state.latest_key)
                        objects[uid] = self._object_props(obj, state, observed_at)
                    else:
                        counts.unchanged += 1
                    continue
                state.latest_version += 1
                state.last_rv = rv
                state.stored.add(identity)
                state.latest_key = f"{uid}#{state.latest_version}"
                if deleting and not state.deleted:
                    counts.deletions += 1
                state.deleted = deleting
                counts.stored += 1
                versions.append({"key": state.latest_key, "props": {
                    "uid": uid, "version": state.latest_version, "resource_version": rv,
                    "content_hash": content_hash, "observed_at": observed_at, "event_type": event.type,
                    "deleted": deleting, "source": source, "object": text,
                }})
                objects[uid] = self._object_props(obj, state, observed_at)
            if versions:
                tx.run(_WRITE_VERSIONS, rows=versions).consume()
            if marked:
                tx.run(_MARK_VERSION_DELETED, keys=marked).consume()
            if objects:
                tx.run(_WRITE_OBJECTS, rows=list(objects.values())).consume()
            # Objects that only got the lock MERGE (every event of theirs was unchanged) exist
            # already, except in a race with a failed first write: drop empty placeholders.
            tx.run("UNWIND $uids AS uid MATCH (o:K8sObject {uid: uid}) WHERE o.latest_version IS NULL "
                   "DELETE o", uids=uids).consume()
            tx.run(_PRUNE, uids=sorted(objects), max=self.max_versions).consume()
            return counts

        with self.store.driver.session(database=self.store.database) as session:
            return session.execute_write(work)

    @staticmethod
    def _object_props(obj: dict[str, Any], state: _State, observed_at: datetime) -> dict[str, Any]:
        meta = obj["metadata"]
        group, _ = split_api_version(obj["apiVersion"])
        owners = [o.get("uid") for o in meta.get("ownerReferences") or [] if isinstance(o, dict)]
        return {"uid": meta["uid"], "observed": observed_at, "props": {
            "group": group, "api_version": obj["apiVersion"], "kind": obj["kind"],
            "namespace": meta.get("namespace"), "name": meta["name"],
            "latest_version": state.latest_version, "resource_version": state.last_rv,
            "deleted": state.deleted, "last_observed": observed_at,
            "owner_uids": [o for o in owners if isinstance(o, str)],
        }}

    def mark_deleted(self, uids: Iterable[str], *, source: str) -> int:
        """Mark the newest stored version of each live object deleted; returns how many were live.

        For objects that vanished while nobody watched (a relist after ``410 Gone``): their last
        stored version becomes the deletion. Unknown or already deleted uids are ignored.
        """
        self.init_schema()
        records, _, _ = self.store.driver.execute_query(
            """UNWIND $uids AS uid
            MATCH (o:K8sObject {uid: uid}) WHERE NOT o.deleted
            MATCH (v:K8sObjectVersion {key: uid + '#' + toString(o.latest_version)})
            SET o.deleted = true, o.deleted_by = $source, o.last_observed = $now,
                v.deleted = true, v.deleted_by = $source
            RETURN count(o) AS marked""",
            {"uids": sorted(set(uids)), "source": source, "now": _now()}, database_=self.store.database,
        )
        return int(records[0]["marked"])

    # -- reading ---------------------------------------------------------------------------
    def known_uids(self, *, group: str, kind: str, namespace: str | None) -> set[str]:
        """Uids of the live (not deleted) objects of a kind, in one namespace or (None) all."""
        rows = self.store.read(
            "MATCH (o:K8sObject {group: $group, kind: $kind}) "
            "WHERE NOT o.deleted AND ($namespace IS NULL OR o.namespace = $namespace) RETURN o.uid AS uid",
            group=group, kind=kind, namespace=namespace,
        )
        return {r["uid"] for r in rows}

    def objects(self, *, kind: str | None = None, namespace: str | None = None, name: str | None = None,
                group: str | None = None, uid: str | None = None, owner_uid: str | None = None,
                include_deleted: bool = True) -> list[StoredObject]:
        """Stored objects matching every filter given (kind is case-insensitive), by kind/ns/name."""
        rows = self.store.read(
            f"""MATCH (o:K8sObject) WHERE o.latest_version IS NOT NULL
              AND ($kind IS NULL OR toLower(o.kind) = toLower($kind))
              AND ($namespace IS NULL OR o.namespace = $namespace)
              AND ($name IS NULL OR o.name = $name) AND ($group IS NULL OR o.group = $group)
              AND ($uid IS NULL OR o.uid = $uid) AND ($owner IS NULL OR $owner IN o.owner_uids)
              AND ($all OR NOT o.deleted)
            RETURN {_OBJECT_FIELDS}
            ORDER BY o.kind, o.namespace, o.name, o.first_observed""",
            kind=kind, namespace=namespace, name=name, group=group, uid=uid, owner=owner_uid,
            all=include_deleted,
        )
        return [self._object(r) for r in rows]

    @staticmethod
    def _object(row: dict[str, Any]) -> StoredObject:
        row = dict(row)
        row["first_observed"] = _native_time(row["first_observed"])
        row["last_observed"] = _native_time(row["last_observed"])
        return StoredObject.model_validate(row)

    def resolve(self, ref: str) -> StoredObject | None:
        """The object named by a uid or ``KIND/NAMESPACE/NAME`` (``KIND/NAME``): the newest if several.

        Several objects share a name over time (a Job deleted and created again); the most recently
        observed one is meant.
        """
        found = self.objects(uid=ref)
        if not found:
            parts = ref.split("/")
            if len(parts) == 3:
                found = self.objects(kind=parts[0], namespace=parts[1], name=parts[2])
            elif len(parts) == 2:
                found = [o for o in self.objects(kind=parts[0], name=parts[1]) if o.namespace is None]
        if not found:
            return None
        return max(found, key=lambda o: o.last_observed)

    def history(self, uid: str) -> list[StoredVersion]:
        """The stored versions of one object, oldest first."""
        rows = self.store.read(
            f"MATCH (v:K8sObjectVersion {{uid: $uid}}) RETURN {_VERSION_FIELDS} ORDER BY v.version", uid=uid)
        return [self._version(r["v"]) for r in rows]

    def latest(self, uids: Iterable[str]) -> dict[str, StoredVersion]:
        """The newest stored version of each given object that is stored."""
        rows = self.store.read(
            f"""UNWIND $uids AS uid MATCH (o:K8sObject {{uid: uid}})
            MATCH (v:K8sObjectVersion {{key: uid + '#' + toString(o.latest_version)}})
            RETURN {_VERSION_FIELDS}""", uids=sorted(set(uids)))
        return {r["v"]["uid"]: self._version(r["v"]) for r in rows}

    @staticmethod
    def _version(props: dict[str, Any]) -> StoredVersion:
        return StoredVersion(
            uid=props["uid"], version=props["version"], resource_version=props.get("resource_version"),
            observed_at=_native_time(props["observed_at"]), event_type=props["event_type"],
            deleted=bool(props.get("deleted")), source=props["source"], object=json.loads(props["object"]),
        )

    def counts(self) -> dict[str, int]:
        """How many objects and versions the raw store holds."""
        rows = self.store.read(
            "CALL () { MATCH (o:K8sObject) RETURN count(o) AS objects } "
            "CALL () { MATCH (v:K8sObjectVersion) RETURN count(v) AS versions } RETURN objects, versions")
        return {"objects": rows[0]["objects"], "versions": rows[0]["versions"]}


def diff_objects(old: Any, new: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """The differences between two objects as ``(path, old, new)``; a missing side is None."""
    if isinstance(old, dict) and isinstance(new, dict):
        changes: list[tuple[str, Any, Any]] = []
        for key in sorted(set(old) | set(new), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in old:
                changes.append((sub, None, new[key]))
            elif key not in new:
                changes.append((sub, old[key], None))
            else:
                changes.extend(diff_objects(old[key], new[key], sub))
        return changes
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        changes = []
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            changes.extend(diff_objects(a, b, f"{path}[{i}]"))
        return changes
    return [] if old == new else [(path, old, new)]
