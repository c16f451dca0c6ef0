// One WebSocket to /ws (docs/protocol.md) that heals itself and resumes where it was, as the
// terminal client's net.rs does. It authenticates with an `auth` frame (browsers cannot set
// headers); when the socket drops it reconnects with exponential backoff and jitter; and
// after every `ready` it rejoins each room with `since` (the newest message id it passed on
// there) and resends each send not yet acked, under its own client_id, so the server stores
// it once. So the rest of the page has no resume logic of its own: a `join` or a `send` made
// while the socket is down waits for it, and duplicates in what comes back are dropped by id
// in state.js. Other frames (typing, read, history, leave) are dropped while it is down.

const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];

/** The frames about a room that make the page list it (state.js), and so rejoin it. */
const ROOM_FRAMES = new Set(["joined", "message", "message_updated", "history", "typing", "presence", "read"]);

export class Connection {
  constructor(url, token, { onFrame, onState, onEnded }) {
    this.url = url;
    this.token = token;
    this.onFrame = onFrame;
    this.onState = onState;
    this.onEnded = onEnded;
    this.socket = null;
    this.attempt = 0;
    this.stopped = false;
    this.timer = null;
    // What a fresh socket needs to take up where the last one was: each room to rejoin,
    // in the order it became known, with the newest message id seen there (null: none);
    // and each send not acked yet, by client_id, in the order it was typed.
    this.rooms = new Map();
    this.unacked = new Map();
  }

  start() {
    this.stopped = false;
    this.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.socket) this.socket.close(1000, "bye");
  }

  get ready() {
    return this.socket !== null && this.socket.readyState === WebSocket.OPEN && this.authenticated;
  }

  /** Sends a frame now if the socket is ready (true), or not (false); a `join` or a `send`
   *  is remembered either way and goes out again after each reconnect. */
  send(frame) {
    this.noteOutgoing(frame);
    if (!this.ready) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  noteOutgoing(frame) {
    if (frame.type === "join" && !this.rooms.has(frame.room)) this.rooms.set(frame.room, null);
    if (frame.type === "send" && frame.client_id && !this.unacked.has(frame.client_id)) {
      this.unacked.set(frame.client_id, frame);
    }
    // A `leave` is not forgotten until its `left`: if the socket drops first, the room is
    // still the page's, and it is rejoined.
  }

  noteIncoming(frame) {
    if (frame.type === "left") {
      this.rooms.delete(frame.room);
      return;
    }
    // Stored (ack) or refused (error, given back to its author by state.js): not resent.
    if ((frame.type === "ack" || frame.type === "error") && frame.client_id) {
      this.unacked.delete(frame.client_id);
      return;
    }
    if (!ROOM_FRAMES.has(frame.type)) return;
    // The position to resume from: the highest message id or change `seq` passed on
    // (docs/protocol.md, "The room's change log").
    const messages = frame.type === "message" ? [frame]
      : frame.type === "message_updated" ? [frame.message]
      : frame.type === "joined" ? [...frame.history, ...(frame.updated || [])]
      : frame.type === "history" ? [...frame.messages, ...(frame.updated || [])]
      : [];
    let newest = this.rooms.get(frame.room) ?? null;
    const positions = messages.map((message) => Math.max(message.id, message.seq || 0));
    if (typeof frame.through === "number") positions.push(frame.through);
    for (const at of positions) if (newest === null || at > newest) newest = at;
    this.rooms.set(frame.room, newest);
  }

  /** After `ready`: the joins first, so that the resent messages find their rooms joined. */
  resume() {
    for (const [room, since] of this.rooms) {
      this.socket.send(JSON.stringify(since === null ? { type: "join", room } : { type: "join", room, since }));
    }
    for (const frame of this.unacked.values()) this.socket.send(JSON.stringify(frame));
  }

  open() {
    this.authenticated = false;
    this.onState(this.attempt === 0 ? "connecting" : "reconnecting");
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.addEventListener("open", () => socket.send(JSON.stringify({ type: "auth", token: this.token })));
    socket.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame.type === "ready") {
        this.authenticated = true;
        this.attempt = 0;
        this.resume();
        this.onState("connected");
      }
      this.noteIncoming(frame);
      this.onFrame(frame);
    });
    socket.addEventListener("close", (event) => {
      if (socket !== this.socket) return;
      this.authenticated = false;
      if (this.stopped) return;
      // Logged out, token expired or refused: reconnecting cannot help.
      if (event.code === 1008) {
        this.onEnded(event.reason || "Your session ended.");
        return;
      }
      const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
      this.attempt += 1;
      this.onState("reconnecting");
      this.timer = setTimeout(() => this.open(), delay * (0.75 + Math.random() * 0.5));
    });
  }
}
