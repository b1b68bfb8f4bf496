"""The wheel: one installed namespace, templates as package data, a working CLI from the install."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from lineagegraph.model import Activity, Entity, Used, WasGeneratedBy
from lineagegraph.store import GraphStore

REPO = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with only the built wheel (and its dependencies) installed."""
    work = tmp_path_factory.mktemp("wheel")
    run([sys.executable, "-m", "build", "--wheel", "--outdir", str(work / "dist"), str(REPO)])
    wheels = list((work / "dist").glob("lineagegraph-*.whl"))
    assert len(wheels) == 1
    env_dir = work / "venv"
    venv.create(env_dir, with_pip=True)
    run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q", str(wheels[0])])
    return env_dir


def site_packages(env_dir: Path) -> Path:
    return next((env_dir / "lib").glob("python3*/site-packages"))


def test_one_namespace_is_installed(installed: Path) -> None:
    site = site_packages(installed)
    pkg = site / "lineagegraph"
    for sub in ("importers", "cli", "cypher", "server"):
        assert (pkg / sub).is_dir() and not (pkg / sub).is_symlink(), sub
    for stray in ("cli", "importers", "cypher", "tests"):
        assert not (site / stray).exists(), f"top-level '{stray}' must not be installed"
    assert (pkg / "server" / "pom.xml").is_file() and (pkg / "server" / "LineagegraphNeo4j.java").is_file()
    assert (pkg / "py.typed").is_file()


def test_installed_cli_and_template(installed: Path, store: GraphStore, cli_env: dict[str, str],
                                    tmp_path: Path) -> None:
    exe = installed / "bin" / "lineagegraph"
    env = {**cli_env, "PATH": os.environ["PATH"]}
    out = run([str(exe), "--help"], env=env, cwd=tmp_path).stdout
    assert "import" in out and "server" in out
    run([str(installed / "bin" / "python"), "-m", "lineagegraph", "--help"], env=env, cwd=tmp_path)

    # The templates ship inside the package and resolve through importlib.resources.
    listing = run([str(installed / "bin" / "python"), "-c",
                   "from importlib.resources import files; "
                   "print(sorted(p.name for p in files('lineagegraph.cypher').iterdir()))"],
                  cwd=tmp_path).stdout
    assert "ancestors.cypher" in listing

    store.import_elements("test", "pkg", [Entity(id="in"), Activity(id="job"), Entity(id="out")],
                          [Used(activity="job", entity="in"), WasGeneratedBy(entity="out", activity="job")])
    proc = run([str(exe), "ancestors", "out", "--json"], env=env, cwd=tmp_path)
    ids = {node["id"] for node in json.loads(proc.stdout)["nodes"]}
    assert ids == {"in", "job", "out"}
