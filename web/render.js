// The chat view's DOM: drawing the state (state.js) into it, the scroll position of the
// message list, and the drawers of narrow screens. Its elements are looked up once, here
// (module scripts run after the page is parsed); nothing here decides what to send. Every
// piece of user text reaches the page through textContent or text nodes, never innerHTML.

import { attachmentList } from "./attachments.js";
import { gist, parseMessage } from "./format.js";
import {
  actionsOn, activeRoom, canDelete, isDm, labelOf, mentionTotal, messageIn, roleOf, roomLabel,
  sameUser, shownMessages, typers, unreadElsewhere, unreadTotal,
} from "./state.js";
import { el } from "./dom.js";

/** The emoji the React button offers (any emoji may come from another client). */
export const QUICK_EMOJI = ["👍", "❤️", "😂", "🎉", "😮", "😢", "🙏", "👀"];

const byId = (id) => document.getElementById(id);

/** The chat view's elements, for drawing and for wiring (app.js). */
export const view = {
  authView: byId("auth-view"),
  chatView: byId("chat-view"),
  sidebar: byId("sidebar"),
  meName: byId("me-name"),
  meStatus: byId("me-status"),
  statusForm: byId("status-form"),
  statusNote: byId("status-note"),
  statusToggle: byId("status-toggle"),
  invitesTitle: byId("invites-title"),
  invites: byId("invites"),
  myRooms: byId("my-rooms"),
  myDms: byId("my-dms"),
  searchForm: byId("search-form"),
  roomSearch: byId("room-search"),
  searchResults: byId("search-results"),
  logout: byId("logout"),
  openSidebar: byId("open-sidebar"),
  roomsUnread: byId("rooms-unread"),
  roomTitle: byId("room-title"),
  roomTopicLine: byId("room-topic-line"),
  leaveRoom: byId("leave-room"),
  quietRoom: byId("quiet-room"),
  openMembers: byId("open-members"),
  connection: byId("connection"),
  notices: byId("notices"),
  catchUp: byId("catch-up"),
  conversation: byId("conversation"),
  messages: byId("messages"),
  contextBar: byId("context-bar"),
  jumpNewest: byId("jump-newest"),
  threadPanel: byId("thread-panel"),
  threadTitle: byId("thread-title"),
  threadList: byId("thread-messages"),
  threadForm: byId("thread-form"),
  threadInput: byId("thread-input"),
  threadClose: byId("thread-close"),
  emojiPicker: byId("emoji-picker"),
  composing: byId("composing"),
  composingText: byId("composing-text"),
  composingCancel: byId("composing-cancel"),
  announcer: byId("announcer"),
  typing: byId("typing"),
  composer: byId("composer"),
  messageInput: byId("message-input"),
  attachButton: byId("attach-button"),
  completions: byId("completions"),
  send: byId("send"),
  sendError: byId("send-error"),
  membersPanel: byId("members-panel"),
  membersTitle: byId("members-title"),
  members: byId("members"),
  membersStatus: byId("members-status"),
  scrim: byId("scrim"),
};

// ---------------------------------------------------------------- building blocks

function textItem(text) {
  return el("li", "hint", text);
}

const SVG = "http://www.w3.org/2000/svg";

/** A padlock, read out as "private". Drawn, not the 🔒 emoji, which a system without an
 *  emoji font shows as an empty box. */
function lockMark() {
  const lock = el("span", "lock");
  lock.setAttribute("role", "img");
  lock.setAttribute("aria-label", "private");
  lock.title = "Private";
  const icon = document.createElementNS(SVG, "svg");
  icon.setAttribute("viewBox", "0 0 16 16");
  icon.setAttribute("aria-hidden", "true");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", "M4 7V5a4 4 0 0 1 8 0v2h1v8H3V7zm2 0h4V5a2 2 0 0 0-4 0z");
  icon.append(path);
  lock.append(icon);
  return lock;
}

/** A room in a list: its label (`#name`, or a DM's people), a lock if it is private, and a
 *  badge (with `badgeLabel` for screen readers, if the badge alone says too little). */
