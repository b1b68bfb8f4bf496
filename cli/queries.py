"""Lineage query commands: ancestors, descendants, diff, bt, path, blame, recipe, search, cypher."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Annotated, Any, cast

import neo4j.exceptions
import typer
from rich.console import Console
from rich.table import Table

from lineagegraph import templates
from lineagegraph.cli._app import app, is_quiet, open_store, print_json
from lineagegraph.errors import LineageGraphError, QueryError
from lineagegraph.queries import LineageDiff, LineageGraph
from lineagegraph.queries.backtrace import BacktraceOrder
from lineagegraph.subgraph import GraphNode, Subgraph

DepthOpt = Annotated[
    int, typer.Option("--depth", "-d", help=f"Most hops to follow (1..{templates.MAX_DEPTH}).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
KindOpt = Annotated[
    list[str] | None, typer.Option("--kind", "-k", help="Entity, Activity or Agent (repeatable).")
]
TimeOpt = Annotated[str | None, typer.Option(help="ISO 8601 time, e.g. 2024-05-01T00:00:00Z.")]


@contextmanager
def _graph() -> Iterator[LineageGraph]:
    with open_store(quiet=is_quiet(False)) as store:
        yield LineageGraph(store)


def _console() -> Console:
    # Created per call so that output goes to the sys.stdout of the moment (pipes, tests).
    return Console(highlight=False, soft_wrap=False)


def _when(node: GraphNode) -> str:
    value = node.properties.get("generated_at") or node.properties.get("started_at")
    return str(value) if value is not None else ""


def _print_subgraph(sub: Subgraph, title: str) -> None:
    table = Table(title=title)
    for column in ("kind", "id", "label", "time"):
        table.add_column(column, overflow="fold")
    for node in sub.nodes:
        table.add_row(
            node.kind.value if node.kind else "?", node.id, node.display_name, _when(node)
        )
    console = _console()
    console.print(table)
    console.print(f"{len(sub.nodes)} nodes, {len(sub.relationships)} relationships")


def _walk(
    direction: str,
    element_id: str,
    depth: int,
    kind: list[str] | None,
    prov_type: str | None,
    text: str | None,
    since: str | None,
    until: str | None,
    as_of: str | None,
    limit: int | None,
    as_json: bool,
) -> None:
    with _graph() as graph:
        method = graph.ancestors if direction == "ancestors" else graph.descendants
        sub = method(
            element_id,
            depth=depth,
            kinds=kind,
            prov_type=prov_type,
            text=text,
            since=since,
            until=until,
            as_of=as_of,
            limit=limit,
        )
    if as_json:
        print_json(sub.model_dump(mode="json"))
    else:
        _print_subgraph(sub, f"{direction} of {element_id}" + (f" as of {as_of}" if as_of else ""))


@app.command("ancestors")
def ancestors(
    element_id: Annotated[str, typer.Argument(metavar="ID", help="Element to start from.")],
    depth: DepthOpt = templates.DEFAULT_DEPTH,
    kind: KindOpt = None,
    prov_type: Annotated[str | None, typer.Option(help="Keep nodes with this PROV type.")] = None,
    text: Annotated[
        str | None, typer.Option(help="Keep nodes whose label or id contains this.")
    ] = None,
    since: TimeOpt = None,
    until: TimeOpt = None,
    as_of: Annotated[
        str | None, typer.Option(help="The lineage as the graph knew it at this time.")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Most nodes to show.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """What ID was derived from (upstream lineage), with the agents involved."""
    _walk(
        "ancestors", element_id, depth, kind, prov_type, text, since, until, as_of, limit, as_json
    )


@app.command("descendants")
def descendants(
    element_id: Annotated[str, typer.Argument(metavar="ID", help="Element to start from.")],
    depth: DepthOpt = templates.DEFAULT_DEPTH,
    kind: KindOpt = None,
    prov_type: Annotated[str | None, typer.Option(help="Keep nodes with this PROV type.")] = None,
    text: Annotated[
        str | None, typer.Option(help="Keep nodes whose label or id contains this.")
    ] = None,
    since: TimeOpt = None,
    until: TimeOpt = None,
    as_of: Annotated[
        str | None, typer.Option(help="The lineage as the graph knew it at this time.")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Most nodes to show.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """What was derived from ID (downstream impact), with the agents involved."""
    _walk(
        "descendants", element_id, depth, kind, prov_type, text, since, until, as_of, limit, as_json
    )


def _cell(value: Any) -> str:
    return (
        "—"
        if value is None
        else value
        if isinstance(value, str)
        else json.dumps(value, default=str)
    )


@app.command("diff")
def diff(
    a: Annotated[str, typer.Argument(help="First element (e.g. the old output).")],
    b: Annotated[str, typer.Argument(help="Second element (e.g. the new output).")],
    depth: DepthOpt = templates.DEFAULT_DEPTH,
    as_json: JsonOpt = False,
) -> None:
    """Compare how A and B were made: inputs, parameters, code, environment, versions."""
    with _graph() as graph:
        result = graph.diff(a, b, depth=depth)
    if as_json:
        print_json(result.model_dump(mode="json"))
    else:
        print_diff(result, a, b)


def print_diff(result: LineageDiff, a: str, b: str) -> None:
    """The human-readable diff: upstream inputs, activity changes, differing versions."""
    console = _console()
    inputs = Table(title=f"Upstream entities of A={a} and B={b}")
    for column in ("", "id", "label", "uri / location", "digest"):
        inputs.add_column(column, overflow="fold")
    for mark, nodes in (
        ("only A", result.only_a),
        ("only B", result.only_b),
        ("both", result.shared),
    ):
        for node in nodes:
            inputs.add_row(
                mark,
                node.id,
                node.display_name,
                _cell(node.properties.get("uri") or node.properties.get("location")),
                _cell(node.properties.get("digest")),
            )
    console.print(inputs)
    changes = Table(title="Changes in corresponding activities")
    for column in ("activity", "aspect", "key", "A", "B"):
        changes.add_column(column, overflow="fold")
    for change in result.activity_changes:
        first = True
        for aspect in ("params", "code", "environment", "agents"):
            for vc in getattr(change, aspect):
                changes.add_row(change.what if first else "", aspect, vc.key, _cell(vc.a), _cell(vc.b))
                first = False
    for mark, nodes in (
        ("only in A", result.activities_only_a),
        ("only in B", result.activities_only_b),
    ):
        for node in nodes:
            changes.add_row(
                node.display_name,
                "activity",
                mark,
                node.id if "A" in mark else "—",
                node.id if "B" in mark else "—",
            )
    console.print(changes)
    if result.version_changes:
        versions = Table(title="Upstream versions that differ")
        for column in ("version of", "A", "B"):
            versions.add_column(column, overflow="fold")
        for vchange in result.version_changes:
            versions.add_row(
                vchange.key, ", ".join(n.id for n in vchange.a), ", ".join(n.id for n in vchange.b)
            )
        console.print(versions)
    if result.identical:
        console.print("A and B were made the same way.")


@app.command("bt")
def backtrace(
    element_id: Annotated[str, typer.Argument(metavar="ID", help="The output to trace.")],
    depth: DepthOpt = templates.DEFAULT_DEPTH,
    as_json: JsonOpt = False,
    max_age_days: Annotated[
        int | None, typer.Option("--max-age-days", min=0, help="Also mark runs older than N days STALE.")
    ] = None,
    order: Annotated[
        str,
        typer.Option(
            "--order",
            help="newest: each step once, before the steps it depends on, ties newest first; "
            "depth-first: a tree walk in the order the source recorded the steps, a step again for "
            "every path to it (mltrace's trace order).",
        ),
    ] = "newest",
) -> None:
    """Backtrace: the steps that produced ID, newest first (#0 made ID); STALE marks outdated runs."""
    max_age = timedelta(days=max_age_days) if max_age_days is not None else None
    with _graph() as graph:
        # The core checks the value (a QueryError names the allowed orders).
        result = graph.backtrace(element_id, depth=depth, max_age=max_age, order=cast(BacktraceOrder, order))
    if as_json:
        print_json(result.model_dump(mode="json"))
    else:
        typer.echo(result.text())


@app.command("path")
def path(
    a: Annotated[str, typer.Argument(help="The later element (the output).")],
    b: Annotated[str, typer.Argument(help="The earlier element (the source).")],
    depth: DepthOpt = templates.DEFAULT_DEPTH,
    as_json: JsonOpt = False,
) -> None:
    """How A was derived from B (shortest lineage path). Exit 1 when it was not."""
    with _graph() as graph:
        result = graph.path(a, b, depth=depth)
    if as_json:
        print_json(result.model_dump(mode="json") | {"found": result.found})
    elif result.found:
        typer.echo(result.text())
    if not result.found:
        # An expected outcome, not a failure of the tool: a clear message and exit status 1.
        raise LineageGraphError(f"{a} was not derived from {b} (within {depth} hops)")


@app.command("blame")
def blame(
    ids: Annotated[list[str], typer.Argument(metavar="ID...", help="The bad outputs.")],
    depth: DepthOpt = templates.DEFAULT_DEPTH,
    kind: KindOpt = None,
    min_hits: Annotated[
        int | None, typer.Option(min=1, help="Hide elements fewer outputs reach.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Most suspects to show.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Rank the upstream steps and data the bad outputs share, most likely culprit first."""
    with _graph() as graph:
        report = graph.blame(ids, depth=depth, kinds=kind, min_hits=min_hits, limit=limit)
    if as_json:
        print_json(report.model_dump(mode="json"))
        return
    table = Table(title=f"Upstream of {len(report.flagged)} flagged output(s)")
    for column in ("#", "hits", "kind", "id", "label", "time", "agents"):
        table.add_column(column, overflow="fold")
    for rank, suspect in enumerate(report.suspects, 1):
        el = suspect.element
        table.add_row(
            str(rank),
            f"{suspect.hits}/{len(report.flagged)}",
            el.kind.value if el.kind else "?",
            el.id,
            el.display_name,
            _when(el),
            ", ".join(a.display_name for a in suspect.agents),
        )
    _console().print(table)


@app.command("recipe")
def recipe(
    element_id: Annotated[str, typer.Argument(metavar="ID", help="The output to re-make.")],
    depth: DepthOpt = templates.DEFAULT_DEPTH,
    as_json: JsonOpt = False,
) -> None:
    """Everything needed to re-run the processing that produced ID, first step first."""
    with _graph() as graph:
        result = graph.recipe(element_id, depth=depth)
    if as_json:
        print_json(
            result.model_dump(mode="json")
            | {"external_inputs": [i.model_dump(mode="json") for i in result.external_inputs]}
        )
        return
    lines = [f"Recipe for {element_id}: {len(result.steps)} step(s)", "Inputs to have first:"]
    for usage in result.external_inputs:
        props = usage.entity.properties
        lines.append(
            f"  - {usage.entity.display_name}  id={usage.entity.id}  uri={_cell(props.get('uri'))}"
            f"  digest={_cell(props.get('digest'))}"
        )
    for step in result.steps:
        lines.append("")
        lines.append(f"Step {step.number}: {step.what}  id={step.activity.id}")
        for key, value in sorted({**step.code, **step.environment}.items()):
            lines.append(f"    {key}: {_cell(value)}")
        for key, value in sorted(step.params.items()):
            lines.append(f"    param {key} = {_cell(value)}")
        for agent in step.agents:
            lines.append(
                f"    run by: {agent.agent.display_name}"
                + (
                    f" ({agent.agent.properties['agent_type']})"
                    if agent.agent.properties.get("agent_type")
                    else ""
                )
            )
        for usage in step.inputs:
            props = usage.entity.properties
            lines.append(
                f"    input: {usage.entity.display_name}  uri={_cell(props.get('uri'))}"
                f"  digest={_cell(props.get('digest'))}"
            )
        for out in step.outputs:
            lines.append(f"    output: {out.entity.display_name}  id={out.entity.id}")
    typer.echo("\n".join(lines))


@app.command("search")
def search(
    text: Annotated[str | None, typer.Argument(help="Text the label or id contains.")] = None,
    id_prefix: Annotated[str | None, typer.Option(help="The id starts with this.")] = None,
    kind: KindOpt = None,
    prov_type: Annotated[str | None, typer.Option(help="Has this PROV type.")] = None,
    since: TimeOpt = None,
    until: TimeOpt = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Find elements by text, id prefix, kind, PROV type and time."""
    with _graph() as graph:
        found = graph.search(
            text,
            id_prefix=id_prefix,
            kinds=kind,
            prov_type=prov_type,
            since=since,
            until=until,
            limit=limit,
        )
    if as_json:
        print_json(found.model_dump(mode="json"))
    else:
        _print_subgraph(Subgraph(nodes=found.nodes), "search results")


def _parse_param(raw: str) -> tuple[str, Any]:
    name, sep, value = raw.partition("=")
    if not sep or not name:
        raise typer.BadParameter(f"expected NAME=VALUE, got {raw!r}", param_hint="--param")
    try:
        return name, json.loads(value)
    except ValueError:
        return name, value


@app.command("cypher")
def cypher(
    template: Annotated[
        str,
        typer.Argument(
            metavar="NAME_OR_FILE",
            help=f"A template ({', '.join(templates.names())}) or .cypher file.",
        ),
    ],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="NAME=VALUE; VALUE is JSON if it parses."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a query template with parameters (a param named like a bound, e.g. depth, sets it)."""
    params = dict(_parse_param(p) for p in param or [])
    with _graph() as graph:
        try:
            rows = graph.cypher(template, **params)
        except (QueryError, UnicodeDecodeError) as exc:
            if template.endswith(".cypher") or "/" in template:
                raise _file_error(template, exc) from None
            raise
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"{template}: {len(rows)} row(s)")
    for column in rows[0] if rows else []:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(_summary(v)) for v in row.values()))
    _console().print(table)


def _file_error(path: str, exc: Exception) -> QueryError:
    """The error for a query file, without its text.

    Neo4j's syntax errors quote the offending line; for a file that is not Cypher at all (a
    system file passed by mistake, or on purpose) that would print its contents.
    """
    if isinstance(exc, UnicodeDecodeError):
        return QueryError(f"{path} is not a UTF-8 text file, so not a Cypher query")
    if isinstance(exc.__cause__, neo4j.exceptions.CypherSyntaxError):
        where = re.search(r"line (\d+), column (\d+)", str(exc))
        at = f" (line {where.group(1)}, column {where.group(2)})" if where else ""
        return QueryError(f"{path} is not a valid Cypher query{at}; its text is not shown")
    return QueryError(f"the query in {path} failed; the database said: "
                      f"{str(exc).splitlines()[0].split(chr(34))[0][:200]}")


def _summary(value: Any) -> Any:
    """Nodes and relationships shown by id/type, for a readable table."""
    if isinstance(value, dict) and "labels" in value and "id" in value:
        return value["id"]
    if isinstance(value, dict) and {"type", "start", "end"} <= value.keys():
        return f"{value['start']}-[{value['type']}]->{value['end']}"
    if isinstance(value, list):
        return [_summary(v) for v in value]
    if isinstance(value, dict):
        return {k: _summary(v) for k, v in value.items()}
    return value
