// The web client's frame reducer (web/state.js), with node's own test runner and no page:
//   node --test crates/sala-server/tests/web/
// (node 20.19 or later: web/ has no package.json, and older ones would take its .js files
// for CommonJS instead of telling ES modules by their syntax.)
// Each test arranges a state, applies the frames the server would send (docs/protocol.md),
// and checks both the state and what `reduce` says changed, which is all render.js sees.

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  TYPING_SHOW_MS, actionsOn, addPending, addRoom, blocks, canArchive, canDelete, canInvite,
  canManage, createState, dismissNotice, enterRooms, expireTyping, extendContext, forget, labelOf,
  lastOwnMessage, leaveContext, markBlocked, mentionTotal, messageIn, mutedIn,
  nextTypingExpiry, openContext, prependContext, readAll, reduce, roleOf, roomLabel, setBlocked,
  setInvites, setRoster, shownMessages, typers, unreadElsewhere, unreadTotal,
} from "../../../../web/state.js";

let nextTs = 0;
function message(id, room, user, text = `message ${id}`) {
  nextTs += 1;
  return { type: "message", id, room, user, text, ts: new Date(nextTs * 1000).toISOString(), assistant: false };
}

/** Signed in as ivy, in #general (on screen) and #side, with the page visible. */
function signedIn() {
  const state = createState();
  enterRooms(state, "ivy", [
    { name: "general", topic: "", unread: 0, last_read: 0 },
    { name: "side", topic: "quiet", unread: 0, last_read: 0 },
  ]);
  state.active = "general";
  return state;
}

function joined(room, history = [], members = ["ivy"], extra = {}) {
  return { type: "joined", room, members, statuses: {}, history, more: false, ...extra };
}

const ids = (state, room) => state.rooms.get(room).messages.map((m) => m.id);

test("a new account starts in general", () => {
  const state = createState();
  enterRooms(state, "gus", []);
  assert.deepEqual([...state.rooms.keys()], ["general"]);
});

test("live messages are kept in id order and the room on screen gets them appended", () => {
  const state = signedIn();
  reduce(state, joined("general"));

  const first = reduce(state, message(5, "general", "bob"));
  const late = reduce(state, message(3, "general", "bob"));

  assert.deepEqual(ids(state, "general"), [3, 5]);
  assert.equal(first.appended.id, 5);
  assert.equal(late.appended.id, 3, "render redraws the list when the new one is not last");
  assert.equal(first.rooms, true);
  assert.equal(first.readActive, true);
});

test("a resumed join drops what was already shown, by id, and keeps what was loaded", () => {
  const state = signedIn();
  reduce(state, joined("general", [message(1, "general", "bob"), message(2, "general", "bob")]));
  reduce(state, message(3, "general", "bob"));

  // After a reconnect, `since: 3`; a live copy of 3 raced the history.
  const change = reduce(state, joined("general", [message(3, "general", "bob"), message(4, "general", "bob")]));
  const again = reduce(state, message(4, "general", "bob"));

  assert.deepEqual(ids(state, "general"), [1, 2, 3, 4]);
  assert.deepEqual(change.conversation, { keepScroll: true });
  assert.equal(again.appended, null, "a duplicate changes nothing");
  assert.equal(again.rooms, false);
});

test("an ack resolves a pending send", () => {
  const state = signedIn();
  addPending(state, "c-1", "general", "hello");
  addPending(state, "c-2", "general", "again");

  reduce(state, { type: "ack", room: "general", id: 7, client_id: "c-1" });

  assert.deepEqual([...state.pending.keys()], ["c-2"]);
});

test("a refused send is given back to its author and its error shown", () => {
  const state = signedIn();
  addPending(state, "c-1", "general", "too fast");
  addPending(state, "c-2", "side", "elsewhere");

  const here = reduce(state, { type: "error", code: "rate_limited", message: "slow down", room: "general", client_id: "c-1" });
  const there = reduce(state, { type: "error", code: "not_member", message: "join first", room: "side", client_id: "c-2" });

  assert.equal(state.pending.size, 0);
  assert.equal(here.draft, "too fast");
  assert.equal(here.sendError, "slow down");
  assert.equal(there.draft, null, "a draft of another room does not land in this box");
  assert.equal(there.sendError, "join first");
});

