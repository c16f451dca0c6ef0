// The chat once signed in: entering it, each server frame applied to the state (state.js)
// and drawn (render.js), and what the user does there, each action a state change, a frame
// or an API call, and a redraw. It holds the page's one state, the session and the
// connection (connection.js, which owns reconnecting and resuming); the sign-in page is
// forms.js's, the files being attached uploads.js's, the search box search.js's, and
// app.js wires the page's events to the functions exported here.

import { api, ApiError } from "./api.js";
import { Connection } from "./connection.js";
import {
  closeModeration, refreshModeration, sessionEnded, showDmTools, showRoomTools, showSignIn,
  signOut,
} from "./forms.js";
import { gist } from "./format.js";
import {
  announce, announceText, appendMessage, clearComposer, clearSearch, closeDrawers, composerText,
  focusComposer, giveBackDraft, renderCatchUp, renderConnection, renderConversation,
  renderHeader, renderInvites, renderMembers, renderMyStatus, renderNewer, renderNotices,
  renderOlder, renderRooms, renderSearchError, renderSearchResults, renderThread, renderTyping,
  revealMessage, searchQuery, setComposer,
  setStatusNote, showChat, showComposing, showMembersStatus, showPicker, showSendError,
  statusNoteText,
} from "./render.js";
import {
  actionsOn, activeRoom, addPending, addRoom, blocks, canArchive, canInvite, canManage,
  createState, dismissNotice, enterRooms, expireTyping, extendContext, firstRoom, forget, isDm,
  labelOf, lastOwnMessage, leaveContext, markBlocked, mentionsMe, messageIn, mutedIn,
  nextTypingExpiry, openContext, prependContext, readAll, reduce, room, roomLabel, sameUser,
  setBlocked, setInvites, setRoster, updateRoom,
} from "./state.js";
import { MOST_ATTACHMENTS, forgetUploads, giveBack, pendingIn, showUploads, takeReady } from "./uploads.js";

const HISTORY_PAGE = 50;
const TYPING_SEND_MS = 2000;
/** SPEC §2: 1–4000 characters after trimming (counted as the server counts: characters). */
const MAX_MESSAGE_CHARS = 4000;
// At most one `read` frame per room a second, the newest id always last: the server limits
// each user's commands (--command-rate), and a busy room would otherwise spend them all.
const READ_INTERVAL_MS = 1000;
/** The member list shows at most this many of a room's members (pages of 100). */
const MAX_MEMBERS_LISTED = 1000;

const state = createState();
let session = null; // {token, user: {id, username}, chat_url}
let connection = null;

// ---------------------------------------------------------------- entering and leaving

/** Signed in (or back with a stored session): the chat, then the connection. */
export async function enter(signedIn) {
  session = signedIn;
  const { token } = session;
  let me, mine, invited, blocked;
  try {
    [me, mine, invited, blocked] = await Promise.all([
      api.me(token), api.myRooms(token), api.myInvites(token), api.myBlocks(token),
      // The download cookie, before any picture is drawn: `<img>` tags cannot send the
      // token. Asked at every start (a reload, a new login: it carries that login's token).
      // Without it pictures do not load, which is no reason to keep anyone out of the chat.
      api.setFileCookie(token).catch(() => null),
    ]);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return end("please log in again.");
    disconnect();
    return showSignIn({ error: error.message });
  }
  enterRooms(state, session.user.username, mine.rooms);
  setInvites(state, invited.invites);
  setBlocked(state, blocked.users);
  setStatus(me.status, me.status_note);
  showChat(me.username);
  drawRooms();
  renderInvites(state);
  renderNotices(state);
  const first = firstRoom(state);
  if (first) activate(first);
  else drawConversation();
  connect();
}

export async function logout() {
  const token = session?.token;
  disconnect();
  session = null;
  forget(state);
  forgetUploads();
  await signOut(token);
}

/** The server ended the session: reconnecting cannot help. */
function end(reason) {
  disconnect();
  session = null;
  sessionEnded(reason);
}

function disconnect() {
  connection?.stop();
  connection = null;
}

