#!/usr/bin/env bash
# Sala beside the reference servers, in one sitting (issue 9; docs/benchmarks.md).
#
#   scripts/bench.sh [--quick] [--only SERVER,...] [--scenarios NAME,...]
#
# SERVER (default: all):
#   sala            Sala over /ws
#   sala-socketio   Sala over Socket.io
#   sala-postgres   Sala over /ws, storing in PostgreSQL (a throwaway server on loopback,
#                   with its durable defaults: fsync on every commit), not SQLite
#   sala-mysql      Sala over /ws, storing in MariaDB (a throwaway server on loopback, with
#                   its durable defaults: the redo log flushed on every commit)
#   rust-bare       the reference servers of ../shared/peers: the ceiling,
#   node-socketio   Node.js + Express + socket.io,
#   fastapi-ws      and FastAPI + uvicorn
# NAME (default: all):
#   fanout          one room, 1,000 subscribers + 10 publishers, closed loop
#   fanout-200      the same, open loop at 200 msg/s (202,000 deliveries/s offered)
#   idle            10,000 joined connections held: server memory per connection
#   rooms           100 rooms of 2 members, one publishing in each, closed loop
#   dms             1,000 users in 500 DMs, both writing, closed loop (the peers: named
#                   rooms of the same shape, as they have no DMs)
#   rooms-changes   rooms, with 20 % of each publisher's operations edits and reactions
#                   to its own messages (Sala /ws only: the peers have none)
#   fanout-changes  fanout, with 20 % of each publisher's operations edits and reactions
#                   (Sala /ws only; publishers confirm by ack, as a change has no echo)
#   churn           200 connections opened (and closed a second later) per second
#   history         resuming with join + since from one of the newest 100 messages (about 50
#                   messages of history each) while the room is busy (Sala /ws only)
#   idle-max        19,000 joined connections, near the open-file limit (Sala /ws only)
#   files           10 uploads of 10 MiB, one at a time: MiB/s (Sala /ws, SQLite and PostgreSQL)
#   files-20        20 uploads of 10 MiB at once, 3 rounds: MiB/s and the server's peak memory
#   search          1,000,000 messages stored, then searches of 6 kinds: latency by kind
# --quick           every run shrunk (50 connections, 3 s): checks this script, measures nothing
#
#   SALA_BIN=PATH scripts/bench.sh ...   the same with another build of sala (see below)
#   scripts/bench.sh --report DIR
#
# only rewrites the docs section from the results of an earlier sitting (DIR), for one that
# was interrupted before its end.
#
# Every run gets a fresh server process (and, for Sala, a fresh SQLite data dir) pinned to
# CPU 0, and sala-bench pinned to CPU 1, on loopback, as in ../shared/peers/RESULTS.md; so
# the machine must be otherwise idle for the figures to mean anything. Each run is bounded
# by `timeout`; one that fails or times out is recorded as failed and the sitting goes on.
#
# Results: ${SALA_BENCH_OUT:-/tmp/sala-bench-results}/<date>/<server>-<scenario>.json (the
# final JSON line of sala-bench, or {"run_failed": reason}), .txt (its whole output) and
# .server.log; at the end a section of docs/benchmarks.md, between the markers
# <!-- bench.sh:begin --> and <!-- bench.sh:end -->, is replaced with one table of them.
# The reference servers are copied and built outside the repository, in
# ${SALA_BENCH_PEERS:-/tmp/sala-bench-peers} (delete a peer's folder there to rebuild it).
#
# Exits 1 when a run failed (after writing everything), 2 on bad arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

all_servers=(sala sala-socketio sala-postgres sala-mysql rust-bare node-socketio fastapi-ws)
all_scenarios=(fanout fanout-200 idle rooms rooms-changes fanout-changes dms churn history idle-max files files-20 search)

