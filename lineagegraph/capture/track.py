"""``@lineagegraph.track``: record every call of a function as PROV lineage, by value.

Each call becomes an Activity (qualified name, version, start/end, duration, status, exception
type, git commit of the function's repository, this process's run information). Every argument
and the return value become Entities named by the content hash of the value
(:mod:`lineagegraph.capture.hashing`), so when ``g(f(x))`` runs, ``g``'s input *is* ``f``'s output
in the graph — in one process or across processes — without proxy objects. The Activity's id is
the *artifact id*: a hash of the function, its version and its input hashes, so calling a function
again on the same inputs converges on the same node.

``None`` and booleans are not recorded as entities: every procedure returns ``None`` and flags are
everywhere, and as values they would wrongly connect unrelated calls.

Capture never changes what the function does or returns, and a failure inside capture is logged,
never raised — except the opt-in mutation check, whose whole point is to raise.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterable
from json.encoder import encode_basestring
from typing import Any, ParamSpec, TypeVar, cast, overload

from lineagegraph.capture import runtime
from lineagegraph.capture.files import FileRef, remember_write
from lineagegraph.capture.hashing import describe
from lineagegraph.capture.records import call_id
from lineagegraph.errors import LineageGraphError
from lineagegraph.identity import version_id

__all__ = ["MutationError", "track"]

P = ParamSpec("P")
R = TypeVar("R")
MAX_YIELDS_RECORDED = 100
_SKIP_TYPES = (type(None), bool)


class MutationError(LineageGraphError):
    """A tracked function with ``check_mutation=True`` changed one of its arguments in place."""


def ref_for(role: str, value: Any) -> tuple[dict[str, Any], str] | None:
    """The record of one input/output value and the digest its identity contributes (None: skipped)."""
    if type(value) in _SKIP_TYPES:
        return None
    if isinstance(value, FileRef):
        version = value.version()
        digest = value.digest()
        ref: dict[str, Any] = {"r": role, "loc": value.location}
        if version:
            ref["v"] = version
        if digest:
            ref["h"] = digest
        return ref, hashlib.sha256(f"file\0{value.location}\0{digest}".encode()).hexdigest()
    info = describe(value)
    ref = {"r": role, "h": info.digest, "t": info.type_name}
    if info.preview is not None:
        ref["p"] = info.preview
    if not info.stable:
        ref["s"] = False
    return ref, info.digest


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode
_quote = encode_basestring  # a JSON string literal, as the encoder writes it with ensure_ascii=False
# Encoded refs of small recurring arguments, keyed by (role, type, value): most calls pass the same
# few flags, sizes and names, and encoding them again would dominate the call's cost.
_REF_CACHE: dict[tuple[str, type, Any], tuple[str, str]] = {}
_REF_CACHE_MAX = 8192


def _encode_ref(ref: dict[str, Any]) -> str:
    # A value ref has a fixed shape: written out directly, it costs a quarter of the JSON encoder.
    if "loc" in ref or set(ref) - {"r", "h", "t", "p", "s"}:
        return _dumps(ref)
    text = f'{{"r":{_quote(ref["r"])},"h":"{ref["h"]}","t":{_quote(ref["t"])}'
    if "p" in ref:
        text += f',"p":{_quote(ref["p"])}'
    if "s" in ref:
        text += ',"s":false'
    return text + "}"


def ref_json(role: str, value: Any) -> tuple[str, str] | None:
    """:func:`ref_for`, with the ref already encoded as JSON text (cached for small values)."""
    cls = type(value)
    if cls is int or ((cls is str or cls is bytes) and len(value) <= 256):
        key = (role, cls, value)
        hit = _REF_CACHE.get(key)
        if hit is not None:
            return hit
        found = ref_for(role, value)
        assert found is not None
        encoded = (_encode_ref(found[0]), found[1])
        if len(_REF_CACHE) >= _REF_CACHE_MAX:
            _REF_CACHE.clear()
        _REF_CACHE[key] = encoded
        return encoded
    found = ref_for(role, value)
    return None if found is None else (_encode_ref(found[0]), found[1])


class _Spec:
    """What the decorator knows about one function, computed once."""

    def __init__(self, func: Callable[..., Any], name: str | None, version: str | int | None,
                 ignore: Iterable[str], remove: Iterable[str], tags: Iterable[str],
                 fields: dict[str, Any] | None, check_mutation: bool):
        self.func = func
        self.name = name or f"{func.__module__}.{func.__qualname__}"
        self.version = None if version is None else str(version)
        self.ignore = frozenset(ignore)
        self.remove = frozenset(remove)
        self.tags = sorted(tags)
        self.fields = dict(fields or {})
        self.check_mutation = check_mutation
        self.source_file = getattr(getattr(func, "__code__", None), "co_filename", "")
        self._git: tuple[str, bool] | bool | None = False  # False: not looked up yet
        signature = inspect.signature(func)
        self.positional: list[str] = []
        self.var_positional: str | None = None
        self.defaults: dict[str, Any] = {}
        for param in signature.parameters.values():
            if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
                self.positional.append(param.name)
            elif param.kind is param.VAR_POSITIONAL:
                self.var_positional = param.name
            if param.default is not param.empty:
                self.defaults[param.name] = param.default
        self.named = sum(1 for p in signature.parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))
        unknown = (self.ignore | self.remove) - set(signature.parameters)
        if unknown:
            raise ValueError(f"track({self.name}): no parameter named {', '.join(sorted(unknown))}")
        self._prefix = hashlib.sha256(f"{self.name}\0{self.version}\0".encode()).copy
        # The parts of every record of this function that never change, encoded once.
        self.head = f'{{"k":"call","fn":{_dumps(self.name)},"ver":{_dumps(self.version)},"aid":"'
        extra = ""
        if self.tags:
            extra += f',"tags":{_dumps(self.tags)}'
        if self.fields:
            extra += f',"fields":{_dumps(self.fields)}'
        self.extra = extra
        self._git_json: str | None = None

    def git(self) -> tuple[str, bool] | None:
        if self._git is False:
            self._git = runtime.git_info(self.source_file)
        return self._git  # type: ignore[return-value]

    def git_json(self) -> str:
        if self._git_json is None:
            self._git_json = _dumps(self.git())
        return self._git_json

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[tuple[str, Any]]:
        """(parameter name, value) pairs of a call, defaults filled in; no ``inspect`` per call."""
        pairs: list[tuple[str, Any]] = []
        npos = len(self.positional)
        for index, value in enumerate(args):
            if index < npos:
                pairs.append((self.positional[index], value))
            else:
                pairs.append((f"{self.var_positional or 'args'}[{index - npos}]", value))
        pairs.extend(kwargs.items())
        if self.defaults and len(pairs) < self.named:
            given = {name for name, _ in pairs}
            pairs.extend((name, value) for name, value in self.defaults.items() if name not in given)
        return pairs

    def begin(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Call:
        ins: list[str] = []
        identity = self._prefix()
        watched: list[tuple[str, Any, str]] = []
        for name, value in sorted(self.bind(args, kwargs), key=lambda pair: pair[0]):
            base = name.split("[", 1)[0] if "[" in name else name
            if base in self.remove:
                continue
            found = ref_json(name, value)
            if found is None:
                continue
            ref, digest = found
            ins.append(ref)
            if base not in self.ignore:
                identity.update(name.encode() + b"\0" + digest.encode())
            if self.check_mutation and not isinstance(value, FileRef):
                watched.append((name, value, digest))
        return _Call(self, ins, identity.hexdigest()[:32], watched)


class _Call:
    __slots__ = ("artifact", "ins", "spec", "t0", "watched")

    def __init__(self, spec: _Spec, ins: list[str], artifact: str, watched: list[tuple[str, Any, str]]):
        self.spec = spec
        self.ins = ins
        self.artifact = artifact
        self.watched = watched
        self.t0 = time.time()

    def _mutated(self) -> list[str]:
        return [name for name, value, digest in self.watched if describe(value).digest != digest]

    def finish(self, outs: list[str], error: BaseException | None, n_yield: int | None = None) -> None:
        """Emit the call's record; raise :class:`MutationError` when asked to check and an input changed."""
        t1 = time.time()
        mutated: list[str] = []
        try:
            spec = self.spec
            if self.watched:
                mutated = self._mutated()
            # Assembled as text from parts encoded once (see _Spec.head): the JSON encoder is the
            # largest cost of a small call otherwise. The spool reader validates every record.
            status = "failed" if error is not None or mutated else "ok"
            body = (f'{spec.head}{self.artifact}","t0":{self.t0!r},"t1":{t1!r},"st":"{status}",'
                    f'"ins":[{",".join(self.ins)}],"outs":[{",".join(outs)}],"git":{spec.git_json()}{spec.extra}')
            if error is not None:
                body += f',"exc":{_dumps(type(error).__qualname__)}'
            elif mutated:
                body += ',"exc":"MutationError"'
            if n_yield is not None:
                body += f',"n_yield":{n_yield}'
            runtime.emit_json(body + "}")
        except Exception as exc:  # capture must never break the caller
            runtime._log.warning("lineagegraph: could not record a call of %s: %s", self.spec.name, exc)
        if mutated and error is None:
            raise MutationError(f"{self.spec.name} changed its argument(s) {', '.join(mutated)} in place; "
                                "tracked functions must not mutate their inputs (copy them first)")

    def output(self, role: str, value: Any) -> list[str]:
        if isinstance(value, FileRef):
            if value.is_local:
                value.digest(refresh=True)  # the function just wrote it
            else:
                remember_write(value.location, version_id(value.location, call_id(self.artifact)))
        found = ref_json(role, value)
        return [] if found is None else [found[0]]


