"""``lineagegraph import with NAME SOURCE...``: run an importer another package registered.

Importers register under the entry-point group ``lineagegraph.importers`` (see
:mod:`lineagegraph.importers.registry`); ``lineagegraph import with --list`` shows what is installed.
"""

from __future__ import annotations

from typing import Annotated

import typer

from lineagegraph.cli._app import import_app, is_quiet, open_store, print_json, report_outcome
from lineagegraph.importers.base import run_import
from lineagegraph.importers.registry import available, load_importer


@import_app.command("with")
def import_with(
    name: Annotated[str | None, typer.Argument(help="The registered importer's name.")] = None,
    sources: Annotated[list[str] | None, typer.Argument(
        help="What the importer reads (files, URLs, ...); each is imported on its own.")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the registered importers and exit.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Errors only.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON summary on stdout.")] = False,
) -> None:
    """Import SOURCES with an importer from another package (entry point group lineagegraph.importers).

    A bad source is reported (exit code 2) and nothing of it is written; the other sources still land.
    """
    if list_:
        points = available()
        if as_json:
            print_json({name: point.value for name, point in points.items()})
        else:
            for point_name, point in points.items():
                typer.echo(f"{point_name}\t{point.value}")
        return
    if name is None or not sources:
        raise typer.BadParameter("give an importer name and at least one source (or --list)")
    importer = load_importer(name)
    with open_store(quiet=is_quiet(quiet)) as store:
        outcome = run_import(store, importer, sources)
    report_outcome(outcome, as_json=as_json, quiet=quiet)
