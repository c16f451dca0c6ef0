// Formatting (issue 19): the Markdown subset people type in chat, read into a tree of plain
// objects that render.js turns into DOM nodes with textContent only. There is no HTML on
// the way in or out: markup a user types shows as the characters they typed, and no text
// becomes an attribute except a link's href, which must be http(s) or mailto.
//
// Blocks: paragraphs (a single newline is a line break), ``` code blocks ```, > quotes, and
// lists ("- ", "* " or "1. "). Inline: **bold**, *italics* or _italics_, ~~strikethrough~~,
// `code`, [text](https://…), bare http(s) URLs, and @mentions. What does not close is
// text. The stored message stays what the user typed; this only reads it.
//
// Beside the text, how a file's numbers read on screen: its size ("2.4 MB"), and the box
// a picture's thumbnail takes before it has loaded.

const URL_SCHEMES = /^(https?:\/\/|mailto:)/i;
const BARE_URL = /^https?:\/\/[^\s<>"]+[^\s<>".,;:!?)\]}'"]/i;
const MENTION = /^@([A-Za-z0-9_.-]{3,32})/;
const LIST_ITEM = /^\s*(?:[-*]|\d{1,9}[.)])\s+(.*)$/;
const ORDERED = /^\s*\d/;

/** The blocks of a message's text. */
export function parseMessage(text) {
  const lines = text.split("\n");
  const blocks = [];
  let paragraph = [];
  const endParagraph = () => {
    if (paragraph.length) blocks.push({ type: "paragraph", inline: inlineLines(paragraph) });
    paragraph = [];
  };
  for (let at = 0; at < lines.length; at += 1) {
    const line = lines[at];
    if (line.trimStart().startsWith("```")) {
      const end = lines.findIndex((l, i) => i > at && l.trimStart().startsWith("```"));
      if (end > at) {
        endParagraph();
        blocks.push({ type: "code", text: lines.slice(at + 1, end).join("\n") });
        at = end;
        continue;
      }
    }
    if (line.startsWith(">")) {
      endParagraph();
      const quoted = [];
      while (at < lines.length && lines[at].startsWith(">")) {
        quoted.push(lines[at].replace(/^>\s?/, ""));
        at += 1;
      }
      at -= 1;
      blocks.push({ type: "quote", inline: inlineLines(quoted) });
      continue;
    }
    if (LIST_ITEM.test(line)) {
      endParagraph();
      const ordered = ORDERED.test(line);
      const items = [];
      while (at < lines.length && LIST_ITEM.test(lines[at]) && ORDERED.test(lines[at]) === ordered) {
        items.push(parseInline(lines[at].match(LIST_ITEM)[1]));
        at += 1;
      }
      at -= 1;
      blocks.push({ type: "list", ordered, items });
      continue;
    }
    paragraph.push(line);
  }
  endParagraph();
  return blocks;
}

/** Lines joined by line breaks. */
function inlineLines(lines) {
  const nodes = [];
  lines.forEach((line, index) => {
    if (index > 0) nodes.push({ type: "break" });
    nodes.push(...parseInline(line));
  });
  return nodes;
}

/** Delimited spans: the marker, and the node the text between two of them makes. */
const SPANS = [
  ["**", "bold"],
  ["~~", "strike"],
  ["*", "italic"],
  ["_", "italic"],
];

