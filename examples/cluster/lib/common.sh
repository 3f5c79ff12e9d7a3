# shellcheck shell=bash disable=SC2034 # the variables are used by the scripts that source this
# Shared by start, stop, status and fault: where things are, the fixed ports, and waits that
# poll with a deadline and fail naming what did not come up. Sourced, never run.

CLUSTER_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO_DIR="$(cd "$CLUSTER_DIR/../.." && pwd)"
CLUSTER_HOME="${CLUSTER_HOME:-$CLUSTER_DIR/run}"
mkdir -p "$CLUSTER_HOME"
CLUSTER_HOME="$(cd "$CLUSTER_HOME" && pwd)"
export CLUSTER_HOME

PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
PG_DIR="$CLUSTER_HOME/pg"
PG_SOCK="$PG_DIR/sock"
LOG_DIR="$CLUSTER_HOME/logs"
LIB_DIR="$CLUSTER_HOME/lib"
SUPERVISOR_CONF="$CLUSTER_HOME/supervisord.conf"
SUPERVISOR_PID="$CLUSTER_HOME/supervisord.pid"
SERVERS_FILE="$CLUSTER_HOME/memcached.servers"
SECRETS_FILE="$CLUSTER_HOME/secrets.env"
BLOG_ENV="$CLUSTER_HOME/blog.env"

# The contract's ports (base 18000).
HAPROXY_PORT=18080
HAPROXY_STATS_PORT=18081
WEB_PORTS=(18101 18102 18103)
PROCESSOR_PORTS=(18111 18112)
RECOMPUTE_PORT=18121
MEMCACHED_PORTS=(18211 18212 18213 18214) # the 4th only for the add-memcached fault
MEMCACHED_INITIAL=3

# PostgreSQL servers: name, port, and what each one streams from ("-" for a primary).
PG_SERVERS=(links-primary links-web links-batch comments-primary comments-replica)
declare -A PG_PORT=(
  [links-primary]=18301 [links-web]=18302 [links-batch]=18303
  [comments-primary]=18311 [comments-replica]=18312
)
declare -A PG_UPSTREAM=(
  [links-primary]=- [links-web]=links-primary [links-batch]=links-primary
  [comments-primary]=- [comments-replica]=comments-primary
)
declare -A PG_DATABASE=(
  [links-primary]=blog [links-web]=blog [links-batch]=blog
  [comments-primary]=blog_comments [comments-replica]=blog_comments
)

# Every wait polls every 0.2 s up to a deadline (seconds), overridable for slow machines.
WAIT_SECONDS="${CLUSTER_WAIT_SECONDS:-120}"

die() {
  echo "cluster: $*" >&2
  exit 1
}

say() {
  echo "cluster: $*"
}

# poll SECONDS COMMAND...: runs COMMAND every 0.2 s until it succeeds (0) or SECONDS pass (1).
poll() {
  local seconds=$1
  shift
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      return 1
    fi
    sleep 0.2
  done
}

# wait_for SECONDS WHAT COMMAND...: polls COMMAND; dies naming WHAT if it fails for SECONDS.
wait_for() {
  local seconds=$1 what=$2
  shift 2
  poll "$seconds" "$@" || die "$what did not happen within ${seconds}s"
}

port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

port_closed() {
  ! port_open "$1"
}

http_ok() {
  curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$1${2:-/healthz}"
}

# memcached answers "version" on PORT.
memcached_ok() {
  local reply
  reply="$(
    exec 2>/dev/null 3<>"/dev/tcp/127.0.0.1/$1" && printf 'version\r\n' >&3 && timeout 2 head -c 8 <&3
  )" || return 1
  [[ $reply == VERSION* ]]
}

pg_ready() {
  "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$1" -t 2
}

# psql_as_postgres PORT DB SQL: one statement as the superuser, over the server's socket; prints
# unaligned tuples.
psql_as_postgres() {
  local port=$1 db=$2 sql=$3
  runuser -u postgres -- "$PG_BIN/psql" -h "$PG_SOCK" -p "$port" -d "$db" -XAtq -v ON_ERROR_STOP=1 \
    -c "$sql"
}

