"""The query commands of the CLI, against a real Neo4j: output people read, JSON, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from fixtures_graphs import Graph, expected_nodes, ml_pipeline

from lineagegraph.cli import main
from lineagegraph.store import GraphStore

pytestmark = pytest.mark.integration


@pytest.fixture
def pipeline(store: GraphStore, cli_env: dict[str, str]) -> Graph:
    graph = ml_pipeline()
    store.import_elements("test", "ml_pipeline", graph.elements, graph.relations)
    return graph


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_bt_prints_numbered_frames_newest_first(
    pipeline: Graph, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "bt", "e:report-2")
    assert code == 0
    heads = [line.split()[0:2] for line in out.splitlines() if line.startswith("#")]
    assert heads == [
        ["#0", "evaluate"],
        ["#1", "train_model"],
        ["#2", "featurize"],
        ["#3", "clean"],
    ]
    by_lines = [line for line in out.splitlines() if line.strip().startswith("by:")]
    assert "(version def456)" in out and "trainer:1.1" in by_lines[1]
    assert "input:  features as training-data" in out and "lr=0.01" in out
    code, out, _ = run(capsys, "bt", "e:report-2", "--json")
    assert json.loads(out)["frames"][0]["activity"]["id"] == "a:eval-2"


def test_unknown_ids_exit_non_zero_with_a_clear_message(
    pipeline: Graph, capsys: pytest.CaptureFixture[str]
) -> None:
    for args in (
        ["ancestors", "nope"],
        ["descendants", "nope"],
        ["bt", "nope"],
        ["recipe", "nope"],
        ["diff", "e:model-1", "nope"],
        ["path", "nope", "e:raw"],
        ["blame", "nope"],
    ):
        code, out, err = run(capsys, *args)
        assert code == 5, args
        assert "not in the graph: 'nope'" in err and out == ""
    code, _, err = run(capsys, "ancestors", "e:raw", "--depth", "99")
    assert code == 2 and "between 1 and 50" in err


def test_path_found_and_not_derived(pipeline: Graph, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "path", "e:report-2", "e:model-2")
    assert code == 0 and out.strip() == "report -[WAS_DERIVED_FROM]-> model.pb"
    code, out, err = run(capsys, "path", "e:raw", "e:pred-a")
    assert code == 1 and "e:raw was not derived from e:pred-a" in err


def test_ancestors_json_and_table(pipeline: Graph, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "ancestors", "e:model-2", "--json")
    assert code == 0
    assert {n["id"] for n in json.loads(out)["nodes"]} == expected_nodes(
        pipeline, "e:model-2", "up"
    )
    code, out, _ = run(capsys, "descendants", "e:raw", "--kind", "Entity", "--depth", "2")
    assert code == 0 and "e:clean" in out and "a:clean" not in out
    code, out, _ = run(
        capsys, "ancestors", "e:pred-bundle", "--as-of", "2024-01-08T12:00:00Z", "--json"
    )
    ids = {n["id"] for n in json.loads(out)["nodes"]}
    assert "e:pred-a" in ids and "e:pred-b" not in ids


def test_diff_blame_recipe_search(pipeline: Graph, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "diff", "e:model-1", "e:model-2")
    assert code == 0
    assert "train_model" in out and "0.01" in out and "def456" in out and "e:features-2" in out
    code, out, _ = run(capsys, "diff", "e:model-1", "e:model-2", "--json")
    changes = json.loads(out)["activity_changes"]
    assert {c["what"] for c in changes} == {"train_model", "featurize"}

    code, out, _ = run(capsys, "blame", "e:pred-a", "e:pred-b", "e:report-2", "--json")
    assert json.loads(out)["suspects"][0]["element"]["id"] == "e:model-2"
    code, out, _ = run(capsys, "blame", "e:pred-a", "e:pred-b", "e:report-2", "--limit", "3")
    assert code == 0 and "3/3" in out

    code, out, _ = run(capsys, "recipe", "e:pred-a")
    assert code == 0
    steps = [line for line in out.splitlines() if line.startswith("Step ")]
    assert [s.split()[2] for s in steps] == ["clean", "featurize", "train_model", "predict"]
    assert "gs://data/raw.csv" in out and "param lr = 0.01" in out

    code, out, _ = run(capsys, "search", "predict", "--kind", "Activity", "--json")
    assert {n["id"] for n in json.loads(out)["nodes"]} == {
        "a:predict-a",
        "a:predict-b",
        "a:predict-c",
    }


def test_cypher_command(pipeline: Graph, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "cypher",
        "blame",
        "--param",
        'ids=["e:pred-a","e:pred-b"]',
        "--param",
        "depth=2",
        "--param",
        "limit=1",
        "--json",
    )
    assert code == 0
    rows = json.loads(out)
    assert [r["element"]["id"] for r in rows] == ["e:model-2"] and rows[0]["hits"] == 2
    code, out, _ = run(capsys, "cypher", "search", "-p", "text=dashboard")
    assert code == 0 and "e:dashboard" in out
    code, _, err = run(capsys, "cypher", "nope")
    assert code == 5 and "no query template named 'nope'" in err


def test_exit_code_from_a_real_process(pipeline: Graph, cli_env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lineagegraph", "bt", "missing-id"],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 5
    assert "not in the graph: 'missing-id'" in done.stderr
