// The files a message carries (issue 21), drawn: a picture the server shows inline (PNG,
// JPEG, GIF, with a thumbnail) as its thumbnail, at its own proportions before it loads so
// the list does not jump, and larger in the lightbox on a click; any other file as a chip
// that downloads it, with its name and size. Names are text (textContent, attributes set
// as properties), never HTML. The files load with the download cookie (api.js
// `setFileCookie`), which chat.js asks for when the session starts.
//
// Used by render.js (messages, threads) and search.js (hits); the lightbox is this module's,
// wired once by `wireLightbox`.

import { fitWithin, humanSize } from "./format.js";
import { el } from "./dom.js";

/** What the server serves inline with a thumbnail (docs/api.md, "Files"). */
const PICTURES = new Set(["image/png", "image/jpeg", "image/gif"]);
/** The box a thumbnail fits (the server makes them 320 pixels a side at most). */
export const THUMBNAIL_BOX = 320;

export function isPicture(attachment) {
  return Boolean(attachment) && PICTURES.has(attachment.content_type) && Boolean(attachment.thumbnail_url);
}

/** The attachments of a message, each a picture or a file chip; pictures fit `box`. */
export function attachmentList(attachments, { box = THUMBNAIL_BOX } = {}) {
  const list = el("div", "attachments");
  for (const attachment of attachments) list.append(isPicture(attachment) ? pictureOf(attachment, box) : fileChip(attachment));
  return list;
}

function pictureOf(attachment, box) {
  // A link to the full picture: a middle click or "open in a new tab" works as links do;
  // a plain click opens the lightbox instead.
  const link = el("a", "attachment-picture");
  link.href = attachment.url;
  link.title = `${attachment.name} (${humanSize(attachment.size)})`;
  const image = el("img", "attachment-image");
  const size = fitWithin(attachment.width, attachment.height, box);
  if (size) {
    image.width = size.width;
    image.height = size.height;
  }
  image.alt = attachment.name;
  image.decoding = "async";
  image.src = attachment.thumbnail_url;
  link.append(image);
  link.addEventListener("click", (event) => {
    if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    openLightbox(attachment, link);
  });
  return link;
}

function fileChip(attachment) {
  const link = el("a", "attachment-file");
  link.href = attachment.url;
  // Downloaded, never opened in the page (the server says so too: an attachment, sandboxed).
  link.download = attachment.name;
  link.append(el("span", "attachment-name", attachment.name), el("span", "attachment-size", humanSize(attachment.size)));
  link.title = `Download ${attachment.name}`;
  return link;
}

// ---------------------------------------------------------------- the lightbox

let lightbox = null; // its elements, once wired
let openedFrom = null; // what had the focus, to give it back

/** Shows the full picture over the page; Esc, a click or the ✕ closes it. */
export function openLightbox(attachment, from = document.activeElement) {
  if (!lightbox) return;
  const { dialog, image, name, download } = lightbox;
  openedFrom = from;
  image.alt = attachment.name;
  if (attachment.width && attachment.height) {
    image.width = attachment.width;
    image.height = attachment.height;
  } else {
    image.removeAttribute("width");
    image.removeAttribute("height");
  }
  image.src = attachment.url;
  name.textContent = `${attachment.name} · ${humanSize(attachment.size)}`;
  download.href = attachment.url;
  download.download = attachment.name;
  if (!dialog.open) dialog.showModal();
}

export function closeLightbox() {
  if (lightbox?.dialog.open) lightbox.dialog.close();
}

/** Wires the lightbox (`#lightbox`, a `<dialog>`): closed by Esc (the dialog's own), by a
 *  click anywhere on it but the download link, or by its ✕. */
export function wireLightbox() {
  const byId = (id) => document.getElementById(id);
  lightbox = {
    dialog: byId("lightbox"),
    image: byId("lightbox-image"),
    name: byId("lightbox-name"),
    download: byId("lightbox-download"),
  };
  const { dialog, image } = lightbox;
  dialog.addEventListener("click", (event) => {
    if (!event.target.closest("#lightbox-download")) dialog.close();
  });
  dialog.addEventListener("close", () => {
    image.removeAttribute("src");
    if (openedFrom?.isConnected) openedFrom.focus();
    openedFrom = null;
  });
}
