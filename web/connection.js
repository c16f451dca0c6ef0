// One WebSocket to /ws (docs/protocol.md) that heals itself: it authenticates with an
// `auth` frame (browsers cannot set headers), and when the socket drops it reconnects with
// exponential backoff and jitter. What to do after each `ready` (rejoin rooms with `since`,
// resend unacked messages) is the caller's business.

const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];

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

  send(frame) {
    if (!this.ready) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
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
        this.onState("connected");
      }
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
