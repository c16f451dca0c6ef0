// The forms the HTTP API answers (docs/api.md): signing in or registering, signing out,
// creating a room (public or private), and moderating one: the menu of one member in the
// member panel (kick; ban or mute, with a reason and how long; make admin or member), and
// the room's invite and topic forms. What each can tell before a round trip it says at
// once; an error is tied to the fields it is about. A session starts and ends here, in
// sessionStorage (api.js); what a signed-in page does with it is chat.js's, and so are the
// calls the moderation forms make, and who may do what (state.js), handed in by app.js.

import { api, ApiError, saveSession, clearSession } from "./api.js";
import { showMembersStatus } from "./render.js";

const byId = (id) => document.getElementById(id);

const signIn = {
  view: byId("auth-view"),
  chatView: byId("chat-view"),
  notice: byId("auth-notice"),
  tabLogin: byId("tab-login"),
  tabRegister: byId("tab-register"),
  form: byId("auth-form"),
  emailRow: byId("email-row"),
  error: byId("auth-error"),
  submit: byId("auth-submit"),
};

const newRoom = {
  details: byId("new-room"),
  form: byId("room-form"),
  error: byId("room-error"),
  private: byId("room-private"),
};

/** The fields of each form, by the word the server's messages name them with ("username
 *  must be 3 to 32 characters", "that username is taken": docs/api.md). */
const AUTH_FIELDS = { username: byId("auth-username"), email: byId("auth-email"), password: byId("auth-password") };
const ROOM_FIELDS = { name: byId("room-name"), topic: byId("room-topic") };

/** The fields a message names. */
function fieldsNamedIn(message, fields) {
  return Object.entries(fields)
    .filter(([word]) => new RegExp(`\\b${word}\\b`).test(message))
    .map(([, field]) => field);
}

/** Shows a form's error (`""` clears it) and ties it to the fields it is about, with
 *  aria-invalid and aria-describedby, so a screen reader reads it with the field. */
function showFormError(errorElement, fields, message, invalid = fieldsNamedIn(message, fields)) {
  errorElement.textContent = message;
  for (const field of Object.values(fields)) {
    if (invalid.includes(field)) {
      field.setAttribute("aria-invalid", "true");
      field.setAttribute("aria-describedby", errorElement.id);
    } else {
      field.removeAttribute("aria-invalid");
      field.removeAttribute("aria-describedby");
    }
  }
}

// ---------------------------------------------------------------- signing in and out

let registering = false;

/** The sign-in page, with a `notice` (information, such as why the session ended) or an
 *  `error` (what went wrong). */
export function showSignIn({ notice = "", error = "" } = {}) {
  signIn.chatView.hidden = true;
  signIn.view.hidden = false;
  signIn.notice.textContent = notice;
  showFormError(signIn.error, AUTH_FIELDS, error);
  AUTH_FIELDS.username.focus();
}

function setAuthMode(register) {
  registering = register;
  signIn.tabLogin.setAttribute("aria-selected", String(!register));
  signIn.tabRegister.setAttribute("aria-selected", String(register));
  signIn.emailRow.hidden = !register;
  signIn.submit.textContent = register ? "Create account" : "Log in";
  AUTH_FIELDS.password.autocomplete = register ? "new-password" : "current-password";
  showFormError(signIn.error, AUTH_FIELDS, "");
}

async function submitAuth(onSignedIn) {
  const username = AUTH_FIELDS.username.value.trim();
  const password = AUTH_FIELDS.password.value;
  const email = AUTH_FIELDS.email.value.trim();
  signIn.notice.textContent = "";
  const missing = Object.entries({ username, password }).filter(([, value]) => !value).map(([word]) => word);
  if (missing.length > 0) {
    // Said here: the server could only refuse it after a round trip.
    showFormError(signIn.error, AUTH_FIELDS, `Enter your ${missing.join(" and ")}.`);
    AUTH_FIELDS[missing[0]].focus();
    return;
  }
  showFormError(signIn.error, AUTH_FIELDS, "");
  signIn.submit.disabled = true;
  try {
    if (registering) await api.register(username, password, email || undefined);
    const login = await api.login(username, password);
    const session = { token: login.token, user: login.user, chat_url: login.chat_url };
    saveSession(session);
    AUTH_FIELDS.password.value = "";
    await onSignedIn(session);
  } catch (error) {
    showFormError(signIn.error, AUTH_FIELDS, error instanceof ApiError ? error.message : String(error));
  } finally {
    signIn.submit.disabled = false;
  }
}