# What each scenario asks of sala-bench: the subcommand, then its options. The full sizes
# are the issue's (1,000 subscribers + 10 publishers, as in RESULTS.md); --users 50 keeps
# Sala's setup short where one login per connection would mean thousands of argon2 hashes
# (the peers take it too, so one command line serves every server).
declare -A full=(
  [fanout]="fanout --subscribers 1000 --publishers 10 --duration 20 --drain 10"
  [fanout-200]="fanout --subscribers 1000 --publishers 10 --duration 20 --drain 10 --rate 200"
  [idle]="idle --connections 10000 --hold 10 --users 50"
  [rooms]="rooms --rooms 100 --members 2 --publishers-per-room 1 --duration 20"
  [rooms-changes]="rooms --rooms 100 --members 2 --publishers-per-room 1 --duration 20 --changes 20"
  [fanout-changes]="fanout --subscribers 1000 --publishers 10 --duration 20 --drain 10 --changes 20"
  [dms]="rooms --rooms 500 --members 2 --publishers-per-room 2 --duration 20 --dms"
  [churn]="churn --connections-per-sec 200 --duration 10"
  [history]="history --resume-within 100"
  [idle-max]="idle --connections 19000 --sources 2 --hold 10 --users 50"
  [files]="files --size 10485760 --parallel 1 --uploads 10"
  [files-20]="files --size 10485760 --parallel 20 --uploads 3"
  [search]="search --messages 1000000 --rooms 20 --queries 200"
)
declare -A small=(
  [fanout]="fanout --subscribers 45 --publishers 5 --duration 3 --drain 3"
  [fanout-200]="fanout --subscribers 45 --publishers 5 --duration 3 --drain 3 --rate 200"
  [idle]="idle --connections 50 --hold 1 --users 50"
  [rooms]="rooms --rooms 25 --members 2 --publishers-per-room 1 --duration 3 --drain 3"
  [rooms-changes]="rooms --rooms 25 --members 2 --publishers-per-room 1 --duration 3 --drain 3 --changes 20"
  [fanout-changes]="fanout --subscribers 45 --publishers 5 --duration 3 --drain 3 --changes 20"
  [dms]="rooms --rooms 25 --members 2 --publishers-per-room 2 --duration 3 --drain 3 --dms"
  [churn]="churn --connections-per-sec 20 --duration 3"
  [history]="history --backlog 200 --duration 3 --resume-within 100"
  [idle-max]="idle --connections 100 --sources 2 --hold 1 --users 50"
  [files]="files --size 1048576 --parallel 1 --uploads 2"
  [files-20]="files --size 1048576 --parallel 20 --uploads 1"
  [search]="search --messages 5000 --rooms 5 --queries 10"
)
# Seconds one run may take, setup included: Sala's fanout setup alone registers and logs in
# 1,010 accounts (two argon2 hashes each) on one core.
declare -A full_limit=([fanout]=300 [fanout-200]=300 [idle]=300 [rooms]=240 [rooms-changes]=240 [fanout-changes]=300 [dms]=300 [churn]=120 [history]=180 [idle-max]=300 [files]=180 [files-20]=300 [search]=1500)
quick_limit=120

# How sala-bench reaches each server.
declare -A protocol_args=(
  [sala]=""
  [sala-socketio]="--protocol socketio"
  [sala-postgres]=""
  [sala-mysql]=""
  [rust-bare]="--target peer"
  [node-socketio]="--target peer --protocol socketio"
  [fastapi-ws]="--target peer"
)

usage() {
  echo "usage: scripts/bench.sh [--quick] [--only SERVER,...] [--scenarios NAME,...]"
  echo "       scripts/bench.sh --report DIR"
  echo "  SERVER: ${all_servers[*]}"
  echo "  NAME:   ${all_scenarios[*]}"
}

# Whether word $1 is one of the rest.
one_of() {
  local word=$1 item
  shift
  for item in "$@"; do
    [ "$item" = "$word" ] && return 0
  done
  return 1
}

quick=0
report_only=
servers=("${all_servers[@]}")
scenarios=("${all_scenarios[@]}")
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --only)
      IFS=, read -r -a servers <<<"${2:?--only needs SERVER,...}"
      shift
      ;;
    --scenarios)
      IFS=, read -r -a scenarios <<<"${2:?--scenarios needs NAME,...}"
      shift
      ;;
    --report)
      report_only=${2:?--report needs the results dir of a sitting}
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
  shift
done
for server in "${servers[@]}"; do
  one_of "$server" "${all_servers[@]}" || { echo "unknown server '$server'" >&2; usage >&2; exit 2; }
done
for scenario in "${scenarios[@]}"; do
  one_of "$scenario" "${all_scenarios[@]}" || { echo "unknown scenario '$scenario'" >&2; usage >&2; exit 2; }
done

# Combinations that make sense: history needs Sala's join + since, and idle-max is about
# Sala's own ceiling. (Socket.io against a plain-WebSocket peer, or /ws against the
# Socket.io peer, cannot happen: each server has one protocol above.)
applies() {
  local server=$1 scenario=$2
  case "$scenario" in
    history | idle-max | rooms-changes | fanout-changes) [ "$server" = sala ] ;;
    # Sala's own features, on each store: the peers keep no files and no messages.
    files | files-20 | search) one_of "$server" sala sala-postgres sala-mysql ;;
    # What the store changes: the writes (the rest is the same server as `sala`).
    *) ! one_of "$server" sala-postgres sala-mysql || one_of "$scenario" rooms dms fanout ;;
  esac
}

