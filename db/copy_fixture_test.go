package db

import (
	"bytes"
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// copyFixture is a database with every kind of row the copy must carry,
// and what a test needs to check, on the copy, that each still works.
type copyFixture struct {
	src             *Store
	admin, ann, bob User
	activeID        int64
	keys            map[string]fixtureKey // by state
	sessionHash     []byte
	invite, reset   string
	deviceSecret    []byte
	failSubject     LoginSubject
	lastSourceKey   int64
	revokedID       int64
	apiToken        string
	webhookSecret   string
	clock           *fakeClock
	totpSecret      string
}

type fixtureKey struct {
	id     int64
	secret string
	code   VerifyCode // "" when valid
}

// fillEveryKind fills s with users (admin, member, disabled member),
// keys in every state (active and used, expired, disabled, revoked,
// rolled and its successor, a disabled owner's), usage (daily, hourly,
// addresses), a session, an invite and a reset link, settings, a server
// secret, a sign-in failure and a job lease, with their audit events.
func fillEveryKind(t *testing.T, s *Store, clock *fakeClock) *copyFixture {
	t.Helper()
	ctx := context.Background()
	f := &copyFixture{src: s, keys: map[string]fixtureKey{}, clock: clock}
	f.admin = mustCreateUser(t, s, "admin@example.com", RoleAdmin)
	f.ann = mustCreateUser(t, s, "ann@example.com", RoleMember)
	f.bob = mustCreateUser(t, s, "bob@example.com", RoleMember)
	adminActor := Actor{UserID: f.admin.ID, Label: f.admin.Email, IP: "192.0.2.1"}
	mustCatalog(t, s, "read", "write")
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("fixture: %s: %v", what, err)
		}
	}
	newKey := func(state string, owner User, in KeyInput, code VerifyCode) Key {
		t.Helper()
		k, secret, err := s.CreateKey(ctx, owner.ID, in, CLIActor())
		must("create key "+state, err)
		f.keys[state] = fixtureKey{id: k.ID, secret: secret, code: code}
		return k
	}
	soon := clock.Now().Add(time.Hour)
	active := newKey("active", f.ann, KeyInput{Name: "deploy", Description: "CI deploys", Scopes: []string{"read", "write"}}, "")
	f.activeID = active.ID
	newKey("expired", f.ann, KeyInput{Name: "short", ExpiresAt: &soon}, CodeExpired)
	disabled := newKey("disabled", f.ann, KeyInput{Name: "paused"}, CodeDisabled)
	revoked := newKey("revoked", f.ann, KeyInput{Name: "leaked"}, CodeRevoked)
	rolled := newKey("rolled", f.ann, KeyInput{Name: "rotating", Scopes: []string{"read"}}, "")
	newKey("owner disabled", f.bob, KeyInput{Name: "bobs"}, CodeDisabled)
	teamKey := newKey("team", f.bob, KeyInput{Name: "payments-api"}, "") // handed to a team below

	_, err := s.SetKeyDisabled(ctx, AnyOwner(), disabled.ID, true, "paused by an admin", adminActor)
	must("disable key", err)
	_, err = s.RevokeKey(ctx, AnyOwner(), revoked.ID, "leaked in a log", adminActor)
	must("revoke key", err)
	must("disable bob", s.SetUserDisabled(ctx, f.bob.ID, true, adminActor))
	clock.Advance(2 * time.Hour) // "short" expires
	succ, secret, _, err := s.RollKey(ctx, f.ann.ID, rolled.ID, time.Hour, Actor{UserID: f.ann.ID, Label: f.ann.Email})
	must("roll key", err)
	f.keys["successor"] = fixtureKey{id: succ.ID, secret: secret}

	v := quietVerifier(s)
	for i, ip := range []string{"203.0.113.7", "203.0.113.7", "198.51.100.2"} {
		res, err := v.Verify(ctx, VerifyRequest{Key: f.keys["active"].secret, IP: ip, UserAgent: "curl/8"})
		must("verify", err)
		if !res.Valid {
			t.Fatalf("fixture: use %d of the active key: got %s, want valid", i, res.Code)
		}
	}
	must("flush usage", v.Flush(ctx))

	f.sessionHash = bytes.Repeat([]byte{7}, 32)
	now := clock.Now()
	must("create session", s.CreateSession(ctx, &Session{TokenHash: f.sessionHash, UserID: f.ann.ID,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(12 * time.Hour), IP: "203.0.113.9",
		UserAgent: "Firefox", Data: []byte("encoded session values")}))
	f.invite, _, err = s.CreateInvite(ctx, "carol@example.com", RoleMember, adminActor)
	must("create invite", err)
	f.reset, _, err = s.CreatePasswordReset(ctx, f.ann.ID, "", adminActor)
	must("create reset link", err)
	must("set policy", s.SetPolicy(ctx, Policy{StaleAfter: 30 * 24 * time.Hour, NeverUsedAfter: 7 * 24 * time.Hour,
		AutoDisableAfter: 90 * 24 * time.Hour}, adminActor))
	f.deviceSecret, err = s.ServerSecret(ctx, "device")
	must("server secret", err)
	f.failSubject = AccountSubject(sha256.Sum256([]byte("ann@example.com")))
	_, err = s.RecordLoginFailure(ctx, f.failSubject, clock.Now())
	must("sign-in failure", err)
	// Text keys that byte order and most locales sort differently ("B"
	// before "a" only byte by byte): both sides must read them in one
	// order for the checksums to agree (dialect.binaryOrderFmt).
	for _, name := range []string{"auto-disable", "a-job", "B-job"} {
		_, err = s.TryLease(ctx, name, "instance-a", time.Minute)
		must("job lease", err)
	}
	// Governance (0009): a team with a maintainer owning a key that bob
	// made (bob is disabled: the team's key still verifies), a key locked
	// to a network and carrying metadata, and a scope in the catalog.
	team, err := s.CreateTeam(ctx, "payments", "Payment services", adminActor)
	must("create team", err)
	must("add team member", s.AddTeamMember(ctx, team.ID, f.ann.Email, TeamMaintainer, adminActor))
	_, err = s.TransferKey(ctx, AnyOwner(), teamKey.ID, TransferTarget{TeamID: team.ID}, adminActor)
	must("hand key to team", err)
	limited := newKey("limited", f.ann, KeyInput{Name: "office"}, "")
	_, err = s.w.ExecContext(ctx, `UPDATE api_keys SET allowed_ips = '203.0.113.0/24', meta = '{"tenant":"t-1"}' WHERE id = ?`, limited.ID)
	must("limit key", err)
	_, err = s.w.ExecContext(ctx, `INSERT INTO scopes (name, description, grant_role, needs_approval, created_at)
		VALUES ('billing:write', 'Change invoices', 'admin', 1, ?)`, toMillis(clock.Now()))
	must("catalog scope", err)
	// Management API (0010): a token of ann's and an idempotency record
	// of a key she created through the API.
	_, f.apiToken, err = s.CreateAPIToken(ctx, f.ann.ID, APITokenInput{Name: "deploy script",
		Permissions: []Permission{PermKeysRead, PermKeysWrite}}, adminActor)
	must("create management token", err)
	must("idempotency record", s.RecordIdempotency(ctx, f.ann.ID,
		Idempotency{Key: "create-1", Operation: "create-key", Request: bytes.Repeat([]byte{9}, 32)}, limited.ID))
	f.lastSourceKey = limited.ID
	// Notifications (0011): an endpoint (its secret sealed under a copied
	// server secret), the events the fixture's changes enqueued fanned out
	// to it and to e-mail, one attempt that failed (a retry is pending),
	// a choice of ann's and a reminder's once-marker.
	_, f.webhookSecret, err = s.CreateWebhookEndpoint(ctx, WebhookInput{URL: "https://hooks.example.com/keyward",
		EventTypes: []string{EventKeyRevoked}}, adminActor)
	must("create webhook endpoint", err)
	gone, _, err := s.CreateKey(ctx, f.ann.ID, KeyInput{Name: "leaked"}, adminActor)
	must("create key to revoke", err)
	_, err = s.RevokeKey(ctx, AnyOwner(), gone.ID, "fixture", adminActor)
	must("revoke for the outbox", err)
	f.lastSourceKey = gone.ID
	_, err = s.FanOut(ctx, FanOutOptions{Email: true})
	must("fan out", err)
	claimed, err := s.ClaimDeliveries(ctx, "fixture", 100, time.Minute)
	must("claim deliveries", err)
	for _, d := range claimed {
		must("complete delivery", s.CompleteDelivery(ctx, "fixture", d, AttemptResult{StatusCode: 503, Error: "busy"}))
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO notification_prefs (user_id, kind, enabled) VALUES (?, ?, 0)`, f.ann.ID, NotifyDigest)
	must("notification choice", err)
	_, err = s.EnqueueOnce(ctx, "fixture:reminder", &OutboxEvent{Type: EventKeyExpiring, KeyID: limited.ID})
	must("once-marker", err)
	// Unusual activity (0012): refusals of the revoked key, an hour of
	// uses with its addresses, a network and a client family seen, and an
	// open alert on the revoked key (copied open: the copy de-duplicates
	// against it).
	at := toMillis(clock.Now())
	hour, day := at/msPerHour, at/msPerDay
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`UPDATE api_keys SET last_refused_at = ?, last_refused_ip = '198.51.100.9', last_refused_user_agent = 'curl/8',
			last_refused_code = 'REVOKED' WHERE id = ?`, []any{at, revoked.ID}},
		{`INSERT INTO key_refusals_daily (key_id, day, code, count) VALUES (?, ?, 'REVOKED', 12)`, []any{revoked.ID, day}},
		// The flush above wrote the active key's current hour and its
		// sightings; these are an hour earlier, and other ones.
		{`INSERT INTO key_usage_hourly (key_id, hour, uses, refusals) VALUES (?, ?, 3, 0), (?, ?, 0, 12)`,
			[]any{active.ID, hour - 1, revoked.ID, hour}},
		{`INSERT INTO key_hour_ips (key_id, hour, ip, uses, refusals) VALUES (?, ?, '203.0.113.7', 2, 0), (?, ?, '198.51.100.9', 0, 12)`,
			[]any{active.ID, hour - 1, revoked.ID, hour}},
		{`INSERT INTO key_sightings (key_id, kind, value, first_seen_at) VALUES (?, 'network', '192.0.2.0/24', ?), (?, 'agent', 'python-requests', ?)`,
			[]any{active.ID, at, active.ID, at}},
	} {
		_, err = s.w.ExecContext(ctx, q.sql, q.args...)
		must("activity rows", err)
	}
	f.revokedID = revoked.ID
	// Sign-in (0013): ann's authenticator app (its sealed secret must open
	// on the copy), a passkey, a recovery code and an SSO identity.
	setup, err := s.BeginTOTP(ctx, f.ann.ID, "Keyward", f.ann.Email)
	must("begin totp", err)
	f.totpSecret = setup.Secret
	code, err := totp.GenerateCodeCustom(setup.Secret, clock.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	must("totp code", err)
	must("confirm totp", s.ConfirmTOTP(ctx, f.ann.ID, code, Actor{UserID: f.ann.ID, Label: f.ann.Email}))
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO passkeys (user_id, credential_id, name, credential, sign_count, created_at) VALUES (?, ?, 'laptop', '{}', 3, ?)`,
			[]any{f.ann.ID, []byte{1, 2, 3}, at}},
		{`INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES (?, 'argon2id-hash', ?)`, []any{f.ann.ID, at}},
		{`INSERT INTO oidc_identities (user_id, issuer, subject, email, created_at) VALUES (?, 'https://idp.example', 'sub-1', ?, ?)`,
			[]any{f.bob.ID, f.bob.Email, at}},
	} {
		_, err = s.w.ExecContext(ctx, q.sql, q.args...)
		must("sign-in rows", err)
	}
	_, opened, err := s.RaiseAlert(ctx, AlertFinding{Rule: RuleDeadKey, KeyID: revoked.ID,
		Summary: "A revoked key is still being used", Evidence: map[string]any{"attempts": 12}})
	must("raise alert", err)
	if !opened {
		t.Fatal("fixture: the first dead-key alert was not opened")
	}
	return f
}

