"""Capture's process-wide state: the mode, where records go, and the run information of this process.

``configure()`` picks the mode: ``spool`` (default; records go to the local spool and are
delivered later), ``direct`` (each record is written to Neo4j at once through
:meth:`GraphStore.import_elements`; for notebooks and tests) or ``off``. The spool directory is
also put into the environment, so that worker processes started with *spawn* inherit it.

:func:`emit` is the one way records leave the capturing code, and it never raises: in direct mode
a failed write logs one warning and the record falls back to the spool.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import platform
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lineagegraph.capture.spool import SpoolStats, SpoolWriter, default_spool_dir

if TYPE_CHECKING:
    from lineagegraph.store import GraphStore

__all__ = ["Mode", "configure", "emit", "git_info", "hello", "stats"]

Mode = Literal["spool", "direct", "off"]
_log = logging.getLogger("lineagegraph.capture")
_MODES = ("spool", "direct", "off")
DIRECT_RETRY_SECONDS = 30.0


class _State:
    def __init__(self) -> None:
        env_mode = os.environ.get("LINEAGEGRAPH_CAPTURE_MODE", "spool")
        self.mode: Mode = env_mode if env_mode in _MODES else "spool"  # type: ignore[assignment]
        self.spool_dir: Path | None = None
        self.store: GraphStore | None = None
        self.owns_store = False
        self.run_info_hook: Callable[[], dict[str, Any]] | None = None
        self.packages: tuple[str, ...] = ()
        self.writer: SpoolWriter | None = None
        self.hello: dict[str, Any] | None = None
        self.hello_pid = -1
        self.direct_warned = False
        self.direct_retry_at = 0.0
        self.lock = threading.RLock()


_state = _State()


def configure(
    *,
    mode: Mode | None = None,
    spool_dir: str | os.PathLike[str] | None = None,
    store: GraphStore | None = None,
    run_info_hook: Callable[[], dict[str, Any]] | None = None,
    packages: tuple[str, ...] | list[str] | None = None,
) -> None:
    """Set how captured records are delivered.

    ``mode``: ``"spool"``, ``"direct"`` or ``"off"``. ``spool_dir``: the spool directory (default
    ``LINEAGEGRAPH_SPOOL_DIR`` or a per-user data directory). ``store``: the store direct mode
    writes to (default: one connected from the settings on first use). ``run_info_hook``: called
    once per process; its dict is added to every run recorded. ``packages``: distributions whose
    versions are recorded besides lineagegraph, numpy and pandas.
    """
    if mode is not None and mode not in _MODES:
        raise ValueError(f"mode must be one of {', '.join(_MODES)}, not {mode!r}")
    with _state.lock:
        if mode is not None:
            _state.mode = mode
            os.environ["LINEAGEGRAPH_CAPTURE_MODE"] = mode
        if spool_dir is not None:
            _state.spool_dir = Path(spool_dir)
            os.environ["LINEAGEGRAPH_SPOOL_DIR"] = str(Path(spool_dir).resolve())
            if _state.writer is not None:
                _state.writer.close()
                _state.writer = None
        if store is not None:
            _state.store, _state.owns_store = store, False
            _state.direct_retry_at = 0.0
        if run_info_hook is not None:
            _state.run_info_hook = run_info_hook
        if packages is not None:
            _state.packages = tuple(packages)
        _state.hello = None


def spool_dir() -> Path:
    return _state.spool_dir or default_spool_dir()


def enabled() -> bool:
    return _state.mode != "off"


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def hello() -> dict[str, Any]:
    """This process's run information (computed once per process, again after a fork)."""
    pid = os.getpid()
    if _state.hello is not None and _state.hello_pid == pid:
        return _state.hello
    packages: dict[str, str] = {}
    for dist in ("lineagegraph", "numpy", "pandas", *_state.packages):
        if dist in ("numpy", "pandas") and dist not in sys.modules:
            continue
        found = _version(dist)
        if found:
            packages[dist] = found
    user: dict[str, Any] = {}
    if _state.run_info_hook is not None:
        try:
            user = dict(_state.run_info_hook())
        except Exception as exc:
            _log.warning("lineagegraph: the run-info hook failed (%s); recording without its fields", exc)
    _state.hello = {"k": "hello", "v": 1, "host": socket.gethostname(), "pid": pid,
                    "python": platform.python_version(), "platform": platform.platform(),
                    "packages": packages, "user": user}
    _state.hello_pid = pid
    return _state.hello


