"""Third-party importers: the example package installed with pip, found by its entry point, run by the CLI.

The example in docs/examples/csv_importer is installed the way a user would install it (pip, from
its own pyproject.toml) into a target directory that the CLI subprocess gets on PYTHONPATH; the
import lands in the real Neo4j of the test session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lineagegraph.queries import LineageGraph
from lineagegraph.store import GraphStore

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "docs" / "examples" / "csv_importer"

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the installed example package (module and dist-info with its entry point)."""
    target = tmp_path_factory.mktemp("plugins")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(EXAMPLE)],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return target


def lineagegraph(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lineagegraph", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, check=False)


def with_path(env: dict[str, str], *paths: Path) -> dict[str, str]:
    return {**env, "PYTHONPATH": os.pathsep.join(str(p) for p in paths)}


def test_registered_importer_runs_end_to_end(plugin_path: Path, store: GraphStore, cli_env: dict[str, str],
                                             tmp_path: Path) -> None:
    env = with_path(cli_env, plugin_path)
    listing = lineagegraph(["import", "with", "--list", "--json"], env, tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert json.loads(listing.stdout) == {"csv-example": "lineagegraph_csv_example:CsvImporter"}

    good = tmp_path / "steps.csv"
    good.write_text("activity,input,output\n"
                    "clean,raw/tx.csv,clean/tx.parquet\n"
                    "featurize,clean/tx.parquet,features/q1.parquet\n", encoding="utf-8")
    bad = tmp_path / "broken.csv"
    bad.write_text("activity,input,output\nload,a.csv,b.csv\nsplit,b.csv\n", encoding="utf-8")

    proc = lineagegraph(["import", "with", "csv-example", str(bad), str(good), "--json"], env, tmp_path)
    # The bad file is reported with its line and exit code 2; the good one still lands.
    assert proc.returncode == 2, proc.stderr
    report = json.loads(proc.stdout)
    assert [Path(s["source"]).name for s in report["imports"]] == ["steps.csv"]
    assert len(report["errors"]) == 1
    assert report["errors"][0]["location"] == "line 3"
    assert "broken.csv:line 3" in proc.stderr

    features = (tmp_path / "features" / "q1.parquet").as_uri()
    with LineageGraph(store) as graph:
        labels = {n.display_name for n in graph.ancestors(features).nodes}
        runs = store.read("MATCH (r:ImportRun) RETURN r.importer AS importer")
        nothing_from_bad = store.read("MATCH (n:Element) WHERE n.label IN ['load', 'split', 'a.csv'] "
                                      "RETURN count(n) AS n")
    assert labels == {"raw/tx.csv", "clean", "clean/tx.parquet", "featurize", "features/q1.parquet"}
    assert [r["importer"] for r in runs] == ["csv-example"]
    assert nothing_from_bad == [{"n": 0}]


def test_unknown_and_broken_plugins_are_named(plugin_path: Path, cli_env: dict[str, str], tmp_path: Path) -> None:
    # A second, broken plugin: its entry point names something that is not an importer.
    dist = tmp_path / "site" / "broken_plugin-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n", encoding="utf-8")
    (dist / "entry_points.txt").write_text("[lineagegraph.importers]\nnot-one = json:dumps\n", encoding="utf-8")
    env = with_path(cli_env, plugin_path, tmp_path / "site")
    source = tmp_path / "steps.csv"
    source.write_text("activity,input,output\nx,a,b\n", encoding="utf-8")

    unknown = lineagegraph(["import", "with", "csv", str(source)], env, tmp_path)
    assert unknown.returncode == 5
    assert "no importer named 'csv'" in unknown.stderr and "csv-example, not-one" in unknown.stderr

    broken = lineagegraph(["import", "with", "not-one", str(source)], env, tmp_path)
    assert broken.returncode == 3
    assert "'not-one' (json:dumps) is not an importer" in broken.stderr