function roomItem({ label, topic = "", locked = false, badge = "", badgeLabel = "", mentions = 0, quiet = false, onClick, current = false }) {
  const item = el("li");
  const button = el("button", current ? "room current" : "room");
  button.type = "button";
  if (current) button.setAttribute("aria-current", "true");
  const name = el("span", "room-name", label);
  if (locked) name.append(lockMark());
  button.append(name);
  if (mentions > 0) {
    const mark = el("span", "badge mention-badge", `@${mentions}`);
    mark.setAttribute("aria-label", `${mentions} ${mentions === 1 ? "mention" : "mentions"}`);
    button.append(mark);
  }
  if (badge) {
    const mark = el("span", quiet ? "badge quiet" : "badge", badge);
    if (badgeLabel) mark.setAttribute("aria-label", badgeLabel);
    button.append(mark);
  }
  if (topic) button.title = topic;
  button.addEventListener("click", onClick);
  item.append(button);
  return item;
}

/** The text as text nodes, with @mentions wrapped in spans: no HTML is ever parsed. */
/** A message's text, formatted (format.js): DOM nodes made with textContent only. A text of
 *  one paragraph (most messages) goes straight into the box, without a paragraph element. */
function formattedText(text, me) {
  const body = el("div", "text");
  const blocks = parseMessage(text);
  if (blocks.length === 1 && blocks[0].type === "paragraph") {
    body.append(...inlineNodes(blocks[0].inline, me));
    return body;
  }
  for (const block of blocks) body.append(blockNode(block, me));
  return body;
}

function blockNode(block, me) {
  switch (block.type) {
    case "code": {
      const pre = el("pre", "code-block");
      pre.append(el("code", "", block.text));
      return pre;
    }
    case "quote": {
      const quote = el("blockquote", "quoted");
      quote.append(...inlineNodes(block.inline, me));
      return quote;
    }
    case "list": {
      const list = el(block.ordered ? "ol" : "ul", "message-list");
      for (const item of block.items) {
        const li = el("li");
        li.append(...inlineNodes(item, me));
        list.append(li);
      }
      return list;
    }
    default: {
      const p = el("p", "paragraph");
      p.append(...inlineNodes(block.inline, me));
      return p;
    }
  }
}

const SPAN_TAGS = { bold: "strong", italic: "em", strike: "s" };

function inlineNodes(nodes, me) {
  return nodes.map((node) => {
    switch (node.type) {
      case "text": return document.createTextNode(node.text);
      case "break": return document.createElement("br");
      case "code": return el("code", "inline-code", node.text);
      case "mention": {
        const self = node.name.toLowerCase() === me.toLowerCase();
        return el("span", self ? "mention me" : "mention", `@${node.name}`);
      }
      case "link": {
        const a = el("a", "link");
        a.href = node.href;
        a.rel = "noopener noreferrer nofollow";
        a.target = "_blank";
        a.append(...inlineNodes(node.children, me));
        return a;
      }
      default: {
        const span = document.createElement(SPAN_TAGS[node.type] || "span");
        span.append(...inlineNodes(node.children, me));
        return span;
      }
    }
  });
}

/** One message of `r`: who and when, what it answers, its text (or that it was deleted),
 *  whether it was edited, its thread and reactions, and the actions on it. Each button
 *  says what it does in `data-action`; chat.js acts on the click (one listener, app.js). */
