"""Importer for capture spool files (``lineagegraph import spool``).

A source is one spool file written by :mod:`lineagegraph.capture` (``@track``, component and
pipeline runs). Its pending records are read in chunks; each chunk is one import unit, and once a
unit is written (the import loop asks for the next one) the file's delivered offset advances past
it, so a crash re-sends at most one chunk — harmless, because every id is deterministic. A bad
record raises an :class:`~lineagegraph.errors.InputError` naming the file and line; nothing of
its chunk is written, the reason is kept beside the file for ``lineagegraph spool status``, and
the other files of the same run are still imported. A fully delivered file whose writer has
exited moves to ``delivered/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from lineagegraph.capture.delivery import IMPORTER_NAME, read_chunks
from lineagegraph.capture.spool import SpoolFile, spool_files
from lineagegraph.errors import InputError
from lineagegraph.importers.base import ImportUnit

__all__ = ["SpoolImporter", "spool_sources"]


def spool_sources(directory: Path) -> list[str]:
    """The spool files pending in ``directory``, oldest first."""
    return [str(f.path) for f in spool_files(directory)]


class SpoolImporter:
    """Reads capture spool files as import units and marks what was delivered."""

    name = IMPORTER_NAME

    def __init__(self) -> None:
        self.warnings: dict[str, list[str]] = {}
        self.records: dict[str, int] = {}
        self.retired: list[str] = []

    def units(self, source: str) -> Iterator[ImportUnit]:
        file = SpoolFile(Path(source))
        if not file.path.is_file():
            raise InputError("no such spool file", source=source)
        try:
            for chunk in read_chunks(file):
                if chunk.skipped:
                    self.warnings.setdefault(source, []).extend(chunk.skipped)
                if chunk.records:
                    yield ImportUnit(source, chunk.elements, chunk.relations)
                # Resumed: the unit above is in the graph.
                file.mark_delivered(chunk.end)
                self.records[source] = self.records.get(source, 0) + chunk.records
        except InputError as exc:
            file.mark_failed(str(exc))
            raise
        retired = file.retire()
        if retired is not None:
            self.retired.append(str(retired))
