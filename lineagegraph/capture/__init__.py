"""Capture lineage from Python: ``@track``, files, components, pipeline and component runs.

Records go to a crash-safe local spool by default (delivered by ``lineagegraph import spool`` or
a background flusher), or straight to Neo4j in ``direct`` mode; see :func:`configure` and
``docs/capture.md``. Everything here is safe to call from user code: capture problems are logged,
never raised (the opt-in mutation check is the one exception).
"""

from __future__ import annotations

from lineagegraph.capture.files import FileRef, file
from lineagegraph.capture.flusher import Flusher, start_flusher
from lineagegraph.capture.hashing import hash_value
from lineagegraph.capture.pipeline import (
    Component,
    ComponentRun,
    PipelineRun,
    component,
    component_run,
    current_run,
    log_output,
    pipeline_run,
    register,
)
from lineagegraph.capture.records import output_node_id
from lineagegraph.capture.review import Staleness, flag, flagged, staleness, unflag
from lineagegraph.capture.runtime import configure, flush, stats
from lineagegraph.capture.track import MutationError, track

__all__ = [
    "Component",
    "ComponentRun",
    "FileRef",
    "Flusher",
    "MutationError",
    "PipelineRun",
    "Staleness",
    "component",
    "component_run",
    "configure",
    "current_run",
    "file",
    "flag",
    "flagged",
    "flush",
    "hash_value",
    "log_output",
    "output_node_id",
    "pipeline_run",
    "register",
    "staleness",
    "start_flusher",
    "stats",
    "track",
    "unflag",
]
