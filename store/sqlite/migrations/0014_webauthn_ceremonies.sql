-- WebAuthn ceremonies (store.Ceremonies) between their begin and finish
-- calls, kept under the SHA-256 of their ceremony_token so that any
-- instance can finish one and each is finished once (a DELETE …
-- RETURNING). user_id is NULL for a passwordless login, whose user the
-- authenticator names; binding is the digest of what the ceremony
-- belongs to (a session, a login's second_factor_token), empty for none;
-- data is go-webauthn's SessionData as JSON.
CREATE TABLE webauthn_ceremonies (
    id_hash    BLOB    PRIMARY KEY,
    kind       TEXT    NOT NULL,
    user_id    INTEGER REFERENCES users (id) ON DELETE CASCADE,
    binding    BLOB    NOT NULL,
    data       BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE INDEX webauthn_ceremonies_expiry ON webauthn_ceremonies (expires_at);
