package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humaecho"
	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
)

// The management API (/api/v1, everything but verify and forward auth) is
// built with huma: each operation is a typed Go function, and huma derives
// the OpenAPI 3.1 document served at /api/v1/openapi.json from those types,
// so the document is true by construction; tests also hold every response
// to it. Operations are authenticated by management tokens (kwt_) only;
// the permission an operation needs is declared in its security
// requirement, which the middleware below enforces and the document shows.

// Security scheme names in the OpenAPI document.
const (
	// SchemeToken is a management token: "Authorization: Bearer kwt_…".
	SchemeToken = "token"
	// SchemeKey is an API key authenticating itself (POST /keys/self/roll).
	SchemeKey = "key"
)

// Problem is every management API error: RFC 9457 problem details with a
// stable code. huma writes it as application/problem+json.
type Problem struct {
	Title  string `json:"title" doc:"The HTTP status text."`
	Status int    `json:"status" doc:"The HTTP status code."`
	Detail string `json:"detail" doc:"What went wrong, for a person to read."`
	Code   string `json:"code" doc:"A stable code for programs: the same codes the dashboard's forms and the verify API use."`
	// Errors places problems with the input, one per field.
	Errors []ProblemField `json:"errors,omitempty" doc:"Problems with the input, one per field."`
	// KeyID names the key a repeated Idempotency-Key already created.
	KeyID int64 `json:"key_id,omitempty" doc:"For IDEMPOTENCY_REPLAY: the key the first request created."`
}

// ProblemField is one problem with one input.
type ProblemField struct {
	Location string `json:"location" doc:"Where the value was: body.name, query.limit, header.Idempotency-Key." example:"body.name"`
	Message  string `json:"message" doc:"What is wrong with it." example:"Give the key a name."`
}

func (p *Problem) Error() string  { return p.Detail }
func (p *Problem) GetStatus() int { return p.Status }

// ContentType makes huma send problems as application/problem+json.
func (p *Problem) ContentType(string) string { return "application/problem+json" }

// callerKey carries the authenticated caller in a request's context.
type callerKey struct{}

// Caller is who calls the management API: a person through one of their
// tokens, with the token's permissions already cut to the person's role.
type Caller struct {
	User  db.User
	Token db.APIToken
	IP    string
}

// Actor is the caller as the audit log records them.
func (c *Caller) Actor() db.Actor { return db.TokenActor(c.User, c.Token, c.IP) }

// KeyAccess is the set of keys the caller manages.
func (c *Caller) KeyAccess() db.KeyAccess { return db.ManagedBy(c.User.ID) }

// callerFrom returns the caller the middleware authenticated. Operations
// that declare SchemeToken always have one.
func callerFrom(ctx context.Context) *Caller {
	c, _ := ctx.Value(callerKey{}).(*Caller)
	return c
}

// tokenOp starts an operation that needs a management token carrying perm.
// Every operation of the management API is made by tokenOp or keyOp, so
// none can forget its security requirement.
func tokenOp(id, method, path, summary string, perm db.Permission, tags ...string) huma.Operation {
	return huma.Operation{
		OperationID: id,
		Method:      method,
		Path:        path,
		Summary:     summary,
		Tags:        tags,
		Security:    []map[string][]string{{SchemeToken: {string(perm)}}},
		Errors:      []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusUnprocessableEntity, http.StatusTooManyRequests},
	}
}

// OperationPermission is the permission op requires, or "" for one not
// authenticated by a management token.
func OperationPermission(op *huma.Operation) db.Permission {
	for _, req := range op.Security {
		if perms, ok := req[SchemeToken]; ok && len(perms) > 0 {
			return db.Permission(perms[0])
		}
	}
	return ""
}

func usesScheme(op *huma.Operation, scheme string) bool {
	for _, req := range op.Security {
		if _, ok := req[scheme]; ok {
			return true
		}
	}
	return false
}

