"""Conversion between W3C PROV documents (``prov.model.ProvDocument``) and the lineage graph.

Reading (:func:`document_to_graph`) turns every PROV record into lineagegraph models: elements
become ``Entity``/``Activity``/``Agent`` nodes whose ``id`` is the expanded qualified name (the
full URI), relations become relationships of the matching :class:`~lineagegraph.model.RelationType`.
Each node and relationship gets readable properties (``label``, ``prov_type``, ``qname``,
``bundles``, attributes by name) for people and queries, plus ``prov_attrs``: a JSON string holding
the exact records (type, identifier, every typed attribute value, bundle) so that writing
(:func:`subgraph_to_document`) rebuilds a document equal to the one read. Nodes written by other
importers have no ``prov_attrs``; they are written from their plain properties, in the
lineagegraph namespace (:data:`LG`).

The mapping is described in ``docs/prov.md``. Serialisation formats (names, detection, reading and
writing through the ``prov`` package) live here too, so that importer and export agree on them.
"""

from __future__ import annotations

import datetime
import io
import json
import logging
import re
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prov.constants import (
    PROV,
    PROV_ALTERNATE,
    PROV_ASSOCIATION,
    PROV_ATTR_ENDTIME,
    PROV_ATTR_STARTTIME,
    PROV_ATTRIBUTION,
    PROV_COMMUNICATION,
    PROV_DELEGATION,
    PROV_DERIVATION,
    PROV_END,
    PROV_GENERATION,
    PROV_INFLUENCE,
    PROV_INVALIDATION,
    PROV_LABEL,
    PROV_MEMBERSHIP,
    PROV_MENTION,
    PROV_N_MAP,
    PROV_RECORD_IDS_MAP,
    PROV_SPECIALIZATION,
    PROV_START,
    PROV_TYPE,
    PROV_USAGE,
)
from prov.identifier import Identifier, Namespace, QualifiedName
from prov.model import (
    PROV_REC_CLS,
    Literal,
    ProvActivity,
    ProvBundle,
    ProvDocument,
    ProvElement,
    ProvRecord,
)

from lineagegraph.errors import QueryError
from lineagegraph.model import (
    RELATION_MODELS,
    ActedOnBehalfOf,
    Activity,
    Agent,
    AlternateOf,
    DerivationType,
    Element,
    ElementKind,
    Entity,
    HadMember,
    Relation,
    RelationType,
    SpecializationOf,
    Used,
    WasAssociatedWith,
    WasAttributedTo,
    WasDerivedFrom,
    WasEndedBy,
    WasGeneratedBy,
    WasInfluencedBy,
    WasInformedBy,
    WasInvalidatedBy,
    WasStartedBy,
)
from lineagegraph.process import paused_gc
from lineagegraph.redaction import REDACTED, is_secret_key, redact, redact_value
from lineagegraph.subgraph import BOOKKEEPING, GraphNode, GraphRelationship, Subgraph

__all__ = [
    "EXPORT_FORMATS",
    "IMPORT_FORMATS",
    "LG",
    "LG_ID",
    "document_to_graph",
    "quiet_prov",
    "serialize_document",
    "subgraph_to_document",
]

LG = Namespace("lg", "urn:lineagegraph:")
"""Attributes in this namespace map to plain properties by local name, both ways."""
LG_ID = Namespace("lgid", "urn:lineagegraph:id:")
"""Identifiers of exported nodes whose id is not a URI; reading strips the namespace again."""

# Serialisation names accepted on the command line -> (prov format, keyword arguments).
IMPORT_FORMATS: dict[str, tuple[str, dict[str, str]]] = {
    "provn": ("provn", {}),
    "json": ("json", {}),
    "xml": ("xml", {}),
    "rdf": ("rdf", {"rdf_format": "trig"}),
    "ttl": ("rdf", {"rdf_format": "turtle"}),
    "trig": ("rdf", {"rdf_format": "trig"}),
    "jsonld": ("jsonld", {}),
}
EXPORT_FORMATS: dict[str, tuple[str, dict[str, str]]] = dict(IMPORT_FORMATS)