function messageElement(message, state, r, previous = null) {
  const me = state.me;
  const item = el("li", "message");
  // A message that continues its author's group shows no name and time of its own (they
  // stay for screen readers, and the time shows on hover).
  const grouped = continues(message, previous);
  if (grouped) item.classList.add("continued");
  item.dataset.id = String(message.id);
  if (message.user === me) item.classList.add("own");
  if (message.assistant) item.classList.add("assistant");
  // The message opened from elsewhere (a search hit, a catch-up item) stays marked.
  if (r.target === message.id) item.classList.add("jump-target");
  if (message.deleted) item.classList.add("deleted");
  const meta = el("div", "meta");
  meta.append(el("span", "author", message.user));
  if (message.assistant) meta.append(el("span", "tag", "assistant"));
  const when = new Date(message.ts);
  const time = el("time", "ts", when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
  time.dateTime = message.ts;
  time.title = when.toLocaleString();
  meta.append(time);
  if (grouped) {
    meta.classList.add("visually-hidden");
    item.title = when.toLocaleString();
  }
  item.append(meta);
  if (message.reply_to) item.append(quoteOf(messageIn(r, message.reply_to)));
  if (message.deleted) {
    item.append(el("div", "text tombstone", "This message was deleted."));
    return item;
  }
  const body = formattedText(message.text, me);
  if (message.edited_at) {
    const edited = el("span", "edited", " (edited)");
    edited.title = `Edited ${new Date(message.edited_at).toLocaleString()}`;
    body.append(edited);
  }
  // A message of files alone has no text to show.
  if (message.text || message.edited_at || !message.attachments?.length) item.append(body);
  if (message.attachments?.length) item.append(attachmentList(message.attachments));
  if (message.replies) {
    const replies = message.replies === 1 ? "1 reply" : `${message.replies} replies`;
    const open = el("button", "small thread-count", replies);
    open.type = "button";
    open.dataset.action = "thread";
    open.setAttribute("aria-label", `Open the thread: ${replies}`);
    item.append(open);
  }
  if (message.reactions?.length) item.append(reactionsOf(message, me));
  item.append(actionsOf(message, state, r));
  return item;
}

/** The message a reply answers, quoted (or said to be gone, or further up than loaded). */
function quoteOf(original) {
  const quote = el("blockquote", "reply-quote");
  if (!original) {
    quote.textContent = "In reply to an earlier message";
  } else if (original.deleted) {
    quote.textContent = "In reply to a deleted message";
  } else {
    const excerpt = [...gist(original)].slice(0, 120).join("");
    quote.append(el("span", "author", original.user), document.createTextNode(` ${excerpt}`));
  }
  return quote;
}

function reactionsOf(message, me) {
  const list = el("div", "reactions");
  for (const { emoji, count, users } of message.reactions) {
    const mine = users.some((user) => sameUser(user, me));
    const chip = el("button", mine ? "reaction mine" : "reaction", `${emoji} ${count}`);
    chip.type = "button";
    chip.dataset.action = mine ? "unreact" : "react";
    chip.dataset.emoji = emoji;
    chip.setAttribute("aria-pressed", String(mine));
    chip.title = users.join(", ");
    chip.setAttribute("aria-label", `${emoji} ${count}: ${users.join(", ")}`);
    list.append(chip);
  }
  return list;
}

function actionsOf(message, state, r) {
  const actions = el("div", "message-actions");
  const button = (action, text, label) => {
    const b = el("button", "small action", text);
    b.type = "button";
    b.dataset.action = action;
    b.setAttribute("aria-label", label);
    return b;
  };
  actions.append(button("reply", "Reply", `Reply to ${message.user}`));
  actions.append(button("pick", "React", "Add a reaction"));
  if (sameUser(message.user, state.me) && !message.assistant) {
    actions.append(button("edit", "Edit", "Edit your message"));
  }
  if (canDelete(state, r, message)) actions.append(button("delete", "Delete", "Delete this message"));
  return actions;
}

// ---------------------------------------------------------------- the chat view

/** From the sign-in page to the chat, as `me`. */
export function showChat(me) {
  view.meName.textContent = me;
  view.authView.hidden = true;
  view.chatView.hidden = false;
}

/** My rooms, and apart from them my direct messages, with their badges; `onSelect(name)`
 *  when one is picked. */
export function renderRooms(state, onSelect) {
  const item = (r, label) => roomItem({
    label,
    topic: r.topic,
    locked: r.kind === "private",
    badge: r.unread > 0 ? String(r.unread) : "",
    badgeLabel: r.quiet ? `${r.unread} unread, quiet` : `${r.unread} unread`,
    quiet: r.quiet,
    mentions: r.unreadMentions,
    onClick: () => onSelect(r.name),
    current: r.name === state.active,
  });
  const all = [...state.rooms.values()];
  const rooms = all.filter((r) => !isDm(r))
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((r) => item(r, roomLabel(state, r)));
  const dms = all.filter(isDm)
    .map((r) => ({ r, label: roomLabel(state, r) }))
    .sort((a, b) => a.label.localeCompare(b.label))
    .map(({ r, label }) => item(r, label));
  view.myRooms.replaceChildren(...(rooms.length ? rooms : [textItem("No rooms yet: search or create one.")]));
  view.myDms.replaceChildren(...(dms.length ? dms : [textItem("No direct messages yet.")]));
  // On a phone the room list hides behind ☰, which shows a dot when another room has news
  // (a mention is a message from someone else, so it counts as unread).
  const elsewhere = unreadElsewhere(state);
  view.roomsUnread.hidden = !elsewhere;
  view.openSidebar.setAttribute("aria-label", elsewhere ? "Show rooms: unread messages in other rooms" : "Show rooms");
  // The tab says how many messages wait, as chat apps' tabs do.
  const unread = unreadTotal(state);
  const mentioned = mentionTotal(state);
  document.title = mentioned > 0 ? `(@${mentioned} · ${unread}) Sala`
    : unread > 0 ? `(${unread}) Sala` : "Sala";
}

export function renderConversation(state, { keepScroll = false } = {}) {
  renderHeader(state);
  renderMessages(state);
  view.contextBar.hidden = !activeRoom(state)?.context;
  if (!keepScroll || stuckToBottom) scrollToBottom();
  renderTyping(state);
  renderMembers(state);
}

/** The room on screen's title and topic. */
export function renderHeader(state) {
  const r = activeRoom(state);
  // A DM is called by its people: its name is a handle nobody should see.
  view.roomTitle.textContent = r ? roomLabel(state, r) : "Pick a room";
  if (r?.kind === "private") view.roomTitle.append(" ", lockMark());
  view.roomTopicLine.textContent = !r ? "" : isDm(r) ? "Direct message" : r.topic;
  view.leaveRoom.hidden = !r;
  view.quietRoom.hidden = !r;
  view.quietRoom.setAttribute("aria-pressed", String(Boolean(r?.quiet)));
  view.quietRoom.title = r?.quiet ? "Quiet: this room tells you of mentions only" : "Tell me of mentions only";
}

/** Messages of one person closer together than this read as one group, under one name. */
const GROUP_MS = 5 * 60 * 1000;

function renderMessages(state) {
  const r = activeRoom(state);
  const items = [];
  let previous = null;
  for (const message of r ? shownMessages(r) : []) {
    items.push(...leadIn(message, previous, r, state), messageElement(message, state, r, previous));
    previous = message;
  }
  // A message the reader was brought to (revealMessage) keeps its focus and its mark when
  // the list is drawn anew under it: an edit or a reaction arriving must not take them.
  const focused = document.activeElement;
  const focusedId = focused?.matches?.("#messages li.message") ? focused.dataset.id : null;
  const markedId = view.messages.querySelector("li.message.jumped")?.dataset.id ?? null;
  view.messages.replaceChildren(...items);
  const find = (id) => view.messages.querySelector(`li.message[data-id="${id}"]`);
  const marked = markedId === null ? null : find(markedId);
  if (marked) mark(marked);
  const refocus = focusedId === null ? null : find(focusedId);
  if (refocus) {
    refocus.tabIndex = -1;
    refocus.focus({ preventScroll: true });
  }
}

/** What goes before `message`: a date line when the day changes, and the "New messages"
 *  line before the first one that was unread when the room was opened. */
function leadIn(message, previous, r, state) {
  const lines = [];
  const day = new Date(message.ts).toDateString();
  if (!previous || new Date(previous.ts).toDateString() !== day) {
    const when = new Date(message.ts).toLocaleDateString([], { weekday: "long", day: "numeric", month: "long" });
    const line = el("li", "day-separator", when);
    line.setAttribute("role", "separator");
    lines.push(line);
  }
  const unreadFrom = r.newFrom;
  if (unreadFrom !== null && unreadFrom !== undefined && message.id > unreadFrom
      && (!previous || previous.id <= unreadFrom) && !sameUser(message.user, state.me)) {
    const line = el("li", "new-line", "New messages");
    line.setAttribute("role", "separator");
    lines.push(line);
  }
  return lines;
}

/** Whether `message` continues `previous`'s group: same person, soon after, both plain. */
function continues(message, previous) {
  return Boolean(previous) && previous.user === message.user && !previous.deleted
    && Boolean(previous.assistant) === Boolean(message.assistant) && !message.reply_to
    && Date.parse(message.ts) - Date.parse(previous.ts) < GROUP_MS
    && new Date(message.ts).toDateString() === new Date(previous.ts).toDateString();
}

/** A new message in the room on screen. */
export function appendMessage(state, message) {
  const r = activeRoom(state);
  // Out-of-order arrivals (rare) re-render; the usual case appends.
  if (r.messages[r.messages.length - 1].id !== message.id) renderMessages(state);
  else {
    const previous = r.messages[r.messages.length - 2] || null;
    view.messages.append(...leadIn(message, previous, r, state), messageElement(message, state, r, previous));
  }
  if (stuckToBottom || message.user === state.me) scrollToBottom();
}

/** Older messages above the ones shown: the reader stays where they were. */
export function renderOlder(state) {
  const list = view.messages;
  const fromBottom = list.scrollHeight - list.scrollTop;
  renderMessages(state);
  list.scrollTop = list.scrollHeight - fromBottom;
}

/** Newer messages below a context run (or the run joined to the newest): the reader stays
 *  where they were, above them. */
export function renderNewer(state) {
  const list = view.messages;
  const top = list.scrollTop;
  renderMessages(state);
  view.contextBar.hidden = !activeRoom(state)?.context;
  list.scrollTop = top;
}

/** Brings the message `id` of the room on screen into view, marked for a moment, and
 *  gives it the focus (for keyboards and screen readers). Answers whether it is shown. */
export function revealMessage(id) {
  const item = view.messages.querySelector(`li.message[data-id="${id}"]`);
  if (!item) return false;
  for (const other of view.messages.querySelectorAll(".jump-target")) other.classList.remove("jump-target");
  item.classList.add("jump-target");
  item.tabIndex = -1;
  item.scrollIntoView({ block: "center" });
  // Known now, not at the scroll event: a resize before it must not scroll away from here.
  const list = view.messages;
  stuckToBottom = list.scrollHeight - list.scrollTop - list.clientHeight < STUCK_PX;
  item.focus({ preventScroll: true });
  mark(item);
  return true;
}

/** Marks a message for a moment (its animation), again from the start if it was marked. */
function mark(item) {
  item.classList.remove("jumped");
  void item.offsetWidth;
  item.classList.add("jumped");
  item.addEventListener("animationend", () => item.classList.remove("jumped"), { once: true });
}

/** Reads a new message out to screen readers, from a live region of its own. */
export function announce(message) {
  const who = message.assistant ? `${message.user}'s assistant` : message.user;
  announceText(`${who}: ${gist(message)}`);
}

/** Reads a sentence out to screen readers (news without a message: an invitation). */
export function announceText(text) {
  view.announcer.append(el("p", "", text));
  // What has been read out need not stay; the region keeps the last few.
  while (view.announcer.childElementCount > 3) view.announcer.firstElementChild.remove();
}

export function renderTyping(state) {
  const r = activeRoom(state);
  const who = r ? typers(r) : [];
  view.typing.textContent = who.length === 0 ? ""
    : who.length === 1 ? `${who[0]} is typing…` : `${who.slice(0, 3).join(", ")} are typing…`;
}

/** The members of the room on screen: everyone listed (GET .../members) and everyone
 *  online, the online first, each with their role if they are its owner or an admin, and a
 *  "Moderate" button (⋯) on those I may moderate (forms.js opens its menu). */
export function renderMembers(state) {
  const r = activeRoom(state);
  const online = r ? r.members : new Set();
  const names = r ? [...new Set([...(r.roster?.keys() || []), ...online])] : [];
  names.sort((a, b) => Number(online.has(b)) - Number(online.has(a)) || a.localeCompare(b));
  view.openMembers.textContent = `Members (${online.size} online)`;
  view.members.replaceChildren(...names.map((name) => {
    const here = online.has(name);
    const item = el("li", here ? "member" : "member offline");
    item.dataset.user = name;
    const status = state.statuses.get(name);
    const dot = el("span", `status-dot ${here ? status?.status || "available" : "offline"}`);
    dot.setAttribute("aria-hidden", "true");
    item.append(dot, el("span", "member-name", name));
    const role = roleOf(r, name);
    if (role !== "member") item.append(el("span", "tag", role));
    if (!here) item.append(el("span", "visually-hidden", "offline"));
    if (actionsOn(state, r, name)) {
      const moderate = el("button", "small moderate", "⋯");
      moderate.type = "button";
      moderate.dataset.user = name;
      moderate.setAttribute("aria-label", `Moderate ${name}`);
      moderate.setAttribute("aria-controls", "moderation");
      moderate.setAttribute("aria-expanded", "false");
      item.append(moderate);
    }
    if (status?.status === "busy") {
      item.append(el("span", "busy-note", status.note ? `busy: ${status.note}` : "busy"));
    }
    return item;
  }));
}

/** The line under the member list: how a moderation or the listing went ("" clears it). */
export function showMembersStatus(text) {
  view.membersStatus.textContent = text;
}

/** The invitations waiting, at the top of the sidebar (hidden when there are none): each
 *  with Accept and Decline, which carry the room's name (app.js wires them). */
export function renderInvites(state) {
  const invites = [...state.invites.values()];
  view.invitesTitle.hidden = invites.length === 0;
  view.invites.hidden = invites.length === 0;
  view.invites.replaceChildren(...invites.map(({ room: listed, by, error }) => {
    const item = el("li", "invite");
    const name = el("span", "room-name", `#${listed.name}`);
    if (listed.kind === "private") name.append(lockMark());
    item.append(name, el("span", "invite-by", by ? ` from ${by}` : ""));
    if (listed.topic) item.title = listed.topic;
    const actions = el("div", "invite-actions");
    for (const [className, text] of [["primary accept", "Accept"], ["decline", "Decline"]]) {
      const button = el("button", `small ${className}`, text);
      button.type = "button";
      button.dataset.room = listed.name;
      button.setAttribute("aria-label", `${text} the invitation to #${listed.name}`);
      actions.append(button);
    }
    item.append(actions);
    if (error) {
      const said = el("p", "form-error", error);
      said.setAttribute("role", "alert");
      item.append(said);
    }
    return item;
  }));
}

/** What happened to me (a kick, a ban, a mute), above the conversation until dismissed;
 *  each Dismiss carries the notice's id (app.js wires them). */
export function renderNotices(state) {
  view.notices.replaceChildren(...state.notices.map(({ id, text }) => {
    const item = el("p", "notice-item");
    const dismiss = el("button", "small dismiss", "Dismiss");
    dismiss.type = "button";
    dismiss.dataset.notice = String(id);
    item.append(el("span", "", text), dismiss);
    return item;
  }));
}

/** My status in the sidebar. A `note` of undefined leaves the note box as it is, and so
 *  does any note while the box is being typed in. */
export function renderMyStatus(status, note) {
  view.meStatus.className = `status-dot ${status}`;
  view.meStatus.title = note ? `${status}: ${note}` : status;
  view.statusToggle.textContent = status === "busy" ? "Set available" : "Set busy";
  if (note !== undefined && document.activeElement !== view.statusNote) view.statusNote.value = note || "";
}

/** The "Connecting…" line, and whether the message box takes messages (`usable`). */
export function renderConnection(phase, usable) {
  view.connection.hidden = phase === "connected";
  view.connection.textContent = phase === "reconnecting" ? "Reconnecting…" : "Connecting…";
  view.messageInput.disabled = !usable;
  view.send.disabled = !usable;
  view.attachButton.disabled = !usable;
}

/** What mentioned me while I was busy: shown once, above the conversation. */
export function renderCatchUp({ items, summary }, state, { onOpen }) {
  const { me } = state;
  const panel = view.catchUp;
  const list = el("ul", "catch-up-items");
  for (const message of items) {
    const item = el("li");
    item.append(el("span", "room-name", `${labelOf(state, message.room)} `), el("span", "author", message.user), document.createTextNode(": "));
    item.append(formattedText(message.text, me));
    // Only a room the user is still in can be opened at the message.
    if (state.rooms.has(message.room)) {
      const open = el("button", "small link", "Show");
      open.type = "button";
      open.dataset.room = message.room;
      open.dataset.id = String(message.id);
      open.setAttribute("aria-label", `Show ${message.user}'s message in ${labelOf(state, message.room)}`);
      open.addEventListener("click", () => onOpen(message.room, message.id));
      item.append(document.createTextNode(" "), open);
    }
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

// ---------------------------------------------------------------- the room search

export function searchQuery() {
  return view.roomSearch.value.trim();
}

/** A page of found rooms: the first replaces the list, a later one (`more`) goes below it.
 *  `onJoin(room)` when one is picked; `onMore()` when the next page is asked for. */
export function renderSearchResults(page, { query, more, onJoin, onMore }) {
  const list = view.searchResults;
  const items = page.rooms.map((r) => roomItem({
    label: `#${r.name}`, topic: r.topic, locked: r.kind === "private", badge: `${r.online} online`, onClick: () => onJoin(r),
  }));
  if (more) {
    list.querySelector(".more-rooms")?.remove();
    list.append(...items);
  } else {
    list.replaceChildren(...(items.length ? items : [textItem(query ? "No rooms match." : "No rooms yet.")]));
  }
  if (page.next_cursor) {
    const item = el("li", "more-rooms");
    const button = el("button", "link", "More rooms");
    button.type = "button";
    button.addEventListener("click", onMore);
    item.append(button);
    list.append(item);
  }
}

export function renderSearchError(message) {
  view.searchResults.replaceChildren(textItem(message));
}

export function clearSearch() {
  view.roomSearch.value = "";
  view.searchResults.replaceChildren();
}

// ---------------------------------------------------------------- the message box

/** What the composer answers or edits (`text`), or nothing (null). */
export function showComposing(text) {
  view.composing.hidden = text === null;
  view.composingText.textContent = text || "";
}

/** The reaction picker under the message `id` (null: closed). */
export function showPicker(id) {
  const picker = view.emojiPicker;
  if (id === null) {
    picker.hidden = true;
    picker.dataset.id = "";
    return;
  }
  const item = view.messages.querySelector(`li.message[data-id="${id}"]`);
  if (!item) return;
  if (!picker.childElementCount) {
    for (const emoji of QUICK_EMOJI) {
      const choice = el("button", "small emoji", emoji);
      choice.type = "button";
      choice.dataset.emoji = emoji;
      choice.setAttribute("aria-label", `React with ${emoji}`);
      picker.append(choice);
    }
  }
  picker.dataset.id = String(id);
  item.append(picker);
  picker.hidden = false;
  picker.firstElementChild.focus();
}

/** The thread of `root` (null: closed): the root, then its replies, each drawn as in the
 *  conversation but without actions. */
export function renderThread(state, thread) {
  view.threadPanel.hidden = !thread;
  if (!thread) return;
  const r = state.rooms.get(thread.room);
  view.threadList.replaceChildren(...thread.messages.map((message) => {
    const item = el("li", "message");
    const meta = el("div", "meta");
    meta.append(el("span", "author", message.user));
    const when = new Date(message.ts);
    const time = el("time", "ts", when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
    time.dateTime = message.ts;
    meta.append(time);
    item.append(meta, message.deleted
      ? el("div", "text tombstone", "This message was deleted.")
      : formattedText(message.text, state.me));
    if (message.attachments?.length) item.append(attachmentList(message.attachments, { box: 160 }));
    return item;
  }));
  view.threadTitle.textContent = r ? `Thread in ${roomLabel(state, r)}` : "Thread";
}

export function composerText() {
  return view.messageInput.value.trim();
}

export function clearComposer() {
  view.messageInput.value = "";
  autoGrow(view.messageInput);
}

export function focusComposer() {
  view.messageInput.focus();
}

/** A refused message back in the box, unless something new is being written there. */
export function setComposer(text) {
  view.messageInput.value = text;
  autoGrow(view.messageInput);
  view.messageInput.focus();
}

export function giveBackDraft(text) {
  if (!view.messageInput.value) view.messageInput.value = text;
}

export function showSendError(message) {
  view.sendError.textContent = message;
}

export function statusNoteText() {
  return view.statusNote.value.trim();
}

/** Sets the note box even while it has the focus: the answer to the user's own press. */
export function setStatusNote(note) {
  view.statusNote.value = note;
}

export function autoGrow(textarea) {
  textarea.style.height = "auto";
  textarea.style.height = `${Math.min(textarea.scrollHeight, 160)}px`;
  textarea.style.overflowY = textarea.scrollHeight > 160 ? "auto" : "hidden";
}

// ---------------------------------------------------------------- scrolling

// Whether the reader is at the newest message, as of their last scroll. It is kept from
// scroll events, not measured when needed: the "Reconnecting…" line, the catch-up panel or a
// taller message box shrink the list without scrolling it, after which the list's own
// numbers put the reader above the bottom. A ResizeObserver scrolls them back.
let stuckToBottom = true;
const STUCK_PX = 40;
const NEAR_TOP_PX = 60;

function scrollToBottom() {
  view.messages.scrollTop = view.messages.scrollHeight;
  stuckToBottom = true;
}

/** Follows the reader's scrolling; `onNearTop()` when they reach the oldest messages shown,
 *  `onNearBottom()` the newest shown. */
export function followScroll(onNearTop, onNearBottom) {
  const list = view.messages;
  list.addEventListener("scroll", () => {
    const fromBottom = list.scrollHeight - list.scrollTop - list.clientHeight;
    stuckToBottom = fromBottom < STUCK_PX;
    if (list.scrollTop < NEAR_TOP_PX) onNearTop();
    if (fromBottom < NEAR_TOP_PX) onNearBottom();
  });
  // Whatever made the list shorter or taller, a reader who was at the bottom stays there.
  new ResizeObserver(() => {
    if (stuckToBottom) scrollToBottom();
  }).observe(list);
}

// ---------------------------------------------------------------- drawers

// On narrow screens the room list and the member list are drawers over the conversation
// (style.css), each opened by its button. One is open at a time; its ✕, Esc or a tap
// outside it (on the scrim) closes it.
const DRAWERS = [
  { drawer: view.sidebar, opener: view.openSidebar },
  { drawer: view.membersPanel, opener: view.openMembers },
];

export function openDrawer(drawer) {
  closeDrawers();
  const { opener } = DRAWERS.find((entry) => entry.drawer === drawer);
  drawer.classList.add("open");
  opener.setAttribute("aria-expanded", "true");
  view.scrim.hidden = false;
  drawer.querySelector(".drawer-close").focus();
}

export function closeDrawers() {
  for (const { drawer, opener } of DRAWERS) {
    if (!drawer.classList.contains("open")) continue;
    drawer.classList.remove("open");
    opener.setAttribute("aria-expanded", "false");
    // Focus would stay in a drawer that is sliding out of sight.
    if (drawer.contains(document.activeElement)) opener.focus();
  }
  view.scrim.hidden = true;
}
