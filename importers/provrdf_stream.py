"""PROV-O as Turtle, TriG, N-Triples or N-Quads of any size: triples streamed, grouped on disk, mapped in chunks.

The whole-document path (rdflib parses the file into one in-memory graph, ``prov`` decodes it,
:func:`lineagegraph.provcodec.document_to_graph` maps it) holds the file several times over:
3.3 GB for a million Turtle triples. Here ``pyoxigraph`` parses the file as a stream of triples
and nothing of the document is held in Python:

1. **First pass.** Every triple goes into a temporary SQLite file next to nothing else (disk, not
   memory), keyed by its *group*: its subject, or, for a qualification node (the object of a
   ``prov:qualified*`` triple, a blank node usually), the subject that points to it. The pass
   also notes the prefixes, the namespaces ``prov``'s decoder will have to invent prefixes for
   (``ns1``, ``ns2``, ... for IRIs no prefix covers; N-Triples declares none) and in which order
   the whole-document decoder invents them, and the relation nodes nobody points to.
2. **Second pass.** The triples are read back sorted by group, so the triples of one subject need
   not be contiguous in the file; groups are packed into chunks of a few thousand triples, and
   each chunk is decoded by the very same code as the whole-document path (an rdflib dataset with
   the same prefixes, ``prov``'s PROV-O decoder, ``document_to_graph``), so the graph rows and
   their exact PROV encoding are identical.

Memory is bounded by one chunk plus what is held to keep results identical: the prefixes and
namespaces (a handful), SQLite's page cache, and the groups that must be decoded together because
a relation node nobody points to names a node that other triples speak about (PROV-O written by
``prov`` and most tools points to every qualification node; such groups are decoded as one chunk at
the start).

What cannot be guaranteed identical is refused before anything is yielded, with
:class:`NotStreamable` (the importer then reads the file whole and says so in the run's notes):
named graphs (PROV bundles), RDF-star triple terms, relative IRIs without a base, one namespace
under two prefixes or a prefix declared twice, a default prefix together with blank nodes
(``prov`` would name blank nodes in it, and blank node labels are the parser's choice),
qualification nodes shared or chained, and documents where the whole-document decoder would
invent prefixes in an order that depends on Python's hash seed (two or more namespaces first met
outside ``rdf:type`` triples).
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyoxigraph as ox
from prov.constants import PROV, PROV_BASE_CLS, XSD
from prov.model import ProvDocument
from prov.serializers.provrdf import RELATION_MAP, ProvRDFSerializer
from rdflib import RDF, BNode, Dataset, URIRef
from rdflib import Literal as RDFLiteral
from rdflib.namespace import split_uri

from lineagegraph.errors import InputError
from lineagegraph.importers.provjson_stream import NotStreamable
from lineagegraph.model import Element, Relation
from lineagegraph.process import paused_gc
from lineagegraph.provcodec import document_to_graph, quiet_prov

__all__ = ["RDF_FORMATS", "stream_rdf_graph"]

RDF_FORMATS: dict[str, ox.RdfFormat] = {
    "turtle": ox.RdfFormat.TURTLE, "trig": ox.RdfFormat.TRIG,
    "nt": ox.RdfFormat.N_TRIPLES, "nquads": ox.RdfFormat.N_QUADS,
}
"""rdflib format names (as the importer picks them) that this reader streams."""

_PROV = "http://www.w3.org/ns/prov#"
_RDF_TYPE = str(RDF.type)
_XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
_QUALIFIED = _PROV + "qualified"
# PROV-O classes the decoder gives a record type to, and which of them are relations.
_PROV_CLASSES = frozenset(qname.uri for qname in PROV_BASE_CLS)
_ELEMENT_CLASSES = frozenset(_PROV + name for name in (
    "Entity", "Activity", "Agent", "Person", "Organization", "SoftwareAgent", "Plan", "Collection",
    "EmptyCollection", "Bundle"))
_RELATION_CLASSES = _PROV_CLASSES - _ELEMENT_CLASSES
# PROV-O says these are agents; the whole-document path adds the rdf:type prov:Agent triple too.
_AGENT_SUBCLASSES = frozenset(_PROV + name for name in ("Person", "Organization", "SoftwareAgent"))
_AGENT = _PROV + "Agent"
_IRI, _BLANK, _LITERAL = 0, 1, 2


def _term_key(term: Any) -> tuple[int, str]:
    if isinstance(term, ox.NamedNode):
        return _IRI, term.value
    if isinstance(term, ox.BlankNode):
        return _BLANK, term.value
    raise NotStreamable("an RDF-star triple term is read whole")


def _literal_key(value: str, datatype: str | None, lang: str | None) -> str:
    return f"\x00{value}\x00{datatype}\x00{lang}"


def _node_key(kind: int, value: str) -> str:
    """One text key per IRI or blank node (blank node labels cannot start like an absolute IRI)."""
    return value if kind == _IRI else "_:" + value


class _Minting:
    """Which prefixes ``prov``'s decoder invents for IRIs no declared prefix covers, and in what order.

    The whole-document decoder first walks the ``rdf:type`` triples in rdflib's order (by object
    in order of first use, then by subject in file order), inventing ``nsN`` for the subjects (and
    non-PROV type objects) it cannot name; then every other triple in an order that depends on the
    hash seed. The first walk is replayed here with prov's own resolver on one IRI per namespace;
    for the second, one new namespace is fine (it gets the next number whatever the order), two
    are not.
    """

    def __init__(self) -> None:
        # rdf:type object -> {namespace key: first IRI under it}, both in order of first use.
        self.buckets: dict[str, dict[str, str]] = {}
        self.others: dict[str, str] = {}  # namespace key -> first IRI met outside the type walk
        # Every rdf:type object in order of first use: rdflib walks the type triples in this
        # order, and the first PROV class a subject meets there is its record type.
        self.type_rank: dict[str, int] = {}

    @staticmethod
    def namespace_key(iri: str) -> str:
        try:
            return str(split_uri(iri)[0])
        except ValueError:
            cut = max(iri.rfind("#"), iri.rfind("/"))
            return iri[:cut + 1] if cut >= 0 else iri

    def typed(self, subject: tuple[int, str], obj: tuple[int, str] | None, rank_key: str) -> None:
        """An ``rdf:type`` triple (``obj`` None for a literal type); ``rank_key`` names its object."""
        self.type_rank.setdefault(rank_key, len(self.type_rank))
        if obj is None or obj[0] != _IRI:
            return
        bucket = self.buckets.setdefault(obj[1], {})
        if obj[1] not in _PROV_CLASSES:
            bucket.setdefault(self.namespace_key(obj[1]), obj[1])  # another type: decoded as a value
        elif subject[0] == _IRI:
            bucket.setdefault(self.namespace_key(subject[1]), subject[1])  # the subject gets a name

    def other(self, iri: str) -> None:
        """An IRI the second walk decodes (predicate or object of an attribute of a typed subject)."""
        self.others.setdefault(self.namespace_key(iri), iri)

    def others_from(self, db: sqlite3.Connection) -> None:
        """Note the IRIs of the second walk: it decodes the predicates and IRI objects of the triples
        of typed subjects, except the binary relation triples (their ends are never named anew)."""
        skip = [_RDF_TYPE, *map(str, RELATION_MAP)]
        marks = ",".join("?" * len(skip))
        for (iri,) in db.execute(f"SELECT DISTINCT p FROM t WHERE p NOT IN ({marks}) "  # noqa: S608 - only ?s
                                 "AND g IN (SELECT node FROM typed)", skip):
            self.other(iri)
        for (iri,) in db.execute(f"SELECT DISTINCT o FROM t WHERE ok = 0 AND p NOT IN ({marks}) "  # noqa: S608
                                 "AND g IN (SELECT node FROM typed)", skip):
            self.other(iri)

    def invented(self, prefixes: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """The prefixes the whole-document decoder invents, in its order; NotStreamable if unknowable."""
        container = _dataset(prefixes, [])
        document = ProvDocument()
        decoder = ProvRDFSerializer(document)
        for prefix, uri in container.namespaces():
            document.add_namespace(prefix, str(uri))
        known = {ns.uri for ns in document.namespaces}
        order = list(self.buckets)
        # The agent inference adds rdf:type prov:Agent triples after parsing: their subjects join
        # the prov:Agent bucket (at the end of the object order if it was not there yet).
        extra = {k: v for o in order if o in _AGENT_SUBCLASSES for k, v in self.buckets[o].items()}
        if extra:
            agents = self.buckets.setdefault(_AGENT, {})
            for key, iri in extra.items():
                agents.setdefault(key, iri)
            if _AGENT not in order:
                order.append(_AGENT)
            self.type_rank.setdefault(_AGENT, len(self.type_rank))
        with quiet_prov():
            for obj in order:
                for iri in self.buckets[obj].values():
                    if decoder.valid_identifier(iri) is None:
                        decoder._resolve_iri(iri, container)  # the decoder's own naming rule
            first = {ns.uri for ns in document.namespaces} | {PROV.uri, XSD.uri}  # prov's own, never listed
            late = [iri for iri in self.others.values()
                    if not any(iri.startswith(uri) and iri != uri for uri in first)]
            if len({self.namespace_key(iri) for iri in late}) > 1:
                raise NotStreamable("the whole-document reader would name several namespaces in an order "
                                    "that depends on the hash seed")
            for iri in late:
                decoder._resolve_iri(iri, container)
        return [(ns.prefix, ns.uri) for ns in document.namespaces if ns.uri not in known]


def _dataset(prefixes: list[tuple[str, str]], triples: list[tuple[Any, Any, Any]]) -> Dataset:
    """An rdflib dataset as the whole-document path builds it: the default bindings, the file's, the triples."""
    container = Dataset(default_union=True)
    for prefix, uri in prefixes:
        container.bind(prefix, URIRef(uri))
    graph = container.default_graph
    for triple in triples:
        graph.add(triple)
    return container


