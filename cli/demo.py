"""``lineagegraph demo``: the main job on the bundled sample data, end to end.

It imports the samples of every importer, writes an interactive HTML lineage export, and prints a
backtrace and a diff, so a new user sees in one command what the graph holds and answers. The
PostgreSQL importers (mltrace, ``provenance``) read their samples (``pg_dump`` files) from a private
throw-away PostgreSQL that the demo starts and stops (:mod:`lineagegraph.importers.pgserver`);
without PostgreSQL's binaries the demo stops before importing anything and says what to run.
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
from lineagegraph.identity import version_id
from lineagegraph.importers.base import Importer, run_import
from lineagegraph.importers.ctapipe import CtapipeImporter
from lineagegraph.importers.mltrace import MltraceImporter, pointer_location
from lineagegraph.importers.openlineage import OpenLineageImporter, column_lineage
from lineagegraph.importers.pgserver import PrivatePostgres, find_bindir
from lineagegraph.importers.pgsource import fingerprints_in
from lineagegraph.importers.prov import ProvImporter
from lineagegraph.importers.provenance_repo import ProvenanceRepoImporter
from lineagegraph.queries import LineageGraph
from lineagegraph.settings import Settings
from lineagegraph.store import GraphStore

MODEL_V1 = "https://example.org/lineage#model-v1"
MODEL_V2 = "https://example.org/lineage#model-v2"

# Each importer with the bundled samples it reads; later importers add their own line here.
DEMO_SOURCES: list[tuple[Importer, tuple[str, ...]]] = [
    (ProvImporter(), ("ml-data-prep.provn", "ml-train-v1.json", "ml-train-v2.ttl")),
    (OpenLineageImporter(), ("openlineage/fraud-pipeline.ndjson", "openlineage/legacy-spec1.ndjson")),
    (CtapipeImporter(), ("ctapipe/provenance.json",)),
]


# The PostgreSQL importers' samples: pg_dump files, each loaded into its own database. mltrace ids
# get a fixed namespace: the private server's port changes on every run, and a re-run of the demo
# must meet the same nodes.
DEMO_DATABASES: tuple[tuple[str, str], ...] = (("provenance", "provenance_repo.sql"), ("mltrace", "mltrace.sql"))
MLTRACE_NAMESPACE = "demo/mltrace"
MLTRACE_OUTPUT = ("pred-0003", 10)  # an output of the sample and the run that wrote it


def _heading(text: str) -> None:
    typer.echo(f"\n== {text}")


def mltrace_demo_output() -> str:
    """The id of the sample mltrace output the demo backtraces."""
    name, run = MLTRACE_OUTPUT
    pointer, _ = pointer_location(name, MLTRACE_NAMESPACE)
    return version_id(pointer, MltraceImporter().run_id(MLTRACE_NAMESPACE, run))


def demo_databases(store: GraphStore, bindir: Path) -> None:
    """Start a private PostgreSQL, load the sample dumps, import them with both importers, stop it."""
    with PrivatePostgres(bindir) as server, resources.as_file(
            resources.files("lineagegraph") / "samples" / "postgres") as folder:
        for database, dump in DEMO_DATABASES:
            server.create_database(database, dump=folder / dump)
            importer: MltraceImporter | ProvenanceRepoImporter
            if database == "mltrace":
                importer = MltraceImporter(password=server.password, known=fingerprints_in(store),
                                           namespace=MLTRACE_NAMESPACE)
            else:
                importer = ProvenanceRepoImporter(password=server.password, known=fingerprints_in(store))
            outcome = run_import(store, importer, [server.url(database, with_password=False)])
            if outcome.errors:
                raise outcome.errors[0]
            for summary in outcome.summaries:
                typer.echo(f"[{importer.name}] samples/postgres/{dump}: {importer.reports[summary.source].line()}")


@app.command("demo")
def demo(
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the HTML export.")] = Path(
        "lineage-demo.html"
    ),
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress messages.")] = False,
) -> None:
    """Import the bundled samples, write an HTML lineage export, print a backtrace and a diff."""
    samples = resources.files("lineagegraph") / "samples"
    bindir = find_bindir()  # before anything is imported: without PostgreSQL, say what to run and stop
    with open_store(quiet=is_quiet(quiet)) as store:
        _heading("importing the sample data")
        for importer, names in DEMO_SOURCES:
            with resources.as_file(samples) as folder:
                outcome = run_import(store, importer, [str(folder / name) for name in names])
            for summary in outcome.summaries:
                typer.echo(f"[{importer.name}] " + summary.line().replace(str(folder) + "/", ""))
            if outcome.errors:
                raise outcome.errors[0]
        demo_databases(store, bindir)

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

        output_id = mltrace_demo_output()
        _heading(f"mltrace's backtrace of {MLTRACE_OUTPUT[0]}: lineagegraph bt '{output_id}' --order depth-first")
        frames = graph.backtrace(output_id, order="depth-first").frames
        typer.echo(" | ".join(f"{f.depth} {f.activity.display_name}" for f in frames))

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
