"""Reading another tool's PostgreSQL database: connection, a consistent snapshot, schema checks.

Shared by the importers that read databases (:mod:`.provenance_repo`, :mod:`.mltrace`). A
connection URL never carries a password here: the password comes separately (settings or the
environment), or libpq finds it itself in ``PGPASSWORD`` / ``~/.pgpass``. Every failure becomes an
:class:`~lineagegraph.errors.InputError` that names the database (its URL without credentials) and,
where there is one, the table or record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.rows import dict_row

from lineagegraph.errors import InputError
from lineagegraph.model import Element, Relation, stable_key
from lineagegraph.store import GraphStore

__all__ = ["Delta", "FingerprintLookup", "RecordGroup", "display_url", "fingerprints_in", "read_snapshot",
           "require_columns", "select_changed", "url_password"]

FINGERPRINT = "source_fingerprint"


def url_password(url: str) -> str | None:
    """The password written inside ``url``, if any (the CLI refuses such URLs on its command line)."""
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def display_url(url: str) -> str:
    """``url`` without any password: the name a source gets in summaries, errors and import runs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = (f"{parts.username}@" if parts.username else "") + host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@contextmanager
def read_snapshot(url: str, password: str | None, source: str) -> Iterator[psycopg.Cursor[dict[str, Any]]]:
    """A cursor in a read-only REPEATABLE READ transaction: every table read sees one moment."""
    if not url.startswith(("postgresql://", "postgres://")):
        raise InputError("not a PostgreSQL URL (postgresql://[user@]host[:port]/database)", source=source)
    kwargs: dict[str, Any] = {"connect_timeout": 10, "application_name": "lineagegraph-import"}
    if password is not None:
        kwargs["password"] = password
    try:
        conn = psycopg.connect(url, row_factory=dict_row, **kwargs)
    except psycopg.Error as exc:
        raise InputError(f"cannot connect: {_first_line(exc)}", source=source) from exc
    try:
        conn.read_only = True
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with conn.transaction(), conn.cursor() as cursor:
            yield cursor
    except psycopg.Error as exc:
        raise InputError(f"reading the database failed: {_first_line(exc)}", source=source) from exc
    finally:
        conn.close()


def require_columns(cursor: psycopg.Cursor[dict[str, Any]], source: str, what: str,
                    tables: Mapping[str, frozenset[str]]) -> None:
    """Fail unless every table exists (in the search path) with at least the given columns."""
    cursor.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = ANY(current_schemas(false)) AND table_name = ANY(%s)",
        (list(tables),),
    )
    found: dict[str, set[str]] = {}
    for row in cursor.fetchall():
        found.setdefault(row["table_name"], set()).add(row["column_name"])
    missing_tables = sorted(t for t in tables if t not in found)
    if missing_tables:
        raise InputError(f"not {what}: table(s) {', '.join(missing_tables)} missing", source=source)
    for table, columns in tables.items():
        absent = sorted(columns - found[table])
        if absent:
            raise InputError(f"unknown schema of {what}: table {table} lacks column(s) {', '.join(absent)}",
                             source=source, location=table)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:500]


@dataclass
class RecordGroup:
    """What one source record (a row and the rows that hang off it) becomes in the graph.

    ``main`` is the element that stands for the record; it carries the record's fingerprint, so a
    later import can tell whether the record is new, changed, or already in the graph as it is.
    """

    main: Element
    others: list[Element] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)

    def seal(self, record: Any) -> RecordGroup:
        """Stamp ``main`` with the fingerprint of ``record`` (any JSON-able description of it)."""
        self.main.attributes[FINGERPRINT] = stable_key(record)
        return self


@dataclass
class Delta:
    """Which records of a source are new, changed, or unchanged since the last import."""

    new: int = 0
    changed: int = 0
    unchanged: int = 0
    elements: list[Element] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)

    def describe(self) -> str:
        return f"{self.new} new, {self.changed} changed, {self.unchanged} unchanged record(s)"


FingerprintLookup = Callable[[list[str]], Mapping[str, str]]
"""Given element ids, the fingerprints the graph holds for those of them that carry one."""


def fingerprints_in(store: GraphStore) -> FingerprintLookup:
    """A lookup of recorded fingerprints in ``store``, for an importer's ``known`` argument.

    The importers never talk to Neo4j themselves; the caller hands them this read-only question.
    """

    def lookup(ids: list[str]) -> Mapping[str, str]:
        rows = store.read(
            "UNWIND $ids AS id MATCH (n:Element {id: id}) WHERE n.source_fingerprint IS NOT NULL "
            "RETURN n.id AS id, n.source_fingerprint AS fp",
            ids=ids,
        )
        return {row["id"]: row["fp"] for row in rows}

    return lookup


def select_changed(known: FingerprintLookup | None, groups: Iterable[RecordGroup]) -> Delta:
    """Keep the groups whose record is not yet in the graph with the same fingerprint.

    Without a lookup (a first import from Python, a full rewrite) every group counts as new. A node
    without a fingerprint (a stub, or another source's node) means the record is new here.
    """
    groups = list(groups)
    recorded = known([g.main.id for g in groups]) if known is not None and groups else {}
    delta = Delta()
    for group in groups:
        if group.main.id in recorded:
            if recorded[group.main.id] == group.main.attributes.get(FINGERPRINT):
                delta.unchanged += 1
                continue
            delta.changed += 1
        else:
            delta.new += 1
        delta.elements.append(group.main)
        delta.elements.extend(group.others)
        delta.relations.extend(group.relations)
    return delta
