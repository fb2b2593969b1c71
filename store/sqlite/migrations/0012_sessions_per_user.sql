-- A user's live sessions newest first: ListSessions pages through them, and
-- a login past the per-user cap revokes the oldest.
DROP INDEX sessions_user;
CREATE INDEX sessions_user ON sessions (user_id, created_at, id) WHERE revoked_at IS NULL;
