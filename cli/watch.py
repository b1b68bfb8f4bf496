"""``lineagegraph watch k8s``: run the live cluster agent (:mod:`lineagegraph.services.k8s_agent`)."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from lineagegraph.cli._app import app, print_json
from lineagegraph.services.k8s_agent import (
    DEFAULT_KINDS,
    AgentOptions,
    K8sAgent,
    KindRef,
    connect_store,
    kube_api_client,
)
from lineagegraph.settings import Settings

watch_app = typer.Typer(help="Keep recording a live source until stopped.", no_args_is_help=True)
app.add_typer(watch_app, name="watch")


@watch_app.command("k8s")
def watch_k8s(
    kubeconfig: Annotated[Path | None, typer.Option(
        "--kubeconfig",
        help="kubeconfig file (default: in-cluster config inside a Pod, else $KUBECONFIG or ~/.kube/config).")] = None,
    context: Annotated[str | None, typer.Option("--context", help="kubeconfig context to use.")] = None,
    kinds: Annotated[list[str] | None, typer.Option(
        "--kind", help="group/version/resource to watch (v1/resource for the core group); repeatable. "
        f"Default: {', '.join(DEFAULT_KINDS)}.")] = None,
    namespaces: Annotated[list[str] | None, typer.Option(
        "--namespace", "-n", help="Namespace to watch; repeatable (default: all namespaces).")] = None,
    once: Annotated[bool, typer.Option("--once", help="List every kind once, record, and exit.")] = False,
    state_dir: Annotated[Path, typer.Option(
        "--state-dir", envvar="LINEAGEGRAPH_K8S_STATE_DIR",
        help="Checkpoints and the Neo4j-down buffer live here.")] = Path(".lineagegraph/k8s-agent"),
    cluster: Annotated[str | None, typer.Option(
        "--cluster", help="Name of the cluster in recorded sources (default: the context, or in-cluster).")] = None,
    max_versions: Annotated[int, typer.Option(
        "--max-versions", min=1, help="Versions kept per object (the last one always).")] = 20,
    buffer_max_mb: Annotated[int, typer.Option(
        "--buffer-max-mb", min=1, help="Bound of the on-disk buffer used while Neo4j is down.")] = 256,
    health_port: Annotated[int, typer.Option(
        "--health-port", min=0, max=65535, envvar="LINEAGEGRAPH_K8S_HEALTH_PORT",
        help="Port of /healthz, /readyz, /metrics, /status on 127.0.0.1 (0: any free port).")] = 8080,
    health_host: Annotated[str, typer.Option(
        "--health-host", help="Address of the health endpoint (0.0.0.0 inside a Pod for probes).")] = "127.0.0.1",
    watch_timeout: Annotated[int, typer.Option(
        "--watch-timeout", min=1, help="Seconds one watch request stays open before it is renewed.")] = 300,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Warnings and errors only.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the final counters as JSON.")] = False,
) -> None:
    """Watch Kubernetes objects and record every version of them in the raw object store.

    Lists then watches each kind (resuming from the saved resourceVersion), survives API server
    and Neo4j outages (buffering on disk), and stops cleanly on SIGTERM or Ctrl-C. Secrets are
    never watched.
    """
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("neo4j").setLevel(logging.WARNING)  # "index already exists" notes on every start
    options = AgentOptions(
        kinds=[KindRef.parse(k) for k in (kinds or DEFAULT_KINDS)],
        namespaces=list(namespaces or []),
        state_dir=state_dir,
        max_versions=max_versions,
        buffer_max_bytes=buffer_max_mb * 1024 * 1024,
        health_port=health_port,
        health_host=health_host,
        watch_timeout=watch_timeout,
    )
    api = kube_api_client(kubeconfig, context)
    options.source = f"k8s-agent:{cluster or context or _cluster_name(api)}"
    settings = Settings()
    agent = K8sAgent(api, lambda: connect_store(settings), options)

    def on_signal(signum: int, frame: Any) -> None:
        logging.getLogger("lineagegraph.k8s_agent").info("signal %d: stopping", signum)
        agent.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    agent.run(once=once)
    status = agent.status()
    if as_json:
        print_json(status)
    elif not quiet:
        print(f"k8s agent: {status['events_total']} events seen, {status['stored_total']} versions stored, "
              f"{status['buffer_entries']} operation(s) still buffered", file=sys.stderr)


def _cluster_name(api: Any) -> str:
    """The API server's host:port, naming the cluster when no context or --cluster says more."""
    host = str(getattr(api.configuration, "host", "") or "in-cluster")
    return host.split("://", 1)[-1]
