#!/usr/bin/env bash
# The whole test suite, from a clean clone: install what is missing (Python deps, JDK, Maven,
# Chromium for the HTML tests, PostgreSQL for the database importers, kube-apiserver and etcd built
# from their Go modules for the Kubernetes agent), lint and type-check, then run pytest. The tests
# start their own real Neo4j, PostgreSQL and API server and stop them at the end; nothing is
# mocked or skipped.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
command -v chromium >/dev/null 2>&1 || apt_install chromium
bash "$(dirname "${BASH_SOURCE[0]}")/ensure-postgres.sh" >/dev/null
bash "$(dirname "${BASH_SOURCE[0]}")/ensure-kube.sh" >/dev/null
.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