def _rdflib_term(kind: int, value: str, datatype: str | None = None, lang: str | None = None) -> Any:
    if kind == _IRI:
        return URIRef(value)
    if kind == _BLANK:
        return BNode(value)
    if lang:
        return RDFLiteral(value, lang=lang)
    # pyoxigraph reports "x" as xsd:string; rdflib (and so prov) sees a plain literal.
    return RDFLiteral(value, datatype=URIRef(datatype) if datatype and datatype != _XSD_STRING else None)


class _Store:
    """The triples of one file in a temporary SQLite database, read back grouped."""

    def __init__(self, directory: str) -> None:
        self.db = sqlite3.connect(os.path.join(directory, "triples.sqlite"), isolation_level=None)
        self.db.executescript("""
            PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA temp_store=FILE;
            PRAGMA cache_size=-16000;
            CREATE TABLE t (g TEXT, seq INTEGER, sk INTEGER, s TEXT, p TEXT, ok INTEGER, o TEXT, dt TEXT, lang TEXT);
            CREATE TABLE alias (node TEXT, root TEXT);
            CREATE TABLE rel (node TEXT);
            CREATE TABLE typed (node TEXT);
        """)
        self.db.execute("BEGIN")

    def close(self) -> None:
        self.db.close()


def _first_pass(path: Path, rdf_format: str, store: _Store) -> tuple[list[tuple[str, str]], dict[str, int]]:
    """Parse the file into ``store``; the prefixes to bind in every chunk, and the rank of each type."""
    minting = _Minting()
    parser = ox.parse(path=str(path), format=RDF_FORMATS[rdf_format], rename_blank_nodes=False)
    prefixes: dict[str, str] = {}
    rows: list[tuple[Any, ...]] = []
    blank_seen = False
    seq = 0
    insert = "INSERT INTO t VALUES (?,?,?,?,?,?,?,?,?)"
    try:
        for quad in parser:
            if not isinstance(quad.graph_name, ox.DefaultGraph):
                raise NotStreamable("a document with named graphs (PROV bundles) is read whole")
            sk, s = _term_key(quad.subject)
            p = quad.predicate.value
            obj = quad.object
            subject_key = _node_key(sk, s)
            dt: str | None = None
            lang: str | None = None
            if isinstance(obj, ox.Literal):
                ok, o = _LITERAL, obj.value
                dt, lang = obj.datatype.value, obj.language
                if p == _RDF_TYPE:
                    minting.typed((sk, s), None, _literal_key(o, dt, lang))
            else:
                ok, o = _term_key(obj)
                if p == _RDF_TYPE:
                    minting.typed((sk, s), (ok, o), _node_key(ok, o))
                    if ok == _IRI and o in _RELATION_CLASSES:
                        store.db.execute("INSERT INTO rel VALUES (?)", (subject_key,))
                    if ok == _IRI and o in _PROV_CLASSES:
                        store.db.execute("INSERT INTO typed VALUES (?)", (subject_key,))
                if p.startswith(_QUALIFIED):
                    store.db.execute("INSERT INTO alias VALUES (?,?)", (_node_key(ok, o), subject_key))
            blank_seen = blank_seen or sk == _BLANK or ok == _BLANK
            rows.append((subject_key, seq, sk, s, p, ok, o, dt, lang))
            seq += 1
            if len(rows) >= 10_000:
                store.db.executemany(insert, rows)
                rows.clear()
                _check_prefixes(prefixes, parser.prefixes)
    except SyntaxError as exc:
        if "No scheme found" in str(exc):
            # rdflib resolves a relative IRI against the working directory; only it can say the same.
            raise NotStreamable("relative IRIs are read whole") from exc
        location = f"{exc.lineno}:{exc.offset}" if exc.lineno else None
        raise InputError(" ".join(str(exc).split())[:500], source=str(path), location=location) from exc
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror or exc}", source=str(path)) from exc
    store.db.executemany(insert, rows)
    _check_prefixes(prefixes, parser.prefixes)
    if "" in prefixes and blank_seen:
        raise NotStreamable("a default prefix with blank nodes is read whole")
    if len(set(prefixes.values())) < len(prefixes):
        raise NotStreamable("one namespace under two prefixes is read whole")
    store.db.execute("COMMIT")
    store.db.executescript("CREATE INDEX t_g ON t(g); CREATE INDEX typed_node ON typed(node);")
    minting.others_from(store.db)
    bound = list(prefixes.items())
    invented = minting.invented(bound)
    return bound + invented, minting.type_rank


