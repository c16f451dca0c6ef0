// The HTTP API (docs/api.md) and where the session lives: sessionStorage, never a cookie
// or the URL, so a token dies with the tab and is never sent by the browser on its own.

const KEY = "sala.session";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function loadSession() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY));
  } catch {
    return null;
  }
}

export function saveSession(session) {
  sessionStorage.setItem(KEY, JSON.stringify(session));
}

export function clearSession() {
  sessionStorage.removeItem(KEY);
}

async function request(method, path, { token, body } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, "unreachable", "The server cannot be reached.");
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    // A non-JSON answer (a proxy's error page) is reported by status below.
  }
  if (!response.ok) {
    const error = data && data.error;
    throw new ApiError(response.status, error ? error.code : "http_" + response.status,
      error ? error.message : `The server answered ${response.status}.`);
  }
  return data;
}

export const api = {
  register: (username, password, email) =>
    request("POST", "/api/register", { body: email ? { username, password, email } : { username, password } }),
  login: (username, password) => request("POST", "/api/login", { body: { username, password } }),
  logout: (token) => request("POST", "/api/logout", { token }),
  me: (token) => request("GET", "/api/me", { token }),
  myRooms: (token) => request("GET", "/api/me/rooms", { token }),
  setQuiet: (token, name, quiet) =>
    request("PUT", `/api/me/rooms/${encodeURIComponent(name)}`, { token, body: { quiet } }),
  setStatus: (token, status, note) => request("PUT", "/api/me/status", { token, body: { status, note } }),
  searchRooms: (token, q, cursor) =>
    request("GET", `/api/rooms?limit=20&q=${encodeURIComponent(q)}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`, { token }),
  createRoom: (token, name, topic, isPrivate) =>
    request("POST", "/api/rooms", { token, body: { name, topic, private: isPrivate } }),
  searchUsers: (token, q) => request("GET", `/api/users?limit=10&q=${encodeURIComponent(q)}`, { token }),
  openDm: (token, users) => request("POST", "/api/dms", { token, body: { users } }),
  room: (token, name) => request("GET", `/api/rooms/${encodeURIComponent(name)}`, { token }),
  members: (token, name, cursor) =>
    request("GET", `${roomPath(name)}/members?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`, { token }),
  /** A thread: its root, then the messages answering it (GET .../messages?thread=). */
  thread: (token, name, root) => request("GET", `${roomPath(name)}/messages?thread=${root}&limit=200`, { token }),
  setTopic: (token, name, topic) => request("PATCH", roomPath(name), { token, body: { topic } }),
  /** PATCH /api/rooms/{name}: the fields given change, the others stay. */
  updateRoom: (token, name, fields) => request("PATCH", roomPath(name), { token, body: fields }),
  archive: (token, name) => request("DELETE", roomPath(name), { token }),
  myBlocks: (token) => request("GET", "/api/me/blocks", { token }),
  block: (token, username) => request("PUT", `/api/me/blocks/${encodeURIComponent(username)}`, { token }),
  unblock: (token, username) => request("DELETE", `/api/me/blocks/${encodeURIComponent(username)}`, { token }),

  // Moderation (docs/api.md, "Moderation"): each answers 204 (null) or throws ApiError.
  myInvites: (token) => request("GET", "/api/me/invites", { token }),
  declineInvite: (token, name) => request("DELETE", `/api/me/invites/${encodeURIComponent(name)}`, { token }),
  invite: (token, name, username) => request("POST", `${roomPath(name)}/invites`, { token, body: { username } }),
  kick: (token, name, username, reason) =>
    request("POST", `${roomPath(name)}/kick`, { token, body: { username, reason } }),
  /** A ban or mute (`what`: "bans" or "mutes") for `durationSecs`, or until lifted. */
  restrict: (token, name, what, username, reason, durationSecs) =>
    request("PUT", `${roomPath(name)}/${what}/${encodeURIComponent(username)}`,
      { token, body: { reason, duration_secs: durationSecs } }),
  /** Lifts a ban or mute (`what`: "bans" or "mutes"). */
  lift: (token, name, what, username) =>
    request("DELETE", `${roomPath(name)}/${what}/${encodeURIComponent(username)}`, { token }),
  setRole: (token, name, username, role) =>
    request("PUT", `${roomPath(name)}/members/${encodeURIComponent(username)}/role`, { token, body: { role } }),
};

function roomPath(name) {
  return `/api/rooms/${encodeURIComponent(name)}`;
}
