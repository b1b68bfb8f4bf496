"""Capture without a database: content hashing, the @track decorator's records, and the spool file.

These tests read back what a user's process leaves in its spool directory: the records a call
produces, how they identify values, and that the spool stays readable whatever happens.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import BaseModel

import lineagegraph.capture as capture
from lineagegraph.capture.delivery import read_chunks
from lineagegraph.capture.hashing import describe, hash_value
from lineagegraph.capture.spool import SpoolFile, encode_record, spool_files
from lineagegraph.errors import InputError
from lineagegraph.identity import location_id

PYTHON = sys.executable


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Path]:
    """Capture into a fresh spool directory (spool mode) for one test."""
    directory = tmp_path / "spool"
    capture.configure(mode="spool", spool_dir=directory)
    yield directory
    capture.configure(spool_dir=tmp_path / "after")


def records(directory: Path, kind: str | None = None) -> list[dict[str, Any]]:
    capture.flush()
    found = [line.record for f in spool_files(directory) for line in f.lines() if line.record is not None]
    return [r for r in found if kind is None or r["k"] == kind]


# -- hashing ---------------------------------------------------------------------------------------


@dataclasses.dataclass
class Point:
    x: int
    y: list[float]


class Settings(BaseModel):
    name: str
    rate: float


SAMPLE_SCRIPT = """
import json, dataclasses, numpy as np, pandas as pd
from pydantic import BaseModel
from lineagegraph.capture.hashing import hash_value

@dataclasses.dataclass
class Point:
    x: int
    y: list

class Settings(BaseModel):
    name: str
    rate: float