def _check_prefixes(known: dict[str, str], now: dict[str, str]) -> None:
    """Collect the prefixes; a prefix bound to another namespace later in the file is not streamable."""
    for prefix, uri in now.items():
        if known.setdefault(prefix, uri) != uri:
            raise NotStreamable(f"the prefix {prefix!r} is declared twice")


def _group(store: _Store) -> None:
    """Give every triple its final group (see the module docstring)."""
    db = store.db
    db.execute("CREATE INDEX alias_node ON alias(node)")
    shared = db.execute("""SELECT 1 FROM alias GROUP BY node HAVING count(DISTINCT root) > 1
                           UNION ALL SELECT 1 FROM alias a JOIN alias b ON a.root = b.node LIMIT 1""").fetchone()
    if shared:
        raise NotStreamable("a qualification node shared by two subjects, or chained, is read whole")
    # Relation nodes nobody points to may name a node that other triples speak about (a relation
    # with one end lives on the node at that end): their groups and those nodes' are held together.
    db.executescript("""
        BEGIN;
        UPDATE t SET g = (SELECT root FROM alias WHERE node = t.g) WHERE g IN (SELECT node FROM alias);
        CREATE TEMP TABLE touched AS
            SELECT DISTINCT t.g AS q, t.o AS id FROM t JOIN rel ON t.g = rel.node
            WHERE t.ok = 0 AND t.p != 'http://www.w3.org/1999/02/22-rdf-syntax-ns#type'
              AND rel.node NOT IN (SELECT node FROM alias);
        CREATE TEMP TABLE held_ids AS
            SELECT id FROM touched GROUP BY id
            HAVING count(*) > 1 OR id IN (SELECT g FROM t) OR id IN (SELECT node FROM alias);
        CREATE TEMP TABLE held AS
            SELECT q AS g FROM touched WHERE id IN (SELECT id FROM held_ids)
            UNION SELECT coalesce((SELECT root FROM alias WHERE node = id), id) FROM held_ids;
        UPDATE t SET g = '' WHERE g IN (SELECT g FROM held);
        COMMIT;
    """)