def _begin(spec: _Spec, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Call | None:
    if not runtime.enabled():
        return None
    try:
        return spec.begin(args, kwargs)
    except Exception as exc:  # capture must never break the caller
        runtime._log.warning("lineagegraph: could not record a call of %s: %s", spec.name, exc)
        return None


def _wrap(spec: _Spec) -> Callable[..., Any]:
    func = spec.func

    if inspect.isasyncgenfunction(func):
        async def agen_wrapper(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            call = _begin(spec, args, kwargs)
            outs: list[str] = []
            count = 0
            try:
                async for item in func(*args, **kwargs):
                    if call is not None and count < MAX_YIELDS_RECORDED:
                        outs.extend(call.output(f"yield[{count}]", item))
                    count += 1
                    yield item
            except BaseException as exc:
                if call is not None and not isinstance(exc, GeneratorExit):
                    call.finish(outs, exc, count)
                elif call is not None:
                    call.finish(outs, None, count)
                raise
            if call is not None:
                call.finish(outs, None, count)

        return agen_wrapper

    if inspect.iscoroutinefunction(func):
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            call = _begin(spec, args, kwargs)
            try:
                result = await cast(Callable[..., Awaitable[Any]], func)(*args, **kwargs)
            except BaseException as exc:
                if call is not None:
                    call.finish([], exc)
                raise
            if call is not None:
                call.finish(call.output("return", result), None)
            return result

        return async_wrapper

    if inspect.isgeneratorfunction(func):
        def gen_wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
            call = _begin(spec, args, kwargs)
            outs: list[str] = []
            count = 0
            inner = func(*args, **kwargs)
            try:
                item = next(inner)
                while True:
                    if call is not None and count < MAX_YIELDS_RECORDED:
                        outs.extend(call.output(f"yield[{count}]", item))
                    count += 1
                    try:
                        sent = yield item
                    except GeneratorExit:
                        inner.close()
                        raise
                    except BaseException as thrown:
                        item = inner.throw(thrown)
                        continue
                    item = inner.send(sent)
            except StopIteration as stop:
                if call is not None:
                    call.finish(outs + call.output("return", stop.value), None, count)
                return stop.value
            except GeneratorExit:
                # Closed before the end (a consumer that stopped early): what was yielded counts.
                if call is not None:
                    call.finish(outs, None, count)
                raise
            except BaseException as exc:
                if call is not None:
                    call.finish(outs, exc, count)
                raise

        return gen_wrapper

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        call = _begin(spec, args, kwargs)
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            if call is not None:
                call.finish([], exc)
            raise
        if call is not None:
            call.finish(call.output("return", result), None)
        return result

    return wrapper


@overload
def track(func: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def track(
    *,
    name: str | None = None,
    version: str | int | None = None,
    ignore: Iterable[str] = (),
    remove: Iterable[str] = (),
    tags: Iterable[str] = (),
    fields: dict[str, Any] | None = None,
    check_mutation: bool = False,
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def track(
    func: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    version: str | int | None = None,
    ignore: Iterable[str] = (),
    remove: Iterable[str] = (),
    tags: Iterable[str] = (),
    fields: dict[str, Any] | None = None,
    check_mutation: bool = False,
) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Record every call of the decorated function as lineage.

    ``name``: the qualified name recorded (default ``module.qualname``). ``version``: bump it when
    the function's behaviour changes; it is part of the artifact id. ``ignore``: parameters
    recorded but left out of the artifact id (a logger, a verbosity flag). ``remove``: parameters
    not recorded at all (a connection, a password). ``tags`` and ``fields``: recorded on each
    call's Activity. ``check_mutation``: hash the arguments again after the call and raise
    :class:`MutationError` if one changed in place.

    Works on functions, methods (decorate below ``@classmethod``/``@staticmethod``), generators
    (recorded when exhausted or closed), async functions and async generators, in threads and in
    worker processes.
    """

    def decorate(target: Callable[P, R]) -> Callable[P, R]:
        if isinstance(target, classmethod | staticmethod):
            inner = decorate(target.__func__)
            return type(target)(inner)
        spec = _Spec(target, name, version, ignore, remove, tags, fields, check_mutation)
        wrapped = functools.wraps(target)(_wrap(spec))
        wrapped.__lineagegraph_track__ = spec  # type: ignore[attr-defined]
        return cast(Callable[P, R], wrapped)

    if func is not None:
        return decorate(func)
    return decorate
