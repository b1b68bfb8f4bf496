"""Re-importing a file that has not changed: skipped and recorded, unless anything says otherwise.

A cron job importing the same PROV file every hour should not re-read and rewrite a million
records to learn that nothing changed. What makes a file "unchanged" is strict: same bytes, same
importer settings, same lineagegraph version and redaction rules, its last reading complete and
every run of it still the newest of its source. Anything else reads the file again.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lineagegraph import redaction
from lineagegraph.importers.base import run_import
from lineagegraph.importers.prov import ProvImporter
from lineagegraph.store import GraphStore

pytestmark = pytest.mark.integration


def write_doc(path: Path, label: str = "raw data", token: str = "") -> Path:
    attrs = {"prov:label": label, **({"ex:note": token} if token else {})}
    path.write_text(json.dumps({
        "prefix": {"ex": "https://example.org/"},
        "entity": {"ex:raw": attrs, "ex:clean": {"prov:label": "clean data"}},
        "activity": {"ex:tidy": {}},
        "used": {"_:u": {"prov:activity": "ex:tidy", "prov:entity": "ex:raw"}},
        "wasGeneratedBy": {"_:g": {"prov:entity": "ex:clean", "prov:activity": "ex:tidy"}},
    }))
    return path


def runs(store: GraphStore) -> list[dict[str, object]]:
    return store.read("MATCH (r:ImportRun) RETURN r.id AS id, r.status AS status, r.same_as AS same_as, "
                      "r.chunks AS chunks ORDER BY r.started_at, r.id")


def batches(store: GraphStore) -> int:
    return int(store.read("MATCH (b:ImportBatch) RETURN count(b) AS c")[0]["c"])


def test_an_unchanged_file_is_skipped_and_the_skip_is_recorded(store: GraphStore, tmp_path: Path) -> None:
    doc = write_doc(tmp_path / "doc.json")
    first = run_import(store, ProvImporter(), [str(doc)]).summaries[0]
    assert first.status == "ok" and first.nodes.created == 3
    written = batches(store)

    again = run_import(store, ProvImporter(), [str(doc)]).summaries[0]
    assert again.status == "skipped"
    assert again.run_id != first.run_id
    assert first.run_id in again.line() and "skipped" in again.line()
    # Its counts are true: everything the file asserts, unchanged (what --force would report).
    assert (again.nodes.created, again.nodes.updated, again.nodes.unchanged) == (0, 0, 3)
    assert (again.relationships.created, again.relationships.updated, again.relationships.unchanged) == (0, 0, 2)
    assert "3 nodes and 2 relationships" in again.line()
    recorded = store.read("MATCH (r:ImportRun {id: $id}) RETURN r.nodes_created AS nc, r.nodes_unchanged AS nn, "
                          "r.relationships_unchanged AS rn", id=again.run_id)
    assert recorded == [{"nc": 0, "nn": 3, "rn": 2}]
    assert [(r["status"], r["same_as"]) for r in runs(store)] == [("ok", None), ("skipped", [first.run_id])]
    assert batches(store) == written  # nothing was written for it
    # The elements still name the run that wrote them.
    assert store.read("MATCH (n:Element {id: 'https://example.org/raw'}) RETURN n.import_runs AS r")[0]["r"] \
        == [first.run_id]

    # From another working directory, through a relative path: the same file, skipped too.
    relative = Path("..") / tmp_path.name / "doc.json"
    outcome = run_import(store, ProvImporter(), [str(tmp_path / relative)])
    assert outcome.summaries[0].status == "skipped"


def test_force_reads_and_writes_it_again(store: GraphStore, tmp_path: Path) -> None:
    doc = write_doc(tmp_path / "doc.json")
    first = run_import(store, ProvImporter(), [str(doc)]).summaries[0]
    forced = run_import(store, ProvImporter(), [str(doc)], force=True).summaries[0]
    assert forced.status == "ok"
    assert (forced.nodes.created, forced.nodes.unchanged) == (0, 3)
    assert store.read("MATCH (n:Element {id: 'https://example.org/raw'}) RETURN n.import_runs AS r")[0]["r"] \
        == [forced.run_id]
    # The forced run is now the newest complete reading: the next import repeats it, not the first.
    skipped = run_import(store, ProvImporter(), [str(doc)]).summaries[0]
    assert skipped.status == "skipped"
    assert skipped.notes["unchanged since"] == forced.run_id != first.run_id


def test_a_changed_file_is_read_again(store: GraphStore, tmp_path: Path) -> None:
    doc = write_doc(tmp_path / "doc.json")
    run_import(store, ProvImporter(), [str(doc)])
    write_doc(doc, label="raw data, fixed")
    changed = run_import(store, ProvImporter(), [str(doc)]).summaries[0]
    assert changed.status == "ok" and changed.nodes.updated == 1
    assert store.read("MATCH (n:Element {id: 'https://example.org/raw'}) RETURN n.label AS l")[0]["l"] \
        == "raw data, fixed"
    # Changed back: the newest reading differs from it, so it is read again.
    write_doc(doc)
    back = run_import(store, ProvImporter(), [str(doc)]).summaries[0]
    assert back.status == "ok" and back.nodes.updated == 1


def test_a_removed_run_makes_the_file_import_again(store: GraphStore, tmp_path: Path) -> None:
    doc = write_doc(tmp_path / "doc.json")
    first = run_import(store, ProvImporter(), [str(doc)]).summaries[0]
    store.remove_import_run(first.run_id)
    assert store.read("MATCH (n:Element) RETURN count(n) AS c")[0]["c"] == 0
    again = run_import(store, ProvImporter(), [str(doc)]).summaries[0]
    assert again.status == "ok" and again.nodes.created == 3


def test_removing_a_skipped_run_removes_nothing(store: GraphStore, tmp_path: Path) -> None:
    doc = write_doc(tmp_path / "doc.json")
    run_import(store, ProvImporter(), [str(doc)])
    skipped = run_import(store, ProvImporter(), [str(doc)]).summaries[0]
    counts = store.remove_import_run(skipped.run_id)
    assert counts == dict.fromkeys(("relationships_deleted", "relationships_kept", "nodes_deleted", "nodes_kept"), 0)
    assert store.read("MATCH (n:Element) RETURN count(n) AS c")[0]["c"] == 3


def test_another_format_or_other_redaction_rules_read_it_again(store: GraphStore, tmp_path: Path) -> None:
    doc = write_doc(tmp_path / "doc.json", token="Bearer abcdefghijklmnopqrstuvwxyz0123456789")
    run_import(store, ProvImporter(), [str(doc)])
    assert run_import(store, ProvImporter("json"), [str(doc)]).summaries[0].status == "ok"
    assert run_import(store, ProvImporter("json"), [str(doc)]).summaries[0].status == "skipped"

    rules = tmp_path / "rules.toml"
    rules.write_text('[keys]\nsecret_words = ["clean"]\n')
    redaction.use_rules_file(rules)
    try:
        under_new_rules = run_import(store, ProvImporter("json"), [str(doc)]).summaries[0]
    finally:
        redaction.use_rules_file(None)
    assert under_new_rules.status == "ok"


def test_a_failed_reading_is_not_repeated_by_a_skip(store: GraphStore, tmp_path: Path) -> None:
    doc = write_doc(tmp_path / "doc.json")
    first = run_import(store, ProvImporter(), [str(doc)]).summaries[0]
    # Another run of the same source since, which failed: the graph may hold half of it.
    store.write_query("MATCH (r:ImportRun {id: $id}) CREATE (:ImportRun {id: 'run-later', importer: r.importer, "
                      "source: r.source, status: 'failed', started_at: datetime()})", id=first.run_id)
    assert run_import(store, ProvImporter(), [str(doc)]).summaries[0].status == "ok"


def test_the_cli_says_skipped_and_force_imports(store: GraphStore, cli_env: dict[str, str], tmp_path: Path) -> None:
    doc = write_doc(tmp_path / "doc.json")
    command = [sys.executable, "-m", "lineagegraph", "import", "prov", str(doc), "--quiet"]
    subprocess.run(command, env=cli_env, check=True)
    shown = subprocess.run(command[:-1], env=cli_env, check=True, capture_output=True, text=True).stdout
    assert "skipped, unchanged since run" in shown and "--force" in shown
    assert "3 nodes and 2 relationships as then" in shown
    listed = subprocess.run([sys.executable, "-m", "lineagegraph", "imports", "list"], env=cli_env, check=True,
                            capture_output=True, text=True).stdout.splitlines()
    first_run = listed[-1].split()[0]
    assert "skipped" in listed[0] and f"(same as {first_run})" in listed[0]
    forced = subprocess.run([*command[:-1], "--force", "--json"], env=cli_env, check=True,
                            capture_output=True, text=True).stdout
    summary = json.loads(forced)["imports"][0]
    assert summary["status"] == "ok" and summary["nodes"]["unchanged"] == 3


def test_exporting_a_skipped_run_exports_what_it_repeats(store: GraphStore, tmp_path: Path) -> None:
    from lineagegraph.export import select_import_run

    doc = write_doc(tmp_path / "doc.json")
    first = run_import(store, ProvImporter(), [str(doc)]).summaries[0]
    skipped = run_import(store, ProvImporter(), [str(doc)]).summaries[0]
    repeated, original = select_import_run(store, skipped.run_id), select_import_run(store, first.run_id)
    assert sorted(n.id for n in repeated.nodes) == sorted(n.id for n in original.nodes)
    assert len(repeated.nodes) == 3 and len(repeated.relationships) == len(original.relationships) == 2
