-- Issue 19: whom a message mentions, resolved when it is sent: the names as it showed
-- them (a JSON array), `@room`, and one row per person for their unread-mention count.
ALTER TABLE messages ADD COLUMN mentions TEXT NOT NULL DEFAULT '[]';
ALTER TABLE messages ADD COLUMN mentions_room INTEGER NOT NULL DEFAULT 0;
CREATE TABLE message_mentions (
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    message_id  INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, message_id)
) WITHOUT ROWID;
CREATE INDEX message_mentions_by_message ON message_mentions (message_id);
CREATE INDEX messages_mentioning_room ON messages (room_id, id) WHERE mentions_room <> 0;
