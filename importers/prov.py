"""Importer for W3C PROV documents: PROV-N, PROV-JSON, PROV-XML, PROV-JSONLD and PROV-O (RDF).

Each file is one import unit. The file is parsed completely by the ``prov`` package and mapped by
:mod:`lineagegraph.provcodec` before anything is written, so a malformed file raises one
:class:`~lineagegraph.errors.InputError` naming the file (and line/column when the parser knows
it) and leaves the graph untouched. The format comes from ``--format``, else the file extension,
else the first bytes of the content.

Hostile input is refused before it costs much: a file larger than the ``max_input_bytes`` setting
is not read at all, and XML (PROV-XML, RDF/XML) that declares entities in a DTD is refused before
any parser expands them (PROV never needs a DTD). Within one document every identifier has one
kind (Entity, Activity or Agent) and every relation joins ends of the kinds PROV-DM gives them;
a PROV-O resource typed only ``prov:Person``, ``prov:Organization`` or ``prov:SoftwareAgent`` is
an Agent, as PROV-O's class hierarchy says.
"""

from __future__ import annotations

import json
import re
import xml.parsers.expat
from collections.abc import Iterator
from itertools import chain
from pathlib import Path

from prov.model import ProvDocument
from prov.serializers.provrdf import ProvRDFSerializer
from rdflib import RDF, Dataset, URIRef

from lineagegraph.errors import InputError
from lineagegraph.importers.base import ImportUnit
from lineagegraph.importers.provjson_stream import NotStreamable, stream_graph
from lineagegraph.importers.provrdf_stream import RDF_FORMATS, stream_rdf_graph
from lineagegraph.model import Element, ElementKind, GraphItem, Relation
from lineagegraph.process import paused_gc
from lineagegraph.provcodec import IMPORT_FORMATS, document_to_graph, quiet_prov

__all__ = ["FORMATS", "ProvImporter", "check_kinds", "detect_format", "load_document"]

FORMATS = tuple(IMPORT_FORMATS)
"""Format names accepted by ``--format``."""

_PROV_NS = "http://www.w3.org/ns/prov#"
_SUFFIXES: dict[str, tuple[str, dict[str, str]]] = {
    ".provn": ("provn", {}), ".pn": ("provn", {}),
    ".provx": ("xml", {}),
    ".ttl": ("rdf", {"rdf_format": "turtle"}), ".turtle": ("rdf", {"rdf_format": "turtle"}),
    ".trig": ("rdf", {"rdf_format": "trig"}), ".nt": ("rdf", {"rdf_format": "nt"}),
    ".nq": ("rdf", {"rdf_format": "nquads"}), ".rdf": ("rdf", {"rdf_format": "xml"}),
    ".owl": ("rdf", {"rdf_format": "xml"}),
}
_PROV_O_AGENTS = tuple(URIRef(_PROV_NS + name) for name in ("Person", "Organization", "SoftwareAgent"))
_PROV_O_AGENT = URIRef(_PROV_NS + "Agent")
_PROVN_START = re.compile(r"^\s*(?://[^\n]*\n\s*|/\*.*?\*/\s*)*document\b", re.DOTALL)
_TURTLE_START = re.compile(r"^\s*(?:#[^\n]*\n\s*)*(?:@prefix|@base|prefix|base)\b", re.IGNORECASE)


def _sniff(head: str) -> tuple[str, dict[str, str]] | None:
    text = head.lstrip("\ufeff \t\r\n")
    if text.startswith(("{", "[")):
        return ("jsonld", {}) if '"@context"' in head else ("json", {})
    if text.startswith("<"):
        if re.search(r"<([\w.\-]+:)?RDF\b", head):
            return "rdf", {"rdf_format": "xml"}
        return "xml", {}
    if _PROVN_START.match(text):
        return ("provn", {})
    if _TURTLE_START.match(text):
        return ("rdf", {"rdf_format": "trig"})
    return None


