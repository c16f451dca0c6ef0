// Message search (issue 21): the box in the sidebar, GET /api/search with the query as
// typed (the server reads its words, "phrases" and the filters from:, in:#, has:file), and
// the hits under it, newest first, a page at a time: each its room, author, time and text
// with where it matched marked, and the files it carries. A click on a hit opens its
// message in its room, in context (chat.js `jumpTo`, as a catch-up item does). The
// server's refusal of a query (400, 422) is said as it is.
//
// The functions at the top are pure (node tests read them); `wireMessageSearch` owns the
// box's and the hits' DOM, with what chat.js hands in (the session's calls and labels).

import { attachmentList } from "./attachments.js";
import { el } from "./dom.js";

/** A hit's text in a sidebar: at most this many characters, around its first match. */
export const EXCERPT_CHARS = 160;
/** How many characters of text an excerpt keeps before its first match. */
const LEAD_CHARS = 40;

/**
 * `text` cut into parts, `[{text, marked}]`, marked where `highlights` say it matched:
 * `[start, end)` ranges of Unicode code points, as the server counts them (so an emoji or
 * another character beyond U+FFFF is one, not two UTF-16 units). Ranges out of order,
 * overlapping, empty or past the end are taken as far as they make sense. Neighbouring
 * parts are never both marked or both plain.
 */
export function highlightParts(text, highlights) {
  const chars = Array.from(text);
  const clamp = (at) => Math.max(0, Math.min(Number(at) || 0, chars.length));
  const ranges = (highlights || [])
    .map(([start, end]) => [clamp(start), clamp(end)])
    .filter(([start, end]) => end > start)
    .sort((a, b) => a[0] - b[0]);
  const parts = [];
  const push = (from, to, marked) => {
    if (to <= from) return;
    const piece = chars.slice(from, to).join("");
    const last = parts[parts.length - 1];
    if (last && last.marked === marked) last.text += piece;
    else parts.push({ text: piece, marked });
  };
  let at = 0;
  for (const [start, end] of ranges) {
    push(at, start, false);
    push(Math.max(start, at), end, true);
    at = Math.max(at, end);
  }
  push(at, chars.length, false);
  return parts;
}

/**
 * The parts of an excerpt of `text` at most `most` characters long (code points), from a
 * little before its first match, with "…" where it was cut: what a hit shows in a narrow
 * list. A text that fits is all of it.
 */
export function excerptParts(text, highlights, most = EXCERPT_CHARS) {
  const chars = Array.from(text);
  if (chars.length <= most) return highlightParts(text, highlights);
  const starts = (highlights || []).map(([start]) => start).filter((start) => start >= 0 && start < chars.length);
  const first = starts.length ? Math.min(...starts) : 0;
  let from = Math.max(0, first - LEAD_CHARS);
  const to = Math.min(chars.length, from + most);
  from = Math.max(0, to - most);
  const shifted = (highlights || []).map(([start, end]) => [start - from, end - from]);
  const parts = highlightParts(chars.slice(from, to).join(""), shifted);
  if (from > 0) {
    if (parts[0]?.marked === false) parts[0].text = `…${parts[0].text}`;
    else parts.unshift({ text: "…", marked: false });
  }
  if (to < chars.length) {
    const last = parts[parts.length - 1];
    if (last?.marked === false) last.text += "…";
    else parts.push({ text: "…", marked: false });
  }
  return parts;
}

// ---------------------------------------------------------------- the box and its hits

/** One hit: a button that opens it (its room, author, time, and text with `<mark>`s), and
 *  below it the files the message carries. */
function hitElement({ message, highlights }, { label, canOpen, onOpen }) {
  const item = el("li", "search-hit");
  item.dataset.room = message.room;
  item.dataset.id = String(message.id);
  const open = el("button", "search-hit-open");
  open.type = "button";
  const meta = el("span", "search-hit-meta");
  const when = new Date(message.ts);
  const time = el("time", "ts", when.toLocaleString([], { dateStyle: "medium", timeStyle: "short" }));
  time.dateTime = message.ts;
  meta.append(el("span", "room-name", label(message.room)), el("span", "author", message.user), time);
  const text = el("span", "search-hit-text");
  for (const part of excerptParts(message.text, highlights)) {
    text.append(part.marked ? el("mark", "", part.text) : document.createTextNode(part.text));
  }
  open.append(meta, text);
  if (canOpen(message.room)) {
    open.addEventListener("click", () => onOpen(message.room, message.id));
  } else {
    open.disabled = true;
    open.title = "You are no longer in this room.";
  }
  item.append(open);
  if (message.attachments?.length) item.append(attachmentList(message.attachments, { box: 96 }));
  return item;
}

/**
 * Wires the message search. `find(q, cursor)` answers a page of GET /api/search (`{hits,
 * next_cursor}`) or throws an ApiError; `label(room)` is how a room is called; `canOpen
 * (room)` whether a hit there can be opened (a room of the page's); `open(room, id)`
 * opens a hit.
 */
export function wireMessageSearch({ find, label, canOpen, open }) {
  const byId = (id) => document.getElementById(id);
  const form = byId("message-search-form");
  const input = byId("message-search");
  const results = byId("message-search-results");
  const tips = byId("message-search-tips");
  const status = byId("message-search-status");
  const error = byId("message-search-error");
  const list = byId("message-search-hits");
  const more = byId("message-search-more");
  const clear = byId("message-search-clear");

  let asked = 0; // the latest request: an answer to an older one is dropped
  let query = "";
  let cursor = null;
  let shown = 0;

  function showError(message) {
    error.textContent = message;
    if (message) {
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", error.id);
    } else {
      input.removeAttribute("aria-invalid");
      input.removeAttribute("aria-describedby");
    }
  }

  function reset() {
    asked += 1;
    query = "";
    cursor = null;
    shown = 0;
    list.replaceChildren();
    status.textContent = "";
    showError("");
    more.hidden = true;
    results.hidden = true;
    tips.hidden = false;
  }

  async function ask(q, from) {
    const request = ++asked;
    more.disabled = true;
    if (!from) status.textContent = "Searching…";
    let page;
    try {
      page = await find(q, from);
    } catch (failure) {
      if (request !== asked) return;
      more.disabled = false;
      status.textContent = "";
      // 400 and 422 say what is wrong with the query, in the server's words.
      showError(failure.status === 400 || failure.status === 422
        ? failure.message : `The search failed: ${failure.message}`);
      return;
    }
    if (request !== asked) return;
    showError("");
    const hits = page.hits.map((hit) => hitElement(hit, { label, canOpen, onOpen: open }));
    if (from) list.append(...hits);
    else list.replaceChildren(...hits);
    shown += hits.length;
    cursor = page.next_cursor;
    more.hidden = !cursor;
    more.disabled = false;
    status.textContent = shown === 0 ? "No message matches."
      : `${shown}${cursor ? "+" : ""} ${shown === 1 && !cursor ? "message" : "messages"} found.`;
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const q = input.value;
    if (!q.trim()) {
      reset();
      return;
    }
    query = q;
    cursor = null;
    shown = 0;
    results.hidden = false;
    tips.hidden = true;
    ask(query, null);
  });
  // The search field's own ✕ empties it: the hits go with it.
  input.addEventListener("input", () => {
    if (!input.value) reset();
  });
  more.addEventListener("click", () => {
    if (cursor) ask(query, cursor);
  });
  clear.addEventListener("click", () => {
    input.value = "";
    reset();
    input.focus();
  });
}
