// What the page knows about the chat, and how each server frame (docs/protocol.md) changes
// it. No DOM and no timers here: `reduce` applies one frame and answers what it changed, so
// render.js redraws that much and chat.js does what follows (marking a room read, picking
// another room), and node can test it all without a page (crates/sala-server/tests/web/).
// What the wire needs to resume after a reconnect (rooms to rejoin, sends to resend) is
// connection.js's, not this module's.

/** How long a typing hint shows after its last `typing` frame. */
export const TYPING_SHOW_MS = 3500;

/** The page's one state. It outlives a session: `pending` survives a session that ended
 *  (so what was typed goes out under the next one), and only signing out clears it all. */
export function createState() {
  return {
    me: null, // the signed-in username
    status: "available", // mine
    rooms: new Map(), // name -> Room, in the order they became known
    active: null, // the name of the room on screen
    // client_id -> {room, text, attachments}: sent, not yet acked or refused (`attachments`
    // are the attachment objects of the files it carries, given back with its text).
    pending: new Map(),
    statuses: new Map(), // username -> {status, note}
    visible: true, // whether the reader can see the page: the page keeps it up to date
    invites: new Map(), // room name -> {room (a room object), by}: invitations not yet answered
    blocked: new Set(), // the usernames I block (GET /api/me/blocks), lower-cased
    // What happened to me that the page must say until it is dismissed (a kick, a ban, a
    // mute): [{id, room, text}], oldest first, one per room (the newest word about it).
    notices: [],
    noticeCount: 0, // the last notice's id
  };
}

/** What a DM's name starts with: a handle nobody should see, so a room of that name is a
 *  DM even where no room object said so (the server keeps such names for DMs). */
const DM_PREFIX = "dm.";

/** A room as the page keeps it. `about` holds what a room object said of it (fromListed). */
export function newRoom(name, about = {}) {
  return {
    name,
    kind: about.kind || (name.startsWith(DM_PREFIX) ? "dm" : "public"), // public | private | dm
    people: about.people || [], // a DM's people by username, me included; [] for rooms
    role: about.role || null, // mine in it (owner, admin, member), where the room list said
    topic: about.topic || "",
    membersInvite: Boolean(about.membersInvite), // a private room every member may invite to
    unread: about.unread || 0, lastRead: about.lastRead || 0,
    unreadMentions: about.unreadMentions || 0, // of the unread, those that mention me
    quiet: Boolean(about.quiet), // I quieted it: it tells me of mentions only
    messages: [], ids: new Set(), // loaded messages, oldest first, up to the newest
    more: false, loadingOlder: false,
    // A run of older messages shown instead, apart from the newest (a message opened from
    // a search hit or a catch-up item far back): {messages, ids, more (older exist before
    // it), newer (messages exist between it and `messages`), loading (a page of it is on its
    // way: chat.js's to set)}, or null. See `openContext`.
    context: null,
    target: null, // the id of the message opened from elsewhere, marked until the room changes
    members: new Set(), // who is online in it now (`joined`, `presence`)
    // Everyone who is a member, online or not, by username -> role (GET .../members); null
    // until it is loaded.
    roster: null,
    muted: null, // {until} (an ISO time, or null: until lifted) while a mute of mine lasts
    typing: new Map(), // username -> when their hint runs out (ms since the epoch)
    joinedBefore: false, // joined earlier in this page's life: a new `joined` is a return
    // Its first `joined` history is news, to count as unread: a conversation that reached
    // the user while the page was open (`room_added`), which no room list's count covers.
    historyIsNews: false,
  };
}

/** What a room object of the HTTP API (or of `room_added`) says about a room. */
function fromListed(listed) {
  return {
    kind: listed.kind, people: listed.people, role: listed.role, topic: listed.topic,
    membersInvite: listed.members_invite,
    unread: listed.unread, lastRead: listed.last_read, unreadMentions: listed.unread_mentions,
    quiet: listed.quiet,
  };
}