# Element records -> node kind.
_ELEMENT_KINDS: dict[QualifiedName, ElementKind] = {
    PROV["Entity"]: ElementKind.ENTITY,
    PROV["Activity"]: ElementKind.ACTIVITY,
    PROV["Agent"]: ElementKind.AGENT,
}
_KIND_MODELS: dict[ElementKind, type[Element]] = {
    ElementKind.ENTITY: Entity, ElementKind.ACTIVITY: Activity, ElementKind.AGENT: Agent,
}
# Relation records -> relation model. mentionOf is a specialisation that names a bundle.
_RELATION_CLASSES: dict[QualifiedName, type[Relation]] = {
    PROV_USAGE: Used, PROV_GENERATION: WasGeneratedBy, PROV_DERIVATION: WasDerivedFrom,
    PROV_COMMUNICATION: WasInformedBy, PROV_ASSOCIATION: WasAssociatedWith,
    PROV_ATTRIBUTION: WasAttributedTo, PROV_DELEGATION: ActedOnBehalfOf, PROV_START: WasStartedBy,
    PROV_END: WasEndedBy, PROV_INVALIDATION: WasInvalidatedBy,
    PROV_SPECIALIZATION: SpecializationOf, PROV_ALTERNATE: AlternateOf,
    PROV_MEMBERSHIP: HadMember, PROV_INFLUENCE: WasInfluencedBy, PROV_MENTION: SpecializationOf,
}
_RECORD_TYPES: dict[RelationType, QualifiedName] = {
    cls.type: rtype for rtype, cls in _RELATION_CLASSES.items() if rtype != PROV_MENTION
}
_DERIVATION_TYPES: dict[QualifiedName, DerivationType] = {
    PROV["Revision"]: DerivationType.REVISION,
    PROV["Quotation"]: DerivationType.QUOTATION,
    PROV["PrimarySource"]: DerivationType.PRIMARY_SOURCE,
}
_DERIVATION_QNAMES = {v: k for k, v in _DERIVATION_TYPES.items()}
_EXTRA_LABEL_TYPES: dict[QualifiedName, str] = {
    PROV["Plan"]: "Plan", PROV["Collection"]: "Collection", PROV["EmptyCollection"]: "Collection",
}
_AGENT_TYPES = frozenset({PROV["Person"], PROV["Organization"], PROV["SoftwareAgent"]})
# PROV attributes with a short property name of their own.
_PROV_PROPERTY_NAMES: dict[QualifiedName, str] = {
    PROV["location"]: "location", PROV["role"]: "role", PROV["value"]: "value",
}
_ACTIVITY_TIMES = {PROV_ATTR_STARTTIME: "started_at", PROV_ATTR_ENDTIME: "ended_at"}

# Property names an attribute may never take: bookkeeping, typed model fields, and the relation
# qualifiers. An attribute whose natural name is one of these keeps its full URI as its name.
_RESERVED = frozenset({
    "id", "key", "label", "prov_type", "qname", "bundles", "prov_attrs", "prov_id",
    "prov_partial", *BOOKKEEPING,
    "started_at", "ended_at", "agent_type", "derivation_type",
    "time", "activity", "entity", "agent", "plan", "generation", "usage", "starter", "ender",
    "trigger", "informed", "informant", "delegate", "responsible", "influencee", "influencer",
    "specific", "general", "alternate1", "alternate2", "collection", "generated_entity",
    "used_entity", "bundle", "prov_relation",
})
_INT64 = 2**63 - 1


def _relation_fields(cls: type[Relation]) -> list[str]:
    """The model's formal-argument fields, in PROV-DM order (as prov's FORMAL_ATTRIBUTES)."""
    return [f for f in cls.model_fields if f not in ("id", "attributes", "derivation_type")]


_FIELDS: dict[type[Relation], list[str]] = {
    cls: _relation_fields(cls) for cls in RELATION_MODELS.values()
}


# -- reading -----------------------------------------------------------------------------------


def node_id(qname: Identifier) -> str:
    """The graph id of a PROV identifier: its full URI (lineagegraph's own ids unwrapped)."""
    uri = _clean_uri(qname.uri)
    return uri[len(LG_ID.uri):] if uri.startswith(LG_ID.uri) else uri


def _plain(value: Any) -> Any:
    """A readable property value for one PROV attribute value."""
    if isinstance(value, bool | float | str | datetime.datetime):
        return value
    if isinstance(value, int):
        return value if -_INT64 - 1 <= value <= _INT64 else str(value)
    if isinstance(value, QualifiedName):
        return str(value)
    if isinstance(value, Identifier):
        return value.uri
    if isinstance(value, Literal):
        return value.value
    return str(value)


def _property_name(attr: QualifiedName) -> str:
    name = _PROV_PROPERTY_NAMES.get(attr)
    if name is None:
        name = attr.localpart if attr.namespace.uri == LG.uri else str(attr)
    return attr.uri if name in _RESERVED or not name else name


