"""PROV-JSON of any size in bounded memory: the document is read as a stream, in record chunks.

The whole-document reader (``prov`` + :func:`lineagegraph.provcodec.document_to_graph`) holds the
parsed document, its records and their graph rows at once: gigabytes for a million records. Here
the file is read twice with ``ijson``, never whole:

1. a first pass reads the prefixes and notes every identifier that more than one record speaks
   about (declared twice, in several sections or bundles, or named by a relation that has only
   one end) — those records must be mapped together to give the same node;
2. a second pass cuts the records into chunks of a few thousand, writes each chunk as a small
   PROV-JSON document with the same prefixes, and maps it with the very same code as the
   whole-document path, so the graph (and its exact PROV encoding) is identical. The records the
   first pass set aside are mapped together at the end. For big files this pass, reading and
   mapping, runs in a child process (:mod:`lineagegraph.importers.mapworker`), on another core
   than the writing, which gets back the models' rows (:class:`~lineagegraph.model.NodeRow`,
   :class:`~lineagegraph.model.RelationshipRow`): what the writer stores, computed there.

Memory grows with the set of identifiers (the first pass keeps a count per identifier) and the
set-aside records, not with the file. A document with bundles (they bring prefixes of their own),
or with a member this reader does not know, is read whole instead (:class:`NotStreamable`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import ijson
from prov.model import ProvDocument
from prov.serializers.provjson import decode_json_document

from lineagegraph.importers.mapworker import mapped_in_child
from lineagegraph.importers.provjson_direct import direct_graph
from lineagegraph.model import Element, NodeRow, Relation, RelationshipRow
from lineagegraph.process import paused_gc
from lineagegraph.provcodec import document_to_graph, quiet_prov

__all__ = ["NotStreamable", "stream_graph"]

ELEMENT_SECTIONS = frozenset({"entity", "activity", "agent"})
# PROV-JSON relation sections and the attributes of their two ends.
RELATION_ENDS: dict[str, tuple[str, str]] = {
    "used": ("prov:activity", "prov:entity"),
    "wasGeneratedBy": ("prov:entity", "prov:activity"),
    "wasInformedBy": ("prov:informed", "prov:informant"),
    "wasStartedBy": ("prov:activity", "prov:trigger"),
    "wasEndedBy": ("prov:activity", "prov:trigger"),
    "wasInvalidatedBy": ("prov:entity", "prov:activity"),
    "wasDerivedFrom": ("prov:generatedEntity", "prov:usedEntity"),
    "wasAttributedTo": ("prov:entity", "prov:agent"),
    "wasAssociatedWith": ("prov:activity", "prov:agent"),
    "actedOnBehalfOf": ("prov:delegate", "prov:responsible"),
    "wasInfluencedBy": ("prov:influencee", "prov:influencer"),
    "specializationOf": ("prov:specificEntity", "prov:generalEntity"),
    "alternateOf": ("prov:alternate1", "prov:alternate2"),
    "hadMember": ("prov:collection", "prov:entity"),
    "mentionOf": ("prov:specificEntity", "prov:generalEntity"),
}


class NotStreamable(Exception):  # noqa: N818 - a signal to the caller, not an error for users
    """The document's shape needs the whole-document reader (the reason is the message)."""


def _sections(stream: BinaryIO) -> Iterator[tuple[str, Any]]:
    """Yield each top-level member's name with the parser standing at its value.

    The caller reads the member (``_members`` or ``_records``) before asking for the next one.
    """
    parser = ijson.parse(stream, use_float=True)
    for prefix, event, value in parser:
        if prefix == "" and event == "map_key":
            yield value, parser
        elif prefix == "" and event in ("start_map", "end_map"):
            continue
        elif prefix == "":
            raise NotStreamable("the document is not a JSON object")


def _members(parser: Any, section: str) -> Iterator[tuple[str, Any]]:
    builder: Any = None
    key: str | None = None
    depth = 0
    for prefix, event, value in parser:
        if builder is None:
            if event == "start_map" and prefix == section:
                continue
            if event == "end_map" and prefix == section:
                return
            if event == "map_key" and prefix == section:
                key = value
                continue
            if prefix == section:
                raise NotStreamable(f"the member {section!r} is not an object")
            builder = ijson.ObjectBuilder()
            depth = 0
        builder.event(event, value)
        if event in ("start_map", "start_array"):
            depth += 1
        elif event in ("end_map", "end_array"):
            depth -= 1
        if depth == 0:
            assert key is not None
            yield key, builder.value
            builder, key = None, None