/** The tabs and the form; `onSignedIn(session)` once logged in (after registering, if so). */
export function wireSignIn(onSignedIn) {
  signIn.tabLogin.addEventListener("click", () => setAuthMode(false));
  signIn.tabRegister.addEventListener("click", () => setAuthMode(true));
  signIn.form.addEventListener("submit", (event) => {
    event.preventDefault();
    submitAuth(onSignedIn);
  });
}

/** The user logged out: the server forgets the token (if it can be reached; the token dies
 *  with the tab anyway) and clears the download cookie that carried it, and the sign-in
 *  page is back at "Log in". */
export async function signOut(token) {
  clearSession();
  if (token) await api.logout(token).catch(() => {});
  await api.clearFileCookie().catch(() => {});
  setAuthMode(false);
  showSignIn();
}

/** The session ended without the user asking (logged out elsewhere, expired): said as news. */
export function sessionEnded(reason) {
  clearSession();
  api.clearFileCookie().catch(() => {});
  showSignIn({ notice: `Signed out: ${reason}` });
}

// ---------------------------------------------------------------- creating a room

/** A room name as the server takes it: spaces become dashes, letters lower case. */
function roomNameFrom(typed) {
  return typed.trim().toLowerCase().replace(/\s+/g, "-");
}

/** The new-room form: `create(name, topic, isPrivate)` asks the server and answers the room
 *  made, then `onCreated(room)` (the room object). */
export function wireRoomForm({ create, onCreated }) {
  newRoom.form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const typed = ROOM_FIELDS.name.value.trim();
    const name = roomNameFrom(typed);
    const topic = ROOM_FIELDS.topic.value.trim();
    showFormError(newRoom.error, ROOM_FIELDS, "");
    if (name !== typed.toLowerCase()) {
      // Offered, not refused: the field now holds the name the server takes.
      ROOM_FIELDS.name.value = name;
      showFormError(newRoom.error, ROOM_FIELDS, `Room names have no spaces: create #${name}?`, [ROOM_FIELDS.name]);
      return;
    }
    try {
      const created = await create(name, topic || undefined, newRoom.private.checked);
      ROOM_FIELDS.name.value = "";
      ROOM_FIELDS.topic.value = "";
      newRoom.private.checked = false;
      newRoom.details.open = false;
      onCreated(created);
    } catch (error) {
      showFormError(newRoom.error, ROOM_FIELDS, error.message);
    }
  });
}

// ---------------------------------------------------------------- moderating a room

const menu = {
  section: byId("moderation"),
  title: byId("mod-title"),
  reason: byId("mod-reason"),
  kick: byId("mod-kick"),
  ban: byId("mod-ban"),
  mute: byId("mod-mute"),
  role: byId("mod-role"),
  cancel: byId("mod-cancel"),
  error: byId("mod-error"),
  list: byId("members"),
  listTitle: byId("members-title"),
};
const MENU_FIELDS = { reason: menu.reason };
const ACTIONS = ["kick", "ban", "mute", "role"];

const tools = {
  section: byId("room-tools"),
  title: byId("room-tools-title"),
  inviteForm: byId("invite-form"),
  inviteError: byId("invite-error"),
  admin: byId("admin-tools"),
  topicForm: byId("topic-form"),
  topicError: byId("topic-error"),
  liftForm: byId("lift-form"),
  liftError: byId("lift-error"),
  membersInviteLine: byId("members-invite-line"),
  membersInvite: byId("members-invite"),
  archive: byId("archive-tools"),
  archiveAsk: byId("archive-room"),
  archiveConfirm: byId("archive-confirm"),
  archiveYes: byId("archive-yes"),
  archiveNo: byId("archive-no"),
  error: byId("tools-error"),
  status: byId("tools-status"),
};
const INVITE_FIELDS = { username: byId("invite-username") };
const TOPIC_FIELDS = { topic: byId("topic-input") };
const LIFT_FIELDS = { username: byId("lift-username") };

