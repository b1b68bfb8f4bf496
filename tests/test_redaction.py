"""Secrets never reach the graph: by key name, by the look of the value, at any depth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lineagegraph.importers.base import run_import
from lineagegraph.importers.prov import ProvImporter
from lineagegraph.model import Activity, Used
from lineagegraph.redaction import REDACTED, is_secret_key, redact
from lineagegraph.store import GraphStore

SECRET = "hunter2-s3cr3t"


@pytest.mark.parametrize("key", ["password", "ex:db_password", "env.AWS_SECRET_ACCESS_KEY", "api_key",
                                 "apiKey", "GITHUB_TOKEN", "Authorization", "client_secret", "passwd"])
def test_secret_keys(key: str) -> None:
    assert is_secret_key(key)
    assert redact(key, SECRET) == REDACTED


@pytest.mark.parametrize("key", ["label", "num_tokens", "max_tokens", "tokenizer", "passes", "author"])
def test_ordinary_keys_are_kept(key: str) -> None:
    assert not is_secret_key(key)
    assert redact(key, "value") == "value"


@pytest.mark.parametrize("value", [
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEow...",
    "AKIAIOSFODNN7EXAMPLE",
    "ghp_" + "a" * 36,
    "Bearer abcdefghijklmnopqrstuvwxyz012345",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
])
def test_secret_looking_values(value: str) -> None:
    assert redact("note", value) == REDACTED


def test_url_passwords_lose_only_the_password() -> None:
    assert redact("uri", f"postgres://etl:{SECRET}@db:5432/warehouse") == \
        f"postgres://etl:{REDACTED}@db:5432/warehouse"
    assert redact("uri", "s3://bucket/key:with:colons") == "s3://bucket/key:with:colons"


def test_nested_values() -> None:
    params = {"lr": 0.1, "db": {"password": SECRET, "host": "db"}, "args": ["--token", "x"]}
    assert redact("params", params) == {"lr": 0.1, "db": {"password": REDACTED, "host": "db"},
                                        "args": ["--token", "x"]}


def everything(store: GraphStore) -> str:
    rows = store.read("MATCH (n) OPTIONAL MATCH (n)-[r]->() "
                      "RETURN properties(n) AS n, collect(properties(r)) AS r")
    return json.dumps(rows, default=str)


@pytest.mark.integration
def test_prov_import_stores_no_secret(store: GraphStore, tmp_path: Path) -> None:
    doc = tmp_path / "run.provn"
    doc.write_text(f"""document
  prefix ex <https://example.org/ex#>
  activity(ex:load, [ex:db_password="{SECRET}", ex:connection="postgres://etl:{SECRET}@db/w",
                     ex:token_count=5, prov:label="load warehouse"])
  entity(ex:table, [ex:api_key="{SECRET}"])
  used(ex:load, ex:table, -, [ex:auth_token="{SECRET}"])
endDocument
""")
    outcome = run_import(store, ProvImporter(), [str(doc)])
    assert outcome.ok
    dumped = everything(store)
    assert SECRET not in dumped, "neither the readable properties nor prov_attrs hold it"
    row = store.read("MATCH (a:Element {id: 'https://example.org/ex#load'}) RETURN a AS a")[0]["a"]
    assert row["ex:connection"] == f"postgres://etl:{REDACTED}@db/w"
    assert row["ex:token_count"] == 5 and row["label"] == "load warehouse"
    assert row["ex:db_password"] == REDACTED


@pytest.mark.integration
def test_any_importer_model_is_redacted(store: GraphStore) -> None:
    store.import_elements("test", "job", [
        Activity(id="job", params={"aws_secret_access_key": SECRET, "epochs": 3},
                 attributes={"env": {"GITHUB_TOKEN": SECRET, "HOME": "/root"}}),
    ], [Used(activity="job", entity="data", attributes={"password": SECRET})])
    assert SECRET not in everything(store)
    params = json.loads(store.read("MATCH (a:Activity {id: 'job'}) RETURN a.params AS p")[0]["p"])
    assert params == {"aws_secret_access_key": REDACTED, "epochs": 3}
