"""Configuration mistakes are one clear line and exit code 3, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lineagegraph.errors import ConfigError
from lineagegraph.settings import default_server_home, load_settings


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("NEO4J_", "LINEAGEGRAPH_"))}
    return subprocess.run([sys.executable, "-m", "lineagegraph", *args], capture_output=True, text=True,
                          env={**clean, **env}, cwd=cwd, timeout=120, check=False)


@pytest.mark.parametrize(("env", "toml", "names"), [
    ({"LINEAGEGRAPH_SERVER_PORT": "99999"}, None,
     ["environment variable LINEAGEGRAPH_SERVER_PORT", "'99999'", "65535"]),
    ({"NEO4J_URI": "bolt//db.example.org"}, None, ["environment variable NEO4J_URI", "scheme must be one of"]),
    ({"NEO4J_URI": "bolt://db.example.org:99999"}, None, ["NEO4J_URI", "port must be a number"]),
    ({"NEO4J_URI": "http://db.example.org:7474"}, None, ["NEO4J_URI", "bolt://host:7687"]),
    ({"NEO4J_URI": "bolt://localhost:1?region=eu", "NEO4J_PASSWORD": "x"}, None,
     ["NEO4J_URI", "refused by the driver", "Routing context"]),
    ({}, 'server_port = "seven"\n', ["server_port in lineagegraph.toml", "'seven'", "valid integer"]),
    ({}, "batch_size = [1, 2]\n", ["batch_size in lineagegraph.toml", "valid integer"]),
    ({}, "server_port = \n", ["lineagegraph.toml: not valid TOML", "line 1"]),
])
def test_configuration_errors_are_one_line(tmp_path: Path, env: dict[str, str], toml: str | None,
                                           names: list[str]) -> None:
    if toml is not None:
        (tmp_path / "lineagegraph.toml").write_text(toml)
    commands = [["imports", "list"]]
    if "LINEAGEGRAPH_SERVER_PORT" in env:  # also the commands that read settings in other ways
        commands += [["server", "status"], ["export", "prov", "--all"]]
    for args in commands:
        proc = run_cli(args, env, tmp_path)
        assert proc.returncode == 3, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("lineagegraph: error: "), proc.stderr
        for name in names:
            assert name in lines[0]


def test_a_password_in_the_uri_is_refused_without_repeating_it(tmp_path: Path) -> None:
    proc = run_cli(["imports", "list"], {"NEO4J_URI": "bolt://neo4j:hunter2@db:7687"}, tmp_path)
    assert proc.returncode == 3
    assert "hunter2" not in proc.stderr and "NEO4J_PASSWORD" in proc.stderr


def test_load_settings_raises_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINEAGEGRAPH_MAX_INPUT_BYTES", "0")
    with pytest.raises(ConfigError, match="LINEAGEGRAPH_MAX_INPUT_BYTES"):
        load_settings()


def test_server_home_defaults_to_the_user_data_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LINEAGEGRAPH_SERVER_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    assert load_settings().server_home == tmp_path / "data" / "lineagegraph" / "neo4j"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_server_home() == Path.home() / ".local" / "share" / "lineagegraph" / "neo4j"
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.chdir(other)
    assert load_settings().server_home == default_server_home(), "the same database from any directory"