# A wanted attribute whose value is there but is not a string (an end written as an object).
_OTHER_VALUE = object()


def _records(parser: Any, section: str, wanted: tuple[str, ...] = ()) -> Iterator[tuple[str, list[Any]]]:
    """The first pass's lean read of a section: per member, one entry per record it holds (a
    member may hold a list of them), each a dict of the ``wanted`` attributes found (the string,
    None for null, ``_OTHER_VALUE`` for anything else), or None for a record that is not an object.

    Nothing else of a record is built: this pass only counts records and reads relations' ends,
    and building every value cost it twice the time of parsing.
    """
    _, event, _ = next(parser)
    if event != "start_map":
        raise NotStreamable(f"the member {section!r} is not an object")
    key = ""
    records: list[Any] = []
    record: dict[str, Any] = {}
    attr: str | None = None
    depth = 0  # 0 between members; 1 inside a member's value; 2 inside a record of a list
    level = 1  # the depth at which the current member's records name their attributes
    for _prefix, event, value in parser:
        if depth == 0:
            if event == "map_key":
                key = value
                continue
            if event == "end_map":
                return
            if event == "start_map":
                record, level = {}, 1
                records = [record]
            elif event == "start_array":
                records, level = [], 2
            else:
                yield key, [None]
                continue
            depth = 1
            continue
        if depth == level:
            if event == "map_key":
                attr = value if value in wanted else None
                continue
            if attr is not None:
                record[attr] = value if event == "string" else None if event == "null" else _OTHER_VALUE
                attr = None
        elif depth == 1:  # an item of a list member
            if event == "start_map":
                record = {}
                records.append(record)
            elif event != "end_array":
                records.append(None)
        if event in ("start_map", "start_array"):
            depth += 1
        elif event in ("end_map", "end_array"):
            depth -= 1
            if depth == 0:
                yield key, records


class _Ids:
    """Expands the prefixed names of PROV-JSON ids so that two spellings of one id agree."""

    def __init__(self, prefixes: dict[str, str]):
        self._prefixes = prefixes

    def expand(self, name: str) -> str:
        head, sep, tail = name.partition(":")
        if sep and head in self._prefixes:
            return self._prefixes[head] + tail
        if not sep and "default" in self._prefixes:
            return self._prefixes["default"] + name
        return name


def _ends(section: str, value: Any) -> list[list[str | None]]:
    ends = RELATION_ENDS[section]
    items = value if isinstance(value, list) else [value]
    return [[item.get(end) if isinstance(item, dict) else None for end in ends] for item in items]


def _first_pass(path: Path) -> tuple[dict[str, str], set[str]]:
    """The prefixes, and the expanded ids that more than one record speaks about."""
    counts: Counter[str] = Counter()  # ids as written; expanded once the prefixes are known
    partial: set[str] = set()
    prefixes: dict[str, str] = {}
    with path.open("rb") as stream:
        for section, parser in _sections(stream):
            if section == "prefix":
                prefixes = {str(k): str(v) for k, v in _members(parser, section)}
            elif section == "bundle":
                # Bundles bring their own prefixes and share ids with the document around them.
                raise NotStreamable("a document with bundles is read whole")
            elif section in ELEMENT_SECTIONS:
                for key, records in _records(parser, section):
                    counts[key] += len(records)
            elif section in RELATION_ENDS:
                for _key, records in _records(parser, section, RELATION_ENDS[section]):
                    for pair in _ends(section, records):
                        if None in pair:
                            partial.update(p for p in pair if isinstance(p, str))
            else:
                raise NotStreamable(f"unknown PROV-JSON member {section!r}")
    ids = _Ids(prefixes)
    expanded: Counter[str] = Counter()
    for key, n in counts.items():
        expanded[ids.expand(key)] += n
    return prefixes, {ident for ident, n in expanded.items() if n > 1} | {ids.expand(p) for p in partial}


