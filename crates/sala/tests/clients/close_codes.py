"""Sala's close codes as a Python client sees them (websocket-client, a plain blocking
client of the kind the replaced systems' scripts used): for each case, TRIES connections
each send one bad frame and read until the close frame; prints one JSON object of
{case: {outcome: count}}, an outcome being the close code or the exception's name.

Usage: close_codes.py BASE_URL TOKEN TRIES
"""

import collections
import json
import sys

import websocket

base, token, tries = sys.argv[1], sys.argv[2], int(sys.argv[3])
url = base.replace("http", "ws", 1) + "/ws"
bearer = [f"Authorization: Bearer {token}"]

CASES = {
    "1009 over 64 KiB": (bearer, lambda ws: ws.send("x" * (70 * 1024))),
    "1003 binary": (bearer, lambda ws: ws.send_binary(b"\x01\x02\x03")),
    "1007 not UTF-8": (bearer, lambda ws: ws.send(b"\xff\xfe\xfd", opcode=websocket.ABNF.OPCODE_TEXT)),
    "1008 bad auth frame": ([], lambda ws: ws.send(json.dumps({"type": "auth", "token": "nope"}))),
}

results = {}
for case, (header, bad) in CASES.items():
    outcomes = collections.Counter()
    for _ in range(tries):
        ws = websocket.create_connection(url, header=header, timeout=20)
        try:
            bad(ws)
            while True:
                opcode, data = ws.recv_data(control_frame=True)
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    outcomes[str(int.from_bytes(data[:2], "big"))] += 1
                    break
        except Exception as error:  # the outcome under test: counted, not raised
            outcomes[type(error).__name__] += 1
        finally:
            ws.close()
    results[case] = dict(outcomes)
print(json.dumps(results))
