package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humaecho"

	"github.com/keyward/keyward/db"
)

// Rolling through the API, and a key rolling itself. The grace a roll
// takes is any span from none to db.MaxRollGrace (7 days), and no longer
// than the policy's maximum key lifetime where one is set: a roll exists
// to retire a key, so its grace is bounded by the same rules as a key's
// life, and it never extends the old key past its own expiry (db.RollKey).

// RollBody is what a roll takes.
type RollBody struct {
	Grace string `json:"grace" doc:"How long the old key keeps working: 0s (it stops now), 1h, 24h, 7d, or any span up to 7d (and within the policy's maximum key lifetime)." example:"1h"`
}

// RollKeyInput is POST /api/v1/keys/{id}/roll.
type RollKeyInput struct {
	KeyIDPath
	IdempotencyHeader
	Body RollBody
}

// RollSelfInput is POST /api/v1/keys/self/roll.
type RollSelfInput struct {
	IdempotencyHeader
	Body RollBody
}

// RolledKey is the successor, with its secret (shown once), and the key
// it replaces as it now is.
type RolledKey struct {
	Key      APIKey `json:"key"`
	Secret   string `json:"secret" doc:"The new key. Store it now: it is never shown again."`
	Previous APIKey `json:"previous" doc:"The rolled key, now expiring at the end of the grace."`
}

// RollOutput answers a roll.
type RollOutput struct {
	Body RolledKey
}

func (h *Handler) registerKeyRolls(api huma.API) {
	op := tokenOp("roll-key", http.MethodPost, "/api/v1/keys/{id}/roll", "Roll a key", db.PermKeysWrite, "Keys")
	op.Description = "Replaces a key of yours with a new one (same name, scopes, limits and lifetime length); " +
		"the old one keeps working for the grace, then expires. Only the key's owner (or a maintainer of its team) rolls it."
	op.DefaultStatus = http.StatusCreated
	op.Errors = append(op.Errors, http.StatusNotFound, http.StatusConflict)
	huma.Register(api, op, h.APIKeyRoll)

	op = huma.Operation{
		OperationID: "roll-self", Method: http.MethodPost, Path: "/api/v1/keys/self/roll",
		Summary: "A key rolls itself", Tags: []string{"Keys"},
		Description: "Authenticated by the API key being rolled (Authorization: Bearer kw_…), so a service can rotate " +
			"its own key on a schedule with no person and no management token. Answers the successor once; the " +
			"calling key keeps working for the grace.",
		Security:      []map[string][]string{{SchemeKey: {}}},
		DefaultStatus: http.StatusCreated,
		Errors: []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusConflict,
			http.StatusUnprocessableEntity, http.StatusTooManyRequests},
		Middlewares: huma.Middlewares{h.keyAuth(api)},
	}
	huma.Register(api, op, h.APIKeyRollSelf)
}

// APIKeyRoll is POST /api/v1/keys/{id}/roll.
func (h *Handler) APIKeyRoll(ctx context.Context, in *RollKeyInput) (*RollOutput, error) {
	c := callerFrom(ctx)
	grace, idem, err := rollRequest(in.IdempotencyKey, "roll-key", in.ID, in.Body)
	if err != nil {
		return nil, err
	}
	nk, secret, old, err := h.Store.RollKeyIdempotent(ctx, c.User.ID, in.ID, grace, idem, c.Actor())
	if errors.Is(err, db.ErrNotFound) && c.Token.Has(db.PermAdminRead) {
		// An admin sees every key, so saying why is no leak.
		if _, gerr := h.Store.GetKey(ctx, db.AnyOwner(), in.ID); gerr == nil {
			return nil, &HTTPError{Status: http.StatusForbidden, Code: "OWNER_ONLY",
				Message: "Only the owner of a key can roll it: the new key would be theirs. Disable or revoke it instead."}
		}
	}
	if err != nil {
		return nil, idempotencyError(err)
	}
	now := h.now()
	return &RollOutput{Body: RolledKey{Key: apiKey(nk, now), Secret: secret, Previous: apiKey(old, now)}}, nil
}

// selfKey carries the key keyAuth verified.
type selfKey struct{}

// APIKeyRollSelf is POST /api/v1/keys/self/roll.
func (h *Handler) APIKeyRollSelf(ctx context.Context, in *RollSelfInput) (*RollOutput, error) {
	v, _ := ctx.Value(selfKey{}).(db.VerifyResult)
	ip, _ := ctx.Value(selfIP{}).(string)
	grace, idem, err := rollRequest(in.IdempotencyKey, "roll-self", v.KeyID, in.Body)
	if err != nil {
		return nil, err
	}
	actor := db.KeyActor(v.KeyID, v.Name)
	actor.IP = ip
	nk, secret, old, err := h.Store.RollKeyItself(ctx, v.KeyID, grace, idem, actor)
	if err != nil {
		return nil, idempotencyError(err)
	}
	now := h.now()
	return &RollOutput{Body: RolledKey{Key: apiKey(nk, now), Secret: secret, Previous: apiKey(old, now)}}, nil
}

// selfIP carries the client address keyAuth saw.
type selfIP struct{}

