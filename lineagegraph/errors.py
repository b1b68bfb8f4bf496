"""The exception hierarchy: every error lineagegraph raises on purpose derives from one root.

The CLI turns any :class:`LineageGraphError` into a one-line message on stderr and a non-zero exit
code; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "InputError",
    "LineageGraphError",
    "NotFoundError",
    "QueryError",
    "ServerError",
]


class LineageGraphError(Exception):
    """Root of every error lineagegraph raises on purpose."""

    exit_code = 1


class ConfigError(LineageGraphError):
    """The settings are missing, contradictory, or point at something that is not there."""

    exit_code = 3


class ServerError(LineageGraphError):
    """The local Neo4j could not be prepared, started, reached or stopped."""

    exit_code = 4


class InputError(LineageGraphError):
    """A source document or object is malformed; nothing of it was written.

    ``source`` names the file or object at fault and ``location`` the line/record when known.
    """

    exit_code = 2

    def __init__(self, message: str, *, source: str | None = None, location: str | None = None):
        self.source = source
        self.location = location
        where = ""
        if source:
            where = source + (f":{location}" if location else "") + ": "
        super().__init__(where + message)


class NotFoundError(LineageGraphError):
    """An id, import run or template asked for does not exist."""

    exit_code = 5


class QueryError(LineageGraphError):
    """A query's arguments are out of range (depth, limit, unknown filter)."""

    exit_code = 2