// apiAuth is the management API's authentication: every operation that
// declares SchemeToken needs "Authorization: Bearer kwt_…" whose token
// carries the declared permission. An API key (kw_) is refused here with
// its own code, as a management token is refused by verify and forward
// auth. Failures answer problem+json through the one error mapping.
func (h *Handler) apiAuth(api huma.API) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		op := ctx.Operation()
		if !usesScheme(op, SchemeToken) {
			next(ctx)
			return
		}
		ip := humaecho.Unwrap(ctx).RealIP()
		fail := func(err error) {
			ctx.SetHeader("WWW-Authenticate", `Bearer realm="keyward"`)
			_ = huma.WriteErr(api, ctx, http.StatusUnauthorized, err.Error(), err)
		}
		secret, ok := bearerToken(ctx.Header("Authorization"))
		switch {
		case !ok:
			fail(&HTTPError{Status: http.StatusUnauthorized, Code: "MISSING_TOKEN",
				Message: `Send a management token: "Authorization: Bearer kwt_…". Create one on your Account page.`})
			return
		case strings.HasPrefix(secret, db.KeyPrefix):
			fail(&HTTPError{Status: http.StatusUnauthorized, Code: "KEY_NOT_ACCEPTED",
				Message: "API keys (kw_…) are checked with POST /api/v1/keys/verify; the management API takes a management token (kwt_…)."})
			return
		}
		tok, user, err := h.Store.AuthenticateAPIToken(ctx.Context(), secret, ip)
		if err != nil {
			fail(tokenError(err))
			return
		}
		if perm := OperationPermission(op); perm != "" && !tok.Has(perm) {
			_ = huma.WriteErr(api, ctx, http.StatusForbidden, "", &HTTPError{Status: http.StatusForbidden, Code: "MISSING_PERMISSION",
				Message: "This token does not carry the " + string(perm) + " permission (or your role no longer holds it)."})
			return
		}
		caller := &Caller{User: user, Token: tok, IP: ip}
		next(huma.WithValue(ctx, callerKey{}, caller))
	}
}

// tokenError gives a refused token its code; other errors pass through.
func tokenError(err error) error {
	code := ""
	switch {
	case errors.Is(err, db.ErrTokenInvalid):
		code = "INVALID_TOKEN"
	case errors.Is(err, db.ErrTokenExpired):
		code = "TOKEN_EXPIRED"
	case errors.Is(err, db.ErrTokenRevoked):
		code = "TOKEN_REVOKED"
	case errors.Is(err, db.ErrTokenDisabled):
		code = "OWNER_DISABLED"
	default:
		return err
	}
	var de *db.Error
	errors.As(err, &de)
	return &HTTPError{Status: http.StatusUnauthorized, Code: code, Message: de.Message}
}

// bearerToken reads "Bearer X" (the scheme in any case).
func bearerToken(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// RegisterManagementAPI adds the management API's middleware and
// operations to api. Each area registers its operations in its own file.
func (h *Handler) RegisterManagementAPI(api huma.API) {
	// Every operation added from here on declares the rate limit fields.
	api.OpenAPI().OnAddOperation = append(api.OpenAPI().OnAddOperation, declareRateLimitFields)
	// Order matters: the address throttle counts apiAuth's refusals, and
	// the rate limit and read audit need the caller apiAuth found.
	api.UseMiddleware(h.apiAuthThrottle(api))
	api.UseMiddleware(h.apiAuth(api))
	api.UseMiddleware(h.apiRateLimit(api), h.apiReadAudit)
	h.registerMe(api)
	h.registerKeys(api)
	h.registerUsers(api)
	h.registerAudit(api)
	h.registerScopes(api)
	h.registerTeams(api)
	h.registerTokens(api)
	documentReportLeak(api)
}

// WriteProblem writes p as application/problem+json, for the error handler
// in package web answering management API paths huma never saw (an
// unknown route, a body over the limit).
func WriteProblem(c echo.Context, p *Problem) error {
	c.Response().Header().Set(echo.HeaderContentType, "application/problem+json")
	c.Response().WriteHeader(p.Status)
	return json.NewEncoder(c.Response()).Encode(p)
}
