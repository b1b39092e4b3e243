package handlers

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/keyward/keyward/db"
)

// CreateKeyBody is what POST /api/v1/keys takes.
type CreateKeyBody struct {
	Name        string     `json:"name" maxLength:"100" example:"billing service"`
	Description string     `json:"description,omitempty" maxLength:"500"`
	Scopes      []string   `json:"scopes,omitempty" maxItems:"20" example:"[\"invoices:read\"]"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty" doc:"When the key stops working (RFC 3339). Give this or expires_in, or neither for a key that never expires (unless the policy caps key lifetime)."`
	ExpiresIn   string     `json:"expires_in,omitempty" doc:"How long the key lives from now: 30d, 12h." example:"90d"`
	Team        string     `json:"team,omitempty" doc:"Make the key this team's (you must maintain it)." example:"payments"`
	AllowedIPs  []string   `json:"allowed_ips,omitempty" maxItems:"50" doc:"Networks (CIDR) or addresses the key may be presented from."`
	Meta        KeyMeta    `json:"meta,omitempty"`
}

// IdempotencyHeader is the header of creates and rolls.
type IdempotencyHeader struct {
	IdempotencyKey string `header:"Idempotency-Key" doc:"1 to 255 printable ASCII characters naming this request: a retry with the same key and body within 24 hours creates nothing and answers 409 IDEMPOTENCY_REPLAY with key_id; the same key with another body answers 422 IDEMPOTENCY_MISMATCH."`
}

// CreateKeyInput is POST /api/v1/keys.
type CreateKeyInput struct {
	IdempotencyHeader
	Body CreateKeyBody
}

// CreatedKey is a new key with its secret, shown in this answer only.
type CreatedKey struct {
	Key    APIKey `json:"key"`
	Secret string `json:"secret" doc:"The key itself. Store it now: it is never shown again." example:"kw_…"`
}

// CreateKeyOutput answers POST /api/v1/keys.
type CreateKeyOutput struct {
	Body CreatedKey
}

// UpdateKeyBody is PATCH /api/v1/keys/{id}: each field sent is changed,
// the others are left as they are.
type UpdateKeyBody struct {
	Name        *string      `json:"name,omitempty" maxLength:"100"`
	Description *string      `json:"description,omitempty" maxLength:"500"`
	Scopes      *[]string    `json:"scopes,omitempty" maxItems:"20" doc:"The key's scopes, granted and pending together; added ones follow the grant rules."`
	ExpiresAt   OptionalTime `json:"expires_at,omitempty" doc:"A new expiry, or null for none (within the policy's cap counted from the key's creation)."`
	AllowedIPs  *[]string    `json:"allowed_ips,omitempty" maxItems:"50"`
	Meta        *KeyMeta     `json:"meta,omitempty"`
}

// UpdateKeyInput is PATCH /api/v1/keys/{id}.
type UpdateKeyInput struct {
	KeyIDPath
	Body UpdateKeyBody
}

// ReasonBody is the optional body of disable and revoke.
type ReasonBody struct {
	Reason string `json:"reason,omitempty" maxLength:"500" doc:"Why, for the audit log and the key's page."`
}

// KeyReasonInput is a disable or a revoke.
type KeyReasonInput struct {
	KeyIDPath
	Body *ReasonBody
}

// OptionalTime is a time that may be left out, set, or set to null.
type OptionalTime struct {
	Sent  bool
	Value *time.Time
}

// UnmarshalJSON records that the field was sent.
func (o *OptionalTime) UnmarshalJSON(b []byte) error {
	o.Sent = true
	if bytes.Equal(b, []byte("null")) {
		o.Value = nil
		return nil
	}
	var t time.Time
	if err := t.UnmarshalJSON(b); err != nil {
		return err
	}
	o.Value = &t
	return nil
}

