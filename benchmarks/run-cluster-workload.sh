#!/usr/bin/env bash
# The cluster workload (issue 12) against a running examples/cluster: open-loop arrivals through
# HAProxy, a fault schedule, per-second metrics, the P1-P5 checks, JSON and PNG plots.
#
# Usage: benchmarks/run-cluster-workload.sh full|short [more ClusterWorkload flags]
#   full:  600 s at 30 arrivals/s with every fault (ClusterFaults.DEFAULT_SCHEDULE)
#   short: 150 s at 20 arrivals/s with five faults (ClusterFaults.SHORT_SCHEDULE), as CI runs it
#   CLUSTER_HOME (default examples/cluster/run): where cluster.json describes the cluster
#   OUT_DIR (default benchmarks/results/2026-12-05-cluster); SKIP_BUILD=1 reuses benchmarks.jar
# Exit status 0 when every check passed, 1 otherwise.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
mode=${1:?usage: run-cluster-workload.sh full|short [flags]}
shift
CLUSTER_HOME=${CLUSTER_HOME:-$root/examples/cluster/run}
OUT_DIR=${OUT_DIR:-$here/results/2026-12-05-cluster}
cd "$root"
[[ -f "$CLUSTER_HOME/cluster.json" ]] || { echo "no $CLUSTER_HOME/cluster.json: run examples/cluster/start first" >&2; exit 2; }
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  mvn -B -q -o -pl benchmarks -am package -DskipTests -Dspotless.check.skip=true
fi
case "$mode" in
  full) flags=(--rate 30 --duration 600 --schedule default --users 30 --name "full-$(date -u +%Y%m%dT%H%MZ)") ;;
  short) flags=(--rate 20 --duration 150 --schedule short --users 20 --min-posts 100 --name "short-$(date -u +%Y%m%dT%H%MZ)") ;;
  *) echo "mode must be full or short, was '$mode'" >&2; exit 2 ;;
esac
exec java -Xmx512m -cp "$here/target/benchmarks.jar" io.thingdb.benchmarks.ClusterWorkload \
  --cluster-home "$CLUSTER_HOME" --fault-command "$root/examples/cluster/fault" --out-dir "$OUT_DIR" \
  "${flags[@]}" "$@"
