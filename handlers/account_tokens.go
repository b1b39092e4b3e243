package handlers

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// The Account page's management tokens: a person makes tokens for their
// scripts here (the API itself never makes one), sees them once, and
// revokes them. The token's plaintext exists only in the response to the
// create, like a key's.

// tokenExpiryChoices are the create form's lifetimes in days, capped by
// db.MaxTokenLifetime (a year).
var tokenExpiryChoices = []views.ExpiryChoice{
	{Value: "7", Label: "7 days"}, {Value: "30", Label: "30 days"}, {Value: "90", Label: "90 days"},
	{Value: "365", Label: "1 year"}, {Value: "custom", Label: "Custom date…"},
	{Value: "never", Label: "No expiry (not recommended)"},
}

const defaultTokenExpiry = "90"

// tokensCard builds the card for the signed-in person, with form as the
// create form (its choices filled in here).
func (h *Handler) tokensCard(c echo.Context, form views.TokenForm) (views.TokensCard, error) {
	u := currentUser(c)
	list, err := h.Store.ListAPITokens(ctx(c), u.ID)
	if err != nil {
		return views.TokensCard{}, err
	}
	now := h.now()
	card := views.TokensCard{Now: now, Form: form}
	allowed := db.RolePermissions(u.Role)
	for _, t := range list {
		// What the token may do now: a demoted person's tokens lost the rest.
		perms := []string{}
		for _, p := range t.Permissions {
			if slices.Contains(allowed, p) {
				perms = append(perms, string(p))
			}
		}
		card.Tokens = append(card.Tokens, views.TokenRow{ID: t.ID, Name: t.Name, Hint: t.Hint, Permissions: perms,
			CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt, LastUsedIP: t.LastUsedIP,
			Status: t.Status(now)})
	}
	f := &card.Form
	f.ExpiryChoices = tokenExpiryChoices
	if f.Expiry == "" {
		f.Expiry = defaultTokenExpiry
	}
	f.MinDate = now.AddDate(0, 0, 1).Format(time.DateOnly)
	f.MaxDate = now.Add(db.MaxTokenLifetime).Add(-24 * time.Hour).Format(time.DateOnly)
	// A fresh form offers the least power ticked; a submitted one keeps
	// what was ticked.
	checked := map[string]bool{string(db.PermKeysRead): true}
	if f.Permissions != nil {
		checked = map[string]bool{}
	}
	for _, p := range f.Permissions {
		checked[p.Value] = p.Checked
	}
	f.Permissions = nil
	for _, p := range allowed {
		f.Permissions = append(f.Permissions, views.PermissionChoice{Value: string(p), Label: p.Label(), Checked: checked[string(p)]})
	}
	return card, nil
}

// AccountTokenCreate is POST /account/tokens. htmx gets the card (the
// show-once panel on top, or the form with its errors); without JavaScript
// the same comes inside the whole page. Never a redirect on success: the
// token would have to travel in a cookie or URL to survive one.
func (h *Handler) AccountTokenCreate(c echo.Context) error {
	u := currentUser(c)
	form := views.TokenForm{
		Name:       c.FormValue("name"),
		Expiry:     c.FormValue("expiry"),
		ExpiryDate: strings.TrimSpace(c.FormValue("expiry_date")),
	}
	names := formValues(c, "permissions")
	// Not nil: a submitted form keeps exactly its own ticks.
	form.Permissions = []views.PermissionChoice{}
	for _, n := range names {
		form.Permissions = append(form.Permissions, views.PermissionChoice{Value: n, Checked: true})
	}
	in, ve := h.parseTokenForm(form, names)
	var (
		tok    db.APIToken
		secret string
		err    = ve.Err()
	)
	if err != nil {
		// Show the name's problems too, not only the form's.
		for k, v := range db.CheckAPITokenInput(in, u.Role, h.now()) {
			if _, dup := ve.Fields[k]; !dup && k != "expires" {
				ve.Add(k, v)
			}
		}
		err = ve.Err()
	} else {
		tok, secret, err = h.Store.CreateAPIToken(ctx(c), u.ID, in, actor(c))
	}
	if fe := db.FieldErrors(err); fe != nil {
		form.Errors = views.FieldErrors{}
		for k, v := range fe {
			if k == "expires" {
				k = "expiry"
			}
			form.Errors[k] = v
		}
		return h.renderTokens(c, form, nil, http.StatusUnprocessableEntity)
	}
	if err != nil {
		return err
	}
	meURL := strings.TrimRight(h.BaseURL, "/") + "/api/v1/me"
	reveal := &views.TokenReveal{Name: tok.Name, Token: secret, Permissions: permNames(tok.Permissions),
		ExpiresAt: tok.ExpiresAt, MeURL: meURL, Now: h.now(),
		Curl: "curl -sS " + meURL + " \\\n  -H 'Authorization: Bearer " + secret + "'"}
	return h.renderTokens(c, views.TokenForm{}, reveal, http.StatusOK)
}