def _canonical(pairs: Iterable[tuple[QualifiedName, Any]]) -> list[tuple[QualifiedName, Any]]:
    """A record's attributes in a fixed order.

    prov keeps attributes in sets, whose order changes with Python's hash seed; without this an
    unchanged file imported by another process would look changed.
    """
    return sorted((_redacted(name, value) for name, value in pairs),
                  key=lambda pair: (pair[0].uri, type(pair[1]).__name__, str(pair[1])))


def _redacted(name: QualifiedName, value: Any) -> tuple[QualifiedName, Any]:
    """The attribute with a secret-looking value replaced (see :mod:`lineagegraph.redaction`).

    Done before both encodings are built, so the exact one (``prov_attrs``) never holds it either.
    A content hash under a key such as ``digest`` or ``signature`` is kept.
    """
    key = name.localpart
    if isinstance(value, str):
        return name, redact(key, value)
    if isinstance(value, Literal) and isinstance(value.value, str):
        clean = redact(key, value.value)
        if clean != value.value:
            return name, Literal(clean, value.datatype, value.langtag)
        return name, value
    if is_secret_key(key):
        return name, REDACTED
    return name, value


def _clean_uri(uri: str) -> str:
    """A namespace or identifier URI without credentials (they would end up in node ids)."""
    return redact_value(uri) if "@" in uri else uri


class _Encoder:
    """Builds the exact JSON encoding of the records that share one node or relationship."""

    __slots__ = ("namespaces", "ns_index", "records")

    def __init__(self) -> None:
        self.namespaces: list[list[str]] = []
        # Keyed by object identity: a document shares its Namespace objects, and they all stay
        # alive while it is converted; equal namespaces under two objects just get two entries.
        self.ns_index: dict[int, int] = {}
        self.records: list[dict[str, Any]] = []

    def qref(self, qname: QualifiedName) -> list[Any]:
        ns = qname.namespace
        index = self.ns_index.get(id(ns))
        if index is None:
            index = self.ns_index[id(ns)] = len(self.namespaces)
            self.namespaces.append([ns.prefix, _clean_uri(ns.uri)])
        return [index, qname.localpart]

    def value(self, value: Any) -> Any:
        # JSON keeps str/bool/int/float apart exactly as prov does; everything else is tagged.
        if isinstance(value, str | bool | int | float):
            return value
        if isinstance(value, datetime.datetime):
            return {"dt": value.isoformat()}
        if isinstance(value, QualifiedName):
            return {"q": self.qref(value)}
        if isinstance(value, Identifier):
            return {"u": value.uri}
        if isinstance(value, Literal):
            return {"l": value.value,
                    "d": self.qref(value.datatype) if value.datatype is not None else None,
                    "g": value.langtag}
        return {"l": str(value), "d": None, "g": None}

    def add(self, record: ProvRecord, bundle: QualifiedName | None,
            pairs: list[tuple[QualifiedName, Any]]) -> None:
        entry: dict[str, Any] = {"t": PROV_N_MAP[record.get_type()],
                                 "b": self.qref(bundle) if bundle is not None else None}
        if record.identifier is not None:
            entry["i"] = self.qref(record.identifier)
        entry["a"] = [[self.qref(name), self.value(value)] for name, value in pairs]
        self.records.append(entry)

    def add_bundle(self, bundle: QualifiedName) -> None:
        """Record that the document has this bundle (so that an empty one is written too)."""
        self.records.append({"t": "bundle", "b": None, "i": self.qref(bundle)})

    def dumps(self) -> str:
        """The encoding, canonical: namespaces sorted by URI, records sorted, whatever the input order."""
        order = sorted(range(len(self.namespaces)), key=lambda i: (self.namespaces[i][1], self.namespaces[i][0]))
        if len(self.records) == 1 and order == list(range(len(order))):
            # The usual case, already canonical: one record, namespaces met in sorted order.
            return json.dumps({"ns": self.namespaces, "records": self.records},
                              ensure_ascii=False, separators=(",", ":"))
        new_index = {old: new for new, old in enumerate(order)}

        def remap(item: Any) -> Any:
            if isinstance(item, dict):
                return {k: (remap_qref(v) if k in ("q", "d", "b", "i") else remap(v)) for k, v in item.items()}
            if isinstance(item, list):
                return [remap(v) for v in item]
            return item

        def remap_qref(ref: Any) -> Any:
            return [new_index[ref[0]], ref[1]] if isinstance(ref, list) else ref

        records = []
        for record in self.records:
            entry = remap(record)
            if "a" in entry:
                entry["a"] = [[remap_qref(record_name), remap(value)] for record_name, value in record["a"]]
            records.append(entry)
        if len(records) > 1:
            records.sort(key=lambda r: json.dumps(r, sort_keys=True, ensure_ascii=False))
        return json.dumps({"ns": [self.namespaces[i] for i in order], "records": records},
                          ensure_ascii=False, separators=(",", ":"))


