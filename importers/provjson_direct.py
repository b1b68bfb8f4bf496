"""The common shape of PROV-JSON records mapped straight onto models, without building prov objects.

Most of a big PROV-JSON import's CPU went to ``prov``'s decoder and to reading its objects back
(the mapping process spent ~65 µs per record). Most records in big files are plain: an element or
a relation with prefixed identifiers, both ends of a relation given, attribute values that are
JSON strings, integers or qualified names. For a chunk made only of such records, :func:`direct_graph` builds the
models the codec (:func:`lineagegraph.provcodec.document_to_graph`) would build from prov's parse
— the same ids, properties, redaction and exact ``prov_attrs`` text, in the same order — following
the same rules step by step; for anything else it returns None and the chunk goes through prov as
before. ``tests/test_provjson_direct.py`` holds the two to the same output, on generated records
and on every chunk of prov's own PROV-JSON corpus.

What sends a chunk to prov: a record given as a list (several records under one key), an element
with a blank (``_:``) identifier, a name whose prefix the document does not declare (or a default
namespace, a redeclared ``prov``/``xsd``, or their URIs under other prefixes), a local part
outside letters, digits and ``_.-`` or ending in a dot, an attribute value other than a string,
an integer or a qualified name as prov writes one (``{"$": "ex:x", "type": "prov:QUALIFIED_NAME"}``
or ``xsd:QName``) — other typed values, lists, booleans, floats, null —, a label other than a
string, any ``prov:`` attribute other than ``prov:label``, an element's ``prov:type`` and the
record's formal ones (a relation's ``prov:type`` among them), a relation with an end missing,
``mentionOf`` and ``hadMember``, credentials in a namespace URI, two prefixes for one URI, and two
relations that the codec would merge.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from prov.constants import PROV, PROV_ATTRIBUTE_QNAMES, PROV_N_MAP, PROV_RECORD_IDS_MAP, XSD
from prov.model import PROV_REC_CLS, parse_xsd_datetime

from lineagegraph.model import Element, ElementKind, Relation
from lineagegraph.provcodec import (
    _AGENT_TYPES,
    _ELEMENT_KINDS,
    _EXTRA_LABEL_TYPES,
    _FIELDS,
    _KIND_MODELS,
    _RELATION_CLASSES,
    _RESERVED,
    LG,
    LG_ID,
)
from lineagegraph.provcodec import _plain as codec_plain  # the codec's rule for a plain value
from lineagegraph.redaction import REDACTED, is_secret_key, redact

__all__ = ["direct_graph"]

_LOCAL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.\-]*[A-Za-z0-9_\-])?")
_PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_PROV_URI = PROV.uri
_LABEL = "prov:label"
_TYPE = "prov:type"
# The codec's tables, keyed by full URI here.
_EXTRA_LABELS = {qname.uri: label for qname, label in _EXTRA_LABEL_TYPES.items()}
_AGENT_TYPE_URIS = frozenset(qname.uri for qname in _AGENT_TYPES)
_ELEMENT_SECTIONS = {"entity", "activity", "agent"}


def _formal(section: str) -> dict[str, tuple[str, bool]]:
    """A relation section's formal attributes: JSON name -> (model field, whether a name)."""
    rtype = PROV_RECORD_IDS_MAP[section]
    attrs = PROV_REC_CLS[rtype].FORMAL_ATTRIBUTES
    fields = _FIELDS[_RELATION_CLASSES[rtype]]
    return {f"prov:{attr.localpart}": (field, attr in PROV_ATTRIBUTE_QNAMES)
            for field, attr in zip(fields, attrs, strict=False)}


_RELATION_SECTIONS: dict[str, tuple[type[Relation], str, dict[str, tuple[str, bool]]]] = {
    section: (_RELATION_CLASSES[PROV_RECORD_IDS_MAP[section]], PROV_N_MAP[PROV_RECORD_IDS_MAP[section]],
              _formal(section))
    for section in ("used", "wasGeneratedBy", "wasInformedBy", "wasStartedBy", "wasEndedBy", "wasInvalidatedBy",
                    "wasDerivedFrom", "wasAttributedTo", "wasAssociatedWith", "actedOnBehalfOf",
                    "wasInfluencedBy", "specializationOf", "alternateOf")
}
_ACTIVITY_TIMES = {"prov:startTime": "started_at", "prov:endTime": "ended_at"}


class _Unsupported(Exception):  # noqa: N818 - a signal, never seen outside
    """This chunk needs prov's decoder (see the module docstring)."""


class _Name:
    """A prefixed name of the document: its namespace (prefix, URI) and local part."""

    __slots__ = ("full", "local", "prefix", "text", "uri")

    def __init__(self, prefix: str, uri: str, local: str, text: str):
        self.prefix, self.uri, self.local, self.text = prefix, uri, local, text
        self.full = uri + local  # sorted on and looked up for every attribute: made once per name

    def node_id(self) -> str:
        full = self.full
        return full[len(LG_ID.uri):] if full.startswith(LG_ID.uri) else full


