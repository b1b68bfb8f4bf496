"""What every benchmark shares: its own local Neo4j, and an empty graph with the schema in place."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lineagegraph.server import LocalServer
from lineagegraph.settings import Settings
from lineagegraph.store import GraphStore

REPO = Path(__file__).resolve().parent.parent


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=17690)
    parser.add_argument("--home", type=Path, default=REPO / ".lineagegraph" / "bench-neo4j")


@contextmanager
def empty_graph(args: argparse.Namespace, **settings: Any) -> Iterator[GraphStore]:
    """Start the benchmark server (if needed), yield a store on an empty graph, stop it again."""
    server = LocalServer(args.home, args.port, heap_mb=4096, page_cache_mb=1024)
    was_running = server.status().running
    server.start(quiet=True)
    try:
        with GraphStore.connect(Settings(server_home=args.home, server_port=args.port, **settings),
                                quiet=True) as store:
            store.init_schema()
            store.clear()
            yield store
    finally:
        if not was_running:
            server.stop()
