"""Components, component runs and pipeline runs, mltrace-style, so that ``bt OUTPUT_ID`` can answer.

* :func:`component` creates (or fetches, within this process) a pipeline component: an Agent with
  a description, an owner and tags.
* :func:`component_run` is a context manager around one run of a component; the run's
  ``log_input``/``log_output`` name what it read and wrote: a :func:`~lineagegraph.file` or path
  (a location, versioned by content when it is a local file), an id string (an I/O pointer that
  another run may log too), or any other value (identified by its content hash, as ``@track``
  does). The run records the git commit of the caller's repository and a digest of the code.
* :func:`register` decorates a function so each call is a component run; ``inputs``/``outputs``
  name the function's parameters or local variables whose values (at return) are the run's I/O,
  as the mltrace design describes, or give the values themselves.
* :func:`pipeline_run` groups the component runs inside it.
* :func:`log_output` logs the id of a served prediction on the current run, so that
  ``lineagegraph bt`` can trace it back.

A run's id is a hash of what it did (component, code, commit, inputs, outputs), so re-running a
pipeline on unchanged inputs converges on the same graph instead of growing it.
"""

from __future__ import annotations

import contextvars
import functools
import hashlib
import inspect
import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from types import FrameType, TracebackType
from typing import Any, ParamSpec, TypeVar, cast

from lineagegraph.capture import runtime
from lineagegraph.capture.files import FileRef, remember_write
from lineagegraph.capture.records import output_node_id
from lineagegraph.capture.track import ref_for
from lineagegraph.identity import source_id, version_id

__all__ = ["Component", "ComponentRun", "PipelineRun", "component", "component_run", "log_output",
           "pipeline_run", "register"]

P = ParamSpec("P")
R = TypeVar("R")

_current_run: contextvars.ContextVar[ComponentRun | None] = contextvars.ContextVar("lineagegraph_run", default=None)
_current_pipeline: contextvars.ContextVar[PipelineRun | None] = contextvars.ContextVar(
    "lineagegraph_pipeline", default=None)
_components: dict[str, Component] = {}
_file_digests: dict[tuple[str, float], str] = {}


class Component:
    """A pipeline component (an Agent in the graph): name, description, owner, tags."""

    def __init__(self, name: str, description: str | None = None, owner: str | None = None,
                 tags: Iterable[str] = ()):
        if not name:
            raise ValueError("a component needs a name")
        self.name = name
        self.description = description
        self.owner = owner
        self.tags = sorted(set(tags))

    @property
    def id(self) -> str:
        return source_id("pipeline", "component", self.name)

    def _emit(self) -> None:
        runtime.emit({"k": "component", "name": self.name, "description": self.description, "owner": self.owner,
                      "tags": self.tags})

    def __repr__(self) -> str:
        return f"Component({self.name!r})"


def component(name: str, description: str | None = None, owner: str | None = None,
              tags: Iterable[str] | None = None) -> Component:
    """Create the component ``name``, or fetch it and update what is given."""
    found = _components.get(name)
    if found is None:
        found = _components[name] = Component(name, description, owner, tags or ())
    else:
        if description is not None:
            found.description = description
        if owner is not None:
            found.owner = owner
        if tags is not None:
            found.tags = sorted(set(tags))
    found._emit()
    return found


def _resolve(comp: str | Component) -> Component:
    if isinstance(comp, Component):
        return comp
    return _components.get(comp) or component(comp)


def _file_digest(path: str) -> str | None:
    """SHA-256 of a source file, cached per path and modification time."""
    try:
        key = (path, os.stat(path).st_mtime)
    except OSError:
        return None
    if key not in _file_digests:
        with open(path, "rb") as handle:
            _file_digests[key] = hashlib.file_digest(handle, "sha256").hexdigest()
    return _file_digests[key]


def _looks_like_location(text: str) -> bool:
    return "://" in text or text.startswith("file:") or os.path.exists(text)