# Writes the Markdown section into docs/benchmarks.md from the files of the sitting in $1, and
# prints its table.
write_report() {
  python3 scripts/bench_report.py "$1" docs/benchmarks.md
}

if [ -n "$report_only" ]; then
  write_report "$report_only"
  exit 0
fi

# SALA_BIN=PATH runs that build of sala instead of this checkout's (to compare two commits
# in one sitting: build each, copy its target/release/sala aside, run once with each).
if [ -n "${SALA_BIN:-}" ]; then
  cargo build --release --locked -p sala-bench >&2
  sala=$(realpath "$SALA_BIN")
else
  cargo build --release --locked -p sala -p sala-bench >&2
  sala=$repo/target/release/sala
fi
bench=$repo/target/release/sala-bench

# For _sala_free_port and _sala_stop_pid, and PostgreSQL for sala-postgres.
# shellcheck source=scripts/services.sh
source scripts/services.sh

# The peers are built outside the repository so their build outputs never reach git, and
# only when missing, since a rust-bare build with fat LTO takes a minute.
peers_src=$(git rev-parse --show-toplevel)/../shared/peers
peers=${SALA_BENCH_PEERS:-/tmp/sala-bench-peers}
prepare_peer() {
  local name=$1 dir=$peers/$1
  mkdir -p "$dir"
  # shared/ is read-only: without --no-preserve=mode the copy would be too, and neither npm
  # nor pip could write beside it as a non-root user.
  cp -R --no-preserve=mode "$peers_src/$name/." "$dir/"
  case "$name" in
    rust-bare)
      if [ ! -x "$dir/target/release/rust-bare" ]; then
        (cd "$dir" && CARGO_TARGET_DIR="$dir/target" cargo build --release --locked) >&2
      fi
      ;;
    node-socketio)
      if [ ! -d "$dir/node_modules" ]; then
        (cd "$dir" && npm ci --no-audit --no-fund) >&2
      fi
      ;;
    fastapi-ws)
      if [ ! -x "$dir/venv/bin/uvicorn" ]; then
        (cd "$dir" && python3 -m venv venv && ./venv/bin/pip install -q -r requirements-lock.txt) >&2
      fi
      ;;
  esac
}
for server in "${servers[@]}"; do
  case "$server" in sala | sala-socketio | sala-postgres | sala-mysql) ;; *) prepare_peer "$server" ;; esac
done

# The peers do not raise their own open-file soft limit (Sala and sala-bench do), and the
# idle scenario holds 10,000 connections; children inherit this.
ulimit -n "$(ulimit -Hn)"

stamp=$(date -u +%Y-%m-%dT%H%M%SZ)
if [ "$quick" = 1 ]; then
  stamp+=-quick
fi
out=${SALA_BENCH_OUT:-/tmp/sala-bench-results}/$stamp
mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/sala-bench.XXXXXX")

server_pid=
server_data=
server_url=
stop_server() {
  if [ -n "$server_pid" ]; then
    # Sala finishes in-flight requests on SIGTERM; a server still up after 10 s is killed.
    _sala_stop_pid "$server_pid" TERM 100 || _sala_stop_pid "$server_pid" KILL 50 || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
  fi
  if [ -n "$server_data" ]; then
    rm -rf "$server_data"
    server_data=
  fi
}
cleanup() {
  stop_server
  stop_services
  rm -rf "$work"
}
trap cleanup EXIT

# sala-postgres: one PostgreSQL for the sitting, as durable as its defaults (a benchmark
# measures what a deployment would run), and a fresh database for each run.
if one_of sala-postgres "${servers[@]}"; then
  SALA_PG_DURABLE=1 start_postgres >&2
fi
# sala-mysql: the same with MariaDB, durable (SALA_MYSQL_DURABLE=1: its defaults).
if one_of sala-mysql "${servers[@]}"; then
  SALA_MYSQL_DURABLE=1 start_mariadb >&2