function wsUrl() {
  // Same origin as the page: the server checks the Origin of the upgrade against it.
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws`;
}

function connect() {
  connection?.stop();
  connection = new Connection(wsUrl(), session.token, {
    onFrame: handleFrame,
    onState: showConnection,
    onEnded: end,
  });
  // What the first `ready` is to bring about: every room listed joined, and what an ended
  // session left unacked sent under this one (connection.js keeps both from here on).
  for (const name of state.rooms.keys()) connection.send({ type: "join", room: name });
  for (const [clientId, { room: name, text, attachments }] of state.pending) {
    const frame = { type: "send", room: name, text, client_id: clientId };
    if (attachments.length) frame.attachments = attachments.map((attachment) => attachment.id);
    connection.send(frame);
  }
  connection.start();
}

function showConnection(phase) {
  // Usable while reconnecting too: what is sent then waits, and goes out once, in order,
  // when the connection is back (connection.js).
  renderConnection(phase, state.active !== null);
}

// ---------------------------------------------------------------- frames from the server

function handleFrame(frame) {
  const change = reduce(state, frame);
  if (frame.type === "typing") expireTypingLater();
  if (frame.type === "message" && !state.visible && mentionsMe(state, frame)) notifyMention(frame);
  followThread(frame);
  if (change.me) renderMyStatus(change.me.status, change.me.note);
  if (change.activeLeft) {
    const next = state.rooms.keys().next().value;
    if (next) activate(next);
    else drawConversation();
  }
  if (change.notices) renderNotices(state);
  if (change.invites) renderInvites(state);
  if (change.announce) announceText(change.announce);
  if (change.conversation) drawConversation(change.conversation);
  else if (change.header) drawHeader();
  if (change.typing) renderTyping(state);
  if (change.appended) {
    const message = change.appended;
    appendMessage(state, message);
    if (message.user !== state.me || message.assistant) announce(message);
  }
  if (change.older) renderOlder(state);
  if (change.members) drawMembers();
  if (change.roster) loadMembers(change.roster);
  if (change.catchUp) renderCatchUp(change.catchUp, state, { onOpen: jumpTo });
  if (jump && (change.older || change.conversation)) continueJump();
  if (change.draft !== null) giveBackDraft(change.draft);
  if (change.draftFiles) giveBack(state.active, change.draftFiles);
  if (change.sendError !== null) showSendError(change.sendError);
  if (change.readActive) markRead(activeRoom(state));
  // A DM that now includes the user: joined through the connection, which then rejoins it
  // after each reconnect, so its messages arrive live and count as unread.
  if (change.join) connection?.send({ type: "join", room: change.join });
  if (change.rooms) drawRooms();
}

let typingTimer = null;
/** Takes each typing hint down when it runs out: one timer, for the first to run out. */
function expireTypingLater() {
  clearTimeout(typingTimer);
  const next = nextTypingExpiry(state);
  if (next === null) return;
  typingTimer = setTimeout(() => {
    if (expireTyping(state, Date.now())) renderTyping(state);
    expireTypingLater();
  }, next - Date.now());
}

function drawRooms() {
  renderRooms(state, activate);
}

/** The room on screen, and what goes with it in the member panel: the moderation menu and
 *  the room tools follow the list and my role. */
function drawConversation(options) {
  renderConversation(state, options);
  drawTools();
}

function drawHeader() {
  renderHeader(state);
  drawTools();
}

function drawMembers() {
  renderMembers(state);
  drawTools();
}

function drawTools() {
  refreshModeration();
  const r = activeRoom(state);
  showRoomTools(r && {
    name: r.name, label: roomLabel(state, r), topic: r.topic,
    private: r.kind === "private", membersInvite: r.membersInvite,
    invite: canInvite(r), manage: canManage(r), archive: canArchive(r),
  });
  showDmTools(r && isDm(r)
    ? r.people.filter((person) => !sameUser(person, state.me))
      .map((username) => ({ username, blocked: blocks(state, username) }))
    : null);
}

/** Per room: the latest request for its member list; an answer to an older one is dropped. */
const memberRequests = new Map();

/** Fetches the room's members, online or not (GET /api/rooms/{name}/members), page by page,
 *  and draws them if the room is on screen. */
async function loadMembers(name) {
  const { token } = session;
  const request = (memberRequests.get(name) || 0) + 1;
  memberRequests.set(name, request);
  const members = [];
  let cursor = null;
  try {
    do {
      const page = await api.members(token, name, cursor);
      members.push(...page.members);
      cursor = page.next_cursor;
    } while (cursor && members.length < MAX_MEMBERS_LISTED);
  } catch (error) {
    if (memberRequests.get(name) === request && name === state.active) {
      showMembersStatus(`The member list could not be loaded: ${error.message}`);
    }
    return;
  }
  if (memberRequests.get(name) !== request || session?.token !== token) return;
  if (!setRoster(state, name, members) || name !== state.active) return;
  // Only a cut list is worth a line; the line of a moderation just done stays until the
  // room changes (this reload follows that moderation's own `member` frame).
  if (cursor) showMembersStatus(`Showing the first ${members.length} members.`);
  drawMembers();
}

// ---------------------------------------------------------------- actions

function activate(name) {
  if (composing && composing.room !== name) stopComposing();
  const left = activeRoom(state);
  if (left && left.name !== name) {
    // Older messages read in context are not kept for a return: the room opens at its newest.
    leaveContext(left);
    left.target = null;
  }
  state.active = name;
  const r = room(state, name);
  // Where the "New messages" line goes while the room is on screen.
  r.newFrom = r.unread > 0 ? r.lastRead : null;
  closeDrawers();
  closeModeration();
  showMembersStatus("");
  drawRooms();
  drawConversation();
  loadMembers(name);
  markRead(r);
  showConnection(connection?.ready ? "connected" : "reconnecting");
  showUploads();
  focusComposer();
}

function markRead(r) {
  if (!readAll(state, r)) return;
  scheduleRead(r);
  drawRooms();
}

/** Per room: when its last `read` went out, and the timer of the one waiting, if any. */
const reads = new WeakMap();

function scheduleRead(r) {
  if (!reads.has(r)) reads.set(r, { sentAt: 0, timer: null });
  const read = reads.get(r);
  if (read.timer) return;
  const wait = READ_INTERVAL_MS - (Date.now() - read.sentAt);
  if (wait <= 0) {
    sendRead(r, read);
    return;
  }
  read.timer = setTimeout(() => {
    read.timer = null;
    sendRead(r, read);
  }, wait);
}

function sendRead(r, read) {
  read.sentAt = Date.now();
  connection?.send({ type: "read", room: r.name, id: r.lastRead });
}

/** Joins a room (a room object: found, created, or a DM opened) and shows it. */
export function joinRoom(listed) {
  addRoom(state, listed);
  connection?.send({ type: "join", room: listed.name });
  activate(listed.name);
}

/** Accepts an invitation: joining the room is what accepts it (docs/api.md, "Invites"). */
export function acceptInvite(name) {
  const invite = state.invites.get(name);
  if (!invite) return;
  state.invites.delete(name);
  renderInvites(state);
  joinRoom({ ...invite.room, role: "member" });
}

export async function declineInvite(name) {
  const invite = state.invites.get(name);
  if (!invite) return;
  try {
    await api.declineInvite(session.token, name);
    state.invites.delete(name);
  } catch (error) {
    invite.error = error.message;
  }
  renderInvites(state);
}

export function dismiss(id) {
  dismissNotice(state, id);
  renderNotices(state);
}

/** What I may do to `username` in the room on screen (state.js `actionsOn`). */
export function moderationAllowed(username) {
  return actionsOn(state, activeRoom(state), username);
}

/** A moderation of `username` in the room on screen: "kick", "ban", "mute", or "role" (to
 *  `role`). Throws the server's refusal. The room hears of it as a `member` frame, which
 *  redraws the member list. */
export function moderate(action, username, { reason, durationSecs, role }) {
  const { token } = session;
  const name = state.active;
  switch (action) {
    case "kick": return api.kick(token, name, username, reason);
    case "ban": return api.restrict(token, name, "bans", username, reason, durationSecs);
    case "mute": return api.restrict(token, name, "mutes", username, reason, durationSecs);
    case "role": return api.setRole(token, name, username, role);
    default: throw new Error(`BUG: no moderation called ${action}`);
  }
}

export function inviteToActiveRoom(username) {
  return api.invite(session.token, state.active, username);
}

/** Sets the topic of the room on screen (null: none); shown at once, as the answer says. */
export async function setActiveTopic(topic) {
  showUpdated(await api.setTopic(session.token, state.active, topic));
}

/** Lets every member of the private room on screen invite (or only its admins). */
export async function setActiveMembersInvite(membersInvite) {
  showUpdated(await api.updateRoom(session.token, state.active, { members_invite: membersInvite }));
}

function showUpdated(listed) {
  if (updateRoom(state, listed)) {
    drawHeader();
    drawRooms();
  }
}

/** Lifts a ban or a mute (`what`: "bans" or "mutes") of `username` in the room on screen. */
export function liftInActiveRoom(what, username) {
  return api.lift(session.token, state.active, what, username);
}

/** Deletes (archives) the room on screen: its `room_removed` takes it off every list. */
export function archiveActiveRoom() {
  return api.archive(session.token, state.active);
}

/** Blocks (or unblocks) `username`, and shows the DM tools anew. */
export async function setBlock(username, block) {
  await (block ? api.block : api.unblock)(session.token, username);
  markBlocked(state, username, block);
  drawTools();
}

/** Quiets the room on screen (it then tells of mentions only), or not. */
export async function toggleQuiet() {
  const r = activeRoom(state);
  if (!r) return;
  try {
    await api.setQuiet(session.token, r.name, !r.quiet);
    r.quiet = !r.quiet;
    drawHeader();
    drawRooms();
  } catch (error) {
    showSendError(error.message);
  }
}

export function leaveActiveRoom() {
  if (state.active) connection?.send({ type: "leave", room: state.active });
}

export function createRoom(name, topic, isPrivate) {
  return api.createRoom(session.token, name, topic, isPrivate);
}

/** People whose username starts with `prefix`, for the New message control: not me, as a
 *  DM names the others. */
export async function findPeople(prefix) {
  const page = await api.searchUsers(session.token, prefix);
  const me = state.me.toLowerCase();
  return page.users.filter((user) => user.username.toLowerCase() !== me);
}

/** The DM with these people (usernames), opened or found: the room object. */
export function openDm(usernames) {
  return api.openDm(session.token, usernames);
}

/** A desktop notification for a mention that came while the tab was hidden, if the reader
 *  allowed them (asked once, on their first send: browsers want a gesture first). */
function notifyMention(message) {
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  const r = state.rooms.get(message.room);
  const where = r ? roomLabel(state, r) : `#${message.room}`;
  try {
    const shown = new Notification(`${message.user} in ${where}`, {
      body: [...gist(message)].slice(0, 140).join(""),
      tag: `sala-${message.room}`,
    });
    shown.addEventListener("click", () => {
      window.focus();
      activate(message.room);
    });
  } catch {
    // Some browsers allow notifications from a service worker only: the badge still tells.
  }
}

