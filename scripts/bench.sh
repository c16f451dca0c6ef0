#!/usr/bin/env bash
# Sala beside the reference servers, in one sitting (issue 9; docs/benchmarks.md).
#
#   scripts/bench.sh [--quick] [--only SERVER,...] [--scenarios NAME,...]
#
# SERVER (default: all):
#   sala            Sala over /ws
#   sala-socketio   Sala over Socket.io
#   rust-bare       the reference servers of ../shared/peers: the ceiling,
#   node-socketio   Node.js + Express + socket.io,
#   fastapi-ws      and FastAPI + uvicorn
# NAME (default: all):
#   fanout          one room, 1,000 subscribers + 10 publishers, closed loop
#   fanout-200      the same, open loop at 200 msg/s (202,000 deliveries/s offered)
#   idle            10,000 joined connections held: server memory per connection
#   rooms           100 rooms of 2 members, one publishing in each, closed loop
#   churn           200 connections opened (and closed a second later) per second
#   history         resuming with join + since while the room is busy (Sala /ws only)
#   idle-max        19,000 joined connections, near the open-file limit (Sala /ws only)
# --quick           every run shrunk (50 connections, 3 s): checks this script, measures nothing
#
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

all_servers=(sala sala-socketio rust-bare node-socketio fastapi-ws)
all_scenarios=(fanout fanout-200 idle rooms churn history idle-max)

# What each scenario asks of sala-bench: the subcommand, then its options. The full sizes
# are the issue's (1,000 subscribers + 10 publishers, as in RESULTS.md); --users 50 keeps
# Sala's setup short where one login per connection would mean thousands of argon2 hashes
# (the peers take it too, so one command line serves every server).
declare -A full=(
  [fanout]="fanout --subscribers 1000 --publishers 10 --duration 20 --drain 10"
  [fanout-200]="fanout --subscribers 1000 --publishers 10 --duration 20 --drain 10 --rate 200"
  [idle]="idle --connections 10000 --hold 10 --users 50"
  [rooms]="rooms --rooms 100 --members 2 --publishers-per-room 1 --duration 20"
  [churn]="churn --connections-per-sec 200 --duration 10"
  [history]="history"
  [idle-max]="idle --connections 19000 --sources 2 --hold 10 --users 50"
)
declare -A small=(
  [fanout]="fanout --subscribers 45 --publishers 5 --duration 3 --drain 3"
  [fanout-200]="fanout --subscribers 45 --publishers 5 --duration 3 --drain 3 --rate 200"
  [idle]="idle --connections 50 --hold 1 --users 50"
  [rooms]="rooms --rooms 25 --members 2 --publishers-per-room 1 --duration 3 --drain 3"
  [churn]="churn --connections-per-sec 20 --duration 3"
  [history]="history --backlog 200 --duration 3"
  [idle-max]="idle --connections 100 --sources 2 --hold 1 --users 50"
)
# Seconds one run may take, setup included: Sala's fanout setup alone registers and logs in
# 1,010 accounts (two argon2 hashes each) on one core.
declare -A full_limit=([fanout]=300 [fanout-200]=300 [idle]=300 [rooms]=240 [churn]=120 [history]=180 [idle-max]=300)
quick_limit=120

# How sala-bench reaches each server.
declare -A protocol_args=(
  [sala]=""
  [sala-socketio]="--protocol socketio"
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
    history | idle-max) [ "$server" = sala ] ;;
    *) return 0 ;;
  esac
}

# Writes the Markdown section into docs/benchmarks.md from the files of the sitting in $1, and
# prints its table.
write_report() {
  python3 - "$1" docs/benchmarks.md <<'PY'
import json
import re
import sys
import textwrap
from pathlib import Path

out, doc = Path(sys.argv[1]), Path(sys.argv[2])

SERVERS = ["sala", "sala-socketio", "rust-bare", "node-socketio", "fastapi-ws"]
TITLES = {
    "sala": "Sala /ws",
    "sala-socketio": "Sala Socket.io",
    "rust-bare": "rust-bare",
    "node-socketio": "node-socketio",
    "fastapi-ws": "fastapi-ws",
}
ONLY_SALA = {"history", "idle-max"}


def tsv(name):
    path = out / name
    if not path.exists():
        return []
    return [line.rstrip("\n").split("\t") for line in path.read_text().splitlines() if line]


sitting = {key: value for key, value in tsv("sitting.tsv")}
runs = {(row[0], row[1]): row[2:] for row in tsv("runs.tsv")}
commands = tsv("commands.tsv")
starts = tsv("servers.tsv")
scenarios_run = [scenario for scenario, _ in commands]

# Every run's JSON, in the order they ran; a failed run is numbered for its footnote.
results, footnotes = {}, []
for server, scenario in runs:
    data = json.loads((out / f"{server}-{scenario}.json").read_text())
    if "run_failed" in data:
        footnotes.append(f"{TITLES[server]}, {scenario}: {data['run_failed']}")
        data = f"failed ({len(footnotes)})"
    results[server, scenario] = data


def result(server, scenario):
    """The run's JSON, or the cell's text when there is none."""
    if scenario in ONLY_SALA and server != "sala":
        return "–"
    return results.get((server, scenario), "not run")


def rate(x):
    if x >= 1e6:
        return f"{x / 1e6:.2f} M"
    if x >= 1e4:
        return f"{x / 1e3:.0f} k"
    if x >= 1e3:
        return f"{x / 1e3:.1f} k"
    return f"{x:.0f}"


def ms(x):
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}"


