#!/usr/bin/env bash
# The blog's measured workload (issue 5, "Measured"), in one session, against the example app
# driven over HTTP only (the benchmarks module has no code dependency on examples/blog):
#
#  1. Anonymous front page with a warm page cache (default config: embedded PostgreSQL, in-process
#     cache), `wrk -t2 -c32 -d15s`, next to the ceiling: PageCeilingServer, a bare JDK HttpServer
#     serving the same bytes from memory with sun.net.httpserver.nodelay=true, and the same without
#     nodelay. Rounds interleave ceiling, blog, ceiling without nodelay; medians and the ratio
#     blog/ceiling are reported. SQL statements per request come from the blog's access log (every
#     request of the wrk run, summed) and from X-SQL-Statements on sample requests.
#  2. The same front page with memcached as the cache (the page cache then lives in memcached).
#  3. The mixed run (BlogWorkload mixed) with memcached: 85% views, 10% votes, 3% comments,
#     2% submissions, Zipf over posts, logged-in accounts, vote-to-visible probes.
#
# The blog runs with --pbkdf2-iterations 1000 (instead of 600,000) so that signing up and logging
# in the harness's accounts takes milliseconds; no measured request hashes a password.
# PostgreSQL is the blog's embedded default: fsync=on, synchronous_commit=off, full_page_writes=on.
#
# Usage: benchmarks/run-blog-benchmarks.sh
#   ROUNDS=3 DURATION=15 MIXED_WARMUP=15 MIXED_DURATION=60 MIXED_WORKERS=16 LOGGED_IN_SHARE=0.2
#   BLOG_ARGS='--http-threads 8' extra blog flags; MVN_ARGS='-o -Dmaven.repo.local=...' for the build;
#   SKIP_BUILD=1 reuses the built jars; OUT_DIR (default benchmarks/results).
# Needs: JDK 17+, Maven, wrk, memcached, python3, curl. About 6 minutes after the build.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-15}
MIXED_WARMUP=${MIXED_WARMUP:-15}
MIXED_DURATION=${MIXED_DURATION:-60}
MIXED_WORKERS=${MIXED_WORKERS:-16}
LOGGED_IN_SHARE=${LOGGED_IN_SHARE:-0.2}
BLOG_ARGS=${BLOG_ARGS:-}
MVN_ARGS=${MVN_ARGS:-}
OUT_DIR=${OUT_DIR:-$here/results}
stamp="$(date -u +%Y-%m-%dT%H%M%SZ)"
work="$(mktemp -d /tmp/blog-bench.XXXXXX)"
jar="$here/target/benchmarks.jar"
pids=()

cleanup() {
  for p in "${pids[@]}"; do
    kill -TERM "$p" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 60); do kill -0 "$p" 2>/dev/null || break; sleep 0.5; done
  done
}
trap cleanup EXIT

for tool in wrk memcached python3 curl java mvn; do
  command -v "$tool" >/dev/null || { echo "run-blog-benchmarks: $tool is not installed" >&2; exit 2; }
done

cd "$root"
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  echo "building (mvn install -DskipTests) ..." >&2
  mvn -q -B $MVN_ARGS install -DskipTests
fi
mvn -q -B $MVN_ARGS -f examples/blog dependency:build-classpath -Dmdep.includeScope=runtime \
  -Dmdep.outputFile="$work/blog.classpath" >/dev/null
blog_cp="$root/examples/blog/target/classes:$(cat "$work/blog.classpath")"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

# start_blog NAME EXTRA_ARGS...: starts the blog, sets blog_pid, blog_url, blog_log
start_blog() {
  local name=$1; shift
  local port; port=$(free_port)
  blog_log="$work/access-$name.log"
  java -cp "$blog_cp" io.thingdb.examples.blog.Main --port "$port" --data-dir "$work/data" \
    --pbkdf2-iterations 1000 --access-log "$blog_log" $BLOG_ARGS "$@" >"$work/blog-$name.out" 2>&1 &
  blog_pid=$!
  pids+=("$blog_pid")
  blog_url="http://127.0.0.1:$port/"
  for _ in $(seq 1 240); do
    grep -q "running at" "$work/blog-$name.out" && return 0
    kill -0 "$blog_pid" 2>/dev/null || { cat "$work/blog-$name.out" >&2; exit 1; }
    sleep 0.5
  done
  echo "the blog did not start in 2 minutes" >&2; exit 1
}

