"""Extractors: one raw Kubernetes object in, transactions (runs with inputs/outputs/transform) out.

An extractor is any callable ``(obj, ctx) -> list[Transaction] | None``. ``None`` means "not an
object I handle" (the next extractor is asked); an empty list means "handled, nothing to derive"
(a Pod that is part of a Job, a ConfigMap). The built-in conventions, each documented with an
example in ``docs/kubernetes.md``:

* command-line args and env: ``--train_data=gs://...``, ``--output gs://...``, ``OUTPUT_DIR=...``;
  which names mean input and which output is configurable (:class:`Conventions`);
* annotations ``lineage.<any-domain>/inputs`` and ``/outputs``: a JSON list of URIs or an object
  of role -> URI;
* Argo Workflows: the workflow is the pipeline run, each Pod node a step run with its input and
  output artifacts and parameters, DAG/steps order as WAS_INFORMED_BY;
* TFJob / PyTorchJob replica specs (every replica's containers, replica counts as parameters);
* ConfigMaps referenced by ``envFrom``, ``configMapKeyRef`` and volumes are used entities,
  versioned by resourceVersion;
* ownerReferences: a Pod owned by a Job (or TFJob, ...) is a part of that run, not a run; a Job
  owned by a CronJob is one run of the CronJob's plan.
"""

from __future__ import annotations

import functools
import json
import os
import re
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from lineagegraph.errors import ConfigError
from lineagegraph.identity import source_id

if TYPE_CHECKING:
    from lineagegraph.importers.k8s.rawstore import RawStore, StoredObject, StoredVersion

__all__ = [
    "BUILTIN_EXTRACTORS",
    "AgentRef",
    "Artifact",
    "Conventions",
    "ExtractContext",
    "Extractor",
    "PlanRef",
    "Transaction",
    "Transform",
    "run_id",
]

SOURCE = "k8s"


class Artifact(BaseModel):
    """An input or output: a data location (``uri``) or a Kubernetes-held entity (``entity``)."""

    role: str
    uri: str | None = None
    entity: str | None = None
    label: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class Transform(BaseModel):
    """How the outputs were made: the code (image, command, args) and the as-executed parameters."""

    image: str | None = None
    images: list[str] = Field(default_factory=list)
    command: list[str] = Field(default_factory=list)
    args: list[str] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)


class AgentRef(BaseModel):
    id: str
    label: str
    agent_type: str
    attributes: dict[str, Any] = Field(default_factory=dict)


class PlanRef(BaseModel):
    """What a run carried out, shared by successive runs (a CronJob's job template)."""

    id: str
    label: str
    attributes: dict[str, Any] = Field(default_factory=dict)


class Transaction(BaseModel):
    """One run derived from the raw store: the seed's ``inputs / outputs / transform`` row."""

    id: str
    label: str
    kind: str
    inputs: list[Artifact] = Field(default_factory=list)
    outputs: list[Artifact] = Field(default_factory=list)
    transform: Transform = Field(default_factory=Transform)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    status: str | None = None
    agents: list[AgentRef] = Field(default_factory=list)
    plan: PlanRef | None = None
    plan_agent: str | None = None
    parent: str | None = None
    informed_by: list[str] = Field(default_factory=list)
    parts: list[str] = Field(default_factory=list)
    attributes: dict[str, Any] = Field(default_factory=dict)


Extractor = Callable[[dict[str, Any], "ExtractContext"], list[Transaction] | None]



@functools.lru_cache(maxsize=4096)
def _role(key: str, extra_outputs: tuple[str, ...], extra_inputs: tuple[str, ...], output_names: tuple[str, ...],
          input_names: tuple[str, ...]) -> str | None:
    # Cached: every Job repeats the same few flag and env names, and each was searched with every
    # pattern (about a tenth of the time an ETL pass spent in Python).
    # A team's configured names win over the defaults; within each, outputs are checked first.
    for outputs, inputs in ((extra_outputs, extra_inputs), (output_names, input_names)):
        if any(re.search(p, key, re.I) for p in outputs):
            return "output"
        if any(re.search(p, key, re.I) for p in inputs):
            return "input"
    return None