values = [
    {"b": 2, "a": [1, 2.5, "x"]}, {"z", "y", "x", "w"}, "übergrößé", b"\\x00\\x01",
    np.arange(12, dtype="float32").reshape(3, 4),
    pd.DataFrame({"n": [1, 2, 3], "s": ["a", "b", None]}), pd.Series([1.5, 2.5], name="s"),
    Point(1, [0.5]), Settings(name="lr", rate=0.1),
]
print(json.dumps([hash_value(v) for v in values]))
"""


def test_hashes_agree_across_processes_with_different_hash_seeds(tmp_path: Path) -> None:
    script = tmp_path / "hashes.py"
    script.write_text(SAMPLE_SCRIPT)
    outputs = set()
    for seed in ("0", "1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run([PYTHON, str(script)], env=env, capture_output=True, text=True, check=True)
        outputs.add(result.stdout.strip())
    assert len(outputs) == 1
    hashes = json.loads(outputs.pop())
    assert len(set(hashes)) == len(hashes)
    # This process (another seed again) agrees for the ones it can build the same way.
    assert hashes[0] == hash_value({"a": [1, 2.5, "x"], "b": 2})
    assert hashes[1] == hash_value({"w", "x", "y", "z"})
    assert hashes[4] == hash_value(np.arange(12, dtype="float32").reshape(3, 4))


def test_equal_values_hash_equal_and_different_values_differ() -> None:
    assert hash_value({"a": 1, "b": 2}) == hash_value({"b": 2, "a": 1})
    assert hash_value([1, 2]) != hash_value([2, 1])
    assert len({hash_value(v) for v in (1, 1.0, "1", True, b"1", (1,), [1])}) == 7
    assert hash_value(Point(1, [0.5])) == hash_value(Point(1, [0.5]))
    assert hash_value(Point(1, [0.5])) != hash_value(Point(1, [0.25]))
    assert hash_value(Settings(name="a", rate=1.0)) != hash_value(Settings(name="a", rate=2.0))
    frame = pd.DataFrame({"n": [1, 2], "f": [0.5, 1.5]})
    assert hash_value(frame) == hash_value(frame.copy())
    assert hash_value(frame) != hash_value(frame.assign(f=[0.5, 1.25]))
    assert hash_value(float("nan")) == hash_value(float("-nan"))


def test_arrays_hash_by_content_dtype_and_shape() -> None:
    base = np.arange(24, dtype="int64").reshape(4, 6)
    view = base[:, ::2]
    assert not view.flags.c_contiguous
    assert hash_value(view) == hash_value(np.ascontiguousarray(view))
    assert hash_value(base) != hash_value(base.reshape(6, 4))
    assert hash_value(base) != hash_value(base.astype("int32"))


def test_values_without_stable_content_get_an_identity_of_their_own() -> None:
    lock = threading.Lock()
    first, second = describe(lock), describe(lock)
    assert not first.stable and first.digest != second.digest


# -- the decorator ------------------------------------------------------------------------------------


def test_a_call_records_inputs_output_status_and_an_artifact_id(spool: Path) -> None:
    @capture.track(version=3, tags=["demo"], fields={"team": "fraud"})
    def scale(values: list[int], factor: int = 2) -> list[int]:
        return [v * factor for v in values]

    assert scale([1, 2]) == [2, 4]
    assert scale([1, 2], factor=2) == [2, 4]
    calls = records(spool, "call")
    assert len(calls) == 2
    first, second = calls
    assert first["fn"].endswith("scale") and first["ver"] == "3" and first["st"] == "ok"
    assert first["tags"] == ["demo"] and first["fields"] == {"team": "fraud"}
    assert {i["r"] for i in first["ins"]} == {"values", "factor"}
    assert first["outs"][0]["h"] == describe([2, 4]).digest
    # The default filled in: both calls are one artifact.
    assert first["aid"] == second["aid"]
    assert first["t1"] >= first["t0"]


def test_values_connect_a_producer_to_its_consumer(spool: Path) -> None:
    @capture.track
    def make(n: int) -> dict[str, int]:
        return {"n": n}

    @capture.track
    def use(config: dict[str, int]) -> int:
        return config["n"] + 1

    assert use(make(4)) == 5
    made, used = records(spool, "call")
    assert made["outs"][0]["h"] == used["ins"][0]["h"]


def test_ignore_keeps_a_parameter_out_of_the_identity_and_remove_out_of_the_record(spool: Path) -> None:
    @capture.track(ignore=["verbose"], remove=["password"])
    def fetch(table: str, verbose: int, password: str) -> str:
        return table

    fetch("t", 1, "s3cr3t")
    fetch("t", 2, "other")
    one, two = records(spool, "call")
    assert one["aid"] == two["aid"]
    assert {i["r"] for i in one["ins"]} == {"table", "verbose"}
    assert "s3cr3t" not in json.dumps(one)


def test_a_failing_call_is_recorded_with_its_exception_type_and_still_raises(spool: Path) -> None:
    @capture.track
    def broken(x: int) -> int:
        raise KeyError(x)

    with pytest.raises(KeyError):
        broken(1)
    (call,) = records(spool, "call")
    assert call["st"] == "failed" and call["exc"] == "KeyError" and call["outs"] == []


def test_mutation_check_raises_a_clear_error(spool: Path) -> None:
    @capture.track(check_mutation=True)
    def sneaky(items: list[int]) -> int:
        items.append(99)
        return len(items)

    @capture.track(check_mutation=True)
    def honest(items: list[int]) -> int:
        return len(items)

    assert honest([1]) == 1
    with pytest.raises(capture.MutationError, match=r"sneaky changed its argument\(s\) items"):
        sneaky([1])
    statuses = [(c["fn"].rsplit(".", 1)[-1], c["st"]) for c in records(spool, "call")]
    assert statuses == [("honest", "ok"), ("sneaky", "failed")]


def test_methods_generators_async_and_threads_are_recorded(spool: Path) -> None:
    class Model:
        def __init__(self, bias: int):
            self.bias = bias

        @capture.track
        def predict(self, x: int) -> int:
            return x + self.bias

    @capture.track
    def numbers(n: int) -> Iterator[int]:
        yield from range(n)

    @capture.track
    async def fetch(x: int) -> int:
        await asyncio.sleep(0)
        return x * 10

    assert Model(1).predict(2) == 3
    gen = numbers(3)
    assert records(spool, "call")[-1]["fn"].endswith("predict")  # nothing yet for the generator
    assert list(gen) == [0, 1, 2]
    assert asyncio.run(fetch(4)) == 40
    with ThreadPoolExecutor(4) as pool:
        assert sorted(pool.map(Model(0).predict, range(20))) == list(range(20))
    calls = records(spool, "call")
    names = [c["fn"].rsplit(".", 1)[-1] for c in calls]
    assert names.count("predict") == 21 and names.count("numbers") == 1 and names.count("fetch") == 1
    gen_call = next(c for c in calls if c["fn"].endswith("numbers"))
    assert gen_call["n_yield"] == 3 and [o["r"] for o in gen_call["outs"]] == ["yield[0]", "yield[1]", "yield[2]"]


def test_files_are_locations_versioned_by_content(spool: Path, tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")

    @capture.track
    def rows(path: capture.FileRef) -> int:
        return len(Path(path).read_text().splitlines()) if path.is_local else 0

    rows(capture.file(data))
    data.write_text("a,b\n1,2\n3,4\n")
    rows(capture.file(data))
    rows(capture.file("s3://bucket/raw/data.csv"))
    first, second, remote = (c["ins"][0] for c in records(spool, "call"))
    assert first["loc"] == second["loc"] == location_id(str(data))
    assert first["v"] != second["v"]
    assert remote["loc"] == "s3://bucket/raw/data.csv" and "v" not in remote


def test_worker_processes_write_their_own_spool_files(spool: Path, tmp_path: Path) -> None:
    script = tmp_path / "workers.py"
    script.write_text(
        "import multiprocessing as mp, sys\n"
        "import lineagegraph.capture as capture\n"
        "@capture.track\n"
        "def square(x):\n"
        "    return x * x\n"
        "if __name__ == '__main__':\n"
        "    capture.configure(spool_dir=sys.argv[1])\n"
        "    with mp.get_context(sys.argv[2]).Pool(3) as pool:\n"
        "        assert pool.map(square, range(30)) == [x * x for x in range(30)]\n"
    )
    for method in ("fork", "spawn"):
        subprocess.run([PYTHON, str(script), str(spool), method], check=True, timeout=120)
    calls = records(spool, "call")
    assert len(calls) == 60
    pids = {f.header()["pid"] for f in spool_files(spool) if f.header()}  # type: ignore[index]
    assert len(pids) >= 2


# -- the spool file -------------------------------------------------------------------------------------


def test_a_torn_last_line_and_a_damaged_line_do_not_hide_the_other_records(spool: Path) -> None:
    @capture.track
    def inc(x: int) -> int:
        return x + 1

    for i in range(5):
        inc(i)
    capture.configure(spool_dir=spool.parent / "elsewhere")  # closes the file
    (file,) = spool_files(spool)
    lines = file.path.read_bytes().splitlines(keepends=True)
    damaged = lines[2].replace(b'"ok"', b'"OK"')  # the checksum no longer matches
    torn = encode_record({"k": "call", "fn": "x" * 100})[:40]
    file.path.write_bytes(b"".join([*lines[:2], damaged, *lines[3:]]) + torn)
    chunks = list(read_chunks(file))
    assert sum(c.records for c in chunks) == 4
    assert any("line 3: checksum mismatch" in s for c in chunks for s in c.skipped)


def test_a_well_framed_but_invalid_record_names_file_and_line(spool: Path) -> None:
    spool.mkdir(parents=True)
    path = spool / "host_1_2_abc.lgspool"
    header = {"k": "hello", "host": "h", "pid": 1, "python": "3.11"}
    path.write_bytes(encode_record(header) + encode_record({"k": "call", "fn": "f"}))
    with pytest.raises(InputError, match=r"host_1_2_abc.lgspool:line 2: invalid record"):
        list(read_chunks(SpoolFile(path)))


def test_an_unwritable_spool_leaves_user_code_alone_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the spool directory should be")
    capture.configure(mode="spool", spool_dir=blocker / "spool")

    @capture.track
    def double(x: int) -> int:
        return 2 * x

    with caplog.at_level(logging.WARNING, logger="lineagegraph.capture"):
        assert [double(i) for i in range(50)] == [2 * i for i in range(50)]
    assert len([r for r in caplog.records if "cannot write the capture spool" in r.message]) == 1
    stats = capture.stats()
    assert stats.pending == 50 and stats.written == 0 and "NotADirectoryError" in (stats.last_error or "")
    # The directory becomes writable: what waited is written, nothing lost.
    blocker.unlink()
    (blocker / "spool").mkdir(parents=True)
    capture.flush()
    assert len(records(blocker / "spool", "call")) == 50
    capture.configure(spool_dir=tmp_path / "after")


DISK_FULL_SCRIPT = """
import resource, signal, sys
import lineagegraph.capture as capture
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
capture.configure(spool_dir=sys.argv[1])
# Lets the header and a few records in, then every write fails like a full disk.
resource.setrlimit(resource.RLIMIT_FSIZE, (3000, 3000))

