"""A real Neo4j Community server for machines without Docker or a Neo4j installation.

The jars of the embedded Neo4j DBMS (with its Bolt server) come from Maven Central through the
``pom.xml`` beside this module and are cached per user under ``~/.cache/lineagegraph``; a tiny
launcher class (``LineagegraphNeo4j.java``) is compiled once against them. The server process is
detached, listens on 127.0.0.1 only, keeps its store in a per-user data directory (by default
``$XDG_DATA_HOME/lineagegraph/neo4j``, see :func:`lineagegraph.settings.default_server_home`) and
is stopped with SIGTERM, which runs Neo4j's clean shutdown.

A pid file alone does not make a server ours: the process behind it must be this launcher for
this data directory and port (pids are reused), and a port answered by anything else is reported
as someone else's server, never as ours.

Optionally (``http_port``) the same process also serves Neo4j's HTTP endpoint and Neo4j Browser;
the Browser jar is fetched only the first time that mode is asked for.

Authentication stays on: a random password is generated at first start into ``HOME/password``
(mode 0600) and :class:`~lineagegraph.settings.Settings` reads it from there.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from lineagegraph.errors import ServerError
from lineagegraph.process import pid_alive

__all__ = ["BROWSER_VERSION", "NEO4J_VERSION", "LocalServer", "ServerStatus", "ensure_runtime"]

NEO4J_VERSION = "5.26.22"
# The newest Neo4j Browser published on Maven Central (later releases ship only inside the Neo4j
# distributions); it talks Bolt to any 5.x server.
BROWSER_VERSION = "5.24.0"
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


def admin_tool_command(*, heap: str = "1g") -> list[str]:
    """The start of a ``neo4j-admin`` command line: Java, Neo4j's module flags and the cached jars."""
    java = _find_tool("java", "install a JDK 17 or 21 (e.g. the openjdk-17-jdk package)")
    runtime = ensure_runtime(quiet=True)
    return [java, f"-Xmx{heap}", *_JVM_OPENS, "-cp", str(runtime / "lib" / "*"), "org.neo4j.cli.AdminTool"]


def ensure_runtime(*, quiet: bool = False, browser: bool = False) -> Path:
    """Download (once) the Neo4j jars and compile the launcher; return the cache directory.

    With ``browser`` the Neo4j Browser jar is fetched too (into ``browser/``). A second call finds
    everything in the cache and touches no network.
    """
    root = _cache_root()
    lib = root / "lib"
    marker = lib / ".complete"
    java = _find_tool("java", "install a JDK 17 or 21 (e.g. the openjdk-17-jdk package)")
    major = _java_major(java)
    if major not in (17, 21):
        raise ServerError(f"Neo4j {NEO4J_VERSION} needs Java 17 or 21; '{java}' is Java {major}")
    if not marker.exists():
        mvn = _find_tool("mvn", "install Maven (the maven package) to fetch the Neo4j jars")
        pom = resources.files("lineagegraph.server") / "pom.xml"
        with resources.as_file(pom) as pom_path:
            if not quiet:
                print(f"lineagegraph: fetching Neo4j {NEO4J_VERSION} jars into {lib} (once)",
                      file=sys.stderr)
            lib.mkdir(parents=True, exist_ok=True)
            proc = subprocess.run(
                [mvn, "-B", "-q", "-f", str(pom_path), "dependency:copy-dependencies",
                 f"-DoutputDirectory={lib}", "-DincludeScope=runtime"],
                capture_output=True, text=True, check=False,
            )
        if proc.returncode != 0:
            raise ServerError("Maven could not fetch the Neo4j jars:\n"
                              + (proc.stdout + proc.stderr)[-2000:])
        marker.write_text(NEO4J_VERSION)
    if browser:
        _ensure_browser(root, quiet=quiet)
    _ensure_launcher(root)
    return root


def _browser_jar(root: Path) -> Path:
    return root / "browser" / f"neo4j-browser-{BROWSER_VERSION}.jar"


