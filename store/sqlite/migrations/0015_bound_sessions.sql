-- Sessions bound to a key (DPoP, cnf.jkt) or a client certificate
-- (cnf.x5t#S256): every token of the session carries the binding, so a
-- stolen refresh token is no use without the key. Empty: a bearer session.
ALTER TABLE sessions ADD COLUMN cnf_jkt TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN cnf_x5t TEXT NOT NULL DEFAULT '';

-- A service account whose tokens must be bound (a DPoP key or its client
-- certificate): IssueClientToken refuses it a bearer token.
ALTER TABLE users ADD COLUMN require_binding INTEGER NOT NULL DEFAULT 0;
