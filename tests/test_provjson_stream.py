"""The streamed PROV-JSON reader gives exactly the graph of the whole-document reader.

Every PROV-JSON document of prov's own test corpus and the bundled sample are mapped both ways,
with chunks so small that almost every record lands in a chunk of its own; the element and
relation models must be equal (properties, exact PROV encoding included), whatever the order.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import prov
import pytest
from prov.model import ProvDocument

from lineagegraph.errors import InputError
from lineagegraph.export import select_import_run, to_prov_document
from lineagegraph.importers.base import run_import
from lineagegraph.importers.prov import ProvImporter
from lineagegraph.importers.provjson_stream import NotStreamable, _first_pass, stream_graph
from lineagegraph.model import Element, GraphItem, NodeRow, Relation, as_row
from lineagegraph.provcodec import document_to_graph
from lineagegraph.store import GraphStore
from lineagegraph.writer import ChunkLimits

PROV_TESTS = Path(prov.__file__).parent / "tests"
SAMPLE = Path(__file__).resolve().parent.parent / "lineagegraph" / "samples" / "ml-train-v1.json"
DOCUMENTS = [SAMPLE, *sorted((PROV_TESTS / "json").glob("*.json")),
             *sorted((PROV_TESTS / "unification").glob("*.json"))]


def canonical(items: list[GraphItem]) -> list[str]:
    """Models or rows, as what the graph keeps of each, in a stable order."""
    def one(item: GraphItem) -> dict[str, Any]:
        row = as_row(item)
        if isinstance(row, NodeRow):
            return {"kind": row.kind.value, "id": row.id, "labels": list(row.extra_labels), "props": row.properties}
        return {"type": row.relation.type.value, "start": row.start, "end": row.end, "key": row.key,
                "props": row.properties}

    return sorted(json.dumps(one(i), sort_keys=True, default=str) for i in items)


def whole(path: Path) -> list[Element | Relation] | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            elements, relations = document_to_graph(ProvDocument.deserialize(str(path), format="json"))
    except Exception:
        return None  # prov cannot read it; the importer's other tests cover that
    return [*elements, *relations]


@pytest.mark.parametrize("path", DOCUMENTS, ids=[p.name for p in DOCUMENTS])
def test_streamed_graph_equals_the_whole_document_graph(path: Path) -> None:
    expected = whole(path)
    if expected is None:
        with pytest.raises(Exception):  # noqa: B017 - whichever parser error prov raises
            list(stream_graph(path, chunk_records=2))
        return
    try:
        streamed = list(stream_graph(path, chunk_records=2))
    except NotStreamable:
        return  # read whole by the importer instead; nothing to compare
    assert canonical(streamed) == canonical(expected)


def test_most_of_the_corpus_streams() -> None:
    refused = []
    for path in DOCUMENTS:
        try:
            list(stream_graph(path, chunk_records=50))
        except NotStreamable:
            refused.append(path.name)
        except Exception:  # unreadable documents are covered above
            continue
    assert len(refused) <= len(DOCUMENTS) // 20, refused


def test_records_about_one_id_in_different_chunks_still_make_one_node(tmp_path: Path) -> None:
    doc = {
        "prefix": {"ex": "https://example.org/"},
        "entity": {"ex:a": {"prov:label": "first"}, "ex:b": {}, "ex:c": {}},
        "activity": {"ex:run": {}},
        "wasGeneratedBy": {"_:g": {"prov:entity": "ex:a"}},  # one end only: kept on ex:a
        "used": {"_:u": {"prov:activity": "ex:run", "prov:entity": "ex:b"}},
    }
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(doc))
    streamed = list(stream_graph(path, chunk_records=1))
    assert canonical(streamed) == canonical(whole(path) or [])
    [node_a] = [i for i in streamed if isinstance(i, NodeRow) and i.id == "https://example.org/a"]
    assert node_a.properties.get("prov_partial"), "the one-ended generation stays on its entity"


def held_ids_read_whole(doc: dict[str, Any]) -> set[str]:
    """What the first pass must find, worked out from the parsed document: ids that more than
    one record declares, and the ids named by relations with an end missing."""
    declared: dict[str, int] = {}
    held: set[str] = set()
    for section in ("entity", "activity", "agent"):
        for key, value in doc.get(section, {}).items():
            declared[key] = declared.get(key, 0) + (len(value) if isinstance(value, list) else 1)
    for section, ends in (("used", ("prov:activity", "prov:entity")),
                          ("wasGeneratedBy", ("prov:entity", "prov:activity"))):
        for value in doc.get(section, {}).values():
            for record in value if isinstance(value, list) else [value]:
                pair = [record.get(end) if isinstance(record, dict) else None for end in ends]
                if None in pair:
                    held.update(p for p in pair if isinstance(p, str))
    ids = {key for key, n in declared.items() if n > 1} | held
    return {"https://example.org/" + ident.partition(":")[2] for ident in ids}


def test_the_first_pass_finds_every_id_that_must_be_mapped_together(tmp_path: Path) -> None:
    # The first pass reads records without building them: lists of records under one key, a
    # member that is not an object, ends that are null or objects, and attribute values that
    # nest the names of ends must all be read as the parsed document says.
    doc = {
        "prefix": {"ex": "https://example.org/"},
        "entity": {
            "ex:twice": [{"prov:label": "one"}, {"prov:label": "two"}],
            "ex:once": [{"ex:inner": {"prov:entity": "ex:decoy", "list": [1, {"prov:entity": "ex:decoy2"}]}}],
            "ex:none": [],
            "ex:plain": {"ex:nested": [[{"prov:activity": "ex:decoy3"}]]},
            "ex:scalar": "not a record",
        },
        "activity": {"ex:run": {}, "ex:twice": {}},
        "used": {
            "_:u1": {"prov:activity": "ex:run", "prov:entity": "ex:plain"},
            "_:u2": {"prov:activity": "ex:run", "prov:entity": None},
            "_:u3": [{"prov:activity": "ex:half"}, "odd", ["odder"],
                     {"prov:activity": "ex:run", "prov:entity": "ex:once"}],
            "_:u4": {"prov:activity": {"$": "ex:run"}, "ex:note": {"prov:entity": "ex:decoy4"}},
        },
        "wasGeneratedBy": {"_:g": {"prov:entity": "ex:gen", "ex:x": [{"prov:activity": "ex:decoy5"}]}},
    }
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(doc))
    prefixes, held = _first_pass(path)
    assert prefixes == {"ex": "https://example.org/"}
    assert held == held_ids_read_whole(doc)
    assert {"https://example.org/twice", "https://example.org/half", "https://example.org/gen"} <= held
    assert not any("decoy" in ident for ident in held)


@pytest.mark.integration
def test_a_streamed_import_exports_the_same_document(store: GraphStore) -> None:
    """Through the importer, in chunks of 4 rows: the run exports exactly the document prov reads."""
    store.chunk_limits = ChunkLimits(rows=4, batch=2)
    try:
        outcome = run_import(store, ProvImporter(stream_above=0), [str(SAMPLE)])
    finally:
        store.chunk_limits = ChunkLimits()
    assert not outcome.errors
    [summary] = outcome.summaries
    assert store.read("MATCH (r:ImportRun {id: $id}) RETURN r.chunks AS c", id=summary.run_id)[0]["c"] > 1
    exported = to_prov_document(select_import_run(store, summary.run_id))
    original = ProvDocument.deserialize(str(SAMPLE), format="json")
    assert exported == original and original == exported


@pytest.mark.integration
def test_a_truncated_streamed_file_is_refused_before_anything_is_written(store: GraphStore,
                                                                        tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text(SAMPLE.read_text()[:-200])
    outcome = run_import(store, ProvImporter(stream_above=0), [str(broken), str(SAMPLE)])
    [error] = outcome.errors
    assert error.source == str(broken) and isinstance(error, InputError)
    assert [s.source for s in outcome.summaries] == [str(SAMPLE)]
    statuses = {r["run"]["source"]: r["run"]["status"] for r in store.import_runs()}
    assert statuses == {str(SAMPLE): "ok"}, "the broken file never started a run"