stop_pid() {
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.5; done
  echo "process $1 did not stop" >&2; exit 1
}

# measure LABEL PID URL [ACCESS_LOG]: one wrk run; appends a JSON line to $work/runs.jsonl
measure() {
  local label=$1 pid=$2 url=$3 access=${4:-}
  local lines_before=0 t0 t1 out load_before
  [[ -n "$access" ]] && lines_before=$(wc -l <"$access")
  load_before=$(load)
  t0=$(cpu_ticks "$pid")
  out=$(wrk -t2 -c32 -d"${DURATION}s" --latency "$url")
  t1=$(cpu_ticks "$pid")
  echo "$out" >"$work/wrk-$label-$(date +%s%N).txt"
  local sql_sum=-1 logged=-1 hits=-1
  if [[ -n "$access" ]]; then
    sleep 1 # the access log is written every 200 ms
    read -r logged sql_sum hits < <(tail -n +"$((lines_before + 1))" "$access" \
      | awk '{n++; for (i=1;i<=NF;i++) { if ($i ~ /^sql=/) s += substr($i,5); if ($i == "page_cache=hit") h++ }} END {print n+0, s+0, h+0}')
  fi
  python3 - "$label" "$out" "$t0" "$t1" "$(getconf CLK_TCK)" "$load_before" "$(load)" "$logged" "$sql_sum" "$hits" \
    >>"$work/runs.jsonl" <<'EOF'
import json, re, sys
label, out, t0, t1, tck, lb, la, logged, sql, hits = sys.argv[1:]
def dur(s):
    m = re.match(r'([\d.]+)(us|ms|s)$', s)
    return float(m.group(1)) * {'us': 0.001, 'ms': 1, 's': 1000}[m.group(2)]
reqs = int(re.search(r'(\d+) requests in', out).group(1))
rps = float(re.search(r'Requests/sec:\s+([\d.]+)', out).group(1))
lat = {p: dur(v) for p, v in re.findall(r'^\s+(50|90|99)%\s+(\S+)', out, re.M)}
errors = re.search(r'Non-2xx or 3xx responses: (\d+)', out)
sock = re.search(r'Socket errors: (.*)', out)
cpu_s = (int(t1) - int(t0)) / int(tck)
print(json.dumps({"label": label, "requests": reqs, "req_per_s": rps, "latency_ms": lat,
  "non_2xx_3xx": int(errors.group(1)) if errors else 0, "socket_errors": sock.group(1) if sock else None,
  "server_cpu_us_per_request": round(cpu_s * 1e6 / reqs, 1), "load_before": lb, "load_after": la,
  "access_log_lines": int(logged), "access_log_sql_statements": int(sql), "access_log_page_cache_hits": int(hits)}))
EOF
  tail -1 "$work/runs.jsonl" >&2
}

echo "work dir $work; load $(load)" >&2
: >"$work/runs.jsonl"

# ---------------------------------------------------------------- 1. front page, in-process cache
start_blog inproc
echo "blog (in-process cache) at $blog_url, pid $blog_pid" >&2
java -cp "$jar" io.thingdb.benchmarks.BlogWorkload populate --base "$blog_url" --users 50 --posts 300 \
  --comments 300 --votes 2000 | tee "$work/populate.txt" >&2
curl -sf -o "$work/front.html" "$blog_url"
ctype=$(curl -sf -D - -o /dev/null "$blog_url" | awk -F': ' 'tolower($1)=="content-type"{print $2}' | tr -d '\r')
wrk -t2 -c32 -d5s "$blog_url" >/dev/null # JIT warm-up
java -cp "$jar" io.thingdb.benchmarks.BlogWorkload check --base "$blog_url" --path / --samples 20 >"$work/check-inproc.json"

ceil_port=$(free_port)
java -cp "$jar" io.thingdb.benchmarks.PageCeilingServer --page "$work/front.html" --content-type "$ctype" \
  --port "$ceil_port" --threads 4 --nodelay true >"$work/ceiling.out" 2>&1 &