@dataclass
class _Properties:
    """Readable properties gathered from every record that lands on one node or relationship."""

    label: str | None = None
    prov_type: list[str] = field(default_factory=list)
    attributes: dict[str, list[Any]] = field(default_factory=dict)
    bundles: list[str] = field(default_factory=list)
    extra_labels: set[str] = field(default_factory=set)
    agent_type: str | None = None

    def add_bundle(self, bundle: QualifiedName | None) -> None:
        if bundle is not None and _clean_uri(bundle.uri) not in self.bundles:
            self.bundles.append(_clean_uri(bundle.uri))

    def add_attributes(self, pairs: Iterable[tuple[QualifiedName, Any]]) -> None:
        for name, value in pairs:
            if name == PROV_LABEL:
                if self.label is None:
                    self.label = _plain(value)
                continue
            if name == PROV_TYPE:
                text = str(_plain(value))
                if text not in self.prov_type:
                    self.prov_type.append(text)
                if isinstance(value, QualifiedName):
                    extra = _EXTRA_LABEL_TYPES.get(value)
                    if extra:
                        self.extra_labels.add(extra)
                    if value in _AGENT_TYPES and self.agent_type is None:
                        self.agent_type = value.localpart
                continue
            values = self.attributes.setdefault(_property_name(name), [])
            plain = _plain(value)
            if plain not in values:
                values.append(plain)

    def as_attributes(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: (v[0] if len(v) == 1 else v) for k, v in self.attributes.items()}
        if self.bundles:
            out["bundles"] = sorted(self.bundles)
        return out


@dataclass
class _NodeAcc:
    qname: QualifiedName
    kinds: list[ElementKind] = field(default_factory=list)
    props: _Properties = field(default_factory=_Properties)
    encoder: _Encoder = field(default_factory=_Encoder)
    times: dict[str, datetime.datetime] = field(default_factory=dict)
    partial: list[str] = field(default_factory=list)

    def add_kind(self, kind: ElementKind) -> None:
        if kind not in self.kinds:
            self.kinds.append(kind)


@dataclass
class _RelAcc:
    model: Relation
    props: _Properties = field(default_factory=_Properties)
    encoder: _Encoder = field(default_factory=_Encoder)


def _containers(doc: ProvDocument) -> Iterator[tuple[QualifiedName | None, ProvBundle]]:
    yield None, doc
    for bundle in doc.bundles:
        yield bundle.identifier, bundle


def document_to_graph(doc: ProvDocument) -> tuple[list[Element], list[Relation]]:
    """Map a PROV document onto node and relationship models (see ``docs/prov.md``).

    A relation whose optional end is missing (``wasGeneratedBy(e, -, t)``) cannot be an edge; it
    is kept on the node at its present end: readable in ``prov_partial`` (its PROV-N), exact in
    that node's ``prov_attrs``. A relation with no end at all is kept on its bundle's node; at
    the top level of a document it raises ``ValueError`` (PROV's grammar does not produce one).
    """
    with paused_gc():
        return _document_to_graph(doc)


