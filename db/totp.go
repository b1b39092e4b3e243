package db

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// Authenticator codes (TOTP, RFC 6238): 6 digits, 30-second steps, SHA-1,
// the parameters every authenticator app reads from a QR code. A code is
// accepted one step either side of now (clock drift, typing time) and only
// once: the newest accepted step is kept, and a code of that step or an
// earlier one is refused as a replay.

const (
	totpPeriod = 30
	totpDigits = otp.DigitsSix
)

var (
	// ErrCodeWrong: an authenticator code that is not the current one.
	ErrCodeWrong = Errorf(ErrInvalidCredentials, "That code is not right. Check your authenticator app and try again.")
	// ErrCodeReused: a right code that was already used (or an older one).
	ErrCodeReused = Errorf(ErrInvalidCredentials, "That code was already used. Wait for the next code in your app.")
	// ErrTOTPEnrolled: an authenticator app is already set up.
	ErrTOTPEnrolled = Errorf(ErrConflict, "An authenticator app is already set up. Remove it first to set up another.")
)

// TOTPSetup is what enrolment shows once: the secret as text and the
// otpauth:// URL the QR code encodes.
type TOTPSetup struct {
	Secret string
	URL    string
}

// BeginTOTP starts setting up an authenticator app for userID: a new secret
// is stored sealed and unconfirmed (replacing an earlier unconfirmed one),
// and returned for the QR code. It counts as a factor only after
// ConfirmTOTP. issuer and account label the entry in the app.
func (s *Store) BeginTOTP(ctx context.Context, userID int64, issuer, account string) (TOTPSetup, error) {
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: issuer, AccountName: account, Period: totpPeriod, SecretSize: 20,
		Digits: totpDigits, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return TOTPSetup{}, fmt.Errorf("db: totp secret: %w", err)
	}
	err = s.inWriteTx(ctx, "begin authenticator setup", func(tx *Tx, now time.Time) error {
		var confirmed sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT confirmed_at FROM totp_factors WHERE user_id = ?`, userID).Scan(&confirmed)
		switch {
		case err == nil && confirmed.Valid:
			return ErrTOTPEnrolled
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("db: begin authenticator setup: %w", err)
		}
		sealed, err := sealInTx(ctx, tx, now, []byte(key.Secret()))
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO totp_factors (user_id, secret, created_at) VALUES (?, ?, ?)
			ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at,
				confirmed_at = NULL, last_step = 0`, userID, sealed, toMillis(now))
		if err != nil {
			return fmt.Errorf("db: begin authenticator setup: %w", err)
		}
		return nil
	})
	if err != nil {
		return TOTPSetup{}, err
	}
	return TOTPSetup{Secret: key.Secret(), URL: key.URL()}, nil
}

// ConfirmTOTP finishes setting up userID's authenticator app with a first
// code from it, and audits it by a. Wrong code: ErrCodeWrong; nothing
// pending: ErrNotFound.
func (s *Store) ConfirmTOTP(ctx context.Context, userID int64, code string, a Actor) error {
	return s.useTOTP(ctx, userID, code, false, func(tx *Tx, now time.Time) error {
		if _, err := tx.ExecContext(ctx, `UPDATE totp_factors SET confirmed_at = ? WHERE user_id = ?`, toMillis(now), userID); err != nil {
			return fmt.Errorf("db: confirm authenticator: %w", err)
		}
		return insertAudit(ctx, tx, now, a.event(ActionTOTPEnable, "user", userID, a.Label))
	})
}

// CheckTOTP checks a code of userID's confirmed authenticator app and
// spends it. ErrCodeWrong, ErrCodeReused, or ErrNotFound without an app.
// Failures are the caller's to audit and throttle: it knows the request.
func (s *Store) CheckTOTP(ctx context.Context, userID int64, code string) error {
	return s.useTOTP(ctx, userID, code, true, nil)
}

var errNoTOTP = Errorf(ErrNotFound, "No authenticator app is set up.")

