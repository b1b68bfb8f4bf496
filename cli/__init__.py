"""The ``lineagegraph`` command line: thin commands that parse, call the library, and print."""

from __future__ import annotations

import sys

from lineagegraph.cli import admin  # noqa: F401  (registers commands)
from lineagegraph.cli._app import app
from lineagegraph.errors import LineageGraphError

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI; report expected errors on one line with a meaningful exit code."""
    try:
        app(args=argv, standalone_mode=False)
    except LineageGraphError as exc:
        print(f"lineagegraph: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except SystemExit as exc:  # typer/click exit (e.g. --help)
        return int(exc.code or 0)
    except Exception as exc:
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            return exc.exit_code
        if isinstance(exc, click.exceptions.Abort):
            print("Aborted.", file=sys.stderr)
            return 130
        raise
    return 0
