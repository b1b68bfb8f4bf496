"""The importer contract (this docstring is the one place it is written down) and the loop that writes.

An importer is any object with two members:

``name: str``
    A short lowercase source name (``prov``, ``k8s``, ``mltrace``). It is recorded on every
    ``ImportRun`` and is the namespace of the ids the source invents
    (:func:`lineagegraph.identity.source_id`).

``units(source: str) -> Iterator[ImportUnit]``
    Read ``source`` (a path, already made absolute by :func:`run_import`, or a URL, a connection
    name, ...) and yield :class:`ImportUnit` values, one per import run: its ``source`` and the
    PROV ``elements`` and ``relations`` it says, built from :mod:`lineagegraph.model` (the models
    validate, redact secret-looking values and keep labels to the allow-list).

Optionally, ``input_settings: str``: what besides a file's bytes decides the graph the importer
yields from it (its options, such as a forced format). An importer that has it declares its
mapping of files deterministic: :func:`run_import` then skips a file that is unchanged since its
last complete import (same bytes, settings, lineagegraph version and redaction rules), recording
a ``skipped`` run instead, unless called with ``force=True``.

Rules an importer keeps:

* **Ids** follow :mod:`lineagegraph.identity`: :func:`~lineagegraph.identity.location_id` for data
  locations, :func:`~lineagegraph.identity.version_id` for each write of one,
  :func:`~lineagegraph.identity.source_id` for everything else the source invents,
  :func:`~lineagegraph.identity.value_id` for values known by their content. Re-importing the same
  input yields the same ids, so imports converge.
* **Bad input** is found before the unit is yielded: raise :class:`~lineagegraph.errors.InputError`
  with ``source=`` and ``location=`` (line, record, object). Nothing of that unit is written;
  :func:`run_import` reports it and goes on with the other sources.
* **No database access.** The importer never talks to Neo4j. :func:`run_import` (or
  ``GraphStore.import_elements`` for a service that already holds a store) writes every unit
  idempotently and records its ``ImportRun``: the one write path for every source.

Making it usable: inside this repository, a module ``importers/<name>.py`` plus a command in
``cli/<name>.py`` listed in ``COMMAND_MODULES``; from another distribution, an entry point in the
group ``lineagegraph.importers`` (:mod:`lineagegraph.importers.registry`), run with
``lineagegraph import with NAME SOURCE...``. A complete example is
``docs/examples/csv_importer/lineagegraph_csv_example.py``; ``docs/architecture.md`` says where
sources live and what they may import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sized
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from lineagegraph.errors import InputError
from lineagegraph.model import Element, GraphItem, Relation
from lineagegraph.runs import InputRead, complete_read, skip_if_unchanged
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
    records: Iterable[GraphItem] = ()

    @property
    def size(self) -> int | None:
        """How many rows the unit holds, when that is known without reading it (for progress)."""
        total = 0
        for part in (self.elements, self.relations, self.records):
            if not isinstance(part, Sized):
                return None
            total += len(part)
        return total

    def items(self) -> Iterator[GraphItem]:
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
    force: bool = False,
) -> ImportOutcome:
    """Import every source; a bad source is reported and skipped, the others still land.

    ``on_unit`` is called before each unit is written and may return a progress callback that
    receives the number of rows written per batch. A file unchanged since its last complete
    import is not read again when the importer has ``input_settings`` (see the module docstring):
    its summary says ``skipped``. ``force`` reads and writes it all the same.
    """
    outcome = ImportOutcome()
    # Runs of importers that died (killed, machine lost) are closed first, so no record lies.
    store.reconcile_runs()
    settings = getattr(importer, "input_settings", None)
    for given in sources:
        # A file is the same source from any working directory (cron jobs often differ).
        source = str(Path(given).resolve()) if Path(given).exists() else given
        read = InputRead.begin(source, settings)
        if read is not None and not force:
            skipped = skip_if_unchanged(store, importer.name, read)
            if skipped is not None:
                outcome.summaries.append(skipped)
                continue
        units = 0
        try:
            for unit in importer.units(source):
                progress = on_unit(unit) if on_unit else None
                outcome.summaries.append(
                    store.import_elements(importer.name, unit.source, unit.items(), progress=progress, read=read)
                )
                units += 1
        except InputError as exc:
            outcome.errors.append(exc)
            continue
        if read is not None and read.file_unchanged():
            complete_read(store, read, units)
    return outcome
