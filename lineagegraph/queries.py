"""The query API: run the templates in ``cypher/`` and return typed results.

:class:`LineageGraph` is what notebooks, the CLI and the exporters use. Every method runs one
template (see :mod:`lineagegraph.templates`) with values as parameters and the depth bound as the
only substituted text, then shapes the rows into pydantic models. The graph work (walking,
counting, shortest path) happens in Cypher; Python only pairs, compares and orders small
results (the activity frames of a backtrace, the two sides of a diff).

Which relationships count as lineage, and what "as of" means, is documented in
``docs/queries.md``; the constants below are the same lists the templates spell out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import neo4j
from neo4j.graph import Node, Path, Relationship
from pydantic import BaseModel, Field

from lineagegraph import templates
from lineagegraph.errors import QueryError
from lineagegraph.model import ElementKind, RelationType
from lineagegraph.settings import Settings
from lineagegraph.store import GraphStore
from lineagegraph.subgraph import BOOKKEEPING, GraphNode, GraphRelationship, Subgraph, dataframe

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas  # type: ignore[import-untyped,unused-ignore]

__all__ = [
    "CONTEXT_RELATIONS",
    "LINEAGE_RELATIONS",
    "ActivityChange",
    "AgentRef",
    "Backtrace",
    "BlameReport",
    "Frame",
    "LineageDiff",
    "LineageGraph",
    "LineagePath",
    "Recipe",
    "RecipeInput",
    "SearchResults",
    "Suspect",
    "Usage",
    "ValueChange",
    "VersionChange",
]

# Walked by ancestors (outgoing) and descendants (incoming). Every one of them connects entities
# and activities only, so a walk never passes through an agent.
LINEAGE_RELATIONS: tuple[RelationType, ...] = (
    RelationType.USED,
    RelationType.WAS_GENERATED_BY,
    RelationType.WAS_DERIVED_FROM,
    RelationType.WAS_INFORMED_BY,
    RelationType.WAS_STARTED_BY,
    RelationType.WAS_ENDED_BY,
    RelationType.HAD_MEMBER,
)
# Attached one hop away from walked nodes, never walked through: an agent or a location shared by
# everything must not make everything related.
CONTEXT_RELATIONS: tuple[RelationType, ...] = (
    RelationType.WAS_ASSOCIATED_WITH,
    RelationType.WAS_ATTRIBUTED_TO,
    RelationType.ACTED_ON_BEHALF_OF,
    RelationType.SPECIALIZATION_OF,
    RelationType.ALTERNATE_OF,
    RelationType.WAS_INFLUENCED_BY,
)

# "up" (ancestors), "down" (descendants) or "both"; a plain str so callers can pass enum values.
Direction = str

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
_RUN_NUMBER = re.compile(r"\d+")
_WHAT_PROPS = ("component", "function", "job", "job_name", "name", "step", "label")


# -- conversion of driver values -----------------------------------------------------------------


def _native(value: Any, ids: Mapping[str, str]) -> Any:
    """Driver values -> plain Python: nodes, relationships and paths become dicts."""
    if isinstance(value, Node):
        return {
            "id": value.get("id"),
            "labels": sorted(value.labels),
            "properties": {k: _native(v, ids) for k, v in value.items()},
        }
    if isinstance(value, Relationship):
        start, end = value.start_node, value.end_node
        return {
            "type": value.type,
            "start": ids.get(start.element_id) if start is not None else None,
            "end": ids.get(end.element_id) if end is not None else None,
            "properties": {k: _native(v, ids) for k, v in value.items()},
        }
    if isinstance(value, Path):
        return {
            "nodes": [_native(n, ids) for n in value.nodes],
            "relationships": [_native(r, ids) for r in value.relationships],
        }
    if isinstance(value, list | tuple):
        return [_native(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _native(v, ids) for k, v in value.items()}
    to_native = getattr(value, "to_native", None)
    if callable(to_native):  # neo4j.time values
        return to_native()
    return value


def _collect_ids(value: Any, ids: dict[str, str]) -> None:
    if isinstance(value, Node):
        ids[value.element_id] = str(value.get("id"))
    elif isinstance(value, Relationship):
        for node in (value.start_node, value.end_node):
            if node is not None and node.get("id") is not None:
                ids[node.element_id] = str(node.get("id"))
    elif isinstance(value, Path):
        for node in value.nodes:
            _collect_ids(node, ids)
    elif isinstance(value, list | tuple):
        for v in value:
            _collect_ids(v, ids)
    elif isinstance(value, dict):
        for v in value.values():
            _collect_ids(v, ids)


def _node(data: Mapping[str, Any]) -> GraphNode:
    props = {k: v for k, v in data["properties"].items() if k != "id"}
    return GraphNode(id=str(data["id"]), labels=list(data["labels"]), properties=props)


def _rel(data: Mapping[str, Any]) -> GraphRelationship:
    return GraphRelationship(
        start=str(data["start"]),
        end=str(data["end"]),
        type=data["type"],
        properties=dict(data["properties"]),
    )


def _subgraph(
    nodes: Iterable[Mapping[str, Any]], rels: Iterable[Mapping[str, Any]], focus: list[str]
) -> Subgraph:
    seen: dict[str, GraphNode] = {}
    for data in nodes:
        seen.setdefault(str(data["id"]), _node(data))
    unique: dict[tuple[str, str, str, str], GraphRelationship] = {}
    for data in rels:
        rel = _rel(data)
        unique.setdefault((rel.start, rel.type, rel.end, str(rel.properties.get("key", ""))), rel)
    return Subgraph(nodes=list(seen.values()), relationships=list(unique.values()), focus=focus)


# -- small helpers -------------------------------------------------------------------------------


def _when(value: Any) -> datetime | None:
    """A comparable, timezone-aware time from a property value (naive times are taken as UTC)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return None


