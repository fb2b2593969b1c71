-- Service accounts are users with a client_id: they log in with
-- IssueClientToken (the id and a secret, hashed in password_hash like a
-- password) and hold granted scopes; each token issued to one gets a
-- session of its own, so disabling the account revokes its tokens through
-- the ordinary revocation list.
ALTER TABLE users ADD COLUMN client_id TEXT;
ALTER TABLE users ADD COLUMN scopes TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX users_client_id ON users (client_id);
