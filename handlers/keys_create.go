package handlers

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// expiryChoices are the create form's lifetimes, in days ("" = custom/never).
var expiryChoices = []views.ExpiryChoice{
	{Value: "7", Label: "7 days"}, {Value: "30", Label: "30 days"}, {Value: "60", Label: "60 days"},
	{Value: "90", Label: "90 days"}, {Value: "365", Label: "1 year"},
	{Value: "custom", Label: "Custom date…"}, {Value: "never", Label: "No expiration"},
}

const defaultExpiry = "90"

// keyForm is an empty create form. With a maximum key lifetime set by an
// admin, only the expiries within it are offered and "No expiration" goes.
// Each form gets a fresh one-time token (db.CreateKeyOnce), so that
// submitting it again cannot create a second key.
func (h *Handler) keyForm(c echo.Context) (views.KeyForm, error) {
	p, err := h.Store.Policy(ctx(c))
	if err != nil {
		return views.KeyForm{}, err
	}
	picker, err := h.scopePicker(c, nil, nil, nil)
	if err != nil {
		return views.KeyForm{}, err
	}
	f := views.KeyForm{
		Picker:        picker,
		Expiry:        defaultExpiry,
		ExpiryChoices: allowedExpiries(p.MaxKeyLifetime),
		MinDate:       h.now().AddDate(0, 0, 1).Format(time.DateOnly),
		// 26 characters, 130 random bits: no two forms share one.
		FormToken: rand.Text(),
	}
	if !slices.ContainsFunc(f.ExpiryChoices, func(e views.ExpiryChoice) bool { return e.Value == defaultExpiry }) {
		f.Expiry = f.ExpiryChoices[0].Value
	}
	if f.OwnerTeams, err = h.maintainedTeams(c); err != nil {
		return views.KeyForm{}, err
	}
	return f, nil
}

// allowedExpiries filters the expiry choices by the policy's cap (0: none).
func allowedExpiries(maxLife time.Duration) []views.ExpiryChoice {
	if maxLife <= 0 {
		return expiryChoices
	}
	var out []views.ExpiryChoice
	for _, e := range expiryChoices {
		days, err := strconv.Atoi(e.Value)
		switch {
		case e.Value == "never":
		case err != nil: // custom date: the date field's max is the cap
			out = append(out, e)
		case time.Duration(days)*24*time.Hour <= maxLife:
			out = append(out, e)
		}
	}
	return out
}

// KeysNew is GET /keys/new: the create form on its own page.
func (h *Handler) KeysNew(c echo.Context) error {
	f, err := h.keyForm(c)
	if err != nil {
		return err
	}
	// "New team key" on a team's page preselects the team.
	if id, ok := strings.CutPrefix(c.QueryParam("owner"), "team:"); ok {
		f.Owner = id
	}
	return render(c, http.StatusOK, views.KeysNew(views.NewKeyPage{
		Layout: h.layout(c, "Create an API key", "keys"), Form: f,
	}))
}

// KeysCreate is POST /keys. htmx gets a partial (the form with errors, or
// the show-once panel) swapped in place; without JavaScript the same answers
// come as full pages. The plaintext key exists only in this response: not in
// a cookie, flash, URL, log or the database. The same form submitted again
// (a reload of the show-once page, Back and resubmit) gets a page that
// links to the key it made, never a second key nor the secret again.
func (h *Handler) KeysCreate(c echo.Context) error {
	a := currentUser(c)
	form, err := h.keyForm(c)
	if err != nil {
		return err
	}
	freshToken := form.FormToken
	form.Name = c.FormValue("name")
	form.Description = c.FormValue("description")
	form.Expiry = c.FormValue("expiry")
	form.ExpiryDate = strings.TrimSpace(c.FormValue("expiry_date"))
	rawScopes := formScopes(c)
	form.FormToken = c.FormValue("form_token")
	form.AllowedIPs = c.FormValue("allowed_ips")
	form.Meta = c.FormValue("meta")
	form.Owner = c.FormValue("owner")

	in, ve := h.parseKeyForm(form, rawScopes)
	var (
		key    db.Key
		secret string
	)
	if err = ve.Err(); err != nil {
		// Show the name and description problems too, not only the first.
		for k, v := range db.CheckKeyInput(in, h.now()) {
			if k != "expires_at" {
				ve.Add(k, v)
			}
		}
	} else {
		key, secret, err = h.Store.CreateKeyOnce(ctx(c), a.ID, in, form.FormToken, actor(c))
	}
	if ac, ok := errors.AsType[*db.AlreadyCreatedError](err); ok {
		return h.keyAlreadyCreated(c, ac)
	}
	if fe := db.FieldErrors(err); fe != nil {
		form.Errors = keyFormErrors(fe)
		// The choices come back checked, whatever was refused.
		if form.Picker, err = h.scopePicker(c, rawScopeList(rawScopes), nil, nil); err != nil {
			return err
		}
		if form.Errors["form_token"] != "" {
			// Nothing was created with it; a token of ours replaces it.
			form.FormToken = freshToken
		}
		if isHTMX(c) {
			// htmx swaps only 2xx responses by default.
			return render(c, http.StatusOK, views.KeyCreateForm(form, csrfToken(c), true))
		}
		return render(c, http.StatusUnprocessableEntity, views.KeysNew(views.NewKeyPage{
			Layout: h.layout(c, "Create an API key", "keys"), Form: form,
		}))
	}
	if err != nil {
		return err
	}
	reveal := h.reveal(key, secret)
	if isHTMX(c) {
		return render(c, http.StatusOK, views.KeyRevealPanel(reveal))
	}
	return render(c, http.StatusOK, views.KeyCreated(views.KeyCreatedPage{
		Layout: h.layout(c, "Your new API key", "keys"), Reveal: reveal,
	}))
}

