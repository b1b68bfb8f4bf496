"""Captured records and what they become in the graph.

The decorator and the pipeline API write plain dicts (building models per call would cost more
than the whole call budget); this module is the boundary where those dicts are validated as
pydantic models and turned into PROV elements and relations. Both delivery paths use it: the
spool importer and the synchronous ``direct`` mode.

Record kinds (``k``): ``hello`` (the header of a spool file: host, process, Python, packages),
``call`` (one call of a tracked function), ``component`` (a pipeline component),
``crun`` (a component run) and ``prun`` (a pipeline run grouping component runs).

Identities: a call is ``urn:lineagegraph:track:call:<artifact>`` where the artifact hash covers
the function, its version and the input hashes; values are :func:`~lineagegraph.identity.value_id`
of their content hash; files are locations and content versions; component runs and pipeline
runs are hashed from what they did, so that re-running with unchanged inputs converges.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from lineagegraph.identity import source_id, value_id
from lineagegraph.model import (
    Activity,
    Agent,
    Element,
    Entity,
    Relation,
    SpecializationOf,
    Used,
    WasAssociatedWith,
    WasGeneratedBy,
    WasInfluencedBy,
)

__all__ = [
    "CallRecord",
    "ComponentRecord",
    "ComponentRunRecord",
    "HelloRecord",
    "IORef",
    "PipelineRunRecord",
    "Record",
    "RecordGraph",
    "call_id",
    "component_id",
    "output_node_id",
    "parse_record",
]

SCHEMA_VERSION = 1


def call_id(artifact: str) -> str:
    return source_id("track", "call", artifact)


def function_agent_id(qualname: str) -> str:
    return source_id("track", "function", qualname)


def component_id(name: str) -> str:
    return source_id("pipeline", "component", name)


def output_node_id(output_id: str) -> str:
    """The graph id of a served output logged with ``log_output(output_id)``."""
    return source_id("pipeline", "output", output_id)


def pointer_id(name: str) -> str:
    return source_id("pipeline", "io", name)


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class IORef(_Record):
    """An input or output: a value (``h``), a file (``loc``), an I/O id (``ptr``) or a served output."""

    r: str | None = Field(default=None, description="role: parameter name, 'return', 'yield[i]', ...")
    h: str | None = Field(default=None, pattern=r"^[0-9a-f]{16,128}$", description="content hash")
    t: str | None = Field(default=None, description="type name")
    p: str | None = Field(default=None, description="short preview")
    s: bool = Field(default=True, description="False: no stable content; a random identity")
    loc: str | None = Field(default=None, description="location id")
    v: str | None = Field(default=None, description="version id of the location")
    ptr: str | None = None
    out: str | None = None


class HelloRecord(_Record):
    k: Literal["hello"]
    v: int = SCHEMA_VERSION
    host: str
    pid: int
    python: str
    platform: str | None = None
    packages: dict[str, str] = Field(default_factory=dict)
    user: dict[str, Any] = Field(default_factory=dict)


class CallRecord(_Record):
    k: Literal["call"]
    fn: str = Field(min_length=1)
    ver: str | None = None
    aid: str = Field(pattern=r"^[0-9a-f]{16,128}$")
    t0: float
    t1: float
    st: Literal["ok", "failed"]
    exc: str | None = None
    ins: list[IORef] = Field(default_factory=list)
    outs: list[IORef] = Field(default_factory=list)
    n_yield: int | None = None
    tags: list[str] = Field(default_factory=list)
    fields: dict[str, Any] = Field(default_factory=dict)
    git: tuple[str, bool] | None = None
    pid: int | None = None


class ComponentRecord(_Record):
    k: Literal["component"]
    name: str = Field(min_length=1)
    description: str | None = None
    owner: str | None = None
    tags: list[str] = Field(default_factory=list)


class ComponentRunRecord(_Record):
    k: Literal["crun"]
    id: str = Field(pattern=r"^[0-9a-f]{16,128}$")
    comp: str = Field(min_length=1)
    t0: float
    t1: float
    st: Literal["ok", "failed"]
    exc: str | None = None
    ins: list[IORef] = Field(default_factory=list)
    outs: list[IORef] = Field(default_factory=list)
    git: tuple[str, bool] | None = None
    code: str | None = None
    pid: int | None = None


class PipelineRunRecord(_Record):
    k: Literal["prun"]
    id: str = Field(pattern=r"^[0-9a-f]{16,128}$")
    name: str = Field(min_length=1)
    t0: float
    t1: float
    st: Literal["ok", "failed"]
    exc: str | None = None
    runs: list[str] = Field(default_factory=list)
    pid: int | None = None


Record = Annotated[
    HelloRecord | CallRecord | ComponentRecord | ComponentRunRecord | PipelineRunRecord, Field(discriminator="k")
]
_RECORD: TypeAdapter[Any] = TypeAdapter(Record)


def parse_record(data: dict[str, Any]) -> Any:
    """Validate one record dict (raises ``pydantic.ValidationError``)."""
    return _RECORD.validate_python(data)


def _when(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _basename(location: str) -> str:
    return location.rstrip("/").rsplit("/", 1)[-1] or location


class RecordGraph:
    """Collects the elements and relations of many records, each element once."""

    def __init__(self) -> None:
        self._elements: dict[str, Element] = {}
        self._relations: dict[tuple[str, str, str, str], Relation] = {}
        self.system: dict[str, Any] = {}
        self.user: dict[str, Any] = {}

    @property
    def elements(self) -> list[Element]:
        return list(self._elements.values())

    @property
    def relations(self) -> list[Relation]:
        return list(self._relations.values())

    def _element(self, element: Element) -> None:
        # The later record wins (a re-run's newer times replace the older ones).
        self._elements[element.id] = element

    def _relation(self, relation: Relation) -> None:
        self._relations[(relation.type.value, relation.start, relation.end, relation.key())] = relation

    def add(self, record: Any) -> None:
        if isinstance(record, HelloRecord):
            self.system = {"host": record.host, "pid": record.pid, "python": record.python,
                           "platform": record.platform, "packages": record.packages}
            self.user = dict(record.user)
        elif isinstance(record, CallRecord):
            self._call(record)
        elif isinstance(record, ComponentRecord):
            self._component(record)
        elif isinstance(record, ComponentRunRecord):
            self._component_run(record)
        elif isinstance(record, PipelineRunRecord):
            self._pipeline_run(record)

    def _io(self, ref: IORef) -> str:
        """Declare the entity (or entities) ``ref`` names; return the id the activity links to."""
        if ref.loc is not None:
            name = _basename(ref.loc)
            self._element(Entity(id=ref.loc, uri=ref.loc, label=name, extra_labels=frozenset({"Location"})))
            if ref.v is None:
                return ref.loc
            label = f"{name} @ {ref.h[:12]}" if ref.h else f"{name} (version)"
            self._element(Entity(id=ref.v, uri=ref.loc, label=label,
                                 digest=f"sha256:{ref.h}" if ref.h else None))
            self._relation(SpecializationOf(specific=ref.v, general=ref.loc))
            return ref.v
        if ref.out is not None:
            node = output_node_id(ref.out)
            self._element(Entity(id=node, label=ref.out, prov_type=["lineagegraph:ServedOutput"],
                                 attributes={"output_id": ref.out}))
            return node
        if ref.ptr is not None:
            node = pointer_id(ref.ptr)
            self._element(Entity(id=node, label=ref.ptr, attributes={"io_name": ref.ptr}))
            return node
        if ref.h is None:
            raise ValueError("an input/output needs one of h, loc, ptr, out")
        node = value_id(ref.h) if ref.s else source_id("track", "opaque", ref.h)
        label = ref.t or "value"
        if ref.p is not None:
            label += f" {ref.p}"
        self._element(Entity(id=node, label=label, digest=f"sha256:{ref.h}" if ref.s else None,
                             prov_type=["lineagegraph:Value"],
                             attributes={"value_type": ref.t, "preview": ref.p}))
        return node

    def _links(self, activity: str, ins: list[IORef], outs: list[IORef]) -> None:
        for ref in ins:
            self._relation(Used(activity=activity, entity=self._io(ref),
                                attributes={"prov:role": ref.r} if ref.r else {}))
        for ref in outs:
            # No generation time on the relationship: it is part of a relationship's identity, and a
            # re-run must converge (the activity's ended_at says when).
            self._relation(WasGeneratedBy(entity=self._io(ref), activity=activity,
                                          attributes={"prov:role": ref.r} if ref.r else {}))

    def _system(self, pid: int | None, t0: float, t1: float) -> dict[str, Any]:
        system = dict(self.system)
        if pid is not None:
            system["pid"] = pid
        return {"system": system, "runtime": {"duration_s": round(t1 - t0, 6)}}

    def _call(self, rec: CallRecord) -> None:
        node = call_id(rec.aid)
        attributes: dict[str, Any] = {**self.user, **rec.fields, "function": rec.fn, "artifact_digest": rec.aid,
                                      **self._system(rec.pid, rec.t0, rec.t1)}
        if rec.exc:
            attributes["error_type"] = rec.exc
        if rec.tags:
            attributes["tags"] = sorted(rec.tags)
        if rec.git:
            attributes["git_commit"], attributes["git_dirty"] = rec.git
        if rec.n_yield is not None:
            attributes["yielded"] = rec.n_yield
        self._element(Activity(id=node, label=f"{rec.fn}()", started_at=_when(rec.t0), ended_at=_when(rec.t1),
                               status=rec.st, code_version=rec.ver, attributes=attributes))
        agent = function_agent_id(rec.fn)
        self._element(Agent(id=agent, label=rec.fn, agent_type="function"))
        self._relation(WasAssociatedWith(activity=node, agent=agent))
        self._links(node, rec.ins, rec.outs)

    def _component(self, rec: ComponentRecord) -> None:
        attributes: dict[str, Any] = {"component": rec.name}
        if rec.description:
            attributes["description"] = rec.description
        if rec.owner:
            attributes["owner"] = rec.owner
        if rec.tags:
            attributes["tags"] = sorted(rec.tags)
        self._element(Agent(id=component_id(rec.name), label=rec.name, agent_type="component",
                            attributes=attributes))

    def _component_run(self, rec: ComponentRunRecord) -> None:
        node = source_id("pipeline", "run", rec.id)
        attributes: dict[str, Any] = {**self.user, "component": rec.comp, **self._system(rec.pid, rec.t0, rec.t1)}
        if rec.code:
            attributes["code_digest"] = rec.code
        if rec.exc:
            attributes["error_type"] = rec.exc
        if rec.git:
            attributes["git_commit"], attributes["git_dirty"] = rec.git
        self._element(Activity(id=node, label=f"{rec.comp} run", started_at=_when(rec.t0), ended_at=_when(rec.t1),
                               status=rec.st, code_version=(rec.code or "")[:12] or None, attributes=attributes))
        agent = component_id(rec.comp)
        if agent not in self._elements:
            # A run without its component record in this batch: declare the component minimally
            # (the MERGE keeps what a full component record wrote).
            self._element(Agent(id=agent, label=rec.comp, agent_type="component",
                                attributes={"component": rec.comp}))
        self._relation(WasAssociatedWith(activity=node, agent=agent))
        self._links(node, rec.ins, rec.outs)

    def _pipeline_run(self, rec: PipelineRunRecord) -> None:
        node = source_id("pipeline", "pipeline-run", rec.id)
        attributes: dict[str, Any] = {**self.user, "pipeline": rec.name, "component_runs": len(rec.runs),
                                      **self._system(rec.pid, rec.t0, rec.t1)}
        if rec.exc:
            attributes["error_type"] = rec.exc
        self._element(Activity(id=node, label=f"pipeline {rec.name}", started_at=_when(rec.t0),
                               ended_at=_when(rec.t1), status=rec.st, attributes=attributes))
        for run in rec.runs:
            self._relation(WasInfluencedBy(influencee=source_id("pipeline", "run", run), influencer=node,
                                           attributes={"prov:role": "part of pipeline run"}))
