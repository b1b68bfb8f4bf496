"""The local Neo4j server: lifecycle, persistence, clear failures, and the CLI around it."""

from __future__ import annotations

import json
import os
import socket
import stat
from pathlib import Path

import pytest

from lineagegraph.cli import main
from lineagegraph.errors import ServerError
from lineagegraph.server import LocalServer, ensure_runtime
from lineagegraph.settings import Settings
from lineagegraph.store import GraphStore

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_start_persist_stop_restart(tmp_path: Path) -> None:
    """A second server in its own directory: data survives a clean stop and a restart."""
    server = LocalServer(tmp_path / "neo4j", free_port(), heap_mb=512, page_cache_mb=64)
    assert not server.status().running
    try:
        status = server.start(timeout=240, quiet=True)
        assert status.running and status.pid
        assert server.start(quiet=True).pid == status.pid, "a second start reuses the running server"
        mode = stat.S_IMODE(os.stat(server.password_file).st_mode)
        assert mode == 0o600, "the generated password is readable by its owner only"

        settings = Settings(server_home=server.home, server_port=server.port)
        with GraphStore.connect(settings, quiet=True) as store:
            store.write_query("CREATE (:Element {id: 'survivor'})")
        assert server.stop() is True
        assert not server.status().running
        assert "shutting down" in server.log_file.read_text()

        server.start(timeout=240, quiet=True)
        with GraphStore.connect(settings, quiet=True) as store:
            assert store.read("MATCH (n:Element {id: 'survivor'}) RETURN count(n) AS c")[0]["c"] == 1
    finally:
        server.stop()
    assert server.stop() is False, "stopping a stopped server says so"


def test_wrong_password_is_a_clear_error(neo4j_server: LocalServer) -> None:
    from pydantic import SecretStr

    from lineagegraph.errors import ConfigError

    settings = Settings(neo4j_uri=neo4j_server.uri, neo4j_password=SecretStr("not-it"))
    with pytest.raises(ConfigError, match="refused the credentials"):
        GraphStore.connect(settings)


def test_missing_java_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(ServerError, match="'java' was not found"):
        ensure_runtime(quiet=True)


def test_port_taken_by_another_program(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        server = LocalServer(tmp_path / "neo4j", busy.getsockname()[1])
        with pytest.raises(ServerError, match="taken by another program"):
            server.start(quiet=True)


def test_runtime_is_cached(tmp_path: Path) -> None:
    """Once fetched, the jars and launcher are reused: a second call runs no Maven."""
    root = ensure_runtime(quiet=True)
    before = {p.name: p.stat().st_mtime_ns for p in (root / "lib").iterdir()}
    assert ensure_runtime(quiet=True) == root
    after = {p.name: p.stat().st_mtime_ns for p in (root / "lib").iterdir()}
    assert before == after and any(name.startswith("neo4j-kernel") for name in before)


def test_cli_status(cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["server", "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["running"] is True and status["uri"].endswith(cli_env["LINEAGEGRAPH_SERVER_PORT"])


def test_cli_status_of_a_stopped_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LINEAGEGRAPH_SERVER_HOME", str(tmp_path / "none"))
    monkeypatch.setenv("LINEAGEGRAPH_SERVER_PORT", str(free_port()))
    assert main(["server", "status"]) == 1
    assert "not running" in capsys.readouterr().out
