-- A spent refresh token whose successor has never been used gets that same
-- successor pair again; a refresh racing the one that spent its token (a
-- twin) gets the pair that one got, even when that pair has since been
-- used. So a session keeps the pair its current one replaced in full
-- (previous_*; previous_jti is its refresh token's id) and the refresh
-- token spent to mint it (previous_parent_jti). Existing sessions start
-- without it: their twins are refused without revoking.
ALTER TABLE sessions ADD COLUMN previous_refresh_issued_at BIGINT;
ALTER TABLE sessions ADD COLUMN previous_refresh_expires_at BIGINT;
ALTER TABLE sessions ADD COLUMN previous_access_jti TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN previous_access_issued_at BIGINT;
ALTER TABLE sessions ADD COLUMN previous_access_expires_at BIGINT;
ALTER TABLE sessions ADD COLUMN previous_parent_jti TEXT NOT NULL DEFAULT '';
