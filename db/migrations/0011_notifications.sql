-- 0011_notifications: the outbox of notifiable events, its deliveries by
-- e-mail and webhook, webhook endpoints, people's notification choices and
-- the markers that make reminders go out once.
--
-- outbox_events: one row per notifiable event, written in the same
-- transaction as the change that causes it (or by the job that detects it),
-- so a crash can never keep the change and lose the event. event_id is the
-- public id ("msg_" + 26 base32): the webhook-id header and the e-mail's
-- Message-ID, by which receivers de-duplicate. payload is the JSON a webhook
-- receives as "data": ids and names, never a secret. private holds, sealed
-- with a server secret (AES-GCM), what only an e-mail may carry (an invite
-- or reset link); it is cleared once every delivery of the event is done.
-- fanned_out_at is set when the worker has made the event's deliveries.
CREATE TABLE outbox_events (
	id            INTEGER PRIMARY KEY,
	event_id      TEXT    NOT NULL UNIQUE,
	type          TEXT    NOT NULL,
	at            INTEGER NOT NULL,
	actor_id      INTEGER,
	user_id       INTEGER REFERENCES users (id) ON DELETE SET NULL,
	team_id       INTEGER REFERENCES teams (id) ON DELETE SET NULL,
	key_id        INTEGER,
	endpoint_id   INTEGER,
	payload       TEXT    NOT NULL,
	private       BLOB,
	fanned_out_at INTEGER
);
CREATE INDEX outbox_events_pending ON outbox_events (id) WHERE fanned_out_at IS NULL;
CREATE INDEX outbox_events_at ON outbox_events (at);
CREATE INDEX outbox_events_user_id ON outbox_events (user_id);
CREATE INDEX outbox_events_team_id ON outbox_events (team_id);

-- webhook_endpoints: where admins want events POSTed. event_types is a
-- space-separated list of event types ("*": all). secret is the Standard
-- Webhooks signing secret (whsec_…), sealed like outbox_events.private:
-- shown once at creation, needed at every send. failing_since is the first
-- failure of the current run of failures; 24 hours of them disable it.
CREATE TABLE webhook_endpoints (
	id              INTEGER PRIMARY KEY,
	url             TEXT    NOT NULL,
	description     TEXT    NOT NULL DEFAULT '',
	event_types     TEXT    NOT NULL,
	secret          BLOB    NOT NULL,
	created_by      INTEGER REFERENCES users (id) ON DELETE SET NULL,
	created_at      INTEGER NOT NULL,
	disabled_at     INTEGER,
	disabled_reason TEXT    NOT NULL DEFAULT '',
	failing_since   INTEGER
);
CREATE INDEX webhook_endpoints_created_by ON webhook_endpoints (created_by);

-- outbox_deliveries: one message to one receiver: an e-mail to one address
-- or a POST to one endpoint. status is pending, delivered or failed (given
-- up). A worker claims due pending rows by setting lease_holder and
-- lease_until (PostgreSQL: FOR UPDATE SKIP LOCKED), sends outside any
-- transaction and records the attempt; a crashed worker's lease runs out
-- and another takes the row: at least once, never lost.
CREATE TABLE outbox_deliveries (
	id              INTEGER PRIMARY KEY,
	event_id        INTEGER NOT NULL REFERENCES outbox_events (id) ON DELETE CASCADE,
	channel         TEXT    NOT NULL CHECK (channel IN ('email', 'webhook')),
	recipient       TEXT    NOT NULL DEFAULT '',
	user_id         INTEGER REFERENCES users (id) ON DELETE SET NULL,
	endpoint_id     INTEGER REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
	status          TEXT    NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER NOT NULL,
	lease_holder    TEXT    NOT NULL DEFAULT '',
	lease_until     INTEGER NOT NULL DEFAULT 0,
	created_at      INTEGER NOT NULL,
	done_at         INTEGER,
	last_error      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX outbox_deliveries_due ON outbox_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX outbox_deliveries_event_id ON outbox_deliveries (event_id);
CREATE INDEX outbox_deliveries_endpoint_id ON outbox_deliveries (endpoint_id, id DESC);
CREATE INDEX outbox_deliveries_channel ON outbox_deliveries (channel, id DESC);
CREATE INDEX outbox_deliveries_user_id ON outbox_deliveries (user_id);

-- delivery_attempts: the delivery log, one row per try: when, whether it
-- worked, the receiver's answer (HTTP status or SMTP reply code), how long
-- it took and why it failed.
CREATE TABLE delivery_attempts (
	id          INTEGER PRIMARY KEY,
	delivery_id INTEGER NOT NULL REFERENCES outbox_deliveries (id) ON DELETE CASCADE,
	at          INTEGER NOT NULL,
	attempt     INTEGER NOT NULL,
	ok          INTEGER NOT NULL CHECK (ok IN (0, 1)),
	status_code INTEGER NOT NULL DEFAULT 0,
	latency_ms  INTEGER NOT NULL,
	error       TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX delivery_attempts_delivery_id ON delivery_attempts (delivery_id, id DESC);

-- notification_prefs: what a person chose not to (or to) receive by
-- e-mail; no row means the kind's default. Security events have no kind
-- here: they cannot be turned off.
CREATE TABLE notification_prefs (
	user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	kind    TEXT    NOT NULL,
	enabled INTEGER NOT NULL CHECK (enabled IN (0, 1)),
	PRIMARY KEY (user_id, kind)
);

-- notices_sent: a marker per notice that must go out once, such as
-- "key 12 expires in 7 days (expiry 1767225600000)" or "weekly digest
-- 2026-W48", inserted in the transaction that enqueues it: a restart, or a
-- second instance, finds the marker and sends nothing again.
CREATE TABLE notices_sent (
	notice  TEXT    NOT NULL PRIMARY KEY,
	sent_at INTEGER NOT NULL
);
CREATE INDEX notices_sent_sent_at ON notices_sent (sent_at);
