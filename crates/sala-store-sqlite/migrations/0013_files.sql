-- Issue 21: files. A file's bytes live in the file storage (the data dir or S3) under
-- `blob`, the hash of their content; this table says who uploaded what to which room, and
-- which message carries it. A message keeps a copy of its attachments' descriptions in
-- `messages.attachments` (JSON), so history reads no second table.
CREATE TABLE files (
    id             TEXT PRIMARY KEY,
    room_id        INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    uploader_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    size           INTEGER NOT NULL,
    content_type   TEXT NOT NULL,
    width          INTEGER,
    height         INTEGER,
    blob           TEXT NOT NULL,
    thumbnail_blob TEXT,
    created_at     INTEGER NOT NULL,
    message_id     INTEGER REFERENCES messages(id) ON DELETE SET NULL,
    -- Set when its message is deleted or it expires unsent; the row stays a day for the
    -- uploader's quota.
    deleted_at     INTEGER
);
CREATE INDEX files_by_uploader ON files (uploader_id, created_at);
CREATE INDEX files_by_message ON files (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX files_by_blob ON files (blob) WHERE deleted_at IS NULL;
CREATE INDEX files_by_thumbnail ON files (thumbnail_blob)
    WHERE thumbnail_blob IS NOT NULL AND deleted_at IS NULL;
CREATE INDEX files_unsent ON files (created_at) WHERE message_id IS NULL AND deleted_at IS NULL;

-- Blob names no live file may need any more, waiting for the node to delete the bytes.
CREATE TABLE blob_garbage (
    blob     TEXT PRIMARY KEY,
    since    INTEGER NOT NULL
);

ALTER TABLE messages ADD COLUMN attachments TEXT;
