"""The cluster agent (``lineagegraph watch k8s``) against a real kube-apiserver + etcd and a real Neo4j.

Each test writes its own objects into its own namespace, runs the agent (in a thread, or as the
CLI in a subprocess), and reads back what the raw object store holds, as a user would with
``lineagegraph k8s objects/history``. The faults are real too: the agent process is SIGKILLed,
Neo4j is made unreachable (its port closed), objects are deleted while no agent runs, and the
server answers ``410 Gone`` to a resourceVersion older than its history. The last test puts the
faults together and checks the end-to-end claim: the lineage derived from what the agent recorded
equals the lineage of a clean import of what ``kubectl`` shows (plus the deletions a watch saw).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubecluster import KubeCluster, ensure_binaries
from kubernetes import client, utils, watch

from lineagegraph.identity import location_id, version_id
from lineagegraph.importers.k8s.extractors import run_id
from lineagegraph.importers.k8s.rawstore import RawStore, StoredObject, WatchEvent
from lineagegraph.server import LocalServer
from lineagegraph.services.k8s_agent import AgentOptions, K8sAgent, KindRef, connect_store, kube_api_client
from lineagegraph.settings import Settings
from lineagegraph.store import GraphStore

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parent.parent
DIGEST = "sha256:" + "ab12" * 16


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.3)


# ---------------------------------------------------------------------------------------------
# Cluster-side helpers


@pytest.fixture(scope="session")
def kube_api(kube_cluster: KubeCluster) -> client.ApiClient:
    return kube_api_client(kube_cluster.kubeconfig)


@pytest.fixture
def namespace(kube_api: client.ApiClient) -> str:
    """A fresh namespace with the `default` ServiceAccount Pods need (no controller makes it here)."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(kube_api)
    core.create_namespace({"metadata": {"name": name}})
    core.create_namespaced_service_account(name, {"metadata": {"name": "default"}})
    return name


def _crd(group: str, version: str, kind: str, plural: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {"group": group, "scope": "Namespaced",
                 "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
                 "versions": [{"name": version, "served": True, "storage": True,
                               "subresources": {"status": {}},
                               "schema": {"openAPIV3Schema": {"type": "object",
                                                              "x-kubernetes-preserve-unknown-fields": True}}}]},
    }


def install_crd(api: client.ApiClient, group: str, version: str, kind: str, plural: str) -> None:
    ext = client.ApiextensionsV1Api(api)
    try:
        ext.create_custom_resource_definition(_crd(group, version, kind, plural))
    except client.ApiException as exc:
        if exc.status != 409:
            raise

    def established() -> bool:
        crd = ext.read_custom_resource_definition(f"{plural}.{group}")
        return any(c.type == "Established" and c.status == "True" for c in (crd.status.conditions or []))

    wait_for(f"CRD {plural}.{group}", established, 60)


def create_job(api: client.ApiClient, ns: str, name: str, args: list[str]) -> dict[str, Any]:
    job = client.BatchV1Api(api).create_namespaced_job(ns, {
        "metadata": {"name": name},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
            {"name": "train", "image": "ghcr.io/example/train:1.0", "args": args,
             "env": [{"name": "DB_PASSWORD", "value": "hunter2-live"}]}]}}},
    })
    return api.sanitize_for_serialization(job)  # type: ignore[no-any-return]


def create_pod(api: client.ApiClient, ns: str, name: str, owner: dict[str, Any] | None) -> dict[str, Any]:
    """A Pod (owned by ``owner`` when given) whose status names an image digest, as a kubelet would."""
    core = client.CoreV1Api(api)
    meta: dict[str, Any] = {"name": name}
    if owner is not None:
        meta["ownerReferences"] = [{"apiVersion": owner["apiVersion"], "kind": owner["kind"],
                                    "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
                                    "controller": True}]
    core.create_namespaced_pod(ns, {"metadata": meta, "spec": {"restartPolicy": "Never", "containers": [
        {"name": "train", "image": "ghcr.io/example/train:1.0"}]}})
    pod = core.patch_namespaced_pod_status(name, ns, {"status": {"phase": "Succeeded", "containerStatuses": [
        {"name": "train", "image": "ghcr.io/example/train:1.0", "imageID": f"ghcr.io/example/train@{DIGEST}",
         "ready": False, "restartCount": 0, "state": {"terminated": {"exitCode": 0}}}]}})
    return api.sanitize_for_serialization(pod)  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------------------------
# Agent-side helpers


def objects(store: GraphStore, ns: str, kind: str | None = None) -> dict[str, StoredObject]:
    return {o.name: o for o in RawStore(store).objects(namespace=ns, kind=kind)}


@contextmanager
def running_agent(api: client.ApiClient, connect: Callable[[], GraphStore], state_dir: Path, ns: str,
                  kinds: list[str] | None = None, **options: Any) -> Iterator[K8sAgent]:
    """The agent in a thread, stopped (and checked to have stopped cleanly) on exit."""
    opts = AgentOptions(namespaces=[ns], state_dir=state_dir, source="k8s-agent:test", health_port=0,
                        **{"watch_timeout": 20, **options})
    if kinds is not None:
        opts.kinds = [KindRef.parse(k) for k in kinds]
    agent = K8sAgent(api, connect, opts)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            agent.run()
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        wait_for("the agent's HTTP endpoint", lambda: agent.health_port, 30)
        yield agent
    finally:
        agent.stop()
        thread.join(60)
    assert not thread.is_alive(), "the agent did not stop"
    assert not failure, failure