// checkOn checks, through the store's own methods, that everything the
// fixture made works on dst as it did on the source: each key verifies
// with the same id and answer, passwords, the session, the links, the
// server secret and the sign-in back-off hold, usage continues from the
// copied counts, and new rows take ids past the copied ones.
func (f *copyFixture) checkOn(t *testing.T, dst *Store) {
	t.Run("second factors", func(t *testing.T) {
		ctx := context.Background()
		got, err := dst.SecondFactors(ctx, f.ann.ID)
		if want := (SecondFactors{TOTP: true, Passkeys: 1, RecoveryLeft: 1}); err != nil || got != want {
			t.Errorf("factors on the copy: got %+v, %v, want %+v", got, err, want)
		}
		// The next step's code: the sealed secret opens with the copied
		// server secret.
		code, _ := totp.GenerateCodeCustom(f.totpSecret, f.clock.Now().Add(30*time.Second),
			totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err := dst.CheckTOTP(ctx, f.ann.ID, code); err != nil {
			t.Errorf("authenticator code on the copy: %v", err)
		}
	})
	t.Helper()
	ctx := context.Background()
	v := quietVerifier(dst)
	for state, k := range f.keys {
		t.Run("key "+state, func(t *testing.T) {
			res, err := v.Verify(ctx, VerifyRequest{Key: k.secret, IP: "203.0.113.7", ClientIP: "203.0.113.7"})
			if err != nil {
				t.Fatal(err)
			}
			if res.Valid != (k.code == "") || res.Code != k.code || res.KeyID != k.id {
				t.Errorf("verify on the copy: got valid=%v code %q id %d, want valid=%v code %q id %d",
					res.Valid, res.Code, res.KeyID, k.code == "", k.code, k.id)
			}
		})
	}
	if err := v.Flush(ctx); err != nil {
		t.Fatalf("flush on the copy: %v", err)
	}
	// Three uses on the source, one here: the count goes on from the copy.
	usage, err := dst.KeyUsage(ctx, AnyOwner(), f.keys["active"].id, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(usage) != 1 || usage[0].Count != 4 {
		t.Errorf("usage of the active key on the copy: got %+v, want one day with 4 uses (3 copied + 1)", usage)
	}
	if _, err := dst.Authenticate(ctx, f.ann.Email, testPassword); err != nil {
		t.Errorf("sign in as ann on the copy: %v", err)
	}
	if _, err := dst.Authenticate(ctx, f.bob.Email, testPassword); err == nil {
		t.Errorf("sign in as disabled bob on the copy: got success, want a refusal")
	}
	if ss, err := dst.SessionByTokenHash(ctx, f.sessionHash); err != nil || ss.UserID != f.ann.ID || string(ss.Data) != "encoded session values" {
		t.Errorf("session on the copy: got %+v, %v, want ann's with its values", ss, err)
	}
	if _, err := dst.LookupToken(ctx, TokenInvite, f.invite); err != nil {
		t.Errorf("invite on the copy: %v", err)
	}
	if _, err := dst.LookupToken(ctx, TokenReset, f.reset); err != nil {
		t.Errorf("reset link on the copy: %v", err)
	}
	if got, err := dst.ServerSecret(ctx, "device"); err != nil || !bytes.Equal(got, f.deviceSecret) {
		t.Errorf("server secret on the copy: got %x, %v, want the source's", got, err)
	}
	wantUntil, _ := f.src.LoginBlockedUntil(ctx, f.failSubject)
	if got, err := dst.LoginBlockedUntil(ctx, f.failSubject); err != nil || !got.Equal(wantUntil) {
		t.Errorf("sign-in back-off on the copy: got %v, %v, want %v", got, err, wantUntil)
	}
	if tok, u, err := dst.AuthenticateAPIToken(ctx, f.apiToken, "203.0.113.7"); err != nil || u.ID != f.ann.ID || !tok.Has(PermKeysWrite) {
		t.Errorf("management token on the copy: got user %d, %v, %v; want ann's token with keys:write", u.ID, tok.Permissions, err)
	}
	u := mustCreateUser(t, dst, "dave@example.com", RoleMember)
	if u.ID <= f.bob.ID {
		t.Errorf("new user on the copy: got id %d, want past the copied %d", u.ID, f.bob.ID)
	}
	k, _, err := dst.CreateKey(ctx, u.ID, KeyInput{Name: "fresh"}, CLIActor())
	if err != nil {
		t.Fatalf("new key on the copy: %v", err)
	}
	if k.ID <= f.lastSourceKey {
		t.Errorf("new key on the copy: got id %d, want past the copied %d", k.ID, f.lastSourceKey)
	}
	// The copied open alert de-duplicates the same finding on the copy.
	if _, opened, err := dst.RaiseAlert(ctx, AlertFinding{Rule: RuleDeadKey, KeyID: f.revokedID,
		Summary: "A revoked key is still being used"}); err != nil || opened {
		t.Errorf("dead-key alert raised again on the copy: got opened=%v, %v; want the copied open alert updated", opened, err)
	}
	// The copied endpoint's pending retry is claimed on the copy with the
	// secret the source sealed: the seal secret came along.
	f.clock.Advance(time.Hour) // the retry falls due; nothing after this reads the clock
	if ds, err := dst.ClaimDeliveries(ctx, "copy", 100, time.Minute); err != nil {
		t.Errorf("claim on the copy: %v", err)
	} else if got := webhookSecrets(ds); len(got) == 0 || got[0] != f.webhookSecret {
		t.Errorf("webhook deliveries on the copy: got secrets %q, want the source's endpoint secret", got)
	}
}

// webhookSecrets lists the endpoint secrets of the webhook deliveries ds.
func webhookSecrets(ds []Delivery) []string {
	var out []string
	for _, d := range ds {
		if d.Endpoint != nil {
			out = append(out, d.Endpoint.Secret)
		}
	}
	return out
}