const NOTIFY_ASKED = "sala.notifications-asked";

function askForNotificationsOnce() {
  if (!("Notification" in window) || Notification.permission !== "default") return;
  if (localStorage.getItem(NOTIFY_ASKED)) return;
  localStorage.setItem(NOTIFY_ASKED, "1");
  Notification.requestPermission().catch(() => {});
}

export function sendMessage() {
  askForNotificationsOnce();
  const text = composerText();
  showSendError("");
  if (!state.active) return;
  const doing = composing?.room === state.active ? composing : null;
  // An edit changes the text only; the files waiting stay for the next message.
  const files = doing?.kind === "edit" ? { attachments: [], uploading: 0 } : pendingIn(state.active);
  if (!text && files.attachments.length === 0) {
    if (files.uploading) showSendError("Your file is still uploading: send it once it is done.");
    return;
  }
  if (files.uploading) {
    showSendError(`${files.uploading === 1 ? "A file is" : `${files.uploading} files are`} still uploading: send once done, or cancel.`);
    return;
  }
  if (files.attachments.length > MOST_ATTACHMENTS) {
    showSendError(`A message carries at most ${MOST_ATTACHMENTS} files: remove ${files.attachments.length - MOST_ATTACHMENTS}.`);
    return;
  }
  const chars = [...text].length;
  if (chars > MAX_MESSAGE_CHARS) {
    // Said before sending, never cut: the box has no maxlength for that reason.
    showSendError(`That is ${chars - MAX_MESSAGE_CHARS} characters over the ${MAX_MESSAGE_CHARS} a message may have.`);
    return;
  }
  const clientId = newClientId();
  if (doing?.kind === "edit") {
    // An edit is not kept for resending: a reconnect before its ack leaves the old text,
    // which the page shows, and the author may edit again.
    if (!connection?.send({ type: "edit", room: state.active, id: doing.id, text, client_id: clientId })) {
      showSendError("Not connected: the edit was not sent.");
      return;
    }
  } else {
    const frame = { type: "send", room: state.active, text, client_id: clientId };
    if (doing?.kind === "reply") frame.reply_to = doing.id;
    const attachments = files.attachments.length ? takeReady(state.active) : [];
    if (attachments.length) frame.attachments = attachments.map((attachment) => attachment.id);
    // Kept until its ack; connection.js sends it again (same client_id, so never twice)
    // after a reconnect.
    addPending(state, clientId, state.active, text, attachments);
    if (!connection?.send(frame)) {
      showSendError("Not connected: your message will be sent when the connection is back.");
    }
  }
  stopComposing();
  clearComposer();
}

