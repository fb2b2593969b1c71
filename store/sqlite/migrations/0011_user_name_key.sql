-- Usernames are unique under their key (store.NameKey: RFC 8265
-- UsernameCaseMapped, so Alice, alice and their fullwidth or NFD spellings
-- are one name). Existing rows get their key when the store opens; one
-- whose key another row already holds (names created before) keeps NULL,
-- and still logs in by its exact name.
ALTER TABLE users ADD COLUMN name_key TEXT;
CREATE UNIQUE INDEX users_by_name_key ON users (name_key);
