"""The contract every importer implements, and the one loop that writes what importers read.

Contract: an importer has a ``name`` (recorded on each ``ImportRun``) and ``units(source)``, which
yields :class:`ImportUnit` values. A unit is written all-or-nothing. An importer validates a unit
completely before yielding it and raises :class:`~lineagegraph.errors.InputError` naming the
file/line/object at fault, so bad input never produces a half-written import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sized
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from lineagegraph.errors import InputError
from lineagegraph.model import Element, Relation
from lineagegraph.store import GraphStore, ImportSummary

__all__ = ["ImportOutcome", "ImportUnit", "Importer", "run_import"]


@dataclass
class ImportUnit:
    """One import run's worth of input: where it came from, and what it says.

    ``elements`` and ``relations`` may be lists or lazy iterables (generators), and ``records``
    an iterable of both in any order: the writer streams them in chunks, so a unit of any size
    imports in bounded memory. A unit that fits in one chunk is written all-or-nothing.
    """

    source: str
    elements: Iterable[Element] = field(default_factory=list)
    relations: Iterable[Relation] = field(default_factory=list)
    records: Iterable[Element | Relation] = ()

    @property
    def size(self) -> int | None:
        """How many rows the unit holds, when that is known without reading it (for progress)."""
        total = 0
        for part in (self.elements, self.relations, self.records):
            if not isinstance(part, Sized):
                return None
            total += len(part)
        return total

    def items(self) -> Iterator[Element | Relation]:
        yield from self.elements
        yield from self.relations
        yield from self.records


class Importer(Protocol):
    """What every importer provides."""

    name: str

    def units(self, source: str) -> Iterator[ImportUnit]:
        """Read ``source`` and yield validated units; raise ``InputError`` on bad input."""
        ...


@dataclass
class ImportOutcome:
    """What a multi-source import did: one summary per written unit, one error per bad source."""

    summaries: list[ImportSummary] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def run_import(
    store: GraphStore,
    importer: Importer,
    sources: Iterable[str],
    *,
    on_unit: Callable[[ImportUnit], Callable[[int], None] | None] | None = None,
) -> ImportOutcome:
    """Import every source; a bad source is reported and skipped, the others still land.

    ``on_unit`` is called before each unit is written and may return a progress callback that
    receives the number of rows written per batch.
    """
    outcome = ImportOutcome()
    # Runs of importers that died (killed, machine lost) are closed first, so no record lies.
    store.reconcile_runs()
    for given in sources:
        # A file is the same source from any working directory (cron jobs often differ).
        source = str(Path(given).resolve()) if Path(given).exists() else given
        try:
            for unit in importer.units(source):
                progress = on_unit(unit) if on_unit else None
                outcome.summaries.append(
                    store.import_elements(importer.name, unit.source, unit.items(), progress=progress)
                )
        except InputError as exc:
            outcome.errors.append(exc)
    return outcome