// ---------------------------------------------------------------- a thread

/** The thread on screen: `{room, root, messages}`, or null. */
let thread = null;

export async function openThread(room, root) {
  thread = { room, root, messages: [] };
  try {
    const page = await api.thread(session.token, room, root);
    if (thread?.root !== root) return;
    thread.messages = page.messages;
  } catch (error) {
    showSendError(`The thread could not be loaded: ${error.message}`);
    thread = null;
  }
  renderThread(state, thread);
}

export function closeThread() {
  thread = null;
  renderThread(state, null);
}

/** A new reply, or a change to a message of the thread on screen, is drawn there too. */
function followThread(frame) {
  if (!thread) return;
  const message = frame.type === "message" ? frame : frame.type === "message_updated" ? frame.message : null;
  if (!message || message.room !== thread.room) return;
  const at = thread.messages.findIndex((m) => m.id === message.id);
  if (at >= 0) {
    if ((thread.messages[at].seq || 0) <= (message.seq || 0)) thread.messages[at] = message;
  } else if (frame.type === "message" && message.reply_to === thread.root) {
    thread.messages.push(message);
  } else {
    return;
  }
  renderThread(state, thread);
}

/** A reply typed in the thread's box. */
export function replyInThread(text) {
  if (!thread || !text.trim()) return false;
  const clientId = newClientId();
  addPending(state, clientId, thread.room, text);
  return Boolean(connection?.send({
    type: "send", room: thread.room, text: text.trim(), client_id: clientId, reply_to: thread.root,
  }));
}

