-- A rotated signing key is published ahead of its use: it verifies at
-- once, and signs only from activates_at_ns, when every instance has long
-- loaded it and consumers can fetch it. 0 means from its creation, which
-- keeps every key stored before this migration (and any key an older
-- authd adds) signing as it did.
ALTER TABLE signing_keys ADD COLUMN activates_at_ns BIGINT NOT NULL DEFAULT 0;
