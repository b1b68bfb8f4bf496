"""Secrets never reach the graph: by key name, by the look of the value, at any depth."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lineagegraph.errors import ConfigError
from lineagegraph.importers.base import run_import
from lineagegraph.importers.prov import ProvImporter
from lineagegraph.model import Activity, Used
from lineagegraph.redaction import REDACTED, is_secret_key, redact, use_rules_file
from lineagegraph.settings import load_settings
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


# Real-world formats of secrets that the first rule set missed (issue 9), each with the part that
# must survive. The secrets are made up; their shapes are the documented ones.
@pytest.mark.parametrize(("key", "value", "expected"), [
    ("SECRET_KEY", "django-insecure-9x!k2", REDACTED),
    ("pwd", "hunter2", REDACTED),
    ("PGPASSWORD", "hunter2", REDACTED),
    ("env", "PASSWORD=hunter2 HOME=/root", f"PASSWORD={REDACTED} HOME=/root"),
    ("env", "DJANGO_SECRET_KEY='a b c' DEBUG=0", f"DJANGO_SECRET_KEY='{REDACTED}' DEBUG=0"),
    ("url", "redis://:hunter2@cache:6379/0", f"redis://:{REDACTED}@cache:6379/0"),
    ("url", "postgres://etl:p/ss@w0rd@db:5432/w", f"postgres://etl:{REDACTED}@db:5432/w"),
    ("url", "https://api.example.org/v1?access_token=abc123&page=2",
     f"https://api.example.org/v1?access_token={REDACTED}&page=2"),
    ("header", "Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l", f"Authorization: Basic {REDACTED}"),
    ("cmd", "mysql -h db -u root -phunter2 sales", f"mysql -h db -u root -p{REDACTED} sales"),
    ("cmd", "pg_dump --password=hunter2 --host db", f"pg_dump --password={REDACTED} --host db"),
    ("cmd", "tool --api-key hunter2 --verbose", f"tool --api-key {REDACTED} --verbose"),
    ("config", '{"db": {"host": "db", "password": "hunter2"}, "retries": 3}',
     json.dumps({"db": {"host": "db", "password": REDACTED}, "retries": 3})),
    ("note", "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ", REDACTED),
    ("note", "AIzaSyA-1234567890abcdefghijklmnopqrstu", REDACTED),
    ("note", "sk_live_4eC39HqLyjWDarjtT1zdp7dc", REDACTED),
])
def test_secrets_the_first_rules_missed(key: str, value: str, expected: str) -> None:
    assert redact(key, value) == expected


@pytest.mark.parametrize(("key", "value"), [
    ("digest", "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    ("ex:digest", "d41d8cd98f00b204e9800998ecf8427e"),
    ("signature", "MEUCIQDkZ3k2bWx0Y2VydGlmaWNhdGVzaWduYXR1cmVl+/0="),
    ("checksum", "sha-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="),
    ("integrity", "sha384-oqVuAfXRKap7fdgcCY5uykM6+R9GqQ8K/uxy9rx7HNQlGYl1kPzQho1wx4JwY8wC"),
    ("max_tokens", "4096"), ("token_count", "12"), ("password_policy", "min 12 chars"),
    ("password_file", "/run/secrets/db"), ("secret_name", "db-credentials"), ("author", "Bob"),
    ("auth_method", "oauth2"), ("token_type", "Bearer"),
    ("cmd", "docker run -p8080:80 nginx"), ("url", "https://host:8443/path@v2"),
    ("url", "s3://bucket/key:with:colons"), ("note", "max_tokens=5 token_count=6"),
])
def test_identity_bearing_values_are_kept(key: str, value: str) -> None:
    assert redact(key, value) == value


def test_a_non_hash_under_a_signature_key_is_still_redacted() -> None:
    assert redact("signature", "my handwritten secret phrase") == REDACTED


def test_site_rules_add_to_the_defaults(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text("[keys]\nsecret_words = ['pin']\n\n[[whole]]\nname = 'ACME ticket'\n"
                     "pattern = 'ACME-[0-9]{6}'\ntriggers = ['ACME-']\n")
    try:
        use_rules_file(rules)
        assert redact("pin", "1234") == REDACTED
        assert redact("note", "ticket ACME-123456") == REDACTED
        assert redact("password", "x") == REDACTED, "the defaults still apply"
    finally:
        use_rules_file(None)
    assert redact("pin", "1234") == "1234"


def test_site_rules_come_from_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text("[keys]\nsecret_words = ['pin']\n")
    monkeypatch.setenv("LINEAGEGRAPH_REDACTION_RULES", str(rules))
    try:
        load_settings()
        assert redact("pin", "1234") == REDACTED
    finally:
        use_rules_file(None)


@pytest.mark.parametrize("text", [
    "[[whole]]\nname = 'x'\npattern = '('\ntriggers = ['a']\n",
    "[[inline]]\nname = 'no group'\npattern = 'abc'\ntriggers = ['abc']\n",
    "[[whole]]\nname = 'no triggers'\npattern = 'abc'\ntriggers = []\n",
    "not toml [",
])
def test_a_broken_rules_file_is_a_config_error(tmp_path: Path, text: str) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(text)
    with pytest.raises(ConfigError, match=str(rules)):
        use_rules_file(rules)
    assert redact("password", "x") == REDACTED, "the rules in use are unchanged"


@pytest.mark.integration
def test_credentials_in_a_namespace_uri_never_reach_node_ids(store: GraphStore, tmp_path: Path) -> None:
    doc = tmp_path / "ns.provn"
    doc.write_text(f"""document
  prefix ex <https://etl:{SECRET}@lineage.example.org/ns#>
  entity(ex:table, [ex:digest="sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"])
endDocument
""")
    assert run_import(store, ProvImporter(), [str(doc)]).ok
    dumped = everything(store)
    assert SECRET not in dumped
    ids = [r["id"] for r in store.read("MATCH (n:Element) RETURN n.id AS id")]
    assert ids == [f"https://etl:{REDACTED}@lineage.example.org/ns#table"]
    assert "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" in dumped


def test_the_prefilter_finds_every_trigger_and_nothing_shorter() -> None:
    """The quick scan that lets most values through untouched must never miss a trigger (a
    secret would get through) and should not fire on a trigger's mere beginning."""
    from lineagegraph.redaction import _trie_pattern, rules

    triggers = rules().prefilter
    assert triggers
    found = re.compile(_trie_pattern(triggers))
    for trigger in triggers:
        for text in (trigger, f"x{trigger}", f"{trigger}x", f"a {trigger[:-1]} b {trigger} c"):
            assert found.search(text), (trigger, text)
        assert found.search(trigger[:-1]) is None or any(t in trigger[:-1] for t in triggers), trigger
    both = re.compile(_trie_pattern(["ab", "abc", "abd", "b"]))
    texts = ("a", "ab", "xabdx", "cb", "acd", "")
    assert [bool(both.search(t)) for t in texts] == [False, True, True, True, False, False]
    assert _trie_pattern([]) == ""