def http_get(agent_port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{agent_port}{path}", timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def connect(store: GraphStore, test_settings: Settings) -> Callable[[], GraphStore]:
    """How the agent reaches the (emptied) test Neo4j: its own connection, as in production."""
    return lambda: connect_store(test_settings)


# ---------------------------------------------------------------------------------------------
# Tests


def test_agent_records_every_default_kind_but_never_secrets(
        kube_api: client.ApiClient, namespace: str, store: GraphStore, connect: Callable[[], GraphStore],
        tmp_path: Path) -> None:
    install_crd(kube_api, "kubeflow.org", "v1", "TFJob", "tfjobs")
    install_crd(kube_api, "argoproj.io", "v1alpha1", "Workflow", "workflows")
    ns = namespace
    core = client.CoreV1Api(kube_api)
    custom = client.CustomObjectsApi(kube_api)
    core.create_namespaced_config_map(ns, {"metadata": {"name": "train-config"},
                                           "data": {"learning_rate": "0.1", "DB_PASSWORD": "s3cr3t-cm"}})
    core.create_namespaced_secret(ns, {"metadata": {"name": "db-creds"}, "stringData": {"password": "s3cr3t"}})
    job = create_job(kube_api, ns, "train", ["--train_data=gs://bucket/in/data.csv", "--output", "gs://bucket/model"])
    create_pod(kube_api, ns, "train-abcde", job)
    create_pod(kube_api, ns, "lonely", None)  # owned by nothing watched: no lineage, not kept
    custom.create_namespaced_custom_object("kubeflow.org", "v1", ns, "tfjobs", {
        "apiVersion": "kubeflow.org/v1", "kind": "TFJob", "metadata": {"name": "mnist"},
        "spec": {"tfReplicaSpecs": {"Worker": {"replicas": 2}}}})
    custom.create_namespaced_custom_object("argoproj.io", "v1alpha1", ns, "workflows", {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "pipeline"},
        "spec": {"entrypoint": "main", "templates": [{"name": "main", "dag": {"tasks": []}}]}})

    with running_agent(kube_api, connect, tmp_path / "state", ns) as agent:
        wanted = {"train", "train-abcde", "train-config", "mnist", "pipeline"}
        wait_for("the listed objects", lambda: wanted <= set(objects(store, ns)))
        wait_for("readiness", lambda: http_get(agent.health_port or 0, "/readyz")[0] == 200, 30)
        # Changes after the list arrive through the watch.
        client.BatchV1Api(kube_api).patch_namespaced_job("train", ns, {"metadata": {"labels": {"stage": "2"}}})
        core.delete_namespaced_config_map("train-config", ns)
        wait_for("the watched update and deletion", lambda: (
            objects(store, ns)["train"].latest_version == 2 and objects(store, ns)["train-config"].deleted))
        code, metrics = http_get(agent.health_port or 0, "/metrics")
        assert code == 200
        assert "lineagegraph_k8s_agent_events_total" in metrics and "lineagegraph_k8s_agent_buffer_bytes 0" in metrics

    stored = objects(store, ns)
    assert set(stored) == {"train", "train-abcde", "train-config", "mnist", "pipeline"}
    assert {o.kind for o in stored.values()} == {"Job", "Pod", "ConfigMap", "TFJob", "Workflow"}
    raw = RawStore(store)
    assert not raw.objects(kind="Secret"), "a Secret was stored"
    everything = json.dumps([v.object for o in raw.objects() for v in raw.history(o.uid)])
    assert "s3cr3t" not in everything and "hunter2-live" not in everything
    job_versions = raw.history(stored["train"].uid)
    assert [v.version for v in job_versions] == [1, 2]
    assert job_versions[1].object["metadata"]["labels"]["stage"] == "2"
    container = job_versions[0].object["spec"]["template"]["spec"]["containers"][0]
    assert "--train_data=gs://bucket/in/data.csv" in container["args"]
    pod = raw.history(stored["train-abcde"].uid)[-1].object
    assert pod["status"]["containerStatuses"][0]["imageID"].endswith(DIGEST)
    assert stored["train-abcde"].owner_uids == [stored["train"].uid]
    cm = raw.history(stored["train-config"].uid)
    assert cm[-1].deleted and cm[-1].object["data"]["learning_rate"] == "0.1"


def test_a_kind_without_its_crd_is_reported_then_watched_once_installed(
        kube_api: client.ApiClient, namespace: str, store: GraphStore, connect: Callable[[], GraphStore],
        tmp_path: Path) -> None:
    kind = f"v1/sw{uuid.uuid4().hex[:6]}jobs"
    group = f"g{uuid.uuid4().hex[:6]}.example.org"
    plural = kind.split("/")[1]
    with running_agent(kube_api, connect, tmp_path / "state", namespace, kinds=[f"{group}/{kind}", "v1/configmaps"],
                       missing_kind_retry=1.0) as agent:
        wait_for("the missing kind in /status", lambda: f"{group}/{kind}" in json.loads(
            http_get(agent.health_port or 0, "/status")[1])["missing_kinds"], 30)
        # The other kinds are watched meanwhile, and readiness does not wait for the missing one.
        client.CoreV1Api(kube_api).create_namespaced_config_map(namespace, {"metadata": {"name": "meanwhile"}})
        wait_for("the ConfigMap", lambda: "meanwhile" in objects(store, namespace))
        assert http_get(agent.health_port or 0, "/readyz")[0] == 200
        install_crd(kube_api, group, "v1", "SweepJob", plural)
        client.CustomObjectsApi(kube_api).create_namespaced_custom_object(group, "v1", namespace, plural, {
            "apiVersion": f"{group}/v1", "kind": "SweepJob", "metadata": {"name": "sweep"}, "spec": {"trials": 3}})
        wait_for("the custom object", lambda: "sweep" in objects(store, namespace), 60)
    assert objects(store, namespace)["sweep"].kind == "SweepJob"


