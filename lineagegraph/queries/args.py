"""Checks for the arguments queries take (times, kinds, limits), with messages users can act on.

Each check returns the value as the templates want it (an ISO string, a list of labels, ...) or
raises :class:`QueryError` before anything reaches Neo4j.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from lineagegraph.errors import QueryError
from lineagegraph.model import ElementKind

__all__ = ["as_time", "kinds_param", "limit_param", "time_param"]


def as_time(value: Any) -> datetime | None:
    """A comparable, timezone-aware time from a property value (naive times are taken as UTC)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return None


def time_param(name: str, value: datetime | date | str | None) -> str | None:
    """Validate a time argument and pass it to Cypher as an ISO string (naive -> UTC)."""
    if value is None:
        return None
    when = as_time(value)
    if when is None:
        raise QueryError(
            f"{name} must be an ISO 8601 time such as 2024-05-01T12:00:00Z, not {value!r}"
        )
    return when.isoformat()


def kinds_param(kinds: Iterable[str | ElementKind] | None) -> list[str] | None:
    """Element kinds in any case -> their labels; None means every kind."""
    if kinds is None:
        return None
    if isinstance(kinds, str):
        kinds = [kinds]
    out = []
    for kind in kinds:
        match = next((k.value for k in ElementKind if k.value.lower() == str(kind).lower()), None)
        if match is None:
            raise QueryError(f"unknown kind {kind!r} (use Entity, Activity or Agent)")
        out.append(match)
    return out or None


def limit_param(limit: int | None) -> int | None:
    """A positive whole number, or None for no limit."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise QueryError(f"limit must be a positive whole number, not {limit!r}")
    return limit
