-- Roles of each user, space-separated (names are [a-z0-9:._-]).
ALTER TABLE users ADD COLUMN roles TEXT NOT NULL DEFAULT '';