def _document_to_graph(doc: ProvDocument) -> tuple[list[Element], list[Relation]]:
    nodes: dict[str, _NodeAcc] = {}
    rels: dict[tuple[Any, ...], _RelAcc] = {}

    def node(qname: QualifiedName) -> _NodeAcc:
        key = node_id(qname)
        acc = nodes.get(key)
        if acc is None:
            acc = nodes[key] = _NodeAcc(qname)
        return acc

    for bundle_id, container in _containers(doc):
        if bundle_id is not None:
            acc = node(bundle_id)
            acc.add_kind(ElementKind.ENTITY)
            acc.props.extra_labels.add("Bundle")
            acc.encoder.add_bundle(bundle_id)
        for record in container.get_records():
            if isinstance(record, ProvElement):
                _read_element(record, bundle_id, node)
            else:
                _read_relation(record, bundle_id, node, rels)

    elements: list[Element] = []
    for key, acc in nodes.items():
        attributes = acc.props.as_attributes()
        attributes["qname"] = str(acc.qname)
        attributes["prov_attrs"] = acc.encoder.dumps()
        if acc.partial:
            attributes["prov_partial"] = acc.partial
        for kind in acc.kinds or [ElementKind.ENTITY]:
            typed: dict[str, Any] = {}
            if kind is ElementKind.ACTIVITY:
                typed = dict(acc.times)
            elif kind is ElementKind.AGENT and acc.props.agent_type:
                typed["agent_type"] = acc.props.agent_type
            elements.append(_KIND_MODELS[kind](
                id=key, label=acc.props.label, prov_type=acc.props.prov_type,
                attributes=attributes, extra_labels=frozenset(acc.props.extra_labels), **typed,
            ))
    relations: list[Relation] = []
    for racc in rels.values():
        model = racc.model
        extra = racc.props.as_attributes()
        if racc.props.label is not None:
            extra["label"] = racc.props.label
        if racc.props.prov_type:
            extra["prov_type"] = racc.props.prov_type
        model.attributes = {**model.attributes, **extra, "prov_attrs": racc.encoder.dumps()}
        relations.append(model)
    return elements, relations


def _read_element(record: ProvElement, bundle_id: QualifiedName | None, node: Any) -> None:
    assert record.identifier is not None  # prov requires element identifiers
    acc: _NodeAcc = node(record.identifier)
    acc.add_kind(_ELEMENT_KINDS[record.get_type()])
    acc.props.add_bundle(bundle_id)
    pairs = _canonical(record.attributes)
    readable = pairs
    if isinstance(record, ProvActivity):
        for name, value in pairs:
            prop = _ACTIVITY_TIMES.get(name)
            if prop and isinstance(value, datetime.datetime):
                acc.times.setdefault(prop, value)
        readable = [(n, v) for n, v in pairs if n not in _ACTIVITY_TIMES]
    acc.props.add_attributes(readable)
    acc.encoder.add(record, bundle_id, pairs)


def _read_relation(record: ProvRecord, bundle_id: QualifiedName | None, node: Any,
                   rels: dict[tuple[Any, ...], _RelAcc]) -> None:
    rtype = record.get_type()
    cls = _RELATION_CLASSES[rtype]
    fields = _FIELDS[cls]
    kwargs: dict[str, Any] = {}
    ends: dict[str, QualifiedName] = {}
    formal = record.formal_attributes
    for fname, (_attr, value) in zip(fields, formal, strict=False):
        if value is None:
            continue
        if isinstance(value, QualifiedName):
            ends[fname] = value
            kwargs[fname] = node_id(value)
        else:
            kwargs[fname] = value
    formal_names = record.FORMAL_ATTRIBUTES
    pairs = _canonical(record.attributes)
    extra_pairs = [(n, v) for n, v in pairs if n not in formal_names]
    attributes: dict[str, Any] = {}
    if rtype == PROV_MENTION:
        bundle_ref = formal[2][1]
        attributes["prov_relation"] = "mentionOf"
        if bundle_ref is not None:
            attributes["bundle"] = node_id(bundle_ref)
    if cls is WasDerivedFrom:
        for _name, value in extra_pairs:
            if _name == PROV_TYPE and value in _DERIVATION_TYPES:
                kwargs["derivation_type"] = _DERIVATION_TYPES[value]
                break
    start, end = ends.get(cls.start_field), ends.get(cls.end_field)
    if start is None or end is None:
        # No edge without both ends: the record lives on the node it still names.
        present = start or end or bundle_id
        if present is None:
            raise ValueError(f"relation without any end: {record.get_provn()}")
        acc: _NodeAcc = node(present)
        if start is not None or end is not None:
            kind = cls.start_kind if start is not None else cls.end_kind
            if kind is not None and not acc.kinds:
                acc.add_kind(kind)
        acc.partial.append(record.get_provn())
        acc.encoder.add(record, bundle_id, pairs)
        return
    if record.identifier is not None:
        kwargs["id"] = node_id(record.identifier)
    model = cls(attributes=attributes, **kwargs)
    group = (cls, model.start, model.end, model.key())
    racc = rels.get(group)
    if racc is None:
        racc = rels[group] = _RelAcc(model)
    racc.props.add_bundle(bundle_id)
    racc.props.add_attributes(extra_pairs)
    racc.encoder.add(record, bundle_id, pairs)


