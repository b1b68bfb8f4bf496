#!/usr/bin/env bash
# Makes sure this machine has a real kube-apiserver and etcd for the Kubernetes tests, built from the
# Go modules in tools/ (their go.sum pins every dependency) into a per-user cache:
#   ${XDG_CACHE_HOME:-~/.cache}/lineagegraph/kube/<version>/{kube-apiserver,etcd}
# Go keeps its module and build caches in its usual per-user places, so a second run builds nothing.
# Prints the two binary paths (kube-apiserver first, then etcd), one per line, on stdout; progress
# goes to stderr. The first build takes 10-20 minutes on a small machine.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if ! command -v go >/dev/null 2>&1; then
  for candidate in /usr/local/go/bin /usr/lib/go/bin "$HOME/go/bin" "$HOME/.local/go/bin"; do
    if [ -x "$candidate/go" ]; then export PATH="$candidate:$PATH"; break; fi
  done
fi
if ! command -v go >/dev/null 2>&1; then
  echo "ensure-kube: the Go toolchain (>= 1.24) is needed to build kube-apiserver and etcd for the" \
    "Kubernetes tests; install it from https://go.dev/dl/ (or apt-get install golang-go) and run again" >&2
  exit 1
fi

# The version directory names both upstream releases, so bumping either one builds afresh.
module_version() { # $1 = go.mod, $2 = module path
  awk -v m="$2" '$1 == m && $2 ~ /^v/ {print $2; exit} $1 == "require" && $2 == m {print $3; exit}' "$1"
}
kube_version="$(module_version "$repo/tools/kube-apiserver/go.mod" k8s.io/kubernetes)"
etcd_version="$(module_version "$repo/tools/etcd/go.mod" go.etcd.io/etcd/server/v3)"
if [ -z "$kube_version" ] || [ -z "$etcd_version" ]; then
  echo "ensure-kube: cannot read the pinned versions from tools/*/go.mod" >&2
  exit 1
fi
out="${XDG_CACHE_HOME:-$HOME/.cache}/lineagegraph/kube/kubernetes-$kube_version-etcd-$etcd_version"
mkdir -p "$out"

build() { # $1 = tools/ sub-directory, $2 = binary name
  local target="$out/$2"
  if [ -x "$target" ]; then return 0; fi
  echo "ensure-kube: building $2 from tools/$1 into $out (first time only; this takes minutes)" >&2
  # -mod=readonly: the committed go.sum is the truth; a build never rewrites it.
  (cd "$repo/tools/$1" && go build -mod=readonly -trimpath -o "$target.partial" .)
  mv -f "$target.partial" "$target" # a half-built binary never sits under the final name
}

# Two test sessions starting at once must not build the same binary twice over each other.
exec 9>"$out/.lock"
flock 9
build kube-apiserver kube-apiserver
build etcd etcd
flock -u 9

echo "$out/kube-apiserver"
echo "$out/etcd"
