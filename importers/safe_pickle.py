"""Decode untrusted Python pickles that should hold plain data, without running anything.

Other tools' databases keep some values as pickles (mltrace's ``git_tags`` and ``stale`` columns).
``pickle.loads`` on such bytes can run any code the writer chose: a pickle may name any importable
callable (``os.system``) and call it. :func:`loads` uses an unpickler whose ``find_class`` knows a
handful of harmless builtin types and refuses every other global, and which refuses persistent
ids, so only data built from pickle's own opcodes (None, bools, numbers, strings, bytes, lists,
tuples, dicts) plus sets, frozensets, bytearrays and complex numbers comes out. Anything else is
:class:`UnsafePickleError`, raised before anything named in the pickle is looked up or called.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

__all__ = ["UnsafePickleError", "loads"]

# Globals a plain-data pickle may need (protocols 0-3 build these through find_class). Each is a
# type whose construction from data has no side effects.
_ALLOWED: dict[tuple[str, str], Any] = {
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "bytearray"): bytearray,
    ("builtins", "complex"): complex,
    ("__builtin__", "set"): set,  # Python 2 pickles name the module __builtin__
    ("__builtin__", "frozenset"): frozenset,
    ("__builtin__", "bytearray"): bytearray,
    ("__builtin__", "complex"): complex,
}



def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    # Protocols 0-2 write a bytes value as `_codecs.encode(text, "latin1")`. Only that exact form
    # is honoured: another codec name would make the codec registry import a module by name.
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError(f"refused _codecs.encode with codec {encoding!r}")
    return text.encode("latin-1")


_ALLOWED[("_codecs", "encode")] = _latin1_bytes

# A decoded column value larger than this is not the small metadata we expect.
MAX_BYTES = 16 * 1024 * 1024


class UnsafePickleError(ValueError):
    """The bytes are not a pickle of plain data (or not a pickle at all)."""


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(f"refused to load {module}.{name}: only plain data is decoded") from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("refused a persistent id: only plain data is decoded")


def loads(data: bytes | bytearray | memoryview) -> Any:
    """Decode ``data`` if it is a pickle of plain builtin values; raise :class:`UnsafePickleError` otherwise."""
    raw = bytes(data)
    if len(raw) > MAX_BYTES:
        raise UnsafePickleError(f"pickle of {len(raw)} bytes is larger than the {MAX_BYTES} allowed")
    try:
        return _PlainUnpickler(io.BytesIO(raw)).load()
    except UnsafePickleError:
        raise
    except Exception as exc:  # any malformed input: truncated, wrong opcodes, bad unicode, ...
        raise UnsafePickleError(f"not a readable pickle: {exc}") from exc
