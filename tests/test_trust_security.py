"""Promises of SECURITY.md that are best checked on the code and the running server themselves."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from lineagegraph.server import LocalServer

PACKAGE = Path(__file__).resolve().parent.parent / "lineagegraph"
# Calls that run code hidden in data. safe_pickle is the one sanctioned pickle reader: it decodes
# plain data only (tests/test_safe_pickle.py proves it refuses anything else).
UNSAFE_CALLS = {("pickle", "load"), ("pickle", "loads"), ("cloudpickle", "load"), ("cloudpickle", "loads"),
                ("dill", "load"), ("dill", "loads"), ("marshal", "load"), ("marshal", "loads"),
                ("joblib", "load"), ("yaml", "load"), ("yaml", "unsafe_load"), ("shelve", "open")}


def _sources() -> list[Path]:
    files = [p for p in PACKAGE.rglob("*.py") if p.name != "safe_pickle.py"]
    assert len(files) > 20, "the package (with its linked folders) was found"
    return files


def test_no_foreign_data_is_unpickled_or_evaluated() -> None:
    offenders = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                if (func.value.id, func.attr) in UNSAFE_CALLS:
                    offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {func.value.id}.{func.attr}")
                if func.attr == "Unpickler":
                    offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno} Unpickler")
            if isinstance(func, ast.Name) and func.id in ("eval", "exec"):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {func.id}")
    assert offenders == []


@pytest.mark.integration
def test_the_local_server_listens_on_loopback_only(neo4j_server: LocalServer) -> None:
    """Every listening socket on the server's port is bound to 127.0.0.1 (from the kernel's table)."""
    wanted = f"{neo4j_server.port:04X}"
    bound = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port = fields[1].split(":")
            if port == wanted and fields[3] == "0A":  # 0A: LISTEN
                bound.append(address)
    assert bound, "the server's listening socket was found"
    # 127.0.0.1 as IPv4, or IPv4-mapped in the IPv6 table (::ffff:127.0.0.1); never 0.0.0.0 or ::.
    assert set(bound) <= {"0100007F", "0000000000000000FFFF00000100007F"}, f"listening on {bound}"
