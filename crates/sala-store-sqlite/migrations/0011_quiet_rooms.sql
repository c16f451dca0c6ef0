-- Issue 19: a member may quiet a room: it then tells them of mentions only.
ALTER TABLE memberships ADD COLUMN quiet INTEGER NOT NULL DEFAULT 0;
