-- 0008_shared_state: state that every instance on one database shares.
-- The PostgreSQL twin of db/migrations/0008_shared_state.sql, which
-- explains both tables.
CREATE TABLE login_failures (
	subject         BYTEA  PRIMARY KEY,
	failures        BIGINT NOT NULL CHECK (failures > 0),
	last_failure_at BIGINT NOT NULL
);

CREATE TABLE job_leases (
	name       TEXT   PRIMARY KEY,
	holder     TEXT   NOT NULL,
	expires_at BIGINT NOT NULL
);
