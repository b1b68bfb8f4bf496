#!/usr/bin/env bash
# Sourced by demo.sh and test.sh: makes sure this machine has what lineagegraph needs.
#   - a JDK (17 or 21) and Maven, for the local Neo4j (installed with apt-get when missing and we are root)
#   - a virtualenv in .venv with lineagegraph and its dev extras (pip's own cache makes re-runs cheap)
# It changes nothing when everything is already in place.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

apt_install() {
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: missing $*; install it (as root: apt-get install $*) and run again" >&2
    exit 1
  fi
  echo "bootstrap: installing $* with apt-get" >&2
  if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -print -quit 2>/dev/null)" ]; then
    apt-get update -qq >&2
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2 || {
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
  }
}

java_ok() {
  command -v java >/dev/null 2>&1 && command -v javac >/dev/null 2>&1 &&
    java -version 2>&1 | grep -Eq 'version "(17|21)[."]'
}
if ! java_ok; then
  # A JDK 17 may be installed but not first on PATH.
  for home in /usr/lib/jvm/java-17-openjdk-* /usr/lib/jvm/java-21-openjdk-*; do
    if [ -x "$home/bin/javac" ]; then export JAVA_HOME="$home" PATH="$home/bin:$PATH"; break; fi
  done
fi
java_ok || apt_install openjdk-17-jdk-headless
command -v mvn >/dev/null 2>&1 || apt_install maven

python=""
for candidate in python3.13 python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    python="$candidate"; break
  fi
done
[ -n "$python" ] || { echo "bootstrap: Python >= 3.11 is needed" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
stamp=".venv/.lineagegraph-installed"
want="$(cat pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install -q --upgrade pip >&2
  .venv/bin/python -m pip install -q -e ".[dev]" >&2
  echo "$want" > "$stamp"
fi
