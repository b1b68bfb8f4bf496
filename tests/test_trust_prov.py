"""Trust in the PROV importer: deterministic under any hash seed, PROV's kinds enforced, hostile
input refused up front, and nothing written when a file is refused."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lineagegraph.errors import InputError
from lineagegraph.importers.base import run_import
from lineagegraph.importers.prov import ProvImporter
from lineagegraph.settings import Settings
from lineagegraph.store import GraphStore

# A workflow run as cwltool's --provenance writes it (the CWLProv profile): the engine is a
# prov:SoftwareAgent, the workflow run is associated with it under the packed workflow as plan,
# and each step run is associated with its step plan but with no agent ("-").
CWLPROV_PROVN = """document
  prefix wfprov <http://purl.org/wf4ever/wfprov#>
  prefix wfdesc <http://purl.org/wf4ever/wfdesc#>
  prefix id <urn:uuid:>
  prefix data <urn:hash::sha1:>
  prefix wf <arcp://uuid,7d0c3f50-5b1a-4c37-9a51-2f1b0b6f0a11/workflow/packed.cwl#>

  agent(id:4e2b8c1e-0d6f-4a59-8f0e-1c2d3e4f5a6b,
      [prov:type='prov:SoftwareAgent', prov:type='wfprov:WorkflowEngine', prov:label="cwltool 3.1.20240508115724"])
  activity(id:9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d, 2024-05-08T12:00:00, -,
      [prov:type='wfprov:WorkflowRun', prov:label="Run of workflow/packed.cwl#main"])
  wasAssociatedWith(id:9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d, id:4e2b8c1e-0d6f-4a59-8f0e-1c2d3e4f5a6b, wf:main)
  entity(wf:main, [prov:type='prov:Plan', prov:type='wfdesc:Workflow', prov:label="Prospective provenance"])
  activity(id:11111111-2222-4333-8444-555555555555, -, -,
      [prov:type='wfprov:ProcessRun', prov:label="Run of workflow/packed.cwl#main/sort"])
  wasStartedBy(id:11111111-2222-4333-8444-555555555555, -, id:9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d,
      2024-05-08T12:00:01)
  wasAssociatedWith(id:11111111-2222-4333-8444-555555555555, -, wf:main/sort)
  activity(id:66666666-7777-4888-9999-000000000000, -, -,
      [prov:type='wfprov:ProcessRun', prov:label="Run of workflow/packed.cwl#main/rev"])
  wasStartedBy(id:66666666-7777-4888-9999-000000000000, -, id:9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d,
      2024-05-08T12:00:03)
  wasAssociatedWith(id:66666666-7777-4888-9999-000000000000, -, wf:main/rev)
  entity(data:0a4d55a8d778e5022fab701977c5d840bbc486d0, [prov:type='wfprov:Artifact', prov:value="hello"])
  used(id:11111111-2222-4333-8444-555555555555, data:0a4d55a8d778e5022fab701977c5d840bbc486d0, 2024-05-08T12:00:02,
      [prov:role='wf:main/sort/input'])
  entity(data:5c2b1e4fa1e3c3b3e6f0d62d8a3a4cbbd3a0e9f1, [prov:type='wfprov:Artifact'])
  wasGeneratedBy(data:5c2b1e4fa1e3c3b3e6f0d62d8a3a4cbbd3a0e9f1, id:11111111-2222-4333-8444-555555555555,
      2024-05-08T12:00:02,
      [prov:role='wf:main/sort/output'])
  used(id:66666666-7777-4888-9999-000000000000, data:5c2b1e4fa1e3c3b3e6f0d62d8a3a4cbbd3a0e9f1, 2024-05-08T12:00:04,
      [prov:role='wf:main/rev/input'])
  wasGeneratedBy(data:e3b0c44298fc1c149afbf4c8996fb92427ae41e4, id:66666666-7777-4888-9999-000000000000,
      2024-05-08T12:00:05,
      [prov:role='wf:main/rev/output'])
  wasEndedBy(id:9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d, -, id:4e2b8c1e-0d6f-4a59-8f0e-1c2d3e4f5a6b, 2024-05-08T12:00:06)
endDocument
"""

# The same run as PROV-O Turtle the way older prov releases wrote it for cwltool: a step's
# association is a blank node with a plan but no agent, beside a binary wasAssociatedWith, and the
# engine is typed only prov:SoftwareAgent.
CWLPROV_TURTLE = """@prefix prov: <http://www.w3.org/ns/prov#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
@prefix wfprov: <http://purl.org/wf4ever/wfprov#> .
@prefix id: <urn:uuid:> .
@prefix data: <urn:hash::sha1:> .
@prefix wf: <arcp://uuid,0e5d2a77-93c4-4b8e-a1f0-6c7d8e9f0a1b/workflow/packed.cwl#> .

