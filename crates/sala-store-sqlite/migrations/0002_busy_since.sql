-- When the user last became busy (ms since the epoch), NULL while available: catch-up
-- lists the mentions since then.
ALTER TABLE users ADD COLUMN busy_since INTEGER;
