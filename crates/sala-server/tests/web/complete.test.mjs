// Completion in the message box (web/complete.js): which word at the caret is completed,
// what is offered for it, and what taking a suggestion or closing a shortcode writes
// (node's test runner, no page):
//   node --test crates/sala-server/tests/web/

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  MOST_SUGGESTIONS, SHORTCODES, closedShortcode, replaceWord, suggestions, typedInFull, wordAt,
} from "../../../../web/complete.js";

test("the word at the caret: a shortcode after two letters, a name after @", () => {
  assert.deepEqual(wordAt(":ta", 3), { kind: "emoji", query: "ta", start: 0 });
  assert.deepEqual(wordAt("so :TaD", 7), { kind: "emoji", query: "tad", start: 3 });
  assert.equal(wordAt("so :t", 5), null, "one letter offers nothing yet");
  assert.deepEqual(wordAt("hi @", 4), { kind: "member", query: "", start: 3 });
  assert.deepEqual(wordAt("hi @al", 6), { kind: "member", query: "al", start: 3 });
  assert.deepEqual(wordAt("(@al", 4), { kind: "member", query: "al", start: 1 });
  // Only where the caret is: a word finished earlier is not reopened.
  assert.equal(wordAt("@al and more", 12), null);
  assert.equal(wordAt(":tada: ok", 9), null);
});

test("colons and at signs inside words complete nothing", () => {
  for (const [text, caret] of [
    ["https://example.org", 8], ["at 10:30", 8], ["mail me@exam", 12], ["a:bc", 4], ["x@y", 3],
    ["hi @al ice", 10], [":no spaces", 10], ["@name!", 6],
  ]) {
    assert.equal(wordAt(text, caret), null, `${text} at ${caret}`);
  }
});

test("members are offered by prefix, then by what they contain, never oneself", () => {
  const names = ["alice", "Alfred", "bob", "malia", "me", "alice"];
  const offered = suggestions(wordAt("@al", 3), { names, me: "ME" });
  assert.deepEqual(offered.map((s) => s.label), ["@Alfred", "@alice", "@malia"]);
  assert.equal(offered[0].insert, "@Alfred ");
  assert.deepEqual(suggestions(wordAt("@m", 2), { names, me: "me" }).map((s) => s.label), ["@malia"]);
  assert.deepEqual(suggestions(wordAt("@zed", 4), { names, me: "me" }), []);
  const many = Array.from({ length: 30 }, (_, n) => `user${n}`);
  assert.equal(suggestions(wordAt("@", 1), { names: many, me: "x" }).length, MOST_SUGGESTIONS);
});

test("emoji are offered once each, by the name people know", () => {
  const offered = suggestions(wordAt(":thumbs", 7));
  assert.deepEqual(offered.map((s) => s.insert), ["👍", "👎"]);
  assert.equal(offered[0].label, "👍 :thumbsup:");
  // "heart" starts several names and sits inside others: those starting with it first.
  const hearts = suggestions(wordAt(":heart", 6)).map((s) => s.label);
  assert.equal(hearts[0], "❤️ :heart:");
  assert.equal(hearts[1], "😍 :heart_eyes:");
  assert.equal(hearts.length, MOST_SUGGESTIONS);
  for (const label of hearts.slice(2)) assert.match(label, / :[a-z_]+_heart:$/, label);
  assert.deepEqual(suggestions(wordAt(":zzzzqq", 7)), []);
  assert.deepEqual(suggestions(null), []);
  for (const [code, emoji] of SHORTCODES) {
    assert.match(code, /^[a-z0-9_+-]+$/, code);
    assert.ok(emoji.length > 0 && !/[a-z]/i.test(emoji), code);
  }
});

test("taking a suggestion replaces the word and puts the caret after it", () => {
  assert.deepEqual(replaceWord("hi @al there", 3, 6, "@alice "), { text: "hi @alice  there", caret: 10 });
  assert.deepEqual(replaceWord(":tad", 0, 4, "🎉"), { text: "🎉", caret: 2 });
});

test("a known shortcode typed in full becomes its emoji, an unknown one stays", () => {
  assert.deepEqual(closedShortcode("yay :tada:", 10), { text: "yay 🎉", caret: 6 });
  assert.deepEqual(closedShortcode(":+1:", 4), { text: "👍", caret: 2 });
  assert.equal(closedShortcode("yay :nope:", 10), null);
  assert.equal(closedShortcode("at 10:30:", 9), null);
  assert.equal(closedShortcode("yay :tada", 9), null, "not closed yet");
});

test("a name typed in full has nothing left to complete (Enter then sends)", () => {
  const names = ["alice", "alicia"];
  const full = wordAt("hi @Alice", 9);
  assert.equal(typedInFull(full, suggestions(full, { names })[0]), true);
  const part = wordAt("hi @ali", 7);
  assert.equal(typedInFull(part, suggestions(part, { names })[0]), false);
  const emoji = wordAt(":tada", 5);
  assert.equal(typedInFull(emoji, suggestions(emoji)[0]), false);
  assert.equal(typedInFull(null, undefined), false);
});
