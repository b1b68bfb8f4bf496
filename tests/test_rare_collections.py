"""The cycle collector during a streamed import: rarer, still running, and as before afterwards."""

from __future__ import annotations

import gc
import threading

from lineagegraph.process import IMPORT_GC_THRESHOLD, rare_collections


def test_threshold_raised_inside_and_restored_after() -> None:
    before = gc.get_threshold()
    with rare_collections():
        assert gc.get_threshold()[0] == max(IMPORT_GC_THRESHOLD, before[0])
        assert gc.get_threshold()[1:] == before[1:]
        assert gc.isenabled()  # rarer, not off: cyclic garbage still goes
    assert gc.get_threshold() == before


def test_restored_after_an_error() -> None:
    before = gc.get_threshold()
    try:
        with rare_collections():
            raise ValueError("boom")
    except ValueError:
        pass
    assert gc.get_threshold() == before


def test_overlapping_uses_restore_once_the_last_leaves() -> None:
    """Two imports on two threads that end in the other order than they began."""
    before = gc.get_threshold()
    first_in, first_may_leave = threading.Event(), threading.Event()
    seen: list[tuple[int, int, int]] = []

    def first() -> None:
        with rare_collections():
            first_in.set()
            first_may_leave.wait(5)
        seen.append(gc.get_threshold())

    thread = threading.Thread(target=first)
    thread.start()
    first_in.wait(5)
    with rare_collections():
        first_may_leave.set()
        thread.join(5)
        assert gc.get_threshold()[0] == max(IMPORT_GC_THRESHOLD, before[0])  # the other left, this one still runs
    assert seen and seen[0][0] == max(IMPORT_GC_THRESHOLD, before[0])
    assert gc.get_threshold() == before


def test_cyclic_garbage_is_still_collected() -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self

    collected = threading.Event()

    class Marker(Node):
        def __del__(self) -> None:
            collected.set()

    with rare_collections():
        Marker()  # unreachable at once, kept alive only by its own cycle
        for _ in range(3 * IMPORT_GC_THRESHOLD):
            Node()  # allocations, as an import makes them
        assert collected.is_set()