const dmTools = {
  section: byId("dm-tools"),
  list: byId("dm-people-tools"),
  status: byId("dm-tools-status"),
};

/** How long a ban or mute lasts, by the value of its radio button ("" is until lifted). */
const LASTS = { 3600: "for 1 hour", 86400: "for 1 day" };

let moderation = null; // what app.js handed in: see wireModeration
let target = null; // whom the menu is open for: {username, role (the role it would give)}
let toolsRoom = null; // the room the tools are for, and the topic last put in their field
let toolsTopic = null;

/** The ⋯ of a member in the list, if they are listed with one. */
function moderateButton(username) {
  return [...menu.list.querySelectorAll("button.moderate")].find((button) => button.dataset.user === username) || null;
}

/** Each ⋯ says whether its menu is the one open. */
function markExpanded() {
  for (const button of menu.list.querySelectorAll("button.moderate")) {
    button.setAttribute("aria-expanded", String(button.dataset.user === target?.username));
  }
}

function setRoleButton(role) {
  menu.role.hidden = !role;
  menu.role.textContent = role === "admin" ? "Make admin" : "Make member";
}

function openMenu(username) {
  const actions = moderation.allowed(username);
  if (!actions) return;
  target = { username, role: actions.role };
  menu.title.textContent = `Moderate ${username}`;
  menu.reason.value = "";
  showFormError(menu.error, MENU_FIELDS, "");
  setRoleButton(actions.role);
  menu.section.hidden = false;
  markExpanded();
  menu.reason.focus();
}

/** Closes the menu. The focus, if it was in the menu (or `focusBack`), goes back to the
 *  member's ⋯, or to the list's title when they are no longer listed. */
export function closeModeration({ focusBack = false, toList = false } = {}) {
  if (!target) return;
  const { username } = target;
  const hadFocus = menu.section.contains(document.activeElement);
  target = null;
  menu.section.hidden = true;
  markExpanded();
  if (focusBack || hadFocus) ((!toList && moderateButton(username)) || menu.listTitle).focus();
}

/** After the member list is drawn again: the menu follows its member (the role it would
 *  give), and closes if they are gone from the list or out of my reach. */
export function refreshModeration() {
  if (target) {
    const actions = moderateButton(target.username) && moderation.allowed(target.username);
    if (!actions) {
      closeModeration();
    } else {
      target.role = actions.role;
      setRoleButton(actions.role);
    }
  }
  markExpanded();
}

function doneText(action, username, role, durationSecs) {
  const lasts = LASTS[durationSecs] || "until lifted";
  switch (action) {
    case "kick": return `Removed ${username} from the room.`;
    case "ban": return `Banned ${username} ${lasts}.`;
    case "mute": return `Muted ${username} ${lasts}.`;
    default: return `${username} is now ${role === "admin" ? "an admin" : "a member"}.`;
  }
}

async function act(action) {
  if (!target) return;
  const { username, role } = target;
  const reason = menu.reason.value.trim() || undefined;
  const picked = menu.section.querySelector('input[name="mod-for"]:checked')?.value;
  const durationSecs = (action === "ban" || action === "mute") && picked ? Number(picked) : undefined;
  showFormError(menu.error, MENU_FIELDS, "");
  for (const name of ACTIONS) menu[name].disabled = true;
  try {
    await moderation.act(action, username, { reason, durationSecs, role });
    showMembersStatus(doneText(action, username, role, durationSecs));
    // A kicked or banned member's row goes when the room hears of it.
    closeModeration({ focusBack: true, toList: action === "kick" || action === "ban" });
  } catch (error) {
    // 403 out of reach, 404 gone, 422 a rule (the reason's length, the room a DM): the
    // server's own words.
    showFormError(menu.error, MENU_FIELDS, error.message);
  } finally {
    for (const name of ACTIONS) menu[name].disabled = false;
  }
}

