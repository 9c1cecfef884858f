#!/usr/bin/env bash
# Builds the simulated cluster's binaries from source through the Go module
# proxy and caches them under $URUMI_CACHE_DIR (default ~/.cache/urumi),
# keyed by the pinned versions. Prints the directory holding the binaries.
#
#   hack/build-cluster.sh            build what is missing, print the bin dir
#   hack/build-cluster.sh --dir      only print the bin dir (no build)
#   hack/build-cluster.sh --with-helm  also build the Helm CLI (benchmarks)
set -euo pipefail

hack=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$hack/versions.env"

# The key must match internal/simcluster's binDir: sha256 over these files.
key=$(cat "$hack/versions.env" "$hack/kube/go.mod" "$hack/etcd/go.mod" | sha256sum | cut -c1-12)
dir="${URUMI_CACHE_DIR:-$HOME/.cache/urumi}/simcluster/$KUBERNETES_VERSION-$key"

with_helm=false
case "${1:-}" in
  --dir) echo "$dir"; exit 0 ;;
  --with-helm) with_helm=true ;;
  "") ;;
  *) echo "usage: $0 [--dir|--with-helm]" >&2; exit 2 ;;
esac

mkdir -p "$dir"
export CGO_ENABLED=0 GOFLAGS=-mod=mod
log() { echo "build-cluster: $*" >&2; }

if [ ! -x "$dir/etcd" ]; then
  log "building etcd $ETCD_VERSION"
  (cd "$hack/etcd" && go build -trimpath -ldflags='-s -w' -o "$dir/etcd.tmp" .)
  mv "$dir/etcd.tmp" "$dir/etcd"
fi

missing=()
for c in kube-apiserver kube-controller-manager kube-scheduler; do
  [ -x "$dir/$c" ] || missing+=("k8s.io/kubernetes/cmd/$c")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "building ${missing[*]##*/} $KUBERNETES_VERSION (the first build takes about 10 minutes)"
  minor=${KUBERNETES_VERSION#v1.}; minor=${minor%%.*}
  v=k8s.io/component-base/version
  ldflags="-s -w -X $v.gitVersion=$KUBERNETES_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean -X $v.buildDate=1970-01-01T00:00:00Z"
  tmp="$dir/.build.$$"; mkdir -p "$tmp"
  (cd "$hack/kube" && go build -trimpath -ldflags="$ldflags" -o "$tmp/" "${missing[@]}")
  for m in "${missing[@]}"; do mv "$tmp/${m##*/}" "$dir/"; done
  rmdir "$tmp"
fi

if [ ! -x "$dir/kwok" ]; then
  log "building kwok $KWOK_VERSION"
  GOBIN="$dir/.kwok.$$" go install -trimpath -ldflags='-s -w' "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  mv "$dir/.kwok.$$/kwok" "$dir/kwok"; rmdir "$dir/.kwok.$$"
fi

if $with_helm && [ ! -x "$dir/helm" ]; then
  log "building helm $HELM_VERSION"
  GOBIN="$dir/.helm.$$" go install -trimpath -ldflags='-s -w' "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
  mv "$dir/.helm.$$/helm" "$dir/helm"; rmdir "$dir/.helm.$$"
fi

echo "$dir"
