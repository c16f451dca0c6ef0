// The web client's resume (web/connection.js) against a stand-in WebSocket, with node's own
// test runner and mocked timers:
//   node --test crates/sala-server/tests/web/
// (node 20.19 or later: web/ has no package.json, and older ones would take its .js files
// for CommonJS instead of telling ES modules by their syntax.)
// A reconnect must rejoin each room with `since` the newest id seen there and resend what
// was not acked, under its client_id, joins first.

import assert from "node:assert/strict";
import { test } from "node:test";

import { Connection } from "../../../../web/connection.js";

/** A WebSocket that records what is sent and lets the test play the server. */
class FakeSocket {
  static OPEN = 1;
  static opened = [];

  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    this.listeners = {};
    FakeSocket.opened.push(this);
  }

  addEventListener(type, listener) {
    (this.listeners[type] ||= []).push(listener);
  }

  send(data) {
    this.sent.push(JSON.parse(data));
  }

  close() {}

  emit(type, event = {}) {
    for (const listener of this.listeners[type] || []) listener(event);
  }

  /** The server accepts the connection and says `ready`. */
  accept() {
    this.readyState = FakeSocket.OPEN;
    this.emit("open");
    this.frame({ type: "ready", user: { id: 1, username: "ivy", status: "available" } });
  }

  frame(frame) {
    this.emit("message", { data: JSON.stringify(frame) });
  }

  drop(code = 1006) {
    this.readyState = 3;
    this.emit("close", { code, reason: "" });
  }
}

function connect(t) {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  FakeSocket.opened = [];
  globalThis.WebSocket = FakeSocket;
  const seen = { frames: [], states: [], ended: null };
  const connection = new Connection("ws://chat/ws", "token-1", {
    onFrame: (frame) => seen.frames.push(frame),
    onState: (phase) => seen.states.push(phase),
    onEnded: (reason) => { seen.ended = reason; },
  });
  return { connection, seen };
}

const latest = () => FakeSocket.opened[FakeSocket.opened.length - 1];

/** Drops the socket, lets the backoff run out and has the server accept the next one. */
function reconnect(t) {
  latest().drop();
  t.mock.timers.tick(20_000);
  latest().accept();
  return latest().sent.slice(1); // after the `auth` frame
}

test("what is asked before the first ready goes out once it comes, joins first", (t) => {
  const { connection, seen } = connect(t);
  assert.equal(connection.send({ type: "join", room: "general" }), false);
  assert.equal(connection.send({ type: "send", room: "general", text: "early", client_id: "c-1" }), false);
  assert.equal(connection.send({ type: "typing", room: "general" }), false);
  connection.start();

  latest().accept();

  assert.deepEqual(latest().sent, [
    { type: "auth", token: "token-1" },
    { type: "join", room: "general" },
    { type: "send", room: "general", text: "early", client_id: "c-1" },
  ]);
  assert.deepEqual(seen.states, ["connecting", "connected"]);
  assert.equal(seen.frames[0].type, "ready", "the page hears ready after the resume went out");
});

test("a reconnect rejoins with since the newest id seen, and resends only what was not acked", (t) => {
  const { connection } = connect(t);
  connection.start();
  latest().accept();
  connection.send({ type: "join", room: "general" });
  connection.send({ type: "join", room: "side" });
  latest().frame({ type: "joined", room: "general", members: ["ivy"], statuses: {}, history: [{ id: 4, room: "general" }, { id: 6, room: "general" }], more: false });
  latest().frame({ type: "joined", room: "side", members: ["ivy"], statuses: {}, history: [], more: false });
  latest().frame({ type: "message", id: 9, room: "general", user: "bob", text: "hi" });
  connection.send({ type: "send", room: "general", text: "stored", client_id: "c-1" });
  connection.send({ type: "send", room: "general", text: "lost", client_id: "c-2" });
  latest().frame({ type: "ack", room: "general", id: 10, client_id: "c-1" });

  const replayed = reconnect(t);

  assert.deepEqual(replayed, [
    { type: "join", room: "general", since: 9 },
    { type: "join", room: "side" },
    { type: "send", room: "general", text: "lost", client_id: "c-2" },
  ]);
});

test("a send made while down is remembered and goes out once when back", (t) => {
  const { connection, seen } = connect(t);
  connection.start();
  latest().accept();
  latest().drop();
  assert.equal(connection.send({ type: "send", room: "general", text: "while away", client_id: "c-3" }), false);
  assert.equal(connection.send({ type: "send", room: "general", text: "while away", client_id: "c-3" }), false);

  t.mock.timers.tick(20_000);
  latest().accept();

  assert.deepEqual(latest().sent.slice(1), [{ type: "send", room: "general", text: "while away", client_id: "c-3" }]);
  assert.deepEqual(seen.states, ["connecting", "connected", "reconnecting", "reconnecting", "connected"]);
});

test("a left room and a refused send are not resumed", (t) => {
  const { connection } = connect(t);
  connection.start();
  latest().accept();
  connection.send({ type: "join", room: "general" });
  connection.send({ type: "send", room: "general", text: "too long", client_id: "c-4" });
  latest().frame({ type: "error", code: "invalid", message: "too long", room: "general", client_id: "c-4" });
  connection.send({ type: "leave", room: "general" });
  latest().frame({ type: "left", room: "general" });

  assert.deepEqual(reconnect(t), []);
});

test("a leave not yet answered keeps the room", (t) => {
  const { connection } = connect(t);
  connection.start();
  latest().accept();
  connection.send({ type: "join", room: "general" });
  connection.send({ type: "leave", room: "general" });

  assert.deepEqual(reconnect(t), [{ type: "join", room: "general" }]);
});

test("a policy close ends the session instead of reconnecting", (t) => {
  const { connection, seen } = connect(t);
  connection.start();
  latest().accept();

  latest().emit("close", { code: 1008, reason: "logged out" });
  t.mock.timers.tick(20_000);

  assert.equal(seen.ended, "logged out");
  assert.equal(FakeSocket.opened.length, 1);
});

test("a reconnect resumes from the highest position seen, changes to messages included", (t) => {
  const { connection } = connect(t);
  connection.start();
  latest().accept();
  connection.send({ type: "join", room: "general" });
  latest().frame({ type: "joined", room: "general", members: ["ivy"], statuses: {}, history: [{ id: 4, seq: 7, room: "general" }], more: false });
  latest().frame({ type: "message_updated", room: "general", change: "reacted", by: "bob", message: { id: 4, seq: 11, room: "general" } });

  assert.deepEqual(reconnect(t), [{ type: "join", room: "general", since: 11 }]);

  // A resume's answer moves it on to its `through`, even when nothing in it is newer.
  latest().frame({ type: "joined", room: "general", members: ["ivy"], statuses: {}, history: [], updated: [], more: false, through: 15 });
  assert.deepEqual(reconnect(t), [{ type: "join", room: "general", since: 15 }]);
});
