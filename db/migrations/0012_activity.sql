-- 0012_activity: refusals counted per key, hourly usage per key for the
-- anomaly rules, the networks and client families a key was used from,
-- and alerts.
--
-- A refusal of a key that exists (REVOKED, DISABLED, EXPIRED,
-- PENDING_APPROVAL, IP_NOT_ALLOWED, INSUFFICIENT_SCOPE) is recorded in
-- memory like a successful use and written by the same flush: the last
-- refusal on the key's row, the count per day and code in
-- key_refusals_daily. Unknown and malformed keys have no row to count on.
ALTER TABLE api_keys ADD COLUMN last_refused_at INTEGER;
ALTER TABLE api_keys ADD COLUMN last_refused_ip TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN last_refused_user_agent TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN last_refused_code TEXT NOT NULL DEFAULT '';
-- The admin list's "refused in the last 7 days" filter.
CREATE INDEX api_keys_last_refused_at ON api_keys (last_refused_at);

-- Refusals per key, UTC day (days since the Unix epoch) and code.
CREATE TABLE key_refusals_daily (
	key_id INTEGER NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
	day    INTEGER NOT NULL,
	code   TEXT    NOT NULL,
	count  INTEGER NOT NULL,
	PRIMARY KEY (key_id, day, code)
) WITHOUT ROWID;

-- Uses and refusals per key and hour (hours since the Unix epoch), kept
-- 30 days: what the anomaly rules compare an hour with. The index on hour
-- lets the job read one hour of every key, and the pruning find old rows.
CREATE TABLE key_usage_hourly (
	key_id   INTEGER NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
	hour     INTEGER NOT NULL,
	uses     INTEGER NOT NULL DEFAULT 0,
	refusals INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (key_id, hour)
) WITHOUT ROWID;
CREATE INDEX key_usage_hourly_hour ON key_usage_hourly (hour);

-- The addresses a key was used or refused from in an hour, with their
-- counts, kept 7 days: the evidence of an alert (which addresses) and the
-- "many addresses in an hour" rule. At most 16 addresses per key are
-- written per flush, so a key called from everywhere costs bounded rows.
CREATE TABLE key_hour_ips (
	key_id   INTEGER NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
	hour     INTEGER NOT NULL,
	ip       TEXT    NOT NULL,
	uses     INTEGER NOT NULL DEFAULT 0,
	refusals INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (key_id, hour, ip)
) WITHOUT ROWID;
CREATE INDEX key_hour_ips_hour ON key_hour_ips (hour);

-- key_sightings: the networks (kind 'network': an IPv4 /24 or IPv6 /48,
-- as a prefix "203.0.113.0/24") and client families (kind 'agent':
-- "curl", "python-requests", "Chrome") a key has been used from, so that
-- the first use from a new one can raise an alert. A key's very first
-- sighting of a kind raises nothing: every key has a first use.
CREATE TABLE key_sightings (
	key_id        INTEGER NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
	kind          TEXT    NOT NULL,
	value         TEXT    NOT NULL,
	first_seen_at INTEGER NOT NULL,
	PRIMARY KEY (key_id, kind, value)
) WITHOUT ROWID;

-- alerts: one row per finding of an anomaly rule (or a leak report) on a
-- key. While an alert is not resolved, the same rule firing again on the
-- same key updates it (last_seen_at, occurrences, evidence) instead of
-- opening another: alerts_open makes that hold across instances. status
-- is open, acknowledged (someone is looking; still de-duplicating) or
-- resolved. summary is the one line people read; evidence is JSON with
-- the numbers and addresses that triggered it.
CREATE TABLE alerts (
	id              INTEGER PRIMARY KEY,
	rule            TEXT    NOT NULL,
	key_id          INTEGER NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
	status          TEXT    NOT NULL DEFAULT 'open',
	summary         TEXT    NOT NULL,
	evidence        TEXT    NOT NULL,
	first_seen_at   INTEGER NOT NULL,
	last_seen_at    INTEGER NOT NULL,
	occurrences     INTEGER NOT NULL DEFAULT 1,
	acknowledged_at INTEGER,
	acknowledged_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
	resolved_at     INTEGER,
	resolved_by     INTEGER REFERENCES users(id) ON DELETE SET NULL
);
CREATE UNIQUE INDEX alerts_open ON alerts (rule, key_id) WHERE resolved_at IS NULL;
CREATE INDEX alerts_key_id ON alerts (key_id);
CREATE INDEX alerts_last_seen_at ON alerts (last_seen_at);
CREATE INDEX alerts_acknowledged_by ON alerts (acknowledged_by);
CREATE INDEX alerts_resolved_by ON alerts (resolved_by);

-- A webhook endpoint's create form carries a one-time token like a key's
-- (0006): reloading the page that shows the new endpoint's secret posts
-- the form again, which made a second endpoint with a second secret.
ALTER TABLE webhook_endpoints ADD COLUMN create_token_hash BLOB;
CREATE UNIQUE INDEX webhook_endpoints_create_token ON webhook_endpoints (create_token_hash) WHERE create_token_hash IS NOT NULL;
