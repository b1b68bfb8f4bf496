"""A real, throw-away PostgreSQL server for the tests (no Docker, never the system cluster).

``scripts/ensure-postgres.sh`` finds (or installs, as root) Debian's server binaries and, as root,
a dedicated system user. The server itself is :class:`lineagegraph.importers.pgserver.PrivatePostgres`
(the one the demo starts too): ``initdb`` into a fresh temporary directory, ``postgres`` on a free
loopback port, SCRAM passwords, stopped and deleted at the end.

Missing binaries or a server that will not start make the fixtures error with the reason; they
never skip. ``scripts/make-*-fixture.py`` and ``bench/`` start the same server through
:class:`TestPostgres`.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from lineagegraph.importers.pgserver import PrivatePostgres

REPO = Path(__file__).resolve().parent.parent
ENSURE = REPO / "scripts" / "ensure-postgres.sh"


def ensure_postgres() -> Path:
    """Run ``scripts/ensure-postgres.sh`` (installs when root); the binaries' directory, or fail loudly."""
    result = subprocess.run(["bash", str(ENSURE)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"PostgreSQL is not available for the tests: {result.stderr.strip()}")
    return Path(result.stdout.strip().splitlines()[-1])


class TestPostgres(PrivatePostgres):
    """A :class:`PrivatePostgres` whose binaries come from the ensure script (installed when missing)."""

    __test__ = False  # not a test class, despite the name

    def __init__(self, bindir: Path | None = None) -> None:
        super().__init__(bindir if bindir is not None else ensure_postgres())


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[TestPostgres]:
    """A private PostgreSQL for the whole test session (errors, never skips, when unavailable)."""
    server = TestPostgres().start()
    yield server
    server.stop()


@pytest.fixture
def postgres_database(postgres_server: TestPostgres) -> str:
    """A fresh, empty database on the session's server; its name."""
    return postgres_server.create_database()