// ---------------------------------------------------------------- acting on a message

/** What the composer does besides writing a new message: `{kind: "reply" | "edit", room,
 *  id}`, or null. */
let composing = null;

function startComposing(kind, message) {
  composing = { kind, room: state.active, id: message.id };
  const excerpt = [...gist(message)].slice(0, 80).join("");
  showComposing(kind === "edit" ? "Editing your message" : `Replying to ${message.user}: ${excerpt}`);
  if (kind === "edit") setComposer(message.text);
  else focusComposer();
}

export function stopComposing() {
  const wasEditing = composing?.kind === "edit";
  composing = null;
  showComposing(null);
  if (wasEditing) clearComposer();
}

/** Up in an empty composer: edit my last message. Answers whether there was one. */
export function editLast() {
  const message = lastOwnMessage(state, activeRoom(state));
  if (!message) return false;
  startComposing("edit", message);
  return true;
}

/** A click on a message's button (render.js `data-action`): reply, react, take a reaction
 *  back, open the reaction picker, edit, or delete (asked twice: the first click turns
 *  the button into "Really delete?"). */
export function messageAction(id, action, { emoji, button } = {}) {
  const r = activeRoom(state);
  const message = messageIn(r, id);
  if (!message) return;
  switch (action) {
    case "reply": startComposing("reply", message); break;
    case "edit": startComposing("edit", message); break;
    case "pick": showPicker(id); break;
    case "thread": openThread(r.name, id); break;
    case "react":
    case "unreact":
      showPicker(null);
      connection?.send({ type: action, room: r.name, id, emoji });
      break;
    case "delete":
      if (button && button.dataset.confirm !== "yes") {
        button.dataset.confirm = "yes";
        button.textContent = "Really delete?";
        return;
      }
      connection?.send({ type: "delete", room: r.name, id });
      break;
    default: throw new Error(`BUG: no message action called ${action}`);
  }
}

