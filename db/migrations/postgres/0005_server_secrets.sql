-- 0005_server_secrets (PostgreSQL): random keys the server signs things
-- with, shared by every instance. See migrations/0005_server_secrets.sql.
CREATE TABLE server_secrets (
	name       TEXT    PRIMARY KEY,
	value      BYTEA   NOT NULL CHECK (length(value) >= 32),
	created_at BIGINT  NOT NULL
);