ceil_pid=$!; pids+=("$ceil_pid")
nagle_port=$(free_port)
java -cp "$jar" io.thingdb.benchmarks.PageCeilingServer --page "$work/front.html" --content-type "$ctype" \
  --port "$nagle_port" --threads 4 --nodelay false >"$work/ceiling-nagle.out" 2>&1 &
nagle_pid=$!; pids+=("$nagle_pid")
sleep 2
wrk -t2 -c32 -d5s "http://127.0.0.1:$ceil_port/" >/dev/null
wrk -t2 -c32 -d2s "http://127.0.0.1:$nagle_port/" >/dev/null

for round in $(seq 1 "$ROUNDS"); do
  echo "round $round of $ROUNDS" >&2
  measure ceiling "$ceil_pid" "http://127.0.0.1:$ceil_port/"
  measure blog-inproc "$blog_pid" "$blog_url" "$blog_log"
  measure ceiling-no-nodelay "$nagle_pid" "http://127.0.0.1:$nagle_port/"
done
java -cp "$jar" io.thingdb.benchmarks.BlogWorkload check --base "$blog_url" --path / --samples 20 >"$work/check-inproc-after.json"
stop_pid "$nagle_pid"; stop_pid "$blog_pid"

# ---------------------------------------------------------------- 2. and 3. with memcached
mc_port=$(free_port)
mc_user=(); [[ "$(id -u)" == 0 ]] && mc_user=(-u memcache)
memcached -l 127.0.0.1 -p "$mc_port" -U 0 -t 2 -m 256 -c 1024 "${mc_user[@]}" >"$work/memcached.out" 2>&1 &
mc_pid=$!; pids+=("$mc_pid")
sleep 1
start_blog memcached --memcached "127.0.0.1:$mc_port"
echo "blog (memcached 127.0.0.1:$mc_port) at $blog_url, pid $blog_pid" >&2
wrk -t2 -c32 -d5s "$blog_url" >/dev/null
java -cp "$jar" io.thingdb.benchmarks.BlogWorkload check --base "$blog_url" --path / --samples 20 >"$work/check-memcached.json"
for round in $(seq 1 "$ROUNDS"); do
  measure ceiling-memcached-phase "$ceil_pid" "http://127.0.0.1:$ceil_port/"
  measure blog-memcached "$blog_pid" "$blog_url" "$blog_log"
done
stop_pid "$ceil_pid"

mkdir -p "$OUT_DIR"
mixed="$OUT_DIR/blog-mixed-$stamp.json"
java -cp "$jar" io.thingdb.benchmarks.BlogWorkload mixed --base "$blog_url" --users 50 --workers "$MIXED_WORKERS" \
  --warmup "$MIXED_WARMUP" --duration "$MIXED_DURATION" --logged-in-share "$LOGGED_IN_SHARE" \
  --memcached "127.0.0.1:$mc_port" --app-pid "$blog_pid" --out "$mixed" \
  --note-blog "java -cp ... io.thingdb.examples.blog.Main --pbkdf2-iterations 1000 --memcached 127.0.0.1:$mc_port $BLOG_ARGS" \
  --note-postgresql "embedded (zonky) 15, fsync=on, synchronous_commit=off, full_page_writes=on" >"$work/mixed.out"
stop_pid "$blog_pid"; stop_pid "$mc_pid"

# ---------------------------------------------------------------- summary
summary="$OUT_DIR/blog-$stamp.json"
python3 - "$work" "$summary" "$mixed" "$stamp" "$DURATION" "$ROUNDS" "$BLOG_ARGS" "$(git rev-parse --short HEAD)" \
  "$(java -version 2>&1 | head -1)" "$(nproc)" <<'EOF'
import json, statistics, sys
work, out, mixed, stamp, duration, rounds, blog_args, commit, jdk, nproc = sys.argv[1:]
runs = [json.loads(l) for l in open(work + "/runs.jsonl")]
def med(label, key="req_per_s"):
    v = [r[key] for r in runs if r["label"] == label]
    return statistics.median(v) if v else None
