"""What the writer reads off a model: relationship keys that never drift, and node properties.

A relationship's key is what makes a re-import find it again.

Two relations of one type between the same nodes are one relationship when their keys are equal:
the PROV identifier if any, else the first 24 hex digits of the SHA-256 of the JSON text of
``[type, qualifiers, prov:role, prov:type]`` (keys sorted). Graphs written by earlier versions
hold these keys, so every shortcut in computing them is checked against that definition here.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from lineagegraph.model import (
    RELATION_MODELS,
    Activity,
    Agent,
    DerivationType,
    Entity,
    Relation,
    Used,
    WasDerivedFrom,
    to_property,
)
from lineagegraph.redaction import redact


def defined_key(relation: Relation) -> str:
    """The key by its definition, from pydantic's own dump of the formal attributes."""
    qualifiers = relation.model_dump(exclude={"id", "attributes", relation.start_field, relation.end_field},
                                     exclude_none=True)
    parts = [relation.type.value, qualifiers, relation.attributes.get("prov:role"),
             relation.attributes.get("prov:type")]
    text = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def test_a_bare_relation_hashes_its_type_alone() -> None:
    expected = hashlib.sha256(b'["USED", {}, null, null]').hexdigest()[:24]
    assert Used(activity="a", entity="e").key() == expected
    assert Used(activity="b", entity="f").key() == expected  # the ends are not part of it


def test_a_derivation_type_and_a_time_are_part_of_the_key() -> None:
    derived = WasDerivedFrom(generated_entity="v2", used_entity="v1", derivation_type=DerivationType.REVISION)
    text = '["WAS_DERIVED_FROM", {"derivation_type": "revision"}, null, null]'
    assert derived.key() == hashlib.sha256(text.encode()).hexdigest()[:24]
    used = Used(activity="a", entity="e", time=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    text = '["USED", {"time": "2026-01-02 03:04:05+00:00"}, null, null]'
    assert used.key() == hashlib.sha256(text.encode()).hexdigest()[:24]


times = st.one_of(st.none(), st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5))])),
                  st.datetimes())
names = st.one_of(st.none(), st.text(min_size=1, max_size=12))
attributes = st.fixed_dictionaries({}, optional={
    "prov:role": st.one_of(st.text(max_size=8), st.lists(st.text(max_size=4), max_size=2)),
    "prov:type": st.one_of(st.text(max_size=8), st.lists(st.text(max_size=4), max_size=2)),
    "ex:note": st.text(max_size=8),
})


@given(data=st.data())
def test_every_relation_type_keeps_its_defined_key_and_qualifiers(data: st.DataObject) -> None:
    cls = data.draw(st.sampled_from(sorted(RELATION_MODELS.values(), key=lambda c: c.type.value)))
    fields: dict[str, Any] = {}
    for name, info in cls.model_fields.items():
        if name in ("id", "attributes"):
            continue
        if name in (cls.start_field, cls.end_field):
            fields[name] = data.draw(st.text(min_size=1, max_size=8))
        elif info.annotation in ("datetime | None", datetime | None):
            fields[name] = data.draw(times)
        elif "DerivationType" in str(info.annotation):
            fields[name] = data.draw(st.one_of(st.none(), st.sampled_from(list(DerivationType))))
        else:
            fields[name] = data.draw(names)
    relation = cls(attributes=data.draw(attributes), **fields)
    dumped = relation.model_dump(exclude={"id", "attributes", relation.start_field, relation.end_field},
                                 exclude_none=True)
    assert relation.qualifiers() == dumped
    assert relation.key() == defined_key(relation)
    with_id = cls(id="ex:r1", attributes=relation.attributes, **fields)
    assert with_id.key() == "ex:r1"


@given(data=st.data())
def test_node_properties_are_the_typed_fields_and_attributes_redacted(data: st.DataObject) -> None:
    cls = data.draw(st.sampled_from([Entity, Activity, Agent]))
    fields: dict[str, Any] = {"label": data.draw(names),
                              "prov_type": data.draw(st.lists(st.text(max_size=6), max_size=2))}
    if cls is Entity:
        fields |= {"uri": data.draw(names), "digest": data.draw(st.sampled_from([None, "sha256:" + "ab" * 32])),
                   "generated_at": data.draw(times)}
    elif cls is Activity:
        fields |= {"started_at": data.draw(times), "ended_at": data.draw(times), "status": data.draw(names),
                   "params": data.draw(st.one_of(st.none(), st.dictionaries(st.sampled_from(["lr", "password"]),
                                                                            st.integers() | st.text(max_size=6))))}
    else:
        fields["agent_type"] = data.draw(names)
    element = cls(id="ex:x", attributes={"ex:token": "ghp_" + "a" * 36, "ex:n": 3}, **fields)
    typed = element.model_dump(exclude={"id", "attributes", "extra_labels"}, exclude_none=True)
    expected = {k: to_property(redact(k, v)) for k, v in element.attributes.items()}
    expected |= {k: to_property(redact(k, v)) for k, v in typed.items() if not (k == "prov_type" and not v)}
    assert element.properties() == {k: v for k, v in expected.items() if v is not None}
    assert element.properties()["ex:token"] != element.attributes["ex:token"]