class ComponentRun:
    """One run of a component; use :func:`component_run` or :func:`register` to make one."""

    def __init__(self, comp: Component, code_digest: str | None, git: tuple[str, bool] | None):
        self.component = comp
        self.code_digest = code_digest
        self.git = git
        self.inputs: list[dict[str, Any]] = []
        self.outputs: list[dict[str, Any]] = []
        self._remote_outputs: list[dict[str, Any]] = []
        self.t0 = time.time()
        self.id: str | None = None
        self._token: contextvars.Token[ComponentRun | None] | None = None

    def _ref(self, value: Any, role: str | None, *, output: bool) -> list[dict[str, Any]]:
        if isinstance(value, list | tuple) and value and all(isinstance(v, str | FileRef) for v in value):
            return [r for item in value for r in self._ref(item, role, output=output)]
        if isinstance(value, str | os.PathLike) and not isinstance(value, FileRef):
            text = os.fspath(value)
            if not _looks_like_location(text):
                return [{"r": role, "ptr": text}] if role else [{"ptr": text}]
            value = FileRef(text)
        if isinstance(value, FileRef) and output and value.is_local:
            value.digest(refresh=True)
        found = ref_for(role or "", value)
        if found is None:
            return []
        ref = found[0]
        if not role:
            ref.pop("r", None)
        if isinstance(value, FileRef) and output and not value.is_local:
            self._remote_outputs.append(ref)
        return [ref]

    def log_input(self, value: Any, role: str | None = None) -> None:
        """Record that this run read ``value``: a path/URI, a :func:`file`, an id string or any value."""
        try:
            self.inputs.extend(self._ref(value, role, output=False))
        except Exception as exc:  # capture must never break the caller
            runtime._log.warning("lineagegraph: could not log an input of %s: %s", self.component.name, exc)

    def log_output(self, value: Any, role: str | None = None) -> None:
        """Record that this run wrote ``value`` (same kinds as :meth:`log_input`)."""
        try:
            self.outputs.extend(self._ref(value, role, output=True))
        except Exception as exc:  # capture must never break the caller
            runtime._log.warning("lineagegraph: could not log an output of %s: %s", self.component.name, exc)

    def log_output_id(self, output_id: str) -> str:
        """Record the id of a served output (a prediction); returns its graph id."""
        self.outputs.append({"r": "served output", "out": str(output_id)})
        return output_node_id(str(output_id))

    def __enter__(self) -> ComponentRun:
        self.t0 = time.time()
        self._token = _current_run.set(self)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._token is not None:
            _current_run.reset(self._token)
            self._token = None
        self.finish(error)

    def finish(self, error: BaseException | None = None) -> None:
        """Emit the run's record (once)."""
        if self.id is not None:
            return
        try:
            t1 = time.time()
            ins = sorted(self.inputs, key=lambda r: json.dumps(r, sort_keys=True))
            outs = sorted(self.outputs, key=lambda r: json.dumps(r, sort_keys=True))
            blob = json.dumps([self.component.name, self.code_digest, self.git[0] if self.git else None, ins,
                               [{k: v for k, v in o.items() if k != "v"} for o in outs]], sort_keys=True)
            self.id = hashlib.sha256(blob.encode()).hexdigest()[:32]
            node = source_id("pipeline", "run", self.id)
            for ref in self._remote_outputs:
                ref["v"] = version_id(ref["loc"], node)
                remember_write(ref["loc"], ref["v"])
            record: dict[str, Any] = {"k": "crun", "id": self.id, "comp": self.component.name, "t0": self.t0,
                                      "t1": t1, "st": "failed" if error is not None else "ok", "ins": ins,
                                      "outs": outs, "git": self.git, "code": self.code_digest}
            if error is not None:
                record["exc"] = type(error).__qualname__
            runtime.emit(record)
            pipeline = _current_pipeline.get()
            if pipeline is not None:
                pipeline.runs.append(self.id)
        except Exception as exc:  # capture must never break the caller
            runtime._log.warning("lineagegraph: could not record a run of %s: %s", self.component.name, exc)

    @property
    def node_id(self) -> str | None:
        """The run's graph id, once it has finished."""
        return source_id("pipeline", "run", self.id) if self.id else None


def _caller_file(depth: int) -> str:
    frame: FrameType | None = sys._getframe(depth + 1)
    return frame.f_code.co_filename if frame is not None else ""


def component_run(comp: str | Component, *, code_digest: str | None = None) -> ComponentRun:
    """A context manager recording one run of ``comp``; ``with component_run("featurize") as run:``.

    The code digest defaults to the SHA-256 of the calling source file; git commit and dirty flag
    are those of the repository holding it.
    """
    source = _caller_file(1)
    return ComponentRun(_resolve(comp), code_digest or _file_digest(source), runtime.git_info(source))


