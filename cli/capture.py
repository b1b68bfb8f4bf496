"""Capture commands: ``import spool``, ``spool status``, ``flag``/``unflag`` and ``stale``."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from lineagegraph.capture import review
from lineagegraph.capture.runtime import spool_dir
from lineagegraph.capture.spool import SpoolFile, spool_files
from lineagegraph.cli._app import app, import_app, is_quiet, open_store, print_json
from lineagegraph.importers.base import run_import
from lineagegraph.importers.spool import SpoolImporter, spool_sources
from lineagegraph.store import GraphStore

spool_app = typer.Typer(help="See what the capture spool holds.", no_args_is_help=True)
app.add_typer(spool_app, name="spool")

DirArgument = Annotated[Path | None, typer.Argument(
    help="Spool directory (default: LINEAGEGRAPH_SPOOL_DIR, else ~/.local/share/lineagegraph/spool).")]


@import_app.command("spool")
def import_spool(
    directory: DirArgument = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Errors only.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON summary on stdout.")] = False,
) -> None:
    """Deliver captured records (@track calls, component and pipeline runs) from the spool to the graph.

    Safe to run from cron and concurrently with running programs: records are applied exactly once.
    A bad file is reported (exit code 2) and kept; the other files still land.
    """
    folder = directory or spool_dir()
    sources = spool_sources(folder)
    importer = SpoolImporter()
    if sources:
        with open_store(quiet=is_quiet(quiet)) as store:
            outcome = run_import(store, importer, sources)
        summaries, errors = outcome.summaries, outcome.errors
    else:
        summaries, errors = [], []
    if as_json:
        print_json({
            "directory": str(folder),
            "imports": [s.as_dict() for s in summaries],
            "records": importer.records,
            "skipped": importer.warnings,
            "retired": importer.retired,
            "errors": [{"source": e.source, "location": e.location, "message": str(e)} for e in errors],
        })
    elif not quiet:
        if not sources:
            typer.echo(f"{folder}: nothing to deliver")
        for summary in summaries:
            typer.echo(summary.line())
        total = sum(importer.records.values())
        typer.echo(f"{total} record(s) from {len(sources)} file(s) delivered; {len(importer.retired)} file(s) "
                   f"finished and moved to {folder / 'delivered'}")
    for source, notes in importer.warnings.items():
        print(f"lineagegraph: warning: {source}: {len(notes)} damaged record(s) skipped; first: {notes[0]}",
              file=sys.stderr)
    for exc in errors:
        print(f"lineagegraph: error: {exc}", file=sys.stderr)
    if errors:
        raise typer.Exit(max(e.exit_code for e in errors))


def _file_status(file: SpoolFile) -> dict[str, Any]:
    delivered = file.delivered()
    pending = damaged = 0
    for line in file.lines(max(delivered, 1)):
        if line.number == 1 and delivered == 0:
            continue
        if line.record is None:
            damaged += 1
        else:
            pending += 1
    size = file.size()
    return {
        "file": str(file.path),
        "writer_pid": file.writer_pid,
        "writer_running": file.writer_alive(),
        "bytes": size,
        "delivered_bytes": delivered,
        "pending_records": pending,
        "damaged_records": damaged,
        "error": file.failure(),
    }


@spool_app.command("status")
def spool_status(
    directory: DirArgument = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
) -> None:
    """What waits in the spool, per file: pending records, damaged records, and why a delivery failed."""
    folder = directory or spool_dir()
    files = [_file_status(f) for f in spool_files(folder)]
    delivered_dir = folder / "delivered"
    done = len(list(delivered_dir.glob("*.lgspool"))) if delivered_dir.is_dir() else 0
    summary = {
        "directory": str(folder),
        "files": files,
        "pending_records": sum(f["pending_records"] for f in files),
        "failed_files": sum(1 for f in files if f["error"]),
        "delivered_files": done,
    }
    if as_json:
        print_json(summary)
        return
    typer.echo(f"spool {folder}: {summary['pending_records']} record(s) pending in {len(files)} file(s), "
               f"{summary['failed_files']} failed, {done} delivered file(s) kept")
    for f in files:
        state = "writing" if f["writer_running"] else "finished"
        line = f"  {Path(f['file']).name}: {f['pending_records']} pending ({state}, pid {f['writer_pid']})"
        if f["damaged_records"]:
            line += f", {f['damaged_records']} damaged"
        typer.echo(line)
        if f["error"]:
            typer.echo(f"    failed: {f['error']}")


@app.command("flag")
def flag_command(
    output_id: Annotated[str, typer.Argument(help="Id of a bad output (a graph id or a log_output id).")],
    reason: Annotated[str | None, typer.Option("--reason", help="Why it is bad.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Mark an output as bad; 'lineagegraph blame' then ranks what flagged outputs share upstream."""
    with open_store(quiet=is_quiet(quiet)) as store:
        node = review.flag(store, output_id, reason)
        others = review.flagged(store)
    if not quiet:
        typer.echo(f"flagged {node}; {len(others)} output(s) flagged in all")


@app.command("unflag")
def unflag_command(
    output_id: Annotated[str, typer.Argument(help="Id of an output flagged before.")],
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Clear the bad-output mark."""
    with open_store(quiet=is_quiet(quiet)) as store:
        node = review.unflag(store, output_id)
    if not quiet:
        typer.echo(f"unflagged {node}")


@app.command("flagged")
def flagged_command(
    as_json: Annotated[bool, typer.Option("--json", help="JSON list on stdout.")] = False,
) -> None:
    """The flagged outputs' ids, one per line: 'lineagegraph blame $(lineagegraph flagged)'."""
    with open_store(quiet=True) as store:
        ids = review.flagged(store)
    if as_json:
        print_json(ids)
    else:
        for node in ids:
            typer.echo(node)


@app.command("stale")
def stale_command(
    id: Annotated[str, typer.Argument(help="A run (activity) id, or an output it generated.")],
    max_age_days: Annotated[int, typer.Option("--max-age-days", min=0, help="Older runs are stale.")] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
) -> None:
    """Whether a run is stale: an input's producer ran again since, or the run is too old."""
    with open_store(quiet=True) as store:
        result = review.staleness(store, id, max_age=timedelta(days=max_age_days))
    if as_json:
        print_json(result.model_dump(mode="json") | {"stale": result.stale, "reasons": result.reasons()})
    else:
        typer.echo(result.text())


def demo_capture(store: GraphStore) -> None:
    """The demo's capture section: a tracked pipeline delivered through the spool, its bt, staleness."""
    from lineagegraph.capture.example import run_example
    from lineagegraph.queries import LineageGraph

    result = run_example(store)
    typer.echo(f"\n== capture from Python: a tracked pipeline run twice, {result.records} records delivered "
               "from the spool (lineagegraph/capture/example.py)")
    typer.echo(f"\n== backtrace of a served prediction: lineagegraph bt '{result.served_output}'")
    typer.echo(LineageGraph(store).backtrace(result.served_output).text())
    typer.echo(f"\n== staleness: lineagegraph stale '{result.first_train_run}'")
    typer.echo(result.staleness.text())
