"""Shared fixtures: a real Neo4j for the whole session, and a clean graph for each test.

The server is lineagegraph's own local server on a test port with a throw-away-able data
directory (``LINEAGEGRAPH_TEST_HOME``, default ``.lineagegraph/test-neo4j``). If it cannot start,
every graph test errors with the reason; nothing is skipped.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from lineagegraph.server import LocalServer
from lineagegraph.settings import Settings
from lineagegraph.store import GraphStore

REPO = Path(__file__).resolve().parent.parent
TEST_HOME = Path(os.environ.get("LINEAGEGRAPH_TEST_HOME", REPO / ".lineagegraph" / "test-neo4j"))
DEFAULT_TEST_PORT = 17687

# Fixtures for the other real parts (PostgreSQL, kube-apiserver and etcd, ...) live in their own
# modules beside this one; one module per line.
pytest_plugins: list[str] = [
    "fixtures_postgres",
    "fixtures_kube",
]


def _test_port() -> int:
    """LINEAGEGRAPH_TEST_PORT if set; else 17687, unless another program holds it (then a free port)."""
    if "LINEAGEGRAPH_TEST_PORT" in os.environ:
        return int(os.environ["LINEAGEGRAPH_TEST_PORT"])
    ours = LocalServer(TEST_HOME, DEFAULT_TEST_PORT).status().pid is not None
    with socket.socket() as probe:
        taken = probe.connect_ex(("127.0.0.1", DEFAULT_TEST_PORT)) == 0
    if ours or not taken:
        return DEFAULT_TEST_PORT
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def neo4j_server() -> Iterator[LocalServer]:
    server = LocalServer(TEST_HOME, _test_port(), heap_mb=2048, page_cache_mb=256)
    already_running = server.status().running
    server.start(timeout=240)
    yield server
    if not already_running and not os.environ.get("LINEAGEGRAPH_TEST_KEEP_SERVER"):
        server.stop()


@pytest.fixture(scope="session")
def test_settings(neo4j_server: LocalServer) -> Settings:
    return Settings(server_home=neo4j_server.home, server_port=neo4j_server.port, neo4j_uri=None)


@pytest.fixture
def cli_env(neo4j_server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point the CLI (in this process or a subprocess) at the test server."""
    env = {
        "LINEAGEGRAPH_SERVER_HOME": str(neo4j_server.home),
        "LINEAGEGRAPH_SERVER_PORT": str(neo4j_server.port),
    }
    monkeypatch.delenv("NEO4J_URI", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return {**os.environ, **env}


@pytest.fixture(scope="session")
def _session_store(test_settings: Settings) -> Iterator[GraphStore]:
    store = GraphStore.connect(test_settings, quiet=True)
    store.init_schema()
    yield store
    store.close()


@pytest.fixture
def store(_session_store: GraphStore) -> GraphStore:
    """A connected store on an empty graph (schema in place)."""
    _session_store.clear()
    return _session_store
