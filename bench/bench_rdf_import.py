"""Benchmark: memory and time to read a large PROV-O file (Turtle, N-Triples) into graph rows, whole vs streamed.

Writes a pipeline-shaped PROV-O file of about N triples (written line by line, so the generator
stays small): per step an entity with a label, a size and a digest, and an activity that used the
previous step's entity (the binary ``prov:used`` and a qualified usage with a role, on a blank
node) and generated this step's entity. Then reads it in a fresh process each way and reports
that process's peak RSS and wall time:

* ``whole``    — the baseline: rdflib parses the file, ``prov`` decodes it, ``document_to_graph``
  maps it (what ``lineagegraph import prov`` does below 16 MiB);
* ``streamed`` — ``importers/provrdf_stream.py``: pyoxigraph, triples grouped in a temporary
  SQLite file, chunks of 20,000 triples decoded by the same code.

Both compute every row's properties (what the writer sends); the database is left out. With
``--import`` the largest Turtle file is also imported as one file into the benchmark's own Neo4j
by the CLI, under ``/usr/bin/time -v`` (peak RSS of the importing process).

    .venv/bin/python bench/bench_rdf_import.py --whole 100000 --streamed 100000 1000000 --import
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _server import REPO, add_server_arguments, empty_graph

CHILD = """
import json, resource, sys, time, warnings
from pathlib import Path
warnings.simplefilter("ignore")
mode, path, fmt = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
t0 = time.perf_counter()
rows = 0
if mode == "whole":
    from lineagegraph.importers.prov import load_document
    from lineagegraph.provcodec import document_to_graph
    elements, relations = document_to_graph(load_document(path, max_input_bytes=2**33))
    for item in [*elements, *relations]:
        item.properties()
        rows += 1
else:
    from lineagegraph.importers.provrdf_stream import stream_rdf_graph
    for item in stream_rdf_graph(path, fmt):
        item.properties()
        rows += 1
