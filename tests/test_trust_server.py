"""The local server never mistakes someone else's server for its own, and `cypher FILE` never
prints the contents of the file it was given."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lineagegraph.cli import main
from lineagegraph.errors import ServerError
from lineagegraph.server import LocalServer

pytestmark = pytest.mark.integration


def test_our_own_server_is_recognised(neo4j_server: LocalServer) -> None:
    status = LocalServer(neo4j_server.home, neo4j_server.port).status()
    assert status.running and status.pid is not None and not status.foreign


def test_another_neo4j_on_the_port_is_not_ours(neo4j_server: LocalServer, tmp_path: Path) -> None:
    """A second data directory configured for the port the session's Neo4j holds."""
    other = LocalServer(tmp_path / "neo4j", neo4j_server.port)
    status = other.status()
    assert not status.running and status.pid is None and status.foreign
    assert "served by another program" in status.describe() and "LINEAGEGRAPH_SERVER_PORT" in status.describe()
    with pytest.raises(ServerError, match="taken by another program"):
        other.start(quiet=True)


def test_a_stale_pid_file_naming_another_process_is_not_trusted(neo4j_server: LocalServer, tmp_path: Path) -> None:
    """The pid in the file was reused by an unrelated process (here: this test's own)."""
    home = tmp_path / "neo4j"
    home.mkdir()
    (home / "neo4j.pid").write_text(str(os.getpid()))
    other = LocalServer(home, neo4j_server.port)
    status = other.status()
    assert status.pid is None and not status.running and status.foreign
    assert other.stop() is False, "nothing of ours to stop, and the unrelated process is left alone"
    assert not (home / "neo4j.pid").exists()


def test_cli_status_names_the_foreign_server(neo4j_server: LocalServer, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LINEAGEGRAPH_SERVER_HOME", str(tmp_path / "neo4j"))
    monkeypatch.setenv("LINEAGEGRAPH_SERVER_PORT", str(neo4j_server.port))
    monkeypatch.delenv("NEO4J_URI", raising=False)
    assert main(["server", "status"]) == 1
    out = capsys.readouterr().out
    assert "served by another program" in out and "(pid" not in out


@pytest.mark.parametrize(("name", "content"), [
    ("passwd.cypher", b"root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n"),
    ("shadow", b"root:$6$saltsalt$hashhashhash:19000:0:99999:7:::\n"),
    ("binary.cypher", bytes(range(256))),
])
def test_cypher_file_errors_do_not_echo_the_file(cli_env: dict[str, str], tmp_path: Path, name: str, content: bytes,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert main(["cypher", str(path)]) == 2
    captured = capsys.readouterr()
    assert str(path) in captured.err
    for fragment in ("root:", "/bin/bash", "daemon", "$6$", "hashhash"):
        assert fragment not in captured.err
    assert "Traceback" not in captured.err