test("ready clears the not-connected line only when sends were waiting", () => {
  const state = signedIn();
  const ready = { type: "ready", user: { id: 1, username: "ivy", status: "busy" } };

  assert.equal(reduce(state, ready).sendError, null);
  addPending(state, "c-1", "general", "waiting");
  const change = reduce(state, ready);

  assert.equal(change.sendError, "");
  assert.equal(state.status, "busy");
  assert.deepEqual(change.me, { status: "busy", note: undefined });
});

test("presence adds and removes members, redrawn only for the room on screen", () => {
  const state = signedIn();
  reduce(state, joined("general", [], ["ivy"]));
  reduce(state, joined("side", [], ["ivy"]));

  const came = reduce(state, { type: "presence", room: "general", user: "bob", event: "joined" });
  const elsewhere = reduce(state, { type: "presence", room: "side", user: "bob", event: "joined" });
  const went = reduce(state, { type: "presence", room: "general", user: "bob", event: "disconnected" });

  assert.deepEqual([...state.rooms.get("general").members], ["ivy"]);
  assert.deepEqual([...state.rooms.get("side").members], ["ivy", "bob"]);
  assert.equal(came.members, true);
  assert.equal(elsewhere.members, false);
  assert.equal(went.members, true);
});

test("messages in a room not on screen count as unread; the room on screen's do not", () => {
  const state = signedIn();
  reduce(state, joined("general"));
  reduce(state, joined("side"));

  reduce(state, message(1, "side", "bob"));
  reduce(state, message(2, "side", "bob"));
  reduce(state, message(3, "side", "ivy"));
  reduce(state, message(4, "general", "bob"));

  assert.equal(state.rooms.get("side").unread, 2, "my own message is not unread");
  assert.equal(state.rooms.get("general").unread, 0);
  assert.equal(unreadTotal(state), 2);
  assert.equal(unreadElsewhere(state), true);
});

test("the room on screen counts unread while the page is hidden, and is read when seen", () => {
  const state = signedIn();
  reduce(state, joined("general"));
  state.visible = false;

  reduce(state, message(1, "general", "bob"));
  const r = state.rooms.get("general");
  assert.equal(r.unread, 1);
  assert.equal(readAll(state, r), false, "nothing is read while hidden");

  state.visible = true;
  assert.equal(readAll(state, r), true);
  assert.equal(r.unread, 0);
  assert.equal(r.lastRead, 1);
  assert.equal(readAll(state, r), false, "no second read for the same message");
});

test("the first history is not unread; what was missed while away is", () => {
  const state = signedIn();
  reduce(state, joined("side", [message(1, "side", "bob")]));
  assert.equal(state.rooms.get("side").unread, 0, "the room list's count covers it");

  reduce(state, joined("side", [message(2, "side", "bob"), message(3, "side", "bob")]));
  assert.equal(state.rooms.get("side").unread, 2);
});

test("a read marker moved on another device recounts the badge", () => {
  const state = signedIn();
  reduce(state, joined("side"));
  for (const id of [1, 2, 3]) reduce(state, message(id, "side", "bob"));

  const change = reduce(state, { type: "read", room: "side", id: 2 });

  assert.equal(state.rooms.get("side").unread, 1);
  assert.equal(change.rooms, true);
});

test("status frames mark members busy, and my own changes my status", () => {
  const state = signedIn();
  reduce(state, joined("general", [], ["bob", "ivy", "kai"], { statuses: { kai: { status: "busy", note: "away" } } }));
  assert.deepEqual(state.statuses.get("kai"), { status: "busy", note: "away" });
  assert.deepEqual(state.statuses.get("bob"), { status: "available" });

  const theirs = reduce(state, { type: "status", user: "bob", status: "busy", note: "on a call" });
  const mine = reduce(state, { type: "status", user: "ivy", status: "busy", note: null });

  assert.deepEqual(state.statuses.get("bob"), { status: "busy", note: "on a call" });
  assert.equal(theirs.members, true);
  assert.equal(theirs.me, null);
  assert.equal(state.status, "busy");
  assert.deepEqual(mine.me, { status: "busy", note: null });
});

test("leaving the room on screen removes it and asks for another", () => {
  const state = signedIn();
  const change = reduce(state, { type: "left", room: "general" });

  assert.equal(state.rooms.has("general"), false);
  assert.equal(state.active, null);
  assert.equal(change.activeLeft, true);
  assert.equal(change.rooms, true);
});

