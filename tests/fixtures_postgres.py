"""A real, throw-away PostgreSQL server for the tests (no Docker, never the system cluster).

``scripts/ensure-postgres.sh`` finds (or installs, as root) Debian's server binaries and, as root,
a dedicated system user. :class:`TestPostgres` then runs ``initdb`` into a fresh temporary
directory, starts ``postgres`` on a free loopback port with its unix socket inside that directory,
authenticates every connection with a generated password (SCRAM), and stops the server and deletes
the directory at the end. PostgreSQL refuses to run as root, so when the tests run as root the
server's files and process belong to that system user (``setpriv`` switches to it, no login shell
or ``su`` involved).

Missing binaries or a server that will not start make the fixtures error with the reason; they
never skip. The module is plain standard-library Python (3.10 compatible) so that
``scripts/make-*-fixture.py`` can start the same server for the third-party tools' own venvs.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest

REPO = Path(__file__).resolve().parent.parent
ENSURE = REPO / "scripts" / "ensure-postgres.sh"
SUPERUSER = "lineagegraph"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class TestPostgres:
    """One private PostgreSQL server: ``start()``, then connect with :meth:`url`/:meth:`env`."""

    __test__ = False  # not a test class, despite the name

    bindir: Path = field(default_factory=lambda: TestPostgres.ensure())
    port: int = field(default_factory=_free_port)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="lg-postgres-")))
    process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def ensure() -> Path:
        """Run ``scripts/ensure-postgres.sh``; return the server binaries' directory or fail loudly."""
        result = subprocess.run(["bash", str(ENSURE)], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"PostgreSQL is not available for the tests: {result.stderr.strip()}")
        return Path(result.stdout.strip().splitlines()[-1])

    # -- running as a non-root user --------------------------------------------------------
    def _os_user(self) -> pwd.struct_passwd | None:
        if os.geteuid() != 0:
            return None
        return pwd.getpwnam(os.environ.get("LINEAGEGRAPH_PG_OS_USER", "lineagegraph-pg"))

    def _as_server_user(self, argv: list[str]) -> list[str]:
        user = self._os_user()
        if user is None:
            return argv
        return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
                "--reset-env", "--", *argv]

    def _chown(self, path: Path) -> None:
        user = self._os_user()
        if user is not None:
            os.chown(path, user.pw_uid, user.pw_gid)

    # -- life cycle ------------------------------------------------------------------------
    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    def start(self, timeout: float = 60) -> TestPostgres:
        self._chown(self.root)
        self.socket_dir.mkdir()
        self._chown(self.socket_dir)
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        self._chown(pwfile)
        initdb = subprocess.run(
            self._as_server_user([
                str(self.bindir / "initdb"), "-D", str(self.data), "-U", SUPERUSER, f"--pwfile={pwfile}",
                "--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "--encoding=UTF8",
                "--locale=C", "--no-sync",
            ]),
            capture_output=True, text=True, check=False,
        )
        pwfile.unlink()
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed: {initdb.stderr.strip() or initdb.stdout.strip()}")
        log = open(self.root / "server.log", "wb")  # noqa: SIM115 - the server writes it while running
        self.process = subprocess.Popen(
            self._as_server_user([
                str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port),
                "-k", str(self.socket_dir), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                "-c", "max_connections=40", "-c", "shared_buffers=32MB",
            ]),
            stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited at start: {self.log_tail()}")
            ready = subprocess.run(
                [str(self.bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"],
                check=False,
            )
            if ready.returncode == 0:
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"postgres did not accept connections within {timeout:.0f} s: {self.log_tail()}")

    def log_tail(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else "(no log)"

    def stop(self) -> None:
        """Fast shutdown (SIGINT), then remove the directory."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        shutil.rmtree(self.root, ignore_errors=True)

    # -- using it --------------------------------------------------------------------------
    def url(self, database: str = "postgres", *, with_password: bool = True) -> str:
        secret = f":{quote(self.password, safe='')}" if with_password else ""
        return f"postgresql://{SUPERUSER}{secret}@127.0.0.1:{self.port}/{database}"

    def env(self) -> dict[str, str]:
        """Environment for libpq programs (psql, pg_dump) and for PGPASSWORD-reading code."""
        return {**os.environ, "PGHOST": "127.0.0.1", "PGPORT": str(self.port), "PGUSER": SUPERUSER,
                "PGPASSWORD": self.password, "PGDATABASE": "postgres"}

    def psql(self, database: str, *args: str, stdin: str | None = None) -> str:
        result = subprocess.run(
            [str(self.bindir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", database, *args],
            input=stdin, capture_output=True, text=True, env=self.env(), check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr.strip()}")
        return result.stdout

    def create_database(self, name: str | None = None, *, dump: Path | None = None) -> str:
        """A new empty database (loaded from a ``pg_dump`` file when given); returns its name."""
        name = name or f"t_{secrets.token_hex(6)}"
        self.psql("postgres", "-c", f'CREATE DATABASE "{name}"')
        if dump is not None:
            self.psql(name, "-f", str(dump))
        return name

    def dump(self, database: str) -> str:
        result = subprocess.run(
            [str(self.bindir / "pg_dump"), "--no-owner", "--no-privileges", "-d", database],
            capture_output=True, text=True, env=self.env(), check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"pg_dump failed: {result.stderr.strip()}")
        return result.stdout


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
