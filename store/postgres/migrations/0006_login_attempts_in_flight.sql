-- Login attempts are reserved before the password hash and settled after
-- it: in_flight counts those not settled yet, last_failure becomes the time
-- of the last attempt (reserved or failed).
ALTER TABLE login_failures ADD COLUMN in_flight INTEGER NOT NULL DEFAULT 0;
