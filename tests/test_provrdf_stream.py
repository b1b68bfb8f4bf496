"""The streamed PROV-O reader gives exactly the graph of the whole-document reader.

Every Turtle and TriG document of prov's own test corpus and the bundled Turtle sample are mapped
both ways, each also rewritten as N-Triples (and the sample as N-Quads and with its triples
shuffled, so a subject's triples are far apart), with chunks so small that almost every subject
lands in a chunk of its own; the element and relation models must be equal (properties and exact
PROV encoding included), whatever the order. Documents the streamed reader refuses
(``NotStreamable``) are read whole by the importer; they must be few.
"""

from __future__ import annotations

import json
import random
import warnings
from pathlib import Path
from typing import Any

import prov
import pytest
from rdflib import Graph

from lineagegraph.errors import InputError
from lineagegraph.export import select_import_run, to_prov_document
from lineagegraph.importers.base import run_import
from lineagegraph.importers.prov import ProvImporter, load_document
from lineagegraph.importers.provjson_stream import NotStreamable
from lineagegraph.importers.provrdf_stream import stream_rdf_graph
from lineagegraph.model import Element, Relation
from lineagegraph.provcodec import document_to_graph, quiet_prov
from lineagegraph.store import GraphStore
from lineagegraph.writer import ChunkLimits

PROV_RDF = Path(prov.__file__).parent / "tests" / "rdf"
SAMPLE = Path(__file__).resolve().parent.parent / "lineagegraph" / "samples" / "ml-train-v2.ttl"
DOCUMENTS = [SAMPLE, *sorted(PROV_RDF.glob("*.ttl")), *sorted(PROV_RDF.glob("*.trig"))]
RDF_FORMAT = {".ttl": "turtle", ".trig": "trig", ".nt": "nt", ".nq": "nquads"}


def unordered(provn: str) -> list[Any]:
    """A PROV-N statement with its attribute list as a sorted list (formal arguments kept in place)."""
    head, bracket, rest = provn.partition("[")
    return [head, sorted(rest.rsplit("]", 1)[0].split(", ")) if bracket else []]


def canonical(items: list[Element | Relation]) -> list[str]:
    def one(item: Element | Relation) -> dict[str, Any]:
        if isinstance(item, Element):
            props = item.properties()
            if "prov_partial" in props:
                # The PROV-N of a partial relation lists its attributes in the order prov's RDF
                # decoder met them, which follows Python's hash seed even on the whole-document
                # path (its exact form, prov_attrs, is canonical): compare the attributes as a set.
                props["prov_partial"] = [unordered(text) for text in props["prov_partial"]]
            return {"kind": item.kind.value, "id": item.id, "labels": sorted(item.extra_labels), "props": props}
        return {"type": item.type.value, "start": item.start, "end": item.end, "key": item.key(),
                "props": item.properties()}

    return sorted(json.dumps(one(i), sort_keys=True, default=str) for i in items)


