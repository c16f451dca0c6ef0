-- A private room whose members may all invite, not only its admins and owner (issue 18).
ALTER TABLE rooms ADD COLUMN members_invite INTEGER NOT NULL DEFAULT 0;
