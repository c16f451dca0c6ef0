-- The busy members of a room (`busy_members`, for `joined.statuses`): only busy users are
-- indexed, so a join costs a look at the busy few, not at every member of a large room.
CREATE INDEX users_busy ON users (id) WHERE busy;
