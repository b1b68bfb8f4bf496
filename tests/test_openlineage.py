"""OpenLineage file import against the real Neo4j, with events made by the official client.

The samples in lineagegraph/samples/openlineage were written by the openlineage-python client
(scripts/make-openlineage-samples.py); the tests that need other event orders build them with the
same client classes and serialise them with its ``Serde``.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from openlineage.client import event_v2 as ev
from openlineage.client.generated import column_lineage_dataset as cl
from openlineage.client.serde import Serde

from lineagegraph.cli import main
from lineagegraph.errors import InputError
from lineagegraph.identity import location_id, version_id
from lineagegraph.importers.base import run_import
from lineagegraph.importers.openlineage import (
    OpenLineageImporter,
    column_lineage,
    dataset_location,
    refresh_run_status,
    store_versions,
)
from lineagegraph.queries import LineageGraph
from lineagegraph.store import GraphStore
from lineagegraph.writer import ChunkLimits

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).resolve().parent.parent / "lineagegraph" / "samples" / "openlineage"
PIPELINE = SAMPLES / "fraud-pipeline.ndjson"
RUN = "urn:lineagegraph:openlineage:run:"
JOB = "urn:lineagegraph:openlineage:job:"
CLEAN = RUN + "01931f6a-0000-7000-8000-000000000002"
DAG = RUN + "01931f6a-0000-7000-8000-000000000001"
TRAIN_FAILED = RUN + "01931f6a-0000-7000-8000-000000000003"
TRAIN_RETRY = RUN + "01931f6a-0000-7000-8000-000000000004"
TRAIN_JULY = RUN + "01931f6a-0000-7000-8000-000000000005"
MODEL = "gs://lineage-demo/models/model.pb"
FEATURES = "gs://lineage-demo/features/transactions_clean.parquet"
TRANSACTIONS = "postgres://db.example.org:5432/payments.public.transactions"


def node(store: GraphStore, node_id: str) -> dict[str, Any]:
    rows = store.read("MATCH (n:Element {id: $id}) RETURN n {.*} AS n, labels(n) AS labels", id=node_id)
    assert rows, f"{node_id} is not in the graph"
    return {**rows[0]["n"], "_labels": set(rows[0]["labels"])}


def edges(store: GraphStore, start: str, rel: str) -> list[dict[str, Any]]:
    return store.read(
        "MATCH (a:Element {id: $id})-[r]->(b) WHERE type(r) = $rel RETURN b.id AS target, r {.*} AS props",
        id=start, rel=rel)


def import_files(store: GraphStore, *files: Path | str) -> Any:
    importer = OpenLineageImporter(known_versions=store_versions(store))
    outcome = run_import(store, importer, [str(f) for f in files])
    refresh_run_status(store, importer.run_ids)
    return outcome


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def native(value: Any) -> Any:
    return value.to_native() if hasattr(value, "to_native") else value


def write_events(path: Path, events: list[Any]) -> Path:
    path.write_text("".join(Serde.to_json(e) + "\n" for e in events), encoding="utf-8")
    return path


def run_event(state: ev.RunState, time: str, run_id: str, *, job: str = "nightly.load",
              inputs: list[ev.InputDataset] | None = None,
              outputs: list[ev.OutputDataset] | None = None) -> ev.RunEvent:
    return ev.RunEvent(eventType=state, eventTime=time, run=ev.Run(runId=run_id),
                       job=ev.Job(namespace="tests", name=job), inputs=inputs or [], outputs=outputs or [])


# -- the sample: jobs, runs, parents, facets --------------------------------------------------------

def test_sample_maps_runs_jobs_parents_and_facets(store: GraphStore) -> None:
    outcome = import_files(store, PIPELINE)
    assert outcome.ok, outcome.errors

    clean = node(store, CLEAN)
    assert "Activity" in clean["_labels"]
    # Its COMPLETE event comes before its START in the file; the run still reads start -> end.
    assert clean["status"] == "COMPLETE"
    assert native(clean["started_at"]) == when("2024-04-03T00:01:00Z")
    assert native(clean["ended_at"]) == when("2024-04-03T00:20:00Z")
    assert native(clean["event_time_running"]) == when("2024-04-03T00:10:00Z")
    assert clean["code_version"] == "3f9c2a1"
    assert "sha256(card)" in json.loads(clean["job_facet_sql"])["query"]

    job_id = JOB + "airflow-prod:fraud_nightly.clean_transactions"
    job = node(store, job_id)
    assert {"Agent", "Plan"} <= job["_labels"]
    assoc = edges(store, CLEAN, "WAS_ASSOCIATED_WITH")
    assert [(a["target"], a["props"]["plan"]) for a in assoc] == [(job_id, job_id)]

    # The task ran inside the DAG run: child informed by parent.
    assert [e["target"] for e in edges(store, CLEAN, "WAS_INFORMED_BY")] == [DAG]
    assert node(store, DAG)["status"] == "COMPLETE"

    # Dataset facets stay on the dataset, as JSON.
    table = node(store, TRANSACTIONS)
    assert "Location" in table["_labels"]
    assert [f["name"] for f in json.loads(table["facet_schema"])["fields"]] == ["id", "amount", "card", "ts"]


def test_a_retry_is_a_new_run_and_the_failure_keeps_its_error(store: GraphStore) -> None:
    import_files(store, PIPELINE)
    failed, retry = node(store, TRAIN_FAILED), node(store, TRAIN_RETRY)
    assert failed["status"] == "FAIL"
    assert failed["error_message"] == "CUDA out of memory"
    assert json.loads(failed["facet_errorMessage"])["programmingLanguage"] == "PYTHON"
    assert retry["status"] == "COMPLETE"
    job_id = JOB + "airflow-prod:fraud_nightly.train_model"
    for run in (TRAIN_FAILED, TRAIN_RETRY, TRAIN_JULY):
        assert [e["target"] for e in edges(store, run, "WAS_ASSOCIATED_WITH")] == [job_id]
    # Only the retry wrote the model in April; the failed attempt listed no outputs.
    assert edges(store, TRAIN_FAILED, "WAS_GENERATED_BY") == []
    assert store.read("MATCH (v)-[:WAS_GENERATED_BY]->(:Activity {id: $id}) RETURN v.id AS v", id=TRAIN_RETRY) == [
        {"v": version_id(MODEL, TRAIN_RETRY)}]


# -- run states in any order ------------------------------------------------------------------------

@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_run_states_merge_in_any_order(store: GraphStore, tmp_path: Path, order: tuple[int, ...]) -> None:
    run_id = "0193aaaa-0000-7000-8000-000000000001"
    events = [run_event(ev.RunState.START, "2024-05-01T10:00:00Z", run_id),
              run_event(ev.RunState.RUNNING, "2024-05-01T10:05:00Z", run_id),
              run_event(ev.RunState.COMPLETE, "2024-05-01T10:30:00Z", run_id)]
    import_files(store, write_events(tmp_path / "run.ndjson", [events[i] for i in order]))
    run = node(store, RUN + run_id)
    assert run["status"] == "COMPLETE"
    assert native(run["started_at"]) == when("2024-05-01T10:00:00Z")
    assert native(run["ended_at"]) == when("2024-05-01T10:30:00Z")


def test_a_start_arriving_after_the_end_in_a_later_import_keeps_the_run_complete(
        store: GraphStore, tmp_path: Path) -> None:
    run_id = "0193aaaa-0000-7000-8000-000000000002"
    end = write_events(tmp_path / "end.ndjson", [run_event(ev.RunState.FAIL, "2024-05-01T11:00:00Z", run_id)])
    start = write_events(tmp_path / "start.ndjson", [run_event(ev.RunState.START, "2024-05-01T10:00:00Z", run_id)])
    import_files(store, end)
    assert node(store, RUN + run_id)["status"] == "FAIL"
    import_files(store, start)
    run = node(store, RUN + run_id)
    assert run["status"] == "FAIL"
    assert native(run["started_at"]) == when("2024-05-01T10:00:00Z")
    assert native(run["ended_at"]) == when("2024-05-01T11:00:00Z")


def test_a_start_only_run_is_running(store: GraphStore, tmp_path: Path) -> None:
    run_id = "0193aaaa-0000-7000-8000-000000000003"
    start = run_event(ev.RunState.START, "2024-05-01T10:00:00Z", run_id)
    import_files(store, write_events(tmp_path / "s.ndjson", [start]))
    run = node(store, RUN + run_id)
    assert run["status"] == "RUNNING"
    assert run.get("ended_at") is None


# -- run-level versions -----------------------------------------------------------------------------

def test_two_runs_writing_one_dataset_make_two_versions_with_their_own_lineage(store: GraphStore) -> None:
    import_files(store, PIPELINE)
    versions = store.read("MATCH (v:Entity)-[:SPECIALIZATION_OF]->(:Location {id: $id}) RETURN v.id AS v "
                          "ORDER BY v", id=MODEL)
    april, july = version_id(MODEL, TRAIN_RETRY), version_id(MODEL, TRAIN_JULY)
    assert sorted(r["v"] for r in versions) == sorted([april, july])

    lineage = LineageGraph(store)
    july_up = lineage.ancestors(july, depth=10).ids
    april_up = lineage.ancestors(april, depth=10).ids
    assert location_id("gs://lineage-demo/labels/chargebacks_2024q2.csv") in july_up
    assert location_id("gs://lineage-demo/labels/chargebacks_2024q1.csv") not in july_up
    assert TRAIN_RETRY not in july_up
    assert location_id("gs://lineage-demo/labels/chargebacks_2024q1.csv") in april_up
    # Readers use the version of the features written before they started, which leads to the table.
    features_v = version_id(FEATURES, CLEAN)
    assert [e["target"] for e in edges(store, TRAIN_JULY, "USED") if e["target"].startswith(FEATURES)] == [features_v]
    assert TRANSACTIONS in july_up


def test_a_reader_in_a_later_import_uses_the_latest_version_in_the_graph(store: GraphStore, tmp_path: Path) -> None:
    import_files(store, PIPELINE)
    model = ev.InputDataset(namespace="gs://lineage-demo", name="models/model.pb")
    run_id = "0193bbbb-0000-7000-8000-000000000001"
    scoring = write_events(tmp_path / "score.ndjson", [
        run_event(ev.RunState.START, "2024-08-01T00:00:00Z", run_id, job="score", inputs=[model]),
        run_event(ev.RunState.COMPLETE, "2024-08-01T00:10:00Z", run_id, job="score", inputs=[model])])
    assert import_files(store, scoring).ok
    assert [e["target"] for e in edges(store, RUN + run_id, "USED")] == [version_id(MODEL, TRAIN_JULY)]


def test_readers_of_a_later_import_link_to_the_version_before_each_of_them(store: GraphStore, tmp_path: Path) -> None:
    # Ten versions in the graph; a later file whose readers start between them (and a reader that
    # also wrote the location): each links to the newest version before its start, not its own.
    table = ev.OutputDataset(namespace="gs://hist", name="table")
    writers = [f"0c000000-0000-7000-8000-{i:012d}" for i in range(10)]
    history = [e for i, run_id in enumerate(writers) for e in (
        run_event(ev.RunState.START, f"2026-06-01T{i:02d}:00:00Z", run_id, job="load", outputs=[table]),
        run_event(ev.RunState.COMPLETE, f"2026-06-01T{i:02d}:30:00Z", run_id, job="load", outputs=[table]))]
    assert import_files(store, write_events(tmp_path / "history.ndjson", history)).ok
    read = ev.InputDataset(namespace="gs://hist", name="table")
    readers = {"0d000000-0000-7000-8000-000000000003": ("2026-06-01T03:45:00Z", writers[3]),
               "0d000000-0000-7000-8000-000000000006": ("2026-06-01T07:00:00Z", writers[6]),
               "0d000000-0000-7000-8000-000000000009": ("2026-06-02T00:00:00Z", writers[9])}
    later = [e for run_id, (start, _) in readers.items() for e in (
        run_event(ev.RunState.START, start, run_id, job="report", inputs=[read]),
        run_event(ev.RunState.COMPLETE, start.replace(":00Z", ":59Z"), run_id, job="report", inputs=[read]))]
    # A rerun of writer 5 that reads the table too: it must not read its own version.
    later.append(run_event(ev.RunState.COMPLETE, "2026-06-01T05:30:00Z", writers[5], job="load",
                           inputs=[read], outputs=[table]))
    assert import_files(store, write_events(tmp_path / "later.ndjson", later)).ok
    location = location_id("gs://hist/table")
    for run_id, (_, writer) in readers.items():
        assert [e["target"] for e in edges(store, RUN + run_id, "USED")] == [version_id(location, RUN + writer)]
    assert [e["target"] for e in edges(store, RUN + writers[5], "USED")] == [version_id(location, RUN + writers[4])]


# -- column lineage ---------------------------------------------------------------------------------

def test_column_lineage_answers_which_input_columns_feed_an_output_column(store: GraphStore, tmp_path: Path) -> None:
    import_files(store, PIPELINE)
    found = column_lineage(store, FEATURES, "amount_eur")
    assert [(s.dataset, s.field, s.transformations) for s in found] == [
        (TRANSACTIONS, "amount", ("DIRECT",))]
    # A second hop: a report computed from the features' amount_eur.
    run_id = "0193cccc-0000-7000-8000-000000000001"
    report = ev.OutputDataset(namespace="gs://lineage-demo", name="reports/daily.csv", facets={
        "columnLineage": cl.ColumnLineageDatasetFacet(fields={"total": cl.Fields(inputFields=[cl.InputField(
            namespace="gs://lineage-demo", name="features/transactions_clean.parquet", field="amount_eur",
            transformations=[cl.Transformation(type="DIRECT", subtype="AGGREGATION")])])})})
    import_files(store, write_events(tmp_path / "report.ndjson", [
        run_event(ev.RunState.COMPLETE, "2024-08-02T00:00:00Z", run_id, job="report", outputs=[report])]))
    two_hops = column_lineage(store, "gs://lineage-demo/reports/daily.csv", "total", depth=2)
    assert [(s.dataset, s.field, s.depth) for s in two_hops] == [
        (FEATURES, "amount_eur", 1), (TRANSACTIONS, "amount", 2)]


def test_columns_command(store: GraphStore, cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", "openlineage", "--quiet", str(PIPELINE)]) == 0
    capsys.readouterr()
    assert main(["columns", FEATURES, "card_hash", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["dataset"], r["field"]) for r in rows] == [(TRANSACTIONS, "card")]
    assert main(["columns", "gs://nowhere/x", "a"]) == 5


# -- naming -----------------------------------------------------------------------------------------

def test_dataset_names_meet_the_locations_other_sources_use() -> None:
    assert dataset_location("gs://bucket", "path/model.pb") == location_id("gs://bucket/path/model.pb")
    assert dataset_location("gs://bucket", "/path/model.pb") == "gs://bucket/path/model.pb"
    assert dataset_location("s3a://Bucket", "a/b.csv") == "s3://bucket/a/b.csv"
    assert dataset_location("file", "/data/x.csv") == "file:///data/x.csv"
    assert dataset_location("hdfs://nn:8020", "/warehouse/t") == "hdfs://nn:8020/warehouse/t"
    assert dataset_location("postgres://db:5432", "shop.public.orders") == "postgres://db:5432/shop.public.orders"
    # Case matters in table names; the scheme-only namespace keeps it.
    assert dataset_location("bigquery", "proj.Sales.Orders") != dataset_location("bigquery", "proj.sales.orders")
    # Two Azure containers of one account stay two places.
    assert dataset_location("abfss://a@acct.dfs.core.windows.net", "x") != dataset_location(
        "abfss://b@acct.dfs.core.windows.net", "x")


# -- other event kinds and formats ------------------------------------------------------------------

def test_spec1_events_json_arrays_dataset_and_job_events(store: GraphStore, tmp_path: Path) -> None:
    legacy = SAMPLES / "legacy-spec1.ndjson"
    lines = [json.loads(line) for line in PIPELINE.read_text().splitlines()]
    array = tmp_path / "events.json"
    array.write_text(json.dumps(lines, indent=2))
    outcome = import_files(store, legacy, array)
    assert outcome.ok, outcome.errors
    assert node(store, RUN + "01931f6a-0000-7000-8000-000000000010")["status"] == "COMPLETE"
    assert "s3://ecb-mirror/rates/eurofxref-daily.csv" in {
        e["target"] for e in edges(store, RUN + "01931f6a-0000-7000-8000-000000000010", "USED")}
    # DatasetEvent: the schema of the Q2 labels; JobEvent: the declared scoring job.
    labels = node(store, "gs://lineage-demo/labels/chargebacks_2024q2.csv")
    assert [f["name"] for f in json.loads(labels["facet_schema"])["fields"]] == ["id", "chargeback"]
    score = node(store, JOB + "airflow-prod:fraud_nightly.score")
    assert score["declared_outputs"] == ["postgres://db.example.org:5432/payments.public.fraud_scores"]


def test_reimport_is_idempotent(store: GraphStore) -> None:
    first = import_files(store, PIPELINE).summaries[0]
    assert first.nodes.created > 0
    second = import_files(store, PIPELINE).summaries[0]
    assert (second.nodes.created, second.nodes.updated) == (0, 0)
    assert (second.relationships.created, second.relationships.updated) == (0, 0)


# -- bad input --------------------------------------------------------------------------------------

def _count(store: GraphStore) -> int:
    return int(store.read("MATCH (n:Element) RETURN count(n) AS c")[0]["c"])


def test_bad_files_are_named_with_their_line_and_the_others_still_import(store: GraphStore, tmp_path: Path) -> None:
    good = PIPELINE.read_text().splitlines()
    truncated = tmp_path / "truncated.ndjson"
    truncated.write_text("\n".join(good[:3]) + "\n" + good[3][: len(good[3]) // 2])
    no_run_id = tmp_path / "no-run-id.ndjson"
    event = json.loads(good[0])
    del event["run"]["runId"]
    no_run_id.write_text(good[1] + "\n" + json.dumps(event) + "\n")
    unknown = tmp_path / "unknown-schema.ndjson"
    event = json.loads(good[0])
    event["schemaURL"] = "https://openlineage.io/spec/9-0-0/OpenLineage.json#/$defs/RunEvent"
    unknown.write_text(json.dumps(event) + "\n")

    outcome = import_files(store, truncated, no_run_id, unknown, SAMPLES / "legacy-spec1.ndjson")
    errors = {Path(str(e.source)).name: e for e in outcome.errors}
    assert set(errors) == {"truncated.ndjson", "no-run-id.ndjson", "unknown-schema.ndjson"}
    assert all(isinstance(e, InputError) for e in errors.values())
    assert errors["truncated.ndjson"].location == "line 4"
    assert errors["no-run-id.ndjson"].location == "line 2"
    assert "runId" in str(errors["no-run-id.ndjson"])
    assert errors["unknown-schema.ndjson"].location == "line 1"
    assert "9-0-0" in str(errors["unknown-schema.ndjson"])
    # Only the good file landed: nothing of the bad ones (not even their valid first lines).
    assert [s.source.endswith("legacy-spec1.ndjson") for s in outcome.summaries] == [True]
    runs = store.read("MATCH (a:Activity) RETURN collect(a.id) AS ids")[0]["ids"]
    assert runs == [RUN + "01931f6a-0000-7000-8000-000000000010"]


def test_cli_exit_code_and_message_for_a_bad_file(store: GraphStore, cli_env: dict[str, str], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.ndjson"
    bad.write_text('{"eventType": "START"\n')
    assert main(["import", "openlineage", str(bad), str(SAMPLES / "legacy-spec1.ndjson")]) == 2
    captured = capsys.readouterr()
    assert f"{bad}:line 1:" in captured.err
    assert "legacy-spec1.ndjson: ok" in captured.out
    assert _count(store) > 0


def test_import_from_standard_input(store: GraphStore, cli_env: dict[str, str]) -> None:
    result = subprocess.run([sys.executable, "-m", "lineagegraph", "import", "openlineage", "--json", "-"],
                            input=(SAMPLES / "legacy-spec1.ndjson").read_bytes(), env=cli_env,
                            capture_output=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr.decode()
    summary = json.loads(result.stdout)["imports"][0]
    assert summary["source"] == "<stdin>" and summary["status"] == "ok"
    assert node(store, RUN + "01931f6a-0000-7000-8000-000000000010")["status"] == "COMPLETE"


# -- big files: read and mapped in batches ----------------------------------------------------------

def interleaved_runs(count: int) -> list[ev.RunEvent]:
    """``count`` runs of a chain of jobs, each reading the previous one's output; every run starts
    before the previous one's COMPLETE is in the file, and each COMPLETE comes one run later."""
    events: list[ev.RunEvent] = []
    for i in range(count):
        data = [ev.InputDataset(namespace="gs://bench", name=f"step{i - 1}.parquet")] if i else []
        out = [ev.OutputDataset(namespace="gs://bench", name=f"step{i}.parquet")]
        run_id = f"0b000000-0000-7000-8000-{i:012d}"
        events.append(run_event(ev.RunState.START, f"2026-05-01T00:{2 * i:02d}:00Z", run_id, job=f"step{i}",
                                inputs=data, outputs=out))
        if i:
            events.append(run_event(ev.RunState.COMPLETE, f"2026-05-01T00:{2 * i - 1:02d}:30Z",
                                    f"0b000000-0000-7000-8000-{i - 1:012d}", job=f"step{i - 1}",
                                    inputs=[ev.InputDataset(namespace="gs://bench", name=f"step{i - 2}.parquet")]
                                    if i > 1 else [],
                                    outputs=[ev.OutputDataset(namespace="gs://bench", name=f"step{i - 1}.parquet")]))
    return events


