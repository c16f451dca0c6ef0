-- Issue 19: every change to a message takes the next position of its room's log, drawn
-- from the sequence of message ids, under the room's advisory lock (as sends are).
ALTER TABLE messages ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
UPDATE messages SET seq = id;
ALTER TABLE messages ADD COLUMN edited_at BIGINT;
-- The last edit's client_id: the same edit again changes nothing.
ALTER TABLE messages ADD COLUMN edit_client_id TEXT;
-- A tombstone: its text is emptied when this is set.
ALTER TABLE messages ADD COLUMN deleted_at BIGINT;
ALTER TABLE messages ADD COLUMN reply_to BIGINT
    CONSTRAINT messages_reply_fkey REFERENCES messages (id) ON DELETE SET NULL;
-- The thread of a root: its (not deleted) replies, and when the last came.
ALTER TABLE messages ADD COLUMN replies BIGINT NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN last_reply_at BIGINT;
-- How many reactions it has, so a page without any reads none.
ALTER TABLE messages ADD COLUMN reaction_rows BIGINT NOT NULL DEFAULT 0;
CREATE INDEX messages_by_room_seq ON messages (room_id, seq);
CREATE INDEX messages_by_reply ON messages (reply_to) WHERE reply_to IS NOT NULL;

CREATE TABLE message_reactions (
    message_id  BIGINT NOT NULL,
    emoji       TEXT   NOT NULL,
    user_id     BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    -- The log position at which it was added: emoji are shown by first use.
    position    BIGINT NOT NULL,
    CONSTRAINT message_reactions_pkey PRIMARY KEY (message_id, emoji, user_id),
    CONSTRAINT message_reactions_message_fkey FOREIGN KEY (message_id)
        REFERENCES messages (id) ON DELETE CASCADE,
    CONSTRAINT message_reactions_user_fkey FOREIGN KEY (user_id)
        REFERENCES users (id) ON DELETE CASCADE
);
