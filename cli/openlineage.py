"""``lineagegraph import openlineage``, ``lineagegraph serve openlineage`` and ``lineagegraph columns``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from lineagegraph.cli._app import app, import_app, is_quiet, open_store, print_json, report_outcome
from lineagegraph.importers.base import run_import
from lineagegraph.importers.openlineage import (
    OpenLineageImporter,
    column_lineage,
    refresh_run_status,
    store_versions,
)


def _serve_group() -> typer.Typer:
    """The ``serve`` command group, shared with any other module that serves something."""
    for info in app.registered_groups:
        if info.name == "serve" and info.typer_instance is not None:
            return info.typer_instance
    group = typer.Typer(help="Run a long-lived endpoint that receives lineage.", no_args_is_help=True)
    app.add_typer(group, name="serve")
    return group


serve_app = _serve_group()


@import_app.command("openlineage")
def import_openlineage(
    files: Annotated[list[str], typer.Argument(
        help="OpenLineage event files (NDJSON or a JSON array); '-' reads standard input. One import run each.")],
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summaries; errors only.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON summary on stdout.")] = False,
) -> None:
    """Import OpenLineage RunEvents, DatasetEvents and JobEvents (spec 1 and 2).

    A bad file is reported with its line (exit code 2) and nothing of it is written; the other files
    still land. Runs whose events are split over several files are merged.
    """
    with open_store(quiet=is_quiet(quiet)) as store:
        importer = OpenLineageImporter(known_versions=store_versions(store))
        outcome = run_import(store, importer, files)
        refresh_run_status(store, importer.run_ids)
    report_outcome(outcome, as_json=as_json, quiet=quiet)


@app.command("columns")
def columns(
    dataset: Annotated[str, typer.Argument(help="A location (gs://bucket/path, postgres://...) or a version id.")],
    column: Annotated[str, typer.Argument(help="The output column.")],
    depth: Annotated[int, typer.Option(min=1, max=50, help="Follow the inputs' own column lineage this far.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
) -> None:
    """Which input columns feed COLUMN of DATASET (OpenLineage column lineage)."""
    with open_store(quiet=True) as store:
        sources = column_lineage(store, dataset, column, depth=depth)
    if as_json:
        print_json([s.as_dict() for s in sources])
        return
    if not sources:
        typer.echo(f"no recorded column lineage for {column!r} of {dataset}")
        return
    for source in sources:
        how = f"  ({', '.join(source.transformations)})" if source.transformations else ""
        indent = "  " * (source.depth - 1)
        typer.echo(f"{indent}{source.dataset} :: {source.field}{how}")


@serve_app.command("openlineage")
def serve_openlineage(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 5000,
    spool_dir: Annotated[Path | None, typer.Option(
        help="Where accepted events wait for Neo4j (default: LINEAGEGRAPH_OPENLINEAGE_SPOOL_DIR).")] = None,
) -> None:
    """Receive OpenLineage events over HTTP (POST /api/v1/lineage), as Marquez does.

    Events are spooled to disk (fsync) before the 201 and written to the graph in batches; when
    Neo4j is down they wait and are delivered later. Set LINEAGEGRAPH_OPENLINEAGE_API_KEY to
    require 'Authorization: Bearer <key>'.
    """
    import uvicorn

    from lineagegraph.services.openlineage_receiver import Receiver, ReceiverSettings, create_app
    from lineagegraph.settings import Settings
    from lineagegraph.store import GraphStore

    settings = ReceiverSettings()
    if spool_dir is not None:
        settings.spool_dir = spool_dir

    def connect() -> GraphStore:
        store = GraphStore.connect(Settings(), quiet=True)
        store.init_schema()
        return store

    receiver = Receiver(settings, connect, source=f"openlineage-http://{host}:{port}")
    if settings.api_key is None and host not in ("127.0.0.1", "localhost", "::1"):
        print("lineagegraph: warning: listening beyond loopback without an API key "
              "(set LINEAGEGRAPH_OPENLINEAGE_API_KEY)", file=sys.stderr)
    uvicorn.run(create_app(receiver), host=host, port=port, log_level="warning")
