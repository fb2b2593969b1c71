-- Second factors (store.SecondFactors). A user has at most one TOTP
-- authenticator, pending until a code made with its secret is checked;
-- last_step is the last time step whose code was accepted, so a code is
-- accepted once. Recovery codes are kept hashed, spent once. A passkey is
-- a WebAuthn credential (go-webauthn's, as JSON) with its signature
-- counter. A login that checked its password and waits for its second
-- factor is a challenge, kept under the SHA-256 of its token. All of them
-- go with their user.
CREATE TABLE totp (
    user_id    BIGINT  PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret     BYTEA   NOT NULL,
    confirmed  BOOLEAN NOT NULL DEFAULT FALSE,
    last_step  BIGINT  NOT NULL DEFAULT 0,
    created_at BIGINT  NOT NULL
);

CREATE TABLE recovery_codes (
    user_id  BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash     BYTEA   NOT NULL,
    spent_at BIGINT,
    PRIMARY KEY (user_id, hash)
);

CREATE TABLE passkeys (
    credential_id BYTEA   PRIMARY KEY,
    user_id       BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT    NOT NULL,
    credential    BYTEA   NOT NULL,
    sign_count    BIGINT  NOT NULL,
    created_at    BIGINT  NOT NULL,
    last_used     BIGINT
);

CREATE INDEX passkeys_user ON passkeys (user_id, created_at);

CREATE TABLE login_challenges (
    id_hash         BYTEA   PRIMARY KEY,
    user_id         BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    username        TEXT    NOT NULL,
    user_generation BIGINT  NOT NULL,
    created_at      BIGINT  NOT NULL,
    expires_at      BIGINT  NOT NULL
);

CREATE INDEX login_challenges_expiry ON login_challenges (expires_at);

-- How the user last proved who they are (token.Claims' acr and amr), the
-- methods space-separated as roles are; sessions opened before carry none.
ALTER TABLE sessions ADD COLUMN acr TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT '';
