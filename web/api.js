// The HTTP API (docs/api.md) and where the session lives: sessionStorage, never the URL, so
// a token dies with the tab. The one cookie is the server's download cookie (POST
// /api/files/cookie: HttpOnly, SameSite=Strict, sent to /api/files/ only), which lets an
// `<img>` load a file of the user's rooms; the browser sends it to nothing else.

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

/** The ApiError of an answer that is not a success, from SPEC's error shape
 *  (`{"error": {"code", "message"}}`), or from its status if it has none. */
function errorOf(status, data) {
  const error = data && data.error;
  return new ApiError(status, error ? error.code : "http_" + status,
    error ? error.message : `The server answered ${status}.`);
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
  if (!response.ok) throw errorOf(response.status, data);
  return data;
}

/** Uploads `file` to the room `name` under `fileName` (POST /api/rooms/{name}/files, the
 *  body the file's bytes as they are). XMLHttpRequest, not fetch: only it tells how much
 *  of the body has gone (`onProgress(sentBytes)`). Answers `{done, abort}`: `done` is a
 *  promise of the attachment (`{id, name, size, content_type, …}`) that rejects with an
 *  ApiError, or with an AbortError once `abort()` was called. */
export function uploadFile(token, name, file, fileName, onProgress) {
  const xhr = new XMLHttpRequest();
  const done = new Promise((resolve, reject) => {
    xhr.open("POST", `${roomPath(name)}/files?name=${encodeURIComponent(fileName)}`);
    xhr.setRequestHeader("authorization", `Bearer ${token}`);
    xhr.responseType = "text";
    xhr.upload.addEventListener("progress", (event) => onProgress(event.loaded));
    xhr.addEventListener("load", () => {
      let data = null;
      try {
        data = JSON.parse(xhr.responseText);
      } catch {
        // Reported by status below.
      }
      if (xhr.status === 201 && data?.attachment) resolve(data.attachment);
      else reject(errorOf(xhr.status, data));
    });
    // The connection failed or was cut: a server that refuses a body over its cap before
    // reading it may close the connection under the browser, which then says no more.
    xhr.addEventListener("error", () => reject(new ApiError(0, "unreachable",
      "The upload was cut off: the server could not be reached, or it refused the file (too large?).")));
    xhr.addEventListener("abort", () => reject(new DOMException("The upload was cancelled.", "AbortError")));
    xhr.send(file);
  });
  return { done, abort: () => xhr.abort() };
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
  /** A page of messages (GET .../messages): `{before}` the newest before it, `{after}` the
   *  ones right after it, `{around}` the page around that message. */
  messages: (token, name, { before, after, around, limit = 50 }) => {
    const at = around !== undefined ? `around=${around}`
      : after !== undefined ? `after=${after}` : before !== undefined ? `before=${before}` : "";
    return request("GET", `${roomPath(name)}/messages?limit=${limit}${at ? `&${at}` : ""}`, { token });
  },
  /** GET /api/search: `q` as typed (the server reads its words, phrases and filters). */
  searchMessages: (token, q, cursor) =>
    request("GET", `/api/search?limit=20&q=${encodeURIComponent(q)}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`, { token }),
  /** The download cookie, so `<img src="/api/files/…">` loads (docs/api.md, "Files"). */
  setFileCookie: (token) => request("POST", "/api/files/cookie", { token }),
  clearFileCookie: () => request("DELETE", "/api/files/cookie"),
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
