// The forms the HTTP API answers (docs/api.md): signing in or registering, signing out, and
// creating a room (public or private). What each can tell before a round trip it says at once; an error is
// tied to the fields it is about. A session starts and ends here, in sessionStorage
// (api.js); what a signed-in page does with it is chat.js's.

import { api, ApiError, saveSession, clearSession } from "./api.js";

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
 *  with the tab anyway), and the sign-in page is back at "Log in". */
export async function signOut(token) {
  clearSession();
  if (token) await api.logout(token).catch(() => {});
  setAuthMode(false);
  showSignIn();
}

/** The session ended without the user asking (logged out elsewhere, expired): said as news. */
export function sessionEnded(reason) {
  clearSession();
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
