"""``lineagegraph import ctapipe``: ctapipe provenance logs (the JSON that ``Provenance`` writes)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lineagegraph.cli._app import ForceOption, import_app, is_quiet, open_store, report_outcome
from lineagegraph.importers.base import run_import
from lineagegraph.importers.ctapipe import CtapipeImporter


@import_app.command("ctapipe")
def import_ctapipe(
    files: Annotated[list[Path], typer.Argument(help="ctapipe provenance logs (JSON); one import run each.")],
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summaries; errors only.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON summary on stdout.")] = False,
    force: ForceOption = False,
) -> None:
    """Import ctapipe provenance logs: activities, files with roles, software versions, configuration.

    A bad log is reported with the activity at fault (exit code 2) and nothing of it is written; the
    other files still land. A log unchanged since its last complete import is skipped (its run
    recorded as skipped); --force imports it all the same.
    """
    with open_store(quiet=is_quiet(quiet)) as store:
        outcome = run_import(store, CtapipeImporter(), [str(f) for f in files], force=force)
    report_outcome(outcome, as_json=as_json, quiet=quiet)
