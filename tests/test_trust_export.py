"""``export prov`` writes valid documents (or says clearly why it cannot) for names that RDF and
XML cannot hold as they are: attribute keys with spaces, prefixes that are not XML names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prov.model import ProvDocument

from lineagegraph.cli import main
from lineagegraph.importers.base import run_import
from lineagegraph.importers.prov import ProvImporter
from lineagegraph.store import GraphStore

pytestmark = pytest.mark.integration

AWKWARD = {
    "prefix": {"ex": "https://example.org/ex#", "1st": "https://example.org/first#",
               "my ns": "https://example.org/my ns#"},
    "entity": {
        "ex:table": {"ex:row count": 12, "1st:owner": "bob", "my ns:k": "v"},
        "1st:raw": {"prov:label": "raw"},
    },
    "wasDerivedFrom": {"_:d1": {"prov:generatedEntity": "ex:table", "prov:usedEntity": "1st:raw"}},
}


@pytest.fixture
def awkward(store: GraphStore, tmp_path: Path) -> GraphStore:
    path = tmp_path / "awkward.json"
    path.write_text(json.dumps(AWKWARD))
    assert run_import(store, ProvImporter(), [str(path)]).ok
    return store


@pytest.mark.parametrize(("fmt", "reader"), [
    ("ttl", {"format": "rdf", "rdf_format": "turtle"}),
    ("trig", {"format": "rdf", "rdf_format": "trig"}),
])
def test_rdf_export_of_awkward_names_is_valid(awkward: GraphStore, cli_env: dict[str, str], tmp_path: Path,
                                              fmt: str, reader: dict[str, str]) -> None:
    out = tmp_path / f"out.{fmt}"
    assert main(["export", "prov", "--all", "--format", fmt, "-o", str(out), "-q"]) == 0
    back = ProvDocument.deserialize(content=out.read_bytes(), **reader)
    uris = {str(r.identifier.uri) for r in back.get_records() if r.identifier is not None}
    assert "https://example.org/ex#table" in uris and "https://example.org/first#raw" in uris
    attrs = {a.uri for r in back.get_records() for a, _v in r.attributes}
    assert "https://example.org/ex#row%20count" in attrs, "the space is percent-encoded, not lost"
    assert "https://example.org/first#owner" in attrs


def test_xml_export_renames_prefixes_that_are_not_xml_names(store: GraphStore, cli_env: dict[str, str],
                                                            tmp_path: Path) -> None:
    doc = {"prefix": {"1st": "https://example.org/first#", "a b": "https://example.org/ab#"},
           "entity": {"1st:raw": {"1st:owner": "bob", "a b:k": 1}}}
    path = tmp_path / "prefixes.json"
    path.write_text(json.dumps(doc))
    assert run_import(store, ProvImporter(), [str(path)]).ok
    out = tmp_path / "out.xml"
    assert main(["export", "prov", "--all", "--format", "xml", "-o", str(out), "-q"]) == 0
    back = ProvDocument.deserialize(content=out.read_bytes(), format="xml")
    (record,) = back.get_records()
    assert record.identifier is not None and record.identifier.uri == "https://example.org/first#raw"
    assert {a.uri: v for a, v in record.attributes} == {"https://example.org/first#owner": "bob",
                                                        "https://example.org/ab#k": 1}


def test_xml_export_of_a_key_with_a_space_is_a_clear_error(awkward: GraphStore, cli_env: dict[str, str],
                                                           tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.xml"
    assert main(["export", "prov", "--all", "--format", "xml", "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert "'ex:row count'" in err and "--format json" in err and "Traceback" not in err
    assert not out.exists(), "no half-written file"
