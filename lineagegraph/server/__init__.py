"""A real Neo4j Community server for machines without Docker or a Neo4j installation.

The jars of the embedded Neo4j DBMS (with its Bolt server) come from Maven Central through the
``pom.xml`` beside this module and are cached per user under ``~/.cache/lineagegraph``; a tiny
launcher class (``LineagegraphNeo4j.java``) is compiled once against them. The server process is
detached, listens on 127.0.0.1 only, keeps its store under a project-local directory and is
stopped with SIGTERM, which runs Neo4j's clean shutdown.

Authentication stays on: a random password is generated at first start into ``HOME/password``
(mode 0600) and :class:`~lineagegraph.settings.Settings` reads it from there.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from lineagegraph.errors import ServerError

__all__ = ["NEO4J_VERSION", "LocalServer", "ServerStatus", "ensure_runtime"]

NEO4J_VERSION = "5.26.22"
_LAUNCHER = "LineagegraphNeo4j"
# Flags Neo4j's own start script passes; without them the kernel fails with
# "module java.base does not open java.nio" style LinkageErrors on Java 17+.
_JVM_OPENS = [
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
    "--add-opens=java.base/java.net=ALL-UNNAMED",
    "--add-exports=java.base/sun.nio.ch=ALL-UNNAMED",
    "-Dio.netty.tryReflectionSetAccessible=true",
]


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lineagegraph" / f"neo4j-{NEO4J_VERSION}"


def _find_tool(name: str, hint: str) -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / name).exists():
        return str(Path(java_home) / "bin" / name)
    found = shutil.which(name)
    if not found:
        raise ServerError(f"'{name}' was not found on PATH; {hint}")
    return found


def _java_major(java: str) -> int:
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    text = out.stderr + out.stdout
    for token in text.replace('"', " ").split():
        head = token.split(".")[0]
        if head.isdigit() and "." in token:
            return int(head)
    raise ServerError(f"could not read the Java version from: {text.strip()[:200]}")


def ensure_runtime(*, quiet: bool = False) -> Path:
    """Download (once) the Neo4j jars and compile the launcher; return the cache directory.

    A second call finds both in the cache and touches no network.
    """
    root = _cache_root()
    lib = root / "lib"
    classes = root / "classes"
    marker = lib / ".complete"
    java = _find_tool("java", "install a JDK 17 or 21 (e.g. the openjdk-17-jdk package)")
    major = _java_major(java)
    if major not in (17, 21):
        raise ServerError(f"Neo4j {NEO4J_VERSION} needs Java 17 or 21; '{java}' is Java {major}")
    if not marker.exists():
        mvn = _find_tool("mvn", "install Maven (the maven package) so the Neo4j jars can be fetched")
        pom = resources.files("lineagegraph.server") / "pom.xml"
        with resources.as_file(pom) as pom_path:
            if not quiet:
                print(f"lineagegraph: fetching Neo4j {NEO4J_VERSION} jars into {lib} (once)", file=sys.stderr)
            lib.mkdir(parents=True, exist_ok=True)
            proc = subprocess.run(
                [mvn, "-B", "-q", "-f", str(pom_path), "dependency:copy-dependencies",
                 f"-DoutputDirectory={lib}", "-DincludeScope=runtime"],
                capture_output=True, text=True, check=False,
            )
        if proc.returncode != 0:
            raise ServerError("Maven could not fetch the Neo4j jars:\n" + (proc.stdout + proc.stderr)[-2000:])
        marker.write_text(NEO4J_VERSION)
    if not (classes / f"{_LAUNCHER}.class").exists():
        javac = _find_tool("javac", "install a JDK (not only a JRE) to compile the launcher")
        src = resources.files("lineagegraph.server") / f"{_LAUNCHER}.java"
        classes.mkdir(parents=True, exist_ok=True)
        with resources.as_file(src) as src_path:
            proc = subprocess.run(
                [javac, "-cp", str(lib / "*"), "-d", str(classes), str(src_path)],
                capture_output=True, text=True, check=False,
            )
        if proc.returncode != 0:
            raise ServerError("could not compile the Neo4j launcher:\n" + proc.stderr[-2000:])
    return root


@dataclass(frozen=True)
class ServerStatus:
    """What ``server status`` reports."""

    running: bool
    pid: int | None
    uri: str
    home: Path

    def describe(self) -> str:
        if self.running:
            return f"running (pid {self.pid}) at {self.uri}, data in {self.home}"
        return f"not running (data in {self.home})"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) still answers kill(0).
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        with contextlib.suppress(OSError, IndexError):
            return stat.read_text().split(")")[-1].split()[0] != "Z"
    return True


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class LocalServer:
    """One Neo4j process serving the store under ``home`` on ``127.0.0.1:port``."""

    def __init__(self, home: Path, port: int = 7687, *, heap_mb: int = 2048, page_cache_mb: int = 512):
        self.home = home.resolve()
        self.port = port
        self.heap_mb = heap_mb
        self.page_cache_mb = page_cache_mb

    @property
    def uri(self) -> str:
        return f"bolt://127.0.0.1:{self.port}"

    @property
    def _pid_file(self) -> Path:
        return self.home / "neo4j.pid"

    @property
    def password_file(self) -> Path:
        return self.home / "password"

    @property
    def log_file(self) -> Path:
        return self.home / "logs" / "lineagegraph-neo4j.log"

    def password(self) -> str:
        """The password of the ``neo4j`` user, created on first use."""
        if not self.password_file.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(24))
        return self.password_file.read_text().strip()

    def _pid(self) -> int | None:
        try:
            pid = int(self._pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _pid_alive(pid) else None

    def status(self) -> ServerStatus:
        pid = self._pid()
        return ServerStatus(running=pid is not None and _port_open(self.port), pid=pid, uri=self.uri, home=self.home)

    def start(self, *, timeout: float = 180.0, quiet: bool = False) -> ServerStatus:
        """Start the server unless it already runs; wait until Bolt accepts logins."""
        current = self.status()
        if current.running:
            return current
        if current.pid is not None:
            # Started but not listening yet (another process is starting it): just wait.
            return self._wait_ready(current.pid, timeout)
        if _port_open(self.port):
            raise ServerError(
                f"port {self.port} on 127.0.0.1 is taken by another program; "
                "set LINEAGEGRAPH_SERVER_PORT or NEO4J_URI"
            )
        runtime = ensure_runtime(quiet=quiet)
        java = _find_tool("java", "install a JDK 17 or 21")
        self.password()
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        classpath = os.pathsep.join([str(runtime / "classes"), str(runtime / "lib" / "*")])
        cmd = [
            java, f"-Xmx{self.heap_mb}m", "-XX:+UseG1GC", *_JVM_OPENS, "-cp", classpath, _LAUNCHER,
            str(self.home), str(self.port), str(self.page_cache_mb), str(self.password_file),
        ]
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, cwd=self.home,
            )
        self._pid_file.write_text(str(proc.pid))
        if not quiet:
            print(f"lineagegraph: starting Neo4j {NEO4J_VERSION} at {self.uri} (data in {self.home})",
                  file=sys.stderr)
        return self._wait_ready(proc.pid, timeout)

    def _wait_ready(self, pid: int, timeout: float) -> ServerStatus:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _pid_alive(pid):
                raise ServerError(f"Neo4j exited during start-up; last log lines:\n{self._log_tail()}")
            if _port_open(self.port) and "ready on bolt" in self._log_tail(4000):
                return ServerStatus(running=True, pid=pid, uri=self.uri, home=self.home)
            time.sleep(0.25)
        raise ServerError(f"Neo4j did not become ready within {timeout:.0f}s; log:\n{self._log_tail()}")

    def _log_tail(self, chars: int = 1500) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return "(no log)"

    def stop(self, *, timeout: float = 120.0) -> bool:
        """Stop the server cleanly (SIGTERM, then wait). Returns False if it was not running."""
        pid = self._pid()
        if pid is None:
            self._pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _pid_alive(pid):
                self._pid_file.unlink(missing_ok=True)
                return True
            time.sleep(0.2)
        raise ServerError(
            f"Neo4j (pid {pid}) did not stop within {timeout:.0f}s; it is still shutting down, "
            "never kill -9 a running store"
        )
