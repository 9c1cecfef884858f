#!/usr/bin/env bash
# make release-check: the release, built as a snapshot and checked as a user
# would meet it. goreleaser and krew's tools are built once at pinned
# versions (hack/tools.env) and cached under ~/.cache/urumi/tools.
#
#  1. goreleaser check, then goreleaser release --snapshot --clean into
#     dist/release: archives for linux, darwin and windows on amd64 and arm64, with
#     the completions and kubectl_complete-urumi, checksums.txt, and an OCI
#     image per Linux architecture;
#  2. each archive holds the binary and every completion, and checksums.txt
#     matches the files;
#  3. hack/krew writes the krew manifest from the archives and checksums,
#     krew's validate-krew-manifest checks it, and krew installs urumi from
#     it and this machine's archive (the sha256 must match);
#  4. hack/image's test reads each image back.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { echo "release-check: $*" >&2; }

goreleaser=$(hack/tool.sh goreleaser)
validate=$(hack/tool.sh validate-krew-manifest)
krew=$(hack/tool.sh krew)
dist=dist/release

log "goreleaser check"
"$goreleaser" check
log "goreleaser release --snapshot --clean"
"$goreleaser" release --snapshot --clean --parallelism 2

version=$(sed -n 's/.*"version":"\([^"]*\)".*/\1/p' "$dist/metadata.json")
[ -n "$version" ] || { log "no version in $dist/metadata.json"; exit 1; }

log "archives and checksums of $version"
(cd "$dist" && sha256sum --quiet -c checksums.txt)
for platform in linux_amd64 linux_arm64 darwin_amd64 darwin_arm64 windows_amd64 windows_arm64; do
  bin=urumi ext=tar.gz
  case $platform in windows_*) bin=urumi.exe ext=zip ;; esac
  a="$dist/urumi_${version}_${platform}.$ext"
  [ -f "$a" ] || { log "missing archive $a"; exit 1; }
  grep -q "  ${a##*/}\$" "$dist/checksums.txt" || { log "${a##*/} is not in checksums.txt"; exit 1; }
  if [ "$ext" = zip ]; then
    if command -v unzip >/dev/null; then
      listing=$(unzip -Z1 "$a")
    else
      listing=$(python3 -c 'import sys, zipfile; print("\n".join(zipfile.ZipFile(sys.argv[1]).namelist()))' "$a")
    fi
  else
    listing=$(tar -tzf "$a")
  fi
  for f in $bin completions/kubectl_complete-urumi completions/urumi.bash completions/urumi.zsh completions/urumi.fish completions/urumi.ps1; do
    grep -qx "$f" <<<"$listing" || { log "${a##*/} lacks $f"; exit 1; }
  done
done

log "krew manifest"
go run ./hack/krew -dist "$dist" -out "$dist/krew/urumi.yaml"
# -skip-install: its install step downloads each uri (not published for a
# snapshot) through kubectl; the install below uses the local archive.
"$validate" -manifest "$dist/krew/urumi.yaml" -skip-install
root=$(mktemp -d); trap 'rm -rf "$root"' EXIT
goarch=$(go env GOARCH)
KREW_ROOT=$root KREW_OS=linux KREW_ARCH=$goarch "$krew" install \
  --manifest="$dist/krew/urumi.yaml" --archive="$dist/urumi_${version}_linux_${goarch}.tar.gz" </dev/null >&2
"$root/bin/kubectl-urumi" version | grep -q "$version" || { log "the plugin krew installed does not report $version"; exit 1; }
[ -x "$(echo "$root"/store/urumi/*/kubectl_complete-urumi)" ] || { log "krew did not install kubectl_complete-urumi"; exit 1; }

log "images"
(cd hack/image && go test -c -o "$root/image.test" .)
for arch in amd64 arm64; do
  "$root/image.test" -test.run TestImage -image "$PWD/$dist/urumi_${version}_linux_${arch}_image.tar" -version "$version"
done
log "ok: $dist holds the $version snapshot; the krew manifest is $dist/krew/urumi.yaml"
