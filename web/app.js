// The Sala web chat. Plain ES modules, no build step. Every piece of user text reaches the
// page through textContent or text nodes, never innerHTML.

import { api, ApiError, loadSession, saveSession, clearSession } from "./api.js";
import { Connection } from "./connection.js";

const $ = (id) => document.getElementById(id);
const HISTORY_PAGE = 50;
const TYPING_SEND_MS = 2000;
const TYPING_SHOW_MS = 3500;
const MENTION = /@([A-Za-z0-9_.-]{3,32})/g;

/** Everything the page knows. */
const state = {
  session: null, // {token, user: {id, username}, chat_url}
  status: "available",
  rooms: new Map(), // name -> Room
  active: null,
  connection: null,
  pending: new Map(), // client_id -> {room, text}: sent, not yet acked
  statuses: new Map(), // username -> {status, note}
  lastTypingSent: 0,
};

function newRoom(name, topic = "", unread = 0, lastRead = 0) {
  return {
    name, topic, unread, lastRead,
    messages: [], ids: new Set(), // loaded messages, oldest first
    more: false, loadingOlder: false,
    joined: false, // this connection has joined it (since the last `ready`)
    members: new Set(),
    typing: new Map(), // username -> timer
    readSentAt: 0, readTimer: null, // the last `read` frame sent, and one waiting
    joinedBefore: false, // joined earlier in this page's life: a new `joined` is a return
  };
}

// ---------------------------------------------------------------- signing in and out

let registering = false;

/** The sign-in page, with a `notice` (information, such as why the session ended) or an
 *  `error` (what went wrong). */
function showAuth({ notice = "", error = "" } = {}) {
  state.connection?.stop();
  state.connection = null;
  $("chat-view").hidden = true;
  $("auth-view").hidden = false;
  $("auth-notice").textContent = notice;
  showFormError("auth-error", AUTH_FIELDS, error);
  $("auth-username").focus();
}

/** The fields of each form, by the word the server's messages name them with ("username
 *  must be 3 to 32 characters", "that username is taken": docs/api.md). */
const AUTH_FIELDS = { username: "auth-username", email: "auth-email", password: "auth-password" };
const ROOM_FIELDS = { name: "room-name", topic: "room-topic" };

/** The ids of the fields a message names. */
function fieldsNamedIn(message, fields) {
  return Object.entries(fields)
    .filter(([word]) => new RegExp(`\\b${word}\\b`).test(message))
    .map(([, id]) => id);
}

/** Shows a form's error (`""` clears it) and ties it to the fields it is about, with
 *  aria-invalid and aria-describedby, so a screen reader reads it with the field. */
function showFormError(errorId, fields, message, invalid = fieldsNamedIn(message, fields)) {
  $(errorId).textContent = message;
  for (const id of Object.values(fields)) {
    const field = $(id);
    if (invalid.includes(id)) {
      field.setAttribute("aria-invalid", "true");
      field.setAttribute("aria-describedby", errorId);
    } else {
      field.removeAttribute("aria-invalid");
      field.removeAttribute("aria-describedby");
    }
  }
}

function setAuthMode(register) {
  registering = register;
  $("tab-login").setAttribute("aria-selected", String(!register));
  $("tab-register").setAttribute("aria-selected", String(register));
  $("email-row").hidden = !register;
  $("auth-submit").textContent = register ? "Create account" : "Log in";
  $("auth-password").autocomplete = register ? "new-password" : "current-password";
  showFormError("auth-error", AUTH_FIELDS, "");
}

async function submitAuth(event) {
  event.preventDefault();
  const username = $("auth-username").value.trim();
  const password = $("auth-password").value;
  const email = $("auth-email").value.trim();
  $("auth-notice").textContent = "";
  const missing = Object.entries({ username, password }).filter(([, value]) => !value).map(([word]) => word);
  if (missing.length > 0) {
    // Said here: the server could only refuse it after a round trip.
    showFormError("auth-error", AUTH_FIELDS, `Enter your ${missing.join(" and ")}.`);
    $(AUTH_FIELDS[missing[0]]).focus();
    return;
  }
  showFormError("auth-error", AUTH_FIELDS, "");
  $("auth-submit").disabled = true;
  try {
    if (registering) await api.register(username, password, email || undefined);
    const login = await api.login(username, password);
    state.session = { token: login.token, user: login.user, chat_url: login.chat_url };
    saveSession(state.session);
    $("auth-password").value = "";
    await enterChat();
  } catch (error) {
    showFormError("auth-error", AUTH_FIELDS, error instanceof ApiError ? error.message : String(error));
  } finally {
    $("auth-submit").disabled = false;
  }
}