# -- writing -----------------------------------------------------------------------------------


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_SPLIT = re.compile(r"^(.*[/#:?=])([^/#:?=]*)$")
# Properties that are not PROV attributes of a plain (non-PROV) node on export.
_NOT_EXPORTED = BOOKKEEPING | {"id", "qname", "bundles", "label", "prov_type", "prov_id", "prov_partial"}


def _native(value: Any) -> Any:
    """Neo4j driver temporal values -> Python values (other values unchanged)."""
    to_native = getattr(value, "to_native", None)
    return to_native() if callable(to_native) else value


class _Writer:
    """Adds records to a document, creating bundles and namespaces as they are needed."""

    def __init__(self) -> None:
        self.doc = ProvDocument()
        self.bundles: dict[str, ProvBundle] = {}
        self.generated: dict[str, Namespace] = {}
        self.qnames: dict[str, QualifiedName] = {}

    def container(self, bundle: QualifiedName | None) -> ProvBundle:
        if bundle is None:
            return self.doc
        found = self.bundles.get(bundle.uri)
        if found is None:
            found = self.bundles[bundle.uri] = self.doc.bundle(bundle)
        return found

    def add_encoded(self, raw: str) -> None:
        data = json.loads(raw)
        namespaces = [Namespace(prefix, uri) for prefix, uri in data["ns"]]

        def qname(ref: list[Any]) -> QualifiedName:
            return namespaces[int(ref[0])][str(ref[1])]

        def value(enc: Any) -> Any:
            if not isinstance(enc, dict):
                return enc
            if "dt" in enc:
                return datetime.datetime.fromisoformat(enc["dt"])
            if "q" in enc:
                return qname(enc["q"])
            if "u" in enc:
                return Identifier(enc["u"])
            datatype = qname(enc["d"]) if enc["d"] is not None else None
            return Literal(enc["l"], datatype, enc["g"])

        for entry in data["records"]:
            identifier = qname(entry["i"]) if "i" in entry else None
            if entry["t"] == "bundle":
                assert identifier is not None
                self.container(identifier)
                continue
            bundle = qname(entry["b"]) if entry["b"] is not None else None
            pairs = [(qname(n), value(v)) for n, v in entry["a"]]
            self.container(bundle).new_record(PROV_RECORD_IDS_MAP[entry["t"]], identifier, pairs)

    def qname_for(self, node: GraphNode | None, node_id_: str) -> QualifiedName:
        """The qualified name a node is written with."""
        known = self.qnames.get(node_id_)
        if known is not None:
            return known
        qname: QualifiedName | None = None
        raw = node.properties.get("prov_attrs") if node is not None else None
        if raw:
            data = json.loads(raw)
            for entry in data["records"]:
                ref = entry.get("i")
                if ref:
                    prefix, uri = data["ns"][ref[0]]
                    candidate = Namespace(prefix, uri)[ref[1]]
                    if node_id(candidate) == node_id_:
                        qname = candidate
                        break
        if qname is None:
            qname = self._generated_qname(node_id_)
        self.qnames[node_id_] = qname
        return qname

    def _generated_qname(self, ident: str) -> QualifiedName:
        match = _SPLIT.match(ident) if _SCHEME.match(ident) else None
        if match is None:
            return LG_ID[ident]
        base, local = match.group(1), match.group(2)
        ns = self.generated.get(base)
        if ns is None:
            ns = self.generated[base] = Namespace(f"ns{len(self.generated) + 1}", base)
        return ns[local]

    def plain_attributes(self, props: dict[str, Any]) -> list[tuple[QualifiedName, Any]]:
        pairs: list[tuple[QualifiedName, Any]] = []
        if props.get("label") is not None:
            pairs.append((PROV_LABEL, str(props["label"])))
        for ptype in props.get("prov_type") or []:
            text = str(ptype)
            pairs.append((PROV_TYPE, PROV[text[5:]] if text.startswith("prov:") else text))
        for name, value in sorted(props.items()):
            if name in _NOT_EXPORTED or value is None:
                continue
            attr = LG[name] if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]*", name) else LG[
                re.sub(r"[^A-Za-z0-9_.\-]", "_", name)]
            for item in value if isinstance(value, list) else [value]:
                pairs.append((attr, _native(item)))
        return pairs

    def add_plain_node(self, node: GraphNode) -> None:
        qname = self.qname_for(node, node.id)
        props = dict(node.properties)
        kinds = [k for k in ElementKind if k.value in node.labels]
        for kind in kinds:
            if kind is ElementKind.ACTIVITY:
                start, end = _native(props.get("started_at")), _native(props.get("ended_at"))
                rest = {k: v for k, v in props.items() if k not in ("started_at", "ended_at")}
                self.doc.activity(qname, start if isinstance(start, datetime.datetime) else None,
                                  end if isinstance(end, datetime.datetime) else None,
                                  self.plain_attributes(rest))
            elif kind is ElementKind.AGENT:
                self.doc.agent(qname, self.plain_attributes(props))
            else:
                self.doc.entity(qname, self.plain_attributes(props))

    def add_plain_relation(self, rel: GraphRelationship, start: QualifiedName,
                           end: QualifiedName, nodes: dict[str, GraphNode]) -> None:
        try:
            rel_type = RelationType(rel.type)
        except ValueError:
            return  # not a PROV relationship (bookkeeping of another module)
        cls = RELATION_MODELS[rel_type]
        rtype = _RECORD_TYPES[rel_type]
        props = dict(rel.properties)
        formal: list[tuple[QualifiedName, Any]] = []
        formal_names = PROV_REC_CLS[rtype].FORMAL_ATTRIBUTES
        for fname, attr in zip(_FIELDS[cls], formal_names, strict=False):
            if fname == cls.start_field:
                formal.append((attr, start))
            elif fname == cls.end_field:
                formal.append((attr, end))
            elif props.get(fname) is not None:
                value = _native(props.pop(fname))
                if isinstance(value, str) and fname != "time":
                    value = self.qname_for(nodes.get(value), value)
                formal.append((attr, value))
        derivation = props.pop("derivation_type", None)
        extra = self.plain_attributes(props)
        if derivation:
            try:
                extra.insert(0, (PROV_TYPE, _DERIVATION_QNAMES[DerivationType(derivation)]))
            except ValueError:
                extra.append((LG["derivation_type"], str(derivation)))
        self.doc.new_record(rtype, None, formal, extra)


