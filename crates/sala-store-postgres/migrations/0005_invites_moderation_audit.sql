-- Invites, bans, mutes and the moderation record (issue 18).

-- An invitation into a room (what lets someone join a private room); used up by joining.
CREATE TABLE room_invites (
    room_id     BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    invited_by  BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at  BIGINT NOT NULL,
    CONSTRAINT room_invites_pkey PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_invites_by_user ON room_invites (user_id);

-- A ban (cannot be a member) or a mute (may read, cannot write), until `expires_at` or for
-- good (NULL). An expired one is ignored, not deleted.
CREATE TABLE room_restrictions (
    room_id     BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        TEXT   NOT NULL CONSTRAINT room_restrictions_kind CHECK (kind IN ('ban', 'mute')),
    reason      TEXT,
    created_by  BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT,
    CONSTRAINT room_restrictions_pkey PRIMARY KEY (room_id, user_id, kind)
);

-- Every moderation action: who did what to whom, when, why.
CREATE TABLE room_audit (
    id          BIGINT GENERATED ALWAYS AS IDENTITY,
    room_id     BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    actor_id    BIGINT REFERENCES users (id) ON DELETE SET NULL,
    action      TEXT   NOT NULL,
    target_id   BIGINT REFERENCES users (id) ON DELETE SET NULL,
    reason      TEXT,
    expires_at  BIGINT,
    created_at  BIGINT NOT NULL,
    CONSTRAINT room_audit_pkey PRIMARY KEY (id)
);
CREATE INDEX room_audit_by_room ON room_audit (room_id, id);
