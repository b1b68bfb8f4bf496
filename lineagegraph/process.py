"""What lineagegraph needs to know about processes: whether one is still alive, and how to keep
this one's cycle collector out of a bulk build.

One place for both, so the local server, import-run reconciliation, the capture spool, the PROV
codec and the query decoder agree.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["paused_gc", "pid_alive"]


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine and has not exited.

    Someone else's live process counts as alive (``kill(0)`` is refused, not failed); a zombie
    (exited, not yet reaped by its parent) does not, although it still answers ``kill(0)``.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        with contextlib.suppress(OSError, IndexError):
            return stat.read_text().split(")")[-1].split()[0] != "Z"
    return True


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause Python's cycle collector while a large result is parsed, converted or decoded.

    Those builds allocate millions of small objects while many more stay alive, and none of them
    is in a reference cycle; the collector would rescan the live ones again and again (measured:
    PROV conversion twice as slow at 100k records; decoding a 1.6k-node lineage p50 8.8 -> 6.6 ms,
    worst 780 -> 12 ms). Reference counting still frees everything; the collector resumes after.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