@capture.track
def work(x):
    return [x] * 3

results = [work(i) for i in range(200)]
assert results == [[i] * 3 for i in range(200)]
stats = capture.flush()
print(stats.written, stats.pending)
"""


def test_a_full_disk_never_leaves_a_half_record_in_the_spool(tmp_path: Path) -> None:
    script = tmp_path / "full.py"
    script.write_text(DISK_FULL_SCRIPT)
    result = subprocess.run([PYTHON, str(script), str(tmp_path / "spool")], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    written, pending = map(int, result.stdout.split())
    assert written > 0 and pending > 0
    (file,) = spool_files(tmp_path / "spool")
    assert file.size() <= 3000
    lines = list(file.lines())
    assert all(line.record is not None for line in lines)
    assert len(lines) == written + 1  # the header
    assert file.path.read_bytes().endswith(b"\n")


def test_many_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(
        "import sys\n"
        "import lineagegraph.capture as capture\n"
        "capture.configure(spool_dir=sys.argv[1])\n"
        "@capture.track\n"
        "def step(worker, i):\n"
        "    return f'{worker}-{i}'\n"
        "for i in range(400):\n"
        "    step(sys.argv[2], i)\n"
    )
    directory = tmp_path / "spool"
    procs = [subprocess.Popen([PYTHON, str(script), str(directory), f"w{n}"]) for n in range(6)]
    assert all(p.wait(timeout=300) == 0 for p in procs)
    seen = set()
    for file in spool_files(directory):
        for line in file.lines():
            assert line.record is not None
            body = line.record
            if body["k"] == "call":
                seen.add(body["outs"][0]["p"])
    assert seen == {f"w{n}-{i}" for n in range(6) for i in range(400)}


def test_the_framing_is_a_checksum_and_one_json_line() -> None:
    line = encode_record({"k": "x", "text": "line\nbreak"})
    crc, body = line.rstrip(b"\n").split(b" ", 1)
    assert line.count(b"\n") == 1
    assert int(crc, 16) == zlib.crc32(body)
    assert json.loads(body)["text"] == "line\nbreak"


def test_direct_mode_with_neo4j_down_falls_back_to_the_spool_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from neo4j import GraphDatabase

    from lineagegraph.store import GraphStore

    # Nothing listens on port 9 here; no retries, so the one failed attempt is quick.
    driver = GraphDatabase.driver("bolt://127.0.0.1:9", max_transaction_retry_time=0, connection_timeout=2)
    down = GraphStore(driver)
    capture.configure(mode="direct", store=down, spool_dir=tmp_path / "spool")

    @capture.track
    def triple(x: int) -> int:
        return 3 * x

    try:
        with caplog.at_level(logging.WARNING, logger="lineagegraph.capture"):
            assert [triple(i) for i in range(20)] == [3 * i for i in range(20)]
    finally:
        capture.configure(mode="spool", spool_dir=tmp_path / "after")
        down.close()
    assert len([r for r in caplog.records if "direct capture cannot write" in r.message]) == 1
    assert len(records(tmp_path / "spool", "call")) == 20


def test_run_information_names_the_process_and_the_hook_adds_fields(spool: Path) -> None:
    capture.configure(run_info_hook=lambda: {"experiment": "exp-42"}, packages=["pydantic"])

    @capture.track
    def one() -> int:
        return 1

    try:
        one()
        (file,) = spool_files(spool)
        header = file.header()
    finally:
        capture.configure(run_info_hook=dict)
    assert header is not None
    assert header["pid"] == os.getpid() and header["python"] == ".".join(map(str, sys.version_info[:3]))
    assert header["user"] == {"experiment": "exp-42"} and "pydantic" in header["packages"]
    assert oct(file.path.stat().st_mode & 0o777) == "0o600"
    (call,) = records(spool, "call")
    # A commit of this test file's repository (looked up once per process, so maybe not today's HEAD).
    commit, dirty = call["git"]
    assert len(commit) == 40 and isinstance(dirty, bool)
    subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], check=True, cwd=Path(__file__).parent)


def test_class_and_static_methods_and_async_generators_are_recorded(spool: Path) -> None:
    class Scaler:
        factor = 3

        @classmethod
        @capture.track
        def scale(cls, x: int) -> int:
            return x * cls.factor

        @staticmethod
        @capture.track
        def shift(x: int) -> int:
            return x + 100

    @capture.track
    async def stream(n: int) -> Any:
        for i in range(n):
            yield i * 2

    async def consume() -> list[int]:
        return [item async for item in stream(3)]

    assert Scaler.scale(2) == 6 and Scaler().shift(1) == 101
    assert asyncio.run(consume()) == [0, 2, 4]
    calls = {c["fn"].rsplit(".", 1)[-1]: c for c in records(spool, "call")}
    assert set(calls) == {"scale", "shift", "stream"}
    assert calls["scale"]["outs"][0]["p"] == "6" and calls["shift"]["outs"][0]["p"] == "101"
    assert calls["stream"]["n_yield"] == 3 and calls["stream"]["st"] == "ok"
