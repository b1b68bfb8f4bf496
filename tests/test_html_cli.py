"""``lineagegraph export html`` against the real graph: imported data in, a page file out."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lineagegraph.model import Activity, Agent, Entity, Used, WasAssociatedWith, WasGeneratedBy
from lineagegraph.store import GraphStore

pytestmark = pytest.mark.integration


def import_pipeline(store: GraphStore) -> None:
    """raw -> train -> model -> evaluate -> report, Alice runs training, and an unrelated file."""
    elements = [
        Entity(id="ex:raw", label="raw.csv"),
        Activity(id="ex:train", label="train", params={"lr": 0.1}),
        Agent(id="ex:alice", label="Alice", agent_type="person"),
        Entity(id="ex:model", label="model.pb",
               attributes={"note": "<img src=x onerror=alert(1)>"}),
        Activity(id="ex:evaluate", label="evaluate"),
        Entity(id="ex:report", label="report.html"),
        Entity(id="ex:unrelated", label="unrelated.txt"),
    ]
    relations = [
        Used(activity="ex:train", entity="ex:raw"),
        WasAssociatedWith(activity="ex:train", agent="ex:alice"),
        WasGeneratedBy(entity="ex:model", activity="ex:train"),
        Used(activity="ex:evaluate", entity="ex:model"),
        WasGeneratedBy(entity="ex:report", activity="ex:evaluate"),
    ]
    store.import_elements("test", "pipeline", elements, relations)


def run_cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lineagegraph", "export", "html", *args],
                          env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def page_data(path: Path) -> dict:
    page = path.read_text(encoding="utf-8")
    match = re.search(r'<script type="application/json" id="lineage-data">(.*?)</script>',
                      page, re.S)
    assert match
    return json.loads(match.group(1))


def test_export_html_writes_upstream_lineage(store: GraphStore, cli_env: dict[str, str],
                                             tmp_path: Path) -> None:
    import_pipeline(store)
    target = tmp_path / "out" / "model.html"
    target.parent.mkdir()
    done = run_cli(cli_env, tmp_path, "ex:model", "-o", str(target))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(target)
    data = page_data(target)
    ids = {n["id"] for n in data["nodes"]}
    assert {"ex:model", "ex:train", "ex:raw"} <= ids
    assert ids.isdisjoint({"ex:evaluate", "ex:report", "ex:unrelated"}), "upstream only"
    assert data["focus"] == ["ex:model"]
    edges = {(e["from"], e["name"], e["to"]) for e in data["edges"]}
    assert {("ex:model", "wasGeneratedBy", "ex:train"), ("ex:train", "used", "ex:raw")} <= edges
    model = next(n for n in data["nodes"] if n["id"] == "ex:model")
    assert model["props"]["note"] == "<img src=x onerror=alert(1)>"
    assert "import_runs" not in model["props"] and "created_by" not in model["props"]
    page = target.read_text(encoding="utf-8")
    assert "<title>Upstream lineage of model.pb</title>" in page
    assert "<img src=x" not in page


def test_export_html_both_directions_and_default_name(store: GraphStore, cli_env: dict[str, str],
                                                      tmp_path: Path) -> None:
    import_pipeline(store)
    done = run_cli(cli_env, tmp_path, "ex:model", "--direction", "both", "--depth", "5",
                   "--title", "Model <both ways>")
    assert done.returncode == 0, done.stderr
    # ':' is not file-name safe, so the name carries a short hash of the real id.
    expected = f"lineage-ex_model-{hashlib.sha256(b'ex:model').hexdigest()[:8]}.html"
    assert done.stdout.strip() == expected
    data = page_data(tmp_path / expected)
    ids = {n["id"] for n in data["nodes"]}
    assert {"ex:raw", "ex:train", "ex:model", "ex:evaluate", "ex:report"} <= ids
    assert "ex:unrelated" not in ids
    assert "<title>Model &lt;both ways&gt;</title>" in (tmp_path / expected).read_text()

    down = run_cli(cli_env, tmp_path, "ex:model", "-d", "down", "-o", "down.html")
    assert down.returncode == 0, down.stderr
    ids = {n["id"] for n in page_data(tmp_path / "down.html")["nodes"]}
    assert {"ex:model", "ex:evaluate", "ex:report"} <= ids
    assert ids.isdisjoint({"ex:raw", "ex:train", "ex:unrelated"})


def test_export_html_unknown_id_fails_cleanly(store: GraphStore, cli_env: dict[str, str],
                                              tmp_path: Path) -> None:
    import_pipeline(store)
    done = run_cli(cli_env, tmp_path, "ex:nope", "-o", "nope.html")
    assert done.returncode != 0
    assert "ex:nope" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "nope.html").exists()
    bad_depth = run_cli(cli_env, tmp_path, "ex:model", "--depth", "0")
    assert bad_depth.returncode == 2, "a usage error"
