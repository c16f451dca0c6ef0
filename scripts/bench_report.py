"""Writes the benchmark sitting in DIR into docs/benchmarks.md, as ratios to the reference
servers, and prints its table. Called by scripts/bench.sh (also: bench.sh --report DIR).

Usage: python3 scripts/bench_report.py DIR docs/benchmarks.md
"""

import json
import re
import sys
import textwrap
from pathlib import Path

out, doc = Path(sys.argv[1]), Path(sys.argv[2])

SERVERS = ["sala", "sala-socketio", "sala-postgres", "sala-mysql", "rust-bare", "node-socketio", "fastapi-ws"]
TITLES = {
    "sala": "Sala /ws",
    "sala-socketio": "Sala Socket.io",
    "sala-postgres": "Sala /ws on PostgreSQL",
    "sala-mysql": "Sala /ws on MariaDB",
    "rust-bare": "rust-bare",
    "node-socketio": "node-socketio",
    "fastapi-ws": "fastapi-ws",
}
ONLY_SALA = {"history", "idle-max", "rooms-changes", "fanout-changes"}
# Sala's own features, measured on each of its stores.
SALA_STORES = {"files", "files-20", "search"}


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
    if scenario in SALA_STORES and server not in ("sala", "sala-postgres", "sala-mysql"):
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
    if x < 1:
        return f"{x:.2f}"
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}"


def latency(r, key="latency"):
    return f"{ms(r[key]['p50_ms'])} / {ms(r[key]['p99_ms'])}"


def mib(kib):
    return "no RSS" if kib is None else f"{kib / 1024:.0f}"


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
    ("fanout-changes ({changes_percent} % edits and reactions): deliveries/s, messages + changes", "fanout-changes", lambda r: f"{rate(r['all_deliveries_per_sec'])} ({rate(r['update_deliveries_per_sec'])} changes)"),
    ("↳ undelivered messages; p50 / p99, ms", "fanout-changes", lambda r: f"{undelivered(r)}; {latency(r)}"),
    ("idle ({connections:,} connections): server RSS per connection, KiB", "idle", per_connection),
    ("↳ connects/s", "idle", lambda r: rate(r["connects_per_sec"])),
    ("rooms ({rooms} × {members_per_room} members), closed loop: messages/s", "rooms", rooms_messages),
    ("↳ deliveries/s; p99 latency, ms", "rooms", lambda r: f"{rate(r['deliveries_per_sec'])}; {ms(r['latency']['p99_ms'])}"),
    ("rooms-changes ({changes_percent} % edits and reactions): writes acked/s (messages + changes)", "rooms-changes", lambda r: f"{rate(r['writes_acked_per_sec'])} ({rate(r['acked_per_sec'])} messages)"),
    ("dms ({rooms} DMs × {members_per_room}, all writing), closed loop: messages/s", "dms", rooms_messages),
    ("↳ deliveries/s; p99 latency, ms", "dms", lambda r: f"{rate(r['deliveries_per_sec'])}; {ms(r['latency']['p99_ms'])}"),
    ("churn ({connections_per_sec:g}/s offered): connects/s", "churn", lambda r: rate(r["connects_per_sec"]) + (f" ({r['failed']:,} failed)" if r["failed"] else "")),
    ("↳ connect latency p99, ms", "churn", lambda r: ms(r["connect_latency"]["p99_ms"])),
    ("history (resume within the newest {resume_within}): joins/s; messages a join; history errors", "history", lambda r: f"{rate(r['joins_per_sec'])}; {r['messages_per_join']:.0f}; {r['history_errors']}"),
    ("idle-max: connections held; server RSS per connection", "idle-max", held),
    ("files ({uploads} uploads of {size_bytes:,} B, one at a time): MiB/s; upload p50 / p99, ms", "files", lambda r: f"{r['mib_per_sec']:.0f}; {latency(r, 'upload_latency')}"),
    ("files-20 ({parallel} uploads at once): MiB/s; server RSS before → peak, MiB", "files-20", lambda r: f"{r['mib_per_sec']:.0f}; {mib(r['server_rss_kib_before'])} → {mib(r['server_rss_kib_peak'])}"),
    ("search ({messages:,} messages stored): stored/s while filling", "search", lambda r: rate(r["fill"]["messages_per_sec"])),
    ("↳ all searches, p50 / p99, ms", "search", latency),
    ("↳ common word / rare word / phrase, p50 / p99, ms", "search", lambda r: " · ".join(latency(r["kinds"], k) for k in ("common", "rare", "phrase"))),
    ("↳ absent word / 2 letters / 3 CJK characters, p50 / p99, ms", "search", lambda r: " · ".join(latency(r["kinds"], k) for k in ("absent", "short", "cjk"))),
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
    if scenario in ("rooms", "dms") and r.get("undelivered"):
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
# A room's messages: acked by Sala (stored), delivered to the whole room by a peer.
messages = lambda r: r["acked_per_sec"] if r.get("acked_per_sec") is not None else r["deliveries_per_sec"] / r["members_per_room"]
kib = lambda r: r.get("rss_per_connection_kib")


def against(value, target, better="higher"):
    """`value` beside its target: met or not."""
    if value is None:
        return "n/a"
    met = value >= target if better == "higher" else value <= target
    return f"{value:.2f} ({'met' if met else 'not met'}: target {'≥' if better == 'higher' else '≤'} {target:g})"


def quotient(a, b):
    return a / b if a is not None and b else None


def kib_text(value, target):
    return "n/a" if value is None else f"{value:.1f} KiB ({'met' if value <= target else 'not met'}: target ≤ {target:g})"


targets = [
    ("rooms, Sala's acked messages/s ÷ node-socketio's delivered",
     against(quotient(figure("sala", "rooms", messages), figure("node-socketio", "rooms", messages)), 1.5)),
    ("rooms, ÷ rust-bare's", against(quotient(figure("sala", "rooms", messages), figure("rust-bare", "rooms", messages)), 0.5)),
    ("rooms on PostgreSQL ÷ node-socketio's",
     against(quotient(figure("sala-postgres", "rooms", messages), figure("node-socketio", "rooms", messages)), 1.0)),
    ("DMs, Sala ÷ node-socketio", against(quotient(figure("sala", "dms", messages), figure("node-socketio", "dms", messages)), 1.5)),
    ("fan-out closed loop, Sala ÷ node-socketio",
     against(quotient(figure("sala", "fanout", closed), figure("node-socketio", "fanout", closed)), 20)),
    ("fan-out, ÷ rust-bare", against(quotient(figure("sala", "fanout", closed), figure("rust-bare", "fanout", closed)), 0.85)),
    ("idle memory per connection, Socket.io", kib_text(figure("sala-socketio", "idle", kib), 14)),
    ("idle memory per connection, /ws", kib_text(figure("sala", "idle", kib), 11)),
    ("connects/s on /ws ÷ rust-bare's",
     against(quotient(figure("sala", "idle", lambda r: r["connects_per_sec"]), figure("rust-bare", "idle", lambda r: r["connects_per_sec"])), 0.5)),
]
ratios = "Against the targets of issue 20, from this sitting: " + "; ".join(f"{what} **{value}**" for what, value in targets) + "."

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
