"""The bulk first load (``lineagegraph bulk-load``) against real Neo4j servers and the real neo4j-admin.

The bulk path stops and restarts its server, so it gets a server of its own (a fresh data
directory and port); the online import of the same files goes to the shared test server. The two
graphs must be the same: labels and every property of every node, type, ends, key and properties
of every relationship, the bookkeeping (which source created what, which sources assert it) and
the run counts.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lineagegraph.importers.base import run_import
from lineagegraph.importers.prov import ProvImporter
from lineagegraph.server import LocalServer
from lineagegraph.settings import Settings
from lineagegraph.store import GraphStore

pytestmark = pytest.mark.integration

NS = "https://example.org/bulk#"

# Ids with commas, quotes, newlines, spaces and non-ASCII; typed attributes (int, float, bool,
# datetime with offset, a list, an empty string, a JSON-looking string); a relation whose end is
# never declared, one whose end is never declared and has no kind (wasInfluencedBy).
DOC_1: dict[str, Any] = {
    "prefix": {"ex": NS},
    "entity": {
        'ex:comma,quote"d': {"prov:label": 'a "quoted", comma\nnewline label', "ex:size": 42, "ex:ratio": 0.1,
                             "ex:ok": True,
                             "ex:when": {"$": "2024-07-04T09:00:00.123456+02:00", "type": "xsd:dateTime"}},
        "ex:ünïcødé€": {"prov:label": "ünïcødé € ✓", "prov:type": "ex:Dataset", "ex:tags": ["a;b", "c,d", 'e"f']},
        "ex:multi\nline": {"prov:label": "  spaces kept  ", "ex:empty": ""},
        "ex:shared": {"prov:label": "shared in file 1", "ex:n": 1},
    },
    "activity": {"ex:run 1": {"prov:startTime": "2024-07-04T09:00:00+00:00", "prov:endTime": "2024-07-04T10:00:00Z",
                              "ex:params": {"$": '{"lr": 0.01}', "type": "xsd:string"}}},
    "agent": {"ex:alice": {"prov:type": "prov:Person", "prov:label": "Alice"}},
    "used": {"_:u1": {"prov:activity": "ex:run 1", "prov:entity": 'ex:comma,quote"d',
                      "prov:time": "2024-07-04T09:30:00Z"},
             "_:u2": {"prov:activity": "ex:run 1", "prov:entity": 'ex:never declared, "dangling"'}},
    "wasGeneratedBy": {"_:g1": {"prov:entity": "ex:ünïcødé€", "prov:activity": "ex:run 1", "prov:role": "ex:output"}},
    "wasAssociatedWith": {"_:w1": {"prov:activity": "ex:run 1", "prov:agent": "ex:alice"}},
    "wasDerivedFrom": {"_:d1": {"prov:generatedEntity": "ex:ünïcødé€", "prov:usedEntity": 'ex:comma,quote"d',
                                "prov:type": "prov:Revision"}},
    "wasInfluencedBy": {"_:i1": {"prov:influencee": "ex:multi\nline", "prov:influencer": "ex:kindless dangling"}},
}
# A second file that declares an id of the first again (properties merge, both sources assert it)
# and points a relation at what the first file created.
DOC_2: dict[str, Any] = {
    "prefix": {"ex": NS},
    "entity": {"ex:shared": {"prov:label": "shared in file 2", "ex:m": 2}, "ex:only2": {}},
    "used": {"_:u9": {"prov:activity": "ex:run 1", "prov:entity": "ex:only2"}},
    "wasDerivedFrom": {"_:d9": {"prov:generatedEntity": "ex:only2", "prov:usedEntity": "ex:shared"}},
}


@dataclass
class BulkServer:
    server: LocalServer
    env: dict[str, str]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "lineagegraph", *args], env=self.env, capture_output=True,
                              text=True, timeout=900, check=False)

    def store(self) -> GraphStore:
        return GraphStore.connect(Settings(server_home=self.server.home, server_port=self.server.port,
                                           neo4j_uri=None), quiet=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bulk-input")
    paths = {"one": root / "one.json", "two": root / "two.json", "bad": root / "bad.json"}
    paths["one"].write_text(json.dumps(DOC_1, ensure_ascii=False), encoding="utf-8")
    paths["two"].write_text(json.dumps(DOC_2, ensure_ascii=False), encoding="utf-8")
    paths["bad"].write_text('{"prefix": {"ex": "https://example.org/bulk#"}, "entity": {"ex:x": ', encoding="utf-8")
    return paths


@pytest.fixture(scope="module")
def bulk_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BulkServer]:
    """A server of its own for the bulk path (which stops and restarts it), empty at first."""
    home = tmp_path_factory.mktemp("bulk-server") / "neo4j"
    server = LocalServer(home, _free_port(), heap_mb=1024, page_cache_mb=128)
    server.start(timeout=240, quiet=True)
    env = {key: value for key, value in os.environ.items() if not key.startswith("NEO4J_")}
    env.update({"LINEAGEGRAPH_SERVER_HOME": str(home), "LINEAGEGRAPH_SERVER_PORT": str(server.port),
                "LINEAGEGRAPH_SERVER_HEAP_MB": "1024", "LINEAGEGRAPH_SERVER_PAGE_CACHE_MB": "128"})
    try:
        yield BulkServer(server, env)
    finally:
        server.stop()


def _graph(store: GraphStore) -> dict[str, Any]:
    """The whole graph with run ids replaced by their runs' sources (run ids differ between loads)."""
    runs = {r["id"]: r["source"] for r in store.read("MATCH (r:ImportRun) RETURN r.id AS id, r.source AS source")}

    def named(props: dict[str, Any]) -> dict[str, Any]:
        props = dict(props)
        props["created_by"] = runs[props["created_by"]]
        props["import_runs"] = [runs[r] for r in props["import_runs"]]
        return props

    nodes = {row["id"]: (sorted(row["labels"]), named(row["props"])) for row in store.read(
        "MATCH (n:Element) RETURN n.id AS id, labels(n) AS labels, properties(n) AS props")}
    rels = sorted((row["type"], row["start"], row["end"], json.dumps(named(row["props"]), sort_keys=True, default=str))
                  for row in store.read("MATCH (a:Element)-[r]->(b:Element) RETURN type(r) AS type, a.id AS start, "
                                        "b.id AS end, properties(r) AS props"))
    counts = {row["source"]: row["counts"] for row in store.read(
        "MATCH (r:ImportRun) RETURN r.source AS source, r.status AS status, "
        "[r.status, r.nodes_created, r.nodes_updated, r.nodes_unchanged, r.relationships_created, "
        "r.relationships_updated, r.relationships_unchanged] AS counts")}
    return {"nodes": nodes, "relationships": rels, "runs": counts}


