"""A real, throw-away Kubernetes API server for tests: etcd + kube-apiserver as plain processes.

The binaries come from ``scripts/ensure-kube.sh`` (built once from the Go modules in ``tools/``
into a per-user cache). :func:`start_cluster` runs both on free loopback ports inside a temporary
directory, with serving certificates the API server makes itself (``--cert-dir``), service-account
keys made with openssl, and a random admin token that only ever travels in files (the token file
of the server, the kubeconfig of the clients), never on a command line. Nothing reconciles in
such a cluster (no controller-manager, scheduler or kubelet): tests create Pods and set status
themselves.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

__all__ = ["KubeCluster", "KubeClusterError", "ensure_binaries", "start_cluster"]

REPO = Path(__file__).resolve().parent.parent
ENSURE_SCRIPT = REPO / "scripts" / "ensure-kube.sh"


class KubeClusterError(RuntimeError):
    """The test cluster could not be built, started or reached (the message says why)."""


def ensure_binaries(timeout: float = 3600) -> tuple[Path, Path]:
    """Paths of kube-apiserver and etcd, building them first when this machine has none yet."""
    done = subprocess.run(["bash", str(ENSURE_SCRIPT)], capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise KubeClusterError(f"{ENSURE_SCRIPT} failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if len(lines) != 2:
        raise KubeClusterError(f"{ENSURE_SCRIPT} printed {lines!r}, expected two binary paths")
    apiserver, etcd = Path(lines[0]), Path(lines[1])
    for binary in (apiserver, etcd):
        if not os.access(binary, os.X_OK):
            raise KubeClusterError(f"{binary} is not an executable")
    return apiserver, etcd


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class KubeCluster:
    """A running etcd + kube-apiserver pair; :meth:`stop` ends both."""

    workdir: Path
    server: str
    kubeconfig: Path
    ca_file: Path
    token_file: Path
    etcd_url: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def token(self) -> str:
        return self.token_file.read_text().split(",", 1)[0].strip()

    def compact_etcd(self) -> int:
        """Compact etcd's history up to its current revision, as the API server does every few minutes
        (``--etcd-compaction-interval``); watches from an older resourceVersion then get ``410 Gone``."""
        def call(path: str, body: dict[str, object]) -> dict[str, object]:
            request = urllib.request.Request(f"{self.etcd_url}{path}", data=json.dumps(body).encode(),
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=10) as answer:  # plain http on loopback
                return json.loads(answer.read())  # type: ignore[no-any-return]

        header = call("/v3/kv/range", {"key": base64.b64encode(b"/").decode()})["header"]
        revision = int(header["revision"])  # type: ignore[index]
        call("/v3/kv/compaction", {"revision": revision, "physical": True})
        return revision

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.processes)

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM the API server first (it flushes to etcd), then etcd; SIGKILL what lingers."""
        for proc in reversed(self.processes):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
        self.processes.clear()


def _make_sa_keys(directory: Path) -> tuple[Path, Path]:
    key, pub = directory / "sa.key", directory / "sa.pub"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-out", str(pub)], check=True, capture_output=True)
    key.chmod(0o600)
    return key, pub


def _wait_ready(cluster: KubeCluster, log: Path, timeout: float) -> None:
    """Poll /readyz with the admin token until it answers 200 (or one of the processes died)."""
    context = ssl.create_default_context(cafile=str(cluster.ca_file))
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if not cluster.alive():
            raise KubeClusterError(f"the test cluster exited during start-up; log {log}:\n{log.read_text()[-3000:]}")
        request = urllib.request.Request(f"{cluster.server}/readyz",
                                         headers={"Authorization": f"Bearer {cluster.token}"})
        try:
            with urllib.request.urlopen(request, context=context, timeout=5) as answer:
                if answer.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except (OSError, ssl.SSLError) as exc:
            last = str(exc)
        time.sleep(0.5)
    raise KubeClusterError(f"kube-apiserver not ready after {timeout:.0f}s ({last}); log {log}")


def _wait_file(path: Path, procs: list[subprocess.Popen[bytes]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists() or path.stat().st_size == 0:
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            raise KubeClusterError(f"{path} was not written by kube-apiserver")
        time.sleep(0.2)


def start_cluster(workdir: Path, *, apiserver: Path | None = None, etcd: Path | None = None,
                  extra_apiserver_args: tuple[str, ...] = (), timeout: float = 180) -> KubeCluster:
    """Start etcd and kube-apiserver in ``workdir`` (created) and wait until the API is ready."""
    if apiserver is None or etcd is None:
        apiserver, etcd = ensure_binaries()
    workdir.mkdir(parents=True, exist_ok=True)
    certs = workdir / "certs"
    certs.mkdir(exist_ok=True)
    sa_key, sa_pub = _make_sa_keys(workdir)
    token_file = workdir / "tokens.csv"
    token_file.write_text(f"{secrets.token_urlsafe(32)},admin,1,system:masters\n")
    token_file.chmod(0o600)
    etcd_port, peer_port, secure_port = _free_port(), _free_port(), _free_port()
    etcd_url = f"http://127.0.0.1:{etcd_port}"
    log = workdir / "cluster.log"
    procs: list[subprocess.Popen[bytes]] = []
    with log.open("ab") as out:
        procs.append(subprocess.Popen(
            [str(etcd), "--name", "test", "--data-dir", str(workdir / "etcd"),
             "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
             "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
             "--initial-cluster", f"test=http://127.0.0.1:{peer_port}", "--log-level", "warn"],
            stdout=out, stderr=subprocess.STDOUT))
        procs.append(subprocess.Popen(
            [str(apiserver), f"--etcd-servers={etcd_url}", f"--secure-port={secure_port}",
             "--bind-address=127.0.0.1", f"--cert-dir={certs}",
             "--service-account-issuer=https://kubernetes.default.svc",
             f"--service-account-key-file={sa_pub}", f"--service-account-signing-key-file={sa_key}",
             "--authorization-mode=AlwaysAllow", f"--token-auth-file={token_file}",
             "--service-cluster-ip-range=10.0.0.0/24", "--v=1", *extra_apiserver_args],
            stdout=out, stderr=subprocess.STDOUT))
    server = f"https://127.0.0.1:{secure_port}"
    cluster = KubeCluster(workdir=workdir, server=server, kubeconfig=workdir / "kubeconfig",
                          ca_file=certs / "apiserver.crt", token_file=token_file, etcd_url=etcd_url,
                          processes=procs)
    try:
        # The API server writes its self-signed serving certificate (with its CA) before serving.
        _wait_file(cluster.ca_file, procs, timeout)
        kubeconfig = {
            "apiVersion": "v1", "kind": "Config", "current-context": "test",
            "clusters": [{"name": "test", "cluster": {"server": server,
                                                      "certificate-authority": str(cluster.ca_file)}}],
            "users": [{"name": "admin", "user": {"token": cluster.token}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "admin"}}],
        }
        cluster.kubeconfig.write_text(yaml.safe_dump(kubeconfig))
        cluster.kubeconfig.chmod(0o600)
        _wait_ready(cluster, log, timeout)
    except BaseException:
        cluster.stop()
        raise
    return cluster
