-- 0004_key_changes (PostgreSQL): tell every instance when something a
-- verification depends on changes, whichever instance made the change.
--
-- SQLite's migration keeps a counter that each server polls. On PostgreSQL
-- the triggers NOTIFY the channel keyward_key_changes instead, with a
-- payload naming what changed ("key:ID", "user:ID"); every instance LISTENs
-- (db/postgres.go) and drops its cache. A notification is delivered when
-- the transaction commits, and not at all if it rolls back. The triggers
-- list only the columns verification reads, so the usage flush
-- (last_used_*) notifies nobody. The key_changes table exists on both
-- engines, so the schema is the same table for table; here nothing moves it.
CREATE TABLE key_changes (
	id      BIGINT PRIMARY KEY CHECK (id = 1),
	version BIGINT NOT NULL
);
INSERT INTO key_changes (id, version) VALUES (1, 0);

CREATE FUNCTION keyward_key_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		PERFORM pg_notify('keyward_key_changes', 'key:' || OLD.id);
	ELSE
		PERFORM pg_notify('keyward_key_changes', 'key:' || NEW.id);
	END IF;
	RETURN NULL;
END;
$$;

CREATE FUNCTION keyward_user_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('keyward_key_changes', 'user:' || OLD.id);
	RETURN NULL;
END;
$$;

CREATE TRIGGER api_keys_insert_changes AFTER INSERT ON api_keys
	FOR EACH ROW EXECUTE FUNCTION keyward_key_changed();
CREATE TRIGGER api_keys_update_changes
	AFTER UPDATE OF user_id, name, key_hash, scopes, expires_at, disabled_at, revoked_at ON api_keys
	FOR EACH ROW EXECUTE FUNCTION keyward_key_changed();
CREATE TRIGGER api_keys_delete_changes AFTER DELETE ON api_keys
	FOR EACH ROW EXECUTE FUNCTION keyward_key_changed();
CREATE TRIGGER users_update_changes AFTER UPDATE OF email, disabled_at ON users
	FOR EACH ROW EXECUTE FUNCTION keyward_user_changed();
CREATE TRIGGER users_delete_changes AFTER DELETE ON users
	FOR EACH ROW EXECUTE FUNCTION keyward_user_changed();
