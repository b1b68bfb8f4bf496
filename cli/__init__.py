"""The ``lineagegraph`` command line: thin commands that parse, call the library, and print.

Command modules are imported when a command needs them: ``lineagegraph diff`` loads the query
commands only, not the Kubernetes client, PROV codecs or database drivers other commands use (see
:func:`load_commands`). ``app`` (``from lineagegraph.cli import app``) has every command registered.
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Sequence
from importlib import import_module
from typing import Any

import typer
from pydantic import ValidationError

from lineagegraph.cli import _app
from lineagegraph.errors import ConfigError, LineageGraphError
from lineagegraph.settings import Settings, load_settings

__all__ = ["app", "load_commands", "main"]

# Importing a command module registers its commands on the app; one module per line.
COMMAND_MODULES = (
    "admin",
    "bulk",
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

# Commands whose module is known without importing the others: the query commands, which people run
# most and wait for. Any other command (and --help) imports every module. A test checks this table
# against the commands each module registers.
FAST_COMMANDS: dict[str, str] = dict.fromkeys(
    ("ancestors", "descendants", "diff", "bt", "path", "blame", "recipe", "search", "cypher"), "queries"
)


def load_commands(args: Sequence[str] | None = None) -> typer.Typer:
    """Register the commands that ``args`` needs (every command when None) and return the app."""
    first = next((arg for arg in args if not arg.startswith("-")), None) if args is not None else None
    home = FAST_COMMANDS.get(first) if first else None
    for module in (home,) if home else COMMAND_MODULES:
        import_module(f"lineagegraph.cli.{module}")
    return _app.app


def __getattr__(name: str) -> Any:
    # `from lineagegraph.cli import app`: the application with every command registered.
    if name == "app":
        return load_commands()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code.

    Expected failures (:class:`LineageGraphError`) become one line on stderr and the error's exit
    code; usage errors exit 2 as usual; anything else is a bug and keeps its traceback.
    """
    app = load_commands(sys.argv[1:] if argv is None else argv)
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
