CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE sessions (
    id                 TEXT    PRIMARY KEY,
    user_id            INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time          INTEGER NOT NULL,
    created_at         INTEGER NOT NULL,
    expires_at         INTEGER NOT NULL,
    revoked_at         INTEGER,
    refresh_jti        TEXT    NOT NULL,
    refresh_issued_at  INTEGER NOT NULL,
    refresh_expires_at INTEGER NOT NULL,
    access_jti         TEXT    NOT NULL,
    access_issued_at   INTEGER NOT NULL,
    access_expires_at  INTEGER NOT NULL,
    previous_jti       TEXT    NOT NULL DEFAULT '',
    previous_spent_at  INTEGER
);

CREATE INDEX sessions_user ON sessions (user_id) WHERE revoked_at IS NULL;