def detect_format(path: Path, head: str, fmt: str | None = None) -> tuple[str, dict[str, str]]:
    """Pick the ``prov`` deserializer (and its options) for a file.

    ``fmt`` (a name from :data:`FORMATS`) wins; ``rdf`` is refined by content (RDF/XML when the
    file is XML, TriG otherwise, which also reads Turtle). Without ``fmt`` the extension decides,
    with ``.json``/``.xml`` checked against the content (JSON-LD, RDF/XML), then the content alone.
    """
    if fmt is not None:
        if fmt not in IMPORT_FORMATS:
            raise InputError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}",
                             source=str(path))
        if fmt == "rdf":
            sniffed = _sniff(head)
            if sniffed and sniffed[1].get("rdf_format") == "xml":
                return sniffed
            if sniffed and sniffed[0] in ("json", "jsonld"):
                return "rdf", {"rdf_format": "json-ld"}
        return IMPORT_FORMATS[fmt]
    suffix = path.suffix.lower()
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    sniffed = _sniff(head)
    if suffix == ".jsonld":
        return "jsonld", {}
    if suffix in (".json", ".xml") and sniffed is not None:
        return sniffed
    if sniffed is None:
        raise InputError("cannot tell which PROV serialisation this is; pass --format "
                         f"({', '.join(FORMATS)})", source=str(path))
    return sniffed


def _location(exc: BaseException) -> str | None:
    """Line (and column) of a parse error, from whichever parser raised it."""
    line = getattr(exc, "line", None) or getattr(exc, "lineno", None)
    column = getattr(exc, "column", None) or getattr(exc, "colno", None)
    position = getattr(exc, "position", None)
    if isinstance(position, tuple) and len(position) == 2:
        line, column = position
    if line is None and hasattr(exc, "lines") and isinstance(exc.lines, int):
        line = exc.lines + 1  # rdflib counts from 0
    if not isinstance(line, int):
        return None
    return f"{line}:{column}" if isinstance(column, int) else str(line)