def log_output(output_id: str, *, component: str | Component | None = None) -> str:
    """Log the id of a served output (a prediction) on the current component run; returns its graph id.

    Outside a run, ``component`` names the component and a one-line run is recorded for it.
    ``lineagegraph bt <returned id>`` then traces the output back through the pipeline.
    """
    run = _current_run.get()
    if run is not None:
        return run.log_output_id(output_id)
    if component is None:
        runtime._log.warning("lineagegraph: log_output(%r) outside a component run and without component=; "
                             "nothing recorded", output_id)
        return output_node_id(str(output_id))
    with component_run(component) as one:
        return one.log_output_id(output_id)


class PipelineRun:
    """A pipeline run: groups the component runs that finish inside it."""

    def __init__(self, name: str):
        self.name = name
        self.runs: list[str] = []
        self.t0 = time.time()
        self.id: str | None = None
        self._token: contextvars.Token[PipelineRun | None] | None = None

    def __enter__(self) -> PipelineRun:
        self.t0 = time.time()
        self._token = _current_pipeline.set(self)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._token is not None:
            _current_pipeline.reset(self._token)
        try:
            self.id = hashlib.sha256(json.dumps([self.name, sorted(self.runs)]).encode()).hexdigest()[:32]
            record: dict[str, Any] = {"k": "prun", "id": self.id, "name": self.name, "t0": self.t0,
                                      "t1": time.time(), "st": "failed" if error is not None else "ok",
                                      "runs": sorted(set(self.runs))}
            if error is not None:
                record["exc"] = type(error).__qualname__
            runtime.emit(record)
        except Exception as exc:  # capture must never break the caller
            runtime._log.warning("lineagegraph: could not record pipeline run %s: %s", self.name, exc)

    @property
    def node_id(self) -> str | None:
        return source_id("pipeline", "pipeline-run", self.id) if self.id else None


def pipeline_run(name: str) -> PipelineRun:
    """A context manager grouping the component runs inside it: ``with pipeline_run("nightly"):``."""
    return PipelineRun(name)


def _values(names: Iterable[Any], scope: dict[str, Any], func_name: str) -> list[tuple[str | None, Any]]:
    found: list[tuple[str | None, Any]] = []
    for item in names:
        if not isinstance(item, str):
            found.append((None, item))
        elif item in scope:
            found.append((item, scope[item]))
        else:
            runtime._log.warning("lineagegraph: register(%s): no parameter or variable named %r", func_name, item)
    return found


def register(component: str | Component, *, inputs: Iterable[Any] = (), outputs: Iterable[Any] = (),
             ) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Record each call of the decorated function as a run of ``component``.

    ``inputs``/``outputs``: names of the function's parameters or local variables whose values at
    return are the run's inputs/outputs (``"return"`` names the return value), or the values
    themselves (a :func:`file`, an id). Inside, :func:`log_output` logs served output ids.
    """
    input_items, output_items = list(inputs), list(outputs)

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        signature = inspect.signature(func)
        code = getattr(func, "__code__", None)
        source = code.co_filename if code is not None else ""
        params = set(signature.parameters)
        needs_locals = any(isinstance(n, str) and n not in params and n != "return"
                           for n in (*input_items, *output_items))
        digest: list[str | None] = []

        def code_digest() -> str | None:
            if not digest:
                try:
                    digest.append(hashlib.sha256(inspect.getsource(func).encode()).hexdigest())
                except (OSError, TypeError):
                    digest.append(_file_digest(source))
            return digest[0]

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            run = ComponentRun(_resolve(component), code_digest(), runtime.git_info(source))
            captured: dict[str, Any] = {}
            previous = sys.getprofile()
            if needs_locals and code is not None:
                # The values of local variables at return, as mltrace resolves them: a profile hook
                # that looks only at this function's own frame.
                def profile(frame: FrameType, event: str, arg: Any) -> None:
                    if event == "return" and frame.f_code is code:
                        captured.update(frame.f_locals)

                sys.setprofile(profile)
            error: BaseException | None = None
            with run:
                try:
                    result = func(*args, **kwargs)
                except BaseException as exc:
                    error = exc
                    raise
                finally:
                    if needs_locals:
                        sys.setprofile(previous)
                    try:
                        scope = dict(signature.bind_partial(*args, **kwargs).arguments)
                    except TypeError:
                        scope = {}
                    scope.update(captured)
                    if error is None:
                        scope["return"] = result
                    for role, value in _values(input_items, scope, func.__qualname__):
                        run.log_input(value, role)
                    if error is None:
                        for role, value in _values(output_items, scope, func.__qualname__):
                            run.log_output(value, role)
            return result

        return cast(Callable[P, R], wrapper)

    return decorate


def current_run() -> ComponentRun | None:
    """The component run the caller is inside, if any."""
    return _current_run.get()
