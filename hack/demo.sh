#!/usr/bin/env bash
# The main job on a machine without a cluster: start a simulated cluster,
# then create, list, inspect and delete a WooCommerce store with urumi, and
# verify the audit log. Everything it starts is stopped on exit.
#   make demo            (builds bin/urumi and the cluster first)
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d /tmp/urumi-demo-XXXXXX)
cluster_pid=""
cleanup() {
  if [ -n "$cluster_pid" ]; then kill "$cluster_pid" 2>/dev/null || true; wait "$cluster_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/cluster" ./hack/cluster
"$work/cluster" --kubeconfig-out "$work/kubeconfig" >"$work/cluster.out" 2>"$work/cluster.log" &
cluster_pid=$!
for _ in $(seq 120); do
  [ -s "$work/cluster.out" ] && break
  kill -0 "$cluster_pid" 2>/dev/null || { cat "$work/cluster.log" >&2; exit 1; }
  sleep 0.5
done
[ -s "$work/cluster.out" ] || { echo "the simulated cluster did not start; log:" >&2; cat "$work/cluster.log" >&2; exit 1; }

export KUBECONFIG="$work/kubeconfig" URUMI_DB="$work/urumi.db" URUMI_CONFIG="$work/none.yaml"
touch "$URUMI_CONFIG"
urumi=bin/urumi
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

step $urumi version
step $urumi plan list
step $urumi store create demo-shop --plan small
step $urumi store create second-shop --owner alice -o json
step $urumi store list -A -o wide
step $urumi store get demo-shop
step kubectl -n store-demo-shop get deploy,statefulset,job,svc,ingress,pvc,networkpolicy,resourcequota 2>/dev/null || true
step $urumi quota set --owner alice --max-stores 1
step $urumi store create third-shop --owner alice || echo "(refused, as it should be: alice is at her limit)"
step $urumi store create evil-shop --set $'images.wordpress.tag=7.1.2\n---\nkind: Pod' || echo "(refused, as it should be: a value override cannot carry a manifest)"
step $urumi store create evil-shop --set ingress.className=NOT/a-class || echo "(refused, as it should be: the chart's values schema)"
step $urumi store delete demo-shop
step $urumi store delete second-shop
step $urumi audit
step $urumi audit verify