def _time_param(name: str, value: datetime | date | str | None) -> str | None:
    """Validate a time argument and pass it to Cypher as an ISO string (naive -> UTC)."""
    if value is None:
        return None
    when = _when(value)
    if when is None:
        raise QueryError(
            f"{name} must be an ISO 8601 time such as 2024-05-01T12:00:00Z, not {value!r}"
        )
    return when.isoformat()


def _kinds(kinds: Iterable[str | ElementKind] | None) -> list[str] | None:
    if kinds is None:
        return None
    if isinstance(kinds, str):
        kinds = [kinds]
    out = []
    for kind in kinds:
        match = next((k.value for k in ElementKind if k.value.lower() == str(kind).lower()), None)
        if match is None:
            raise QueryError(f"unknown kind {kind!r} (use Entity, Activity or Agent)")
        out.append(match)
    return out or None


def _limit(limit: int | None) -> int | None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise QueryError(f"limit must be a positive whole number, not {limit!r}")
    return limit


def _node_time(node: GraphNode) -> datetime | None:
    props = node.properties
    return _when(
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
    out.update(_aspects(node)[2])
    return out


def _aspects(node: GraphNode) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
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


def _what(node: GraphNode) -> str:
    for prop in _WHAT_PROPS:
        value = node.properties.get(prop)
        if value:
            return str(value)
    types = node.properties.get("prov_type")
    if types:
        return ",".join(types) if isinstance(types, list) else str(types)
    return node.id


def _version(node: GraphNode) -> str | None:
    for prop in ("code_version", "version", "function_version", "git_commit", "image"):
        if node.properties.get(prop):
            return str(node.properties[prop])
    return None


def _changes(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[ValueChange]:
    return [
        ValueChange(key=key, a=a.get(key), b=b.get(key))
        for key in sorted(set(a) | set(b))
        if a.get(key) != b.get(key)
    ]


def _fmt_time(value: Any) -> str:
    when = _when(value)
    return when.strftime("%Y-%m-%d %H:%M:%S%z").replace("+0000", "Z") if when else "?"


def _dependency_order(
    ids: list[str], before: Mapping[str, set[str]], key: Callable[[str], Any]
) -> list[str]:
    """Order ``ids`` so each comes after all of ``before[id]``; ties and cycles go by ``key``."""
    waiting = {i: set(before.get(i, set())) & set(ids) - {i} for i in ids}
    order: list[str] = []
    while waiting:
        ready = [i for i, deps in waiting.items() if not deps] or list(waiting)  # a cycle: break it
        chosen = min(ready, key=key)
        order.append(chosen)
        del waiting[chosen]
        for deps in waiting.values():
            deps.discard(chosen)
    return order


# -- result models -------------------------------------------------------------------------------


class ValueChange(BaseModel):
    """One key whose value differs between side A and side B (None = absent on that side)."""

    key: str
    a: Any = None
    b: Any = None


class ActivityChange(BaseModel):
    """Two corresponding activities (same ``what`` name) and what differs between them."""

    what: str
    a: GraphNode
    b: GraphNode
    params: list[ValueChange] = Field(default_factory=list)
    code: list[ValueChange] = Field(default_factory=list)
    environment: list[ValueChange] = Field(default_factory=list)
    agents: list[ValueChange] = Field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.params or self.code or self.environment or self.agents)


class VersionChange(BaseModel):
    """Upstream entities that are versions of one thing (same general location, uri or label)."""

    key: str
    a: list[GraphNode] = Field(default_factory=list)
    b: list[GraphNode] = Field(default_factory=list)


class LineageDiff(BaseModel):
    """The upstream lineage of ``a`` and ``b`` compared (the two elements themselves excluded)."""

    a: str
    b: str
    only_a: list[GraphNode] = Field(
        default_factory=list, description="upstream entities only A has"
    )
    only_b: list[GraphNode] = Field(
        default_factory=list, description="upstream entities only B has"
    )
    shared: list[GraphNode] = Field(default_factory=list, description="upstream entities both have")
    activities_only_a: list[GraphNode] = Field(default_factory=list)
    activities_only_b: list[GraphNode] = Field(default_factory=list)
    activity_changes: list[ActivityChange] = Field(default_factory=list)
    version_changes: list[VersionChange] = Field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not (
            self.only_a
            or self.only_b
            or self.activities_only_a
            or self.activities_only_b
            or any(c.changed for c in self.activity_changes)
        )

    def to_pandas(self) -> pandas.DataFrame:
        """One row per difference: section, what, key, value on A, value on B."""
        rows: list[dict[str, Any]] = []
        for section, nodes, side in (
            ("input", self.only_a, "a"),
            ("input", self.only_b, "b"),
            ("activity", self.activities_only_a, "a"),
            ("activity", self.activities_only_b, "b"),
        ):
            for node in nodes:
                rows.append(
                    {
                        "section": section,
                        "what": node.display_name,
                        "key": "id",
                        "a": node.id if side == "a" else None,
                        "b": node.id if side == "b" else None,
                    }
                )
        for change in self.activity_changes:
            for section in ("params", "code", "environment", "agents"):
                for vc in getattr(change, section):
                    rows.append(
                        {
                            "section": section,
                            "what": change.what,
                            "key": vc.key,
                            "a": vc.a,
                            "b": vc.b,
                        }
                    )
        for version in self.version_changes:
            rows.append(
                {
                    "section": "version",
                    "what": version.key,
                    "key": "id",
                    "a": ", ".join(n.id for n in version.a),
                    "b": ", ".join(n.id for n in version.b),
                }
            )
        return dataframe(rows, columns=["section", "what", "key", "a", "b"])


class AgentRef(BaseModel):
    """An agent associated with an activity, with the plan and role of the association."""

    agent: GraphNode
    plan: str | None = None
    role: str | None = None
    on_behalf_of: list[str] = Field(default_factory=list)


class Usage(BaseModel):
    """An entity an activity used (input) or generated (output)."""

    entity: GraphNode
    role: str | None = None
    time: datetime | None = None


class Frame(BaseModel):
    """One activity in a backtrace: what ran, who, when, with which inputs and parameters."""

    number: int
    activity: GraphNode
    agents: list[AgentRef] = Field(default_factory=list)
    inputs: list[Usage] = Field(default_factory=list)
    outputs: list[Usage] = Field(default_factory=list)
    upstream: list[str] = Field(default_factory=list)

    @property
    def what(self) -> str:
        return _what(self.activity)

    @property
    def version(self) -> str | None:
        return _version(self.activity)

    @property
    def params(self) -> dict[str, Any]:
        return activity_params(self.activity)

    def lines(self) -> list[str]:
        """The frame as a few plain-English lines."""
        props = self.activity.properties
        head = f"#{self.number} {self.what}"
        if self.version:
            head += f" (version {self.version})"
        if props.get("status"):
            head += f" [{props['status']}]"
        out = [head + f"  id={self.activity.id}"]
        out.append(
            f"    when:   {_fmt_time(props.get('started_at'))}"
            f" -> {_fmt_time(props.get('ended_at'))}"
        )
        if self.agents:
            out.append(
                "    by:     "
                + ", ".join(
                    a.agent.display_name + (f" ({a.role})" if a.role else "") for a in self.agents
                )
            )
        for usage in self.inputs:
            role = f" as {usage.role}" if usage.role else ""
            out.append(f"    input:  {usage.entity.display_name}{role}  id={usage.entity.id}")
        for usage in self.outputs:
            out.append(f"    output: {usage.entity.display_name}  id={usage.entity.id}")
        if self.params:
            out.append(
                "    params: "
                + ", ".join(
                    f"{k}={json.dumps(v, default=str)}" for k, v in sorted(self.params.items())
                )
            )
        return out


def _frames_frame(frames: list[Frame]) -> pandas.DataFrame:
    return dataframe(
        [
            {
                "number": f.number,
                "id": f.activity.id,
                "what": f.what,
                "version": f.version,
                "started_at": f.activity.properties.get("started_at"),
                "ended_at": f.activity.properties.get("ended_at"),
                "agents": [a.agent.display_name for a in f.agents],
                "inputs": [u.entity.id for u in f.inputs],
                "outputs": [u.entity.id for u in f.outputs],
                "params": f.params,
            }
            for f in frames
        ]
    )


class Backtrace(BaseModel):
    """The activities that produced ``id``, newest first, each before the frames it depends on."""

    id: str
    frames: list[Frame] = Field(default_factory=list)

    def __str__(self) -> str:
        return self.text()

    def text(self) -> str:
        if not self.frames:
            return f"no activity is recorded upstream of {self.id}"
        return "\n".join(line for frame in self.frames for line in frame.lines())

    def to_pandas(self) -> pandas.DataFrame:
        return _frames_frame(self.frames)


class RecipeInput(Usage):
    """An input of a recipe step, with the location it is a version of and who produced it."""

    general: list[GraphNode] = Field(default_factory=list)
    generated_by: list[str] = Field(default_factory=list)


class RecipeStep(Frame):
    """One step to re-run, with its parameters, code versions and environment as executed."""

    inputs: list[RecipeInput] = Field(default_factory=list)  # type: ignore[assignment]

    @property
    def code(self) -> dict[str, Any]:
        return _aspects(self.activity)[0]

    @property
    def environment(self) -> dict[str, Any]:
        return _aspects(self.activity)[1]


class Recipe(BaseModel):
    """How to re-make ``id``: steps in dependency order (oldest first) and the outside inputs."""

    id: str
    steps: list[RecipeStep] = Field(default_factory=list)

    @property
    def external_inputs(self) -> list[RecipeInput]:
        """Inputs no step of the recipe produces: what must exist before step 1 can run."""
        step_ids = {s.activity.id for s in self.steps}
        seen: dict[str, RecipeInput] = {}
        for step in self.steps:
            for usage in step.inputs:
                if not set(usage.generated_by) & step_ids:
                    seen.setdefault(usage.entity.id, usage)
        return list(seen.values())

    def to_pandas(self) -> pandas.DataFrame:
        return _frames_frame(list(self.steps))


class LineagePath(BaseModel):
    """The shortest lineage path from ``a`` back to ``b``; empty if ``a`` is not derived from it."""

    a: str
    b: str
    nodes: list[GraphNode] = Field(default_factory=list)
    relationships: list[GraphRelationship] = Field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.nodes)

    def to_subgraph(self) -> Subgraph:
        return Subgraph(nodes=self.nodes, relationships=self.relationships, focus=[self.a, self.b])

    def __str__(self) -> str:
        return self.text()

    def text(self) -> str:
        if not self.found:
            return f"{self.a} was not derived from {self.b}"
        parts = [self.nodes[0].display_name]
        for rel, node in zip(self.relationships, self.nodes[1:], strict=True):
            parts.append(f"-[{rel.type}]-> {node.display_name}")
        return " ".join(parts)