// renderTokens answers a create: the card for htmx (always 200, since
// htmx swaps only successes), else the whole page with status.
func (h *Handler) renderTokens(c echo.Context, form views.TokenForm, reveal *views.TokenReveal, status int) error {
	card, err := h.tokensCard(c, form)
	if err != nil {
		return err
	}
	card.Reveal = reveal
	if isHTMX(c) {
		return render(c, http.StatusOK, views.AccountTokens(card, csrfToken(c)))
	}
	m, err := h.accountPage(c)
	if err != nil {
		return err
	}
	m.Tokens = card
	return render(c, status, views.Account(m))
}

// parseTokenForm reads the form into db input; db checks the rules again
// (the role's permissions, the year's cap) and has the last word.
func (h *Handler) parseTokenForm(f views.TokenForm, names []string) (db.APITokenInput, *db.ValidationError) {
	ve := &db.ValidationError{}
	in := db.APITokenInput{Name: f.Name}
	perms, err := db.ParsePermissions(names)
	ve.AddErr("permissions", err)
	in.Permissions = perms
	now := h.now()
	switch f.Expiry {
	case "never":
	case "custom":
		d, err := time.Parse(time.DateOnly, f.ExpiryDate)
		switch {
		case f.ExpiryDate == "":
			ve.Add("expiry_date", "Pick the date the token should expire.")
		case err != nil:
			ve.Add("expiry_date", "Enter a date as YYYY-MM-DD.")
		case !d.After(now):
			ve.Add("expiry_date", "The expiry date must be in the future.")
		case d.Sub(now) > db.MaxTokenLifetime:
			ve.Add("expiry_date", "A token can live for at most a year.")
		default:
			t := d.Add(24*time.Hour - time.Second).UTC()
			if t.Sub(now) > db.MaxTokenLifetime {
				t = now.Add(db.MaxTokenLifetime)
			}
			in.ExpiresAt = &t
		}
	default:
		days, err := strconv.Atoi(f.Expiry)
		if err != nil || !slices.ContainsFunc(tokenExpiryChoices, func(e views.ExpiryChoice) bool { return e.Value == f.Expiry }) {
			ve.Add("expiry", "Choose when the token expires.")
			break
		}
		t := now.AddDate(0, 0, days)
		in.ExpiresAt = &t
	}
	return in, ve
}

// AccountTokenRevoke is POST /account/tokens/{id}/revoke: one of the
// person's own tokens (scoped by user in SQL: another's id is 404).
func (h *Handler) AccountTokenRevoke(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return db.ErrNotFound
	}
	t, err := h.Store.RevokeAPIToken(ctx(c), currentUser(c).ID, id, actor(c))
	if err != nil {
		return err
	}
	h.flash(c, "success", "The token “"+t.Name+"” was revoked. Scripts using it are refused from their next call.")
	return redirect(c, "/account#tokens")
}

// formValues returns every value of a repeated form field.
func formValues(c echo.Context, name string) []string {
	f, err := c.FormParams()
	if err != nil {
		return nil
	}
	return f[name]
}

func permNames(ps []db.Permission) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = string(p)
	}
	return out
}
