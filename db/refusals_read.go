package db

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// RefusalTotals sums a key's refusals over recent days, per code, with the
// latest refusal: what a key page or a script asks about "is anyone still
// using this revoked key?". Refusals still in memory are not included
// until the next flush, at most a second later.
type RefusalTotals struct {
	ByCode        map[VerifyCode]int64
	LastAt        *time.Time // nil: never refused
	LastIP        string
	LastUserAgent string
	LastCode      VerifyCode
}

const (
	refusalTotalsSQL = `SELECT code, CAST(SUM(count) AS BIGINT) FROM key_refusals_daily
		WHERE key_id = ? AND day >= ? GROUP BY code`
	lastRefusalSQL = `SELECT last_refused_at, last_refused_ip, last_refused_user_agent, last_refused_code
		FROM api_keys WHERE id = ?`
)

// KeyRefusalTotals returns key id's refusals over the last days days
// (today included; default 30, at most MaxUsageDays), if access can see
// the key.
func (s *Store) KeyRefusalTotals(ctx context.Context, access KeyAccess, id int64, days int) (RefusalTotals, error) {
	if days <= 0 {
		days = 30
	}
	days = min(days, MaxUsageDays)
	if err := s.checkKeyVisible(ctx, access, id); err != nil {
		return RefusalTotals{}, err
	}
	out := RefusalTotals{ByCode: map[VerifyCode]int64{}}
	rows, err := s.r.QueryContext(ctx, refusalTotalsSQL, id, dayNumber(s.Now())-int64(days)+1)
	if err != nil {
		return out, fmt.Errorf("db: key refusals: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			code string
			n    int64
		)
		if err := rows.Scan(&code, &n); err != nil {
			return out, fmt.Errorf("db: key refusals: %w", err)
		}
		out.ByCode[VerifyCode(code)] = n
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("db: key refusals: %w", err)
	}
	var (
		last sql.NullInt64
		code string
	)
	if err := s.r.QueryRowContext(ctx, lastRefusalSQL, id).Scan(&last, &out.LastIP, &out.LastUserAgent, &code); err != nil {
		return out, fmt.Errorf("db: key last refusal: %w", err)
	}
	out.LastAt, out.LastCode = timePtr(last), VerifyCode(code)
	return out, nil
}
