"""Mapping in a child process: results in order, errors as themselves and in their place."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from test_provjson_stream import SAMPLE, canonical

from lineagegraph.errors import InputError
from lineagegraph.importers.mapworker import mapped_in_child
from lineagegraph.importers.provjson_stream import stream_graph


def test_results_come_back_in_order() -> None:
    jobs = [(float(n),) for n in range(200)]
    assert list(mapped_in_child("math:sqrt", jobs)) == [math.sqrt(n) for n in range(200)]


def test_an_error_of_the_mapping_comes_after_the_results_before_it() -> None:
    got = []
    with pytest.raises(ValueError, match="math domain error"):
        for value in mapped_in_child("math:sqrt", [(4.0,), (9.0,), (-1.0,), (16.0,)]):
            got.append(value)
    assert got == [2.0, 3.0]


def test_an_error_reading_the_jobs_comes_after_the_results_before_it() -> None:
    def jobs() -> Iterator[tuple[float]]:
        yield (4.0,)
        yield (9.0,)
        raise InputError("truncated document", source="big.json", location="byte 1234")

    got = []
    with pytest.raises(InputError, match="byte 1234"):
        for value in mapped_in_child("math:sqrt", jobs()):
            got.append(value)
    assert got == [2.0, 3.0]


def square_roots(*numbers: float) -> Iterator[float]:
    """A generator mapping (imported by the child from this module): a result per number as it goes."""
    for n in numbers:
        yield math.sqrt(n)


def test_a_generator_mapping_sends_each_value_as_it_comes_and_its_error_after_them() -> None:
    assert list(mapped_in_child("test_mapworker:square_roots", [(1.0, 4.0), (), (9.0,)])) == [1.0, 2.0, 3.0]
    got = []
    with pytest.raises(ValueError, match="math domain error"):
        for value in mapped_in_child("test_mapworker:square_roots", [(4.0, 9.0, -1.0, 16.0), (25.0,)]):
            got.append(value)
    assert got == [2.0, 3.0]


def test_stopping_early_stops_the_child() -> None:
    results = mapped_in_child("math:sqrt", ((float(n),) for n in range(10**9)))
    assert next(results) == 0.0
    results.close()  # returns (the child is killed, the feeder ends) instead of mapping 10**9 jobs


def test_mapped_here_or_in_a_child_the_graph_is_the_same() -> None:
    here = list(stream_graph(SAMPLE, chunk_records=3, in_child=False))
    assert here and canonical(here) == canonical(list(stream_graph(SAMPLE, chunk_records=3, in_child=True)))


def test_what_the_mapping_writes_to_stdout_cannot_mix_with_the_results(capfd: pytest.CaptureFixture[str]) -> None:
    # Straight to file descriptor 1, as a C library would, and through print(): the results travel
    # on a pipe of their own and the writes end up on this process's stderr.
    noise = b"\x80\x95 not a pickle \x00" * 64
    assert list(mapped_in_child("os:write", [(1, noise)] * 20)) == [len(noise)] * 20
    assert list(mapped_in_child("builtins:print", [("printed by the mapping",)] * 3)) == [None] * 3
    out, err = capfd.readouterr()
    assert "printed by the mapping" in err and "printed by the mapping" not in out
