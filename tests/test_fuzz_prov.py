"""Property-based fuzzing of the PROV importer: every input is either refused with an
:class:`InputError` naming it, or imported correctly; never another exception, never a partial write.

Inputs are generated PROV-JSON documents (wrong types, deep nesting, huge and unicode-edge values,
duplicate ids with conflicting values, cycles, Cypher-shaped ids, keys and values) and PROV-N,
PROV-XML and Turtle documents written by ``prov`` from generated records; each may then be
truncated or spliced with junk. Most cases stop at parsing (no database); a smaller number go
through the real Neo4j.

``LINEAGEGRAPH_FUZZ_EXAMPLES`` sets the number of parse-level examples per format (default 150,
which keeps the whole module well under a minute; set 10000 or more for a real fuzzing run).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from prov.model import ProvDocument

from lineagegraph.errors import InputError
from lineagegraph.importers.base import ImportUnit, run_import
from lineagegraph.importers.prov import ProvImporter
from lineagegraph.model import ElementKind
from lineagegraph.store import GraphStore

EXAMPLES = int(os.environ.get("LINEAGEGRAPH_FUZZ_EXAMPLES", "150"))
DB_EXAMPLES = max(10, EXAMPLES // 10) if "LINEAGEGRAPH_FUZZ_EXAMPLES" in os.environ else 20
PARSE = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize="CI" in os.environ,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                        HealthCheck.function_scoped_fixture])
THROUGH_DB = settings(PARSE, max_examples=DB_EXAMPLES)

# Strings that would do harm if any of them reached Cypher text, and unicode that trips encoders.
HOSTILE = [
    "x'}) DETACH DELETE n //", '") MATCH (n) DETACH DELETE n RETURN 1 //', "`Entity`:`Activity`",
    "$id", "{id: 'x'}", "a\u0000b", "\u202eevil", "e\u0301", "\U0001f600", "\ufeff", "ǅ", "\ud800",
    "line\nbreak", "tab\tsep", "x" * 300, "", " ", "..", "%", "#", "a:b:c", "<script>", "&amp;",
]
ID_TEXT = st.one_of(
    st.sampled_from(["a", "b", "c", "d"]),  # few names: duplicates, conflicts and cycles
    st.sampled_from(HOSTILE),
    st.text(min_size=0, max_size=12),
)
KEY_TEXT = st.one_of(st.sampled_from(["ex:v", "prov:label", "prov:type", "ex:password", "ex:digest", "ex:n"]),
                     st.sampled_from(HOSTILE).map(lambda s: "ex:" + s), st.text(max_size=10))
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=2**63, max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(HOSTILE), st.text(max_size=20),
    st.just("y" * 200_000),  # a big attribute (the 100 MB case is the size cap's, tested elsewhere)
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3),
    st.fixed_dictionaries({"$": inner, "type": st.sampled_from(["xsd:string", "prov:QUALIFIED_NAME", "xsd:int",
                                                                 "xsd:dateTime", "nope"])}),
), max_leaves=8)
ATTRS = st.one_of(st.dictionaries(KEY_TEXT, VALUES, max_size=4), VALUES)

RELATIONS = {
    "used": ("prov:activity", "prov:entity"), "wasGeneratedBy": ("prov:entity", "prov:activity"),
    "wasDerivedFrom": ("prov:generatedEntity", "prov:usedEntity"),
    "wasAssociatedWith": ("prov:activity", "prov:agent"), "wasInformedBy": ("prov:informed", "prov:informant"),
    "actedOnBehalfOf": ("prov:delegate", "prov:responsible"), "hadMember": ("prov:collection", "prov:entity"),
}


# Duplicate ids with conflicting values, which json.dumps cannot write: the same key twice in one
# object, one id as two kinds, and a cycle through them.
DUPLICATES = [
    '{"prefix": {"ex": "urn:ex:"}, "entity": {"ex:a": {"ex:v": 1}, "ex:a": {"ex:v": "two"}}}',
    '{"prefix": {"ex": "urn:ex:"}, "entity": {"ex:a": {}}, "activity": {"ex:a": {}}, "agent": {"ex:a": {}}}',
    '{"prefix": {"ex": "urn:ex:"}, "prefix": {"ex": "urn:other:"}, "entity": {"ex:a": {}}}',
    '{"prefix": {"ex": "urn:ex:"}, "entity": {"ex:a": {}, "ex:b": {}}, "wasDerivedFrom": {'
    '"_:1": {"prov:generatedEntity": "ex:a", "prov:usedEntity": "ex:b"}, '
    '"_:1": {"prov:generatedEntity": "ex:b", "prov:usedEntity": "ex:a"}}}',
]


@st.composite
def prov_json(draw: st.DrawFn) -> str:
    """A PROV-JSON document, sometimes well-formed, often not."""
    if draw(st.integers(0, 11)) == 0:
        return draw(st.sampled_from(DUPLICATES))
    doc: dict[str, Any] = {}
    if draw(st.booleans()):
        doc["prefix"] = draw(st.one_of(
            st.just({"ex": "https://example.org/ex#"}),
            st.dictionaries(st.sampled_from(["ex", "1x", "a b", "", "prov"]),
                            st.sampled_from(["https://example.org/ex#", "urn:x:", "not a uri", "",
                                             "https://u:pw@example.org/ns#"]), max_size=3),
            VALUES,
        ))
    for kind in ("entity", "activity", "agent"):
        if draw(st.booleans()):
            doc[kind] = draw(st.one_of(st.dictionaries(ID_TEXT.map(lambda s: "ex:" + s), ATTRS, max_size=4), VALUES))
    for rel in draw(st.lists(st.sampled_from(sorted(RELATIONS)), max_size=4, unique=True)):
        first, second = RELATIONS[rel]
        doc[rel] = draw(st.one_of(
            st.dictionaries(ID_TEXT.map(lambda s: "_:" + s), st.fixed_dictionaries({
                first: st.one_of(ID_TEXT.map(lambda s: "ex:" + s), VALUES),
                second: st.one_of(ID_TEXT.map(lambda s: "ex:" + s), VALUES),
            }, optional={"ex:w": VALUES}), max_size=3),
            VALUES,
        ))
    if draw(st.integers(0, 9)) == 0:  # deep nesting
        depth = draw(st.integers(100, 5000))
        doc["entity"] = {"ex:deep": {"ex:v": json.loads("[" * depth + "]" * depth) if depth < 900 else None}}
        if depth >= 900:
            return json.dumps(doc)[:-3] + "[" * depth + "]" * depth + "}}}"
    return json.dumps(doc, ensure_ascii=draw(st.booleans()))


SAFE_LOCAL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=8)


@st.composite
def prov_records(draw: st.DrawFn) -> ProvDocument:
    """A document built through ``prov`` itself (so that every serialisation can write it)."""
    doc = ProvDocument()
    ex = doc.add_namespace("ex", draw(st.sampled_from(["https://example.org/ex#", "urn:x:"])))
    names = draw(st.lists(SAFE_LOCAL, min_size=1, max_size=6))
    values = st.one_of(st.sampled_from(HOSTILE[:6] + HOSTILE[7:11]), st.integers(-10, 10), st.text(max_size=8))
    for name in names:
        maker = draw(st.sampled_from([doc.entity, doc.activity, doc.agent]))
        attrs = draw(st.dictionaries(SAFE_LOCAL.map(lambda s: ex[s]), values, max_size=3))
        maker(ex[name], other_attributes=attrs)
    for _ in range(draw(st.integers(0, 6))):
        a, b = draw(st.sampled_from(names)), draw(st.sampled_from(names))
        relate = draw(st.sampled_from([doc.used, doc.wasGeneratedBy, doc.wasDerivedFrom, doc.wasInformedBy,
                                       doc.wasAssociatedWith, doc.wasAttributedTo]))
        relate(ex[a], ex[b])
    return doc


SERIALISE = {
    ".provn": lambda d: d.serialize(format="provn"),
    ".xml": lambda d: d.serialize(format="xml"),
    ".ttl": lambda d: d.serialize(format="rdf", rdf_format="turtle"),
    ".json": lambda d: d.serialize(format="json"),
}


@st.composite
def damaged(draw: st.DrawFn, text: str) -> bytes:
    """``text`` as bytes, intact or truncated, spliced, or with a byte changed."""
    data = text.encode("utf-8", errors="surrogatepass")
    how = draw(st.sampled_from(["intact", "intact", "truncate", "splice", "flip"]))
    if how == "truncate" and data:
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif how == "splice":
        at = draw(st.integers(0, len(data)))
        junk = draw(st.one_of(st.sampled_from(HOSTILE), st.text(max_size=10))).encode("utf-8", "surrogatepass")
        data = data[:at] + junk + data[at:]
    elif how == "flip" and data:
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1:]
    return data


def import_unit(path: Path) -> ImportUnit | None:
    """The importer's verdict on one file: a unit, or None after an InputError that names the file."""
    try:
        return next(ProvImporter(max_input_bytes=8_000_000).units(str(path)))
    except InputError as exc:
        assert exc.source == str(path), f"the error names {exc.source!r}, not the input"
        assert str(exc).strip()
        return None


