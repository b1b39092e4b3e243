-- 0005_server_secrets: random keys the server signs things with, such as
-- the device cookies of sign-in (handlers/device.go).
--
-- They live in the database so that they survive a restart and every
-- instance on the same database shares them. Each is 32 or more bytes from
-- crypto/rand, created on first need (Store.ServerSecret), never logged,
-- never shown, and never changed by the settings page, which reads only the
-- settings table. A copy of the database lets its holder sign device
-- cookies, which spare a browser the per-account sign-in back-off but
-- never stand in for a password.
CREATE TABLE server_secrets (
	name       TEXT    PRIMARY KEY,
	value      BLOB    NOT NULL CHECK (length(value) >= 32),
	created_at INTEGER NOT NULL
);
