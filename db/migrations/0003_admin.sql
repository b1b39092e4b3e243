-- 0003_admin: invitation and password-reset links, and the indexes the admin
-- pages need to stay fast with 100,000 keys.
-- Times are INTEGER unix milliseconds, UTC.

-- A link's token is 32 random bytes; only its SHA-256 is stored, so a copy
-- of the database cannot be used to accept an invite or reset a password.
-- kind 'invite' grants role to email; kind 'reset' belongs to user_id (and
-- has role ''). created_by has no foreign key, like revoked_by: the record of
-- who sent a link outlives that admin. used_at makes each link single-use.
CREATE TABLE user_tokens (
	id          INTEGER PRIMARY KEY,
	kind        TEXT    NOT NULL CHECK (kind IN ('invite', 'reset')),
	token_hash  BLOB    NOT NULL UNIQUE,
	email       TEXT    NOT NULL COLLATE NOCASE,
	role        TEXT    NOT NULL DEFAULT '' CHECK (role IN ('', 'admin', 'member')),
	user_id     INTEGER REFERENCES users (id) ON DELETE CASCADE,
	created_by  INTEGER,
	created_at  INTEGER NOT NULL,
	expires_at  INTEGER NOT NULL,
	used_at     INTEGER
);
CREATE INDEX user_tokens_email ON user_tokens (kind, email);
CREATE INDEX user_tokens_user_id ON user_tokens (user_id);

-- The audit page filters by the actor's label (an email, "cli", "system").
CREATE INDEX audit_events_actor_label ON audit_events (actor COLLATE NOCASE);

-- The admin pages over 100,000 keys (see BenchmarkListKeysAdmin and
-- BenchmarkCountStale). Reading a table row through an index costs far more
-- than reading an index entry, so:
--
-- api_keys_state covers every column the status, stale, never-used and
-- expiring filters read. Counting keys (and the overview) scans this compact
-- index instead of the table, and the active-key count of each user on the
-- users page is a range of it.
CREATE INDEX api_keys_state ON api_keys
	(user_id, revoked_at, disabled_at, expires_at, last_used_at, created_at);
-- With single-column indexes on last_used_at and expires_at, the planner
-- (which has no statistics) answers "stale" or "active" by collecting row
-- ids from them and then reading every matching row: ten times slower than
-- scanning api_keys_state, which serves what they did.
DROP INDEX api_keys_last_used_at;
DROP INDEX api_keys_expires_at;
-- The two sorted views walk these in order and stop after one page. They
-- match the ORDER BY of KeySortLastUsed and KeySortExpires term for term
-- (NULLS LAST spelled with CASE) and carry the filter columns, so a filtered
-- sorted page ("stale, most recently used first") reads no skipped row.
CREATE INDEX api_keys_by_last_used ON api_keys
	((CASE WHEN last_used_at IS NULL THEN 1 ELSE 0 END), last_used_at DESC, id DESC,
	revoked_at, disabled_at, expires_at, created_at, user_id);
CREATE INDEX api_keys_by_expiry ON api_keys
	((CASE WHEN expires_at IS NULL THEN 1 ELSE 0 END), expires_at, id DESC,
	revoked_at, disabled_at, last_used_at, created_at, user_id);
