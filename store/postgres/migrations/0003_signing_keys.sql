CREATE TABLE signing_keys (
    id             TEXT   PRIMARY KEY,
    created_at_ns  BIGINT NOT NULL,
    public_key     BYTEA  NOT NULL,
    sealed_private BYTEA  NOT NULL
);
