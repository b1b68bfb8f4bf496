"""Regenerate lineagegraph/samples/openlineage/*.ndjson with the official openlineage-python client.

The events are built with the client's own classes and serialised with its own ``Serde``, so the
files are exactly what an integration using that client would send; fixed run ids and times keep
the output stable. Run: ``.venv/bin/python scripts/make-openlineage-samples.py``.

The story: a nightly Airflow DAG run cleans card transactions from PostgreSQL into a Parquet file
on GCS (its events arrive out of order), then trains a fraud model into ``gs://lineage-demo/
models/model.pb``: the first attempt fails, the retry (a new run id) completes; a week later a
second training on other labels overwrites the model. ``legacy-spec1.ndjson`` has a run written
with the client's spec-1 classes (``openlineage.client.run``).
"""

from __future__ import annotations

from pathlib import Path

from openlineage.client import event_v2 as ev
from openlineage.client import run as legacy
from openlineage.client.generated import (
    column_lineage_dataset,
    error_message_run,
    nominal_time_run,
    parent_run,
    schema_dataset,
    source_code_location_job,
    sql_job,
)
from openlineage.client.serde import Serde

OUT = Path(__file__).resolve().parent.parent / "lineagegraph" / "samples" / "openlineage"
PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/client/python"
PG = "postgres://db.example.org:5432"
GCS = "gs://lineage-demo"
NS = "airflow-prod"

DAG_RUN = "01931f6a-0000-7000-8000-000000000001"
CLEAN_RUN = "01931f6a-0000-7000-8000-000000000002"
TRAIN_FAILED = "01931f6a-0000-7000-8000-000000000003"
TRAIN_RETRY = "01931f6a-0000-7000-8000-000000000004"
TRAIN_JULY = "01931f6a-0000-7000-8000-000000000005"


def schema(*columns: tuple[str, str]) -> schema_dataset.SchemaDatasetFacet:
    return schema_dataset.SchemaDatasetFacet(
        fields=[schema_dataset.SchemaDatasetFacetFields(name=n, type=t) for n, t in columns])


def column(ns: str, name: str, field: str, kind: str, subtype: str) -> column_lineage_dataset.InputField:
    return column_lineage_dataset.InputField(
        namespace=ns, name=name, field=field,
        transformations=[column_lineage_dataset.Transformation(type=kind, subtype=subtype)])


def parent() -> parent_run.ParentRunFacet:
    return parent_run.ParentRunFacet(run=parent_run.Run(runId=DAG_RUN),
                                     job=parent_run.Job(namespace=NS, name="fraud_nightly"))


def run_event(state: ev.RunState, time: str, run_id: str, job: str, *, inputs: list[ev.InputDataset] | None = None,
              outputs: list[ev.OutputDataset] | None = None, run_facets: dict[str, object] | None = None,
              job_facets: dict[str, object] | None = None) -> ev.RunEvent:
    return ev.RunEvent(eventType=state, eventTime=time, producer=PRODUCER,
                       run=ev.Run(runId=run_id, facets=run_facets or {}),  # type: ignore[arg-type]
                       job=ev.Job(namespace=NS, name=job, facets=job_facets or {}),  # type: ignore[arg-type]
                       inputs=inputs or [], outputs=outputs or [])


