#!/usr/bin/env bash
# The soak run (issue 10): Sala under a steady load, with connections coming and going, for
# a long time. It must lose no acked message and its memory must not grow after warm-up.
#
#   scripts/soak.sh [--duration S] [--connections N] [--rooms R] [--rate M] [--churn-per-sec C]
#                   [--interval S] [--protocol ws|socketio] [-- more `sala-bench soak` options]
#
# Defaults, the issue's: 2,000 connections across 50 rooms for 600 s, 100 messages a second
# in all (each acked, and owed to every member of its room), 10 more connections a second
# that connect, join a room, and go (half close cleanly, half drop the socket), and a line
# every 30 s with the deliveries, losses, latency percentiles, churn and server RSS of the
# window. The environment can set the same: DURATION, CONNECTIONS, ROOMS, RATE, CHURN,
# INTERVAL, PROTOCOL (arguments win). A short run: DURATION=60 CONNECTIONS=200 scripts/soak.sh
#
# It builds the release binaries, starts `sala serve` on a free loopback port with a fresh
# temp data dir, pinned to CPU 0, with the send limits raised as in scripts/bench.sh (the
# connections-per-user and rooms-per-hour caps stay at their defaults: sala-bench spreads
# the connections and room creations over enough users), and runs `sala-bench soak` pinned
# to CPU 1 with --server-pid. Everything it prints is shown and kept in
# ${SALA_SOAK_OUT:-/tmp/sala-soak}/<time>.log, the server's log beside it (.server.log). The
# server is stopped by its pid and the data dir removed at the end, whatever happens.
#
# Exits with sala-bench's status: 1 when an acked message was lost, duplicated or misrouted
# (or the run could not be set up); 2 on bad arguments.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${DURATION:-600}
connections=${CONNECTIONS:-2000}
rooms=${ROOMS:-50}
rate=${RATE:-100}
churn=${CHURN:-10}
interval=${INTERVAL:-30}
protocol=${PROTOCOL:-ws}
extra=()

usage() {
  sed -n '5,6p' "$0" | sed 's/^# //'
}

while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=${2:?--duration needs seconds}; shift ;;
    --connections) connections=${2:?--connections needs a number}; shift ;;
    --rooms) rooms=${2:?--rooms needs a number}; shift ;;
    --rate) rate=${2:?--rate needs messages per second}; shift ;;
    --churn-per-sec) churn=${2:?--churn-per-sec needs a number}; shift ;;
    --interval) interval=${2:?--interval needs seconds}; shift ;;
    --protocol) protocol=${2:?--protocol needs ws or socketio}; shift ;;
    --) shift; extra=("$@"); break ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
  shift
done
for number in "$duration" "$connections" "$rooms" "$rate" "$interval"; do
  case "$number" in
    '' | *[!0-9]*) echo "not a whole number: '$number'" >&2; usage >&2; exit 2 ;;
  esac
done

cargo build --release --locked -p sala -p sala-bench >&2
sala=target/release/sala
bench=target/release/sala-bench

# For _sala_free_port and _sala_stop_pid; no service is started from it here.
# shellcheck source=scripts/services.sh
source scripts/services.sh

# Server on CPU 0, load generator on CPU 1, as in scripts/bench.sh; unpinned without taskset
# or with one CPU.
server_cpu=()
bench_cpu=()
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
  server_cpu=(taskset -c 0)
  bench_cpu=(taskset -c 1)
fi

out=${SALA_SOAK_OUT:-/tmp/sala-soak}
mkdir -p "$out"
log=$out/$(date -u +%Y-%m-%dT%H%M%SZ).log
server_log=${log%.log}.server.log
data=$(mktemp -d "${TMPDIR:-/tmp}/sala-soak.XXXXXX")

server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then
    # Sala finishes in-flight work on SIGTERM; a server still up after 10 s is killed.
    _sala_stop_pid "$server_pid" TERM 100 || _sala_stop_pid "$server_pid" KILL 50 || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
  fi
  rm -rf "$data"
}
trap cleanup EXIT

port=$(_sala_free_port)
server=http://127.0.0.1:$port
# taskset execs what it runs, so $! is the server's own pid (--server-pid).
"${server_cpu[@]}" "$sala" serve --port "$port" --data-dir "$data" \
  --send-rate 1000000 --send-burst 1000000 --registrations-per-hour 1000000 --login-failures-per-address 1000000 --socketio-sessions-per-minute 1000000 --max-connections-per-address 1000000 --command-rate 1000000 --command-burst 1000000 --log-format json >"$server_log" 2>&1 &
server_pid=$!
healthy=0
for _ in $(seq 1 300); do
  if curl -fsS --max-time 1 -o /dev/null "$server/healthz" 2>/dev/null; then
    healthy=1
    break
  fi
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if [ "$healthy" != 1 ]; then
  echo "the server did not answer /healthz within 30 s; its log:" >&2
  tail -n 20 "$server_log" >&2
  exit 1
fi

cmd=("${bench_cpu[@]}" "$bench" soak --server "$server" --server-pid "$server_pid"
  --protocol "$protocol" --connections "$connections" --rooms "$rooms" --rate "$rate"
  --churn-per-sec "$churn" --duration "$duration" --interval "$interval" "${extra[@]}")
{
  echo "# scripts/soak.sh, $(date -u +%Y-%m-%dT%H:%M:%SZ), Sala at $(git describe --always --dirty)"
  echo "# $(nproc) CPUs, $(uname -sr); server pid $server_pid, log $server_log"
  echo "# ${server_cpu[*]} $sala serve --port $port --data-dir \$(mktemp -d) --send-rate 1000000 --send-burst 1000000 --registrations-per-hour 1000000 --login-failures-per-address 1000000 --socketio-sessions-per-minute 1000000 --max-connections-per-address 1000000 --command-rate 1000000 --command-burst 1000000 --log-format json"
  echo "# ${cmd[*]}"
} | tee "$log"

# Bounded: the run, plus time for setting up (logins cost the server an argon2 hash each)
# and draining.
rc=0
timeout --kill-after=10 "$((duration + 900))" "${cmd[@]}" 2>&1 | tee -a "$log" || rc=${PIPESTATUS[0]}

errors=$(grep -c '"level":"ERROR"' "$server_log" || true)
warnings=$(grep -c '"level":"WARN"' "$server_log" || true)
if ! kill -0 "$server_pid" 2>/dev/null; then
  echo "the server is no longer running; the end of its log:" | tee -a "$log"
  tail -n 20 "$server_log" | tee -a "$log"
fi
{
  echo "server log: $errors ERROR and $warnings WARN lines ($server_log)"
  case "$rc" in
    0) echo "soak passed" ;;
    124 | 137) echo "soak FAILED: timed out after $((duration + 900)) s" ;;
    *) echo "soak FAILED: sala-bench exited with $rc" ;;
  esac
  echo "output kept in $log"
} | tee -a "$log"
exit "$rc"
