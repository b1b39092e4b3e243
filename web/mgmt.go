package web

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humaecho"
	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/handlers"
)

// OpenAPIPath is where the management API's document is served, as
// OpenAPI 3.1 (.json and .yaml) and downgraded to 3.0 (-3.0.json) for
// tools that do not read 3.1 yet.
const OpenAPIPath = "/api/v1/openapi"

// newManagementAPI mounts the management API on e: huma builds the routes
// and the OpenAPI document from package handlers' operations. huma's own
// docs page (which loads a renderer from a CDN) and its $schema links are
// left out; the dashboard serves a vendored renderer instead.
func (s *Server) newManagementAPI(e *echo.Echo) huma.API {
	installProblems()
	registry := huma.NewMapRegistry("#/components/schemas/", huma.DefaultSchemaNamer)
	cfg := huma.Config{
		OpenAPI: &huma.OpenAPI{
			OpenAPI: "3.1.0",
			Info: &huma.Info{
				Title:   "Keyward management API",
				Version: s.cfg.Version,
				Description: "Everything the Keyward dashboard does, for scripts. Authenticate with a management " +
					"token (kwt_…) created on your Account page: `Authorization: Bearer kwt_…`. " +
					"Errors are RFC 9457 problem details with a stable `code`.",
			},
			Servers: []*huma.Server{{URL: s.cfg.BaseURL}},
			Components: &huma.Components{
				Schemas: registry,
				SecuritySchemes: map[string]*huma.SecurityScheme{
					handlers.SchemeToken: {Type: "http", Scheme: "bearer", BearerFormat: "kwt_ management token",
						Description: "A management token. The permission each operation needs is listed in its security requirement."},
					handlers.SchemeKey: { // #nosec G101 -- describes a bearer scheme, holds no credential
						Type: "http", Scheme: "bearer", BearerFormat: "kw_ API key",
						Description: "The API key the operation acts on, authenticating itself."},
				},
			},
		},
		OpenAPIPath:   OpenAPIPath,
		Formats:       map[string]huma.Format{"application/json": huma.DefaultJSONFormat, "json": huma.DefaultJSONFormat},
		DefaultFormat: "application/json",
		// A misspelt filter must not silently list everything.
		RejectUnknownQueryParameters: true,
	}
	api := humaecho.New(e, cfg)
	api.UseMiddleware(s.withProblemLogger)
	s.h.RegisterManagementAPI(api)
	return api
}

// problemLoggerKey carries the server's logger into huma's error
// constructor, which huma calls without the server.
type problemLoggerKey struct{}

// withProblemLogger is the first huma middleware: it puts the logger in
// the operation's context for problemFor. (Only management API requests
// pay for it; verification never passes here.)
func (s *Server) withProblemLogger(ctx huma.Context, next func(huma.Context)) {
	next(huma.WithValue(ctx, problemLoggerKey{}, s.cfg.Logger))
}

var installProblemsOnce sync.Once

// installProblems makes huma build every error as a handlers.Problem
// through classify, the one mapping of errors to HTTP. huma offers this
// only as package variables, so it is set once per process; the function
// set keeps no state.
func installProblems() {
	installProblemsOnce.Do(func() {
		huma.NewError = func(status int, msg string, errs ...error) huma.StatusError {
			return problemFor(nil, status, msg, errs...)
		}
		huma.NewErrorWithContext = problemFor
	})
}

// problemFor turns what huma reports (a handler's error with status 500,
// a validation failure, a refusal by the middleware) into a Problem.
func problemFor(hctx huma.Context, status int, msg string, errs ...error) huma.StatusError {
	// One error that is not huma's own detail: a handler's or the
	// middleware's, mapped by classify.
	if len(errs) == 1 && errs[0] != nil {
		if _, isDetail := errs[0].(huma.ErrorDetailer); !isDetail {
			return classifiedProblem(hctx, errs[0])
		}
	}
	p := &handlers.Problem{Status: status, Title: http.StatusText(status), Detail: msg}
	switch status {
	case http.StatusUnprocessableEntity:
		p.Code = "VALIDATION_FAILED"
	default:
		p.Code, _, _ = statusTextFor(status)
	}
	if status == 0 { // huma's example error, for the document's schema
		p.Code = ""
	}
	for _, err := range errs {
		if err == nil {
			continue
		}
		f := handlers.ProblemField{Message: err.Error()}
		if d, ok := err.(huma.ErrorDetailer); ok {
			det := d.ErrorDetail()
			f = handlers.ProblemField{Location: det.Location, Message: det.Message}
		}
		p.Errors = append(p.Errors, f)
	}
	if p.Detail == "" && len(p.Errors) > 0 {
		p.Detail = p.Errors[0].Message
	}
	return p
}

// classifiedProblem maps err with classify, logs it when it is a server
// error, and sets Retry-After where the problem calls for one.
func classifiedProblem(hctx huma.Context, err error) *handlers.Problem {
	cp := classify(err)
	p := &handlers.Problem{Status: cp.status, Title: http.StatusText(cp.status), Detail: cp.message, Code: cp.code}
	if ac, ok := errors.AsType[*db.AlreadyCreatedError](err); ok {
		p.KeyID = ac.KeyID
	}
	fields := db.FieldErrors(err)
	for _, field := range slices.Sorted(maps.Keys(fields)) {
		p.Errors = append(p.Errors, handlers.ProblemField{Location: "body." + field, Message: fields[field]})
	}
	if hctx == nil {
		return p
	}
	if cp.retryAfter > 0 {
		hctx.SetHeader("Retry-After", strconv.Itoa(int(math.Ceil(cp.retryAfter.Seconds()))))
	}
	if cp.status >= 500 && !errors.Is(err, context.Canceled) {
		ctx := hctx.Context()
		if logger, ok := ctx.Value(problemLoggerKey{}).(*slog.Logger); ok {
			op := hctx.Operation()
			logger.LogAttrs(ctx, slog.LevelError, "request failed",
				slog.String("request_id", humaecho.Unwrap(hctx).Response().Header().Get(echo.HeaderXRequestID)),
				slog.String("method", op.Method), slog.String("route", op.Path),
				slog.String("error", err.Error()))
		}
	}
	return p
}