async function logout() {
  const token = state.session?.token;
  state.connection?.stop();
  clearSession();
  state.session = null;
  state.rooms.clear();
  state.active = null;
  state.pending.clear();
  if (token) await api.logout(token).catch(() => {});
  setAuthMode(false);
  showAuth();
}

function sessionEnded(reason) {
  clearSession();
  state.session = null;
  showAuth({ notice: `Signed out: ${reason}` });
}

// ---------------------------------------------------------------- entering the chat

async function enterChat() {
  const { token } = state.session;
  let me, mine;
  try {
    [me, mine] = await Promise.all([api.me(token), api.myRooms(token)]);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return sessionEnded("please log in again.");
    return showAuth({ error: error.message });
  }
  state.rooms.clear();
  for (const room of mine.rooms) {
    state.rooms.set(room.name, newRoom(room.name, room.topic || "", room.unread, room.last_read));
  }
  // A user in no room at all (a new account) starts in general, as the terminal client
  // does, rather than on an empty "Pick a room"; the join on connecting makes it theirs.
  if (state.rooms.size === 0) state.rooms.set("general", newRoom("general"));
  setStatus(me.status, me.status_note);
  $("me-name").textContent = me.username;
  $("auth-view").hidden = true;
  $("chat-view").hidden = false;
  renderRooms();
  const first = state.rooms.has("general") ? "general" : state.rooms.keys().next().value;
  if (first) activate(first);
  else renderConversation();
  connect();
}