/** Signed in as `me`, whose rooms (GET /api/me/rooms) are `listed`. */
export function enterRooms(state, me, listed) {
  if (state.me !== me) state.notices = [];
  state.me = me;
  state.rooms.clear();
  for (const room of listed) state.rooms.set(room.name, newRoom(room.name, fromListed(room)));
  // A user in no room at all (a new account) starts in general, as the terminal client
  // does, rather than on an empty "Pick a room"; the join on connecting makes it theirs.
  if (state.rooms.size === 0) state.rooms.set("general", newRoom("general"));
}

/** Signed out: nothing of the session stays. */
export function forget(state) {
  state.me = null;
  state.rooms.clear();
  state.active = null;
  state.pending.clear();
  state.invites.clear();
  state.blocked.clear();
  state.notices = [];
}

/** The invitations waiting at sign-in (GET /api/me/invites). */
export function setInvites(state, invites) {
  state.invites.clear();
  for (const { room: listed, invited_by: by } of invites) state.invites.set(listed.name, { room: listed, by });
}

/** Whom I block (GET /api/me/blocks): `[{id, username}]`. */
export function setBlocked(state, users) {
  state.blocked = new Set(users.map((user) => user.username.toLowerCase()));
}

/** A block of mine set (`true`) or lifted, as the server answered. */
export function markBlocked(state, username, block) {
  if (block) state.blocked.add(username.toLowerCase());
  else state.blocked.delete(username.toLowerCase());
}

export function blocks(state, username) {
  return state.blocked.has(username.toLowerCase());
}

/** The room's members, online or not (GET /api/rooms/{name}/members): `[{username, role,
 *  status, status_note}]`. My own entry says my role; the statuses of people the page has
 *  heard nothing of yet are taken from it. Answers the room, or null if it is not the
 *  page's (any more). */
export function setRoster(state, name, members) {
  const r = state.rooms.get(name);
  if (!r) return null;
  r.roster = new Map(members.map((member) => [member.username, member.role]));
  const me = members.find((member) => sameUser(member.username, state.me));
  if (me) r.role = me.role;
  for (const { username, status, status_note: note } of members) {
    if (!state.statuses.has(username)) state.statuses.set(username, { status, note });
  }
  return r;
}

/** What a room object (PATCH /api/rooms/{name}, `room_updated`) says of a room the page
 *  has: its topic, and whether every member may invite. Answers the room, or null if the
 *  page has none of that name. */
export function updateRoom(state, listed) {
  const r = state.rooms.get(listed.name);
  if (!r) return null;
  r.topic = listed.topic || "";
  r.membersInvite = Boolean(listed.members_invite);
  return r;
}

export function dismissNotice(state, id) {
  state.notices = state.notices.filter((notice) => notice.id !== id);
}

/** Usernames are matched ignoring case, as the server matches them. */
export function sameUser(a, b) {
  return Boolean(a && b) && a.toLowerCase() === b.toLowerCase();
}

const RANK = { member: 0, admin: 1, owner: 2 };

/** A member's role in `r`, as far as the page knows (someone online it has no listing of
 *  yet has just joined, as a member). */
export function roleOf(r, username) {
  return r.roster?.get(username) || "member";
}

/** What I may do to `username` in `r` (docs/api.md, "Who may do what"): null for nothing,
 *  or `{role}`: kick, ban and mute them, and give them that role (null: no role change,
 *  which is the owner's alone). An admin acts on members, the owner on admins too; nobody
 *  on the owner, on themselves or in a DM. */
export function actionsOn(state, r, username) {
  if (!r || isDm(r) || sameUser(username, state.me)) return null;
  const mine = RANK[r.role] ?? 0;
  const theirs = RANK[roleOf(r, username)] ?? 0;
  if (mine < RANK.admin || theirs >= mine) return null;
  return { role: r.role === "owner" ? (theirs === RANK.admin ? "member" : "admin") : null };
}

/** Whether I may change `r`'s topic, lift bans and mutes, and invite: its admins and owner
 *  may. */
export function canManage(r) {
  return Boolean(r) && !isDm(r) && (r.role === "owner" || r.role === "admin");
}