def subgraph_to_document(subgraph: Subgraph) -> ProvDocument:
    """Write a subgraph as a PROV document.

    Nodes and relationships read from PROV are rebuilt exactly from ``prov_attrs``. Others are
    written from their properties: ``label`` and ``prov_type`` as ``prov:label``/``prov:type``,
    anything else as an attribute in the lineagegraph namespace (``lg:``). Stub nodes (referenced
    but never declared) are not declared.
    """
    writer = _Writer()
    nodes = {n.id: n for n in subgraph.nodes}
    with quiet_prov():
        for node in subgraph.nodes:
            raw = node.properties.get("prov_attrs")
            if raw:
                writer.add_encoded(str(raw))
            elif not node.properties.get("stub") and node.kind is not None:
                writer.add_plain_node(node)
        for rel in subgraph.relationships:
            raw = rel.properties.get("prov_attrs")
            if raw:
                writer.add_encoded(str(raw))
            else:
                start = writer.qname_for(nodes.get(rel.start), rel.start)
                end = writer.qname_for(nodes.get(rel.end), rel.end)
                writer.add_plain_relation(rel, start, end, nodes)
    return writer.doc


# -- formats -----------------------------------------------------------------------------------


@contextmanager
def quiet_prov() -> Iterator[list[warnings.WarningMessage]]:
    """Collect prov's warnings and silence rdflib's conversion logging for the block."""
    rdflib_logger = logging.getLogger("rdflib.term")
    previous = rdflib_logger.level
    rdflib_logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield caught
    finally:
        rdflib_logger.setLevel(previous)


def serialize_document(doc: ProvDocument, fmt: str = "provn") -> str:
    """Serialise ``doc`` in one of :data:`EXPORT_FORMATS`."""
    if fmt not in EXPORT_FORMATS:
        raise QueryError(f"unknown PROV format {fmt!r}; choose from {', '.join(EXPORT_FORMATS)}")
    prov_format, options = EXPORT_FORMATS[fmt]
    if options.get("rdf_format") == "turtle" and doc.has_bundles():
        raise QueryError("Turtle has no named graphs, so it cannot hold PROV bundles; "
                         "use --format trig (or rdf)")
    extra: dict[str, Any] = dict(options)
    if prov_format in ("json", "jsonld"):
        extra["indent"] = 2
    if prov_format in ("xml", "rdf"):
        doc = _writable(doc, xml=prov_format == "xml")
    buffer = io.StringIO()
    with quiet_prov():
        doc.serialize(buffer, format=prov_format, **extra)
    return buffer.getvalue()


