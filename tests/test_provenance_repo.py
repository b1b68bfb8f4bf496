"""Importing a real `provenance` artifact repository (made by the library itself) into the real Neo4j.

The repository is lineagegraph/samples/postgres/provenance_repo.sql (also the demo's sample),
written by provenance 0.14.1 through
scripts/make-provenance-fixture.py: load_transactions("2024-01") -> featurize -> train (with a
second load_transactions as labels) -> report (model, plus featurize's output nested in a dict).
As on any current Python, the library left every ``input_artifact_ids`` empty. Expectations below
come from that pipeline and from the SQL rows read directly, never from the importer.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fixtures_postgres import TestPostgres
from psycopg.rows import dict_row

from lineagegraph.cli import main
from lineagegraph.errors import InputError
from lineagegraph.importers.base import run_import
from lineagegraph.importers.pgsource import fingerprints_in
from lineagegraph.importers.provenance_repo import ProvenanceRepoImporter
from lineagegraph.store import GraphStore

pytestmark = pytest.mark.integration

DATA = Path(__file__).parent / "data"
# The tool-made dump is the demo's sample too: one copy, inside the package.
SAMPLE_DUMPS = Path(__file__).parent.parent / "lineagegraph" / "samples" / "postgres"
DUMP = SAMPLE_DUMPS / "provenance_repo.sql"
BLOBS = DATA / "provenance-blobs"
ARTIFACT = "urn:lineagegraph:provenance:artifact:"


def _rows(server: TestPostgres, database: str, sql: str) -> list[dict[str, Any]]:
    with psycopg.connect(server.url(database), row_factory=dict_row) as conn:
        return conn.execute(sql).fetchall()  # type: ignore[arg-type]


def _execute(server: TestPostgres, database: str, sql: str) -> None:
    with psycopg.connect(server.url(database)) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


@pytest.fixture
def repo(postgres_server: TestPostgres) -> str:
    """A fresh database holding the fixture repository; its URL without password."""
    return postgres_server.url(postgres_server.create_database(dump=DUMP), with_password=False)


def _by_fn(server: TestPostgres, url: str) -> dict[str, list[dict[str, Any]]]:
    rows = _rows(server, url.rsplit("/", 1)[1], "SELECT * FROM artifacts ORDER BY computed_at")
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(row["fn_name"], []).append(row)
    return out


def _cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code = main([*argv, "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_repository_becomes_lineage(store: GraphStore, postgres_server: TestPostgres, repo: str,
                                    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    fns = _by_fn(postgres_server, repo)
    assert all(row["input_artifact_ids"] == [] for rows in fns.values() for row in rows), \
        "the fixture is the realistic case: the library recorded no input ids"
    transactions, labels = fns["load_transactions"]
    features, model, report = fns["featurize"][0], fns["train"][0], fns["report"][0]

    importer = ProvenanceRepoImporter(password=postgres_server.password, known=fingerprints_in(store), blobstore=BLOBS)
    outcome = run_import(store, importer, [repo])
    assert outcome.ok, outcome.errors
    summary = importer.reports[repo]
    # featurize <- transactions; train <- features, labels; report <- model, features (nested).
    assert summary.recovered_inputs == 5
    assert summary.artifacts == 5 and summary.sets == 2 and summary.blobs_measured == 5

    up = _cli_json(capsys, "ancestors", ARTIFACT + report["id"])
    up_ids = {n["id"] for n in up["nodes"]}
    assert {ARTIFACT + r["id"] for r in (transactions, labels, features, model)} <= up_ids
    assert "urn:lineagegraph:provenance:call:" + report["id"] in up_ids

    # The artifact carries what the row says; its call carries the run's host and git information.
    node = store.read("MATCH (e:Entity {id: $id}) RETURN e", id=ARTIFACT + model["id"])[0]["e"]
    assert node["digest"] == model["value_id"]
    assert (node["fn_module"], node["fn_name"], node["fn_version"]) == ("__main__", "train", 0)
    assert node["tags"] == ["model", "fraud"]
    assert json.loads(node["custom_fields"])["stage"] == "training"
    assert node["compute_duration_s"] == pytest.approx(model["compute_duration"])
    call = store.read("MATCH (a:Activity {id: $id}) RETURN a",
                      id="urn:lineagegraph:provenance:call:" + model["id"])[0]["a"]
    assert call["hostname"] == "build-07"
    assert json.loads(call["git"])["commit"] == "3f9c2a1d0b7e"
    assert json.loads(call["params"]) == {"settings": {"lr": 0.01, "epochs": 3}}
    roles = {r["role"] for r in store.read(
        "MATCH (:Activity {id: $id})-[u:USED]->() RETURN u.role AS role",
        id="urn:lineagegraph:provenance:call:" + report["id"])}
    assert roles == {"model", "extra.baseline"}

    # The value, measured from the blobstore file (never unpickled).
    blob = (BLOBS / model["value_id"]).read_bytes()
    value = store.read("MATCH (:Entity {id: $id})-[:SPECIALIZATION_OF]->(v) RETURN v",
                       id=ARTIFACT + model["id"])[0]["v"]
    assert value["value_size_bytes"] == len(blob)
    assert value["value_sha256"] == hashlib.sha256(blob).hexdigest()

    # Sets are collections of their members.
    members = store.read(
        "MATCH (s:Entity:Collection {label: 'january-features'})-[:HAD_MEMBER]->(m) RETURN m.id AS id")
    assert {m["id"] for m in members} == {ARTIFACT + transactions["id"], ARTIFACT + features["id"]}

    # bt: the report's frames, report first, each before the steps it needs.
    bt = _cli_json(capsys, "bt", ARTIFACT + report["id"])
    order = [f["activity"]["id"].rsplit(":", 1)[1] for f in bt["frames"]]
    assert set(order) == {r["id"] for r in (report, model, features, transactions, labels)}
    assert order[0] == report["id"]
    assert order.index(model["id"]) < order.index(features["id"]) < order.index(transactions["id"])


def test_reimport_writes_only_what_is_new(store: GraphStore, postgres_server: TestPostgres, repo: str) -> None:
    first = ProvenanceRepoImporter(password=postgres_server.password, known=fingerprints_in(store))
    assert run_import(store, first, [repo]).ok
    nodes_before = store.read("MATCH (n:Element) RETURN count(n) AS n")[0]["n"]

    again = ProvenanceRepoImporter(password=postgres_server.password, known=fingerprints_in(store))
    outcome = run_import(store, again, [repo])
    assert outcome.ok
    delta = again.reports[repo].delta
    assert (delta.new, delta.changed, delta.unchanged) == (0, 0, 7)
    assert outcome.summaries[0].nodes.created == outcome.summaries[0].nodes.updated == 0
    assert store.read("MATCH (n:Element) RETURN count(n) AS n")[0]["n"] == nodes_before

    # A new call lands in the repository (a cron job later): only it is written.
    database = repo.rsplit("/", 1)[1]
    model_id = _by_fn(postgres_server, repo)["train"][0]["id"]
    _execute(postgres_server, database, f"""
        INSERT INTO artifacts (id, value_id, run_id, name, version, fn_module, fn_name, composite,
                               computed_at, added_at, input_artifact_ids, inputs_json, custom_fields)
        SELECT 'aaaabbbbccccddddeeeeffff00001111', 'ffffeeeeddddccccbbbbaaaa00001111', run_id,
               '__main__.evaluate', 0, '__main__', 'evaluate', false, now(), now(), ARRAY['{model_id}'],
               '{{"model": {{"id": "{model_id}", "type": "ArtifactProxy"}}}}', '{{}}'
        FROM artifacts WHERE id = '{model_id}'""")
    later = ProvenanceRepoImporter(password=postgres_server.password, known=fingerprints_in(store))
    assert run_import(store, later, [repo]).ok
    report = later.reports[repo]
    assert (report.delta.new, report.delta.changed, report.delta.unchanged) == (1, 0, 7)
    assert report.recovered_inputs == 0, "input_artifact_ids was filled in: nothing to recover"
    used = store.read("MATCH (:Activity {id: $id})-[:USED]->(e) RETURN e.id AS id",
                      id="urn:lineagegraph:provenance:call:aaaabbbbccccddddeeeeffff00001111")
    assert [u["id"] for u in used] == [ARTIFACT + model_id]


def test_cli_import_and_password_rules(store: GraphStore, postgres_server: TestPostgres, repo: str,
                                       cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    # The password on the command line is refused, and not echoed.
    with_password = repo.replace("lineagegraph@", f"lineagegraph:{postgres_server.password}@")
    assert main(["import", "provenance", with_password]) == 2
    err = capsys.readouterr().err
    assert "LINEAGEGRAPH_PROVENANCE_PASSWORD" in err and postgres_server.password not in err
    assert store.read("MATCH (n:Element) RETURN count(n) AS n")[0]["n"] == 0

    # Without a password anywhere the server refuses us, and we say which database.
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", "/nonexistent")
    assert main(["import", "provenance", repo]) == 2
    assert repo in capsys.readouterr().err

    # The URL and password from the settings (environment), as cron would run it.
    monkeypatch.setenv("LINEAGEGRAPH_PROVENANCE_PASSWORD", postgres_server.password)
    monkeypatch.setenv("LINEAGEGRAPH_PROVENANCE_URL", repo)
    assert main(["import", "provenance", "--blobstore", str(BLOBS)]) == 0
    out = capsys.readouterr().out
    assert "7 new, 0 changed, 0 unchanged record(s)" in out
    assert "5 input edge(s) recovered from inputs_json" in out
    assert main(["import", "provenance"]) == 0
    assert "0 new, 0 changed, 7 unchanged record(s)" in capsys.readouterr().out


def test_no_url_at_all_is_a_config_error(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("LINEAGEGRAPH_PROVENANCE_URL", raising=False)
    assert main(["import", "provenance"]) == 3
    assert "LINEAGEGRAPH_PROVENANCE_URL" in capsys.readouterr().err


@pytest.mark.parametrize(("damage", "message"), [
    ("DROP TABLE artifact_sets", "table(s) artifact_sets missing"),
    ("ALTER TABLE artifacts DROP COLUMN inputs_json", "lacks column(s) inputs_json"),
    ("UPDATE artifacts SET id = 'not an id' WHERE fn_name = 'train'", "'not an id' is not a hex digest"),
])
def test_bad_repositories_write_nothing_and_others_still_land(
        store: GraphStore, postgres_server: TestPostgres, repo: str, damage: str, message: str,
        cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    bad = postgres_server.url(postgres_server.create_database(dump=DUMP), with_password=False)
    _execute(postgres_server, bad.rsplit("/", 1)[1], damage)
    monkeypatch.setenv("LINEAGEGRAPH_PROVENANCE_PASSWORD", postgres_server.password)

    assert main(["import", "provenance", bad, repo]) == 2
    captured = capsys.readouterr()
    assert bad in captured.err and message in captured.err
    if "hex digest" in message:
        assert "artifacts id=not an id" in captured.err, "the error names the record"
    assert "7 new" in captured.out, "the good repository of the same invocation still landed"
    sources = {r["s"] for r in store.read("MATCH (n:Element) UNWIND n.import_sources AS s RETURN DISTINCT s")}
    assert sources == {f"provenance:{repo}"}, "nothing of the bad repository was written"


def test_wrong_or_missing_database(store: GraphStore, postgres_server: TestPostgres) -> None:
    importer = ProvenanceRepoImporter(password=postgres_server.password, known=fingerprints_in(store))
    empty = postgres_server.url(postgres_server.create_database(), with_password=False)
    with pytest.raises(InputError, match="not a provenance artifact repository: table"):
        list(importer.units(empty))
    missing = postgres_server.url("no_such_database", with_password=False)
    with pytest.raises(InputError, match=r"no_such_database: cannot connect"):
        list(importer.units(missing))
    with pytest.raises(InputError, match="not a PostgreSQL URL"):
        list(importer.units("mysql://somewhere/db"))


def test_the_test_server_is_private_and_password_protected(postgres_server: TestPostgres) -> None:
    """The fixture's server: loopback TCP only, a socket in its own directory, SCRAM with its password."""
    settings = _rows(postgres_server, "postgres",
                     "SELECT name, setting FROM pg_settings WHERE name IN "
                     "('listen_addresses', 'unix_socket_directories', 'password_encryption')")
    values = {r["name"]: r["setting"] for r in settings}
    assert values["listen_addresses"] == "127.0.0.1"
    assert values["unix_socket_directories"] == str(postgres_server.socket_dir)
    assert values["password_encryption"] == "scram-sha-256"
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(postgres_server.url().replace(postgres_server.password, "wrong-password"))