/** A random idempotency key (crypto.randomUUID needs a secure context; this does not). */
function newClientId() {
  return Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Whom `@` offers in the message box: the members of the room on screen (its member list,
 *  and whoever is online or wrote there), and the user's own name, left out of it. */
export function mentionable() {
  const r = activeRoom(state);
  if (!r) return { names: [], me: state.me || "" };
  const names = new Set([...(r.roster?.keys() ?? []), ...r.members, ...r.messages.map((m) => m.user)]);
  return { names: [...names], me: state.me || "" };
}

let lastTypingSent = 0;
export function noteTyping() {
  const now = Date.now();
  // A mute refuses `typing` too: the page does not ask while it knows of one.
  if (state.active && !mutedIn(activeRoom(state), now) && now - lastTypingSent > TYPING_SEND_MS) {
    lastTypingSent = now;
    connection?.send({ type: "typing", room: state.active });
  }
}

/** A message being brought into view (`jumpTo`): {room, id, fetching}; null when none. */
let jump = null;
/** A message opened far back is joined to the newest when this many pages after it (of
 *  JOIN_PAGE, the most the server gives at once) reach them; otherwise it is shown as a run
 *  of its own, which the reader pages down from (state.js, "a message in context"). */
const JOIN_PAGES = 2;
const JOIN_PAGE = 200;

/** Opens `room` at its message `id` (a catch-up item, a search hit): scrolled to, marked
 *  and focused, with the messages around it. One already loaded is shown at once; one that
 *  is not comes with the page around it (GET .../messages?around=ID), which joins the
 *  newest if a few pages reach them, so the room stays one unbroken run of messages, the
 *  live ones below; further back it is a run of its own until the reader gets to the
 *  newest. */
export function jumpTo(name, id) {
  if (!state.rooms.has(name)) return;
  if (state.active !== name) activate(name);
  else closeDrawers(); // a search hit in the room drawer of a phone: the room shows
  const r = room(state, name);
  r.target = id;
  jump = { room: name, id, fetching: false };
  continueJump();
}

function continueJump() {
  const r = state.rooms.get(jump.room);
  if (!r || state.active !== jump.room) {
    jump = null;
    return;
  }
  if (revealMessage(jump.id)) {
    jump = null;
    return;
  }
  // The room's first page (its `joined`) may hold it: that answer continues the jump.
  if (!r.joinedBefore || jump.fetching) return;
  openAround(r, jump);
}

async function openAround(r, current) {
  current.fetching = true;
  const { token } = session;
  const still = () => jump === current && state.active === r.name && state.rooms.get(r.name) === r;
  // The context this jump opened, while it is not drawn yet: dropped if the jump is given
  // up (another jump, the message shown meanwhile), so the state says what the screen shows.
  let made = null;
  const giveUp = () => {
    if (made && r.context === made) leaveContext(r);
  };
  try {
    const page = await api.messages(token, r.name, { around: current.id });
    if (!still()) return;
    let apart = openContext(r, page.messages, page.more);
    made = r.context;
    for (let n = 0; apart && n < JOIN_PAGES; n += 1) {
      made.loading = true; // no page of it from scrolling meanwhile
      const after = made.messages[made.messages.length - 1].id;
      const newer = await api.messages(token, r.name, { after, limit: JOIN_PAGE });
      if (!still() || r.context !== made) return giveUp();
      made.loading = false;
      apart = extendContext(r, newer.messages, newer.more);
    }
  } catch (error) {
    if (!still()) return giveUp();
    jump = null;
    giveUp();
    showSendError(error.status === 404
      ? "That message is no longer in the room."
      : `That message could not be opened: ${error.message}`);
    return;
  }
  jump = null;
  drawConversation();
  revealMessage(current.id);
  markRead(r);
}

/** "Jump to the newest": the context run on screen gives way to the newest messages. */
export function showNewest() {
  const r = activeRoom(state);
  if (!r) return;
  leaveContext(r);
  r.target = null;
  drawConversation();
  markRead(r);
  focusComposer();
}

export function loadOlder() {
  const r = activeRoom(state);
  if (r?.context) {
    loadContext(r, "older");
    return;
  }
  if (!r || !r.more || r.loadingOlder || !r.messages.length) return;
  r.loadingOlder = true;
  if (!connection?.send({ type: "history", room: r.name, before: r.messages[0].id, limit: HISTORY_PAGE })) {
    r.loadingOlder = false;
  }
}

/** The reader is at the bottom of what is shown: in a context run, the next page down. */
export function loadNewer() {
  const r = activeRoom(state);
  if (r?.context) loadContext(r, "newer");
}

/** A page of a context run, above it (`older`) or below it (`newer`), from the HTTP API: a
 *  `history` frame would be taken for a page of the newest run. */
async function loadContext(r, side) {
  const context = r.context;
  const older = side === "older";
  if (context.loading || (older ? !context.more : !context.newer)) return;
  context.loading = true;
  const edge = older ? context.messages[0].id : context.messages[context.messages.length - 1].id;
  let page;
  try {
    page = await api.messages(session.token, r.name, older ? { before: edge } : { after: edge });
  } catch (error) {
    context.loading = false;
    showSendError(`More messages could not be loaded: ${error.message}`);
    return;
  }
  context.loading = false;
  if (r.context !== context) return;
  if (older) prependContext(r, page.messages, page.more);
  else extendContext(r, page.messages, page.more);
  if (state.active !== r.name) return;
  if (older) renderOlder(state);
  else {
    renderNewer(state);
    // Joined to the newest: what came meanwhile is read now.
    if (!r.context) markRead(r);
  }
}

/** The page was hidden or shown: what is on screen now counts as read. */
export function visibilityChanged(visible) {
  state.visible = visible;
  const r = activeRoom(state);
  if (r) markRead(r);
}

function setStatus(status, note) {
  state.status = status;
  renderMyStatus(status, note);
}

export async function toggleStatus() {
  const next = state.status === "busy" ? "available" : "busy";
  // The note said why one was busy, so going available clears it: the server stores any
  // note it is sent, whatever the status, so none is sent.
  const note = next === "busy" ? statusNoteText() || undefined : undefined;
  try {
    const me = await api.setStatus(session.token, next, note);
    setStatus(me.status, me.status_note);
    // renderMyStatus leaves a field being typed in alone; this answers the user's own press.
    setStatusNote(me.status_note || "");
  } catch (error) {
    showSendError(error.message);
  }
}

let searchTimer = null;
/** Rooms whose name or topic matches what is typed; with nothing typed, every room, a page
 *  at a time ("More rooms" fetches the next). */
export function searchRooms() {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => showRoomPage(null), 200);
}

async function showRoomPage(cursor) {
  const query = searchQuery();
  try {
    const page = await api.searchRooms(session.token, query, cursor);
    // An answer for what is no longer typed (a slower, older request) is dropped.
    if (searchQuery() !== query) return;
    renderSearchResults(page, {
      query,
      more: Boolean(cursor),
      onJoin: (found) => {
        joinRoom(found);
        clearSearch();
      },
      onMore: () => showRoomPage(page.next_cursor),
    });
  } catch (error) {
    renderSearchError(error.message);
  }
}

// ---------------------------------------------------------------- files and search

/** Where a file attached now goes: the room on screen, with the session's token (null when
 *  no room is on screen). */
export function uploadTarget() {
  return session && state.active ? { token: session.token, room: state.active } : null;
}

/** A page of messages found (GET /api/search) for `q` as typed; throws the server's
 *  refusal (ApiError). */
export function searchMessages(q, cursor) {
  return api.searchMessages(session.token, q, cursor);
}

/** How a search hit's room is called. */
export function roomCalled(name) {
  return labelOf(state, name);
}

/** Whether a hit in that room opens here: a room of the page's. */
export function isMyRoom(name) {
  return state.rooms.has(name);
}
