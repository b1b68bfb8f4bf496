"""An optional background thread that delivers the spool to Neo4j while the program runs.

``start_flusher()`` starts a daemon thread that, every ``interval`` seconds, writes what the spool
writer holds in memory to disk and delivers every pending spool file (this process's and any
other's in the directory: delivery is idempotent). When Neo4j is unreachable it logs one warning,
leaves the records waiting in the spool, and tries again on the next round. ``stop()`` delivers a
last time. Without a flusher, ``lineagegraph import spool`` (from cron) does the same job.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from lineagegraph.capture import runtime
from lineagegraph.capture.delivery import DeliveryReport, deliver
from lineagegraph.settings import Settings
from lineagegraph.store import GraphStore

__all__ = ["Flusher", "start_flusher"]

_log = logging.getLogger("lineagegraph.capture")


class Flusher:
    """A background delivery thread; see :func:`start_flusher`."""

    def __init__(self, store: GraphStore | None, directory: Path, interval: float):
        self._store = store
        self._owns_store = store is None
        self.directory = directory
        self.interval = interval
        self._stop = threading.Event()
        self._warned = False
        self.last: DeliveryReport | None = None
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._loop, name="lineagegraph-flusher", daemon=True)

    def start(self) -> Flusher:
        self._thread.start()
        return self

    def _connect(self) -> GraphStore:
        if self._store is None:
            self._store = GraphStore.connect(Settings(), quiet=True)
            self._store.init_schema()
        return self._store

    def run_once(self) -> DeliveryReport | None:
        """Flush the writer and deliver the spool once; None when the store is unreachable."""
        runtime.flush()
        try:
            self.last = deliver(self._connect(), self.directory)
            self.last_error = None
            return self.last
        except Exception as exc:  # Neo4j down, credentials wrong: records wait in the spool
            self.last_error = f"{type(exc).__name__}: {exc}"
            if not self._warned:
                self._warned = True
                _log.warning("lineagegraph: the flusher cannot deliver the spool (%s); records wait in %s",
                             exc, self.directory)
            return None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.run_once()

    def stop(self, *, deliver_now: bool = True) -> DeliveryReport | None:
        """Stop the thread; by default deliver once more first."""
        self._stop.set()
        self._thread.join(timeout=self.interval + 30)
        report = self.run_once() if deliver_now else None
        if self._owns_store and self._store is not None:
            self._store.close()
            self._store = None
        return report


def start_flusher(store: GraphStore | None = None, *, interval: float = 30.0) -> Flusher:
    """Deliver the spool in the background every ``interval`` seconds (a store from the settings by default)."""
    return Flusher(store, runtime.spool_dir(), interval).start()
