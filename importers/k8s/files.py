"""Reading recorded Kubernetes objects from files: ``kubectl get -o json|yaml`` output and watch streams.

Accepted, detected from the content:

* one object, or a ``List`` (``kind: List`` / ``*List`` with ``items``), as JSON or YAML;
* multi-document YAML (``---`` separated), each document an object, a List or a watch event;
* watch-event streams: ``{"type": ..., "object": ...}`` records one per line (NDJSON, the watch
  API) or concatenated pretty-printed JSON (``kubectl get -w -o json --output-watch-events``),
  and concatenated plain objects (``kubectl get -w -o json`` without event types).

A file is parsed completely before anything of it is recorded, so a truncated stream or a document
that is not an object raises one :class:`~lineagegraph.errors.InputError` naming the file and line
and records nothing of that file. ``BOOKMARK`` events carry no object and are skipped; ``ERROR``
events (a failed watch, e.g. 410 Gone) are an error for the file.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from lineagegraph.errors import InputError
from lineagegraph.importers.k8s.rawstore import WatchEvent, describe

__all__ = ["STDIN", "read_events", "read_source", "stream_source"]

STDIN = "-"
_EVENT_TYPES = ("ADDED", "MODIFIED", "DELETED")


def _read_text(source: str) -> tuple[str, str]:
    """(text, name) of a file, or of standard input for ``-``."""
    if source == STDIN:
        return sys.stdin.read(), "stdin"
    try:
        return Path(source).read_text(encoding="utf-8"), source
    except UnicodeDecodeError as exc:
        raise InputError("not UTF-8 text", source=source, location=f"byte {exc.start}") from exc
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror or exc}", source=source) from exc


def read_source(source: str) -> list[WatchEvent]:
    """The events recorded in a file (or ``-`` for standard input), in order."""
    text, name = _read_text(source)
    return read_events(text, name)


def stream_source(source: str) -> Iterator[WatchEvent]:
    """Like :func:`read_source`, but with memory flat in the number of events of a JSON stream.

    The whole stream is checked first (parsed and dropped), so a bad file still raises here,
    before anything is recorded; the returned iterator then parses it again, record by record.
    """
    text, name = _read_text(source)
    body = text.lstrip("\ufeff \t\r\n")
    if not body or body[0] not in "{[":
        return iter(read_events(text, name))
    body = text.lstrip("\ufeff")
    for _ in _json_records(body, name):
        pass
    return _json_records(body, name)


def read_events(text: str, source: str) -> list[WatchEvent]:
    """Parse a whole document or stream; raise :class:`InputError` naming the line at fault."""
    stripped = text.lstrip("\ufeff \t\r\n")
    if not stripped:
        raise InputError("the file is empty", source=source)
    if stripped[0] in "{[":
        return list(_json_records(text.lstrip("\ufeff"), source))
    return _yaml_documents(text, source)


def _json_records(text: str, source: str) -> Iterator[WatchEvent]:
    decoder = json.JSONDecoder()
    position, length = 0, len(text)
    # The line number is carried along (counting from the start for every record is quadratic).
    line, counted = 1, 0
    while True:
        while position < length and text[position] in " \t\r\n":
            position += 1
        if position >= length:
            return
        line += text.count("\n", counted, position)
        counted = position
        try:
            value, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            truncated = exc.pos >= length - 1 or "Unterminated" in exc.msg or "Expecting" in exc.msg
            reason = "truncated or malformed JSON" if truncated else "malformed JSON"
            raise InputError(f"{reason} ({exc.msg}) in the record starting at line {line}",
                             source=source, location=str(exc.lineno)) from exc
        yield from _events_of(value, source, str(line))
        position = end


def _yaml_documents(text: str, source: str) -> list[WatchEvent]:
    events: list[WatchEvent] = []
    try:
        for number, document in enumerate(yaml.safe_load_all(text), start=1):
            if document is None:
                continue
            events.extend(_events_of(document, source, f"document {number}"))
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise InputError(f"not valid YAML or JSON: {exc.problem or exc}", source=source,
                         location=str(line) if line else None) from exc
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML or JSON: {exc}", source=source) from exc
    return events


def _events_of(value: Any, source: str, where: str) -> list[WatchEvent]:
    """The events one parsed record stands for: an event, an object, or a List of objects."""
    if isinstance(value, list):
        return [e for i, item in enumerate(value) for e in _events_of(item, source, f"{where} item {i + 1}")]
    if not isinstance(value, dict):
        raise InputError(f"{describe(value)} is not a Kubernetes object, List or watch event",
                         source=source, location=where)
    if "type" in value and "object" in value and "kind" not in value:
        kind = value["type"]
        if kind == "BOOKMARK":
            return []
        if kind == "ERROR":
            status = value["object"] if isinstance(value["object"], dict) else {}
            raise InputError(f"the watch stream reports an error: {status.get('message') or status}",
                             source=source, location=where)
        if kind not in _EVENT_TYPES or not isinstance(value["object"], dict):
            raise InputError(f"unknown watch event type {kind!r} or an event without an object",
                             source=source, location=where)
        return [WatchEvent(type=kind, object=value["object"])]
    if isinstance(value.get("items"), list) and str(value.get("kind", "")).endswith("List"):
        return [e for i, item in enumerate(value["items"])
                for e in _events_of(item, source, f"{where} item {i + 1}")]
    if "apiVersion" not in value and "kind" not in value and "metadata" not in value:
        raise InputError("not a Kubernetes object (no apiVersion, kind or metadata), List or watch event",
                         source=source, location=where)
    return [WatchEvent(type="ADDED", object=value)]
