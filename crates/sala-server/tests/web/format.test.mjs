// The message formatter (web/format.js): what each piece of Markdown people type becomes,
// and that nothing else does (node's test runner, no page):
//   node --test crates/sala-server/tests/web/

import assert from "node:assert/strict";
import { test } from "node:test";

import { fitWithin, gist, humanSize, parseInline, parseMessage } from "../../../../web/format.js";

const text = (t) => ({ type: "text", text: t });

test("bold, italics, strikethrough and code", () => {
  assert.deepEqual(parseInline("a **b** c"), [text("a "), { type: "bold", children: [text("b")] }, text(" c")]);
  assert.deepEqual(parseInline("_it_ and *it*"), [
    { type: "italic", children: [text("it")] }, text(" and "), { type: "italic", children: [text("it")] },
  ]);
  assert.deepEqual(parseInline("~~no~~"), [{ type: "strike", children: [text("no")] }]);
  assert.deepEqual(parseInline("`**not bold**`"), [{ type: "code", text: "**not bold**" }]);
  assert.deepEqual(parseInline("**bold _and it_**"), [
    { type: "bold", children: [text("bold "), { type: "italic", children: [text("and it")] }] },
  ]);
});

test("what does not close, or sits inside a word, stays text", () => {
  for (const plain of ["2 * 3 * 4", "snake_case_name", "**open", "a ` tick", "mail@example.org", "x ~~ y"]) {
    const nodes = parseInline(plain);
    assert.deepEqual(nodes.map((n) => n.text ?? n.type).join(""), plain, plain);
  }
});

test("links: http(s) and mailto only, bare URLs too, punctuation left outside", () => {
  assert.deepEqual(parseInline("see https://example.org/a?b=1."), [
    text("see "),
    { type: "link", href: "https://example.org/a?b=1", children: [text("https://example.org/a?b=1")] },
    text("."),
  ]);
  assert.deepEqual(parseInline("[docs](https://sala.example/docs)"), [
    { type: "link", href: "https://sala.example/docs", children: [text("docs")] },
  ]);
  for (const hostile of ["[x](javascript:alert(1))", "[x](data:text/html,hi)", "javascript:alert(1)"]) {
    assert.ok(parseInline(hostile).every((n) => n.type === "text"), hostile);
  }
});

test("mentions", () => {
  assert.deepEqual(parseInline("hi @ann."), [text("hi "), { type: "mention", name: "ann" }, text(".")]);
  assert.deepEqual(parseInline("a@b.co"), [text("a@b.co")]);
});

test("blocks: paragraphs with line breaks, code, quotes and lists", () => {
  assert.deepEqual(parseMessage("one\ntwo"), [
    { type: "paragraph", inline: [text("one"), { type: "break" }, text("two")] },
  ]);
  assert.deepEqual(parseMessage("```\nlet x = **1**;\n```"), [{ type: "code", text: "let x = **1**;" }]);
  assert.deepEqual(parseMessage("> said\n> this\nreply"), [
    { type: "quote", inline: [text("said"), { type: "break" }, text("this")] },
    { type: "paragraph", inline: [text("reply")] },
  ]);
  assert.deepEqual(parseMessage("- a\n- b\n1. c"), [
    { type: "list", ordered: false, items: [[text("a")], [text("b")]] },
    { type: "list", ordered: true, items: [[text("c")]] },
  ]);
  assert.deepEqual(parseMessage("```\nnot closed"), [
    { type: "paragraph", inline: [text("```"), { type: "break" }, text("not closed")] },
  ]);
});

test("markup is characters, never elements", () => {
  const nodes = parseMessage('<img src=x onerror="alert(1)"> <script>x</script>');
  assert.equal(nodes.length, 1);
  assert.ok(nodes[0].inline.every((n) => n.type === "text"));
});

test("a file's size reads as people read it, in units of 1,024", () => {
  assert.equal(humanSize(0), "0 bytes");
  assert.equal(humanSize(1), "1 byte");
  assert.equal(humanSize(1023), "1023 bytes");
  assert.equal(humanSize(1024), "1 KB");
  assert.equal(humanSize(1536), "1.5 KB");
  assert.equal(humanSize(10 * 1024), "10 KB");
  assert.equal(humanSize(812 * 1024), "812 KB");
  assert.equal(humanSize(Math.round(2.4 * 1024 * 1024)), "2.4 MB");
  assert.equal(humanSize(25 * 1024 * 1024), "25 MB", "the server's default cap");
  assert.equal(humanSize(3 * 1024 ** 3), "3 GB");
  // What rounds up to 1,024 of a unit is one of the next.
  assert.equal(humanSize(1024 * 1024 - 1), "1 MB");
  assert.equal(humanSize(1024 * 1023.6), "1 MB");
  assert.equal(humanSize(-1), "");
  assert.equal(humanSize(undefined), "");
});

test("a picture is drawn to fit its box, never enlarged, in whole pixels", () => {
  assert.deepEqual(fitWithin(640, 400, 320), { width: 320, height: 200 });
  assert.deepEqual(fitWithin(400, 1600, 320), { width: 80, height: 320 });
  assert.deepEqual(fitWithin(100, 50, 320), { width: 100, height: 50 });
  assert.deepEqual(fitWithin(12000, 10, 320), { width: 320, height: 1 });
  assert.deepEqual(fitWithin(333, 333, 96), { width: 96, height: 96 });
  assert.equal(fitWithin(undefined, 200, 320), null);
  assert.equal(fitWithin(0, 0, 320), null);
});

test("a message's gist is its text, or for files alone their names", () => {
  assert.equal(gist({ text: "hello", attachments: [{ name: "a.png" }] }), "hello");
  assert.equal(gist({ text: "", attachments: [{ name: "a.png" }, { name: "b.pdf" }] }), "📎 a.png, b.pdf");
  assert.equal(gist({ text: "" }), "");
});