id:engine a prov:SoftwareAgent, wfprov:WorkflowEngine ; rdfs:label "cwltool 1.0.20180130110340" .
wf:main a prov:Entity, prov:Plan .
id:run a prov:Activity, wfprov:WorkflowRun ;
    prov:startedAtTime "2018-01-30T11:03:40"^^xsd:dateTime ;
    prov:wasAssociatedWith id:engine ;
    prov:qualifiedAssociation [ a prov:Association ; prov:agent id:engine ; prov:hadPlan wf:main ] .
id:step a prov:Activity, wfprov:ProcessRun ;
    prov:wasAssociatedWith id:engine ;
    prov:qualifiedAssociation [ a prov:Association ; prov:hadPlan wf:main_step ] ;
    prov:qualifiedAssociation [ a prov:Association ; prov:hadPlan wf:main_step_retry ] ;
    prov:used data:in1 .
data:in1 a prov:Entity, wfprov:Artifact .
data:out1 a prov:Entity ; prov:wasGeneratedBy id:step .
"""

_IMPORT_AND_DUMP = """
import json, sys
from lineagegraph.importers.base import run_import
from lineagegraph.importers.prov import ProvImporter
from lineagegraph.settings import Settings
from lineagegraph.store import GraphStore
settings = Settings(server_home=sys.argv[1], server_port=int(sys.argv[2]), neo4j_uri=None)
with GraphStore.connect(settings, quiet=True) as store:
    outcome = run_import(store, ProvImporter(max_input_bytes=10_000_000), sys.argv[3:])
    nodes = store.read("MATCH (n:Element) RETURN n.id AS id, labels(n) AS labels, properties(n) AS p ORDER BY id")
    rels = store.read("MATCH (a)-[r]->(b) WHERE a:Element AND b:Element "
                      "RETURN a.id AS a, type(r) AS t, b.id AS b, properties(r) AS p ORDER BY a, t, b")
from lineagegraph.subgraph import BOOKKEEPING
# Which run wrote what, and when, differs by design; everything else must not.
volatile = (set(BOOKKEEPING) - {"prov_attrs", "key"}) | {"created_by", "updated_by", "created_at", "updated_at"}
def clean(props):
    return {k: v for k, v in sorted(props.items()) if k not in volatile}
def changes(summary, prefix=""):
    found = {}
    for key, value in summary.items():
        if isinstance(value, dict):
            found.update(changes(value, prefix + key + "."))
        elif key.endswith(("created", "updated", "deleted", "removed")) and isinstance(value, int):
            found[prefix + key] = value
    return found
print(json.dumps({
    "errors": [str(e) for e in outcome.errors],
    "changes": [changes(x.as_dict()) for x in outcome.summaries],
    "nodes": [[n["id"], sorted(n["labels"]), clean(n["p"])] for n in nodes],
    "rels": [[r["a"], r["t"], r["b"], clean(r["p"])] for r in rels],
}, sort_keys=True, default=str))
"""


def _import_in_process(seed: int, files: list[Path]) -> dict[str, object]:
    """Import ``files`` in a fresh interpreter with ``PYTHONHASHSEED=seed``; the graph and counts it saw."""
    env = {**os.environ, "PYTHONHASHSEED": str(seed)}
    home, port = os.environ["LG_TRUST_HOME"], os.environ["LG_TRUST_PORT"]
    proc = subprocess.run([sys.executable, "-c", _IMPORT_AND_DUMP, home, port, *map(str, files)],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result: dict[str, object] = json.loads(proc.stdout)
    return result


@pytest.fixture
def seeded_env(store: GraphStore, test_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> GraphStore:
    """The store, with the test server's home and port where the subprocesses find them."""
    monkeypatch.setenv("LG_TRUST_HOME", str(test_settings.server_home))
    monkeypatch.setenv("LG_TRUST_PORT", str(test_settings.server_port))
    return store


