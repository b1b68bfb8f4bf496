"""The writer's worker threads: how many jobs run at once, what makes one wait, how errors come back.

Concurrency is shown with events, never with timings: a job that must overlap another waits for
an event that only the other one sets (with a generous timeout that turns a deadlock into a
failure instead of a hang).
"""

from __future__ import annotations

import threading

import pytest

from lineagegraph.writer import Background, ChunkLimits

PATIENCE = 30  # seconds; only reached when the behaviour under test is broken


def test_two_jobs_run_at_once_at_depth_two() -> None:
    first_started, second_started = threading.Event(), threading.Event()
    done: list[str] = []

    def first() -> str:
        first_started.set()
        assert second_started.wait(PATIENCE), "the second job never started while the first ran"
        return "first"

    def second() -> str:
        assert first_started.wait(PATIENCE)
        second_started.set()
        return "second"

    jobs = Background(depth=2)
    jobs.submit(first, done.append)
    jobs.submit(second, done.append)
    jobs.wait()
    assert done == ["first", "second"]  # results come back in the order of submission


def test_depth_one_runs_one_job_at_a_time() -> None:
    running = threading.Semaphore(1)
    overlaps: list[int] = []

    def job() -> None:
        if not running.acquire(blocking=False):
            overlaps.append(1)
            return
        try:
            threading.Event().wait(0.01)
        finally:
            running.release()

    jobs = Background()
    for _ in range(20):
        jobs.submit(job)
    jobs.wait()
    assert overlaps == []


def test_a_job_claiming_what_a_running_job_claims_waits_for_it() -> None:
    release = threading.Event()
    order: list[str] = []

    def slow() -> None:
        assert release.wait(PATIENCE)
        order.append("slow")

    jobs = Background(depth=2)
    jobs.submit(slow, claims={"node-x", ("USED", "a", "b", "k")})
    assert jobs.claimed({"node-x"}) and jobs.claimed({("USED", "a", "b", "k")})
    assert not jobs.claimed({"node-y"})
    # Submitting a job that claims node-x must wait for `slow`, which is released from another
    # thread only once that submit has started.
    threading.Timer(0.05, release.set).start()
    go_on = threading.Event()

    def after() -> None:
        assert go_on.wait(PATIENCE)
        order.append("after")

    jobs.submit(after, claims={"node-x"})
    assert order == ["slow"]  # the first had finished when the second was submitted
    go_on.set()
    jobs.wait()
    assert order == ["slow", "after"]


def test_a_failed_job_lets_the_others_finish_and_report_before_its_error_is_raised() -> None:
    second_may_finish = threading.Event()
    reported: list[str] = []

    def failing() -> None:
        second_may_finish.set()
        raise RuntimeError("chunk 1 refused")

    def committing() -> str:
        assert second_may_finish.wait(PATIENCE)
        return "chunk 2 committed"

    jobs = Background(depth=2)
    jobs.submit(failing, reported.append)
    jobs.submit(committing, reported.append)
    with pytest.raises(RuntimeError, match="chunk 1 refused"):
        jobs.wait()
    assert reported == ["chunk 2 committed"]
    jobs.wait()  # nothing is left in flight


def test_the_error_comes_back_from_the_next_submit_and_nothing_runs_after_it() -> None:
    ran: list[str] = []
    jobs = Background(depth=1)
    jobs.submit(lambda: (_ for _ in ()).throw(ValueError("bad chunk")))
    with pytest.raises(ValueError, match="bad chunk"):
        jobs.submit(lambda: ran.append("next"))
    jobs.wait()
    assert ran == []


def test_limits_refuse_a_depth_below_one() -> None:
    with pytest.raises(ValueError, match="positive"):
        ChunkLimits(in_flight=0)
    with pytest.raises(ValueError, match="positive"):
        Background(depth=0)
