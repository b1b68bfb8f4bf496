"""`lineagegraph init` and `imports list|remove` as a cron user sees them."""

from __future__ import annotations

import json

import pytest

from lineagegraph.cli import main
from lineagegraph.model import Entity, WasDerivedFrom
from lineagegraph.store import GraphStore

pytestmark = pytest.mark.integration


def test_init_is_idempotent(store: GraphStore, cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init"]) == 0
    assert main(["init"]) == 0
    assert "schema ready" in capsys.readouterr().out


def test_list_and_remove_runs(store: GraphStore, cli_env: dict[str, str],
                              capsys: pytest.CaptureFixture[str]) -> None:
    keep = store.import_elements("test", "keep.json", [Entity(id="a"), Entity(id="b")],
                                 [WasDerivedFrom(generated_entity="b", used_entity="a")])
    drop = store.import_elements("test", "drop.json", [Entity(id="b"), Entity(id="c")],
                                 [WasDerivedFrom(generated_entity="c", used_entity="b")])

    assert main(["imports", "list", "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in runs][:2] == [drop.run_id, keep.run_id], "newest first"
    assert runs[0]["source"] == "drop.json" and runs[0]["nodes_created"] == 1

    assert main(["imports", "list"]) == 0
    assert "drop.json" in capsys.readouterr().out

    assert main(["imports", "remove", drop.run_id]) == 0
    assert drop.run_id in capsys.readouterr().out
    ids = {r["id"] for r in store.read("MATCH (n:Element) RETURN n.id AS id")}
    assert ids == {"a", "b"}

    assert main(["imports", "remove", "run-does-not-exist"]) == 5
    assert "no import run" in capsys.readouterr().err