// keyAuth authenticates roll-self by the key being rolled: it must verify
// (from this address: the key's allowlist applies), and each refusal has
// its code. Unknown keys count as failed guesses for the per-address
// throttle that guards verification.
func (h *Handler) keyAuth(api huma.API) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		ec := humaecho.Unwrap(ctx)
		ip := ec.RealIP()
		fail := func(status int, code, msg string) {
			if status == http.StatusUnauthorized {
				ctx.SetHeader("WWW-Authenticate", `Bearer realm="keyward"`)
			}
			_ = huma.WriteErr(api, ctx, status, msg, &HTTPError{Status: status, Code: code, Message: msg})
		}
		if wait := h.verifyThrottle.Wait(ip); wait > 0 {
			err := TooManyRequests(wait, "Too many unknown keys from this address. Wait a moment and try again.")
			_ = huma.WriteErr(api, ctx, http.StatusTooManyRequests, err.Error(), err)
			return
		}
		secret, ok := bearerToken(ctx.Header("Authorization"))
		switch {
		case !ok:
			fail(http.StatusUnauthorized, "MISSING_KEY", `Send the key to roll: "Authorization: Bearer kw_…".`)
			return
		case strings.HasPrefix(secret, db.APITokenPrefix):
			fail(http.StatusUnauthorized, "TOKEN_NOT_ACCEPTED", "A key rolls itself with its own secret (kw_…); a management token rolls keys with POST /api/v1/keys/{id}/roll.")
			return
		}
		res, err := h.Verifier.Verify(ctx.Context(), db.VerifyRequest{Key: secret, IP: ip, UserAgent: ec.Request().UserAgent(), ClientIP: ip})
		if err != nil {
			_ = huma.WriteErr(api, ctx, http.StatusInternalServerError, "", err)
			return
		}
		if !res.Valid {
			status, code, msg := selfRollRefusal(res.Code)
			if res.Code == db.CodeMalformed || res.Code == db.CodeNotFound {
				h.verifyThrottle.Failure(ip)
			}
			fail(status, code, msg)
			return
		}
		next(huma.WithValue(huma.WithValue(ctx, selfKey{}, res), selfIP{}, ip))
	}
}

// selfRollRefusal is the answer to a key that does not verify.
func selfRollRefusal(code db.VerifyCode) (int, string, string) {
	switch code {
	case db.CodeRevoked:
		return http.StatusUnauthorized, "KEY_REVOKED", "This key was revoked."
	case db.CodeDisabled:
		return http.StatusUnauthorized, "KEY_DISABLED", "This key (or its owner) is disabled."
	case db.CodeExpired:
		return http.StatusUnauthorized, "KEY_EXPIRED", "This key has expired; its owner must create a new one."
	case db.CodePendingApproval:
		return http.StatusUnauthorized, "KEY_PENDING_APPROVAL", "This key waits for an admin's approval."
	case db.CodeIPNotAllowed:
		return http.StatusForbidden, "IP_NOT_ALLOWED", "This key may not be used from this address."
	}
	return http.StatusUnauthorized, "INVALID_KEY", "The key is not valid."
}

// rollRequest reads a roll's grace and Idempotency-Key; the key rolled is
// part of the request an Idempotency-Key names.
func rollRequest(header, op string, keyID int64, b RollBody) (time.Duration, *db.Idempotency, error) {
	grace, err := parseSpan(b.Grace)
	if err != nil || grace < 0 {
		var ve db.ValidationError
		ve.Add("grace", "Give a span such as 0s, 1h, 24h or 7d.")
		return 0, nil, ve.Err()
	}
	idem, err := idempotencyOf(header, op, struct {
		KeyID int64         `json:"key_id"`
		Grace time.Duration `json:"grace"`
	}{keyID, grace})
	return grace, idem, err
}

// idempotencyOf checks an Idempotency-Key header and names the request by
// the SHA-256 of its canonical JSON (the decoded body re-encoded, so
// spacing and key order of the client's JSON do not matter; meta is
// compacted). No header: nil.
func idempotencyOf(header, op string, body any) (*db.Idempotency, error) {
	if header == "" {
		return nil, nil
	}
	if err := db.CheckIdempotencyKey(header); err != nil {
		return nil, &HTTPError{Status: http.StatusBadRequest, Code: "INVALID_IDEMPOTENCY_KEY", Message: err.Error()}
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("handlers: idempotency: %w", err)
	}
	sum := sha256.Sum256(raw)
	return &db.Idempotency{Key: header, Operation: op, Request: sum[:]}, nil
}

// idempotencyError gives a repeated Idempotency-Key its status and code;
// other errors pass through.
func idempotencyError(err error) error {
	if replay, ok := errors.AsType[*db.IdempotencyReplayError](err); ok {
		return &replayError{
			HTTPError: &HTTPError{Status: http.StatusConflict, Code: "IDEMPOTENCY_REPLAY", Message: replay.Error()},
			created:   &replay.AlreadyCreatedError,
		}
	}
	if errors.Is(err, db.ErrIdempotencyMismatch) {
		var de *db.Error
		errors.As(err, &de)
		return &HTTPError{Status: http.StatusUnprocessableEntity, Code: "IDEMPOTENCY_MISMATCH", Message: de.Message}
	}
	return err
}

// replayError is the 409 of a replay, which also names the key made (the
// error mapping reads key_id from the *db.AlreadyCreatedError).
type replayError struct {
	*HTTPError
	created *db.AlreadyCreatedError
}

func (e *replayError) Unwrap() []error { return []error{e.HTTPError, e.created} }