def latency(r, key="latency"):
    return f"{ms(r[key]['p50_ms'])} / {ms(r[key]['p99_ms'])}"


def undelivered(r):
    return f"{r['undelivered']:,} of {r['deliveries_expected']:,}"


def undelivered_pct(r):
    expected = r["deliveries_expected"] or 1
    return f"{100 * r['undelivered'] / expected:.1f} %"


def per_connection(r):
    kib = r.get("rss_per_connection_kib")
    cell = f"{kib:.1f}" if kib is not None else "no RSS"
    if r["connections_open"] < r["connections"]:
        cell += f" ({r['connections_open']:,} of {r['connections']:,} open)"
    return cell


def rooms_messages(r):
    # Sala acks a message once it is stored; a peer acks nothing, so its figure is the
    # messages that reached their whole room.
    if r.get("acked_per_sec") is not None:
        return f"{rate(r['acked_per_sec'])} acked"
    return f"{rate(r['deliveries_per_sec'] / r['members_per_room'])} delivered"


def held(r):
    kib = r.get("rss_per_connection_kib")
    return f"{r['connections_open']:,} of {r['connections']:,}; " + (f"{kib:.1f} KiB" if kib is not None else "no RSS")


def ceiling(server):
    """What Sala logged at start as its connection ceiling (the idle-max run's log)."""
    log = out / f"{server}-idle-max.server.log"
    if not log.exists():
        return "not run"
    for line in log.read_text().splitlines():
        if "open-file limit" in line:
            fields = json.loads(line).get("fields", {})
            if "max_connections" in fields:
                return f"{fields['max_connections']:,} (open files {fields['open_files']:,})"
            return fields.get("message", line)
    return "not logged"


# (label, scenario, cell) — one row per figure; a cell reads one run's JSON.
ROWS = [
    ("fanout ({subscribers:,} + {publishers} in one room), closed loop: deliveries/s", "fanout", lambda r: rate(r["deliveries_per_sec"])),
    ("↳ undelivered", "fanout", undelivered),
    ("↳ latency p50 / p99, ms", "fanout", latency),
    ("fanout, 200 msg/s: delivered/s", "fanout-200", lambda r: rate(r["deliveries_per_sec"])),
    ("↳ undelivered", "fanout-200", undelivered_pct),
    ("↳ latency p50 / p99, ms", "fanout-200", latency),
    ("idle ({connections:,} connections): server RSS per connection, KiB", "idle", per_connection),
    ("↳ connects/s", "idle", lambda r: rate(r["connects_per_sec"])),
    ("rooms ({rooms} × {members_per_room} members), closed loop: messages/s", "rooms", rooms_messages),
    ("↳ deliveries/s; p99 latency, ms", "rooms", lambda r: f"{rate(r['deliveries_per_sec'])}; {ms(r['latency']['p99_ms'])}"),
    ("churn ({connections_per_sec:g}/s offered): connects/s", "churn", lambda r: rate(r["connects_per_sec"]) + (f" ({r['failed']:,} failed)" if r["failed"] else "")),
    ("↳ connect latency p99, ms", "churn", lambda r: ms(r["connect_latency"]["p99_ms"])),
    ("history: joins/s; history errors", "history", lambda r: f"{rate(r['joins_per_sec'])}; {r['history_errors']}"),
    ("idle-max: connections held; server RSS per connection", "idle-max", held),
]


def cell(server, scenario, render):
    r = result(server, scenario)
    if isinstance(r, str):
        return r
    try:
        return render(r)
    except (KeyError, TypeError, ZeroDivisionError) as err:
        return f"unreadable ({err})"


