package db

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// DayRefusals is one UTC day of a key's refused verifications, by code
// (REVOKED, EXPIRED, INSUFFICIENT_SCOPE…).
type DayRefusals struct {
	Day    time.Time // midnight UTC
	Total  int64
	ByCode map[string]int64 // nil on a day without refusals
}

const keyRefusalsSQL = `SELECT day, code, count FROM key_refusals_daily WHERE key_id = ? AND day >= ? AND day <= ?`

// KeyRefusals returns the refusals of key id per day over the last days
// days (default 30, at most MaxUsageDays), oldest first, with every day
// present, the last being today (UTC): the same days as KeyUsage, so the
// two stack into one chart. Scoped by access like KeyUsage. Refusals still
// in memory appear after the next flush.
func (s *Store) KeyRefusals(ctx context.Context, access KeyAccess, id int64, days int) ([]DayRefusals, error) {
	days, first, today := s.usageWindow(days)
	if err := s.checkKeyVisible(ctx, access, id); err != nil {
		return nil, err
	}
	out := make([]DayRefusals, days)
	for i := range out {
		out[i].Day = fromMillis((first + int64(i)) * msPerDay)
	}
	rows, err := s.r.QueryContext(ctx, keyRefusalsSQL, id, first, today)
	if err != nil {
		return nil, fmt.Errorf("db: key refusals: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			day, n int64
			code   string
		)
		if err := rows.Scan(&day, &code, &n); err != nil {
			return nil, fmt.Errorf("db: scan key refusals: %w", err)
		}
		d := &out[day-first]
		if d.ByCode == nil {
			d.ByCode = map[string]int64{}
		}
		d.ByCode[code] += n
		d.Total += n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: key refusals: %w", err)
	}
	return out, nil
}

// RefusalTotals sums a key's refusals over recent days, per code, with the
// latest refusal: what a script asks about "is anyone still using this
// revoked key?" (the API tests and the bench read it).
type RefusalTotals struct {
	ByCode        map[VerifyCode]int64
	LastAt        *time.Time // nil: never refused
	LastIP        string
	LastUserAgent string
	LastCode      VerifyCode
}

const lastRefusalSQL = `SELECT last_refused_at, last_refused_ip, last_refused_user_agent, last_refused_code
	FROM api_keys WHERE id = ?`

// KeyRefusalTotals returns key id's refusals over the last days days
// (KeyRefusals summed by code) and its latest refusal, if access can see
// the key.
func (s *Store) KeyRefusalTotals(ctx context.Context, access KeyAccess, id int64, days int) (RefusalTotals, error) {
	perDay, err := s.KeyRefusals(ctx, access, id, days)
	if err != nil {
		return RefusalTotals{}, err
	}
	out := RefusalTotals{ByCode: map[VerifyCode]int64{}}
	for _, d := range perDay {
		for code, n := range d.ByCode {
			out.ByCode[VerifyCode(code)] += n
		}
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
