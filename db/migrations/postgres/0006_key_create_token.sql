-- 0006_key_create_token (PostgreSQL): a create-key form makes at most one
-- key. See migrations/0006_key_create_token.sql.
ALTER TABLE api_keys ADD COLUMN create_token_hash BYTEA;

CREATE UNIQUE INDEX api_keys_create_token ON api_keys (user_id, create_token_hash)
	WHERE create_token_hash IS NOT NULL;
