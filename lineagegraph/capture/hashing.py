"""Content hashes of Python values: the identity of a tracked function's inputs and return value.

A value's hash is SHA-256 over a type-tagged, length-prefixed encoding of its content, streamed
into one hasher. It depends on nothing process-specific (no ``hash()``, no ``id()``, no dict
order, no pickles of arrays), so the same value hashes the same in every process, under every
``PYTHONHASHSEED`` and on every Python >= 3.11 — which is what lets ``g(f(x))`` connect by value
when ``f`` and ``g`` run in different processes.

What is encoded, per type:

* ``None``, ``bool``, ``int``, ``float``, ``complex``, ``str``, ``bytes``/``bytearray``/
  ``memoryview``, ``datetime``/``date``/``time``, ``Decimal``, ``UUID``, ``Path``, enums.
* ``list``, ``tuple`` (element by element, in order); ``dict`` and ``set``/``frozenset``
  (order-independent: entries sorted by their own hashes).
* numpy arrays: dtype, shape and the raw buffer, hashed in place through the buffer protocol
  (a non-contiguous view is made contiguous first, the one unavoidable copy); object arrays
  element by element.
* pandas ``Series``/``DataFrame``: names, index and columns, each column hashed as an array
  (object/extension columns through ``pandas.util.hash_pandas_object``).
* dataclasses and pydantic models: class name and field values.
* Anything else (the documented fallback): a ``__lineagegraph_hash__()`` method if the class has
  one (returning ``bytes`` or ``str``); else the class name and the instance ``__dict__``/slots;
  else the class name and ``repr()`` when that repr does not contain a memory address. Values for
  which none of these works are *opaque*: they get a random identity, so they never connect to
  anything, and :attr:`ValueInfo.stable` is ``False``.

numpy and pandas are never imported here: a value is recognised as an array or frame by its
class's module, so ``import lineagegraph`` stays light.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import math
import struct
import uuid
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import PurePath
from typing import Any

__all__ = ["ValueInfo", "describe", "hash_value"]

ALGORITHM = "sha256"
DIGEST_HEX = 32
_MAX_DEPTH = 200
_PREVIEW = 80
_pack_len = struct.Struct("<Q").pack
_pack_float = struct.Struct("<d").pack


class _OpaqueError(Exception):
    """A value with no stable content encoding."""


class ValueInfo:
    """What capture records about one value: its digest, a short type name, a preview."""

    __slots__ = ("digest", "preview", "stable", "type_name")

    def __init__(self, digest: str, type_name: str, preview: str | None, stable: bool = True):
        self.digest = digest
        self.type_name = type_name
        self.preview = preview
        self.stable = stable


def _type_name(value: Any) -> str:
    cls = type(value)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _feed_len(update: Callable[[Any], None], tag: bytes, n: int) -> None:
    update(tag)
    update(_pack_len(n))


def _float_bytes(value: float) -> bytes:
    # One NaN, whatever its payload, so that equal-looking results agree.
    return b"\x7f\xf8\0\0\0\0\0\0" if math.isnan(value) else _pack_float(value)


def _encode(value: Any, update: Callable[[Any], None], depth: int, seen: set[int]) -> None:
    cls = type(value)
    # Exact-type dispatch first: the common small arguments take one branch each.
    if cls is str:
        data = value.encode("utf-8", "surrogatepass")
        _feed_len(update, b"s", len(data))
        update(data)
    elif cls is int:
        update(b"i" + str(value).encode() + b";")
    elif value is None:
        update(b"N")
    elif cls is bool:
        update(b"T" if value else b"F")
    elif cls is float:
        update(b"f" + _float_bytes(value))
    elif cls is bytes:
        _feed_len(update, b"b", len(value))
        update(value)
    elif cls in (list, tuple):
        _container(value, update, depth, seen, b"l" if cls is list else b"t")
    elif cls is dict:
        _unordered(((k, v) for k, v in value.items()), update, depth, seen, b"d", len(value))
    else:
        _encode_other(value, update, depth, seen)


def _container(value: Any, update: Callable[[Any], None], depth: int, seen: set[int], tag: bytes) -> None:
    if depth > _MAX_DEPTH or id(value) in seen:
        raise _OpaqueError("too deep or self-referencing")
    seen.add(id(value))
    _feed_len(update, tag, len(value))
    for item in value:
        _encode(item, update, depth + 1, seen)
    seen.discard(id(value))


def _unordered(items: Any, update: Callable[[Any], None], depth: int, seen: set[int], tag: bytes,
               size: int) -> None:
    # Equal dicts/sets compare equal whatever their order: hash each entry on its own, then sort.
    parts = []
    for item in items:
        h = hashlib.sha256()
        _encode(item, h.update, depth + 1, seen)
        parts.append(h.digest())
    parts.sort()
    _feed_len(update, tag, size)
    for part in parts:
        update(part)


def _encode_other(value: Any, update: Callable[[Any], None], depth: int, seen: set[int]) -> None:
    cls = type(value)
    module = cls.__module__
    if module == "numpy" and hasattr(value, "dtype") and hasattr(value, "shape"):
        _encode_array(value, update, depth, seen)
        return
    if module.startswith("pandas") and _encode_pandas(value, update, depth, seen):
        return
    if isinstance(value, enum.Enum):
        update(b"E" + _type_name(value).encode() + b"\0")
        _encode(value.value, update, depth + 1, seen)
    elif isinstance(value, bool):
        update(b"T" if value else b"F")
    elif isinstance(value, int):
        update(b"i" + str(int(value)).encode() + b";")
    elif isinstance(value, float):
        update(b"f" + _float_bytes(float(value)))
    elif isinstance(value, complex):
        update(b"c" + _float_bytes(value.real) + _float_bytes(value.imag))
    elif isinstance(value, str):
        _encode(str(value), update, depth, seen)
    elif isinstance(value, bytes | bytearray):
        _feed_len(update, b"b", len(value))
        update(value)  # hashlib reads a bytearray through the buffer protocol, no copy
    elif isinstance(value, memoryview):
        _feed_len(update, b"b", value.nbytes)
        update(value.cast("B") if value.contiguous else value.tobytes())
    elif isinstance(value, list | tuple):
        _container(value, update, depth, seen, b"l" if isinstance(value, list) else b"t")
    elif isinstance(value, dict):
        _unordered(((k, v) for k, v in value.items()), update, depth, seen, b"d", len(value))
    elif isinstance(value, set | frozenset):
        _unordered(iter(value), update, depth, seen, b"S", len(value))
    elif isinstance(value, datetime | date | time):
        update(b"D" + value.isoformat().encode() + b";")
    elif isinstance(value, Decimal | uuid.UUID):
        update(b"x" + _type_name(value).encode() + b"\0" + str(value).encode() + b";")
    elif isinstance(value, PurePath):
        update(b"p" + value.as_posix().encode("utf-8", "surrogatepass") + b";")
    elif hasattr(value, "__lineagegraph_content__"):
        # FileRef and friends: identified by what they point at.
        _encode(value.__lineagegraph_content__(), update, depth + 1, seen)
    elif dataclasses.is_dataclass(value):
        _encode_fields(value, [f.name for f in dataclasses.fields(value)], update, depth, seen)
    elif _is_pydantic(value):
        _encode_fields(value, list(type(value).model_fields), update, depth, seen)
    else:
        _fallback(value, update, depth, seen)


def _is_pydantic(value: Any) -> bool:
    return any(c.__module__.startswith("pydantic") and c.__name__ == "BaseModel" for c in type(value).__mro__)


def _encode_fields(value: Any, names: list[str], update: Callable[[Any], None], depth: int,
                   seen: set[int]) -> None:
    if depth > _MAX_DEPTH or id(value) in seen:
        raise _OpaqueError("too deep or self-referencing")
    seen.add(id(value))
    update(b"O" + _type_name(value).encode() + b"\0")
    _feed_len(update, b"n", len(names))
    for name in names:
        _encode(name, update, depth + 1, seen)
        _encode(getattr(value, name, None), update, depth + 1, seen)
    seen.discard(id(value))


def _fallback(value: Any, update: Callable[[Any], None], depth: int, seen: set[int]) -> None:
    custom = getattr(value, "__lineagegraph_hash__", None)
    if callable(custom):
        result = custom()
        data = result.encode() if isinstance(result, str) else bytes(result)
        update(b"H" + _type_name(value).encode() + b"\0")
        _feed_len(update, b"b", len(data))
        update(data)
        return
    state = getattr(value, "__dict__", None)
    slots = [s for c in type(value).__mro__ for s in getattr(c, "__slots__", ()) if hasattr(value, s)]
    if isinstance(state, dict) and (state or not slots):
        if state or _plain_repr(value) is None:
            _encode_fields(value, sorted(state), update, depth, seen)
            return
    elif slots:
        _encode_fields(value, sorted(set(slots)), update, depth, seen)
        return
    text = _plain_repr(value)
    if text is None:
        raise _OpaqueError(f"no stable content for {_type_name(value)}")
    update(b"r" + _type_name(value).encode() + b"\0" + text.encode("utf-8", "surrogatepass") + b";")


def _plain_repr(value: Any) -> str | None:
    try:
        text = repr(value)
    except Exception:
        return None
    return None if " at 0x" in text or " object at " in text else str(text)


def _encode_array(array: Any, update: Callable[[Any], None], depth: int, seen: set[int]) -> None:
    update(b"A" + array.dtype.str.encode() + b"\0")
    _feed_len(update, b"n", array.ndim)
    for dim in array.shape:
        update(_pack_len(int(dim)))
    if array.dtype.hasobject:
        for item in array.ravel(order="C"):
            _encode(item, update, depth + 1, seen)
        return
    if not array.flags.c_contiguous:
        import numpy

        array = numpy.ascontiguousarray(array)
    # The buffer itself, not a copy: hashlib reads through the buffer protocol.
    update(memoryview(array).cast("B") if array.ndim else array.tobytes())


def _encode_pandas(value: Any, update: Callable[[Any], None], depth: int, seen: set[int]) -> bool:
    import pandas

    if isinstance(value, pandas.DataFrame):
        update(b"PF")
        _encode(list(value.columns), update, depth + 1, seen)
        _encode_index(value.index, update, depth, seen)
        for position in range(value.shape[1]):
            _encode_column(value.iloc[:, position], update, depth, seen)
        return True
    if isinstance(value, pandas.Series):
        update(b"PS")
        _encode(value.name, update, depth + 1, seen)
        _encode_index(value.index, update, depth, seen)
        _encode_column(value, update, depth, seen)
        return True
    if isinstance(value, pandas.Index):
        _encode_index(value, update, depth, seen)
        return True
    return False


def _encode_index(index: Any, update: Callable[[Any], None], depth: int, seen: set[int]) -> None:
    import pandas

    if isinstance(index, pandas.RangeIndex):
        update(b"PR")
        _encode((index.start, index.stop, index.step), update, depth + 1, seen)
    else:
        update(b"PI")
        _encode_column(pandas.Series(index), update, depth, seen)


def _encode_column(series: Any, update: Callable[[Any], None], depth: int, seen: set[int]) -> None:
    import numpy
    import pandas

    update(b"PC" + str(series.dtype).encode() + b"\0")
    if isinstance(series.dtype, numpy.dtype) and not series.dtype.hasobject:
        _encode_array(series.to_numpy(), update, depth, seen)
    else:
        hashed = pandas.util.hash_pandas_object(series, index=False).to_numpy()
        _encode_array(hashed, update, depth, seen)


def hash_value(value: Any) -> str:
    """The full hex SHA-256 content hash of ``value`` (raises ``TypeError`` for an opaque value).

    :func:`describe` (what capture records) uses its first :data:`DIGEST_HEX` digits.
    """
    hasher = hashlib.sha256()
    try:
        _encode(value, hasher.update, 0, set())
    except _OpaqueError as exc:
        raise TypeError(str(exc)) from None
    return hasher.hexdigest()


def _preview(value: Any) -> str | None:
    cls = type(value)
    if value is None or cls in (bool, int, float):
        return repr(value)
    if cls is str:
        text: str = value
        return text if len(text) <= _PREVIEW else text[: _PREVIEW - 1] + "…"
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple):
        return "shape " + "x".join(str(d) for d in shape)
    if cls in (list, tuple, dict, set, frozenset):
        return f"{len(value)} items"
    return None


# Small scalars recur (flags, sizes, names): their descriptions are kept, keyed by type and value.
_SMALL: dict[tuple[type, Any], ValueInfo] = {}
# (Not floats: 0.0 == -0.0 as keys, but they encode differently.)
_SMALL_TYPES = (int, str, bytes)
_SMALL_MAX = 8192


def describe(value: Any) -> ValueInfo:
    """Hash ``value`` and describe it; never raises (an opaque value gets a random identity).

    The digest is the first 128 bits of the SHA-256 (32 hex digits): ample against collisions,
    and it halves what every record carries.
    """
    cls = type(value)
    small = cls in _SMALL_TYPES and (cls is int or len(value) <= 256)
    if small:
        key = (cls, value)
        found = _SMALL.get(key)
        if found is not None:
            return found
    hasher = hashlib.sha256()
    try:
        _encode(value, hasher.update, 0, set())
        info = ValueInfo(hasher.hexdigest()[:DIGEST_HEX], _type_name(value), _preview(value))
    except Exception:
        # Opaque (or a __lineagegraph_hash__ that failed): a unique identity that connects to nothing.
        return ValueInfo(uuid.uuid4().hex, _type_name(value), None, stable=False)
    if small:
        if len(_SMALL) >= _SMALL_MAX:
            _SMALL.clear()
        _SMALL[key] = info
    return info
