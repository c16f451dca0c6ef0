-- Conversations people expect (issue 18): room kinds, DMs, roles, blocks.

-- 'public' (listed, anyone may join), 'private' (invite-only) or 'dm'. A DM's `dm_key` is
-- its members' ids, sorted and comma-separated: the same set of people has one DM.
ALTER TABLE rooms ADD COLUMN kind TEXT NOT NULL DEFAULT 'public'
    CHECK (kind IN ('public', 'private', 'dm'));
ALTER TABLE rooms ADD COLUMN dm_key TEXT;
CREATE UNIQUE INDEX rooms_by_dm_key ON rooms (dm_key) WHERE dm_key IS NOT NULL;

-- 'owner' (the creator), 'admin' or 'member', per room. Rooms made before roles existed
-- get their creator as owner.
ALTER TABLE memberships ADD COLUMN role TEXT NOT NULL DEFAULT 'member'
    CHECK (role IN ('owner', 'admin', 'member'));
UPDATE memberships SET role = 'owner'
    WHERE user_id = (SELECT created_by FROM rooms WHERE rooms.id = memberships.room_id);

-- Who blocks whom: a blocked user cannot open a DM with the blocker or write into one.
CREATE TABLE blocks (
    blocker_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    blocked_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (blocker_id, blocked_id)
);
CREATE INDEX blocks_by_blocked ON blocks (blocked_id);