# An XML name without a colon (NCName), which XML and Turtle both accept as a prefix.
_NCNAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*(?<!\.)")
# Characters an IRI may not contain (RFC 3987), which rdflib refuses or writes invalid Turtle for.
_NOT_IRI = re.compile(r'[\x00-\x20<>"{}|\\^`\x7f]')


def _writable(doc: ProvDocument, *, xml: bool) -> ProvDocument:
    """``doc`` itself, or a copy that RDF and XML writers can express.

    Namespace prefixes that are not XML names (``1bad``, ``x y``) get a valid one of their own;
    IRIs with spaces and other characters IRIs may not hold are percent-encoded. PROV-XML also
    writes attribute names as element names, so an attribute whose local part is not an XML name
    cannot be written: that is a :class:`QueryError` naming it and the formats that can.
    """
    prefixes: dict[tuple[str, str], Namespace] = {}
    used = {ns.prefix for ns in _all_namespaces(doc) if _NCNAME.fullmatch(ns.prefix)}

    def namespace(ns: Namespace) -> Namespace:
        key = (ns.prefix, ns.uri)
        found = prefixes.get(key)
        if found is None:
            prefix = ns.prefix
            if not _NCNAME.fullmatch(prefix):
                base = "ns_" + re.sub(r"[^A-Za-z0-9_.\-]", "_", prefix).rstrip(".")
                prefix, n = base, 1
                while prefix in used:
                    n += 1
                    prefix = f"{base}{n}"
                used.add(prefix)
            found = prefixes[key] = Namespace(prefix, _NOT_IRI.sub(_percent, ns.uri))
        return found

    def qname(value: QualifiedName, *, attribute: bool = False) -> QualifiedName:
        local = _NOT_IRI.sub(_percent, value.localpart)
        if xml and attribute and value.namespace.uri != PROV.uri and not _NCNAME.fullmatch(local or "_"):
            raise QueryError(f"the attribute name {str(value)!r} is not an XML name, so PROV-XML cannot hold it; "
                             "export with --format json, provn, ttl or trig")
        return namespace(value.namespace)[local]

    def attr_value(value: Any) -> Any:
        if isinstance(value, QualifiedName):
            return qname(value)
        if isinstance(value, Literal) and isinstance(value.datatype, QualifiedName):
            return Literal(value.value, qname(value.datatype), value.langtag)
        return value

    if not _needs_rewrite(doc, xml=xml):
        return doc
    out = ProvDocument()
    with quiet_prov():
        for bundle_id, container in _containers(doc):
            target: ProvBundle = out if bundle_id is None else out.bundle(qname(bundle_id))
            for record in container.get_records():
                ident = qname(record.identifier) if record.identifier is not None else None
                pairs = [(qname(n, attribute=n not in record.FORMAL_ATTRIBUTES), attr_value(v))
                         for n, v in record.attributes]
                target.new_record(record.get_type(), ident, pairs)
    return out


def _percent(match: re.Match[str]) -> str:
    return "".join(f"%{b:02X}" for b in match.group(0).encode())


def _all_namespaces(doc: ProvDocument) -> Iterator[Namespace]:
    for _bundle_id, container in _containers(doc):
        yield from container.namespaces


def _needs_rewrite(doc: ProvDocument, *, xml: bool) -> bool:
    """Whether any prefix, IRI or (for XML) attribute name could not be written as it is."""
    for ns in _all_namespaces(doc):
        if not _NCNAME.fullmatch(ns.prefix) or _NOT_IRI.search(ns.uri):
            return True
    for _bundle_id, container in _containers(doc):
        for record in container.get_records():
            names = [record.identifier] if record.identifier is not None else []
            names += [n for n, _v in record.attributes]
            names += [v for _n, v in record.attributes if isinstance(v, QualifiedName)]
            for name in names:
                if _NOT_IRI.search(name.localpart) or not _NCNAME.fullmatch(name.namespace.prefix or "_"):
                    return True
                if xml and name.namespace.uri != PROV.uri and not _NCNAME.fullmatch(name.localpart or "_"):
                    return True
    return False


def read_document(path: Path, fmt: str) -> ProvDocument:
    """Parse one file in a named format (see :data:`IMPORT_FORMATS`); prov's exceptions pass."""
    prov_format, options = IMPORT_FORMATS[fmt]
    with path.open("rb") as stream:
        return ProvDocument.deserialize(stream, format=prov_format, **options)