fi
fresh_mysql_database() {
  local name
  name=bench_$(date +%s%N)
  mariadb --no-defaults --socket="$SALA_MYSQL_DIR/mysqld.sock" -u root -e "CREATE DATABASE $name" >&2
  echo "$SALA_TEST_MYSQL_URL$name"
}
fresh_postgres_database() {
  # Called in $(...): a counter would not survive the subshell, the clock does.
  local name
  name=bench_$(date +%s%N)
  psql -q -v ON_ERROR_STOP=1 "$SALA_TEST_POSTGRES_URL" -c "CREATE DATABASE $name" >&2
  echo "${SALA_TEST_POSTGRES_URL%/*}/$name"
}

# Starts a fresh server process on CPU 0, logging to $2; sets server_pid and server_url, and
# records its command line (port and data dir as placeholders) in servers.tsv the first
# time. Returns 1 when it does not answer its health check within 30 s.
start_server() {
  local name=$1 log=$2 port health=/health
  local -a cmd
  port=$(_sala_free_port)
  case "$name" in
    sala | sala-socketio | sala-postgres | sala-mysql)
      server_data=$(mktemp -d "$work/data.XXXXXX")
      cmd=("$sala" serve --port "$port" --data-dir "$server_data"
        --send-rate 1000000 --send-burst 1000000 --registrations-per-hour 1000000 --login-failures-per-address 1000000 --socketio-sessions-per-minute 1000000 --max-connections-per-address 1000000 --command-rate 1000000 --command-burst 1000000 --max-connections-per-user 1000000
        --rooms-per-hour 1000000 --log-format json)
      if [ "$name" = sala-postgres ]; then
        cmd+=(--database-url "$(fresh_postgres_database)")
      elif [ "$name" = sala-mysql ]; then
        cmd+=(--database-url "$(fresh_mysql_database)")
      fi
      health=/healthz
      ;;
    rust-bare) cmd=(env "PORT=$port" "$peers/rust-bare/target/release/rust-bare") ;;
    node-socketio) cmd=(env "PORT=$port" node "$peers/node-socketio/server.js") ;;
    fastapi-ws)
      cmd=("$peers/fastapi-ws/venv/bin/uvicorn" app:app --app-dir "$peers/fastapi-ws"
        --host 127.0.0.1 --port "$port" --log-level warning)
      ;;
  esac
  # taskset and env exec what they run, so $! is the server's own pid (--server-pid).
  taskset -c 0 "${cmd[@]}" >"$log" 2>&1 &
  server_pid=$!
  server_url=http://127.0.0.1:$port

  if ! grep -q "^$name"$'\t' "$out/servers.tsv" 2>/dev/null; then
    local shown="taskset -c 0 ${cmd[*]}"
    # The data dir first: its random name could contain the port's digits.
    if [ -n "$server_data" ]; then
      shown=${shown//"$server_data"/\$(mktemp -d)}
    fi
    if [ -n "${SALA_TEST_POSTGRES_URL:-}" ]; then
      shown=${shown//"${SALA_TEST_POSTGRES_URL%/*}"/postgres://postgres@127.0.0.1:\$PG_PORT}
    fi
    if [ -n "${SALA_TEST_MYSQL_URL:-}" ]; then
      shown=${shown//"$SALA_TEST_MYSQL_URL"/mysql://sala:sala@127.0.0.1:\$MYSQL_PORT/}
    fi
    shown=${shown//"$repo"\//}
    shown=${shown//"$peers"/\$PEERS}
    shown=${shown//"$port"/\$PORT}
    printf '%s\t%s\n' "$name" "$shown" >>"$out/servers.tsv"
  fi

  for _ in $(seq 1 300); do
    if curl -fsS --max-time 1 -o /dev/null "$server_url$health" 2>/dev/null; then
      return 0
    fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  return 1
}

# One run: a fresh server, sala-bench against it, the server stopped. Appends a line to
# runs.tsv (server, scenario, ok|failed, seconds, ERROR lines in Sala's log, reason).
failures=0
run_one() {
  local server=$1 scenario=$2 base=$out/$1-$2
  local -a args extra
  local limit rc=0 reason= status=ok errors=- started=$SECONDS json
  if [ "$quick" = 1 ]; then
    read -r -a args <<<"${small[$scenario]}"
    limit=$quick_limit
  else
    read -r -a args <<<"${full[$scenario]}"
    limit=${full_limit[$scenario]}
  fi
  read -r -a extra <<<"${protocol_args[$server]}"
  echo "== $server / $scenario" >&2

  if start_server "$server" "$base.server.log"; then
    timeout --kill-after=10 "$limit" taskset -c 1 "$bench" "${args[@]}" \
      --server "$server_url" --server-pid "$server_pid" "${extra[@]}" >"$base.txt" 2>&1 || rc=$?
    json=$(grep '^{' "$base.txt" | tail -n 1 || true)
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
      reason="timed out after $limit s"
    elif [ "$rc" -ne 0 ]; then
      reason="sala-bench exited with $rc: $(grep -v '^{' "$base.txt" | tail -n 1)"
    elif [ -z "$json" ]; then
      reason="sala-bench printed no JSON line"
    fi
    # Shown here so a long sitting can be followed; the JSON line is for the table.
    grep -v '^{' "$base.txt" | sed 's/^/   /' >&2 || true
  else
    reason="server did not answer its health check within 30 s: $(tail -n 1 "$base.server.log")"
  fi
  stop_server

  case "$server" in
    sala | sala-socketio)
      errors=$(grep -c '"level":"ERROR"' "$base.server.log" || true)
      echo "   Sala's log: $errors ERROR lines" >&2
      ;;
  esac
  if [ -n "$reason" ]; then
    status=failed
    failures=$((failures + 1))
    echo "   FAILED: $reason" >&2
    python3 -c 'import json, sys; print(json.dumps({"run_failed": sys.argv[1]}))' "$reason" >"$base.json"
  else
    printf '%s\n' "$json" >"$base.json"
  fi
  reason=${reason//$'\t'/ }
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$server" "$scenario" "$status" "$((SECONDS - started))" \
    "$errors" "${reason//$'\n'/ }" >>"$out/runs.tsv"
}

# The version of crate $2 in Cargo.lock $1.
lock_version() {
  awk -v name="$2" '$0 == "name = \"" name "\"" { getline; gsub(/version = |"/, ""); print; exit }' "$1"
}

# The machine and the software, for the section's header.
{
  printf 'date\t%s\n' "$(date -u +%Y-%m-%d)"
  printf 'nproc\t%s\n' "$(nproc)"
  printf 'cpu\t%s\n' "$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)"
  printf 'kernel\t%s\n' "$(uname -sr)"
  printf 'memory\t%s\n' "$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
  printf 'nofile\t%s\n' "$(ulimit -Hn)"
  printf 'rustc\t%s\n' "$(rustc --version)"
  printf 'node\t%s\n' "$(node --version 2>/dev/null || echo none)"
  printf 'python\t%s\n' "$(python3 --version)"
  printf 'sala\t%s\n' "$(git describe --always --dirty)"
  # The stacks of the peers measured in this sitting.
  if one_of rust-bare "${servers[@]}"; then
    printf 'rust-bare\ttokio %s, tokio-tungstenite %s\n' \
      "$(lock_version "$peers/rust-bare/Cargo.lock" tokio)" \
      "$(lock_version "$peers/rust-bare/Cargo.lock" tokio-tungstenite)"
  fi
  if one_of node-socketio "${servers[@]}"; then
    printf 'node-socketio\t%s\n' "$(cd "$peers/node-socketio" && node -p \
      "['express', 'socket.io', 'jsonwebtoken'].map(p => p + ' ' + require(p + '/package.json').version).join(', ')")"
  fi
  if one_of fastapi-ws "${servers[@]}"; then
    printf 'fastapi-ws\t%s\n' "$("$peers/fastapi-ws/venv/bin/python" -c \
      'from importlib.metadata import version as v; print(", ".join(p + " " + v(p) for p in ("fastapi", "uvicorn", "uvloop", "PyJWT")))')"
  fi
} >"$out/sitting.tsv"

# Written before the runs, so that --report can still use an interrupted sitting.
printf 'quick\t%s\n' "$quick" >>"$out/sitting.tsv"
for scenario in "${scenarios[@]}"; do
  if [ "$quick" = 1 ]; then line=${small[$scenario]}; else line=${full[$scenario]}; fi
  printf '%s\t%s\n' "$scenario" "$line" >>"$out/commands.tsv"
done

# Scenario by scenario, every server in turn, so a disturbance in the middle of the sitting
# hits one scenario's row rather than one server's column.
started=$SECONDS
for scenario in "${scenarios[@]}"; do
  for server in "${servers[@]}"; do
    if applies "$server" "$scenario"; then
      run_one "$server" "$scenario"
    fi
  done
done
printf 'minutes\t%s\n' "$(((SECONDS - started + 30) / 60))" >>"$out/sitting.tsv"

write_report "$out"
echo "results: $out; section written to docs/benchmarks.md" >&2
if [ "$failures" -gt 0 ]; then
  echo "$failures run(s) failed" >&2
  exit 1
fi
