"""lineagegraph: a property-graph lineage engine on Neo4j.

Everything that produced or consumed data is mapped onto one graph of W3C PROV Entity, Activity
and Agent nodes; a library of Cypher templates answers ancestors, descendants, diff, backtrace
and more. Start with :class:`LineageGraph` in a notebook, or the ``lineagegraph`` command.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from lineagegraph.errors import (
    ConfigError,
    InputError,
    LineageGraphError,
    NotFoundError,
    QueryError,
    ServerError,
)
from lineagegraph.model import Activity, Agent, ElementKind, Entity, RelationType
from lineagegraph.settings import Settings
from lineagegraph.store import GraphStore
from lineagegraph.subgraph import Subgraph

if TYPE_CHECKING:
    from lineagegraph.capture import component, component_run, file, log_output, pipeline_run, register, track
    from lineagegraph.queries import LineageGraph

__version__ = "0.1.0"

__all__ = [
    "Activity",
    "Agent",
    "ConfigError",
    "ElementKind",
    "Entity",
    "GraphStore",
    "InputError",
    "LineageGraph",
    "LineageGraphError",
    "NotFoundError",
    "QueryError",
    "RelationType",
    "ServerError",
    "Settings",
    "Subgraph",
    "component",
    "component_run",
    "file",
    "log_output",
    "pipeline_run",
    "register",
    "track",
]

# Imported on first use, so that `import lineagegraph` stays light: where each lazy name lives.
_LAZY = {
    "LineageGraph": "lineagegraph.queries",
    **dict.fromkeys(("component", "component_run", "file", "log_output", "pipeline_run", "register", "track"),
                    "lineagegraph.capture"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lineagegraph' has no attribute {name!r}")