test("older history goes before what is loaded and stops the loading", () => {
  const state = signedIn();
  reduce(state, joined("general", [message(10, "general", "bob")], ["ivy"], { more: true }));
  state.rooms.get("general").loadingOlder = true;

  const change = reduce(state, { type: "history", room: "general", messages: [message(8, "general", "bob"), message(9, "general", "bob")], more: false });

  const r = state.rooms.get("general");
  assert.deepEqual(ids(state, "general"), [8, 9, 10]);
  assert.equal(r.loadingOlder, false);
  assert.equal(r.more, false);
  assert.equal(r.unread, 0);
  assert.equal(change.older, true);
});

test("a typing hint runs out, or ends with its author's message", () => {
  const state = signedIn();
  reduce(state, joined("general"));

  const typing = reduce(state, { type: "typing", room: "general", user: "bob" }, 1000);
  reduce(state, { type: "typing", room: "general", user: "kai" }, 2000);
  assert.equal(typing.typing, true);
  assert.deepEqual(typers(state.rooms.get("general")), ["bob", "kai"]);
  assert.equal(nextTypingExpiry(state), 1000 + TYPING_SHOW_MS);

  assert.equal(expireTyping(state, 1000 + TYPING_SHOW_MS), true);
  assert.deepEqual(typers(state.rooms.get("general")), ["kai"]);

  const said = reduce(state, message(1, "general", "kai"));
  assert.equal(said.typing, true);
  assert.equal(nextTypingExpiry(state), null);
});

test("a catch-up is passed on to be shown", () => {
  const state = signedIn();
  const items = [message(1, "general", "bob", "@ivy look")];
  assert.deepEqual(reduce(state, { type: "catch_up", items, summary: null }).catchUp, { items, summary: null });
});

test("an unknown frame changes nothing, and signing out forgets everything", () => {
  const state = signedIn();
  addPending(state, "c-1", "general", "hello");
  const change = reduce(state, { type: "pong" });
  assert.ok(Object.values(change).every((part) => part === null || part === false));

  forget(state);
  assert.equal(state.rooms.size, 0);
  assert.equal(state.pending.size, 0);
  assert.equal(state.active, null);
});

// ---------------------------------------------------------------- private rooms and DMs

const DM = "dm.0123456789abcdef0123456789abcdef";

/** A DM's room object, as GET /api/me/rooms, POST /api/dms and `room_added` carry it. */
function dmObject(people, extra = {}) {
  return { name: DM, kind: "dm", people, topic: null, created_by: people[1], online: 0, ...extra };
}

test("the room list's kind, people and role are kept, and a DM is called by the others' names", () => {
  const state = createState();
  enterRooms(state, "ivy", [
    { name: "general", kind: "public", topic: "", role: "member", unread: 0, last_read: 0 },
    { name: "vault", kind: "private", topic: "plans", role: "owner", unread: 2, last_read: 4 },
    dmObject(["bob", "ivy", "kai"], { role: "member", unread: 1, last_read: 0 }),
  ]);

  const vault = state.rooms.get("vault");
  const dm = state.rooms.get(DM);
  assert.deepEqual([vault.kind, vault.role, vault.unread, vault.lastRead], ["private", "owner", 2, 4]);
  assert.deepEqual([dm.kind, dm.people, dm.role, dm.unread], ["dm", ["bob", "ivy", "kai"], "member", 1]);
  assert.equal(state.rooms.get("general").kind, "public");
  assert.equal(roomLabel(state, vault), "#vault");
  assert.equal(roomLabel(state, dm), "bob, kai", "the others, never the handle");
  assert.equal(unreadTotal(state), 3, "a DM's unread count like a room's");
});

test("a DM is never called by its handle, even one the page knows only by name", () => {
  const state = signedIn();
  // A frame about a DM the room list did not name (a catch-up item, say).
  assert.equal(labelOf(state, DM), "Direct message");
  reduce(state, message(1, DM, "bob"));
  assert.equal(state.rooms.get(DM).kind, "dm", "a dm. name is a DM's");
  assert.equal(labelOf(state, "side"), "#side");
  // Me in it, and nobody else left.
  addRoom(state, { ...dmObject(["ivy"]), name: "dm.ffffffffffffffffffffffffffffffff" });
  assert.equal(labelOf(state, "dm.ffffffffffffffffffffffffffffffff"), "Direct message");
});

