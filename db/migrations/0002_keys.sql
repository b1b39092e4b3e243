-- API keys, their daily usage and the addresses they were used from.
-- Times are INTEGER unix milliseconds, UTC.

-- A key is stored only as the SHA-256 of its full text (key_hash); hint is
-- "kw_…" plus the last four (checksum) characters, for display. scopes is a
-- space-separated list. revoked_by has no foreign key: the audit trail of a
-- revocation must outlive the admin who did it.
CREATE TABLE api_keys (
	id                   INTEGER PRIMARY KEY,
	user_id              INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	name                 TEXT    NOT NULL,
	description          TEXT    NOT NULL DEFAULT '',
	key_hash             BLOB    NOT NULL,
	hint                 TEXT    NOT NULL,
	scopes               TEXT    NOT NULL DEFAULT '',
	created_at           INTEGER NOT NULL,
	expires_at           INTEGER,
	disabled_at          INTEGER,
	revoked_at           INTEGER,
	revoked_by           INTEGER,
	revoke_reason        TEXT    NOT NULL DEFAULT '',
	rolled_from          INTEGER REFERENCES api_keys(id) ON DELETE SET NULL,
	last_used_at         INTEGER,
	last_used_ip         TEXT    NOT NULL DEFAULT '',
	last_used_user_agent TEXT    NOT NULL DEFAULT ''
);

CREATE UNIQUE INDEX api_keys_key_hash ON api_keys (key_hash);
CREATE INDEX api_keys_user_id ON api_keys (user_id, id DESC);
CREATE INDEX api_keys_last_used_at ON api_keys (last_used_at);
CREATE INDEX api_keys_expires_at ON api_keys (expires_at);
CREATE INDEX api_keys_created_at ON api_keys (created_at);
-- rolled_from references api_keys: without an index every key deletion
-- (a user's keys cascade) would scan the table to check it.
CREATE INDEX api_keys_rolled_from ON api_keys (rolled_from);

-- Successful verifications per key and UTC day (days since the Unix epoch).
CREATE TABLE key_usage_daily (
	key_id INTEGER NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
	day    INTEGER NOT NULL,
	count  INTEGER NOT NULL,
	PRIMARY KEY (key_id, day)
) WITHOUT ROWID;

-- Successful verifications of all keys per hour (hours since the Unix epoch),
-- for the admin overview.
CREATE TABLE usage_hourly (
	hour  INTEGER PRIMARY KEY,
	count INTEGER NOT NULL
);

-- Every address a key was used from, so a use from a new one is audited once.
CREATE TABLE key_ips (
	key_id        INTEGER NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
	ip            TEXT    NOT NULL,
	first_seen_at INTEGER NOT NULL,
	PRIMARY KEY (key_id, ip)
) WITHOUT ROWID;
