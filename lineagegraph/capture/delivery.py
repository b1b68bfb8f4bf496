"""Reading spool files back as batches of graph elements, and delivering them.

:func:`read_chunks` is what both the spool importer (``lineagegraph import spool``) and the
background flusher use: it validates every record of a file from its delivered offset on and
groups them into chunks of at most ``max_records`` records. A line whose checksum does not match
(a torn write) is skipped and reported; a record that is well framed but invalid makes the file
fail with an :class:`~lineagegraph.errors.InputError` naming the file and line, before anything of
that chunk is written.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from lineagegraph.capture.records import HelloRecord, RecordGraph, parse_record
from lineagegraph.capture.spool import SpoolFile, spool_files
from lineagegraph.errors import InputError
from lineagegraph.model import Element, Relation
from lineagegraph.store import GraphStore

__all__ = ["Chunk", "DeliveryReport", "deliver", "read_chunks"]

IMPORTER_NAME = "capture"
MAX_RECORDS = 2000


@dataclass
class Chunk:
    """Records ``[start, end)`` of one spool file, as graph elements."""

    file: SpoolFile
    start: int
    end: int
    records: int
    elements: list[Element]
    relations: list[Relation]
    skipped: list[str] = field(default_factory=list)


def _invalid(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"invalid record: {where + ': ' if where else ''}{first.get('msg', exc)}"


def read_chunks(file: SpoolFile, *, max_records: int = MAX_RECORDS) -> Iterator[Chunk]:
    """Chunks of the not yet delivered records of ``file`` (raises ``InputError`` on a bad record)."""
    source = str(file.path)
    lines = file.lines()
    first = next(lines, None)
    if first is None:
        return  # empty, or the header is still being written
    if first.record is None or first.record.get("k") != "hello":
        raise InputError("not a lineagegraph spool file (its first line is not a valid header)",
                         source=source, location="line 1")
    try:
        header = parse_record(first.record)
    except ValidationError as exc:
        raise InputError(_invalid(exc), source=source, location="line 1") from None
    assert isinstance(header, HelloRecord)
    start = max(file.delivered(), first.end)
    graph, count, end, skipped = RecordGraph(), 0, start, []
    graph.add(header)
    for line in file.lines(start):
        end = line.end
        if line.record is None:
            skipped.append(f"{source}:line {line.number}: {line.problem}; record skipped")
            continue
        try:
            record = parse_record(line.record)
        except ValidationError as exc:
            raise InputError(_invalid(exc), source=source, location=f"line {line.number}") from None
        graph.add(record)
        count += 1
        if count >= max_records:
            yield Chunk(file, start, end, count, graph.elements, graph.relations, skipped)
            start, graph, count, skipped = end, RecordGraph(), 0, []
            graph.add(header)
    if end > start or count:
        yield Chunk(file, start, end, count, graph.elements, graph.relations, skipped)


@dataclass
class DeliveryReport:
    """What one delivery pass did."""

    files: int = 0
    records: int = 0
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    retired: list[str] = field(default_factory=list)


def deliver(store: GraphStore, directory: Path) -> DeliveryReport:
    """Write every pending spool record in ``directory`` to ``store`` (used by the flusher).

    A file that fails is recorded in its ``.error`` file and skipped; the others still land.
    Errors from the store itself (Neo4j down) propagate: nothing is marked delivered then.
    """
    report = DeliveryReport()
    for file in spool_files(directory):
        report.files += 1
        try:
            for chunk in read_chunks(file):
                if chunk.records:
                    store.import_elements(IMPORTER_NAME, str(file.path), chunk.elements, chunk.relations)
                file.mark_delivered(chunk.end)
                report.records += chunk.records
                report.skipped.extend(chunk.skipped)
        except InputError as exc:
            file.mark_failed(str(exc))
            report.failed[str(file.path)] = str(exc)
            continue
        retired = file.retire()
        if retired is not None:
            report.retired.append(str(retired))
    return report