def _message(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or getattr(exc, "msg", None)
    if not isinstance(message, str) or not message:
        message = str(exc) or type(exc).__name__
    if isinstance(exc, json.JSONDecodeError):
        message = f"not valid JSON: {message}"
    return " ".join(message.split())[:500]


def _parse(data: bytes, prov_format: str, options: dict[str, str]) -> ProvDocument:
    if prov_format == "rdf":
        return _parse_rdf(data, options.get("rdf_format", "trig"))
    return ProvDocument.deserialize(content=data, format=prov_format, **options)


def _parse_rdf(data: bytes, rdf_format: str) -> ProvDocument:
    """PROV-O through rdflib, with agents typed only by a PROV-O subclass made Agents.

    prov's own reader knows an agent only by ``rdf:type prov:Agent``; PROV-O says that every
    ``prov:Person``, ``prov:Organization`` and ``prov:SoftwareAgent`` is one, and tools (cwltool,
    for one) write just the subclass. The inferred triple is added in the same named graph, so
    bundles keep their agents.
    """
    if rdf_format == "json-ld":
        _refuse_remote_contexts(json.loads(data))
    container = Dataset(default_union=True)
    container.parse(data=data, format=rdf_format)
    for subject, _pred, obj, graph in list(container.quads((None, RDF.type, None, None))):
        if obj in _PROV_O_AGENTS:
            container.add((subject, RDF.type, _PROV_O_AGENT, graph))  # type: ignore[arg-type]
    document = ProvDocument()
    ProvRDFSerializer(document).decode_document(container, document)
    return document


class _RemoteContextError(ValueError):
    pass


def _refuse_remote_contexts(node: object) -> None:
    """Refuse JSON-LD that names a context by URL: rdflib would fetch it (a request to wherever
    the file points, made by whoever imports it). Inline contexts are fine."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key in ("@context", "@import") and (
                        isinstance(value, str) or (isinstance(value, list) and any(isinstance(v, str) for v in value))):
                    raise _RemoteContextError("the JSON-LD names a remote @context; lineagegraph does not fetch it "
                                     "(inline the context, or use PROV-JSON or Turtle)")
                stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)


def _refuse_duplicate_keys(data: bytes, source: str) -> None:
    """Refuse PROV-JSON with one key twice in an object (one id declared twice, say).

    A JSON reader keeps the last value without a word, so the first record would vanish; with
    two conflicting declarations there is no right one to keep. Other JSON errors are left to the
    PROV reader, which reports them with their position.
    """

    def pairs(items: list[tuple[str, object]]) -> dict[str, object]:
        seen: dict[str, object] = {}
        for key, value in items:
            if key in seen:
                raise InputError(f"the key {key[:200]!r} appears twice in one JSON object; PROV-JSON ids and "
                                 "keys must be unique (the reader would silently keep only the last)", source=source)
            seen[key] = value
        return seen

    try:
        json.loads(data, object_pairs_hook=pairs)
    except (ValueError, RecursionError):
        return  # not JSON at all: the PROV reader says where


def _refuse_entities(data: bytes, source: str) -> None:
    """Refuse XML that declares entities, before any parser gets to expand them.

    An entity-expansion bomb ("billion laughs" and its quadratic variant) costs minutes of CPU in
    rdflib's SAX reader; PROV-XML and RDF/XML never need a DTD. Only the prolog is read: the
    scan stops at the root element.
    """

    class _RootReachedError(Exception):
        pass

    def entity_declared(name: str, *_args: object) -> None:
        raise InputError(f"the XML declares the entity {name!r} in a DTD; PROV documents need no DTD and "
                         "entity declarations are refused (they can expand to gigabytes)",
                         source=source, location=str(parser.CurrentLineNumber))

    def root(*_args: object) -> None:
        raise _RootReachedError

    parser = xml.parsers.expat.ParserCreate()
    parser.EntityDeclHandler = entity_declared
    parser.StartElementHandler = root
    try:
        parser.Parse(data, True)
    except _RootReachedError:
        return
    except LookupError as exc:  # expat asks Python for the declared encoding, which may not exist
        raise InputError(f"the XML declares an unknown encoding: {exc}", source=source, location="1") from exc
    except xml.parsers.expat.ExpatError as exc:
        raise InputError(f"not well-formed XML: {xml.parsers.expat.errors.messages[exc.code]}",
                         source=source, location=f"{exc.lineno}:{exc.offset}") from exc


def _read_limited(path: Path, limit: int) -> bytes:
    """The file's bytes, refusing more than ``limit`` (also for pipes and devices without a size)."""
    source = str(path)
    try:
        size = path.stat().st_size
        if size > limit:
            raise InputError(f"the file is {size} bytes, more than the limit of {limit} "
                             "(setting max_input_bytes, env LINEAGEGRAPH_MAX_INPUT_BYTES)", source=source)
        with path.open("rb") as stream:
            data = stream.read(limit + 1)
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror or exc}", source=source) from exc
    if len(data) > limit:
        raise InputError(f"the input is larger than the limit of {limit} bytes "
                         "(setting max_input_bytes, env LINEAGEGRAPH_MAX_INPUT_BYTES)", source=source)
    return data


def _parse_or_none(data: bytes, prov_format: str, options: dict[str, str]) -> ProvDocument | None:
    try:
        return _parse(data, prov_format, options)
    except _RemoteContextError:
        raise
    except Exception:
        return None


def load_document(path: Path, fmt: str | None = None,
                  warnings_out: list[str] | None = None, *, max_input_bytes: int | None = None) -> ProvDocument:
    """Read and parse one PROV file; any failure becomes an :class:`InputError` naming it.

    ``max_input_bytes`` (default: the setting of that name) caps the file's size.
    """
    source = str(path)
    if max_input_bytes is None:
        from lineagegraph.settings import load_settings

        max_input_bytes = load_settings().max_input_bytes
    data = _read_limited(path, max_input_bytes)
    head = data[:8192].decode("utf-8", errors="replace")
    prov_format, options = detect_format(path, head, fmt)
    if prov_format == "xml" or options.get("rdf_format") == "xml":
        _refuse_entities(data, source)
    if prov_format == "json":
        _refuse_duplicate_keys(data, source)
    with quiet_prov() as caught, paused_gc():
        try:
            try:
                document = _parse(data, prov_format, options)
            except Exception:
                if prov_format != "jsonld":
                    raise
                # Not PROV-JSONLD: maybe generic JSON-LD of PROV-O, which rdflib reads.
                fallback = _parse_or_none(data, "rdf", {"rdf_format": "json-ld"})
                if fallback is None or not fallback.get_records():
                    raise
                document, prov_format = fallback, "rdf"
        except UnicodeDecodeError as exc:
            raise InputError("not UTF-8 text", source=source, location=f"byte {exc.start}") from exc
        except RecursionError as exc:
            raise InputError("nested too deeply to read", source=source) from exc
        except Exception as exc:
            raise InputError(_message(exc), source=source, location=_location(exc)) from exc
    # Library deprecation notices (rdflib's own API) say nothing about the document.
    notes = [str(w.message) for w in caught if not issubclass(w.category, DeprecationWarning)]
    if warnings_out is not None:
        warnings_out.extend(notes)
    if not document.get_records() and not document.has_bundles():
        _check_empty(path, data, prov_format, options, notes)
    return document


