"""The live cluster agent: watches a Kubernetes API server and records every object it sees, whole.

Behind ``lineagegraph watch k8s``. For each configured kind (group/version/resource) and namespace
one watcher thread lists, then watches from the list's resourceVersion with bookmarks, and hands
what it saw to a single writer thread, which records it into the raw object store
(:class:`~lineagegraph.importers.k8s.rawstore.RawStore`) and only then persists the watcher's
resourceVersion checkpoint. So a restart resumes where the last *durable* write stopped: nothing
is skipped, and what is delivered twice the raw store recognises by its resourceVersion.

Failure handling, as a user sees it:

* ``410 Gone`` (the checkpoint is older than the server's history): relist, record, and mark the
  objects the raw store still thinks live but the list no longer has as deleted (reconcile).
* The API server unreachable: reconnect with exponential backoff. A kind the server does not serve
  (its CRD not installed) is reported once and looked up again every ``missing_kind_retry`` s.
* Neo4j unreachable: the writer appends what it would write to an append-only, fsync'ed NDJSON
  buffer in the state directory (bounded by ``buffer_max_bytes``; when full, the watchers wait, and
  their checkpoints stay behind, so even a crash then loses nothing) and flushes it, in order, as
  soon as Neo4j answers again.
* SIGTERM (or :meth:`K8sAgent.stop`): watchers stop, the writer drains what is queued, checkpoints
  are saved, the process exits 0.

Secrets are never watched (a kind naming ``secrets`` is refused) and never stored; objects are
redacted (:func:`~lineagegraph.importers.k8s.rawstore.redact_object`) before they reach the buffer,
so secret-looking values do not land on local disk either.

A small HTTP endpoint on 127.0.0.1 answers ``/healthz``, ``/readyz``, ``/metrics`` (Prometheus
text) and ``/status`` (JSON).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import neo4j
import urllib3
from kubernetes import client as k8s_client
from kubernetes import watch as k8s_watch
from kubernetes.client.exceptions import ApiException

from lineagegraph.errors import ConfigError, ServerError
from lineagegraph.importers.k8s.rawstore import RawStore, WatchEvent, redact_object
from lineagegraph.settings import Settings
from lineagegraph.store import GraphStore

__all__ = ["DEFAULT_KINDS", "AgentOptions", "K8sAgent", "KindRef", "connect_store", "kube_api_client"]

log = logging.getLogger("lineagegraph.k8s_agent")

DEFAULT_KINDS: tuple[str, ...] = (
    "batch/v1/jobs",
    "batch/v1/cronjobs",
    "v1/pods",
    "kubeflow.org/v1/tfjobs",
    "kubeflow.org/v1/pytorchjobs",
    "argoproj.io/v1alpha1/workflows",
    "v1/configmaps",
)

# Kinds of the default resources, so that the Pod filter knows its owners before discovery ran.
_KNOWN_KINDS = {"jobs": "Job", "cronjobs": "CronJob", "tfjobs": "TFJob", "pytorchjobs": "PyTorchJob",
                "workflows": "Workflow", "configmaps": "ConfigMap"}

_PAGE = 500
_CHECKPOINT_FILE = "checkpoint.json"
_BUFFER_FILE = "buffer.ndjson"

# What "Neo4j is not there right now" looks like from the driver and the store.
_STORE_DOWN: tuple[type[BaseException], ...] = (
    neo4j.exceptions.ServiceUnavailable, neo4j.exceptions.SessionExpired, neo4j.exceptions.TransientError,
    neo4j.exceptions.DatabaseUnavailable, ServerError, OSError,
)
# What "the API server is not there right now" looks like from the kubernetes client.
_API_DOWN: tuple[type[BaseException], ...] = (urllib3.exceptions.HTTPError, OSError)


@dataclass(frozen=True)
class KindRef:
    """A watched resource: ``group/version/resource`` (``v1/pods`` for the core group)."""

    group: str
    version: str
    resource: str

    @classmethod
    def parse(cls, text: str) -> KindRef:
        parts = text.strip().strip("/").split("/")
        if len(parts) == 2:
            group, version, resource = "", parts[0], parts[1]
        elif len(parts) == 3:
            group, version, resource = parts
        else:
            raise ConfigError(f"--kind {text!r}: expected group/version/resource (v1/resource for the core group)")
        if not all(p.replace(".", "").replace("-", "").isalnum() for p in (version, resource)) or (
                group and not group.replace(".", "").replace("-", "").isalnum()):
            raise ConfigError(f"--kind {text!r}: not a group/version/resource name")
        resource = resource.lower()
        if group == "" and resource == "secrets":
            raise ConfigError("Secrets are never watched or stored")
        return cls(group, version, resource)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        return f"{self.api_version}/{self.resource}"

    def base_path(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    def path(self, namespace: str | None) -> str:
        if namespace is None:
            return f"{self.base_path()}/{self.resource}"
        return f"{self.base_path()}/namespaces/{namespace}/{self.resource}"


@dataclass
class AgentOptions:
    """How the agent watches and where it keeps its state."""

    kinds: list[KindRef] = field(default_factory=lambda: [KindRef.parse(k) for k in DEFAULT_KINDS])
    namespaces: list[str] = field(default_factory=list)  # empty: all namespaces
    state_dir: Path = Path(".lineagegraph/k8s-agent")
    source: str = "k8s"
    max_versions: int = 20
    buffer_max_bytes: int = 256 * 1024 * 1024
    watch_timeout: int = 300  # seconds a single watch request stays open before it is renewed
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    missing_kind_retry: float = 60.0
    store_retry: float = 2.0  # seconds between attempts to reach Neo4j while it is down
    health_port: int | None = 8080  # None: no HTTP endpoint; 0: any free port
    health_host: str = "127.0.0.1"
    queue_size: int = 256


# ---------------------------------------------------------------------------------------------
# Durable local state: the checkpoint file and the write-ahead buffer


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` so that a crash leaves either the old or the new content, never half."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


class Checkpoints:
    """resourceVersion per watch stream (``kind key`` + namespace), persisted as one JSON file."""

    def __init__(self, path: Path):
        self.path = path
        self._values: dict[str, str] = {}
        if path.exists():
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise ConfigError(f"{path}: not a checkpoint file ({exc}); remove it to relist") from exc
            if not isinstance(loaded, dict) or not all(isinstance(v, str) for v in loaded.values()):
                raise ConfigError(f"{path}: not a checkpoint file; remove it to relist")
            self._values = dict(loaded)

    def get(self, stream: str) -> str | None:
        return self._values.get(stream)

    def update(self, changes: dict[str, str | None]) -> None:
        for stream, rv in changes.items():
            if rv is None:
                self._values.pop(stream, None)
            else:
                self._values[stream] = rv
        _write_atomically(self.path, json.dumps(self._values, indent=1, sort_keys=True))


class BufferFullError(Exception):
    """The on-disk buffer reached its size bound; the caller waits for Neo4j."""


class DiskBuffer:
    """Append-only NDJSON of write operations waiting for Neo4j; each append is fsync'ed."""

    def __init__(self, path: Path, max_bytes: int):
        self.path = path
        self.max_bytes = max_bytes
        self.path.touch(exist_ok=True)
        self.entries = sum(1 for _ in self._lines())

    @property
    def size(self) -> int:
        return self.path.stat().st_size

    def _lines(self) -> Iterator[dict[str, Any]]:
        with self.path.open(encoding="utf-8") as lines:
            for line in lines:
                try:
                    yield json.loads(line)
                except ValueError:
                    # A torn last line from a crash mid-append: its checkpoint never advanced,
                    # so the watch delivers it again.
                    continue

    def append(self, ops: list[dict[str, Any]]) -> None:
        data = "".join(json.dumps(op, separators=(",", ":")) + "\n" for op in ops).encode()
        if self.size + len(data) > self.max_bytes:
            raise BufferFullError(f"{self.path} would exceed {self.max_bytes} bytes")
        with self.path.open("ab") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        self.entries += len(ops)

    def drain(self, apply: Callable[[dict[str, Any]], None]) -> int:
        """Apply the buffered operations in order; what failed (and after) stays buffered."""
        ops = list(self._lines())
        done = 0
        try:
            for op in ops:
                apply(op)
                done += 1
        finally:
            if done:
                rest = ops[done:]
                _write_atomically(self.path, "".join(json.dumps(o, separators=(",", ":")) + "\n" for o in rest))
                self.entries = len(rest)
        return done


