"""``lineagegraph demo``: the main job on the bundled sample data, end to end.

It imports the samples of every importer, writes an interactive HTML lineage export, and prints a
backtrace and a diff, so a new user sees in one command what the graph holds and answers.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from lineagegraph.cli._app import app, is_quiet, open_store
from lineagegraph.cli.capture import demo_capture
from lineagegraph.cli.k8s import demo_k8s
from lineagegraph.cli.queries import print_diff
from lineagegraph.importers.base import Importer, run_import
from lineagegraph.importers.ctapipe import CtapipeImporter
from lineagegraph.importers.openlineage import OpenLineageImporter, column_lineage
from lineagegraph.importers.prov import ProvImporter
from lineagegraph.queries import LineageGraph
from lineagegraph.settings import Settings

MODEL_V1 = "https://example.org/lineage#model-v1"
MODEL_V2 = "https://example.org/lineage#model-v2"

# Each importer with the bundled samples it reads; later importers add their own line here.
DEMO_SOURCES: list[tuple[Importer, tuple[str, ...]]] = [
    (ProvImporter(), ("ml-data-prep.provn", "ml-train-v1.json", "ml-train-v2.ttl")),
    (OpenLineageImporter(), ("openlineage/fraud-pipeline.ndjson", "openlineage/legacy-spec1.ndjson")),
    (CtapipeImporter(), ("ctapipe/provenance.json",)),
]


def _heading(text: str) -> None:
    typer.echo(f"\n== {text}")


@app.command("demo")
def demo(
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the HTML export.")] = Path(
        "lineage-demo.html"
    ),
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress messages.")] = False,
) -> None:
    """Import the bundled samples, write an HTML lineage export, print a backtrace and a diff."""
    samples = resources.files("lineagegraph") / "samples"
    with open_store(quiet=is_quiet(quiet)) as store:
        _heading("importing the sample data")
        for importer, names in DEMO_SOURCES:
            with resources.as_file(samples) as folder:
                outcome = run_import(store, importer, [str(folder / name) for name in names])
            for summary in outcome.summaries:
                typer.echo(f"[{importer.name}] " + summary.line().replace(str(folder) + "/", ""))
            if outcome.errors:
                raise outcome.errors[0]

        graph = LineageGraph(store)
        lineage = graph.lineage(MODEL_V2, direction="both", depth=10)
        lineage.to_html(output, title="Lineage of fraud model v2")
        _heading("interactive lineage export")
        typer.echo(f"{len(lineage.nodes)} nodes, {len(lineage.relationships)} relationships -> {output.resolve()}")

        _heading(f"backtrace: lineagegraph bt '{MODEL_V2}'")
        typer.echo(graph.backtrace(MODEL_V2).text())

        _heading(f"diff: lineagegraph diff '{MODEL_V1}' '{MODEL_V2}'")
        print_diff(graph.diff(MODEL_V1, MODEL_V2), MODEL_V1, MODEL_V2)

        features = "gs://lineage-demo/features/transactions_clean.parquet"
        _heading(f"column lineage (OpenLineage): lineagegraph columns {features} amount_eur")
        for source in column_lineage(store, features, "amount_eur"):
            typer.echo(f"{source.dataset} :: {source.field}  ({', '.join(source.transformations)})")

        demo_k8s(store)
        demo_capture(store)

    settings = Settings()
    if settings.uses_local_server:
        _heading("next")
        typer.echo(
            f"The local Neo4j keeps running (data in {settings.server_home}). Explore with "
            "'lineagegraph ancestors|descendants|bt|diff|search ...', or in Neo4j Browser after "
            "'lineagegraph server stop && lineagegraph server start --browser'; "
            "'lineagegraph server stop' stops it."
        )
