"""Round trip of every example document the installed ``prov`` package ships for its own tests.

Each document is imported into a real Neo4j through the PROV importer, exported again by its
import run, and compared with the document ``prov`` itself reads from the file, using prov's own
document equality (both ways, since ``ProvDocument.__eq__`` only looks up one side's bundles).
The documents ``prov`` cannot read (or cannot round-trip on its own) are the exceptions; they are
listed in docs/prov.md and pinned here so that the list cannot silently grow.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import prov
import pytest
from prov.model import ProvDocument
from prov.tests import examples

from lineagegraph.errors import InputError
from lineagegraph.export import select_import_run, to_prov_document
from lineagegraph.importers.base import run_import
from lineagegraph.importers.prov import ProvImporter
from lineagegraph.provcodec import document_to_graph
from lineagegraph.store import GraphStore

PROV_TESTS = Path(prov.__file__).parent / "tests"
# Folder -> how prov's own tests read the files in it (chosen here, not by the importer).
CORPUS_GLOBS: dict[str, tuple[str, dict[str, str]]] = {
    "json/*.json": ("json", {}),
    "rdf/*.ttl": ("rdf", {"rdf_format": "turtle"}),
    "rdf/*.trig": ("rdf", {"rdf_format": "trig"}),
    "xml/*.xml": ("xml", {}),
    "provn/**/*.provn": ("provn", {}),
    "jsonld/*.jsonld": ("jsonld", {}),
    "unification/*.json": ("json", {}),
    "unification/constraints/*.xml": ("xml", {}),
}
CORPUS: dict[str, tuple[str, dict[str, str]]] = {
    str(path.relative_to(PROV_TESTS)): how
    for pattern, how in CORPUS_GLOBS.items()
    for path in sorted(PROV_TESTS.glob(pattern))
}

SCRUFFY = ("PROV-O giving one qualified relation two values for a formal attribute; prov refuses "
           "to read it as one record")
UNPREFIXED = ("an unprefixed name with no default namespace (e.g. prov:type=\"Discuss\"); prov "
              "cannot make a qualified name of it")
NOT_A_STATEMENT = ("a fragment of the PROV-N/PROV-DM Recommendation that is not a complete "
                   "statement or that the formal grammar rejects (prov's tests/provn/README.md)")
DICTIONARY = "a PROV-Dictionary set-of-pairs literal, which prov's PROV-N reader does not support"
NO_VALUE = "a prov:entity element with XML attributes but no value prov can represent"
EXCEPTIONS: dict[str, str] = {
    **{f"rdf/scruffy-{kind}{n}-{size}.ttl": SCRUFFY
       for kind, count in (("end", 4), ("generation", 2), ("invalidation", 2), ("start", 4),
                           ("usage", 2))
       for n in range(1, count + 1) for size in "MS"},
    **{f"xml/example_{n}.xml": UNPREFIXED
       for n in (11, 12, 17, 22, 23, 24, 25, 27, 28, 37, 38, 39)},
    "provn/provtoolbox/container0.provn": "bare local names with no default namespace declared",
    "provn/provtoolbox/container1.provn": DICTIONARY,
    "provn/provtoolbox/container2.provn": "a bare IRI as a datatype; PROV-N needs a qualified name",
    "provn/provtoolbox/prov-family.provn": DICTIONARY,
    "provn/provtoolbox/prov-family-graphics.provn": DICTIONARY,
    **{f"provn/spec/prov-dm/prov-dm-example-{n:02d}.provn": NOT_A_STATEMENT
       for n in (3, 4, 5, 6, 16, 19, 24, 34, 52, 53, 55, 56, 57, 58, 59, 63)},
    **{f"provn/spec/prov-n/prov-n-example-{n:02d}.provn": NOT_A_STATEMENT
       for n in (16, 37, 52, 53, 54, 55, 56, 59, 61, 63, 64)},
    **{f"unification/constraints/bundle-{name}.xml": NO_VALUE
       for name in ("fail1", "success1", "success2")},
}



def _read(name: str) -> ProvDocument:
    prov_format, options = CORPUS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ProvDocument.deserialize(str(PROV_TESTS / name), format=prov_format, **options)


# The kind PROV-DM gives each formal argument that is an edge end (a relation's first two).
_ROLE_KINDS = {
    **dict.fromkeys(("entity", "generatedEntity", "usedEntity", "trigger", "collection", "specificEntity",
                     "generalEntity", "alternate1", "alternate2"), "prov:Entity"),
    **dict.fromkeys(("activity", "informed", "informant"), "prov:Activity"),
    **dict.fromkeys(("agent", "delegate", "responsible"), "prov:Agent"),
}


def _kinds_per_identifier(document: ProvDocument) -> dict[str, set[str]]:
    """The kinds each identifier is given, by its declarations and by the relations that name it
    as an end, in the document and its bundles (read with prov's own API, not the importer's)."""
    kinds: dict[str, set[str]] = {}
    for container in [document, *document.bundles]:
        for record in container.get_records():
            if record.is_element() and record.identifier is not None:
                kinds.setdefault(record.identifier.uri, set()).add(str(record.get_type()))
            elif record.is_relation() and all(v is not None for _, v in record.formal_attributes[:2]):
                for name, value in record.formal_attributes[:2]:  # an edge: both ends are there
                    kind = _ROLE_KINDS.get(name.localpart)
                    if kind:
                        kinds.setdefault(value.uri, set()).add(kind)
    return kinds


def _declares_one_id_as_two_kinds(name: str) -> bool:
    try:
        document = _read(name)
    except Exception:
        return False
    return any(len(types) > 1 for types in _kinds_per_identifier(document).values())


# PROV gives an identifier one kind; lineagegraph keeps one node per id, so a document that declares
# one id as, say, an entity and an activity (prov reads it; the PROV constraints reject it) is refused.
TWO_KINDS = sorted(name for name in CORPUS if name not in EXCEPTIONS and _declares_one_id_as_two_kinds(name))
ROUND_TRIPPED = [name for name in CORPUS if name not in EXCEPTIONS and name not in TWO_KINDS]


def _prov_round_trips(name: str) -> bool:
    """Whether prov alone reads the file, writes it in its format and reads back an equal one."""
    prov_format, options = CORPUS[name]
    try:
        document = _read(name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            text = document.serialize(format=prov_format, **options)
            again = ProvDocument.deserialize(content=text, format=prov_format, **options)
    except Exception:
        return False
    return document == again and again == document


def test_corpus_is_there_and_exceptions_are_exactly_what_prov_cannot_round_trip() -> None:
    assert len(CORPUS) > 1400  # a moved corpus must not make this test vacuous
    assert set(EXCEPTIONS) <= set(CORPUS)
    failing = {name for name in CORPUS if not _prov_round_trips(name)}
    assert failing == set(EXCEPTIONS)


def _assert_run_exports(store: GraphStore, run_id: str, original: ProvDocument) -> None:
    exported = to_prov_document(select_import_run(store, run_id))
    assert exported == original
    assert original == exported


@pytest.mark.parametrize("name", ROUND_TRIPPED)
def test_corpus_document_round_trips(store: GraphStore, name: str) -> None:
    original = _read(name)
    outcome = run_import(store, ProvImporter(), [str(PROV_TESTS / name)])
    assert not outcome.errors, outcome.errors
    [summary] = outcome.summaries
    _assert_run_exports(store, summary.run_id, original)


@pytest.mark.parametrize(("name", "build"), examples.tests, ids=[n for n, _ in examples.tests])
def test_prov_python_examples_round_trip(store: GraphStore, name: str,
                                         build: Callable[[], ProvDocument]) -> None:
    original = build()
    elements, relations = document_to_graph(original)
    summary = store.import_elements("prov", f"examples:{name}", elements, relations)
    _assert_run_exports(store, summary.run_id, original)


def test_documents_giving_an_id_two_kinds_are_few_and_named() -> None:
    assert 0 < len(TWO_KINDS) < 10, TWO_KINDS  # a change of rule must not silently swallow the corpus


@pytest.mark.parametrize("name", TWO_KINDS)
def test_an_id_of_two_kinds_is_refused_whole(store: GraphStore, name: str) -> None:
    outcome = run_import(store, ProvImporter(), [str(PROV_TESTS / name)])
    assert outcome.summaries == []
    [error] = outcome.errors
    assert isinstance(error, InputError) and error.source == str(PROV_TESTS / name)
    assert "kind" in str(error)
    assert store.read("MATCH (n:Element) RETURN count(n) AS n") == [{"n": 0}]


@pytest.mark.parametrize("name", sorted(EXCEPTIONS))
def test_unreadable_corpus_documents_are_rejected_whole(store: GraphStore, name: str) -> None:
    outcome = run_import(store, ProvImporter(), [str(PROV_TESTS / name)])
    assert outcome.summaries == []
    [error] = outcome.errors
    assert isinstance(error, InputError) and error.source == str(PROV_TESTS / name)
    assert str(error).startswith(str(PROV_TESTS / name) + ":")
    assert store.read("MATCH (n) RETURN count(n) AS n") == [{"n": 0}]