test("room_added lists the new DM, asks for it to be joined, and what comes in it is unread", () => {
  const state = signedIn();
  reduce(state, joined("general"));

  const change = reduce(state, { type: "room_added", room: dmObject(["bob", "ivy"]) });

  const dm = state.rooms.get(DM);
  assert.ok(dm, "the DM is listed");
  assert.equal(change.join, DM, "to be joined");
  assert.equal(change.rooms, true);
  assert.deepEqual([dm.kind, dm.people], ["dm", ["bob", "ivy"]]);
  assert.equal(roomLabel(state, dm), "bob");
  assert.equal(state.active, "general", "the room on screen stays");

  // What bob said before the join came back is news (no room list counted it), and so is
  // what he says after.
  reduce(state, joined(DM, [message(1, DM, "bob", "hi ivy")], ["bob", "ivy"]));
  reduce(state, message(2, DM, "bob", "are you there?"));
  reduce(state, message(3, DM, "ivy", "yes"));
  assert.equal(dm.unread, 2, "bob's two, not my own");
  assert.equal(unreadElsewhere(state), true);
});

test("room_added for a DM this page opened already asks for no second join", () => {
  const state = signedIn();
  addRoom(state, dmObject(["bob", "ivy"]));
  state.active = DM;

  const change = reduce(state, { type: "room_added", room: dmObject(["bob", "ivy"]) });

  assert.equal(change.join, null);
  assert.deepEqual(change.conversation, { keepScroll: true }, "the header is drawn again");
  assert.equal(state.rooms.get(DM).historyIsNews, false);
  assert.equal([...state.rooms.keys()].filter((name) => name === DM).length, 1);
});

test("a send into a DM refused because someone blocks me goes back to its author", () => {
  const state = signedIn();
  addRoom(state, dmObject(["bob", "ivy"]));
  state.active = DM;
  addPending(state, "c-1", DM, "hello?");

  const change = reduce(state, {
    type: "error", code: "forbidden", message: "not delivered: someone in this conversation has blocked you",
    room: DM, client_id: "c-1",
  });

  assert.equal(state.pending.size, 0);
  assert.equal(change.draft, "hello?");
  assert.match(change.sendError, /^not delivered/);
});

// ---------------------------------------------------------------- moderation

/** Signed in as ivy, an admin of #hall (on screen), with its member list loaded. */
function inHall() {
  const state = createState();
  enterRooms(state, "ivy", [
    { name: "general", kind: "public", topic: "", role: "member", unread: 0, last_read: 0 },
    { name: "hall", kind: "public", topic: "old", role: "admin", unread: 0, last_read: 0 },
  ]);
  state.active = "hall";
  setRoster(state, "hall", [
    { username: "olga", role: "owner", status: "available", status_note: null },
    { username: "ivy", role: "admin", status: "available", status_note: null },
    { username: "mel", role: "member", status: "busy", status_note: "away" },
  ]);
  return state;
}

function member(change, extra = {}) {
  return { type: "member", room: "hall", by: "olga", change, ...extra };
}

test("the member list says each role, mine included, and the statuses of those not online", () => {
  const state = inHall();
  const hall = state.rooms.get("hall");
  assert.deepEqual([...hall.roster], [["olga", "owner"], ["ivy", "admin"], ["mel", "member"]]);
  assert.equal(roleOf(hall, "mel"), "member");
  assert.equal(roleOf(hall, "newcomer"), "member", "someone online not listed yet");
  assert.deepEqual(state.statuses.get("mel"), { status: "busy", note: "away" });

  // My role comes from the list too (a room I created or found has none from the room list).
  setRoster(state, "hall", [{ username: "IVY", role: "owner", status: "available", status_note: null }]);
  assert.equal(hall.role, "owner");
  assert.equal(setRoster(state, "gone", []), null, "a room the page does not have is left alone");
});

test("an admin moderates members only; the owner admins too, and gives roles", () => {
  const state = inHall();
  const hall = state.rooms.get("hall");
  assert.deepEqual(actionsOn(state, hall, "mel"), { role: null });
  assert.equal(actionsOn(state, hall, "olga"), null, "nobody acts on the owner");
  assert.equal(actionsOn(state, hall, "ivy"), null, "nor on themselves");
  assert.equal(canManage(hall), true);

  hall.role = "owner";
  hall.roster.set("ada", "admin");
  assert.deepEqual(actionsOn(state, hall, "mel"), { role: "admin" });
  assert.deepEqual(actionsOn(state, hall, "ada"), { role: "member" });

  hall.role = "member";
  assert.equal(actionsOn(state, hall, "mel"), null);
  assert.equal(canManage(hall), false);
  const dm = { ...hall, kind: "dm", role: "owner" };
  assert.equal(actionsOn(state, dm, "mel"), null, "a DM has no moderation");
  assert.equal(canManage(dm), false);
});

