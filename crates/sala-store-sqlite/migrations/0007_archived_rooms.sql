-- A room its owner archived (issue 18): gone for everyone, its history kept, its name not
-- given again.
ALTER TABLE rooms ADD COLUMN archived_at INTEGER;
