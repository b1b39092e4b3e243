-- 0013_signin: second factors (authenticator codes, passkeys, recovery
-- codes), single sign-on identities, the short-lived challenges of the
-- sign-in ceremonies, and how each session signed in.

-- The WebAuthn user handle: 32 random bytes, not the row id, so a passkey
-- reveals nothing about the account it belongs to (filled on first use).
ALTER TABLE users ADD COLUMN webauthn_handle BLOB;
CREATE UNIQUE INDEX users_webauthn_handle ON users (webauthn_handle);

-- One authenticator app per person. secret is sealed (seal.go);
-- confirmed_at is NULL until a first code proved the app has it, and only
-- then does it count as a second factor. last_step is the newest time step
-- accepted: a code of that step or an earlier one is a replay.
CREATE TABLE totp_factors (
	user_id      INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
	secret       BLOB    NOT NULL,
	created_at   INTEGER NOT NULL,
	confirmed_at INTEGER,
	last_step    INTEGER NOT NULL DEFAULT 0
);

-- Passkeys (WebAuthn credentials). credential is go-webauthn's Credential
-- as JSON (public key, flags, authenticator, transports); sign_count is
-- kept apart because every sign-in writes it.
CREATE TABLE passkeys (
	id            INTEGER PRIMARY KEY,
	user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	credential_id BLOB    NOT NULL UNIQUE,
	name          TEXT    NOT NULL,
	credential    TEXT    NOT NULL,
	sign_count    INTEGER NOT NULL DEFAULT 0,
	created_at    INTEGER NOT NULL,
	last_used_at  INTEGER
);
CREATE INDEX passkeys_user_id ON passkeys (user_id);

-- Recovery codes, hashed with argon2id (they have fewer than 112 bits),
-- single use. A new set deletes the old one.
CREATE TABLE recovery_codes (
	id         INTEGER PRIMARY KEY,
	user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	code_hash  TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	used_at    INTEGER
);
CREATE INDEX recovery_codes_user_id ON recovery_codes (user_id);

-- A person's identity at an OpenID provider: (issuer, subject) is the
-- stable key; email is what the provider said at the last sign-in.
CREATE TABLE oidc_identities (
	id            INTEGER PRIMARY KEY,
	user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	issuer        TEXT    NOT NULL,
	subject       TEXT    NOT NULL,
	email         TEXT    NOT NULL DEFAULT '',
	created_at    INTEGER NOT NULL,
	last_login_at INTEGER,
	UNIQUE (issuer, subject)
);
CREATE INDEX oidc_identities_user_id ON oidc_identities (user_id);

-- The state of a sign-in ceremony between its two requests (a WebAuthn
-- challenge, an OpenID Connect state with its nonce and PKCE verifier),
-- found by the SHA-256 of a random token and deleted when taken: each is
-- used at most once, on any instance.
CREATE TABLE auth_challenges (
	token_hash BLOB    PRIMARY KEY,
	kind       TEXT    NOT NULL,
	data       BLOB    NOT NULL,
	expires_at INTEGER NOT NULL
);
CREATE INDEX auth_challenges_expires_at ON auth_challenges (expires_at);

-- How a session signed in: auth_method is the first factor (password,
-- passkey, sso), second_factor what completed it (totp, passkey,
-- recovery; uv for a passkey that verified its user; idp for a provider
-- that reported its own multi-factor sign-in; '' for none). stage is ''
-- for a signed-in session, 'mfa' while the second factor is pending (such
-- a session reaches nothing but the second-factor page) and 'enrol' when
-- policy requires a second factor the person has not set up (it reaches
-- only enrolment). reauth_at is the last time the person proved who they
-- are, for re-authentication before dangerous actions (NULL: created_at).
ALTER TABLE sessions ADD COLUMN auth_method TEXT NOT NULL DEFAULT 'password';
ALTER TABLE sessions ADD COLUMN second_factor TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN stage TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN reauth_at INTEGER;
