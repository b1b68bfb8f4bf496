"""The OpenLineage HTTP endpoint, on a real uvicorn server, with the official client as the sender.

The receiver runs in a thread on a free loopback port; events go through the openlineage-python
client's ``HttpTransport`` exactly as an Airflow or Spark integration would send them, and land in
the real test Neo4j. "Neo4j down" is a store whose driver points at a closed port.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import uvicorn
from neo4j import GraphDatabase
from openlineage.client import OpenLineageClient
from openlineage.client import event_v2 as ev
from openlineage.client.transport.http import ApiKeyTokenProvider, HttpCompression, HttpConfig, HttpTransport
from pydantic import SecretStr

from lineagegraph.identity import version_id
from lineagegraph.services.openlineage_receiver import Receiver, ReceiverSettings, create_app
from lineagegraph.settings import Settings
from lineagegraph.store import GraphStore

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parent.parent
KEY = "test-key-5f1c0e"
RUN = "urn:lineagegraph:openlineage:run:"
MODEL = "gs://lineage-demo/models/model.pb"


def _sample_events() -> list[Any]:
    """The sample story, built by the same client code that wrote the checked-in sample file."""
    spec = importlib.util.spec_from_file_location("make_samples", REPO / "scripts" / "make-openlineage-samples.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.pipeline())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Endpoint:
    """A receiver served by uvicorn in a thread; ``connect`` can be swapped while it runs."""

    def __init__(self, tmp_path: Path, connect: Callable[[], GraphStore], **settings: Any) -> None:
        self.connect = connect
        self.settings = ReceiverSettings(spool_dir=tmp_path / "spool", flush_interval=0.1, max_retry_seconds=0.5,
                                         **settings)
        self.receiver = Receiver(self.settings, lambda: self.connect(), source="openlineage-http-test")
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(create_app(self.receiver), host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Endpoint:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)

    def transport(self, key: str | None = KEY, **options: Any) -> HttpTransport:
        auth = ApiKeyTokenProvider({"apiKey": key}) if key else None
        config = HttpConfig(url=self.url, **({"auth": auth} if auth else {}), **options)
        return HttpTransport(config)

    def health(self) -> dict[str, Any]:
        response = requests.get(f"{self.url}/health", timeout=5)
        assert response.status_code == 200
        return dict(response.json())

    def wait_delivered(self, count: int, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while True:
            health = self.health()
            if health["delivered"] >= count and health["pending"] == 0:
                return
            assert time.monotonic() < deadline, f"not delivered in time: {health}"
            time.sleep(0.2)

    def spooled_text(self) -> str:
        return "".join(p.read_text() for p in sorted(self.settings.spool_dir.glob("*.ndjson")))


@pytest.fixture
def real_store(store: GraphStore, test_settings: Settings) -> Iterator[Callable[[], GraphStore]]:
    """A factory of connections to the (emptied) test graph, closed afterwards."""
    opened: list[GraphStore] = []

    def connect() -> GraphStore:
        opened.append(GraphStore.connect(test_settings, quiet=True))
        return opened[-1]

    yield connect
    for each in opened:
        each.close()


def _down_store() -> GraphStore:
    """A store whose Neo4j is not there: a closed port, failing fast."""
    driver = GraphDatabase.driver(f"bolt://127.0.0.1:{_free_port()}", auth=("neo4j", "x"),
                                  connection_timeout=1, max_transaction_retry_time=0.2)
    return GraphStore(driver)


def _status(store: GraphStore, run_id: str) -> str | None:
    rows = store.read("MATCH (a:Activity {id: $id}) RETURN a.status AS s", id=RUN + run_id)
    return rows[0]["s"] if rows else None


def test_the_official_client_sends_and_the_events_land(store: GraphStore, real_store: Callable[[], GraphStore],
                                                       tmp_path: Path) -> None:
    events = _sample_events()
    with Endpoint(tmp_path, real_store, api_key=SecretStr(KEY)) as endpoint:
        client = OpenLineageClient(transport=endpoint.transport(compression=HttpCompression.GZIP))
        for event in events:
            client.emit(event)
        endpoint.wait_delivered(len(events))
    # The same graph as the file import: merged runs, two versions of the model.
    assert _status(store, "01931f6a-0000-7000-8000-000000000002") == "COMPLETE"
    assert _status(store, "01931f6a-0000-7000-8000-000000000003") == "FAIL"
    versions = store.read("MATCH (v)-[:SPECIALIZATION_OF]->(:Element {id: $id}) RETURN collect(v.id) AS v",
                          id=MODEL)[0]["v"]
    assert sorted(versions) == sorted([version_id(MODEL, RUN + "01931f6a-0000-7000-8000-000000000004"),
                                       version_id(MODEL, RUN + "01931f6a-0000-7000-8000-000000000005")])
    runs = store.read("MATCH (r:ImportRun {importer: 'openlineage'}) RETURN collect(DISTINCT r.source) AS s")
    assert runs[0]["s"] == ["openlineage-http-test"]


def test_neo4j_down_events_are_spooled_before_the_2xx_and_delivered_later(
        store: GraphStore, real_store: Callable[[], GraphStore], tmp_path: Path) -> None:
    run_id = "0193dddd-0000-7000-8000-000000000001"
    events = [ev.RunEvent(eventType=state, eventTime=t, run=ev.Run(runId=run_id), job=ev.Job(namespace="t", name="j"))
              for state, t in ((ev.RunState.START, "2024-06-01T00:00:00Z"),
                               (ev.RunState.COMPLETE, "2024-06-01T00:01:00Z"))]
    with Endpoint(tmp_path, _down_store) as endpoint:
        transport = endpoint.transport(key=None)
        for event in events:
            response = transport.emit(event)
            assert response.status_code == 201
            # Acknowledged means on disk: the event is in the spool when the 2xx arrives.
            assert json.dumps(event.eventTime) in endpoint.spooled_text()
        deadline = time.monotonic() + 30
        while (health := endpoint.health())["neo4j"] != "down":  # a delivery attempt has failed
            assert time.monotonic() < deadline, health
            time.sleep(0.1)
        assert (health["accepted"], health["delivered"], health["pending"]) == (2, 0, 2)
        assert health["neo4j"] == "down" and health["last_error"]
        assert _status(store, run_id) is None
        # Raw events wait on disk before redaction: readable by the owner only.
        spooled = list((tmp_path / "spool").glob("*.ndjson"))
        assert spooled and all(p.stat().st_mode & 0o077 == 0 for p in [*spooled, tmp_path / "spool"])

        endpoint.connect = real_store  # Neo4j is back
        endpoint.wait_delivered(2)
    assert _status(store, run_id) == "COMPLETE"
    assert not list((tmp_path / "spool").glob("ready-*.ndjson"))


def test_spooled_events_survive_a_restart(store: GraphStore, real_store: Callable[[], GraphStore],
                                          tmp_path: Path) -> None:
    run_id = "0193dddd-0000-7000-8000-000000000002"
    event = ev.RunEvent(eventType=ev.RunState.COMPLETE, eventTime="2024-06-02T00:00:00Z",
                        run=ev.Run(runId=run_id), job=ev.Job(namespace="t", name="j"))
    with Endpoint(tmp_path, _down_store) as endpoint:
        assert endpoint.transport(key=None).emit(event).status_code == 201
    assert _status(store, run_id) is None
    with Endpoint(tmp_path, real_store) as endpoint:
        endpoint.wait_delivered(1)
    assert _status(store, run_id) == "COMPLETE"


def test_malformed_requests_get_a_4xx_with_the_reason(real_store: Callable[[], GraphStore], tmp_path: Path) -> None:
    with Endpoint(tmp_path, real_store) as endpoint:
        url = f"{endpoint.url}/api/v1/lineage"
        bad_json = requests.post(url, data=b'{"eventType": "START",', timeout=5,
                                 headers={"Content-Type": "application/json"})
        assert bad_json.status_code == 400
        assert "not valid JSON" in bad_json.json()["error"]
        no_run_id = {"eventType": "START", "eventTime": "2024-06-01T00:00:00Z", "run": {},
                     "job": {"namespace": "t", "name": "j"},
                     "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"}
        response = requests.post(url, json=no_run_id, timeout=5)
        assert response.status_code == 422
        assert "runId" in response.json()["error"]
        batch = requests.post(url, json=[{**no_run_id, "run": {"runId": "0193-x"}}, {"hello": 1}], timeout=5)
        assert batch.status_code == 422
        assert batch.json()["error"].startswith("event 1:")
        assert endpoint.health()["accepted"] == 0


def test_api_key_is_required_when_configured(real_store: Callable[[], GraphStore], tmp_path: Path) -> None:
    event = ev.RunEvent(eventType=ev.RunState.START, eventTime="2024-06-01T00:00:00Z",
                        run=ev.Run(runId="0193dddd-0000-7000-8000-000000000003"), job=ev.Job(namespace="t", name="j"))
    with Endpoint(tmp_path, real_store, api_key=SecretStr(KEY)) as endpoint:
        for transport in (endpoint.transport(key=None), endpoint.transport(key="wrong-key")):
            with pytest.raises(requests.HTTPError) as caught:
                transport.emit(event)
            assert caught.value.response.status_code == 401
        assert endpoint.transport().emit(event).status_code == 201
        assert endpoint.health()["accepted"] == 1


def test_requests_over_the_size_limit_get_413(real_store: Callable[[], GraphStore], tmp_path: Path) -> None:
    big = ev.RunEvent(eventType=ev.RunState.START, eventTime="2024-06-01T00:00:00Z",
                      run=ev.Run(runId="0193dddd-0000-7000-8000-000000000004"),
                      job=ev.Job(namespace="t", name="j" * 5000))
    with Endpoint(tmp_path, real_store, max_body_bytes=4096) as endpoint:
        for options in ({}, {"compression": HttpCompression.GZIP}):
            # gzip shrinks the repeated name far below the limit: the limit holds after inflating too.
            with pytest.raises(requests.HTTPError) as caught:
                endpoint.transport(key=None, **options).emit(big)
            assert caught.value.response.status_code == 413
        assert endpoint.health()["accepted"] == 0


def test_serve_command_runs_the_endpoint_with_the_key_from_the_environment(
        store: GraphStore, cli_env: dict[str, str], tmp_path: Path) -> None:
    port = _free_port()
    env = {**cli_env, "LINEAGEGRAPH_OPENLINEAGE_API_KEY": KEY, "LINEAGEGRAPH_OPENLINEAGE_FLUSH_INTERVAL": "0.2"}
    process = subprocess.Popen(
        [sys.executable, "-m", "lineagegraph", "serve", "openlineage", "--port", str(port),
         "--spool-dir", str(tmp_path / "spool")], env=env, cwd=tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{url}/health", timeout=1)
                break
            except requests.ConnectionError:
                assert process.poll() is None, "serve openlineage exited"
                assert time.monotonic() < deadline, "serve openlineage did not start"
                time.sleep(0.2)
        run_id = "0193dddd-0000-7000-8000-000000000005"
        event = ev.RunEvent(eventType=ev.RunState.COMPLETE, eventTime="2024-06-03T00:00:00Z",
                            run=ev.Run(runId=run_id), job=ev.Job(namespace="t", name="j"))
        transport = HttpTransport(HttpConfig(url=url, auth=ApiKeyTokenProvider({"apiKey": KEY})))
        assert transport.emit(event).status_code == 201
        with pytest.raises(requests.HTTPError):
            HttpTransport(HttpConfig(url=url)).emit(event)
        deadline = time.monotonic() + 60
        while _status(store, run_id) != "COMPLETE":
            assert time.monotonic() < deadline, requests.get(f"{url}/health", timeout=5).json()
            time.sleep(0.2)
    finally:
        process.terminate()
        # uvicorn shuts down cleanly on SIGTERM, then re-raises it (exit status -15).
        assert process.wait(timeout=60) in (0, -15)
    # The clean shutdown closed the spool: nothing left waiting in it.
    assert list((tmp_path / "spool").glob("*.ndjson")) == []