def _agent_cli(kube_cluster: KubeCluster, ns: str, state: Path, env: dict[str, str],
               log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "lineagegraph", "watch", "k8s", "--kubeconfig", str(kube_cluster.kubeconfig),
         "--namespace", ns, "--kind", "batch/v1/jobs", "--kind", "v1/configmaps", "--state-dir", str(state),
         "--health-port", "0", "--watch-timeout", "20", "--cluster", "test"],
        env=env, stdout=subprocess.DEVNULL, stderr=log.open("ab"), cwd=REPO)


def test_killed_agent_resumes_from_its_checkpoint_without_duplicates_and_stops_on_sigterm(
        kube_cluster: KubeCluster, kube_api: client.ApiClient, namespace: str, store: GraphStore,
        cli_env: dict[str, str], tmp_path: Path) -> None:
    ns, state, log = namespace, tmp_path / "state", tmp_path / "agent.log"
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_config_map(ns, {"metadata": {"name": "params"}, "data": {"epochs": "1"}})
    create_job(kube_api, ns, "doomed", ["--output=gs://bucket/x"])
    agent = _agent_cli(kube_cluster, ns, state, cli_env, log)
    try:
        wait_for("the first list", lambda: {"params", "doomed"} <= set(objects(store, ns)), 90)
        core.patch_namespaced_config_map("params", ns, {"data": {"epochs": "2"}})
        wait_for("version 2", lambda: objects(store, ns)["params"].latest_version == 2)
        agent.send_signal(signal.SIGKILL)
        agent.wait(30)
        # While no agent runs: a change and a deletion.
        core.patch_namespaced_config_map("params", ns, {"data": {"epochs": "3"}})
        # Background: the Job goes at once (the default, orphan, waits for a garbage collector that is not here).
        client.BatchV1Api(kube_api).delete_namespaced_job("doomed", ns, propagation_policy="Background")
        agent = _agent_cli(kube_cluster, ns, state, cli_env, log)
        wait_for("the missed change and deletion", lambda: (
            objects(store, ns)["params"].latest_version == 3 and objects(store, ns)["doomed"].deleted), 90)
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(60) == 0, log.read_text()[-3000:]
    finally:
        if agent.poll() is None:
            agent.kill()
    raw = RawStore(store)
    history = raw.history(objects(store, ns)["params"].uid)
    assert [v.object["data"]["epochs"] for v in history] == ["1", "2", "3"]
    rvs = [v.resource_version for v in history]
    assert len(set(rvs)) == len(rvs)
    text = log.read_text()
    assert "resuming v1/configmaps@" in text, "the second run relisted instead of resuming"
    assert json.loads((state / "checkpoint.json").read_text())[f"v1/configmaps@{ns}"].isdigit()


