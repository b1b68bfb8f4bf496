"""The graph model: W3C PROV elements and relations as pydantic models, and their Neo4j mapping.

Every node carries the shared label ``Element`` plus exactly one kind label (``Entity``,
``Activity``, ``Agent``); relationships carry PROV-DM names in Neo4j style and point from the
effect to the cause, as PROV draws them. The enums here are the allow-lists: no label or
relationship type ever reaches Cypher text from anywhere else.

Importers build these models; the writers (:mod:`lineagegraph.writer`, :mod:`lineagegraph.bulk`)
store each as its *row* (:class:`NodeRow`, :class:`RelationshipRow`): what the graph keeps of it,
secrets redacted. An importer that maps in another process sends rows rather than models (see
:meth:`Element.row`); the writers take either.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from enum import StrEnum
from functools import cache
from typing import Any, ClassVar, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lineagegraph.redaction import redact

__all__ = [
    "EXTRA_LABELS",
    "RELATION_MODELS",
    "ActedOnBehalfOf",
    "Activity",
    "Agent",
    "AlternateOf",
    "DerivationType",
    "Element",
    "ElementKind",
    "Entity",
    "GraphItem",
    "HadMember",
    "NodeRow",
    "Relation",
    "RelationType",
    "RelationshipRow",
    "SpecializationOf",
    "Used",
    "WasAssociatedWith",
    "WasAttributedTo",
    "WasDerivedFrom",
    "WasEndedBy",
    "WasGeneratedBy",
    "WasInfluencedBy",
    "WasInformedBy",
    "WasInvalidatedBy",
    "WasStartedBy",
    "as_row",
    "stable_key",
    "to_property",
]


class ElementKind(StrEnum):
    """The three PROV node kinds; each value is also the Neo4j label."""

    ENTITY = "Entity"
    ACTIVITY = "Activity"
    AGENT = "Agent"


# Further labels an importer may add to a node (allow-list). `Bundle` marks a PROV bundle, which
# is itself an entity.
EXTRA_LABELS: frozenset[str] = frozenset({"Bundle", "Location", "Plan", "Collection"})


class RelationType(StrEnum):
    """PROV-DM relations; each value is the Neo4j relationship type."""

    USED = "USED"
    WAS_GENERATED_BY = "WAS_GENERATED_BY"
    WAS_DERIVED_FROM = "WAS_DERIVED_FROM"
    WAS_INFORMED_BY = "WAS_INFORMED_BY"
    WAS_ASSOCIATED_WITH = "WAS_ASSOCIATED_WITH"
    WAS_ATTRIBUTED_TO = "WAS_ATTRIBUTED_TO"
    ACTED_ON_BEHALF_OF = "ACTED_ON_BEHALF_OF"
    WAS_STARTED_BY = "WAS_STARTED_BY"
    WAS_ENDED_BY = "WAS_ENDED_BY"
    WAS_INVALIDATED_BY = "WAS_INVALIDATED_BY"
    SPECIALIZATION_OF = "SPECIALIZATION_OF"
    ALTERNATE_OF = "ALTERNATE_OF"
    HAD_MEMBER = "HAD_MEMBER"
    WAS_INFLUENCED_BY = "WAS_INFLUENCED_BY"


class DerivationType(StrEnum):
    """The PROV-DM subtypes of derivation, kept as the ``derivation_type`` property."""

    REVISION = "revision"
    QUOTATION = "quotation"
    PRIMARY_SOURCE = "primary_source"


def to_property(value: Any) -> Any:
    """Convert a Python value into something every Neo4j edition stores without plugins.

    Scalars and datetimes pass through, lists of scalars stay lists, anything nested (dicts,
    lists of dicts, mixed lists) becomes a JSON string.
    """
    if value is None or isinstance(value, str | bool | int | float | datetime):
        return value
    if isinstance(value, list | tuple):
        items = list(value)
        scalar_types = {type(v) for v in items}
        if all(isinstance(v, str | bool | int | float | datetime) for v in items) and len(scalar_types) <= 1:
            return items
    return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)


def stable_key(*parts: Any) -> str:
    """A short deterministic hash of ``parts``, for ids and relationship keys."""
    blob = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False, arbitrary_types_allowed=True)


class Element(_Model):
    """A node. ``attributes`` holds anything beyond the typed fields (nested values become JSON)."""

    kind: ClassVar[ElementKind]
    id: str = Field(min_length=1)
    label: str | None = None
    prov_type: list[str] = Field(default_factory=list)
    attributes: dict[str, Any] = Field(default_factory=dict)
    extra_labels: frozenset[str] = frozenset()

    @field_validator("extra_labels")
    @classmethod
    def _allowed_labels(cls, value: frozenset[str]) -> frozenset[str]:
        unknown = value - EXTRA_LABELS
        if unknown:
            raise ValueError(f"labels not in the allow-list: {sorted(unknown)}")
        return value

    def properties(self) -> dict[str, Any]:
        """The node's Neo4j properties (without ``id``), nulls dropped, secrets redacted."""
        props: dict[str, Any] = {k: to_property(redact(k, v)) for k, v in self.attributes.items()}
        for key in _fields_but(type(self), "id", "attributes", "extra_labels"):
            value = getattr(self, key)
            if value is None or (key == "prov_type" and not value):
                continue
            props[key] = to_property(redact(key, value))
        return {k: v for k, v in props.items() if v is not None}

    def row(self) -> NodeRow:
        """What the graph keeps of this element (computed once: see :class:`NodeRow`)."""
        return NodeRow(self.kind, tuple(sorted(self.extra_labels)), self.id, self.properties())