/** Whether I may invite people into `r`: its admins and owner, or any member of a private
 *  room that lets every member invite. */
export function canInvite(r) {
  return canManage(r) || (Boolean(r) && r.kind === "private" && r.membersInvite && Boolean(r.role));
}

/** Whether I may delete (archive) `r`: its owner alone. */
export function canArchive(r) {
  return Boolean(r) && !isDm(r) && r.role === "owner";
}

/** Whether a mute of mine holds in `r` at `now` (ms), as far as the page heard. */
export function mutedIn(r, now = Date.now()) {
  return Boolean(r?.muted) && (r.muted.until === null || Date.parse(r.muted.until) > now);
}

/** The room to show first after signing in. */
export function firstRoom(state) {
  return state.rooms.has("general") ? "general" : state.rooms.keys().next().value;
}

/** The room of that name, made known if it was not: a frame about a room lists it. */
export function room(state, name) {
  if (!state.rooms.has(name)) state.rooms.set(name, newRoom(name));
  return state.rooms.get(name);
}

/** A room the user joins or opens (a room object: found, created, a DM opened). */
export function addRoom(state, listed) {
  if (!state.rooms.has(listed.name)) state.rooms.set(listed.name, newRoom(listed.name, fromListed(listed)));
}

export function isDm(r) {
  return r.kind === "dm";
}

/** How a room is called on screen: `#name`; a DM by the names of the others in it, as its
 *  own name is a handle nobody should see. */
export function roomLabel(state, r) {
  if (!isDm(r)) return `#${r.name}`;
  const me = (state.me || "").toLowerCase();
  const others = r.people.filter((person) => person.toLowerCase() !== me);
  return others.length > 0 ? others.join(", ") : "Direct message";
}

/** The label of the room of that name, known or not (a catch-up item may name any). */
export function labelOf(state, name) {
  return roomLabel(state, state.rooms.get(name) || newRoom(name));
}

export function activeRoom(state) {
  return (state.active && state.rooms.get(state.active)) || null;
}

/** A send that waits for its ack; its text and files go back to its author if it is
 *  refused. */
export function addPending(state, clientId, room, text, attachments = []) {
  state.pending.set(clientId, { room, text, attachments });
}

/** Marks everything loaded in `r` read, if the reader can see it. True when the marker moved
 *  or a badge cleared, which the server must then be told. */
export function readAll(state, r) {
  const last = r.messages[r.messages.length - 1];
  // Reading older messages (a context run) is not reading the newest.
  if (!state.visible || !last || r.context) return false;
  if (last.id <= r.lastRead && r.unread === 0) return false;
  r.lastRead = Math.max(r.lastRead, last.id);
  r.unread = 0;
  r.unreadMentions = 0;
  return true;
}

/** What is unread where it should be told: a quiet room's plain messages are not. */
export function unreadTotal(state) {
  return [...state.rooms.values()].reduce((sum, r) => sum + (r.quiet ? r.unreadMentions : r.unread), 0);
}

export function mentionTotal(state) {
  return [...state.rooms.values()].reduce((sum, r) => sum + r.unreadMentions, 0);
}

/** Whether `message` mentions me: by name, or the whole room (as the server read it). */
export function mentionsMe(state, message) {
  return !sameUser(message.user, state.me)
    && (Boolean(message.mentions_room) || (message.mentions || []).some((name) => sameUser(name, state.me)));
}

/** Whether a room other than the one on screen has unread messages. */
export function unreadElsewhere(state) {
  return [...state.rooms.values()].some((r) => r.name !== state.active
    && (r.quiet ? r.unreadMentions > 0 : r.unread > 0));
}

/** Who is typing in `r`, in the order they started. */
export function typers(r) {
  return [...r.typing.keys()];
}

/** When the first typing hint runs out, or null if none shows. */
export function nextTypingExpiry(state) {
  let next = null;
  for (const r of state.rooms.values()) {
    for (const until of r.typing.values()) if (next === null || until < next) next = until;
  }
  return next;
}

