-- Logouts since a moment (`revoked_since`): a node back from a Redis outage closes the
-- sockets of sessions revoked meanwhile. Only revoked rows are indexed.
CREATE INDEX sessions_by_revoked_at ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