function wsUrl() {
  // Same origin as the page: the server checks the Origin of the upgrade against it.
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws`;
}

function connect() {
  state.connection?.stop();
  state.connection = new Connection(wsUrl(), state.session.token, {
    onFrame: handleFrame,
    onState: showConnection,
    onEnded: sessionEnded,
  });
  state.connection.start();
}

function showConnection(phase) {
  const line = $("connection");
  line.hidden = phase === "connected";
  line.textContent = phase === "reconnecting" ? "Reconnecting…" : "Connecting…";
  // Usable while reconnecting too: what is sent then waits, and goes out once, in order,
  // when the connection is back (see onReady).
  const usable = state.active !== null;
  $("message-input").disabled = !usable;
  $("send").disabled = !usable;
}

/** After every `ready`: join every room again (with `since` where we have history) and
 *  resend what was never acked, under the same client_id so nothing doubles. */
function onReady() {
  for (const room of state.rooms.values()) {
    room.joined = false;
    const last = room.messages.length ? room.messages[room.messages.length - 1].id : null;
    state.connection.send(last === null ? { type: "join", room: room.name } : { type: "join", room: room.name, since: last });
  }
  for (const [clientId, { room, text }] of state.pending) {
    state.connection.send({ type: "send", room, text, client_id: clientId });
  }
  if (state.pending.size > 0) $("send-error").textContent = "";
  showConnection("connected");
}

// ---------------------------------------------------------------- frames from the server

function handleFrame(frame) {
  switch (frame.type) {
    case "ready":
      setStatus(frame.user.status, state.statuses.get(frame.user.username)?.note);
      onReady();
      break;
    case "joined": onJoined(frame); break;
    case "left": onLeft(frame.room); break;
    case "message": onMessage(frame); break;
    case "ack": state.pending.delete(frame.client_id); break;
    case "history": onHistory(frame); break;
    case "typing": onTyping(frame); break;
    case "presence": onPresence(frame); break;
    case "status": onStatus(frame); break;
    case "read": onRead(frame); break;
    case "error": onError(frame); break;
    case "catch_up": onCatchUp(frame); break;
    default: break;
  }
}

function room(name) {
  if (!state.rooms.has(name)) state.rooms.set(name, newRoom(name));
  return state.rooms.get(name);
}

function onJoined(frame) {
  const r = room(frame.room);
  const resumed = r.messages.length > 0;
  r.joined = true;
  r.members = new Set(frame.members);
  // Who is busy now; a member left out of `statuses` is available. Later changes come
  // as `status` frames, which the server sends after this one.
  const statuses = frame.statuses || {};
  for (const name of frame.members) {
    state.statuses.set(name, statuses[name] || { status: "available" });
  }
  if (!resumed) {
    r.messages = [];
    r.ids = new Set();
    r.more = frame.more;
  }
  // With `since`, the history is exactly what was missed; duplicates are dropped by id.
  // What was missed counts toward the badge as live messages do (the first history does
  // not: the server's count came with the room list). Messages already shown are skipped.
  const returning = r.joinedBefore;
  r.joinedBefore = true;
  for (const message of frame.history) addMessage(r, message, returning);
  if (r.name === state.active) {
    renderConversation({ keepScroll: resumed });
    markRead(r);
  }
  renderRooms();
}

function onLeft(name) {
  state.rooms.delete(name);
  if (state.active === name) {
    state.active = null;
    const next = state.rooms.keys().next().value;
    if (next) activate(next);
    else renderConversation();
  }
  renderRooms();
}

function addMessage(r, message, live) {
  if (r.ids.has(message.id)) return false;
  r.ids.add(message.id);
  const last = r.messages[r.messages.length - 1];
  if (!last || last.id < message.id) r.messages.push(message);
  else {
    r.messages.push(message);
    r.messages.sort((a, b) => a.id - b.id);
  }
  if (live && message.user !== state.session.user.username && message.id > r.lastRead
      && !(r.name === state.active && document.visibilityState === "visible")) {
    r.unread += 1;
  }
  return true;
}

function onMessage(message) {
  const r = room(message.room);
  if (!addMessage(r, message, true)) return;
  stopTyping(r, message.user);
  if (r.name === state.active) {
    appendMessageElement(message);
    if (message.user !== state.session.user.username || message.assistant) announce(message);
    markRead(r);
  }
  renderRooms();
}

function onHistory(frame) {
  const r = room(frame.room);
  r.loadingOlder = false;
  r.more = frame.more;
  for (const message of frame.messages) addMessage(r, message, false);
  if (r.name === state.active) {
    const list = $("messages");
    const fromBottom = list.scrollHeight - list.scrollTop;
    renderMessages();
    list.scrollTop = list.scrollHeight - fromBottom; // stay where the reader was
  }
}

function onTyping({ room: name, user }) {
  const r = room(name);
  clearTimeout(r.typing.get(user));
  r.typing.set(user, setTimeout(() => stopTyping(r, user), TYPING_SHOW_MS));
  if (name === state.active) renderTyping();
}

function stopTyping(r, user) {
  if (!r.typing.has(user)) return;
  clearTimeout(r.typing.get(user));
  r.typing.delete(user);
  if (r.name === state.active) renderTyping();
}

function onPresence({ room: name, user, event }) {
  const r = room(name);
  if (event === "joined") r.members.add(user);
  else r.members.delete(user);
  if (name === state.active) renderMembers();
}

function onStatus({ user, status, note }) {
  state.statuses.set(user, { status, note });
  if (user === state.session.user.username) setStatus(status, note);
  renderMembers();
}

function onRead({ room: name, id }) {
  const r = room(name);
  r.lastRead = Math.max(r.lastRead, id);
  r.unread = r.messages.filter((m) => m.id > r.lastRead && m.user !== state.session.user.username).length;
  renderRooms();
}

/** What mentioned you while you were busy: shown once, above the conversation. */
function onCatchUp({ items, summary }) {
  const panel = $("catch-up");
  const list = el("ul", "catch-up-items");
  for (const message of items) {
    const item = el("li");
    item.append(el("span", "room-name", `#${message.room} `), el("span", "author", message.user), document.createTextNode(": "));
    item.append(textWithMentions(message.text, state.session.user.username));
    list.append(item);
  }
  const title = el("strong", "", items.length === 0
    ? "Welcome back: nobody mentioned you while you were busy."
    : `Welcome back: ${items.length} message${items.length === 1 ? "" : "s"} mentioned you while you were busy.`);
  const close = el("button", "small", "Dismiss");
  close.type = "button";
  close.addEventListener("click", () => { panel.hidden = true; });
  panel.replaceChildren(title, ...(summary ? [el("p", "summary", summary)] : []), list, close);
  panel.hidden = false;
}

