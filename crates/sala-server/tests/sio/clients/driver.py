"""python-socketio's client, driven over stdin/stdout by Sala's tests.

Each stdin line is a JSON command ({"emit", "data"?, "ack"?} or {"close": true}); every
event, ack and connection change is printed as one JSON line.
"""
import faulthandler
import json
import os
import sys

# If starting or connecting hangs, say where (on stderr, which the test shows) before the
# test gives up.
faulthandler.dump_traceback_later(20)

import threading  # noqa: E402

import socketio  # noqa: E402

url, transport = sys.argv[1], sys.argv[2]
token = os.environ.get("SALA_TOKEN")

# python-socketio runs every handler and ack callback in a thread of its own, and print()
# writes the text and the newline separately: two handlers at once (the `connect` handler
# and the server's `ready` event, or an ack and its echo) could run their lines together,
# and the test could read neither. One line at a time.
out_lock = threading.Lock()


def out(value):
    with out_lock:
        print(json.dumps(value), flush=True)


client = socketio.Client(reconnection=False)


@client.event
def connect():
    out({"event": "connect", "transport": client.transport()})


@client.event
def connect_error(data):
    message = data.get("message") if isinstance(data, dict) else data
    out({"event": "connect_error", "message": str(message)})


@client.event
def disconnect(*_):
    out({"event": "disconnect"})


@client.on("*")
def any_event(event, *args):
    out({"event": event, "data": args[0] if args else None})


try:
    client.connect(url, auth={"token": token} if token else None, transports=[transport], wait_timeout=10)
except socketio.exceptions.ConnectionError as error:
    out({"event": "connect_error", "message": str(error)})
    sys.exit(0)
faulthandler.cancel_dump_traceback_later()

for line in sys.stdin:
    command = json.loads(line)
    if command.get("close"):
        break
    if command.get("ack"):
        number = command["ack"]
        client.emit(command["emit"], command.get("data"),
                    callback=lambda *reply, number=number: out({"ack": number, "data": reply[0] if reply else None}))
    else:
        client.emit(command["emit"], command.get("data"))
client.disconnect()
