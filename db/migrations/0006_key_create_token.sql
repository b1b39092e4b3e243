-- 0005_key_create_token: a create-key form makes at most one key.
--
-- The show-once page is the answer to the create POST, so reloading it, or
-- going Back and submitting again, used to post the form again and create
-- a second key. Each create form now carries a random one-time token; the
-- key made from it keeps the token's SHA-256, checked in the transaction
-- that inserts the key, so the same form submitted again finds that key
-- instead of making another. Per owner: two people's forms never collide.
-- NULL for keys made without a form (the CLI, rolls).
ALTER TABLE api_keys ADD COLUMN create_token_hash BLOB;

CREATE UNIQUE INDEX api_keys_create_token ON api_keys (user_id, create_token_hash)
	WHERE create_token_hash IS NOT NULL;