/** The room tools for `room` ({name, label, topic, private, membersInvite, invite,
 *  manage, archive}: the last three say what I may do, state.js `canInvite`, `canManage`,
 *  `canArchive`), or none (null) for those who may do none of it. A topic being written
 *  survives a redraw unless the topic itself changed meanwhile. */
export function showRoomTools(room) {
  const any = room && (room.invite || room.manage || room.archive);
  tools.section.hidden = !any;
  if (!any) {
    toolsRoom = null;
    return;
  }
  const field = TOPIC_FIELDS.topic;
  if (room.name !== toolsRoom) {
    toolsRoom = room.name;
    INVITE_FIELDS.username.value = "";
    LIFT_FIELDS.username.value = "";
    tools.status.textContent = "";
    tools.error.textContent = "";
    showFormError(tools.inviteError, INVITE_FIELDS, "");
    showFormError(tools.topicError, TOPIC_FIELDS, "");
    showFormError(tools.liftError, LIFT_FIELDS, "");
    askArchive(false);
    field.value = room.topic;
  } else if (room.topic !== toolsTopic && document.activeElement !== field) {
    field.value = room.topic;
  }
  toolsTopic = room.topic;
  tools.title.textContent = room.manage ? `Manage ${room.label}` : `Invite to ${room.label}`;
  tools.inviteForm.hidden = !room.invite;
  tools.admin.hidden = !room.manage;
  tools.membersInviteLine.hidden = !room.private;
  tools.membersInvite.checked = room.membersInvite;
  tools.archive.hidden = !room.archive;
}

/** Shows (or hides) the question that stands between "Delete the room…" and deleting it. */
function askArchive(asking) {
  tools.archiveConfirm.hidden = !asking;
  tools.archiveAsk.hidden = asking;
  tools.archiveAsk.setAttribute("aria-expanded", String(asking));
}

async function submitLift(what) {
  const field = LIFT_FIELDS.username;
  const username = field.value.trim();
  tools.status.textContent = "";
  if (!username) {
    showFormError(tools.liftError, LIFT_FIELDS, "Type the username of the person to let back.", [field]);
    field.focus();
    return;
  }
  showFormError(tools.liftError, LIFT_FIELDS, "");
  try {
    await moderation.lift(what, username);
    field.value = "";
    tools.status.textContent = what === "bans" ? `${username} may come back.` : `${username} may write again.`;
  } catch (error) {
    // 404 nobody of that name, 403 out of reach: about the one field.
    showFormError(tools.liftError, LIFT_FIELDS, error.message, [field]);
  }
}

async function changeMembersInvite() {
  const wanted = tools.membersInvite.checked;
  tools.status.textContent = "";
  tools.error.textContent = "";
  try {
    await moderation.setMembersInvite(wanted);
    tools.status.textContent = wanted ? "Every member may invite now." : "Only admins may invite now.";
  } catch (error) {
    tools.membersInvite.checked = !wanted;
    tools.error.textContent = error.message;
  }
}

async function archive() {
  tools.error.textContent = "";
  tools.archiveYes.disabled = true;
  try {
    // The room then leaves every list, this page's too (`room_removed`).
    await moderation.archive();
  } catch (error) {
    tools.error.textContent = error.message;
    askArchive(false);
  } finally {
    tools.archiveYes.disabled = false;
  }
}

/** The DM tools: for each other person in the DM on screen, a block (or unblock) button.
 *  `people` is [{username, blocked}], or null when the room on screen is not a DM. */
export function showDmTools(people) {
  dmTools.section.hidden = !people;
  if (!people) {
    dmTools.status.textContent = "";
    return;
  }
  dmTools.list.replaceChildren(...people.map(({ username, blocked }) => {
    const item = document.createElement("li");
    item.className = "dm-person";
    const name = document.createElement("span");
    name.textContent = username;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "small block";
    button.dataset.user = username;
    button.dataset.block = String(!blocked);
    button.textContent = blocked ? `Unblock ${username}` : `Block ${username}`;
    item.append(name, button);
    return item;
  }));
}