@cache
def _fields_but(cls: type[BaseModel], *excluded: str) -> tuple[str, ...]:
    """The names of ``cls``'s fields other than ``excluded``, in declaration order.

    The models read their typed fields and formal attributes one by one with these: model_dump
    of them cost more than the rest of a row's preparation, for values (text, times, enums, a list
    of text, a dict) that it hands back as they are.
    """
    return tuple(name for name in cls.model_fields if name not in excluded)


class Entity(Element):
    kind: ClassVar[ElementKind] = ElementKind.ENTITY
    uri: str | None = None
    digest: str | None = None
    generated_at: datetime | None = None


class Activity(Element):
    kind: ClassVar[ElementKind] = ElementKind.ACTIVITY
    started_at: datetime | None = None
    ended_at: datetime | None = None
    status: str | None = None
    params: dict[str, Any] | None = None
    code_version: str | None = None


class Agent(Element):
    kind: ClassVar[ElementKind] = ElementKind.AGENT
    agent_type: str | None = None


class Relation(_Model):
    """A relationship. Subclasses name the PROV-DM formal arguments.

    ``start_field``/``end_field`` say which fields are the two ends (effect, cause); the other
    formal arguments become relationship properties. ``id`` is the PROV identifier if the source
    gave one. Two relations of one type between the same nodes are the same relationship when
    their ``key`` is equal: the identifier if any, else a hash of the qualifying attributes.
    """

    type: ClassVar[RelationType]
    start_field: ClassVar[str]
    end_field: ClassVar[str]
    start_kind: ClassVar[ElementKind | None]
    end_kind: ClassVar[ElementKind | None]

    id: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)

    @property
    def start(self) -> str:
        return str(getattr(self, self.start_field))

    @property
    def end(self) -> str:
        return str(getattr(self, self.end_field))

    def qualifiers(self) -> dict[str, Any]:
        """Formal attributes other than the two ends, nulls dropped."""
        names = _fields_but(type(self), "id", "attributes", self.start_field, self.end_field)
        return {name: value for name in names if (value := getattr(self, name)) is not None}

    def key(self) -> str:
        if self.id:
            return self.id
        qualifiers = self.qualifiers()
        role = self.attributes.get("prov:role")
        ptype = self.attributes.get("prov:type")
        if not qualifiers and role is None and ptype is None:
            return _bare_key(self.type)
        return stable_key(self.type.value, qualifiers, role, ptype)

    def properties(self) -> dict[str, Any]:
        """The relationship's Neo4j properties, nulls dropped, secrets redacted."""
        props: dict[str, Any] = {k: to_property(redact(k, v)) for k, v in self.attributes.items()}
        for key, value in self.qualifiers().items():
            props[key] = to_property(redact(key, value))
        if self.id:
            props["prov_id"] = self.id
        return {k: v for k, v in props.items() if v is not None}

    def row(self) -> RelationshipRow:
        """What the graph keeps of this relation (computed once: see :class:`RelationshipRow`)."""
        return RelationshipRow(type(self), self.start, self.end, self.key(), self.properties())