@dataclass
class Conventions:
    """Which flag/env names mean input or output (case-insensitive regex searches, ``_``/``-`` equal)."""

    input_names: list[str] = field(default_factory=lambda: [
        r"input", r"(^|_)in($|_)", r"data$", r"dataset", r"source", r"(^|_)src", r"checkpoint", r"from",
        r"train", r"eval", r"test_data", r"features", r"labels"])
    output_names: list[str] = field(default_factory=lambda: [
        r"output", r"(^|_)out($|_)", r"model_dir", r"export", r"dest", r"save", r"target", r"(^|_)to$",
        r"result"])
    # Configured in lineagegraph.toml ([k8s.conventions] inputs/outputs); checked before the defaults.
    extra_inputs: list[str] = field(default_factory=list)
    extra_outputs: list[str] = field(default_factory=list)
    schemes: tuple[str, ...] = ("gs", "gcs", "s3", "s3a", "s3n", "hdfs", "abfs", "abfss", "wasbs", "az",
                                "file", "pvc", "http", "https")

    @classmethod
    def from_config(cls, path: Path | None = None) -> Conventions:
        """Defaults, plus the ``[k8s.conventions]`` table of ``lineagegraph.toml`` (or ``LINEAGEGRAPH_CONFIG``).

        ``inputs`` / ``outputs`` (lists of regexes) are checked before the defaults;
        ``replace_defaults = true`` drops the defaults; ``schemes`` replaces the location schemes.
        """
        path = path or Path(os.environ.get("LINEAGEGRAPH_CONFIG", "lineagegraph.toml"))
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: cannot read the [k8s.conventions] table: {exc}") from exc
        table = data.get("k8s", {}).get("conventions", {})
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [k8s.conventions] must be a table")
        conventions = cls()
        for key, attribute in (("inputs", "input_names"), ("outputs", "output_names")):
            given = table.get(key, [])
            if not isinstance(given, list) or not all(isinstance(p, str) for p in given):
                raise ConfigError(f"{path}: k8s.conventions.{key} must be a list of regular expressions")
            for pattern in given:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ConfigError(f"{path}: k8s.conventions.{key}: {pattern!r} is not a regex: {exc}") from exc
            setattr(conventions, "extra_" + key, list(given))
            if table.get("replace_defaults"):
                setattr(conventions, attribute, [])
        if "schemes" in table:
            conventions.schemes = tuple(str(s).lower() for s in table["schemes"])
        return conventions

    def role(self, name: str) -> str | None:
        """``"output"``, ``"input"`` or None for a flag or env name (outputs checked first)."""
        return _role(name.strip("-").lower().replace("-", "_"), tuple(self.extra_outputs), tuple(self.extra_inputs),
                     tuple(self.output_names), tuple(self.input_names))

    def is_location(self, value: str) -> bool:
        scheme, sep, _ = value.partition("://")
        return bool(sep) and scheme.lower() in self.schemes


class ExtractContext:
    """What an extractor may look up besides its object: owners, parts, ConfigMaps, conventions."""

    def __init__(self, rawstore: RawStore, version: StoredVersion, conventions: Conventions | None = None,
                 owners: dict[str, list[StoredObject]] | None = None):
        self.rawstore = rawstore
        self.version = version
        self.conventions = conventions or Conventions()
        # owner uid -> the objects it owns, when the caller (the ETL) indexed them for a whole pass.
        self._owners = owners

    def owned(self, uid: str, kind: str | None = None) -> list[dict[str, Any]]:
        """The newest stored versions of the objects that ``uid`` owns (a Job's Pods), oldest first."""
        if self._owners is not None:
            children = [o for o in self._owners.get(uid, []) if kind is None or o.kind.lower() == kind.lower()]
        else:
            children = self.rawstore.objects(owner_uid=uid, kind=kind)
        if not children:
            return []
        latest = self.rawstore.latest(o.uid for o in children)
        found = [latest[o.uid].object for o in children if o.uid in latest]
        return sorted(found, key=lambda o: str(o["metadata"].get("creationTimestamp") or ""))

    def object(self, uid: str) -> dict[str, Any] | None:
        found = self.rawstore.latest([uid])
        return found[uid].object if uid in found else None

    def configmap(self, namespace: str | None, name: str, at: datetime | None) -> dict[str, Any] | None:
        """The ConfigMap version in effect at ``at``: the newest one last changed by then.

        When a version was changed is read from the object itself (``managedFields`` times, else
        ``creationTimestamp``); without ``at``, or when none is that old, the newest version.
        """
        versions = [v.object for stored in self.rawstore.objects(kind="ConfigMap", namespace=namespace, name=name)
                    for v in self.rawstore.history(stored.uid)]
        if not versions:
            return None

        def changed(obj: dict[str, Any]) -> datetime | None:
            times = [_time(f.get("time")) for f in _meta(obj).get("managedFields") or [] if isinstance(f, dict)]
            known = [t for t in times if t is not None]
            return max(known) if known else _time(_meta(obj).get("creationTimestamp"))

        if at is not None:
            before = [v for v in versions if (changed(v) or at) <= at]
            if before:
                versions = before
        return versions[-1]