class PortGate:
    """A TCP forwarder standing in for the network between the agent and Neo4j; open or closed."""

    def __init__(self, target_port: int):
        self.target = target_port
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self._server: socket.socket | None = None
        self._conns: list[socket.socket] = []

    def open(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen()
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def close(self) -> None:
        """Refuse new connections and cut the established ones, as a dead server would."""
        if self._server is not None:
            with suppress(OSError):
                self._server.shutdown(socket.SHUT_RDWR)  # wakes the accept() thread, which frees the port
            self._server.close()
            self._server = None
        for conn in self._conns:
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._conns.clear()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            self._conns += [conn, upstream]
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


def test_events_are_buffered_on_disk_while_neo4j_is_unreachable_and_flushed_when_it_is_back(
        kube_api: client.ApiClient, namespace: str, store: GraphStore, neo4j_server: LocalServer,
        tmp_path: Path) -> None:
    gate = PortGate(neo4j_server.port)  # closed: nothing listens on gate.port yet
    settings = Settings(neo4j_uri=f"bolt://127.0.0.1:{gate.port}", neo4j_user="neo4j",
                        neo4j_password=neo4j_server.password())
    core = client.CoreV1Api(kube_api)
    state = tmp_path / "state"
    try:
        with running_agent(kube_api, lambda: connect_store(settings), state, namespace, kinds=["v1/configmaps"],
                           store_retry=0.5) as agent:
            for i in range(3):
                core.create_namespaced_config_map(namespace, {"metadata": {"name": f"cm-{i}"},
                                                              "data": {"api_token": "tok-should-not-hit-disk"}})
            wait_for("the events in the buffer", lambda: "cm-2" in (state / "buffer.ndjson").read_text(), 60)
            assert not objects(store, namespace)
            assert agent.status()["store_up"] is False
            buffered = (state / "buffer.ndjson").read_text()
            assert "cm-2" in buffered and "tok-should-not-hit-disk" not in buffered
            gate.open()
            wait_for("the flushed buffer", lambda: {"cm-0", "cm-1", "cm-2"} <= set(objects(store, namespace)), 60)
            wait_for("an empty buffer", lambda: agent.status()["buffer_entries"] == 0, 30)
            # Neo4j goes away again mid-stream, and comes back.
            gate.close()
            core.patch_namespaced_config_map("cm-0", namespace, {"data": {"round": "2"}})
            core.delete_namespaced_config_map("cm-1", namespace)
            time.sleep(2)
            gate.open()
            wait_for("the second outage flushed", lambda: (
                objects(store, namespace)["cm-0"].latest_version == 2
                and objects(store, namespace)["cm-1"].deleted), 90)
    finally:
        gate.close()
    assert (state / "buffer.ndjson").read_text() == ""
    for obj in objects(store, namespace).values():
        assert len({v.resource_version for v in RawStore(store).history(obj.uid)}) == obj.latest_version


def test_objects_deleted_while_no_agent_ran_are_marked_deleted_by_the_relist(
        kube_cluster: KubeCluster, kube_api: client.ApiClient, namespace: str, store: GraphStore,
        connect: Callable[[], GraphStore], cli_env: dict[str, str], tmp_path: Path) -> None:
    core = client.CoreV1Api(kube_api)
    for name in ("keep", "drop"):
        core.create_namespaced_config_map(namespace, {"metadata": {"name": name}})
    once = subprocess.run(
        [sys.executable, "-m", "lineagegraph", "watch", "k8s", "--kubeconfig", str(kube_cluster.kubeconfig),
         "-n", namespace, "--kind", "v1/configmaps", "--state-dir", str(tmp_path / "first"), "--health-port", "0",
         "--cluster", "test", "--once", "--json"], env=cli_env, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert once.returncode == 0, once.stderr
    assert json.loads(once.stdout)["stored_total"] >= 2  # kube-root-ca.crt may be there too
    assert {"keep", "drop"} <= set(objects(store, namespace))
    core.delete_namespaced_config_map("drop", namespace)
    # The same namespace and kind, recorded from another cluster: no list here can contain its uid.
    RawStore(store).record([WatchEvent(type="ADDED", object={
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "from-elsewhere", "namespace": namespace, "uid": str(uuid.uuid4()),
                     "resourceVersion": "7"}})], source="k8s-file:other-cluster")
    # A new agent with no checkpoint lists and reconciles against what the raw store holds.
    with running_agent(kube_api, connect, tmp_path / "second", namespace, kinds=["v1/configmaps"]):
        wait_for("the vanished ConfigMap marked deleted", lambda: objects(store, namespace)["drop"].deleted)
    stored = objects(store, namespace)
    assert not stored["keep"].deleted
    assert not stored["from-elsewhere"].deleted  # only what this agent recorded is reconciled
    last = RawStore(store).history(stored["drop"].uid)[-1]
    assert last.deleted and last.version == 1  # its last stored version became the deletion


def test_a_gone_resource_version_makes_the_agent_relist_and_reconcile(
        kube_cluster: KubeCluster, kube_api: client.ApiClient, namespace: str, store: GraphStore,
        connect: Callable[[], GraphStore], tmp_path: Path) -> None:
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "old"}})
    state = tmp_path / "state"
    with running_agent(kube_api, connect, state, namespace, kinds=["v1/configmaps"]):
        wait_for("the ConfigMap", lambda: "old" in objects(store, namespace))
    core.delete_namespaced_config_map("old", namespace)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "new"}})
    # The agent's checkpoint is now older than the history etcd keeps: the server answers 410 Gone.
    kube_cluster.compact_etcd()
    stream = f"v1/configmaps@{namespace}"
    assert json.loads((state / "checkpoint.json").read_text())[stream].isdigit()
    with running_agent(kube_api, connect, state, namespace, kinds=["v1/configmaps"]) as agent:
        wait_for("the relist", lambda: "new" in objects(store, namespace) and objects(store, namespace)["old"].deleted)
        assert agent.status()["relists"] == {stream: 1}


def test_bookmarks_move_the_checkpoint_of_a_quiet_stream(
        kube_api: client.ApiClient, namespace: str, store: GraphStore, connect: Callable[[], GraphStore],
        tmp_path: Path) -> None:
    state = tmp_path / "state"
    stream = f"batch/v1/jobs@{namespace}"

    def checkpoint() -> int:
        return int(json.loads((state / "checkpoint.json").read_text())[stream])

    with running_agent(kube_api, connect, state, namespace, kinds=["batch/v1/jobs"], watch_timeout=10):
        wait_for("the first checkpoint", lambda: (state / "checkpoint.json").exists()
                 and stream in (state / "checkpoint.json").read_text(), 30)
        first = checkpoint()
        # A Job in another namespace: nothing for this stream, but the Jobs' resourceVersion moves on,
        # and the server tells the watch so in a BOOKMARK (sent shortly before the request times out).
        other = f"t-{uuid.uuid4().hex[:8]}"
        client.CoreV1Api(kube_api).create_namespace({"metadata": {"name": other}})
        create_job(kube_api, other, "elsewhere", [])
        wait_for("a bookmark", lambda: checkpoint() > first, 40)
    assert not objects(store, namespace)