class NodeRow(NamedTuple):
    """An element as the writers store it: labels, id and properties (secrets redacted).

    Made by :meth:`Element.row`. A plain tuple, so that an importer mapping in a child process
    sends it back for a third of what pickling the model costs, and the process that writes
    does not compute the properties again.
    """

    kind: ElementKind
    extra_labels: tuple[str, ...]  # sorted
    id: str
    properties: dict[str, Any]


class RelationshipRow(NamedTuple):
    """A relation as the writers store it (made by :meth:`Relation.row`; see :class:`NodeRow`)."""

    relation: type[Relation]  # its type and the kinds its ends must have
    start: str
    end: str
    key: str
    properties: dict[str, Any]


@cache
def _bare_key(rel_type: RelationType) -> str:
    """The key of a relation of this type with no identifier, qualifier, role or type (most are)."""
    return stable_key(rel_type.value, {}, None, None)


class Used(Relation):
    type: ClassVar[RelationType] = RelationType.USED
    start_field: ClassVar[str] = "activity"
    end_field: ClassVar[str] = "entity"
    start_kind: ClassVar[ElementKind | None] = ElementKind.ACTIVITY
    end_kind: ClassVar[ElementKind | None] = ElementKind.ENTITY
    activity: str
    entity: str
    time: datetime | None = None


class WasGeneratedBy(Relation):
    type: ClassVar[RelationType] = RelationType.WAS_GENERATED_BY
    start_field: ClassVar[str] = "entity"
    end_field: ClassVar[str] = "activity"
    start_kind: ClassVar[ElementKind | None] = ElementKind.ENTITY
    end_kind: ClassVar[ElementKind | None] = ElementKind.ACTIVITY
    entity: str
    activity: str
    time: datetime | None = None


class WasDerivedFrom(Relation):
    type: ClassVar[RelationType] = RelationType.WAS_DERIVED_FROM
    start_field: ClassVar[str] = "generated_entity"
    end_field: ClassVar[str] = "used_entity"
    start_kind: ClassVar[ElementKind | None] = ElementKind.ENTITY
    end_kind: ClassVar[ElementKind | None] = ElementKind.ENTITY
    generated_entity: str
    used_entity: str
    activity: str | None = None
    generation: str | None = None
    usage: str | None = None
    derivation_type: DerivationType | None = None


class WasInformedBy(Relation):
    type: ClassVar[RelationType] = RelationType.WAS_INFORMED_BY
    start_field: ClassVar[str] = "informed"
    end_field: ClassVar[str] = "informant"
    start_kind: ClassVar[ElementKind | None] = ElementKind.ACTIVITY
    end_kind: ClassVar[ElementKind | None] = ElementKind.ACTIVITY
    informed: str
    informant: str


class WasAssociatedWith(Relation):
    type: ClassVar[RelationType] = RelationType.WAS_ASSOCIATED_WITH
    start_field: ClassVar[str] = "activity"
    end_field: ClassVar[str] = "agent"
    start_kind: ClassVar[ElementKind | None] = ElementKind.ACTIVITY
    end_kind: ClassVar[ElementKind | None] = ElementKind.AGENT
    activity: str
    agent: str
    plan: str | None = None


class WasAttributedTo(Relation):
    type: ClassVar[RelationType] = RelationType.WAS_ATTRIBUTED_TO
    start_field: ClassVar[str] = "entity"
    end_field: ClassVar[str] = "agent"
    start_kind: ClassVar[ElementKind | None] = ElementKind.ENTITY
    end_kind: ClassVar[ElementKind | None] = ElementKind.AGENT
    entity: str
    agent: str


