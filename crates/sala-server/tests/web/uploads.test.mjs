// The queue of files attached to the next message (web/uploads.js), without a page: what
// each event of an upload does to it, and what a message takes from it.
//   node --test crates/sala-server/tests/web/

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  addUpload, createUploads, readyIn, removeUpload, restoreUploads, takeSent, uploadDone,
  uploadFailed, uploadName, uploadProgress, uploadsIn, visibleName,
} from "../../../../web/uploads.js";

const attachment = (id, name = `${id}.png`, size = 2048) =>
  ({ id, name, size, content_type: "image/png", url: `/api/files/${id}`, thumbnail_url: `/api/files/${id}/thumbnail` });

test("an upload goes from uploading to done, its progress bounded by its size", () => {
  const uploads = createUploads();
  const upload = addUpload(uploads, "general", "cat.png", 1000);
  assert.equal(upload.state, "uploading");
  assert.equal(uploadProgress(uploads, upload.key, 400).sent, 400);
  // Progress never goes back, nor past the size.
  assert.equal(uploadProgress(uploads, upload.key, 300).sent, 400);
  assert.equal(uploadProgress(uploads, upload.key, 5000).sent, 1000);
  const done = uploadDone(uploads, upload.key, attachment("f1", "cat.png", 950));
  assert.equal(done.state, "done");
  assert.equal(done.size, 950, "the size shown is what the server serves");
  assert.deepEqual(readyIn(uploads, "general"), { attachments: [attachment("f1", "cat.png", 950)], uploading: 0 });
});

test("the server's name replaces the one given", () => {
  const uploads = createUploads();
  const upload = addUpload(uploads, "general", "../../etc/passwd", 10);
  uploadDone(uploads, upload.key, attachment("f1", "passwd", 10));
  assert.equal(uploadsIn(uploads, "general")[0].name, "passwd");
});

test("a refused upload says why and is not sent; late events change nothing", () => {
  const uploads = createUploads();
  const upload = addUpload(uploads, "general", "big.bin", 10);
  assert.equal(uploadFailed(uploads, upload.key, "the file is over 25 MB").error, "the file is over 25 MB");
  assert.equal(uploadProgress(uploads, upload.key, 5), null);
  assert.equal(uploadDone(uploads, upload.key, attachment("f1")), null);
  assert.equal(uploadsIn(uploads, "general")[0].state, "failed");
  assert.deepEqual(readyIn(uploads, "general"), { attachments: [], uploading: 0 });
});

test("a cancelled upload is gone, and its late answer is dropped", () => {
  const uploads = createUploads();
  const upload = addUpload(uploads, "general", "a.txt", 10);
  assert.equal(removeUpload(uploads, upload.key), upload);
  assert.equal(removeUpload(uploads, upload.key), null);
  assert.equal(uploadDone(uploads, upload.key, attachment("f1")), null);
  assert.deepEqual(uploadsIn(uploads, "general"), []);
});

test("each room has its own uploads; a message takes its room's, leaving those on their way", () => {
  const uploads = createUploads();
  const a = addUpload(uploads, "general", "a.png", 10);
  const b = addUpload(uploads, "general", "b.png", 10);
  const c = addUpload(uploads, "general", "c.png", 10);
  const d = addUpload(uploads, "side", "d.png", 10);
  const e = addUpload(uploads, "general", "e.png", 10);
  uploadDone(uploads, a.key, attachment("fa"));
  uploadDone(uploads, b.key, attachment("fb"));
  uploadFailed(uploads, c.key, "refused");
  uploadDone(uploads, d.key, attachment("fd"));
  assert.deepEqual(readyIn(uploads, "general").uploading, 1);
  assert.deepEqual(takeSent(uploads, "general").map((x) => x.id), ["fa", "fb"]);
  // The failed one went with them; the one still uploading stays; the other room's too.
  assert.deepEqual(uploadsIn(uploads, "general").map((x) => x.key), [e.key]);
  assert.deepEqual(uploadsIn(uploads, "side").map((x) => x.state), ["done"]);
});

test("a refused message's files come back as chips, once each", () => {
  const uploads = createUploads();
  restoreUploads(uploads, "general", [attachment("fa"), attachment("fb")]);
  restoreUploads(uploads, "general", [attachment("fa")]);
  assert.deepEqual(readyIn(uploads, "general").attachments.map((x) => x.id), ["fa", "fb"]);
});

test("a pasted picture gets a name that says when; a named file keeps its own", () => {
  const when = new Date(2026, 0, 5, 9, 7, 3);
  assert.equal(uploadName({ name: "image.png", type: "image/png" }, { pasted: true, now: when }),
    "Pasted image 2026-01-05 09.07.03.png");
  assert.equal(uploadName({ name: "", type: "image/jpeg" }, { now: when }), "Pasted image 2026-01-05 09.07.03.jpg");
  assert.equal(uploadName({ name: "image.png", type: "image/png" }), "image.png", "picked, not pasted");
  assert.equal(uploadName({ name: "report.pdf", type: "application/pdf" }, { pasted: true }), "report.pdf");
});

test("a name that reorders or hides its text is shown with what does it made visible", () => {
  assert.equal(visibleName("evil\u202Etxt.exe"), "evil\ufffdtxt.exe");
  assert.equal(visibleName("a\u0000b\nc\u2066d"), "a\ufffdb\ufffdc\ufffdd");
  assert.equal(visibleName("日本語 report (final).pdf"), "日本語 report (final).pdf");
});