def sized(label, scenario):
    """The label with the scenario's sizes, read from one of its runs (none ran: without)."""
    sample = next((r for (_, name), r in results.items() if name == scenario and isinstance(r, dict)), None)
    try:
        return label.format(**sample)
    except (TypeError, KeyError, ValueError):
        return re.sub(r" \([^()]*\{[^()]*\)", "", label)


present = [s for s in SERVERS if any(server == s for server, _ in runs)]
lines = [
    "| figure | " + " | ".join(TITLES[s] for s in present) + " |",
    "|---|" + "---|" * len(present),
]
for label, scenario, render in ROWS:
    if scenario not in scenarios_run:
        continue
    lines.append(f"| {sized(label, scenario)} | " + " | ".join(cell(s, scenario, render) for s in present) + " |")
if "idle-max" in scenarios_run:
    lines.append("| ↳ connection ceiling Sala logged at start | "
                 + " | ".join(ceiling(s) if s == "sala" else "–" for s in present) + " |")
errors = []
for s in present:
    if s.startswith("sala"):
        counts = [(scenario, row[2]) for (server, scenario), row in runs.items() if server == s]
        total = sum(int(n) for _, n in counts if n.isdigit())
        detail = ", ".join(f"{scenario} {n}" for scenario, n in counts if n not in ("0", "-"))
        errors.append(f"{total}" + (f" ({detail})" if detail else ""))
    else:
        errors.append("–")
lines.append("| server log: ERROR lines, all runs | " + " | ".join(errors) + " |")
table = "\n".join(lines)

# Counters that should be zero, per run: read them before trusting a figure.
remarks = []
for (server, scenario), r in results.items():
    if isinstance(r, str):
        continue
    said = []
    if scenario == "rooms" and r.get("undelivered"):
        said.append(f"undelivered {r['undelivered']:,} of {r['deliveries_expected']:,}")
    for key in ("error_frames", "connections_dropped", "connect_failures", "dropped_while_held",
                "dropped_early", "join_failures", "unacked", "skipped_at_open_file_limit"):
        if r.get(key):
            said.append(f"{key.replace('_', ' ')} {r[key]:,}")
    steady = r.get("steady") or {}
    for key in ("undelivered", "error_frames", "connections_dropped"):
        if steady.get(key):
            said.append(f"steady members: {key.replace('_', ' ')} {steady[key]:,}")
    for key in ("first_error", "first_history_error"):
        if r.get(key):
            said.append(f"{key.replace('_', ' ')}: {r[key]}")
    if said:
        remarks.append(f"{TITLES[server]}, {scenario}: " + "; ".join(said))


def figure(server, scenario, pick):
    r = result(server, scenario)
    return None if isinstance(r, str) else pick(r)


def ratio(a, b):
    return f"{a / b:.2f} ×" if a is not None and b else "n/a"


closed = lambda r: r["deliveries_per_sec"]
sala_closed = figure("sala", "fanout", closed)
sala_p99 = figure("sala", "fanout-200", lambda r: r["latency"]["p99_ms"])
bare_p99 = figure("rust-bare", "fanout-200", lambda r: r["latency"]["p99_ms"])
sala_idle = figure("sala", "idle", lambda r: r.get("rss_per_connection_kib"))
idle_text = "n/a" if sala_idle is None else f"{sala_idle:.1f} KiB ({'met' if sala_idle <= 12 else 'not met'})"
ratios = (
    "Ratios from this sitting: Sala /ws closed loop ÷ node-socketio "
    f"**{ratio(sala_closed, figure('node-socketio', 'fanout', closed))}**, ÷ rust-bare "
    f"**{ratio(sala_closed, figure('rust-bare', 'fanout', closed))}**; Sala p99 at 200 msg/s ÷ "
    f"rust-bare's **{ratio(sala_p99, bare_p99)}**; Sala over Socket.io ÷ node-socketio "
    f"**{ratio(figure('sala-socketio', 'fanout', closed), figure('node-socketio', 'fanout', closed))}**; "
    f"Sala idle memory per connection (target ≤ 12 KiB) **{idle_text}**."
)

quick = sitting.get("quick") == "1"
stacks = "; ".join(f"{name}: {sitting[name]}" for name in ("rust-bare", "node-socketio", "fastapi-ws") if name in sitting)
start_lines = {}
for name, shown in starts:
    start_lines.setdefault(shown, []).append(name)
