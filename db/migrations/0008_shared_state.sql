-- 0008_shared_state: state that every instance on one database shares.
--
-- login_failures holds the sign-in back-off per account and per device
-- (handlers/login_throttle.go), so that ten wrong passwords spread over
-- two instances throttle an account as ten on one would. subject is a kind
-- byte and a fixed-size digest ('a' + SHA-256 of the normalised email, 'd'
-- + a device cookie's 128-bit nonce), never the email itself: a row costs
-- a few dozen bytes whatever was typed. failures counts the failures in a
-- row (reset when the last one is over an hour old); the wait they earn is
-- computed from failures and last_failure_at (db/login_failures.go). Rows
-- an hour past their last failure mean nothing and are deleted hourly.
--
-- job_leases makes a background job run once per tick across instances:
-- the instance that holds a job's unexpired lease runs it (Store.TryLease).
-- holder is a random id each server process picks at start.
CREATE TABLE login_failures (
	subject         BLOB    PRIMARY KEY,
	failures        INTEGER NOT NULL CHECK (failures > 0),
	last_failure_at INTEGER NOT NULL
);

CREATE TABLE job_leases (
	name       TEXT    PRIMARY KEY,
	holder     TEXT    NOT NULL,
	expires_at INTEGER NOT NULL
);
