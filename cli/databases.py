"""``lineagegraph import provenance`` and ``lineagegraph import mltrace``: other tools' PostgreSQL databases.

A database is named by a URL without a password (``postgresql://user@host:port/db``), given on the
command line or in the settings (``LINEAGEGRAPH_PROVENANCE_URL``, ``LINEAGEGRAPH_MLTRACE_URL``,
environment or ``.env``). The password comes from ``LINEAGEGRAPH_PROVENANCE_PASSWORD`` /
``LINEAGEGRAPH_MLTRACE_PASSWORD``, or libpq's own ``PGPASSWORD`` / ``~/.pgpass``. A URL with a
password on the command line is refused: every user of the machine can read a process's argv.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from lineagegraph.cli._app import import_app, is_quiet, open_store, print_json
from lineagegraph.errors import ConfigError
from lineagegraph.importers.base import ImportOutcome, run_import
from lineagegraph.importers.mltrace import MltraceImporter
from lineagegraph.importers.pgsource import fingerprints_in, url_password
from lineagegraph.importers.provenance_repo import ProvenanceRepoImporter


class DatabaseSources(BaseSettings):
    """Where the databases of other tools are, and their passwords (never from argv)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    provenance_url: str | None = Field(
        default=None, validation_alias=AliasChoices("LINEAGEGRAPH_PROVENANCE_URL", "provenance_url"))
    provenance_password: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("LINEAGEGRAPH_PROVENANCE_PASSWORD", "provenance_password"))
    mltrace_url: str | None = Field(
        default=None, validation_alias=AliasChoices("LINEAGEGRAPH_MLTRACE_URL", "mltrace_url"))
    mltrace_password: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("LINEAGEGRAPH_MLTRACE_PASSWORD", "mltrace_password"))


UrlArg = Annotated[list[str] | None, typer.Argument(
    metavar="URL", help="postgresql://user@host:port/database, without a password; default from settings.",
    show_default=False)]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No summaries; errors only.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON summary on stdout.")]


def _urls(given: list[str] | None, configured: str | None, setting: str) -> list[str]:
    if given:
        for url in given:
            if url_password(url) is not None:
                raise typer.BadParameter(
                    f"a password inside a URL on the command line is readable by every user of this machine; "
                    f"give the URL without it and the password in {setting.replace('URL', 'PASSWORD')}, "
                    f"PGPASSWORD or ~/.pgpass", param_hint="URL")
        return list(given)
    if configured:
        return [configured]
    raise ConfigError(f"no database given: pass a URL or set {setting}")


def _report(outcome: ImportOutcome, reports: dict[str, Any], as_json: bool, quiet: bool) -> None:
    if as_json:
        print_json({
            "imports": [s.as_dict() | {"records": _record_counts(reports.get(s.source))} for s in outcome.summaries],
            "errors": [{"source": e.source, "location": e.location, "message": str(e)} for e in outcome.errors],
        })
    elif not quiet:
        for summary in outcome.summaries:
            typer.echo(summary.line())
            report = reports.get(summary.source)
            if report is not None:
                typer.echo(f"{summary.source}: {report.line()}")
    for exc in outcome.errors:
        print(f"lineagegraph: error: {exc}", file=sys.stderr)
    if outcome.errors:
        raise typer.Exit(max(e.exit_code for e in outcome.errors))


def _record_counts(report: Any) -> dict[str, Any] | None:
    if report is None:
        return None
    counts = {k: v for k, v in vars(report).items() if k != "delta"}
    delta = report.delta
    return counts | {"new": delta.new, "changed": delta.changed, "unchanged": delta.unchanged}


@import_app.command("provenance")
def import_provenance(
    urls: UrlArg = None,
    blobstore: Annotated[Path | None, typer.Option(
        help="The repository's disk blobstore: record value sizes and digests (never unpickled).")] = None,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Import `provenance` artifact repositories (PostgreSQL): artifacts, calls, inputs, sets.

    Only artifacts and sets that are new or changed since the last import are written. A bad
    database is reported (exit code 2) and nothing of it is written; the others still land.
    """
    sources = DatabaseSources()
    targets = _urls(urls, sources.provenance_url, "LINEAGEGRAPH_PROVENANCE_URL")
    password = sources.provenance_password.get_secret_value() if sources.provenance_password else None
    with open_store(quiet=is_quiet(quiet)) as store:
        importer = ProvenanceRepoImporter(password=password, known=fingerprints_in(store), blobstore=blobstore)
        outcome = run_import(store, importer, targets)
    _report(outcome, dict(importer.reports), as_json, quiet)


@import_app.command("mltrace")
def import_mltrace(
    urls: UrlArg = None,
    namespace: Annotated[str | None, typer.Option(
        help="Id namespace of the database (default: host[:port]/database from the URL).")] = None,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Import mltrace databases (PostgreSQL): components, runs, IO pointers, dependencies, flags.

    Only components and runs that are new or changed since the last import are written. A bad
    database is reported (exit code 2) and nothing of it is written; the others still land.
    """
    sources = DatabaseSources()
    targets = _urls(urls, sources.mltrace_url, "LINEAGEGRAPH_MLTRACE_URL")
    password = sources.mltrace_password.get_secret_value() if sources.mltrace_password else None
    with open_store(quiet=is_quiet(quiet)) as store:
        importer = MltraceImporter(password=password, known=fingerprints_in(store), namespace=namespace)
        outcome = run_import(store, importer, targets)
    _report(outcome, dict(importer.reports), as_json, quiet)
