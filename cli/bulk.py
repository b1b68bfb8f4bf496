"""``lineagegraph bulk-load prov|with ...``: a first import into an empty database through neo4j-admin.

The command stops the local server, loads the CSV the importer's units were streamed into with
``neo4j-admin database import full``, and restarts it (see :mod:`lineagegraph.bulk`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lineagegraph.bulk import BulkOutcome, BulkSource, bulk_load
from lineagegraph.cli._app import app, is_quiet, print_json
from lineagegraph.cli.prov import ProvFormat
from lineagegraph.importers.base import ImportOutcome
from lineagegraph.settings import load_settings

bulk_app = typer.Typer(
    help="First import into an EMPTY database of the local server, offline through neo4j-admin "
         "(the server is stopped and restarted). Refused when the database holds anything.",
    no_args_is_help=True,
)
app.add_typer(bulk_app, name="bulk-load")

_QUIET = Annotated[bool, typer.Option("--quiet", "-q", help="No progress, no summaries; errors only.")]
_JSON = Annotated[bool, typer.Option("--json", help="JSON summary on stdout.")]
_WORK_DIR = Annotated[Path | None, typer.Option(
    "--work-dir", help="Where to write the CSV files (default: the system's temporary directory); "
    "they take about the size of the input.")]
_KEEP = Annotated[bool, typer.Option("--keep-files", help="Keep the CSV files and the tool's log.")]
_MAX_ONLINE = Annotated[int, typer.Option(
    "--max-online", min=0, help="Most records (repeats, cross-file references, values CSV cannot carry) "
    "held in memory to be written online after the load.")]


def _run(importer: BulkSource, sources: list[str], *, quiet: bool, as_json: bool, work_dir: Path | None,
         keep_files: bool, max_online: int) -> None:
    settings = load_settings()
    silent = is_quiet(quiet)
    if silent:
        outcome = bulk_load(settings, importer, sources, work_dir=work_dir, keep_files=keep_files,
                            max_online=max_online, quiet=True)
    else:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn

        with Progress(SpinnerColumn(), TextColumn("{task.description}: {task.completed:,} records"),
                      console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("writing CSV", total=None)
            outcome = bulk_load(settings, importer, sources, work_dir=work_dir, keep_files=keep_files,
                                max_online=max_online, quiet=False,
                                progress=lambda n: bar.advance(task, n))
    _report(outcome, quiet=quiet, as_json=as_json)


def _report(outcome: BulkOutcome, *, quiet: bool, as_json: bool) -> None:
    bulk = {"timings": outcome.timings, "csv_rows": outcome.csv_rows, "online_rows": outcome.online_rows,
            "work_dir": str(outcome.work_dir) if outcome.work_dir else None}
    if as_json:
        print_json({
            "imports": [s.as_dict() for s in outcome.summaries],
            "errors": [{"source": e.source, "location": e.location, "message": str(e)} for e in outcome.errors],
            "bulk": bulk,
        })
    elif not quiet:
        for summary in outcome.summaries:
            typer.echo(summary.line())
        if outcome.summaries:
            t = outcome.timings
            typer.echo(f"bulk load: {outcome.csv_rows.get('nodes', 0)} node rows and "
                       f"{outcome.csv_rows.get('relationships', 0)} relationship rows through neo4j-admin, "
                       f"{outcome.online_rows} records online; CSV {t.get('csv_seconds', 0)} s, "
                       f"neo4j-admin {t.get('tool_seconds', 0)} s, records {t.get('records_seconds', 0)} s"
                       + (f"; files kept in {outcome.work_dir}" if outcome.work_dir else ""))
        else:
            typer.echo("bulk load: nothing to load; the database was not touched")
    if outcome.errors:
        from lineagegraph.cli._app import report_outcome

        # Errors on stderr and the exit code, as every import command gives them.
        report_outcome(ImportOutcome(errors=outcome.errors), as_json=False, quiet=True)


@bulk_app.command("prov")
def bulk_prov(
    files: Annotated[list[Path], typer.Argument(help="PROV files; each one is one import run.")],
    fmt: Annotated[ProvFormat | None, typer.Option(
        "--format", "-f", help="Serialisation of every file (default: extension, then content).")] = None,
    quiet: _QUIET = False,
    as_json: _JSON = False,
    work_dir: _WORK_DIR = None,
    keep_files: _KEEP = False,
    max_online: _MAX_ONLINE = 200_000,
) -> None:
    """Load PROV files into the empty local database, offline (same graph as 'import prov').

    A bad file is reported (exit code 2) and nothing of it is loaded; the other files still are.
    """
    from lineagegraph.importers.prov import ProvImporter

    _run(ProvImporter(fmt.value if fmt is not None else None), [str(f) for f in files], quiet=quiet,
         as_json=as_json, work_dir=work_dir, keep_files=keep_files, max_online=max_online)


@bulk_app.command("with")
def bulk_with(
    name: Annotated[str, typer.Argument(help="A registered importer's name (see 'import with --list').")],
    sources: Annotated[list[str], typer.Argument(help="What the importer reads; each is one import run.")],
    quiet: _QUIET = False,
    as_json: _JSON = False,
    work_dir: _WORK_DIR = None,
    keep_files: _KEEP = False,
    max_online: _MAX_ONLINE = 200_000,
) -> None:
    """Load SOURCES with an importer of another package into the empty local database, offline."""
    from lineagegraph.importers.registry import load_importer

    _run(load_importer(name), sources, quiet=quiet, as_json=as_json, work_dir=work_dir, keep_files=keep_files,
         max_online=max_online)
