#!/usr/bin/env bash
# The main job, from a clean clone: install what is missing, start the local Neo4j, import the
# sample data of every importer, write an HTML lineage export, print a backtrace and a diff.
# The mltrace and `provenance` samples are PostgreSQL dumps: ensure-postgres.sh installs the server
# binaries when missing (as root, with apt-get); the demo runs its own throw-away server from them.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
pg_bindir="$(bash "$(dirname "${BASH_SOURCE[0]}")/ensure-postgres.sh")"
export LINEAGEGRAPH_PG_BINDIR="$pg_bindir"
exec .venv/bin/lineagegraph demo "$@"
