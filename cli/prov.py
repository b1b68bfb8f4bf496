"""``lineagegraph import prov`` and ``lineagegraph export prov``: W3C PROV documents in and out."""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from lineagegraph import templates
from lineagegraph.cli._app import (
    Direction,
    ForceOption,
    export_app,
    import_app,
    is_quiet,
    open_store,
    print_json,
)
from lineagegraph.errors import QueryError
from lineagegraph.export import export_prov, select_all, select_import_run, select_lineage
from lineagegraph.importers.base import ImportUnit, run_import
from lineagegraph.importers.prov import FORMATS, ProvImporter
from lineagegraph.provcodec import EXPORT_FORMATS


class ProvFormat(StrEnum):
    """PROV serialisations (rdf = TriG; ttl = Turtle; jsonld = PROV-JSONLD)."""

    PROVN = "provn"
    JSON = "json"
    XML = "xml"
    RDF = "rdf"
    TTL = "ttl"
    TRIG = "trig"
    JSONLD = "jsonld"


assert {f.value for f in ProvFormat} == set(FORMATS) == set(EXPORT_FORMATS)


def _error(message: str) -> None:
    print(f"lineagegraph: error: {message}", file=sys.stderr)


@import_app.command("prov")
def import_prov(
    files: Annotated[list[Path], typer.Argument(help="PROV files; each one is one import run.")],
    fmt: Annotated[ProvFormat | None, typer.Option(
        "--format", "-f", help="Serialisation of every file (default: extension, then content).",
    )] = None,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="No progress, no summaries; errors only.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON summary on stdout.")] = False,
    force: ForceOption = False,
) -> None:
    """Import PROV-N, PROV-JSON, PROV-XML, PROV-JSONLD or PROV-O (Turtle, TriG, RDF/XML) files.

    A bad file is reported (exit code 2) and nothing of it is written; the other files still land.
    A file unchanged since its last complete import (same bytes, format, lineagegraph version and
    redaction rules, and no run of it removed or failed since) is not read again: its run is
    recorded as skipped. Use --force to import it all the same.
    """
    importer = ProvImporter(fmt.value if fmt is not None else None)
    silent = is_quiet(quiet)
    with open_store(quiet=silent) as store:
        if silent:
            outcome = run_import(store, importer, [str(f) for f in files], force=force)
        else:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          console=Console(stderr=True), transient=True) as bar:

                def on_unit(unit: ImportUnit) -> Callable[[int], None]:
                    task = bar.add_task(Path(unit.source).name, total=unit.size)
                    return lambda n: bar.advance(task, n)

                outcome = run_import(store, importer, [str(f) for f in files], on_unit=on_unit, force=force)
    if as_json:
        print_json({
            "imports": [s.as_dict() for s in outcome.summaries],
            "errors": [{"source": e.source, "location": e.location, "message": str(e)}
                       for e in outcome.errors],
            "warnings": importer.warnings,
        })
    elif not quiet:
        for summary in outcome.summaries:
            typer.echo(summary.line())
            notes = importer.warnings.get(summary.source)
            if notes:
                print(f"{summary.source}: {len(notes)} warning(s) from prov, first: "
                      f"{notes[0][:200]}", file=sys.stderr)
    for exc in outcome.errors:
        _error(str(exc))
    if outcome.errors:
        raise typer.Exit(max(e.exit_code for e in outcome.errors))


@export_app.command("prov")
def export_prov_command(
    root: Annotated[str | None, typer.Option(
        "--root", help="Export the lineage around this node id.")] = None,
    depth: Annotated[int, typer.Option(min=1, max=templates.MAX_DEPTH, help="Hops from --root.")] = (
        templates.DEFAULT_DEPTH
    ),
    direction: Annotated[Direction, typer.Option(
        help="up: where it came from; down: what it affects.")] = Direction.BOTH,
    import_run: Annotated[str | None, typer.Option(
        "--import-run", help="Export what this import run wrote.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Export the whole graph.")] = False,
    fmt: Annotated[ProvFormat, typer.Option(
        "--format", "-f", help="PROV serialisation (rdf = TriG).")] = ProvFormat.PROVN,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="File to write (default: stdout).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Write a part of the graph as a W3C PROV document."""
    if sum((root is not None, import_run is not None, all_)) != 1:
        raise QueryError("choose exactly one of --root ID, --import-run RUN, --all")
    with open_store(quiet=is_quiet(quiet)) as store:
        if root is not None:
            store.require_ids(root)
            subgraph = select_lineage(store, root, direction=direction.value, depth=depth)
        elif import_run is not None:
            subgraph = select_import_run(store, import_run)
        else:
            subgraph = select_all(store)
    text = export_prov(subgraph, fmt.value, output)
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    elif not quiet:
        print(f"wrote {len(subgraph.nodes)} nodes and {len(subgraph.relationships)} relationships "
              f"as PROV ({fmt.value}) to {output}", file=sys.stderr)
