#!/usr/bin/env bash
# Runs the cache benchmarks (CacheOverhead, RingLookup, InProcessCache) in their committed
# configuration, writes JMH's JSON to benchmarks/results/cache-<UTC date and time>.json and prints
# the ThingDB/baseline ratios. About 15 minutes on 2 cores. Needs memcached on PATH (or pass
# -p memcached=host:port) and python3 for the ratios.
#
# Usage: benchmarks/run-cache-benchmarks.sh [extra JMH options]
#   Extra options are appended, e.g. -p memcached=host:port, or
#   -prof gc -prof io.thingdb.benchmarks.CpuProfiler (bytes and CPU time per operation, as the
#   committed results in benchmarks/results/ were run).
#   JMH_CONFIG replaces the committed configuration (JMH refuses an option given twice), e.g.
#   JMH_CONFIG='-f 1 -wi 1 -w 1s -i 2 -r 1s' for a quick look; such results are not comparable.
#   BUILD=1 forces a rebuild; otherwise the jar is rebuilt only when missing or older than a
#   source file or POM.
#
# Smoke test (one 1 s iteration per benchmark and backend, about 30 s):
#   java -jar benchmarks/target/benchmarks.jar CacheOverheadBenchmark -f 1 -wi 0 -i 1 -r 1s
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
jar="$here/target/benchmarks.jar"
cd "$root"

stale() {
  [[ ! -f "$jar" ]] && return 0
  [[ -n "$(find "$root" -name target -prune -o \( -path '*/src/main/*' -o -name pom.xml \) \
      -newer "$jar" -print -quit)" ]]
}
if [[ "${BUILD:-0}" == 1 ]] || stale; then
  echo "Building $jar ..." >&2
  mvn -q -B -pl benchmarks -am package -DskipTests
fi

# The committed configuration: 3 forks x (3 x 2 s warm-up + 5 x 2 s measurement).
read -r -a config <<< "${JMH_CONFIG:--f 3 -wi 3 -w 2s -i 5 -r 2s}"

mkdir -p "$here/results"
out="$here/results/cache-$(date -u +%Y-%m-%dT%H%M%SZ).json"
java -jar "$jar" 'io\.thingdb\.benchmarks\.(CacheOverhead|RingLookup|InProcessCache)Benchmark\.' \
  "${config[@]}" -rf json -rff "$out" "$@"

echo
echo "Results: $out"
python3 "$here/ratios.py" "$out"
