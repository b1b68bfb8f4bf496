#!/usr/bin/env bash
# The whole benchmark suite in one command, at the sizes of the figures in docs/benchmarks.md.
# Every benchmark starts its own local Neo4j, measures its baseline in the same run and writes
# bench/results/*.json (bench_scale.py also draws the PNG curves into docs/img/). On the usual
# 2-core machine this takes several hours; pass benchmark names to run only those:
#
#   bash bench/suite.sh                 # everything
#   bash bench/suite.sh scale html      # bench_scale.py and bench_html.py only
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/bootstrap.sh
.venv/bin/python -m pip install -q -e ".[dev,bench]" >&2
py=.venv/bin/python

declare -A runs=(
  [scale]="bench/bench_scale.py --sizes 10000 100000 1000000"
  [bulk]="bench/bench_bulk.py --records 1000000"
  [prov_memory]="bench/bench_prov_memory.py --records 100000 1000000"
  [prov_import]="bench/bench_prov_import.py --records 100000"
  [rdf]="bench/bench_rdf_import.py --whole 100000 --streamed 100000 1000000 --import"
  [queries]="bench/bench_queries.py --sizes 8 12 16 18 20 22 --limit 60"
  [diff]="bench/bench_diff.py"
  [html]="bench/bench_html.py"
  [openlineage]="bench/bench_openlineage.py --events 100000"
  [k8s_ingest]="bench/bench_k8s_ingest.py --events 100000 --baseline-events 2000"
  [k8s_live]="bench/bench_k8s_live.py --json bench/results/k8s_live_suite.json"
  [track]="bench/bench_track.py --json"
)
order=(scale bulk prov_memory prov_import rdf queries diff html openlineage k8s_ingest k8s_live track)
selected=("${@:-${order[@]}}")
for name in "${selected[@]}"; do
  [ -n "${runs[$name]:-}" ] || { echo "suite: no benchmark named $name (one of: ${order[*]})" >&2; exit 2; }
done
for name in "${selected[@]}"; do
  echo "== $name: ${runs[$name]}" >&2
  # shellcheck disable=SC2086  # the command line is split on purpose
  $py ${runs[$name]}
done
