"""The ``lineagegraph`` command line: thin commands that parse, call the library, and print."""

from __future__ import annotations

import sys
import tomllib
from importlib import import_module

from pydantic import ValidationError

from lineagegraph.cli._app import app
from lineagegraph.errors import ConfigError, LineageGraphError
from lineagegraph.settings import Settings, load_settings

__all__ = ["app", "main"]

# Importing a command module registers its commands on the app; one module per line.
COMMAND_MODULES = (
    "admin",
    "capture",
    "ctapipe",
    "databases",
    "demo",
    "html",
    "k8s",
    "openlineage",
    "plugins",
    "prov",
    "queries",
    "watch",
)
for _module in COMMAND_MODULES:
    import_module(f"lineagegraph.cli.{_module}")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code.

    Expected failures (:class:`LineageGraphError`) become one line on stderr and the error's exit
    code; usage errors exit 2 as usual; anything else is a bug and keeps its traceback.
    """
    try:
        app(args=argv, prog_name="lineagegraph")
    except (ValidationError, tomllib.TOMLDecodeError) as exc:
        # Settings() read outside load_settings(): still one line, not a traceback.
        if isinstance(exc, ValidationError) and exc.title != Settings.__name__:
            raise
        try:
            load_settings()
        except ConfigError as error:
            print(f"lineagegraph: error: {error}", file=sys.stderr)
            return error.exit_code
        raise
    except LineageGraphError as exc:
        print(f"lineagegraph: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1
    return 0
