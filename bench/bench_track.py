"""Per-call overhead of ``@lineagegraph.track`` in spool mode, measured against the plain function.

Three measurements, each as ratios within the same run (so a loaded machine shifts both sides):

1. small arguments: ``add(a, b)`` undecorated vs tracked, per call;
2. the same after 100 000 prior tracked calls (the spool file is then tens of MB: the cost must
   not grow with what was captured before — spooling is an append, never a lookup);
3. a 100 MB numpy array: SHA-256 of its buffer by ``hashlib`` directly vs ``describe`` (capture's
   hashing) vs a tracked call that takes the array.

Times are process CPU time (see :func:`per_call`).

With ``--provenance-python PATH`` (a side venv with ``provenance==0.14.1`` and ``sqlalchemy<2``) the
same run also measures the ``provenance`` library's decorator on its in-memory repository.

With ``--mltrace-python PATH`` (a side venv with ``mltrace==0.17``, ``sqlalchemy<2`` and ``psycopg2``,
Python 3.10; see scripts/make-mltrace-fixture.py) it starts a private PostgreSQL server (the tests'
tests/fixtures_postgres.py, never a system cluster) and measures mltrace's ``@register`` per call.

Usage: ``python bench/bench_track.py [--calls 20000] [--prior 100000] [--mb 100] [--json]
[--provenance-python PATH [--postgres]] [--mltrace-python PATH [--mltrace-calls 200] [--mltrace-prior 200]]``.
No Neo4j is needed: spool mode only writes a local file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lineagegraph.capture as capture
from lineagegraph.capture.hashing import describe


def per_call(fn: Callable[[], Any], calls: int, repeats: int) -> float:
    """Median over ``repeats`` of the mean seconds per call of ``fn`` over ``calls`` calls.

    Process CPU time, not wall time: on a shared machine the wall clock also counts other
    programs' turns on the CPU, which says nothing about this code.
    """
    samples = []
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(calls):
            fn()
        samples.append((time.process_time() - start) / calls)
    return statistics.median(samples)


def once(fn: Callable[[], Any], repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        samples.append(time.process_time() - start)
    return min(samples)


# Run inside a side virtual environment holding `provenance` 0.14.1 (it needs SQLAlchemy < 2 and,
# on Python >= 3.10, the `collections` aliases back). Same measurement: CPU time per call of an
# `add(a, b)` decorated with @p.provenance() on its in-memory artifact repository, distinct
# arguments (a repeated call is a cache hit there), at first and after `prior` earlier calls.
PROVENANCE_SCRIPT = r"""
import collections, collections.abc, json, sys, time
for _name in ("Sequence", "Mapping", "MutableMapping", "Iterable", "Callable", "Hashable", "Set"):
    setattr(collections, _name, getattr(collections.abc, _name))
import provenance as p

import os
repo = {"type": "memory", "read": True, "write": True, "delete": True}
if os.environ.get("PROVENANCE_URL"):  # the password travels in the environment, never in argv
    repo = {"type": "postgres", "db": os.environ["PROVENANCE_URL"], "store": "mem", "read": True, "write": True,
            "delete": True, "create_db": True}
p.load_config({
    "blobstores": {"mem": {"type": "memory", "read": True, "write": True, "delete": True}},
    "artifact_repos": {"local": repo},
    "default_repo": "local",
})

@p.provenance()
def add(a, b):
    return a + b

calls, prior = int(sys.argv[1]), int(sys.argv[2])
counter = iter(range(10**9))

def per_call(n):
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(n):
        add(next(counter), 1)
    return (time.process_time() - cpu) / n * 1e6, (time.perf_counter() - wall) / n * 1e6

first, first_wall = per_call(calls)
filling, _ = per_call(prior) if prior else (0.0, 0.0)
after, after_wall = per_call(calls)
print(json.dumps({"first_us": first, "first_wall_us": first_wall, "prior_calls": prior + calls,
                  "filling_us": filling, "after_us": after, "after_wall_us": after_wall}))
"""


# Run inside a side virtual environment holding mltrace 0.17. The component is created first (as
# mltrace's docs do), then `add(a, b)` is decorated with @register naming one input and one output
# variable of the function, so each call logs a component run with one input and one output pointer,
# like a tracked call records its arguments and result. Distinct arguments per call: distinct
# pointers. Process CPU (the client's share) and wall clock (including PostgreSQL's work).
MLTRACE_SCRIPT = r"""
import json, os, sys, time
import mltrace

mltrace.set_db_uri(os.environ["MLTRACE_URL"])  # the password travels in the environment, never in argv
mltrace.clean_db()
mltrace.create_component("add", "adds two numbers", "bench")

