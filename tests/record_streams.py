"""Record streams shared by the chunked-write tests and the processes they start (and kill)."""

from __future__ import annotations

from collections.abc import Iterator

from lineagegraph.model import Activity, Element, Entity, Relation, Used, WasGeneratedBy


def chain_records(n: int) -> Iterator[Element | Relation]:
    """A lazily generated pipeline of n steps, relations arriving before the nodes they name."""
    for i in range(n):
        yield Used(activity=f"step{i}", entity=f"data{i}")
        yield WasGeneratedBy(entity=f"data{i + 1}", activity=f"step{i}")
        yield Activity(id=f"step{i}", label=f"step {i}")
        yield Entity(id=f"data{i}", label=f"data {i}")
    yield Entity(id=f"data{n}", label=f"data {n}")
