"""Pytest fixtures for a real Kubernetes API server (etcd + kube-apiserver, see :mod:`kubecluster`).

``kube_cluster`` is session-scoped: the first test that asks for it builds the binaries if this
machine has none yet (``scripts/ensure-kube.sh``; a missing Go toolchain fails here with what to
install) and starts the pair; the session's end stops it. Nothing is ever skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubecluster import KubeCluster, ensure_binaries, start_cluster


@pytest.fixture(scope="session")
def kube_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    apiserver, etcd = ensure_binaries()
    workdir = Path(tmp_path_factory.mktemp("kube-cluster"))
    # ConfigMaps skip the API server's watch cache, so that watches on them are served by etcd and an
    # etcd compaction (KubeCluster.compact_etcd) really makes an old resourceVersion answer 410 Gone.
    cluster = start_cluster(workdir, apiserver=apiserver, etcd=etcd,
                            extra_apiserver_args=("--watch-cache-sizes=configmaps#0",))
    yield cluster
    cluster.stop()