function onError(frame) {
  if (frame.client_id && state.pending.has(frame.client_id)) {
    // The message was not stored: give it back to its author.
    const { room: name, text } = state.pending.get(frame.client_id);
    state.pending.delete(frame.client_id);
    if (name === state.active && !$("message-input").value) $("message-input").value = text;
  }
  $("send-error").textContent = frame.message;
}

// ---------------------------------------------------------------- actions

function activate(name) {
  state.active = name;
  const r = room(name);
  closeDrawers();
  renderRooms();
  renderConversation();
  markRead(r);
  showConnection(state.connection?.ready ? "connected" : "reconnecting");
  $("message-input").focus();
}

function markRead(r) {
  const last = r.messages[r.messages.length - 1];
  if (document.visibilityState !== "visible" || !last) return;
  if (last.id > r.lastRead || r.unread > 0) {
    r.lastRead = Math.max(r.lastRead, last.id);
    r.unread = 0;
    scheduleRead(r);
    renderRooms();
  }
}

// At most one `read` frame per room a second, the newest id always last: the server limits
// each user's commands (--command-rate), and a busy room would otherwise spend them all.
const READ_INTERVAL_MS = 1000;

function scheduleRead(r) {
  if (r.readTimer) return;
  const wait = READ_INTERVAL_MS - (Date.now() - r.readSentAt);
  if (wait <= 0) {
    sendRead(r);
    return;
  }
  r.readTimer = setTimeout(() => {
    r.readTimer = null;
    sendRead(r);
  }, wait);
}

function sendRead(r) {
  r.readSentAt = Date.now();
  state.connection?.send({ type: "read", room: r.name, id: r.lastRead });
}

function joinRoom(name, topic = "") {
  if (!state.rooms.has(name)) state.rooms.set(name, newRoom(name, topic));
  state.connection?.send({ type: "join", room: name });
  activate(name);
}

function sendMessage() {
  const input = $("message-input");
  const text = input.value.trim();
  $("send-error").textContent = "";
  if (!text || !state.active) return;
  const chars = [...text].length;
  if (chars > MAX_MESSAGE_CHARS) {
    // Said before sending, never cut: the box has no maxlength for that reason.
    $("send-error").textContent = `That is ${chars - MAX_MESSAGE_CHARS} characters over the ${MAX_MESSAGE_CHARS} a message may have.`;
    return;
  }
  const clientId = newClientId();
  const frame = { type: "send", room: state.active, text, client_id: clientId };
  // Kept until its ack; sent again (same client_id, so never twice) after a reconnect.
  state.pending.set(clientId, { room: state.active, text });
  if (!state.connection?.send(frame)) {
    $("send-error").textContent = "Not connected: your message will be sent when the connection is back.";
  }
  input.value = "";
  autoGrow(input);
}

/** SPEC §2: 1–4000 characters after trimming (counted as the server counts: characters). */
const MAX_MESSAGE_CHARS = 4000;

/** A random idempotency key (crypto.randomUUID needs a secure context; this does not). */
function newClientId() {
  return Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, "0")).join("");
}

function maybeSendTyping() {
  const now = Date.now();
  if (state.active && now - state.lastTypingSent > TYPING_SEND_MS) {
    state.lastTypingSent = now;
    state.connection?.send({ type: "typing", room: state.active });
  }
}

function loadOlder() {
  const r = state.active && state.rooms.get(state.active);
  if (!r || !r.more || r.loadingOlder || !r.messages.length) return;
  r.loadingOlder = true;
  if (!state.connection?.send({ type: "history", room: r.name, before: r.messages[0].id, limit: HISTORY_PAGE })) {
    r.loadingOlder = false;
  }
}

