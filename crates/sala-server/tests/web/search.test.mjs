// Where a search hit is marked (web/search.js): the server's highlights are ranges of
// Unicode code points, so an emoji or another character beyond U+FFFF counts once, as
// `Array.from` counts, not as the two UTF-16 units `String.slice` would cut between.
//   node --test crates/sala-server/tests/web/

import assert from "node:assert/strict";
import { test } from "node:test";

import { EXCERPT_CHARS, excerptParts, highlightParts } from "../../../../web/search.js";

const plain = (text) => ({ text, marked: false });
const marked = (text) => ({ text, marked: true });

test("a match in plain text is marked, the rest is left as it is", () => {
  assert.deepEqual(highlightParts("ship the deploy today", [[9, 15]]), [
    plain("ship the "), marked("deploy"), plain(" today"),
  ]);
  assert.deepEqual(highlightParts("deploy", [[0, 6]]), [marked("deploy")]);
  assert.deepEqual(highlightParts("no match here", []), [plain("no match here")]);
  assert.deepEqual(highlightParts("", [[0, 3]]), []);
});

test("several matches, at the start and the end", () => {
  assert.deepEqual(highlightParts("Rust and rust", [[0, 4], [9, 13]]), [
    marked("Rust"), plain(" and "), marked("rust"),
  ]);
});

test("ranges count code points: emoji before a match do not shift it", () => {
  // "🎉🎉 party" — each 🎉 is one code point (two UTF-16 units).
  const text = "🎉🎉 party 🎉";
  assert.deepEqual(highlightParts(text, [[3, 8]]), [plain("🎉🎉 "), marked("party"), plain(" 🎉")]);
  // A match that is an emoji is the whole emoji, never half of one.
  assert.deepEqual(highlightParts(text, [[0, 1]]), [marked("🎉"), plain("🎉 party 🎉")]);
  assert.deepEqual(highlightParts("a😀b", [[1, 2]]), [plain("a"), marked("😀"), plain("b")]);
  // A character of the supplementary planes of CJK (U+20BB7 𠮷) counts once too.
  assert.deepEqual(highlightParts("𠮷野家で食べた", [[0, 3]]), [marked("𠮷野家"), plain("で食べた")]);
});

test("text without spaces (Chinese, Japanese, Korean) is marked by characters", () => {
  assert.deepEqual(highlightParts("今天我们部署新版本", [[4, 6]]), [
    plain("今天我们"), marked("部署"), plain("新版本"),
  ]);
  assert.deepEqual(highlightParts("배포는 내일입니다", [[0, 2]]), [marked("배포"), plain("는 내일입니다")]);
});

test("ranges out of order, overlapping, touching, empty or past the end are taken sensibly", () => {
  assert.deepEqual(highlightParts("abcdefgh", [[5, 7], [1, 3]]), [
    plain("a"), marked("bc"), plain("de"), marked("fg"), plain("h"),
  ]);
  assert.deepEqual(highlightParts("abcdefgh", [[1, 4], [2, 6]]), [plain("a"), marked("bcdef"), plain("gh")]);
  assert.deepEqual(highlightParts("abcdefgh", [[1, 3], [3, 5]]), [plain("a"), marked("bcde"), plain("fgh")]);
  assert.deepEqual(highlightParts("abc", [[2, 2], [1, 99], [-5, 0]]), [plain("a"), marked("bc")]);
  assert.deepEqual(highlightParts("abc", undefined), [plain("abc")]);
});

test("nothing is lost or doubled: the parts join into the text", () => {
  const text = "👩‍👩‍👧 family 家族 and 👍🏽 too";
  const ranges = [[0, 5], [6, 12], [13, 15], [20, 22]];
  assert.equal(highlightParts(text, ranges).map((part) => part.text).join(""), text);
});

test("a long text is cut around its first match, with … where it was cut", () => {
  const before = "x".repeat(300);
  const after = "y".repeat(300);
  const text = `${before}needle${after}`;
  const parts = excerptParts(text, [[300, 306]]);
  assert.equal(parts[0].marked, false);
  assert.ok(parts[0].text.startsWith("…"));
  assert.deepEqual(parts[1], marked("needle"));
  assert.ok(parts[2].text.endsWith("…"));
  const shown = Array.from(parts.map((part) => part.text).join(""));
  assert.equal(shown.length, EXCERPT_CHARS + 2, "the excerpt and its two …");
  // A text that fits is whole.
  assert.deepEqual(excerptParts("short needle", [[6, 12]]), [plain("short "), marked("needle")]);
});

test("an excerpt near the end keeps its full length, and counts emoji as one", () => {
  const text = `${"🙂".repeat(200)}end`;
  const parts = excerptParts(text, [[200, 203]]);
  assert.deepEqual(parts[parts.length - 1], marked("end"));
  assert.equal(parts[0].text[0], "…");
  assert.equal(Array.from(parts[0].text).length, EXCERPT_CHARS - 3 + 1);
  // A match at the very start: nothing cut before it.
  const start = excerptParts(`needle${"z".repeat(400)}`, [[0, 6]]);
  assert.deepEqual(start[0], marked("needle"));
});