def run_id(uid: str, *parts: str) -> str:
    """The activity id of an object's run (and of a part of it, such as an Argo node)."""
    return source_id(SOURCE, "run", uid, *parts)


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _owner(obj: dict[str, Any], *kinds: str) -> dict[str, Any] | None:
    for ref in _meta(obj).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("kind") in kinds:
            return ref
    return None


def _pod_specs(template_holder: Any) -> Iterator[dict[str, Any]]:
    if isinstance(template_holder, dict):
        spec = template_holder.get("spec")
        if isinstance(spec, dict):
            yield spec


def _containers(pod_spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for key in ("initContainers", "containers") for c in pod_spec.get(key) or [] if isinstance(c, dict)]


def _pvc_uri(value: str, pod_spec: dict[str, Any], container: dict[str, Any], namespace: str | None) -> str | None:
    """``/mnt/data/x`` inside a PersistentVolumeClaim mount -> ``pvc://namespace/claim/x``."""
    claims = {v.get("name"): v["persistentVolumeClaim"].get("claimName") for v in pod_spec.get("volumes") or []
              if isinstance(v, dict) and isinstance(v.get("persistentVolumeClaim"), dict)}
    for mount in container.get("volumeMounts") or []:
        path = str(mount.get("mountPath", "")).rstrip("/")
        claim = claims.get(mount.get("name"))
        if claim and path and (value == path or value.startswith(path + "/")):
            sub = "/".join(p for p in (mount.get("subPath"), value[len(path):].strip("/")) if p)
            return f"pvc://{namespace or 'default'}/{claim}" + (f"/{sub}" if sub else "")
    return None


def _location(value: str, conv: Conventions, pod_spec: dict[str, Any], container: dict[str, Any],
              namespace: str | None) -> str | None:
    if conv.is_location(value):
        return value
    if value.startswith("/"):
        return _pvc_uri(value, pod_spec, container, namespace)
    return None


def _flag_pairs(args: list[str]) -> Iterator[tuple[str, str]]:
    """``--name=value`` and ``--name value`` pairs of an argument list."""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("-") and "=" in arg:
            name, _, value = arg.partition("=")
            yield name.lstrip("-"), value
        elif arg.startswith("-") and i + 1 < len(args) and not args[i + 1].startswith("-"):
            yield arg.lstrip("-"), args[i + 1]
            i += 1
        i += 1


def _scalar(value: str) -> Any:
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            continue
    return value


def container_conventions(pod_spec: dict[str, Any], namespace: str | None, conv: Conventions,
                          tx: Transaction) -> None:
    """Fill ``tx`` from the containers' args and env (inputs, outputs, params, images)."""
    for container in _containers(pod_spec):
        image = container.get("image")
        if isinstance(image, str) and image not in tx.transform.images:
            tx.transform.images.append(image)
        args = [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]
        if container.get("args"):
            tx.transform.args.extend(str(a) for a in container["args"])
        if container.get("command"):
            tx.transform.command.extend(str(a) for a in container["command"])
        named = list(_flag_pairs(args))
        named += [(str(e.get("name")), e["value"]) for e in container.get("env") or []
                  if isinstance(e, dict) and isinstance(e.get("value"), str)]
        for name, value in named:
            where = _location(value, conv, pod_spec, container, namespace)
            role = conv.role(name)
            if where and role:
                target = tx.outputs if role == "output" else tx.inputs
                if not any(a.uri == where for a in target):
                    target.append(Artifact(role=name, uri=where))
            else:
                # Not a location, or a location whose role no convention names: kept as a parameter.
                tx.transform.params.setdefault(name, _scalar(value))
    if tx.transform.images and tx.transform.image is None:
        tx.transform.image = tx.transform.images[-1]