def _node_count(bulk: BulkServer) -> int:
    with bulk.store() as store:
        return int(store.read("MATCH (n) RETURN count(n) AS n")[0]["n"])


def test_a_bad_file_alone_touches_nothing(bulk_server: BulkServer, files: dict[str, Path]) -> None:
    pid = bulk_server.server.status().pid
    result = bulk_server.cli("bulk-load", "prov", str(files["bad"]))
    assert result.returncode == 2, result.stderr
    assert str(files["bad"].resolve()) in result.stderr and "JSON" in result.stderr
    assert "the database was not touched" in result.stdout
    assert bulk_server.server.status().pid == pid, "the server was never stopped"
    assert _node_count(bulk_server) == 0


@pytest.fixture(scope="module")
def bulk_loaded(bulk_server: BulkServer, files: dict[str, Path]) -> dict[str, Any]:
    """Bulk-load both good files and the bad one in one invocation; return the CLI's JSON report."""
    result = bulk_server.cli("bulk-load", "prov", "--json", str(files["one"]), str(files["bad"]), str(files["two"]))
    assert result.returncode == 2, result.stderr  # the bad file; the good ones are still loaded
    report: dict[str, Any] = json.loads(result.stdout)
    report["stderr"] = result.stderr
    return report


def test_bulk_load_gives_the_graph_of_the_online_import(
        bulk_server: BulkServer, bulk_loaded: dict[str, Any], files: dict[str, Path], store: GraphStore) -> None:
    outcome = run_import(store, ProvImporter(), [str(files["one"]), str(files["bad"]), str(files["two"])])
    assert [e.source for e in outcome.errors] == [str(files["bad"].resolve())]
    online = _graph(store)
    with bulk_server.store() as bulk_store:
        bulk = _graph(bulk_store)

    assert bulk["nodes"] == online["nodes"]
    assert bulk["relationships"] == online["relationships"]
    assert bulk["runs"] == online["runs"]

    # What the comparison covers, seen directly: awkward ids, typed values, stubs, merged bookkeeping.
    one, two = f"prov:{files['one'].resolve()}", f"prov:{files['two'].resolve()}"
    labels, props = bulk["nodes"][NS + 'comma,quote"d']
    assert labels == ["Element", "Entity"]
    assert props["label"] == 'a "quoted", comma\nnewline label'
    assert (props["ex:size"], props["ex:ratio"], props["ex:ok"]) == (42, 0.1, True)
    assert props["ex:when"].isoformat() == "2024-07-04T09:00:00.123456000+02:00"
    assert bulk["nodes"][NS + "ünïcødé€"][1]["ex:tags"] == ["a;b", "c,d", 'e"f']
    assert bulk["nodes"][NS + "multi\nline"][1]["ex:empty"] == ""
    dangling = NS + 'never declared, "dangling"'
    assert bulk["nodes"][dangling] == (["Element", "Entity"], {
        "id": dangling, "stub": True, "created_by": str(files["one"].resolve()),
        "import_sources": [one], "import_runs": [str(files["one"].resolve())]})
    assert bulk["nodes"][NS + "kindless dangling"][0] == ["Element"]
    shared = bulk["nodes"][NS + "shared"][1]
    assert (shared["label"], shared["ex:n"], shared["ex:m"]) == ("shared in file 2", 1, 2)
    assert shared["import_sources"] == [one, two]
    assert bulk["nodes"][NS + "run 1"][1]["import_sources"] == [one, two], "file two's relation touched it"

    assert [i["status"] for i in bulk_loaded["imports"]] == ["ok", "ok"], "no run for a file that does not parse"
    assert [e["source"] for e in bulk_loaded["errors"]] == [str(files["bad"].resolve())]
    assert bulk_loaded["bulk"]["csv_rows"]["nodes"] > 0 and bulk_loaded["bulk"]["timings"]["tool_seconds"] > 0


