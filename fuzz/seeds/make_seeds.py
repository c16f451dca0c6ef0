#!/usr/bin/env python3
"""Writes the fuzz targets' seed inputs (docs/fuzzing.md): valid frames, bodies and
payloads from docs/protocol.md and docs/socketio.md. Run it again when the protocol changes;
`cargo test -p sala-server --lib fuzzing` checks that every seed is still accepted."""

import base64
import hashlib
import hmac
import json
import struct
from pathlib import Path

HERE = Path(__file__).resolve().parent
# crates/sala-server/src/fuzzing.rs: TOKEN_SECRET
SECRET = b"sala-fuzzing-secret-0123456789abcdef"
MASK = bytes([0x37, 0xFA, 0x21, 0x3D])


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token() -> str:
    """An HS256 token for user 1 that expires in 2100."""
    header = b64(json.dumps({"typ": "JWT", "alg": "HS256"}, separators=(",", ":")).encode())
    claims = {"sub": "1", "exp": 4102444800, "iat": 1795000000, "jti": "fuzz-session"}
    body = b64(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{body}".encode()
    signature = b64(hmac.new(SECRET, signing_input, hashlib.sha256).digest())
    return f"{header}.{body}.{signature}"


def frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """One client-to-server frame: masked, as RFC 6455 requires of clients."""
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", n)
    masked = bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))
    return head + MASK + masked


def text(obj) -> bytes:
    return frame(0x1, json.dumps(obj, separators=(",", ":")).encode())


def write(target: str, name: str, data: bytes) -> None:
    folder = HERE / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def ws_frames() -> None:
    write("ws_frames", "auth", text({"type": "auth", "token": token()}))
    write(
        "ws_frames",
        "session",
        b"".join(
            [
                text({"type": "join", "room": "general"}),
                text({"type": "send", "room": "general", "text": "hello bob", "client_id": "a-1"}),
                text({"type": "typing", "room": "general"}),
                text({"type": "read", "room": "general", "id": 2}),
                text({"type": "history", "room": "general", "before": 2, "limit": 10}),
                text({"type": "join", "room": "General", "since": 1}),
                text({"type": "status", "status": "busy", "note": "in a meeting"}),
                text({"type": "status", "status": "available"}),
                text({"type": "ping"}),
                text({"type": "leave", "room": "general"}),
                frame(0x8, struct.pack(">H", 1000) + b"bye"),
            ]
        ),
    )
    # A message in three fragments with a ping between them, then a long (16-bit length) one.
    send = json.dumps({"type": "send", "room": "general", "text": "fragmented"}).encode()
    write(
        "ws_frames",
        "fragmented",
        frame(0x1, send[:10], fin=False)
        + frame(0x9, b"are you there")
        + frame(0x0, send[10:20], fin=False)
        + frame(0x0, send[20:])
        + text({"type": "send", "room": "general", "text": "x" * 300}),
    )


def http_bodies() -> None:
    bodies = {
        "register": ("r", {"username": "alice", "password": "correct horse battery",
                           "email": "alice@example.org"}),
        "register_no_email": ("r", {"username": "bob", "password": "correct horse battery"}),
        "login": ("l", {"username": "alice", "password": "correct horse battery"}),
        "login_email": ("l", {"email": "alice@example.org", "password": "correct horse battery"}),
        "validate_token": ("v", {"token": token()}),
        "status_busy": ("s", {"status": "busy", "note": "in a meeting until 3"}),
        "status_available": ("s", {"status": "available"}),
        "create_room": ("c", {"name": "Rust", "topic": "All things Rust"}),
    }
    for name, (kind, body) in bodies.items():
        write("http_bodies", name, kind.encode() + json.dumps(body).encode())


def sio_events() -> None:
    events = {
        "join": ("join", "general"),
        "join_since": ("join", {"room": "general", "since": 1}),
        "leave": ("leave", "general"),
        "chat_message": ("chat-message", {"room": "general", "text": "hello", "client_id": "m-1"}),
        "send_chat_message": ("send-chat-message", "hello from python"),
        "typing": ("typing", "general"),
        "status": ("status", {"status": "busy", "note": "in a meeting"}),
        "history": ("history", {"room": "general", "before": 2, "limit": 10}),
        "read": ("read", {"room": "general", "id": 2}),
        "ping": ("ping", None),
    }
    for name, (event, payload) in events.items():
        write("sio_events", name, f"{event}\n{json.dumps(payload)}".encode())


if __name__ == "__main__":
    ws_frames()
    http_bodies()
    sio_events()
