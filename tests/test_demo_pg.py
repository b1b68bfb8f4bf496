"""``lineagegraph demo`` imports the PostgreSQL importers' samples through its own private server.

The demo finds PostgreSQL's binaries, starts a throw-away server, loads the bundled ``pg_dump``
files, imports them with the mltrace and ``provenance`` importers, prints mltrace's backtrace of an
output, and stops the server. Expected contents come from the dumps themselves (their ``COPY``
blocks) and from what mltrace itself printed (tests/data/mltrace-backtraces.json).
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from fixtures_postgres import ensure_postgres

from lineagegraph.cli import main
from lineagegraph.cli.demo import MLTRACE_NAMESPACE, MLTRACE_OUTPUT, mltrace_demo_output
from lineagegraph.importers.mltrace import MltraceImporter
from lineagegraph.importers.pgserver import PrivatePostgres
from lineagegraph.importers.provenance_repo import artifact_entity_id
from lineagegraph.queries import LineageGraph
from lineagegraph.store import GraphStore

pytestmark = pytest.mark.integration

TESTS = Path(__file__).parent
SAMPLES = TESTS.parent / "lineagegraph" / "samples" / "postgres"


def copy_rows(dump: Path, table: str) -> list[list[str]]:
    """The rows of ``table`` in a plain-text pg_dump (its COPY block), as lists of column texts."""
    lines = dump.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"COPY public.{table} "))
    end = lines.index("\\.", start)
    return [line.split("\t") for line in lines[start + 1:end]]


def test_demo_imports_both_postgres_importers(store: GraphStore, cli_env: dict[str, str], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LINEAGEGRAPH_PG_BINDIR", str(ensure_postgres()))
    monkeypatch.chdir(tmp_path)  # the demo's spool and export land here
    assert main(["demo", "-o", str(tmp_path / "demo.html"), "--quiet"]) == 0
    out = capsys.readouterr().out

    runs = copy_rows(SAMPLES / "mltrace.sql", "component_runs")
    artifacts = copy_rows(SAMPLES / "provenance_repo.sql", "artifacts")
    assert len(runs) == 10 and len(artifacts) >= 3
    assert f"[mltrace] samples/postgres/mltrace.sql: 6 component(s), {len(runs)} run(s): {len(runs) + 6} new" in out
    assert f"[provenance] samples/postgres/provenance_repo.sql: {len(artifacts)} artifact(s)" in out

    # Every mltrace run and every provenance artifact is in the graph.
    run_ids = [MltraceImporter().run_id(MLTRACE_NAMESPACE, int(row[0])) for row in runs]
    found = store.read("MATCH (a:Activity) WHERE a.id IN $ids RETURN a.id AS id", ids=run_ids)
    assert sorted(r["id"] for r in found) == sorted(run_ids)
    artifact_ids = [artifact_entity_id(row[0]) for row in artifacts]
    found = store.read("MATCH (e:Entity) WHERE e.id IN $ids RETURN e.id AS id", ids=artifact_ids)
    assert sorted(r["id"] for r in found) == sorted(artifact_ids)
    sources = {r["importer"] for r in store.read("MATCH (r:ImportRun) RETURN r.importer AS importer")}
    assert {"mltrace", "provenance"} <= sources

    # The printed backtrace is mltrace's own, frame for frame.
    recorded = json.loads((TESTS / "data" / "mltrace-backtraces.json").read_text())[MLTRACE_OUTPUT[0]]
    components = {int(row[0]): row[1] for row in runs}
    expected = " | ".join(f"{depth} {components[run]} (run {run})" for depth, run in recorded)
    assert f"--order depth-first\n{expected}\n" in out
    frames = LineageGraph(store).backtrace(mltrace_demo_output(), order="depth-first").frames
    assert [[f.depth, f.activity.properties["mltrace_run_id"]] for f in frames] == recorded

    # A second demo meets the same nodes (fixed namespace): nothing new from the databases.
    before = store.read("MATCH (n:Element) RETURN count(n) AS n")[0]["n"]
    assert main(["demo", "-o", str(tmp_path / "demo.html"), "--quiet"]) == 0
    again = capsys.readouterr().out
    assert f"0 new, 0 changed, {len(runs) + 6} unchanged" in again
    assert store.read("MATCH (n:Element) RETURN count(n) AS n")[0]["n"] >= before


def test_demo_without_postgres_says_what_to_run_and_imports_nothing(
        store: GraphStore, cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "no-postgres"
    empty.mkdir()
    monkeypatch.setenv("LINEAGEGRAPH_PG_BINDIR", str(empty))
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "-o", str(tmp_path / "demo.html"), "--quiet"]) == 3
    err = capsys.readouterr().err
    assert "PostgreSQL server binaries (initdb, postgres) not found" in err
    assert "bash scripts/ensure-postgres.sh" in err
    assert store.read("MATCH (n:Element) RETURN count(n) AS n")[0]["n"] == 0
    assert not (tmp_path / "demo.html").exists()


def test_private_server_is_gone_after_use() -> None:
    with PrivatePostgres(ensure_postgres()) as server:
        root, port = server.root, server.port
        name = server.create_database("probe")
        assert server.psql(name, "-At", "-c", "SELECT 40 + 2").strip() == "42"
    assert not root.exists()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "the server still listens"
