"""A private, throw-away PostgreSQL server: for the demo, the tests and the fixture scripts.

The PostgreSQL importers (mltrace, ``provenance``) need a real server to read from. The demo and
the tests run their own instead of touching a system cluster or needing Docker: ``initdb`` into a
fresh temporary directory, ``postgres`` on a free loopback port with its unix socket inside that
directory, every connection authenticated with a generated password (SCRAM), and at the end a fast
shutdown and the directory deleted.

The server binaries are Debian's ``postgresql`` package; ``scripts/ensure-postgres.sh`` installs
them (as root) and prints their directory. :func:`find_bindir` finds them without installing
anything (``$LINEAGEGRAPH_PG_BINDIR``, ``pg_config``, ``/usr/lib/postgresql/*/bin``, ``PATH``) and
raises a :class:`~lineagegraph.errors.ConfigError` that says what to run when they are missing.
PostgreSQL refuses to run as root, so as root the server's files and process belong to a system
user (``lineagegraph-pg``, made by the ensure script; ``$LINEAGEGRAPH_PG_OS_USER`` overrides) and
``setpriv`` switches to it (no login shell or ``su``).
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

from lineagegraph.errors import ConfigError, ServerError

__all__ = ["SUPERUSER", "PrivatePostgres", "find_bindir"]

SUPERUSER = "lineagegraph"
_MISSING = (
    "PostgreSQL server binaries (initdb, postgres) not found; run 'bash scripts/ensure-postgres.sh' "
    "(as root it installs Debian's postgresql package) or install PostgreSQL and set LINEAGEGRAPH_PG_BINDIR "
    "to the directory that holds initdb"
)


def _has_server(directory: Path) -> bool:
    return (directory / "initdb").is_file() and (directory / "postgres").is_file()


def _version_key(path: Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/<major>/bin: newest major first.
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name)) or (0,)


def find_bindir() -> Path:
    """The directory of the PostgreSQL server binaries, or a ConfigError saying what to run."""
    given = os.environ.get("LINEAGEGRAPH_PG_BINDIR")
    if given:
        if _has_server(Path(given)):
            return Path(given)
        raise ConfigError(f"LINEAGEGRAPH_PG_BINDIR={given} holds no initdb and postgres; {_MISSING}")
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0 and out.stdout.strip():
            candidates.append(Path(out.stdout.strip()))
    candidates.extend(sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True))
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).parent)
    for candidate in candidates:
        if _has_server(candidate):
            return candidate
    raise ConfigError(_MISSING)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivatePostgres:
    """One private PostgreSQL server: ``start()`` (or ``with``), then :meth:`url`/:meth:`env`/:meth:`psql`."""

    def __init__(self, bindir: Path | None = None, *, port: int | None = None, password: str | None = None,
                 root: Path | None = None) -> None:
        self.bindir = bindir if bindir is not None else find_bindir()
        self.port = port if port is not None else _free_port()
        self.password = password if password is not None else secrets.token_urlsafe(18)
        self.root = root if root is not None else Path(tempfile.mkdtemp(prefix="lg-postgres-"))
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> PrivatePostgres:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- running as a non-root user --------------------------------------------------------
    def _os_user(self) -> pwd.struct_passwd | None:
        if os.geteuid() != 0:
            return None
        name = os.environ.get("LINEAGEGRAPH_PG_OS_USER", "lineagegraph-pg")
        try:
            return pwd.getpwnam(name)
        except KeyError:
            raise ConfigError(f"PostgreSQL refuses to run as root and the system user {name} is missing; "
                              "run 'bash scripts/ensure-postgres.sh' as root (it creates it)") from None

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

    def start(self, timeout: float = 60) -> PrivatePostgres:
        """initdb and start the server; a ServerError with the server's log when it will not start."""
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, timeout: float) -> None:
        self._chown(self.root)
        self.socket_dir.mkdir()
        self._chown(self.socket_dir)
        # The password reaches initdb through a file only this user can read, never argv.
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
            raise ServerError(f"initdb failed: {initdb.stderr.strip() or initdb.stdout.strip()}")
        with open(self.root / "server.log", "wb") as log:
            self.process = subprocess.Popen(
                self._as_server_user([
                    str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port),
                    "-k", str(self.socket_dir), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                    "-c", "max_connections=40", "-c", "shared_buffers=32MB",
                ]),
                stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"postgres exited at start: {self.log_tail()}")
            ready = subprocess.run(
                [str(self.bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"], check=False)
            if ready.returncode == 0:
                return
            time.sleep(0.2)
        raise ServerError(f"postgres did not accept connections within {timeout:.0f} s: {self.log_tail()}")

    def log_tail(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else "(no log)"

    def stop(self) -> None:
        """Fast shutdown (SIGINT: a clean stop without waiting for clients), then remove the directory."""
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
            raise ServerError(f"psql failed: {result.stderr.strip()}")
        return result.stdout

    def create_database(self, name: str | None = None, *, dump: Path | None = None) -> str:
        """A new empty database (loaded from a ``pg_dump`` file when given); returns its name."""
        name = name or f"t_{secrets.token_hex(6)}"
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ConfigError(f"not a plain database name: {name!r}")
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
            raise ServerError(f"pg_dump failed: {result.stderr.strip()}")
        return result.stdout