print(json.dumps({"rows": rows, "seconds": round(time.perf_counter() - t0, 1),
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))
"""

TRIPLES_PER_STEP = 13
PREFIXES = {"ex": "https://example.org/bench#", "prov": "http://www.w3.org/ns/prov#",
            "rdfs": "http://www.w3.org/2000/01/rdf-schema#", "xsd": "http://www.w3.org/2001/XMLSchema#"}


def _step(i: int) -> list[tuple[str, str, str]]:
    """The 13 triples of one pipeline step, in Turtle terms (prefixed names, literals, blank nodes)."""
    entity, activity, usage = f"ex:e{i}", f"ex:a{i}", f"_:u{i}"
    return [
        (entity, "a", "prov:Entity"),
        (entity, "rdfs:label", f'"dataset {i}"'),
        (entity, "ex:size", f'"{i}"^^xsd:long'),
        (entity, "ex:digest", f'"sha256:{i:064x}"'),
        (entity, "prov:wasGeneratedBy", activity),
        (activity, "a", "prov:Activity"),
        (activity, "rdfs:label", f'"step {i}"'),
        (activity, "prov:startedAtTime", '"2026-01-01T00:00:00+00:00"^^xsd:dateTime'),
        (activity, "prov:used", f"ex:e{i - 1}"),
        (activity, "prov:qualifiedUsage", usage),
        (usage, "a", "prov:Usage"),
        (usage, "prov:entity", f"ex:e{i - 1}"),
        (usage, "prov:hadRole", "ex:input"),
    ]


def _full(term: str) -> str:
    """A Turtle term as N-Triples writes it."""
    if term == "a":
        return "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"
    if term.startswith(("_:", '"')):
        match = re.fullmatch(r'(".*")\^\^(\w+):(\w+)', term)
        return f"{match.group(1)}^^<{PREFIXES[match.group(2)]}{match.group(3)}>" if match else term
    prefix, _, local = term.partition(":")
    return f"<{PREFIXES[prefix]}{local}>"


def write_document(path: Path, triples: int, fmt: str) -> None:
    """About ``triples`` triples in Turtle (``ttl``) or N-Triples (``nt``)."""
    with path.open("w") as out:
        if fmt == "ttl":
            out.writelines(f"@prefix {p}: <{uri}> .\n" for p, uri in PREFIXES.items())
        for i in range(1, triples // TRIPLES_PER_STEP + 1):
            for s, p, o in _step(i):
                out.write(f"{s} {p} {o} .\n" if fmt == "ttl" else f"{_full(s)} {_full(p)} {_full(o)} .\n")


def _read(mode: str, path: Path, fmt: str) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-c", CHILD, mode, str(path), "turtle" if fmt == "ttl" else "nt"],
                          capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def _import(args: argparse.Namespace, path: Path) -> dict[str, Any]:
    """Import ``path`` as one file with the CLI into the benchmark server, under /usr/bin/time -v."""
    with empty_graph(args) as store:
        env = {**os.environ, "LINEAGEGRAPH_SERVER_HOME": str(args.home), "LINEAGEGRAPH_SERVER_PORT": str(args.port)}
        env.pop("NEO4J_URI", None)
        proc = subprocess.run(["/usr/bin/time", "-v", str(Path(sys.executable).parent / "lineagegraph"),
                               "import", "prov", "--json", str(path)],
                              capture_output=True, text=True, env=env, check=False)
        elements = store.read("MATCH (n:Element) RETURN count(n) AS n")[0]["n"]
    wall = re.search(r"Elapsed \(wall clock\) time.*: (.+)", proc.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    outcome = json.loads(proc.stdout) if proc.returncode == 0 else {"stderr": proc.stderr[-2000:]}
    return {"exit_code": proc.returncode, "wall": wall.group(1) if wall else None,
            "peak_rss_mb": round(int(rss.group(1)) / 1024) if rss else None, "elements_in_graph": elements,
            "imports": outcome.get("imports"), "warnings": outcome.get("warnings"), "error": outcome.get("stderr")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--whole", type=int, nargs="*", default=[100_000], help="triples, read whole")
    parser.add_argument("--streamed", type=int, nargs="*", default=[100_000, 1_000_000], help="triples, streamed")
    parser.add_argument("--formats", nargs="+", default=["ttl", "nt"], choices=["ttl", "nt"])
    parser.add_argument("--import", dest="do_import", action="store_true",
                        help="also import the largest Turtle file into the benchmark server")
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results" / "rdf_import.json")
    add_server_arguments(parser)
    args = parser.parse_args(argv)
    results: list[dict[str, Any]] = []
    imported: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory() as tmp:
        for triples in sorted(set(args.whole) | set(args.streamed)):
            for fmt in args.formats:
                path = Path(tmp) / f"doc-{triples}.{fmt}"
                write_document(path, triples, fmt)
                row: dict[str, Any] = {"triples": triples // TRIPLES_PER_STEP * TRIPLES_PER_STEP, "format": fmt,
                                       "file_mb": round(path.stat().st_size / 2**20, 1)}
                for mode, sizes in (("whole", args.whole), ("streamed", args.streamed)):
                    if triples in sizes:
                        row[mode] = _read(mode, path, fmt)
                        print(f"{row['triples']:>9,} triples {fmt} ({row['file_mb']} MB) {mode}: "
                              f"{row[mode]['peak_rss_mb']} MB peak RSS, {row[mode]['seconds']} s, "
                              f"{row[mode]['rows']:,} rows", flush=True)
                results.append(row)
                if args.do_import and fmt == "ttl" and triples == max(args.streamed):
                    imported = {"triples": row["triples"], "format": fmt, **_import(args, path)}
                    print(f"import of {row['triples']:,} triples as one file: {imported}", flush=True)
                path.unlink()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"date": datetime.now(UTC).isoformat(timespec="seconds"),
                                       "command": "bench/bench_rdf_import.py " + " ".join(argv or sys.argv[1:]),
                                       "results": results, "import": imported}, indent=2) + "\n")
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
