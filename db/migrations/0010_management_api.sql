-- 0010_management_api: management tokens and idempotent creates.
--
-- api_tokens are the credentials of the management API (kwt_ + 49 base62
-- characters, the key format with its own prefix). Like keys, only the
-- SHA-256 of a token is stored. A token acts as its person: its
-- permissions are a space-separated subset of what the person's role
-- holds, and are cut to the role again at every use.
CREATE TABLE api_tokens (
	id           INTEGER PRIMARY KEY,
	user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name         TEXT    NOT NULL,
	token_hash   BLOB    NOT NULL,
	hint         TEXT    NOT NULL,
	permissions  TEXT    NOT NULL,
	created_at   INTEGER NOT NULL,
	expires_at   INTEGER,
	last_used_at INTEGER,
	last_used_ip TEXT    NOT NULL DEFAULT '',
	revoked_at   INTEGER,
	revoked_by   INTEGER REFERENCES users (id) ON DELETE SET NULL
);
CREATE UNIQUE INDEX api_tokens_token_hash ON api_tokens (token_hash);
CREATE INDEX api_tokens_user_id ON api_tokens (user_id, id DESC);
CREATE INDEX api_tokens_revoked_by ON api_tokens (revoked_by);

-- api_idempotency remembers, for 24 hours, which key an Idempotency-Key
-- made: a retry with the same header and body is told that key's id
-- (never its secret again), a retry with another body is refused. The
-- primary key makes two concurrent retries collide, so exactly one
-- transaction creates the key. Scoped per person, like Stripe's.
CREATE TABLE api_idempotency (
	user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	idem_key     TEXT    NOT NULL,
	operation    TEXT    NOT NULL,
	request_hash BLOB    NOT NULL,
	key_id       INTEGER NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
	created_at   INTEGER NOT NULL,
	PRIMARY KEY (user_id, idem_key)
);
CREATE INDEX api_idempotency_key_id ON api_idempotency (key_id);
CREATE INDEX api_idempotency_created_at ON api_idempotency (created_at);

-- Every audit event made through the management API names the token
-- that made it (no foreign key: the log outlives the token).
ALTER TABLE audit_events ADD COLUMN token_id INTEGER;
CREATE INDEX audit_events_token_id ON audit_events (token_id) WHERE token_id IS NOT NULL;