class Suspect(BaseModel):
    """An upstream element shared by flagged outputs: how many reach it, and which."""

    element: GraphNode
    hits: int
    share: float
    reached_from: list[str] = Field(default_factory=list)
    agents: list[GraphNode] = Field(default_factory=list)


class BlameReport(BaseModel):
    """Upstream elements ranked by how many of the ``flagged`` outputs reach them."""

    flagged: list[str]
    suspects: list[Suspect] = Field(default_factory=list)

    def to_pandas(self) -> pandas.DataFrame:
        return dataframe(
            [
                {
                    "rank": i + 1,
                    "id": s.element.id,
                    "kind": s.element.kind.value if s.element.kind else None,
                    "label": s.element.display_name,
                    "hits": s.hits,
                    "share": s.share,
                    "reached_from": s.reached_from,
                    "agents": [a.display_name for a in s.agents],
                }
                for i, s in enumerate(self.suspects)
            ],
            columns=["rank", "id", "kind", "label", "hits", "share", "reached_from", "agents"],
        )


class SearchResults(BaseModel):
    """Elements found by :meth:`LineageGraph.search`, best match first."""

    nodes: list[GraphNode] = Field(default_factory=list)

    def to_pandas(self) -> pandas.DataFrame:
        return Subgraph(nodes=self.nodes).to_pandas()