def _to_graph(prefixes: dict[str, str], sections: dict[str, dict[str, Any]]) -> tuple[list[Element], list[Relation]]:
    # Plain records straight to models, the rest through prov: the same models either way.
    with paused_gc():
        direct = direct_graph(prefixes, sections)
    return direct or _prov_graph(prefixes, sections)


def _prov_graph(prefixes: dict[str, str], sections: dict[str, dict[str, Any]]) -> tuple[list[Element], list[Relation]]:
    # prov's own decoder, handed the JSON values ijson built: the same document as parsing the
    # chunk's text, without writing and re-reading it (prov reads JSON with a Python hook per
    # object). It deletes "prefix" from the dict it is given, so that dict is this call's own.
    document = {"prefix": prefixes, **sections} if prefixes else dict(sections)
    with quiet_prov(), paused_gc():
        parsed = ProvDocument()
        decode_json_document(document, parsed)
        return document_to_graph(parsed)


# Files at least this big are mapped in a child process: starting one costs about a second.
CHILD_ABOVE_BYTES = 4 * 1024 * 1024


def stream_graph(path: Path, *, chunk_records: int = 5_000,
                 in_child: bool | None = None) -> Iterator[NodeRow | RelationshipRow]:
    """The graph of the PROV-JSON file at ``path`` as rows, chunk by chunk (see the module docstring).

    With ``in_child`` (by default, for files of ``CHILD_ABOVE_BYTES`` or more), the chunks are
    mapped in a child process while this one reads and writes on (see
    :mod:`lineagegraph.importers.mapworker`); the result is the same either way. Raises
    :class:`NotStreamable` before yielding anything when the document needs the whole-document
    reader; parse errors of ``ijson`` and ``prov`` propagate as they are.
    """
    if in_child is None:
        in_child = path.stat().st_size >= CHILD_ABOVE_BYTES
    if in_child:
        # The first pass runs on the thread that feeds the child, while the child starts up; the
        # child reads the file again itself (the second pass) and sends back only the rows.
        graphs = mapped_in_child(f"{__name__}:_mapped", _second_pass_job(path, chunk_records))
    else:
        prefixes, shared = _first_pass(path)
        graphs = _mapped(str(path), prefixes, shared, chunk_records)
    for rows in graphs:
        yield from rows


def _second_pass_job(path: Path, chunk_records: int) -> Iterator[tuple[str, dict[str, str], set[str], int]]:
    prefixes, shared = _first_pass(path)
    yield str(path), prefixes, shared, chunk_records


def _mapped(path: str, prefixes: dict[str, str], shared: set[str],
            chunk_records: int) -> Iterator[list[NodeRow | RelationshipRow]]:
    """The second pass: each chunk of records mapped to models, elements first, as rows."""
    for chunk in _chunks(Path(path), prefixes, shared, chunk_records):
        elements, relations = _to_graph(prefixes, chunk)
        yield [*(e.row() for e in elements), *(r.row() for r in relations)]


def _chunks(path: Path, prefixes: dict[str, str], shared: set[str],
            chunk_records: int) -> Iterator[dict[str, dict[str, Any]]]:
    """The records as the sections of small documents: ``chunk_records`` records each in file
    order, then the records about ``shared`` ids and the relations with one end, together."""
    ids = _Ids(prefixes)
    chunk: dict[str, dict[str, Any]] = {}
    held: dict[str, dict[str, Any]] = {}
    size = 0
    with path.open("rb") as stream:
        for section, parser in _sections(stream):
            members = _members(parser, section)
            if section == "prefix":
                for _ in members:
                    pass
                continue
            for key, value in members:
                if section in ELEMENT_SECTIONS:
                    target = held if ids.expand(key) in shared else chunk
                else:
                    # A relation with one end lives on its node: map it with that node's records.
                    target = held if any(None in pair for pair in _ends(section, value)) else chunk
                target.setdefault(section, {})[key] = value
                if target is chunk:
                    size += 1
                    if size >= chunk_records:
                        yield chunk
                        chunk, size = {}, 0
    if size:
        yield chunk
    if held:
        yield held