/** Drops the typing hints that ran out by `now`; true if the room on screen lost one. */
export function expireTyping(state, now) {
  let shown = false;
  for (const r of state.rooms.values()) {
    for (const [user, until] of r.typing) {
      if (until > now) continue;
      r.typing.delete(user);
      if (r.name === state.active) shown = true;
    }
  }
  return shown;
}

/** What one frame changed. Each part is for render.js or chat.js to act on; `null` or
 *  `false` means untouched. */
function unchanged() {
  return {
    rooms: false, // the room list, its badges and the tab's title
    conversation: null, // the room on screen, to draw anew: {keepScroll}
    appended: null, // a new message in the room on screen, to add at the end
    older: false, // older messages in the room on screen, to draw above the reader
    typing: false, // who is typing in the room on screen
    members: false, // the member list (of the room on screen, with statuses)
    me: null, // my own status: {status, note}; a `note` of undefined leaves the note box be
    activeLeft: false, // the room on screen was left: another must be picked
    readActive: false, // the room on screen has news, to mark read if it is seen
    catchUp: null, // what mentioned me while I was busy: {items, summary}
    draft: null, // the text of a refused send in the room on screen, to give back
    draftFiles: null, // and the attachments it carried (attachment objects), if any
    sendError: null, // what the line under the message box says ("" clears it)
    join: null, // the name of a room the server just made the user part of, to join
    header: false, // the title and topic of the room on screen
    roster: null, // the name of the room on screen, whose members are to be fetched again
    invites: false, // the invitations waiting
    notices: false, // what happened to me, said until dismissed (state.notices)
    announce: null, // a sentence for screen readers: news that has no message of its own
  };
}

/** Applies one server frame to the state and answers what changed. `now` (ms) dates typing
 *  hints. Frames of unknown types change nothing. */
export function reduce(state, frame, now = Date.now()) {
  const change = unchanged();
  switch (frame.type) {
    case "ready": onReady(state, frame, change); break;
    case "joined": onJoined(state, frame, change); break;
    case "left": onLeft(state, frame, change); break;
    case "message": onMessage(state, frame, change); break;
    case "message_updated": onMessageUpdated(state, frame, change); break;
    case "ack": state.pending.delete(frame.client_id); break;
    case "history": onHistory(state, frame, change); break;
    case "typing": onTyping(state, frame, change, now); break;
    case "presence": onPresence(state, frame, change); break;
    case "status": onStatus(state, frame, change); break;
    case "read": onRead(state, frame, change); break;
    case "error": onError(state, frame, change); break;
    case "room_added": onRoomAdded(state, frame, change); break;
    case "catch_up": change.catchUp = { items: frame.items, summary: frame.summary }; break;
    case "member": onMember(state, frame, change); break;
    case "invited": onInvited(state, frame, change); break;
    case "room_updated": onRoomUpdated(state, frame, change); break;
    case "room_removed": onRoomRemoved(state, frame, change); break;
    default: break;
  }
  return change;
}

function onReady(state, frame, change) {
  state.status = frame.user.status;
  change.me = { status: frame.user.status, note: state.statuses.get(frame.user.username)?.note };
  // connection.js has just resent what waited: the "will be sent when the connection is
  // back" is no longer true.
  if (state.pending.size > 0) change.sendError = "";
}

function onJoined(state, frame, change) {
  const r = room(state, frame.room);
  const resumed = r.messages.length > 0;
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
  // not: the server's count came with the room list, unless the room came after it, by
  // `room_added`). Messages already shown are skipped.
  const returning = r.joinedBefore || r.historyIsNews;
  r.joinedBefore = true;
  for (const message of frame.history) addMessage(state, r, message, returning);
  for (const message of frame.updated || []) replaceMessage(r, message);
  if (r.name === state.active) {
    change.conversation = { keepScroll: resumed };
    change.readActive = true;
    change.roster = r.name;
  }
  // Joining a room one is invited into accepts the invitation (joined here: a join on
  // another device is not heard of, and its invitation shows until the next sign-in).
  if (state.invites.delete(r.name)) change.invites = true;
  change.rooms = true;
}

