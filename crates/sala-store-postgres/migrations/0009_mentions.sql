-- Issue 19: whom a message mentions, resolved when it is sent: the names as it showed
-- them (a JSON array), `@room`, and one row per person for their unread-mention count.
ALTER TABLE messages ADD COLUMN mentions TEXT NOT NULL DEFAULT '[]';
ALTER TABLE messages ADD COLUMN mentions_room BOOLEAN NOT NULL DEFAULT FALSE;
CREATE TABLE message_mentions (
    user_id     BIGINT NOT NULL,
    message_id  BIGINT NOT NULL,
    CONSTRAINT message_mentions_pkey PRIMARY KEY (user_id, message_id),
    CONSTRAINT message_mentions_user_fkey FOREIGN KEY (user_id)
        REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT message_mentions_message_fkey FOREIGN KEY (message_id)
        REFERENCES messages (id) ON DELETE CASCADE
);
CREATE INDEX message_mentions_by_message ON message_mentions (message_id);
CREATE INDEX messages_mentioning_room ON messages (room_id, id) WHERE mentions_room;
