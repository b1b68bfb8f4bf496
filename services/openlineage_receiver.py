"""A live OpenLineage endpoint: ``POST /api/v1/lineage``, as Marquez serves it, feeding the graph.

Airflow, Spark, dbt and Flink integrations (and anything using the OpenLineage clients' HTTP
transport) can point at it directly. The path of an event:

1. The request is checked: API key (``Authorization: Bearer <key>``, when one is configured),
   size (``413`` over the limit, counted on the wire and after gzip), JSON, and every event
   validated by :func:`lineagegraph.importers.openlineage.parse_event` (``400``/``422`` with the
   reason; a request is accepted whole or not at all, so a client can simply retry it).
2. The events are appended to a spool file on disk and ``fsync``-ed **before** the ``201``: an
   acknowledged event survives a crash of this process or of Neo4j.
3. A background task closes the spool segment every ``flush_interval`` seconds (or sooner when it
   holds ``batch_size`` events) and imports it as one import run through the ordinary importer
   path; only then is the segment deleted. When Neo4j is down the segment stays and is retried
   with backoff, so the endpoint keeps accepting; a segment imported twice (a crash between import
   and delete) converges, as every write is idempotent.

``GET /health`` tells whether the endpoint accepts, how many events wait in the spool, and whether
the last delivery reached Neo4j. Settings come from the environment or ``.env`` with the prefix
``LINEAGEGRAPH_OPENLINEAGE_`` (``API_KEY``, ``SPOOL_DIR``, ``MAX_BODY_BYTES``, ...); the key is
never taken from the command line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import threading
import time
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from lineagegraph.errors import InputError
from lineagegraph.importers.base import ImportUnit, run_import
from lineagegraph.importers.openlineage import (
    Event,
    OpenLineageImporter,
    parse_event,
    refresh_run_status,
    store_versions,
)
from lineagegraph.store import GraphStore

__all__ = ["Receiver", "ReceiverSettings", "create_app"]

log = logging.getLogger("lineagegraph.openlineage")

ENDPOINTS = ("/api/v1/lineage", "/api/v1/lineage/batch")


class ReceiverSettings(BaseSettings):
    """How the endpoint behaves; from ``LINEAGEGRAPH_OPENLINEAGE_*`` variables or ``.env``."""

    model_config = SettingsConfigDict(env_prefix="LINEAGEGRAPH_OPENLINEAGE_", env_file=".env", extra="ignore")

    api_key: SecretStr | None = Field(default=None, description="Required bearer key; unset = no auth.")
    spool_dir: Path = Path(".lineagegraph/openlineage-spool")
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    batch_size: int = Field(default=5000, ge=1)
    flush_interval: float = Field(default=0.5, gt=0)
    max_retry_seconds: float = Field(default=30.0, gt=0)


class _Spool:
    """Append-only NDJSON segments: ``open-N.ndjson`` receives, ``ready-N.ndjson`` waits for import."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        # Events may carry what redaction removes later (environment facets): owner-only on disk.
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.rejected = directory / "rejected"
        self._lock = threading.Lock()
        # A segment left open by a crash holds acknowledged events: it is ready now.
        for leftover in sorted(directory.glob("open-*.ndjson")):
            leftover.rename(directory / leftover.name.replace("open-", "ready-", 1))
        numbers = [int(p.stem.split("-")[1]) for p in directory.glob("ready-*.ndjson")]
        self._seq = max(numbers, default=0) + 1
        self.pending = sum(self._count(p) for p in self.ready())
        self._current_count = 0
        self._file = self._open()

    @staticmethod
    def _count(path: Path) -> int:
        with path.open("rb") as handle:
            return sum(1 for line in handle if line.strip())

    def _path(self, prefix: str, seq: int) -> Path:
        return self.directory / f"{prefix}-{seq:012d}.ndjson"

    def _open(self) -> Any:
        fd = os.open(self._path("open", self._seq), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return os.fdopen(fd, "ab")

    def append(self, lines: list[bytes]) -> None:
        """Write and fsync; returns only once the events are on disk."""
        with self._lock:
            self._file.write(b"".join(line + b"\n" for line in lines))
            self._file.flush()
            os.fsync(self._file.fileno())
            self._current_count += len(lines)
            self.pending += len(lines)

    @property
    def current_count(self) -> int:
        return self._current_count

    def rotate(self) -> None:
        """Close the open segment (if it holds anything) so that it can be imported."""
        with self._lock:
            if self._current_count == 0:
                return
            self._file.close()
            self._path("open", self._seq).rename(self._path("ready", self._seq))
            dir_fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)  # the rename itself must survive a crash
            finally:
                os.close(dir_fd)
            self._seq += 1
            self._current_count = 0
            self._file = self._open()

    def ready(self) -> list[Path]:
        return sorted(self.directory.glob("ready-*.ndjson"))

    def close(self) -> None:
        with self._lock:
            self._file.close()
            if self._current_count == 0:
                self._path("open", self._seq).unlink(missing_ok=True)


