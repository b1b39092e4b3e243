-- 0001_init: people, browser sessions, the audit log and settings.
-- Times are INTEGER milliseconds since the Unix epoch, UTC (see db/time.go).

CREATE TABLE users (
	id                  INTEGER PRIMARY KEY,
	email               TEXT    NOT NULL UNIQUE COLLATE NOCASE,
	password_hash       TEXT    NOT NULL,
	role                TEXT    NOT NULL CHECK (role IN ('admin', 'member')),
	created_at          INTEGER NOT NULL,
	disabled_at         INTEGER,
	password_changed_at INTEGER NOT NULL,
	last_login_at       INTEGER
);

-- A session row is the server side of a browser session: the cookie holds
-- only a random id whose SHA-256 is token_hash, so a copy of the database
-- cannot be replayed as a cookie.
CREATE TABLE sessions (
	id           INTEGER PRIMARY KEY,
	token_hash   BLOB    NOT NULL UNIQUE,
	user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at   INTEGER NOT NULL,
	last_seen_at INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL,
	ip           TEXT    NOT NULL DEFAULT '',
	user_agent   TEXT    NOT NULL DEFAULT '',
	data         BLOB
);
CREATE INDEX sessions_user_id ON sessions (user_id);

-- The audit log outlives what it names: actor and target are copied as text
-- and actor_id has no foreign key, so the history stays readable (and
-- intact) whatever later happens to the user or key it mentions.
CREATE TABLE audit_events (
	id          INTEGER PRIMARY KEY,
	at          INTEGER NOT NULL,
	actor_id    INTEGER,
	actor       TEXT    NOT NULL,
	action      TEXT    NOT NULL,
	target_type TEXT    NOT NULL DEFAULT '',
	target_id   INTEGER,
	target      TEXT    NOT NULL DEFAULT '',
	ip          TEXT    NOT NULL DEFAULT '',
	detail      TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_target ON audit_events (target_type, target_id, at);
CREATE INDEX audit_events_actor ON audit_events (actor_id, at);
CREATE INDEX audit_events_action ON audit_events (action, at);

CREATE TABLE settings (
	name       TEXT    PRIMARY KEY,
	value      TEXT    NOT NULL,
	updated_at INTEGER NOT NULL
);