@mltrace.register("add", input_vars=["source"], output_vars=["result"])
def add(a, b):
    source = f"bench/in/{a}"
    result = f"bench/out/{a + b}"
    return a + b

calls, prior = int(sys.argv[1]), int(sys.argv[2])
counter = iter(range(10**9))
add(next(counter), 1)  # first call outside the timing: imports, connection set-up

def per_call(n):
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(n):
        add(next(counter), 1)
    return (time.process_time() - cpu) / n * 1e6, (time.perf_counter() - wall) / n * 1e6

first, first_wall = per_call(calls)
filling, _ = per_call(prior) if prior else (0.0, 0.0)
after, after_wall = per_call(calls)
history = mltrace.get_history("add", limit=10**9)
runs = len(history)
last = history[0]  # newest first: check that a timed call logged its input and output pointers
print(json.dumps({"first_us": first, "first_wall_us": first_wall, "prior_calls": prior + calls,
                  "filling_us": filling, "after_us": after, "after_wall_us": after_wall, "runs_logged": runs,
                  "last_run_inputs": [p["name"] for p in last.inputs],
                  "last_run_outputs": [p["name"] for p in last.outputs]}))
"""


def mltrace_baseline(python: str, calls: int, prior: int) -> dict[str, Any]:
    """mltrace's ``@register`` per call, against a private PostgreSQL started (and removed) here."""
    import os
    import subprocess
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from fixtures_postgres import TestPostgres

    server = TestPostgres().start()
    try:
        server.create_database("mltrace_bench")
        with tempfile.TemporaryDirectory(prefix="bench-mltrace-") as tmp:
            script = Path(tmp) / "bench_mltrace.py"
            script.write_text(MLTRACE_SCRIPT)
            # mltrace writes saved artefacts under SAVE_DIR; keep them in the temporary directory.
            env = {**os.environ, "MLTRACE_URL": server.url("mltrace_bench"), "SAVE_DIR": tmp}
            done = subprocess.run([python, str(script), str(calls), str(prior)], capture_output=True, text=True,
                                  check=False, cwd=tmp, env=env)
            if done.returncode != 0:
                raise SystemExit(f"mltrace benchmark failed:\n{done.stderr[-4000:]}")
    finally:
        server.stop()
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def provenance_baseline(python: str, calls: int, prior: int, postgres_url: str | None = None) -> dict[str, Any]:
    import os
    import subprocess

    env = {**os.environ, "PROVENANCE_URL": postgres_url} if postgres_url else dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="bench-provenance-") as tmp:
        script = Path(tmp) / "bench_provenance.py"
        script.write_text(PROVENANCE_SCRIPT)
        out = subprocess.run([python, str(script), str(calls), str(prior)], capture_output=True, text=True,
                             check=True, cwd=tmp, env=env).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--prior", type=int, default=100_000)
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--provenance-python", help="python of a side venv with provenance 0.14.1, to compare")
    parser.add_argument("--provenance-calls", type=int, default=2000)
    parser.add_argument("--provenance-prior", type=int, default=20_000)
    parser.add_argument("--postgres", action="store_true",
                        help="also provenance on a PostgreSQL repository (a tenth of the calls: it is slow)")
    parser.add_argument("--mltrace-python", help="python of a side venv with mltrace 0.17, to compare")
    parser.add_argument("--mltrace-calls", type=int, default=200)
    parser.add_argument("--mltrace-prior", type=int, default=200)
    args = parser.parse_args()

    import numpy as np

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-track-") as tmp:
        capture.configure(mode="spool", spool_dir=Path(tmp) / "spool")

        def add(a: int, b: int) -> int:
            return a + b

        tracked_add = capture.track(add)
        tracked_add(1, 2)  # opens the spool file, looks up git once

        plain = per_call(lambda: add(1, 2), args.calls, args.repeats)
        tracked = per_call(lambda: tracked_add(1, 2), args.calls, args.repeats)
        results["small_args"] = {"plain_us": plain * 1e6, "tracked_us": tracked * 1e6,
                                 "overhead_us": (tracked - plain) * 1e6}

        counter = iter(range(10**9))
        start = time.process_time()
        for _ in range(args.prior):
            tracked_add(next(counter), 1)  # distinct arguments: distinct artifacts
        prior_seconds = time.process_time() - start
        plain_after = per_call(lambda: add(1, 2), args.calls, args.repeats)
        tracked_after = per_call(lambda: tracked_add(1, 2), args.calls, args.repeats)
        spool_bytes = sum(p.stat().st_size for p in (Path(tmp) / "spool").glob("*.lgspool"))
        results["after_prior_calls"] = {
            "prior_calls": args.prior, "prior_us_per_call": prior_seconds / max(args.prior, 1) * 1e6,
            "spool_mb": spool_bytes / 2**20, "plain_us": plain_after * 1e6, "tracked_us": tracked_after * 1e6,
            "overhead_us": (tracked_after - plain_after) * 1e6,
        }

        array = np.random.default_rng(0).random(args.mb * 2**20 // 8)

        def total(values: Any) -> int:
            return int(values.shape[0])

        tracked_total = capture.track(total)
        raw = once(lambda: hashlib.sha256(memoryview(array).cast("B")).digest(), 3)
        hashed = once(lambda: describe(array), 3)
        call = once(lambda: tracked_total(array), 3)
        results["large_array"] = {"mb": array.nbytes / 2**20, "raw_sha256_s": raw, "describe_s": hashed,
                                  "tracked_call_s": call, "describe_vs_raw": hashed / raw,
                                  "tracked_call_vs_raw": call / raw}
        results["spool"] = {"written": capture.stats().written, "dropped": capture.stats().dropped}
        capture.configure(mode="off")
    small = results["small_args"]
    if args.provenance_python:
        results["provenance_memory_repo"] = provenance_baseline(args.provenance_python, args.provenance_calls,
                                                                args.provenance_prior)
    if args.provenance_python and args.postgres:
        # The tests' private PostgreSQL server (scripts/ensure-postgres.sh provides the binaries).
        import sys

        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        from fixtures_postgres import TestPostgres

        server = TestPostgres().start()
        try:
            results["provenance_postgres_repo"] = provenance_baseline(
                args.provenance_python, max(args.provenance_calls // 10, 10), args.provenance_prior // 10,
                server.url("provenance_bench"))
        finally:
            server.stop()

    if args.mltrace_python:
        results["mltrace_postgres"] = mltrace_baseline(args.mltrace_python, args.mltrace_calls, args.mltrace_prior)
        results["mltrace_postgres"]["vs_track_cpu"] = results["mltrace_postgres"]["first_us"] / small["tracked_us"]

    if args.json:
        print(json.dumps(results, indent=2))
        return
    after, large = results["after_prior_calls"], results["large_array"]
    print(f"small args:  plain {small['plain_us']:.2f} us, tracked {small['tracked_us']:.2f} us "
          f"-> overhead {small['overhead_us']:.2f} us/call")
    print(f"after {after['prior_calls']} prior calls ({after['spool_mb']:.1f} MB spooled, "
          f"{after['prior_us_per_call']:.2f} us/call while filling): plain {after['plain_us']:.2f} us, "
          f"tracked {after['tracked_us']:.2f} us -> overhead {after['overhead_us']:.2f} us/call")
    print(f"{large['mb']:.0f} MB array: raw sha256 {large['raw_sha256_s']:.3f} s, capture hash "
          f"{large['describe_s']:.3f} s ({large['describe_vs_raw']:.2f}x), tracked call "
          f"{large['tracked_call_s']:.3f} s ({large['tracked_call_vs_raw']:.2f}x)")
    if "provenance_memory_repo" in results:
        prov = results["provenance_memory_repo"]
        print(f"provenance 0.14.1 @provenance(), memory repo, distinct args: {prov['first_us']:.1f} us/call at "
              f"first, {prov['after_us']:.1f} us/call after {prov['prior_calls']} calls")
    if "provenance_postgres_repo" in results:
        prov = results["provenance_postgres_repo"]
        print(f"provenance 0.14.1 @provenance(), PostgreSQL repo, distinct args: {prov['first_us']:.1f} us/call "
              f"at first, {prov['after_us']:.1f} us/call after {prov['prior_calls']} calls (client CPU; wall "
              f"clock {prov['first_wall_us']:.1f} and {prov['after_wall_us']:.1f} us/call)")
    if "mltrace_postgres" in results:
        ml = results["mltrace_postgres"]
        print(f"mltrace 0.17 @register, PostgreSQL, distinct args: {ml['first_us']:.1f} us/call at first, "
              f"{ml['after_us']:.1f} us/call after {ml['prior_calls']} calls (client CPU; wall clock "
              f"{ml['first_wall_us']:.1f} and {ml['after_wall_us']:.1f} us/call; {ml['runs_logged']} runs logged) "
              f"-> {ml['vs_track_cpu']:.0f}x the CPU of a tracked call")


if __name__ == "__main__":
    main()