def _check_empty(path: Path, data: bytes, prov_format: str, options: dict[str, str],
                 notes: list[str]) -> None:
    """An empty result is fine for an explicit, empty PROV document, an error otherwise.

    prov reads an empty RDF graph, RDF with no PROV vocabulary, and XML with a foreign root as
    empty documents without complaint; for a lineage import these are wrong input.
    """
    reason: str | None = None
    if prov_format == "rdf":
        reason = "no PROV statements found"
    elif prov_format == "xml":
        # The parse succeeded, so the first start tag is the root element.
        head = data[:8192].decode("utf-8", errors="replace")
        root = re.search(r"<(?![?!])([\w.\-]+:)?([\w.\-]+)", head)
        if root is None or root.group(2) != "document" or _PROV_NS not in head:
            name = root.group(0)[1:] if root else "?"
            reason = f"the XML root element is <{name}>, not a PROV document"
    if reason:
        detail = f" ({'; '.join(notes)[:300]})" if notes else ""
        raise InputError(reason + detail, source=str(path))


def check_kinds(elements: list[Element], relations: list[Relation], source: str) -> None:
    """Refuse a document that gives one identifier two kinds, or a relation an end of the wrong kind.

    PROV-DM gives every identifier one kind, and each relation's formal arguments theirs (``used``
    joins an Activity to an Entity). Ids that the document never declares take the kind their
    relations give them, so two relations disagreeing about one is a conflict too. The error names
    both sides. (Conflicts with what other sources said are the store's to find.)
    """
    declared: dict[str, ElementKind] = {}
    for element in elements:
        seen = declared.setdefault(element.id, element.kind)
        if seen is not element.kind:
            raise InputError(f"{element.id} is declared both as an {seen.value} and as an {element.kind.value}; "
                             "PROV gives every identifier one kind", source=source)
    implied: dict[str, tuple[ElementKind, str]] = {}
    for relation in relations:
        name = relation.type.value.lower()
        for end, want, role in ((relation.start, relation.start_kind, relation.start_field),
                                (relation.end, relation.end_kind, relation.end_field)):
            if want is None:
                continue
            what = f"{name}({relation.start_field}={relation.start}, {relation.end_field}={relation.end})"
            have = declared.get(end)
            if have is not None and have is not want:
                raise InputError(f"{what}: the {role} must be an {want.value}, but {end} is declared as an "
                                 f"{have.value} (one kind per id; are the arguments swapped?)", source=source)
            if have is None:
                earlier = implied.setdefault(end, (want, what))
                if earlier[0] is not want:
                    raise InputError(f"{end} is an {earlier[0].value} in {earlier[1]} but an {want.value} in "
                                     f"{what}; PROV gives every identifier one kind", source=source)


# PROV-JSON from 1 MiB: measured on generated files, the streamed reader is as fast as the
# whole-document one at 0.9 MB and faster above (15.0-15.5 s against 18.9-19.7 s at 8.9 MB), in a
# fraction of the memory (216 MB against 731 MB at 8.9 MB: `prov`'s document is ~80 times the file).
STREAM_ABOVE_BYTES = {"json": 1024 * 1024, "rdf": 16 * 1024 * 1024}
"""By format: PROV-JSON and line- or triple-streamable RDF files at least this big are streamed
instead of parsed whole."""