// keyAlreadyCreated answers a create form submitted again: the key exists
// and its secret was shown once, so the page says so and links to the key.
// 409 for the page (the POST did not create anything); htmx gets the panel
// with 200, since it swaps only 2xx answers.
func (h *Handler) keyAlreadyCreated(c echo.Context, ac *db.AlreadyCreatedError) error {
	m := views.KeyAlreadyCreated{ID: ac.KeyID, Name: ac.KeyName}
	if isHTMX(c) {
		return render(c, http.StatusOK, views.KeyAlreadyCreatedPanel(m))
	}
	return render(c, http.StatusConflict, views.KeyAlreadyCreatedView(views.KeyAlreadyCreatedPage{
		Layout: h.layout(c, "Key already created", "keys"), Key: m,
	}))
}

// parseKeyForm turns the form (and rawScopes, what formScopes read) into
// db input; db re-checks the rules and applies the grant rules.
func (h *Handler) parseKeyForm(f views.KeyForm, rawScopes string) (db.KeyInput, *db.ValidationError) {
	ve := &db.ValidationError{}
	ve.AddErr("form_token", db.CheckFormToken(f.FormToken))
	in := db.KeyInput{Name: f.Name, Description: f.Description}
	if f.Owner != "" {
		// Whether the person maintains the team is db.CreateKey's check.
		id, err := strconv.ParseInt(f.Owner, 10, 64)
		if err != nil || id <= 0 {
			ve.Add("team", "Choose yourself or one of your teams.")
		}
		in.TeamID = id
	}
	scopes, err := db.ParseScopes(rawScopes)
	ve.AddErr("scopes", err)
	in.Scopes = scopes
	allowed, err := db.ParseAllowedIPs(f.AllowedIPs)
	ve.AddErr(db.FieldAllowedIPs, err)
	in.AllowedIPs, in.Meta = allowed, f.Meta
	now := h.now()
	switch f.Expiry {
	case "never":
	case "custom":
		d, err := time.Parse(time.DateOnly, f.ExpiryDate)
		switch {
		case f.ExpiryDate == "":
			ve.Add("expiry_date", "Pick the date the key should expire.")
		case err != nil:
			ve.Add("expiry_date", "Enter a date as YYYY-MM-DD.")
		case !d.After(now):
			ve.Add("expiry_date", "The expiry date must be in the future.")
		default:
			// The key works through the whole chosen day (UTC).
			t := d.Add(24*time.Hour - time.Second).UTC()
			in.ExpiresAt = &t
		}
	default:
		days, err := strconv.Atoi(f.Expiry)
		if err != nil || !validExpiryDays(days) {
			ve.Add("expiry", "Choose when the key expires.")
			break
		}
		t := now.AddDate(0, 0, days)
		in.ExpiresAt = &t
	}
	return in, ve
}

func validExpiryDays(d int) bool {
	for _, c := range expiryChoices {
		if c.Value == strconv.Itoa(d) {
			return true
		}
	}
	return false
}

// keyFormErrors maps db field names to the form's.
func keyFormErrors(fe map[string]string) views.FieldErrors {
	out := views.FieldErrors{}
	for k, v := range fe {
		if k == "expires_at" {
			k = "expiry_date"
		}
		out[k] = v
	}
	return out
}

// reveal builds the show-once panel.
func (h *Handler) reveal(k db.Key, secret string) views.KeyReveal {
	verifyURL := strings.TrimRight(h.BaseURL, "/") + "/api/v1/keys/verify"
	body, _ := json.Marshal(map[string]string{"key": secret})
	return views.KeyReveal{
		ID: k.ID, Name: k.Name, Key: secret, VerifyURL: verifyURL, Now: h.now(),
		ExpiresAt: k.ExpiresAt, Scopes: k.Scopes,
		Curl: "curl -sS -X POST " + verifyURL + " \\\n  -H 'Content-Type: application/json' \\\n  -d '" + string(body) + "'",
	}
}
