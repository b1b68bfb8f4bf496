"""PROV import and export on a real Neo4j: mapping, identity, bad input, CLI, samples."""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime
from pathlib import Path

import prov
import pytest
from prov.model import ProvDocument

from lineagegraph.cli import main
from lineagegraph.errors import InputError
from lineagegraph.export import (
    export_prov,
    select_all,
    select_import_run,
    select_lineage,
    to_prov_document,
)
from lineagegraph.importers.base import run_import
from lineagegraph.importers.prov import ProvImporter
from lineagegraph.model import Activity, Entity, WasGeneratedBy
from lineagegraph.store import GraphStore

SAMPLES = Path(__file__).resolve().parent.parent / "lineagegraph" / "samples"
MALFORMED = Path(prov.__file__).parent / "tests" / "malformed"
EX = "http://example.org/ex#"

MAPPING_DOC = """document
  prefix ex <http://example.org/ex#>
  prefix dcat <http://www.w3.org/ns/dcat#>
  entity(ex:report, [prov:label="Q1 report", prov:type='ex:Report', prov:type='prov:Plan',
                     ex:pages=12, ex:pages=13, ex:lang="Bericht"@de, prov:location="s3://r/q1.pdf"])
  entity(ex:report-draft)
  activity(ex:write, 2024-01-02T03:04:05Z, 2024-01-02T04:00:00Z, [ex:version="1.2.0"])
  agent(ex:ann, [prov:type='prov:Person'])
  used(ex:u1; ex:write, ex:data, 2024-01-02T03:05:00Z, [prov:role='ex:input'])
  wasGeneratedBy(ex:report, ex:write, 2024-01-02T03:59:00Z)
  wasGeneratedBy(ex:orphan-output, -, 2024-01-03T00:00:00Z)
  wasDerivedFrom(ex:report, ex:report-draft, [prov:type='prov:Revision'])
  wasAssociatedWith(ex:write, ex:ann, ex:howto)
  bundle ex:b1
    entity(ex:inner, [prov:label="inside a bundle"])
    wasDerivedFrom(ex:inner, ex:report)
  endBundle
endDocument
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _read(path: Path, fmt: str, **options: str) -> ProvDocument:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ProvDocument.deserialize(str(path), format=fmt, **options)


def _node(store: GraphStore, node_id: str) -> dict[str, object]:
    rows = store.read("MATCH (n:Element {id: $id}) RETURN labels(n) AS labels, properties(n) AS p",
                      id=node_id)
    assert rows, node_id
    return {"labels": set(rows[0]["labels"]), **rows[0]["p"]}


def test_mapping_of_elements_relations_and_bundles(store: GraphStore, tmp_path: Path) -> None:
    path = _write(tmp_path, "mapping.provn", MAPPING_DOC)
    outcome = run_import(store, ProvImporter(), [str(path)])
    assert not outcome.errors

    report = _node(store, EX + "report")
    assert report["labels"] == {"Element", "Entity", "Plan"}
    assert report["qname"] == "ex:report" and report["label"] == "Q1 report"
    assert report["prov_type"] == ["ex:Report", "prov:Plan"]
    assert sorted(report["ex:pages"]) == [12, 13]  # type: ignore[type-var]
    assert report["ex:lang"] == "Bericht" and report["location"] == "s3://r/q1.pdf"
    assert "bundles" not in report

    write = _node(store, EX + "write")
    assert write["labels"] == {"Element", "Activity"} and write["ex:version"] == "1.2.0"
    assert write["started_at"].to_native() == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)  # type: ignore[attr-defined]
    assert _node(store, EX + "ann")["agent_type"] == "Person"

    # Referenced but never declared: stubs.
    assert _node(store, EX + "data")["stub"] is True
    # The bundle is an entity; its records know it.
    assert _node(store, EX + "b1")["labels"] == {"Element", "Entity", "Bundle"}
    assert _node(store, EX + "inner")["bundles"] == [EX + "b1"]
    # A generation without its activity cannot be an edge: kept on the entity it names.
    orphan = _node(store, EX + "orphan-output")
    assert orphan["prov_partial"] == [
        "wasGeneratedBy(ex:orphan-output, -, 2024-01-03T00:00:00+00:00)"]

    rels = {(r["a"], r["t"], r["b"]): r["p"] for r in store.read(
        "MATCH (a)-[r]->(b) RETURN a.id AS a, type(r) AS t, b.id AS b, properties(r) AS p")}
    used = rels[(EX + "write", "USED", EX + "data")]
    assert used["prov_id"] == EX + "u1" and used["role"] == "ex:input"
    assert used["time"].to_native() == datetime(2024, 1, 2, 3, 5, tzinfo=UTC)
    assert rels[(EX + "report", "WAS_DERIVED_FROM", EX + "report-draft")]["derivation_type"] == "revision"
    assert rels[(EX + "write", "WAS_ASSOCIATED_WITH", EX + "ann")]["plan"] == EX + "howto"
    inner = rels[(EX + "inner", "WAS_DERIVED_FROM", EX + "report")]
    assert inner["bundles"] == [EX + "b1"]
    assert len(rels) == 5

    exported = to_prov_document(select_import_run(store, outcome.summaries[0].run_id))
    assert exported == _read(path, "provn")


def test_same_namespace_under_different_prefixes_meets_on_one_node(
        store: GraphStore, tmp_path: Path) -> None:
    first = _write(tmp_path, "a.provn", """document
      prefix a <http://example.org/shared/>
      entity(a:dataset, [prov:label="shared dataset"])
    endDocument""")
    second = _write(tmp_path, "b.json", json.dumps({
        "prefix": {"zz": "http://example.org/shared/"},
        "activity": {"zz:job": {}},
        "used": {"_:u": {"prov:activity": "zz:job", "prov:entity": "zz:dataset"}},
    }))
    outcome = run_import(store, ProvImporter(), [str(first), str(second)])
    assert not outcome.errors and len(outcome.summaries) == 2
    rows = store.read("MATCH (n:Element) WHERE n.id ENDS WITH 'dataset' "
                      "RETURN n.id AS id, n.label AS label, n.stub AS stub")
    assert rows == [{"id": "http://example.org/shared/dataset", "label": "shared dataset", "stub": None}]
    assert store.read("MATCH (:Activity {id: 'http://example.org/shared/job'})-[:USED]->"
                      "(e:Entity {id: 'http://example.org/shared/dataset'}) RETURN count(*) AS n") == [{"n": 1}]
    # The prefix form stays for display; the export of the second run has both ends.
    assert store.read("MATCH (n:Activity) RETURN n.qname AS q") == [{"q": "zz:job"}]
    doc = to_prov_document(select_import_run(store, outcome.summaries[1].run_id))
    [used] = [r for r in doc.get_records() if r.is_relation()]
    assert [q.uri for _, q in used.formal_attributes[:2]] == [
        "http://example.org/shared/job", "http://example.org/shared/dataset"]


@pytest.mark.parametrize("path", sorted(MALFORMED.iterdir()), ids=lambda p: p.name)
def test_malformed_files_are_rejected_whole(store: GraphStore, path: Path) -> None:
    outcome = run_import(store, ProvImporter(), [str(path)])
    assert outcome.summaries == []
    [error] = outcome.errors
    assert error.source == str(path) and str(error).startswith(f"{path}:")
    assert store.read("MATCH (n) RETURN count(n) AS n") == [{"n": 0}]


def test_syntax_errors_name_the_line(store: GraphStore, tmp_path: Path) -> None:
    bad = _write(tmp_path, "bad.provn",
                 "document\n  prefix ex <http://example.org/>\n  entity(ex:a\n  entity(ex:b)\nendDocument\n")
    with pytest.raises(InputError) as caught:
        list(ProvImporter().units(str(bad)))
    assert caught.value.location is not None and caught.value.location.startswith("4:")
    bad_json = _write(tmp_path, "bad.json", '{"entity": {\n  "ex:a": {}\n')
    with pytest.raises(InputError, match=r"bad\.json:3:\d+: not valid JSON"):
        list(ProvImporter().units(str(bad_json)))
    with pytest.raises(InputError, match="cannot tell which PROV serialisation"):
        list(ProvImporter().units(str(_write(tmp_path, "notes.txt", "hello"))))


def test_cli_imports_good_files_and_reports_the_bad_one(
        store: GraphStore, cli_env: dict[str, str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    bad = _write(tmp_path, "broken.provn", "document\n  entity(ex:a)\nendDocument\n")
    files = [str(SAMPLES / "ml-data-prep.provn"), str(bad), str(SAMPLES / "ml-train-v1.json")]
    code = main(["import", "prov", *files])
    out, err = capsys.readouterr()
    assert code == 2
    assert [line.split(": ok;")[0] for line in out.splitlines()] == [files[0], files[2]]
    assert err.count("lineagegraph: error:") == 1
    assert f"lineagegraph: error: {bad}:2:" in err
    runs = store.read("MATCH (r:ImportRun) RETURN r.source AS source, r.status AS status "
                      "ORDER BY source")
    assert runs == [{"source": files[0], "status": "ok"}, {"source": files[2], "status": "ok"}]
    assert store.read("MATCH (n:Element) WHERE n.id STARTS WITH 'ex:' OR n.qname = 'ex:a' "
                      "RETURN count(n) AS n") == [{"n": 0}]


def test_cli_json_summary_and_export_round_trip(
        store: GraphStore, cli_env: dict[str, str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    sample = SAMPLES / "ml-train-v2.ttl"
    assert main(["import", "prov", "--json", "--quiet", str(sample)]) == 0
    report = json.loads(capsys.readouterr().out)
    [summary] = report["imports"]
    assert report["errors"] == [] and summary["status"] == "ok" and summary["source"] == str(sample.resolve())
    declared = store.read("MATCH (n:Element) WHERE n.stub IS NULL RETURN count(n) AS n")[0]["n"]
    assert summary["nodes"]["created"] == summary["nodes"]["total"] == declared

    out_file = tmp_path / "out.json"
    assert main(["export", "prov", "--import-run", summary["run_id"], "--format", "json",
                 "-o", str(out_file), "--quiet"]) == 0
    assert _read(out_file, "json") == _read(sample, "rdf", rdf_format="turtle")

    assert main(["export", "prov", "--all", "--format", "trig"]) == 0
    assert _read(_write(tmp_path, "all.trig", capsys.readouterr().out), "rdf", rdf_format="trig") \
        == _read(sample, "rdf", rdf_format="turtle")


def test_cli_export_arguments_are_checked(
        store: GraphStore, cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "prov"]) == 2
    assert "choose exactly one of --root ID, --import-run RUN, --all" in capsys.readouterr().err
    assert main(["export", "prov", "--all", "--import-run", "x"]) == 2
    capsys.readouterr()
    assert main(["export", "prov", "--import-run", "run-nope"]) == 5
    assert "no import run with id 'run-nope'" in capsys.readouterr().err
    assert main(["export", "prov", "--root", "https://nowhere/x"]) == 5
    capsys.readouterr()


def test_turtle_export_refuses_bundles(store: GraphStore, tmp_path: Path) -> None:
    path = _write(tmp_path, "m.provn", MAPPING_DOC)
    run_import(store, ProvImporter(), [str(path)])
    with pytest.raises(Exception, match="cannot hold PROV bundles"):
        export_prov(select_all(store), "ttl")
    assert _read(_write(tmp_path, "m.trig", export_prov(select_all(store), "trig")), "rdf",
                 rdf_format="trig") == _read(path, "provn")


def test_samples_tell_the_ml_story(store: GraphStore) -> None:
    outcome = run_import(store, ProvImporter(), [str(p) for p in sorted(SAMPLES.iterdir()) if p.is_file()])
    assert not outcome.errors and len(outcome.summaries) == 3
    lin = "https://example.org/lineage#"
    runs = {row["id"]: row for row in store.read(
        "MATCH (a:Activity) WHERE a.id STARTS WITH $p + 'train-run' "
        "RETURN a.id AS id, a.`ml:learning_rate` AS lr, a.code_version AS code, a.image AS image",
        p=lin)}
    assert runs == {
        lin + "train-run-41": {"id": lin + "train-run-41", "lr": 0.01, "code": "3f9c2a1",
                               "image": "registry.example.org/ml/trainer:1.4.0"},
        lin + "train-run-42": {"id": lin + "train-run-42", "lr": 0.005, "code": "8d41e07",
                               "image": "registry.example.org/ml/trainer:1.5.0"},
    }
    inputs = {row["run"]: set(row["inputs"]) for row in store.read(
        "MATCH (a:Activity)-[:USED]->(e) WHERE a.id STARTS WITH $p + 'train-run' "
        "RETURN a.id AS run, collect(e.id) AS inputs", p=lin)}
    assert inputs[lin + "train-run-41"] ^ inputs[lin + "train-run-42"] == {
        lin + "labels-2024q1", lin + "labels-2024q2"}
    assert store.read(
        "MATCH (:Entity {id: $v2})-[r:WAS_DERIVED_FROM]->(:Entity {id: $v1}) "
        "RETURN r.derivation_type AS t", v1=lin + "model-v1", v2=lin + "model-v2",
    ) == [{"t": "revision"}]
    hostile = store.read("MATCH (n {id: $id}) RETURN n.label AS label", id=lin + "raw-customers")
    assert hostile == [{"label": "customers export <img src=x onerror=alert(1)>"}]
    # Everything that model v2 came from, as PROV: both raw datasets and the features are there.
    doc = to_prov_document(select_lineage(store, lin + "model-v2", direction="up", depth=10))
    declared = {str(r.identifier) for r in doc.get_records() if r.is_element()}
    assert {"lin:model-v2", "lin:model-v1", "lin:features-2024q1", "lin:raw-customers",
            "lin:labels-2024q2", "lin:train-run-42"} <= declared
    assert "lin:labels-2024q1" in declared  # via model v1, which v2 revises


def test_nodes_from_other_importers_export_and_come_back_to_the_same_ids(
        store: GraphStore, tmp_path: Path) -> None:
    started = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    store.import_elements(
        "k8s", "cluster-a",
        [Entity(id="gs://bucket/models/model.pb", label="model.pb", digest="sha256:ab12"),
         Activity(id="job-17", label="train job", code_version="c0ffee", started_at=started,
                  params={"lr": 0.1})],
        [WasGeneratedBy(entity="gs://bucket/models/model.pb", activity="job-17", time=started),
         WasGeneratedBy(entity="gs://bucket/models/other.pb", activity="job-17")],
    )
    doc = to_prov_document(select_all(store))
    records = {r.identifier.uri: r for r in doc.get_records() if r.is_element()}  # type: ignore[union-attr]
    assert set(records) == {"gs://bucket/models/model.pb", "urn:lineagegraph:id:job-17"}  # no stub
    job = records["urn:lineagegraph:id:job-17"]
    attributes = {str(name): value for name, value in job.attributes}
    assert attributes["lg:code_version"] == "c0ffee" and attributes["prov:label"] == "train job"
    assert job.get_startTime() == started  # type: ignore[attr-defined]
    assert len([r for r in doc.get_records() if r.is_relation()]) == 2

    before = {r["id"] for r in store.read("MATCH (n:Element) RETURN n.id AS id")}
    path = _write(tmp_path, "k8s.provn", export_prov(select_all(store), "provn"))
    assert not run_import(store, ProvImporter(), [str(path)]).errors
    assert {r["id"] for r in store.read("MATCH (n:Element) RETURN n.id AS id")} == before


def test_reimport_from_another_process_is_unchanged(store: GraphStore, cli_env: dict[str, str]) -> None:
    """What cron sees: the same files imported again by a new process change nothing.

    prov keeps attributes in sets, whose order follows the hash seed of each process; the
    graph must not take a different order for a change.
    """
    import subprocess
    import sys

    files = [str(p) for p in sorted(SAMPLES.iterdir()) if p.is_file()]
    reports = []
    for seed in ("1", "2"):
        proc = subprocess.run(
            [sys.executable, "-m", "lineagegraph", "import", "prov", "--json", "--quiet", *files],
            env={**cli_env, "PYTHONHASHSEED": seed}, capture_output=True, text=True, check=False,
        )
        assert proc.returncode == 0, proc.stderr
        reports.append(json.loads(proc.stdout)["imports"])
    assert all(s["nodes"]["created"] > 0 for s in reports[0])
    for summary in reports[1]:
        assert summary["nodes"]["created"] == summary["nodes"]["updated"] == 0, summary
        assert summary["relationships"]["created"] == summary["relationships"]["updated"] == 0, summary