command_lines = [
    "# each server, a fresh process per run, on CPU 0 ($PEERS: the built copies of ../shared/peers):",
    *(f"{shown}    # {', '.join(names)}" for shown, names in start_lines.items()),
    "# sala-bench on CPU 1; S is --server http://127.0.0.1:$PORT --server-pid $PID; the peers add",
    "# --target peer, Sala over Socket.io and node-socketio add --protocol socketio:",
    *(f"taskset -c 1 target/release/sala-bench {args.split(' ', 1)[0]} $S {args.split(' ', 1)[1] if ' ' in args else ''}".rstrip()
      + f"    # {scenario}" for scenario, args in commands),
]


def para(text):
    """Prose wrapped like the rest of the document."""
    return textwrap.fill(text, width=92, break_on_hyphens=False)


def item(text, bullet="- "):
    return textwrap.fill(text, width=92, initial_indent=bullet, subsequent_indent=" " * len(bullet),
                         break_on_hyphens=False)


section = [f"## Side by side (scripts/bench.sh, {sitting['date']})", ""]
if quick:
    section += ["**A `--quick` run: tiny sizes that check the script; these are not measurements.**", ""]
section += [
    para(
        "Sala and the reference servers of `../shared/peers/`, measured in one sitting "
        + (f"of {sitting['minutes']} minutes " if "minutes" in sitting else "(interrupted) ")
        + "by `scripts/bench.sh`: every run on a fresh server process "
        "(for Sala, a fresh SQLite data dir) pinned to CPU 0, `sala-bench` pinned to CPU 1, "
        "loopback only, scenario by scenario with every server in turn. Each figure is one run; "
        "\"–\": the scenario does not apply to that server."
    ),
    "",
    item(
        f"Machine: {sitting['nproc']} CPUs ({sitting['cpu']}), {sitting['memory']} of memory, "
        f"{sitting['kernel']}, open-file hard limit {int(sitting['nofile']):,} per process."
    ),
    item(
        f"Versions: {sitting['rustc']}, node {sitting['node']}, {sitting['python']}; Sala at "
        f"`{sitting['sala']}`" + (f"; {stacks}" if stacks else "") + "."
    ),
    "",
    table,
    "",
    para(ratios),
]
if footnotes:
    section += ["", "Failed runs:", ""] + [item(text, f"{n}. ") for n, text in enumerate(footnotes, 1)]
if remarks:
    section += ["", "Counters that were not zero:", ""] + [item(text) for text in remarks]
section += ["", "Commands:", "", "```sh", *command_lines, "```"]
block = "<!-- bench.sh:begin -->\n" + "\n".join(section) + "\n<!-- bench.sh:end -->"

text = doc.read_text()
begin, end = "<!-- bench.sh:begin -->", "<!-- bench.sh:end -->"
if begin in text and end in text:
    before, rest = text.split(begin, 1)
    text = before + block + rest.split(end, 1)[1]
else:
    # First time: right after the intro, before the first section.
    first = re.search(r"^## ", text, re.M)
    at = first.start() if first else len(text)
    text = text[:at] + block + "\n\n" + text[at:]
doc.write_text(text)
print(table)
print()
print(ratios)
for n, note in enumerate(footnotes, 1):
    print(f"failed ({n}): {note}")
PY
}

if [ -n "$report_only" ]; then
  write_report "$report_only"
  exit 0
fi

cargo build --release --locked -p sala -p sala-bench >&2
sala=$repo/target/release/sala
bench=$repo/target/release/sala-bench

# For _sala_free_port and _sala_stop_pid; no service is started from it here.
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
  case "$server" in sala | sala-socketio) ;; *) prepare_peer "$server" ;; esac
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
  rm -rf "$work"
}
trap cleanup EXIT

# Starts a fresh server process on CPU 0, logging to $2; sets server_pid and server_url, and
# records its command line (port and data dir as placeholders) in servers.tsv the first
# time. Returns 1 when it does not answer its health check within 30 s.
start_server() {
  local name=$1 log=$2 port health=/health
  local -a cmd
  port=$(_sala_free_port)
  case "$name" in
    sala | sala-socketio)
      server_data=$(mktemp -d "$work/data.XXXXXX")
      cmd=("$sala" serve --port "$port" --data-dir "$server_data"
        --send-rate 1000000 --send-burst 1000000 --registrations-per-hour 1000000 --login-failures-per-address 1000000 --socketio-sessions-per-minute 1000000 --max-connections-per-address 1000000 --command-rate 1000000 --command-burst 1000000 --max-connections-per-user 1000000
        --rooms-per-hour 1000000 --log-format json)
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
