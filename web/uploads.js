// Files attached to the next message (issue 21): picked with the attach button, dropped on
// the conversation, or pasted into the message box (a screenshot). Each is uploaded at once
// (api.js `uploadFile`, POST /api/rooms/{name}/files) and shown as a chip above the message
// box: its name, a progress bar and Cancel while it goes, the server's refusal if it is
// refused, and once uploaded it waits there, removable, until the message is sent with it
// (chat.js takes it with `takeReady`). A file belongs to the room it was uploaded to, as the
// server has it: each room's chips show while that room is on screen.
//
// The functions at the top are the queue, pure (node tests read them); below them the
// chips' DOM and the ways files come in, wired by `wireUploads` with what chat.js hands in.

import { uploadFile } from "./api.js";
import { isPicture } from "./attachments.js";
import { humanSize } from "./format.js";
import { el } from "./dom.js";

/** At most this many files in one message (docs/api.md, "Files"). */
export const MOST_ATTACHMENTS = 10;

// ---------------------------------------------------------------- the queue

/** The uploads of the page, in the order they were started. Each is `{key, room, name,
 *  size, state, sent, attachment, error}`: `state` "uploading" (`sent` bytes of `size` so
 *  far), "done" (`attachment`, the server's answer) or "failed" (`error`, what to say). */
export function createUploads() {
  return { list: [], count: 0 };
}

/** A file starting to upload to `room`; answers its entry. */
export function addUpload(uploads, room, name, size) {
  uploads.count += 1;
  const upload = { key: uploads.count, room, name, size, state: "uploading", sent: 0, attachment: null, error: "" };
  uploads.list.push(upload);
  return upload;
}

function find(uploads, key) {
  return uploads.list.find((upload) => upload.key === key) || null;
}

/** `sent` bytes have gone. Answers the upload, or null when it is not uploading (any more):
 *  a late event of one cancelled or finished changes nothing. */
export function uploadProgress(uploads, key, sent) {
  const upload = find(uploads, key);
  if (!upload || upload.state !== "uploading") return null;
  upload.sent = Math.min(Math.max(sent, upload.sent), upload.size);
  return upload;
}

/** The server took it: `attachment` is its answer. */
export function uploadDone(uploads, key, attachment) {
  const upload = find(uploads, key);
  if (!upload || upload.state !== "uploading") return null;
  upload.state = "done";
  upload.sent = upload.size;
  upload.attachment = attachment;
  // The name and size shown become the server's: the name it kept, the bytes it serves.
  upload.name = attachment.name;
  upload.size = attachment.size;
  return upload;
}

/** It was refused, or cut off: `error` says why. */
export function uploadFailed(uploads, key, error) {
  const upload = find(uploads, key);
  if (!upload || upload.state !== "uploading") return null;
  upload.state = "failed";
  upload.error = error;
  return upload;
}

/** Drops it (cancelled, or removed before sending); answers it, or null if it was gone. */
export function removeUpload(uploads, key) {
  const upload = find(uploads, key);
  if (!upload) return null;
  uploads.list = uploads.list.filter((other) => other !== upload);
  return upload;
}

/** The uploads of `room`, in order. */
export function uploadsIn(uploads, room) {
  return uploads.list.filter((upload) => upload.room === room);
}

/** What a message in `room` would carry: the attachments uploaded, and how many files are
 *  still on their way. */
export function readyIn(uploads, room) {
  const mine = uploadsIn(uploads, room);
  return {
    attachments: mine.filter((upload) => upload.state === "done").map((upload) => upload.attachment),
    uploading: mine.filter((upload) => upload.state === "uploading").length,
  };
}

/** A message went with the room's uploaded files: they, and the failed ones beside them,
 *  leave the composer. Answers the attachments taken. */
export function takeSent(uploads, room) {
  const { attachments } = readyIn(uploads, room);
  uploads.list = uploads.list.filter((upload) => upload.room !== room || upload.state === "uploading");
  return attachments;
}

/** The attachments of a refused message, back as chips of `room` (they are still the
 *  sender's to send). One already there is not added twice. */