test("a ban of me takes the room away at once and says who, why and until when", () => {
  const state = inHall();
  const until = "2026-12-02T19:31:31.412Z";

  const change = reduce(state, member("banned", { user: "ivy", reason: "spam", until }));

  assert.equal(state.rooms.has("hall"), false, "gone from my rooms");
  assert.equal(state.active, null);
  assert.equal(change.activeLeft, true, "another room is to be picked");
  assert.equal(change.rooms, true);
  assert.equal(change.notices, true);
  assert.equal(state.notices.length, 1);
  const [notice] = state.notices;
  assert.equal(notice.room, "hall");
  assert.match(notice.text, /^olga banned you from #hall until .+\. Reason: spam$/);
  assert.ok(notice.text.includes(new Date(until).toLocaleString([], { dateStyle: "medium", timeStyle: "short" })));

  // The `left` that follows changes nothing more; the notice stays until dismissed.
  const left = reduce(state, { type: "left", room: "hall" });
  assert.equal(left.activeLeft, false);
  assert.equal(state.notices.length, 1);
  dismissNotice(state, notice.id);
  assert.deepEqual(state.notices, []);
});

test("a kick of me from a room not on screen takes it away and leaves the room on screen be", () => {
  const state = inHall();
  state.active = "general";

  const change = reduce(state, member("kicked", { user: "ivy" }));

  assert.equal(state.rooms.has("hall"), false);
  assert.equal(state.active, "general");
  assert.equal(change.activeLeft, false);
  assert.deepEqual(state.notices.map((n) => n.text), ["olga removed you from #hall."]);
  const forever = reduce(state, member("banned", { user: "ivy", reason: "enough" }));
  assert.equal(forever.notices, true);
  assert.deepEqual(state.notices.map((n) => n.text), ["olga banned you from #hall until the ban is lifted. Reason: enough"],
    "the newest word about a room replaces the one before");
});

test("a ban of me drops my invitation into that room", () => {
  const state = signedIn();
  reduce(state, { type: "invited", room: { name: "den", kind: "private", topic: null }, by: "host" });

  const change = reduce(state, { type: "member", room: "den", user: "ivy", change: "banned", by: "host" });

  assert.equal(state.invites.size, 0);
  assert.equal(change.invites, true);
  assert.equal(state.notices.length, 1, "said even of a room I was not in");
});

test("a role change updates the member list, and mine what I may do", () => {
  const state = inHall();
  const hall = state.rooms.get("hall");

  const theirs = reduce(state, member("role_changed", { user: "mel", role: "admin" }));
  assert.equal(hall.roster.get("mel"), "admin");
  assert.equal(theirs.members, true);
  assert.equal(theirs.roster, "hall", "the list is fetched again");
  assert.equal(theirs.notices, false, "nothing to say to me");

  const mine = reduce(state, member("role_changed", { user: "ivy", role: "member" }));
  assert.equal(hall.role, "member");
  assert.equal(actionsOn(state, hall, "mel"), null);
  assert.deepEqual(state.notices.map((n) => n.text), ["olga made you a member of #hall."]);
  assert.equal(mine.members, true);
});

test("someone else kicked or banned leaves the member list, and the room stays mine", () => {
  const state = inHall();

  const change = reduce(state, member("banned", { user: "mel", reason: "spam" }));

  assert.equal(state.rooms.get("hall").roster.has("mel"), false);
  assert.equal(state.active, "hall");
  assert.equal(change.members, true);
  assert.equal(change.notices, false);
  assert.equal(state.notices.length, 0);
});

test("a mute of me is said, holds typing back until it ends, and its lifting is said too", () => {
  const state = inHall();
  const hall = state.rooms.get("hall");
  const until = new Date(Date.parse("2026-12-02T19:00:00Z") + 3600_000).toISOString();

  const muted = reduce(state, member("muted", { user: "ivy", reason: "cool off", until }));
  assert.equal(muted.notices, true);
  assert.match(state.notices[0].text, /^olga muted you in #hall until .*: you can read it but not write there\. Reason: cool off$/);
  assert.equal(mutedIn(hall, Date.parse("2026-12-02T19:30:00Z")), true);
  assert.equal(mutedIn(hall, Date.parse("2026-12-02T20:00:01Z")), false, "it ran out");
  assert.equal(state.rooms.has("hall"), true, "a muted member stays");

  reduce(state, member("unmuted", { user: "ivy" }));
  assert.equal(mutedIn(hall), false);
  assert.deepEqual(state.notices.map((n) => n.text), ["olga lifted your mute in #hall."]);
});

test("a member frame about a room the page does not have adds none", () => {
  const state = inHall();
  const change = reduce(state, { type: "member", room: "elsewhere", user: "mel", change: "muted", by: "olga" });
  assert.equal(state.rooms.has("elsewhere"), false);
  assert.equal(change.members, false);
});

test("an invitation is listed live, and joining the room uses it up", () => {
  const state = signedIn();
  setInvites(state, [{ room: { name: "attic", kind: "private", topic: null }, invited_by: "kai", created_at: "2026-12-01T00:00:00Z" }]);

  const den = { name: "den", kind: "private", topic: "plans", created_by: "host", online: 1 };
  const change = reduce(state, { type: "invited", room: den, by: "host" });

  assert.deepEqual([...state.invites.keys()], ["attic", "den"]);
  assert.deepEqual(state.invites.get("den"), { room: den, by: "host" });
  assert.equal(change.invites, true);
  assert.equal(change.announce, "host invited you to #den.");
  assert.equal(state.rooms.has("den"), false, "not mine until accepted");

  addRoom(state, { ...den, role: "member" });
  const joinedDen = reduce(state, joined("den", [], ["host", "ivy"]));
  assert.deepEqual([...state.invites.keys()], ["attic"]);
  assert.equal(joinedDen.invites, true);
  assert.equal(state.rooms.get("den").kind, "private");

  forget(state);
  assert.equal(state.invites.size, 0);
});

test("room_updated shows the new topic, on screen or in the list", () => {
  const state = inHall();

  const here = reduce(state, { type: "room_updated", room: { name: "hall", kind: "public", topic: "Fresh" } });
  const cleared = reduce(state, { type: "room_updated", room: { name: "general", kind: "public", topic: null } });
  const unknown = reduce(state, { type: "room_updated", room: { name: "nowhere", kind: "public", topic: "x" } });

  assert.equal(state.rooms.get("hall").topic, "Fresh");
  assert.equal(here.header, true);
  assert.equal(here.rooms, true, "its button's tooltip");
  assert.equal(state.rooms.get("general").topic, "");
  assert.equal(cleared.header, false, "not on screen");
  assert.equal(cleared.rooms, true);
  assert.equal(state.rooms.has("nowhere"), false);
  assert.equal(unknown.rooms, false);
});

test("joining the room on screen asks for its member list again", () => {
  const state = inHall();
  assert.equal(reduce(state, joined("hall", [], ["ivy", "mel"])).roster, "hall");
  assert.equal(reduce(state, joined("general")).roster, null);
});

test("an archived room leaves my list, with a notice saying who archived it", () => {
  const state = inHall();
  state.active = "hall";

  const change = reduce(state, { type: "room_removed", room: "hall", by: "olga" });

  assert.equal(state.rooms.has("hall"), false);
  assert.equal(change.activeLeft, true);
  assert.equal(change.rooms, true);
  assert.deepEqual(state.notices.map((n) => n.text), ["olga archived #hall."]);
});

test("who may invite, manage and delete: admins manage, the owner alone deletes, members invite where the room lets them", () => {
  const state = createState();
  enterRooms(state, "ivy", [
    { name: "den", kind: "private", role: "member", members_invite: true, unread: 0, last_read: 0 },
    { name: "vault", kind: "private", role: "member", members_invite: false, unread: 0, last_read: 0 },
    { name: "hall", kind: "public", role: "admin", unread: 0, last_read: 0 },
    { name: "mine", kind: "public", role: "owner", unread: 0, last_read: 0 },
    { name: "dm.x", kind: "dm", people: ["ivy", "mel"], unread: 0, last_read: 0 },
  ]);
  const r = (name) => state.rooms.get(name);

  assert.deepEqual(
    ["den", "vault", "hall", "mine", "dm.x"].map((name) => [canInvite(r(name)), canManage(r(name)), canArchive(r(name))]),
    [[true, false, false], [false, false, false], [true, true, false], [true, true, true], [false, false, false]],
  );

  // The owner of the vault lets every member invite: its room_updated says so.
  const change = reduce(state, { type: "room_updated", room: { name: "vault", kind: "private", topic: null, members_invite: true } });
  assert.equal(change.rooms, true);
  assert.equal(canInvite(r("vault")), true);
  reduce(state, { type: "room_updated", room: { name: "den", kind: "private", topic: null, members_invite: false } });
  assert.equal(canInvite(r("den")), false, "and taken back");
});

test("blocks are kept by name, ignoring case, and go with the session", () => {
  const state = createState();
  enterRooms(state, "ivy", []);
  setBlocked(state, [{ id: 3, username: "Pest" }]);
  assert.equal(blocks(state, "pest"), true);
  assert.equal(blocks(state, "mel"), false);
  markBlocked(state, "mel", true);
  markBlocked(state, "PEST", false);
  assert.deepEqual([blocks(state, "pest"), blocks(state, "Mel")], [false, true]);
  forget(state);
  assert.equal(blocks(state, "mel"), false);
});

test("a changed message takes the place of the older copy, never of a newer one", () => {
  const state = signedIn();
  reduce(state, message(3, "general", "bob", "teh"));
  const m = (fields) => ({ id: 3, room: "general", user: "bob", ts: new Date(0).toISOString(), ...fields });

  const edited = reduce(state, { type: "message_updated", room: "general", change: "edited", by: "bob", message: m({ seq: 5, text: "the", edited_at: "x" }) });
  assert.deepEqual(edited.conversation, { keepScroll: true });
  assert.equal(state.rooms.get("general").messages[0].text, "the");
  // An older copy (a page read before) does not undo it.
  reduce(state, { type: "history", room: "general", messages: [], updated: [m({ seq: 4, text: "teh" })], more: false });
  assert.equal(state.rooms.get("general").messages[0].text, "the");
  // A resume's updated applies like a live change.
  reduce(state, { type: "joined", room: "general", members: ["ivy"], statuses: {}, history: [], updated: [m({ seq: 9, text: "", deleted: true })], more: false, through: 9 });
  assert.equal(state.rooms.get("general").messages[0].deleted, true);
  // A change to a message the page never loaded changes nothing.
  const far = reduce(state, { type: "message_updated", room: "general", change: "edited", by: "bob", message: { ...m({ seq: 12 }), id: 1 } });
  assert.equal(far.conversation ?? null, null);
  assert.equal(state.rooms.get("general").messages.length, 1);
});

test("my last message is what Up edits, and who may delete what", () => {
  const state = signedIn();
  reduce(state, message(1, "general", "ivy", "mine"));
  reduce(state, message(2, "general", "bob", "theirs"));
  const r = state.rooms.get("general");
  assert.equal(lastOwnMessage(state, r).id, 1);
  assert.equal(canDelete(state, r, r.messages[0]), true);
  assert.equal(canDelete(state, r, r.messages[1]), false, "a member deletes their own only");
  r.role = "admin";
  assert.equal(canDelete(state, r, r.messages[1]), true);
  r.messages[0] = { ...r.messages[0], deleted: true };
  assert.equal(lastOwnMessage(state, r), null, "a deleted one is not edited");
});

test("a live message that mentions me counts as a mention too, and reading clears both", () => {
  const state = signedIn();
  state.active = "side";
  const at = (id, fields) => ({ ...message(id, "general", "bob", "hello"), ...fields });
  reduce(state, at(1, { mentions: ["Ivy"] }));
  reduce(state, at(2, { mentions_room: true }));
  reduce(state, at(3, { mentions: ["mel"] }));
  reduce(state, { ...at(4, { mentions: ["ivy"] }), user: "ivy" });
  const r = state.rooms.get("general");
  assert.deepEqual([r.unread, r.unreadMentions, mentionTotal(state)], [3, 2, 2]);
  state.active = "general";
  assert.equal(readAll(state, r), true);
  assert.deepEqual([r.unread, r.unreadMentions], [0, 0]);
});

test("the room list's mention counts come from the server", () => {
  const state = createState();
  enterRooms(state, "ivy", [{ name: "general", unread: 5, unread_mentions: 2, last_read: 0 }]);
  assert.equal(state.rooms.get("general").unreadMentions, 2);
});

test("a quiet room tells of its mentions only", () => {
  const state = createState();
  enterRooms(state, "ivy", [
    { name: "general", unread: 4, unread_mentions: 1, last_read: 0, quiet: true },
    { name: "side", unread: 2, unread_mentions: 0, last_read: 0 },
  ]);
  state.active = "side";
  assert.equal(unreadTotal(state), 1 + 2);
  assert.equal(unreadElsewhere(state), true, "the mention in general");
  state.rooms.get("general").unreadMentions = 0;
  assert.equal(unreadElsewhere(state), false, "plain news of a quiet room is not told");
});

// ---------------------------------------------------------------- files in a send

test("a refused send with files gives back its files with its text", () => {
  const state = signedIn();
  const file = { id: "f1", name: "cat.png", size: 10, content_type: "image/png", url: "/api/files/f1" };
  addPending(state, "c-1", "general", "", [file]);
  addPending(state, "c-2", "general", "plain");
  const refused = reduce(state, { type: "error", code: "forbidden", message: "you are muted", room: "general", client_id: "c-1" });
  assert.equal(refused.draft, "");
  assert.deepEqual(refused.draftFiles, [file]);
  const plain = reduce(state, { type: "error", code: "rate_limited", message: "slow down", room: "general", client_id: "c-2" });
  assert.equal(plain.draftFiles, null);
});

// ---------------------------------------------------------------- a message in context

/** #general on screen with messages `from`..`to` (ids) loaded: the newest run. */
function loaded(from, to, more = true) {
  const state = signedIn();
  const history = [];
  for (let id = from; id <= to; id += 1) history.push(message(id, "general", "bob"));
  reduce(state, joined("general", history, ["ivy"], { more }));
  return state;
}

const page = (from, to) => {
  const messages = [];
  for (let id = from; id <= to; id += 1) messages.push(message(id, "general", "bob"));
  return messages;
};

test("a page around a message that reaches the newest joins them: one run", () => {
  const state = loaded(100, 149);
  const r = state.rooms.get("general");
  assert.equal(openContext(r, page(80, 110), true), false);
  assert.equal(r.context, null);
  assert.deepEqual([r.messages[0].id, r.messages.length, r.more], [80, 70, true]);
  assert.deepEqual(shownMessages(r), r.messages);
});

test("a page around a message far back is a run of its own until pages after it reach the newest", () => {
  const state = loaded(500, 549);
  const r = state.rooms.get("general");
  assert.equal(openContext(r, page(10, 59), true), true);
  assert.deepEqual(shownMessages(r).map((m) => m.id), page(10, 59).map((m) => m.id));
  assert.equal(messageIn(r, 30)?.id, 30, "its messages can be acted on");
  // A page after it that does not reach them yet.
  assert.equal(extendContext(r, page(60, 259), true), true);
  assert.equal(r.context.messages.length, 250);
  // Older pages go above it.
  prependContext(r, page(1, 9), false);
  assert.deepEqual([r.context.messages[0].id, r.context.more], [1, false]);
  // The next page reaches the newest run: one run from the first, with no older ones.
  assert.equal(extendContext(r, page(260, 510), true), false);
  assert.equal(r.context, null);
  assert.deepEqual([r.messages[0].id, r.messages[r.messages.length - 1].id, r.messages.length, r.more], [1, 549, 549, false]);
});

test("a page after which nothing comes joins the newest, even with a gap to what the run held", () => {
  const state = loaded(100, 149);
  const r = state.rooms.get("general");
  openContext(r, page(10, 40), true);
  // Nothing after 40 when it was read: whatever the run holds came later.
  assert.equal(extendContext(r, [], false), false);
  assert.equal(r.context, null);
  assert.equal(r.messages[0].id, 10);
  // An around page not cut at all is the whole room.
  const fresh = loaded(100, 110).rooms.get("general");
  assert.equal(openContext(fresh, page(90, 110), false), false);
});

test("while older messages are on screen, live ones wait below them, unread", () => {
  const state = loaded(500, 549);
  const r = state.rooms.get("general");
  openContext(r, page(10, 59), true);
  const change = reduce(state, message(550, "general", "bob", "news"));
  assert.equal(change.appended, null, "not drawn below the older messages");
  assert.equal(r.messages[r.messages.length - 1].id, 550, "kept with the newest");
  assert.equal(r.unread, 1);
  assert.equal(readAll(state, r), false, "reading older messages is not reading the newest");
  leaveContext(r);
  assert.equal(readAll(state, r), true);
  assert.equal(r.unread, 0);
});

test("a change to a message in the context run shows there", () => {
  const state = loaded(500, 549);
  const r = state.rooms.get("general");
  openContext(r, page(10, 59), true);
  const edited = { ...message(30, "general", "bob", "edited"), seq: 900, edited_at: new Date().toISOString() };
  delete edited.type;
  const change = reduce(state, { type: "message_updated", room: "general", message: edited });
  assert.equal(messageIn(r, 30).text, "edited");
  assert.deepEqual(change.conversation, { keepScroll: true });
});