/** A DM that now includes the user (opened by someone, or by them elsewhere or here): listed,
 *  and to be joined, unless the page knows it already (the answer to its own POST /api/dms
 *  came first, and joined it). */
function onRoomAdded(state, { room: listed }, change) {
  const known = state.rooms.get(listed.name);
  if (known) {
    known.kind = listed.kind || known.kind;
    known.people = listed.people || known.people;
    if (known.name === state.active) change.conversation = { keepScroll: true };
  } else {
    const r = newRoom(listed.name, fromListed(listed));
    r.historyIsNews = true;
    state.rooms.set(r.name, r);
    change.join = r.name;
  }
  change.rooms = true;
}

function onLeft(state, { room: name }, change) {
  state.rooms.delete(name);
  if (state.active === name) {
    state.active = null;
    change.activeLeft = true;
  }
  change.rooms = true;
}

/** Adds a message in id order unless it is there already; `live` ones count as unread
 *  unless they are mine, already read, or in the room the reader is looking at. */
function addMessage(state, r, message, live) {
  if (r.ids.has(message.id)) return false;
  r.ids.add(message.id);
  const last = r.messages[r.messages.length - 1];
  r.messages.push(message);
  if (last && last.id > message.id) r.messages.sort((a, b) => a.id - b.id);
  if (live && message.user !== state.me && message.id > r.lastRead
      && !(r.name === state.active && state.visible && !r.context)) {
    r.unread += 1;
    if (mentionsMe(state, message)) r.unreadMentions += 1;
  }
  return true;
}

function onMessage(state, message, change) {
  const r = room(state, message.room);
  if (!addMessage(state, r, message, true)) return;
  // Whoever sent a message has stopped typing it.
  if (r.typing.delete(message.user) && r.name === state.active) change.typing = true;
  // While older messages are on screen instead (a context run), the new one waits below
  // them: the room's badge counts it, and "Jump to the newest" shows it.
  if (r.name === state.active && !r.context) {
    change.appended = message;
    change.readActive = true;
  }
  change.rooms = true;
}

function onHistory(state, frame, change) {
  const r = room(state, frame.room);
  r.loadingOlder = false;
  r.more = frame.more;
  for (const message of frame.messages) addMessage(state, r, message, false);
  for (const message of frame.updated || []) replaceMessage(r, message);
  if (r.name === state.active) change.older = true;
}

/** A message as it is after a change takes the place of the copy loaded (in the run of
 *  the newest, or in a context run), if that one is older (`seq`); a message not loaded
 *  (further back than the page went) is left out. */
function replaceMessage(r, message) {
  const inRun = replaceIn(r.messages, message);
  const inContext = r.context ? replaceIn(r.context.messages, message) : false;
  return inRun || inContext;
}

function replaceIn(messages, message) {
  const at = messages.findIndex((m) => m.id === message.id);
  if (at < 0 || (messages[at].seq || 0) > (message.seq || 0)) return false;
  messages[at] = message;
  return true;
}

function onMessageUpdated(state, { room: name, message }, change) {
  const r = state.rooms.get(name);
  if (!r || !replaceMessage(r, message)) return;
  if (name === state.active) change.conversation = { keepScroll: true };
}

/** The message `id` of `r`, if loaded (in the run of the newest or in a context run). */
export function messageIn(r, id) {
  return r?.messages.find((m) => m.id === id) || r?.context?.messages.find((m) => m.id === id) || null;
}

/** The messages on screen for `r`: a context run if one is open, else the newest. */
export function shownMessages(r) {
  return r.context ? r.context.messages : r.messages;
}

// ---------------------------------------------------------------- a message in context
//
// A message opened from elsewhere (a search hit, a catch-up item) that is not loaded comes
// with the page around it (GET .../messages?around=ID). The room's `messages` stay one
// unbroken run up to the newest, which the connection keeps up to date; so a page that
// reaches that run joins it, and one further back is a run of its own, the context, shown
// instead until the reader pages down to the newest (`extendContext`), or jumps there
// (`leaveContext`). Pages of the context come from the HTTP API, oldest first, as every
// page of messages does.

