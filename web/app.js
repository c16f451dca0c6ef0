// The Sala web chat: plain ES modules, no build step, served from web/ as they are. This
// one only wires the page's events to the modules that act on them, and starts.
//
//   api.js         the HTTP API, and the session's place in sessionStorage
//   connection.js  the WebSocket: reconnecting, and resuming (rejoin with `since`, resend)
//   state.js       what the page knows, and each server frame applied to it (no DOM)
//   render.js      the chat view's DOM: drawing the state, scrolling, drawers
//   format.js      the Markdown people type, read into a tree render.js draws (no HTML)
//   forms.js       signing in, registering and out; the new-room form; the moderation menu
//                  of a member, a room's tools (invite, topic, lifting bans and mutes, who
//                  may invite, deleting it), and blocking the people of a DM
//   people.js      the "New message" control: finding people, opening a DM with one
//   complete.js    completion in the message box: `:shortcode` emoji and `@` members
//   uploads.js     files attached to the next message: picked, dropped or pasted, their
//                  uploads (progress, cancel) and chips until the message goes
//   attachments.js the files of a message drawn: pictures inline, the lightbox, file chips
//   search.js      the message search box and its hits, each opening its message
//   chat.js        the signed-in chat: frames applied and drawn, the user's actions
//
// chat.js is a module of its own, beside the state, the drawing and the forms, because what
// the user does touches all three and the connection at once. (The moderation forms live in
// forms.js rather than in a module of their own: the server embeds web/ file by file at build
// time, and a new file there is not noticed until its crate is rebuilt for another reason.)

import { loadSession } from "./api.js";
import { wireLightbox } from "./attachments.js";
import * as chat from "./chat.js";
import { attachCompletion } from "./complete.js";
import { showSignIn, wireModeration, wireRoomForm, wireSignIn } from "./forms.js";
import { wireNewMessage } from "./people.js";
import { autoGrow, closeDrawers, followScroll, openDrawer, view } from "./render.js";
import { wireMessageSearch } from "./search.js";
import { wireUploads } from "./uploads.js";

function wire() {
  wireSignIn(chat.enter);
  view.logout.addEventListener("click", chat.logout);
  view.statusForm.addEventListener("submit", (event) => {
    event.preventDefault();
    chat.toggleStatus();
  });
  view.roomSearch.addEventListener("input", chat.searchRooms);
  view.roomSearch.addEventListener("focus", chat.searchRooms);
  view.searchForm.addEventListener("submit", (event) => event.preventDefault());
  wireMessageSearch({
    find: chat.searchMessages, label: chat.roomCalled, canOpen: chat.isMyRoom, open: chat.jumpTo,
  });
  wireUploads(chat.uploadTarget);
  wireLightbox();
  wireRoomForm({ create: chat.createRoom, onCreated: chat.joinRoom });
  wireNewMessage({ find: chat.findPeople, open: chat.openDm, onOpened: chat.joinRoom });
  wireModeration({
    allowed: chat.moderationAllowed,
    act: chat.moderate,
    invite: chat.inviteToActiveRoom,
    setTopic: chat.setActiveTopic,
    lift: chat.liftInActiveRoom,
    setMembersInvite: chat.setActiveMembersInvite,
    archive: chat.archiveActiveRoom,
    block: chat.setBlock,
  });
  // The invitations' and notices' buttons are drawn anew with their lists: one listener each.
  view.invites.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-room]");
    if (!button) return;
    if (button.classList.contains("accept")) chat.acceptInvite(button.dataset.room);
    else chat.declineInvite(button.dataset.room);
  });
  view.notices.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-notice]");
    if (button) chat.dismiss(Number(button.dataset.notice));
  });
  view.leaveRoom.addEventListener("click", chat.leaveActiveRoom);
  view.quietRoom.addEventListener("click", chat.toggleQuiet);
  view.openSidebar.addEventListener("click", () => openDrawer(view.sidebar));
  view.openMembers.addEventListener("click", () => openDrawer(view.membersPanel));
  for (const close of document.querySelectorAll(".drawer-close")) close.addEventListener("click", closeDrawers);
  view.scrim.addEventListener("click", closeDrawers);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") closeDrawers();
  });
  view.composer.addEventListener("submit", (event) => {
    event.preventDefault();
    chat.sendMessage();
  });
  const input = view.messageInput;
  // Added before the box's own keys: while its list is open, Enter takes a suggestion.
  attachCompletion(input, view.completions, chat.mentionable);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      chat.sendMessage();
    } else if (event.key === "ArrowUp" && !input.value && chat.editLast()) {
      event.preventDefault();
    } else if (event.key === "Escape" && !view.composing.hidden) {
      // Cancels the reply or edit only: not a drawer around it.
      event.stopPropagation();
      chat.stopComposing();
    }
  });
  view.threadClose.addEventListener("click", chat.closeThread);
  view.threadForm.addEventListener("submit", (event) => {
    event.preventDefault();
    if (chat.replyInThread(view.threadInput.value)) view.threadInput.value = "";
  });
  view.composingCancel.addEventListener("click", () => {
    chat.stopComposing();
    input.focus();
  });
  // A message's buttons, and the reaction picker when it is open under one, are drawn
  // anew with the list: one listener for all of them.
  view.messages.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    const item = button?.closest("li.message");
    if (!button || !item) return;
    const id = Number(item.dataset.id);
    if (button.closest("#emoji-picker")) chat.messageAction(id, "react", { emoji: button.dataset.emoji });
    else if (button.dataset.action) {
      chat.messageAction(id, button.dataset.action, { emoji: button.dataset.emoji, button });
    }
  });
  input.addEventListener("input", () => {
    autoGrow(input);
    if (input.value) chat.noteTyping();
  });
  view.jumpNewest.addEventListener("click", chat.showNewest);
  followScroll(chat.loadOlder, chat.loadNewer);
  document.addEventListener("visibilitychange", () => chat.visibilityChanged(document.visibilityState === "visible"));
  chat.visibilityChanged(document.visibilityState === "visible");
}

wire();
const session = loadSession();
if (session) chat.enter(session);
else showSignIn();
