-- Each change that must end a user's sessions (password, disabled, roles)
-- moves users.generation in the same statement; a session records the
-- generation it was opened under, and is created and rotated only while it
-- is still the user's, so a login racing such a change never outlives it.
ALTER TABLE users ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN user_generation BIGINT NOT NULL DEFAULT 0;
