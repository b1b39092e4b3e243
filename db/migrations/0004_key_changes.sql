-- 0004_key_changes: a counter the database moves whenever something a
-- verification depends on changes, whichever process or connection made
-- the change.
--
-- Each server caches key snapshots. Changes it makes itself drop its cache
-- at once; changes made elsewhere (`keyward keys revoke` from a shell, a
-- second instance) used to be seen only when a cache entry expired. Now
-- every server reads this one row four times a second and drops its cache when
-- the version has moved. The triggers list only the columns verification
-- reads, so the usage flush (last_used_*) never moves the counter.
CREATE TABLE key_changes (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	version INTEGER NOT NULL
);
INSERT INTO key_changes (id, version) VALUES (1, 0);

CREATE TRIGGER api_keys_insert_changes AFTER INSERT ON api_keys
BEGIN
	UPDATE key_changes SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER api_keys_update_changes
AFTER UPDATE OF user_id, name, key_hash, scopes, expires_at, disabled_at, revoked_at ON api_keys
BEGIN
	UPDATE key_changes SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER api_keys_delete_changes AFTER DELETE ON api_keys
BEGIN
	UPDATE key_changes SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER users_update_changes AFTER UPDATE OF email, disabled_at ON users
BEGIN
	UPDATE key_changes SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER users_delete_changes AFTER DELETE ON users
BEGIN
	UPDATE key_changes SET version = version + 1 WHERE id = 1;
END;
