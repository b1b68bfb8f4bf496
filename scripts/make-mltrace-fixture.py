"""Regenerate lineagegraph/samples/postgres/mltrace.sql with mltrace 0.17 itself, against a throw-away PostgreSQL.

mltrace 0.17 needs Python <= 3.10 and SQLAlchemy < 2, so it runs in a side virtual environment
(``$MLTRACE_VENV``, default ~/.cache/lineagegraph/side-mltrace; made when missing from the Python
3.10 named by ``$MLTRACE_PYTHON``, default pyenv's 3.10.13). This script (run with the
project's .venv) starts the same private PostgreSQL server the tests use
(tests/fixtures_postgres.py), lets mltrace's client API log a small ML pipeline with
fixed timestamps into it, flags two outputs, asks mltrace for its own backtrace of every output,
and writes:

* lineagegraph/samples/postgres/mltrace.sql   ``pg_dump --no-owner`` of the database (the tests'
                                             fixture and the demo's sample)
* tests/data/mltrace-backtraces.json     mltrace's ``backtrace()`` of each output: [[depth, run id], ...]

Usage: .venv/bin/python scripts/make-mltrace-fixture.py
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
SIDE = Path(os.environ.get("MLTRACE_VENV", Path.home() / ".cache" / "lineagegraph" / "side-mltrace"))

# Runs inside the side venv: only mltrace's public client API.
GENERATOR = r'''
import json, os, sys
from datetime import datetime
import mltrace
from mltrace.entities import ComponentRun, IOPointer

mltrace.set_db_uri(os.environ["MLTRACE_URL"])
mltrace.clean_db()

mltrace.create_component("ingest", "Copies the raw event export into the lake", "ana", ["etl"])
mltrace.create_component("clean", "Drops malformed events, deduplicates", "ana", ["etl"])
mltrace.create_component("label", "Joins chargebacks to events", "chen", ["labels"])
mltrace.create_component("featurize", "Rolling spend features per card", "ana", ["features"])
mltrace.create_component("train", "Gradient-boosted fraud model", "bob", ["ml", "training"])
mltrace.create_component("infer", "Scores new transactions", "bob", ["ml", "serving"])

def run(name, day, inputs, outputs, *, month=1, git="", notes="", code=None, tags=None):
    cr = ComponentRun(name)
    cr.set_start_timestamp(datetime(2024, month, day, 9, 0, 0))
    cr.set_end_timestamp(datetime(2024, month, day, 9, 30, 0))
    # IOPointer objects, not bare names: ComponentRun.add_input(str) passes the pointer type
    # where the value belongs, and flag_output_id looks pointers up by the empty value.
    cr.add_inputs([IOPointer(*i) if isinstance(i, tuple) else IOPointer(i) for i in inputs])
    cr.add_outputs([IOPointer(*o) if isinstance(o, tuple) else IOPointer(o) for o in outputs])
    cr.git_hash = git
    cr.git_tags = tags or []
    cr.code_snapshot = code if code is not None else f"def {name}(): pass\n".encode()
    if notes:
        cr.notes = notes
    mltrace.log_component_run(cr)

run("ingest", 1, ["s3://raw-bucket/events/2024-01.csv"], ["/data/lake/raw.parquet"], git="a1b2c3d", tags=["v1.0"])
run("clean", 2, ["/data/lake/raw.parquet"], ["/data/lake/clean.parquet"], git="a1b2c3d")
run("label", 3, ["s3://raw-bucket/chargebacks.csv"], ["/data/lake/labels.parquet"], git="a1b2c3d")
run("featurize", 4, ["/data/lake/clean.parquet"], ["/data/lake/features.parquet"], git="a1b2c3d",
    notes="first feature set, 42 columns")
run("train", 5, ["/data/lake/features.parquet", "/data/lake/labels.parquet"], ["models/fraud.joblib"],
    git="e4f5a6b", tags=["model-v1"])
run("infer", 6, ["models/fraud.joblib", "/data/lake/features.parquet"], ["pred-0001", "pred-0002"], git="e4f5a6b")
# February's data: the lake files are rewritten with new contents (new pointer values).
run("ingest", 1, ["s3://raw-bucket/events/2024-03.csv"], [("/data/lake/raw.parquet", "march")], month=3, git="a1b2c3d")
run("clean", 2, [("/data/lake/raw.parquet", "march")], [("/data/lake/clean.parquet", "march")], month=3, git="c0ffee1")
run("featurize", 3, [("/data/lake/clean.parquet", "march")], [("/data/lake/features.parquet", "march")],
    month=3, git="c0ffee1")
# The model is from January: mltrace records a staleness message for this run.
run("infer", 4, ["models/fraud.joblib", ("/data/lake/features.parquet", "march")], ["pred-0003", "pred-0004"],
    month=3, git="e4f5a6b", notes="March scoring batch")

mltrace.flag_output_id("pred-0002")
mltrace.flag_output_id("pred-0003")

traces = {}
for name in ["pred-0001", "pred-0002", "pred-0003", "pred-0004", "models/fraud.joblib",
             "/data/lake/features.parquet", "/data/lake/raw.parquet"]:
    traces[name] = [[depth, int(cr.id)] for depth, cr in mltrace.backtrace(name)]
print(json.dumps(traces, indent=1, sort_keys=True))
'''


def ensure_side_venv() -> Path:
    python = SIDE / "bin" / "python"
    if not python.exists():
        base = os.environ.get("MLTRACE_PYTHON") or str(Path.home() / ".pyenv/versions/3.10.13/bin/python")
        subprocess.run([base, "-m", "venv", str(SIDE)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "mltrace==0.17", "sqlalchemy<2", "joblib",
                        "pandas", "gitpython", "psycopg2-binary"], check=True)
    return python


def main() -> None:
    python = ensure_side_venv()
    server = TestPostgres().start()
    try:
        server.create_database("mltrace")
        with tempfile.TemporaryDirectory() as work:
            script = Path(work) / "generate.py"
            script.write_text(GENERATOR)
            # Password in the environment only; mltrace writes its artefacts under SAVE_DIR.
            env = {**os.environ, "MLTRACE_URL": server.url("mltrace"), "SAVE_DIR": work}
            out = subprocess.run([str(python), str(script)], env=env, cwd=work, check=False,
                                 capture_output=True, text=True)
            if out.returncode != 0:
                raise SystemExit(f"mltrace failed:\n{out.stderr[-4000:]}")
        data = REPO / "tests" / "data"
        data.mkdir(exist_ok=True)
        (data / "mltrace-backtraces.json").write_text(out.stdout)
        dump = REPO / "lineagegraph" / "samples" / "postgres" / "mltrace.sql"
        dump.write_text(server.dump("mltrace"))
        print(f"wrote {dump} and {data / 'mltrace-backtraces.json'}")
    finally:
        server.stop()
    shutil.rmtree(SIDE / "tmp", ignore_errors=True)


if __name__ == "__main__":
    main()
