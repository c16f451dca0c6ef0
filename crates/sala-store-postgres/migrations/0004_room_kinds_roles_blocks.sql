-- Conversations people expect (issue 18): room kinds, DMs, roles, blocks.

-- 'public' (listed, anyone may join), 'private' (invite-only) or 'dm'. A DM's `dm_key` is
-- its members' ids, sorted and comma-separated: the same set of people has one DM.
ALTER TABLE rooms ADD COLUMN kind TEXT NOT NULL DEFAULT 'public'
    CONSTRAINT rooms_kind CHECK (kind IN ('public', 'private', 'dm'));
ALTER TABLE rooms ADD COLUMN dm_key TEXT;
CREATE UNIQUE INDEX rooms_by_dm_key ON rooms (dm_key) WHERE dm_key IS NOT NULL;

-- 'owner' (the creator), 'admin' or 'member', per room. Rooms made before roles existed
-- get their creator as owner.
ALTER TABLE memberships ADD COLUMN role TEXT NOT NULL DEFAULT 'member'
    CONSTRAINT memberships_role CHECK (role IN ('owner', 'admin', 'member'));
UPDATE memberships m SET role = 'owner'
    FROM rooms r WHERE r.id = m.room_id AND r.created_by = m.user_id;

-- Who blocks whom: a blocked user cannot open a DM with the blocker or write into one.
CREATE TABLE blocks (
    blocker_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    blocked_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    CONSTRAINT blocks_pkey PRIMARY KEY (blocker_id, blocked_id)
);
CREATE INDEX blocks_by_blocked ON blocks (blocked_id);
