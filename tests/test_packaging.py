"""The built package: wheel and sdist without symlinks, one installed namespace, every module importable.

The source tree keeps cli/, importers/, cypher/ and services/ at the top and maps them into the
``lineagegraph`` package when building. These tests build both distributions from the checkout,
install the wheel into a fresh virtualenv and use it from there, away from the source tree.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import sysconfig
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

from lineagegraph.model import Activity, Entity, Used, WasGeneratedBy
from lineagegraph.store import GraphStore

REPO = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.slow, pytest.mark.integration]

# Folders of the source tree that must only ever be installed inside lineagegraph/.
MAPPED = ("cli", "importers", "cypher", "services")


def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and, built from that sdist (as pip would), the wheel."""
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--outdir", str(out), str(REPO)])
    return out


def only(folder: Path, pattern: str) -> Path:
    found = list(folder.glob(pattern))
    assert len(found) == 1, found
    return found[0]


@pytest.fixture(scope="module")
def installed(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the built wheel; its dependencies are borrowed from this interpreter.

    A ``.pth`` line puts this interpreter's site-packages after the new one, so the dependencies
    resolve without a download while lineagegraph itself can only come from the wheel (path lines
    in a ``.pth`` file do not run that directory's own ``.pth`` hooks, such as an editable install's).
    """
    env_dir = tmp_path_factory.mktemp("venv")
    venv.create(env_dir, with_pip=True)
    python = str(env_dir / "bin" / "python")
    run([python, "-m", "pip", "install", "-q", "--no-deps", str(only(dist, "lineagegraph-*.whl"))])
    (site_packages(env_dir) / "borrowed-dependencies.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    return env_dir


def site_packages(env_dir: Path) -> Path:
    return next((env_dir / "lib").glob("python3*/site-packages"))


def test_wheel_and_sdist_hold_no_symlinks(dist: Path) -> None:
    with zipfile.ZipFile(only(dist, "lineagegraph-*.whl")) as wheel:
        names = wheel.namelist()
        links = [i.filename for i in wheel.infolist() if stat.S_ISLNK(i.external_attr >> 16)]
    assert links == []
    assert {name.split("/")[0] for name in names} == {"lineagegraph", "lineagegraph-0.1.0.dist-info"}
    for data in ("lineagegraph/htmlpage/lineage.js", "lineagegraph/htmlpage/lineage.css",
                 "lineagegraph/cypher/ancestors.cypher", "lineagegraph/importers/base.py",
                 "lineagegraph/cli/__init__.py", "lineagegraph/services/__init__.py"):
        assert data in names, data

    with tarfile.open(only(dist, "lineagegraph-*.tar.gz")) as sdist:
        members = sdist.getmembers()
    assert [m.name for m in members if m.issym() or m.islnk()] == []
    files = {m.name.split("/", 1)[1] for m in members if "/" in m.name}
    # The sdist carries the source layout (top-level folders) plus what maps them.
    for path in ("pyproject.toml", "setup.py", "cli/plugins.py", "importers/registry.py",
                 "cypher/ancestors.cypher", "lineagegraph/htmlpage/lineage.js"):
        assert path in files, path


def test_one_namespace_is_installed(installed: Path) -> None:
    site = site_packages(installed)
    pkg = site / "lineagegraph"
    for sub in ("importers", "cli", "cypher", "server"):
        assert (pkg / sub).is_dir() and not (pkg / sub).is_symlink(), sub
    for stray in (*MAPPED, "tests"):
        assert not (site / stray).exists(), f"top-level '{stray}' must not be installed"
    assert (pkg / "server" / "pom.xml").is_file() and (pkg / "server" / "LineagegraphNeo4j.java").is_file()
    assert (pkg / "py.typed").is_file()


def test_every_installed_module_imports(installed: Path, tmp_path: Path) -> None:
    # Runs in the new venv from an empty directory: nothing can come from the checkout.
    script = """
import importlib, json, pkgutil, sys
import lineagegraph
names, failed = [], {}
# lineagegraph.__main__ runs the CLI when imported; it is run as a command below instead.
for info in pkgutil.walk_packages(lineagegraph.__path__, "lineagegraph.", onerror=lambda n: None):
    if info.name == "lineagegraph.__main__":
        continue
    try:
        module = importlib.import_module(info.name)
    except Exception as exc:
        failed[info.name] = f"{type(exc).__name__}: {exc}"
        continue
    names.append((info.name, getattr(module, "__file__", "") or ""))
print(json.dumps({"modules": names, "failed": failed}))
"""
    out = json.loads(run([str(installed / "bin" / "python"), "-c", script], cwd=tmp_path).stdout)
    assert out["failed"] == {}
    modules = dict(out["modules"])
    site = str(site_packages(installed).resolve())
    outside = {name: path for name, path in modules.items() if not str(Path(path).resolve()).startswith(site)}
    assert outside == {}
    # Every module of the source tree, mapped folders and their subpackages included, is in the walk.
    folders = {"lineagegraph": REPO / "lineagegraph", **{f"lineagegraph.{f}": REPO / f for f in MAPPED}}
    expected: set[str] = set()
    for package, folder in folders.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            expected.add(".".join((package, *parts)))
    expected -= {"lineagegraph", "lineagegraph.__main__"}
    assert sorted(expected - set(modules)) == []
    assert {"lineagegraph.cli.plugins", "lineagegraph.importers.registry", "lineagegraph.queries.graph"} <= expected


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

    # The HTML page's script and styles come from package data of the installed wheel.
    page = tmp_path / "page.html"
    run([str(exe), "export", "html", "out", "-o", str(page)], env=env, cwd=tmp_path)
    assert "lineage-data" in page.read_text(encoding="utf-8")
