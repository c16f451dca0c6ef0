-- Sala's first schema (SQLite). Never edit a released migration: add the next one.
-- Timestamps are milliseconds since the Unix epoch, UTC, so every backend stores the same.

-- Accounts. `*_key` columns hold the case-folded values that uniqueness is judged on;
-- the plain columns keep what the user typed.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL,
    username_key  TEXT    NOT NULL UNIQUE,
    email         TEXT,
    email_key     TEXT    UNIQUE,
    password_hash TEXT    NOT NULL,
    busy          INTEGER NOT NULL DEFAULT 0,
    status_note   TEXT,
    created_at    INTEGER NOT NULL
);

-- Login sessions; a token's `jti` is the id. Revoked at logout, kept until they expire.
CREATE TABLE sessions (
    id          TEXT    PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX sessions_by_user ON sessions (user_id);

-- Rooms. `search_text` is the case-folded "name\ntopic" that `q` searches as a substring.
CREATE TABLE rooms (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL UNIQUE,
    topic       TEXT,
    search_text TEXT    NOT NULL,
    created_by  INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at  INTEGER NOT NULL
);

-- Who belongs to which room, and how far they have read.
CREATE TABLE memberships (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    room_id    INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    joined_at  INTEGER NOT NULL,
    last_read  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, room_id)
);
CREATE INDEX memberships_by_room ON memberships (room_id);

-- History. AUTOINCREMENT keeps ids increasing for ever, even after deletes.
CREATE TABLE messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id     INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    text        TEXT    NOT NULL,
    client_id   TEXT,
    assistant   INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);
CREATE INDEX messages_by_room ON messages (room_id, id);
-- Idempotent send: one message per (sender, client_id).
CREATE UNIQUE INDEX messages_by_client_id ON messages (user_id, client_id)
    WHERE client_id IS NOT NULL;