_git_cache: dict[str, tuple[str, bool] | None] = {}
_git_lock = threading.Lock()


def _repo_root(directory: Path) -> Path | None:
    for candidate in (directory, *directory.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def git_info(source_file: str) -> tuple[str, bool] | None:
    """(commit, dirty) of the git repository holding ``source_file``; cached per directory and process."""
    directory = str(Path(source_file).resolve().parent) if source_file else ""
    with _git_lock:
        if directory in _git_cache:
            return _git_cache[directory]
    root = _repo_root(Path(directory)) if directory else None
    found: tuple[str, bool] | None = None
    if root is not None:
        try:
            commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                                    text=True, timeout=10, check=True).stdout.strip()
            status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                    capture_output=True, text=True, timeout=30, check=True).stdout
            found = (commit, bool(status.strip()))
        except (OSError, subprocess.SubprocessError):
            found = None
    with _git_lock:
        _git_cache[directory] = found
    return found


def _writer() -> SpoolWriter:
    with _state.lock:
        if _state.writer is None:
            _state.writer = SpoolWriter(spool_dir(), hello)
        return _state.writer


def _direct(record: dict[str, Any]) -> bool:
    """Write one record to the store now; False (after one warning) when that is not possible."""
    from lineagegraph.capture.records import RecordGraph, parse_record

    if time.monotonic() < _state.direct_retry_at:
        return False  # failed a moment ago: do not stall every call on an unreachable server
    try:
        with _state.lock:
            if _state.store is None:
                from lineagegraph.store import GraphStore

                _state.store, _state.owns_store = GraphStore.connect(quiet=True), True
                _state.store.init_schema()
            store = _state.store
        graph = RecordGraph()
        graph.add(parse_record(hello()))
        graph.add(parse_record(record))
        info = hello()
        store.import_elements("track", f"python:{info['host']}:{info['pid']}", graph.elements, graph.relations)
        return True
    except Exception as exc:
        _state.direct_retry_at = time.monotonic() + DIRECT_RETRY_SECONDS
        if not _state.direct_warned:
            _state.direct_warned = True
            _log.warning("lineagegraph: direct capture cannot write to Neo4j (%s); records go to the spool "
                         "in %s instead", exc, spool_dir())
        return False


def emit(record: dict[str, Any]) -> None:
    """Deliver one captured record according to the mode; never raises."""
    try:
        mode = _state.mode
        if mode == "off":
            return
        if mode == "direct" and _direct(record):
            return
        _writer().append(record)
    except Exception as exc:  # capture must never break the caller
        _log.warning("lineagegraph: a captured record was lost: %s", exc)


def emit_json(body: str) -> None:
    """:func:`emit` for a record already encoded as compact JSON; never raises."""
    try:
        mode = _state.mode
        if mode == "off":
            return
        if mode == "direct" and _direct(json.loads(body)):
            return
        _writer().append_json(body)
    except Exception as exc:  # capture must never break the caller
        _log.warning("lineagegraph: a captured record was lost: %s", exc)


def stats() -> SpoolStats:
    """What this process's spool writer did so far."""
    return _writer().stats


def flush() -> SpoolStats:
    """Write what waits in memory, if the spool can take it now."""
    return _writer().flush()


@atexit.register
def _at_exit() -> None:
    writer = _state.writer
    if writer is not None:
        writer.close()
        if writer.stats.dropped:
            _log.warning("lineagegraph: %d captured record(s) could not be spooled and were dropped (%s)",
                         writer.stats.dropped, writer.stats.last_error)
    if _state.owns_store and _state.store is not None:
        _state.store.close()
