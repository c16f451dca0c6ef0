// The "New message" control: a name typed, the people it may mean found (GET /api/users,
// 200 ms after the last key) and offered in a listbox under the field, and the one picked
// written to (POST /api/dms). It follows the ARIA combobox pattern: the focus stays in the
// field, ↑/↓ move through the people found (aria-activedescendant), Enter or "Open" writes
// to the one highlighted, or else to the one whose name was typed in full, and Esc closes
// the list. It owns that control's DOM and keys only: the session, and what opening a
// conversation does, are chat.js's, handed in by app.js as the new-room form's are.
//
// One person at a time: a DM of several is opened by the API, but not from here yet.

const SEARCH_DELAY_MS = 200;

const byId = (id) => document.getElementById(id);

const control = {
  details: byId("new-dm"),
  form: byId("dm-form"),
  input: byId("dm-to"),
  list: byId("dm-people"),
  found: byId("dm-found"),
  error: byId("dm-error"),
};

let people = []; // the people shown in the list: [{id, username}]
let active = -1; // the index of the one highlighted, or -1
let timer = null;
let opening = false;

const typed = () => control.input.value.trim();

/** The error under the field (`""` clears it), tied to the field for screen readers. */
function showError(message) {
  control.error.textContent = message;
  if (message) {
    control.input.setAttribute("aria-invalid", "true");
    control.input.setAttribute("aria-describedby", control.error.id);
  } else {
    control.input.removeAttribute("aria-invalid");
    control.input.removeAttribute("aria-describedby");
  }
}

function optionId(index) {
  return `dm-person-${index}`;
}

function closeList() {
  control.list.hidden = true;
  control.input.setAttribute("aria-expanded", "false");
  control.input.removeAttribute("aria-activedescendant");
  active = -1;
}

function highlight(index) {
  active = index;
  for (const [at, option] of [...control.list.children].entries()) {
    option.setAttribute("aria-selected", String(at === index));
  }
  if (index < 0) {
    control.input.removeAttribute("aria-activedescendant");
  } else {
    control.input.setAttribute("aria-activedescendant", optionId(index));
    control.list.children[index].scrollIntoView({ block: "nearest" });
  }
}

/** The people found for `query`: the list, or a word when there is nobody. */
function showPeople(query, found, pick) {
  people = found;
  active = -1;
  control.list.replaceChildren(...found.map((person, index) => {
    const option = document.createElement("li");
    option.id = optionId(index);
    option.className = "person";
    option.setAttribute("role", "option");
    option.setAttribute("aria-selected", "false");
    option.textContent = person.username;
    option.addEventListener("click", () => pick(person.username));
    return option;
  }));
  const any = found.length > 0;
  control.list.hidden = !any;
  control.input.setAttribute("aria-expanded", String(any));
  control.input.removeAttribute("aria-activedescendant");
  control.found.textContent = any
    ? `${found.length} ${found.length === 1 ? "person" : "people"} found.`
    : `Nobody's name starts with "${query}".`;
}

/** Whom Enter writes to: the one highlighted, or the one whose whole name was typed. */
function chosen() {
  if (active >= 0) return people[active].username;
  const name = typed().toLowerCase();
  return people.find((person) => person.username.toLowerCase() === name)?.username || typed();
}

/** Wires the control: `find(prefix)` answers the people found, `open(usernames)` the DM's
 *  room object, which then goes to `onOpened(room)`. */
export function wireNewMessage({ find, open, onOpened }) {
  async function search(query) {
    try {
      const found = await find(query);
      // An answer for what is no longer typed (a slower, older request) is dropped.
      if (typed() !== query) return;
      showPeople(query, found, pick);
    } catch (error) {
      if (typed() !== query) return;
      closeList();
      control.found.textContent = "";
      showError(error.message);
    }
  }

  async function pick(username) {
    if (opening || !username) return;
    clearTimeout(timer);
    opening = true;
    showError("");
    try {
      const room = await open([username]);
      control.input.value = "";
      control.found.textContent = "";
      closeList();
      control.details.open = false;
      onOpened(room);
    } catch (error) {
      // 404 nobody of that name, 403 they block you, 422 yourself: the server's own words.
      showError(error.message);
    } finally {
      opening = false;
    }
  }

  control.input.addEventListener("input", () => {
    clearTimeout(timer);
    showError("");
    const query = typed();
    if (!query) {
      closeList();
      control.found.textContent = "";
      return;
    }
    timer = setTimeout(() => search(query), SEARCH_DELAY_MS);
  });

  control.input.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (people.length === 0) return;
      event.preventDefault();
      if (control.list.hidden) {
        control.list.hidden = false;
        control.input.setAttribute("aria-expanded", "true");
      }
      const step = event.key === "ArrowDown" ? 1 : -1;
      highlight((active + step + people.length) % people.length);
    } else if (event.key === "Escape" && !control.list.hidden) {
      // Closes the list only: not the room drawer around it (app.js closes that on Esc).
      event.stopPropagation();
      closeList();
    }
  });

  // A press on an option would move the focus out of the field, and close the list before
  // its click: the focus stays in the field.
  control.list.addEventListener("mousedown", (event) => event.preventDefault());
  control.form.addEventListener("focusout", (event) => {
    if (!control.form.contains(event.relatedTarget)) closeList();
  });

  control.form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!typed()) {
      showError("Type the name of the person to write to.");
      control.input.focus();
      return;
    }
    pick(chosen());
  });

  control.details.addEventListener("toggle", () => {
    if (control.details.open) control.input.focus();
  });
}
