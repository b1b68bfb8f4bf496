"""What an activity node says about a run: its name, version, time, parameters, code and environment.

Backtrace, recipe and diff all read activities the same way; the rules live here once. Property
names differ between sources (a PROV document's ``ex:learning_rate``, a capture's ``params``
JSON), so keys are sorted into aspects by name patterns rather than by a fixed schema.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from lineagegraph.queries.args import as_time
from lineagegraph.subgraph import BOOKKEEPING, GraphNode

__all__ = ["activity_params", "aspects", "format_time", "node_time", "version_of", "what_ran"]

# Properties holding an activity's parameters (JSON strings or maps) -> prefix for their keys.
_PARAM_PROPS = {
    "params": "",
    "parameters": "",
    "arguments": "args.",
    "args": "args.",
    "kwargs": "kwargs.",
    "config": "config.",
    "configuration": "config.",
}
_ENV_KEY = re.compile(
    r"(^|[_.])(env|environment|system|platform|python|host|hostname|node|os|"
    r"runtime|packages|executable|cluster|namespace|machine|resources)($|[_.])",
    re.IGNORECASE,
)
_CODE_KEY = re.compile(
    r"(^|[_.])(code|version|commit|git|image|digest|hash|sha|revision|source)($|[_.])",
    re.IGNORECASE,
)
_NOT_COMPARED = BOOKKEEPING | {
    "id",
    "label",
    "started_at",
    "ended_at",
    "generated_at",
    "prov_type",
    "status",
    "qname",
}
# Activity properties that name what ran, in the order diff uses them to pair activities.
_WHAT_PROPS = ("component", "function", "job", "job_name", "name", "step", "label")


def node_time(node: GraphNode) -> datetime | None:
    """When an element happened: its generation time, else its start time."""
    props = node.properties
    return as_time(
        props.get("generated_at")
        if props.get("generated_at") is not None
        else props.get("started_at")
    )


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): value} if prefix else {"": value}


def _loads(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def activity_params(node: GraphNode) -> dict[str, Any]:
    """An activity's parameters, nested keys joined with dots.

    These are the ``params`` JSON and its synonyms, plus every other attribute that is neither
    code nor environment nor bookkeeping (a PROV document's ``ex:learning_rate``, say).
    """
    out: dict[str, Any] = {}
    for prop, prefix in _PARAM_PROPS.items():
        if prop in node.properties:
            value = _loads(node.properties[prop])
            flat = _flatten(value) if isinstance(value, dict) else {"": value}
            for key, item in flat.items():
                out[(prefix + key).rstrip(".") or prop] = item
    out.update(aspects(node)[2])
    return out


def aspects(node: GraphNode) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(code, environment, other) properties of an activity, nested JSON values flattened."""
    code: dict[str, Any] = {}
    env: dict[str, Any] = {}
    other: dict[str, Any] = {}
    for prop, raw in node.properties.items():
        if prop in _NOT_COMPARED or prop in _PARAM_PROPS:
            continue
        value = _loads(raw)
        flat = (
            {f"{prop}.{k}" if k else prop: v for k, v in _flatten(value).items()}
            if isinstance(value, dict)
            else {prop: value}
        )
        for key, item in flat.items():
            if _ENV_KEY.search(key):
                env[key] = item
            elif _CODE_KEY.search(key):
                code[key] = item
            else:
                other[key] = item
    return code, env, other


def what_ran(node: GraphNode) -> str:
    """The name of what an activity ran (component, function, job, ...), else its PROV type or id."""
    for prop in _WHAT_PROPS:
        value = node.properties.get(prop)
        if value:
            return str(value)
    types = node.properties.get("prov_type")
    if types:
        return ",".join(types) if isinstance(types, list) else str(types)
    return node.id


def version_of(node: GraphNode) -> str | None:
    """The code version an activity ran, if it records one."""
    for prop in ("code_version", "version", "function_version", "git_commit", "image"):
        if node.properties.get(prop):
            return str(node.properties[prop])
    return None


def format_time(value: Any) -> str:
    """A time for people: ``2024-07-04 09:00:00Z``, or ``?`` when unknown."""
    when = as_time(value)
    return when.strftime("%Y-%m-%d %H:%M:%S%z").replace("+0000", "Z") if when else "?"