def _ensure_browser(root: Path, *, quiet: bool) -> None:
    target = root / "browser"
    marker = target / ".complete"
    if marker.exists() and _browser_jar(root).exists():
        return
    mvn = _find_tool("mvn", "install Maven (the maven package) to fetch Neo4j Browser")
    artifact = f"org.neo4j.client:neo4j-browser:{BROWSER_VERSION}"
    if not quiet:
        print(f"lineagegraph: fetching Neo4j Browser {BROWSER_VERSION} into {target} (once)",
              file=sys.stderr)
    target.mkdir(parents=True, exist_ok=True)
    pom = resources.files("lineagegraph.server") / "pom.xml"
    # The pom only anchors Maven (so a pom.xml in the working directory is not picked up); the
    # copy goal resolves the one artifact named on the command line.
    with resources.as_file(pom) as pom_path:
        proc = subprocess.run(
            [mvn, "-B", "-q", "-f", str(pom_path), "dependency:copy",
             f"-Dartifact={artifact}", f"-DoutputDirectory={target}"],
            capture_output=True, text=True, check=False,
        )
    if proc.returncode != 0 or not _browser_jar(root).exists():
        raise ServerError(
            f"Maven could not fetch Neo4j Browser ({artifact}), which the --browser mode needs; "
            "the Bolt-only server still works without it:\n" + (proc.stdout + proc.stderr)[-2000:]
        )
    marker.write_text(BROWSER_VERSION)


def _ensure_launcher(root: Path) -> None:
    """Compile the launcher when its class is missing or older than the packaged source."""
    classes = root / "classes"
    stamp = classes / ".source-sha256"
    src = resources.files("lineagegraph.server") / f"{_LAUNCHER}.java"
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    current = stamp.read_text().strip() if stamp.exists() else None
    if (classes / f"{_LAUNCHER}.class").exists() and current == digest:
        return
    javac = _find_tool("javac", "install a JDK (not only a JRE) to compile the launcher")
    classes.mkdir(parents=True, exist_ok=True)
    # Compile aside and move the class in with a rename, so a server starting meanwhile from the
    # same cache never loads a half-written class file.
    with tempfile.TemporaryDirectory(dir=root) as scratch, resources.as_file(src) as src_path:
        proc = subprocess.run(
            [javac, "-cp", str(root / "lib" / "*"), "-d", scratch, str(src_path)],
            capture_output=True, text=True, check=False,
        )
        if proc.returncode != 0:
            raise ServerError("could not compile the Neo4j launcher:\n" + proc.stderr[-2000:])
        for compiled in Path(scratch).glob("*.class"):
            os.replace(compiled, classes / compiled.name)
    stamp.write_text(digest)


@dataclass(frozen=True)
class ServerStatus:
    """What ``server status`` reports."""

    running: bool
    pid: int | None
    uri: str
    home: Path
    browser_url: str | None = None
    """Neo4j Browser's address when the server also serves HTTP, else None."""
    foreign: bool = False
    """The port answers, but not from this server (another Neo4j, another program)."""

    def describe(self) -> str:
        if self.foreign:
            return (f"not running, and {self.uri} is served by another program (not the lineagegraph server "
                    f"with data in {self.home}); set LINEAGEGRAPH_SERVER_PORT to a free port, or NEO4J_URI "
                    "(and NEO4J_PASSWORD) to use that server")
        if self.running:
            browser = f", Neo4j Browser at {self.browser_url}" if self.browser_url else ""
            return f"running (pid {self.pid}) at {self.uri}{browser}, data in {self.home}"
        return f"not running (data in {self.home})"


