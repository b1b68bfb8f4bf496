"""ctapipe provenance logs against the real Neo4j, and their way back out as W3C PROV.

Two logs: the demo's sample (lineagegraph/samples/ctapipe/provenance.json, written by hand in the
format ctapipe's ``Provenance.as_json`` writes, with CTAO reference metadata), and
tests/data/ctapipe-real.provenance.log, written by ctapipe 0.28 itself
(scripts/regen-ctapipe-sample.sh): ``ctapipe-quickstart`` writing a production's config files, then
``ctapipe-process`` reading one of them and failing on a missing event file, both appended to one
``--provenance-log`` (two JSON lists back to back, as ctapipe writes them).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prov.model import ProvActivity, ProvAgent, ProvAssociation, ProvDocument, ProvGeneration, ProvUsage

from lineagegraph.cli import main
from lineagegraph.export import export_prov, select_all
from lineagegraph.identity import location_id, version_id
from lineagegraph.importers.base import run_import
from lineagegraph.importers.ctapipe import CtapipeImporter
from lineagegraph.queries import LineageGraph
from lineagegraph.store import GraphStore

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).resolve().parent.parent / "lineagegraph" / "samples" / "ctapipe" / "provenance.json"
PROCESS = "urn:lineagegraph:ctapipe:activity:6b1c5c1e-2f0a-4c1e-9a53-0d6f3f0b8a01"
TRAIN = "urn:lineagegraph:ctapipe:activity:0f4e2b9a-7d5c-4a61-8e0b-3c2d1a9f6e02"
DL0 = "file:///data/cta/dl0/gamma_run1.simtel.zst"
DL1 = "file:///data/cta/dl1/gamma_run1.dl1.h5"
MODEL = "file:///data/cta/models/energy_regressor.pkl"
REAL = Path(__file__).resolve().parent / "data" / "ctapipe-real.provenance.log"


def _logged(path: Path) -> list[dict[str, Any]]:
    """The activities of a log as ctapipe wrote them: each run appends its own JSON list."""
    text, decoder, activities = path.read_text(), json.JSONDecoder(), []
    pos = 0
    while text[pos:].strip():
        pos += len(text[pos:]) - len(text[pos:].lstrip())
        chunk, pos = decoder.raw_decode(text, pos)
        activities.extend(chunk)
    return activities


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _props(store: GraphStore, node_id: str) -> dict[str, Any]:
    rows = store.read("MATCH (n:Element {id: $id}) RETURN n {.*} AS n", id=node_id)
    assert rows, node_id
    return dict(rows[0]["n"])


def _value(record: Any, local: str) -> list[str]:
    """Values of an attribute whatever namespace the export chose for it (lg:role, prov:role)."""
    return [str(v) for k, v in record.attributes if k.localpart == local]


def test_log_maps_activities_files_roles_and_software(store: GraphStore) -> None:
    outcome = run_import(store, CtapipeImporter(), [str(SAMPLE)])
    assert outcome.ok, outcome.errors
    process = _props(store, PROCESS)
    assert process["label"] == "ctapipe-process"
    assert process["status"] == "completed"
    assert process["started_at"].to_native() == datetime(2024, 3, 1, 20, 0, 0, 125000, tzinfo=UTC)
    assert json.loads(process["params"])["TailcutsImageCleaner"]["picture_threshold_pe"] == 8.0
    assert process["exit_code"] == 0

    used = store.read("MATCH (:Activity {id: $id})-[u:USED]->(e) RETURN e.id AS e, u.role AS role ORDER BY role",
                      id=PROCESS)
    assert [(r["e"], r["role"]) for r in used] == [(DL0, "DL0/Event"),
                                                   ("file:///data/cta/config/process.yaml", "Tool Configuration")]
    software = store.read("MATCH (:Activity {id: $id})-[w:WAS_ASSOCIATED_WITH]->(a:Agent) "
                          "RETURN a.label AS label, w.role AS role ORDER BY label", id=PROCESS)
    assert [(r["label"], r["role"]) for r in software] == [("CPython 3.11.4", "interpreter"),
                                                           ("ctapipe 0.19.2", "software")]
    dl1 = _props(store, version_id(DL1, PROCESS))
    assert dl1["product_data_model_name"] == "ASWG"
    assert dl1["product_data_level"] == ["DL1_IMAGES", "DL1_PARAMETERS"]

    # The regressor was trained on the DL1 file that ctapipe-process wrote: one chain back to DL0.
    up = LineageGraph(store).ancestors(version_id(MODEL, TRAIN), depth=10).ids
    assert {TRAIN, version_id(DL1, PROCESS), PROCESS, DL0} <= up


def test_exported_as_prov_it_reads_as_the_ivoa_model(store: GraphStore) -> None:
    run_import(store, CtapipeImporter(), [str(SAMPLE)])
    document = ProvDocument.deserialize(content=export_prov(select_all(store), "json", None), format="json")
    records = document.get_records()
    activities = {str(a.get_attribute("prov:label").pop()): a for a in records if isinstance(a, ProvActivity)}
    assert set(activities) == {"ctapipe-process", "ctapipe-train-energy-regressor"}
    process = activities["ctapipe-process"]
    assert process.get_startTime() == datetime(2024, 3, 1, 20, 0, 0, 125000, tzinfo=UTC)
    assert process.get_endTime() == datetime(2024, 3, 1, 20, 41, 7, 880000, tzinfo=UTC)

    usages = {(str(u.args[1]).split(":")[-1], tuple(_value(u, "role"))) for u in records if isinstance(u, ProvUsage)
              if u.args[0] == process.identifier}
    assert ("gamma_run1.simtel.zst", ("DL0/Event",)) in usages
    generations = [g for g in records if isinstance(g, ProvGeneration) and g.args[1] == process.identifier]
    assert [_value(g, "role") for g in generations] == [["DL1/Event"]]

    agents = {a.identifier: a for a in records if isinstance(a, ProvAgent)}
    associated = [agents[r.args[1]] for r in records
                  if isinstance(r, ProvAssociation) and r.args[0] == process.identifier]
    labels = sorted(str(a.get_attribute("prov:label").pop()) for a in associated)
    assert labels == ["CPython 3.11.4", "ctapipe 0.19.2"]
    assert all("prov:SoftwareAgent" in {str(t) for t in a.get_attribute("prov:type")} for a in associated)


def test_bad_logs_are_named_and_the_others_still_import(store: GraphStore, tmp_path: Path) -> None:
    log = json.loads(SAMPLE.read_text())
    nameless = tmp_path / "nameless.json"
    broken = dict(log[1])
    del broken["activity_name"]
    nameless.write_text(json.dumps([log[0], broken]))
    truncated = tmp_path / "truncated.json"
    truncated.write_text(SAMPLE.read_text()[:700])
    outcome = run_import(store, CtapipeImporter(), [str(nameless), str(truncated), str(SAMPLE)])
    errors = {Path(str(e.source)).name: e for e in outcome.errors}
    assert set(errors) == {"nameless.json", "truncated.json"}
    assert errors["nameless.json"].location == "activity 1"
    assert "activity_name" in str(errors["nameless.json"])
    assert errors["truncated.json"].location is not None and errors["truncated.json"].location.startswith("line ")
    assert [Path(s.source).name for s in outcome.summaries] == ["provenance.json"]


def test_reimport_is_idempotent_and_secrets_in_the_environment_are_not_stored(store: GraphStore,
                                                                               tmp_path: Path) -> None:
    log = json.loads(SAMPLE.read_text())
    log[0]["system"]["environment"]["AWS_SECRET_ACCESS_KEY"] = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    path = tmp_path / "log.json"
    path.write_text(json.dumps(log))
    run_import(store, CtapipeImporter(), [str(path)])
    assert run_import(store, CtapipeImporter(), [str(path)]).summaries[0].status == "skipped"
    again = run_import(store, CtapipeImporter(), [str(path)], force=True).summaries[0]
    assert again.status == "ok"
    assert (again.nodes.created, again.nodes.updated, again.relationships.created) == (0, 0, 0)
    assert "wJalrXUtnFEMI" not in _props(store, PROCESS)["environment"]


def test_cli(store: GraphStore, cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", "ctapipe", str(SAMPLE)]) == 0
    assert "provenance.json: ok" in capsys.readouterr().out


def test_a_log_written_by_ctapipe_itself(store: GraphStore, cli_env: dict[str, str],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    logged = _logged(REAL)
    assert [a["activity_name"] for a in logged] == ["ctapipe-quickstart", "ctapipe-process"]
    assert main(["import", "ctapipe", str(REAL)]) == 0
    assert "ctapipe-real.provenance.log: ok" in capsys.readouterr().out

    activity = {a["activity_name"]: f"urn:lineagegraph:ctapipe:activity:{a['activity_uuid']}" for a in logged}
    for run in logged:
        act = activity[run["activity_name"]]
        node = _props(store, act)
        assert (node["label"], node["status"], node["exit_code"]) == (
            run["activity_name"], run["status"], run["exit_code"])
        assert node["started_at"].to_native() == _utc(run["start"]["time_utc"])
        assert node["ended_at"].to_native() == _utc(run["stop"]["time_utc"])
        assert node["arguments"] == run["system"]["arguments"]
        # Which software ran it: ctapipe and the interpreter, with their versions.
        python = run["system"]["python"]
        agents = {(r["label"], r["role"]) for r in store.read(
            "MATCH (:Activity {id: $id})-[w:WAS_ASSOCIATED_WITH]->(g:Agent) RETURN g.label AS label, w.role AS role",
            id=act)}
        assert agents == {(f"ctapipe {run['system']['ctapipe_version']}", "software"),
                          (f"{python['implementation']} {'.'.join(python['version'])}", "interpreter")}
        # What it wrote: a version of every output file, with ctapipe's role.
        outputs = {(r["file"], r["role"]) for r in store.read(
            "MATCH (v:Entity)-[g:WAS_GENERATED_BY]->(:Activity {id: $id}), (v)-[:SPECIALIZATION_OF]->(f:Location) "
            "RETURN f.id AS file, g.role AS role", id=act)}
        assert outputs == {(location_id(o["url"]), o["role"]) for o in run["output"]}

    quickstart, process = logged
    assert len(quickstart["output"]) >= 10 and process["output"] == []
    assert json.loads(_props(store, activity["ctapipe-quickstart"])["params"]) == quickstart["config"]
    # What each read, with its role: quickstart the contact file; process the config quickstart wrote
    # (the version it generated, not just the path).
    used = {r["file"]: (r["role"], r["writer"]) for r in store.read(
        "MATCH (:Activity {id: $id})-[u:USED]->(e:Entity) "
        "OPTIONAL MATCH (e)-[:WAS_GENERATED_BY]->(w:Activity) "
        "RETURN coalesce([(e)-[:SPECIALIZATION_OF]->(f) | f.id][0], e.id) AS file, u.role AS role, w.id AS writer",
        id=activity["ctapipe-process"])}
    (config,) = process["input"]
    assert used == {location_id(config["url"]): (config["role"], activity["ctapipe-quickstart"])}

    # The failed run's backtrace reaches the run that wrote its configuration.
    assert main(["bt", activity["ctapipe-process"], "--json"]) == 0
    frames = json.loads(capsys.readouterr().out)["frames"]
    assert [f["activity"]["id"] for f in frames] == [activity["ctapipe-process"], activity["ctapipe-quickstart"]]


def test_a_truncated_second_run_names_its_line_and_writes_nothing(store: GraphStore, tmp_path: Path) -> None:
    text = REAL.read_text()
    second = text.index("][") + 1  # where the second run's list starts
    cut = tmp_path / "cut.provenance.log"
    cut.write_text(text[:second + 300])
    outcome = run_import(store, CtapipeImporter(), [str(cut)])
    (error,) = outcome.errors
    assert error.location is not None and error.location.startswith("line ")
    assert int(error.location.split()[1]) > text[:second].count("\n"), "the line is in the second run's list"
    assert store.read("MATCH (n:Element) RETURN count(n) AS n")[0]["n"] == 0