@pytest.mark.parametrize("batch", [1, 3, 7])
def test_a_big_file_mapped_in_batches_gives_the_graph_of_the_file_read_whole(
        store: GraphStore, tmp_path: Path, batch: int) -> None:
    from test_k8s_etl import graph_state

    path = write_events(tmp_path / "big.ndjson", interleaved_runs(12))
    with path.open("ab") as out:
        out.write(PIPELINE.read_bytes())

    def imported(**options: int) -> tuple[set[str], Any]:
        store.clear()
        importer = OpenLineageImporter(known_versions=store_versions(store), **options)
        outcome = run_import(store, importer, [str(path)])
        refresh_run_status(store, importer.run_ids)
        return graph_state(store), outcome

    whole, _ = imported()
    streamed, outcome = imported(stream_above=0, batch_events=batch)
    assert outcome.ok and len(outcome.summaries) == 1, "one file, one import run"
    assert sorted(streamed - whole) == sorted(whole - streamed) == []
    # The runs whose COMPLETE came later in the file still read the version written before them.
    step3 = RUN + "0b000000-0000-7000-8000-000000000003"
    assert [e["target"] for e in edges(store, step3, "USED")] == [
        version_id(location_id("gs://bench/step2.parquet"), RUN + "0b000000-0000-7000-8000-000000000002")]


def test_a_bad_line_in_a_big_file_is_named_and_the_run_records_what_it_wrote(
        store: GraphStore, tmp_path: Path) -> None:
    path = write_events(tmp_path / "big.ndjson", interleaved_runs(8))
    with path.open("a") as out:
        out.write('{"eventType": "COMPLETE", "eventTime": "not a time"}\n')
    importer = OpenLineageImporter(known_versions=store_versions(store), stream_above=0, batch_events=2)
    before, store.chunk_limits = store.chunk_limits, ChunkLimits(rows=4, batch=2)  # commits before the bad line
    try:
        outcome = run_import(store, importer, [str(path)])
    finally:
        store.chunk_limits = before
    assert [e.location for e in outcome.errors] == [f"line {len(interleaved_runs(8)) + 1}"]
    run = store.import_runs()[0]["run"]
    in_graph = store.read("MATCH (n:Element) WHERE n.stub IS NULL RETURN count(n) AS c")[0]["c"]
    assert run["status"] == "failed" and run["nodes_created"] == in_graph > 0
