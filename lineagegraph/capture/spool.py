"""The crash-safe local spool: where captured records wait until they are delivered to the graph.

Layout: one append-only file per writing process, ``<host>_<pid>_<start>_<random>.lgspool``, in
the spool directory. Each record is one line, ``<crc32 as 8 hex digits> <compact JSON>\\n``, put
down with a single ``os.write`` on an ``O_APPEND`` descriptor. Because no other process writes the
file, and JSON never contains a raw newline, a crash can only leave a torn *last* line: every
earlier record stays intact, and the reader stops at (or skips) what does not match its checksum.
A write that fails half-way (disk full) is cut back with ``ftruncate`` to the last whole record.

Delivery state lives beside each file: ``<file>.offset`` holds how many bytes are already in the
graph (replaced atomically), ``<file>.error`` why the last delivery of that file failed. A file
whose writer has exited and that is fully delivered moves to ``delivered/``. Delivery is at least
once — a crash between writing to Neo4j and advancing the offset re-sends records — and applied
exactly once, because every id in a record is deterministic and the store MERGEs.

The writer never raises into user code: when the directory is missing, read-only or full, it logs
one warning, keeps up to :data:`MAX_PENDING` records in memory and retries now and then, and
counts what it had to drop.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import socket
import threading
import time
import weakref
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lineagegraph.process import pid_alive

__all__ = [
    "SUFFIX", "SpoolFile", "SpoolStats", "SpoolWriter", "default_spool_dir", "encode_record", "frame", "spool_files",
]

SUFFIX = ".lgspool"
MAX_PENDING = 10_000
RETRY_SECONDS = 2.0
_log = logging.getLogger("lineagegraph.capture")
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode


# This process's id, refreshed in a forked child (os.getpid() on every record costs a syscall).
_pid = [os.getpid()]


_writers: weakref.WeakSet[SpoolWriter] = weakref.WeakSet()


def _after_fork() -> None:
    _pid[0] = os.getpid()
    # A fork while another thread held a writer's lock would leave the child's copy locked forever.
    for writer in _writers:
        writer._lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork)


def default_spool_dir() -> Path:
    """``LINEAGEGRAPH_SPOOL_DIR``, else ``$XDG_DATA_HOME/lineagegraph/spool`` (``~/.local/share``)."""
    env = os.environ.get("LINEAGEGRAPH_SPOOL_DIR")
    if env:
        return Path(env).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "lineagegraph" / "spool"


def frame(body: bytes) -> bytes:
    """One framed spool line for a record already encoded as compact JSON."""
    return b"%08x %s\n" % (zlib.crc32(body), body)


def encode_record(record: dict[str, Any]) -> bytes:
    """One framed spool line for ``record``."""
    return frame(_dumps(record).encode("utf-8", "surrogatepass"))


@dataclass
class SpoolStats:
    """What this process's writer did: records written, waiting in memory, dropped; the last error."""

    written: int = 0
    pending: int = 0
    dropped: int = 0
    last_error: str | None = None
    files: list[str] = field(default_factory=list)


class SpoolWriter:
    """Appends records to this process's spool file; thread-safe, fork-aware, never raises."""

    def __init__(self, directory: Path, header: Callable[[], dict[str, Any]]):
        self.directory = directory
        self._header = header
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._path: Path | None = None
        self._path_pid = -1
        self._pid = -1
        self._size = 0
        self._pending: deque[bytes] = deque()
        self._retry_at = 0.0
        self._warned = False
        self.stats = SpoolStats()
        _writers.add(self)

    def _open(self) -> None:
        if self._path is not None and self._path_pid == _pid[0]:
            # After a failure (disk full) carry on in the same file: one file per process.
            try:
                fd = os.open(self._path, os.O_WRONLY | os.O_APPEND)
                self._fd, self._size = fd, os.fstat(fd).st_size
                return
            except OSError:
                self._path = None
        # Records hold previews of argument values: the directory and files are the owner's only.
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"{socket.gethostname()}_{os.getpid()}_{time.time_ns()}_{secrets.token_hex(3)}{SUFFIX}"
        path = self.directory / name
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
        self._fd, self._size = fd, 0
        self._path, self._path_pid = path, _pid[0]
        self.stats.files.append(str(path))
        try:
            self._write_line(encode_record(self._header()))
        except OSError:
            self._close()
            self._path = None
            with contextlib.suppress(OSError):
                path.unlink()
            raise

    def _close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
        self._fd = None

    def _write_line(self, line: bytes) -> None:
        assert self._fd is not None
        try:
            written = os.write(self._fd, line)
        except OSError:
            self._cut_back()
            raise
        if written != len(line):
            self._cut_back()
            raise OSError(28, "short write to the spool (disk full?)")
        self._size += written

    def _cut_back(self) -> None:
        # Whatever part of the line landed goes, so the next record starts on a clean line.
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)

    def append(self, record: dict[str, Any]) -> None:
        """Spool one record; on trouble keep it in memory (bounded) or count it as dropped."""
        try:
            line = encode_record(record)
        except (TypeError, ValueError) as exc:
            self._failed(exc)
            self.stats.dropped += 1
            return
        self._append_line(line)

    def append_json(self, body: str) -> None:
        """Spool one record given as compact JSON text (the decorator's fast path)."""
        self._append_line(frame(body.encode("utf-8", "surrogatepass")))

    def _append_line(self, line: bytes) -> None:
        with self._lock:
            if self._pid != _pid[0]:
                # A forked child must not share its parent's file: start its own.
                self._fd, self._pid, self._pending = None, _pid[0], deque()
                self.stats = SpoolStats()
            if self._pending or (self._fd is None and time.monotonic() < self._retry_at):
                self._queue(line)
                if time.monotonic() >= self._retry_at:
                    self._drain()
                return
            try:
                if self._fd is None:
                    self._open()
                self._write_line(line)
                self.stats.written += 1
            except OSError as exc:
                self._queue(line)
                self._trouble(exc)

    def _queue(self, line: bytes) -> None:
        if len(self._pending) >= MAX_PENDING:
            self._pending.popleft()
            self.stats.dropped += 1
        self._pending.append(line)
        self.stats.pending = len(self._pending)

    def _drain(self) -> None:
        try:
            if self._fd is None:
                self._open()
            while self._pending:
                self._write_line(self._pending[0])
                self._pending.popleft()
                self.stats.written += 1
        except OSError as exc:
            self._trouble(exc)
        self.stats.pending = len(self._pending)

    def _trouble(self, exc: OSError) -> None:
        self._close()
        self._retry_at = time.monotonic() + RETRY_SECONDS
        self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        self.stats.last_error = f"{type(exc).__name__}: {exc}"
        if not self._warned:
            self._warned = True
            _log.warning("lineagegraph: cannot write the capture spool in %s (%s); your code runs on, "
                         "records wait in memory (up to %d) and are retried", self.directory, exc, MAX_PENDING)

    def flush(self) -> SpoolStats:
        """Try once more to write what waits in memory (at exit, or from a flusher)."""
        with self._lock:
            if self._pid == os.getpid() and self._pending:
                self._drain()
            return self.stats

    def close(self) -> None:
        """Flush, count what still waits as dropped, and close the file."""
        with self._lock:
            if self._pid == os.getpid():
                if self._pending:
                    self._drain()
                self.stats.dropped += len(self._pending)
                self._pending.clear()
                self.stats.pending = 0
                self._close()


