package handlers

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
)

// GitHub's secret scanning partner programme: GitHub finds kw_ keys pushed
// to public repositories and POSTs them here, signed with one of its
// published ECDSA P-256 keys (an admin pastes them on the settings page;
// Keyward fetches nothing). Each reported key is acted on as a leak report
// (revoked or disabled) and labelled in GitHub's format.

// Headers GitHub signs its requests with.
const (
	HeaderGitHubKeyID     = "Github-Public-Key-Identifier"
	HeaderGitHubSignature = "Github-Public-Key-Signature"
)

// maxScanningBody bounds one request from GitHub. GitHub batches the
// matches it found; a batch of maxScanningTokens matches with long URLs
// stays far below it.
const maxScanningBody = 256 << 10

// maxScanningTokens caps the matches one request may carry: each is a
// write transaction, and a request holds its connection until all are done.
const maxScanningTokens = 100

// githubMatch is one match in GitHub's request body.
type githubMatch struct {
	Token  string `json:"token"`
	Type   string `json:"type"`
	URL    string `json:"url"`
	Source string `json:"source"`
}

// githubLabel is GitHub's feedback format for one match.
type githubLabel struct {
	TokenRaw  string `json:"token_raw"`
	TokenType string `json:"token_type"`
	Label     string `json:"label"`
}

// GitHub's labels.
const (
	labelTruePositive  = "true_positive"
	labelFalsePositive = "false_positive"
)

// errBadSignature answers every request whose signature does not verify,
// whatever the reason: which check failed is no business of the sender's.
var errBadSignature = &HTTPError{Status: http.StatusUnauthorized, Code: "INVALID_SIGNATURE",
	Message: "The request is not signed by a GitHub secret scanning key this server trusts."}

// APIGitHubSecretScanning is POST /api/v1/secret-scanning/github: GitHub's
// signed list of matches -> 200 with a label per match (true_positive for a
// key that exists, which is now revoked or disabled; false_positive for
// anything else). A missing or bad signature, an unknown key identifier or
// no keys configured: 401 INVALID_SIGNATURE, nothing changed. Refusals are
// not audited (an unauthenticated sender could fill the audit log); they
// are logged without the body, and each one spends the sender's address
// allowance for leak reports, so a flood of forgeries is cut off with 429.
func (h *Handler) APIGitHubSecretScanning(c echo.Context) error {
	ip := c.RealIP()
	if wait := h.leakThrottle.Wait(ip); wait > 0 {
		return TooManyRequests(wait, "Too many refused requests from this address. Wait a moment and try again.")
	}
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, maxScanningBody+1))
	if err != nil {
		return BadRequest("BAD_BODY", "The request body could not be read.")
	}
	if len(body) > maxScanningBody {
		return &HTTPError{Status: http.StatusRequestEntityTooLarge, Code: "BODY_TOO_LARGE",
			Message: fmt.Sprintf("The request body is larger than %d KiB.", maxScanningBody>>10)}
	}
	_, keys, err := h.Store.GitHubScanningKeys(ctx(c))
	if err != nil {
		return err
	}
	hdr := c.Request().Header
	if err := db.VerifyGitHubSignature(keys, hdr.Get(HeaderGitHubKeyID), hdr.Get(HeaderGitHubSignature), body); err != nil {
		h.leakThrottle.Failure(ip)
		h.Logger.LogAttrs(ctx(c), slog.LevelWarn, "secret scanning request refused",
			slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
			slog.String("ip", ip), slog.Int("keys_configured", len(keys)), slog.String("reason", err.Error()))
		return errBadSignature
	}
	var matches []githubMatch
	if err := jsonv2.Unmarshal(body, &matches); err != nil {
		return BadRequest("INVALID_JSON", `The body is not a JSON array of {"token", "type", "url", "source"}.`)
	}
	if len(matches) > maxScanningTokens {
		return &HTTPError{Status: http.StatusRequestEntityTooLarge, Code: "TOO_MANY_TOKENS",
			Message: fmt.Sprintf("At most %d tokens per request.", maxScanningTokens)}
	}
	labels := make([]githubLabel, 0, len(matches))
	for _, m := range matches {
		out, err := h.Store.ReportLeak(ctx(c), db.LeakReport{Key: m.Token, URL: m.URL, Source: db.LeakSourceGitHub,
			FoundIn: m.Source, IP: ip})
		if err != nil {
			return err
		}
		label := labelFalsePositive
		if out.Known {
			label = labelTruePositive
		}
		labels = append(labels, githubLabel{TokenRaw: m.Token, TokenType: m.Type, Label: label})
	}
	return writeJSON(c, http.StatusOK, labels)
}
