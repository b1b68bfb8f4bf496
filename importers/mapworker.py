"""Run an importer's mapping step in a child process, beside the process that writes.

Turning parsed records into graph rows (``prov``'s decoder and the PROV codec, for instance) is
most of an import's Python time. In the importing process it takes turns with the writer for one
interpreter; in a child process it runs on another core while the parent sends rows to Neo4j.

The child is a plain ``python -c`` process fed through pipes: jobs go in pickled on its stdin,
results come back pickled, in order, on a pipe of their own (its stdout goes to our stderr, so
that nothing the mapping or a library writes, even below Python, can mix with the results). It
is not started through :mod:`multiprocessing`, whose start methods either fork a process that may
hold a writer thread's locks or re-run the caller's main script (which a notebook or a script
without a ``__main__`` guard does not expect). A pipe holds at most a few jobs, so memory stays
bounded: the reader waits while the child is busy.

The mapping function is named as ``"module:function"`` and must be importable in the child (the
parent's ``sys.path`` is passed on). Its errors come back as themselves when they survive
pickling, else as a :class:`RuntimeError` with their type and message.
"""

from __future__ import annotations

import importlib
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import suppress
from types import GeneratorType
from typing import Any, BinaryIO

__all__ = ["mapped_in_child"]

_SERVE = "from lineagegraph.importers.mapworker import serve; serve()"


def mapped_in_child(target: str, jobs: Iterable[tuple[Any, ...]]) -> Iterator[Any]:
    """``target(*job)`` for each job, computed in a child process, yielded in order; when
    ``target`` is a generator function, each of the values it yields, as it yields them.

    ``jobs`` is consumed on a thread of its own (so reading the input overlaps the mapping too);
    an error it raises is raised here once the jobs before it have been yielded. Closing the
    iterator early stops the child.
    """
    read_end, write_end = os.pipe()
    try:
        child = subprocess.Popen([sys.executable, "-c", _SERVE, str(write_end)], stdin=subprocess.PIPE,
                                 stdout=_stderr_fd(),
                                 pass_fds=(write_end,))
    except BaseException:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)
    results = os.fdopen(read_end, "rb")
    assert child.stdin is not None
    feed_errors: list[BaseException] = []
    feeder = threading.Thread(target=_feed, args=(child.stdin, target, jobs, feed_errors),
                              name="lineagegraph-map-feeder", daemon=True)
    feeder.start()
    try:
        while True:
            try:
                status, value = pickle.load(results)  # noqa: S301 - our own child's pipe
            except EOFError:
                break
            if status == "error":
                raise value
            yield value
        feeder.join()
        if feed_errors:
            raise feed_errors[0]
        code = child.wait()
        if code != 0:
            raise RuntimeError(f"the mapping process ended with exit code {code}")
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        results.close()
        feeder.join()


def _stderr_fd() -> int:
    """Where the child's stdout goes: this process's stderr, or nowhere if it has none."""
    try:
        return sys.__stderr__.fileno() if sys.__stderr__ is not None else subprocess.DEVNULL
    except (OSError, ValueError):  # closed, or not a file (io.UnsupportedOperation is both)
        return subprocess.DEVNULL


def _feed(pipe: BinaryIO, target: str, jobs: Iterable[tuple[Any, ...]], errors: list[BaseException]) -> None:
    try:
        pickle.dump((sys.path, target), pipe, protocol=pickle.HIGHEST_PROTOCOL)
        for job in jobs:
            pickle.dump(job, pipe, protocol=pickle.HIGHEST_PROTOCOL)
            pipe.flush()
    except (BrokenPipeError, ValueError):
        pass  # the child stopped (its error, or the reader closed early): the reader says why
    except BaseException as exc:  # raised by the reader, after the results before it
        errors.append(exc)
    finally:
        with suppress(OSError, ValueError):
            pipe.close()


def serve() -> None:
    """The child's loop: read jobs until the parent closes the pipe; stop after the first error."""
    jobs, results = sys.stdin.buffer, os.fdopen(int(sys.argv[1]), "wb")
    path, target = pickle.load(jobs)  # noqa: S301 - the parent's pipe, no one else's
    sys.path[:] = path
    module, _, name = target.partition(":")
    function = getattr(importlib.import_module(module), name)
    while True:
        try:
            job = pickle.load(jobs)  # noqa: S301 - the parent's pipe
        except EOFError:
            return
        try:
            value = function(*job)
            if isinstance(value, GeneratorType):
                for item in value:  # each result as soon as it is made
                    _reply(results, ("ok", item))
            else:
                _reply(results, ("ok", value))
        except Exception as exc:
            _reply(results, ("error", _portable(exc)))
            return


def _reply(results: BinaryIO, reply: tuple[str, Any]) -> None:
    pickle.dump(reply, results, protocol=pickle.HIGHEST_PROTOCOL)
    results.flush()


def _portable(exc: Exception) -> Exception:
    """``exc`` if it survives pickling, else a RuntimeError saying what it was."""
    try:
        pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own bytes
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc
