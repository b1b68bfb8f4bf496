"""ctapipe provenance logs against the real Neo4j, and their way back out as W3C PROV.

The sample log follows the format ctapipe's ``Provenance.as_json`` writes (ctapipe itself needs a
scientific stack this project does not install): a list of activities with uuid, start/stop, status,
system, config and input/output ``{url, role, reference_meta}``.
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
from lineagegraph.identity import version_id
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
    again = run_import(store, CtapipeImporter(), [str(path)]).summaries[0]
    assert (again.nodes.created, again.nodes.updated, again.relationships.created) == (0, 0, 0)
    assert "wJalrXUtnFEMI" not in _props(store, PROCESS)["environment"]


def test_cli(store: GraphStore, cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", "ctapipe", str(SAMPLE)]) == 0
    assert "provenance.json: ok" in capsys.readouterr().out