@pytest.mark.integration
def test_cwltool_provenance_imports_the_same_under_every_hash_seed(seeded_env: GraphStore, tmp_path: Path) -> None:
    """Same input, same graph and same counts, whatever PYTHONHASHSEED the importing process has."""
    provn = tmp_path / "primary.cwlprov.provn"
    provn.write_text(CWLPROV_PROVN)
    ttl = tmp_path / "primary.cwlprov.ttl"
    ttl.write_text(CWLPROV_TURTLE)
    graphs = []
    for seed in (0, 1, 2, 3, 4):
        seeded_env.clear()
        first = _import_in_process(seed, [provn, ttl])
        assert first["errors"] == [], f"seed {seed} rejected a document: {first['errors']}"
        again = _import_in_process((seed + 7) * 13, [provn, ttl])
        assert again["nodes"] == first["nodes"] and again["rels"] == first["rels"]
        for counts in again["changes"]:  # type: ignore[attr-defined]
            assert counts and not any(counts.values()), f"a re-import under another seed changed: {counts}"
        graphs.append((first["nodes"], first["rels"]))
    assert all(g == graphs[0] for g in graphs), "the graph depends on the hash seed"
    nodes = {n[0]: n[1] for n in graphs[0][0]}
    assert "Agent" in nodes["urn:uuid:engine"], "typed only prov:SoftwareAgent, still an Agent"
    assert "Agent" in nodes["urn:uuid:4e2b8c1e-0d6f-4a59-8f0e-1c2d3e4f5a6b"]


AGENT_SUBCLASSES = """@prefix prov: <http://www.w3.org/ns/prov#> .
@prefix ex: <https://example.org/ex#> .
ex:bob a prov:Person ; prov:actedOnBehalfOf ex:acme .
ex:acme a prov:Organization .
ex:trainer a prov:SoftwareAgent .
ex:train a prov:Activity ; prov:wasAssociatedWith ex:trainer .
ex:model a prov:Entity ; prov:wasAttributedTo ex:bob .
"""


@pytest.mark.integration
def test_prov_o_agents_typed_only_by_a_subclass_are_agents(store: GraphStore, tmp_path: Path) -> None:
    doc = tmp_path / "agents.ttl"
    doc.write_text(AGENT_SUBCLASSES)
    assert run_import(store, ProvImporter(), [str(doc)]).ok
    rows = store.read("MATCH (n:Element) RETURN n.id AS id, labels(n) AS labels, n.agent_type AS type")
    kinds = {r["id"].split("#")[1]: (sorted(set(r["labels"]) - {"Element"}), r["type"]) for r in rows}
    assert kinds["bob"] == (["Agent"], "Person")
    assert kinds["acme"] == (["Agent"], "Organization")
    assert kinds["trainer"] == (["Agent"], "SoftwareAgent")
    assert kinds["model"][0] == ["Entity"] and kinds["train"][0] == ["Activity"]


@pytest.mark.integration
@pytest.mark.parametrize(("body", "names"), [
    ("entity(ex:data)\n  activity(ex:step)\n  used(ex:data, ex:step, -)",
     ["used(activity=https://example.org/ex#data", "declared as an Entity", "swapped"]),
    ("entity(ex:x)\n  activity(ex:x)", ["https://example.org/ex#x", "both as an Entity and as an Activity"]),
    ("used(ex:a, ex:x, -)\n  wasGeneratedBy(ex:e, ex:x, -)",
     ["https://example.org/ex#x is an Entity in used", "but an Activity in was_generated_by"]),
])
def test_kinds_within_a_document_are_enforced(store: GraphStore, tmp_path: Path, body: str,
                                              names: list[str]) -> None:
    bad = tmp_path / "bad.provn"
    bad.write_text(f"document\n  prefix ex <https://example.org/ex#>\n  {body}\nendDocument\n")
    good = tmp_path / "good.provn"
    good.write_text("document\n  prefix ex <https://example.org/ex#>\n  entity(ex:fine)\nendDocument\n")
    outcome = run_import(store, ProvImporter(), [str(bad), str(good)])
    assert [e.source for e in outcome.errors] == [str(bad)]
    message = str(outcome.errors[0])
    for name in names:
        assert name in message
    ids = {r["id"] for r in store.read("MATCH (n:Element) RETURN n.id AS id")}
    assert ids == {"https://example.org/ex#fine"}, "nothing of the bad file, all of the good one"


BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lollollollollollollollollollol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
]>
"""


@pytest.mark.parametrize(("name", "root"), [
    ("bomb.rdf", '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
                 'xmlns:prov="http://www.w3.org/ns/prov#"><prov:Entity rdf:about="urn:x">'
                 '<prov:value>&lol6;</prov:value></prov:Entity></rdf:RDF>'),
    ("bomb.provx", '<prov:document xmlns:prov="http://www.w3.org/ns/prov#"><prov:entity prov:id="x">'
                   '<prov:label>&lol6;</prov:label></prov:entity></prov:document>'),
    ("xxe.xml", '<prov:document xmlns:prov="http://www.w3.org/ns/prov#">&lol6;</prov:document>'),
])
def test_entity_expansion_is_refused_at_once(tmp_path: Path, name: str, root: str) -> None:
    path = tmp_path / name
    path.write_text(BOMB + root)
    started = time.monotonic()
    with pytest.raises(InputError, match="declares the entity 'lol'") as caught:
        next(ProvImporter().units(str(path)))
    assert time.monotonic() - started < 5
    assert caught.value.source == str(path)


def test_external_entities_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "xxe.rdf"
    path.write_text('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">&x;</rdf:RDF>')
    with pytest.raises(InputError, match="declares the entity 'x'"):
        next(ProvImporter().units(str(path)))


@pytest.mark.parametrize("suffix", [".json", ".provn", ".ttl", ".xml"])
def test_input_size_is_capped_before_parsing(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"big{suffix}"
    path.write_bytes(b" " * 5000)
    with pytest.raises(InputError, match="more than the limit of 4096") as caught:
        next(ProvImporter(max_input_bytes=4096).units(str(path)))
    assert caught.value.source == str(path)


def test_input_size_cap_comes_from_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "doc.provn"
    path.write_text("document\n  prefix ex <https://example.org/ex#>\n  entity(ex:a)\nendDocument\n")
    monkeypatch.setenv("LINEAGEGRAPH_MAX_INPUT_BYTES", "20")
    with pytest.raises(InputError, match="LINEAGEGRAPH_MAX_INPUT_BYTES"):
        next(ProvImporter().units(str(path)))
    monkeypatch.setenv("LINEAGEGRAPH_MAX_INPUT_BYTES", "100000")
    assert len(next(ProvImporter().units(str(path))).elements) == 1


def test_a_device_without_a_size_is_capped_too(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="larger than the limit"):
        next(ProvImporter(fmt="json", max_input_bytes=1024).units("/dev/zero"))


def test_deep_nesting_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"entity": {"ex:e": {"ex:v": ' + "[" * 100_000 + "]" * 100_000 + "}}}")
    with pytest.raises(InputError) as caught:
        next(ProvImporter().units(str(path)))
    assert caught.value.source == str(path)


@pytest.mark.parametrize("fmt", [None, "rdf"])
def test_a_remote_json_ld_context_is_never_fetched(tmp_path: Path, fmt: str | None) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        path = tmp_path / "remote.jsonld"
        path.write_text(json.dumps({"@context": f"http://127.0.0.1:{listener.getsockname()[1]}/ctx.jsonld",
                                    "@id": "urn:x", "@type": "http://www.w3.org/ns/prov#Entity"}))
        with pytest.raises(InputError, match="remote @context"):
            next(ProvImporter(fmt).units(str(path)))
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody knocked


@pytest.mark.parametrize("text", [
    '{"prefix": {"ex": "urn:ex:"}, "entity": {"ex:a": {"ex:v": 1}, "ex:a": {"ex:v": 2}}}',
    '{"prefix": {"ex": "urn:ex:"}, "used": {"_:u": {"prov:activity": "ex:r", "prov:entity": "ex:a"}, '
    '"_:u": {"prov:activity": "ex:r", "prov:entity": "ex:b"}}}',
])
def test_one_id_declared_twice_in_prov_json_is_refused(tmp_path: Path, text: str) -> None:
    """JSON readers keep the last of two equal keys silently; the first record would vanish."""
    path = tmp_path / "dup.json"
    path.write_text(text)
    with pytest.raises(InputError, match="appears twice in one JSON object") as caught:
        next(ProvImporter().units(str(path)))
    assert caught.value.source == str(path)


def test_turtle_that_starts_with_an_iri_is_not_taken_for_xml(tmp_path: Path) -> None:
    path = tmp_path / "plain.ttl"
    path.write_text("<https://example.org/ex#data> a <http://www.w3.org/ns/prov#Entity> .\n")
    unit = next(ProvImporter().units(str(path)))
    assert [e.id for e in unit.elements] == ["https://example.org/ex#data"]


def test_an_unknown_xml_encoding_is_an_input_error(tmp_path: Path) -> None:
    """Found by tests/test_fuzz_prov.py: a damaged encoding name reached expat's codec lookup."""
    path = tmp_path / "doc.xml"
    path.write_text("<?xml version='1.0' encoding='BSCII'?>\n"
                    '<prov:document xmlns:prov="http://www.w3.org/ns/prov#"><prov:entity prov:id="x"/></prov:document>')
    with pytest.raises(InputError, match="unknown encoding") as caught:
        next(ProvImporter().units(str(path)))
    assert caught.value.source == str(path)
