"""``lineagegraph.file(path_or_uri)``: mark an argument or return value as a data location.

A tracked function that receives or returns a :class:`FileRef` records the *location* (a node
named by :func:`lineagegraph.identity.location_id`, so it meets the same place written by a
Kubernetes Job or read by another tool) and, for a local file, the *version* it saw: a node
``SPECIALIZATION_OF`` the location whose id is :func:`~lineagegraph.identity.version_id` of the
location and the file's content hash. Two processes that see the same bytes therefore name the
same version without talking to each other. Remote URIs (``s3://``, ``gs://``, ...) are not read:
they are kept as locations, and the version is the one this process last wrote, when it did.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any

from lineagegraph.identity import location_id, version_id

__all__ = ["FileRef", "file"]

_CHUNK = 1 << 20
# Versions of remote locations written by this process (location -> version id): a later reader
# in the same process links to the version it knows existed when it started.
_written: dict[str, str] = {}
_written_lock = threading.Lock()


class FileRef:
    """A data location given to or returned by a tracked function."""

    __slots__ = ("_digest", "location", "path", "uri")

    def __init__(self, path_or_uri: str | os.PathLike[str]):
        text = os.fspath(path_or_uri)
        self.uri = text
        self.location = location_id(text)
        self.path: Path | None = Path(text) if "://" not in text else None
        self._digest: str | None = None

    def __repr__(self) -> str:
        return f"lineagegraph.file({self.uri!r})"

    def __fspath__(self) -> str:
        if self.path is None:
            raise TypeError(f"{self.uri} is not a local path")
        return str(self.path)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FileRef) and other.location == self.location

    def __hash__(self) -> int:
        return hash(self.location)

    @property
    def is_local(self) -> bool:
        return self.path is not None

    def digest(self, *, refresh: bool = False) -> str | None:
        """SHA-256 of a local file's content (None for remote or missing files)."""
        if self.path is None:
            return None
        if self._digest is None or refresh:
            try:
                with self.path.open("rb") as handle:
                    self._digest = hashlib.file_digest(handle, "sha256").hexdigest()
            except OSError:
                return None
        return self._digest

    def version(self, *, refresh: bool = False) -> str | None:
        """The version id this process sees now, or None when unknown."""
        digest = self.digest(refresh=refresh)
        if digest is not None:
            return version_id(self.location, f"sha256:{digest}")
        with _written_lock:
            return _written.get(self.location)

    def __lineagegraph_content__(self) -> Any:
        # As a function argument, a file is identified by where it is and what it holds now.
        return ("file", self.location, self.digest())


def remember_write(location: str, version: str) -> None:
    """Note that this process wrote ``version`` of a remote ``location``."""
    with _written_lock:
        _written[location] = version


def file(path_or_uri: str | os.PathLike[str]) -> FileRef:
    """Mark ``path_or_uri`` as a data location (local files are hashed by content when recorded)."""
    return path_or_uri if isinstance(path_or_uri, FileRef) else FileRef(path_or_uri)
