package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ActionKeyLeakReported: someone reported a key as leaked (the public
// report-leak endpoint, or GitHub's secret scanning). Recorded for every
// report, whether or not the key exists: targeted at the key when it
// does, without a target otherwise.
const ActionKeyLeakReported = "key.leak_reported"

// Where a leak report came from: the alert's evidence "source" and the
// audit detail of the same name.
const (
	LeakSourceReport = "report"
	LeakSourceGitHub = "github"
)

// Leak outcomes: what a report did to the key.
const (
	LeakRevoked  = "revoked"
	LeakDisabled = "disabled"
	// LeakAlreadyEnded: the key was already revoked (or, with
	// LeakDisable, already disabled): nothing to change.
	LeakAlreadyEnded = "already_ended"
	// LeakUnknown: no key has this secret (or it was not a key at all).
	LeakUnknown = "unknown"
)

// MaxLeakURLLength bounds the "where was it found" URL kept with a
// report: a link to a file in a repository fits, a pasted essay does not.
const MaxLeakURLLength = 500

// maxLeakAddresses bounds the reporter addresses an alert accumulates.
const maxLeakAddresses = 20

// LeakReport is one report of a leaked key. Key is the secret as submitted:
// it is hashed and never stored, logged or audited (only its hint, and
// only when it is a well-formed key, whose last four characters are
// checksum characters that reveal nothing).
type LeakReport struct {
	Key string
	// URL is where the key was found (optional, free text from the
	// reporter: shown, never followed).
	URL string
	// Source is LeakSourceReport or LeakSourceGitHub; FoundIn is GitHub's
	// own "source" field (content, commit, …), "" for a plain report.
	Source, FoundIn string
	// IP is the reporter's address as the web layer determined it.
	IP string
}

// LeakOutcome is what a report found and did. It is for GitHub's label
// (true_positive for a key that exists) and for tests; the public endpoint
// never tells it to the reporter.
type LeakOutcome struct {
	Known  bool
	KeyID  int64
	Action string // LeakRevoked, LeakDisabled, LeakAlreadyEnded or LeakUnknown
}

// leakKeySQL finds the key a reported secret belongs to.
const leakKeySQL = `SELECT id FROM api_keys WHERE key_hash = ?`

// ReportLeak acts on a leak report in one transaction: a key that exists
// is revoked (or disabled, when the activity rules say LeakDisable) with
// the reason "reported as leaked", the leak_reported alert is raised (or
// updated while one is open, collecting the reporters' addresses), and the
// report is audited. A report of a key already ended changes nothing but
// is still audited and updates the alert: someone holding a dead key
// matters. A report of anything else (an unknown key, garbage) is audited
// without a target.
//
// Every report takes the same path up to the audit write, whatever was
// submitted: the secret is hashed and looked up (a malformed one too: it
// simply matches nothing), the rules are read, and a write transaction
// commits an audit record. The known-key path writes a few more rows; the
// handler's answer floor hides that difference (handlers.LeakAnswerFloor).
func (s *Store) ReportLeak(ctx context.Context, r LeakReport) (LeakOutcome, error) {
	url := cleanLeakURL(r.URL)
	wellFormed := ParseKey(r.Key) == nil
	h := HashKey(r.Key)
	if r.Source == "" {
		r.Source = LeakSourceReport
	}
	var out LeakOutcome
	err := s.inWriteTx(ctx, "report leak", func(tx *Tx, now time.Time) error {
		var id int64
		switch err := tx.QueryRowContext(ctx, leakKeySQL, h[:]).Scan(&id); {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return fmt.Errorf("db: report leak: %w", err)
		}
		rules, err := readActivityRules(ctx, tx)
		if err != nil {
			return err
		}
		actor := leakActor(r)
		detail := map[string]string{"source": r.Source}
		if url != "" {
			detail["url"] = url
		}
		if r.FoundIn != "" {
			detail["found_in"] = r.FoundIn
		}
		if id == 0 || !wellFormed {
			out = LeakOutcome{Action: LeakUnknown}
			if wellFormed {
				detail["hint"] = KeyHint(r.Key)
			} else {
				detail["malformed"] = "true"
			}
			detail["outcome"] = LeakUnknown
			e := actor.event(ActionKeyLeakReported, "", 0, "")
			e.Detail = detail
			return insertAudit(ctx, tx, now, e)
		}
		k, err := getKey(ctx, tx, AnyOwner(), id)
		if err != nil {
			return err
		}
		action, err := endLeakedKey(ctx, tx, now, k, rules.LeakDisable, leakReason(url), actor)
		if err != nil {
			return err
		}
		out = LeakOutcome{Known: true, KeyID: id, Action: action}
		detail["hint"], detail["outcome"] = k.Hint, action
		e := actor.event(ActionKeyLeakReported, "key", id, k.Name)
		e.Detail = detail
		if err := insertAudit(ctx, tx, now, e); err != nil {
			return err
		}
		return raiseLeakAlert(ctx, tx, now, k, r, url, action)
	})
	if err != nil {
		return LeakOutcome{}, err
	}
	if out.Action == LeakRevoked || out.Action == LeakDisabled {
		s.keyChanged()
	}
	return out, nil
}

// leakActor is who a report's audit records name: nobody signed in, the
// reporter's address, and the channel.
func leakActor(r LeakReport) Actor {
	label := "leak report"
	if r.Source == LeakSourceGitHub {
		label = "GitHub secret scanning"
	}
	return Actor{Label: label, IP: r.IP}
}

// leakReason is the revoke (or disable) reason a report leaves on the key.
func leakReason(url string) string {
	reason := "reported as leaked"
	if url != "" {
		reason += " (found at " + url + ")"
	}
	if utf8.RuneCountInString(reason) > MaxRevokeReasonLength {
		reason = string([]rune(reason)[:MaxRevokeReasonLength])
	}
	return reason
}

// endLeakedKey revokes k (or disables it when disable), audited like the
// same change made by a person, so that key.revoked / key.disabled reach
// whoever listens for them. A key already revoked, or already disabled
// when disabling, is left as it is.
func endLeakedKey(ctx context.Context, tx *Tx, now time.Time, k Key, disable bool, reason string, actor Actor) (string, error) {
	switch {
	case k.RevokedAt != nil, disable && k.DisabledAt != nil:
		return LeakAlreadyEnded, nil
	case disable:
		if _, err := tx.ExecContext(ctx, setKeyDisabledSQL, toMillis(now), nil, reason, k.ID); err != nil {
			return "", fmt.Errorf("db: disable leaked key %d: %w", k.ID, err)
		}
		e := actor.event(ActionKeyDisable, "key", k.ID, k.Name)
		e.Detail = map[string]string{"reason": reason, "cause": "leak_reported"}
		return LeakDisabled, insertAudit(ctx, tx, now, e)
	default:
		if _, err := tx.ExecContext(ctx, revokeKeySQL, toMillis(now), nil, reason, k.ID); err != nil {
			return "", fmt.Errorf("db: revoke leaked key %d: %w", k.ID, err)
		}
		e := actor.event(ActionKeyRevoke, "key", k.ID, k.Name)
		e.Detail = map[string]string{"reason": reason, "cause": "leak_reported"}
		return LeakRevoked, insertAudit(ctx, tx, now, e)
	}
}

// raiseLeakAlert raises (or updates) the key's leak_reported alert. The
// evidence accumulates while the alert is open: the number of reports and
// the reporters' addresses (at most maxLeakAddresses), so a key reported
// again and again shows as one alert with the whole picture.
func raiseLeakAlert(ctx context.Context, tx *Tx, now time.Time, k Key, r LeakReport, url, action string) error {
	reports := int64(1)
	var addresses []string
	if open, ok, err := openAlert(ctx, tx, RuleLeakReported, k.ID); err != nil {
		return err
	} else if ok {
		if n, isNum := open.Evidence["reports"].(float64); isNum {
			reports = int64(n) + 1
		}
		if list, isList := open.Evidence["addresses"].([]any); isList {
			for _, a := range list {
				if s, isStr := a.(string); isStr {
					addresses = append(addresses, s)
				}
			}
		}
	}
	if r.IP != "" && !slices.Contains(addresses, r.IP) && len(addresses) < maxLeakAddresses {
		addresses = append(addresses, r.IP)
	}
	evidence := map[string]any{"source": r.Source, "reports": reports, "addresses": addresses, "outcome": action}
	if url != "" {
		evidence["url"] = url
	}
	if r.FoundIn != "" {
		evidence["found_in"] = r.FoundIn
	}
	_, _, err := raiseAlert(ctx, tx, now, AlertFinding{Rule: RuleLeakReported, KeyID: k.ID, At: now,
		Summary: leakSummary(r.Source, url, action, reports), Evidence: evidence})
	return err
}

// leakSummary is the alert's one line.
func leakSummary(source, url, action string, reports int64) string {
	by := "Someone reported this key as leaked"
	if source == LeakSourceGitHub {
		by = "GitHub secret scanning found this key in public"
	}
	if url != "" {
		by += " at " + url
	}
	switch action {
	case LeakRevoked:
		by += " — it was revoked"
	case LeakDisabled:
		by += " — it was disabled"
	default:
		by += " — it was already ended"
	}
	if reports > 1 {
		by += fmt.Sprintf(" (%d reports)", reports)
	}
	return by
}

// cleanLeakURL keeps a reported URL fit to show: trimmed, control
// characters dropped, cut at MaxLeakURLLength characters. It is the
// reporter's text, so it is never followed, only shown.
func cleanLeakURL(s string) string {
	s = strings.TrimSpace(strings.ToValidUTF8(s, ""))
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) > MaxLeakURLLength {
		s = string([]rune(s)[:MaxLeakURLLength])
	}
	return s
}
