"""Configuration sources and the command line's shape (help everywhere, error reporting)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main

from lineagegraph.cli import app, main
from lineagegraph.settings import Settings


def test_settings_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for var in ("NEO4J_URI", "NEO4J_USER", "NEO4J_DATABASE", "LINEAGEGRAPH_BATCH_SIZE", "LINEAGEGRAPH_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    assert Settings().uses_local_server

    (tmp_path / "lineagegraph.toml").write_text('neo4j_uri = "bolt://toml:7687"\nbatch_size = 10\n')
    assert Settings().neo4j_uri == "bolt://toml:7687" and Settings().batch_size == 10

    (tmp_path / ".env").write_text("NEO4J_URI=bolt://dotenv:7687\n")
    assert Settings().neo4j_uri == "bolt://dotenv:7687"

    monkeypatch.setenv("NEO4J_URI", "bolt://env:7687")
    monkeypatch.setenv("NEO4J_DATABASE", "lineage")
    settings = Settings()
    assert (settings.neo4j_uri, settings.neo4j_database, settings.batch_size) == ("bolt://env:7687", "lineage", 10)
    assert not settings.uses_local_server


def test_password_is_never_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEO4J_PASSWORD", "hunter2-secret")
    settings = Settings()
    assert settings.neo4j_password is not None
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.model_dump())


def _commands(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            found += _commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    root = typer.main.get_command(app)
    paths = _commands(root)
    assert ("server", "start") in paths and ("imports", "remove") in paths
    for path in paths:
        assert main([*path, "--help"]) == 0, path
        out = capsys.readouterr().out
        assert "Usage:" in out and "--help" in out, path


def test_no_password_option_anywhere() -> None:
    root = typer.main.get_command(app)

    def options(cmd: Any) -> set[str]:
        names = {o for p in cmd.params for o in getattr(p, "opts", [])}
        if hasattr(cmd, "commands"):
            for sub in cmd.commands.values():
                names |= options(sub)
        return names

    assert not [o for o in options(root) if "pass" in o.lower() or "secret" in o.lower()]


def test_usage_errors_exit_non_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no-such-command"]) == 2
    assert "No such command" in capsys.readouterr().err


def test_python_dash_m() -> None:
    proc = subprocess.run([sys.executable, "-m", "lineagegraph", "--help"], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0 and "import" in proc.stdout and "server" in proc.stdout