def whole(path: Path) -> list[Element | Relation] | None:
    """The whole-document path's rows, or None when it refuses the file."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            elements, relations = document_to_graph(load_document(path, max_input_bytes=2**30))
    except (InputError, ValueError):
        return None
    return [*elements, *relations]


def as_ntriples(path: Path, out: Path) -> Path:
    graph = Graph()
    with quiet_prov():  # rdflib logs the corpus's out-of-range literals; not this test's concern
        graph.parse(path, format=RDF_FORMAT[path.suffix])
    target = out / (path.stem + ".nt")
    target.write_text(graph.serialize(format="nt"))
    return target


def compare(path: Path) -> bool:
    """Assert both readers agree on ``path``; False when the streamed reader declines it."""
    expected = whole(path)
    try:
        streamed = list(stream_rdf_graph(path, RDF_FORMAT[path.suffix], chunk_triples=1))
    except NotStreamable:
        return False
    except Exception:  # whichever error prov raises; the importer names the file
        assert expected is None, f"only the streamed reader refuses {path.name}"
        return True
    assert expected is not None, f"only the whole-document reader refuses {path.name}"
    assert canonical(streamed) == canonical(expected)
    return True


@pytest.mark.parametrize("path", DOCUMENTS, ids=[p.name for p in DOCUMENTS])
def test_streamed_graph_equals_the_whole_document_graph(path: Path, tmp_path: Path) -> None:
    compare(path)


TURTLE = [p for p in DOCUMENTS if p.suffix == ".ttl"][::5]  # N-Triples has no named graphs for TriG's bundles


@pytest.mark.parametrize("path", TURTLE, ids=[p.name for p in TURTLE])
def test_the_same_document_as_n_triples(path: Path, tmp_path: Path) -> None:
    compare(as_ntriples(path, tmp_path))


def test_most_of_the_corpus_streams() -> None:
    declined = [p.name for p in DOCUMENTS if whole(p) is not None and not compare(p)]
    assert len(declined) <= len(DOCUMENTS) // 20, declined


def test_a_subjects_triples_may_be_anywhere_in_the_file(tmp_path: Path) -> None:
    """N-Quads (default graph), shuffled: the triples of one subject far apart, blank nodes included."""
    nt = as_ntriples(SAMPLE, tmp_path).read_text().splitlines()
    random.Random(8).shuffle(nt)
    nq = tmp_path / "shuffled.nq"
    nq.write_text("\n".join(nt) + "\n")
    assert compare(nq)
    streamed = list(stream_rdf_graph(nq, "nquads", chunk_triples=1))
    ids = [i.id for i in streamed if isinstance(i, Element)]
    assert len(ids) == len(set(ids)), "each node is mapped once, from all its triples"


def test_bundles_are_declined_and_read_whole_with_a_note(tmp_path: Path) -> None:
    [trig] = [p for p in DOCUMENTS if p.suffix == ".trig" and whole(p)][:1]
    with pytest.raises(NotStreamable, match="named graphs"):
        list(stream_rdf_graph(trig, "trig"))
    importer = ProvImporter(stream_above=0)
    [unit] = importer.units(str(trig))
    assert canonical([*unit.items()]) == canonical(whole(trig) or [])
    assert any("read whole" in note for note in importer.warnings[str(trig)])


def test_relative_iris_are_read_whole_as_before(tmp_path: Path) -> None:
    relative = tmp_path / "relative.ttl"
    relative.write_text("@prefix prov: <http://www.w3.org/ns/prov#> .\n<e1> a prov:Entity .\n")
    importer = ProvImporter(stream_above=0)
    [unit] = importer.units(str(relative))
    assert canonical([*unit.items()]) == canonical(whole(relative) or [])
    assert importer.warnings[str(relative)] == ["read whole, not streamed: relative IRIs are read whole"]


def test_a_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ttl"
    bad.write_text(SAMPLE.read_text() + "\nex:broken prov:used .\n")
    with pytest.raises(InputError) as caught:
        next(ProvImporter(stream_above=0).units(str(bad)))
    assert caught.value.source == str(bad)
    bad_line = len(SAMPLE.read_text().splitlines()) + 2
    assert caught.value.location and caught.value.location.split(":")[0] == str(bad_line)


def test_rdf_without_prov_statements_is_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "foaf.nt"
    foreign.write_text('<https://example.org/a> <http://xmlns.com/foaf/0.1/name> "A" .\n')
    with pytest.raises(InputError, match="no PROV statements"):
        next(ProvImporter(stream_above=0).units(str(foreign)))


@pytest.mark.integration
def test_a_streamed_turtle_import_exports_the_same_document(store: GraphStore) -> None:
    """Through the importer, in chunks of 4 rows: the run exports exactly the document rdflib and prov read."""
    store.chunk_limits = ChunkLimits(rows=4, batch=2)
    try:
        outcome = run_import(store, ProvImporter(stream_above=0), [str(SAMPLE)])
    finally:
        store.chunk_limits = ChunkLimits()
    assert not outcome.errors
    [summary] = outcome.summaries
    assert store.read("MATCH (r:ImportRun {id: $id}) RETURN r.chunks AS c", id=summary.run_id)[0]["c"] > 1
    exported = to_prov_document(select_import_run(store, summary.run_id))
    original = load_document(SAMPLE, max_input_bytes=2**30)
    assert exported == original and original == exported


@pytest.mark.integration
def test_a_broken_streamed_file_is_refused_before_anything_is_written(store: GraphStore, tmp_path: Path) -> None:
    broken = tmp_path / "broken.nt"
    broken.write_text(as_ntriples(SAMPLE, tmp_path).read_text()[:-40])
    outcome = run_import(store, ProvImporter(stream_above=0), [str(broken), str(SAMPLE)])
    [error] = outcome.errors
    assert error.source == str(broken) and isinstance(error, InputError)
    assert [s.source for s in outcome.summaries] == [str(SAMPLE)]
    statuses = {r["run"]["source"]: r["run"]["status"] for r in store.import_runs()}
    assert statuses == {str(SAMPLE): "ok"}, "the broken file never started a run"


def test_named_graph_free_trig_streams(tmp_path: Path) -> None:
    """TriG is what Turtle-looking content without an extension is read as; without graphs it streams."""
    trig = tmp_path / "sample.trig"
    trig.write_text(SAMPLE.read_text())
    assert compare(trig)


def test_a_relation_node_nobody_points_to_is_mapped_with_the_node_it_names(tmp_path: Path) -> None:
    """A generation with only its activity is kept on that activity, even when far apart in the file."""
    doc = tmp_path / "partial.ttl"
    doc.write_text("""@prefix prov: <http://www.w3.org/ns/prov#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix ex: <https://example.org/ex#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
ex:act a prov:Activity ; rdfs:label "make" .
ex:other a prov:Entity .
ex:more a prov:Entity ; prov:wasGeneratedBy ex:act .
_:g a prov:Generation ; prov:activity ex:act ; prov:atTime "2026-01-01T00:00:00Z"^^xsd:dateTime .
""")
    assert compare(doc)
    streamed = list(stream_rdf_graph(doc, "turtle", chunk_triples=1))
    [act] = [i for i in streamed if isinstance(i, Element) and i.id == "https://example.org/ex#act"]
    assert act.properties().get("prov_partial"), "the one-ended generation stays on its activity"
    assert act.label == "make"