class _Names:
    def __init__(self, prefixes: dict[str, str]):
        if not all(isinstance(p, str) and isinstance(u, str) for p, u in prefixes.items()):
            raise _Unsupported
        if {"default", "prov", "xsd"} & set(prefixes) or not all(_PREFIX.fullmatch(p) for p in prefixes):
            raise _Unsupported
        if len(set(prefixes.values())) != len(prefixes) or any("@" in u for u in prefixes.values()):
            raise _Unsupported  # a shared URI or one with credentials: prov's own rules apply
        if {_PROV_URI, XSD.uri} & set(prefixes.values()):
            raise _Unsupported  # prov's or XSD's namespace under another prefix: prov may rename it
        self._prefixes = prefixes
        self._cache: dict[str, _Name] = {}

    def name(self, text: Any, *, prov_allowed: bool = False) -> _Name:
        found = self._cache.get(text) if isinstance(text, str) else None
        if found is not None and (prov_allowed or found.prefix != "prov"):
            return found  # a prov: name only where the caller follows it (cached by another caller)
        if not isinstance(text, str):
            raise _Unsupported
        prefix, sep, local = text.partition(":")
        uri = _PROV_URI if prov_allowed and prefix == "prov" else self._prefixes.get(prefix)
        if not sep or uri is None or not _LOCAL.fullmatch(local):
            raise _Unsupported
        found = self._cache[text] = _Name(prefix, uri, local, text)
        return found


def _redacted(name: _Name, value: Any) -> Any:
    # As the codec's _redacted: by the attribute's local part, strings by their look as well.
    if isinstance(value, str):
        return redact(name.local, value)
    return REDACTED if is_secret_key(name.local) else value


_QNAME_TYPES = frozenset({"prov:QUALIFIED_NAME", "xsd:QName"})


def _value(value: Any, names: _Names) -> Any:
    """A plain attribute value: a string, an integer, or a qualified name written as prov writes
    one (``{"$": "ex:x", "type": "prov:QUALIFIED_NAME"}``) whose prefix is known."""
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, dict) and value.keys() == {"$", "type"} and value["type"] in _QNAME_TYPES:
        return names.name(value["$"], prov_allowed=True)
    raise _Unsupported


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise _Unsupported


def _attribute(names: _Names, attr: str, raw: Any) -> tuple[_Name, Any]:
    """A label or an attribute of the document's own names, redacted as the codec does."""
    if attr == _LABEL:
        return names.name(attr, prov_allowed=True), redact("label", _text(raw))
    name = names.name(attr)
    return name, _redacted(name, _value(raw, names))


def _plain(value: Any) -> Any:
    return value.text if isinstance(value, _Name) else codec_plain(value)


def _sort_key(pair: tuple[_Name, Any]) -> tuple[str, str, str]:
    value = pair[1]
    if isinstance(value, _Name):
        return pair[0].full, "QualifiedName", value.text
    return pair[0].full, type(value).__name__, str(value)


def _property_name(name: _Name) -> str:
    prop = name.local if name.uri == LG.uri else name.text
    return name.full if prop in _RESERVED or not prop else prop


# The codec's JSON settings; one encoder made once (json.dumps makes one per call with these).
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _encode(kind: str, ident: _Name | None, pairs: list[tuple[_Name, Any]]) -> str:
    """The codec's exact encoding of one record: namespaces sorted by URI, indexes into them."""
    used: dict[tuple[str, str], None] = {}
    if ident is not None:
        used[(ident.uri, ident.prefix)] = None
    for name, value in pairs:
        used[(name.uri, name.prefix)] = None
        if isinstance(value, _Name):
            used[(value.uri, value.prefix)] = None
    order = sorted(used)
    index = {ns: i for i, ns in enumerate(order)}

    def encoded(value: Any) -> Any:
        if isinstance(value, _Name):
            return {"q": [index[(value.uri, value.prefix)], value.local]}
        if isinstance(value, datetime):
            return {"dt": value.isoformat()}
        return value

    entry: dict[str, Any] = {"t": kind, "b": None}
    if ident is not None:
        entry["i"] = [index[(ident.uri, ident.prefix)], ident.local]
    entry["a"] = [[[index[(name.uri, name.prefix)], name.local], encoded(value)] for name, value in pairs]
    return _ENCODER.encode({"ns": [[prefix, uri] for uri, prefix in order], "records": [entry]})


