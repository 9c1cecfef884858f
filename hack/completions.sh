#!/usr/bin/env bash
# Regenerates completions/ from the built binary.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p completions
for sh in bash zsh fish powershell; do
  ext=$sh; [ "$sh" = powershell ] && ext=ps1
  bin/urumi completion "$sh" > "completions/urumi.$ext"
done
