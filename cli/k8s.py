"""Kubernetes commands: ``import k8s`` (files into the raw store), ``k8s objects|history``, ``etl k8s``."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from importlib import resources
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from lineagegraph.cli._app import app, import_app, is_quiet, open_store, print_json
from lineagegraph.errors import InputError, NotFoundError, QueryError
from lineagegraph.identity import location_id, version_id
from lineagegraph.importers.k8s.etl import EtlCounts, K8sEtl, entry_point_extractors, load_extractor
from lineagegraph.importers.k8s.extractors import Conventions, run_id
from lineagegraph.importers.k8s.files import STDIN, read_source, stream_source
from lineagegraph.importers.k8s.rawstore import RawStore, RecordCounts, StoredVersion, diff_objects
from lineagegraph.queries import LineageGraph
from lineagegraph.store import GraphStore

k8s_app = typer.Typer(help="Read back the raw Kubernetes object store.", no_args_is_help=True)
etl_app = typer.Typer(help="Derive lineage from raw stored objects.", no_args_is_help=True)
app.add_typer(k8s_app, name="k8s")
app.add_typer(etl_app, name="etl")


# The recorded objects `lineagegraph demo` imports, and the model the sample Argo Workflow published.
DEMO_FILES = ("configmaps.yaml", "job-train.json", "cronjob-watch.ndjson", "tfjob.yaml", "workflow-dag.yaml")
DEMO_WORKFLOW = run_id("3a9d7c55-0000-4000-8000-0000000wf001")
DEMO_MODEL = version_id(location_id("gs://acme-models/fraud/pipeline/model.pb"),
                        run_id("3a9d7c55-0000-4000-8000-0000000wf001", "fraud-pipeline-8x2kq-1003"))


def demo_k8s(store: GraphStore) -> None:
    """The demo's Kubernetes part: record the bundled objects, derive lineage, show the Workflow's."""
    typer.echo("\n== Kubernetes: recorded objects -> raw store -> lineage (lineagegraph import k8s FILE...)")
    raw = RawStore(store)
    with resources.as_file(resources.files("lineagegraph") / "samples" / "k8s") as folder:
        for name in DEMO_FILES:
            c = raw.record(read_source(str(folder / name)), source=f"samples/k8s/{name}")
            typer.echo(f"[k8s] {name}: {c.stored} versions stored, {c.unchanged} unchanged, "
                       f"{c.secrets_skipped} secrets skipped")
    _etl_lines(K8sEtl(store, rawstore=raw).run())
    graph = LineageGraph(store)
    lineage = graph.lineage(DEMO_WORKFLOW, direction="both", depth=10)
    typer.echo(f"\n== the Argo Workflow's lineage: {len(lineage.nodes)} nodes, "
               f"{len(lineage.relationships)} relationships around {DEMO_WORKFLOW}")
    typer.echo(f"\n== backtrace of its published model: lineagegraph bt '{DEMO_MODEL}'")
    typer.echo(graph.backtrace(DEMO_MODEL).text())


def _error(message: str) -> None:
    print(f"lineagegraph: error: {message}", file=sys.stderr)


def _etl_lines(counts: EtlCounts) -> None:
    typer.echo(f"etl: {counts.objects} objects, {counts.transactions} runs; {counts.written} written, "
               f"{counts.unchanged} unchanged, {counts.removed_runs} superseded import runs removed, "
               f"{len(counts.skipped)} skipped")
    for line in counts.skipped:
        print(f"lineagegraph: skipped: {line}", file=sys.stderr)


@import_app.command("k8s")
def import_k8s(
    paths: Annotated[list[str], typer.Argument(
        help="kubectl JSON/YAML output, Lists, multi-document YAML or watch-event streams; - for stdin.")],
    etl: Annotated[bool, typer.Option("--etl/--no-etl", help="Derive lineage after recording.")] = True,
    max_versions: Annotated[int, typer.Option(min=1, help="Versions kept per object (the last always).")] = 20,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Errors only.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON summary on stdout.")] = False,
) -> None:
    """Record Kubernetes objects from files into the raw store (Secrets never), then derive lineage.

    A file that cannot be read whole (truncated stream, not objects) is reported and nothing of it
    is recorded; an object without uid is skipped and named; either way the exit code is 2 and
    the other files and objects still land.
    """
    errors: list[InputError] = []
    results: dict[str, RecordCounts] = {}
    with open_store(quiet=is_quiet(quiet)) as store:
        raw = RawStore(store, max_versions=max_versions)
        for path in paths:
            source = "stdin" if path == STDIN else path
            try:
                events = stream_source(path)
            except InputError as exc:
                errors.append(exc)
                continue
            counts = raw.record(events, source=source)
            results[source] = counts
            errors.extend(InputError(p, source=source) for p in counts.problems)
        counts_etl = K8sEtl(store, rawstore=raw, conventions=Conventions.from_config()).run() if etl else None
    if as_json:
        print_json({"files": {k: v.as_dict() for k, v in results.items()},
                    "etl": counts_etl.as_dict() if counts_etl else None,
                    "errors": [str(e) for e in errors]})
    elif not quiet:
        for source, c in results.items():
            typer.echo(f"{source}: {c.stored} versions stored, {c.unchanged} unchanged, {c.deletions} deletions, "
                       f"{c.secrets_skipped} secrets skipped, {c.invalid} invalid")
        if counts_etl:
            _etl_lines(counts_etl)
    for problem in errors:
        _error(str(problem))
    if counts_etl:
        for line in counts_etl.errors:
            _error(line)
    if errors or (counts_etl and counts_etl.errors):
        raise typer.Exit(2 if errors else 1)


@k8s_app.command("objects")
def objects_command(
    kind: Annotated[str | None, typer.Option("--kind", help="Kind (case-insensitive), e.g. Job.")] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
    name: Annotated[str | None, typer.Option("--name")] = None,
    live: Annotated[bool, typer.Option("--live", help="Only objects not deleted.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List the objects in the raw store."""
    with open_store(quiet=is_quiet(False)) as store:
        found = RawStore(store).objects(kind=kind, namespace=namespace, name=name, include_deleted=not live)
    if as_json:
        print_json([o.model_dump(mode="json") for o in found])
        return
    table = Table(title=f"{len(found)} stored objects")
    for column in ("kind", "namespace", "name", "latest version", "resourceVersion", "deleted", "last observed", "uid"):
        table.add_column(column)
    for o in found:
        table.add_row(o.kind, o.namespace or "", o.name, str(o.latest_version), o.resource_version or "",
                      "yes" if o.deleted else "", o.last_observed.strftime("%Y-%m-%d %H:%M:%SZ"), o.uid)
    Console(width=200).print(table)