function setStatus(status, note) {
  state.status = status;
  const dot = $("me-status");
  dot.className = `status-dot ${status}`;
  dot.title = note ? `${status}: ${note}` : status;
  $("status-toggle").textContent = status === "busy" ? "Set available" : "Set busy";
  if (note !== undefined && document.activeElement !== $("status-note")) $("status-note").value = note || "";
}

async function toggleStatus(event) {
  event.preventDefault();
  const next = state.status === "busy" ? "available" : "busy";
  // The note said why one was busy, so going available clears it: the server stores any
  // note it is sent, whatever the status, so none is sent.
  const note = next === "busy" ? $("status-note").value.trim() || undefined : undefined;
  try {
    const me = await api.setStatus(state.session.token, next, note);
    setStatus(me.status, me.status_note);
    // setStatus leaves a field being typed in alone; this answers the user's own press.
    $("status-note").value = me.status_note || "";
  } catch (error) {
    $("send-error").textContent = error.message;
  }
}

let searchTimer = null;
/** Rooms whose name or topic matches what is typed; with nothing typed, every room, a page
 *  at a time ("More rooms" fetches the next). */
function searchRooms() {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => showRoomPage(null), 200);
}

async function showRoomPage(cursor) {
  const q = $("room-search").value.trim();
  const list = $("search-results");
  try {
    const page = await api.searchRooms(state.session.token, q, cursor);
    // An answer for what is no longer typed (a slower, older request) is dropped.
    if ($("room-search").value.trim() !== q) return;
    const items = page.rooms.map((r) => roomItem(r.name, r.topic, `${r.online} online`, () => {
      joinRoom(r.name, r.topic || "");
      $("room-search").value = "";
      list.replaceChildren();
    }));
    if (cursor) {
      list.querySelector(".more-rooms")?.remove();
      list.append(...items);
    } else {
      list.replaceChildren(...(items.length ? items : [textItem(q ? "No rooms match." : "No rooms yet.")]));
    }
    if (page.next_cursor) {
      const more = el("li", "more-rooms");
      const button = el("button", "link", "More rooms");
      button.type = "button";
      button.addEventListener("click", () => showRoomPage(page.next_cursor));
      more.append(button);
      list.append(more);
    }
  } catch (error) {
    list.replaceChildren(textItem(error.message));
  }
}

/** A room name as the server takes it: spaces become dashes, letters lower case. */
function roomNameFrom(typed) {
  return typed.trim().toLowerCase().replace(/\s+/g, "-");
}

async function createRoom(event) {
  event.preventDefault();
  const typed = $("room-name").value.trim();
  const name = roomNameFrom(typed);
  const topic = $("room-topic").value.trim();
  showFormError("room-error", ROOM_FIELDS, "");
  if (name !== typed.toLowerCase()) {
    // Offered, not refused: the field now holds the name the server takes.
    $("room-name").value = name;
    showFormError("room-error", ROOM_FIELDS, `Room names have no spaces: create #${name}?`, [ROOM_FIELDS.name]);
    return;
  }
  try {
    const created = await api.createRoom(state.session.token, name, topic || undefined);
    $("room-name").value = "";
    $("room-topic").value = "";
    $("new-room").open = false;
    joinRoom(created.name, created.topic || "");
  } catch (error) {
    showFormError("room-error", ROOM_FIELDS, error.message);
  }
}

// ---------------------------------------------------------------- rendering

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function textItem(text) {
  return el("li", "hint", text);
}

function roomItem(name, topic, badge, onClick, current = false) {
  const item = el("li");
  const button = el("button", current ? "room current" : "room");
  button.type = "button";
  if (current) button.setAttribute("aria-current", "true");
  button.append(el("span", "room-name", `#${name}`));
  if (badge) button.append(el("span", "badge", badge));
  if (topic) button.title = topic;
  button.addEventListener("click", onClick);
  item.append(button);
  return item;
}

