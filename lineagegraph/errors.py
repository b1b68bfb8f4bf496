"""The exception hierarchy: every error lineagegraph raises on purpose derives from one root.

The CLI turns any :class:`LineageGraphError` into a one-line message on stderr and a non-zero exit
code; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "InputError",
    "KindConflictError",
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


class KindConflictError(InputError):
    """An id would get a second kind (Entity, Activity, Agent), or a relation names an end of the
    wrong kind. PROV gives every identifier one kind; the write that would break that is refused."""

    @classmethod
    def from_rows(cls, rows: list[list[object]]) -> KindConflictError:
        """Build the error from the writer's conflict rows: ``[id, existing kind, wanted kind, sources]``."""
        parts = []
        for ident, existing, wanted, sources in rows:
            by = ", ".join(str(s) for s in sources) if isinstance(sources, list) and sources else "an earlier import"
            parts.append(f"{ident!r} is already an {existing} (asserted by {by}), not an {wanted}")
        return cls("one kind per id: " + "; ".join(parts))


class NotFoundError(LineageGraphError):
    """An id, import run or template asked for does not exist."""

    exit_code = 5


class QueryError(LineageGraphError):
    """A query's arguments are out of range (depth, limit, unknown filter)."""

    exit_code = 2
