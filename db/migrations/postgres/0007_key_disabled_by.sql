-- 0007_key_disabled_by (PostgreSQL): who disabled a key, and why. See
-- migrations/0007_key_disabled_by.sql.
ALTER TABLE api_keys ADD COLUMN disabled_by BIGINT;
ALTER TABLE api_keys ADD COLUMN disabled_reason TEXT NOT NULL DEFAULT '';

UPDATE api_keys SET
	disabled_by = (SELECT e.actor_id FROM audit_events e
		WHERE e.action = 'key.disable' AND e.target_type = 'key' AND e.target_id = api_keys.id
		ORDER BY e.id DESC LIMIT 1),
	disabled_reason = COALESCE((SELECT e.detail::jsonb ->> 'reason' FROM audit_events e
		WHERE e.action = 'key.disable' AND e.target_type = 'key' AND e.target_id = api_keys.id
		ORDER BY e.id DESC LIMIT 1), '')
WHERE disabled_at IS NOT NULL;