def annotation_conventions(obj: dict[str, Any], tx: Transaction) -> None:
    """``lineage.<domain>/inputs`` / ``/outputs``: a JSON list of URIs or an object role -> URI."""
    for key, value in (_meta(obj).get("annotations") or {}).items():
        match = re.fullmatch(r"lineage\.[^/]+/(inputs|outputs)", str(key))
        if not match or not isinstance(value, str):
            continue
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = [v.strip() for v in value.split(",") if v.strip()]
        pairs = (list(parsed.items()) if isinstance(parsed, dict)
                 else [(match[1][:-1], v) for v in parsed] if isinstance(parsed, list) else [])
        target = tx.inputs if match[1] == "inputs" else tx.outputs
        for role, uri in pairs:
            if isinstance(uri, str) and uri and not any(a.uri == uri for a in target):
                target.append(Artifact(role=str(role), uri=uri))


def configmap_uses(pod_spec: dict[str, Any], namespace: str | None, ctx: ExtractContext,
                   at: datetime | None, tx: Transaction) -> None:
    """ConfigMaps the pod reads (envFrom, configMapKeyRef, volumes, projected volumes) as inputs."""
    names: dict[str, str] = {}
    for container in _containers(pod_spec):
        for source in container.get("envFrom") or []:
            ref = source.get("configMapRef") if isinstance(source, dict) else None
            if isinstance(ref, dict) and ref.get("name"):
                names.setdefault(ref["name"], "envFrom")
        for env in container.get("env") or []:
            ref = ((env.get("valueFrom") or {}).get("configMapKeyRef") or {}) if isinstance(env, dict) else {}
            if ref.get("name"):
                names.setdefault(ref["name"], f"env {env.get('name')}")
    for volume in pod_spec.get("volumes") or []:
        if not isinstance(volume, dict):
            continue
        refs = [volume.get("configMap")] + [s.get("configMap") for s in
                                            (volume.get("projected") or {}).get("sources") or [] if isinstance(s, dict)]
        for ref in refs:
            if isinstance(ref, dict) and ref.get("name"):
                names.setdefault(ref["name"], f"volume {volume.get('name')}")
    for name, how in sorted(names.items()):
        cm = ctx.configmap(namespace, name, at)
        rv = str(_meta(cm).get("resourceVersion")) if cm else "unknown"
        tx.inputs.append(Artifact(
            role=f"configmap ({how})", entity=source_id(SOURCE, "configmap", namespace or "", name, rv),
            label=f"ConfigMap {namespace}/{name} (resourceVersion {rv})",
            attributes={"k8s_kind": "ConfigMap", "namespace": namespace, "name": name, "resource_version": rv,
                        "general": source_id(SOURCE, "configmap", namespace or "", name),
                        "data": (cm or {}).get("data")}))


def _agents(pod_spec: dict[str, Any], namespace: str | None, pods: list[dict[str, Any]],
            tx: Transaction) -> None:
    digests: dict[str, str] = {}
    for pod in pods:
        status = pod.get("status") or {}
        for cs in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []):
            image_id = str(cs.get("imageID") or "")
            if "@sha256:" in image_id:
                digests[str(cs.get("image"))] = "sha256:" + image_id.rsplit("@sha256:", 1)[1]
    for image in tx.transform.images:
        digest = digests.get(image)
        ident = image.split("@", 1)[0] + (f"@{digest}" if digest else "") if "@" not in image or digest else image
        tx.agents.append(AgentRef(id=source_id(SOURCE, "image", ident), label=f"image {image.rsplit('/', 1)[-1]}",
                                  agent_type="SoftwareAgent",
                                  attributes={"image": image, "digest": digest or _digest_of(image)}))
    account = pod_spec.get("serviceAccountName") or pod_spec.get("serviceAccount")
    if account:
        tx.agents.append(AgentRef(id=source_id(SOURCE, "serviceaccount", namespace or "", account),
                                  label=f"service account {namespace}/{account}", agent_type="ServiceAccount"))
    if digests:
        tx.attributes["image_digests"] = sorted(set(digests.values()))


def _digest_of(image: str) -> str | None:
    return "sha256:" + image.rsplit("@sha256:", 1)[1] if "@sha256:" in image else None


def _job_status(status: dict[str, Any]) -> str:
    for cond in status.get("conditions") or []:
        if cond.get("status") == "True" and cond.get("type") in ("Complete", "Succeeded"):
            return "succeeded"
        if cond.get("status") == "True" and cond.get("type") == "Failed":
            return "failed"
    if status.get("succeeded"):
        return "succeeded"
    if status.get("failed") and not status.get("active"):
        return "failed"
    return "running" if status.get("startTime") else "pending"