def test_buffer_is_bounded_and_nothing_is_lost_when_it_fills(
        kube_api: client.ApiClient, namespace: str, store: GraphStore, neo4j_server: LocalServer,
        tmp_path: Path) -> None:
    gate = PortGate(neo4j_server.port)
    settings = Settings(neo4j_uri=f"bolt://127.0.0.1:{gate.port}", neo4j_user="neo4j",
                        neo4j_password=neo4j_server.password())
    state = tmp_path / "state"
    names = [f"big-{i}" for i in range(8)]
    try:
        with running_agent(kube_api, lambda: connect_store(settings), state, namespace, kinds=["v1/configmaps"],
                           store_retry=0.5, buffer_max_bytes=4000) as agent:
            for name in names:
                client.CoreV1Api(kube_api).create_namespaced_config_map(
                    namespace, {"metadata": {"name": name}, "data": {"blob": "x" * 1000}})
            wait_for("a full buffer", lambda: agent.status()["buffer_full"], 60)
            assert (state / "buffer.ndjson").stat().st_size <= 4000
            assert "lineagegraph_k8s_agent_buffer_full 1" in http_get(agent.health_port or 0, "/metrics")[1]
            gate.open()
            wait_for("every ConfigMap", lambda: set(names) <= set(objects(store, namespace)), 60)
            wait_for("the buffer drained", lambda: not agent.status()["buffer_full"]
                     and agent.status()["buffer_entries"] == 0, 30)
    finally:
        gate.close()


def test_agent_reconnects_to_the_api_server_and_resumes_after_an_outage(
        kube_cluster: KubeCluster, namespace: str, store: GraphStore, connect: Callable[[], GraphStore],
        tmp_path: Path) -> None:
    gate = PortGate(int(kube_cluster.server.rsplit(":", 1)[1]))
    config = yaml.safe_load(kube_cluster.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{gate.port}"
    via_gate = tmp_path / "kubeconfig"
    via_gate.write_text(yaml.safe_dump(config))
    direct = kube_api_client(kube_cluster.kubeconfig)
    core = client.CoreV1Api(direct)
    gate.open()
    stream = f"v1/configmaps@{namespace}"
    try:
        with running_agent(kube_api_client(via_gate), connect, tmp_path / "state", namespace,
                           kinds=["v1/configmaps"], backoff_initial=0.2, backoff_max=1.0) as agent:
            core.create_namespaced_config_map(namespace, {"metadata": {"name": "a"}})
            wait_for("a", lambda: "a" in objects(store, namespace))
            gate.close()  # the API server vanishes mid-watch
            core.create_namespaced_config_map(namespace, {"metadata": {"name": "b"}})
            core.patch_namespaced_config_map("a", namespace, {"data": {"k": "v"}})
            wait_for("a failed reconnect", lambda: agent.status()["api_errors"] >= 1, 30)
            gate.open()
            wait_for("what changed during the outage", lambda: "b" in objects(store, namespace)
                     and objects(store, namespace)["a"].latest_version == 2, 60)
            assert agent.status()["relists"] == {stream: 1}  # resumed the watch; no relist needed
    finally:
        gate.close()


def test_ensure_kube_builds_once_into_the_user_cache(kube_cluster: KubeCluster) -> None:
    """The session fixture already built or found the binaries; running the script again builds nothing."""
    first = ensure_binaries()
    stamps = [p.stat().st_mtime_ns for p in first]
    started = time.monotonic()
    again = ensure_binaries()
    assert again == first and [p.stat().st_mtime_ns for p in again] == stamps
    assert time.monotonic() - started < 10
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lineagegraph" / "kube"
    assert all(cache in p.parents for p in first)


def test_deploy_manifests_are_valid_objects_and_never_grant_secrets(kube_api: client.ApiClient) -> None:
    docs = [d for f in sorted((REPO / "deploy" / "k8s").glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d]
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "ServiceAccount", "ClusterRole", "ClusterRoleBinding"} <= kinds
    core = client.CoreV1Api(kube_api)
    for doc in docs:
        if doc["kind"] == "Namespace":
            try:
                core.create_namespace(doc)  # the namespaced objects' dry-run needs it to exist
            except client.ApiException as exc:
                assert exc.status == 409
    for doc in docs:
        if doc["kind"] != "Namespace":
            utils.create_from_dict(kube_api, doc, dry_run="All")
    role = next(d for d in docs if d["kind"] == "ClusterRole")
    granted = {(group, res) for rule in role["rules"] for group in rule["apiGroups"] for res in rule["resources"]}
    assert {res for _, res in granted}.isdisjoint({"secrets", "*"})
    assert all(sorted(rule["verbs"]) == ["get", "list", "watch"] for rule in role["rules"])
    defaults = {(k.group, k.resource) for k in AgentOptions().kinds}
    assert granted == defaults
    # The manifests run the same defaults: the Deployment passes no --kind the role would not allow.
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0].get("args", [])
    assert "--kind" not in args
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == next(
        d["metadata"]["name"] for d in docs if d["kind"] == "ServiceAccount")


# ---------------------------------------------------------------------------------------------
# The end-to-end claim: after every fault, the lineage the agent's records derive equals the
# lineage of a clean import of what a user could have captured with kubectl.

# What the import machinery keeps on PROV nodes and relationships about itself; everything else is
# lineage a user sees. Labels of the raw store and of the import records are not PROV.
_BOOKKEEPING_PROPS = frozenset({"import_runs", "import_sources", "created_by"})
_BOOKKEEPING_LABELS = ("K8sObject", "K8sObjectVersion", "ImportRun", "ImportBatch")