class ActedOnBehalfOf(Relation):
    type: ClassVar[RelationType] = RelationType.ACTED_ON_BEHALF_OF
    start_field: ClassVar[str] = "delegate"
    end_field: ClassVar[str] = "responsible"
    start_kind: ClassVar[ElementKind | None] = ElementKind.AGENT
    end_kind: ClassVar[ElementKind | None] = ElementKind.AGENT
    delegate: str
    responsible: str
    activity: str | None = None


class WasStartedBy(Relation):
    type: ClassVar[RelationType] = RelationType.WAS_STARTED_BY
    start_field: ClassVar[str] = "activity"
    end_field: ClassVar[str] = "trigger"
    start_kind: ClassVar[ElementKind | None] = ElementKind.ACTIVITY
    end_kind: ClassVar[ElementKind | None] = ElementKind.ENTITY
    activity: str
    trigger: str
    starter: str | None = None
    time: datetime | None = None


class WasEndedBy(Relation):
    type: ClassVar[RelationType] = RelationType.WAS_ENDED_BY
    start_field: ClassVar[str] = "activity"
    end_field: ClassVar[str] = "trigger"
    start_kind: ClassVar[ElementKind | None] = ElementKind.ACTIVITY
    end_kind: ClassVar[ElementKind | None] = ElementKind.ENTITY
    activity: str
    trigger: str
    ender: str | None = None
    time: datetime | None = None


class WasInvalidatedBy(Relation):
    type: ClassVar[RelationType] = RelationType.WAS_INVALIDATED_BY
    start_field: ClassVar[str] = "entity"
    end_field: ClassVar[str] = "activity"
    start_kind: ClassVar[ElementKind | None] = ElementKind.ENTITY
    end_kind: ClassVar[ElementKind | None] = ElementKind.ACTIVITY
    entity: str
    activity: str
    time: datetime | None = None


class SpecializationOf(Relation):
    type: ClassVar[RelationType] = RelationType.SPECIALIZATION_OF
    start_field: ClassVar[str] = "specific"
    end_field: ClassVar[str] = "general"
    start_kind: ClassVar[ElementKind | None] = ElementKind.ENTITY
    end_kind: ClassVar[ElementKind | None] = ElementKind.ENTITY
    specific: str
    general: str


class AlternateOf(Relation):
    type: ClassVar[RelationType] = RelationType.ALTERNATE_OF
    start_field: ClassVar[str] = "alternate1"
    end_field: ClassVar[str] = "alternate2"
    start_kind: ClassVar[ElementKind | None] = ElementKind.ENTITY
    end_kind: ClassVar[ElementKind | None] = ElementKind.ENTITY
    alternate1: str
    alternate2: str


class HadMember(Relation):
    type: ClassVar[RelationType] = RelationType.HAD_MEMBER
    start_field: ClassVar[str] = "collection"
    end_field: ClassVar[str] = "entity"
    start_kind: ClassVar[ElementKind | None] = ElementKind.ENTITY
    end_kind: ClassVar[ElementKind | None] = ElementKind.ENTITY
    collection: str
    entity: str


class WasInfluencedBy(Relation):
    type: ClassVar[RelationType] = RelationType.WAS_INFLUENCED_BY
    start_field: ClassVar[str] = "influencee"
    end_field: ClassVar[str] = "influencer"
    start_kind: ClassVar[ElementKind | None] = None
    end_kind: ClassVar[ElementKind | None] = None
    influencee: str
    influencer: str


RELATION_MODELS: dict[RelationType, type[Relation]] = {
    cls.type: cls
    for cls in (
        Used, WasGeneratedBy, WasDerivedFrom, WasInformedBy, WasAssociatedWith, WasAttributedTo,
        ActedOnBehalfOf, WasStartedBy, WasEndedBy, WasInvalidatedBy, SpecializationOf, AlternateOf,
        HadMember, WasInfluencedBy,
    )
}


GraphItem = Element | Relation | NodeRow | RelationshipRow
"""What importers hand the writers: models, or the rows made of them."""


def as_row(item: GraphItem) -> NodeRow | RelationshipRow:
    """``item``'s row; raises :class:`TypeError` for anything that is not a graph item."""
    if isinstance(item, NodeRow | RelationshipRow):
        return item
    if isinstance(item, Element | Relation):
        return item.row()
    raise TypeError(f"not an Element or a Relation: {type(item).__name__}")
