CREATE TABLE signing_keys (
    id             TEXT    PRIMARY KEY,
    created_at_ns  INTEGER NOT NULL,
    public_key     BLOB    NOT NULL,
    sealed_private BLOB    NOT NULL
);