def _chunks(store: _Store, chunk_triples: int) -> Iterator[list[tuple[Any, ...]]]:
    """Whole groups, packed into chunks of about ``chunk_triples`` triples (the held group first)."""
    chunk: list[tuple[Any, ...]] = []
    group: str | None = None
    rows = store.db.execute("SELECT g, sk, s, p, ok, o, dt, lang FROM t ORDER BY g, seq")
    for row in rows:
        if row[0] != group:
            if len(chunk) >= chunk_triples or group == "":
                yield chunk
                chunk = []
            group = row[0]
        chunk.append(row)
    if chunk:
        yield chunk


def _decode(prefixes: list[tuple[str, str]], type_rank: dict[str, int], rows: list[tuple[Any, ...]],
            notes: list[str]) -> tuple[list[Element], list[Relation]]:
    """Map one chunk exactly as the whole-document path maps a file."""
    typed: list[tuple[int, int, tuple[Any, Any, Any]]] = []
    other: list[tuple[Any, Any, Any]] = []
    agent = URIRef(_AGENT)
    for _g, sk, s, p, ok, o, dt, lang in rows:
        triple = (_rdflib_term(sk, s), URIRef(p), _rdflib_term(ok, o, dt, lang))
        if p != _RDF_TYPE:
            other.append(triple)
            continue
        key = _literal_key(o, dt, lang) if ok == _LITERAL else _node_key(ok, o)
        typed.append((type_rank.get(key, 0), len(typed), triple))
        if o in _AGENT_SUBCLASSES:  # what the whole-document path infers, where it puts it
            typed.append((type_rank.get(_AGENT, 0), len(typed), (triple[0], RDF.type, agent)))
    # The type triples go in first, in the order rdflib walks them in the whole document.
    container = _dataset(prefixes, [t for _r, _i, t in sorted(typed, key=lambda x: (x[0], x[1]))] + other)
    with quiet_prov() as caught:
        document = ProvDocument()
        ProvRDFSerializer(document).decode_document(container, document)
        elements, relations = document_to_graph(document)
    for warning in caught:
        if not issubclass(warning.category, DeprecationWarning) and str(warning.message) not in notes:
            notes.append(str(warning.message))
    return elements, relations


def stream_rdf_graph(path: Path, rdf_format: str, *, chunk_triples: int = 20_000,
                     notes: list[str] | None = None) -> Iterator[Element | Relation]:
    """The graph of the PROV-O file at ``path``, chunk by chunk (see the module docstring).

    ``rdf_format`` is one of :data:`RDF_FORMATS`. The first pass runs before anything is
    yielded: a syntax error is an :class:`InputError` naming the file, line and column, and a
    document this reader cannot map identically raises :class:`NotStreamable`. Warnings of the
    decoder are added to ``notes``. An empty result is an :class:`InputError`, as on the
    whole-document path.
    """
    notes = notes if notes is not None else []
    with tempfile.TemporaryDirectory(prefix="lineagegraph-rdf-") as directory:
        store = _Store(directory)
        try:
            prefixes, type_rank = _first_pass(path, rdf_format, store)
            _group(store)
            produced = 0
            for rows in _chunks(store, chunk_triples):
                with paused_gc():
                    elements, relations = _decode(prefixes, type_rank, rows, notes)
                produced += len(elements) + len(relations)
                yield from elements
                yield from relations
            if not produced:
                raise InputError("no PROV statements found", source=str(path))
        finally:
            store.close()
