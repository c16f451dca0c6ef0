-- Sala's schema for PostgreSQL: the same tables as SQLite's 0001 and 0002 together.
-- Never edit a released migration: add the next one.
--
-- Timestamps are BIGINT milliseconds since the Unix epoch, UTC, as in SQLite, so both backends
-- convert rows to records the same way. Constraints are named explicitly: the backend maps a
-- unique violation to the value that collided by its constraint name (src/error.rs).

-- Accounts. `*_key` columns hold the case-folded values that uniqueness is judged on;
-- the plain columns keep what the user typed.
CREATE TABLE users (
    id            BIGINT  GENERATED ALWAYS AS IDENTITY,
    username      TEXT    NOT NULL,
    username_key  TEXT    NOT NULL,
    email         TEXT,
    email_key     TEXT,
    password_hash TEXT    NOT NULL,
    busy          BOOLEAN NOT NULL DEFAULT FALSE,
    status_note   TEXT,
    -- When the user last became busy, NULL while available: catch-up lists the mentions
    -- since then.
    busy_since    BIGINT,
    created_at    BIGINT  NOT NULL,
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_username_key_unique UNIQUE (username_key),
    CONSTRAINT users_email_key_unique UNIQUE (email_key)
);

-- Login sessions; a token's `jti` is the id. Revoked at logout, kept until they expire.
CREATE TABLE sessions (
    id          TEXT   NOT NULL,
    user_id     BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT,
    CONSTRAINT sessions_pkey PRIMARY KEY (id),
    CONSTRAINT sessions_user_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX sessions_by_user ON sessions (user_id);

-- Rooms. `search_text` is the case-folded "name\ntopic" that `q` searches as a substring.
-- Names use the "C" collation (byte order, as in SQLite), so the unique index also serves the
-- room list's name cursor, and pages come out the same whatever the database's default
-- collation is.
CREATE TABLE rooms (
    id          BIGINT GENERATED ALWAYS AS IDENTITY,
    name        TEXT   COLLATE "C" NOT NULL,
    topic       TEXT,
    search_text TEXT   NOT NULL,
    created_by  BIGINT,
    created_at  BIGINT NOT NULL,
    CONSTRAINT rooms_pkey PRIMARY KEY (id),
    CONSTRAINT rooms_name_unique UNIQUE (name),
    CONSTRAINT rooms_created_by_fkey FOREIGN KEY (created_by)
        REFERENCES users (id) ON DELETE SET NULL
);

-- Who belongs to which room, and how far they have read.
CREATE TABLE memberships (
    user_id    BIGINT NOT NULL,
    room_id    BIGINT NOT NULL,
    joined_at  BIGINT NOT NULL,
    last_read  BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT memberships_pkey PRIMARY KEY (user_id, room_id),
    CONSTRAINT memberships_user_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT memberships_room_fkey FOREIGN KEY (room_id) REFERENCES rooms (id) ON DELETE CASCADE
);
CREATE INDEX memberships_by_room ON memberships (room_id);

-- History. An identity column never reuses an id; the backend takes a per-room advisory lock
-- before inserting, so within a room ids are also in commit order (src/lib.rs,
-- `append_messages`).
CREATE TABLE messages (
    id          BIGINT  GENERATED ALWAYS AS IDENTITY,
    room_id     BIGINT  NOT NULL,
    user_id     BIGINT  NOT NULL,
    text        TEXT    NOT NULL,
    client_id   TEXT,
    assistant   BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  BIGINT  NOT NULL,
    CONSTRAINT messages_pkey PRIMARY KEY (id),
    CONSTRAINT messages_room_fkey FOREIGN KEY (room_id) REFERENCES rooms (id) ON DELETE CASCADE,
    CONSTRAINT messages_user_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX messages_by_room ON messages (room_id, id);
-- Idempotent send: one message per (sender, client_id).
CREATE UNIQUE INDEX messages_by_client_id ON messages (user_id, client_id)
    WHERE client_id IS NOT NULL;
