CREATE INDEX sessions_revoked ON sessions (revoked_at, id) WHERE revoked_at IS NOT NULL;

CREATE TABLE login_failures (
    key          TEXT    PRIMARY KEY,
    failures     BIGINT  NOT NULL,
    last_failure BIGINT  NOT NULL
);

CREATE INDEX login_failures_last ON login_failures (last_failure);