/** The page around a message (`messages`, `more`: cut on one side or both, the server does
 *  not say which) opened in `r`: it joins the run of the newest if it reaches it, else it
 *  becomes `r`'s context. Answers whether a context is open. */
export function openContext(r, messages, more) {
  r.context = { messages: [], ids: new Set(), more, newer: more, loading: false };
  addToContext(r.context, messages);
  return !joinIfTouching(r);
}

/** A page of the messages after the context's last (`more`: newer ones exist). Answers
 *  whether the context is still open (false: it reached the newest and joined them). */
export function extendContext(r, messages, more) {
  if (!r.context) return false;
  r.context.newer = more;
  addToContext(r.context, messages);
  return !joinIfTouching(r);
}

/** A page of the messages before the context's first (`more`: older ones exist). */
export function prependContext(r, messages, more) {
  if (!r.context) return;
  r.context.more = more;
  addToContext(r.context, messages);
}

/** Back to the newest: the context is dropped (its pages can be fetched again). */
export function leaveContext(r) {
  r.context = null;
}

function addToContext(context, messages) {
  for (const message of messages) {
    if (context.ids.has(message.id)) continue;
    context.ids.add(message.id);
    context.messages.push(message);
  }
  context.messages.sort((a, b) => a.id - b.id);
}

/** Joins the context to the run of the newest when the two meet: one run again, whose
 *  older flag is the context's. They meet when the context reaches the run's first message,
 *  or when nothing came after the context's last when it was read (whatever the run holds
 *  beyond it came later, live). */
function joinIfTouching(r) {
  const context = r.context;
  const first = r.messages[0];
  const last = context.messages[context.messages.length - 1];
  if (context.newer && !(first && last && last.id >= first.id)) return false;
  for (const message of context.messages) {
    if (r.ids.has(message.id)) replaceIn(r.messages, message);
    else {
      r.ids.add(message.id);
      r.messages.push(message);
    }
  }
  r.messages.sort((a, b) => a.id - b.id);
  const oldest = context.messages[0];
  if (!first || (oldest && oldest.id < first.id)) r.more = context.more;
  r.context = null;
  return true;
}

/** My newest message in `r` that is not deleted: what Up in an empty composer edits. */
export function lastOwnMessage(state, r) {
  if (!r) return null;
  for (let at = r.messages.length - 1; at >= 0; at -= 1) {
    const m = r.messages[at];
    if (sameUser(m.user, state.me) && !m.deleted && !m.assistant) return m;
  }
  return null;
}

/** Whether I may delete `message` in `r`: mine, or any as the room's admin or owner. */
export function canDelete(state, r, message) {
  if (!r || !message || message.deleted) return false;
  return sameUser(message.user, state.me) || (!isDm(r) && (r.role === "owner" || r.role === "admin"));
}

function onTyping(state, { room: name, user }, change, now) {
  room(state, name).typing.set(user, now + TYPING_SHOW_MS);
  if (name === state.active) change.typing = true;
}

function onPresence(state, { room: name, user, event }, change) {
  const r = room(state, name);
  if (event === "joined") r.members.add(user);
  else r.members.delete(user);
  if (name === state.active) change.members = true;
}

function onStatus(state, { user, status, note }, change) {
  state.statuses.set(user, { status, note });
  if (user === state.me) {
    state.status = status;
    change.me = { status, note };
  }
  change.members = true;
}

/** My read marker moved on another device: the badge follows it. */
function onRead(state, { room: name, id }, change) {
  const r = room(state, name);
  r.lastRead = Math.max(r.lastRead, id);
  r.unread = r.messages.filter((m) => m.id > r.lastRead && m.user !== state.me).length;
  r.unreadMentions = r.messages.filter((m) => m.id > r.lastRead && mentionsMe(state, m)).length;
  change.rooms = true;
}