def assert_consistent(unit: ImportUnit) -> None:
    """What a correct import must satisfy: one kind per id, relations between ids of the right kinds."""
    kinds: dict[str, ElementKind] = {}
    for element in unit.elements:
        assert kinds.setdefault(element.id, element.kind) is element.kind
        element.properties()  # every value convertible and redactable
    for relation in unit.relations:
        relation.properties()
        for end, want in ((relation.start, relation.start_kind), (relation.end, relation.end_kind)):
            assert isinstance(end, str) and end
            if want is not None and end in kinds:
                assert kinds[end] is want


@PARSE
@given(data=st.data())
def test_fuzz_prov_json_parse(tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "doc.json"
    path.write_bytes(data.draw(damaged(data.draw(prov_json()))))
    unit = import_unit(path)
    if unit is not None:
        assert_consistent(unit)


@pytest.mark.parametrize("suffix", sorted(SERIALISE))
def test_fuzz_prov_formats_parse(tmp_path_factory: pytest.TempPathFactory, suffix: str) -> None:
    @PARSE
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        doc = data.draw(prov_records())
        try:
            text = SERIALISE[suffix](doc)
        except Exception:  # a document prov itself cannot write is not our input
            assume(False)
            return
        path = tmp_path_factory.mktemp("fuzz") / f"doc{suffix}"
        path.write_bytes(data.draw(damaged(text)))
        unit = import_unit(path)
        if unit is not None:
            assert_consistent(unit)

    check()


GOOD = '{"prefix": {"ok": "urn:fuzz-good:"}, "entity": {"ok:anchor": {"prov:label": "anchor"}}}'


@pytest.mark.integration
@THROUGH_DB
@given(data=st.data())
def test_fuzz_prov_json_through_neo4j(store: GraphStore, tmp_path_factory: pytest.TempPathFactory,
                                      data: st.DataObject) -> None:
    """Through the real store: a refused file leaves nothing behind, and the good file beside it lands."""
    store.clear()
    folder = tmp_path_factory.mktemp("fuzzdb")
    fuzzed, good = folder / "fuzzed.json", folder / "good.json"
    fuzzed.write_bytes(data.draw(damaged(data.draw(prov_json()))))
    good.write_text(GOOD)
    expected = import_unit(fuzzed)
    outcome = run_import(store, ProvImporter(max_input_bytes=8_000_000), [str(fuzzed), str(good)])
    ids = {r["id"] for r in store.read("MATCH (n:Element) RETURN n.id AS id")}
    assert "urn:fuzz-good:anchor" in ids, "the other input of the same invocation still lands"
    if expected is None or outcome.errors:
        assert ids == {"urn:fuzz-good:anchor"}, "nothing of a refused file is written"
        assert all(e.source == str(fuzzed.resolve()) or e.source == str(fuzzed) for e in outcome.errors)
    else:
        declared = {e.id for e in expected.elements}
        assert declared <= ids