def test_a_database_that_holds_anything_is_refused_untouched(
        bulk_server: BulkServer, bulk_loaded: dict[str, Any], files: dict[str, Path]) -> None:
    with bulk_server.store() as store:
        before = _graph(store)
    pid = bulk_server.server.status().pid
    result = bulk_server.cli("bulk-load", "prov", str(files["one"]))
    assert result.returncode == 3
    assert "not empty" in result.stderr and "Nothing was changed" in result.stderr
    assert bulk_server.server.status().pid == pid
    with bulk_server.store() as store:
        assert _graph(store) == before


def test_an_online_import_of_a_bulk_loaded_file_skips_it(
        bulk_server: BulkServer, bulk_loaded: dict[str, Any], files: dict[str, Path]) -> None:
    """The cron job that follows a bulk first load does not read the unchanged files again."""
    result = bulk_server.cli("import", "prov", "--json", str(files["one"]), str(files["two"]))
    assert result.returncode == 0, result.stderr
    imports = json.loads(result.stdout)["imports"]
    bulk_runs = [run["run_id"] for run in bulk_loaded["imports"][:2]]
    assert [i["status"] for i in imports] == ["skipped", "skipped"]
    assert [i["notes"]["unchanged since"] for i in imports] == bulk_runs
    loaded = bulk_loaded["imports"][0]["nodes"]
    assert imports[0]["nodes"]["unchanged"] == loaded["created"] + loaded["updated"] + loaded["unchanged"] > 0


def test_removing_the_bulk_runs_empties_the_graph(bulk_server: BulkServer, bulk_loaded: dict[str, Any]) -> None:
    for run in bulk_loaded["imports"][:2]:
        result = bulk_server.cli("imports", "remove", run["run_id"])
        assert result.returncode == 0, result.stderr
    with bulk_server.store() as store:
        assert store.read("MATCH (n:Element) RETURN count(n) AS n")[0]["n"] == 0
        assert store.read("MATCH ()-[r]->() RETURN count(r) AS n")[0]["n"] == 0
        assert store.read("MATCH (b:ImportBatch) RETURN count(b) AS n")[0]["n"] == 0


def test_only_the_local_server(files: dict[str, Path]) -> None:
    env = {**os.environ, "NEO4J_URI": "bolt://db.example.invalid:7687"}
    result = subprocess.run([sys.executable, "-m", "lineagegraph", "bulk-load", "prov", str(files["one"])],
                            env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 3
    assert "only with lineagegraph's local server" in result.stderr and "db.example.invalid" in result.stderr
