// Completion in the message box (issue 19): `:shortcode` offers the emoji of that name
// (and a known `:shortcode:` typed in full becomes its emoji at once), `@` offers the
// room's members. The list follows the ARIA combobox pattern, as the New message control
// does: the focus stays in the box, ↑/↓ move through the list (aria-activedescendant),
// Enter or Tab takes the one highlighted, Esc closes it, and a click takes one too. A name
// typed in full is left as it is: Enter then sends, as it would without the list.
//
// The functions at the top are pure (node tests read them); `attachCompletion` owns the
// list's DOM and keys only. What is typed is text like any other: an emoji picked is a
// character in the box, a member picked is `@name ` — the server reads mentions itself.

/** The shortcodes people know from Slack, GitHub and Discord, for the emoji most used. */
export const SHORTCODES = new Map([
  ["+1", "👍"], ["thumbsup", "👍"], ["-1", "👎"], ["thumbsdown", "👎"], ["ok_hand", "👌"],
  ["clap", "👏"], ["wave", "👋"], ["pray", "🙏"], ["muscle", "💪"], ["raised_hands", "🙌"],
  ["point_up", "☝️"], ["v", "✌️"], ["handshake", "🤝"], ["eyes", "👀"], ["brain", "🧠"],
  ["smile", "😄"], ["smiley", "😃"], ["grin", "😁"], ["laughing", "😆"], ["joy", "😂"],
  ["rofl", "🤣"], ["slightly_smiling_face", "🙂"], ["upside_down_face", "🙃"], ["wink", "😉"],
  ["blush", "😊"], ["innocent", "😇"], ["heart_eyes", "😍"], ["kissing_heart", "😘"],
  ["yum", "😋"], ["stuck_out_tongue", "😛"], ["thinking", "🤔"], ["shushing_face", "🤫"],
  ["neutral_face", "😐"], ["expressionless", "😑"], ["no_mouth", "😶"], ["smirk", "😏"],
  ["unamused", "😒"], ["roll_eyes", "🙄"], ["grimacing", "😬"], ["relieved", "😌"],
  ["pensive", "😔"], ["sleepy", "😪"], ["sleeping", "😴"], ["mask", "😷"], ["nerd_face", "🤓"],
  ["sunglasses", "😎"], ["confused", "😕"], ["worried", "😟"], ["open_mouth", "😮"],
  ["astonished", "😲"], ["flushed", "😳"], ["pleading_face", "🥺"], ["cry", "😢"], ["sob", "😭"],
  ["scream", "😱"], ["sweat_smile", "😅"], ["sweat", "😓"], ["weary", "😩"], ["angry", "😠"],
  ["rage", "😡"], ["exploding_head", "🤯"], ["partying_face", "🥳"], ["skull", "💀"],
  ["poop", "💩"], ["clown_face", "🤡"], ["ghost", "👻"], ["robot", "🤖"], ["see_no_evil", "🙈"],
  ["heart", "❤️"], ["orange_heart", "🧡"], ["yellow_heart", "💛"], ["green_heart", "💚"],
  ["blue_heart", "💙"], ["purple_heart", "💜"], ["broken_heart", "💔"], ["sparkling_heart", "💖"],
  ["100", "💯"], ["fire", "🔥"], ["sparkles", "✨"], ["star", "⭐"], ["zap", "⚡"], ["boom", "💥"],
  ["tada", "🎉"], ["confetti_ball", "🎊"], ["balloon", "🎈"], ["gift", "🎁"], ["trophy", "🏆"],
  ["rocket", "🚀"], ["bulb", "💡"], ["warning", "⚠️"], ["x", "❌"], ["white_check_mark", "✅"],
  ["heavy_check_mark", "✔️"], ["question", "❓"], ["exclamation", "❗"], ["bug", "🐛"],
  ["lock", "🔒"], ["key", "🔑"], ["hammer", "🔨"], ["wrench", "🔧"], ["gear", "⚙️"],
  ["memo", "📝"], ["pushpin", "📌"], ["link", "🔗"], ["calendar", "📅"], ["hourglass", "⌛"],
  ["coffee", "☕"], ["beer", "🍺"], ["pizza", "🍕"], ["cake", "🍰"], ["sun", "☀️"],
  ["rainbow", "🌈"], ["snowflake", "❄️"], ["cat", "🐱"], ["dog", "🐶"], ["unicorn", "🦄"],
]);

/** Most suggestions shown at once. */
export const MOST_SUGGESTIONS = 8;