def pipeline() -> list[ev.RunEvent | ev.DatasetEvent | ev.JobEvent]:
    transactions = ev.InputDataset(namespace=PG, name="payments.public.transactions", facets={
        "schema": schema(("id", "BIGINT"), ("amount", "NUMERIC"), ("card", "TEXT"), ("ts", "TIMESTAMP"))})
    clean_out = ev.OutputDataset(namespace=GCS, name="features/transactions_clean.parquet", facets={
        "schema": schema(("id", "INT64"), ("amount_eur", "DOUBLE"), ("card_hash", "STRING")),
        "columnLineage": column_lineage_dataset.ColumnLineageDatasetFacet(fields={
            "id": column_lineage_dataset.Fields(
                inputFields=[column(PG, "payments.public.transactions", "id", "DIRECT", "IDENTITY")]),
            "amount_eur": column_lineage_dataset.Fields(
                inputFields=[column(PG, "payments.public.transactions", "amount", "DIRECT", "TRANSFORMATION")]),
            "card_hash": column_lineage_dataset.Fields(
                inputFields=[column(PG, "payments.public.transactions", "card", "DIRECT", "TRANSFORMATION")]),
        })})
    clean_sql = sql_job.SQLJobFacet(query="SELECT id, amount * rate AS amount_eur, sha256(card) AS card_hash "
                                          "FROM payments.public.transactions JOIN fx USING (currency)")
    code = source_code_location_job.SourceCodeLocationJobFacet(
        type="git", url="https://git.example.org/ml/fraud/blob/3f9c2a1/dags/fraud.py", version="3f9c2a1")
    features = ev.InputDataset(namespace=GCS, name="/features/transactions_clean.parquet")
    labels_q1 = ev.InputDataset(namespace=GCS, name="labels/chargebacks_2024q1.csv")
    labels_q2 = ev.InputDataset(namespace=GCS, name="labels/chargebacks_2024q2.csv")
    model = ev.OutputDataset(namespace=GCS, name="models/model.pb")
    nominal = nominal_time_run.NominalTimeRunFacet(nominalStartTime="2024-04-03T00:00:00Z")
    events: list[ev.RunEvent | ev.DatasetEvent | ev.JobEvent] = [
        run_event(ev.RunState.START, "2024-04-03T00:00:05Z", DAG_RUN, "fraud_nightly",
                  run_facets={"nominalTime": nominal}),
        # The task's COMPLETE arrives before its START: the importer must not care.
        run_event(ev.RunState.COMPLETE, "2024-04-03T00:20:00Z", CLEAN_RUN, "fraud_nightly.clean_transactions",
                  inputs=[transactions], outputs=[clean_out], run_facets={"parent": parent()},
                  job_facets={"sql": clean_sql, "sourceCodeLocation": code}),
        run_event(ev.RunState.START, "2024-04-03T00:01:00Z", CLEAN_RUN, "fraud_nightly.clean_transactions",
                  inputs=[transactions], run_facets={"parent": parent()}, job_facets={"sql": clean_sql}),
        run_event(ev.RunState.RUNNING, "2024-04-03T00:10:00Z", CLEAN_RUN, "fraud_nightly.clean_transactions"),
        run_event(ev.RunState.START, "2024-04-03T00:21:00Z", TRAIN_FAILED, "fraud_nightly.train_model",
                  inputs=[features, labels_q1], run_facets={"parent": parent()},
                  job_facets={"sourceCodeLocation": code}),
        run_event(ev.RunState.FAIL, "2024-04-03T00:25:00Z", TRAIN_FAILED, "fraud_nightly.train_model",
                  run_facets={"parent": parent(), "errorMessage": error_message_run.ErrorMessageRunFacet(
                      message="CUDA out of memory", programmingLanguage="PYTHON")}),
        run_event(ev.RunState.START, "2024-04-03T00:30:00Z", TRAIN_RETRY, "fraud_nightly.train_model",
                  inputs=[features, labels_q1], outputs=[model], run_facets={"parent": parent()},
                  job_facets={"sourceCodeLocation": code}),
        run_event(ev.RunState.COMPLETE, "2024-04-03T02:47:45Z", TRAIN_RETRY, "fraud_nightly.train_model",
                  inputs=[features, labels_q1], outputs=[model], run_facets={"parent": parent()}),
        run_event(ev.RunState.COMPLETE, "2024-04-03T02:48:00Z", DAG_RUN, "fraud_nightly"),
        # July: the model is trained again on other labels, overwriting the same object.
        run_event(ev.RunState.START, "2024-07-04T09:00:00Z", TRAIN_JULY, "fraud_nightly.train_model",
                  inputs=[features, labels_q2], outputs=[model]),
        run_event(ev.RunState.COMPLETE, "2024-07-04T12:02:11Z", TRAIN_JULY, "fraud_nightly.train_model",
                  inputs=[features, labels_q2], outputs=[model]),
        ev.DatasetEvent(eventTime="2024-07-05T00:00:00Z", producer=PRODUCER, dataset=ev.StaticDataset(
            namespace=GCS, name="labels/chargebacks_2024q2.csv",
            facets={"schema": schema(("id", "INT64"), ("chargeback", "BOOL"))})),  # type: ignore[dict-item]
        ev.JobEvent(eventTime="2024-07-05T00:00:00Z", producer=PRODUCER,
                    job=ev.Job(namespace=NS, name="fraud_nightly.score", facets={}),
                    inputs=[ev.InputDataset(namespace=GCS, name="models/model.pb")],
                    outputs=[ev.OutputDataset(namespace=PG, name="payments.public.fraud_scores")]),
    ]
    return events


def legacy_events() -> list[legacy.RunEvent]:
    run_id = "01931f6a-0000-7000-8000-000000000010"
    job = legacy.Job(namespace="spark-prod", name="fx_rates.daily_load")
    out = [legacy.Dataset(namespace=PG, name="payments.public.fx")]
    inp = [legacy.Dataset(namespace="s3a://ecb-mirror", name="rates/eurofxref-daily.csv")]
    return [
        legacy.RunEvent(eventType=legacy.RunState.START, eventTime="2024-04-02T23:00:00Z",
                        run=legacy.Run(runId=run_id), job=job, producer=PRODUCER, inputs=inp, outputs=out),
        legacy.RunEvent(eventType=legacy.RunState.COMPLETE, eventTime="2024-04-02T23:05:00Z",
                        run=legacy.Run(runId=run_id), job=job, producer=PRODUCER, inputs=inp, outputs=out),
    ]


def write(name: str, events: list[object]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    text = "".join(Serde.to_json(e) + "\n" for e in events)
    (OUT / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(events)} events to {OUT / name}")


if __name__ == "__main__":
    write("fraud-pipeline.ndjson", list(pipeline()))
    write("legacy-spec1.ndjson", list(legacy_events()))
