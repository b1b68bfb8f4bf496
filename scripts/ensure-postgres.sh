#!/usr/bin/env bash
# Makes sure this machine can run a throw-away PostgreSQL server for the tests, and prints the
# directory holding its binaries (initdb, postgres, pg_ctl, psql, pg_dump) on stdout.
#   - The server binaries come from Debian's `postgresql` package (installed with apt-get when
#     missing and we are root). No cluster is created or started here, and the system cluster
#     that the package may have set up is never touched: tests run their own server in a
#     temporary directory (tests/fixtures_postgres.py).
#   - PostgreSQL refuses to run as root. When we are root, a dedicated system user without a
#     login shell or home (`lineagegraph-pg`, or $LINEAGEGRAPH_PG_OS_USER) is created to own the
#     test server's files and process; it is not the package's `postgres` user, so a test server
#     can never read the system cluster's files.
# Idempotent: when everything is in place it changes nothing and only prints the directory.
set -euo pipefail

find_bindir() {
  local dir
  if command -v pg_config >/dev/null 2>&1; then
    dir="$(pg_config --bindir 2>/dev/null || true)"
    if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ]; then echo "$dir"; return 0; fi
  fi
  # Debian keeps one directory per major version; prefer the newest.
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -V -r); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ]; then echo "$dir"; return 0; fi
  done
  if command -v initdb >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1; then
    dirname "$(command -v initdb)"; return 0
  fi
  return 1
}

if ! bindir="$(find_bindir)"; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-postgres: PostgreSQL server binaries (initdb, postgres) not found;" \
         "install them (as root: apt-get install postgresql) and run again" >&2
    exit 1
  fi
  echo "ensure-postgres: installing postgresql with apt-get" >&2
  if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -print -quit 2>/dev/null)" ]; then
    apt-get update -qq >&2
  fi
  # The package may create (and, with an init system, start) Debian's default cluster; the tests
  # never use it and nothing here touches it.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2 || {
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  }
  bindir="$(find_bindir)" || { echo "ensure-postgres: installed, but initdb is still missing" >&2; exit 1; }
fi

if [ "$(id -u)" -eq 0 ]; then
  user="${LINEAGEGRAPH_PG_OS_USER:-lineagegraph-pg}"
  if ! id -u "$user" >/dev/null 2>&1; then
    echo "ensure-postgres: creating system user $user (owns the test PostgreSQL servers)" >&2
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$user"
  fi
fi

echo "$bindir"