// Schema is a nullable date-time.
func (OptionalTime) Schema(huma.Registry) *huma.Schema {
	return &huma.Schema{Type: huma.TypeString, Format: "date-time", Nullable: true}
}

func (h *Handler) registerKeyWrites(api huma.API) {
	op := tokenOp("create-key", http.MethodPost, "/api/v1/keys", "Create a key", db.PermKeysWrite, "Keys")
	op.Description = "Creates a key for you (or for a team you maintain) and returns it once. " +
		"Send an Idempotency-Key so that a retry never makes a second key."
	op.DefaultStatus = http.StatusCreated
	op.Errors = append(op.Errors, http.StatusConflict)
	huma.Register(api, op, h.APIKeyCreate)

	op = tokenOp("update-key", http.MethodPatch, "/api/v1/keys/{id}", "Change a key", db.PermKeysWrite, "Keys")
	op.Description = "Changes the fields sent, in one step: if any is refused, none changes."
	op.Errors = append(op.Errors, http.StatusNotFound, http.StatusConflict)
	huma.Register(api, op, h.APIKeyUpdate)

	op = tokenOp("disable-key", http.MethodPost, "/api/v1/keys/{id}/disable", "Disable a key", db.PermKeysWrite, "Keys")
	op.Description = "The key stops verifying at once, until enabled again."
	op.Errors = append(op.Errors, http.StatusNotFound, http.StatusConflict)
	huma.Register(api, op, h.APIKeyDisable)

	op = tokenOp("enable-key", http.MethodPost, "/api/v1/keys/{id}/enable", "Enable a key", db.PermKeysWrite, "Keys")
	op.Description = "Lifts a disable. A disable made by an admin (or the auto-disable policy) only an admin's token with admin:write lifts."
	op.Errors = append(op.Errors, http.StatusNotFound, http.StatusConflict)
	huma.Register(api, op, h.APIKeyEnable)

	op = tokenOp("revoke-key", http.MethodPost, "/api/v1/keys/{id}/revoke", "Revoke a key", db.PermKeysWrite, "Keys")
	op.Description = "Ends the key for good; the next verification fails."
	op.Errors = append(op.Errors, http.StatusNotFound, http.StatusConflict)
	huma.Register(api, op, h.APIKeyRevoke)
}

// APIKeyCreate is POST /api/v1/keys.
func (h *Handler) APIKeyCreate(ctx context.Context, in *CreateKeyInput) (*CreateKeyOutput, error) {
	c := callerFrom(ctx)
	idem, err := idempotencyOf(in.IdempotencyKey, "create-key", in.Body)
	if err != nil {
		return nil, err
	}
	kin, err := h.createInput(ctx, in.Body)
	if err != nil {
		return nil, err
	}
	var (
		k      db.Key
		secret string
	)
	if idem != nil {
		k, secret, err = h.Store.CreateKeyIdempotent(ctx, c.User.ID, kin, *idem, c.Actor())
	} else {
		k, secret, err = h.Store.CreateKey(ctx, c.User.ID, kin, c.Actor())
	}
	if err != nil {
		return nil, idempotencyError(err)
	}
	return &CreateKeyOutput{Body: CreatedKey{Key: apiKey(k, h.now()), Secret: secret}}, nil
}

