"""Importer for W3C PROV documents: PROV-N, PROV-JSON, PROV-XML, PROV-JSONLD and PROV-O (RDF).

Each file is one import unit. The file is parsed completely by the ``prov`` package and mapped by
:mod:`lineagegraph.provcodec` before anything is written, so a malformed file raises one
:class:`~lineagegraph.errors.InputError` naming the file (and line/column when the parser knows
it) and leaves the graph untouched. The format comes from ``--format``, else the file extension,
else the first bytes of the content.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from prov.model import ProvDocument

from lineagegraph.errors import InputError
from lineagegraph.importers.base import ImportUnit
from lineagegraph.provcodec import IMPORT_FORMATS, document_to_graph, paused_gc, quiet_prov

__all__ = ["FORMATS", "ProvImporter", "detect_format", "load_document"]

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
    return ProvDocument.deserialize(content=data, format=prov_format, **options)


def _parse_or_none(data: bytes, prov_format: str, options: dict[str, str]) -> ProvDocument | None:
    try:
        return _parse(data, prov_format, options)
    except Exception:
        return None


def load_document(path: Path, fmt: str | None = None,
                  warnings_out: list[str] | None = None) -> ProvDocument:
    """Read and parse one PROV file; any failure becomes an :class:`InputError` naming it."""
    source = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror or exc}", source=source) from exc
    head = data[:8192].decode("utf-8", errors="replace")
    prov_format, options = detect_format(path, head, fmt)
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


class ProvImporter:
    """Reads PROV files; one :class:`ImportUnit` per file.

    ``fmt`` forces a format name from :data:`FORMATS` for every file. Warnings ``prov`` gives
    while reading a file (values it will reject in future versions, untranslatable RDF) are kept
    in :attr:`warnings` by source.
    """

    name = "prov"

    def __init__(self, fmt: str | None = None) -> None:
        self.fmt = fmt
        self.warnings: dict[str, list[str]] = {}

    def units(self, source: str) -> Iterator[ImportUnit]:
        notes: list[str] = []
        document = load_document(Path(source), self.fmt, notes)
        if notes:
            self.warnings[source] = notes
        try:
            elements, relations = document_to_graph(document)
        except ValueError as exc:
            raise InputError(str(exc), source=source) from exc
        yield ImportUnit(source=source, elements=list(elements), relations=list(relations))
