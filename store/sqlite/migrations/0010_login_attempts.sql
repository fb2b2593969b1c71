-- Each login attempt in flight is a row per counter key it reserved, with
-- its own expiry: it stops counting then whatever else the key does (a
-- process killed mid-attempt never settles it). login_failures.in_flight is
-- no longer read.
CREATE TABLE login_attempts (
    key        TEXT    NOT NULL,
    attempt    TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (key, attempt)
);
CREATE INDEX login_attempts_expiry ON login_attempts (expires_at);