function onError(state, frame, change) {
  if (frame.client_id && state.pending.has(frame.client_id)) {
    // The message was not stored: give it back to its author.
    const { room: name, text, attachments } = state.pending.get(frame.client_id);
    state.pending.delete(frame.client_id);
    if (name === state.active) {
      change.draft = text;
      if (attachments?.length) change.draftFiles = attachments;
    }
  }
  change.sendError = frame.message;
}

/** Someone's standing in a room changed (docs/protocol.md, `member`). About me, a kick or a
 *  ban takes the room away at once (its `left` follows only on connections that had joined
 *  it), and every change leaves a notice saying who did it and why; about others, the member
 *  list follows, and is fetched again if it is on screen. */
function onMember(state, frame, change) {
  const { room: name, user, change: what } = frame;
  const r = state.rooms.get(name);
  const mine = sameUser(user, state.me);
  if (mine) {
    const text = memberNotice(frame, r ? roomLabel(state, r) : `#${name}`);
    if (text) {
      addNotice(state, name, text);
      change.notices = true;
    }
  }
  if (mine && (what === "kicked" || what === "banned")) {
    // A ban drops a waiting invitation too.
    if (state.invites.delete(name)) change.invites = true;
    if (!r) return;
    state.rooms.delete(name);
    if (state.active === name) {
      state.active = null;
      change.activeLeft = true;
    }
    change.rooms = true;
    return;
  }
  if (!r) return;
  if (mine && what === "role_changed") r.role = frame.role;
  if (mine && what === "muted") r.muted = { until: frame.until || null };
  if (mine && what === "unmuted") r.muted = null;
  if (r.roster && what === "role_changed") r.roster.set(user, frame.role);
  if (r.roster && (what === "kicked" || what === "banned")) r.roster.delete(user);
  if (name === state.active) {
    change.members = true;
    change.roster = name;
  }
}

/** When a ban or mute ends, in the reader's own words for time. */
function whenText(until, otherwise) {
  if (!until) return otherwise;
  return `until ${new Date(until).toLocaleString([], { dateStyle: "medium", timeStyle: "short" })}`;
}

/** What a `member` frame about me says to me, or "" if it says nothing worth keeping. */
export function memberNotice({ change: what, by, role, reason, until }, label) {
  const who = by || "A moderator";
  const why = reason ? ` Reason: ${reason}` : "";
  switch (what) {
    case "kicked": return `${who} removed you from ${label}.${why}`;
    case "banned": return `${who} banned you from ${label} ${whenText(until, "until the ban is lifted")}.${why}`;
    case "muted":
      return `${who} muted you in ${label} ${whenText(until, "until the mute is lifted")}: you can read it but not write there.${why}`;
    case "unmuted": return `${who} lifted your mute in ${label}.`;
    case "unbanned": return `${who} lifted your ban from ${label}.`;
    case "role_changed": return `${who} made you ${role === "admin" ? "an admin" : "a member"} of ${label}.`;
    default: return "";
  }
}

/** The room's owner archived it: gone from my list, said in a notice. */
function onRoomRemoved(state, { room: name, by }, change) {
  const label = labelOf(state, name);
  onLeft(state, { room: name }, change);
  state.invites.delete(name);
  addNotice(state, name, `${by || "Its owner"} archived ${label}.`);
  change.notices = true;
  change.invites = true;
}

/** A notice about a room replaces any earlier one about it: the newest word is what holds. */
function addNotice(state, room, text) {
  state.noticeCount += 1;
  state.notices = state.notices.filter((notice) => notice.room !== room);
  state.notices.push({ id: state.noticeCount, room, text });
}

/** I was invited into a room: listed until I accept (join) or decline it. */
function onInvited(state, { room: listed, by }, change) {
  state.invites.set(listed.name, { room: listed, by: by || null });
  change.invites = true;
  change.announce = `${by || "Someone"} invited you to #${listed.name}.`;
}

function onRoomUpdated(state, { room: listed }, change) {
  const r = updateRoom(state, listed);
  if (!r) return;
  if (r.name === state.active) change.header = true; // the tools follow the header
  change.rooms = true; // a room's topic is its button's tooltip
}
