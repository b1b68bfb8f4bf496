"""The capture example the demo runs: a small card-fraud pipeline, tracked the way a user would.

``load -> featurize -> train -> evaluate`` are ``@track`` functions; ``serve`` is a registered
component that logs the id of each prediction it serves. :func:`run_example` runs it twice — the
second time on a newer extract of the data, so the first model's training run becomes stale —
delivers the spool to the store, and returns what the demo prints. Pure Python (no numpy), so it
runs wherever lineagegraph does.
"""

from __future__ import annotations

import getpass
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lineagegraph.capture import runtime
from lineagegraph.capture.delivery import deliver
from lineagegraph.capture.files import FileRef, file
from lineagegraph.capture.pipeline import component, log_output, pipeline_run, register
from lineagegraph.capture.records import output_node_id
from lineagegraph.capture.review import Staleness, staleness
from lineagegraph.capture.track import track
from lineagegraph.store import GraphStore

__all__ = ["ExampleResult", "run_example"]


@track(name="fraud.load", version=1)
def load(path: FileRef) -> list[list[float]]:
    """Read the transactions extract: amount, hour of day, label."""
    lines = Path(path).read_text().splitlines()[1:]
    return [[float(x) for x in line.split(",")] for line in lines]


@track(name="fraud.featurize", version=2)
def featurize(rows: list[list[float]]) -> list[list[float]]:
    return [[amount / 100.0, 1.0 if hour < 6 else 0.0, label] for amount, hour, label in rows]


@track(name="fraud.train", version=1, tags=["model"])
def train(features: list[list[float]], threshold: float = 0.5) -> dict[str, float]:
    fraud = [f for f in features if f[2] >= threshold]
    share_night = sum(f[1] for f in fraud) / max(len(fraud), 1)
    mean_amount = sum(f[0] for f in fraud) / max(len(fraud), 1)
    return {"night_weight": round(share_night, 4), "amount_weight": round(mean_amount, 4)}


@track(name="fraud.evaluate", version=1)
def evaluate(model: dict[str, float], features: list[list[float]]) -> float:
    hits = sum(1 for f in features if (f[1] * model["night_weight"] + f[0] * model["amount_weight"] > 0.5) == f[2])
    return hits / max(len(features), 1)


@register(component="fraud-scoring", inputs=["model", "transaction"])
def serve(model: dict[str, float], transaction: dict[str, Any]) -> float:
    night = 1.0 if transaction["hour"] < 6 else 0.0
    score: float = model["night_weight"] * night + model["amount_weight"] * float(transaction["amount"]) / 100.0
    log_output(transaction["id"])
    return round(score, 4)


@dataclass
class ExampleResult:
    """What the example produced: the served output's graph id and the first training run's staleness."""

    served_output: str
    first_train_run: str
    staleness: Staleness
    records: int


def _pipeline(data: Path, transaction_id: str) -> None:
    component("fraud-scoring", description="scores card transactions for the checkout", owner="@fraud-ml")
    with pipeline_run("nightly-fraud"):
        features = featurize(load(file(data)))
        model = train(features)
        evaluate(model, features)
        serve(model, {"id": transaction_id, "amount": 240.0, "hour": 3})


def run_example(store: GraphStore) -> ExampleResult:
    """Run the pipeline on two data extracts through a temporary spool, and deliver it to ``store``."""
    # The data lives at a fixed place, so that running the demo again converges on the same graph
    # (a location is named by its path); the spool is temporary.
    home = Path(tempfile.gettempdir()) / f"lineagegraph-capture-example-{getpass.getuser()}"
    home.mkdir(mode=0o700, exist_ok=True)
    data = home / "transactions.csv"
    with tempfile.TemporaryDirectory(prefix="lineagegraph-capture-") as tmp:
        folder = Path(tmp)
        spool = folder / "spool"
        runtime.configure(mode="spool", spool_dir=spool)
        try:
            data.write_text("amount,hour,label\n12.0,14,0\n310.0,2,1\n45.5,9,0\n99.0,4,1\n")
            _pipeline(data, "txn-1001")
            data.write_text("amount,hour,label\n12.0,14,0\n310.0,2,1\n45.5,9,0\n99.0,4,1\n150.0,23,1\n")
            _pipeline(data, "txn-1002")
        finally:
            runtime.configure(spool_dir=folder / "closed")
        report = deliver(store, spool)
    first_train = store.read(
        "MATCH (a:Activity {function: 'fraud.train'}) RETURN a.id AS id ORDER BY a.started_at LIMIT 1")[0]["id"]
    return ExampleResult(served_output=output_node_id("txn-1001"), first_train_run=first_train,
                         staleness=staleness(store, first_train), records=report.records)