// What may precede a `:` or `@` that starts a completion: the start, a space, or an
// opening bracket — not a letter (a URL's `https:`, an address's `a@b` complete nothing).
const STARTS_WORD = /(^|[\s([{"'])$/;
const SHORTCODE_CHARS = /^[a-z0-9_+-]*$/;
const NAME_CHARS = /^[A-Za-z0-9_.-]*$/;

/**
 * The word being completed where the caret is: `{kind: "emoji" | "member", query, start}`
 * (`start` is the index of its `:` or `@`), or null. A shortcode needs two characters
 * before anything is offered, a name none.
 */
export function wordAt(text, caret) {
  const before = text.slice(0, caret);
  const at = Math.max(before.lastIndexOf(":"), before.lastIndexOf("@"));
  if (at < 0 || !STARTS_WORD.test(before.slice(0, at))) return null;
  const query = before.slice(at + 1);
  if (before[at] === "@") {
    return NAME_CHARS.test(query) && query.length <= 32 ? { kind: "member", query, start: at } : null;
  }
  const lowered = query.toLowerCase();
  return lowered.length >= 2 && SHORTCODE_CHARS.test(lowered)
    ? { kind: "emoji", query: lowered, start: at }
    : null;
}

/**
 * What to offer for `word` (from `wordAt`): `[{label, insert}]`, the one the query names
 * first, then those that start with it, then those that contain it, at most
 * `MOST_SUGGESTIONS`. `names` are the room's members; `me` is left out (mentioning oneself
 * notifies nobody).
 */
export function suggestions(word, { names = [], me = "" } = {}) {
  if (!word) return [];
  const query = word.query.toLowerCase();
  const ranked = (keys) => {
    const exact = keys.filter((key) => key.toLowerCase() === query);
    const starts = keys.filter((key) => key.toLowerCase() !== query && key.toLowerCase().startsWith(query));
    const contains = keys.filter((key) => !key.toLowerCase().startsWith(query) && key.toLowerCase().includes(query));
    return [...exact, ...starts, ...contains].slice(0, MOST_SUGGESTIONS);
  };
  if (word.kind === "member") {
    const others = [...new Set(names)].filter((name) => name.toLowerCase() !== me.toLowerCase()).sort();
    return ranked(others).map((name) => ({ label: `@${name}`, insert: `@${name} ` }));
  }
  // One suggestion per emoji: its first (best known) name.
  const seen = new Set();
  return ranked([...SHORTCODES.keys()])
    .filter((code) => !seen.has(SHORTCODES.get(code)) && seen.add(SHORTCODES.get(code)))
    .map((code) => ({ label: `${SHORTCODES.get(code)} :${code}:`, insert: SHORTCODES.get(code) }));
}

/** Whether `word` (a member's) is already all of `choice`: `@alice` typed, `@alice` offered. */
export function typedInFull(word, choice) {
  return word?.kind === "member" && Boolean(choice)
    && choice.insert.trim().toLowerCase() === `@${word.query}`.toLowerCase();
}

/** `text` with the word from `start` to `caret` replaced by `insert`, and the caret after it. */
export function replaceWord(text, start, caret, insert) {
  return { text: text.slice(0, start) + insert + text.slice(caret), caret: start + insert.length };
}

/**
 * A known `:shortcode:` just closed before the caret, as its emoji (`{text, caret}`), or
 * null: typing `:tada:` in full gives 🎉 without the list.
 */
export function closedShortcode(text, caret) {
  if (text[caret - 1] !== ":") return null;
  const word = wordAt(text, caret - 1);
  const emoji = word?.kind === "emoji" ? SHORTCODES.get(word.query) : undefined;
  return emoji ? replaceWord(text, word.start, caret, emoji) : null;
}

// ---------------------------------------------------------------- the list under the box

/**
 * Completion for the textarea `input`, drawn in the listbox `list`. `people()` gives
 * `{names, me}`: the members of the room on screen, and the user's name. Its keydown listener must run
 * before the box's own (Enter sends): it is added here, in the capture phase, and stops
 * the keys it uses while the list is open.
 */
export function attachCompletion(input, list, people) {
  let offered = [];
  let active = 0;
  let word = null;

  const close = () => {
    offered = [];
    word = null;
    list.hidden = true;
    list.replaceChildren();
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  };
  const highlight = (index) => {
    active = index;
    for (const [at, option] of [...list.children].entries()) option.setAttribute("aria-selected", String(at === index));
    input.setAttribute("aria-activedescendant", `completion-${index}`);
  };
  const take = (index) => {
    const choice = offered[index];
    if (!choice || !word) return;
    const done = replaceWord(input.value, word.start, input.selectionStart, choice.insert);
    input.value = done.text;
    input.setSelectionRange(done.caret, done.caret);
    close();
    input.dispatchEvent(new Event("input", { bubbles: true }));
    input.focus();
  };
  const refresh = () => {
    if (input.selectionStart !== input.selectionEnd) return close();
    const closed = closedShortcode(input.value, input.selectionStart);
    if (closed) {
      input.value = closed.text;
      input.setSelectionRange(closed.caret, closed.caret);
      return close();
    }
    word = wordAt(input.value, input.selectionStart);
    // The members are looked up only for an `@` word, not on every key.
    offered = suggestions(word, word?.kind === "member" ? people() : {});
    if (!offered.length) return close();
    list.replaceChildren(...offered.map((choice, index) => {
      const option = document.createElement("li");
      option.id = `completion-${index}`;
      option.setAttribute("role", "option");
      option.textContent = choice.label;
      // mousedown, not click: the box keeps its focus and caret.
      option.addEventListener("mousedown", (event) => {
        event.preventDefault();
        take(index);
      });
      return option;
    }));
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
    highlight(0);
  };

  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-controls", list.id);
  input.setAttribute("aria-expanded", "false");
  input.addEventListener("input", refresh);
  input.addEventListener("blur", close);
  input.addEventListener("keydown", (event) => {
    if (list.hidden || event.isComposing) return;
    const keys = {
      ArrowDown: () => highlight((active + 1) % offered.length),
      ArrowUp: () => highlight((active - 1 + offered.length) % offered.length),
      Enter: () => take(active),
      Tab: () => take(active),
      Escape: close,
    };
    const act = keys[event.key];
    if (!act || event.shiftKey) return;
    // A name typed in full has nothing left to complete: Enter sends the message as typed.
    if (event.key === "Enter" && typedInFull(word, offered[active])) {
      close();
      return;
    }
    event.preventDefault();
    event.stopImmediatePropagation();
    act();
  }, { capture: true });
  return { close };
}