def _element(names: _Names, section: str, key: str, record: Any) -> Element:
    if not isinstance(record, dict) or key.startswith("_:"):
        raise _Unsupported
    ident = names.name(key)
    pairs: list[tuple[_Name, Any]] = []
    times: dict[str, datetime] = {}
    for attr, raw in record.items():
        if attr == _TYPE:
            name = names.name(attr, prov_allowed=True)
            pairs.append((name, _redacted(name, _value(raw, names))))
        elif section == "activity" and attr in _ACTIVITY_TIMES:
            if not isinstance(raw, str):
                raise _Unsupported
            when = parse_xsd_datetime(raw)
            if not isinstance(when, datetime):
                raise _Unsupported
            name = names.name(attr, prov_allowed=True)
            pairs.append((name, _redacted(name, when)))
        else:
            pairs.append(_attribute(names, attr, raw))
    pairs.sort(key=_sort_key)
    label: str | None = None
    prov_type: list[str] = []
    extra_labels: set[str] = set()
    agent_type: str | None = None
    attributes: dict[str, Any] = {}
    for name, value in pairs:
        if name.text == _LABEL:
            label = value
        elif name.text == _TYPE:
            # As the codec: the type's text; a PROV type name may add a label or an agent type.
            prov_type.append(str(_plain(value)))
            if isinstance(value, _Name):
                extra = _EXTRA_LABELS.get(value.full)
                if extra:
                    extra_labels.add(extra)
                if value.full in _AGENT_TYPE_URIS:
                    agent_type = value.local
        elif name.text in _ACTIVITY_TIMES and section == "activity":
            if isinstance(value, datetime):
                times.setdefault(_ACTIVITY_TIMES[name.text], value)
            else:
                raise _Unsupported  # a redacted time: not worth following here
        else:
            attributes[_property_name(name)] = _plain(value)
    attributes["qname"] = ident.text
    attributes["prov_attrs"] = _encode(section, ident, pairs)
    kind = _ELEMENT_KINDS[PROV_RECORD_IDS_MAP[section]]
    typed: dict[str, Any] = {}
    if kind is ElementKind.ACTIVITY:
        typed = dict(times)
    elif kind is ElementKind.AGENT and agent_type:
        typed["agent_type"] = agent_type
    return _KIND_MODELS[kind](id=ident.node_id(), label=label, prov_type=prov_type, attributes=attributes,
                              extra_labels=frozenset(extra_labels), **typed)


def _relation(names: _Names, section: str, key: str, record: Any) -> Relation:
    cls, kind, formal = _RELATION_SECTIONS[section]
    if not isinstance(record, dict):
        raise _Unsupported
    ident = None if key.startswith("_:") else names.name(key)
    pairs: list[tuple[_Name, Any]] = []
    kwargs: dict[str, Any] = {}
    for attr, raw in record.items():
        spec = formal.get(attr)
        if spec is None:
            pairs.append(_attribute(names, attr, raw))
        else:
            name = names.name(attr, prov_allowed=True)
            field, is_name = spec
            if is_name:
                value: Any = names.name(raw)
                kwargs[field] = value.node_id()
            else:
                if not isinstance(raw, str):
                    raise _Unsupported
                value = parse_xsd_datetime(raw)
                if not isinstance(value, datetime):
                    raise _Unsupported
                kwargs[field] = value
            redacted = _redacted(name, value)
            if redacted is not value:
                raise _Unsupported
            pairs.append((name, value))
    if cls.start_field not in kwargs or cls.end_field not in kwargs:
        raise _Unsupported  # a relation with an end missing lives on a node: the codec's rules
    if ident is not None:
        kwargs["id"] = ident.node_id()
    pairs.sort(key=_sort_key)
    label: str | None = None
    extra: dict[str, Any] = {}
    for name, value in pairs:
        if name.text in formal:
            continue
        if name.text == _LABEL:
            label = value
        else:
            extra[_property_name(name)] = _plain(value)
    if label is not None:
        extra["label"] = label
    model = cls(attributes={}, **kwargs)
    model.attributes = {**extra, "prov_attrs": _encode(kind, ident, pairs)}
    return model


def direct_graph(prefixes: dict[str, str], sections: dict[str, dict[str, Any]]
                 ) -> tuple[list[Element], list[Relation]] | None:
    """The models of one chunk of records (``section -> {key: record}``), or None when a record
    is not of the plain shape this follows (see the module docstring)."""
    try:
        names = _Names(prefixes)
        elements: list[Element] = []
        relations: list[Relation] = []
        groups: set[tuple[Any, ...]] = set()
        for section, records in sections.items():
            if section in _ELEMENT_SECTIONS:
                elements.extend(_element(names, section, key, record) for key, record in records.items())
            elif section in _RELATION_SECTIONS:
                for key, record in records.items():
                    relation = _relation(names, section, key, record)
                    group = (type(relation), relation.start, relation.end, relation.key())
                    if group in groups:
                        raise _Unsupported  # the codec merges the two: its rules
                    groups.add(group)
                    relations.append(relation)
            else:
                raise _Unsupported
        if len({element.id for element in elements}) != len(elements):
            raise _Unsupported
        return elements, relations
    except _Unsupported:
        return None
