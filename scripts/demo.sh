#!/usr/bin/env bash
# The main job, from a clean clone: install what is missing, start the local Neo4j, import the
# sample data of every importer, write an HTML lineage export, print a backtrace and a diff.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
exec .venv/bin/lineagegraph demo "$@"
