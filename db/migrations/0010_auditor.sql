-- 0010_auditor: invitation links may grant the auditor role.
--
-- 0009 admitted 'auditor' in users.role; user_tokens.role (the role an
-- invite grants) kept the old CHECK. SQLite cannot widen a CHECK in place,
-- so the table is rebuilt with the same columns and indexes. Nothing
-- references user_tokens, so the drop cascades nowhere.
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
