#!/usr/bin/env bash
# The whole test suite, from a clean clone: install what is missing (Python deps, JDK, Maven,
# Chromium for the HTML tests), lint and type-check, then run pytest. The tests start their own
# real Neo4j (see tests/conftest.py) and stop it at the end; nothing is mocked or skipped.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
command -v chromium >/dev/null 2>&1 || apt_install chromium
.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
