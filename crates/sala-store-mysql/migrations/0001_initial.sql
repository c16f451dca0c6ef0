-- Sala's schema for MySQL 8.0+ and MariaDB 10.5+: the same tables and columns as the
-- PostgreSQL backend's migrations 0001 to 0012 together, in one file because this backend
-- starts where they ended. Never edit a released migration: add the next one.
--
-- Timestamps are BIGINT milliseconds since the Unix epoch, UTC, and ids are signed BIGINT,
-- as in the other backends, so all three convert rows to records the same way
-- (sala_store::rows).
--
-- Text is utf8mb4 (every code point, emoji included) in the binary collation: comparisons
-- and sort order are by code point, which is UTF-8 byte order, as in SQLite and in
-- PostgreSQL's COLLATE "C". Case-insensitive uniqueness is Sala's own rule, not the
-- collation's: the `*_key` columns hold values Sala folded (sala_store::fold_key) on all
-- three backends alike. A `_ci` collation would also make "é" equal "e", which the others
-- do not.
--
-- Constraints are named: src/error.rs tells which value collided by the key's name.
-- InnoDB for every table (transactions, row locks, foreign keys).

-- Accounts. `*_key` columns hold the case-folded values that uniqueness is judged on.
CREATE TABLE users (
    id            BIGINT       NOT NULL AUTO_INCREMENT,
    username      VARCHAR(64)  NOT NULL,
    username_key  VARCHAR(64)  NOT NULL,
    email         VARCHAR(320),
    email_key     VARCHAR(320),
    password_hash VARCHAR(512) NOT NULL,
    busy          BOOLEAN      NOT NULL DEFAULT FALSE,
    status_note   TEXT,
    -- When the user last became busy, NULL while available.
    busy_since    BIGINT,
    created_at    BIGINT       NOT NULL,
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_username_key_unique UNIQUE (username_key),
    CONSTRAINT users_email_key_unique UNIQUE (email_key),
    -- The busy members of a room, for `joined.statuses`.
    INDEX users_busy (busy, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Login sessions; a token's `jti` is the id. Revoked at logout, kept until they expire.
CREATE TABLE sessions (
    id          VARCHAR(128) NOT NULL,
    user_id     BIGINT       NOT NULL,
    created_at  BIGINT       NOT NULL,
    expires_at  BIGINT       NOT NULL,
    revoked_at  BIGINT,
    CONSTRAINT sessions_pkey PRIMARY KEY (id),
    CONSTRAINT sessions_user_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    INDEX sessions_by_user (user_id),
    INDEX sessions_by_revoked_at (revoked_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Rooms: 'public', 'private' or 'dm'. `search_text` is the case-folded "name\ntopic" that
-- room search matches as a substring. A DM's `dm_key` is its members' ids, sorted and
-- comma-separated: one DM per set of people (NULL for other rooms; a unique index admits
-- any number of NULLs). The row is also the room's write lock (`append_messages`).
CREATE TABLE rooms (
    id             BIGINT       NOT NULL AUTO_INCREMENT,
    name           VARCHAR(255) NOT NULL,
    kind           VARCHAR(16)  NOT NULL DEFAULT 'public',
    topic          TEXT,
    search_text    TEXT         NOT NULL,
    dm_key         VARCHAR(255),
    members_invite BOOLEAN      NOT NULL DEFAULT FALSE,
    archived_at    BIGINT,
    created_by     BIGINT,
    created_at     BIGINT       NOT NULL,
    CONSTRAINT rooms_pkey PRIMARY KEY (id),
    CONSTRAINT rooms_name_unique UNIQUE (name),
    CONSTRAINT rooms_by_dm_key UNIQUE (dm_key),
    CONSTRAINT rooms_kind CHECK (kind IN ('public', 'private', 'dm')),
    CONSTRAINT rooms_created_by_fkey FOREIGN KEY (created_by)
        REFERENCES users (id) ON DELETE SET NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Who belongs to which room, their role, how far they have read, whether it is quiet.
CREATE TABLE memberships (
    user_id    BIGINT      NOT NULL,
    room_id    BIGINT      NOT NULL,
    joined_at  BIGINT      NOT NULL,
    last_read  BIGINT      NOT NULL DEFAULT 0,
    role       VARCHAR(16) NOT NULL DEFAULT 'member',
    quiet      BOOLEAN     NOT NULL DEFAULT FALSE,
    CONSTRAINT memberships_pkey PRIMARY KEY (user_id, room_id),
    CONSTRAINT memberships_role CHECK (role IN ('owner', 'admin', 'member')),
    CONSTRAINT memberships_user_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT memberships_room_fkey FOREIGN KEY (room_id) REFERENCES rooms (id) ON DELETE CASCADE,
    INDEX memberships_by_room (room_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- The log's positions: message ids and change positions are drawn from this table's
-- AUTO_INCREMENT, as PostgreSQL draws both from the messages' id sequence. A position is
-- drawn by inserting a row, whose AUTO_INCREMENT value is never handed out again, committed
-- or not; the row is deleted in the same transaction. MySQL 8.0 and MariaDB 10.2.4 keep the
-- counter across restarts, so an empty table does not start again at 1.
CREATE TABLE message_positions (
    id BIGINT NOT NULL AUTO_INCREMENT,
    CONSTRAINT message_positions_pkey PRIMARY KEY (id)
) ENGINE = InnoDB;

-- History. `seq` is the message's latest position in its room's log.
CREATE TABLE messages (
    id             BIGINT       NOT NULL,
    seq            BIGINT       NOT NULL,
    room_id        BIGINT       NOT NULL,
    user_id        BIGINT       NOT NULL,
    text           TEXT         NOT NULL,
    client_id      VARCHAR(128),
    assistant      BOOLEAN      NOT NULL DEFAULT FALSE,
    created_at     BIGINT       NOT NULL,
    edited_at      BIGINT,
    -- The last edit's client_id: the same edit again changes nothing.
    edit_client_id VARCHAR(128),
    -- A tombstone: its text is emptied when this is set.
    deleted_at     BIGINT,
    reply_to       BIGINT,
    -- The thread of a root: its (not deleted) replies, and when the last came.
    replies        BIGINT       NOT NULL DEFAULT 0,
    last_reply_at  BIGINT,
    -- How many reactions it has, so a page without any reads none.
    reaction_rows  BIGINT       NOT NULL DEFAULT 0,
    -- The names it mentions as it showed them (a JSON array), and `@room`.
    mentions       TEXT         NOT NULL,
    mentions_room  BOOLEAN      NOT NULL DEFAULT FALSE,
    -- Its attachments' descriptions (JSON), NULL for none.
    attachments    TEXT,
    CONSTRAINT messages_pkey PRIMARY KEY (id),
    CONSTRAINT messages_room_fkey FOREIGN KEY (room_id) REFERENCES rooms (id) ON DELETE CASCADE,
    CONSTRAINT messages_user_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT messages_reply_fkey FOREIGN KEY (reply_to) REFERENCES messages (id)
        ON DELETE SET NULL,
    INDEX messages_by_room (room_id, id),
    INDEX messages_by_room_seq (room_id, seq),
    INDEX messages_by_reply (reply_to),
    INDEX messages_mentioning_room (room_id, mentions_room, id),
    -- Idempotent send: one message per (sender, client_id); NULLs do not collide.
    CONSTRAINT messages_by_client_id UNIQUE (user_id, client_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE message_reactions (
    message_id  BIGINT      NOT NULL,
    emoji       VARCHAR(32) NOT NULL,
    user_id     BIGINT      NOT NULL,
    created_at  BIGINT      NOT NULL,
    -- The log position at which it was added: emoji are shown by first use.
    position    BIGINT      NOT NULL,
    CONSTRAINT message_reactions_pkey PRIMARY KEY (message_id, emoji, user_id),
    CONSTRAINT message_reactions_message_fkey FOREIGN KEY (message_id)
        REFERENCES messages (id) ON DELETE CASCADE,
    CONSTRAINT message_reactions_user_fkey FOREIGN KEY (user_id)
        REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- One row per person a message mentions, for their unread-mention count.
CREATE TABLE message_mentions (
    user_id     BIGINT NOT NULL,
    message_id  BIGINT NOT NULL,
    CONSTRAINT message_mentions_pkey PRIMARY KEY (user_id, message_id),
    CONSTRAINT message_mentions_user_fkey FOREIGN KEY (user_id)
        REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT message_mentions_message_fkey FOREIGN KEY (message_id)
        REFERENCES messages (id) ON DELETE CASCADE,
    INDEX message_mentions_by_message (message_id)
) ENGINE = InnoDB;

-- Who blocks whom: a blocked user cannot open a DM with the blocker or write into one.
CREATE TABLE blocks (
    blocker_id  BIGINT NOT NULL,
    blocked_id  BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    CONSTRAINT blocks_pkey PRIMARY KEY (blocker_id, blocked_id),
    CONSTRAINT blocks_blocker_fkey FOREIGN KEY (blocker_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT blocks_blocked_fkey FOREIGN KEY (blocked_id) REFERENCES users (id) ON DELETE CASCADE,
    INDEX blocks_by_blocked (blocked_id)
) ENGINE = InnoDB;

-- An invitation into a room (what lets someone join a private room); used up by joining.
CREATE TABLE room_invites (
    room_id     BIGINT NOT NULL,
    user_id     BIGINT NOT NULL,
    invited_by  BIGINT,
    created_at  BIGINT NOT NULL,
    CONSTRAINT room_invites_pkey PRIMARY KEY (room_id, user_id),
    CONSTRAINT room_invites_room_fkey FOREIGN KEY (room_id) REFERENCES rooms (id) ON DELETE CASCADE,
    CONSTRAINT room_invites_user_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT room_invites_by_fkey FOREIGN KEY (invited_by) REFERENCES users (id) ON DELETE SET NULL,
    INDEX room_invites_by_user (user_id)
) ENGINE = InnoDB;

-- A ban (cannot be a member) or a mute (may read, cannot write), until `expires_at` or for
-- good (NULL). An expired one is ignored, not deleted.
CREATE TABLE room_restrictions (
    room_id     BIGINT      NOT NULL,
    user_id     BIGINT      NOT NULL,
    kind        VARCHAR(8)  NOT NULL,
    reason      TEXT,
    created_by  BIGINT,
    created_at  BIGINT      NOT NULL,
    expires_at  BIGINT,
    CONSTRAINT room_restrictions_pkey PRIMARY KEY (room_id, user_id, kind),
    CONSTRAINT room_restrictions_kind CHECK (kind IN ('ban', 'mute')),
    CONSTRAINT room_restrictions_room_fkey FOREIGN KEY (room_id) REFERENCES rooms (id) ON DELETE CASCADE,
    CONSTRAINT room_restrictions_user_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT room_restrictions_by_fkey FOREIGN KEY (created_by) REFERENCES users (id) ON DELETE SET NULL,
    INDEX room_restrictions_by_user (user_id, kind)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Every moderation action: who did what to whom, when, why.
CREATE TABLE room_audit (
    id          BIGINT      NOT NULL AUTO_INCREMENT,
    room_id     BIGINT      NOT NULL,
    actor_id    BIGINT,
    action      VARCHAR(32) NOT NULL,
    target_id   BIGINT,
    reason      TEXT,
    expires_at  BIGINT,
    created_at  BIGINT      NOT NULL,
    CONSTRAINT room_audit_pkey PRIMARY KEY (id),
    CONSTRAINT room_audit_room_fkey FOREIGN KEY (room_id) REFERENCES rooms (id) ON DELETE CASCADE,
    CONSTRAINT room_audit_actor_fkey FOREIGN KEY (actor_id) REFERENCES users (id) ON DELETE SET NULL,
    CONSTRAINT room_audit_target_fkey FOREIGN KEY (target_id) REFERENCES users (id) ON DELETE SET NULL,
    INDEX room_audit_by_room (room_id, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Files. A file's bytes live in the file storage under `blob`, the hash of their content
-- (`blob` is a reserved word in MySQL: the queries quote it); this table says who uploaded
-- what to which room, and which message carries it.
CREATE TABLE files (
    id             VARCHAR(64)  NOT NULL,
    room_id        BIGINT       NOT NULL,
    uploader_id    BIGINT       NOT NULL,
    name           VARCHAR(1024) NOT NULL,
    size           BIGINT       NOT NULL,
    content_type   VARCHAR(255) NOT NULL,
    width          BIGINT,
    height         BIGINT,
    `blob`         VARCHAR(128) NOT NULL,
    thumbnail_blob VARCHAR(128),
    created_at     BIGINT       NOT NULL,
    message_id     BIGINT,
    -- Set when its message is deleted or it expires unsent; the row stays a day for the
    -- uploader's quota.
    deleted_at     BIGINT,
    CONSTRAINT files_pkey PRIMARY KEY (id),
    CONSTRAINT files_room_fkey FOREIGN KEY (room_id) REFERENCES rooms (id) ON DELETE CASCADE,
    CONSTRAINT files_uploader_fkey FOREIGN KEY (uploader_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT files_message_fkey FOREIGN KEY (message_id) REFERENCES messages (id) ON DELETE SET NULL,
    INDEX files_by_uploader (uploader_id, created_at),
    INDEX files_by_message (message_id),
    INDEX files_by_blob (`blob`),
    INDEX files_by_thumbnail (thumbnail_blob),
    INDEX files_unsent (message_id, deleted_at, created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Blob names no live file may need any more, waiting for the node to delete the bytes.
CREATE TABLE blob_garbage (
    `blob`   VARCHAR(128) NOT NULL,
    since    BIGINT       NOT NULL,
    CONSTRAINT blob_garbage_pkey PRIMARY KEY (`blob`),
    INDEX blob_garbage_by_since (since)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
