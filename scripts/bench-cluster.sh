#!/usr/bin/env bash
# The fan-out benchmark on PostgreSQL, on one node and across two (SPEC §7, docs/benchmarks.md).
#
#   scripts/bench-cluster.sh LAYOUT [sala-bench fanout options...]
#
# LAYOUT:
#   sqlite    one node on its embedded SQLite (the single-node reference, same sitting)
#   one       one node on PostgreSQL, linked to Redis (it publishes; nobody listens)
#   two       two nodes on PostgreSQL + Redis: publishers connect to node A, subscribers to
#             node B, so every delivery to a subscriber crosses nodes
#
# Everything runs on loopback. The servers (Sala, PostgreSQL, Redis) are pinned to CPU 0 and
# sala-bench to CPU 1, as in ../shared/peers/RESULTS.md. PostgreSQL runs with its durable
# defaults (fsync on every commit), in a fresh temp dir, with a fresh database per run; every
# process this script starts is stopped at the end, by pid. Prints sala-bench's summary and
# its final JSON line.
set -euo pipefail
cd "$(dirname "$0")/.."

layout=${1:?usage: scripts/bench-cluster.sh sqlite|one|two [sala-bench fanout options]}
shift
case "$layout" in sqlite | one | two) ;; *) echo "unknown layout '$layout'" >&2; exit 2 ;; esac

cargo build --release --locked -p sala -p sala-bench >&2
sala=target/release/sala
bench=target/release/sala-bench

source scripts/services.sh
node_pids=()
work=$(mktemp -d "${TMPDIR:-/tmp}/sala-bench-cluster.XXXXXX")
cleanup() {
  for pid in "${node_pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  stop_services
  rm -rf "$work"
}
trap cleanup EXIT

db_args=()
redis_args=()
if [ "$layout" != sqlite ]; then
  SALA_PG_DURABLE=1 start_postgres >&2
  start_redis >&2
  # Pinned before Sala connects: PostgreSQL's backends are forked from the postmaster and
  # inherit its CPU set.
  taskset -apc 0 "$SALA_PG_PID" >/dev/null
  taskset -apc 0 "$SALA_REDIS_PID" >/dev/null
  admin=$SALA_TEST_POSTGRES_URL
  database="sala_bench_$$"
  psql -q "$admin" -c "CREATE DATABASE $database" >&2
  db_args=(--database-url "${admin%/postgres}/$database")
  redis_args=(--redis-url "$SALA_TEST_REDIS_URL" --redis-prefix "bench-$$")
fi

# Starts a node on CPU 0; sets `port` and `pid`.
start_node() {
  local name=$1
  port=$(_sala_free_port)
  mkdir -p "$work/$name"
  taskset -c 0 "$sala" serve --port "$port" --data-dir "$work/$name" \
    --send-rate 1000000 --send-burst 1000000 --registrations-per-hour 1000000 --login-failures-per-address 1000000 --socketio-sessions-per-minute 1000000 --max-connections-per-address 1000000 --command-rate 1000000 --command-burst 1000000 --max-connections-per-user 1000000 \
    --rooms-per-hour 1000000 --log-format json \
    --jwt-secret "bench-cluster-secret-0123456789abcdef" \
    "${db_args[@]}" "${redis_args[@]}" >"$work/$name.log" 2>&1 &
  pid=$!
  node_pids+=("$pid")
  for _ in $(seq 1 300); do
    if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "node $name did not start:" >&2
  tail -n 20 "$work/$name.log" >&2
  exit 1
}

start_node a
port_a=$port
pid_a=$pid
servers=(--server "http://127.0.0.1:$port_a" --server-pid "$pid_a")
if [ "$layout" = two ]; then
  start_node b
  servers=(--server "http://127.0.0.1:$port" --server-pid "$pid" --publish-server "http://127.0.0.1:$port_a")
fi

taskset -c 1 "$bench" fanout "${servers[@]}" "$@"

for log in "$work"/*.log; do
  errors=$(grep -c '"level":"ERROR"' "$log" || true)
  echo "$(basename "$log"): $errors error lines" >&2
done
