"""The shared id rules: spellings of one location agree, credentials never reach an id, and
source-namespaced ids cannot collide."""

from __future__ import annotations

import pytest

from lineagegraph.identity import location_id, source_id, value_id, version_id


@pytest.mark.parametrize(("given", "expected"), [
    ("gs://bucket/models/model.pb", "gs://bucket/models/model.pb"),
    ("GS://bucket//models/./model.pb", "gs://bucket/models/model.pb"),
    ("s3a://bucket/data/", "s3://bucket/data"),
    ("s3n://bucket/data/../other", "s3://bucket/other"),
    ("gcs://bucket/x", "gs://bucket/x"),
    ("data/raw.csv", "file:///srv/job/data/raw.csv"),
    ("/srv/job/../job/data/raw.csv", "file:///srv/job/data/raw.csv"),
    ("file:///srv/job/data/raw.csv", "file:///srv/job/data/raw.csv"),
    ("postgres://DB.example.org:5432/sales.public.orders", "postgres://db.example.org:5432/sales.public.orders"),
    ("bigquery:project.dataset.table", "bigquery:project.dataset.table"),
    ("abfss://raw@account.dfs.core.windows.net/x", "abfss://raw@account.dfs.core.windows.net/x"),
])
def test_spellings_of_one_location_agree(given: str, expected: str) -> None:
    assert location_id(given, base="/srv/job") == expected
    assert location_id(expected, base="/srv/job") == expected, "normalising twice changes nothing"


def test_a_password_never_reaches_an_id() -> None:
    assert location_id("https://alice:s3cret@Host.example.org/data.csv") == "https://alice@host.example.org/data.csv"
    assert "s3cret" not in location_id("redis://:s3cret@cache:6379/0")


def test_containers_of_one_account_stay_apart() -> None:
    assert location_id("abfss://a@acct.dfs.core.windows.net/x") != location_id("abfss://b@acct.dfs.core.windows.net/x")


def test_versions_differ_per_writer_and_stay_under_their_location() -> None:
    first, second = version_id("gs://b/m.pb", "run-1"), version_id("gs://b/m.pb", "run-2")
    assert first != second and first.startswith("gs://b/m.pb#") and second.startswith("gs://b/m.pb#")
    assert version_id("gs://b/m.pb", "run-1") == first


def test_source_ids_escape_their_parts() -> None:
    assert source_id("k8s", "a:b", "c") != source_id("k8s", "a", "b:c")
    assert source_id("k8s", "uid-1") == "urn:lineagegraph:k8s:uid-1"
    with pytest.raises(ValueError, match="source name"):
        source_id("K8s Agent", "x")
    with pytest.raises(ValueError, match="at least one part"):
        source_id("k8s")


def test_value_ids_take_hex_digests_only() -> None:
    assert value_id("ab" * 32) == "urn:lineagegraph:value:sha256:" + "ab" * 32
    with pytest.raises(ValueError, match="hex digest"):
        value_id("not-a-digest")
    with pytest.raises(ValueError, match="empty"):
        location_id("  ")