# -- reading ------------------------------------------------------------------------------------


@dataclass
class SpoolLine:
    """One framed line read back: where it ends, its line number, and its record (None if torn)."""

    end: int
    number: int
    record: dict[str, Any] | None
    problem: str | None = None


class SpoolFile:
    """One spool file and its delivery state."""

    def __init__(self, path: Path):
        self.path = path

    @property
    def offset_path(self) -> Path:
        return self.path.with_name(self.path.name + ".offset")

    @property
    def error_path(self) -> Path:
        return self.path.with_name(self.path.name + ".error")

    @property
    def writer_pid(self) -> int | None:
        parts = self.path.name.split("_")
        return int(parts[-3]) if len(parts) >= 4 and parts[-3].isdigit() else None

    @property
    def writer_host(self) -> str:
        return "_".join(self.path.name.split("_")[:-3])

    def writer_alive(self) -> bool:
        """Whether the process that writes this file may still append to it."""
        pid = self.writer_pid
        if self.writer_host != socket.gethostname() or pid is None:
            # Another machine's file (a shared directory): idle for a day means finished.
            try:
                return time.time() - self.path.stat().st_mtime < 86_400
            except OSError:
                return False
        return pid_alive(pid)

    def delivered(self) -> int:
        try:
            return int(self.offset_path.read_text().strip() or 0)
        except (OSError, ValueError):
            return 0

    def mark_delivered(self, offset: int) -> None:
        # Never backwards: two importers on one file (cron and a flusher) each advance it.
        offset = max(offset, self.delivered())
        tmp = self.offset_path.with_name(self.offset_path.name + f".{os.getpid()}.tmp")
        tmp.write_text(str(offset))
        os.replace(tmp, self.offset_path)
        with contextlib.suppress(OSError):
            self.error_path.unlink()

    def mark_failed(self, reason: str) -> None:
        with contextlib.suppress(OSError):
            self.error_path.write_text(reason)

    def failure(self) -> str | None:
        try:
            return self.error_path.read_text()
        except OSError:
            return None

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def lines(self, start: int = 0) -> Iterator[SpoolLine]:
        """Framed lines from byte ``start`` (0 = the header); a torn tail is not yielded."""
        with self.path.open("rb") as handle:
            number = 0
            position = 0
            for raw in handle:
                number += 1
                end = position + len(raw)
                if position < start:
                    position = end
                    continue
                position = end
                if not raw.endswith(b"\n"):
                    return  # a torn last line: still being written, or its writer died mid-write
                yield self._parse(raw, end, number)

    @staticmethod
    def _parse(raw: bytes, end: int, number: int) -> SpoolLine:
        crc, _, body = raw.rstrip(b"\n").partition(b" ")
        try:
            if len(crc) != 8 or int(crc, 16) != zlib.crc32(body):
                return SpoolLine(end, number, None, "checksum mismatch")
            record = json.loads(body)
        except ValueError as exc:
            return SpoolLine(end, number, None, f"unreadable record: {exc}")
        if not isinstance(record, dict):
            return SpoolLine(end, number, None, "record is not an object")
        return SpoolLine(end, number, record)

    def header(self) -> dict[str, Any] | None:
        for line in self.lines():
            return line.record
        return None

    def retire(self) -> Path | None:
        """Move a finished, fully delivered file (and its offset) to ``delivered/``."""
        if self.writer_alive() or self.delivered() < self.size():
            return None
        target = self.path.parent / "delivered"
        target.mkdir(exist_ok=True)
        os.replace(self.path, target / self.path.name)
        with contextlib.suppress(OSError):
            os.replace(self.offset_path, target / self.offset_path.name)
        return target / self.path.name


def spool_files(directory: Path) -> list[SpoolFile]:
    """The spool files waiting in ``directory`` (not those already in ``delivered/``), oldest first."""
    if not directory.is_dir():
        return []
    paths = sorted(directory.glob("*" + SUFFIX), key=lambda p: (p.stat().st_mtime, p.name))
    return [SpoolFile(p) for p in paths]
