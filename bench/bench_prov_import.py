"""Benchmark: importing a generated PROV document of N records (elements + relations).

Measures, in one run against one real Neo4j:

* ``batched``   — the real importer (parse PROV-JSON, convert, batched UNWIND/MERGE in one transaction);
* ``reimport``  — the same file again (everything unchanged: the cron case);
* ``naive``     — the baseline: the same converted records written one transaction per record
                  (measured on a sample, since at that speed 100k records take many minutes).

Reports records/s for each and the ratios against the baseline; writes JSON beside the text.

    .venv/bin/python bench/bench_prov_import.py --records 100000
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, LiteralString, cast

from _server import REPO, add_server_arguments, empty_graph
from prov.model import ProvDocument

from lineagegraph.importers.base import run_import
from lineagegraph.importers.prov import ProvImporter, load_document
from lineagegraph.model import Element, Relation
from lineagegraph.provcodec import document_to_graph
from lineagegraph.server import NEO4J_VERSION
from lineagegraph.store import GraphStore

RECORDS_PER_STEP = 6  # entity, activity, used, wasGeneratedBy, wasAssociatedWith, wasDerivedFrom


def generate(records: int, agents: int = 50) -> ProvDocument:
    """A chain-shaped pipeline with shared agents: about ``records`` PROV records in all."""
    doc = ProvDocument()
    doc.add_namespace("ex", "https://example.org/bench#")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for j in range(agents):
        doc.agent(f"ex:agent{j}", {"prov:label": f"agent {j}", "ex:team": f"team-{j % 5}"})
    steps = max(1, (records - agents) // RECORDS_PER_STEP)
    doc.entity("ex:e0", {"prov:label": "seed", "ex:size": 0})
    for i in range(1, steps + 1):
        t = start + timedelta(seconds=i)
        doc.entity(f"ex:e{i}", {"prov:label": f"dataset {i}", "ex:size": i * 10, "ex:digest": f"sha256:{i:064x}"})
        doc.activity(f"ex:a{i}", t, t + timedelta(milliseconds=500),
                     {"prov:label": f"step {i}", "ex:params": f'{{"k": {i}}}'})
        doc.used(f"ex:a{i}", f"ex:e{i - 1}", t)
        doc.wasGeneratedBy(f"ex:e{i}", f"ex:a{i}", t + timedelta(milliseconds=500))
        doc.wasAssociatedWith(f"ex:a{i}", f"ex:agent{i % agents}")
        doc.wasDerivedFrom(f"ex:e{i}", f"ex:e{i - 1}", f"ex:a{i}")
    return doc


def naive_write(store: GraphStore, elements: list[Element], relations: list[Relation]) -> None:
    """The baseline: one auto-retried write transaction per record, no batching."""
    with store.driver.session(database=store.database) as session:
        for element in elements:
            query = cast(LiteralString, f"MERGE (n:Element {{id: $id}}) SET n += $props, n:{element.kind.value}")
            session.execute_write(lambda tx, q=query, e=element: tx.run(q, id=e.id, props=e.properties()).consume())
        for relation in relations:
            query = cast(
                LiteralString,
                "MERGE (a:Element {id: $start}) MERGE (b:Element {id: $end}) "
                f"MERGE (a)-[r:{relation.type.value} {{key: $key}}]->(b) SET r += $props",
            )
            session.execute_write(
                lambda tx, q=query, r=relation: tx.run(
                    q, start=r.start, end=r.end, key=r.key(), props=r.properties()
                ).consume()
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--baseline-records", type=int, default=3_000)
    parser.add_argument("--batch-size", type=int, default=5_000)
    add_server_arguments(parser)
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results" / "prov_import.json")
    args = parser.parse_args(argv)

    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}",
        "neo4j": NEO4J_VERSION,
        "batch_size": args.batch_size,
    }
    with empty_graph(args, batch_size=args.batch_size) as store, tempfile.TemporaryDirectory() as tmp:
        doc = generate(args.records)
        path = Path(tmp) / "bench.json"
        doc.serialize(str(path), format="json")
        elements, relations = document_to_graph(doc)
        n_records = len(elements) + len(relations)
        results["records"] = n_records
        results["file_mb"] = round(path.stat().st_size / 1e6, 1)

        t0 = time.perf_counter()
        outcome = run_import(store, ProvImporter(), [str(path)])
        batched = time.perf_counter() - t0
        assert outcome.ok and outcome.summaries[0].nodes.created == len(elements)

        t0 = time.perf_counter()
        outcome = run_import(store, ProvImporter(), [str(path)])
        reimport = time.perf_counter() - t0
        assert outcome.summaries[0].nodes.created == 0

        t0 = time.perf_counter()
        parsed = load_document(path)
        parse_only = time.perf_counter() - t0
        t0 = time.perf_counter()
        document_to_graph(parsed)
        convert_only = time.perf_counter() - t0

        store.clear()
        share = args.baseline_records / n_records
        sample_e = elements[: max(1, int(len(elements) * share))]
        sample_r = relations[: max(1, int(len(relations) * share))]
        t0 = time.perf_counter()
        naive_write(store, sample_e, sample_r)
        naive = time.perf_counter() - t0
        naive_n = len(sample_e) + len(sample_r)

    rates = {
        "batched_records_per_s": n_records / batched,
        "reimport_records_per_s": n_records / reimport,
        "naive_records_per_s": naive_n / naive,
    }
    results |= {k: round(v) for k, v in rates.items()}
    results["batched_seconds"] = round(batched, 2)
    results["reimport_seconds"] = round(reimport, 2)
    results["parse_only_seconds"] = round(parse_only, 2)
    results["convert_only_seconds"] = round(convert_only, 2)
    results["naive_sample_records"] = naive_n
    results["naive_seconds"] = round(naive, 2)
    results["speedup_batched_vs_naive"] = round(rates["batched_records_per_s"] / rates["naive_records_per_s"], 1)
    results["speedup_reimport_vs_naive"] = round(rates["reimport_records_per_s"] / rates["naive_records_per_s"], 1)

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"PROV import benchmark: {n_records} records ({results['file_mb']} MB PROV-JSON), Neo4j {NEO4J_VERSION}")
    print(f"  batched importer : {results['batched_records_per_s']:>8} records/s  ({batched:.1f} s in all; "
          f"parsing alone {parse_only:.1f} s, conversion alone {convert_only:.1f} s)")
    print(f"  re-import (same) : {results['reimport_records_per_s']:>8} records/s  ({reimport:.1f} s)")
    print(f"  naive baseline   : {results['naive_records_per_s']:>8} records/s  "
          f"(one transaction per record, {naive_n} records in {naive:.1f} s)")
    print(f"  ratio batched/naive = {results['speedup_batched_vs_naive']}x, "
          f"re-import/naive = {results['speedup_reimport_vs_naive']}x")
    print(f"  written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