def _named_errors(records: Iterator[GraphItem], source: str) -> Iterator[GraphItem]:
    """Pass ``records`` on; any parse or mapping failure becomes an InputError naming ``source``."""
    try:
        yield from records
    except (InputError, NotStreamable):
        raise
    except Exception as exc:
        raise InputError(_message(exc), source=source, location=_location(exc)) from exc


class ProvImporter:
    """Reads PROV files; one :class:`ImportUnit` per file.

    ``fmt`` forces a format name from :data:`FORMATS` for every file. Warnings ``prov`` gives
    while reading a file (values it will reject in future versions, untranslatable RDF) are kept
    in :attr:`warnings` by source. ``max_input_bytes`` caps each file's size (default: the setting).

    PROV-JSON files of 1 MiB or more, and Turtle, TriG, N-Triples and N-Quads files of 16 MiB or
    more (:data:`STREAM_ABOVE_BYTES`; ``stream_above`` sets one size for all formats) are
    streamed (see :mod:`lineagegraph.importers.provjson_stream` and
    :mod:`lineagegraph.importers.provrdf_stream`): memory stays bounded whatever their size, so
    ``max_input_bytes`` does not apply to them, and they are written chunk by chunk (a failure
    half-way leaves a ``failed`` run that records exactly what it wrote; see docs/architecture.md).
    """

    name = "prov"

    def __init__(self, fmt: str | None = None, *, max_input_bytes: int | None = None,
                 stream_above: int | None = None) -> None:
        self.fmt = fmt
        self.max_input_bytes = max_input_bytes
        self.stream_above = stream_above
        self.warnings: dict[str, list[str]] = {}

    @property
    def input_settings(self) -> str:
        """What besides a file's bytes decides its graph (see :mod:`lineagegraph.importers.base`):
        the forced format. Streamed or read whole, a file maps to the same graph."""
        return f"format={self.fmt or 'detected'}"

    def _streamed(self, path: Path) -> Iterator[GraphItem] | None:
        """The graph of a big PROV-JSON or RDF file as a stream, or None to read the file whole."""
        thresholds = (STREAM_ABOVE_BYTES if self.stream_above is None
                      else dict.fromkeys(STREAM_ABOVE_BYTES, self.stream_above))
        try:
            size = path.stat().st_size
            if size < min(thresholds.values()):  # too small to stream in any format: no need to look
                return None
            with path.open("rb") as stream:
                head = stream.read(8192).decode("utf-8", errors="replace")
        except OSError:
            return None  # the whole-document path reports it
        prov_format, options = detect_format(path, head, self.fmt)
        rdf_format = options.get("rdf_format", "")
        if size < thresholds.get(prov_format, size + 1):
            return None
        if prov_format == "json":
            records = _named_errors(stream_graph(path), str(path))
        elif prov_format == "rdf" and rdf_format in RDF_FORMATS:
            notes = self.warnings.setdefault(str(path), [])
            records = _named_errors(stream_rdf_graph(path, rdf_format, notes=notes), str(path))
        else:
            return None
        try:
            first = next(records)  # the first pass runs here: syntax errors surface before any write
        except StopIteration:
            return iter(())
        except NotStreamable as exc:
            if prov_format == "rdf":
                self.warnings.setdefault(str(path), []).append(f"read whole, not streamed: {exc}")
            return None
        return chain([first], records)

    def units(self, source: str) -> Iterator[ImportUnit]:
        if self.max_input_bytes is None:
            from lineagegraph.settings import load_settings

            self.max_input_bytes = load_settings().max_input_bytes
        streamed = self._streamed(Path(source))
        if streamed is not None:
            yield ImportUnit(source=source, records=streamed)
            return
        notes: list[str] = []
        document = load_document(Path(source), self.fmt, notes, max_input_bytes=self.max_input_bytes)
        if notes:
            self.warnings.setdefault(source, []).extend(notes)
        try:
            elements, relations = document_to_graph(document)
        except (ValueError, TypeError, RecursionError) as exc:
            raise InputError(" ".join(str(exc).split())[:500] or type(exc).__name__, source=source) from exc
        check_kinds(elements, relations, source)
        yield ImportUnit(source=source, elements=list(elements), relations=list(relations))
