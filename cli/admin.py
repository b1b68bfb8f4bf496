"""Commands that run the local server, create the schema, and manage import runs."""

from __future__ import annotations

from typing import Annotated

import typer

from lineagegraph.cli._app import app, imports_app, is_quiet, open_store, print_json, server_app
from lineagegraph.server import LocalServer
from lineagegraph.settings import load_settings


def _local_server(*, browser: bool = False, http_port: int | None = None) -> LocalServer:
    settings = load_settings()
    if browser and http_port is None:
        http_port = settings.server_http_port
    return LocalServer(settings.server_home, settings.server_port, heap_mb=settings.server_heap_mb,
                       page_cache_mb=settings.server_page_cache_mb, http_port=http_port)


@server_app.command("start")
def server_start(
    timeout: Annotated[float, typer.Option(help="Seconds to wait for Bolt to accept logins.")] = 180.0,
    browser: Annotated[bool, typer.Option(
        "--browser", help="Also serve HTTP and Neo4j Browser on 127.0.0.1, port "
        "LINEAGEGRAPH_SERVER_HTTP_PORT (default 7474).")] = False,
    http_port: Annotated[int | None, typer.Option(
        min=1, max=65535, help="HTTP/Browser port; implies --browser.")] = None,
) -> None:
    """Start the local Neo4j (fetches the jars once) and wait until it is ready."""
    status = _local_server(browser=browser, http_port=http_port).start(timeout=timeout)
    typer.echo(f"Neo4j {status.describe()}")


@server_app.command("stop")
def server_stop() -> None:
    """Stop the local Neo4j cleanly."""
    server = _local_server()
    typer.echo("stopped" if server.stop() else f"not running (data in {server.home})")


@server_app.command("status")
def server_status(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable.")] = False) -> None:
    """Say whether the local Neo4j runs, where, and on which port. Exit 1 when it does not.

    A port answered by another program (another Neo4j, say) is reported as such, not as ours.
    """
    status = _local_server().status()
    if as_json:
        print_json({"running": status.running, "pid": status.pid, "uri": status.uri,
                    "home": str(status.home), "browser_url": status.browser_url, "foreign": status.foreign})
    else:
        typer.echo(f"Neo4j {status.describe()}")
    if not status.running:
        raise typer.Exit(1)


@app.command("init")
def init(quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False) -> None:
    """Create the graph's constraints and indexes (safe to run again)."""
    with open_store(quiet=quiet, init=False) as store:
        statements = store.init_schema()
    if not quiet:
        typer.echo(f"schema ready ({len(statements)} constraints and indexes)")


@imports_app.command("list")
def imports_list(
    limit: Annotated[int, typer.Option(min=1, help="Newest runs first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List import runs, newest first."""
    with open_store(quiet=is_quiet(False)) as store:
        runs = [row["run"] for row in store.import_runs(limit)]
    if as_json:
        print_json(runs)
        return
    for run in runs:
        typer.echo(
            f"{run['id']}  {run.get('status', '?'):8} {run.get('importer', '?'):10} "
            f"nodes +{run.get('nodes_created', 0)} ~{run.get('nodes_updated', 0)}  "
            f"rels +{run.get('relationships_created', 0)} ~{run.get('relationships_updated', 0)}  "
            f"{run.get('source', '')}"
            + (f"  (same as {', '.join(run['same_as'])})" if run.get("same_as") else "")
        )


@imports_app.command("remove")
def imports_remove(
    run_id: Annotated[str, typer.Argument(help="An id from 'imports list'.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Remove what only this import run wrote; other runs' data stays."""
    with open_store(quiet=is_quiet(False)) as store:
        counts = store.remove_import_run(run_id)
    if as_json:
        print_json({"run_id": run_id, **counts})
    else:
        typer.echo(f"removed run {run_id}: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items()))


@imports_app.command("reconcile")
def imports_reconcile(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Close the runs of importers that died (killed, machine lost) as 'interrupted'.

    Every import does this first by itself; this command is for checking from cron or by hand.
    """
    with open_store(quiet=is_quiet(False)) as store:
        closed = store.reconcile_runs()
    if as_json:
        print_json({"interrupted": closed})
    elif closed:
        typer.echo("marked interrupted: " + ", ".join(closed))
    else:
        typer.echo("no stale runs")
