-- Issue 19: every change to a message takes the next position of its room's log, in the
-- same sequence as message ids (sqlite_sequence's row for messages hands them out).
ALTER TABLE messages ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
UPDATE messages SET seq = id;
ALTER TABLE messages ADD COLUMN edited_at INTEGER;
-- The last edit's client_id: the same edit again changes nothing.
ALTER TABLE messages ADD COLUMN edit_client_id TEXT;
-- A tombstone: its text is emptied when this is set.
ALTER TABLE messages ADD COLUMN deleted_at INTEGER;
ALTER TABLE messages ADD COLUMN reply_to INTEGER REFERENCES messages (id) ON DELETE SET NULL;
-- The thread of a root: its (not deleted) replies, and when the last came.
ALTER TABLE messages ADD COLUMN replies INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN last_reply_at INTEGER;
-- How many reactions it has, so a page without any reads none.
ALTER TABLE messages ADD COLUMN reaction_rows INTEGER NOT NULL DEFAULT 0;
CREATE INDEX messages_by_room_seq ON messages (room_id, seq);
CREATE INDEX messages_by_reply ON messages (reply_to) WHERE reply_to IS NOT NULL;

CREATE TABLE message_reactions (
    message_id  INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    emoji       TEXT    NOT NULL,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    -- The log position at which it was added: emoji are shown by first use.
    position    INTEGER NOT NULL,
    PRIMARY KEY (message_id, emoji, user_id)
) WITHOUT ROWID;

-- The position counter exists from now on, even in a database with no message yet.
INSERT INTO sqlite_sequence (name, seq)
SELECT 'messages', COALESCE((SELECT MAX(id) FROM messages), 0)
WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'messages');