# -- the API -------------------------------------------------------------------------------------


class LineageGraph:
    """Lineage queries over one graph store.

    ``LineageGraph(store)`` wraps a store you manage; ``LineageGraph.connect()`` opens one from
    the settings and closes it with the ``LineageGraph`` (use it as a context manager).
    """

    def __init__(self, store: GraphStore, *, owns_store: bool = False):
        self.store = store
        self._owns_store = owns_store

    @classmethod
    def connect(cls, settings: Settings | None = None) -> LineageGraph:
        return cls(GraphStore.connect(settings), owns_store=True)

    def close(self) -> None:
        if self._owns_store:
            self.store.close()

    def __enter__(self) -> LineageGraph:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- running templates -------------------------------------------------------------------
    def cypher(self, template: str, **params: Any) -> list[dict[str, Any]]:
        """Run a template (a shipped name or a ``.cypher`` path) and return its rows.

        Parameters the template uses but that are not given are passed as null (every shipped
        filter treats null as "any"); a parameter named like a bound (``depth``) also sets it.
        Nodes come back as ``{id, labels, properties}``, relationships as
        ``{type, start, end, properties}``, paths as ``{nodes, relationships}``.
        """
        return self._run(templates.load(template), params)

    def _run(self, template: templates.Template, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        missing = sorted(name for name in template.required if params.get(name) is None)
        if missing:
            raise QueryError(f"template {template.name!r} needs parameter(s): {', '.join(missing)}")
        bounds = {name: params[name] for name in template.bounds if params.get(name) is not None}
        query = template.render(**bounds)
        values = {name: params.get(name) for name in template.parameters} | dict(params)
        # The driver's record.data() (what GraphStore.read returns) drops node labels, which
        # every result here needs, so records are converted by _native instead.
        with self.store.driver.session(
            database=self.store.database,
            default_access_mode=neo4j.READ_ACCESS,
            notifications_min_severity="OFF",
        ) as session:
            try:
                records = session.execute_read(lambda tx: list(tx.run(query, values)))
            except neo4j.exceptions.ClientError as exc:
                raise QueryError(f"template {template.name!r} failed: {exc.message}") from exc
        ids: dict[str, str] = {}
        for record in records:
            _collect_ids(list(record.values()), ids)
        return [
            {key: _native(value, ids) for key, value in zip(record.keys(), record, strict=True)}
            for record in records
        ]

    def _named(self, name: str, **params: Any) -> list[dict[str, Any]]:
        return self._run(templates.load(name), params)

    # -- lineage subgraphs -------------------------------------------------------------------
    def _walk(
        self,
        name: str,
        id: str,
        depth: int,
        kinds: Iterable[str | ElementKind] | None,
        prov_type: str | None,
        text: str | None,
        since: datetime | str | None,
        until: datetime | str | None,
        as_of: datetime | str | None,
        limit: int | None,
    ) -> Subgraph:
        templates.validate_bound("depth", depth)
        self.store.require_ids(id)
        rows = self._named(
            name,
            id=id,
            depth=depth,
            kinds=_kinds(kinds),
            prov_type=prov_type,
            text=text,
            since=_time_param("since", since),
            until=_time_param("until", until),
            as_of=_time_param("as_of", as_of),
            limit=_limit(limit),
        )
        row = rows[0]
        return _subgraph(row["nodes"], row["relationships"], [id])

    def ancestors(
        self,
        id: str,
        *,
        depth: int = templates.DEFAULT_DEPTH,
        kinds: Iterable[str | ElementKind] | None = None,
        prov_type: str | None = None,
        text: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        as_of: datetime | str | None = None,
        limit: int | None = None,
    ) -> Subgraph:
        """Everything ``id`` was derived from, within ``depth`` hops, with agents as context."""
        return self._walk(
            "ancestors", id, depth, kinds, prov_type, text, since, until, as_of, limit
        )

    def descendants(
        self,
        id: str,
        *,
        depth: int = templates.DEFAULT_DEPTH,
        kinds: Iterable[str | ElementKind] | None = None,
        prov_type: str | None = None,
        text: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        as_of: datetime | str | None = None,
        limit: int | None = None,
    ) -> Subgraph:
        """Everything derived from ``id``, within ``depth`` hops, with agents as context."""
        return self._walk(
            "descendants", id, depth, kinds, prov_type, text, since, until, as_of, limit
        )

    def as_of(
        self,
        id: str,
        when: datetime | str,
        *,
        direction: Direction = "up",
        depth: int = templates.DEFAULT_DEPTH,
    ) -> Subgraph:
        """The lineage of ``id`` as the graph knew it at ``when`` (see docs/queries.md)."""
        return self.lineage(id, direction=direction, depth=depth, as_of=when)

    def lineage(
        self,
        id: str,
        *,
        direction: Direction = "up",
        depth: int = templates.DEFAULT_DEPTH,
        as_of: datetime | str | None = None,
    ) -> Subgraph:
        """Ancestors ("up"), descendants ("down") or both of ``id`` as one subgraph."""
        if direction == "up":
            return self.ancestors(id, depth=depth, as_of=as_of)
        if direction == "down":
            return self.descendants(id, depth=depth, as_of=as_of)
        if direction != "both":
            raise QueryError(f"direction must be 'up', 'down' or 'both', not {direction!r}")
        up = self.ancestors(id, depth=depth, as_of=as_of)
        down = self.descendants(id, depth=depth, as_of=as_of)
        ids = list(dict.fromkeys([n.id for n in up.nodes] + [n.id for n in down.nodes]))
        # Edges between an upstream and a downstream node belong to neither half.
        row = self._named("subgraph", ids=ids)[0]
        joined = _subgraph(row["nodes"], row["relationships"], [id])
        order = {node_id: i for i, node_id in enumerate(ids)}
        joined.nodes.sort(key=lambda n: order[n.id])
        return joined

    # -- diff --------------------------------------------------------------------------------
    def diff(self, a: str, b: str, *, depth: int = templates.DEFAULT_DEPTH) -> LineageDiff:
        """Compare the upstream lineage of ``a`` and ``b``: inputs, activities, versions."""
        templates.validate_bound("depth", depth)
        self.store.require_ids(a, b)
        rows = self._named("diff", a=a, b=b, depth=depth)
        result = LineageDiff(a=a, b=b)
        generals: dict[str, list[str]] = {}
        agents: dict[str, list[GraphNode]] = {}
        acts_a: list[GraphNode] = []
        acts_b: list[GraphNode] = []
        for row in rows:
            node = _node(row["node"])
            generals[node.id] = list(row["generals"])
            agents[node.id] = [_node(g) for g in row["agents"]]
            in_a, in_b = bool(row["in_a"]), bool(row["in_b"])
            if node.kind is ElementKind.ACTIVITY:
                if in_a and not in_b:
                    acts_a.append(node)
                elif in_b and not in_a:
                    acts_b.append(node)
            elif node.kind is not ElementKind.AGENT:
                (
                    result.shared if in_a and in_b else result.only_a if in_a else result.only_b
                ).append(node)
        # The activities that made A and B correspond whatever their names, even when B's
        # lineage also contains A's maker (B is a revision of A).
        makers = {
            row["id"]: row["maker"]
            for row in self.store.read(
                "UNWIND $ids AS id MATCH (:Element {id: id})-[:WAS_GENERATED_BY]->(m:Activity) "
                "WITH id, m ORDER BY m.started_at DESC RETURN id, collect(m.id)[0] AS maker",
                ids=[a, b],
            )
        }
        maker_a, maker_b = makers.get(a), makers.get(b)
        if maker_a and maker_b and maker_a != maker_b:
            nodes = {n.id: n for n in (*acts_a, *acts_b)}
            for row in rows:
                node = _node(row["node"])
                nodes.setdefault(node.id, node)
            acts_a = [n for n in acts_a if n.id != maker_a]
            acts_b = [n for n in acts_b if n.id != maker_b]
            self._pair_activities(result, [nodes[maker_a]], [nodes[maker_b]], agents, force=True)
        self._pair_activities(result, acts_a, acts_b, agents)
        self._pair_versions(result, generals)
        return result

    @staticmethod
    def _pair_activities(
        result: LineageDiff,
        acts_a: list[GraphNode],
        acts_b: list[GraphNode],
        agents: Mapping[str, list[GraphNode]],
        *,
        force: bool = False,
    ) -> None:
        """Pair activities of A with those of B by what they ran (``force``: pair as given)."""

        def by_what(nodes: list[GraphNode]) -> dict[str, list[GraphNode]]:
            groups: dict[str, list[GraphNode]] = {}
            for node in sorted(
                nodes, key=lambda n: (_node_time(n) is None, _node_time(n) or 0, n.id)
            ):
                # "train (run 41)" and "train (run 42)" are the same step run twice.
                groups.setdefault(_RUN_NUMBER.sub("#", _what(node)), []).append(node)
            return groups

        def agent_map(node: GraphNode) -> dict[str, Any]:
            out: dict[str, list[str]] = {}
            for agent in agents.get(node.id, []):
                kind = str(agent.properties.get("agent_type") or "agent")
                out.setdefault(kind, []).append(agent.display_name)
            return {k: ", ".join(sorted(v)) for k, v in out.items()}

        groups_a, groups_b = by_what(acts_a), by_what(acts_b)
        if force:
            what_a, what_b = _what(acts_a[0]), _what(acts_b[0])
            both = what_a if what_a == what_b else f"{what_a} → {what_b}"
            groups_a, groups_b = {both: acts_a}, {both: acts_b}
        for what in sorted(set(groups_a) | set(groups_b)):
            left, right = groups_a.get(what, []), groups_b.get(what, [])
            # Repeated steps (a function called twice) pair up in time order.
            for node_a, node_b in zip(left, right, strict=False):
                code_a, env_a, _ = _aspects(node_a)
                code_b, env_b, _ = _aspects(node_b)
                result.activity_changes.append(
                    ActivityChange(
                        what=what,
                        a=node_a,
                        b=node_b,
                        params=_changes(activity_params(node_a), activity_params(node_b)),
                        code=_changes(code_a, code_b),
                        environment=_changes(env_a, env_b),
                        agents=_changes(agent_map(node_a), agent_map(node_b)),
                    )
                )
            result.activities_only_a.extend(left[len(right) :])
            result.activities_only_b.extend(right[len(left) :])

    @staticmethod
    def _pair_versions(result: LineageDiff, generals: Mapping[str, list[str]]) -> None:
        def key(node: GraphNode) -> str:
            if generals.get(node.id):
                return sorted(generals[node.id])[0]
            return str(node.properties.get("uri") or node.properties.get("label") or node.id)

        groups: dict[str, VersionChange] = {}
        for side, nodes in (("a", result.only_a), ("b", result.only_b)):
            for node in nodes:
                change = groups.setdefault(key(node), VersionChange(key=key(node)))
                getattr(change, side).append(node)
        result.version_changes = [c for _, c in sorted(groups.items()) if c.a and c.b]

    # -- backtrace and recipe ----------------------------------------------------------------
    def _activity_rows(self, name: str, id: str, depth: int) -> list[dict[str, Any]]:
        templates.validate_bound("depth", depth)
        self.store.require_ids(id)
        return self._named(name, id=id, depth=depth)

    @staticmethod
    def _order(rows: list[dict[str, Any]], *, newest_first: bool) -> list[dict[str, Any]]:
        by_id = {str(r["activity"]["id"]): r for r in rows}
        upstream = {i: set(r["upstream"]) for i, r in by_id.items()}
        if newest_first:  # a frame comes before the frames it depends on
            before: dict[str, set[str]] = {i: set() for i in by_id}
            for consumer, ups in upstream.items():
                for up in ups:
                    if up in before:
                        before[up].add(consumer)
        else:
            before = upstream

        def key(i: str) -> tuple[bool, float, str]:
            when = _node_time(_node(by_id[i]["activity"]))
            stamp = when.timestamp() if when else 0.0
            return (when is None, -stamp if newest_first else stamp, i)

        return [by_id[i] for i in _dependency_order(list(by_id), before, key)]

    @staticmethod
    def _agents(row: Mapping[str, Any]) -> list[AgentRef]:
        refs = [
            AgentRef(
                agent=_node(a["agent"]),
                plan=a.get("plan"),
                role=a.get("role"),
                on_behalf_of=list(a.get("on_behalf_of") or []),
            )
            for a in row["agents"]
        ]
        return sorted(refs, key=lambda ref: (ref.agent.display_name.lower(), ref.agent.id))

    @staticmethod
    def _usages(items: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """Inputs/outputs in a stable order (Cypher returns them in storage order)."""
        return sorted(
            items,
            key=lambda u: (
                str(u["entity"]["properties"].get("label") or ""),
                str(u["entity"]["id"]),
            ),
        )

    def backtrace(self, id: str, *, depth: int = templates.DEFAULT_DEPTH) -> Backtrace:
        """The activities that produced ``id``, newest first, like a debugger's backtrace."""
        rows = self._order(self._activity_rows("backtrace", id, depth), newest_first=True)
        frames = [
            Frame(
                number=i,
                activity=_node(r["activity"]),
                agents=self._agents(r),
                inputs=[
                    Usage(entity=_node(u["entity"]), role=u["role"], time=u["time"])
                    for u in self._usages(r["inputs"])
                ],
                outputs=[
                    Usage(entity=_node(u["entity"]), role=u["role"], time=u["time"])
                    for u in self._usages(r["outputs"])
                ],
                upstream=sorted(set(r["upstream"])),
            )
            for i, r in enumerate(rows)
        ]
        return Backtrace(id=id, frames=frames)

    def recipe(self, id: str, *, depth: int = templates.DEFAULT_DEPTH) -> Recipe:
        """Everything needed to re-run the processing that produced ``id``, oldest step first."""
        rows = self._order(self._activity_rows("recipe", id, depth), newest_first=False)
        steps = [
            RecipeStep(
                number=i + 1,
                activity=_node(r["activity"]),
                agents=self._agents(r),
                inputs=[
                    RecipeInput(
                        entity=_node(u["entity"]),
                        role=u["role"],
                        time=u["time"],
                        general=[_node(g) for g in u["general"]],
                        generated_by=list(u["generated_by"]),
                    )
                    for u in self._usages(r["inputs"])
                ],
                outputs=[
                    Usage(entity=_node(u["entity"]), role=u["role"], time=u["time"])
                    for u in self._usages(r["outputs"])
                ],
                upstream=sorted(set(r["upstream"])),
            )
            for i, r in enumerate(rows)
        ]
        return Recipe(id=id, steps=steps)

    # -- path, blame, search -----------------------------------------------------------------
    def path(self, a: str, b: str, *, depth: int = templates.DEFAULT_DEPTH) -> LineagePath:
        """How ``a`` was derived from ``b``: one shortest lineage path, or ``found == False``."""
        templates.validate_bound("depth", depth)
        self.store.require_ids(a, b)
        if a == b:
            raise QueryError("path needs two different elements")
        found = self._named("path", a=a, b=b, depth=depth)[0]["path"]
        if found is None:
            return LineagePath(a=a, b=b)
        return LineagePath(
            a=a,
            b=b,
            nodes=[_node(n) for n in found["nodes"]],
            relationships=[_rel(r) for r in found["relationships"]],
        )

    def blame(
        self,
        ids: Iterable[str],
        *,
        depth: int = templates.DEFAULT_DEPTH,
        kinds: Iterable[str | ElementKind] | None = None,
        min_hits: int | None = None,
        limit: int | None = None,
    ) -> BlameReport:
        """Rank what the flagged outputs ``ids`` share upstream, most likely culprit first."""
        flagged = list(dict.fromkeys(ids))
        if not flagged:
            raise QueryError("blame needs at least one id")
        templates.validate_bound("depth", depth)
        self.store.require_ids(*flagged)
        rows = self._named(
            "blame",
            ids=flagged,
            depth=depth,
            kinds=_kinds(kinds),
            min_hits=_limit(min_hits),
            limit=_limit(limit),
        )
        return BlameReport(
            flagged=flagged,
            suspects=[
                Suspect(
                    element=_node(r["element"]),
                    hits=r["hits"],
                    share=r["hits"] / len(flagged),
                    reached_from=sorted(r["reached_from"]),
                    agents=[_node(g) for g in r["agents"]],
                )
                for r in rows
            ],
        )

    def search(
        self,
        text: str | None = None,
        *,
        id_prefix: str | None = None,
        kinds: Iterable[str | ElementKind] | None = None,
        prov_type: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        limit: int | None = 100,
    ) -> SearchResults:
        """Find elements by label/id text, id prefix, kind, PROV type and time window."""
        rows = self._named(
            "search",
            text=text or None,
            id_prefix=id_prefix or None,
            kinds=_kinds(kinds),
            prov_type=prov_type,
            since=_time_param("since", since),
            until=_time_param("until", until),
            limit=_limit(limit),
        )
        return SearchResults(nodes=[_node(r["node"]) for r in rows])