def _base(obj: dict[str, Any], label: str) -> Transaction:
    meta = _meta(obj)
    status = obj.get("status") or {}
    return Transaction(
        id=run_id(meta["uid"]), label=label, kind=obj["kind"],
        started_at=_time(status.get("startTime") or status.get("startedAt") or meta.get("creationTimestamp")),
        ended_at=_time(status.get("completionTime") or status.get("finishedAt")),
        status=_job_status(status),
        # Attribute names follow the query layer's grouping: cluster_*/namespace are environment,
        # image*/code_* are code, everything else is a parameter (see docs/kubernetes.md).
        attributes={"cluster_kind": obj["kind"], "cluster_uid": meta["uid"], "namespace": meta.get("namespace"),
                    "cluster_name": meta.get("name")},
    )


def _workload(obj: dict[str, Any], ctx: ExtractContext, pod_specs: list[dict[str, Any]], label: str) -> Transaction:
    """A run whose pods are all parts of it: Job, TFJob, PyTorchJob, a standalone Pod."""
    ns = _meta(obj).get("namespace")
    tx = _base(obj, label)
    pods = ctx.owned(_meta(obj)["uid"], kind="Pod") if obj["kind"] != "Pod" else [obj]
    for spec in pod_specs:
        container_conventions(spec, ns, ctx.conventions, tx)
        configmap_uses(spec, ns, ctx, tx.started_at, tx)
    annotation_conventions(obj, tx)
    for spec in pod_specs[:1]:
        _agents(spec, ns, pods, tx)
    tx.parts = [str(_meta(p).get("name")) for p in pods if obj["kind"] != "Pod"]
    return tx


def extract_job(obj: dict[str, Any], ctx: ExtractContext) -> list[Transaction] | None:
    if obj.get("kind") != "Job" or not str(obj.get("apiVersion", "")).startswith("batch/"):
        return None
    meta = _meta(obj)
    tx = _workload(obj, ctx, list(_pod_specs((obj.get("spec") or {}).get("template"))),
                   f"Job {meta.get('namespace')}/{meta.get('name')}")
    cron = _owner(obj, "CronJob")
    if cron:
        ns = meta.get("namespace") or ""
        cron_obj = ctx.object(str(cron.get("uid"))) or {}
        tx.plan = PlanRef(id=source_id(SOURCE, "cronjob", ns, str(cron.get("name"))),
                          label=f"CronJob {ns}/{cron.get('name')}",
                          attributes={"schedule": (cron_obj.get("spec") or {}).get("schedule"),
                                      "k8s_kind": "CronJob", "k8s_uid": cron.get("uid")})
        tx.plan_agent = source_id(SOURCE, "controller", "CronJob", ns, str(cron.get("name")))
    return [tx]


def extract_pod(obj: dict[str, Any], ctx: ExtractContext) -> list[Transaction] | None:
    if obj.get("kind") != "Pod" or obj.get("apiVersion") != "v1":
        return None
    if _meta(obj).get("ownerReferences"):
        return []  # a part of its owner's run (Job, TFJob, Workflow, ...)
    meta = _meta(obj)
    return [_workload(obj, ctx, [obj.get("spec") or {}], f"Pod {meta.get('namespace')}/{meta.get('name')}")]


def extract_training_job(obj: dict[str, Any], ctx: ExtractContext) -> list[Transaction] | None:
    key = {"TFJob": "tfReplicaSpecs", "PyTorchJob": "pytorchReplicaSpecs"}.get(str(obj.get("kind")))
    if key is None or not str(obj.get("apiVersion", "")).startswith("kubeflow.org/"):
        return None
    meta = _meta(obj)
    replicas = (obj.get("spec") or {}).get(key) or {}
    specs = [s for _, r in sorted(replicas.items()) for s in _pod_specs((r or {}).get("template"))]
    tx = _workload(obj, ctx, specs, f"{obj['kind']} {meta.get('namespace')}/{meta.get('name')}")
    for name, replica in sorted(replicas.items()):
        tx.transform.params[f"replicas.{name}"] = (replica or {}).get("replicas", 1)
    return [tx]


def _argo_location(artifact: dict[str, Any]) -> str | None:
    for scheme, store in (("gs", artifact.get("gcs")), ("s3", artifact.get("s3")), ("hdfs", artifact.get("hdfs"))):
        if isinstance(store, dict) and (store.get("key") or store.get("path")):
            bucket = store.get("bucket") or ""
            key = str(store.get("key") or store.get("path")).lstrip("/")
            return f"{scheme}://{bucket}/{key}" if bucket else f"{scheme}:///{key}"
    http = artifact.get("http")
    if isinstance(http, dict) and http.get("url"):
        return str(http["url"])
    return None