labels = []
for r in runs:
    if r["label"] not in labels:
        labels.append(r["label"])
medians = {l: {"req_per_s": med(l), "server_cpu_us_per_request": med(l, "server_cpu_us_per_request"),
               "p99_ms": round(statistics.median([r["latency_ms"].get("99") for r in runs if r["label"] == l]), 2),
               "runs": [r["req_per_s"] for r in runs if r["label"] == l]} for l in labels}
def ratio(a, b):
    return round(medians[a]["req_per_s"] / medians[b]["req_per_s"], 3)
checks = {n: json.load(open(f"{work}/check-{n}.json")) for n in ("inproc", "inproc-after", "memcached")}
front = checks["inproc"]
res = {
  "what": "examples/blog anonymous front page (warm page cache) vs a bare JDK HttpServer serving the same bytes",
  "started_utc": stamp, "commit": commit, "jdk": jdk, "cpus": int(nproc),
  "wrk": f"wrk -t2 -c32 -d{duration}s --latency URL, {rounds} rounds interleaved (ceiling, blog, ceiling without nodelay)",
  "blog": "java -cp <examples/blog classes + runtime deps> io.thingdb.examples.blog.Main --pbkdf2-iterations 1000"
          " --access-log FILE " + blog_args + " (embedded PostgreSQL: fsync=on, synchronous_commit=off)",
  "ceiling": "java -cp benchmarks.jar io.thingdb.benchmarks.PageCeilingServer --threads 4 --nodelay true|false,"
             " serving the blog's front page bytes (same headers)",
  "front_page_bytes": front["body_bytes"],
  "medians": medians,
  "ratio_blog_inproc_to_ceiling": ratio("blog-inproc", "ceiling"),
  "ratio_blog_memcached_to_ceiling": ratio("blog-memcached", "ceiling-memcached-phase"),
  "ratio_ceiling_without_nodelay_to_ceiling": ratio("ceiling-no-nodelay", "ceiling"),
  "sql_statements": {
     "access_log_sum_over_all_measured_blog_requests": sum(r["access_log_sql_statements"] for r in runs if r["label"].startswith("blog")),
     "access_log_requests": sum(r["access_log_lines"] for r in runs if r["label"].startswith("blog")),
     "x_sql_statements_samples": checks},
  "goal": ">= 10,000 req/s for the blog's warm anonymous front page",
  "runs": runs,
  "mixed_run_file": mixed.split("/")[-1],
}
json.dump(res, open(out, "w"), indent=2)
m = json.load(open(mixed))
print(f"front page {front['body_bytes']} bytes; medians of {rounds} x {duration}s:")
for l in labels:
    print(f"  {l:24s} {medians[l]['req_per_s']:>10,.0f} req/s  p99 {medians[l]['p99_ms']:.2f} ms"
          f"  server CPU {medians[l]['server_cpu_us_per_request']:.1f} us/req  runs {medians[l]['runs']}")
print(f"  blog/ceiling: in-process {res['ratio_blog_inproc_to_ceiling']}, memcached {res['ratio_blog_memcached_to_ceiling']};"
      f" ceiling without nodelay / with: {res['ratio_ceiling_without_nodelay_to_ceiling']}")
print(f"  SQL statements over {res['sql_statements']['access_log_requests']} logged blog requests:"
      f" {res['sql_statements']['access_log_sum_over_all_measured_blog_requests']}")
pv = m["page_views"]
print(f"mixed: {pv['page_views_per_s']} page views/s, p50 {pv['latency_ms']['p50']} ms, p99 {pv['latency_ms']['p99']} ms,"
      f" page cache hit ratio (anonymous) {pv['page_cache_hit_ratio_anonymous']},"
      f" memcached get hit ratio {m.get('memcached', {}).get('get_hit_ratio')},"
      f" SQL/page view {pv['sql_statements_per_page_view']}")
v = m["vote_to_visible"]
print(f"  vote-to-visible p99: logged-in reader {v['logged_in_reader']['vote_to_visible_ms'].get('p99')} ms,"
      f" anonymous reader {v['anonymous_reader']['vote_to_visible_ms'].get('p99')} ms")
print(f"results: {out} and {mixed}")
EOF