async function toggleBlock(button) {
  const username = button.dataset.user;
  const block = button.dataset.block === "true";
  button.disabled = true;
  dmTools.status.textContent = "";
  try {
    await moderation.block(username, block);
    dmTools.status.textContent = block
      ? `You block ${username}: what they write to you is not delivered.`
      : `You no longer block ${username}.`;
  } catch (error) {
    dmTools.status.textContent = error.message;
  } finally {
    // The list is drawn again on success; on a refusal this button stays.
    button.disabled = false;
  }
}

async function submitInvite() {
  const field = INVITE_FIELDS.username;
  const username = field.value.trim();
  tools.status.textContent = "";
  if (!username) {
    showFormError(tools.inviteError, INVITE_FIELDS, "Type the username of the person to invite.", [field]);
    field.focus();
    return;
  }
  showFormError(tools.inviteError, INVITE_FIELDS, "");
  try {
    await moderation.invite(username);
    field.value = "";
    tools.status.textContent = `Invited ${username}.`;
  } catch (error) {
    // 404 nobody of that name, 422 a member already or banned: about the one field.
    showFormError(tools.inviteError, INVITE_FIELDS, error.message, [field]);
  }
}

async function submitTopic() {
  const topic = TOPIC_FIELDS.topic.value.trim();
  tools.status.textContent = "";
  showFormError(tools.topicError, TOPIC_FIELDS, "");
  try {
    await moderation.setTopic(topic || null);
    tools.status.textContent = topic ? "Topic saved." : "Topic cleared.";
  } catch (error) {
    showFormError(tools.topicError, TOPIC_FIELDS, error.message, [TOPIC_FIELDS.topic]);
  }
}

/** Wires the member menu and the room tools. `allowed(username)` answers what I may do to
 *  them (null, or `{role}`: see state.js `actionsOn`); `act(action, username, {reason,
 *  durationSecs, role})` does "kick", "ban", "mute" or "role"; `invite(username)`,
 *  `setTopic(topic)`, `lift(what, username)` ("bans" or "mutes"), `setMembersInvite(bool)`,
 *  `archive()` and `block(username, bool)` do theirs. Each but `allowed` answers a promise,
 *  which throws the server's refusal. */
export function wireModeration(handlers) {
  moderation = handlers;
  menu.list.addEventListener("click", (event) => {
    const button = event.target.closest("button.moderate");
    if (!button) return;
    if (target?.username === button.dataset.user) closeModeration({ focusBack: true });
    else openMenu(button.dataset.user);
  });
  for (const action of ACTIONS) menu[action].addEventListener("click", () => act(action));
  menu.cancel.addEventListener("click", () => closeModeration({ focusBack: true }));
  menu.section.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    // Closes the menu only: not the member drawer around it (app.js closes that on Esc).
    event.stopPropagation();
    closeModeration({ focusBack: true });
  });
  tools.inviteForm.addEventListener("submit", (event) => {
    event.preventDefault();
    submitInvite();
  });
  tools.topicForm.addEventListener("submit", (event) => {
    event.preventDefault();
    submitTopic();
  });
  tools.liftForm.addEventListener("submit", (event) => {
    event.preventDefault();
    // Enter in the field lifts a ban, the first button's.
    submitLift(event.submitter?.value || "bans");
  });
  tools.membersInvite.addEventListener("change", changeMembersInvite);
  tools.archiveAsk.addEventListener("click", () => {
    askArchive(true);
    tools.archiveNo.focus();
  });
  tools.archiveNo.addEventListener("click", () => {
    askArchive(false);
    tools.archiveAsk.focus();
  });
  tools.archiveYes.addEventListener("click", archive);
  dmTools.list.addEventListener("click", (event) => {
    const button = event.target.closest("button.block");
    if (button) toggleBlock(button);
  });
}
