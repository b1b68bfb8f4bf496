"""The typer application object, its command groups, and the helpers every command shares.

Commands live in sibling modules that import this one and register themselves; ``main`` (in the
package ``__init__``) turns a :class:`~lineagegraph.errors.LineageGraphError` into a one-line
message on stderr and its exit code.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Annotated, Any

import typer

from lineagegraph.importers.base import ImportOutcome
from lineagegraph.settings import load_settings
from lineagegraph.store import GraphStore

app = typer.Typer(
    name="lineagegraph",
    help="A lineage graph on Neo4j: import provenance, query it, export it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
import_app = typer.Typer(help="Import lineage from a source into the graph.", no_args_is_help=True)
export_app = typer.Typer(help="Write part of the graph out (PROV document, HTML page).", no_args_is_help=True)
server_app = typer.Typer(help="Run the local Neo4j server (no Docker needed).", no_args_is_help=True)
imports_app = typer.Typer(help="List or remove recorded import runs.", no_args_is_help=True)
app.add_typer(import_app, name="import")
app.add_typer(export_app, name="export")
app.add_typer(server_app, name="server")
app.add_typer(imports_app, name="imports")


class Direction(StrEnum):
    """Which way a lineage command walks: up (causes), down (effects), or both."""

    UP = "up"
    DOWN = "down"
    BOTH = "both"


# The --force option of importers that skip files unchanged since their last complete import.
ForceOption = Annotated[bool, typer.Option(
    "--force", help="Read and write every file, even one unchanged since its last complete import.",
)]


def is_quiet(quiet: bool) -> bool:
    """Quiet when asked, or when stderr is not a terminal (cron, pipes)."""
    return quiet or not sys.stderr.isatty()


@contextmanager
def open_store(*, quiet: bool = False, init: bool = True) -> Iterator[GraphStore]:
    """Connect with the configured settings (starting the local server if needed).

    Mistakes in the settings, and URIs the driver refuses, are one :class:`ConfigError` line.
    """
    settings = load_settings()
    store = GraphStore.connect(settings, quiet=quiet)  # a URI the driver refuses is a ConfigError
    try:
        if init:
            store.init_schema()
        yield store
    finally:
        store.close()


def report_outcome(outcome: ImportOutcome, *, as_json: bool, quiet: bool,
                   extra: dict[str, Any] | None = None) -> None:
    """Print what an import did: a line per run (or one JSON document, with ``extra`` merged in),
    every error on stderr; then exit with the worst error's code when there was one."""
    if as_json:
        print_json({
            "imports": [s.as_dict() for s in outcome.summaries],
            "errors": [{"source": e.source, "location": e.location, "message": str(e)} for e in outcome.errors],
            **(extra or {}),
        })
    elif not quiet:
        for summary in outcome.summaries:
            typer.echo(summary.line())
    for exc in outcome.errors:
        print(f"lineagegraph: error: {exc}", file=sys.stderr)
    if outcome.errors:
        raise typer.Exit(max(e.exit_code for e in outcome.errors))


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
