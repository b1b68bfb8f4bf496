"""Deterministic ids that every source shares, so equal things from different sources meet.

Three rules, used by every importer and capture path:

* A **location** (a file, a bucket object, a table) is named by its normalised URI:
  ``gs://bucket/model.pb`` written by a Kubernetes Job, read by a decorated function and named in an
  OpenLineage event is one node. :func:`location_id` does the normalising.
* A location that is written more than once is not one entity: each write is a **version**,
  ``SPECIALIZATION_OF`` the location, named by :func:`version_id` from the location and the run
  that wrote it. Readers use the version that existed when they started, where that is known.
* Everything else a source invents (runs, jobs, components, Kubernetes objects) is namespaced by
  source with :func:`source_id`, so unrelated sources never collide.

A **value** identified only by its content (a function's return value) is :func:`value_id` of its
digest, whoever computed it.
"""

from __future__ import annotations

import hashlib
import os
import re
from urllib.parse import quote, unquote, urlsplit, urlunsplit

__all__ = ["location_id", "source_id", "value_id", "version_id"]

URN_PREFIX = "urn:lineagegraph"

# Scheme aliases that name the same store (``s3a://`` and ``s3n://`` are Hadoop's names for S3).
_SCHEME_ALIASES = {"s3a": "s3", "s3n": "s3", "gcs": "gs"}
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_SAFE_PART = re.compile(r"[^A-Za-z0-9._~\-]")


def location_id(uri: str, *, base: str | None = None) -> str:
    """The id of a data location: its URI, normalised so that spellings of one place agree.

    * Scheme and host are lower-cased, Hadoop aliases folded (``s3a://`` -> ``s3://``).
    * A plain path becomes an absolute ``file://`` URI (relative to ``base``, else the working
      directory); ``file:`` URIs are made absolute the same way.
    * A password in the authority is dropped (``user:pw@host`` -> ``user@host``): it is never
      identity and must never reach a node id. A user name stays: in ``abfss://container@account``
      it names the container.
    * A URI without an authority (``bigquery:project.dataset.table``) keeps its scheme and path.
    * Dot segments and duplicate slashes in the path are removed; a trailing slash is kept only
      for the root (``gs://bucket/data/`` and ``gs://bucket/data`` are one prefix).
    """
    text = uri.strip()
    if not text:
        raise ValueError("an empty string is not a location")
    if _WINDOWS_DRIVE.match(text) or not _SCHEME.match(text):
        return _file_uri(text, base)
    parts = urlsplit(text)
    scheme = _SCHEME_ALIASES.get(parts.scheme.lower(), parts.scheme.lower())
    if scheme == "file":
        return _file_uri(unquote(parts.path), base)
    if "//" not in text[len(parts.scheme) + 1:][:2]:  # no authority: an opaque name, kept as it is
        return f"{scheme}:{parts.path}" + (f"?{parts.query}" if parts.query else "")
    netloc = (parts.hostname or "").lower()
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    path = _clean_path(parts.path)
    return urlunsplit((scheme, netloc, path, parts.query, ""))


def _file_uri(path: str, base: str | None) -> str:
    if _WINDOWS_DRIVE.match(path):
        return "file:///" + quote(path.replace("\\", "/"), safe="/:")
    absolute = path if os.path.isabs(path) else os.path.join(base or os.getcwd(), path)
    return "file://" + quote(_clean_path(os.path.normpath(absolute)), safe="/:@!$&'()*+,;=~")


def _clean_path(path: str) -> str:
    if not path:
        return ""
    segments: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    return "/" + "/".join(segments)


def version_id(location: str, writer: str) -> str:
    """The id of the version of ``location`` that the run ``writer`` wrote.

    ``location`` must already be a :func:`location_id`; ``writer`` is the writing activity's id.
    """
    digest = hashlib.sha256(writer.encode()).hexdigest()[:16]
    return f"{location}#version={digest}"


def value_id(digest: str, algorithm: str = "sha256") -> str:
    """The id of a value known only by its content hash."""
    if not re.fullmatch(r"[0-9a-f]{16,128}", digest):
        raise ValueError(f"not a hex digest: {digest!r}")
    return f"{URN_PREFIX}:value:{algorithm}:{digest}"


def source_id(source: str, *parts: str) -> str:
    """A source-namespaced id: ``urn:lineagegraph:<source>:<part>:...``, each part escaped.

    ``source`` is the importer's name (``k8s``, ``openlineage``, ``track``, ...). Parts keep
    letters, digits and ``._~-``; anything else is percent-encoded, so a ``:`` inside a part can
    never make two different part lists collide.
    """
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", source):
        raise ValueError(f"not a source name: {source!r}")
    if not parts:
        raise ValueError("source_id needs at least one part")
    escaped = [_SAFE_PART.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), p) for p in parts]
    return ":".join((URN_PREFIX, source, *escaped))