pg_is_primary() {
  [[ "$(psql_as_postgres "$1" postgres 'select pg_is_in_recovery()' 2>/dev/null)" == f ]]
}

supervisord_running() {
  [[ -f $SUPERVISOR_PID ]] && pid_alive "$(cat "$SUPERVISOR_PID")"
}

ctl() {
  supervisorctl -c "$SUPERVISOR_CONF" "$@"
}

# The state of one program: RUNNING, STOPPED, EXITED, STARTING, BACKOFF, FATAL, ...
program_state() {
  local line
  line="$(ctl status "$1" 2>/dev/null || true)"
  awk '{print $2}' <<<"$line"
}

program_pid() {
  ctl pid "$1" 2>/dev/null || true
}

program_running() {
  [[ "$(program_state "$1")" == RUNNING ]]
}

# start_program NAME: starts it unless it runs already.
start_program() {
  local state
  state="$(program_state "$1")"
  case "$state" in
    RUNNING | STARTING) ;;
    *) ctl start "$1" >/dev/null || die "supervisord could not start $1 (see $LOG_DIR/$1.log)" ;;
  esac
}

# The memcached servers the apps use now, one host:port per line.
memcached_servers() {
  grep -v '^[[:space:]]*$' "$SERVERS_FILE"
}

# write_servers LINE...: replaces the servers file at once (rename), so a reader never sees half.
write_servers() {
  local tmp="$SERVERS_FILE.tmp"
  printf '%s\n' "$@" >"$tmp"
  mv -f "$tmp" "$SERVERS_FILE"
}

# Program names.
web_program() { echo "web$1"; }
processor_program() { echo "processor$1"; }
memcached_program() { echo "memcached$1"; }
pg_program() { echo "pg-$1"; }

# The comments vertical's current primary: comments-primary until fault failover-comments promotes
# the other server, which it records here (start reads it to know which server to start as the
# primary and which one, an old primary, to leave down).
COMMENTS_PRIMARY_FILE="$CLUSTER_HOME/comments.primary"
# Present when the cluster was started with CLUSTER_SYNC_COMMENTS=1.
COMMENTS_SYNC_FILE="$CLUSTER_HOME/comments.synchronous"

comments_primary_name() {
  if [[ -f $COMMENTS_PRIMARY_FILE ]]; then
    cat "$COMMENTS_PRIMARY_FILE"
  else
    echo comments-primary
  fi
}

comments_other() { # comments_other NAME: the other server of the comments vertical
  if [[ $1 == comments-primary ]]; then echo comments-replica; else echo comments-primary; fi
}

# set_synchronous PRIMARY [STANDBY]: commits on PRIMARY wait for STANDBY (its cluster_name), or
# for nobody without one. Through ALTER SYSTEM and a reload, so that it follows the vertical's
# topology: a base backup copies it, and a promoted server must not wait for a standby it lacks.
set_synchronous() {
  local port=${PG_PORT[$1]}
  if [[ -n ${2:-} ]]; then
    psql_as_postgres "$port" postgres "alter system set synchronous_standby_names = '${2//-/_}'" >/dev/null
  else
    psql_as_postgres "$port" postgres "alter system reset synchronous_standby_names" >/dev/null
  fi
  psql_as_postgres "$port" postgres "select pg_reload_conf()" >/dev/null
}

# pid_alive PID: the process exists and is not a zombie (a daemon whose parent is gone can linger
# as one until init reaps it; it holds no port and does nothing).
pid_alive() {
  local state
  state="$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" || return 1
  [[ -n $state && $state != Z ]]
}

# streaming_to PRIMARY_PORT STANDBY: the primary streams to STANDBY (its cluster_name).
not_streaming_to() { # not_streaming_to PRIMARY_PORT APPLICATION_NAME
  ! streaming_to "$@"
}

streaming_to() {
  [[ "$(psql_as_postgres "$1" postgres \
    "select state from pg_stat_replication where application_name = '$2'")" == streaming ]]
}
