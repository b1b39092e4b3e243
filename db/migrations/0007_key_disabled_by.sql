-- 0005_key_disabled_by: who disabled a key, and why.
--
-- A disable made by an admin (one key, or in bulk) or by the auto-disable
-- policy is lifted only by an admin; the owner lifts only a disable of
-- their own. disabled_by is the user who disabled the key, NULL when
-- Keyward did (the auto-disable policy); like revoked_by it has no foreign
-- key, so the record outlives that user. disabled_reason is the reason
-- given ('' for none). Both are cleared when the key is enabled again.
ALTER TABLE api_keys ADD COLUMN disabled_by INTEGER;
ALTER TABLE api_keys ADD COLUMN disabled_reason TEXT NOT NULL DEFAULT '';

-- Keys disabled before this migration: the latest key.disable event in the
-- audit log, which is written in the same transaction as every disable,
-- says who and why.
UPDATE api_keys SET
	disabled_by = (SELECT e.actor_id FROM audit_events e
		WHERE e.action = 'key.disable' AND e.target_type = 'key' AND e.target_id = api_keys.id
		ORDER BY e.id DESC LIMIT 1),
	disabled_reason = COALESCE((SELECT json_extract(e.detail, '$.reason') FROM audit_events e
		WHERE e.action = 'key.disable' AND e.target_type = 'key' AND e.target_id = api_keys.id
		ORDER BY e.id DESC LIMIT 1), '')
WHERE disabled_at IS NOT NULL;