def _browser_url(http_port: int | None) -> str | None:
    return f"http://127.0.0.1:{http_port}/browser/" if http_port else None


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class LocalServer:
    """One Neo4j process serving the store under ``home`` on ``127.0.0.1:port``.

    With ``http_port`` a start also opens the HTTP endpoint and Neo4j Browser on that port.
    """

    def __init__(self, home: Path, port: int = 7687, *, heap_mb: int = 2048,
                 page_cache_mb: int = 512, http_port: int | None = None):
        self.home = home.resolve()
        self.port = port
        self.heap_mb = heap_mb
        self.page_cache_mb = page_cache_mb
        self.http_port = http_port

    @property
    def uri(self) -> str:
        return f"bolt://127.0.0.1:{self.port}"

    @property
    def _pid_file(self) -> Path:
        return self.home / "neo4j.pid"

    @property
    def _http_port_file(self) -> Path:
        # Written at start in browser mode, so status() of any LocalServer for this home (the CLI
        # builds one without http_port) can tell where the Browser is.
        return self.home / "http.port"

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
        return pid if pid_alive(pid) and self._is_ours(pid) else None

    def _is_ours(self, pid: int) -> bool:
        """Whether ``pid`` is this launcher serving this home on this port (pids get reused)."""
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            return False
        except OSError:
            return True  # no /proc (not Linux) or not readable: trust the pid file as before
        args = [a.decode(errors="replace") for a in argv]
        if _LAUNCHER not in args:
            return False
        rest = args[args.index(_LAUNCHER) + 1:]
        return len(rest) >= 2 and Path(rest[0]) == self.home and rest[1] == str(self.port)

    def _served_http_port(self) -> int | None:
        try:
            return int(self._http_port_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def status(self) -> ServerStatus:
        pid = self._pid()
        port_open = _port_open(self.port)
        running = pid is not None and port_open
        http_port = self._served_http_port() if running else None
        return ServerStatus(running=running, pid=pid, uri=self.uri, home=self.home,
                            browser_url=_browser_url(http_port), foreign=pid is None and port_open)

    def _check_mode(self, status: ServerStatus) -> ServerStatus:
        """A running server cannot gain the HTTP endpoint; say so instead of pretending."""
        served = self._served_http_port() if status.running else None
        if self.http_port is not None and served != self.http_port:
            now = f"serves HTTP on port {served}" if served else "runs without HTTP and Browser"
            raise ServerError(
                f"the server at {self.uri} already {now}; stop it first "
                f"('lineagegraph server stop') and start it again to serve Neo4j Browser "
                f"on port {self.http_port}"
            )
        return status

    def start(self, *, timeout: float = 180.0, quiet: bool = False) -> ServerStatus:
        """Start the server unless it already runs; wait until Bolt (and HTTP) accepts logins."""
        current = self.status()
        if current.running:
            return self._check_mode(current)
        if current.pid is not None:
            # Started but not listening yet (another process is starting it): just wait.
            return self._check_mode(self._wait_ready(current.pid, timeout))
        if current.foreign:
            raise ServerError(
                f"port {self.port} on 127.0.0.1 is taken by another program (not the lineagegraph server with "
                f"data in {self.home}); set LINEAGEGRAPH_SERVER_PORT or NEO4J_URI"
            )
        if self.http_port == self.port:
            raise ServerError(f"the HTTP port must differ from the Bolt port ({self.port})")
        if self.http_port is not None and _port_open(self.http_port):
            raise ServerError(
                f"HTTP port {self.http_port} on 127.0.0.1 is taken by another program; "
                "set LINEAGEGRAPH_SERVER_HTTP_PORT or pass --http-port"
            )
        runtime = ensure_runtime(quiet=quiet, browser=self.http_port is not None)
        java = _find_tool("java", "install a JDK 17 or 21")
        self.password()
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        classpath = [str(runtime / "classes"), str(runtime / "lib" / "*")]
        args = [str(self.home), str(self.port), str(self.page_cache_mb), str(self.password_file)]
        if self.http_port is not None:
            classpath.append(str(_browser_jar(runtime)))
            args.append(str(self.http_port))
            self._http_port_file.write_text(str(self.http_port))
        else:
            self._http_port_file.unlink(missing_ok=True)
        # The throughput collector: this server is local and serves one user, so rare pauses of a
        # collection matter less than the CPU G1's concurrent work takes from imports on a small
        # machine (200k-record import, two cores: 19.3-21.9 s against 20.9-23.9 s with G1, and
        # 3-5 s less of the server's CPU; docs/performance.md). Half the heap is young: an
        # import's transactions keep their state for a second or two, and with a smaller young
        # generation every collection copied that state again (collector threads 6.3 -> 3.5 s
        # of CPU per 200k records). The heap is its full size from the start, so that it does not
        # grow through full collections.
        cmd = [
            java, f"-Xms{self.heap_mb}m", f"-Xmx{self.heap_mb}m", "-XX:+UseParallelGC", "-XX:NewRatio=1",
            *_JVM_OPENS,
            "-cp", os.pathsep.join(classpath), _LAUNCHER, *args,
        ]
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(  # fixed argv, no shell
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, cwd=self.home,
            )
        self._pid_file.write_text(str(proc.pid))
        if not quiet:
            print(f"lineagegraph: starting Neo4j {NEO4J_VERSION} at {self.uri} "
                  f"(data in {self.home})", file=sys.stderr)
        return self._wait_ready(proc.pid, timeout)

    def _wait_ready(self, pid: int, timeout: float) -> ServerStatus:
        http_port = self._served_http_port()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                raise ServerError("Neo4j exited during start-up; last log lines:\n"
                                  + self._log_tail())
            if (_port_open(self.port) and (http_port is None or _port_open(http_port))
                    and "ready on bolt" in self._log_tail(4000)):
                return ServerStatus(running=True, pid=pid, uri=self.uri, home=self.home,
                                    browser_url=_browser_url(http_port))
            time.sleep(0.25)
        raise ServerError(f"Neo4j did not become ready within {timeout:.0f}s; log:\n"
                          + self._log_tail())

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
            self._http_port_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                self._pid_file.unlink(missing_ok=True)
                self._http_port_file.unlink(missing_ok=True)
                return True
            time.sleep(0.2)
        raise ServerError(
            f"Neo4j (pid {pid}) did not stop within {timeout:.0f}s; it is still shutting down, "
            "never kill -9 a running store"
        )
