CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    name          TEXT      NOT NULL UNIQUE,
    password_hash TEXT      NOT NULL,
    disabled      BOOLEAN   NOT NULL DEFAULT FALSE,
    created_at    BIGINT    NOT NULL,
    updated_at    BIGINT    NOT NULL
);

CREATE TABLE sessions (
    id                 TEXT   PRIMARY KEY,
    user_id            BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time          BIGINT NOT NULL,
    created_at         BIGINT NOT NULL,
    expires_at         BIGINT NOT NULL,
    revoked_at         BIGINT,
    refresh_jti        TEXT   NOT NULL,
    refresh_issued_at  BIGINT NOT NULL,
    refresh_expires_at BIGINT NOT NULL,
    access_jti         TEXT   NOT NULL,
    access_issued_at   BIGINT NOT NULL,
    access_expires_at  BIGINT NOT NULL,
    previous_jti       TEXT   NOT NULL DEFAULT '',
    previous_spent_at  BIGINT
);

CREATE INDEX sessions_user ON sessions (user_id) WHERE revoked_at IS NULL;