// createInput reads the body into db input; db checks the rest (names,
// scopes and grants, the lifetime cap, team maintainers).
func (h *Handler) createInput(ctx context.Context, b CreateKeyBody) (db.KeyInput, error) {
	var ve db.ValidationError
	in := db.KeyInput{Name: b.Name, Description: b.Description, Scopes: b.Scopes, Meta: string(b.Meta)}
	switch {
	case b.ExpiresAt != nil && b.ExpiresIn != "":
		ve.Add("expires_in", "Give expires_at or expires_in, not both.")
	case b.ExpiresAt != nil:
		in.ExpiresAt = b.ExpiresAt
	case b.ExpiresIn != "":
		d, err := parseSpan(b.ExpiresIn)
		if err != nil || d <= 0 {
			ve.Add("expires_in", "Give a positive span such as 30d or 12h.")
			break
		}
		t := h.now().Add(d)
		in.ExpiresAt = &t
	}
	allowed, err := parseAllowedIPs(b.AllowedIPs)
	ve.AddErr(db.FieldAllowedIPs, err)
	in.AllowedIPs = allowed
	if b.Team != "" {
		t, err := h.Store.GetTeamByName(ctx, b.Team)
		switch {
		case errors.Is(err, db.ErrNotFound):
			ve.Add("team", "No team has this name.")
		case err != nil:
			return in, err
		default:
			in.TeamID = t.ID
		}
	}
	return in, ve.Err()
}

// parseAllowedIPs reads an allowlist given as a JSON list.
func parseAllowedIPs(list []string) ([]netip.Prefix, error) {
	for _, e := range list {
		if strings.TrimSpace(e) == "" || strings.ContainsAny(e, ", \t\n") {
			return nil, &db.FieldError{Message: "Give one network or address per item."}
		}
	}
	return db.ParseAllowedIPs(strings.Join(list, ","))
}

// APIKeyUpdate is PATCH /api/v1/keys/{id}.
func (h *Handler) APIKeyUpdate(ctx context.Context, in *UpdateKeyInput) (*KeyOutput, error) {
	c := callerFrom(ctx)
	b := in.Body
	p := db.KeyPatch{Edit: db.KeyEdit{Name: b.Name, Description: b.Description,
		SetExpiry: b.ExpiresAt.Sent, ExpiresAt: b.ExpiresAt.Value}, Scopes: b.Scopes}
	if b.AllowedIPs != nil {
		allowed, err := parseAllowedIPs(*b.AllowedIPs)
		if err != nil {
			var ve db.ValidationError
			ve.AddErr(db.FieldAllowedIPs, err)
			return nil, ve.Err()
		}
		p.AllowedIPs = &allowed
	}
	if b.Meta != nil {
		m := string(*b.Meta)
		p.Meta = &m
	}
	k, err := h.Store.PatchKey(ctx, c.manageAccess(), in.ID, p, c.Actor())
	if err != nil {
		return nil, err
	}
	return &KeyOutput{Body: apiKey(k, h.now())}, nil
}

// APIKeyDisable is POST /api/v1/keys/{id}/disable.
func (h *Handler) APIKeyDisable(ctx context.Context, in *KeyReasonInput) (*KeyOutput, error) {
	c := callerFrom(ctx)
	k, err := h.Store.SetKeyDisabled(ctx, c.manageAccess(), in.ID, true, reasonOf(in.Body), c.Actor())
	if err != nil {
		return nil, err
	}
	return &KeyOutput{Body: apiKey(k, h.now())}, nil
}

// APIKeyEnable is POST /api/v1/keys/{id}/enable.
func (h *Handler) APIKeyEnable(ctx context.Context, in *KeyIDPath) (*KeyOutput, error) {
	c := callerFrom(ctx)
	k, err := h.Store.SetKeyDisabled(ctx, c.manageAccess(), in.ID, false, "", c.Actor())
	if err != nil {
		return nil, err
	}
	return &KeyOutput{Body: apiKey(k, h.now())}, nil
}

// APIKeyRevoke is POST /api/v1/keys/{id}/revoke.
func (h *Handler) APIKeyRevoke(ctx context.Context, in *KeyReasonInput) (*KeyOutput, error) {
	c := callerFrom(ctx)
	k, err := h.Store.RevokeKey(ctx, c.manageAccess(), in.ID, reasonOf(in.Body), c.Actor())
	if err != nil {
		return nil, err
	}
	return &KeyOutput{Body: apiKey(k, h.now())}, nil
}

func reasonOf(b *ReasonBody) string {
	if b == nil {
		return ""
	}
	return b.Reason
}