// useTOTP checks code against userID's secret (confirmed or pending, as
// confirmed says), records its step so it cannot be used again, and runs
// then in the same transaction.
func (s *Store) useTOTP(ctx context.Context, userID int64, code string, confirmed bool, then func(*Tx, time.Time) error) error {
	code = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, code)
	if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
		return ErrCodeWrong
	}
	return s.inWriteTx(ctx, "check authenticator code", func(tx *Tx, now time.Time) error {
		var (
			sealed      []byte
			confirmedAt sql.NullInt64
			lastStep    int64
		)
		err := tx.QueryRowContext(ctx, `SELECT secret, confirmed_at, last_step FROM totp_factors WHERE user_id = ?`, userID).
			Scan(&sealed, &confirmedAt, &lastStep)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && confirmedAt.Valid != confirmed) {
			return errNoTOTP
		}
		if err != nil {
			return fmt.Errorf("db: check authenticator code: %w", err)
		}
		key, err := serverSecretInTx(ctx, tx, now, outboxSealSecret)
		if err != nil {
			return err
		}
		secret, err := unsealWith(key, sealed)
		if err != nil {
			return err
		}
		step, ok := matchTOTP(string(secret), code, now)
		if !ok {
			return ErrCodeWrong
		}
		if step <= lastStep {
			return ErrCodeReused
		}
		if _, err := tx.ExecContext(ctx, `UPDATE totp_factors SET last_step = ? WHERE user_id = ?`, step, userID); err != nil {
			return fmt.Errorf("db: spend authenticator code: %w", err)
		}
		if then != nil {
			return then(tx, now)
		}
		return nil
	})
}

// matchTOTP returns the time step (one either side of now's) whose code is
// code, comparing in constant time.
func matchTOTP(secret, code string, now time.Time) (int64, bool) {
	cur := now.Unix() / totpPeriod
	var found int64
	ok := false
	for step := cur - 1; step <= cur+1; step++ {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*totpPeriod, 0).UTC(), totp.ValidateOpts{
			Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1,
		})
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			found, ok = step, true
		}
	}
	return found, ok
}

// DisableTOTP removes userID's authenticator app (confirmed or pending) and
// audits it by a. Nothing to remove: ErrNotFound.
func (s *Store) DisableTOTP(ctx context.Context, userID int64, a Actor) error {
	return s.inWriteTx(ctx, "remove authenticator", func(tx *Tx, now time.Time) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM totp_factors WHERE user_id = ?`, userID)
		if err != nil {
			return fmt.Errorf("db: remove authenticator: %w", err)
		}
		if err := oneRow(res, errNoTOTP); err != nil {
			return err
		}
		return insertAudit(ctx, tx, now, a.event(ActionTOTPDisable, "user", userID, a.Label))
	})
}

// PendingTOTP returns the setup begun by BeginTOTP and not yet confirmed,
// to show its QR code again after a wrong first code. Nothing pending (or
// already confirmed: its secret is never shown again): ErrNotFound.
func (s *Store) PendingTOTP(ctx context.Context, userID int64, issuer, account string) (TOTPSetup, error) {
	var sealed []byte
	err := s.r.QueryRowContext(ctx, `SELECT secret FROM totp_factors WHERE user_id = ? AND confirmed_at IS NULL`, userID).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return TOTPSetup{}, errNoTOTP
	}
	if err != nil {
		return TOTPSetup{}, fmt.Errorf("db: pending authenticator: %w", err)
	}
	secret, err := s.unseal(ctx, sealed)
	if err != nil {
		return TOTPSetup{}, err
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(string(secret))
	if err != nil {
		return TOTPSetup{}, fmt.Errorf("db: pending authenticator: %w", err)
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: issuer, AccountName: account, Period: totpPeriod, Secret: raw,
		Digits: totpDigits, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return TOTPSetup{}, fmt.Errorf("db: pending authenticator: %w", err)
	}
	return TOTPSetup{Secret: key.Secret(), URL: key.URL()}, nil
}

// TOTPStatus is the state of a person's authenticator app.
type TOTPStatus struct {
	// Confirmed: set up, since ConfirmedAt.
	Confirmed   bool
	ConfirmedAt time.Time
	// Pending: begun and waiting for its first code.
	Pending bool
}

// TOTPStatus returns the state of userID's authenticator app.
func (s *Store) TOTPStatus(ctx context.Context, userID int64) (TOTPStatus, error) {
	var confirmed sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT confirmed_at FROM totp_factors WHERE user_id = ?`, userID).Scan(&confirmed)
	if errors.Is(err, sql.ErrNoRows) {
		return TOTPStatus{}, nil
	}
	if err != nil {
		return TOTPStatus{}, fmt.Errorf("db: authenticator status: %w", err)
	}
	if !confirmed.Valid {
		return TOTPStatus{Pending: true}, nil
	}
	return TOTPStatus{Confirmed: true, ConfirmedAt: fromMillis(confirmed.Int64)}, nil
}
