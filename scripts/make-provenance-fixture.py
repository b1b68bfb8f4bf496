"""Regenerate lineagegraph/samples/postgres/provenance_repo.sql with the `provenance` library (0.14.1) itself.

`provenance` 0.14.1 needs SQLAlchemy < 2 and, on Python 3.11, a shim for the aliases that
``collections`` lost in 3.10 (``collections.Sequence`` and friends). It runs in a side virtual
environment (``$PROVENANCE_VENV``, default ~/.cache/lineagegraph/side-provenance; made when
missing). This script (run with the project's .venv) starts the same private PostgreSQL server the tests use
(tests/fixtures_postgres.py), lets the library record a small pipeline into a PostgreSQL artifact
repository with a disk blobstore, and writes:

* lineagegraph/samples/postgres/provenance_repo.sql   ``pg_dump --no-owner`` of the repository
                                                     database (the tests' fixture and the demo's sample)
* tests/data/provenance-blobs/        the disk blobstore (joblib pickles; never unpickled by us)

On Python >= 3.8 with a current cloudpickle the library leaves ``input_artifact_ids`` empty; the
inputs are only in ``inputs_json``. That is what real repositories look like, and the fixture
keeps it that way.

Usage: .venv/bin/python scripts/make-provenance-fixture.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from fixtures_postgres import TestPostgres  # noqa: E402

# A throw-away venv with the versions the tool needs, cached like the project's other tools.
SIDE = Path(os.environ.get("PROVENANCE_VENV", Path.home() / ".cache" / "lineagegraph" / "side-provenance"))

# Runs inside the side venv and uses only the library's public API (plus the run-info hook).
GENERATOR = r'''
import collections, collections.abc, os, sys
# provenance 0.14.1 (and its dependencies) still use the aliases removed in Python 3.10.
for _name in ("Sequence", "Mapping", "MutableMapping", "Iterable", "Callable", "Hashable", "Set"):
    setattr(collections, _name, getattr(collections.abc, _name))

import provenance as p

p.load_config({
    "blobstores": {"disk": {"type": "disk", "cachedir": os.environ["BLOBS"], "read": True, "write": True,
                            "delete": True}},
    "artifact_repos": {"local": {"type": "postgres", "db": os.environ["PROVENANCE_URL"], "store": "disk",
                                 "read": True, "write": True, "delete": True, "create_db": True}},
    "default_repo": "local",
})

def add_git(info):
    info["git"] = {"commit": "3f9c2a1d0b7e", "branch": "main", "dirty": False}
    info["host"]["nodename"] = "build-07"
    return info

p.set_run_info_fn(add_git)

@p.provenance(tags=["raw"])
def load_transactions(month, rows):
    return [{"month": month, "amount": i * 1.5} for i in range(rows)]

@p.provenance(version=2, custom_fields={"stage": "features"})
def featurize(transactions, scale):
    return [t["amount"] * scale for t in transactions]

@p.provenance(custom_fields={"stage": "training"}, tags=["model", "fraud"])
def train(features, labels, settings):
    return {"weights": [sum(features) / len(features), len(labels)], "lr": settings["lr"]}

@p.provenance()
def report(model, extra):
    return f"model with {len(model['weights'])} weights"

with p.capture_set("january-features") as captured:
    january = load_transactions("2024-01", 5)
    feats = featurize(january, 2.0)
labels = load_transactions("2024-01-labels", 3)
model = train(feats, labels, {"lr": 0.01, "epochs": 3})
# A nested proxy: inside a dict, the library serialises it as a string embedding the artifact id.
summary = report(model, {"baseline": feats, "note": "weekly"})
p.create_set([model.artifact.id, summary.artifact.id], labels="release-2024-01")
print(model.artifact.id, summary.artifact.id)
'''


def ensure_side_venv() -> Path:
    python = SIDE / "bin" / "python"
    if not python.exists():
        base = os.environ.get("PROVENANCE_PYTHON") or str(Path.home() / ".pyenv/versions/3.11.7/bin/python")
        subprocess.run([base, "-m", "venv", str(SIDE)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "provenance==0.14.1", "sqlalchemy<2",
                        "psycopg2-binary"], check=True)
    return python


def main() -> None:
    python = ensure_side_venv()
    server = TestPostgres().start()
    data = REPO / "tests" / "data"
    blobs = data / "provenance-blobs"
    try:
        with tempfile.TemporaryDirectory() as work:
            script = Path(work) / "generate.py"
            script.write_text(GENERATOR)
            # The password travels in the environment only.
            env = {**os.environ, "PROVENANCE_URL": server.url("provenance"), "BLOBS": str(Path(work) / "blobs")}
            out = subprocess.run([str(python), str(script)], env=env, cwd=work, check=False,
                                 capture_output=True, text=True)
            if out.returncode != 0:
                raise SystemExit(f"provenance failed:\n{out.stderr[-4000:]}")
            data.mkdir(exist_ok=True)
            shutil.rmtree(blobs, ignore_errors=True)
            shutil.copytree(Path(work) / "blobs", blobs)
        dump = REPO / "lineagegraph" / "samples" / "postgres" / "provenance_repo.sql"
        dump.write_text(server.dump("provenance"))
        print(f"wrote {dump} and {blobs}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
