-- keyward:foreign-keys-off
-- 0009_governance: who may hold which power.
--
-- The line above makes the migration runner apply this file with foreign
-- keys off (and check them before it commits): SQLite cannot widen a CHECK
-- constraint in place, so users is rebuilt to admit the auditor role, and
-- dropping the old table with foreign keys on would cascade the drop into
-- every session and key (SQLite's documented "12-step" table change).
CREATE TABLE users_new (
	id                  INTEGER PRIMARY KEY,
	email               TEXT    NOT NULL UNIQUE COLLATE NOCASE,
	password_hash       TEXT    NOT NULL,
	role                TEXT    NOT NULL CHECK (role IN ('admin', 'auditor', 'member')),
	created_at          INTEGER NOT NULL,
	disabled_at         INTEGER,
	password_changed_at INTEGER NOT NULL,
	last_login_at       INTEGER
);
INSERT INTO users_new (id, email, password_hash, role, created_at, disabled_at, password_changed_at, last_login_at)
	SELECT id, email, password_hash, role, created_at, disabled_at, password_changed_at, last_login_at FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;

-- Invitations may be for an auditor too.
CREATE TABLE user_tokens_new (
	id          INTEGER PRIMARY KEY,
	kind        TEXT    NOT NULL CHECK (kind IN ('invite', 'reset')),
	token_hash  BLOB    NOT NULL UNIQUE,
	email       TEXT    NOT NULL COLLATE NOCASE,
	role        TEXT    NOT NULL DEFAULT '' CHECK (role IN ('', 'admin', 'auditor', 'member')),
	user_id     INTEGER REFERENCES users (id) ON DELETE CASCADE,
	created_by  INTEGER,
	created_at  INTEGER NOT NULL,
	expires_at  INTEGER NOT NULL,
	used_at     INTEGER
);
INSERT INTO user_tokens_new (id, kind, token_hash, email, role, user_id, created_by, created_at, expires_at, used_at)
	SELECT id, kind, token_hash, email, role, user_id, created_by, created_at, expires_at, used_at FROM user_tokens;
DROP TABLE user_tokens;
ALTER TABLE user_tokens_new RENAME TO user_tokens;
CREATE INDEX user_tokens_email ON user_tokens (kind, email);
CREATE INDEX user_tokens_user_id ON user_tokens (user_id);

CREATE TRIGGER users_update_changes AFTER UPDATE OF email, disabled_at ON users
BEGIN
	UPDATE key_changes SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER users_delete_changes AFTER DELETE ON users
BEGIN
	UPDATE key_changes SET version = version + 1 WHERE id = 1;
END;

-- The scope catalog: the scopes keys may carry. grant_role says who may
-- put a scope on a key (members, or admins only); needs_approval makes a
-- key that asks for it wait for an admin. A retired scope can no longer be
-- granted; keys that carry it keep it until edited.
CREATE TABLE scopes (
	id             INTEGER PRIMARY KEY,
	name           TEXT    NOT NULL UNIQUE,
	description    TEXT    NOT NULL DEFAULT '',
	grant_role     TEXT    NOT NULL DEFAULT 'member' CHECK (grant_role IN ('member', 'admin')),
	needs_approval INTEGER NOT NULL DEFAULT 0 CHECK (needs_approval IN (0, 1)),
	created_at     INTEGER NOT NULL,
	retired_at     INTEGER
);

-- Teams own keys that must outlive the person who made them. Names are
-- lower-case slugs (owner "team:NAME" in the verify answer).
CREATE TABLE teams (
	id          INTEGER PRIMARY KEY,
	name        TEXT    NOT NULL UNIQUE,
	description TEXT    NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL
);

CREATE TABLE team_members (
	team_id  INTEGER NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
	user_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	role     TEXT    NOT NULL CHECK (role IN ('maintainer', 'member')),
	added_at INTEGER NOT NULL,
	PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user_id ON team_members (user_id);

-- A key is owned by its person (team_id NULL) or by a team (user_id is then
-- the person who made it or handed it over, kept for the history).
-- allowed_ips: space-separated CIDRs the presenting client must match ('' =
-- anywhere). meta: a JSON object returned to services ('' = none).
-- pending_scopes: scopes asked for that wait for an admin's approval
-- (scopes holds only granted ones); pending_key = 1 while the key itself
-- waits (it was made with a scope that needs approval); pending_since and
-- pending_by say when and by whom the open request was made.
ALTER TABLE api_keys ADD COLUMN team_id INTEGER REFERENCES teams (id);
ALTER TABLE api_keys ADD COLUMN allowed_ips TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN meta TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN pending_scopes TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN pending_key INTEGER NOT NULL DEFAULT 0 CHECK (pending_key IN (0, 1));
ALTER TABLE api_keys ADD COLUMN pending_since INTEGER;
ALTER TABLE api_keys ADD COLUMN pending_by INTEGER;
CREATE INDEX api_keys_team_id ON api_keys (team_id, id DESC);
CREATE INDEX api_keys_pending_since ON api_keys (pending_since);
-- The covering indexes of the lists (0003_admin) gain the columns the
-- ownership and approval conditions read: without them a person's list
-- (k.user_id = ? AND k.team_id IS NULL) and its counts read every row of
-- their keys from the table (135 ms for 10,000 keys against 3 ms).
DROP INDEX api_keys_state;
CREATE INDEX api_keys_state ON api_keys
	(user_id, revoked_at, disabled_at, expires_at, last_used_at, created_at, team_id, pending_key);
DROP INDEX api_keys_by_last_used;
CREATE INDEX api_keys_by_last_used ON api_keys
	((CASE WHEN last_used_at IS NULL THEN 1 ELSE 0 END), last_used_at DESC, id DESC,
	revoked_at, disabled_at, expires_at, created_at, user_id, team_id, pending_key);
DROP INDEX api_keys_by_expiry;
CREATE INDEX api_keys_by_expiry ON api_keys
	((CASE WHEN expires_at IS NULL THEN 1 ELSE 0 END), expires_at, id DESC,
	revoked_at, disabled_at, last_used_at, created_at, user_id, team_id, pending_key);

-- Verification now reads the owner team, the allowlist, the metadata and
-- the approval state: a change to any of them must reach every cache.
DROP TRIGGER api_keys_update_changes;
CREATE TRIGGER api_keys_update_changes
AFTER UPDATE OF user_id, name, key_hash, scopes, expires_at, disabled_at, revoked_at,
	team_id, allowed_ips, meta, pending_scopes, pending_key ON api_keys
BEGIN
	UPDATE key_changes SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER teams_update_changes AFTER UPDATE OF name ON teams
BEGIN
	UPDATE key_changes SET version = version + 1 WHERE id = 1;
END;

-- The upgrade: scopes already in use join the catalog, grantable by
-- members and needing no approval, so no key or habit breaks.
WITH RECURSIVE split (rest, scope) AS (
	SELECT scopes || ' ', '' FROM api_keys WHERE scopes <> '' AND revoked_at IS NULL
	UNION ALL
	SELECT substr(rest, instr(rest, ' ') + 1), substr(rest, 1, instr(rest, ' ') - 1)
	FROM split WHERE rest <> ''
)
INSERT INTO scopes (name, description, grant_role, needs_approval, created_at)
	SELECT DISTINCT scope, 'In use before the scope catalog existed.', 'member', 0,
		CAST(strftime('%s', 'now') AS INTEGER) * 1000
	FROM split WHERE scope <> '';