# ---------------------------------------------------------------------------------------------
# Metrics


class Metrics:
    """Counters the HTTP endpoint reports; updated from several threads under one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started = time.time()
        self.events_total = 0
        self.stored_total = 0
        self.relists: dict[str, int] = {}
        self.missing_kinds: set[str] = set()
        self.listed: set[str] = set()
        self.api_errors = 0
        self.store_up = False
        self.buffer_bytes = 0
        self.buffer_entries = 0
        self.buffer_full = False
        self.oldest_pending: float | None = None
        self._recent: deque[tuple[float, int]] = deque()

    def count_events(self, n: int) -> None:
        now = time.time()
        with self.lock:
            self.events_total += n
            self._recent.append((now, n))
            while self._recent and self._recent[0][0] < now - 60:
                self._recent.popleft()

    def events_per_second(self) -> float:
        now = time.time()
        with self.lock:
            window = min(60.0, max(1.0, now - self.started))
            return sum(n for t, n in self._recent if t >= now - 60) / window

    def snapshot(self) -> dict[str, Any]:
        rate = self.events_per_second()
        with self.lock:
            lag = 0.0 if self.oldest_pending is None else max(0.0, time.time() - self.oldest_pending)
            return {
                "events_total": self.events_total, "stored_total": self.stored_total,
                "events_per_second": round(rate, 3), "lag_seconds": round(lag, 3),
                "buffer_bytes": self.buffer_bytes, "buffer_entries": self.buffer_entries,
                "buffer_full": self.buffer_full, "store_up": self.store_up,
                "relists": dict(self.relists), "missing_kinds": sorted(self.missing_kinds),
                "listed": sorted(self.listed), "api_errors": self.api_errors,
            }


def _prometheus(snapshot: dict[str, Any]) -> str:
    lines = []
    for name in ("events_total", "stored_total", "events_per_second", "lag_seconds", "buffer_bytes",
                 "buffer_entries", "api_errors"):
        lines.append(f"lineagegraph_k8s_agent_{name} {snapshot[name]}")
    lines.append(f"lineagegraph_k8s_agent_store_up {int(snapshot['store_up'])}")
    lines.append(f"lineagegraph_k8s_agent_buffer_full {int(snapshot['buffer_full'])}")
    for stream, n in sorted(snapshot["relists"].items()):
        lines.append(f'lineagegraph_k8s_agent_relists_total{{stream="{stream}"}} {n}')
    for kind in snapshot["missing_kinds"]:
        lines.append(f'lineagegraph_k8s_agent_kind_missing{{kind="{kind}"}} 1')
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# The agent


class _GoneError(Exception):
    """The server no longer has the history from our resourceVersion on (HTTP 410)."""


class _KindMissingError(Exception):
    """The server does not serve this group/version/resource (CRD not installed)."""


@dataclass
class _Delivery:
    """What one watcher hands to the writer: operations, then the checkpoint they make durable."""

    ops: list[dict[str, Any]]
    checkpoint: dict[str, str | None]
    received: float = field(default_factory=time.time)


class K8sAgent:
    """Watch the configured kinds and record them into the raw store until :meth:`stop`.

    ``store_factory`` connects to Neo4j; it is called again (every ``store_retry`` s) whenever
    Neo4j was unreachable, so the agent starts and keeps watching while Neo4j is down.
    """

    def __init__(self, api: k8s_client.ApiClient, store_factory: Callable[[], GraphStore],
                 options: AgentOptions | None = None):
        self.api = api
        self.store_factory = store_factory
        self.options = options or AgentOptions()
        self.options.state_dir.mkdir(parents=True, exist_ok=True)
        self.checkpoints = Checkpoints(self.options.state_dir / _CHECKPOINT_FILE)
        self.buffer = DiskBuffer(self.options.state_dir / _BUFFER_FILE, self.options.buffer_max_bytes)
        self.metrics = Metrics()
        self.metrics.buffer_bytes, self.metrics.buffer_entries = self.buffer.size, self.buffer.entries
        self.stop_event = threading.Event()
        self._queue: queue.Queue[_Delivery] = queue.Queue(maxsize=self.options.queue_size)
        self._store: GraphStore | None = None
        self._raw: RawStore | None = None
        self._last_store_attempt = float("-inf")
        self._down_reported = False
        self._watches: dict[str, k8s_watch.Watch] = {}
        self._watch_lock = threading.RLock()  # stop() may run in a signal handler while held
        self._owner_kinds = {_KNOWN_KINDS.get(k.resource, "") for k in self.options.kinds} - {""}
        self._writer_error: BaseException | None = None
        self._http: ThreadingHTTPServer | None = None
        self.health_port: int | None = None

    # -- public ----------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask every thread to finish; :meth:`run` returns once queued work is written."""
        self.stop_event.set()
        with self._watch_lock:
            for w in self._watches.values():
                w.stop()  # type: ignore[no-untyped-call]

    def run(self, *, once: bool = False) -> None:
        """Watch until :meth:`stop` (or, with ``once``, list every kind once, record, and return)."""
        if not once:  # a one-shot run has nothing to probe
            self._start_http()
        writer = threading.Thread(target=self._writer_loop, name="k8s-agent-writer", daemon=True)
        writer.start()
        streams = [(kind, ns) for kind in self.options.kinds for ns in self._namespaces()]
        watchers = [threading.Thread(target=self._watch_loop, args=(kind, ns), daemon=True,
                                     name=f"k8s-watch-{kind.key}-{ns or '*'}") for kind, ns in streams]
        try:
            if once:
                for kind, ns in streams:
                    self._list_once(kind, ns)
            else:
                for t in watchers:
                    t.start()
                while not self.stop_event.wait(0.5) and writer.is_alive():
                    pass
        finally:
            # Whatever ended the run (stop, --once done, an error): the writer still drains the queue.
            self.stop()
            for t in watchers:
                if t.is_alive():
                    t.join(timeout=30)
            writer.join()
            if self._http is not None:
                self._http.shutdown()
                self._http.server_close()
            if self._store is not None:
                self._store.close()
        if self._writer_error is not None:
            raise self._writer_error

    def status(self) -> dict[str, Any]:
        return self.metrics.snapshot()

    def _namespaces(self) -> list[str | None]:
        """The namespaces to watch; None stands for all of them."""
        return list(self.options.namespaces) or [None]

    # -- watchers --------------------------------------------------------------------------
    @staticmethod
    def _stream(kind: KindRef, namespace: str | None) -> str:
        return f"{kind.key}@{namespace or '*'}"

    def _get(self, path: str, query: list[tuple[str, Any]], *, stream: bool = False,
             timeout: Any = (10, 60)) -> Any:
        """GET an API path with the client's credentials; JSON (or, streaming, the raw response)."""
        params = self.api.param_serialize(method="GET", resource_path=path, query_params=query,
                                          header_params={"Accept": "application/json"},
                                          auth_settings=["BearerToken"])
        response: Any = self.api.call_api(*params, _request_timeout=timeout)
        if not 200 <= response.status <= 299:
            response.read()
            raise ApiException.from_response(http_resp=response, body=None, data=None)
        if stream:
            return response.response
        response.read()
        return json.loads(response.data)

    def _resolve(self, kind: KindRef) -> tuple[str, bool]:
        """The Kind name and whether it is namespaced, from the server's discovery document."""
        try:
            doc = self._get(kind.base_path(), [])
        except ApiException as exc:
            if exc.status == 404:
                raise _KindMissingError(f"{kind.api_version} is not served") from exc
            raise
        for res in doc.get("resources", []):
            if res.get("name") == kind.resource:
                return str(res["kind"]), bool(res.get("namespaced"))
        raise _KindMissingError(f"{kind.api_version} has no resource {kind.resource}")

    def _keep(self, kind: KindRef, obj: dict[str, Any]) -> bool:
        if obj.get("kind") == "Secret":
            return False
        if kind.group == "" and kind.resource == "pods":
            # Only Pods that belong to something we watch (a Job's, a TFJob's, ...) carry lineage.
            owners = (obj.get("metadata") or {}).get("ownerReferences") or []
            return any(isinstance(o, dict) and o.get("kind") in self._owner_kinds for o in owners)
        return True

    def _list(self, kind: KindRef, kind_name: str, namespace: str | None) -> tuple[list[dict[str, Any]], set[str], str]:
        """All objects of a kind (paged): the kept ones, every live uid, and the list's resourceVersion."""
        kept: list[dict[str, Any]] = []
        live: set[str] = set()
        token: str | None = None
        while True:
            query: list[tuple[str, Any]] = [("limit", _PAGE)]
            if token:
                query.append(("continue", token))
            page = self._get(kind.path(namespace), query)
            for item in page.get("items") or []:
                # List items of built-in kinds come without apiVersion/kind; the raw store needs them.
                item.setdefault("apiVersion", kind.api_version)
                item.setdefault("kind", kind_name)
                uid = (item.get("metadata") or {}).get("uid")
                if isinstance(uid, str):
                    live.add(uid)
                if self._keep(kind, item):
                    kept.append(redact_object(item))
            meta = page.get("metadata") or {}
            token = meta.get("continue")
            if not token:
                return kept, live, str(meta.get("resourceVersion") or "")

    def _relist(self, kind: KindRef, kind_name: str, namespace: str | None) -> str:
        objects, live, rv = self._list(kind, kind_name, namespace)
        stream = self._stream(kind, namespace)
        ops: list[dict[str, Any]] = []
        for start in range(0, len(objects), _PAGE):
            ops.append({"op": "record", "events": [{"type": "ADDED", "object": o}
                                                   for o in objects[start:start + _PAGE]]})
        ops.append({"op": "reconcile", "group": kind.group, "kind": kind_name, "namespace": namespace,
                    "live": sorted(live)})
        self.metrics.count_events(len(objects))
        self._put(_Delivery(ops, {stream: rv}))
        with self.metrics.lock:
            self.metrics.relists[stream] = self.metrics.relists.get(stream, 0) + 1
            self.metrics.listed.add(stream)
        log.info("listed %s: %d objects at resourceVersion %s", stream, len(objects), rv)
        return rv

    def _put(self, delivery: _Delivery) -> None:
        """Hand work to the writer; blocks while it is behind (the buffer full), unless stopping."""
        while True:
            try:
                self._queue.put(delivery, timeout=0.5)
                return
            except queue.Full:
                if self.stop_event.is_set():
                    return  # not delivered, so not checkpointed: the next run gets it again

    def _list_once(self, kind: KindRef, namespace: str | None) -> None:
        try:
            kind_name, namespaced = self._resolve(kind)
            self._relist(kind, kind_name, namespace if namespaced else None)
        except _KindMissingError as exc:
            self._report_missing(kind, exc)
        except ApiException as exc:
            # A one-shot run has no later retry: say which kind failed, in one line.
            raise ServerError(f"listing {kind.key}: HTTP {exc.status} {exc.reason}") from exc
        except _API_DOWN as exc:
            raise ServerError(f"listing {kind.key}: {_short(exc)}") from exc

    def _report_missing(self, kind: KindRef, exc: Exception) -> None:
        with self.metrics.lock:
            first = kind.key not in self.metrics.missing_kinds
            self.metrics.missing_kinds.add(kind.key)
        if first:
            log.warning("%s: %s (CRD not installed?); looking again every %.0fs", kind.key, exc,
                        self.options.missing_kind_retry)

    def _watch_loop(self, kind: KindRef, namespace: str | None) -> None:
        delay = self.options.backoff_initial
        kind_name: str | None = None
        stream = self._stream(kind, namespace)
        rv: str | None = None
        while not self.stop_event.is_set():
            try:
                if kind_name is None:
                    kind_name, namespaced = self._resolve(kind)
                    if not namespaced and namespace is not None:
                        if namespace != self.options.namespaces[0]:
                            return  # a cluster-scoped kind is watched once, by the first namespace's thread
                        namespace, stream = None, self._stream(kind, None)
                    with self.metrics.lock:
                        if kind.key in self.metrics.missing_kinds:
                            log.info("%s is served now; watching it", kind.key)
                        self.metrics.missing_kinds.discard(kind.key)
                    self._owner_kinds.add(kind_name)
                    rv = self.checkpoints.get(stream)
                    if rv:
                        log.info("resuming %s from resourceVersion %s", stream, rv)
                        with self.metrics.lock:
                            self.metrics.listed.add(stream)
                if not rv:
                    rv = self._relist(kind, kind_name, namespace)
                rv = self._watch(kind, namespace, rv)
                delay = self.options.backoff_initial
            except _GoneError:
                log.info("%s: resourceVersion %s is gone (410); relisting", stream, rv)
                rv = None
            except _KindMissingError as exc:
                self._report_missing(kind, exc)
                kind_name = None
                self.stop_event.wait(self.options.missing_kind_retry)
            except ApiException as exc:
                if self.stop_event.is_set():
                    break  # stop() cut the connection
                if exc.status == 410:
                    rv = None  # a relist's continue token expired
                    continue
                if exc.status == 404:
                    kind_name = None  # the CRD went away; find out whether it comes back
                delay = self._api_trouble(stream, exc, delay)
            except _API_DOWN as exc:
                if self.stop_event.is_set():
                    break
                delay = self._api_trouble(stream, exc, delay)

    def _api_trouble(self, stream: str, exc: BaseException, delay: float) -> float:
        """Report an API failure, wait ``delay`` (or until stopped), return the next delay."""
        with self.metrics.lock:
            self.metrics.api_errors += 1
        log.warning("%s: %s; retrying in %.1fs", stream, _short(exc), delay)
        self.stop_event.wait(delay)
        return min(self.options.backoff_max, delay * 2)

    def _watch(self, kind: KindRef, namespace: str | None, rv: str) -> str:
        """One watch request from ``rv``; returns the newest resourceVersion seen when it ends."""
        stream = self._stream(kind, namespace)
        timeout = self.options.watch_timeout

        def request(**kwargs: Any) -> Any:
            query: list[tuple[str, Any]] = [("watch", "true"), ("allowWatchBookmarks", "true"),
                                            ("resourceVersion", kwargs["resource_version"]),
                                            ("timeoutSeconds", timeout)]
            return self._get(kind.path(namespace), query, stream=True, timeout=(10, timeout + 30))

        w: Any = k8s_watch.Watch()  # type: ignore[no-untyped-call]
        with self._watch_lock:
            if self.stop_event.is_set():
                return rv
            self._watches[stream] = w
        try:
            # timeout_seconds makes the client hand every ERROR (410 included) to us instead of
            # retrying on its own; our request() puts it into the query.
            for event in w.stream(request, resource_version=rv, timeout_seconds=timeout):
                etype = event.get("type")
                obj = event.get("raw_object") or event.get("object")
                if etype == "ERROR":
                    if isinstance(obj, dict) and obj.get("code") == 410:
                        raise _GoneError()
                    raise ApiException(status=(obj or {}).get("code"), reason=str((obj or {}).get("message")))
                if not isinstance(obj, dict):
                    continue
                new_rv = (obj.get("metadata") or {}).get("resourceVersion")
                if etype == "BOOKMARK":
                    if new_rv:
                        rv = str(new_rv)
                        self._put(_Delivery([], {stream: rv}))
                    continue
                if etype not in ("ADDED", "MODIFIED", "DELETED"):
                    continue
                self.metrics.count_events(1)
                if new_rv:
                    rv = str(new_rv)
                ops = [{"op": "record", "events": [{"type": etype, "object": redact_object(obj)}]}] \
                    if self._keep(kind, obj) else []
                self._put(_Delivery(ops, {stream: rv}))
        except ApiException as exc:
            if exc.status == 410:
                raise _GoneError() from exc
            raise
        finally:
            with self._watch_lock:
                self._watches.pop(stream, None)
        return rv

    # -- writer ----------------------------------------------------------------------------
    def _raw_store(self) -> RawStore | None:
        """The raw store, connecting (at most every ``store_retry`` s) when there is none."""
        if self._raw is not None:
            return self._raw
        now = time.monotonic()
        if now - self._last_store_attempt < self.options.store_retry:
            return None
        self._last_store_attempt = now
        try:
            self._store = self.store_factory()
            raw = RawStore(self._store, max_versions=self.options.max_versions)
            raw.init_schema()
        except _STORE_DOWN as exc:
            self._store_down(exc)
            return None
        self._raw, self._down_reported = raw, False
        with self.metrics.lock:
            self.metrics.store_up = True
        log.info("Neo4j reachable; recording")
        return raw

    def _store_down(self, exc: BaseException) -> None:
        with self.metrics.lock:
            was_up = self.metrics.store_up
            self.metrics.store_up = False
        if was_up or not self._down_reported:  # once per outage, not once per retry
            log.warning("Neo4j unreachable (%s); buffering in %s", _short(exc), self.buffer.path)
            self._down_reported = True
        if self._store is not None:
            try:
                self._store.close()
            except Exception:
                log.debug("closing the driver failed", exc_info=True)
        self._store, self._raw = None, None
        self._last_store_attempt = time.monotonic()

    def _apply(self, raw: RawStore, op: dict[str, Any]) -> None:
        if op["op"] == "record":
            counts = raw.record((WatchEvent.model_validate(e) for e in op["events"]), source=self.options.source)
            with self.metrics.lock:
                self.metrics.stored_total += counts.stored
            for problem in counts.problems:
                log.warning("not stored: %s", problem)
        elif op["op"] == "reconcile":
            known = raw.known_uids(group=op["group"], kind=op["kind"], namespace=op["namespace"])
            missing = known - set(op["live"])
            # Only objects this agent (this cluster) recorded last: the raw store may also hold objects
            # of other clusters (file imports, other agents) whose uids no list here can contain.
            gone = {uid for uid, v in raw.latest(missing).items() if v.source == self.options.source}
            if gone:
                marked = raw.mark_deleted(gone, source=self.options.source)
                log.info("%s/%s in %s: %d object(s) vanished while unwatched; marked deleted",
                         op["group"] or "core", op["kind"], op["namespace"] or "all namespaces", marked)

    def _flush(self) -> bool:
        """Write the buffer to Neo4j; True when it is empty afterwards."""
        if not self.buffer.entries:
            return True
        raw = self._raw_store()
        if raw is None:
            return False
        try:
            done = self.buffer.drain(lambda op: self._apply(raw, op))
            if done:
                log.info("flushed %d buffered operation(s) to Neo4j", done)
        except _STORE_DOWN as exc:
            self._store_down(exc)
        self._sync_buffer_metrics()
        return not self.buffer.entries

    def _sync_buffer_metrics(self) -> None:
        with self.metrics.lock:
            self.metrics.buffer_bytes = self.buffer.size
            self.metrics.buffer_entries = self.buffer.entries

    def _deliver(self, ops: list[dict[str, Any]]) -> bool:
        """Make ``ops`` durable (in Neo4j, else in the buffer); False when neither can take them now."""
        if not ops:
            return True
        if self._flush():
            raw = self._raw_store()
            if raw is not None:
                try:
                    for op in ops:
                        self._apply(raw, op)
                    with self.metrics.lock:
                        self.metrics.buffer_full = False
                    return True
                except _STORE_DOWN as exc:
                    self._store_down(exc)
        try:
            # Ops already applied before a failure are buffered again; the raw store skips them.
            self.buffer.append(ops)
        except BufferFullError as exc:
            with self.metrics.lock:
                if not self.metrics.buffer_full:
                    log.error("buffer full (%s); watchers wait until Neo4j is back", exc)
                self.metrics.buffer_full = True
            return False
        with self.metrics.lock:
            self.metrics.buffer_full = False
        self._sync_buffer_metrics()
        return True

    def _writer_loop(self) -> None:
        try:
            pending: list[_Delivery] = []
            while True:
                if not pending:
                    try:
                        pending.append(self._queue.get(timeout=0.5))
                    except queue.Empty:
                        if self.stop_event.is_set() and self._queue.empty():
                            self._flush()
                            return
                        self._flush()
                        continue
                    while len(pending) < 64:
                        try:
                            pending.append(self._queue.get_nowait())
                        except queue.Empty:
                            break
                with self.metrics.lock:
                    self.metrics.oldest_pending = pending[0].received
                ops = _merge_records([op for d in pending for op in d.ops])
                if not self._deliver(ops):
                    if self.stop_event.is_set():
                        return  # undeliverable and stopping: their checkpoints stay behind
                    time.sleep(self.options.store_retry)
                    continue
                changes: dict[str, str | None] = {}
                for d in pending:
                    changes.update(d.checkpoint)
                self.checkpoints.update(changes)
                pending = []
                with self.metrics.lock:
                    self.metrics.oldest_pending = None
        except BaseException as exc:
            log.exception("the writer failed; stopping the agent")
            self._writer_error = exc
            self.stop()

    # -- HTTP ------------------------------------------------------------------------------
    def _ready(self) -> bool:
        snap = self.metrics.snapshot()
        streams = {self._stream(k, ns) for k in self.options.kinds for ns in self._namespaces()
                   if k.key not in snap["missing_kinds"]}
        return self._writer_error is None and all(
            s in snap["listed"] or s.rsplit("@", 1)[0] + "@*" in snap["listed"] for s in streams)

    def _start_http(self) -> None:
        if self.options.health_port is None:
            return
        agent = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/healthz":
                    ok = agent._writer_error is None
                    self._send(200 if ok else 500, "ok\n" if ok else "writer failed\n", "text/plain")
                elif self.path == "/readyz":
                    ready = agent._ready()
                    self._send(200 if ready else 503, "ready\n" if ready else "listing\n", "text/plain")
                elif self.path == "/metrics":
                    self._send(200, _prometheus(agent.status()), "text/plain; version=0.0.4")
                elif self.path == "/status":
                    self._send(200, json.dumps(agent.status(), indent=1) + "\n", "application/json")
                else:
                    self._send(404, "not found\n", "text/plain")

            def _send(self, code: int, body: str, ctype: str) -> None:
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return  # probes every few seconds would drown the agent's own log

        self._http = ThreadingHTTPServer((self.options.health_host, self.options.health_port), Handler)
        self.health_port = int(self._http.server_address[1])
        threading.Thread(target=self._http.serve_forever, name="k8s-agent-http", daemon=True).start()
        log.info("health and metrics on http://%s:%d/", self.options.health_host, self.health_port)