function renderRooms() {
  const items = [...state.rooms.values()]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((r) => {
      const badge = r.unread > 0 ? String(r.unread) : "";
      const item = roomItem(r.name, r.topic, badge, () => activate(r.name), r.name === state.active);
      if (badge) item.querySelector(".badge").setAttribute("aria-label", `${r.unread} unread`);
      return item;
    });
  $("my-rooms").replaceChildren(...(items.length ? items : [textItem("No rooms yet: search or create one.")]));
  // On a phone the room list hides behind ☰, which shows a dot when another room has news
  // (a mention is a message from someone else, so it counts as unread).
  const elsewhere = [...state.rooms.values()].some((r) => r.name !== state.active && r.unread > 0);
  $("rooms-unread").hidden = !elsewhere;
  $("open-sidebar").setAttribute("aria-label", elsewhere ? "Show rooms: unread messages in other rooms" : "Show rooms");
  // The tab says how many messages wait, as chat apps' tabs do.
  const unread = [...state.rooms.values()].reduce((sum, r) => sum + r.unread, 0);
  document.title = unread > 0 ? `(${unread}) Sala` : "Sala";
}

function renderConversation({ keepScroll = false } = {}) {
  const r = state.active && state.rooms.get(state.active);
  $("room-title").textContent = r ? `#${r.name}` : "Pick a room";
  $("room-topic-line").textContent = r ? r.topic : "";
  $("leave-room").hidden = !r;
  renderMessages();
  if (!keepScroll || stuckToBottom) scrollToBottom();
  renderTyping();
  renderMembers();
}

function renderMessages() {
  const r = state.active && state.rooms.get(state.active);
  $("messages").replaceChildren(...(r ? r.messages.map(messageElement) : []));
}

function appendMessageElement(message) {
  const r = state.rooms.get(state.active);
  // Out-of-order arrivals (rare) re-render; the usual case appends.
  if (r.messages[r.messages.length - 1].id !== message.id) renderMessages();
  else $("messages").append(messageElement(message));
  if (stuckToBottom || message.user === state.session.user.username) scrollToBottom();
}

/** Reads a new message out to screen readers, from a live region of its own. */
function announce(message) {
  const region = $("announcer");
  const who = message.assistant ? `${message.user}'s assistant` : message.user;
  region.append(el("p", "", `${who}: ${message.text}`));
  // What has been read out need not stay; the region keeps the last few.
  while (region.childElementCount > 3) region.firstElementChild.remove();
}

// Whether the reader is at the newest message, as of their last scroll. It is kept from
// scroll events, not measured when needed: the "Reconnecting…" line, the catch-up panel or a
// taller message box shrink the list without scrolling it, after which the list's own
// numbers put the reader above the bottom. A ResizeObserver (see wire) scrolls them back.
let stuckToBottom = true;
const STUCK_PX = 40;

function scrollToBottom() {
  const list = $("messages");
  list.scrollTop = list.scrollHeight;
  stuckToBottom = true;
}

