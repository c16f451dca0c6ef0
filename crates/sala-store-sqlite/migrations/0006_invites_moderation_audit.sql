-- Invites, bans, mutes and the moderation record (issue 18).

-- An invitation into a room (what lets someone join a private room); used up by joining.
CREATE TABLE room_invites (
    room_id     INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    invited_by  INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_invites_by_user ON room_invites (user_id);

-- A ban (cannot be a member) or a mute (may read, cannot write), until `expires_at` or for
-- good (NULL). An expired one is ignored, not deleted.
CREATE TABLE room_restrictions (
    room_id     INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        TEXT    NOT NULL CHECK (kind IN ('ban', 'mute')),
    reason      TEXT,
    created_by  INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER,
    PRIMARY KEY (room_id, user_id, kind)
);

-- Every moderation action: who did what to whom, when, why.
CREATE TABLE room_audit (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id     INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    actor_id    INTEGER REFERENCES users (id) ON DELETE SET NULL,
    action      TEXT    NOT NULL,
    target_id   INTEGER REFERENCES users (id) ON DELETE SET NULL,
    reason      TEXT,
    expires_at  INTEGER,
    created_at  INTEGER NOT NULL
);
CREATE INDEX room_audit_by_room ON room_audit (room_id, id);