def _pick(history: list[StoredVersion], number: int) -> StoredVersion:
    for version in history:
        if version.version == number:
            return version
    kept = ", ".join(str(v.version) for v in history)
    raise NotFoundError(f"version {number} is not stored (stored: {kept})")


@k8s_app.command("history")
def history_command(
    ref: Annotated[str, typer.Argument(help="UID, or KIND/NAMESPACE/NAME (KIND/NAME if cluster-scoped).")],
    diff: Annotated[tuple[int, int] | None, typer.Option(
        "--diff", help="Show what changed between two stored versions: --diff A B.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The stored versions of one object, or the difference between two of them."""
    with open_store(quiet=is_quiet(False)) as store:
        raw = RawStore(store)
        found = raw.resolve(ref)
        if found is None:
            raise NotFoundError(f"no stored object {ref!r} (see 'lineagegraph k8s objects')")
        history = raw.history(found.uid)
    if diff is not None:
        a, b = _pick(history, diff[0]), _pick(history, diff[1])
        changes = diff_objects(a.object, b.object)
        if as_json:
            print_json([{"path": p, "old": o, "new": n} for p, o, n in changes])
            return
        typer.echo(f"{found.ref}: version {a.version} -> {b.version}, {len(changes)} changes")
        for path, old, new in changes:
            typer.echo(f"  {path}: {_short(old)} -> {_short(new)}")
        return
    if as_json:
        print_json({"object": found.model_dump(mode="json"), "versions": [v.model_dump(mode="json") for v in history]})
        return
    typer.echo(f"{found.ref} (uid {found.uid}, {found.api_version}){' deleted' if found.deleted else ''}")
    for v in history:
        phase = _phase(v.object)
        typer.echo(f"  #{v.version} resourceVersion {v.resource_version or '-'} {v.event_type}"
                   f"{' (deletion)' if v.deleted else ''} observed {v.observed_at:%Y-%m-%d %H:%M:%SZ} "
                   f"from {v.source}{f' status {phase}' if phase else ''}")


def _phase(obj: dict[str, Any]) -> str | None:
    status = obj.get("status")
    if not isinstance(status, dict):
        return None
    if status.get("phase"):
        return str(status["phase"])
    done = [c.get("type") for c in status.get("conditions") or [] if isinstance(c, dict) and c.get("status") == "True"]
    return done[-1] if done else None


def _short(value: Any) -> str:
    text = "(absent)" if value is None else repr(value)
    return text if len(text) <= 100 else text[:97] + "..."


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise QueryError(f"--since wants an ISO date or time (2026-03-01, 2026-03-01T12:00Z), not {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@etl_app.command("k8s")
def etl_k8s(
    reprocess: Annotated[bool, typer.Option(
        "--reprocess", help="Re-derive objects already processed (after an extractor changed).")] = False,
    kind: Annotated[str | None, typer.Option("--kind", help="Only objects of this kind.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only objects observed since (ISO time).")] = None,
    extractor: Annotated[list[str] | None, typer.Option(
        "--extractor", help="module:function, asked before the built-in conventions (repeatable).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Derive lineage from the raw store; idempotent, and --reprocess replaces only what changed."""
    user = [load_extractor(spec) for spec in extractor or []] + entry_point_extractors()
    with open_store(quiet=is_quiet(quiet)) as store:
        etl = K8sEtl(store, extractors=user, conventions=Conventions.from_config())
        counts = etl.run(reprocess=reprocess, kind=kind, since=_since(since))
    if as_json:
        print_json(counts.as_dict())
    elif not quiet:
        _etl_lines(counts)
    for line in counts.errors:
        _error(line)
    if counts.errors:
        raise typer.Exit(1)
