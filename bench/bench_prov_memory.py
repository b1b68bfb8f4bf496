"""Benchmark: memory and time to read a large PROV-JSON file into graph rows, whole vs streamed.

Writes a pipeline-shaped PROV-JSON file of N records (written as a stream, so the generator
itself stays small), then reads it in a fresh process each way and reports that process's peak
RSS and wall time:

* ``whole``    — the baseline: ``prov`` parses the document, ``document_to_graph`` maps it;
* ``streamed`` — ``importers/provjson_stream.py``: two ``ijson`` passes, chunks of 5,000 records.

Both compute every row's properties (what the writer sends), so the work is the same; the
database is left out so that only reading and mapping are compared.

    .venv/bin/python bench/bench_prov_memory.py --records 100000 300000 1000000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from _server import REPO

CHILD = """
import json, resource, sys, time, warnings
from pathlib import Path
warnings.simplefilter("ignore")
mode, path = sys.argv[1], Path(sys.argv[2])
t0 = time.perf_counter()
rows = 0
if mode == "whole":
    from prov.model import ProvDocument
    from lineagegraph.provcodec import document_to_graph
    elements, relations = document_to_graph(ProvDocument.deserialize(str(path), format="json"))
    for item in [*elements, *relations]:
        item.properties()
        rows += 1
else:
    from lineagegraph.importers.provjson_stream import stream_graph
    for item in stream_graph(path):
        item.properties()
        rows += 1
print(json.dumps({"rows": rows, "seconds": round(time.perf_counter() - t0, 1),
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))
"""


def _section(out: TextIO, name: str, items: Any, first: bool) -> None:
    out.write(("" if first else ",") + json.dumps(name) + ":{")
    for i, (key, value) in enumerate(items):
        out.write(("," if i else "") + json.dumps(key) + ":" + json.dumps(value))
    out.write("}")


def write_document(path: Path, records: int) -> None:
    """About ``records`` records: per step an entity, an activity, a usage, a generation."""
    steps = records // 4
    with path.open("w") as out:
        out.write('{"prefix":{"ex":"https://example.org/bench#"}')
        _section(out, "entity", ((f"ex:e{i}", {"prov:label": f"dataset {i}", "ex:size": i,
                                              "ex:digest": f"sha256:{i:064x}"}) for i in range(steps + 1)), False)
        _section(out, "activity", ((f"ex:a{i}", {"prov:startTime": "2026-01-01T00:00:00+00:00",
                                                "prov:label": f"step {i}"}) for i in range(1, steps + 1)), False)
        _section(out, "used", ((f"_:u{i}", {"prov:activity": f"ex:a{i}", "prov:entity": f"ex:e{i - 1}"})
                               for i in range(1, steps + 1)), False)
        _section(out, "wasGeneratedBy", ((f"_:g{i}", {"prov:entity": f"ex:e{i}", "prov:activity": f"ex:a{i}"})
                                         for i in range(1, steps + 1)), False)
        out.write("}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, nargs="+", default=[100_000, 300_000])
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results" / "prov_memory.json")
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for records in args.records:
            path = Path(tmp) / f"doc-{records}.json"
            write_document(path, records)
            row: dict[str, Any] = {"records": records, "file_mb": round(path.stat().st_size / 2**20, 1)}
            for mode in ("whole", "streamed"):
                proc = subprocess.run([sys.executable, "-c", CHILD, mode, str(path)], capture_output=True,
                                      text=True, check=True)
                row[mode] = json.loads(proc.stdout)
            row["rss_ratio"] = round(row["whole"]["peak_rss_mb"] / row["streamed"]["peak_rss_mb"], 1)
            print(f"{records:>9,} records ({row['file_mb']} MB): whole {row['whole']['peak_rss_mb']} MB "
                  f"in {row['whole']['seconds']} s; streamed {row['streamed']['peak_rss_mb']} MB in "
                  f"{row['streamed']['seconds']} s ({row['rss_ratio']}x less memory)", flush=True)
            results.append(row)
            path.unlink()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"date": datetime.now(UTC).isoformat(timespec="seconds"),
                                       "results": results}, indent=2) + "\n")
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