export function restoreUploads(uploads, room, attachments) {
  for (const attachment of attachments) {
    if (uploads.list.some((upload) => upload.attachment?.id === attachment.id)) continue;
    const upload = addUpload(uploads, room, attachment.name, attachment.size);
    uploadDone(uploads, upload.key, attachment);
  }
}

/** The name a file is uploaded under: its own, or for a pasted picture (which browsers
 *  call "image.png") or a file without a name, one that says when it came. */
export function uploadName(file, { pasted = false, now = new Date() } = {}) {
  const generic = !file.name || (pasted && /^image\.\w+$/i.test(file.name));
  if (!generic) return file.name;
  const extension = (file.type.match(/^image\/(png|jpeg|gif|webp)$/) || [])[1];
  const pad = (n) => String(n).padStart(2, "0");
  const stamp = `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())} ${pad(now.getHours())}.${pad(now.getMinutes())}.${pad(now.getSeconds())}`;
  return `Pasted image ${stamp}.${extension === "jpeg" ? "jpg" : extension || "png"}`;
}

// Characters that reorder or hide text: a name with them reads as another ("evil\u202Etxt.exe"
// shows as "evilexe.txt"). The server refuses such names; a chip shows them as �.
const HIDDEN_CHARS = /[\u0000-\u001f\u007f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** A file's name as a chip shows it: what reorders or hides text made visible. */
export function visibleName(name) {
  return name.replace(HIDDEN_CHARS, "\ufffd");
}

// ---------------------------------------------------------------- the chips and the page

const uploads = createUploads();
/** key -> the `abort` of its request, while it goes. */
const requests = new Map();
/** key -> its chip, kept across redraws so a progress event moves a bar, not the focus. */
const chips = new Map();

let view = null; // the elements, once wired
let where = () => null; // chat.js: {token, room} to upload to, or null

/** The uploaded files a message in `room` would carry, and how many are still going. */
export function pendingIn(room) {
  return readyIn(uploads, room);
}

/** The room's uploaded files, taken for the message about to be sent. */
export function takeReady(room) {
  const taken = takeSent(uploads, room);
  draw();
  return taken;
}

/** A refused message's files, back in the composer of `room`. */
export function giveBack(room, attachments) {
  restoreUploads(uploads, room, attachments);
  draw();
}

/** Signed out: every upload stops, every chip goes. */
export function forgetUploads() {
  for (const abort of requests.values()) abort();
  requests.clear();
  uploads.list = [];
  draw();
}

/** Starts uploading `files` (a FileList or an array) to the room on screen; `pasted` ones
 *  came from the clipboard. */
export function uploadFiles(files, { pasted = false } = {}) {
  const target = where();
  if (!target) return;
  for (const file of files) start(target, file, pasted);
  draw();
}

function start({ token, room }, file, pasted) {
  const upload = addUpload(uploads, room, uploadName(file, { pasted }), file.size);
  const { key } = upload;
  const request = uploadFile(token, room, file, upload.name, (sent) => {
    if (uploadProgress(uploads, key, sent)) showProgress(find(uploads, key));
  });
  requests.set(key, request.abort);
  request.done.then(
    (attachment) => uploadDone(uploads, key, attachment),
    (error) => {
      if (error.name !== "AbortError") uploadFailed(uploads, key, error.message);
    },
  ).finally(() => {
    requests.delete(key);
    draw();
  });
}

function cancel(key) {
  requests.get(key)?.();
  requests.delete(key);
  removeUpload(uploads, key);
  draw();
  view.input.focus();
}

function chipOf(upload) {
  const chip = el("li", "upload-chip");
  chip.dataset.state = upload.state;
  chip.dataset.key = String(upload.key);
  if (upload.state === "done" && isPicture(upload.attachment)) {
    const thumb = el("img", "upload-thumb");
    thumb.src = upload.attachment.thumbnail_url;
    thumb.alt = "";
    chip.append(thumb);
  }
  const name = el("span", "upload-name", visibleName(upload.name));
  name.title = name.textContent;
  chip.append(name);
  if (upload.state === "uploading") {
    const bar = el("progress", "upload-progress");
    bar.max = Math.max(upload.size, 1);
    bar.value = upload.sent;
    bar.setAttribute("aria-label", `Uploading ${name.textContent}`);
    chip.append(bar);
  } else {
    chip.append(el("span", "upload-size", humanSize(upload.size)));
  }
  const uploading = upload.state === "uploading";
  const button = el("button", uploading ? "icon upload-cancel" : "icon upload-remove", "✕");
  button.type = "button";
  button.setAttribute("aria-label", `${uploading ? "Cancel the upload of" : "Remove"} ${name.textContent}`);
  button.title = uploading ? "Cancel" : "Remove";
  button.addEventListener("click", () => cancel(upload.key));
  chip.append(button);
  if (upload.state === "failed") {
    const said = el("span", "upload-error", upload.error);
    said.setAttribute("role", "alert");
    chip.append(said);
  }
  return chip;
}

function showProgress(upload) {
  const bar = chips.get(upload.key)?.querySelector("progress");
  if (bar) bar.value = upload.sent;
}

/** The chips of the room on screen. A chip is made anew only when its upload's state
 *  changes, and the list only when its chips do. */
function draw() {
  if (!view) return;
  const room = where()?.room ?? null;
  const shown = uploadsIn(uploads, room);
  const keys = new Set(uploads.list.map((upload) => upload.key));
  for (const key of chips.keys()) if (!keys.has(key)) chips.delete(key);
  const nodes = shown.map((upload) => {
    let chip = chips.get(upload.key);
    if (!chip || chip.dataset.state !== upload.state) {
      chip = chipOf(upload);
      chips.set(upload.key, chip);
    }
    return chip;
  });
  const children = view.list.children;
  const same = nodes.length === children.length && nodes.every((node, at) => children[at] === node);
  if (!same) view.list.replaceChildren(...nodes);
  view.list.hidden = nodes.length === 0;
}

/** The room on screen changed: its chips show. */
export function showUploads() {
  draw();
}

function hasFiles(event) {
  return [...(event.dataTransfer?.types || [])].includes("Files");
}

/** Wires the attach button, dropping files on the conversation and pasting them into the
 *  message box. `target()` answers `{token, room}` to upload to (the room on screen), or
 *  null when there is none. */
export function wireUploads(target) {
  where = target;
  const byId = (id) => document.getElementById(id);
  view = {
    button: byId("attach-button"),
    picker: byId("attach-input"),
    list: byId("uploads"),
    input: byId("message-input"),
    zone: byId("conversation"),
  };
  view.button.addEventListener("click", () => view.picker.click());
  view.picker.addEventListener("change", () => {
    uploadFiles([...view.picker.files]);
    // The same file may be picked again.
    view.picker.value = "";
  });

  // A file dropped anywhere else must not replace the chat with itself: the browser's
  // default for a drop it is not told about is to open the file.
  for (const type of ["dragover", "drop"]) {
    document.addEventListener(type, (event) => {
      if (hasFiles(event)) event.preventDefault();
    });
  }
  let depth = 0; // dragenter and dragleave come for every element crossed inside the zone
  view.zone.addEventListener("dragenter", (event) => {
    if (!hasFiles(event) || !where()) return;
    depth += 1;
    view.zone.classList.add("dropping");
  });
  view.zone.addEventListener("dragleave", (event) => {
    if (!hasFiles(event)) return;
    depth = Math.max(0, depth - 1);
    if (depth === 0) view.zone.classList.remove("dropping");
  });
  view.zone.addEventListener("dragover", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = where() ? "copy" : "none";
  });
  view.zone.addEventListener("drop", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth = 0;
    view.zone.classList.remove("dropping");
    uploadFiles([...event.dataTransfer.files]);
  });

  // A paste that carries files (a screenshot, files copied in a file manager) uploads
  // them. One that carries text beside a picture of it (cells of a spreadsheet, a word
  // processor's text) is pasted as the text, as the box would without this.
  view.input.addEventListener("paste", (event) => {
    const files = [...(event.clipboardData?.files || [])];
    if (files.length === 0) return;
    const text = event.clipboardData.getData("text/plain");
    if (text && files.every((file) => file.type.startsWith("image/"))) return;
    event.preventDefault();
    uploadFiles(files, { pasted: true });
  });
}