def _plain(value: Any) -> Any:
    """Neo4j temporal values as ISO strings, so that two graphs compare as plain data."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value.iso_format() if hasattr(value, "iso_format") else value


def lineage_of(store: GraphStore) -> tuple[dict[str, Any], list[Any]]:
    """Every non-bookkeeping node (by id: labels, properties) and relationship (ends, type, properties)."""
    outside = " AND ".join(f"NOT n:{label}" for label in _BOOKKEEPING_LABELS)
    nodes: dict[str, Any] = {}
    for row in store.read(f"MATCH (n) WHERE {outside} RETURN labels(n) AS labels, properties(n) AS props"):
        props = {k: _plain(v) for k, v in row["props"].items() if k not in _BOOKKEEPING_PROPS}
        assert "id" in props, f"a node outside the PROV model: {row}"
        nodes[props["id"]] = (sorted(row["labels"]), props)
    rels = sorted(
        (row["start"], row["type"], row["end"],
         json.dumps({k: _plain(v) for k, v in row["props"].items() if k not in _BOOKKEEPING_PROPS}, sort_keys=True))
        for row in store.read(
            f"MATCH (n)-[r]->(m) WHERE {outside} AND {outside.replace('n:', 'm:')} "
            "RETURN n.id AS start, type(r) AS type, m.id AS end, properties(r) AS props"))
    return nodes, rels


def _job(api: client.ApiClient, ns: str, name: str, image: str, args: list[str], *,
         owner: dict[str, Any] | None = None, env: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if owner is not None:
        meta["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": owner["kind"], "name": owner["metadata"]["name"],
                                    "uid": owner["metadata"]["uid"], "controller": True}]
    job = client.BatchV1Api(api).create_namespaced_job(ns, {"metadata": meta, "spec": {"template": {"spec": {
        "restartPolicy": "Never", "containers": [{"name": "main", "image": image, "args": args, "env": env or []}]}}}})
    return {"kind": "Job", **api.sanitize_for_serialization(job)}


def _pod_of(api: client.ApiClient, ns: str, name: str, job: dict[str, Any], image: str, digest: str) -> None:
    """A Pod of ``job`` that ran ``image`` at ``digest`` (status set as a kubelet would)."""
    core = client.CoreV1Api(api)
    core.create_namespaced_pod(ns, {"metadata": {"name": name, "ownerReferences": [{
        "apiVersion": "batch/v1", "kind": "Job", "name": job["metadata"]["name"], "uid": job["metadata"]["uid"],
        "controller": True}]}, "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": image}]}})
    core.patch_namespaced_pod_status(name, ns, {"status": {"phase": "Succeeded", "containerStatuses": [
        {"name": "main", "image": image, "imageID": f"{image.split(':')[0]}@{digest}", "ready": False,
         "restartCount": 0, "state": {"terminated": {"exitCode": 0}}}]}})


def _raw_list(call: Callable[..., Any], ns: str, api_version: str, kind: str) -> list[dict[str, Any]]:
    """A list call's items as the server sent them, with apiVersion/kind filled in as kubectl does."""
    answer = json.loads(call(ns, _preload_content=False).data)
    return [{"apiVersion": api_version, "kind": kind, **item} for item in answer["items"]]


def _delete_and_record(api: client.ApiClient, ns: str, kind: str, name: str) -> dict[str, Any]:
    """Delete an object and return its DELETED watch event, as ``kubectl get -w --output-watch-events`` shows it."""
    batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
    read, delete, listing = {
        "Job": (batch.read_namespaced_job, batch.delete_namespaced_job, batch.list_namespaced_job),
        "ConfigMap": (core.read_namespaced_config_map, core.delete_namespaced_config_map,
                      core.list_namespaced_config_map)}[kind]
    rv = read(name, ns).metadata.resource_version
    # Background: the object goes at once (no garbage collector runs here to finish an orphaning delete).
    delete(name, ns, propagation_policy="Background")
    # A watch from the last resourceVersion delivers the deletion even though it started after it.
    for event in _watch_events(listing, ns, name, rv):
        if event["type"] == "DELETED":
            return {"type": "DELETED", "object": event["raw_object"]}
    raise AssertionError(f"no DELETED event for {kind} {ns}/{name}")


def _watch_events(listing: Callable[..., Any], ns: str, name: str, rv: str) -> Iterator[dict[str, Any]]:
    w = watch.Watch()  # type: ignore[no-untyped-call]
    yield from w.stream(listing, ns, field_selector=f"metadata.name={name}", resource_version=rv, timeout_seconds=20)


