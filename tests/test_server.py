"""The local Neo4j server: lifecycle, persistence, clear failures, and the CLI around it."""

from __future__ import annotations

import base64
import json
import os
import socket
import stat
import urllib.error
import urllib.request
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


def _http(url: str, body: object | None = None,
          password: str | None = None) -> tuple[int, str, bytes]:
    """(status, content type, body) of a GET, or of a JSON POST when ``body`` is given."""
    headers = {"Accept": "application/json"} if body is not None else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    if password is not None:
        token = base64.b64encode(f"neo4j:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type", ""), err.read()


def test_browser_mode_serves_http_api_and_browser(tmp_path: Path) -> None:
    """With an HTTP port the server also serves discovery, Neo4j Browser and Cypher over HTTP."""
    bolt_port = free_port()
    http_port = next(p for p in iter(free_port, None) if p != bolt_port)
    server = LocalServer(tmp_path / "neo4j", bolt_port, heap_mb=512, page_cache_mb=64,
                         http_port=http_port)
    base = f"http://127.0.0.1:{http_port}"
    try:
        status = server.start(timeout=240, quiet=True)
        assert status.browser_url == f"{base}/browser/"
        assert LocalServer(server.home, bolt_port).status().browser_url == status.browser_url, (
            "status() of a server built without http_port (as the CLI does) names the Browser")

        code, _, body = _http(f"{base}/")
        discovery = json.loads(body)
        assert code == 200
        # Browser connects wherever the discovery document says Bolt is.
        assert discovery["bolt_direct"] == f"bolt://127.0.0.1:{bolt_port}"
        assert discovery["neo4j_edition"] == "community"

        code, content_type, body = _http(f"{base}/browser/")
        assert code == 200 and content_type.startswith("text/html")
        assert b"<title>Neo4j Browser</title>" in body
        # The page talks Bolt over a WebSocket to the advertised port.
        with socket.create_connection(("127.0.0.1", bolt_port), timeout=10) as ws:
            ws.sendall(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{bolt_port}\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       f"Sec-WebSocket-Version: 13\r\nOrigin: {base}\r\n\r\n".encode())
            assert ws.recv(200).startswith(b"HTTP/1.1 101 ")

        password = server.password_file.read_text().strip()
        statement = {"statement": "CREATE (n:Element {id: $id}) RETURN n.id AS id",
                     "parameters": {"id": "made-over-http"}}
        code, _, body = _http(f"{base}/db/neo4j/tx/commit", {"statements": [statement]}, password)
        answer = json.loads(body)
        assert code == 200 and answer["errors"] == []
        assert answer["results"][0]["data"][0]["row"] == ["made-over-http"]
        code, _, _ = _http(f"{base}/db/neo4j/tx/commit", {"statements": [statement]}, "not-it")
        assert code == 401, "the HTTP endpoint requires the password too"

        settings = Settings(server_home=server.home, server_port=bolt_port)
        with GraphStore.connect(settings, quiet=True) as store:
            rows = store.read("MATCH (n:Element {id: 'made-over-http'}) RETURN count(n) AS c")
        assert rows[0]["c"] == 1, "what HTTP wrote is the same graph Bolt reads"

        assert server.stop() is True
        assert not server.status().running
        log = server.log_file.read_text()
        assert log.rstrip().endswith("lineagegraph-neo4j: stopped"), "SIGTERM shut down cleanly"
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", http_port), timeout=2).close()
    finally:
        server.stop()


def test_browser_mode_cannot_be_added_to_a_running_server(neo4j_server: LocalServer) -> None:
    with_browser = LocalServer(neo4j_server.home, neo4j_server.port, http_port=free_port())
    with pytest.raises(ServerError, match="runs without HTTP and Browser; stop it first"):
        with_browser.start(quiet=True)
    assert neo4j_server.status().running, "the running server is left alone"


def test_browser_jar_that_cannot_be_fetched_is_a_clear_error(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A failing Maven (offline, blocked repository) names the Browser, spares the Bolt server."""
    root = ensure_runtime(quiet=True)
    cache = tmp_path / "cache" / "lineagegraph" / root.name
    cache.mkdir(parents=True)
    for part in ("lib", "classes"):  # the Bolt runtime is present; only the Browser is missing
        (cache / part).symlink_to(root / part)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_mvn = bin_dir / "mvn"
    fake_mvn.write_text("#!/bin/sh\necho '[ERROR] Could not transfer artifact: "
                        "network is unreachable'\nexit 1\n")
    fake_mvn.chmod(0o755)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    expected = r"(?s)could not fetch Neo4j Browser.*network is unreachable"
    with pytest.raises(ServerError, match=expected):
        ensure_runtime(quiet=True, browser=True)
    assert ensure_runtime(quiet=True) == cache, "the Bolt-only runtime still works"
    assert not (cache / "browser" / ".complete").exists()


def test_wrong_password_is_a_clear_error(neo4j_server: LocalServer) -> None:
    from pydantic import SecretStr

    from lineagegraph.errors import ConfigError

    settings = Settings(neo4j_uri=neo4j_server.uri, neo4j_password=SecretStr("not-it"))
    with pytest.raises(ConfigError, match="refused the credentials"):
        GraphStore.connect(settings)


def test_old_transaction_logs_are_bounded(store: GraphStore) -> None:
    """Neo4j's default keeps two days of transaction logs (gigabytes after a few big imports);
    the local server keeps at most 1 GiB beyond what recovery needs."""
    rows = store.read("SHOW SETTINGS YIELD name, value WHERE name = $name RETURN value",
                      name="db.tx_log.rotation.retention_policy")
    assert rows == [{"value": "1G size"}]


def test_the_server_runs_the_throughput_collector(store: GraphStore) -> None:
    """The local server trades G1's short pauses for less CPU taken from imports (one user)."""
    names = store.read("CALL dbms.queryJmx('java.lang:type=GarbageCollector,*') YIELD name "
                       "RETURN collect(name) AS names")[0]["names"]
    assert any("PS Scavenge" in name for name in names), names
    assert not any("G1" in name for name in names), names


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