def extract_workflow(obj: dict[str, Any], ctx: ExtractContext) -> list[Transaction] | None:
    if obj.get("kind") != "Workflow" or not str(obj.get("apiVersion", "")).startswith("argoproj.io/"):
        return None
    meta = _meta(obj)
    uid, ns = meta["uid"], meta.get("namespace")
    status = obj.get("status") or {}
    spec = obj.get("spec") or {}
    templates = {t.get("name"): t for t in spec.get("templates") or [] if isinstance(t, dict)}
    phase = str(status.get("phase") or "").lower() or None
    pipeline = _base(obj, f"Workflow {ns}/{meta.get('name')}")
    pipeline.status = phase
    pipeline.transform.params = {str(p.get("name")): p.get("value") for p in (spec.get("arguments") or {}).get(
        "parameters") or [] if isinstance(p, dict)}
    annotation_conventions(obj, pipeline)
    nodes: dict[str, dict[str, Any]] = {k: v for k, v in (status.get("nodes") or {}).items() if isinstance(v, dict)}
    # Pod nodes are the step runs; DAG/Steps nodes only group them. A step is informed by the nearest
    # Pod nodes above it (its dependencies), found through the `children` links.
    parents: dict[str, set[str]] = {}
    for node_id, node in nodes.items():
        for child in node.get("children") or []:
            parents.setdefault(child, set()).add(node_id)

    def pod_ancestors(node_id: str, seen: set[str]) -> set[str]:
        found: set[str] = set()
        for parent in parents.get(node_id, ()):
            if parent in seen:
                continue
            seen.add(parent)
            if nodes.get(parent, {}).get("type") == "Pod":
                found.add(parent)
            else:
                found |= pod_ancestors(parent, seen)
        return found

    steps: list[Transaction] = []
    for node_id, node in sorted(nodes.items()):
        if node.get("type") != "Pod":
            continue
        template = templates.get(node.get("templateName")) or {}
        container = template.get("container") or template.get("script") or {}
        step = Transaction(
            id=run_id(uid, node_id),
            label=f"{node.get('displayName') or node.get('name')} (workflow {meta.get('name')})",
            kind="ArgoNode", started_at=_time(node.get("startedAt")), ended_at=_time(node.get("finishedAt")),
            status=str(node.get("phase") or "").lower() or None, parent=pipeline.id,
            informed_by=sorted(run_id(uid, p) for p in pod_ancestors(node_id, set())),
            attributes={"cluster_kind": "Workflow", "cluster_uid": uid, "namespace": ns,
                        "cluster_workflow": meta.get("name"), "node": node.get("name"),
                        "code_template": node.get("templateName")},
        )
        pod_spec = {"containers": [container] if container else [], "volumes": template.get("volumes") or [],
                    "serviceAccountName": spec.get("serviceAccountName")}
        container_conventions(pod_spec, ns, ctx.conventions, step)
        for direction, target in (("inputs", step.inputs), ("outputs", step.outputs)):
            section = node.get(direction) or {}
            for artifact in section.get("artifacts") or []:
                where = _argo_location(artifact) if isinstance(artifact, dict) else None
                if where:
                    target.append(Artifact(role=str(artifact.get("name")), uri=where))
            for param in section.get("parameters") or []:
                if isinstance(param, dict) and param.get("name"):
                    prefix = "" if direction == "inputs" else "output."
                    step.transform.params[prefix + str(param["name"])] = param.get("value")
        _agents(pod_spec, ns, [], step)
        steps.append(step)
    pipeline.parts = [s.label for s in steps]
    # The pipeline run is informed by its steps: what they did is what it did.
    pipeline.informed_by = [s.id for s in steps]
    return [pipeline, *steps]


def extract_passive(obj: dict[str, Any], ctx: ExtractContext) -> list[Transaction] | None:
    """Objects that are not runs: ConfigMaps (used by runs), CronJobs (plans of their Jobs)."""
    if obj.get("kind") in ("ConfigMap", "CronJob") and obj.get("apiVersion") in ("v1", "batch/v1", "batch/v1beta1"):
        return []
    return None


BUILTIN_EXTRACTORS: tuple[Extractor, ...] = (
    extract_job, extract_pod, extract_training_job, extract_workflow, extract_passive,
)