def test_lineage_from_the_agent_after_faults_equals_a_clean_import_of_what_kubectl_shows(
        kube_cluster: KubeCluster, kube_api: client.ApiClient, namespace: str, store: GraphStore,
        neo4j_server: LocalServer, cli_env: dict[str, str], tmp_path: Path) -> None:
    """Faults, in one agent's life: the watch connection dropped (the API server unreachable for a while),
    Neo4j unreachable while events arrive, the agent SIGKILLed, objects created and deleted while it is
    down, and etcd compacted so that its checkpoint answers 410 Gone. Lineage is derived from its records
    by `lineagegraph etl k8s`, once halfway (as from cron) and once at the end."""
    ns, state, log = namespace, tmp_path / "state", tmp_path / "agent.log"
    batch, core = client.BatchV1Api(kube_api), client.CoreV1Api(kube_api)
    digest_train, digest_score = "sha256:" + "1a" * 32, "sha256:" + "2b" * 32

    # The agent reaches both servers through gates the test opens and closes.
    api_gate = PortGate(int(kube_cluster.server.rsplit(":", 1)[1]))
    config = yaml.safe_load(kube_cluster.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{api_gate.port}"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    kubeconfig.chmod(0o600)
    neo_gate = PortGate(neo4j_server.port)
    agent_env = {**cli_env, "NEO4J_URI": f"bolt://127.0.0.1:{neo_gate.port}", "NEO4J_USER": "neo4j",
                 "NEO4J_PASSWORD": neo4j_server.password()}

    def start_agent() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "lineagegraph", "watch", "k8s", "--kubeconfig", str(kubeconfig), "-n", ns,
             "--kind", "batch/v1/jobs", "--kind", "batch/v1/cronjobs", "--kind", "v1/pods", "--kind", "v1/configmaps",
             "--state-dir", str(state), "--health-port", "0", "--watch-timeout", "20", "--cluster", "test"],
            env=agent_env, stdout=subprocess.DEVNULL, stderr=log.open("ab"), cwd=REPO)

    def etl() -> dict[str, Any]:
        done = subprocess.run([sys.executable, "-m", "lineagegraph", "etl", "k8s", "--json"], env=cli_env,
                              capture_output=True, text=True, timeout=300, cwd=REPO)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout)  # type: ignore[no-any-return]

    def live() -> dict[str, dict[str, Any]]:
        """What the API server holds now, by uid: kubectl's view, raw."""
        items = (_raw_list(batch.list_namespaced_job, ns, "batch/v1", "Job")
                 + _raw_list(batch.list_namespaced_cron_job, ns, "batch/v1", "CronJob")
                 + _raw_list(core.list_namespaced_pod, ns, "v1", "Pod")
                 + _raw_list(core.list_namespaced_config_map, ns, "v1", "ConfigMap"))
        return {o["metadata"]["uid"]: o for o in items}

    deleted: list[dict[str, Any]] = []

    def caught_up() -> bool:
        stored = {o.uid: o for o in RawStore(store).objects(namespace=ns)}
        now = live()
        return all(uid in stored and stored[uid].resource_version == o["metadata"]["resourceVersion"]
                   and not stored[uid].deleted for uid, o in now.items()) and all(
            e["object"]["metadata"]["uid"] in stored and stored[e["object"]["metadata"]["uid"]].deleted
            for e in deleted)

    # -- the cluster before the agent starts
    core.create_namespaced_config_map(ns, {"metadata": {"name": "train-config"}, "data": {"learning_rate": "0.1"}})
    core.create_namespaced_config_map(ns, {"metadata": {"name": "stale-params"}, "data": {"epochs": "3"}})
    train = _job(kube_api, ns, "train", "ghcr.io/example/train:1.0",
                 ["--train_data=gs://eq-bucket/in/data.csv", "--output", "gs://eq-bucket/model", "--epochs=3"],
                 env=[{"name": "LEARNING_RATE", "valueFrom": {"configMapKeyRef": {
                     "name": "train-config", "key": "learning_rate"}}}])
    _pod_of(kube_api, ns, "train-x1", train, "ghcr.io/example/train:1.0", digest_train)
    cron = {"kind": "CronJob", **kube_api.sanitize_for_serialization(batch.create_namespaced_cron_job(ns, {
        "metadata": {"name": "nightly"}, "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {
            "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "ghcr.io/example/score:2.0",
                                                               "args": ["--features=gs://eq-bucket/model"]}]}}}}}}))}
    nightly = [_job(kube_api, ns, f"nightly-{i}", "ghcr.io/example/score:2.0",
                    ["--features=gs://eq-bucket/model", f"--output=gs://eq-bucket/scores/{i}"], owner=cron)
               for i in (1, 2)]
    _job(kube_api, ns, "doomed", "ghcr.io/example/train:1.0", ["--output=gs://eq-bucket/scratch"])

    api_gate.open()
    neo_gate.open()
    agent = start_agent()
    try:
        wait_for("the first list", caught_up, 90)

        # Fault 1: the watch connection drops (the API server unreachable); a change meanwhile.
        api_gate.close()
        batch.patch_namespaced_job("train", ns, {"metadata": {"labels": {"stage": "2"}}})
        wait_for("a failed reconnect in the log", lambda: "retrying in" in log.read_text(), 30)
        api_gate.open()
        wait_for("the change made while the watch was down", caught_up, 60)

        # Fault 2: Neo4j unreachable while events arrive; they wait in the disk buffer.
        neo_gate.close()
        _pod_of(kube_api, ns, "nightly-1-x1", nightly[0], "ghcr.io/example/score:2.0", digest_score)
        batch.patch_namespaced_job("train", ns, {"metadata": {"labels": {"stage": "3"}}})
        wait_for("the events in the disk buffer", lambda: "nightly-1-x1" in (state / "buffer.ndjson").read_text()
                 and '"stage":"3"' in (state / "buffer.ndjson").read_text(), 60)
        neo_gate.open()
        wait_for("the buffer flushed", lambda: caught_up() and (state / "buffer.ndjson").read_text() == "", 90)
        halfway = etl()  # lineage derived halfway, as a cron job would
        assert halfway["written"] >= 4 and not halfway["errors"]

        # Fault 3: the agent is killed; while it is down, a new run, its Pod, and two deletions.
        agent.send_signal(signal.SIGKILL)
        agent.wait(30)
        nightly.append(_job(kube_api, ns, "nightly-3", "ghcr.io/example/score:2.0",
                            ["--features=gs://eq-bucket/model", "--output=gs://eq-bucket/scores/3"], owner=cron))
        _pod_of(kube_api, ns, "nightly-3-x1", nightly[2], "ghcr.io/example/score:2.0", digest_score)
        deleted.append(_delete_and_record(kube_api, ns, "Job", "doomed"))
        deleted.append(_delete_and_record(kube_api, ns, "ConfigMap", "stale-params"))
        # Fault 4: the agent's ConfigMap checkpoint is now older than etcd's history: 410 Gone.
        kube_cluster.compact_etcd()
        agent = start_agent()
        wait_for("the agent caught up after the restart", caught_up, 120)
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(60) == 0, log.read_text()[-3000:]
    finally:
        if agent.poll() is None:
            agent.kill()
        api_gate.close()
        neo_gate.close()
    text = log.read_text()
    assert f"v1/configmaps@{ns}: resourceVersion" in text and "is gone (410); relisting" in text, text[-3000:]
    assert f"resuming batch/v1/jobs@{ns}" in text  # the second run resumed (Jobs) rather than starting over
    final = etl()
    assert not final["errors"]

    # Every object's last version is stored exactly once; no version is stored twice.
    raw = RawStore(store)
    now = live()
    recorded = raw.objects(namespace=ns)
    assert {o.uid for o in recorded} == set(now) | {e["object"]["metadata"]["uid"] for e in deleted}
    for obj in recorded:
        history = raw.history(obj.uid)
        rvs = [v.resource_version for v in history]
        assert len(set(rvs)) == len(rvs), f"{obj.ref}: a resourceVersion stored twice: {rvs}"
        assert [v.version for v in history] == list(range(1, len(history) + 1)), obj.ref
        assert history[-1].version == obj.latest_version
        if obj.uid in now:
            assert rvs.count(now[obj.uid]["metadata"]["resourceVersion"]) == 1 and rvs[-1] == obj.resource_version
            assert not any(v.deleted for v in history), obj.ref
        else:
            assert [v.deleted for v in history] == [False] * (len(history) - 1) + [True], obj.ref
    versions = {o.name: [v.object["metadata"].get("labels", {}).get("stage") for v in raw.history(o.uid)]
                for o in recorded if o.kind == "Job"}
    assert versions["train"] == [None, "2", "3"]  # each change once, none lost in the outages
    from_agent = lineage_of(store)

    # What a user could have captured: `kubectl get jobs,cronjobs,pods,configmaps -o json` now, and
    # the DELETED events of the objects that went meanwhile (as `kubectl get -w --output-watch-events`).
    snapshot_file, deletions_file = tmp_path / "now.json", tmp_path / "deleted.ndjson"
    snapshot_file.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
                                         "items": list(now.values())}, indent=2))
    deletions_file.write_text("".join(json.dumps(e) + "\n" for e in deleted))
    store.clear()
    store.init_schema()
    imported = subprocess.run([sys.executable, "-m", "lineagegraph", "import", "k8s", "--json", str(snapshot_file),
                               str(deletions_file)], env=cli_env, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert imported.returncode == 0, imported.stderr[-3000:]
    from_files = lineage_of(store)

    nodes_a, rels_a = from_agent
    nodes_f, rels_f = from_files
    assert sorted(nodes_a) == sorted(nodes_f)
    different = {i: (nodes_a[i], nodes_f[i]) for i in nodes_a if nodes_a[i] != nodes_f[i]}
    assert not different, different
    assert rels_a == rels_f, (sorted(set(rels_a) - set(rels_f)), sorted(set(rels_f) - set(rels_a)))

    # ...and it is the lineage one expects, so that the equality above is not that of two empty graphs.
    def run(job: dict[str, Any]) -> str:
        return run_id(job["metadata"]["uid"])

    model = location_id("gs://eq-bucket/model")
    model_v1 = version_id(model, run(train))
    runs = {i for i, (labels, _) in nodes_a.items() if "Activity" in labels}
    doomed_uid = deleted[0]["object"]["metadata"]["uid"]
    assert runs == {run(train), *(run(j) for j in nightly), run_id(doomed_uid)}
    assert (model_v1, "WAS_GENERATED_BY", run(train)) in {r[:3] for r in rels_a}
    assert {(run(j), "USED", model_v1) for j in nightly} <= {r[:3] for r in rels_a}
    used_configmaps = [r[2] for r in rels_a if r[0] == run(train) and r[1] == "USED" and "configmap" in r[2]]
    assert len(used_configmaps) == 1 and json.loads(nodes_a[used_configmaps[0]][1]["data"]) == {"learning_rate": "0.1"}
    assert nodes_a[run(nightly[2])][1]["code_version"] == digest_score
    assert nodes_a[run(train)][1]["code_version"] == digest_train
    plans = {r[3] for r in rels_a if r[1] == "WAS_ASSOCIATED_WITH" and r[0] in {run(j) for j in nightly}}
    assert len({json.loads(p).get("plan") for p in plans} - {None}) == 1  # the three runs of one plan