class _BatchImporter:
    """The importer contract over events already read from a spool segment."""

    name = "openlineage"

    def __init__(self, mapper: OpenLineageImporter, events: list[Event]) -> None:
        self.mapper = mapper
        self.events = events

    def units(self, source: str) -> Iterator[ImportUnit]:
        yield self.mapper.unit(source, self.events)


class Receiver:
    """The spool and the delivery loop behind the HTTP app.

    ``connect`` opens a store (called again after a failure, so a Neo4j that was down is found
    when it is back); ``source`` names the import runs this receiver records.
    """

    def __init__(self, settings: ReceiverSettings, connect: Callable[[], GraphStore], *,
                 source: str = "openlineage-http") -> None:
        self.settings = settings
        self.connect = connect
        self.source = source
        self.spool = _Spool(settings.spool_dir)
        self.accepted = 0
        self.delivered = 0
        self.rejected = 0
        self.last_error: str | None = None
        self.last_delivery: float | None = None
        self._store: GraphStore | None = None
        self._deliver_lock = threading.Lock()
        self._wake = asyncio.Event()
        self._retry_at = 0.0
        self._backoff = 0.0

    # -- intake -----------------------------------------------------------------------------
    def accept(self, items: list[dict[str, Any]]) -> int:
        """Spool validated events durably (blocking: fsync)."""
        lines = [json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode() for item in items]
        self.spool.append(lines)
        self.accepted += len(lines)
        return len(lines)

    # -- delivery ---------------------------------------------------------------------------
    def _read_segment(self, path: Path) -> list[Event]:
        events: list[Event] = []
        bad: list[bytes] = []
        with path.open("rb") as handle:
            for line in handle:
                if not line.strip():
                    continue
                try:
                    events.append(parse_event(json.loads(line)))
                except ValueError:  # json.JSONDecodeError is a ValueError
                    # Only a line cut by a crash mid-write (never acknowledged) can be bad here.
                    bad.append(line)
        if bad:
            self.spool.rejected.mkdir(exist_ok=True)
            with (self.spool.rejected / path.name).open("ab") as out:
                out.writelines(bad)
            self.rejected += len(bad)
        return events

    def deliver(self) -> int:
        """Import every ready segment, oldest first; stop at the first failure. Returns events written."""
        with self._deliver_lock:
            self.spool.rotate()
            written = 0
            for path in self.spool.ready():
                events = self._read_segment(path)
                try:
                    if events:
                        self._import(events)
                except InputError as exc:
                    log.error("spool segment %s rejected: %s", path.name, exc)
                    self.spool.rejected.mkdir(exist_ok=True)
                    path.rename(self.spool.rejected / path.name)
                    self.rejected += len(events)
                    self.spool.pending -= len(events)
                    continue
                except Exception as exc:  # Neo4j down, network, timeouts: keep the segment, retry later
                    self.last_error = f"{type(exc).__name__}: {exc}"[:500]
                    self._drop_store()
                    raise
                path.unlink()
                self.spool.pending -= len(events)
                self.delivered += len(events)
                written += len(events)
                self.last_error = None
                self.last_delivery = time.time()
            return written

    def _import(self, events: list[Event]) -> None:
        if self._store is None:
            self._store = self.connect()
        store = self._store
        mapper = OpenLineageImporter(known_versions=store_versions(store))
        outcome = run_import(store, _BatchImporter(mapper, events), [self.source])
        if outcome.errors:
            raise outcome.errors[0]
        refresh_run_status(store, mapper.run_ids)

    def _drop_store(self) -> None:
        if self._store is not None:
            with contextlib.suppress(Exception):
                self._store.close()
            self._store = None

    async def run(self) -> None:
        """The delivery loop: every interval (or when a batch fills up), with backoff on failure."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.flush_interval)
            self._wake.clear()
            if time.monotonic() < self._retry_at:
                continue
            if self.spool.current_count == 0 and not self.spool.ready():
                continue
            try:
                await asyncio.to_thread(self.deliver)
                self._backoff = 0.0
            except Exception as exc:
                self._backoff = min(max(self._backoff * 2, 0.5), self.settings.max_retry_seconds)
                self._retry_at = time.monotonic() + self._backoff
                log.warning("delivery failed (%s); retrying in %.1f s", exc, self._backoff)

    def nudge(self) -> None:
        if self.spool.current_count >= self.settings.batch_size:
            self._wake.set()

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "accepted": self.accepted,
            "delivered": self.delivered,
            "pending": self.spool.pending,
            "rejected": self.rejected,
            "neo4j": "down" if self.last_error else ("up" if self.last_delivery else "unknown"),
            "last_error": self.last_error,
        }

    def close(self) -> None:
        self.spool.close()
        self._drop_store()


# -- HTTP ---------------------------------------------------------------------------------------

def _error(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers or None)


class _TooLargeError(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLargeError
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLargeError
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").lower()
    if encoding == "gzip":
        inflater = zlib.decompressobj(wbits=31)
        body = inflater.decompress(body, limit + 1)
        if len(body) > limit or inflater.unconsumed_tail:
            raise _TooLargeError
    elif encoding not in ("identity", ""):
        raise ValueError(f"unsupported Content-Encoding {encoding!r} (gzip or none)")
    return body


def create_app(receiver: Receiver) -> Starlette:
    """The ASGI app; its lifespan runs the delivery loop and makes a last delivery on shutdown."""
    settings = receiver.settings
    key = settings.api_key.get_secret_value() if settings.api_key else None

    async def lineage(request: Request) -> JSONResponse:
        if key is not None:
            given = request.headers.get("authorization", "")
            scheme, _, token = given.partition(" ")
            if scheme.lower() != "bearer" or not secrets.compare_digest(token.strip().encode(), key.encode()):
                return _error(401, "missing or wrong API key (Authorization: Bearer <key>)",
                              **{"WWW-Authenticate": "Bearer"})
        try:
            body = await _read_body(request, settings.max_body_bytes)
        except _TooLargeError:
            return _error(413, f"request body over the limit of {settings.max_body_bytes} bytes")
        except (ValueError, zlib.error) as exc:
            return _error(400, f"cannot read the body: {exc}")
        try:
            data = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return _error(400, f"not valid JSON: {exc}")
        items = data if isinstance(data, list) else [data]
        if not items:
            return _error(400, "no events in the request")
        for number, item in enumerate(items):
            try:
                parse_event(item)
            except ValueError as exc:
                where = f"event {number}: " if isinstance(data, list) else ""
                return _error(422, where + str(exc))
        try:
            count = await asyncio.to_thread(receiver.accept, items)
        except OSError as exc:
            log.error("cannot spool events: %s", exc)
            return _error(503, "cannot store the events durably; retry later", **{"Retry-After": "5"})
        receiver.nudge()
        return JSONResponse({"accepted": count}, status_code=201)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse(receiver.health())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(receiver.run())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            with contextlib.suppress(Exception):
                await asyncio.to_thread(receiver.deliver)
            receiver.close()

    routes = [Route(path, lineage, methods=["POST"]) for path in ENDPOINTS]
    routes += [Route("/health", health, methods=["GET"]), Route("/api/v1/health", health, methods=["GET"])]
    return Starlette(routes=routes, lifespan=lifespan)
