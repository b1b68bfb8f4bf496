"""The restricted unpickler: plain data comes out, and nothing named in a pickle is ever run."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from lineagegraph.importers.safe_pickle import UnsafePickleError, loads

PLAIN = {
    "tags": ["v1.0", "model-v1"],
    "numbers": (1, 2.5, -3, 10**30, complex(1, 2)),
    "flags": {True, False},
    "frozen": frozenset({"a"}),
    "raw": b"\x00\xff",
    "buffer": bytearray(b"xy"),
    "nothing": None,
    "text": "naïve ✓",
}


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_plain_data_round_trips_in_every_protocol(protocol: int) -> None:
    assert loads(pickle.dumps(PLAIN, protocol=protocol)) == PLAIN


def test_what_mltrace_writes_decodes() -> None:
    # Bytes of a `git_tags` and an empty `stale` column as mltrace 0.17 stored them
    # (lineagegraph/samples/postgres/mltrace.sql).
    assert loads(bytes.fromhex("8005950b000000000000005d948c0476312e3094612e")) == ["v1.0"]
    assert loads(bytes.fromhex("80055d942e")) == []


class _RunsAShellCommand:
    """Unpickling this with pickle.loads would call os.system(...)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_a_malicious_pickle_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"stale": [_RunsAShellCommand(marker)]})
    # The payload really is dangerous: the ordinary unpickler runs the command.
    pickle.loads(payload)  # proving the hazard that the restricted loader prevents
    assert marker.exists()
    marker.unlink()

    with pytest.raises(UnsafePickleError, match=r"refused to load (posix|os|nt)\.system"):
        loads(payload)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_other_globals_are_refused(protocol: int) -> None:
    from datetime import datetime
    from pathlib import PurePosixPath

    for value in (datetime(2024, 1, 1), PurePosixPath("/etc/passwd"), Exception("x")):
        with pytest.raises(UnsafePickleError, match="refused to load"):
            loads(pickle.dumps(value, protocol=protocol))


def test_hand_made_globals_and_codecs_are_refused() -> None:
    # GLOBAL 'builtins eval' applied to a string: the classic protocol-0 exploit.
    exploit = b"cbuiltins\neval\n(V__import__('os').system('true')\ntR."
    with pytest.raises(UnsafePickleError, match=r"builtins\.eval"):
        loads(exploit)
    # _codecs.encode is honoured only for latin-1 (the form pickle itself writes for bytes).
    odd_codec = b"c_codecs\nencode\n(Vabc\nVrot13\ntR."
    with pytest.raises(UnsafePickleError, match="codec"):
        loads(odd_codec)
    persistent = b"Pabc\n."
    with pytest.raises(UnsafePickleError, match="persistent"):
        loads(persistent)


@pytest.mark.parametrize("data", [b"", b"not a pickle", pickle.dumps([1, 2, 3])[:-3]])
def test_garbage_and_truncated_input_is_an_error(data: bytes) -> None:
    with pytest.raises(UnsafePickleError, match="not a readable pickle"):
        loads(data)