/** The inline nodes of one line. */
export function parseInline(text) {
  const nodes = [];
  let plain = "";
  const flush = () => {
    if (plain) nodes.push({ type: "text", text: plain });
    plain = "";
  };
  let at = 0;
  while (at < text.length) {
    const rest = text.slice(at);
    const previous = at > 0 ? text[at - 1] : " ";
    // `code`: nothing inside it is read.
    if (rest[0] === "`") {
      const end = rest.indexOf("`", 1);
      if (end > 1) {
        flush();
        nodes.push({ type: "code", text: rest.slice(1, end) });
        at += end + 1;
        continue;
      }
    }
    // [text](url)
    if (rest[0] === "[") {
      const link = rest.match(/^\[([^\]\n]+)\]\(([^)\s]+)\)/);
      if (link && URL_SCHEMES.test(link[2])) {
        flush();
        nodes.push({ type: "link", href: link[2], children: parseInline(link[1]) });
        at += link[0].length;
        continue;
      }
    }
    if (/[\s(]/.test(previous)) {
      const url = rest.match(BARE_URL);
      if (url) {
        flush();
        nodes.push({ type: "link", href: url[0], children: [{ type: "text", text: url[0] }] });
        at += url[0].length;
        continue;
      }
    }
    if (rest[0] === "@" && !/[A-Za-z0-9_.@-]/.test(previous)) {
      const mention = rest.match(MENTION);
      if (mention) {
        flush();
        const name = mention[1].replace(/[.-]+$/, "");
        nodes.push({ type: "mention", name });
        at += 1 + name.length;
        continue;
      }
    }
    const span = SPANS.find(([marker]) => rest.startsWith(marker));
    // A span opens at a word's start and closes at a word's end, around some text.
    if (span && !/[A-Za-z0-9]/.test(previous)) {
      const [marker, type] = span;
      const inner = rest.slice(marker.length);
      const close = closing(inner, marker);
      if (close > 0 && !/\s/.test(inner[0])) {
        flush();
        nodes.push({ type, children: parseInline(inner.slice(0, close)) });
        at += marker.length + close + marker.length;
        continue;
      }
    }
    plain += rest[0];
    at += 1;
  }
  flush();
  return nodes;
}

/** Where `marker` closes a span in `text`: not after a space, not inside a word. */
function closing(text, marker) {
  let from = 0;
  while (from < text.length) {
    const at = text.indexOf(marker, from);
    if (at <= 0) return -1;
    const before = text[at - 1];
    const after = text[at + marker.length] || " ";
    if (!/\s/.test(before) && !/[A-Za-z0-9]/.test(after)) return at;
    from = at + 1;
  }
  return -1;
}

// ---------------------------------------------------------------- files

/** What a message says, for a line that quotes or announces it: its text, or for a message
 *  of files alone (its text may then be empty) their names. */
export function gist(message) {
  if (message.text) return message.text;
  const names = (message.attachments || []).map((attachment) => attachment.name);
  return names.length ? `📎 ${names.join(", ")}` : "";
}

const SIZE_UNITS = ["KB", "MB", "GB", "TB"];

/** A file's size as people read it: "812 bytes", "2.4 MB", "25 MB". Units of 1,024, as the
 *  server's limits are (`--max-upload-bytes` is 25 MiB, which reads "25 MB" here), with
 *  one decimal below 10 and none above. */
export function humanSize(bytes) {
  if (!Number.isFinite(bytes) || bytes < 0) return "";
  if (bytes < 1024) return bytes === 1 ? "1 byte" : `${Math.round(bytes)} bytes`;
  let value = bytes / 1024;
  for (let unit = 0; ; unit += 1) {
    const shown = value < 10 ? Math.round(value * 10) / 10 : Math.round(value);
    // 1,023.7 KB rounds to 1,024: that is 1 MB.
    if (shown < 1024 || unit === SIZE_UNITS.length - 1) return `${shown} ${SIZE_UNITS[unit]}`;
    value /= 1024;
  }
}

/** The size a picture of `width` × `height` is drawn at to fit a `box` × `box` square,
 *  never enlarged: `{width, height}` in whole pixels (at least 1), or null when its size is
 *  not known. The page gives an `<img>` these before it loads, so the list does not jump. */
export function fitWithin(width, height, box) {
  if (!(width > 0 && height > 0)) return null;
  const scale = Math.min(1, box / width, box / height);
  return {
    width: Math.max(1, Math.round(width * scale)),
    height: Math.max(1, Math.round(height * scale)),
  };
}