function messageElement(message) {
  const me = state.session.user.username;
  const item = el("li", "message");
  item.dataset.id = String(message.id);
  if (message.user === me) item.classList.add("own");
  if (message.assistant) item.classList.add("assistant");
  const meta = el("div", "meta");
  meta.append(el("span", "author", message.user));
  if (message.assistant) meta.append(el("span", "tag", "assistant"));
  const when = new Date(message.ts);
  const time = el("time", "ts", when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
  time.dateTime = message.ts;
  time.title = when.toLocaleString();
  meta.append(time);
  item.append(meta, textWithMentions(message.text, me));
  return item;
}

/** The text as text nodes, with @mentions wrapped in spans: no HTML is ever parsed. */
function textWithMentions(text, me) {
  const body = el("div", "text");
  let last = 0;
  for (const match of text.matchAll(MENTION)) {
    body.append(document.createTextNode(text.slice(last, match.index)));
    const self = match[1].toLowerCase() === me.toLowerCase();
    body.append(el("span", self ? "mention me" : "mention", match[0]));
    last = match.index + match[0].length;
  }
  body.append(document.createTextNode(text.slice(last)));
  return body;
}

function renderTyping() {
  const r = state.active && state.rooms.get(state.active);
  const who = r ? [...r.typing.keys()] : [];
  $("typing").textContent = who.length === 0 ? ""
    : who.length === 1 ? `${who[0]} is typing…` : `${who.slice(0, 3).join(", ")} are typing…`;
}

function renderMembers() {
  const r = state.active && state.rooms.get(state.active);
  const names = r ? [...r.members].sort((a, b) => a.localeCompare(b)) : [];
  $("open-members").textContent = `Online (${names.length})`;
  $("members").replaceChildren(...names.map((name) => {
    const item = el("li", "member");
    const status = state.statuses.get(name);
    const dot = el("span", `status-dot ${status?.status || "available"}`);
    dot.setAttribute("aria-hidden", "true");
    item.append(dot, el("span", "member-name", name));
    if (status?.status === "busy") {
      item.append(el("span", "busy-note", status.note ? `busy: ${status.note}` : "busy"));
    }
    return item;
  }));
}

function autoGrow(textarea) {
  textarea.style.height = "auto";
  textarea.style.height = `${Math.min(textarea.scrollHeight, 160)}px`;
  textarea.style.overflowY = textarea.scrollHeight > 160 ? "auto" : "hidden";
}

// ---------------------------------------------------------------- drawers

// On narrow screens the room list and the member list are drawers over the conversation
// (style.css), each opened by its button. One is open at a time; its ✕, Esc or a tap
// outside it (on the scrim) closes it.
const DRAWER_OPENERS = { sidebar: "open-sidebar", "members-panel": "open-members" };

function openDrawer(id) {
  closeDrawers();
  $(id).classList.add("open");
  $(DRAWER_OPENERS[id]).setAttribute("aria-expanded", "true");
  $("scrim").hidden = false;
  $(id).querySelector(".drawer-close").focus();
}

function closeDrawers() {
  for (const [id, opener] of Object.entries(DRAWER_OPENERS)) {
    const drawer = $(id);
    if (!drawer.classList.contains("open")) continue;
    drawer.classList.remove("open");
    $(opener).setAttribute("aria-expanded", "false");
    // Focus would stay in a drawer that is sliding out of sight.
    if (drawer.contains(document.activeElement)) $(opener).focus();
  }
  $("scrim").hidden = true;
}

// ---------------------------------------------------------------- wiring

function wire() {
  $("tab-login").addEventListener("click", () => setAuthMode(false));
  $("tab-register").addEventListener("click", () => setAuthMode(true));
  $("auth-form").addEventListener("submit", submitAuth);
  $("logout").addEventListener("click", logout);
  $("status-form").addEventListener("submit", toggleStatus);
  $("room-search").addEventListener("input", searchRooms);
  $("room-search").addEventListener("focus", searchRooms);
  $("search-form").addEventListener("submit", (event) => event.preventDefault());
  $("room-form").addEventListener("submit", createRoom);
  $("leave-room").addEventListener("click", () => {
    if (state.active) state.connection?.send({ type: "leave", room: state.active });
  });
  $("open-sidebar").addEventListener("click", () => openDrawer("sidebar"));
  $("open-members").addEventListener("click", () => openDrawer("members-panel"));
  for (const close of document.querySelectorAll(".drawer-close")) close.addEventListener("click", closeDrawers);
  $("scrim").addEventListener("click", closeDrawers);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") closeDrawers();
  });
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    sendMessage();
  });
  const input = $("message-input");
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      sendMessage();
    }
  });
  input.addEventListener("input", () => {
    autoGrow(input);
    if (input.value) maybeSendTyping();
  });
  const list = $("messages");
  list.addEventListener("scroll", () => {
    stuckToBottom = list.scrollHeight - list.scrollTop - list.clientHeight < STUCK_PX;
    if (list.scrollTop < 60) loadOlder();
  });
  // Whatever made the list shorter or taller, a reader who was at the bottom stays there.
  new ResizeObserver(() => {
    if (stuckToBottom) scrollToBottom();
  }).observe(list);
  document.addEventListener("visibilitychange", () => {
    const r = state.active && state.rooms.get(state.active);
    if (r) markRead(r);
  });
}

wire();
state.session = loadSession();
if (state.session) enterChat();
else showAuth();
