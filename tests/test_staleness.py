"""Staleness in ``bt`` (issue 11) on the real Neo4j: a captured pipeline whose featurize step ran
again after train, a fresh pipeline, runs older than ``--max-age-days``, and runs of a plan.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import lineagegraph.capture as capture
from lineagegraph.capture.hashing import describe
from lineagegraph.cli import main
from lineagegraph.identity import value_id
from lineagegraph.model import Activity, Agent, Entity, Used, WasAssociatedWith, WasGeneratedBy
from lineagegraph.queries import Backtrace, LineageGraph
from lineagegraph.store import GraphStore


@capture.track(name="stale.load", version=1)
def load(path: capture.FileRef) -> list[list[float]]:
    return [[float(x) for x in line.split(",")] for line in Path(path).read_text().splitlines()]


@capture.track(name="stale.featurize", version=1)
def featurize(rows: list[list[float]]) -> list[float]:
    return [sum(row) * 2.0 for row in rows]


@capture.track(name="stale.train", version=1)
def train(features: list[float]) -> dict[str, float]:
    return {"weight": round(sum(features) / len(features), 6)}


@pytest.fixture
def direct(store: GraphStore, tmp_path: Path) -> Iterator[GraphStore]:
    capture.configure(mode="direct", store=store, spool_dir=tmp_path / "fallback")
    yield store
    capture.configure(mode="spool", spool_dir=tmp_path / "after")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "transactions.csv"
    path.write_text("1,2\n3,4\n5,6\n")
    return path


def frame_texts(text: str) -> dict[str, list[str]]:
    """The lines of each frame of ``bt`` text, by the function named in its head line."""
    out: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        head = re.match(r"^#\d+ (\S+)", line)
        if head:
            current = out.setdefault(head.group(1), [])
        current.append(line)
    return out


def stale_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("    STALE: ")]


def by_what(result: Backtrace) -> dict[str, list[str]]:
    return {frame.what: frame.stale for frame in result.frames}


def test_train_is_stale_when_featurize_ran_again_after_it(
    direct: GraphStore, data: Path, cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    rows = load(capture.file(data))
    model = train(featurize(rows))
    model_id = value_id(describe(model).digest)
    graph = LineageGraph(direct)
    before = graph.backtrace(model_id)
    assert {"stale.load", "stale.featurize", "stale.train"} <= set(by_what(before))
    assert all(frame.stale == [] for frame in before.frames)
    assert "STALE" not in before.text()

    featurize([[x + 1.0 for x in row] for row in rows])  # featurize re-ran; train did not

    after = graph.backtrace(model_id)
    reasons = by_what(after)
    assert len(reasons["stale.train"]) == 1 and "stale.featurize" in reasons["stale.train"][0]
    assert "1 more time(s)" in reasons["stale.train"][0]
    assert reasons["stale.featurize"] == [] and reasons["stale.load"] == []

    assert main(["bt", model_id]) == 0
    frames = frame_texts(capsys.readouterr().out)
    (line,) = stale_lines(frames["stale.train"])
    assert "stale.featurize" in line
    assert stale_lines(frames["stale.featurize"]) == [] and stale_lines(frames["stale.load"]) == []
    # Apart from the one STALE line, the frame reads as before.
    assert [x for x in frames["stale.train"] if x != line] == next(
        f.lines() for f in before.frames if f.what == "stale.train")

    assert main(["bt", model_id, "--json"]) == 0
    dumped = json.loads(capsys.readouterr().out)
    stale_ids = {f["activity"]["id"] for f in dumped["frames"] if f["stale"]}
    assert stale_ids == {f.activity.id for f in after.frames if f.what == "stale.train"}

    table = after.to_pandas()
    assert {what: bool(s) for what, s in zip(table["what"], table["stale"], strict=True)}["stale.train"]

    # The capture API gives the same verdict, from the same core logic.
    train_run = next(f.activity.id for f in after.frames if f.what == "stale.train")
    report = capture.staleness(direct, train_run)
    assert report.stale and [s.producer_name for s in report.stale_inputs] == ["stale.featurize"]


def test_a_fresh_run_has_no_stale_line(
    direct: GraphStore, data: Path, cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    rows = load(capture.file(data))
    train(featurize(rows))
    newer = train(featurize([[x + 1.0 for x in row] for row in rows]))  # the whole pipeline re-ran
    newer_id = value_id(describe(newer).digest)
    assert main(["bt", newer_id]) == 0
    text = capsys.readouterr().out
    assert "#0 stale.train" in text and "stale.featurize" in text
    assert "STALE" not in text
    assert all(frame.stale == [] for frame in LineageGraph(direct).backtrace(newer_id).frames)


def _old_run(store: GraphStore, started: datetime) -> None:
    """A run of a PROV job that started at ``started`` and made ``ex:report``."""
    elements: list[Any] = [
        Entity(id="ex:raw"), Entity(id="ex:report"),
        Activity(id="ex:job-1", label="monthly report", started_at=started, ended_at=started + timedelta(hours=1)),
    ]
    relations: list[Any] = [Used(activity="ex:job-1", entity="ex:raw"),
                            WasGeneratedBy(entity="ex:report", activity="ex:job-1")]
    store.import_elements("test", "test:old-run", elements, relations)


def test_max_age_marks_old_runs(store: GraphStore, cli_env: dict[str, str],
                                capsys: pytest.CaptureFixture[str]) -> None:
    _old_run(store, datetime.now(UTC) - timedelta(days=45))
    graph = LineageGraph(store)
    assert graph.backtrace("ex:report").frames[0].stale == []  # no max_age: age is not checked
    (frame,) = graph.backtrace("ex:report", max_age=timedelta(days=30)).frames
    assert frame.stale == ["ran 45 day(s) ago, more than the 30 allowed"]
    assert graph.backtrace("ex:report", max_age=timedelta(days=60)).frames[0].stale == []

    assert main(["bt", "ex:report", "--max-age-days", "30"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("#0 monthly report")
    assert "    STALE: ran 45 day(s) ago, more than the 30 allowed" in out.splitlines()
    assert main(["bt", "ex:report"]) == 0
    assert "STALE" not in capsys.readouterr().out


def test_a_newer_run_of_the_same_plan_makes_consumers_stale(store: GraphStore) -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    elements: list[Any] = [
        Agent(id="ex:alice", label="alice", agent_type="person"), Agent(id="ex:bob", label="bob"),
        Entity(id="ex:table-v1"), Entity(id="ex:table-v2"), Entity(id="ex:chart"),
        Activity(id="ex:etl-1", started_at=t0), Activity(id="ex:etl-2", started_at=t0 + timedelta(days=1)),
        Activity(id="ex:plot", started_at=t0 + timedelta(hours=2)),
    ]
    relations: list[Any] = [
        WasGeneratedBy(entity="ex:table-v1", activity="ex:etl-1"),
        WasGeneratedBy(entity="ex:table-v2", activity="ex:etl-2"),
        WasAssociatedWith(activity="ex:etl-1", agent="ex:alice", plan="ex:etl-plan"),
        WasAssociatedWith(activity="ex:etl-2", agent="ex:alice", plan="ex:etl-plan"),
        Used(activity="ex:plot", entity="ex:table-v1"),
        WasGeneratedBy(entity="ex:chart", activity="ex:plot"),
        WasAssociatedWith(activity="ex:plot", agent="ex:bob"),
    ]
    store.import_elements("test", "test:plan", elements, relations)
    frames = {f.activity.id: f.stale for f in LineageGraph(store).backtrace("ex:chart").frames}
    assert frames["ex:etl-1"] == []
    (reason,) = frames["ex:plot"]
    assert "ex:etl-plan" in reason and "ex:etl-2" in reason
