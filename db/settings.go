package db

// The settings table holds the rules an admin tunes, one name/value row
// each. Policy and SetPolicy (policy.go) are its only readers and writers,
// so every stored value is validated on the way in and audited.

// upsertSettingSQL stores one setting, replacing the value it had.
const upsertSettingSQL = `INSERT INTO settings (name, value, updated_at) VALUES (?, ?, ?)
	ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`
