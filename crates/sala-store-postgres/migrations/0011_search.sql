-- Issue 21: search. pg_trgm's trigram index over messages' text serves ILIKE '%text%', so
-- a search finds any text as a substring, case-insensitively, in any script (as SQLite's
-- trigram index does); texts shorter than three characters are checked on the rows the
-- other conditions leave. pg_trgm is a trusted extension: a database owner may add it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX messages_text_trigrams ON messages USING gin (text gin_trgm_ops);