def _merge_records(ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Adjacent record operations as one (one transaction for many watch events), order kept."""
    merged: list[dict[str, Any]] = []
    for op in ops:
        if op["op"] == "record" and merged and merged[-1]["op"] == "record":
            merged[-1] = {"op": "record", "events": merged[-1]["events"] + op["events"]}
        else:
            merged.append(op)
    return merged


def kube_api_client(kubeconfig: Path | None = None, context: str | None = None) -> k8s_client.ApiClient:
    """An API client: from ``kubeconfig`` (and ``context``) if given, in-cluster inside a Pod, else
    from the default kubeconfig (``$KUBECONFIG`` or ``~/.kube/config``)."""
    from kubernetes import config

    try:
        if kubeconfig is None and context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            configuration = k8s_client.Configuration()
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            return k8s_client.ApiClient(configuration)
        api: k8s_client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig) if kubeconfig else None, context=context)
        return api
    except (config.ConfigException, OSError) as exc:
        where = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
        raise ConfigError(f"no usable Kubernetes configuration ({where}): {exc}") from exc


def connect_store(settings: Settings) -> GraphStore:
    """Connect to Neo4j for the agent: like :meth:`GraphStore.connect`, but a write that hits a dead
    server fails within seconds (the agent then buffers) instead of being retried for 30 s."""
    return GraphStore.connect(settings, quiet=True, driver_options={
        "max_transaction_retry_time": 3.0, "connection_timeout": 5.0, "connection_acquisition_timeout": 10.0})


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]
