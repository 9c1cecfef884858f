#!/usr/bin/env bash
# Builds a pinned release tool with `go install` unless it is cached, and
# prints its path. The pins live in hack/tools.env; the cache is
# $URUMI_CACHE_DIR/tools/<name>/<version> (default ~/.cache/urumi).
#
#   hack/tool.sh goreleaser
#   hack/tool.sh validate-krew-manifest
#   hack/tool.sh krew
#   hack/tool.sh restic     (the backup tests run the Jobs' scripts with it)
set -euo pipefail

hack=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tools.env
source "$hack/tools.env"

case "${1:-}" in
  goreleaser) pkg=github.com/goreleaser/goreleaser/v2; version=$GORELEASER_VERSION ;;
  validate-krew-manifest) pkg=sigs.k8s.io/krew/cmd/validate-krew-manifest; version=$KREW_VERSION ;;
  krew) pkg=sigs.k8s.io/krew/cmd/krew; version=$KREW_VERSION ;;
  restic) pkg=github.com/restic/restic/cmd/restic; version=$RESTIC_VERSION ;;
  *) echo "usage: $0 goreleaser|validate-krew-manifest|krew|restic" >&2; exit 2 ;;
esac
name=$1
dir="${URUMI_CACHE_DIR:-$HOME/.cache/urumi}/tools/$name/$version"

if [ ! -x "$dir/$name" ]; then
  echo "tool: building $name $version (once; cached in $dir)" >&2
  mkdir -p "$dir"
  tmp="$dir/.install.$$"
  trap 'rm -rf "$tmp"' EXIT
  # Outside any module, so urumi's go.mod and GOFLAGS play no part.
  (cd / && CGO_ENABLED=0 GOFLAGS= GOBIN="$tmp" go install -trimpath -ldflags='-s -w' "$pkg@$version")
  mv "$tmp/$name" "$dir/$name"
fi
echo "$dir/$name"
